-- hub.task.regression: one number per text or text pair (PaddleHub's RegressionTask).
--
--   local task = hub.task.regression{ module = "ernie-tiny-zh" }
--
-- Network: [CLS] features, dropout, a linear layer to one output.  Loss: mean squared error.
-- Metrics: spearman (the main one, as PaddleHub's), pearson, mse, mae.  Predict: per text
-- { score = number }.  Data: regression data sets (label = a number), one text or a pair.
local hub = require "hub"
local nn = hub.nn
local base = require "hub.task.base"
local metrics = require "hub.metrics"

local R = base.Task:extend("RegressionTask")

function R:init(opts)
  local fname = "regression"
  local o = base.options(opts, {}, fname)
  if o.labels or o.num_classes then base.fail("regression: takes no labels or num_classes (one number per example)") end
  self:setup(o, fname, "regression", { regression = true })
  rawset(self, "main_metric", "spearman")
  rawset(self, "task_name", "regression")
  self.regressor = nn.Linear(self.hidden_size, 1)
end

function R:forward_batch(b)
  local y = self.regressor(self:encode_pooled(b))
  return { scores = y:reshape(y.shape[1]) }
end

function R:loss(out, b) return hub.mse_loss(out.scores, b.labels) end

function R:collect(out, b, acc)
  acc.pred = acc.pred or {}
  acc.gold = acc.gold or {}
  local p, g = out.scores:totable(), b.labels:totable()
  for k = 1, #p do acc.pred[#acc.pred + 1] = p[k]; acc.gold[#acc.gold + 1] = g[k] end
end

function R:summarize(acc)
  return { spearman = metrics.spearman(acc.pred, acc.gold), pearson = metrics.pearson(acc.pred, acc.gold),
           mse = metrics.mse(acc.pred, acc.gold), mae = metrics.mae(acc.pred, acc.gold) }
end

function R:results(out, b, items)
  local s = out.scores:totable()
  local r = {}
  for k = 1, #s do r[k] = { text = items[k].text_a, text_b = items[k].text_b, score = s[k] } end
  return r
end

function R:format_result(r) return string.format("%s\t%.6g", r.text, r.score) end

return R
