-- hub.task.multi_label_classification: any number of labels per text (PaddleHub's
-- MultiLabelClassifierTask).
--
--   local task = hub.task.multi_label_classification{ module = "ernie-tiny-zh", labels = {...} }
--
-- Network: [CLS] features, dropout, a linear layer to one logit per label.  Loss: sigmoid
-- binary cross-entropy on each (example, label) cell, mean over all cells, computed stably as
-- max(x, 0) - x y + log(1 + exp(-|x|)).  Metrics (a label is predicted when its probability is
-- at least `threshold`, default 0.5): micro_f1 (the main one), macro_f1, micro_precision,
-- micro_recall, and subset accuracy (exact_match: every label of the example right).
-- Predict: per text { labels = {names}, label_ids = {ids}, probs = {p per label} }.
local hub = require "hub"
local nn = hub.nn
local base = require "hub.task.base"
local metrics = require "hub.metrics"

local ML = base.Task:extend("MultiLabelClassificationTask")

function ML:init(opts)
  local fname = "multi_label_classification"
  local o = base.options(opts, { threshold = "number" }, fname)
  self:setup(o, fname, "multi_label")
  rawset(self, "uses_labels", true)
  rawset(self, "main_metric", "micro_f1")
  rawset(self, "task_name", "multi_label_classification")
  rawset(self, "threshold", o.threshold or 0.5)
  if self.threshold <= 0 or self.threshold >= 1 then base.fail("%s: threshold must be in (0, 1), got %s", fname, tostring(o.threshold)) end
  local labels = base.labels_of(o, fname, 1)
  if labels then self:set_labels(labels) end
end

function ML:set_labels(l)
  base.Task.set_labels(self, l)
  if not self.classifier or self.classifier.out_features ~= #l then
    self.classifier = nn.Linear(self.hidden_size, #l)
  end
end

function ML:forward_batch(b)
  if not self.classifier then base.fail("multi_label_classification: the labels are not known yet") end
  return { logits = self.classifier(self:encode_pooled(b)) }
end

-- Mean binary cross-entropy of logits x against 0/1 targets y (same shape).
function ML.bce_with_logits(x, y)
  local l = x:relu() - x * y + ((-x:abs()):exp() + 1):log()
  return l:mean()
end

function ML:loss(out, b) return ML.bce_with_logits(out.logits, b.labels) end

function ML:collect(out, b, acc)
  acc.probs = acc.probs or {}
  acc.gold = acc.gold or {}
  local p, g = out.logits:sigmoid():totable(), b.labels:totable()
  for k = 1, #p do acc.probs[#acc.probs + 1] = p[k]; acc.gold[#acc.gold + 1] = g[k] end
end

function ML:summarize(acc)
  local o = { threshold = self.threshold }
  local micro = metrics.multilabel_precision_recall_f1(acc.probs, acc.gold, { threshold = o.threshold, average = "micro" })
  local macro = metrics.multilabel_precision_recall_f1(acc.probs, acc.gold, { threshold = o.threshold, average = "macro" })
  local exact = 0
  for i, row in ipairs(acc.probs) do
    local same = true
    for j, p in ipairs(row) do
      if (p >= o.threshold and 1 or 0) ~= acc.gold[i][j] then same = false; break end
    end
    if same then exact = exact + 1 end
  end
  return { micro_f1 = micro.f1, micro_precision = micro.precision, micro_recall = micro.recall, macro_f1 = macro.f1,
           exact_match = exact / #acc.probs }
end

function ML:results(out, b, items)
  local probs = out.logits:sigmoid():totable()
  local r = {}
  for k = 1, #probs do
    local names, ids = {}, {}
    for j, p in ipairs(probs[k]) do
      if p >= self.threshold then ids[#ids + 1] = j - 1; names[#names + 1] = self:label_name(j - 1) end
    end
    r[k] = { text = items[k].text_a, labels = names, label_ids = ids, probs = probs[k] }
  end
  return r
end

function ML:format_result(r) return r.text .. "\t" .. table.concat(r.labels, ",") end

function ML:task_config()
  local c = base.Task.task_config(self)
  c.threshold = self.threshold
  return c
end

return ML
