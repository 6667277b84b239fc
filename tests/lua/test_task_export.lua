-- task:export writes a module that `hubrun install DIR`, `hubrun run NAME --input_text ...`
-- and hub.module use as they are, and whose predictions equal the task's exactly: text
-- classification on pairs, sequence labelling with a CRF, multi-label and regression, each
-- briefly trained on toy data (tests/lua/finetune_fixture.lua) so the heads are not at their
-- initial values.  Also: hub.task.load gives the task back; export errors name the field.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local F = require "finetune_fixture"
local ok = T.ok
local hub = require "hub"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local tmp = io.popen("mktemp -d /tmp/hub_ftexport_XXXXXX"):read("*l")
local q = T.q
local function sh(cmd)
  local p = io.popen("HUB_HOME=" .. q(tmp .. "/home") .. " HUB_OFFLINE=1 " .. cmd .. " 2>&1; echo \"rc=$?\"")
  local s = p:read("*a")
  p:close()
  return s
end

local function deep_equal(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local cases = {
  { "text_classification", F.pairs, { "这个很好\t不错", "今天很好\t太差", "房间满意\t讨厌我们" }, {} },
  { "sequence_labeling", F.ner, { "我们张三去北京了", "李四去上海了", "abc张三" }, { crf = true } },
  { "multi_label_classification", F.multi_label, { "很好酒店今天", "太差今天" }, {} },
  { "regression", F.regression, { "很好不错了", "太差了" }, {} },
}

for i, c in ipairs(cases) do
  local name, data, inputs, extra = c[1], c[2], c[3], c[4]
  local net, tk = F.encoder(10 + i)
  local o = { network = net, tokenizer = tk, max_seq_len = 24 }
  for k, v in pairs(extra) do o[k] = v end
  local task = hub.task[name](o)
  hub.finetune(task, data(60), { epochs = 1, batch_size = 8, lr = 1e-2, cache = false, progress = false, quiet = true, eval_test = false })
  local want = task:predict(inputs)
  local mname = "toy-" .. name:gsub("_", "-")
  local dir = tmp .. "/" .. mname
  local got_dir = task:export { name = mname, version = "1.2.0", dir = dir }
  ok(got_dir == dir, name .. ": export returns the directory")
  local manifest = require("hub.module").read_manifest(dir)
  ok(manifest.config.task == name and manifest.version == "1.2.0", name .. ": module.json names the task and version")
  -- in-process, from the directory
  local m = hub.module(dir)
  ok(deep_equal(m:predict(inputs), want), name .. ": hub.module(dir):predict equals task:predict exactly")
  -- hub.task.load gives the task back
  local t2 = hub.task.load(dir)
  ok(deep_equal(t2:predict(inputs), want), name .. ": hub.task.load(dir):predict equals task:predict")
  -- installed, then run from the command line
  local out = sh(q(HUBRUN) .. " install " .. q(dir))
  ok(out:find("rc=0", 1, true), name .. ": hubrun install DIR", out)
  out = sh(q(HUBRUN) .. " run " .. mname .. " --input_text " .. q(inputs[1]))
  ok(out == task:format_result(want[1]) .. "\nrc=0\n", name .. ": hubrun run NAME --input_text prints the task's result", out)
  out = sh(q(HUBRUN) .. " run " .. mname .. " --input_text " .. q(inputs[1]) .. " --json")
  local decoded = require("cjson").decode(out:match("^(.*)\nrc=0") or "null")
  ok(type(decoded) == "table" and decoded[1] ~= nil, name .. ": --json gives the results", out)
end

-- hub.module by name, after install, equals too (sequence labelling: entities)
do
  local code = [[
local hub = require "hub"
local r = hub.module("toy-sequence-labeling"):predict{ "我们张三去北京了" }
print(#r[1].tags, r[1].text)]]
  T.write_file(tmp .. "/by_name.lua", code)
  local out = sh(q(HUBRUN) .. " " .. q(tmp .. "/by_name.lua"))
  ok(out:find("^8\t我们张三去北京了\nrc=0") ~= nil, "hub.module(NAME) loads the installed export", out)
end

-- truncation = "head_tail" travels with the export: the loaded task cuts long texts as the
-- trained one did (its first quarter and last three quarters), not by keeping their start
do
  local net, tk = F.encoder(40)
  local ht = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 10, truncation = "head_tail" }
  hub.finetune(ht, F.sentiment(40), { epochs = 1, batch_size = 8, lr = 1e-2, cache = false, progress = false, quiet = true, eval_test = false })
  local lf = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 10, labels = ht.labels }
  local long = { "今天我们房间今天我们房间今天我们很好", "很好我们今天房间我们今天房间我们太差" }
  local fh, fl = ht:features_of{ { text_a = long[1] } }, lf:features_of{ { text_a = long[1] } }
  local want_ids = tk:encode(long[1], { max_seq_len = 10, truncation = "head_tail", padding = false }).input_ids:totable()
  ok(deep_equal(fh:row(1).input_ids, want_ids) and not deep_equal(fl:row(1).input_ids, want_ids),
    "a head_tail task's features are the tokenizer's head_tail encoding")
  local want = ht:predict(long)
  local dir = tmp .. "/toy-head-tail"
  ht:export { name = "toy-head-tail", dir = dir }
  ok(require("hub.module").read_manifest(dir).config.task_config.truncation == "head_tail", "module.json keeps the truncation")
  local t2 = hub.task.load(dir)
  ok(t2.truncation == "head_tail" and deep_equal(t2:predict(long), want), "the loaded task truncates as the exported one")
  T.errors(function() hub.task.sequence_labeling { network = net, tokenizer = tk, truncation = "head_tail" } end,
    "drops the middle", "head_tail for sequence labelling")
  T.errors(function() hub.task.text_classification { network = net, tokenizer = tk, truncation = "middle" } end,
    "truncation must be", "an unknown truncation")
end

-- errors
do
  local net, tk = F.encoder(30)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
  T.errors(function() task:export { name = "x", dir = tmp .. "/x" } end, "no labels", "export before labels are known")
  task = hub.task.text_classification { network = net, tokenizer = tk, labels = { "a", "b" } }
  T.errors(function() task:export { dir = tmp .. "/x" } end, "'name' is required", "export without a name")
  T.errors(function() task:export { name = "bad name", dir = tmp .. "/x" } end, "must be letters", "a bad name")
  T.errors(function() task:export { name = "x", version = "1.x", dir = tmp .. "/x" } end, "not a semantic version", "a bad version")
  os.execute("mkdir -p " .. q(tmp .. "/occupied") .. " && touch " .. q(tmp .. "/occupied/file"))
  T.errors(function() task:export { name = "x", dir = tmp .. "/occupied" } end, "not a module directory", "exporting over another directory")
  -- a second export replaces the first
  task:export { name = "x", dir = tmp .. "/x" }
  ok(task:export { name = "x", version = "1.0.1", dir = tmp .. "/x" } == tmp .. "/x", "export replaces an earlier export")
  ok(require("hub.module").read_manifest(tmp .. "/x").version == "1.0.1", "the replaced export has the new version")
end

if T.failed == 0 then os.execute("rm -rf " .. q(tmp)) end
T.finish()
