-- hub.metrics classification scores: precision, recall and F1 for single-label classification
-- (binary, macro, micro, weighted, per class) and for multi-label classification from sigmoid
-- outputs and a threshold, computed as scikit-learn's precision_recall_fscore_support computes
-- them (tests/lua/test_metrics.lua compares with its outputs).
--
--   metrics.f1(logits, labels, { average = "macro" })                -> a number
--   metrics.precision_recall_f1(preds, labels, { average = "none" }) -> per-class arrays
--   metrics.multilabel_f1(probs, targets, { threshold = 0.5, average = "micro" })
--
-- Per label: precision = TP / predicted, recall = TP / true, F1 = 2 P R / (P + R), each 0 when
-- its denominator is 0 (scikit-learn's zero_division default, without the warning).
local common = require "hub.metrics.common"

local M = {}

local AVERAGES = { binary = true, micro = true, macro = true, weighted = true, none = true }

local function check_average(avg, fname, allowed)
  if not allowed[avg] then
    local names = {}
    for k in pairs(allowed) do names[#names + 1] = "'" .. k .. "'" end
    table.sort(names)
    error(string.format("%s: average must be one of %s, got '%s'", fname, table.concat(names, ", "), tostring(avg)), 3)
  end
end

local function check_opts(opts, allowed, fname)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fname .. ": options must be a table, got " .. type(opts), 3) end
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (expected one of %s)", fname, tostring(k), table.concat(names, ", ")), 3)
    end
  end
  return opts
end

-- Per-label results as returned for average = "none".
local function per_label(labels, per)
  local r = { labels = labels, precision = {}, recall = {}, f1 = {}, support = {} }
  for i, s in ipairs(per) do
    r.precision[i], r.recall[i], r.f1[i], r.support[i] = s.precision, s.recall, s.f1, s.support
  end
  return r
end

-- precision_recall_f1(logits_or_preds, labels, {average = "binary", pos_label = 1, labels = nil})
-- For single-label classification.  Predictions are logits [N, C] (argmax taken) or class ids;
-- labels are 0-based class ids.  average:
--   "binary"   the scores of class pos_label (the labels must be 2 classes at most, as in sklearn),
--   "micro"    from the counts summed over the labels (= accuracy when every label is included),
--   "macro"    the unweighted mean of the per-label scores,
--   "weighted" their mean weighted by support (true count),
--   "none"     per label: { labels = {...}, precision = {...}, recall = {...}, f1 = {...}, support = {...} }.
-- The labels taken: opts.labels (an array of ids) or the sorted ids found in labels or
-- predictions.  Returns { precision, recall, f1, support } for the averages.
function M.precision_recall_f1(pred, labels, opts)
  local fname = "precision_recall_f1"
  opts = check_opts(opts, { average = true, pos_label = true, labels = true }, fname)
  local avg = opts.average or "binary"
  check_average(avg, fname, AVERAGES)
  local p = common.class_ids(pred, fname, 3)
  local y = common.flat(labels, fname, "labels", 3)
  common.same_length(p, y, fname, "predictions", "labels", 3)
  local present, set = {}, {}
  for _, v in ipairs(y) do if not set[v] then set[v] = true; present[#present + 1] = v end end
  for _, v in ipairs(p) do if not set[v] then set[v] = true; present[#present + 1] = v end end
  table.sort(present)
  local ids
  if avg == "binary" then
    local pos = opts.pos_label or 1
    if #present > 2 then
      error(string.format("%s: average 'binary' needs 2 classes at most, found %d (%s); choose 'macro', 'micro' or 'weighted'",
        fname, #present, table.concat(present, ", ")), 2)
    end
    if #present == 2 and not set[pos] then
      error(string.format("%s: pos_label %s is not one of the classes %s", fname, tostring(pos), table.concat(present, ", ")), 2)
    end
    ids = { pos }
  elseif opts.labels ~= nil then
    if type(opts.labels) ~= "table" or #opts.labels == 0 then
      error(fname .. ": labels must be a non-empty array of class ids", 2)
    end
    ids = opts.labels
  else
    ids = present
  end
  local tp, np, nt = {}, {}, {}
  for _, c in ipairs(ids) do tp[c], np[c], nt[c] = 0, 0, 0 end
  for i = 1, #y do
    if np[p[i]] then np[p[i]] = np[p[i]] + 1 end
    if nt[y[i]] then nt[y[i]] = nt[y[i]] + 1 end
    if p[i] == y[i] and tp[y[i]] then tp[y[i]] = tp[y[i]] + 1 end
  end
  local per, counts = {}, {}
  for i, c in ipairs(ids) do
    local pr, rc, f = common.prf(tp[c], np[c], nt[c])
    per[i] = { precision = pr, recall = rc, f1 = f, support = nt[c] }
    counts[i] = { tp[c], np[c], nt[c] }
  end
  if avg == "binary" then return per[1] end
  if avg == "none" then return per_label(ids, per) end
  return common.average(per, counts, avg)
end

function M.precision(pred, labels, opts) return M.precision_recall_f1(pred, labels, opts).precision end
function M.recall(pred, labels, opts) return M.precision_recall_f1(pred, labels, opts).recall end
function M.f1(pred, labels, opts) return M.precision_recall_f1(pred, labels, opts).f1 end

local ML_AVERAGES = { micro = true, macro = true, weighted = true, none = true }

-- multilabel_precision_recall_f1(scores, targets, {threshold = 0.5, logits = false, average = "micro"})
-- For multi-label classification: scores [N, K] are sigmoid outputs (probabilities; with
-- logits = true, raw logits, compared with the threshold's logit); label k of example i is
-- predicted when scores[i][k] >= threshold.  targets [N, K] hold 0/1.  average: "micro" (counts
-- over every (example, label) cell), "macro" (the mean over the K labels, every label counted
-- even when it never occurs), "weighted" (by support) or "none" (per label; labels are the
-- 0-based column ids) - scikit-learn's multilabel-indicator scores on the thresholded matrix.
function M.multilabel_precision_recall_f1(scores, targets, opts)
  local fname = "multilabel_precision_recall_f1"
  opts = check_opts(opts, { threshold = true, logits = true, average = true }, fname)
  local avg = opts.average or "micro"
  check_average(avg, fname, ML_AVERAGES)
  local thr = opts.threshold or 0.5
  if type(thr) ~= "number" or thr <= 0 or thr >= 1 then
    error(string.format("%s: threshold must be a number in (0, 1), got %s", fname, tostring(thr)), 2)
  end
  local cut = thr
  if opts.logits then cut = math.log(thr / (1 - thr)) end
  local s, K = common.rows(scores, fname, "scores", 3)
  local y, K2 = common.rows(targets, fname, "targets", 3)
  if #s ~= #y then error(string.format("%s: %d score rows but %d target rows", fname, #s, #y), 2) end
  if #s == 0 then error(fname .. ": no examples", 2) end
  if K ~= K2 then error(string.format("%s: scores have %d labels per row but targets %d", fname, K, K2), 2) end
  local tp, np, nt = {}, {}, {}
  for k = 1, K do tp[k], np[k], nt[k] = 0, 0, 0 end
  for i = 1, #s do
    for k = 1, K do
      local t = y[i][k]
      if t ~= 0 and t ~= 1 and t ~= true and t ~= false then
        error(string.format("%s: targets[%d][%d] = %s is not 0 or 1", fname, i, k, tostring(t)), 2)
      end
      local pos, tru = s[i][k] >= cut, (t == 1 or t == true)
      if pos then np[k] = np[k] + 1 end
      if tru then nt[k] = nt[k] + 1 end
      if pos and tru then tp[k] = tp[k] + 1 end
    end
  end
  local per, counts, ids = {}, {}, {}
  for k = 1, K do
    local pr, rc, f = common.prf(tp[k], np[k], nt[k])
    per[k] = { precision = pr, recall = rc, f1 = f, support = nt[k] }
    counts[k] = { tp[k], np[k], nt[k] }
    ids[k] = k - 1
  end
  if avg == "none" then return per_label(ids, per) end
  return common.average(per, counts, avg)
end

function M.multilabel_f1(scores, targets, opts) return M.multilabel_precision_recall_f1(scores, targets, opts).f1 end

return M
