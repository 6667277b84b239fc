-- module.lua of fine-tuned task modules (what task:export writes; lua/hub/task/export.lua).
--
--   hubrun install ./my-cls && hubrun run my-cls --input_text "这家酒店很干净"
--   local m = hub.module "my-cls"; local r = m:predict{ "这家酒店很干净" }
--   -- text_classification: {{text, label, label_id, probs}}; sequence_labeling: {{text, tags,
--   -- entities}}; multi_label_classification: {{text, labels, label_ids, probs}};
--   -- regression: {{text, score}}; text_matching: {{text, text_b, label, probs | score}}
--   -- exported with format = "senta" (a negative/positive classifier): PaddleHub senta's
--   -- {{text, sentiment_label, sentiment_key, positive_probs, negative_probs}} (4 digits)
--
-- load rebuilds the task from module.json's config (hub.task.load: the encoder from
-- config.model, the task from config.task and config.task_config, the weights of
-- model.safetensors), so predictions are exactly the task's own.  Pair tasks take "a<TAB>b"
-- strings (also on the command line) or {a, b} tables.  opts: max_seq_len, batch_size, device
-- ("cpu" or "cuda": where the task runs), cuda_graphs (true: on cuda, predictions run as CUDA
-- graphs, one per batch shape; task:use_cuda_graphs).
local hub = require "hub"

local M = {}

function M.load(dir, opts)
  opts = opts or {}
  local task = hub.task.load(dir, { max_seq_len = opts.max_seq_len, device = opts.device, cuda_graphs = opts.cuda_graphs })
  local cfg = require("hub.module").read_manifest(dir).config
  return { task = task, dir = dir, batch_size = opts.batch_size, senta = cfg.format == "senta" }
end

local function round4(p) return math.floor(p * 10000 + 0.5) / 10000 end

function M.predict(self, inputs, opts)
  local bs = (opts and opts.batch_size) or self.batch_size
  local r = self.task:predict(inputs, { batch_size = bs })
  if not self.senta then return r end
  local out = {}
  for i, x in ipairs(r) do
    out[i] = { text = x.text, sentiment_label = x.label_id, sentiment_key = x.label,
               positive_probs = round4(x.probs[2]), negative_probs = round4(x.probs[1]) }
  end
  return out
end

function M.format(self, r)
  if self.senta then return string.format("%s\t%s\t%.4f", r.text, r.sentiment_key, r.positive_probs) end
  return self.task:format_result(r)
end

-- JSON in senta's key order (other tasks: hub.module's default)
function M.json(self, results)
  if not self.senta then return nil end
  local json = require "hub.json"
  local rows = setmetatable({}, json.array_mt)
  for i, r in ipairs(results) do
    rows[i] = json.ordered { { "text", r.text }, { "sentiment_label", r.sentiment_label }, { "sentiment_key", r.sentiment_key },
                             { "positive_probs", r.positive_probs }, { "negative_probs", r.negative_probs } }
  end
  return json.encode(rows, { spaced = true })
end

return M
