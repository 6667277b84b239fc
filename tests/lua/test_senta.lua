-- The senta format of exported sentiment classifiers (task:export{ format = "senta" }, `--export_format
-- senta` in the recipes): hub.module, `hubrun run` and `--json` answer as PaddleHub's senta --
-- {text, sentiment_label, sentiment_key, positive_probs, negative_probs}, probabilities those of
-- task:predict rounded to 4 digits -- and build-registry packs a committed senta module
-- directory into the registry (a tiny module here; the real one is senta-ernie-tiny-zh).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local F = require "finetune_fixture"
local ok = T.ok
local hub = require "hub"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local tmp = io.popen("mktemp -d /tmp/hub_senta_XXXXXX"):read("*l")
local q = T.q
local function sh(cmd)
  local p = io.popen("HUB_HOME=" .. q(tmp .. "/home") .. " HUB_OFFLINE=1 " .. cmd .. " 2>&1; echo \"rc=$?\"")
  local s = p:read("*a")
  p:close()
  return s
end

local net, tk = F.encoder(1)
local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
hub.finetune(task, F.sentiment(), { epochs = 6, batch_size = 16, lr = 1e-2, eval_interval = 10, cache = false, progress = false, quiet = true, eval_test = false })
local inputs = { "这个很好今天", "我们太差真的", "今天" }   -- (the toy data: see finetune_fixture.sentiment)
local want = task:predict(inputs)
local dir = tmp .. "/toy-senta"
task:export { name = "toy-senta", dir = dir, format = "senta" }
local m = hub.module(dir)
local got = m:predict(inputs)
local function r4(p) return math.floor(p * 10000 + 0.5) / 10000 end
local same = #got == #inputs
for i, g in ipairs(got) do
  local w = want[i]
  same = same and g.text == inputs[i] and g.sentiment_label == w.label_id and g.sentiment_key == w.label
    and g.positive_probs == r4(w.probs[2]) and g.negative_probs == r4(w.probs[1])
    and (g.sentiment_key == "positive") == (g.sentiment_label == 1)
end
ok(same, "senta shape: label, key and probabilities (4 digits) of task:predict", got)
ok(got[1].sentiment_key == "positive" and got[2].sentiment_key == "negative", "the toy model learnt the polarity", got)
ok(math.abs(got[1].positive_probs + got[1].negative_probs - 1) <= 1e-4, "the two probabilities sum to 1")
local j = m:json({ got[1] })
ok(j:match('^%[{"text": "这个很好今天", "sentiment_label": 1, "sentiment_key": "positive", "positive_probs": [%d.]+, "negative_probs": [%d.]+}%]$'),
  "JSON in senta's key order", j)

-- installed and run from the command line
local out = sh(q(HUBRUN) .. " install " .. q(dir))
ok(out:find("rc=0", 1, true), "hubrun install DIR", out)
out = sh(q(HUBRUN) .. " run toy-senta --input_text " .. q(inputs[2]))
ok(out:find(inputs[2] .. "\tnegative\t", 1, true) and out:find("rc=0", 1, true), "hubrun run prints text, key, positive_probs", out)
out = sh(q(HUBRUN) .. " run toy-senta --json --input_text " .. q(inputs[1]))
ok(out:find('"sentiment_key": "positive"', 1, true), "hubrun run --json", out)

-- errors: senta needs a negative/positive classifier
local t2 = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24, labels = { "a", "b", "c" } }
T.errors(function() t2:export { name = "x", dir = tmp .. "/x", format = "senta" } end, "labels negative, positive", "senta refuses other labels")
T.errors(function() task:export { name = "x", dir = tmp .. "/x", format = "sentax" } end, "format 'sentax' is unknown", "unknown format")

-- build-registry packs a committed senta directory (here: the tiny one) into a registry
local reg = tmp .. "/registry"
out = io.popen("HUB_REGISTRY_DIR=" .. q(reg) .. " " .. q(HUBRUN) .. " ../scripts/build-registry.lua --out " .. q(reg) .. " --senta " .. q(dir) .. " 2>&1; echo rc=$?"):read("*a")
ok(out:find("rc=0", 1, true) and T.read_file(reg .. "/toy-senta/1.0.0/module.json"), "build-registry.lua --senta packs the module", out)
local idx = T.read_file(reg .. "/index.json") or ""
ok(idx:find('"toy-senta"', 1, true), "the registry index lists it", idx:sub(1, 300))
local m2 = hub.module(reg .. "/toy-senta/1.0.0")
ok(m2:predict({ inputs[1] })[1].positive_probs == got[1].positive_probs, "the registry's copy answers the same")

os.execute("rm -rf " .. q(tmp))
T.finish()
