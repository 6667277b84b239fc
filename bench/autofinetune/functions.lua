-- bench/autofinetune/functions.lua: the benchmark functions, as Lua (functions.py has the same
-- ones for Optuna).  Each: dim, bounds (per coordinate {lo, hi}), f(x) (the value to minimise),
-- the known minimum, and noise (the sd of Gaussian noise the trial adds to what it reports).
local M = {}

-- Branin (Dixon & Szego): x1 in [-5, 10], x2 in [0, 15]; minimum 0.397887 at three points.
M.branin = {
  dim = 2, bounds = { { -5, 10 }, { 0, 15 } }, min = 0.397887357729739, noise = 0,
  f = function(x)
    local a, b, c, r, s, t = 1, 5.1 / (4 * math.pi ^ 2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return a * (x[2] - b * x[1] ^ 2 + c * x[1] - r) ^ 2 + s * (1 - t) * math.cos(x[1]) + s
  end,
}

-- Hartmann-6: x in [0, 1]^6; minimum -3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
local HA = { 1.0, 1.2, 3.0, 3.2 }
local HAm = { { 10, 3, 17, 3.5, 1.7, 8 }, { 0.05, 10, 17, 0.1, 8, 14 }, { 3, 3.5, 1.7, 10, 17, 8 }, { 17, 8, 0.05, 10, 0.1, 14 } }
local HP = { { 1312, 1696, 5569, 124, 8283, 5886 }, { 2329, 4135, 8307, 3736, 1004, 9991 },
             { 2348, 1451, 3522, 2883, 3047, 6650 }, { 4047, 8828, 8732, 5743, 1091, 381 } }
M.hartmann6 = {
  dim = 6, bounds = { { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 1 } }, min = -3.32236801141551, noise = 0,
  f = function(x)
    local s = 0
    for i = 1, 4 do
      local e = 0
      for j = 1, 6 do e = e + HAm[i][j] * (x[j] - HP[i][j] * 1e-4) ^ 2 end
      s = s + HA[i] * math.exp(-e)
    end
    return -s
  end,
}

-- A noisy 10-d quadratic: x in [-5, 5]^10, f = sum_i (x_i - c_i)^2 with c_i = 0.5 * (-1)^i * i / 10 * 4,
-- reported with N(0, 1) noise added; the benchmark scores the noise-free f at the trial chosen
-- as best by its reported value.
local QC = {}
for i = 1, 10 do QC[i] = 0.2 * i * ((i % 2 == 0) and 1 or -1) end
M.quad10 = {
  dim = 10, bounds = {}, min = 0, noise = 1, centre = QC,
  f = function(x)
    local s = 0
    for i = 1, 10 do s = s + (x[i] - QC[i]) ^ 2 end
    return s
  end,
}
for i = 1, 10 do M.quad10.bounds[i] = { -5, 5 } end

M.order = { "branin", "hartmann6", "quad10" }
M.budget = { branin = 50, hartmann6 = 100, quad10 = 100 }
M.popsize = { branin = 5, hartmann6 = 10, quad10 = 10 }

-- The param-file table of a function: x1..xd, float, bounds, init at the centre.
function M.param_table(name)
  local fn = M[name]
  local list = {}
  for i = 1, fn.dim do
    local b = fn.bounds[i]
    list[i] = { name = "x" .. i, type = "float", greater_than = b[1], lower_than = b[2], init_value = (b[1] + b[2]) / 2 }
  end
  return { param_list = list }
end

return M
