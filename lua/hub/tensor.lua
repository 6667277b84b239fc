-- hub.tensor: the Lua face of a C tensor — constructors, properties, views, copies, printing.
--
-- A tensor is a `hub_tensor *` cdata with a metatype: methods and properties are looked up by
-- __index, operators map to ops (+ - * / ^ and unary minus, with numbers on either side).
-- Dimensions and positions given from Lua are 1-based (negative count from the end); ids stored
-- in tensors are 0-based (see docs/tensor.md).  Op methods are added by hub.ops.
local ffi = require "ffi"
local core = require "hub.core"
local C, wrap, wrap_opt, check, cdim = core.C, core.wrap, core.wrap_opt, core.check, core.cdim
local is_tensor = core.is_tensor

local T = {}          -- methods
local props = {}      -- computed properties: t.shape, C.hub_tensor_dtype(t), ...
local hub = {}        -- constructors and functions exported to the hub table

local dtype_names = { [0] = "f32", "f16", "bf16", "i32", "i64", "u8", "bool", "f64" }
local F32, I64 = 0, 4

-- ---- properties ----
-- Shape tables print as [2, 3] (tostring(x.shape), the REPL, string concatenation via tostring).
local shape_mt = { __tostring = function(s) return "[" .. table.concat(s, ", ") .. "]" end }
function props.shape(t)
  local s = {}
  for i = 0, C.hub_tensor_ndim(t) - 1 do s[i + 1] = tonumber(C.hub_tensor_size(t, i)) end
  return setmetatable(s, shape_mt)
end
function props.dtype(t) return dtype_names[C.hub_tensor_dtype(t)] end
-- t:type() is the dtype string, as t.dtype.
function T.type(t) return dtype_names[C.hub_tensor_dtype(t)] end
function props.device(t) return ffi.string(C.hub_device_name(C.hub_tensor_device(t))) end
function props.grad(t) return wrap_opt(C.hub_tensor_grad(t)) end
function props.grad_fn(t)
  local n = C.hub_tensor_grad_fn_name(t)
  return n ~= nil and ffi.string(n) or nil
end
function props.is_leaf(t) return t.grad_fn == nil end

function T.dim(t) return C.hub_tensor_ndim(t) end
function T.numel(t) return tonumber(C.hub_tensor_numel(t)) end
function T.size(t, d)
  if d == nil then return props.shape(t) end
  local cd = cdim(d, "size")
  if cd < 0 then cd = cd + C.hub_tensor_ndim(t) end
  if cd < 0 or cd >= C.hub_tensor_ndim(t) then core.raise(string.format("size: dimension %d out of range for a %d-d tensor", d, C.hub_tensor_ndim(t))) end
  return tonumber(C.hub_tensor_size(t, cd))
end
function T.is_contiguous(t) return C.hub_tensor_is_contiguous(t) ~= 0 end

function T.item(t)
  local n = tonumber(C.hub_tensor_numel(t))
  if n ~= 1 then core.raise(string.format("item: the tensor has %d elements (item() needs exactly one)", n)) end
  local v
  if C.hub_tensor_device(t) == 0 then v = C.hub_tensor_get(t, 0)
  else -- a device tensor: one element through a host copy
    local buf = ffi.new("double[1]")
    check(C.hub_tensor_read(t, buf, -1), 2)
    v = buf[0]
  end
  if C.hub_tensor_dtype(t) == 6 then return v ~= 0 end
  return v
end

function T.totable(t)
  local n = tonumber(C.hub_tensor_numel(t))
  local buf = ffi.new("double[?]", n > 0 and n or 1)
  check(C.hub_tensor_read(t, buf, -1), 2)
  local isbool = C.hub_tensor_dtype(t) == 6
  local function conv(v) if isbool then return v ~= 0 end return v end
  if C.hub_tensor_ndim(t) == 0 then return conv(buf[0]) end
  local shape, k = props.shape(t), 0
  local function build(d)
    local r = {}
    for i = 1, shape[d] do
      if d == #shape then r[i] = conv(buf[k]); k = k + 1 else r[i] = build(d + 1) end
    end
    return r
  end
  return build(1)
end

-- ---- autograd ----
function T.requires_grad(t, on)
  if on == nil then on = true end
  check(C.hub_tensor_set_requires_grad(t, on and 1 or 0), 2)
  return t
end
function T.backward(t, grad)
  if grad ~= nil and not is_tensor(grad) then core.argerror(1, "backward", "a tensor or nil", type(grad)) end
  check(C.hub_backward(t, grad), 2)
end
function T.zero_grad(t) C.hub_tensor_zero_grad(t) return t end
function T.detach(t) return wrap(C.hub_detach(t), 2) end

-- ---- views and copies ----
local function shape_from_args(fname, ...)
  local a = ...
  if type(a) == "table" then return core.shape_arg(a, fname, 1) end
  return core.shape_arg({ ... }, fname, 1)
end
function T.reshape(t, ...) local n, s = shape_from_args("reshape", ...); return wrap(C.hub_reshape(t, n, s), 2) end
function T.view(t, ...) local n, s = shape_from_args("view", ...); return wrap(C.hub_view(t, n, s), 2) end
function T.expand(t, ...) local n, s = shape_from_args("expand", ...); return wrap(C.hub_expand(t, n, s), 2) end
function T.transpose(t, d0, d1)
  return wrap(C.hub_transpose(t, cdim(d0, "transpose", 1), cdim(d1, "transpose", 2)), 2)
end
function T.t(t)
  if C.hub_tensor_ndim(t) ~= 2 then core.raise(string.format("t: expected a 2-d tensor, got %d-d (use transpose)", C.hub_tensor_ndim(t))) end
  return wrap(C.hub_transpose(t, 0, 1), 2)
end
function T.permute(t, ...)
  local p = ...
  if type(p) ~= "table" then p = { ... } end
  if #p ~= C.hub_tensor_ndim(t) then core.raise(string.format("permute: %d dimensions given for a %d-d tensor", #p, C.hub_tensor_ndim(t))) end
  local a = ffi.new("int[8]")
  for i = 1, #p do a[i - 1] = cdim(p[i], "permute", 1) end
  return wrap(C.hub_permute(t, a), 2)
end
function T.narrow(t, d, start, len)
  if type(start) ~= "number" or type(len) ~= "number" then core.argerror(2, "narrow", "start and length numbers", type(start)) end
  local cd = cdim(d, "narrow", 1)
  if start < 0 then
    local nd = cd < 0 and cd + C.hub_tensor_ndim(t) or cd
    start = (nd >= 0 and nd < C.hub_tensor_ndim(t)) and tonumber(C.hub_tensor_size(t, nd)) + start + 1 or start
  end
  if start < 1 then core.raise(string.format("narrow: start %d is not valid (positions are 1-based)", start)) end
  return wrap(C.hub_narrow(t, cd, start - 1, len), 2)
end
T.slice = T.narrow
function T.select(t, d, i)
  local v = T.narrow(t, d, i, 1)
  return wrap(C.hub_squeeze(v, cdim(d, "select", 1)), 2)
end
function T.squeeze(t, d) return wrap(C.hub_squeeze(t, d == nil and -100 or cdim(d, "squeeze", 1)), 2) end
function T.unsqueeze(t, d)
  if type(d) ~= "number" then core.argerror(1, "unsqueeze", "a dimension", type(d)) end
  -- for unsqueeze, -1 means "after the last": dims range over ndim+1 positions
  return wrap(C.hub_unsqueeze(t, cdim(d, "unsqueeze", 1)), 2)
end
function T.contiguous(t) return wrap(C.hub_contiguous(t), 2) end
function T.clone(t) return wrap(C.hub_clone(t), 2) end
function T.to(t, what)
  if type(what) ~= "string" then core.argerror(1, "to", "a dtype or device string", type(what)) end
  if what == "cpu" or what == "cuda" then
    return wrap(C.hub_to_device(t, C.hub_device_from_name(what)), 2)
  end
  return wrap(C.hub_to_dtype(t, core.dtype(what, nil, "to")), 2)
end
-- t:cuda() / t:cpu(): t:to("cuda") / t:to("cpu") (docs/cuda.md).
function T.cuda(t) return T.to(t, "cuda") end
function T.cpu(t) return T.to(t, "cpu") end
function T.float(t) return T.to(t, "f32") end
function T.long(t) return T.to(t, "i64") end
function T.copy_(t, src)
  if not is_tensor(src) then core.argerror(1, "copy_", "a tensor", type(src)) end
  if C.hub_tensor_device(src) ~= C.hub_tensor_device(t) then -- across devices, as torch's copy_
    src = T.to(T.detach(src), props.device(t))
  end
  check(C.hub_copy_(t, src), 2)
  return t
end
function T.fill_(t, v)
  if type(v) ~= "number" then core.argerror(1, "fill_", "a number", type(v)) end
  check(C.hub_fill_(t, v), 2)
  return t
end
function T.zero_(t) return T.fill_(t, 0) end

-- ---- printing ----
local function fmt_number(v, isfloat)
  if not isfloat then return string.format("%d", v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
  local a = math.abs(v)
  if a ~= 0 and (a >= 1e5 or a < 1e-4) then return string.format("%.4e", v) end
  return string.format("%.4f", v)
end

-- Values of t as text, eliding the middle of long dimensions (edge items kept) when large.
function T.format(t, opts)
  opts = core.check_options(opts, { threshold = "number", edgeitems = "integer" }, "format", 2)
  local n = tonumber(C.hub_tensor_numel(t))
  local shape = props.shape(t)
  local header = string.format("tensor(shape=[%s], dtype=%s", table.concat(shape, ","), dtype_names[C.hub_tensor_dtype(t)])
  if C.hub_tensor_device(t) ~= 0 then header = header .. ", device=" .. props.device(t) end
  local gf = props.grad_fn(t)
  if gf then header = header .. ", grad_fn=" .. gf elseif C.hub_tensor_requires_grad(t) ~= 0 then header = header .. ", requires_grad" end
  header = header .. ")"
  if C.hub_tensor_device(t) ~= 0 then t = T.to(T.detach(t), "cpu") end -- the values through a host copy
  local isfloat = C.hub_dtype_is_float(C.hub_tensor_dtype(t)) ~= 0
  local isbool = C.hub_tensor_dtype(t) == 6
  local elide = n > (opts.threshold or 1000)
  local edge = opts.edgeitems or 3
  local function val(i) -- i: linear index
    local v = C.hub_tensor_get(t, i)
    if isbool then return v ~= 0 and "true" or "false" end
    return fmt_number(v, isfloat)
  end
  if C.hub_tensor_ndim(t) == 0 then return val(0) .. "\n" .. header end
  local strides = {}
  local s = 1
  for d = #shape, 1, -1 do strides[d] = s; s = s * shape[d] end
  local width = 0
  -- first pass to find the width of printed numbers (only printed ones)
  local cells = {}
  local function walk(d, base, out)
    local size = shape[d]
    local idx = {}
    if elide and size > 2 * edge then
      for i = 1, edge do idx[#idx + 1] = i end
      idx[#idx + 1] = false
      for i = size - edge + 1, size do idx[#idx + 1] = i end
    else
      for i = 1, size do idx[#idx + 1] = i end
    end
    for _, i in ipairs(idx) do
      if i and d == #shape then
        local str = val(base + (i - 1) * strides[d])
        if #str > width then width = #str end
        cells[#cells + 1] = str
      elseif i then
        walk(d + 1, base + (i - 1) * strides[d])
      end
    end
  end
  walk(1, 0)
  local k = 0
  local function render(d, base, indent)
    local size = shape[d]
    local parts = {}
    local idx = {}
    if elide and size > 2 * edge then
      for i = 1, edge do idx[#idx + 1] = i end
      idx[#idx + 1] = false
      for i = size - edge + 1, size do idx[#idx + 1] = i end
    else
      for i = 1, size do idx[#idx + 1] = i end
    end
    for _, i in ipairs(idx) do
      if not i then
        parts[#parts + 1] = "..."
      elseif d == #shape then
        k = k + 1
        parts[#parts + 1] = string.rep(" ", width - #cells[k]) .. cells[k]
      else
        parts[#parts + 1] = render(d + 1, base + (i - 1) * strides[d], indent .. " ")
      end
    end
    if d == #shape then return "[" .. table.concat(parts, ", ") .. "]" end
    local sep = "," .. string.rep("\n", #shape - d) .. indent .. " "
    return "[" .. table.concat(parts, sep) .. "]"
  end
  return render(1, 0, "") .. "\n" .. header
end

-- ---- metatype ----
local mt = {}
-- t[i] is t:select(1, i): 1-based, negative from the end.
local function index_first(t, i, what)
  if i ~= math.floor(i) then core.raise(string.format("%s: index %s is not an integer", what, tostring(i))) end
  local nd = C.hub_tensor_ndim(t)
  if nd == 0 then core.raise(what .. ": cannot index a 0-d tensor (use item())") end
  local n = tonumber(C.hub_tensor_size(t, 0))
  local j = i < 0 and n + i + 1 or i
  if i == 0 or j < 1 or j > n then
    core.raise(string.format("%s: index %d out of range for dimension 1 of size %d (positions are 1..%d or -%d..-1)",
      what, i, n, n, n))
  end
  return T.select(t, 1, j)
end
mt.__index = function(t, k)
  local m = T[k]
  if m ~= nil then return m end
  local p = props[k]
  if p ~= nil then return p(t) end
  if type(k) == "number" then return index_first(t, k, "index") end
  if type(k) ~= "string" then
    core.raise(string.format("cannot index a tensor with a %s (t[i] takes a number; see masked_select, index_select, gather)",
      is_tensor(k) and "tensor" or type(k)))
  end
  core.raise(string.format("tensor has no field '%s'", k))
end
-- Whether t has a method or property k (the way to probe without the error of t.k).
function T.has_field(t, k) return T[k] ~= nil or props[k] ~= nil end
-- t[i] = v copies v (a number or a tensor, broadcast) into t:select(1, i).
mt.__newindex = function(t, k, v)
  if type(k) ~= "number" then core.raise(string.format("cannot set field '%s' of a tensor", tostring(k))) end
  local dst = index_first(t, k, "index assignment")
  if type(v) == "number" or type(v) == "boolean" then
    if type(v) == "boolean" then v = v and 1 or 0 end
    check(C.hub_fill_(dst, v), 2)
  elseif is_tensor(v) then
    check(C.hub_copy_(dst, v), 2)
  else
    core.raise(string.format("index assignment: expected a number or a tensor, got %s", type(v)))
  end
end
mt.__tostring = function(t) return T.format(t) end
mt.__len = function(t) return C.hub_tensor_ndim(t) > 0 and tonumber(C.hub_tensor_size(t, 0)) or 0 end
ffi.metatype("hub_tensor", mt)

-- ---- constructors ----
-- A nested table must be a sequence at every level: a hole ({1, nil, 3}) or a key that is not
-- 1..n ({x = 1}) would otherwise be dropped silently by the # operator.
local function check_sequence(x, fname, path)
  local n, count = #x, 0
  for k in pairs(x) do
    if type(k) ~= "number" or k ~= math.floor(k) or k < 1 then
      core.raise(string.format("%s: the table at %s has the non-array key %s (expected a sequence 1..n)",
        fname, path == "" and "the top level" or path, type(k) == "string" and string.format("%q", k) or tostring(k)))
    end
    count = count + 1
  end
  if count ~= n then
    local hole = 1
    while x[hole] ~= nil do hole = hole + 1 end
    core.raise(string.format("%s: the table at %s has a hole: element %d is nil", fname,
      path == "" and "the top level" or path, hole))
  end
end

-- The range [lo, hi] of the integer dtypes (hi of i64 is 2^63 - 1, so values must stay < 2^63).
local int_range = { [3] = { -2^31, 2^31 - 1, "i32" }, [4] = { -2^63, 2^63, "i64" }, [5] = { 0, 255, "u8" } }

-- Refuses values that an integer dtype would silently change: 300 or -1 as u8, 2^63 as i64, 2.5.
local function check_int_values(flat, shape, dt, fname)
  local r = int_range[dt]
  if not r then return end
  local lo, hi, name = r[1], r[2], r[3]
  for i = 1, #flat do
    local v = flat[i]
    local bad
    if v ~= v or v == math.huge or v == -math.huge then bad = "is not a finite number (dtype " .. name .. ")"
    elseif v ~= math.floor(v) then bad = "is not an integer (dtype " .. name .. ")"
    elseif v < lo or v > hi or (dt == 4 and v >= 2^63) then
      bad = string.format("is out of range for %s (%s to %s)", name, name == "i64" and "-2^63" or string.format("%d", lo),
        name == "i64" and "2^63-1" or string.format("%d", hi))
    end
    if bad then
      local idx, path = i - 1, ""
      for d = #shape, 1, -1 do path = "[" .. (idx % shape[d] + 1) .. "]" .. path; idx = math.floor(idx / shape[d]) end
      local shown = (v == v and math.abs(v) >= 1e15 and math.abs(v) < math.huge) and string.format("%.0f", v) or tostring(v)
      core.raise(string.format("%s: %s = %s %s", fname, path == "" and "value" or "element " .. path, shown, bad))
    end
  end
end

local function flatten(data, fname)
  -- Returns shape (table) and a flat Lua array of numbers from a nested table or a number.
  if type(data) == "number" or type(data) == "boolean" then
    return {}, { data == true and 1 or data == false and 0 or data }
  end
  if type(data) ~= "table" then core.argerror(1, fname, "a number or a nested table of numbers", type(data)) end
  local shape, flat = {}, {}
  local d = data
  while type(d) == "table" do
    shape[#shape + 1] = #d
    d = d[1]
    if #shape > 8 then core.raise(fname .. ": more than 8 nested levels") end
  end
  local function walk(x, depth, path)
    if depth > #shape then
      if type(x) == "boolean" then x = x and 1 or 0 end
      if type(x) ~= "number" then
        core.raise(string.format("%s: element %s is %s, expected a number", fname, path, type(x)))
      end
      flat[#flat + 1] = x
      return
    end
    if type(x) == "table" then check_sequence(x, fname, path) end
    if type(x) ~= "table" or #x ~= shape[depth] then
      core.raise(string.format("%s: ragged nested table at %s (expected %d elements, got %s)", fname, path,
        shape[depth], type(x) == "table" and tostring(#x) or type(x)))
    end
    for i = 1, #x do walk(x[i], depth + 1, path .. "[" .. i .. "]") end
  end
  walk(data, 1, "")
  return shape, flat
end

-- Whether the first element of a nested table (or the value itself) is a boolean.
local function first_is_bool(d)
  while type(d) == "table" do d = d[1] end
  return type(d) == "boolean"
end

-- A factory's last argument: a dtype name ("f32") or an options table {dtype =, device =}
-- (hub.zeros(2, 3, {device = "cuda"})).  Returns the dtype id and the device name (nil: cpu).
local function dtype_device(x, default, fname)
  if type(x) == "table" then
    core.check_options(x, { dtype = "string", device = "string" }, fname, 2)
    if x.device ~= nil and C.hub_device_from_name(x.device) < 0 then
      core.raise(string.format("%s: device must be \"cpu\" or \"cuda\", got \"%s\"", fname, x.device))
    end
    return core.dtype(x.dtype, default, fname), x.device
  end
  return core.dtype(x, default, fname), nil
end
-- t made on the cpu, moved to `device` when one is asked for (the same values on every device:
-- random factories draw from the one generator)
local function placed(t, device)
  if device == nil or device == "cpu" then return t end
  return T.to(t, device)
end

function hub.tensor(data, dtype)
  if is_tensor(data) then
    local c = T.clone(data)
    if type(dtype) == "table" then
      local dt, dev = dtype_device(dtype, nil, "tensor")
      if dt then c = T.to(c, dtype_names[dt]) end
      c = placed(c, dev)
    end
    return c
  end
  local dt, dev = dtype_device(dtype, first_is_bool(data) and 6 or F32, "tensor")
  local shape, flat = flatten(data, "tensor")
  check_int_values(flat, shape, dt, "tensor")
  local n, s = core.shape_arg(shape, "tensor")
  local isfloat = C.hub_dtype_is_float(dt) ~= 0
  local buf = ffi.new(isfloat and "double[?]" or "int64_t[?]", #flat > 0 and #flat or 1)
  if dt == 6 then -- bool: any non-zero number (NaN too) is true, as in PyTorch; 0.5 must not truncate to 0
    for i = 1, #flat do buf[i - 1] = flat[i] ~= 0 and 1 or 0 end
  else
    for i = 1, #flat do buf[i - 1] = flat[i] end
  end
  return placed(wrap(C.hub_tensor_from_data(dt, n, s, buf, isfloat and 7 or I64), 2), dev) -- 7: f64
end

local function shape_and_dtype(fname, a, ...)
  -- Accepts f({2,3}, "f32") or f(2, 3) or f(2, 3, "f32").
  if type(a) == "table" then
    local n, s = core.shape_arg(a, fname, 1)
    return n, s, (...)
  end
  local dims, dtype = { a, ... }, nil
  if type(dims[#dims]) == "string" or type(dims[#dims]) == "table" then dtype = table.remove(dims) end
  local n, s = core.shape_arg(dims, fname, 1)
  return n, s, dtype
end

-- Factories: hub.zeros(2, 3), zeros({2, 3}), zeros(2, 3, "i64"), zeros(2, 3, {dtype =, device =}).
function hub.zeros(...)
  local n, s, o = shape_and_dtype("zeros", ...)
  local dt, dev = dtype_device(o, F32, "zeros")
  return placed(wrap(C.hub_full(n, s, 0, dt), 2), dev)
end
function hub.ones(...)
  local n, s, o = shape_and_dtype("ones", ...)
  local dt, dev = dtype_device(o, F32, "ones")
  return placed(wrap(C.hub_full(n, s, 1, dt), 2), dev)
end
function hub.empty(...)
  local n, s, o = shape_and_dtype("empty", ...)
  local dt, dev = dtype_device(o, F32, "empty")
  if dev and dev ~= "cpu" then
    return wrap(C.hub_tensor_empty(dt, n, s, C.hub_device_from_name(dev)), 2)
  end
  return wrap(C.hub_tensor_empty(dt, n, s, 0), 2)
end
function hub.full(shape, value, dtype)
  if type(value) ~= "number" then core.argerror(2, "full", "a number", type(value)) end
  local n, s = core.shape_arg(shape, "full", 1)
  local dt, dev = dtype_device(dtype, F32, "full")
  return placed(wrap(C.hub_full(n, s, value, dt), 2), dev)
end
-- zeros_like / ones_like: t's shape, dtype (unless given) and device
function hub.zeros_like(t, dtype) return placed(hub.zeros(props.shape(t), dtype or dtype_names[C.hub_tensor_dtype(t)]), props.device(t)) end
function hub.ones_like(t, dtype) return placed(hub.ones(props.shape(t), dtype or dtype_names[C.hub_tensor_dtype(t)]), props.device(t)) end
function hub.randn(...)
  local n, s, o = shape_and_dtype("randn", ...)
  local dt, dev = dtype_device(o, F32, "randn")
  return placed(wrap(C.hub_randn(n, s, dt), 2), dev)
end
function hub.rand(...)
  local n, s, o = shape_and_dtype("rand", ...)
  local dt, dev = dtype_device(o, F32, "rand")
  return placed(wrap(C.hub_rand(n, s, dt), 2), dev)
end
-- arange(n), arange(start, stop[, step][, dtype]) — stop exclusive, values as in every framework.
function hub.arange(a, b, c, d)
  local start, stop, step, dtype = 0, a, 1, nil
  if type(b) == "number" then start, stop = a, b; if type(c) == "number" then step, dtype = c, d else dtype = c end
  else dtype = b end
  if type(stop) ~= "number" then core.argerror(1, "arange", "a number", type(stop)) end
  local isint = start == math.floor(start) and stop == math.floor(stop) and step == math.floor(step)
  local dt, dev = dtype_device(dtype, isint and I64 or F32, "arange")
  return placed(wrap(C.hub_arange(start, stop, step, dt), 2), dev)
end
-- randint(low, high, shape[, dtype]): integers in [low, high), i64 by default.
function hub.randint(low, high, shape, dtype)
  if type(low) ~= "number" or type(high) ~= "number" then core.argerror(1, "randint", "low and high numbers", type(low)) end
  for _, v in ipairs { low, high } do
    if v ~= v or v ~= math.floor(v) or v < -2^63 or v >= 2^63 then
      core.raise(string.format("randint: low and high must be integers in [-2^63, 2^63), got %s", tostring(v)))
    end
  end
  local n, s = core.shape_arg(shape, "randint", 3)
  local dt, dev = dtype_device(dtype, I64, "randint")
  return placed(wrap(C.hub_randint(low, high, n, s, dt), 2), dev)
end
function hub.manual_seed(seed)
  if type(seed) ~= "number" then core.argerror(1, "manual_seed", "a number", type(seed)) end
  C.hub_manual_seed(seed)
end

-- rng_state() -> { seed =, counter = }: the generator's whole state (its seed and how many
-- numbers it has handed out); set_rng_state(t) restores it, so the numbers drawn after a restore
-- are the numbers drawn after the save.  Values below 2^53 are Lua numbers, larger ones uint64_t
-- cdata; set_rng_state also takes decimal strings (checkpoints store them so, exactly).
local u64_pair = ffi.typeof("uint64_t[2]")
local function u64_out(v) return v < 0x20000000000000ULL and tonumber(v) or v end
local function u64_in(v, name)
  if type(v) == "number" then
    if v < 0 or v ~= math.floor(v) or v >= 2 ^ 64 then
      core.argerror(1, "set_rng_state", name .. " as a non-negative integer", tostring(v))
    end
    return v < 2 ^ 53 and (0ULL + v) or ffi.cast("uint64_t", v)
  elseif type(v) == "string" and v:match("^%d+$") and #v <= 20 then
    local r = 0ULL
    for i = 1, #v do r = r * 10 + (v:byte(i) - 48) end
    return r
  elseif type(v) == "cdata" then
    return ffi.cast("uint64_t", v)
  end
  core.argerror(1, "set_rng_state", name .. " as an integer or a decimal string", type(v) .. " " .. tostring(v))
end
function hub.rng_state()
  local s = u64_pair()
  C.hub_rng_get_state(s, s + 1)
  return { seed = u64_out(s[0]), counter = u64_out(s[1]) }
end
function hub.set_rng_state(t)
  if type(t) ~= "table" then core.argerror(1, "set_rng_state", "a table { seed =, counter = }", type(t)) end
  C.hub_rng_set_state(u64_in(t.seed, "seed"), u64_in(t.counter, "counter"))
end

local function pack(...) return { n = select("#", ...), ... } end

function hub.no_grad(fn, ...)
  if type(fn) ~= "function" then core.argerror(1, "no_grad", "a function", type(fn)) end
  local prev = C.hub_set_grad_enabled(0)
  local res = pack(pcall(fn, ...))
  C.hub_set_grad_enabled(prev)
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, res.n)
end
function hub.is_grad_enabled() return C.hub_grad_enabled() ~= 0 end
function hub.set_grad_enabled(on) return C.hub_set_grad_enabled(on and 1 or 0) ~= 0 end

-- Autocast (mixed precision, hub_autograd.h): "bf16" or "f16" makes matmul / linear round their
-- f32 operands to that dtype and accumulate in f32 (results stay f32); "f32" (or false) is off.
local function autocast_id(mode, fname)
  if mode == nil or mode == false then return 0 end
  if type(mode) ~= "string" then core.argerror(1, fname, "'bf16', 'f16' or 'f32' (off)", type(mode)) end
  local d = core.dtype(mode, nil, fname)
  if d ~= C.HUB_F32 and d ~= C.HUB_BF16 and d ~= C.HUB_F16 then
    error(fname .. ": autocast dtype must be 'bf16', 'f16' or 'f32' (off), got '" .. mode .. "'", 3)
  end
  return d
end
local function autocast_name(d) return ffi.string(C.hub_dtype_name(d)) end
function hub.autocast(mode, fn, ...)
  if type(fn) ~= "function" then core.argerror(2, "autocast", "a function", type(fn)) end
  local prev = C.hub_set_autocast(autocast_id(mode, "autocast"))
  local res = pack(pcall(fn, ...))
  C.hub_set_autocast(prev)
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, res.n)
end
function hub.set_autocast(mode) return autocast_name(C.hub_set_autocast(autocast_id(mode, "set_autocast"))) end
function hub.get_autocast() return autocast_name(C.hub_autocast()) end

function hub.is_tensor(v) return is_tensor(v) end

return { methods = T, props = props, hub = hub, metatype = mt }
