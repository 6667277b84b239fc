-- hub.metrics regression scores: mean squared and absolute error, Pearson's and Spearman's
-- correlation coefficients, as scikit-learn's mean_squared_error / mean_absolute_error and
-- scipy.stats' pearsonr / spearmanr compute them (tests/lua/test_metrics.lua compares with
-- their outputs).  Inputs are tensors (any shape: all elements count) or Lua arrays of the same
-- number of elements; sums run in double precision in Lua.
--
--   metrics.mse(pred, target)  metrics.mae(pred, target)
--   metrics.pearson(x, y)      metrics.spearman(x, y)     -- in [-1, 1]
local common = require "hub.metrics.common"

local M = {}

local function pair(a, b, fname, wa, wb)
  local x = common.flat(a, fname, wa, 4)
  local y = common.flat(b, fname, wb, 4)
  common.same_length(x, y, fname, wa, wb, 4)
  return x, y
end

-- mse(pred, target): mean of (pred - target)^2.
function M.mse(pred, target)
  local x, y = pair(pred, target, "mse", "predictions", "targets")
  local s = 0
  for i = 1, #x do local d = x[i] - y[i]; s = s + d * d end
  return s / #x
end

-- mae(pred, target): mean of |pred - target|.
function M.mae(pred, target)
  local x, y = pair(pred, target, "mae", "predictions", "targets")
  local s = 0
  for i = 1, #x do s = s + math.abs(x[i] - y[i]) end
  return s / #x
end

-- Pearson's r of two arrays: sum (x - mx)(y - my) / sqrt(sum (x - mx)^2 sum (y - my)^2),
-- clipped to [-1, 1]; NaN when either is constant (scipy returns NaN there too) or with fewer
-- than 2 values.
local function pearson(x, y)
  local n = #x
  if n < 2 then return 0 / 0 end
  local mx, my = 0, 0
  for i = 1, n do mx, my = mx + x[i], my + y[i] end
  mx, my = mx / n, my / n
  local sxy, sxx, syy = 0, 0, 0
  for i = 1, n do
    local dx, dy = x[i] - mx, y[i] - my
    sxy, sxx, syy = sxy + dx * dy, sxx + dx * dx, syy + dy * dy
  end
  if sxx == 0 or syy == 0 then return 0 / 0 end
  local r = sxy / math.sqrt(sxx * syy)
  return math.max(-1, math.min(1, r))
end

-- Ranks 1..n of the values, ties sharing the average of the ranks they span (scipy's
-- rankdata(method="average")).
function M.rank(v)
  local x = common.flat(v, "rank", "values", 3)
  local n = #x
  local idx = {}
  for i = 1, n do idx[i] = i end
  table.sort(idx, function(a, b) if x[a] ~= x[b] then return x[a] < x[b] end return a < b end)
  local r = {}
  local i = 1
  while i <= n do
    local j = i
    while j < n and x[idx[j + 1]] == x[idx[i]] do j = j + 1 end
    local avg = (i + j) / 2
    for k = i, j do r[idx[k]] = avg end
    i = j + 1
  end
  return r
end

-- pearson(x, y): Pearson's correlation coefficient (NaN when x or y is constant).
function M.pearson(a, b)
  local x, y = pair(a, b, "pearson", "x values", "y values")
  return pearson(x, y)
end

-- spearman(x, y): Spearman's rank correlation: Pearson's r of the ranks, ties averaged.
function M.spearman(a, b)
  local x, y = pair(a, b, "spearman", "x values", "y values")
  for i = 1, #x do
    if x[i] ~= x[i] or y[i] ~= y[i] then error("spearman: NaN among the values (position " .. i .. ")", 2) end
  end
  return pearson(M.rank(x), M.rank(y))
end

return M
