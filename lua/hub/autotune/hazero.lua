-- hub.autotune.hazero: HAZero, PaddleHub's CMA-ES search, written out here.
--
-- PaddleHub 1.x hands its [-1, 1] coordinates to the `cma` package (CMAEvolutionStrategy with
-- sigma 0.2, popsize = --popsize, bounds [-1, 1], AdaptSigma) and asks/tells one generation a
-- round.  This is the same algorithm, Hansen's (mu/mu_w, lambda)-CMA-ES as in "The CMA Evolution
-- Strategy: A Tutorial" (2016): the mean starts at the param file's init values, each round
-- samples lambda = popsize points from N(m, sigma^2 C), the best half (log-rank weights) moves
-- the mean, the rank-one (evolution path) and rank-mu updates adapt C, and cumulative step-size
-- adaptation adapts sigma.  What had to be chosen:
--   * bounds: a sampled point y is evaluated at its mirror image in [-1, 1] (a periodic fold,
--     like cma's BoundTransform), and the update uses y itself;
--   * failed trials rank last;
--   * when sigma or the spread of C collapses (sigma * max sqrt(eig C) < 1e-8) or C becomes
--     ill-conditioned (> 1e14), the search restarts from the best point found with sigma0, so a
--     long budget is not spent standing still (cma would stop; PaddleHub then ran no more rounds);
--   * sigma0 is 0.2 as in PaddleHub, the `sigma` option changes it.
local M = {}
local H = {}
H.__index = H

local sqrt, exp, log, abs = math.sqrt, math.exp, math.log, math.abs

local function reflect(v)
  local t = (v + 1) % 4
  if t > 2 then t = 4 - t end
  return t - 1
end
M.reflect = reflect

-- Eigen-decomposition of a symmetric matrix (cyclic Jacobi): returns B (columns are the
-- eigenvectors) and the eigenvalues.
local function eigen(A, n)
  local a, v = {}, {}
  for i = 1, n do
    a[i], v[i] = {}, {}
    for j = 1, n do a[i][j] = A[i][j]; v[i][j] = (i == j) and 1 or 0 end
  end
  for _ = 1, 100 do
    local off = 0
    for i = 1, n - 1 do for j = i + 1, n do off = off + a[i][j] ^ 2 end end
    if off < 1e-30 then break end
    for p = 1, n - 1 do
      for q = p + 1, n do
        if abs(a[p][q]) > 1e-300 then
          local theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
          local t = (theta >= 0 and 1 or -1) / (abs(theta) + sqrt(theta * theta + 1))
          local c = 1 / sqrt(t * t + 1)
          local s = t * c
          for k = 1, n do
            local akp, akq = a[k][p], a[k][q]
            a[k][p], a[k][q] = c * akp - s * akq, s * akp + c * akq
          end
          for k = 1, n do
            local apk, aqk = a[p][k], a[q][k]
            a[p][k], a[q][k] = c * apk - s * aqk, s * apk + c * aqk
          end
          for k = 1, n do
            local vkp, vkq = v[k][p], v[k][q]
            v[k][p], v[k][q] = c * vkp - s * vkq, s * vkp + c * vkq
          end
        end
      end
    end
  end
  local ev = {}
  for i = 1, n do ev[i] = a[i][i] end
  return v, ev
end
M.eigen = eigen

-- new(space, { popsize, seed, rng, sigma, init })
function M.new(space, opts)
  local n = space.dim
  local lambda = math.max(2, opts.popsize or 5)
  local self = setmetatable({ space = space, rng = opts.rng, n = n, lambda = lambda, sigma0 = opts.sigma or 0.2,
                              gen = 0, pending = {}, results = {}, asked = 0, told = 0, best = nil }, H)
  local mu = math.floor(lambda / 2)
  if mu < 1 then mu = 1 end
  local w, sw = {}, 0
  for i = 1, mu do w[i] = log((lambda + 1) / 2) - log(i); sw = sw + w[i] end
  local sw2 = 0
  for i = 1, mu do w[i] = w[i] / sw; sw2 = sw2 + w[i] ^ 2 end
  self.mu, self.w, self.mueff = mu, w, 1 / sw2
  local mueff = self.mueff
  self.cs = (mueff + 2) / (n + mueff + 5)
  self.ds = 1 + 2 * math.max(0, sqrt((mueff - 1) / (n + 1)) - 1) + self.cs
  self.cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
  self.c1 = 2 / ((n + 1.3) ^ 2 + mueff)
  self.cmu = math.min(1 - self.c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ^ 2 + mueff))
  self.chin = sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
  self:restart(opts.init or space:init_coords())
  return self
end

function H:restart(mean)
  local n = self.n
  self.m = {}
  for i = 1, n do self.m[i] = mean[i] end
  self.sigma = self.sigma0
  self.C, self.B, self.D = {}, {}, {}
  self.pc, self.ps = {}, {}
  for i = 1, n do
    self.C[i], self.B[i] = {}, {}
    for j = 1, n do self.C[i][j] = (i == j) and 1 or 0; self.B[i][j] = (i == j) and 1 or 0 end
    self.D[i], self.pc[i], self.ps[i] = 1, 0, 0
  end
  self.restarts = (self.restarts or -1) + 1
end

-- ask() -> trial { x = the point to evaluate, y = its genotype } or nil while the generation
-- waits for results.
function H:ask()
  if self.asked >= self.lambda then return nil end
  local n, r = self.n, self.rng
  local z, bdz = {}, {}
  for i = 1, n do z[i] = r:normal() * self.D[i] end
  local y, x = {}, {}
  for i = 1, n do
    local s = 0
    for j = 1, n do s = s + self.B[i][j] * z[j] end
    bdz[i] = s
    y[i] = self.m[i] + self.sigma * s
    x[i] = reflect(y[i])
  end
  self.asked = self.asked + 1
  local t = { x = self.space:snap(x), y = y, gen = self.gen, k = self.asked }
  self.pending[self.asked] = t
  return t
end

function H:tell(t, loss)
  if t.gen ~= self.gen or self.results[t.k] then return end
  self.results[t.k] = { y = t.y, loss = loss, x = t.x }
  self.told = self.told + 1
  if loss and (not self.best or loss < self.best.loss) then self.best = { loss = loss, y = t.y } end
  if self.told >= self.lambda then self:update() end
end

function H:update()
  local n, mu, w = self.n, self.mu, self.w
  local res = {}
  for k = 1, self.lambda do res[k] = self.results[k] end
  table.sort(res, function(a, b)
    local la, lb = a.loss or math.huge, b.loss or math.huge
    return la < lb
  end)
  local old = self.m
  local m = {}
  for i = 1, n do
    local s = 0
    for k = 1, mu do s = s + w[k] * res[k].y[i] end
    m[i] = s
  end
  local sigma = self.sigma
  local dm = {}
  for i = 1, n do dm[i] = (m[i] - old[i]) / sigma end
  -- C^{-1/2} dm = B D^-1 B^T dm
  local bt = {}
  for j = 1, n do
    local s = 0
    for i = 1, n do s = s + self.B[i][j] * dm[i] end
    bt[j] = s / self.D[j]
  end
  local cs, cc, c1, cmu, mueff = self.cs, self.cc, self.c1, self.cmu, self.mueff
  local psn = 0
  for i = 1, n do
    local s = 0
    for j = 1, n do s = s + self.B[i][j] * bt[j] end
    self.ps[i] = (1 - cs) * self.ps[i] + sqrt(cs * (2 - cs) * mueff) * s
    psn = psn + self.ps[i] ^ 2
  end
  psn = sqrt(psn)
  self.gen = self.gen + 1
  local hsig = psn / sqrt(1 - (1 - cs) ^ (2 * self.gen)) / self.chin < 1.4 + 2 / (n + 1) and 1 or 0
  for i = 1, n do self.pc[i] = (1 - cc) * self.pc[i] + hsig * sqrt(cc * (2 - cc) * mueff) * dm[i] end
  local art = {}
  for k = 1, mu do
    art[k] = {}
    for i = 1, n do art[k][i] = (res[k].y[i] - old[i]) / sigma end
  end
  local C = self.C
  for i = 1, n do
    for j = 1, i do
      local rmu = 0
      for k = 1, mu do rmu = rmu + w[k] * art[k][i] * art[k][j] end
      local v = (1 - c1 - cmu) * C[i][j] + c1 * (self.pc[i] * self.pc[j] + (1 - hsig) * cc * (2 - cc) * C[i][j]) + cmu * rmu
      C[i][j], C[j][i] = v, v
    end
  end
  self.sigma = sigma * exp((cs / self.ds) * (psn / self.chin - 1))
  if self.sigma > 1e3 then self.sigma = 1e3 end
  local B, ev = eigen(C, n)
  local dmax, dmin = 0, math.huge
  for i = 1, n do
    if ev[i] < 1e-300 then ev[i] = 1e-300 end
    self.D[i] = sqrt(ev[i])
    dmax, dmin = math.max(dmax, self.D[i]), math.min(dmin, self.D[i])
  end
  self.B, self.m = B, m
  self.results, self.pending, self.asked, self.told = {}, {}, 0, 0
  if self.sigma * dmax < 1e-8 or (dmax / dmin) ^ 2 > 1e14 then
    local start = self.best and self.best.y or m
    local folded = {}
    for i = 1, n do folded[i] = reflect(start[i]) end
    self:restart(folded)
  end
end

return M
