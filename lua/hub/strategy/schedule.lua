-- hub.strategy.schedule: the learning-rate multipliers and the unfreezing phases of the
-- fine-tune strategies, as PaddleHub 1.8's CombinedStrategy computes them (docs/strategies.md).
-- Every function is a pure function of the 0-based update index t and the number of updates T,
-- so a resumed run recomputes them from the step alone.
--
--   M.multiplier(o, T) -> function(t) -> m     the group learning rates are lr_g * m(t)
--     o.cut_fraction > 0   slanted triangle: cut = floor(T * cut_fraction),
--                          p = t / cut (t <= cut), else 1 - (t - cut) / (T - cut),
--                          m = (1 + p * (ratio - 1)) / ratio
--     o.noam               noam decay after warm-up w: m = sqrt(w) * min((t+1)^-0.5, (t+1) * w^-1.5)
--     otherwise            warm-up: m = t / w while t < w; then with o.linear_decay
--                          m = (1 - e) * (1 - min(t, T) / T) + e, e = end_lr / lr (Paddle's
--                          polynomial_decay of power 1 over all T updates, as PaddleHub's
--                          AdamWeightDecay: it continues the decay line that starts at t = 0),
--                          else m = 1
--   M.warmup_steps(warmup, T)  a fraction (< 1) of T, int() as Paddle does, or a step count
--   M.blocks(D, n)  -> function(d) -> block     depths 0..D in n contiguous blocks, 0 = bottom
--   M.phase(t, T, n, every) -> k                 how many blocks beyond the top one are unfrozen
local M = {}

function M.warmup_steps(warmup, total)
  local w = warmup or 0
  if w > 0 and w < 1 then w = math.floor(w * total) end
  return w
end

function M.multiplier(o, total)
  if (o.cut_fraction or 0) > 0 then
    local ratio = o.ratio or 32
    local cut = math.max(1, math.floor(total * o.cut_fraction))
    local rest = math.max(1, total - cut)
    return function(t)
      local p
      if t <= cut then p = t / cut else p = 1 - (t - cut) / rest end
      if p < 0 then p = 0 end
      return (1 + p * (ratio - 1)) / ratio
    end
  end
  local w = M.warmup_steps(o.warmup, total)
  if o.noam then
    if w < 1 then error("noam decay needs a warm-up of at least one step", 0) end
    return function(t)
      local s = t + 1
      return math.sqrt(w) * math.min(s ^ -0.5, s * w ^ -1.5)
    end
  end
  local decay, e = o.linear_decay, o.end_ratio or 0
  return function(t)
    if t < w then return t / w end
    if not decay then return 1 end
    local s = t < total and t or total
    return (1 - e) * (1 - s / total) + e
  end
end

function M.blocks(D, n)
  return function(d)
    local b = math.floor(d * n / (D + 1))
    if b > n - 1 then b = n - 1 end
    if b < 0 then b = 0 end
    return b
  end
end

function M.phase(t, total, n, every)
  every = every or math.max(1, math.floor(total / n))
  local k = math.floor(t / every)
  if k > n - 1 then k = n - 1 end
  if k < 0 then k = 0 end
  return k
end

return M
