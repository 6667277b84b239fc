-- hub.task: fine-tuning tasks, PaddleHub's Task classes for hubrun.  Each is a constructor
-- taking an options table and returning an nn.Module with loss, metrics, predict and export
-- (hub.task.base describes the shared part; docs/finetune.md every option).
--
--   local task = hub.task.text_classification{ module = "ernie-tiny-zh", max_seq_len = 128 }
--   local run = hub.finetune(task, hub.datasets.reviews_zh(), { epochs = 1 })
--   print(task:predict{ "这家酒店很干净" }[1].label)
--   task:export{ name = "my-cls", version = "1.0.0", dir = "out/my-cls" }
--
--   text_classification{...}         one label per text or pair (softmax CE; acc)
--   multi_label_classification{...}  any labels per text (sigmoid BCE; micro/macro F1)
--   regression{...}                  a number per text or pair (MSE; Spearman, Pearson)
--   sequence_labeling{ crf = bool }  a tag per character (softmax or CRF; entity F1)
--   text_matching{ mode = "pointwise" | "pairwise" }  query/title pairs: joint encoder + softmax
--                                    CE, or siamese encoder + margin ranking loss (matching.lua)
-- Common options: module (an encoder module or its name) or network + tokenizer, max_seq_len,
-- labels or num_classes, dropout (0.1), pair.  hub.task.load(dir) rebuilds an exported task.
local M = {}

local files = {
  text_classification = "hub.task.classification",
  multi_label_classification = "hub.task.multi_label",
  regression = "hub.task.regression",
  sequence_labeling = "hub.task.sequence_labeling",
  text_matching = "hub.task.matching",
}
M.names = {}
for name, file in pairs(files) do
  M.names[#M.names + 1] = name
  M[name] = function(opts) return require(file)(opts) end
end
table.sort(M.names)
M.sequence_labelling = M.sequence_labeling
M.multi_label = M.multi_label_classification

M.base = require "hub.task.base"

-- load(dir): the task of an exported module directory (hub.task.export's format), with its weights.
function M.load(dir, opts) return require("hub.task.export").load(dir, opts) end

return M
