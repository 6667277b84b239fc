-- hub.ops: the differentiable operations, as tensor methods and as hub.<op> functions.
--
-- Each wrapper checks the Lua-side arguments (types, 1-based dimensions), calls the C op and
-- turns a NULL result into a Lua error carrying the C message ("matmul: shapes [2,3] and [4,5]
-- do not match").  Numbers are accepted where PyTorch accepts scalars.
local ffi = require "ffi"
local core = require "hub.core"
local C, wrap, check, cdim, is_tensor = core.C, core.wrap, core.check, core.cdim, core.is_tensor

local T, hub = {}, {}

local function need_tensor(v, n, fname)
  if not is_tensor(v) then core.argerror(n, fname, "a tensor", type(v)) end
  return v
end

-- ---- arithmetic with scalars on either side ----
local function arith(fname, tt, ts, st)
  return function(a, b)
    if is_tensor(a) and is_tensor(b) then return wrap(tt(a, b), 2) end
    if is_tensor(a) and type(b) == "number" then return wrap(ts(a, b), 2) end
    if type(a) == "number" and is_tensor(b) then return wrap(st(b, a), 2) end
    if not is_tensor(a) then core.argerror(1, fname, "a tensor or number", type(a)) end
    core.argerror(2, fname, "a tensor or number", type(b))
  end
end
T.add = arith("add", C.hub_add, C.hub_add_scalar, C.hub_add_scalar)
T.sub = arith("sub", C.hub_sub, function(a, s) return C.hub_add_scalar(a, -s) end, C.hub_rsub_scalar)
T.mul = arith("mul", C.hub_mul, C.hub_mul_scalar, C.hub_mul_scalar)
local function isfloat(t) return C.hub_dtype_is_float(C.hub_tensor_dtype(t)) ~= 0 end
-- a / s is true division: an integer tensor divides in f32.
local function div_scalar(a, s)
  if isfloat(a) then return C.hub_mul_scalar(a, 1 / s) end
  local f = wrap(C.hub_to_dtype(a, 0), 3)
  return C.hub_mul_scalar(f, 1 / s)
end
T.div = arith("div", C.hub_div, div_scalar, C.hub_rdiv_scalar)

-- A number operand next to tensor t, as a 0-d tensor of the dtype PyTorch gives a Python scalar
-- there (i64 stays i64 for an integral number; see hub_scalar_for).
local function scalar_for(t, s) return wrap(C.hub_scalar_for(t, s), 3) end
-- Binary op on tensors, numbers on either side turned into 0-d tensors.
local function tensor_op(fname, f)
  return function(a, b)
    if type(a) == "number" and is_tensor(b) then a = scalar_for(b, a)
    elseif type(b) == "number" and is_tensor(a) then b = scalar_for(a, b) end
    if not is_tensor(a) then core.argerror(1, fname, "a tensor or number", type(a)) end
    if not is_tensor(b) then core.argerror(2, fname, "a tensor or number", type(b)) end
    return wrap(f(a, b), 2)
  end
end

-- x ^ p: p a number or a tensor; 2 ^ x as well.
function T.pow(a, p)
  if is_tensor(a) and type(p) == "number" then return wrap(C.hub_pow(a, p), 2) end
  if is_tensor(a) and is_tensor(p) then return wrap(C.hub_pow_tensor(a, p), 2) end
  if type(a) == "number" and is_tensor(p) then return wrap(C.hub_rpow_scalar(p, a), 2) end
  if not is_tensor(a) then core.argerror(1, "pow", "a tensor or number", type(a)) end
  core.argerror(2, "pow", "a tensor or number exponent", type(p))
end
T.fmod = tensor_op("fmod", C.hub_fmod)
T.remainder = tensor_op("remainder", C.hub_remainder)

-- ---- comparisons and logic: bool tensors ----
for _, name in ipairs { "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or" } do
  T[name] = tensor_op(name, C["hub_" .. name])
end
function T.logical_not(a) return wrap(C.hub_logical_not(need_tensor(a, 1, "logical_not")), 2) end

-- ---- in place (not recorded): the result is converted to the tensor's own dtype ----
local function assign_result(fname, a, r)
  if not isfloat(a) and isfloat(r) then
    core.raise(string.format("%s: the result (f32) cannot be stored in place in a %s tensor", fname,
      ffi.string(C.hub_dtype_name(C.hub_tensor_dtype(a)))))
  end
  check(C.hub_copy_(a, r), 3)
  return a
end
local function inplace(fname, op)
  return function(a, b)
    need_tensor(a, 1, fname)
    if not is_tensor(b) and type(b) ~= "number" then core.argerror(2, fname, "a tensor or number", type(b)) end
    local prev = C.hub_set_grad_enabled(0)
    local ok, r = pcall(op, a, b)
    C.hub_set_grad_enabled(prev)
    if not ok then core.raise(r) end
    return assign_result(fname, a, r)
  end
end
-- add_(b, alpha): a += alpha * b; b a tensor or a number.
local add_any = inplace("add_", T.add)
function T.add_(a, b, alpha)
  if is_tensor(b) and is_tensor(a) and isfloat(a) then
    check(C.hub_add_(a, b, alpha or 1), 2)
    return a
  end
  if alpha ~= nil and alpha ~= 1 then b = T.mul(b, alpha) end
  return add_any(a, b)
end
T.sub_ = inplace("sub_", T.sub)
T.mul_ = inplace("mul_", T.mul)
T.div_ = inplace("div_", T.div)
T.pow_ = inplace("pow_", T.pow)
function T.clamp_(a, lo, hi) return assign_result("clamp_", a, T.clamp(a, lo, hi)) end

for _, name in ipairs { "neg", "exp", "log", "sqrt", "rsqrt", "abs", "relu", "tanh", "sigmoid",
                        "sign", "floor", "ceil", "round" } do
  local f = C["hub_" .. name]
  T[name] = function(a) return wrap(f(need_tensor(a, 1, name)), 2) end
end
-- gelu(x) uses erf; gelu(x, "tanh") the tanh approximation (PyTorch's approximate='tanh').
function T.gelu(a, approximate)
  local ap = 0
  if approximate == "tanh" or approximate == true then ap = 1
  elseif approximate ~= nil and approximate ~= "none" and approximate ~= false then
    core.argerror(2, "gelu", "'none' or 'tanh'", tostring(approximate))
  end
  return wrap(C.hub_gelu(need_tensor(a, 1, "gelu"), ap), 2)
end

-- ---- products ----
function T.matmul(a, b) return wrap(C.hub_matmul(need_tensor(a, 1, "matmul"), need_tensor(b, 2, "matmul")), 2) end
-- linear(x, weight[out, in], bias?)
function T.linear(x, w, b)
  if b ~= nil then need_tensor(b, 3, "linear") end
  return wrap(C.hub_linear(need_tensor(x, 1, "linear"), need_tensor(w, 2, "linear"), b), 2)
end
-- linear_act(x, weight, bias?, act): act(x w^T + b), act = "relu" | "tanh" | "gelu" | "gelu_tanh";
-- fused into the product when no gradient is recorded.
function T.linear_act(x, w, b, act)
  if b ~= nil then need_tensor(b, 3, "linear_act") end
  if type(act) ~= "string" then core.argerror(4, "linear_act", "an activation name", type(act)) end
  return wrap(C.hub_linear_act(need_tensor(x, 1, "linear_act"), need_tensor(w, 2, "linear_act"), b, act), 2)
end

-- ---- reductions ----
local function dims_arg(d, fname)
  if d == nil then return 0, nil end
  if type(d) == "number" then d = { d } end
  if type(d) ~= "table" then core.argerror(2, fname, "a dimension or a table of dimensions", type(d)) end
  local a = ffi.new("int[8]")
  if #d > 8 then core.raise(fname .. ": too many dimensions") end
  for i = 1, #d do a[i - 1] = cdim(d[i], fname, 2) end
  return #d, a
end
-- sum(), sum(dim), sum({d1, d2}, keepdim)
function T.sum(a, d, keepdim)
  local n, dims = dims_arg(d, "sum")
  return wrap(C.hub_sum(need_tensor(a, 1, "sum"), n, dims, keepdim and 1 or 0), 2)
end
function T.mean(a, d, keepdim)
  local n, dims = dims_arg(d, "mean")
  return wrap(C.hub_mean(need_tensor(a, 1, "mean"), n, dims, keepdim and 1 or 0), 2)
end
-- max() of all elements; max(dim, keepdim) returns values and 0-based indices.
function T.max(a, d, keepdim)
  need_tensor(a, 1, "max")
  if d == nil then
    local flat = wrap(C.hub_reshape(a, 1, ffi.new("int64_t[1]", -1)), 2)
    return wrap(C.hub_max(flat, 0, 0), 2)
  end
  local cd = cdim(d, "max", 2)
  return wrap(C.hub_max(a, cd, keepdim and 1 or 0), 2), wrap(C.hub_argmax(a, cd, keepdim and 1 or 0), 2)
end
-- min() of all elements; min(dim, keepdim) returns values and 0-based indices.
function T.min(a, d, keepdim)
  need_tensor(a, 1, "min")
  if d == nil then
    local flat = wrap(C.hub_reshape(a, 1, ffi.new("int64_t[1]", -1)), 2)
    return wrap(C.hub_min(flat, 0, 0), 2)
  end
  local cd = cdim(d, "min", 2)
  return wrap(C.hub_min(a, cd, keepdim and 1 or 0), 2), wrap(C.hub_argmin(a, cd, keepdim and 1 or 0), 2)
end
function T.argmin(a, d, keepdim)
  need_tensor(a, 1, "argmin")
  if d == nil then
    local flat = wrap(C.hub_reshape(a, 1, ffi.new("int64_t[1]", -1)), 2)
    return wrap(C.hub_argmin(flat, 0, 0), 2)
  end
  return wrap(C.hub_argmin(a, cdim(d, "argmin", 2), keepdim and 1 or 0), 2)
end
-- any() / all() of all elements, or over dims (a number or a table), as bool tensors.
function T.any(a, d, keepdim)
  local n, dims = dims_arg(d, "any")
  return wrap(C.hub_any(need_tensor(a, 1, "any"), n, dims, keepdim and 1 or 0), 2)
end
function T.all(a, d, keepdim)
  local n, dims = dims_arg(d, "all")
  return wrap(C.hub_all(need_tensor(a, 1, "all"), n, dims, keepdim and 1 or 0), 2)
end
-- clamp(x, min, max): either bound may be nil (none).
function T.clamp(a, lo, hi)
  need_tensor(a, 1, "clamp")
  if lo ~= nil and type(lo) ~= "number" then core.argerror(2, "clamp", "a number or nil", type(lo)) end
  if hi ~= nil and type(hi) ~= "number" then core.argerror(3, "clamp", "a number or nil", type(hi)) end
  if lo == nil and hi == nil then core.raise("clamp: at least one of min and max must be given") end
  return wrap(C.hub_clamp(a, lo or -math.huge, hi or math.huge), 2)
end
T.clip = T.clamp
function T.argmax(a, d, keepdim)
  need_tensor(a, 1, "argmax")
  if d == nil then
    local flat = wrap(C.hub_reshape(a, 1, ffi.new("int64_t[1]", -1)), 2)
    return wrap(C.hub_argmax(flat, 0, 0), 2)
  end
  return wrap(C.hub_argmax(a, cdim(d, "argmax", 2), keepdim and 1 or 0), 2)
end
function T.sum_to(a, shape)
  local n, s = core.shape_arg(shape, "sum_to", 2)
  return wrap(C.hub_sum_to(need_tensor(a, 1, "sum_to"), n, s), 2)
end

-- ---- normalisation, activations over a dim ----
function T.softmax(a, d) return wrap(C.hub_softmax(need_tensor(a, 1, "softmax"), cdim(d or -1, "softmax", 2)), 2) end
function T.log_softmax(a, d)
  return wrap(C.hub_log_softmax(need_tensor(a, 1, "log_softmax"), cdim(d or -1, "log_softmax", 2)), 2)
end
-- The number of normalized dimensions of x given a size or a shape table (checked against x).
local function normalized_ndim(x, normalized, op, argn)
  local nd = type(normalized) == "table" and #normalized or 1
  if type(normalized) == "table" then
    for i = 1, nd do
      local xs = tonumber(C.hub_tensor_size(x, C.hub_tensor_ndim(x) - nd + i - 1))
      if C.hub_tensor_ndim(x) < nd or xs ~= normalized[i] then
        core.raise(string.format("%s: normalized shape {%s} does not match the last dimensions of the input", op, table.concat(normalized, ",")))
      end
    end
  elseif type(normalized) == "number" then
    if C.hub_tensor_ndim(x) < 1 or tonumber(C.hub_tensor_size(x, C.hub_tensor_ndim(x) - 1)) ~= normalized then
      core.raise(string.format("%s: normalized size %d does not match the last dimension of the input", op, normalized))
    end
  elseif normalized ~= nil then
    core.argerror(argn, op, "a size or a shape table", type(normalized))
  end
  return nd
end
-- layer_norm(x, normalized_shape (number or table), weight?, bias?, eps=1e-5)
function T.layer_norm(x, normalized, w, b, eps)
  need_tensor(x, 1, "layer_norm")
  local nd = normalized_ndim(x, normalized, "layer_norm", 2)
  if w ~= nil then need_tensor(w, 3, "layer_norm") end
  if b ~= nil then need_tensor(b, 4, "layer_norm") end
  return wrap(C.hub_layer_norm(x, nd, w, b, eps or 1e-5), 2)
end
-- add_layer_norm(x, r, normalized_shape, weight?, bias?, eps=1e-5) = layer_norm(x + r, ...): the
-- residual add of a post-LN transformer fused into the normalisation.
function T.add_layer_norm(x, r, normalized, w, b, eps)
  need_tensor(x, 1, "add_layer_norm")
  need_tensor(r, 2, "add_layer_norm")
  local nd = normalized_ndim(x, normalized, "add_layer_norm", 3)
  if w ~= nil then need_tensor(w, 4, "add_layer_norm") end
  if b ~= nil then need_tensor(b, 5, "add_layer_norm") end
  return wrap(C.hub_add_layer_norm(x, r, nd, w, b, eps or 1e-5), 2)
end
function T.dropout(x, p, train)
  if train == nil then train = true end
  return wrap(C.hub_dropout(need_tensor(x, 1, "dropout"), p or 0.5, train and 1 or 0), 2)
end

-- ---- indexing ----
-- embedding(weight, ids, {padding_idx = i}?): rows of weight at the 0-based ids; row padding_idx
-- (0-based) gets no gradient.
function hub.embedding(w, ids, opts)
  local pad = -1
  if opts ~= nil then
    core.check_options(opts, { padding_idx = "number" }, "embedding", 3)
    if opts.padding_idx ~= nil then
      pad = opts.padding_idx
      if type(pad) ~= "number" or pad < 0 or pad % 1 ~= 0 then
        core.argerror(3, "embedding", "padding_idx as an integer >= 0", tostring(pad))
      end
    end
  end
  return wrap(C.hub_embedding_padded(need_tensor(w, 1, "embedding"), need_tensor(ids, 2, "embedding"), pad), 2)
end
function T.index_select(a, d, idx)
  return wrap(C.hub_index_select(need_tensor(a, 1, "index_select"), cdim(d, "index_select", 2),
    need_tensor(idx, 3, "index_select")), 2)
end
function T.masked_fill(a, mask, value)
  if type(value) ~= "number" then core.argerror(3, "masked_fill", "a number", type(value)) end
  return wrap(C.hub_masked_fill(need_tensor(a, 1, "masked_fill"), need_tensor(mask, 2, "masked_fill"), value), 2)
end
-- where(cond, a, b): a and b tensors or numbers (a number takes the other operand's dtype rule).
function hub.where(cond, a, b)
  need_tensor(cond, 1, "where")
  if type(a) == "number" and type(b) == "number" then
    a = wrap(C.hub_full(0, nil, a, 0), 2)
  end
  if type(a) == "number" and is_tensor(b) then a = scalar_for(b, a) end
  if type(b) == "number" and is_tensor(a) then b = scalar_for(a, b) end
  return wrap(C.hub_where(cond, need_tensor(a, 2, "where"), need_tensor(b, 3, "where")), 2)
end
function T.masked_select(a, mask)
  return wrap(C.hub_masked_select(need_tensor(a, 1, "masked_select"), need_tensor(mask, 2, "masked_select")), 2)
end
-- gather(d, index): out[i][j] = t[i][index[i][j]] (d = 2), index 0-based of t's rank.
function T.gather(a, d, idx)
  return wrap(C.hub_gather(need_tensor(a, 1, "gather"), cdim(d, "gather", 2), need_tensor(idx, 3, "gather")), 2)
end
-- scatter(d, index, src): a copy of t with t[i][index[i][j]] = src[i][j] (d = 2); src a tensor or
-- a number.  scatter_add adds (duplicate positions accumulate).
local function scatter_src(a, idx, src, fname)
  if type(src) == "number" then
    local shape = ffi.new("int64_t[8]")
    local nd = C.hub_tensor_ndim(idx)
    for i = 0, nd - 1 do shape[i] = C.hub_tensor_size(idx, i) end
    return wrap(C.hub_full(nd, shape, src, C.hub_tensor_dtype(a)), 3)
  end
  return need_tensor(src, 4, fname)
end
function T.scatter(a, d, idx, src)
  need_tensor(a, 1, "scatter"); need_tensor(idx, 3, "scatter")
  return wrap(C.hub_scatter(a, cdim(d, "scatter", 2), idx, scatter_src(a, idx, src, "scatter")), 2)
end
function T.scatter_add(a, d, idx, src)
  need_tensor(a, 1, "scatter_add"); need_tensor(idx, 3, "scatter_add")
  return wrap(C.hub_scatter_add(a, cdim(d, "scatter_add", 2), idx, scatter_src(a, idx, src, "scatter_add")), 2)
end
-- sort(d = -1, descending = false) -> values, 0-based positions (i64); argsort the positions.
function T.sort(a, d, descending)
  need_tensor(a, 1, "sort")
  local v, i = ffi.new("hub_tensor *[1]"), ffi.new("hub_tensor *[1]")
  check(C.hub_sort(a, cdim(d or -1, "sort", 2), descending and 1 or 0, v, i), 2)
  return wrap(v[0], 2), wrap(i[0], 2)
end
function T.argsort(a, d, descending)
  return wrap(C.hub_argsort(need_tensor(a, 1, "argsort"), cdim(d or -1, "argsort", 2), descending and 1 or 0), 2)
end
-- topk(k, d = -1, largest = true) -> values, 0-based positions, sorted.
function T.topk(a, k, d, largest)
  need_tensor(a, 1, "topk")
  if type(k) ~= "number" or k < 0 or k % 1 ~= 0 then core.argerror(2, "topk", "an integer k >= 0", tostring(k)) end
  if largest == nil then largest = true end
  local v, i = ffi.new("hub_tensor *[1]"), ffi.new("hub_tensor *[1]")
  check(C.hub_topk(a, k, cdim(d or -1, "topk", 3), largest and 1 or 0, v, i), 2)
  return wrap(v[0], 2), wrap(i[0], 2)
end
function T.cumsum(a, d)
  return wrap(C.hub_cumsum(need_tensor(a, 1, "cumsum"), cdim(d, "cumsum", 2)), 2)
end
-- stack({t1, t2, ...}, dim=1): a new dimension at dim (1 .. ndim+1; -1 is a new last one).
function hub.stack(ts, d)
  if type(ts) ~= "table" then core.argerror(1, "stack", "a table of tensors", type(ts)) end
  local n = #ts
  if n == 0 then core.raise("stack: expected at least one tensor") end
  local arr = ffi.new("hub_tensor *[?]", n)
  for i = 1, n do
    if not is_tensor(ts[i]) then core.raise(string.format("bad argument #1 to 'stack' (element %d is %s, expected a tensor)", i, type(ts[i]))) end
    arr[i - 1] = ts[i]
  end
  return wrap(C.hub_stack(n, arr, cdim(d or 1, "stack", 2)), 2)
end
-- concat({t1, t2, ...}, dim=1)
function hub.concat(ts, d)
  if type(ts) ~= "table" then core.argerror(1, "concat", "a table of tensors", type(ts)) end
  local n = #ts
  if n == 0 then core.raise("concat: expected at least one tensor") end
  local arr = ffi.new("hub_tensor *[?]", n)
  for i = 1, n do
    if not is_tensor(ts[i]) then core.raise(string.format("bad argument #1 to 'concat' (element %d is %s, expected a tensor)", i, type(ts[i]))) end
    arr[i - 1] = ts[i]
  end
  return wrap(C.hub_concat(n, arr, cdim(d or 1, "concat", 2)), 2)
end
hub.cat = hub.concat
-- split(t, size_or_sizes, dim=1): a table of tensors (a number = equal pieces, the last smaller).
function T.split(a, sizes, d)
  need_tensor(a, 1, "split")
  local cd = cdim(d or 1, "split", 3)
  local nd = cd < 0 and cd + C.hub_tensor_ndim(a) or cd
  if nd < 0 or nd >= C.hub_tensor_ndim(a) then core.raise(string.format("split: dimension %d out of range for a %d-d tensor", d or 1, C.hub_tensor_ndim(a))) end
  local total = tonumber(C.hub_tensor_size(a, nd))
  local list = {}
  if type(sizes) == "number" then
    if sizes <= 0 then core.raise("split: size must be positive") end
    local left = total
    while left > 0 do list[#list + 1] = math.min(sizes, left); left = left - sizes end
  elseif type(sizes) == "table" then
    list = sizes
  else
    core.argerror(2, "split", "a size or a table of sizes", type(sizes))
  end
  local n = #list
  local s = ffi.new("int64_t[?]", n > 0 and n or 1)
  for i = 1, n do s[i - 1] = list[i] end
  local out = ffi.new("hub_tensor *[?]", n > 0 and n or 1)
  check(C.hub_split(a, cd, n, s, out), 2)
  local r = {}
  for i = 1, n do r[i] = core.wrap(out[i - 1]) end
  return r
end

-- ---- losses ----
-- cross_entropy(logits, target, {ignore_index = -100, label_smoothing = 0})
function hub.cross_entropy(logits, target, opts)
  opts = core.check_options(opts, { ignore_index = "integer", label_smoothing = "number" }, "cross_entropy", 3)
  return wrap(C.hub_cross_entropy(need_tensor(logits, 1, "cross_entropy"), need_tensor(target, 2, "cross_entropy"),
    opts.ignore_index or -100, opts.label_smoothing or 0), 2)
end
function hub.mse_loss(a, b) return wrap(C.hub_mse_loss(need_tensor(a, 1, "mse_loss"), need_tensor(b, 2, "mse_loss")), 2) end

-- ---- linear-chain CRF ----
-- The sequence lengths argument of the CRF functions: nil (every position counts), lengths [B]
-- (a tensor or a Lua array of integers) or a mask [B, L] (ones first in each row, then zeros).
local function crf_lengths(v, n, fname)
  if v == nil then return nil, nil end
  if type(v) == "table" and not is_tensor(v) then
    for i = 1, #v do
      if type(v[i]) ~= "number" then core.argerror(n, fname, "lengths as integers", type(v[i])) end
    end
    v = require("hub.tensor").hub.tensor(v, "i64")
  end
  if not is_tensor(v) then core.argerror(n, fname, "lengths [B] or a mask [B, L]", type(v)) end
  if C.hub_tensor_ndim(v) == 2 then return nil, v end
  return v, nil
end
-- crf_nll(emissions [B, L, C], tags [B, L], lengths_or_mask, transitions [C, C], start [C],
-- end [C]): the negative log-likelihood of each sequence's tags, [B].
function hub.crf_nll(em, tags, lm, tr, st, en)
  local len, mask = crf_lengths(lm, 3, "crf_nll")
  return wrap(C.hub_crf_nll(need_tensor(em, 1, "crf_nll"), need_tensor(tags, 2, "crf_nll"), len, mask,
    need_tensor(tr, 4, "crf_nll"), need_tensor(st, 5, "crf_nll"), need_tensor(en, 6, "crf_nll")), 2)
end
-- crf_decode(emissions [B, L, C], lengths_or_mask, transitions, start, end): the Viterbi path,
-- [B, L] i64 tag ids, -1 at padded positions.
function hub.crf_decode(em, lm, tr, st, en)
  local len, mask = crf_lengths(lm, 2, "crf_decode")
  return wrap(C.hub_crf_viterbi(need_tensor(em, 1, "crf_decode"), len, mask, need_tensor(tr, 3, "crf_decode"),
    need_tensor(st, 4, "crf_decode"), need_tensor(en, 5, "crf_decode")), 2)
end

-- ---- attention ----
-- attention(q, k, v, mask?, scale?): softmax(q k^T * scale + mask) v
function hub.attention(q, k, v, mask, scale)
  if mask ~= nil then need_tensor(mask, 4, "attention") end
  return wrap(C.hub_attention(need_tensor(q, 1, "attention"), need_tensor(k, 2, "attention"),
    need_tensor(v, 3, "attention"), mask, scale or 0), 2)
end
hub.scaled_dot_product_attention = hub.attention
-- attention_qkv(qkv, heads, mask?, {scale =, dropout =}): multi-head self-attention on a packed
-- projection qkv [B, L, 3*D] ([3, heads, D/heads] per token) -> context [B, L, D], heads merged;
-- dropout (default 0) on the probabilities inside the fused kernel.
function hub.attention_qkv(qkv, heads, mask, opts)
  need_tensor(qkv, 1, "attention_qkv")
  if type(heads) ~= "number" or heads < 1 or heads % 1 ~= 0 then
    core.argerror(2, "attention_qkv", "a positive integer number of heads", tostring(heads))
  end
  if mask ~= nil then need_tensor(mask, 3, "attention_qkv") end
  opts = core.check_options(opts, { scale = "number", dropout = "number" }, "attention_qkv", 4)
  return wrap(C.hub_attention_qkv(qkv, mask, heads, opts.scale or 0, opts.dropout or 0), 2)
end

-- Every method is also a function hub.<op>(t, ...), and every function taking a tensor first is a method.
for k, f in pairs(T) do hub[k] = f end
T.embedding = nil
T.cross_entropy = function(logits, target, opts) return hub.cross_entropy(logits, target, opts) end
T.mse_loss = hub.mse_loss
T.masked_fill = T.masked_fill
T.attention = hub.attention
T.where = function(a, cond, b) return hub.where(cond, a, b) end -- x:where(cond, y), as torch

return { methods = T, hub = hub }
