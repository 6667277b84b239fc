-- hub.lr: learning-rate schedules as functions of the 0-based update index, returning a
-- multiplier of the base lr.  Any optimiser takes one as `schedule`; they are plain functions,
-- so a script can also call them itself.  Warm-up lengths below 1 are fractions of `total`.
--   hub.lr.constant()
--   hub.lr.linear{ warmup = 0.1, total = 1000 }         -- Hugging Face's linear warm-up + decay
--   hub.lr.cosine{ warmup = 100, total = 1000, min = 0 }-- warm-up then half a cosine down to min
--   hub.lr.slanted_triangular{ total = 1000, cut_frac = 0.1, ratio = 32 }  -- ULMFiT
local core = require "hub.core"

local lr = {}

local specs = {
  constant = { warmup = "number" },
  linear = { warmup = "number", total = "number" },
  cosine = { warmup = "number", total = "number", min = "number", cycles = "number" },
  slanted_triangular = { total = "number", cut_frac = "number", ratio = "number" },
}

local function opts_of(o, fname)
  if type(o) ~= "table" then core.argerror(1, fname, "an options table", type(o)) end
  return core.check_options(o, specs[fname], fname, 1)
end

local function need_total(o, fname)
  if type(o.total) ~= "number" or o.total < 1 then
    core.raise(string.format("%s: 'total' (number of updates) must be a positive number, got %s", fname, tostring(o.total)))
  end
  return o.total
end

local function warmup_steps(o, total)
  local w = o.warmup or 0
  if w > 0 and w < 1 then w = math.floor(w * total + 0.5) end
  return w
end

function lr.constant(o)
  o = core.check_options(o, specs.constant, "constant", 1)
  local w = o.warmup or 0
  if w < 0 then core.raise("constant: 'warmup' must be >= 0, got " .. tostring(w)) end
  return function(step) if w > 0 and step < w then return step / w end return 1 end
end

function lr.linear(o)
  o = opts_of(o, "linear")
  local total = need_total(o, "linear")
  local w = warmup_steps(o, total)
  return function(step)
    if step < w then return step / math.max(1, w) end
    return math.max(0, (total - step) / math.max(1, total - w))
  end
end

function lr.cosine(o)
  o = opts_of(o, "cosine")
  local total = need_total(o, "cosine")
  local w, floor = warmup_steps(o, total), o.min or 0
  local cycles = o.cycles or 0.5
  return function(step)
    if step < w then return step / math.max(1, w) end
    local progress = (step - w) / math.max(1, total - w)
    if progress > 1 then progress = 1 end
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * 2 * cycles * progress))
  end
end

-- ULMFiT (Howard & Ruder 2018): rises linearly for cut_frac of the updates, then decays linearly;
-- the lowest rate is 1/ratio of the highest.
function lr.slanted_triangular(o)
  o = opts_of(o, "slanted_triangular")
  local total = need_total(o, "slanted_triangular")
  local cut_frac, ratio = o.cut_frac or 0.1, o.ratio or 32
  local cut = math.max(1, math.floor(total * cut_frac))
  return function(step)
    local p
    if step < cut then p = step / cut else p = 1 - (step - cut) / (cut * (1 / cut_frac - 1)) end
    if p < 0 then p = 0 end
    return (1 + p * (ratio - 1)) / ratio
  end
end

return lr
