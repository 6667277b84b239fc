-- hub.autotune.tpe: the Tree-structured Parzen Estimator (Bergstra et al., 2011), multivariate.
--
-- The first n_startup (6) trials are uniform.  After that the finished trials are split by loss:
-- the best n_below = ceil(gamma * n) (gamma 0.15) (at most 25) make l(x), the rest g(x); each is a mixture of
-- Gaussians over [-1, 1]^d, one per trial plus a broad prior (centre 0, sd 2), truncated to
-- the box, with per-kernel bandwidths from the neighbours' distances times bw_scale (0.4; see
-- mixture() below).  Chosen on the benchmark functions (bench/autofinetune) against Optuna's
-- univariate default: joint kernels, 64 candidates and the 0.4 scale each helped there.
-- n_candidates (64) points drawn from l(x) are scored by log l(x) - log g(x) and the best is asked.
-- The kernels are joint over the coordinates ("multivariate" TPE, as Optuna's multivariate=True
-- and Falkner et al.'s BOHB use), which sees correlated parameters that the univariate default
-- of Optuna/Hyperopt treats one by one.  Failed trials are left out.  Trials still running
-- (asked, not yet told) are counted with a "constant liar" (Ginsbourger et al., 2010): each is
-- put among the bad trials (g(x)) with the worst loss seen so far, so that parallel workers are
-- not sent to the same point (liar = "worst", the default; "none" ignores them).
local M = {}
local T = {}
T.__index = T

local sqrt, exp, log, abs, pi = math.sqrt, math.exp, math.log, math.abs, math.pi

-- erf through the Chebyshev fit of erfc in Numerical Recipes (fractional error < 1.2e-7: plenty
-- for densities)
local function erf(x)
  local s = 1
  if x < 0 then s, x = -1, -x end
  local t = 1 / (1 + 0.5 * x)
  local y = 1 - t * exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
  return s * y
end
local function Phi(z) return 0.5 * (1 + erf(z / sqrt(2))) end
M.erf = erf

local LOG_SQRT_2PI = 0.5 * log(2 * pi)

-- A mixture: components { mu = {..}, sd = {..}, w = weight, lnorm = log(w / normaliser) }.
-- Bandwidths: "scott" gives every kernel sd = 0.4 * n^(-1/(d+4)) (Optuna's multivariate rule);
-- "neighbour" gives each kernel, per coordinate, the larger distance to its neighbours among the
-- group's points in that coordinate (Optuna's univariate rule, and hyperopt's), so kernels are
-- narrow where points crowd (near a good region) and broad where they are sparse.  Both are at
-- least 2 / min(100, n + 1) (the "magic clip") and at most 2.
local function mixture(points, n_dim, n_obs, prior_weight, rule, scale, weights)
  local comps = {}
  local bw = 0.4 * (math.max(#points, 1)) ^ (-1 / (n_dim + 4))
  local minbw = 2 / math.min(100, #points + 1)
  local total = #points + prior_weight
  local nsd = {}
  if rule == "neighbour" then
    for i = 1, n_dim do
      local idx = {}
      for k = 1, #points do idx[k] = k end
      table.sort(idx, function(a, b) return points[a][i] < points[b][i] end)
      for r, k in ipairs(idx) do
        local v = points[k][i]
        local left = r > 1 and v - points[idx[r - 1]][i] or v + 1
        local right = r < #idx and points[idx[r + 1]][i] - v or 1 - v
        nsd[k] = nsd[k] or {}
        nsd[k][i] = math.max(left, right)
      end
    end
  end
  for k, p in ipairs(points) do
    local sd = {}
    for i = 1, n_dim do
      local s = (rule == "neighbour" and nsd[k][i] or bw) * (scale or 1)
      if s < minbw then s = minbw elseif s > 2 then s = 2 end
      sd[i] = s
    end
    comps[#comps + 1] = { mu = p, sd = sd, w = weights and weights[k] * #points / total or 1 / total }
  end
  local mu, sd = {}, {}
  for i = 1, n_dim do mu[i], sd[i] = 0, 2 end
  comps[#comps + 1] = { mu = mu, sd = sd, w = prior_weight / total }
  for _, c in ipairs(comps) do
    local lm = 0
    for i = 1, n_dim do
      local mass = Phi((1 - c.mu[i]) / c.sd[i]) - Phi((-1 - c.mu[i]) / c.sd[i])
      lm = lm + log(math.max(mass, 1e-300)) + log(c.sd[i]) + LOG_SQRT_2PI
    end
    c.lnorm = log(c.w) - lm
  end
  return comps
end

local function logpdf(comps, x)
  local terms, mx = {}, -math.huge
  for k, c in ipairs(comps) do
    local s = c.lnorm
    for i = 1, #x do
      local z = (x[i] - c.mu[i]) / c.sd[i]
      s = s - 0.5 * z * z
    end
    terms[k] = s
    if s > mx then mx = s end
  end
  local acc = 0
  for k = 1, #terms do acc = acc + exp(terms[k] - mx) end
  return mx + log(acc)
end

local function sample(comps, r, n_dim)
  local u, k = r:uniform(), #comps
  local acc = 0
  for j, c in ipairs(comps) do
    acc = acc + c.w
    if u < acc then k = j; break end
  end
  local c = comps[k]
  local x = {}
  for i = 1, n_dim do
    local v
    for _ = 1, 100 do
      v = c.mu[i] + c.sd[i] * r:normal()
      if v >= -1 and v <= 1 then break end
    end
    if v < -1 then v = -1 elseif v > 1 then v = 1 end
    x[i] = v
  end
  return x
end

-- new(space, { rng, n_startup (6), n_candidates (64), gamma (0.15), prior_weight (1), bandwidth
-- ("neighbour" | "scott"), bw_scale (0.4), multivariate (true), rank_weights (false) })
function M.new(space, opts)
  return setmetatable({ space = space, rng = opts.rng, obs = {}, asked = 0,
                        n_startup = opts.n_startup or 6, n_candidates = opts.n_candidates or 64,
                        gamma = opts.gamma or 0.15, prior_weight = opts.prior_weight or 1,
                        bandwidth = opts.bandwidth or "neighbour", multivariate = opts.multivariate ~= false,
                        bw_scale = opts.bw_scale or 0.4, rank_weights = opts.rank_weights,
                        liar = opts.liar or "worst", pending = {} }, T)
end

-- The observations the model is fitted to: the finished trials, plus (constant liar) the
-- running ones at the worst loss seen.  Returns the list and the liar value (nil: none).
function T:observations()
  local out = {}
  for i, o in ipairs(self.obs) do out[i] = o end
  if self.liar ~= "worst" or #self.obs == 0 or #self.pending == 0 then return out, nil end
  local worst = -math.huge
  for _, o in ipairs(self.obs) do if o.loss > worst then worst = o.loss end end
  for _, t in ipairs(self.pending) do out[#out + 1] = { x = t.x, loss = worst, pending = true } end
  return out, worst
end

function T:ask()
  local t = self:_ask()
  self.pending[#self.pending + 1] = t
  return t
end

function T:_ask()
  local d, r = self.space.dim, self.rng
  self.asked = self.asked + 1
  local n = #self.obs
  if n < self.n_startup or n < 2 then
    local x = {}
    for i = 1, d do x[i] = r:uniform(-1, 1) end
    return { x = self.space:snap(x) }
  end
  local sorted = self:observations()
  n = #sorted
  -- a stable order: ties (liars among them) after the real trials, then by arrival
  for i, o in ipairs(sorted) do o._i = i end
  table.sort(sorted, function(a, b)
    if a.loss ~= b.loss then return a.loss < b.loss end
    return a._i < b._i
  end)
  local nb = math.max(1, math.min(math.ceil(self.gamma * n), 25))
  local below, above = {}, {}
  for i, o in ipairs(sorted) do
    if i <= nb then below[#below + 1] = o.x else above[#above + 1] = o.x end
  end
  if self.multivariate then
    local wts
    if self.rank_weights then
      wts = {}
      local sw = 0
      for k = 1, #below do wts[k] = #below - k + 1; sw = sw + wts[k] end
      for k = 1, #below do wts[k] = wts[k] / sw end
    end
    local l = mixture(below, d, n, self.prior_weight, self.bandwidth, self.bw_scale, wts)
    local g = mixture(above, d, n, self.prior_weight, self.bandwidth, self.bw_scale)
    local best, bestx = -math.huge, nil
    for _ = 1, self.n_candidates do
      local x = sample(l, r, d)
      local score = logpdf(l, x) - logpdf(g, x)
      if score > best then best, bestx = score, x end
    end
    return { x = self.space:snap(bestx) }
  end
  -- univariate: each coordinate on its own
  local x = {}
  for i = 1, d do
    local b1, a1 = {}, {}
    for k, p in ipairs(below) do b1[k] = { p[i] } end
    for k, p in ipairs(above) do a1[k] = { p[i] } end
    local l = mixture(b1, 1, n, self.prior_weight, self.bandwidth)
    local g = mixture(a1, 1, n, self.prior_weight, self.bandwidth)
    local best, bestv = -math.huge, nil
    for _ = 1, self.n_candidates do
      local c = sample(l, r, 1)
      local score = logpdf(l, c) - logpdf(g, c)
      if score > best then best, bestv = score, c[1] end
    end
    x[i] = bestv
  end
  return { x = self.space:snap(x) }
end

function T:tell(t, loss)
  for i, p in ipairs(self.pending) do
    if p == t or (p.x == t.x) then table.remove(self.pending, i); break end
  end
  if loss == nil or loss ~= loss then return end
  self.obs[#self.obs + 1] = { x = t.x, loss = loss }
end

return M
