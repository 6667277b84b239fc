-- hub.metrics: evaluation metrics computed from model outputs and labels.
--
--   local acc = hub.metrics.accuracy(model(x), y)      -- logits [N, C] and labels [N] -> 0..1
--
-- This file holds accuracy and gathers the others, one file per family under hub/metrics/:
-- classification.lua (precision, recall, F1: binary, micro, macro, weighted, per class; and
-- multi-label from sigmoid outputs and a threshold), regression.lua (mse, mae, pearson,
-- spearman) and seqeval.lua (entity-level scores of BIO/BIOES tag sequences as seqeval computes
-- them).  docs/metrics.md describes each; tests/lua/test_metrics.lua compares them with
-- scikit-learn, scipy and seqeval.
--
-- Predictions may be logits or scores (a float tensor whose last dimension is the classes: the
-- argmax over it is taken), or class ids (an integer tensor or a Lua array).  Labels are 0-based
-- class ids (a tensor or a Lua array), as everywhere in hub.  The comparison runs in Lua over
-- totable(), so it never touches the autograd graph.
local core = require "hub.core"
local is_tensor = core.is_tensor

local metrics = {}

local FLOAT = { f32 = true, f16 = true, bf16 = true, f64 = true }

-- A flat Lua array of numbers from a tensor or a (possibly nested) Lua array.
local function flat(v, what)
  if is_tensor(v) then v = v:totable() end
  if type(v) == "number" then return { v } end
  if type(v) ~= "table" then error("accuracy: " .. what .. " must be a tensor or a Lua array, got " .. type(v), 3) end
  local out = {}
  local function walk(t)
    for _, e in ipairs(t) do
      if type(e) == "table" then walk(e) else out[#out + 1] = e end
    end
  end
  walk(v)
  return out
end

-- accuracy(logits_or_preds, labels): the fraction of examples whose predicted class equals the
-- label, a number in [0, 1].
function metrics.accuracy(pred, labels)
  if is_tensor(pred) and FLOAT[pred.dtype] and pred:dim() >= 1 then
    if pred:dim() == 1 then
      error("accuracy: 1-d float predictions are ambiguous; pass logits [N, C] or integer class ids", 2)
    end
    pred = require("hub").no_grad(function() return pred:argmax(-1) end)
  end
  local p, l = flat(pred, "predictions"), flat(labels, "labels")
  if #p ~= #l then
    error(string.format("accuracy: %d predictions but %d labels", #p, #l), 2)
  end
  if #p == 0 then error("accuracy: no examples", 2) end
  local right = 0
  for i = 1, #p do
    if p[i] == l[i] then right = right + 1 end
  end
  return right / #p
end

for _, family in ipairs { "classification", "regression", "seqeval" } do
  for k, f in pairs(require("hub.metrics." .. family)) do metrics[k] = f end
end

return metrics
