-- test_promotion.lua - type promotion against PyTorch, and the indexing / field / printing
-- surface of issue 9.
--
-- The promotion table in tests/fixtures/ops.json ("promotion", made by scripts/gen_op_fixtures.py
-- with torch.result_type) lists, for every pair of hub's dtypes, the dtype torch gives a op b, and
-- for every dtype and a few Python numbers (ints 2, -3, 0; floats 2.5, -0.5) the dtype of
-- tensor op number.  Each entry is checked three ways: hub_promote_types / hub_result_type_scalar
-- directly, and the dtype of an actual add, mul and comparison-then-where result.  Values of
-- mixed-dtype ops are golden-tested in test_ops_golden.lua; here the values checked are the
-- indexing ones (t[i], t[i][j]:item(), t[i] = v), against hand-computed expectations.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, errors = T.ok, T.errors
local hub = require "hub"
local cjson = require "cjson"
local ffi = require "ffi"

local f = assert(io.open("fixtures/ops.json", "rb"))
local doc = cjson.decode(f:read("*a"))
f:close()
local P = doc.promotion
local C = hub.C
local function dt(name) return C.hub_dtype_from_name(name) end
local function name(d) return ffi.string(C.hub_dtype_name(d)) end

-- ---- every dtype pair ----
local bad = {}
for _, e in ipairs(P.pairs) do
  local a, b, want = e[1], e[2], e[3]
  local got = name(C.hub_promote_types(dt(a), dt(b)))
  local x, y = hub.zeros({ 2 }, a), hub.ones({ 2 }, b)
  local add = (x + y).dtype
  local mul = (x * y).dtype
  local w = hub.where(hub.tensor { true, false }, x, y).dtype
  if got ~= want or add ~= want or mul ~= want or w ~= want then
    bad[#bad + 1] = string.format("%s,%s: torch %s, promote_types %s, add %s, mul %s, where %s", a, b, want, got, add, mul, w)
  end
  -- comparisons of any pair give bool and the right answer (0 < 1)
  local lt = x:lt(y)
  if lt.dtype ~= "bool" or lt:all():item() ~= true then bad[#bad + 1] = a .. "," .. b .. ": lt" end
end
ok(#bad == 0, string.format("promotion of %d dtype pairs as torch.result_type", #P.pairs), table.concat(bad, "\n"))

-- ---- tensor with a number ----
bad = {}
for _, e in ipairs(P.scalars) do
  local a, s, want = e[1], e[2], e[3]
  local got = name(C.hub_result_type_scalar(dt(a), s))
  local x = hub.ones({ 2 }, a)
  local add, mul, radd = (x + s).dtype, (x * s).dtype, (s + x).dtype
  if got ~= want or add ~= want or mul ~= want or radd ~= want then
    bad[#bad + 1] = string.format("%s with %s: torch %s, result_type_scalar %s, x+s %s, x*s %s, s+x %s",
      a, tostring(s), want, got, add, mul, radd)
  end
end
ok(#bad == 0, string.format("promotion of %d tensor-number cases as torch.result_type", #P.scalars), table.concat(bad, "\n"))

-- ---- the issue's examples ----
local seq = hub.tensor { { 1.5, 2, 3 }, { 4, 5, 6 } }
local mask = hub.tensor({ { 1, 1, 0 }, { 1, 0, 0 } }, "i64")
local r = seq * mask
ok(r.dtype == "f32" and r[1][2]:item() == 2 and r[1][3]:item() == 0 and r[2][1]:item() == 4, "seq * attention_mask (f32 * i64)")
local i = hub.tensor({ 1, 2, 3 }, "i64")
ok((i + 1).dtype == "i64" and (i + 1)[3]:item() == 4, "i + 1 on i64 stays i64")
ok((i + 0.5).dtype == "f32" and (i + 0.5)[1]:item() == 1.5, "i + 0.5 is f32")
ok((i / 2).dtype == "f32" and (i / 2)[1]:item() == 0.5, "i / 2 is true division")
local big = hub.tensor({ 2 ^ 53 }, "i64") + 1 - 2 ^ 53 -- 1 only when computed in i64, 0 in double
ok(big.dtype == "i64" and big[1]:item() == 1, "i64 arithmetic is exact beyond 2^53")

-- ---- indexing ----
local x = hub.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
ok(x[2][3]:item() == 6 and x[-1][1]:item() == 4 and x[1][-1]:item() == 3, "t[i][j]:item(), negative from the end")
ok(x[1].dtype == "f32" and tostring(x[1].shape) == "[3]", "t[i] is a row view")
local v = x[2]
v[1] = 40 -- a view: writes into x
ok(x[2][1]:item() == 40, "t[i] shares storage with t")
x[1] = 0
ok(x:sum():item() == 40 + 5 + 6, "t[i] = number fills the row")
x[2] = hub.tensor { 7, 8, 9 }
ok(x[2][2]:item() == 8, "t[i] = tensor copies into the row")
x[1] = hub.tensor { 1 }
ok(x[1]:sum():item() == 3, "t[i] = tensor broadcasts")
local y = hub.zeros({ 2, 2 }, "i64")
y[1][2] = 5
ok(y[1][2]:item() == 5 and y:sum():item() == 5, "t[i][j] = v on i64")
errors(function() return x[3] end, "index 3 out of range for dimension 1 of size 2", "out of range")
errors(function() return x[0] end, "index 0 out of range", "index 0 (positions are 1-based)")
errors(function() return x[-3] end, "out of range", "negative out of range")
errors(function() return x[1.5] end, "not an integer", "fractional index")
errors(function() x[5] = 1 end, "index assignment: index 5 out of range", "assignment out of range")
errors(function() x[1] = "a" end, "expected a number or a tensor", "assignment of a string")
errors(function() return hub.tensor(3)[1] end, "0-d", "index of a 0-d tensor")
errors(function() return x[x:gt(1)] end, "cannot index a tensor with a tensor", "index with a tensor")

-- ---- fields, shapes, types ----
errors(function() return x.shpae end, "tensor has no field 'shpae'", "unknown field names the field")
errors(function() x.foo = 1 end, "cannot set field 'foo'", "setting a field")
ok(x:has_field("shape") and x:has_field("sum") and not x:has_field("shpae"), "has_field probes without an error")
ok(tostring(x.shape) == "[2, 3]" and tostring(x:size()) == "[2, 3]" and x.shape[2] == 3 and #x.shape == 2, "shape tables print as [2, 3]")
ok(tostring(hub.tensor(1).shape) == "[]", "0-d shape prints as []")
ok(x:type() == "f32" and x.dtype == "f32" and i:type() == "i64", "t:type() and t.dtype")
local b = hub.tensor { true, false, true }
ok(b.dtype == "bool" and b[2]:item() == false and b[3]:item() == true, "hub.tensor{true, false} is bool")
ok(hub.tensor({ { true }, { false } }).dtype == "bool", "nested booleans are bool")
ok(hub.tensor({ true, false }, "f32").dtype == "f32", "an explicit dtype wins")
ok(hub.is_tensor(x[1]) and hub.is_tensor(x) and not hub.is_tensor({}), "views are tensors")
local p = ffi.cast("hub_tensor *", x)
ok(p ~= nil and C.hub_tensor_ndim(p) == 2, "a tensor converts to hub_tensor * for FFI code")

-- ---- f64 ----
local d = hub.tensor({ 0.1, 1 / 3 }, "f64")
ok(d.dtype == "f64" and d[1]:item() == 0.1 and d[2]:item() == 1 / 3, "f64 holds doubles exactly")
ok(hub.zeros({ 2 }, "double").dtype == "f64" and hub.tensor({ 1 }, "float64").dtype == "f64", "f64 aliases")
ok((d + 0.2)[1]:item() == 0.1 + 0.2 and (d * 3)[2]:item() == (1 / 3) * 3, "f64 arithmetic in double")
ok(d:to("f32")[1]:item() ~= 0.1 and d:to("f32"):to("f64")[1]:item() == d:to("f32")[1]:item(), "f64 <-> f32 conversion")
ok(tostring(d):find("dtype=f64", 1, true) ~= nil and tostring(d):find("0.1000", 1, true) ~= nil, "f64 prints")
ok((d:sum()):item() == 0.1 + 1 / 3 and d:max():item() == 1 / 3 and d:matmul(d):item() == 0.1 * 0.1 + (1 / 3) * (1 / 3), "f64 reductions and matmul in double")
local tmp = os.tmpname()
hub.save(tmp, { d = d })
local back = hub.load(tmp)
os.remove(tmp)
ok(back.d.dtype == "f32" and back.d[1]:item() == d:to("f32")[1]:item(), "f64 saves as F64 and loads as f32 (as every F64 file)")

T.finish()
