-- test_mlp_digits.lua: runs recipes/mlp_digits.lua, which trains an MLP on the real digits data
-- set, and asserts its test accuracy reaches 95%.  The data comes from `scripts/fetch-data.sh
-- digits`; without it the test is skipped (and passes), unless HUB_REQUIRE_DATA is set, as CI
-- sets it, when missing data is a failure.
local hub = require "hub"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok

if not hub.datasets.available("digits", "digits.csv") then
  local _, err = pcall(hub.datasets.find, "digits", "digits.csv")
  T.data_missing("digits data not fetched (run scripts/fetch-data.sh digits)", "HUB_REQUIRE_DATA is set but " .. tostring(err))
  T.finish()
  return
end

local recipe = hub.datasets.repo_dir() .. "recipes/mlp_digits.lua"
local saved_arg = arg
arg = { [0] = recipe }
local t0 = os.time()
local clock0 = os.clock()
local good, acc = pcall(dofile, recipe)
arg = saved_arg
ok(good, "the recipe ran: " .. tostring(acc))
if good then
  print(string.format("test accuracy %.4f, %.1f s CPU, about %d s wall", acc, os.clock() - clock0, os.time() - t0))
  ok(type(acc) == "number" and acc >= 0.95, "test accuracy " .. tostring(acc) .. " below 0.95")
end

T.finish()
