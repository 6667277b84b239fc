-- hub.autotune.strategies: the search strategies behind one interface, all minimising a loss
-- over x in [-1, 1]^d (hub.autotune.space maps x to parameter values; the driver turns
-- "maximise the value" into "minimise -value").
--
--   local s = strategies.new("tpe", space, { seed = 1, popsize = 5, budget = 50 })
--   local t = s:ask()      -- a trial { x = {...} }, nil (wait for results first) or false (done)
--   s:tell(t, loss)        -- loss = nil for a failed trial
--   s:should_stop(t, step, loss) -- asha only: an intermediate report; true = stop the trial
--
-- Strategies: random, grid, tpe (hub.autotune.tpe), hazero (hub.autotune.hazero: CMA-ES),
-- pshe2 (particle swarm, below), asha (random sampling + asynchronous successive halving).
-- A given seed and the same sequence of ask/tell calls give the same trials: the journal's
-- resume replays the calls.
local rng = require "hub.autotune.rng"

local M = {}

M.names = { "hazero", "pshe2", "tpe", "random", "grid", "asha" }

local fail = require("hub.core").failf

---------------------------------------------------------------------------------------------
-- random: uniform x (so log-uniform values for log parameters, every integer equally likely)
local Random = {}
Random.__index = Random
function Random:ask()
  local x = {}
  for i = 1, self.space.dim do x[i] = self.rng:uniform(-1, 1) end
  return { x = self.space:snap(x) }
end
function Random:tell() end

---------------------------------------------------------------------------------------------
-- grid: every combination of points per parameter, first parameter slowest.  A parameter with
-- `values` uses them; an int parameter with at most k levels uses every integer; the others get
-- k points from bound to bound (evenly spaced in x, so log-spaced for log parameters), where k
-- is the largest count with k^(continuous parameters) * (product of the discrete counts) <=
-- budget (at least 2).  The search ends when the grid does.
local Grid = {}
Grid.__index = Grid

function M.grid_points(space, budget, k_override)
  local discrete, ncont = 1, 0
  local per = {}
  for i, p in ipairs(space.params) do
    if p.values then per[i] = #p.values; discrete = discrete * #p.values end
  end
  local k = k_override
  if not k then
    -- int parameters count as discrete when they have no more levels than the k found without them
    for i = 1, space.dim do if not per[i] then ncont = ncont + 1 end end
    k = ncont > 0 and math.max(2, math.floor((budget / discrete) ^ (1 / ncont) + 1e-9)) or 1
    for _ = 1, 3 do
      local d2, n2 = discrete, 0
      for i, p in ipairs(space.params) do
        if not per[i] then
          local lv = space:levels(i)
          if lv and lv <= k then d2 = d2 * lv else n2 = n2 + 1 end
        end
      end
      local k2 = n2 > 0 and math.max(2, math.floor((budget / d2) ^ (1 / n2) + 1e-9)) or k
      if k2 == k then break end
      k = k2
    end
  end
  local axes = {}
  for i, p in ipairs(space.params) do
    local xs = {}
    local lv = space:levels(i)
    if p.values or (lv and lv <= k) then
      local seen = {}
      for j = 1, lv do
        local x = -1 + (2 * j - 1) / lv
        if not p.values then x = space.coord_of(p, p.lo + j - 1) end
        local v = space.value_of(p, x)
        if not seen[v] then seen[v] = true; xs[#xs + 1] = x end
      end
    else
      local seen = {}
      for j = 1, k do
        local x = k == 1 and 0 or (-1 + 2 * (j - 1) / (k - 1))
        local v = space.value_of(p, x)
        if not seen[v] then seen[v] = true; xs[#xs + 1] = (lv and space.coord_of(p, v) or x) end
      end
    end
    axes[i] = xs
  end
  local pts = {}
  local idx = {}
  for i = 1, space.dim do idx[i] = 1 end
  while true do
    local x = {}
    for i = 1, space.dim do x[i] = axes[i][idx[i]] end
    pts[#pts + 1] = x
    local i = space.dim
    while i >= 1 do
      idx[i] = idx[i] + 1
      if idx[i] <= #axes[i] then break end
      idx[i] = 1
      i = i - 1
    end
    if i < 1 then break end
  end
  return pts, axes
end

function Grid:ask()
  self.next = self.next + 1
  local x = self.points[self.next]
  if not x then return false end
  return { x = x }
end
function Grid:tell() end

---------------------------------------------------------------------------------------------
-- pshe2: PaddleHub's particle swarm.  popsize particles start at random points around the init
-- values (each coordinate uniform between the init and a bound, either side equally likely).
-- After each round (all particles evaluated) every particle keeps its own best and the swarm
-- its global best, and
--     m_i <- (1 - 3 alpha / t) m_i - alpha (x_i - best_i) - alpha (x_i - best_global)
--     x_i <- x_i + alpha m_i
-- (t = the round, alpha = 0.5), then each coordinate takes a random step towards a bound:
-- x += r * eps * (1 - x) for r >= 0, x += r * eps * (x + 1) for r < 0, r uniform in [-1, 1],
-- eps = 0.2.  Choices where PaddleHub's code and description differ or are silent:
--   * PaddleHub's lists are built as [[0] * d] * popsize, so all particles share one momentum
--     and one "gradient" row (Python aliasing); here every particle has its own, as the
--     description (per-particle history) says;
--   * positions are clipped to [-1, 1] after each move (PaddleHub clips only the values it
--     passes to the script, so a particle could drift outside and stay stuck at a bound);
--   * the momentum factor 1 - 3 alpha / t is negative in round 1; the momentum is still 0 then,
--     so nothing changes; it is used as written from round 2 on;
--   * a failed trial counts as the worst loss (PaddleHub: score 0).
local PSHE2 = {}
PSHE2.__index = PSHE2

local function clamp(x) if x < -1 then return -1 elseif x > 1 then return 1 end return x end

function PSHE2.new(space, opts)
  local self = setmetatable({ space = space, rng = opts.rng, n = math.max(1, opts.popsize or 5),
                              alpha = opts.alpha or 0.5, eps = opts.epsilon or 0.2, round = 0,
                              asked = 0, told = 0, results = {} }, PSHE2)
  local init = space:init_coords()
  self.x, self.m, self.pbest, self.ploss = {}, {}, {}, {}
  for i = 1, self.n do
    local x, m = {}, {}
    for j = 1, space.dim do
      local r = self.rng:uniform(-1, 1)
      if r >= 0 then x[j] = (1 - init[j]) * r + init[j] else x[j] = (init[j] + 1) * r + init[j] end
      m[j] = 0
    end
    self.x[i], self.m[i], self.ploss[i] = x, m, math.huge
  end
  self.gloss = math.huge
  return self
end

function PSHE2:ask()
  if self.asked >= self.n then return nil end
  self.asked = self.asked + 1
  local k = self.asked
  return { x = self.space:snap(self.x[k]), k = k, round = self.round }
end

function PSHE2:tell(t, loss)
  if t.round ~= self.round or self.results[t.k] then return end
  self.results[t.k] = loss or math.huge
  self.told = self.told + 1
  if self.told < self.n then return end
  self.round = self.round + 1
  local d = self.space.dim
  for i = 1, self.n do
    local l = self.results[i]
    if l <= self.ploss[i] then
      self.ploss[i] = l
      self.pbest[i] = { unpack(self.x[i]) }
    end
    if l <= self.gloss then
      self.gloss = l
      self.gbest = { unpack(self.x[i]) }
    end
  end
  local a, t = self.alpha, self.round
  local decay = 1 - 3 * a / t
  for i = 1, self.n do
    local x, m, pb, gb = self.x[i], self.m[i], self.pbest[i] or self.x[i], self.gbest or self.x[i]
    for j = 1, d do
      m[j] = decay * m[j] - a * (x[j] - pb[j]) - a * (x[j] - gb[j])
      x[j] = clamp(x[j] + a * m[j])
    end
    for j = 1, d do
      local r = self.rng:uniform(-1, 1)
      if r >= 0 then x[j] = x[j] + (1 - x[j]) * r * self.eps else x[j] = x[j] + (x[j] + 1) * r * self.eps end
      x[j] = clamp(x[j])
    end
  end
  self.asked, self.told, self.results = 0, 0, {}
end

---------------------------------------------------------------------------------------------
-- asha: random sampling, and asynchronous successive halving (Li et al., 2020) on the
-- intermediate reports.  Rungs are at steps min_step * eta^k (1, 3, 9, 27, ... by default).
-- When a trial first reports at or past a rung's step, that value is recorded at the rung; the
-- trial goes on only if it is among the best 1/eta of the values recorded there so far (it
-- always goes on while the rung has fewer than eta values).  Stopped trials count as finished
-- with their last value.
local ASHA = {}
ASHA.__index = ASHA

function ASHA:ask()
  local x = {}
  for i = 1, self.space.dim do x[i] = self.rng:uniform(-1, 1) end
  return { x = self.space:snap(x) }
end
function ASHA:tell() end

function ASHA:should_stop(t, step, loss)
  if loss == nil or loss ~= loss then return false end
  t.rung = t.rung or 0
  local stop = false
  while true do
    local rs = self.min_step * self.eta ^ t.rung
    if step < rs then break end
    local list = self.rungs[t.rung + 1]
    if not list then list = {}; self.rungs[t.rung + 1] = list end
    list[#list + 1] = loss
    t.rung = t.rung + 1
    if #list >= self.eta then
      local sorted = { unpack(list) }
      table.sort(sorted)
      local k = math.floor(#sorted / self.eta)
      if loss > sorted[k] then stop = true; break end
    end
  end
  return stop
end

---------------------------------------------------------------------------------------------

-- new(name, space, opts): opts.seed, popsize, budget, and per strategy: sigma (hazero),
-- alpha/epsilon (pshe2), n_startup/gamma/n_candidates (tpe), eta/min_step (asha), grid_points.
function M.new(name, space, opts)
  opts = opts or {}
  local r = rng.new(opts.seed or 0)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.rng = r
  if name == "random" then
    return setmetatable({ space = space, rng = r }, Random)
  elseif name == "grid" then
    local pts = M.grid_points(space, opts.budget or 50, opts.grid_points)
    return setmetatable({ space = space, points = pts, next = 0 }, Grid)
  elseif name == "tpe" then
    return require("hub.autotune.tpe").new(space, o)
  elseif name == "hazero" then
    if space.dim < 2 then fail("hazero needs at least 2 parameters (CMA-ES; PaddleHub says the same); use tpe or pshe2") end
    return require("hub.autotune.hazero").new(space, o)
  elseif name == "pshe2" then
    return PSHE2.new(space, o)
  elseif name == "asha" then
    return setmetatable({ space = space, rng = r, eta = opts.eta or 3, min_step = opts.min_step or 1, rungs = {},
                          prunes = true }, ASHA)
  end
  fail("unknown tuning strategy '%s' (one of %s)", tostring(name), table.concat(M.names, ", "))
end

-- Whether a strategy works in generations of popsize trials (the round barrier).
function M.generational(name) return name == "hazero" or name == "pshe2" end

return M
