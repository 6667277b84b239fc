-- test_mlp_digits_resumable.lua: runs recipes/mlp_digits_resumable.lua (checkpoints, progress,
-- metrics log and plot around the digits MLP) in a temporary directory and checks what it leaves:
-- test accuracy >= 95%, the last two checkpoints, one metrics line per step and per epoch, and a
-- PNG.  Skipped without the digits data unless HUB_REQUIRE_DATA is set.
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

local dir = os.tmpname()
os.remove(dir)
local recipe = hub.datasets.repo_dir() .. "recipes/mlp_digits_resumable.lua"
local saved_arg = arg
arg = { [0] = recipe, dir }
local good, acc = pcall(dofile, recipe)
arg = saved_arg
ok(good and type(acc) == "number" and acc >= 0.95, "the recipe reaches 95% test accuracy", tostring(acc))
local rows = hub.jsonl.read(dir .. "/metrics.jsonl")
local steps, evals = 0, 0
for _, r in ipairs(rows) do
  if r.loss then steps = steps + 1 end
  if r.test_acc then evals = evals + 1 end
end
ok(steps == rows[#rows].step and evals == 30, "one metrics line per step and per epoch", steps .. " " .. evals)
local latest = hub.checkpoint.latest(dir .. "/ckpt")
ok(latest ~= nil and hub.checkpoint.read_meta(latest).step == math.floor(steps / 100) * 100, "checkpoints every 100 steps", latest)
local img = hub.C.hub_image_load_png(dir .. "/curves.png")
ok(img ~= nil and img.width == 800, "curves.png written")
if img ~= nil then hub.C.hub_image_free(img) end
-- started again, it finds the run finished at the last checkpoint and redoes only the rest
local function read(path) local f = io.open(path, "rb"); local t = f:read("*a"); f:close(); return t end
local log_before, weights_before = read(dir .. "/metrics.jsonl"), read(dir .. "/model.safetensors")
local t0 = hub.C.hub_os_monotonic()
arg = { [0] = recipe, dir }
local good2, acc2 = pcall(dofile, recipe)
arg = saved_arg
ok(good2 and acc2 == acc, "a second start resumes and ends with the same accuracy", tostring(acc2))
ok(read(dir .. "/metrics.jsonl") == log_before, "the metrics log after the resume equals the first run's")
ok(read(dir .. "/model.safetensors") == weights_before, "the weights after the resume equal the first run's")
print(string.format("second start %.2f s", hub.C.hub_os_monotonic() - t0))
hub.C.hub_fs_remove_tree(dir)
T.finish()
