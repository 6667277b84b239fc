-- The fine-tune recipes take part in a search (docs/autofinetune.md section 7): under `hubrun
-- autofinetune`, hub.recipe gives the trial's values to the recipe's options (the trainer runs
-- with them), reports every dev evaluation and, last, the best model's dev score; --out defaults
-- to the trial's directory.  A 2-trial random search of recipes/ernie_cls.lua over lr and
-- batch_size with a tiny slice of reviews_zh and the all-minilm-l6-v2 module (make registry).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local json = require "hub.json"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local here = (arg[0]:match("^(.*)/") or ".") .. "/../.."
local module_dir = here .. "/build/registry/all-minilm-l6-v2/1.0.0"
if not T.read_file(module_dir .. "/module.json") or not pcall(hub.datasets.reviews_zh) then
  T.data_missing("autofinetune on a recipe (all-minilm-l6-v2 or reviews_zh missing: make registry, make corpus)",
    "HUB_REQUIRE_DATA is set but all-minilm-l6-v2 or reviews_zh is missing")
  T.finish()
  return
end
local q = T.q
local tmp = io.popen("mktemp -d /tmp/hub_afrecipe_XXXXXX"):read("*l")
local pf = tmp .. "/p.yaml"
local f = io.open(pf, "w")
f:write("param_list:\n- { name: lr, type: float, greater_than: 1.0e-4, lower_than: 1.0e-2, init_value: 1.0e-3, log: true }\n",
        "- { name: batch_size, type: int, greater_than: 4, lower_than: 16, init_value: 8, values: [4, 8, 16] }\n")
f:close()
local out = io.popen(string.format("OMP_WAIT_POLICY=passive %s autofinetune %s/recipes/ernie_cls.lua --param_file %s --popsize 2 --round 1 " ..
  "--tuning_strategy random --workers 1 --threads_per_trial 1 --output_dir %s -- --module %s --max_train 24 --max_eval 16 " ..
  "--max_seq_len 16 --epochs 1 2>&1; echo rc=$?", q(HUBRUN), q(here), q(pf), q(tmp .. "/out"), q(module_dir))):read("*a")
ok(out:find("rc=0", 1, true) and out:find("best: trial", 1, true), "the search runs", out)
local best_value
for id = 1, 2 do
  local d = string.format("%s/out/trials/%04d", tmp, id)
  local params = json.decode(T.read_file(d .. "/params.json") or "{}")
  local start
  for line in (T.read_file(d .. "/run/metrics.jsonl") or ""):gmatch("[^\n]+") do
    local r = json.decode(line)
    if r.event == "start" then start = r end
  end
  ok(start and start.options.batch_size == params.batch_size, "trial " .. id .. ": the trainer ran with the trial's batch_size", params)
  local log = T.read_file(d .. "/log.txt") or ""
  local printed = tonumber(log:match("dev acc ([%d.]+)"))
  local reports = {}
  for line in (T.read_file(d .. "/metrics.jsonl") or ""):gmatch("[^\n]+") do reports[#reports + 1] = json.decode(line) end
  ok(#reports >= 2, "trial " .. id .. ": dev evaluations and the final score are reported", #reports)
  ok(printed and reports[#reports] and math.abs(reports[#reports].value - printed) < 1e-4,
    "trial " .. id .. ": the last report is the dev accuracy the recipe printed", { printed, reports[#reports] })
  ok(log:find("the best model", 1, true) or log:find("dev acc", 1, true), "trial " .. id .. ": --out defaulted to the trial's run directory")
  ok(T.read_file(d .. "/run/metrics.jsonl") ~= nil, "trial " .. id .. ": checkpoints and metrics in trials/NNNN/run")
  best_value = math.max(best_value or -1, printed or -1)
end
local best = json.decode(T.read_file(tmp .. "/out/best.json") or "{}")
ok(best.value == best_value, "best.json holds the best trial's score", best)
if T.failed == 0 then os.execute("rm -rf " .. q(tmp)) end
T.finish()
