-- test_ops_golden.lua - every op's forward values and gradients against PyTorch.
--
-- Replays tests/fixtures/ops.json (made by scripts/gen_op_fixtures.py with Debian's python3-torch):
-- each case builds its inputs with hub.tensor, runs the op through the Lua API, compares the
-- outputs, then back-propagates loss = sum_i sum(out_i * W_i) with the fixture's weights W and
-- compares the gradients of the inputs.  The references were computed by torch in float64 from
-- the same f32 inputs, so the tolerance only has to cover hub's f32 arithmetic:
--     |hub - ref| <= atol + rtol * |ref|   with atol = rtol = 1e-4 (f32, per element),
-- dtype casts are compared exactly (atol = rtol = 0), integer outputs exactly, shapes and dtypes
-- exactly.  The f64 cases (f64 inputs, torch in float64) use atol = rtol = 1e-12; a tolerance below
-- f32 precision compares f32 outputs as the f32 values the fixture's decimals denote.  Dimensions in the fixture are PyTorch's (0-based); they are converted here to hub's
-- 1-based rule (d >= 0 -> d + 1, negative unchanged).  Dropout with p > 0 is random, so its
-- case checks statistics (zero fraction, scale 1/(1-p), mean) instead of values.
-- Prints the max abs error per case and "N passed, N failed"; exits 1 on any failure.
local hub = require "hub"
local cjson = require "cjson"
local ffi = require "ffi"

local ATOL, RTOL = 1e-4, 1e-4

local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path .. " (run from tests/)")
  local s = f:read("*a")
  f:close()
  return s
end

local doc = cjson.decode(read_file("fixtures/ops.json"))

-- ---- helpers ----
local f32buf = ffi.new("float[1]")
-- The f32 nearest to v (fixture numbers are decimals; exact comparisons are between f32 values).
local function f32(v) f32buf[0] = v; return tonumber(f32buf[0]) end

local function num(v)
  if v == "inf" then return math.huge elseif v == "-inf" then return -math.huge
  elseif v == "nan" then return 0 / 0 end
  return v
end

-- Nested Lua table (or a number for 0-d) from a flat array and a shape.
local function nest(data, shape)
  if #shape == 0 then return num(data[1]) end
  local k = 0
  local function build(d)
    local r = {}
    for i = 1, shape[d] do
      if d == #shape then k = k + 1; r[i] = num(data[k]) else r[i] = build(d + 1) end
    end
    return r
  end
  return build(1)
end

local function make(spec)
  local t = hub.tensor(nest(spec.data, spec.shape), spec.dtype)
  if spec.grad then t:requires_grad() end
  return t
end

local function flat(t)
  local tb = t:totable()
  if type(tb) ~= "table" then return { tb } end
  local out = {}
  local function walk(x)
    if type(x) == "table" then for i = 1, #x do walk(x[i]) end else out[#out + 1] = x end
  end
  walk(tb)
  return out
end

local function shape_str(s) return "[" .. table.concat(s, ",") .. "]" end

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- Compares tensor `t` with fixture spec `ref`; returns ok, max abs error, message.
local function compare(t, ref, atol, rtol, what, check_dtype)
  -- below f32 precision (exact casts; f32 results of f64 cases) the decimals in the fixture are
  -- compared as the f32 values they denote
  local exact_f32 = atol < 1e-7 and ref.dtype == "f32"
  if t == nil then return false, math.huge, what .. ": missing (nil)" end
  if not same_shape(t.shape, ref.shape) then
    return false, math.huge, string.format("%s: shape %s, expected %s", what, shape_str(t.shape), shape_str(ref.shape))
  end
  if check_dtype and t.dtype ~= ref.dtype then
    return false, math.huge, string.format("%s: dtype %s, expected %s", what, t.dtype, ref.dtype)
  end
  local got = flat(t)
  local maxerr, worst = 0, nil
  local exact = ref.dtype ~= "f32" and ref.dtype ~= "f16" and ref.dtype ~= "bf16" and ref.dtype ~= "f64"
  for i = 1, #ref.data do
    local r, g = num(ref.data[i]), got[i]
    if exact_f32 then r = f32(r) end
    if type(g) == "boolean" then g = g and 1 or 0 end
    local err
    if r ~= r then err = (g ~= g) and 0 or math.huge
    elseif r == math.huge or r == -math.huge then err = (g == r) and 0 or math.huge
    else err = math.abs(g - r); if err ~= err then err = math.huge end end
    local lim = exact and 0 or (atol + rtol * math.abs(r == r and r ~= math.huge and r ~= -math.huge and r or 0))
    if err > maxerr then maxerr = err end
    if err > lim and (not worst or err - lim > worst.excess) then
      worst = { i = i, got = g, ref = r, excess = err - lim }
    end
  end
  if worst then
    return false, maxerr, string.format("%s: element %d is %.9g, expected %.9g (max abs err %.3g)",
      what, worst.i, worst.got, worst.ref, maxerr)
  end
  return true, maxerr
end

local function ldim(d) if d == nil then return nil end return d >= 0 and d + 1 or d end
local function ldims(ds)
  local r = {}
  for i, d in ipairs(ds) do r[i] = ldim(d) end
  return r
end

-- ---- op table: fixture op name -> Lua call (x = input tensors, a = args) ----
local OPS = {
  matmul = function(x) return x[1]:matmul(x[2]) end,
  linear = function(x) return x[1]:linear(x[2], x[3]) end,
  add = function(x) return x[1] + x[2] end,
  sub = function(x) return x[1] - x[2] end,
  mul = function(x) return x[1] * x[2] end,
  div = function(x) return x[1] / x[2] end,
  add_scalar = function(x, a) return x[1] + a.s end,
  radd_scalar = function(x, a) return a.s + x[1] end,
  sub_scalar = function(x, a) return x[1] - a.s end,
  rsub_scalar = function(x, a) return a.s - x[1] end,
  mul_scalar = function(x, a) return x[1] * a.s end,
  rmul_scalar = function(x, a) return a.s * x[1] end,
  div_scalar = function(x, a) return x[1] / a.s end,
  rdiv_scalar = function(x, a) return a.s / x[1] end,
  pow = function(x, a) return x[1] ^ a.p end,
  gelu_tanh = function(x) return x[1]:gelu("tanh") end,
  sum = function(x, a) return x[1]:sum(a.dims and ldims(a.dims), a.keepdim) end,
  mean = function(x, a) return x[1]:mean(a.dims and ldims(a.dims), a.keepdim) end,
  max = function(x, a)
    if a.dim == nil then return x[1]:max() end
    local v, i = x[1]:max(ldim(a.dim), a.keepdim)
    return { v, i }
  end,
  argmax = function(x, a) return x[1]:argmax(ldim(a.dim), a.keepdim) end,
  sum_to = function(x, a) return x[1]:sum_to(a.shape) end,
  softmax = function(x, a) return x[1]:softmax(ldim(a.dim)) end,
  log_softmax = function(x, a) return x[1]:log_softmax(ldim(a.dim)) end,
  layer_norm = function(x, a) return x[1]:layer_norm(a.normalized, x[2], x[3]) end,
  dropout = function(x, a) return x[1]:dropout(a.p, a.train) end,
  embedding = function(x) return hub.embedding(x[1], x[2]) end,
  index_select = function(x, a) return x[1]:index_select(ldim(a.dim), x[2]) end,
  masked_fill = function(x, a) return x[1]:masked_fill(x[2], a.value) end,
  concat = function(x, a) return hub.concat(x, ldim(a.dim)) end,
  split = function(x, a) return x[1]:split(a.sizes or a.size, ldim(a.dim)) end,
  cross_entropy = function(x, a)
    return hub.cross_entropy(x[1], x[2], { ignore_index = a.ignore_index, label_smoothing = a.label_smoothing })
  end,
  mse_loss = function(x) return hub.mse_loss(x[1], x[2]) end,
  attention = function(x, a) return hub.attention(x[1], x[2], x[3], x[4], a.scale) end,
  reshape = function(x, a) return x[1]:reshape(a.shape) end,
  view = function(x, a) return x[1]:view(a.shape) end,
  transpose = function(x, a) return x[1]:transpose(ldim(a.d0), ldim(a.d1)) end,
  t = function(x) return x[1]:t() end,
  permute = function(x, a) return x[1]:permute(ldims(a.perm)) end,
  narrow = function(x, a) return x[1]:narrow(ldim(a.dim), a.start + 1, a.len) end,
  expand = function(x, a) return x[1]:expand(a.shape) end,
  squeeze = function(x, a) return x[1]:squeeze(ldim(a.dim)) end,
  unsqueeze = function(x, a) return x[1]:unsqueeze(ldim(a.dim)) end,
  contiguous = function(x) return x[1]:contiguous() end,
  clone = function(x) return x[1]:clone() end,
  view_chain = function(x)
    return x[1]:permute(2, 1, 3):narrow(3, 2, 2):reshape(3, 4):unsqueeze(1):expand(2, 3, 4)
  end,
  cast = function(x, a) return x[1]:to(a.via):to("f32") end,
  to = function(x, a) return x[1]:to(a.dtype) end,
  add_ = function(x, a) return x[1]:add_(x[2], a.alpha) end,
  -- issue 9: promotion, comparisons, logic, everyday ops.  args.s: a number as the other operand.
  masked_select = function(x) return x[1]:masked_select(x[2]) end,
  min = function(x, a)
    if a.dim == nil then return x[1]:min() end
    local v, i = x[1]:min(ldim(a.dim), a.keepdim)
    return { v, i }
  end,
  argmin = function(x, a) return x[1]:argmin(ldim(a.dim), a.keepdim) end,
  any = function(x, a) return x[1]:any(a.dim and ldim(a.dim), a.keepdim) end,
  all = function(x, a) return x[1]:all(a.dim and ldim(a.dim), a.keepdim) end,
  clamp = function(x, a) return x[1]:clamp(a.lo, a.hi) end,
  pow_tensor = function(x) return x[1] ^ x[2] end,
  rpow = function(x, a) return a.s ^ x[1] end,
  remainder = function(x, a) if a.s then return x[1] % a.s end return x[1] % x[2] end,
  fmod = function(x, a) return x[1]:fmod(a.s or x[2]) end,
  inplace = function(x, a) local t = x[1]:clone(); local r = t[a.op](t, a.s); assert(r == t); return t end,
  logical_not = function(x) return x[1]:logical_not() end,
  gather = function(x, a) return x[1]:gather(ldim(a.dim), x[2]) end,
  scatter = function(x, a) return x[1]:scatter(ldim(a.dim), x[2], a.value or x[3]) end,
  scatter_add = function(x, a) return x[1]:scatter_add(ldim(a.dim), x[2], x[3]) end,
  sort = function(x, a) local v, i = x[1]:sort(ldim(a.dim), a.descending); return { v, i } end,
  argsort = function(x, a) return x[1]:argsort(ldim(a.dim), a.descending) end,
  topk = function(x, a)
    local v, i = x[1]:topk(a.k, a.dim and ldim(a.dim), a.largest)
    return { v, i }
  end,
  cumsum = function(x, a) return x[1]:cumsum(ldim(a.dim)) end,
  -- stack's dim ranges over ndim+1 positions: torch's d >= 0 is hub's d + 1, -1 stays -1
  stack = function(x, a) return hub.stack(x, ldim(a.dim)) end,
}
for _, name in ipairs { "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or" } do
  OPS[name] = function(x, a) if a.s then return x[1][name](x[1], a.s) end return hub[name](x[1], x[2]) end
end
OPS.where = function(x, a) return hub.where(x[1], x[2], a.s or x[3]) end
for _, name in ipairs { "sign", "floor", "ceil", "round" } do
  OPS[name] = function(x) return x[1][name](x[1]) end
end
for _, name in ipairs { "neg", "exp", "log", "sqrt", "rsqrt", "abs", "relu", "tanh", "sigmoid", "gelu" } do
  OPS[name] = function(x) return x[1][name](x[1]) end
end

-- ---- dropout statistics (random values: check the distribution, not the numbers) ----
local function dropout_stats(c)
  local p, n = c.args.p, c.args.n
  hub.manual_seed(7)
  local x = hub.ones({ n }):requires_grad()
  local y = x:dropout(p, true)
  local v = flat(y)
  local zeros, bad, sum = 0, 0, 0
  local scale = 1 / (1 - p)
  for i = 1, n do
    if v[i] == 0 then zeros = zeros + 1
    elseif math.abs(v[i] - scale) > 1e-5 * scale then bad = bad + 1 end
    sum = sum + v[i]
  end
  local frac, mean = zeros / n, sum / n
  -- binomial: sd of the zero fraction = sqrt(p(1-p)/n) ~ 0.0032 for n=20000; allow 5 sd
  local sd = math.sqrt(p * (1 - p) / n)
  local ok = math.abs(frac - p) <= 5 * sd and bad == 0 and math.abs(mean - 1) <= 5 * sd * scale
  -- the gradient is the same mask times the scale
  y:backward(hub.ones({ n }))
  local g = flat(x.grad)
  local gbad = 0
  for i = 1, n do
    local want = v[i] == 0 and 0 or scale
    if math.abs(g[i] - want) > 1e-5 * scale then gbad = gbad + 1 end
  end
  -- same seed, same mask
  hub.manual_seed(7)
  local v2 = flat(hub.ones({ n }):dropout(p, true))
  local differ = 0
  for i = 1, n do if v2[i] ~= v[i] then differ = differ + 1 end end
  ok = ok and gbad == 0 and differ == 0
  local msg = string.format("zero fraction %.4f (p=%.2f, 5sd=%.4f), mean %.4f, %d kept values not 1/(1-p), %d bad grads, %d differ on same seed",
    frac, p, 5 * sd, mean, bad, gbad, differ)
  return ok, math.abs(frac - p), msg
end

-- ---- run one case ----
local function run_case(c)
  if c.op == "dropout_stats" then return dropout_stats(c) end
  local f = OPS[c.op]
  if not f then return false, math.huge, "no Lua mapping for op " .. c.op end
  local atol = c.tol and c.tol.atol or ATOL
  local rtol = c.tol and c.tol.rtol or RTOL
  local leaves, xs = {}, {}
  for i, spec in ipairs(c.inputs) do
    leaves[i] = make(spec)
    xs[i] = spec.t and leaves[i]:transpose(-2, -1) or leaves[i]
  end
  local out = f(xs, c.args)
  local outs = (type(out) == "table") and out or { out }
  if #outs ~= #c.outputs then
    return false, math.huge, string.format("%d outputs, expected %d", #outs, #c.outputs)
  end
  local maxerr, msgs, ok = 0, {}, true
  for i, ref in ipairs(c.outputs) do
    local good, err, msg = compare(outs[i], ref, atol, rtol, "output " .. i, true)
    if err > maxerr then maxerr = err end
    if not good then ok = false; msgs[#msgs + 1] = msg end
  end
  -- backward: loss = sum_i sum(out_i * W_i); one output -> out:backward(W) directly
  local diff = {}
  for i, w in ipairs(c.weights) do
    if w ~= cjson.null and w ~= nil then diff[#diff + 1] = { outs[i], hub.tensor(nest(w.data, w.shape)) } end
  end
  if #diff == 1 then
    diff[1][1]:backward(diff[1][2])
  elseif #diff > 1 then
    local loss
    for _, p in ipairs(diff) do
      local term = (p[1] * p[2]):sum()
      loss = loss and loss + term or term
    end
    loss:backward()
  end
  for i, g in ipairs(c.grads) do
    if g ~= cjson.null and g ~= nil then
      local got = leaves[i].grad
      local good, err, msg = compare(got, g, atol, rtol, "grad of input " .. i, false)
      if err > maxerr then maxerr = err end
      if not good then ok = false; msgs[#msgs + 1] = msg end
    end
  end
  return ok, maxerr, table.concat(msgs, "; ")
end

local passed, failed, failures = 0, 0, {}
for _, c in ipairs(doc.cases) do
  local okcall, ok, err, msg = pcall(run_case, c)
  if not okcall then ok, err, msg = false, math.huge, "error: " .. tostring(ok) end
  if ok then
    passed = passed + 1
    print(string.format("ok    %-38s max abs err %.3g", c.name, err))
  else
    failed = failed + 1
    failures[#failures + 1] = c.name
    print(string.format("FAIL  %-38s max abs err %.3g  %s", c.name, err, msg or ""))
  end
end
print(string.format("tolerance: |hub - torch| <= %g + %g*|torch| (f32), exact for casts and integers", ATOL, RTOL))
if failed > 0 then print("failed: " .. table.concat(failures, ", ")) end
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
