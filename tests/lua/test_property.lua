-- test_property.lua - random op sequences checked against an independent computation.
--
-- With a fixed seed, each trial draws a random shape (0 to 3 dims, sizes 0 to 4, so empty
-- tensors are common) and values, then applies a random chain of ops to a hub tensor and, in
-- plain Lua, to a reference: a flat row-major array with its shape.  The reference implements
-- each op from its definition with Lua loops (broadcasting, views by index arithmetic, sums,
-- matmul, softmax), sharing no code with the runtime.  After every op the tensor's shape and
-- every element must match the reference.  Then invariants (sum of a reshape = sum, transpose
-- twice = identity, expand then sum_to = times the factor) and, on some chains of smooth ops,
-- gradients against central finite differences.  Prints "N passed, M failed"; exits 1 on any
-- failure, naming the seed, trial and chain to replay it.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local hub = require "hub"

local SEED, TRIALS, STEPS = 20260409, 300, 6
math.randomseed(SEED)
hub.manual_seed(SEED)
local R = math.random

-- ---- the reference: {shape = {...}, v = {...}} row-major ----
local function numel(shape) local n = 1 for _, s in ipairs(shape) do n = n * s end return n end
local function copy(t) local r = {} for i, x in ipairs(t) do r[i] = x end return r end
local function strides(shape)
  local st, s = {}, 1
  for d = #shape, 1, -1 do st[d] = s; s = s * shape[d] end
  return st
end
-- multi-index (1-based) of flat position k (0-based)
local function unravel(shape, k)
  local idx = {}
  for d = #shape, 1, -1 do idx[d] = k % shape[d] + 1; k = math.floor(k / shape[d]) end
  return idx
end
local function ravel(shape, idx)
  local k = 0
  for d = 1, #shape do k = k * shape[d] + (idx[d] - 1) end
  return k
end
local function map(a, f) local v = {} for i = 1, #a.v do v[i] = f(a.v[i]) end return { shape = copy(a.shape), v = v } end

local function bshape(a, b)
  local n = math.max(#a, #b)
  local out = {}
  for i = 1, n do
    local sa, sb = a[#a - n + i] or 1, b[#b - n + i] or 1
    if sa ~= sb and sa ~= 1 and sb ~= 1 then return nil end
    out[i] = sa == 1 and sb or sa
  end
  return out
end
-- element of a at the broadcast multi-index idx of shape `to`
local function bget(a, to, idx)
  local k, off = 0, #to - #a.shape
  for d = 1, #a.shape do k = k * a.shape[d] + (a.shape[d] == 1 and 0 or idx[d + off] - 1) end
  return a.v[k + 1]
end
local function binary(a, b, f)
  local s = bshape(a.shape, b.shape)
  local v = {}
  for k = 0, numel(s) - 1 do
    local idx = unravel(s, k)
    v[k + 1] = f(bget(a, s, idx), bget(b, s, idx))
  end
  return { shape = s, v = v }
end
local function permute(a, p) -- p: 1-based dims
  local s = {}
  for i = 1, #p do s[i] = a.shape[p[i]] end
  local v = {}
  for k = 0, numel(s) - 1 do
    local idx, src = unravel(s, k), {}
    for i = 1, #p do src[p[i]] = idx[i] end
    v[k + 1] = a.v[ravel(a.shape, src) + 1]
  end
  return { shape = s, v = v }
end
local function narrow(a, d, start, len) -- start 1-based
  local s = copy(a.shape); s[d] = len
  local v = {}
  for k = 0, numel(s) - 1 do
    local idx = unravel(s, k)
    idx[d] = idx[d] + start - 1
    v[k + 1] = a.v[ravel(a.shape, idx) + 1]
  end
  return { shape = s, v = v }
end
local function expand(a, s)
  local v = {}
  for k = 0, numel(s) - 1 do v[k + 1] = bget(a, s, unravel(s, k)) end
  return { shape = copy(s), v = v }
end
local function sum(a, d, keep) -- d nil: all
  if d == nil then
    local acc = 0
    for _, x in ipairs(a.v) do acc = acc + x end
    return { shape = {}, v = { acc } }
  end
  local s = copy(a.shape); s[d] = 1
  local v = {}
  for k = 0, numel(s) - 1 do
    local idx, acc = unravel(s, k), 0
    for j = 1, a.shape[d] do idx[d] = j; acc = acc + a.v[ravel(a.shape, idx) + 1] end
    v[k + 1] = acc
  end
  if not keep then table.remove(s, d) end
  return { shape = s, v = v }
end
local function matmul(a, b) -- 2-d
  local m, k, n = a.shape[1], a.shape[2], b.shape[2]
  local v = {}
  for i = 1, m do for j = 1, n do
    local acc = 0
    for t = 1, k do acc = acc + a.v[(i - 1) * k + t] * b.v[(t - 1) * n + j] end
    v[(i - 1) * n + j] = acc
  end end
  return { shape = { m, n }, v = v }
end
local function softmax_last(a)
  local n = a.shape[#a.shape]
  local v = {}
  for r = 0, #a.v / n - 1 do
    local mx = -math.huge
    for j = 1, n do mx = math.max(mx, a.v[r * n + j]) end
    local z = 0
    for j = 1, n do z = z + math.exp(a.v[r * n + j] - mx) end
    for j = 1, n do v[r * n + j] = math.exp(a.v[r * n + j] - mx) / z end
  end
  return { shape = copy(a.shape), v = v }
end

-- ---- comparison ----
local function matches(t, ref, tol)
  local shape = t.shape
  if #shape ~= #ref.shape then return false, "ndim " .. #shape .. " vs " .. #ref.shape end
  for i = 1, #shape do
    if shape[i] ~= ref.shape[i] then
      return false, "shape [" .. table.concat(shape, ",") .. "] vs [" .. table.concat(ref.shape, ",") .. "]"
    end
  end
  local got = t:numel() > 0 and t:reshape(-1):totable() or {}
  if #ref.shape == 0 then got = { t:item() } end
  for i = 1, #ref.v do
    local x, y = got[i], ref.v[i]
    if not (math.abs(x - y) <= tol * (1 + math.abs(y))) then
      return false, string.format("element %d: %.7g vs %.7g", i, x, y)
    end
  end
  return true
end

local function rand_shape(maxd)
  local s = {}
  for i = 1, R(0, maxd or 3) do s[i] = R(0, 6) <= 1 and R(0, 1) or R(1, 4) end
  return s
end
local function rand_ref(shape, lo, hi)
  local v = {}
  for i = 1, numel(shape) do v[i] = math.floor((lo + (hi - lo) * R()) * 64 + 0.5) / 64 end -- exact in f32
  return { shape = copy(shape), v = v }
end
local function to_hub(ref)
  if #ref.shape == 0 then return hub.tensor(ref.v[1]) end
  return hub.tensor(ref.v):reshape(ref.shape)
end

-- ---- the ops: each takes (tensor, ref) and returns (tensor, ref, name) or nil when it does not apply ----
local ops = {}
ops[#ops + 1] = function(x, r) -- binary with a broadcastable random operand
  local s = copy(r.shape)
  for d = 1, #s do if R(0, 2) == 0 then s[d] = 1 end end
  while #s > 0 and R(0, 3) == 0 do table.remove(s, 1) end
  local o = rand_ref(s, 0.5, 2)
  local which = R(1, 4)
  local f = ({ function(a, b) return a + b end, function(a, b) return a - b end,
    function(a, b) return a * b end, function(a, b) return a / b end })[which]
  local name = ({ "add", "sub", "mul", "div" })[which]
  local ot = to_hub(o)
  local y = R(0, 1) == 0 and x[name](x, ot) or ({ x + ot, x - ot, x * ot, x / ot })[which]
  return y, binary(r, o, f), name .. "[" .. table.concat(s, ",") .. "]"
end
ops[#ops + 1] = function(x, r) -- unary (exp only through softmax: exp of a long chain overflows f32)
  local which = R(1, 4)
  local name = ({ "tanh", "sigmoid", "relu", "neg" })[which]
  local f = ({ math.tanh, function(a) return 1 / (1 + math.exp(-a)) end, function(a) return a > 0 and a or 0 end,
    function(a) return -a end })[which]
  return x[name](x), map(r, f), name
end
ops[#ops + 1] = function(x, r) -- scalar ops, number on either side
  local c = R(1, 8) / 4
  local which = R(1, 3)
  if which == 1 then return x * c, map(r, function(a) return a * c end), "*" .. c end
  if which == 2 then return c + x, map(r, function(a) return c + a end), c .. "+" end
  return x - c, map(r, function(a) return a - c end), "-" .. c
end
ops[#ops + 1] = function(x, r) -- transpose / permute
  local n = #r.shape
  if n < 2 then return nil end
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do local j = R(1, i); p[i], p[j] = p[j], p[i] end
  return x:permute(p), permute(r, p), "permute{" .. table.concat(p, ",") .. "}"
end
ops[#ops + 1] = function(x, r) -- reshape to a random factorisation of numel (with -1 sometimes)
  local n = numel(r.shape)
  local s = {}
  if n == 0 then s = { 0, R(1, 3) } else
    local rest = n
    for f = 2, 4 do while rest % f == 0 and R(0, 1) == 0 do s[#s + 1] = f; rest = rest / f end end
    s[#s + 1] = rest
  end
  local arg = copy(s)
  if n > 0 and R(0, 1) == 0 then arg[R(1, #arg)] = -1 end
  return x:reshape(arg), { shape = s, v = copy(r.v) }, "reshape{" .. table.concat(arg, ",") .. "}"
end
ops[#ops + 1] = function(x, r) -- narrow
  if #r.shape == 0 then return nil end
  local d = R(1, #r.shape)
  local size = r.shape[d]
  local start = R(1, size + 1)
  local len = R(0, size - start + 1)
  return x:narrow(d, start, len), narrow(r, d, start, len), "narrow(" .. d .. "," .. start .. "," .. len .. ")"
end
ops[#ops + 1] = function(x, r) -- expand a size-1 dim or add a leading one
  local s = copy(r.shape)
  for d = 1, #s do if s[d] == 1 then s[d] = R(1, 3) end end
  if #s < 4 and R(0, 1) == 0 then table.insert(s, 1, R(0, 2)) end
  return x:expand(s), expand(r, s), "expand{" .. table.concat(s, ",") .. "}"
end
ops[#ops + 1] = function(x, r) -- sum over a dim
  if #r.shape == 0 then return nil end
  local d, keep = R(1, #r.shape), R(0, 1) == 1
  return x:sum(d, keep), sum(r, d, keep), "sum(" .. d .. "," .. tostring(keep) .. ")"
end
ops[#ops + 1] = function(x, r) -- softmax over the last dim
  if #r.shape == 0 then return nil end
  return x:softmax(-1), softmax_last(r), "softmax"
end
ops[#ops + 1] = function(x, r) -- matmul with a random matrix (2-d only)
  if #r.shape ~= 2 then return nil end
  local o = rand_ref({ r.shape[2], R(0, 3) }, -1, 1)
  return x:matmul(to_hub(o)), matmul(r, o), "matmul"
end
ops[#ops + 1] = function(x, r) -- unsqueeze / squeeze
  if #r.shape >= 4 then return nil end
  local d = R(1, #r.shape + 1)
  local s = copy(r.shape); table.insert(s, d, 1)
  return x:unsqueeze(d), { shape = s, v = copy(r.v) }, "unsqueeze(" .. d .. ")"
end
ops[#ops + 1] = function(x, r) -- contiguous copy of whatever view we have
  return x:contiguous(), r, "contiguous"
end

-- ---- random chains ----
local ran, skipped_big, counts = 0, 0, {}
for trial = 1, TRIALS do
  local r = rand_ref(rand_shape(), -2, 2)
  local x = to_hub(r)
  local chain = { "[" .. table.concat(r.shape, ",") .. "]" }
  local ok, why = matches(x, r, 0)
  for _ = 1, STEPS do
    if not ok then break end
    local k = R(1, #ops)
    local y, r2, name = ops[k](x, r)
    if y then
      counts[k] = (counts[k] or 0) + 1
      chain[#chain + 1] = name
      if numel(r2.shape) > 4096 then skipped_big = skipped_big + 1; break end
      x, r = y, r2
      ok, why = matches(x, r, 2e-5)
      ran = ran + 1
    end
  end
  T.ok(ok, string.format("seed %d trial %d: %s", SEED, trial, table.concat(chain, " -> ")), why)
end
T.ok(ran > TRIALS * 3, "enough ops ran (" .. ran .. ")")
for k = 1, #ops do T.ok((counts[k] or 0) >= 10, "op kind " .. k .. " ran " .. (counts[k] or 0) .. " times") end

-- ---- invariants on random shapes ----
for trial = 1, 60 do
  local shape = rand_shape(4)
  local x = hub.randn(shape)
  local s0 = x:sum():item()
  local flat = x:reshape(-1)
  T.ok(math.abs(flat:sum():item() - s0) <= 1e-5 * (1 + math.abs(s0)), "sum of a reshape = sum, trial " .. trial)
  if #shape >= 2 then
    local a, b = R(1, #shape), R(1, #shape)
    local tt = x:transpose(a, b):transpose(a, b)
    T.ok(matches(tt, { shape = shape, v = x:numel() > 0 and x:reshape(-1):totable() or {} }, 0),
      "transpose twice = identity, trial " .. trial)
    T.ok(math.abs(x:transpose(a, b):contiguous():sum():item() - s0) <= 1e-5 * (1 + math.abs(s0)),
      "sum of a transposed copy = sum, trial " .. trial)
  end
  local k = R(1, 3)
  local e = x:unsqueeze(1):expand(k, unpack(shape))
  T.ok(math.abs(e:sum():item() - k * s0) <= 1e-4 * (1 + math.abs(k * s0)), "expand by k then sum = k * sum, trial " .. trial)
  local back = e:sum_to(shape)
  T.ok(matches(back, map({ shape = shape, v = x:numel() > 0 and x:reshape(-1):totable() or {} }, function(v) return k * v end), 1e-5),
    "sum_to undoes expand times k, trial " .. trial)
end

-- ---- gradients of random smooth chains against finite differences ----
local smooth = {
  function(x) return x:tanh(), "tanh" end,
  function(x) return x:sigmoid(), "sigmoid" end,
  function(x) return x * x, "x*x" end,
  function(x) return x:softmax(-1), "softmax" end,
  function(x) if x:dim() >= 2 then return x:transpose(1, 2), "transpose" end end,
  function(x) return x:reshape(-1), "reshape" end,
  function(x) if x:dim() >= 1 and x.shape[1] >= 2 then return x:narrow(1, 2, x.shape[1] - 1), "narrow" end end,
  function(x) return x:unsqueeze(1):expand(2, unpack(x.shape)), "expand" end,
  function(x) if x:dim() == 2 then return x:matmul(hub.tensor { { 0.5, -1 }, { 0.25, 2 }, { 1, 0.5 } }:narrow(1, 1, x.shape[2])), "matmul" end end,
  function(x) if x:dim() >= 1 then return x:sum(x:dim(), true), "sum" end end,
}
for trial = 1, 25 do
  local shape = { R(1, 3), R(1, 3) }
  local x0 = hub.rand(shape) * 2 - 1
  local picks = {}
  for i = 1, 3 do picks[i] = smooth[R(1, #smooth)] end
  local names
  local function f(x)
    names = {}
    for _, op in ipairs(picks) do
      local y, n = op(x)
      if y then x = y; names[#names + 1] = n end
    end
    return x
  end
  local y0 = f(x0)
  local w = hub.rand(y0.shape) + 0.5 -- a weighted sum, so every output counts differently
  local x = x0:clone():requires_grad()
  local loss = (f(x) * w):sum()
  loss:backward()
  local g = x.grad:reshape(-1):totable()
  local base = x0:reshape(-1):totable()
  local worst, eps = 0, 1e-2
  for i = 1, #base do
    local function at(d)
      local v = copy(base); v[i] = v[i] + d
      return hub.no_grad(function() return (f(hub.tensor(v):reshape(shape)) * w):sum():item() end)
    end
    local fd = (at(eps) - at(-eps)) / (2 * eps)
    worst = math.max(worst, math.abs(fd - g[i]) / (1 + math.abs(fd)))
  end
  T.ok(worst < 2e-2, string.format("gradcheck trial %d [%d,%d] %s: worst relative error %.3g", trial, shape[1], shape[2],
    table.concat(names, " -> "), worst))
end

T.finish()
