-- module.lua of fine-tuned task modules (what task:export writes; lua/hub/task/export.lua).
--
--   hubrun install ./my-cls && hubrun run my-cls --input_text "这家酒店很干净"
--   local m = hub.module "my-cls"; local r = m:predict{ "这家酒店很干净" }
--   -- text_classification: {{text, label, label_id, probs}}; sequence_labeling: {{text, tags,
--   -- entities}}; multi_label_classification: {{text, labels, label_ids, probs}};
--   -- regression: {{text, score}}; text_matching: {{text, text_b, label, probs | score}}
--
-- load rebuilds the task from module.json's config (hub.task.load: the encoder from
-- config.model, the task from config.task and config.task_config, the weights of
-- model.safetensors), so predictions are exactly the task's own.  Pair tasks take "a<TAB>b"
-- strings (also on the command line) or {a, b} tables.  opts: max_seq_len, batch_size.
--
-- config.output_format = "senta" (task:export{ format = "senta" }): a sentiment classifier
-- answers as PaddleHub's senta modules do: per text {text, sentiment_label = 0 | 1,
-- sentiment_key = "negative" | "positive", positive_probs, negative_probs}, the probabilities
-- rounded to 4 decimals as senta's '%.4f' (negative_probs = 1 - P(positive), then rounded);
-- format prints a result as Python prints the dict ({'text': '…', 'sentiment_label': 1, …}),
-- json keeps senta's key order (--json, serving).
local hub = require "hub"

local M = {}

function M.load(dir, opts)
  opts = opts or {}
  local task = hub.task.load(dir, { max_seq_len = opts.max_seq_len })
  local cfg = require("hub.module").read_manifest(dir).config or {}
  local format = cfg.output_format
  if format ~= nil and format ~= "senta" then
    error(string.format("%s/module.json: config.output_format '%s' is not known (senta)", dir, tostring(format)), 0)
  end
  return { task = task, dir = dir, batch_size = opts.batch_size, format = format }
end

-- senta's result of a text_classification result (labels negative, positive).
local function round4(x) return tonumber(string.format("%.4f", x)) end
local KEYS = { [0] = "negative", [1] = "positive" }
function M.senta(r)
  local p = r.probs[2]
  return { text = r.text, sentiment_label = r.label_id, sentiment_key = KEYS[r.label_id],
           positive_probs = round4(p), negative_probs = round4(1 - p) }
end

function M.predict(self, inputs, opts)
  local bs = (opts and opts.batch_size) or self.batch_size
  local res = self.task:predict(inputs, { batch_size = bs })
  if self.format == "senta" then
    for i, r in ipairs(res) do res[i] = M.senta(r) end
  end
  return res
end

-- A number as Python's repr of a float prints it (these are rounded to 4 decimals).
local function pyfloat(x)
  local s = string.format("%.4f", x):gsub("0+$", "")
  if s:sub(-1) == "." then s = s .. "0" end
  if s == "-0.0" then s = "0.0" end
  return s
end

-- A string as Python's repr prints it (quotes chosen as Python does; common escapes).
local function pystr(s)
  local q = "'"
  if s:find("'", 1, true) and not s:find('"', 1, true) then q = '"' end
  local esc = { ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
  local body = s:gsub("[%c\\]", function(c) return esc[c] or string.format("\\x%02x", c:byte()) end)
  if q == "'" then body = body:gsub("'", "\\'") end
  return q .. body .. q
end

local function json_str(s) return require("cjson").encode(s) end

local ORDER = { "text", "sentiment_label", "sentiment_key", "positive_probs", "negative_probs" }

function M.format(self, r)
  if self.format == "senta" then
    return string.format("{'text': %s, 'sentiment_label': %d, 'sentiment_key': %s, 'positive_probs': %s, 'negative_probs': %s}",
      pystr(r.text), r.sentiment_label, pystr(r.sentiment_key), pyfloat(r.positive_probs), pyfloat(r.negative_probs))
  end
  return self.task:format_result(r)
end

function M.json(self, results)
  local cjson = require "cjson"
  if self.format ~= "senta" then   -- as hub.module's default
    local ok, s = pcall(cjson.encode, results)
    if not ok then error("cannot encode the results as JSON: " .. tostring(s), 0) end
    return s
  end
  local parts = {}
  for i, r in ipairs(results) do
    local f = {}
    for k, key in ipairs(ORDER) do
      local v = r[key]
      local s
      if key == "text" or key == "sentiment_key" then s = json_str(v)
      elseif key == "sentiment_label" then s = string.format("%d", v)
      else s = pyfloat(v) end
      f[k] = '"' .. key .. '": ' .. s
    end
    parts[i] = "{" .. table.concat(f, ", ") .. "}"
  end
  return "[" .. table.concat(parts, ", ") .. "]"
end

return M
