-- hub.metrics.common: what the metric files share - turning tensors and Lua arrays into flat
-- Lua arrays of numbers, predicted class ids from logits, and the precision / recall / F1
-- arithmetic with scikit-learn's conventions (a 0/0 ratio counts as 0, its zero_division
-- default).  Not a public module; hub.metrics re-exports what users call.
local core = require "hub.core"
local is_tensor = core.is_tensor

local M = {}

local FLOAT = { f32 = true, f16 = true, bf16 = true }
M.FLOAT = FLOAT

-- A flat Lua array from a tensor, a number or a (possibly nested) Lua array.  fname and what
-- name the caller and the argument in errors; level is the error level for error().
function M.flat(v, fname, what, level)
  if is_tensor(v) then v = v:totable() end
  if type(v) == "number" then return { v } end
  if type(v) ~= "table" then
    error(string.format("%s: %s must be a tensor or a Lua array, got %s", fname, what, type(v)), level or 3)
  end
  local out = {}
  local function walk(t)
    for _, e in ipairs(t) do
      if type(e) == "table" then walk(e)
      elseif type(e) == "number" or type(e) == "boolean" then out[#out + 1] = e == true and 1 or (e == false and 0 or e)
      else error(string.format("%s: %s holds a %s, expected numbers", fname, what, type(e)), level or 3) end
    end
  end
  walk(v)
  return out
end

-- A table of rows: a 2-d tensor or a Lua array of arrays -> { {..}, {..} }, all of one width.
function M.rows(v, fname, what, level)
  if is_tensor(v) then
    if v:dim() ~= 2 then
      error(string.format("%s: %s must be 2-d [N, K], got %d-d", fname, what, v:dim()), level or 3)
    end
    v = v:totable()
  end
  if type(v) ~= "table" then
    error(string.format("%s: %s must be a 2-d tensor or a Lua array of rows, got %s", fname, what, type(v)), level or 3)
  end
  local width
  for i, r in ipairs(v) do
    if type(r) ~= "table" then
      error(string.format("%s: %s row %d is a %s, expected an array", fname, what, i, type(r)), level or 3)
    end
    width = width or #r
    if #r ~= width then
      error(string.format("%s: %s row %d has %d entries, row 1 has %d", fname, what, i, #r, width), level or 3)
    end
  end
  return v, width or 0
end

-- Class ids from logits/scores (a float tensor [N, C]: argmax over the last dimension) or from
-- ids (an integer tensor or a Lua array).
function M.class_ids(pred, fname, level)
  if is_tensor(pred) and FLOAT[pred.dtype] then
    if pred:dim() < 2 then
      error(fname .. ": 1-d float predictions are ambiguous; pass logits [N, C] or integer class ids", level or 3)
    end
    pred = require("hub").no_grad(function() return pred:argmax(-1) end)
  end
  return M.flat(pred, fname, "predictions", (level or 3) + 1)
end

-- Checks that two arrays have the same, nonzero length.
function M.same_length(a, b, fname, wa, wb, level)
  if #a ~= #b then error(string.format("%s: %d %s but %d %s", fname, #a, wa, #b, wb), level or 3) end
  if #a == 0 then error(fname .. ": no examples", level or 3) end
end

-- n / d, 0 when d is 0 (scikit-learn's and seqeval's zero_division default).
function M.div(n, d) if d == 0 then return 0 end return n / d end

-- precision, recall, F1 from counts (tp, predicted, true) as scikit-learn computes them:
-- F1 = 2 p r / (p + r), 0 when p + r is 0.
function M.prf(tp, npred, ntrue)
  local p, r = M.div(tp, npred), M.div(tp, ntrue)
  local f = (p + r) == 0 and 0 or 2 * p * r / (p + r)
  return p, r, f
end

-- Averages per-label scores { {p, r, f, support}, ... } with counts { {tp, npred, ntrue} } as
-- scikit-learn's precision_recall_fscore_support: "micro" (from summed counts), "macro" (the
-- unweighted mean over labels; NaN without labels, as numpy's mean of nothing), "weighted"
-- (weights = support; all 0 when the support is 0).  Returns { precision, recall, f1, support }.
function M.average(per, counts, average)
  local support = 0
  for _, c in ipairs(counts) do support = support + c[3] end
  if average == "micro" then
    local tp, np, nt = 0, 0, 0
    for _, c in ipairs(counts) do tp, np, nt = tp + c[1], np + c[2], nt + c[3] end
    local p, r, f = M.prf(tp, np, nt)
    return { precision = p, recall = r, f1 = f, support = support }
  elseif average == "macro" then
    local p, r, f = 0, 0, 0
    for _, s in ipairs(per) do p, r, f = p + s.precision, r + s.recall, f + s.f1 end
    local n = #per
    return { precision = p / n, recall = r / n, f1 = f / n, support = support }
  elseif average == "weighted" then
    if support == 0 then return { precision = 0, recall = 0, f1 = 0, support = 0 } end
    local p, r, f = 0, 0, 0
    for i, s in ipairs(per) do
      local w = counts[i][3] / support
      p, r, f = p + w * s.precision, r + w * s.recall, f + w * s.f1
    end
    return { precision = p, recall = r, f1 = f, support = support }
  end
  error("average: unknown " .. tostring(average))
end

return M
