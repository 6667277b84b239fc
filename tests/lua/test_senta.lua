-- task:export{ format = "senta" }: a 2-class sentiment classifier answering in the shape of
-- PaddleHub's senta modules ({text, sentiment_label, sentiment_key, positive_probs,
-- negative_probs}, probabilities rounded as senta's '%.4f', negative_probs = 1 - P(positive)),
-- checked against the task's own probabilities; the line `hubrun run` prints equals Python's
-- print of that dict (when python3 is there); --json and predict_json (serving) keep senta's key
-- order; the registry plumbing of senta-ernie-tiny-zh (scripts/build-registry.lua --senta DIR)
-- packs a tiny module made here, lists it in index.json, and `hubrun install` from that registry
-- gives a module that answers the same.  Errors: what cannot be exported so.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local F = require "finetune_fixture"
local ok = T.ok
local hub = require "hub"
local cjson = require "cjson"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local REPO = (arg[0]:match("^(.*)/tests/lua/[^/]*$") or "..")
local tmp = io.popen("mktemp -d /tmp/hub_senta_XXXXXX"):read("*l")
local q = T.q
local function sh(cmd, env)
  local p = io.popen("HUB_HOME=" .. q(tmp .. "/home") .. " HUB_OFFLINE=1 " .. (env or "") .. " " .. cmd .. " 2>&1; echo \"rc=$?\"")
  local s = p:read("*a")
  p:close()
  return s
end
local function round4(x) return tonumber(string.format("%.4f", x)) end

local net, tk = F.encoder(21)
local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
hub.finetune(task, F.sentiment(60), { epochs = 1, batch_size = 8, lr = 1e-2, cache = false, progress = false, quiet = true, eval_test = false })
ok(task.labels[1] == "negative" and task.labels[2] == "positive", "the toy classifier has the labels negative, positive")

local texts = { "这个很好今天", "房间太差我们", "这家酒店很干净", "it's \"ok\"" }
local want = task:predict(texts)
local src = tmp .. "/src/senta-ernie-tiny-zh"
task:export { name = "senta-ernie-tiny-zh", version = "1.0.0", dir = src, format = "senta" }
local manifest = require("hub.module").read_manifest(src)
ok(manifest.config.output_format == "senta" and manifest.type == "nlp/sentiment_analysis",
  "module.json: config.output_format senta, type nlp/sentiment_analysis")

-- ---- the results against the task's probabilities ----
local m = hub.module(src)
local got = m:predict(texts)
local right = true
for i, r in ipairs(got) do
  local p = want[i].probs[2]
  local n = 0
  for _ in pairs(r) do n = n + 1 end
  if n ~= 5 or r.text ~= texts[i] or r.sentiment_label ~= want[i].label_id
     or r.sentiment_key ~= (want[i].label_id == 1 and "positive" or "negative")
     or r.positive_probs ~= round4(p) or r.negative_probs ~= round4(1 - p) then
    right = false
    print(cjson.encode(r), p)
  end
end
ok(right, "senta results: text, label = argmax, key, positive_probs = P(positive) and negative_probs = 1 - P rounded to 4 decimals")
-- rounding on fixed values, as Python's float('%.4f' % x)
local senta = dofile(REPO .. "/modules/finetuned/module.lua").senta
local r = senta { text = "x", label_id = 1, probs = { 0.06374, 0.93626 } }
ok(r.positive_probs == 0.9363 and r.negative_probs == 0.0637, "0.93626 -> 0.9363, 1 - 0.93626 -> 0.0637")
r = senta { text = "x", label_id = 0, probs = { 0.99996, 0.00004 } }
ok(r.positive_probs == 0 and r.negative_probs == 1 and r.sentiment_key == "negative", "0.00004 -> 0.0, 0.99996 -> 1.0")

-- ---- the printed line: Python's print of the dict ----
local line = m:format(got[1])
local expect = string.format("{'text': '%s', 'sentiment_label': %d, 'sentiment_key': '%s', 'positive_probs': %s, 'negative_probs': %s}",
  got[1].text, got[1].sentiment_label, got[1].sentiment_key, (string.format("%.4f", got[1].positive_probs):gsub("0+$", ""):gsub("%.$", ".0")),
  (string.format("%.4f", got[1].negative_probs):gsub("0+$", ""):gsub("%.$", ".0")))
ok(line == expect, "format: senta's dict as Python prints it", line .. "\n" .. expect)
local py = io.popen("command -v python3"):read("*l")
if py and py ~= "" then
  local js = tmp .. "/results.json"
  T.write_file(js, m:json(got))
  local p = io.popen(q(py) .. " -c " .. q("import json,sys\nfor r in json.load(open(sys.argv[1])): print(r)") .. " " .. q(js))
  local out = p:read("*a")
  p:close()
  local mine = {}
  for i = 1, #got do mine[i] = m:format(got[i]) end
  ok(out == table.concat(mine, "\n") .. "\n", "every line equals Python's print of the JSON-decoded dict (quotes, floats)",
    out .. "--- vs ---\n" .. table.concat(mine, "\n"))
else
  print("skipped: python3 not found (Python's print of the dicts)")
end

-- ---- JSON: senta's key order (--json, serving) ----
local js = m:json(got)
ok(js:match('^%[{"text": "[^"]*", "sentiment_label": [01], "sentiment_key": "%a+", "positive_probs": [%d.]+, "negative_probs": [%d.]+},') ~= nil,
  "json: the keys in senta's order", js)
local back = cjson.decode(js)
ok(#back == #got and back[4].text == texts[4] and back[2].positive_probs == got[2].positive_probs, "json decodes to the results")
local served = m:predict_json('{"text": ["这家酒店很干净"]}')
ok(served == m:json({ got[3] }), "predict_json (serving's path) answers in senta's shape", served)

-- ---- installed and run from the command line ----
local out = sh(q(HUBRUN) .. " install " .. q(src))
ok(out:find("rc=0", 1, true), "hubrun install DIR", out)
out = sh(q(HUBRUN) .. " run senta-ernie-tiny-zh --input_text " .. q("这家酒店很干净"))
ok(out == m:format(got[3]) .. "\nrc=0\n", "hubrun run senta-ernie-tiny-zh --input_text prints the senta dict", out)

-- ---- the registry: build-registry.lua --senta DIR, then install by name from it ----
do
  local reg = tmp .. "/registry"
  out = sh(q(HUBRUN) .. " " .. q(REPO .. "/scripts/build-registry.lua") .. " --out " .. q(reg) .. " --senta " .. q(src))
  ok(out:find("rc=0", 1, true), "build-registry.lua --senta builds", out)
  local built = reg .. "/senta-ernie-tiny-zh/1.0.0"
  local mj = cjson.decode(T.read_file(built .. "/module.json") or "null")
  ok(type(mj) == "table" and mj.config.output_format == "senta" and mj.files["model.safetensors"] and mj.files["module.lua"]
     and mj.entry == "module.lua", "the registry's module.json keeps the config and lists the files", T.read_file(built .. "/module.json"))
  ok(T.read_file(built .. "/module.lua") == T.read_file(REPO .. "/modules/finetuned/module.lua"),
    "packed with the repository's modules/finetuned/module.lua")
  local index = cjson.decode(T.read_file(reg .. "/index.json") or "null")
  ok(type(index) == "table" and index.modules["senta-ernie-tiny-zh"] and index.modules["senta-ernie-tiny-zh"].versions["1.0.0"],
    "index.json lists senta-ernie-tiny-zh 1.0.0")
  local env = "HUB_DEFAULT_REGISTRY=" .. q("file://" .. reg .. "/index.json") .. " HUB_HOME=" .. q(tmp .. "/home2")
  out = sh(q(HUBRUN) .. " install senta-ernie-tiny-zh", env)
  ok(out:find("rc=0", 1, true), "hubrun install senta-ernie-tiny-zh from that registry", out)
  out = sh(q(HUBRUN) .. " run senta-ernie-tiny-zh --input_text " .. q("这家酒店很干净"), env)
  ok(out == m:format(got[3]) .. "\nrc=0\n", "the module installed from the registry answers the same", out)
  -- a directory that is not a senta export is refused
  local plain = tmp .. "/plain"
  task:export { name = "plain", dir = plain }
  out = sh(q(HUBRUN) .. " " .. q(REPO .. "/scripts/build-registry.lua") .. " --out " .. q(reg) .. " --senta " .. q(plain))
  ok(out:find("not a senta export", 1, true) and not out:find("rc=0", 1, true), "build-registry.lua refuses a non-senta export", out)
end

-- ---- errors ----
do
  T.errors(function() task:export { name = "x", dir = tmp .. "/x", format = "xml" } end, "format 'xml' is not known", "an unknown format")
  local n2, t2 = F.encoder(22)
  local pair = hub.task.text_classification { network = n2, tokenizer = t2, labels = { "negative", "positive" }, pair = true }
  rawset(pair, "pair", true)
  T.errors(function() pair:export { name = "x", dir = tmp .. "/x", format = "senta" } end, "single texts", "senta on a pair task")
  local three = hub.task.text_classification { network = n2, tokenizer = t2, labels = { "negative", "neutral", "positive" } }
  T.errors(function() three:export { name = "x", dir = tmp .. "/x", format = "senta" } end, "{negative, positive}", "senta with 3 labels")
  local named = hub.task.text_classification { network = n2, tokenizer = t2, labels = { "pos", "neg" } }
  T.errors(function() named:export { name = "x", dir = tmp .. "/x", format = "senta" } end, "got {pos, neg}", "senta with other label names")
  local reg = hub.task.regression { network = n2, tokenizer = t2 }
  T.errors(function() reg:export { name = "x", dir = tmp .. "/x", format = "senta" } end, "text_classification", "senta on regression")
  out = sh(q(HUBRUN) .. " " .. q(REPO .. "/recipes/ernie_cls.lua") .. " --export_format xml")
  ok(out:find("--export_format must be task or senta", 1, true) and out:find("rc=2", 1, true), "the recipes check --export_format first", out)
end

if T.failed == 0 then os.execute("rm -rf " .. q(tmp)) end
T.finish()
