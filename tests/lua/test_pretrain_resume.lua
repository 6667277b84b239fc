-- hub.pretrain.run resumes bit-identically: a run stopped part-way (stop_after) and a run killed
-- with kill -9 part-way, each started again with the same output directory, end with the same
-- weights, bit for bit, and the same metrics log as one uninterrupted run.  Tiny model and the
-- fixture corpus (several epochs, so epoch changes, per-epoch order and masks are crossed;
-- dropout on, so the generator's state matters).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"

local f = io.open(hub.lac.default_dir() .. "/word.dic", "rb")
if not f then
  T.data_missing("LAC weights not fetched (scripts/fetch-lac.sh)", "LAC weights missing")
  T.finish()
  return
end
f:close()

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local tmp = io.popen("mktemp -d /tmp/hub_ptresume_XXXXXX"):read("*l")
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- the run, as a script taking OUT and STOP_AFTER
local script = tmp .. "/run.lua"
local sf = assert(io.open(script, "wb"))
sf:write([[
local hub = require "hub"
local out, stop = arg[1], tonumber(arg[2])
hub.pretrain.run {
  model = { hidden_size = 16, num_hidden_layers = 1, num_attention_heads = 2, intermediate_size = 32,
            max_position_embeddings = 64 },
  vocab = "fixtures/vocab_zh.txt", train = "fixtures/pretrain/corpus.txt", heldout = "fixtures/pretrain/corpus.txt",
  out = out, steps = 24, batch_size = 2, max_seq_len = 24, lr = 1e-3, log_every = 1, eval_every = 8,
  checkpoint_every = 3, keep_checkpoints = 2, seed = 5, progress = false, quiet = true, threads = 1,
  stop_after = stop > 0 and stop or false }
]])
sf:close()

local function run(out, stop, background)
  local cmd = string.format("%s %s %s %d", q(HUBRUN), q(script), q(out), stop or 0)
  if background then
    return io.popen(cmd .. " >" .. q(out .. ".log") .. " 2>&1 & echo $!"):read("*l")
  end
  return os.execute(cmd .. " >>" .. q(out .. ".log") .. " 2>&1")
end
local function succeeded(rc) return rc == 0 or rc == true end

local function weights(out) return hub.load(out .. "/model.safetensors") end
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
local function slurp(p) local h = io.open(p, "rb"); if not h then return "" end local s = h:read("*a"); h:close(); return s end
-- the log lines with a step, without the wall-clock figures
local function metrics(out)
  local rows = {}
  for _, v in ipairs(hub.jsonl.read(out .. "/metrics.jsonl")) do
    if v.step and v.event == nil then
      rows[#rows + 1] = string.format("%d %.17g %.17g %.17g %.17g", v.step, v.loss or -1, v.acc or -1,
        v.eval_loss or -1, v.lr or -1)
    end
  end
  return table.concat(rows, "\n")
end

local A = tmp .. "/a"
ok(succeeded(run(A)), "the uninterrupted run finishes", slurp(A .. ".log"))

-- stopped after 10 steps (last checkpoint: step 9), then resumed
local B = tmp .. "/b"
ok(succeeded(run(B, 10)), "the first part runs", slurp(B .. ".log"))
ok(io.open(B .. "/model.safetensors") == nil, "a stopped run leaves no final weights")
ok(slurp(B .. "/checkpoints/latest"):match("step%-9") ~= nil, "the latest checkpoint is step 9")
ok(succeeded(run(B)), "the resumed run finishes", slurp(B .. ".log"))
ok(slurp(B .. "/metrics.jsonl"):find('"event":"resume"', 1, true) ~= nil, "the second run resumed (a resume event in the log)")
local same, key = same_weights(weights(A), weights(B))
ok(same, "stopped + resumed: the final weights are bit-identical" .. (key and (" (differs: " .. key .. ")") or ""))
ok(metrics(A) == metrics(B) and #metrics(A) > 0, "stopped + resumed: the metrics log equals the uninterrupted one")

-- killed with kill -9 once a checkpoint exists
local K = tmp .. "/k"
local pid = run(K, 0, true)
local killed = false
for _ = 1, 3000 do
  if slurp(K .. "/checkpoints/latest") ~= "" then
    killed = os.execute("kill -9 " .. pid .. " 2>/dev/null")
    killed = killed == 0 or killed == true
    break
  end
  os.execute("sleep 0.01")
end
os.execute("sleep 0.2")
local finished_anyway = io.open(K .. "/model.safetensors") ~= nil
ok(succeeded(run(K)), "the run after kill -9 finishes", slurp(K .. ".log"))
same, key = same_weights(weights(A), weights(K))
ok(same, "killed + resumed: the final weights are bit-identical" .. (key and (" (differs: " .. key .. ")") or ""))
ok(metrics(A) == metrics(K), "killed + resumed: the metrics log equals the uninterrupted one")
print(string.format("kill -9 %s mid-run%s", killed and "landed" or "did not land",
  finished_anyway and " (the run had already finished)" or ""))
-- init: continued pretraining starts from an earlier run's weights (a 1-step run at lr 1e-12
-- ends where A ended; without init it starts from a fresh initialisation)
local function one_step(out, init)
  hub.pretrain.run {
    model = { hidden_size = 16, num_hidden_layers = 1, num_attention_heads = 2, intermediate_size = 32,
              max_position_embeddings = 64 },
    vocab = "fixtures/vocab_zh.txt", train = "fixtures/pretrain/corpus.txt", out = out, steps = 1, batch_size = 2,
    max_seq_len = 24, lr = 1e-12, seed = 9, progress = false, quiet = true, threads = 1, init = init }
  return weights(out)
end
local wa = weights(A)
local function maxdiff(a, b)
  local m = 0
  for k, t in pairs(a) do if b[k] then m = math.max(m, t:float():sub(b[k]:float()):abs():max():item()) end end
  return m
end
ok(maxdiff(one_step(tmp .. "/init", A .. "/model.safetensors"), wa) < 1e-6, "init: the run starts from the given weights")
ok(maxdiff(one_step(tmp .. "/noinit"), wa) > 1e-3, "without init: a fresh initialisation")
T.errors(function() one_step(tmp .. "/bad", tmp .. "/nothing.safetensors") end, "init", "init: a missing file is an error naming it")
os.execute("rm -rf " .. q(tmp))
T.finish()
