-- hub.task.text_classification: one label per text or text pair (sentiment, topic, paraphrase
-- as a pair: PaddleHub's TextClassifierTask; PointwiseTextMatchingTask is the pair case with a
-- joint encoder).
--
--   local task = hub.task.text_classification{ module = "ernie-tiny-zh", max_seq_len = 128 }
--   -- labels = {"negative", "positive"} or num_classes = 2; nil: the data set's, at finetune
--
-- Network: the encoder's [CLS] features (the pooler's output when the network has a pooler,
-- else the [CLS] hidden state), dropout (0.1), a linear layer to the classes.  Loss: softmax
-- cross-entropy, mean over the batch.  Metrics: acc (the main one), precision, recall and f1
-- (binary for two classes, of class 1; else macro averages), and macro_f1.  Predict: per text
-- { label = name, label_id = id, probs = { p0, p1, ... } }.  Data: classification (one text)
-- or pair (text_a + text_b, encoded together: [CLS] a [SEP] b [SEP]).
local hub = require "hub"
local nn = hub.nn
local base = require "hub.task.base"
local metrics = require "hub.metrics"

local TC = base.Task:extend("TextClassificationTask")

function TC:init(opts)
  local fname = "text_classification"
  local o = base.options(opts, {}, fname)
  self:setup(o, fname, "classification", { classification = true, pair = true })
  rawset(self, "uses_labels", true)
  rawset(self, "main_metric", "acc")
  rawset(self, "task_name", "text_classification")
  local labels = base.labels_of(o, fname, 2)
  if labels then self:set_labels(labels) end
end

-- The head is made once the number of classes is known (at construction or from the data set).
function TC:set_labels(l)
  base.Task.set_labels(self, l)
  if not self.classifier or self.classifier.out_features ~= #l then
    self.classifier = nn.Linear(self.hidden_size, #l)
  end
end

local function need_head(self)
  if not self.classifier then base.fail("%s: the number of classes is not known yet (give labels or num_classes)", self.__name) end
end

function TC:forward_batch(b)
  need_head(self)
  local v = self:encode_pooled(b)
  return { logits = self.classifier(v) }
end

function TC:loss(out, b) return hub.cross_entropy(out.logits, b.labels) end

function TC:collect(out, b, acc)
  acc.pred = acc.pred or {}
  acc.gold = acc.gold or {}
  local p, g = out.logits:argmax(-1):totable(), b.labels:totable()
  for k = 1, #p do acc.pred[#acc.pred + 1] = p[k]; acc.gold[#acc.gold + 1] = g[k] end
end

function TC:summarize(acc)
  local right = 0
  for i = 1, #acc.gold do if acc.pred[i] == acc.gold[i] then right = right + 1 end end
  local m = { acc = right / #acc.gold }
  local ids = {}
  for i = 1, #self.labels do ids[i] = i - 1 end
  local macro = metrics.precision_recall_f1(acc.pred, acc.gold, { average = "macro", labels = ids })
  m.macro_f1 = macro.f1
  if #self.labels == 2 then
    local bin = metrics.precision_recall_f1(acc.pred, acc.gold, { average = "macro", labels = { 1 } })
    m.precision, m.recall, m.f1 = bin.precision, bin.recall, bin.f1
  else
    m.precision, m.recall, m.f1 = macro.precision, macro.recall, macro.f1
  end
  return m
end

function TC:results(out, b, items)
  local probs = out.logits:softmax(-1):totable()
  local r = {}
  for k = 1, #probs do
    local best, id = -1, 0
    for j, p in ipairs(probs[k]) do if p > best then best, id = p, j - 1 end end
    r[k] = { text = items[k].text_a, text_b = items[k].text_b, label = self:label_name(id), label_id = id, probs = probs[k] }
  end
  return r
end

function TC:format_result(r)
  return string.format("%s\t%s\t%.4f", r.text_b and (r.text .. "\t" .. r.text_b) or r.text, r.label, r.probs[r.label_id + 1])
end

return TC
