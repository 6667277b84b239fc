-- test_mlp_digits.lua: runs recipes/mlp_digits.lua, which trains an MLP on the real digits data
-- set, and asserts its test accuracy reaches 95%.  The data comes from `scripts/fetch-data.sh
-- digits`; without it the test is skipped (and passes), unless HUB_REQUIRE_DATA is set, as CI
-- sets it, when missing data is a failure.
local hub = require "hub"

local passed, failed = 0, 0
local function ok(cond, msg)
  if cond then passed = passed + 1 else failed = failed + 1; print("FAIL " .. msg) end
end

if not hub.datasets.available("digits", "digits.csv") then
  local req = os.getenv("HUB_REQUIRE_DATA")
  if req == nil or req == "" then
    print("skipped: digits data not fetched (run scripts/fetch-data.sh digits)")
    print("0 passed, 0 failed")
    return
  end
  local _, err = pcall(hub.datasets.find, "digits", "digits.csv")
  print("FAIL HUB_REQUIRE_DATA is set but " .. tostring(err))
  print("0 passed, 1 failed")
  os.exit(1)
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

print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
