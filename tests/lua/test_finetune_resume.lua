-- hub.finetune resumes bit-identically: a run stopped part-way (stop_after) and a run killed
-- with kill -9 part-way, each started again with the same checkpoint_dir, end with the same
-- weights, bit for bit (the last checkpoint and the best model), the same training losses in
-- metrics.jsonl and the same dev/test metrics as one uninterrupted run.  Tiny encoder, toy data
-- (tests/lua/finetune_fixture.lua), 3 epochs crossed mid-epoch, grad accumulation 2, dropout
-- on (the generator's state matters), a CRF task (its transitions are in the state too).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local tmp = io.popen("mktemp -d /tmp/hub_ftresume_XXXXXX"):read("*l")
local q = T.q
local here = arg[0]:match("^(.*)/") or "."

local script = tmp .. "/run.lua"
T.write_file(script, [[
package.path = ]] .. string.format("%q", here .. "/?.lua;") .. [[ .. package.path
local hub = require "hub"
local F = require "finetune_fixture"
local out, stop = arg[1], tonumber(arg[2])
local net, tk = F.encoder(3)
local task = hub.task.sequence_labeling{ network = net, tokenizer = tk, crf = true, max_seq_len = 24 }
local run = hub.finetune(task, F.ner(120), { epochs = 3, batch_size = 8, grad_accum = 2, lr = 5e-3, seed = 7,
  eval_interval = 4, save_interval = 2, checkpoint_dir = out, cache = false, threads = 1, progress = false,
  quiet = true, stop_after = stop > 0 and stop or nil })
if run.done then
  local f = io.open(out .. "/result.txt", "wb")
  f:write(string.format("%.17g %.17g %s\n", run.dev.f1, run.test.f1, tostring(run.best.step)))
  f:close()
end
]])

local function run(out, stop, background)
  local cmd = string.format("%s %s %s %d", q(HUBRUN), q(script), q(out), stop or 0)
  if background then return io.popen(cmd .. " >" .. q(out .. ".log") .. " 2>&1 & echo $!"):read("*l") end
  return os.execute(cmd .. " >>" .. q(out .. ".log") .. " 2>&1")
end
local function succeeded(rc) return rc == 0 or rc == true end
local slurp = function(p) return T.read_file(p) or "" end

local function last_weights(out)
  local name = slurp(out .. "/latest"):match("^%s*(.-)%s*$")
  return hub.load(out .. "/" .. name .. "/model.safetensors"), name
end
local function same_weights(a, b)
  local n = 0
  for k, t in pairs(a) do
    local u = b[k]
    if not u or t:sub(u):abs():max():item() ~= 0 then return false, k end
    n = n + 1
  end
  for k in pairs(b) do if not a[k] then return false, k end end
  return n > 0
end
local function losses(out)
  local rows = {}
  for _, v in ipairs(hub.jsonl.read(out .. "/metrics.jsonl")) do
    if v.step and v.loss and not v.event then rows[#rows + 1] = string.format("%d %.17g %.17g", v.step, v.loss, v.lr) end
    if v.event == "eval" then rows[#rows + 1] = string.format("eval %d %.17g %.17g", v.step, v.dev_f1, v.dev_loss) end
  end
  return table.concat(rows, "\n")
end

local A = tmp .. "/a"
ok(succeeded(run(A)), "the uninterrupted run finishes", slurp(A .. ".log"))
local wa, na = last_weights(A)
ok(na == "step-15", "the last checkpoint is step 15 (3 epochs of 5 updates: 73 examples, 10 batches, 2 a step)", na)
ok(slurp(A .. "/result.txt") ~= "", "the run reports dev and test scores")
ok(io.open(A .. "/curves.png") ~= nil and io.open(A .. "/best/model.safetensors") ~= nil, "curves.png and best/ are written")

local B = tmp .. "/b"
ok(succeeded(run(B, 11)), "the first part runs", slurp(B .. ".log"))
ok(slurp(B .. "/result.txt") == "", "a stopped run reports nothing")
ok(slurp(B .. "/latest"):match("step%-10") ~= nil, "the latest checkpoint is step 10", slurp(B .. "/latest"))
ok(succeeded(run(B)), "the resumed run finishes", slurp(B .. ".log"))
ok(slurp(B .. "/metrics.jsonl"):find('"event":"resume"', 1, true) ~= nil, "the second part resumed")
local same, key = same_weights(wa, (last_weights(B)))
ok(same, "stopped + resumed: the final weights are bit-identical" .. (key and (" (differs: " .. key .. ")") or ""))
same, key = same_weights(hub.load(A .. "/best/model.safetensors"), hub.load(B .. "/best/model.safetensors"))
ok(same, "stopped + resumed: the best model is bit-identical" .. (key and (" (differs: " .. key .. ")") or ""))
ok(losses(A) == losses(B) and #losses(A) > 0, "stopped + resumed: the losses and dev scores logged are the same", losses(B))
ok(slurp(A .. "/result.txt") == slurp(B .. "/result.txt"), "stopped + resumed: the same dev and test scores")

local K = tmp .. "/k"
local pid = run(K, 0, true)
local killed = false
for _ = 1, 3000 do
  local l = slurp(K .. "/latest")
  if l ~= "" and not l:match("step%-2%s*$") then   -- a few checkpoints in: mid-epoch
    killed = os.execute("kill -9 " .. pid .. " 2>/dev/null")
    killed = killed == 0 or killed == true
    break
  end
  os.execute("sleep 0.01")
end
os.execute("sleep 0.2")
local finished_anyway = slurp(K .. "/result.txt") ~= ""
ok(succeeded(run(K)), "the run after kill -9 finishes", slurp(K .. ".log"))
same, key = same_weights(wa, (last_weights(K)))
ok(same, "killed + resumed: the final weights are bit-identical" .. (key and (" (differs: " .. key .. ")") or ""))
ok(losses(A) == losses(K), "killed + resumed: the losses and dev scores logged are the same", losses(A) .. "\n--\n" .. losses(K))
ok(slurp(A .. "/result.txt") == slurp(K .. "/result.txt"), "killed + resumed: the same dev and test scores")
print(string.format("kill -9 %s mid-run%s", killed and "landed" or "did not land", finished_anyway and " (the run had already finished)" or ""))

-- a finished run started again only reloads the best model and evaluates it
ok(succeeded(run(A)), "a finished run started again", slurp(A .. ".log"))
same = same_weights(wa, (last_weights(A)))
ok(same, "a finished run started again trains no further")

-- a different configuration in the same directory is refused
T.write_file(tmp .. "/other.lua", (slurp(script):gsub("batch_size = 8", "batch_size = 4")))
local rc = os.execute(string.format("%s %s %s 0 >%s 2>&1", q(HUBRUN), q(tmp .. "/other.lua"), q(A), q(tmp .. "/other.log")))
ok(not succeeded(rc) and slurp(tmp .. "/other.log"):find("batch_size = 8", 1, true) ~= nil,
  "another batch size in the same checkpoint_dir is refused, naming it", slurp(tmp .. "/other.log"))
-- so is one that starts from other encoder weights (another module, another version)
T.write_file(tmp .. "/other_init.lua", (slurp(script):gsub("F%.encoder%(3%)", "F.encoder(4)")))
rc = os.execute(string.format("%s %s %s 0 >%s 2>&1", q(HUBRUN), q(tmp .. "/other_init.lua"), q(A), q(tmp .. "/other_init.log")))
ok(not succeeded(rc) and slurp(tmp .. "/other_init.log"):find("started from other encoder weights", 1, true) ~= nil,
  "other starting weights in the same checkpoint_dir are refused", slurp(tmp .. "/other_init.log"))
if T.failed == 0 then os.execute("rm -rf " .. q(tmp)) end
T.finish()
