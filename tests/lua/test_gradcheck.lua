-- test_gradcheck.lua - finite-difference check of every differentiable op's gradient, without torch.
--
-- For each op: small seeded f32 inputs (kept away from kinks: relu/abs inputs |x| >= 0.1,
-- log/sqrt/rsqrt/pow/denominator inputs >= 0.5, max inputs 0.25 apart so no ties), a fixed random
-- weight W per output, and loss = sum(out * W) computed in double precision in Lua from
-- out:totable().  The analytic gradient comes from out:backward(W); the numerical one from central
-- differences  (loss(x + eps e_k) - loss(x - eps e_k)) / (x_k+ - x_k-)  with eps = 1e-2, where
-- x_k+/- are the perturbed values as actually stored in f32 (read back from the tensor).
--
-- Tolerance: |numerical - analytic| <= 2e-3 + 1e-2 * |analytic| per element.  Why: each loss is a
-- double sum of f32 outputs, each off by ~6e-8 relative (a few ulps after accumulation), so the
-- loss carries an error ~6e-8 * sum|out*W| (<= ~100 here) that the division by 2*eps = 2e-2 turns
-- into <= ~3e-4 (plus a few ulps of op-internal rounding) — covered by the 2e-3 absolute part;
-- the central difference truncation is eps^2/6 * f''' ~ 1.7e-5 * f''' which, with inputs kept in
-- the ranges above (|f'''| <= ~300 where |f'| is ~10), stays below 1e-2 relative.
-- Dtype casts are not checked here (f16/bf16 rounding makes the function a staircase at this eps;
-- test_ops_golden.lua checks their gradients exactly).  Argmax has no gradient.
-- Prints the max error per op and "N passed, N failed"; exits 1 on any failure.
local hub = require "hub"

local EPS, ATOL, RTOL = 1e-2, 2e-3, 1e-2

hub.manual_seed(20240601)

-- ---- helpers ----
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

local function nest(data, shape)
  if #shape == 0 then return data[1] end
  local k = 0
  local function build(d)
    local r = {}
    for i = 1, shape[d] do
      if d == #shape then k = k + 1; r[i] = data[k] else r[i] = build(d + 1) end
    end
    return r
  end
  return build(1)
end

-- Input specs: { data = flat doubles (exact f32 values), shape = {...}, dtype = "f32",
--                grad = true/false, t = true (the op sees leaf:transpose(-2, -1)) }
local function spec_of(t, opts)
  opts = opts or {}
  local s = { data = flat_of(t), shape = t.shape, dtype = t.dtype, grad = t.dtype == "f32", t = opts.t }
  if opts.grad ~= nil then s.grad = opts.grad end
  return s
end
local function R(shape, scale) return spec_of(hub.randn(shape) * (scale or 1)) end
local function RT(shape) return spec_of(hub.randn(shape), { t = true }) end
-- |x| >= lo, random sign
local function NZ(shape, lo)
  local x = hub.randn(shape)
  local d = flat_of(x)
  for i = 1, #d do d[i] = (d[i] < 0 and -1 or 1) * ((lo or 0.1) + math.abs(d[i])) end
  return spec_of(hub.tensor(nest(d, shape)))
end
local function P(shape) -- >= 0.5
  local x = hub.rand(shape) * 1.5 + 0.5
  return spec_of(x)
end
local function DISTINCT(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local keys = flat_of(hub.rand({ n }))
  local idx = {}
  for i = 1, n do idx[i] = i end
  table.sort(idx, function(a, b) return keys[a] < keys[b] end)
  local d = {}
  for i = 1, n do d[idx[i]] = (i - 1 - n / 2) * 0.25 + 0.01 end
  return spec_of(hub.tensor(nest(d, shape)))
end
local function IDS(tbl, dtype) return spec_of(hub.tensor(tbl, dtype or "i64")) end
local function MASK(tbl) return spec_of(hub.tensor(tbl, "bool")) end
local function CONST(t) return spec_of(t, { grad = false }) end

local function build(spec, data, grad)
  local t = hub.tensor(nest(data or spec.data, spec.shape), spec.dtype)
  if grad then t:requires_grad() end
  return t
end

local function outputs_of(r) if type(r) == "table" then return r end return { r } end

-- ---- the ops (x = the tensors the op sees) ----
local CASES = {}
local function case(name, inputs, fn) CASES[#CASES + 1] = { name = name, inputs = inputs, fn = fn } end

case("matmul_1d_1d", { R { 4 }, R { 4 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_2d_1d", { R { 3, 4 }, R { 4 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_1d_2d", { R { 4 }, R { 4, 3 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_2d_2d", { R { 3, 4 }, R { 4, 2 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_3d_3d", { R { 2, 3, 4 }, R { 2, 4, 2 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_4d_2d", { R { 2, 2, 2, 3 }, R { 3, 2 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_3d_1KN", { R { 2, 3, 4 }, R { 1, 4, 2 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_transposed", { RT { 4, 3 }, RT { 2, 4 } }, function(x) return x[1]:matmul(x[2]) end)
-- square operands: a gradient missing a transpose still has the right shape, only its values differ
case("matmul_square", { R { 4, 4 }, R { 4, 4 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_square_batched", { R { 2, 3, 3 }, R { 2, 3, 3 } }, function(x) return x[1]:matmul(x[2]) end)
case("matmul_square_transposed", { RT { 3, 3 }, R { 3, 3 } }, function(x) return x[1]:matmul(x[2]) end)
case("linear_bias", { R { 3, 4 }, R { 2, 4 }, R { 2 } }, function(x) return x[1]:linear(x[2], x[3]) end)
case("linear_nobias", { R { 3, 4 }, R { 2, 4 } }, function(x) return x[1]:linear(x[2]) end)
case("linear_3d", { R { 2, 2, 4 }, R { 3, 4 }, R { 3 } }, function(x) return x[1]:linear(x[2], x[3]) end)

case("add_broadcast", { R { 2, 1, 3 }, R { 4, 3 } }, function(x) return x[1] + x[2] end)
case("sub_broadcast", { R { 2, 1, 3 }, R { 4, 3 } }, function(x) return x[1] - x[2] end)
case("mul_broadcast", { R { 2, 1, 3 }, R { 4, 3 } }, function(x) return x[1] * x[2] end)
case("div_broadcast", { R { 2, 1, 3 }, NZ({ 4, 3 }, 0.5) }, function(x) return x[1] / x[2] end)
case("mul_strided", { RT { 4, 3 }, R { 3, 1 } }, function(x) return x[1] * x[2] end)
case("add_scalar", { R { 3, 4 } }, function(x) return x[1] + 2 end)
case("radd_scalar", { R { 3, 4 } }, function(x) return 2 + x[1] end)
case("sub_scalar", { R { 3, 4 } }, function(x) return x[1] - 2 end)
case("rsub_scalar", { R { 3, 4 } }, function(x) return 3 - x[1] end)
case("mul_scalar", { R { 3, 4 } }, function(x) return x[1] * 0.5 end)
case("div_scalar", { R { 3, 4 } }, function(x) return x[1] / 4 end)
case("rdiv_scalar", { NZ({ 3, 4 }, 0.5) }, function(x) return 2 / x[1] end)
case("pow_3", { R { 3, 4 } }, function(x) return x[1] ^ 3 end)
case("pow_0.5", { P { 3, 4 } }, function(x) return x[1] ^ 0.5 end)
case("pow_-1.5", { P { 3, 4 } }, function(x) return x[1] ^ -1.5 end)
case("neg", { R { 3, 4 } }, function(x) return -x[1] end)
case("exp", { R { 3, 4 } }, function(x) return x[1]:exp() end)
case("log", { P { 3, 4 } }, function(x) return x[1]:log() end)
case("sqrt", { P { 3, 4 } }, function(x) return x[1]:sqrt() end)
case("rsqrt", { P { 3, 4 } }, function(x) return x[1]:rsqrt() end)
case("abs", { NZ { 3, 4 } }, function(x) return x[1]:abs() end)
case("relu", { NZ { 3, 4 } }, function(x) return x[1]:relu() end)
case("tanh", { R { 3, 4 } }, function(x) return x[1]:tanh() end)
case("sigmoid", { R({ 3, 4 }, 2) }, function(x) return x[1]:sigmoid() end)
case("gelu", { R({ 3, 4 }, 2) }, function(x) return x[1]:gelu() end)
case("gelu_tanh", { R({ 3, 4 }, 2) }, function(x) return x[1]:gelu("tanh") end)
case("exp_strided", { RT { 4, 3 } }, function(x) return x[1]:exp() end)

case("sum_dim1", { R { 2, 3, 4 } }, function(x) return x[1]:sum(2) end)
case("sum_dims_keepdim", { R { 2, 3, 4 } }, function(x) return x[1]:sum({ 1, 3 }, true) end)
case("sum_all", { R { 2, 3, 4 } }, function(x) return x[1]:sum() end)
case("mean_dim-1", { R { 2, 3, 4 } }, function(x) return x[1]:mean(-1) end)
case("mean_dims", { R { 2, 3, 4 } }, function(x) return x[1]:mean({ 1, 2 }) end)
case("mean_all", { R { 2, 3, 4 } }, function(x) return x[1]:mean() end)
case("max_dim2", { DISTINCT { 3, 5 } }, function(x) local v = x[1]:max(2); return v end)
case("max_dim1_keepdim", { DISTINCT { 3, 5 } }, function(x) local v = x[1]:max(1, true); return v end)
case("max_all", { DISTINCT { 3, 4 } }, function(x) return x[1]:max() end)
case("sum_to", { R { 2, 3, 4 } }, function(x) return x[1]:sum_to({ 3, 1 }) end)

case("softmax_dim1", { R({ 3, 4 }, 2) }, function(x) return x[1]:softmax(1) end)
case("softmax_dim-1", { R({ 3, 4 }, 2) }, function(x) return x[1]:softmax(-1) end)
case("log_softmax_dim1", { R({ 3, 4 }, 2) }, function(x) return x[1]:log_softmax(1) end)
case("log_softmax_dim-1", { R({ 3, 4 }, 2) }, function(x) return x[1]:log_softmax(-1) end)
case("layer_norm_affine", { R { 2, 3, 5 }, R { 5 }, R { 5 } }, function(x) return x[1]:layer_norm(5, x[2], x[3]) end)
case("layer_norm_plain", { R { 3, 5 } }, function(x) return x[1]:layer_norm(5) end)
case("add_layer_norm", { R { 2, 3, 5 }, R { 2, 3, 5 }, R { 5 }, R { 5 } },
  function(x) return x[1]:add_layer_norm(x[2], 5, x[3], x[4]) end)
case("add_layer_norm_plain", { R { 3, 5 }, R { 3, 5 } }, function(x) return x[1]:add_layer_norm(x[2], 5) end)
case("layer_norm_2dims", { R { 2, 3, 4 }, R { 3, 4 }, R { 3, 4 } }, function(x) return x[1]:layer_norm({ 3, 4 }, x[2], x[3]) end)
case("dropout_p0", { R { 3, 4 } }, function(x) return x[1]:dropout(0, true) end)
case("dropout_eval", { R { 3, 4 } }, function(x) return x[1]:dropout(0.5, false) end)

case("embedding", { R { 5, 3 }, IDS { { 1, 3, 1 }, { 4, 0, 1 } } }, function(x) return hub.embedding(x[1], x[2]) end)
case("index_select_dim1", { R { 4, 3 }, IDS { 2, 0, 2 } }, function(x) return x[1]:index_select(1, x[2]) end)
case("index_select_dim2", { R { 4, 3 }, IDS { 1, 1, 0, 2 } }, function(x) return x[1]:index_select(2, x[2]) end)
case("masked_fill", { R { 2, 3, 4 }, MASK { { true }, { false }, { true } } },
  function(x) return x[1]:masked_fill(x[2], -1.5) end)
case("where", { MASK { { { true, false, true, false } }, { { false, false, true, true } } }, R { 3, 4 }, R { 2, 3, 1 } },
  function(x) return hub.where(x[1], x[2], x[3]) end)
-- issue 9: promotion, selection and the everyday ops
case("where_f32_i64", { MASK { { true, false, true }, { false, true, true } }, R { 2, 3 }, IDS { 7, 8, 9 } },
  function(x) return hub.where(x[1], x[2], x[3]) end)
case("where_scalar", { MASK { { true, false, true }, { false, true, true } }, R { 2, 3 } },
  function(x) return hub.where(x[1], 0.5, x[2]) end)
case("mul_f32_i64", { R { 2, 3 }, IDS { { 1, 0, 2 }, { 3, 1, 0 } } }, function(x) return x[1] * x[2] end)
case("masked_select", { R { 2, 3 }, MASK { { true, false, true }, { false, true, true } } },
  function(x) return x[1]:masked_select(x[2]) end)
case("masked_select_broadcast", { R { 3 }, MASK { { true, false, true }, { true, true, false } } },
  function(x) return x[1]:masked_select(x[2]) end)
case("clamp", { DISTINCT { 3, 4 } }, function(x) return x[1]:clamp(-0.3, 0.4) end)
case("clamp_min", { DISTINCT { 3, 4 } }, function(x) return x[1]:clamp(0.2) end)
case("min_dim2", { DISTINCT { 3, 5 } }, function(x) local v = x[1]:min(2); return v end)
case("min_all", { DISTINCT { 3, 4 } }, function(x) return x[1]:min() end)
case("pow_tensor", { P { 3, 4 }, R { 3, 4 } }, function(x) return x[1] ^ x[2] end)
case("pow_tensor_broadcast", { P { 2, 3 }, R { 3 } }, function(x) return x[1] ^ x[2] end)
case("rpow_scalar", { R { 3, 4 } }, function(x) return 2 ^ x[1] end)
-- a / b kept >= 0.05 away from integers, where fmod and remainder jump
local MA = spec_of(hub.tensor { { 1.3, -2.7, 0.4 }, { 3.9, -0.8, 2.2 } })
local MB = spec_of(hub.tensor { { 0.7, 1.1, -0.9 }, { 1.6, 0.6, -1.3 } })
case("fmod", { MA, MB }, function(x) return x[1]:fmod(x[2]) end)
case("remainder", { MA, MB }, function(x) return x[1] % x[2] end)
case("remainder_scalar", { MA }, function(x) return x[1] % 0.7 end)
case("gather_dim2", { R { 3, 4 }, IDS { { 0, 2, 2 }, { 3, 0, 1 }, { 1, 1, 0 } } },
  function(x) return x[1]:gather(2, x[2]) end)
case("gather_dim1", { R { 3, 2 }, IDS { { 2, 0 }, { 2, 2 } } }, function(x) return x[1]:gather(1, x[2]) end)
case("scatter", { R { 2, 3 }, IDS { { 2, 0 }, { 1, 2 } }, R { 2, 2 } },
  function(x) return x[1]:scatter(2, x[2], x[3]) end)
case("scatter_add", { R { 2, 3 }, IDS { { 0, 0, 2, 0 }, { 1, 1, 1, 2 } }, R { 2, 4 } },
  function(x) return x[1]:scatter_add(2, x[2], x[3]) end)
case("sort_values", { DISTINCT { 3, 4 } }, function(x) local v = x[1]:sort(2, true); return v end)
case("topk_values", { DISTINCT { 4, 3 } }, function(x) local v = x[1]:topk(2, 1); return v end)
case("cumsum_dim2", { R { 3, 4 } }, function(x) return x[1]:cumsum(2) end)
case("cumsum_dim1_strided", { RT { 4, 3 } }, function(x) return x[1]:cumsum(1) end)
case("stack_dim2", { R { 2, 3 }, R { 2, 3 } }, function(x) return hub.stack(x, 2) end)
case("concat_dim2", { R { 2, 3 }, R { 2, 1 }, RT { 2, 2 } }, function(x) return hub.concat(x, 2) end)
case("concat_dim1", { R { 1, 3 }, R { 2, 3 } }, function(x) return hub.concat(x, 1) end)
case("split_sizes", { R { 5, 4 } }, function(x) return x[1]:split({ 2, 3 }, 1) end)
case("split_equal_dim-1", { R { 3, 5 } }, function(x) return x[1]:split(2, -1) end)

case("cross_entropy", { R({ 5, 4 }, 2), IDS { 1, 0, 3, 2, 1 } }, function(x) return hub.cross_entropy(x[1], x[2]) end)
case("cross_entropy_ignore", { R({ 5, 4 }, 2), IDS { 1, 0, 3, 2, 1 } },
  function(x) return hub.cross_entropy(x[1], x[2], { ignore_index = 2 }) end)
case("cross_entropy_smoothing", { R({ 5, 4 }, 2), IDS { 1, 0, 3, 2, 1 } },
  function(x) return hub.cross_entropy(x[1], x[2], { label_smoothing = 0.1 }) end)
case("cross_entropy_ignore_smoothing", { R({ 5, 4 }, 2), IDS { 1, 0, 3, 2, 1 } },
  function(x) return hub.cross_entropy(x[1], x[2], { ignore_index = 2, label_smoothing = 0.1 }) end)
-- linear-chain CRF: emissions, transitions, start and end; padding (length 3 of 4) and a
-- transposed (strided) emissions view
case("crf_nll", { R({ 2, 4, 3 }, 1.5), IDS { { 0, 1, 2, 1 }, { 2, 0, 1, -1 } }, R { 3, 3 }, R { 3 }, R { 3 } },
  function(x) return hub.crf_nll(x[1], x[2], { 4, 3 }, x[3], x[4], x[5]) end)
case("crf_nll_strided", { RT { 2, 3, 3 }, IDS { { 1, 1, 0 }, { 2, 0, 0 } }, R { 3, 3 }, R { 3 }, R { 3 } },
  function(x) return hub.crf_nll(x[1], x[2], nil, x[3], x[4], x[5]) end)
case("mse_loss", { R { 3, 4 }, R { 3, 4 } }, function(x) return hub.mse_loss(x[1], x[2]) end)

local pad = CONST(hub.tensor { { { { 0, 0, -1e9 } } }, { { { 0, 0, 0 } } } })
case("attention_mask", { R { 2, 2, 3, 4 }, R { 2, 2, 3, 4 }, R { 2, 2, 3, 4 }, pad },
  function(x) return hub.attention(x[1], x[2], x[3], x[4]) end)
-- attention_qkv: q, k, v read in place from the packed projection [B, L, 3*H*Dh]; with dropout the
-- seed is reset before every evaluation so each one draws the same mask
local padq = CONST(hub.tensor { { { { 0, 0, -1e4 } } }, { { { 0, 0, 0 } } } })
case("attention_qkv_mask", { R { 2, 3, 12 }, padq }, function(x) return hub.attention_qkv(x[1], 2, x[2]) end)
case("attention_qkv_dropout", { R { 2, 3, 12 }, padq },
  function(x) hub.manual_seed(99); return hub.attention_qkv(x[1], 2, x[2], { dropout = 0.4 }) end)
case("attention_scale_Lq_ne_Lk", { R { 2, 3, 4 }, R { 2, 5, 4 }, R { 2, 5, 4 } },
  function(x) return hub.attention(x[1], x[2], x[3], nil, 0.5) end)

case("reshape", { R { 2, 3, 4 } }, function(x) return x[1]:reshape(4, -1) end)
case("reshape_of_transposed", { RT { 4, 3 } }, function(x) return x[1]:reshape(-1) end)
case("view", { R { 2, 3, 4 } }, function(x) return x[1]:view(6, 4) end)
case("transpose", { R { 2, 3, 4 } }, function(x) return x[1]:transpose(1, 3) end)
case("t", { R { 3, 4 } }, function(x) return x[1]:t() end)
case("permute", { R { 2, 3, 4 } }, function(x) return x[1]:permute(3, 1, 2) end)
case("narrow", { R { 4, 5 } }, function(x) return x[1]:narrow(2, 2, 3) end)
case("expand", { R { 3, 1 } }, function(x) return x[1]:expand(2, 3, 4) end)
case("squeeze", { R { 3, 1, 4, 1 } }, function(x) return x[1]:squeeze(2) end)
case("squeeze_all", { R { 3, 1, 4, 1 } }, function(x) return x[1]:squeeze() end)
case("unsqueeze", { R { 3, 4 } }, function(x) return x[1]:unsqueeze(-1) end)
case("contiguous", { RT { 4, 3 } }, function(x) return x[1]:contiguous() end)
case("clone", { R { 3, 4 } }, function(x) return x[1]:clone() end)
case("view_chain", { R { 2, 3, 4 } },
  function(x) return x[1]:permute(2, 1, 3):narrow(3, 2, 2):reshape(3, 4):unsqueeze(1):expand(2, 3, 4) end)
case("composite_mlp", { R { 3, 4 }, R { 5, 4 }, R { 5 }, IDS { 0, 4, 2 } },
  function(x) return hub.cross_entropy(x[1]:linear(x[2], x[3]):gelu():layer_norm(5), x[4]) end)

-- ---- the check ----
local function forward(c, datas, grad)
  local leaves, xs = {}, {}
  for i, s in ipairs(c.inputs) do
    leaves[i] = build(s, datas and datas[i], grad and s.grad)
    xs[i] = s.t and leaves[i]:transpose(-2, -1) or leaves[i]
  end
  return outputs_of(c.fn(xs)), leaves
end

local function loss_of(outs, ws)
  local l = 0
  for i, o in ipairs(outs) do
    local v = flat_of(o)
    for k = 1, #v do l = l + v[k] * ws[i][k] end
  end
  return l
end

local function check(c)
  -- weights: one per output, from the seeded generator
  local outs = hub.no_grad(function() return (forward(c)) end)
  local ws, wts = {}, {}
  for i, o in ipairs(outs) do
    wts[i] = hub.randn(o.shape)
    ws[i] = flat_of(wts[i])
  end
  -- analytic
  local aouts, leaves = forward(c, nil, true)
  if #aouts == 1 then
    aouts[1]:backward(wts[1])
  else
    local loss
    for i, o in ipairs(aouts) do
      local term = (o * wts[i]):sum()
      loss = loss and loss + term or term
    end
    loss:backward()
  end
  local maxerr, worst, maxratio = 0, nil, 0
  local ok = true
  for i, s in ipairs(c.inputs) do
    if s.grad then
      local g = leaves[i].grad
      if g == nil then return false, math.huge, "no gradient for input " .. i end
      local ana = flat_of(g)
      local datas = {}
      for j, sj in ipairs(c.inputs) do datas[j] = sj.data end
      for k = 1, #s.data do
        local d = {}
        for m = 1, #s.data do d[m] = s.data[m] end
        datas[i] = d
        d[k] = s.data[k] + EPS
        local lp, xp = hub.no_grad(function()
          local o, lv = forward(c, datas)
          return loss_of(o, ws), flat_of(lv[i])[k]
        end)
        d[k] = s.data[k] - EPS
        local lm, xm = hub.no_grad(function()
          local o, lv = forward(c, datas)
          return loss_of(o, ws), flat_of(lv[i])[k]
        end)
        local num = (lp - lm) / (xp - xm)
        local err = math.abs(num - ana[k])
        if err ~= err then err = math.huge end
        if err > maxerr then maxerr = err end
        local ratio = err / (ATOL + RTOL * math.abs(ana[k]))
        if ratio > maxratio then maxratio = ratio end
        if ratio > 1 then
          ok = false
          if not worst or err > worst.err then worst = { i = i, k = k, num = num, ana = ana[k], err = err } end
        end
      end
    end
  end
  if worst then
    return false, maxerr, string.format("input %d element %d: analytic %.6g, numerical %.6g", worst.i, worst.k, worst.ana, worst.num), maxratio
  end
  return ok, maxerr, nil, maxratio
end

local passed, failed, failures = 0, 0, {}
for _, c in ipairs(CASES) do
  local okcall, ok, err, msg, ratio = pcall(check, c)
  if not okcall then ok, err, msg = false, math.huge, "error: " .. tostring(ok) end
  if ok then
    passed = passed + 1
    print(string.format("ok    %-32s max err %-9.3g (%.2f of tolerance)", c.name, err, ratio))
  else
    failed = failed + 1
    failures[#failures + 1] = c.name
    print(string.format("FAIL  %-32s max err %.3g  %s", c.name, err, msg or ""))
  end
end
print(string.format("eps %g, tolerance |num - ana| <= %g + %g*|ana|", EPS, ATOL, RTOL))
if failed > 0 then print("failed: " .. table.concat(failures, ", ")) end
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
