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
local hub = require "hub"

local M = {}

function M.load(dir, opts)
  opts = opts or {}
  local task = hub.task.load(dir, { max_seq_len = opts.max_seq_len })
  return { task = task, dir = dir, batch_size = opts.batch_size }
end

function M.predict(self, inputs, opts)
  local bs = (opts and opts.batch_size) or self.batch_size
  return self.task:predict(inputs, { batch_size = bs })
end

function M.format(self, r) return self.task:format_result(r) end

return M
