-- test_gradcheck_f64.lua - finite-difference gradient checks in f64, as torch.autograd.gradcheck
-- does them: the ops compute in double, so the tolerance can be ~1e6 times tighter than the f32
-- checks of test_gradcheck.lua.
--
-- For each case: seeded f64 inputs (kept away from kinks and poles as in test_gradcheck.lua), a
-- fixed random f64 weight W per output and loss = sum(out * W) summed in Lua from out:totable().
-- The analytic gradient comes from out:backward(W); the numerical one from central differences
-- (loss(x + eps e_k) - loss(x - eps e_k)) / (2 eps) with eps = 1e-6.  Truncation error is
-- eps^2/6 * f''' ~ 2e-13 * f''' and rounding error ~1e-16 * sum|out W| / eps ~ 1e-9, so
--     |numerical - analytic| <= 1e-7 + 1e-6 * |analytic|
-- holds with a wide margin for a correct gradient and fails for any wrong one (a wrong gradient
-- is off by O(1)).  The outputs are checked to be f64 too: a silent detour through f32 would show
-- as errors of ~1e-4 here.
-- Prints the max error per case and "N passed, N failed"; exits 1 on any failure.
local hub = require "hub"

local EPS, ATOL, RTOL = 1e-6, 1e-7, 1e-6

hub.manual_seed(64)

local function flat_of(t)
  local tb = t:totable()
  if type(tb) ~= "table" then return { tb } end
  local out = {}
  local function walk(x)
    if type(x) == "table" then for i = 1, #x do walk(x[i]) end else out[#out + 1] = x end
  end
  walk(tb)
  return out
end

local function R(shape) return hub.randn(shape, "f64") end
local function P(shape) return hub.rand(shape, "f64") * 1.5 + 0.5 end -- >= 0.5
local function NZ(shape) local x = R(shape); return x:sign() * (x:abs() + 0.3) end
local function DISTINCT(n, m) -- values 0.25 apart, shuffled: no ties for max / min / sort
  local d = {}
  local keys = flat_of(hub.rand({ n * m }))
  local idx = {}
  for i = 1, n * m do idx[i] = i end
  table.sort(idx, function(a, b) return keys[a] < keys[b] end)
  for i = 1, n * m do d[idx[i]] = (i - n * m / 2) * 0.25 + 0.01 end
  return hub.tensor(d, "f64"):reshape(n, m)
end

local CASES = {}
local function case(name, inputs, fn) CASES[#CASES + 1] = { name = name, inputs = inputs, fn = fn } end

case("matmul_2d", { R { 3, 4 }, R { 4, 2 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_square", { R { 3, 3 }, R { 3, 3 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_batched_transposed", { R { 2, 3, 4 }, R { 2, 2, 4 } }, function(x) return x[1]:matmul(x[2]:transpose(-1, -2)) end)
case("linear", { R { 3, 4 }, R { 2, 4 }, R { 2 } }, function(x) return x[1]:linear(x[2], x[3]) end)
case("add_mul_div", { R { 2, 1, 3 }, R { 4, 3 }, NZ { 3 } }, function(x) return (x[1] + x[2]) * x[1] / x[3] end)
case("scalars", { R { 3, 4 } }, function(x) return (x[1] * 0.1 + 0.3) / 7 - 2 / (x[1]:abs() + 1) end)
case("exp_log_sqrt", { P { 3, 4 } }, function(x) return x[1]:exp() + x[1]:log() + x[1]:sqrt() + x[1]:rsqrt() end)
case("tanh_sigmoid_gelu", { R { 3, 4 } }, function(x) return x[1]:tanh() * x[1]:sigmoid() + x[1]:gelu() + x[1]:gelu("tanh") end)
case("pow", { P { 3, 4 }, R { 3, 4 } }, function(x) return x[1] ^ x[2] + x[1] ^ 2.5 + 2 ^ x[2] end)
case("sum_mean", { R { 2, 3, 4 } }, function(x) return { x[1]:sum(2), x[1]:mean({ 1, 3 }), x[1]:sum() } end)
case("max_min", { DISTINCT(3, 5) }, function(x) return { (x[1]:max(2)), (x[1]:min(1)) } end)
case("where_masked_select", { R { 2, 3 }, R { 3 } },
  function(x)
    local m = hub.tensor { { true, false, true }, { false, true, true } }
    return { hub.where(m, x[1], x[2]), x[1]:masked_select(m) }
  end)
case("gather_cumsum_sort", { DISTINCT(3, 4) },
  function(x)
    local i = hub.tensor({ { 0, 3 }, { 2, 2 }, { 1, 0 } }, "i64")
    return { x[1]:gather(2, i), x[1]:cumsum(1), (x[1]:sort(2)) }
  end)
case("fmod_remainder_clamp", { hub.tensor({ { 1.3, -2.7, 0.4 }, { 3.9, -0.8, 2.2 } }, "f64"),
  hub.tensor({ { 0.7, 1.1, -0.9 }, { 1.6, 0.6, -1.3 } }, "f64") },
  function(x) return { x[1]:fmod(x[2]), x[1] % x[2], x[1]:clamp(-1, 1) } end)
case("mlp", { R { 4, 3 }, R { 5, 3 }, R { 5 }, R { 2, 5 } },
  function(x) return x[1]:linear(x[2], x[3]):tanh():linear(x[4]):sum(2) end)

local function outputs_of(r) if type(r) == "table" then return r end return { r } end

local function run(c, datas, grad)
  local leaves, xs = {}, {}
  for i, t in ipairs(c.inputs) do
    leaves[i] = datas and datas[i] or t:clone()
    if grad then leaves[i]:requires_grad() end
    xs[i] = leaves[i]
  end
  return outputs_of(c.fn(xs)), leaves
end

local function check(c)
  local outs = hub.no_grad(function() return (run(c)) end)
  local ws, wflat = {}, {}
  for i, o in ipairs(outs) do
    if o.dtype ~= "f64" then return false, math.huge, "output " .. i .. " is " .. o.dtype end
    ws[i] = hub.randn(o.shape, "f64")
    wflat[i] = flat_of(ws[i])
  end
  local function loss(os)
    local l = 0
    for i, o in ipairs(os) do
      local v = flat_of(o)
      for k = 1, #v do l = l + v[k] * wflat[i][k] end
    end
    return l
  end
  local aouts, leaves = run(c, nil, true)
  local total
  for i, o in ipairs(aouts) do
    local term = (o * ws[i]):sum()
    total = total and total + term or term
  end
  total:backward()
  local maxerr, worst = 0, nil
  for i, t in ipairs(c.inputs) do
    local g = leaves[i].grad
    if g == nil or g.dtype ~= "f64" then return false, math.huge, "no f64 gradient for input " .. i end
    local ana, base = flat_of(g), flat_of(t)
    for k = 1, #base do
      local function at(delta)
        local d = {}
        for m = 1, #base do d[m] = base[m] end
        d[k] = base[k] + delta
        local datas = {}
        for j, tj in ipairs(c.inputs) do datas[j] = tj:clone() end
        datas[i] = hub.tensor(d, "f64"):reshape(t.shape)
        return hub.no_grad(function() return loss((run(c, datas))) end)
      end
      local num = (at(EPS) - at(-EPS)) / (2 * EPS)
      local err = math.abs(num - ana[k])
      if err ~= err then err = math.huge end
      if err > maxerr then maxerr = err end
      if err > ATOL + RTOL * math.abs(ana[k]) and (not worst or err > worst.err) then
        worst = { i = i, k = k, num = num, ana = ana[k], err = err }
      end
    end
  end
  if worst then
    return false, maxerr, string.format("input %d element %d: analytic %.12g, numerical %.12g", worst.i, worst.k, worst.ana, worst.num)
  end
  return true, maxerr
end

local passed, failed, failures = 0, 0, {}
for _, c in ipairs(CASES) do
  local okcall, ok, err, msg = pcall(check, c)
  if not okcall then ok, err, msg = false, math.huge, "error: " .. tostring(ok) end
  if ok then
    passed = passed + 1
    print(string.format("ok    %-28s max err %.3g", c.name, err))
  else
    failed = failed + 1
    failures[#failures + 1] = c.name
    print(string.format("FAIL  %-28s max err %.3g  %s", c.name, err, msg or ""))
  end
end
print(string.format("f64, eps %g, tolerance |num - ana| <= %g + %g*|ana|", EPS, ATOL, RTOL))
if failed > 0 then print("failed: " .. table.concat(failures, ", ")) end
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
