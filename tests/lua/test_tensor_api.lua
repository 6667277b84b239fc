-- test_tensor_api.lua - the Lua tensor surface: constructors and dtypes, seeding, properties,
-- item/totable/tostring, views sharing storage, dtype casts, no_grad, gradient accumulation, the
-- 1-based dimension rule with 0-based ids, operators with numbers on either side, and memory
-- (a 2000-step forward+backward loop returns to its starting live tensor count and live bytes).
--
-- Each check is a named function run under pcall; a failed assertion prints its message.
-- Prints one line per check and "N passed, N failed"; exits 1 on any failure.
local hub = require "hub"

local passed, failed, failures = 0, 0, {}

local function check(name, fn)
  local ok, err = pcall(fn)
  if ok then
    passed = passed + 1
    print("ok    " .. name)
  else
    failed = failed + 1
    failures[#failures + 1] = name
    print("FAIL  " .. name .. ": " .. tostring(err))
  end
end

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: got %s, expected %s", what or "value", tostring(a), tostring(b)), 2) end
end
local function near(a, b, tol, what)
  if math.abs(a - b) > (tol or 1e-6) then
    error(string.format("%s: got %.9g, expected %.9g", what or "value", a, b), 2)
  end
end
local function same_table(a, b, what, tol)
  local function walk(x, y, path)
    if type(x) == "table" and type(y) == "table" then
      if #x ~= #y then error(string.format("%s%s: length %d, expected %d", what or "table", path, #x, #y), 0) end
      for i = 1, #x do walk(x[i], y[i], path .. "[" .. i .. "]") end
    elseif type(x) == "number" and type(y) == "number" then
      if math.abs(x - y) > (tol or 0) then error(string.format("%s%s: %.9g, expected %.9g", what or "table", path, x, y), 0) end
    elseif x ~= y then
      error(string.format("%s%s: %s, expected %s", what or "table", path, tostring(x), tostring(y)), 0)
    end
  end
  walk(a, b, "")
end
local function fails(fn, needle)
  local ok, err = pcall(fn)
  if ok then error("expected an error containing '" .. needle .. "'", 2) end
  if not tostring(err):find(needle, 1, true) then error("error '" .. tostring(err) .. "' lacks '" .. needle .. "'", 2) end
end

-- ---- constructors ----
check("tensor from nested tables", function()
  local t = hub.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
  same_table(t.shape, { 2, 3 }, "shape")
  eq(t.dtype, "f32", "default dtype")
  same_table(t:totable(), { { 1, 2, 3 }, { 4, 5, 6 } })
  local i = hub.tensor({ { 1, 2 }, { 3, 4 } }, "i64")
  eq(i.dtype, "i64", "dtype")
  same_table(i:totable(), { { 1, 2 }, { 3, 4 } })
  local s = hub.tensor(2.5)
  eq(s:dim(), 0, "0-d dim"); eq(s:numel(), 1, "0-d numel"); eq(s:item(), 2.5, "0-d item")
  same_table(hub.tensor { { { 1 }, { 2 } } }.shape, { 1, 2, 1 }, "3-d shape")
  local b = hub.tensor({ true, false, true }, "bool")
  eq(b.dtype, "bool"); same_table(b:totable(), { true, false, true }, "bool values")
end)

check("ragged nested table is an error", function()
  fails(function() return hub.tensor { { 1, 2 }, { 3 } } end, "ragged")
  fails(function() return hub.tensor { { 1, 2 }, 3 } end, "ragged")
end)

check("zeros/ones/full/arange with dtypes", function()
  local z = hub.zeros({ 2, 3 })
  eq(z.dtype, "f32"); same_table(z:totable(), { { 0, 0, 0 }, { 0, 0, 0 } })
  local z2 = hub.zeros(2, 3, "i64")
  eq(z2.dtype, "i64"); same_table(z2.shape, { 2, 3 })
  local o = hub.ones({ 3 }, "f16")
  eq(o.dtype, "f16"); same_table(o:totable(), { 1, 1, 1 })
  local o2 = hub.ones({ 2 }, "bf16"); eq(o2.dtype, "bf16")
  local f = hub.full({ 2, 2 }, 7.5)
  same_table(f:totable(), { { 7.5, 7.5 }, { 7.5, 7.5 } })
  local fi = hub.full({ 2 }, 3, "i32"); eq(fi.dtype, "i32"); same_table(fi:totable(), { 3, 3 })
  local a = hub.arange(5)
  eq(a.dtype, "i64", "arange of integers"); same_table(a:totable(), { 0, 1, 2, 3, 4 })
  same_table(hub.arange(2, 8, 2):totable(), { 2, 4, 6 }, "arange(2,8,2)")
  local af = hub.arange(0, 1, 0.25)
  eq(af.dtype, "f32", "arange with a fractional step"); same_table(af:totable(), { 0, 0.25, 0.5, 0.75 })
  eq(hub.arange(4, "f32").dtype, "f32", "arange dtype argument")
  eq(hub.zeros({ 2 }, "u8").dtype, "u8")
  eq(hub.zeros({ 2 }, "bool").dtype, "bool")
end)

check("randn/rand/randint: shapes, dtypes, ranges, statistics", function()
  hub.manual_seed(1)
  local r = hub.randn({ 100, 100 })
  same_table(r.shape, { 100, 100 }); eq(r.dtype, "f32")
  local m = r:mean():item()
  local v = ((r - m) ^ 2):mean():item()
  near(m, 0, 0.05, "randn mean"); near(v, 1, 0.05, "randn variance")
  local u = hub.rand({ 10000 })
  local ut = u:totable()
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(ut) do lo = math.min(lo, x); hi = math.max(hi, x) end
  if lo < 0 or hi >= 1 then error("rand outside [0,1): " .. lo .. " " .. hi) end
  near(u:mean():item(), 0.5, 0.02, "rand mean")
  local ri = hub.randint(3, 7, { 1000 })
  eq(ri.dtype, "i64", "randint default dtype")
  local seen = {}
  for _, x in ipairs(ri:totable()) do
    if x < 3 or x >= 7 or x ~= math.floor(x) then error("randint value " .. x .. " outside [3,7)") end
    seen[x] = true
  end
  for k = 3, 6 do if not seen[k] then error("randint never produced " .. k) end end
  eq(hub.randint(0, 5, { 3 }, "i32").dtype, "i32", "randint dtype")
  eq(hub.randn({ 2 }, "f16").dtype, "f16", "randn dtype")
  eq(hub.randn(2, 3).shape[2], 3, "randn varargs shape")
end)

check("same seed gives the same numbers", function()
  hub.manual_seed(42)
  local a = hub.randn({ 5, 4 }):totable()
  local ai = hub.randint(0, 100, { 8 }):totable()
  hub.manual_seed(42)
  local b = hub.randn({ 5, 4 }):totable()
  local bi = hub.randint(0, 100, { 8 }):totable()
  same_table(a, b, "randn after reseed"); same_table(ai, bi, "randint after reseed")
  hub.manual_seed(43)
  local c = hub.randn({ 5, 4 }):totable()
  if c[1][1] == a[1][1] and c[2][2] == a[2][2] then error("different seeds gave the same numbers") end
end)

-- ---- properties ----
check("shape, dim, numel, dtype, device, item, totable, #t", function()
  local t = hub.zeros({ 2, 3, 4 })
  same_table(t.shape, { 2, 3, 4 }); eq(t:dim(), 3); eq(t:numel(), 24)
  eq(t.dtype, "f32"); eq(t.device, "cpu"); eq(#t, 2, "#t is the first size")
  eq(t:size(2), 3, "size(2)"); eq(t:size(-1), 4, "size(-1)")
  eq(hub.tensor { 3.5 }:item(), 3.5, "item of [1]")
  eq(hub.tensor({ 7 }, "i64"):item(), 7, "item of i64")
  fails(function() return t:item() end, "item")
  same_table(hub.tensor { { 1, 2 } }:totable(), { { 1, 2 } })
  eq(hub.tensor(4):totable(), 4, "totable of 0-d is a number")
end)

check("tostring shows shape, dtype and values; elides large tensors", function()
  local s = tostring(hub.tensor { { 1, 2 }, { 3, 4 } })
  if not s:find("[2,2]", 1, true) then error("no shape in: " .. s) end
  if not s:find("f32", 1, true) then error("no dtype in: " .. s) end
  if not s:find("4.0000", 1, true) and not s:find("4", 1, true) then error("no values in: " .. s) end
  local big = tostring(hub.arange(100000):reshape(100, 1000))
  if not big:find("...", 1, true) then error("large tensor not elided") end
  if #big > 2000 then error("large tensor printed in full (" .. #big .. " chars)") end
  if not big:find("[100,1000]", 1, true) or not big:find("i64", 1, true) then error("header missing in: " .. big:sub(-80)) end
  local small = tostring(hub.arange(10))
  if small:find("...", 1, true) then error("small tensor elided: " .. small) end
  local g = tostring(hub.ones(2):requires_grad() * 2)
  if not g:find("grad_fn", 1, true) then error("no grad_fn in: " .. g) end
end)

-- ---- views ----
check("views share storage (fill_ and copy_ through a view)", function()
  local base = hub.zeros({ 3, 4 })
  local row = base:narrow(1, 2, 1)          -- second row
  row:fill_(5)
  same_table(base:totable(), { { 0, 0, 0, 0 }, { 5, 5, 5, 5 }, { 0, 0, 0, 0 } }, "fill_ through narrow")
  local col = base:t():narrow(1, 3, 1)      -- third column, through a transpose
  col:copy_(hub.tensor { { 1, 2, 3 } })
  same_table(base:totable(), { { 0, 0, 1, 0 }, { 5, 5, 2, 5 }, { 0, 0, 3, 0 } }, "copy_ through transpose+narrow")
  local flat = base:reshape(12)
  flat:narrow(1, 12, 1):fill_(9)
  eq(base:totable()[3][4], 9, "fill_ through reshape")
  local e = base:unsqueeze(1):squeeze(1):permute(2, 1)
  e:narrow(1, 1, 1):fill_(-1)                -- first column of base
  same_table(base:totable(), { { -1, 0, 1, 0 }, { -1, 5, 2, 5 }, { -1, 0, 3, 9 } }, "fill_ through permute")
  local c = base:clone(); c:fill_(0)
  eq(base:totable()[2][2], 5, "clone does not share")
  if not base:t():contiguous():is_contiguous() then error("contiguous() is not contiguous") end
end)

check("to('f16'):to('f32') rounds; f32 -> i64 truncates", function()
  local x = hub.tensor { 1 / 3, 1 + 2 ^ -11, 1 + 3 * 2 ^ -11, 65519, 65520, 1e-8 }
  local y = x:to("f16"):to("f32"):totable()
  near(y[1], 0.333251953125, 0, "1/3 in f16")
  eq(y[2], 1, "tie to even (down)")
  eq(y[3], 1 + 2 ^ -9, "tie to even (up)")
  eq(y[4], 65504, "largest f16")
  eq(y[5], math.huge, "overflow to inf")
  eq(y[6], 0, "underflow to 0")
  local bf = hub.tensor { 1 + 2 ^ -8, 1 + 3 * 2 ^ -8, 1 / 3 }:to("bf16"):to("f32"):totable()
  eq(bf[1], 1, "bf16 tie to even (down)"); eq(bf[2], 1 + 2 ^ -6, "bf16 tie to even (up)")
  eq(bf[3], 0.333984375, "1/3 in bf16")
  same_table(hub.tensor { 2.7, -2.7, -0.5 }:to("i64"):totable(), { 2, -2, 0 }, "truncation")
  eq(x:to("f16").dtype, "f16")
end)

-- ---- autograd ----
check("no_grad records nothing", function()
  local w = hub.randn({ 3 }):requires_grad()
  local y = hub.no_grad(function() return (w * 2):sum() end)
  eq(y.grad_fn, nil, "grad_fn under no_grad")
  eq(hub.is_grad_enabled(), true, "grad mode restored")
  local z = (w * 2):sum()
  if z.grad_fn == nil then error("no grad_fn outside no_grad") end
  -- an error inside no_grad restores grad mode
  pcall(hub.no_grad, function() error("boom") end)
  eq(hub.is_grad_enabled(), true, "grad mode restored after an error")
end)

check("gradients accumulate over two backward calls", function()
  local w = hub.tensor { 1, 2, 3 }:requires_grad()
  local l1 = (w * w):sum()
  l1:backward()
  same_table(w.grad:totable(), { 2, 4, 6 }, "first backward", 1e-6)
  local l2 = (w * 3):sum()
  l2:backward()
  same_table(w.grad:totable(), { 5, 7, 9 }, "accumulated", 1e-6)
  w:zero_grad()
  local g = w.grad
  if g ~= nil then same_table(g:totable(), { 0, 0, 0 }, "after zero_grad") end
end)

-- ---- indexing rule ----
check("1-based dims: sum(1) reduces the first dim, narrow(2, 1, 2)", function()
  local x = hub.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
  same_table(x:sum(1):totable(), { 5, 7, 9 }, "sum(1)")
  same_table(x:sum(2):totable(), { 6, 15 }, "sum(2)")
  same_table(x:sum(-1):totable(), { 6, 15 }, "sum(-1)")
  same_table(x:sum(1, true).shape, { 1, 3 }, "keepdim shape")
  same_table(x:narrow(2, 1, 2):totable(), { { 1, 2 }, { 4, 5 } }, "narrow(2, 1, 2)")
  same_table(x:narrow(1, 2, 1):totable(), { { 4, 5, 6 } }, "narrow(1, 2, 1)")
  same_table(x:transpose(1, 2).shape, { 3, 2 }, "transpose(1, 2)")
  same_table(x:unsqueeze(1).shape, { 1, 2, 3 }, "unsqueeze(1)")
  same_table(x:softmax(1):sum(1):totable(), { 1, 1, 1 }, "softmax(1) columns", 1e-6)
  eq(x.shape[1], 2, "shape[1]")
  same_table(hub.concat({ x, x }, 1).shape, { 4, 3 }, "concat dim 1")
  local parts = x:split(1, 2)
  eq(#parts, 3, "split(1, 2) pieces"); same_table(parts[2]:totable(), { { 2 }, { 5 } }, "split piece 2")
end)

check("argmax and index tensors are 0-based", function()
  local x = hub.tensor { { 0.1, 0.9, 0.3 }, { 2, -1, 0 } }
  eq(x:argmax(2).dtype, "i64")
  same_table(x:argmax(2):totable(), { 1, 0 }, "argmax(2)")
  same_table(x:argmax(1):totable(), { 1, 0, 0 }, "argmax(1)")
  eq(x:argmax():item(), 3, "argmax over all")
  local v, i = x:max(2)
  same_table(v:totable(), { 0.9, 2 }, "max values", 1e-6); same_table(i:totable(), { 1, 0 }, "max indices")
  local w = hub.tensor { { 10, 11 }, { 20, 21 }, { 30, 31 } }
  same_table(hub.embedding(w, hub.tensor({ 0, 2 }, "i64")):totable(), { { 10, 11 }, { 30, 31 } }, "embedding ids")
  same_table(w:index_select(1, hub.tensor({ 2, 0 }, "i64")):totable(), { { 30, 31 }, { 10, 11 } }, "index_select ids")
  -- logits whose argmax equals the labels give a small loss
  local logits = hub.tensor { { 5, 0, 0 }, { 0, 0, 5 } }
  local labels = hub.tensor({ 0, 2 }, "i64")
  same_table(logits:argmax(-1):totable(), labels:totable(), "argmax compares with labels")
  if hub.cross_entropy(logits, labels):item() > 0.02 then error("cross_entropy of matching labels too large") end
end)

-- ---- operators ----
check("operators + - * / ^ and unary minus, numbers on both sides", function()
  local x = hub.tensor { 1, 2, 4 }
  local y = hub.tensor { 2, 2, 2 }
  same_table((x + y):totable(), { 3, 4, 6 }, "x+y")
  same_table((x - y):totable(), { -1, 0, 2 }, "x-y")
  same_table((x * y):totable(), { 2, 4, 8 }, "x*y")
  same_table((x / y):totable(), { 0.5, 1, 2 }, "x/y")
  same_table((x + 1):totable(), { 2, 3, 5 }, "x+1")
  same_table((1 + x):totable(), { 2, 3, 5 }, "1+x")
  same_table((x - 1):totable(), { 0, 1, 3 }, "x-1")
  same_table((1 - x):totable(), { 0, -1, -3 }, "1-x")
  same_table((x * 3):totable(), { 3, 6, 12 }, "x*3")
  same_table((3 * x):totable(), { 3, 6, 12 }, "3*x")
  same_table((x / 2):totable(), { 0.5, 1, 2 }, "x/2")
  same_table((4 / x):totable(), { 4, 2, 1 }, "4/x")
  same_table((x ^ 2):totable(), { 1, 4, 16 }, "x^2", 1e-6)
  same_table((x ^ 0.5):totable(), { 1, math.sqrt(2), 2 }, "x^0.5", 1e-6)
  same_table((-x):totable(), { -1, -2, -4 }, "-x")
  same_table((2 * x + 1 - x / 2):totable(), { 2.5, 4, 7 }, "expression", 1e-6)
  same_table((x + hub.tensor { { 10 }, { 20 } }):totable(), { { 11, 12, 14 }, { 21, 22, 24 } }, "broadcast")
end)

-- ---- memory ----
check("memory: 2000 forward+backward steps return to the start", function()
  hub.manual_seed(3)
  local w = hub.randn({ 32, 16 }):requires_grad()
  local b = hub.zeros({ 32 }):requires_grad()
  local x = hub.randn({ 8, 16 })
  local target = hub.randint(0, 32, { 8 })
  local emb = hub.randn({ 10, 16 }):requires_grad()
  local ids = hub.randint(0, 10, { 2, 4 })
  local mask = hub.tensor({ { { { 0, 0, 0, -1e9 } } }, { { { 0, 0, 0, 0 } } } })
  local keep = hub.tensor({ true, false, true, true, false, true, true, true }, "bool")
  local function step()
    local logits = x:linear(w, b):gelu():layer_norm(32)
    local loss = hub.cross_entropy(logits, target, { label_smoothing = 0.1 }) + (logits:softmax(-1) * 0.01):sum()
    -- a second branch through the indexing and attention ops
    local e = hub.embedding(emb, ids):reshape(2, 4, 2, 8):transpose(2, 3)   -- [B, H, L, D]
    local a = hub.attention(e, e, e, mask):transpose(2, 3):reshape(8, 16)
    local parts = a:split({ 3, 5 }, 1)
    local c = hub.concat({ parts[2], parts[1] }, 1):index_select(1, hub.tensor({ 0, 7, 3 }, "i64"))
    local m = hub.where(keep:unsqueeze(2), a, a:tanh()):masked_fill(keep:unsqueeze(2), 0):max(2)
    loss = loss + c:exp():mean() + m:sum() * 0.1 + hub.mse_loss(a, a:detach() * 0.5)
    loss:backward()
    w:zero_grad(); b:zero_grad(); emb:zero_grad()
    return loss:item()
  end
  for _ = 1, 20 do step() end         -- warm up the caching allocator and primitive caches
  collectgarbage(); collectgarbage()
  local t0 = hub.live_tensors()
  local m0 = hub.memory_stats().live_bytes
  local n0 = hub.live_nodes()
  for i = 1, 2000 do
    local l = step()
    if l ~= l then error("loss became nan at step " .. i) end
  end
  collectgarbage(); collectgarbage()
  local t1 = hub.live_tensors()
  local m1 = hub.memory_stats().live_bytes
  local n1 = hub.live_nodes()
  print(string.format("      live tensors %d -> %d, live bytes %d -> %d, live nodes %d -> %d", t0, t1, m0, m1, n0, n1))
  if math.abs(t1 - t0) > 3 then error(string.format("live tensors %d -> %d", t0, t1)) end
  if m1 > m0 * 1.05 then error(string.format("live bytes grew %d -> %d", m0, m1)) end
  if n1 - n0 > 3 then error(string.format("live autograd nodes %d -> %d", n0, n1)) end
end)

check("set_cache_limit: fixed bound, default restored", function()
  hub.set_cache_limit(0)
  eq(hub.memory_stats().cached_bytes, 0, "cached bytes under a 0 bound")
  local t = hub.empty { 1024, 1024 }
  t = nil
  collectgarbage()
  eq(hub.memory_stats().cached_bytes, 0, "a freed 4 MiB block under a 0 bound")
  hub.set_cache_limit(nil)
  local u = hub.empty { 1024, 1024 }
  u = nil
  collectgarbage()
  assert(hub.memory_stats().cached_bytes >= 4 * 1024 * 1024, "the default bound caches the block")
  local good, err = pcall(hub.set_cache_limit, -1)
  assert(not good and tostring(err):find("set_cache_limit", 1, true), "negative bound rejected")
end)

check("nn.init normal_/uniform_ in place: the numbers randn/rand give, no temporaries", function()
  local init = hub.nn.init
  hub.manual_seed(77)
  local ref = hub.randn { 300, 200 } * 0.02 + 0.5
  local refu = hub.rand { 1000 } * 4 - 2
  hub.manual_seed(77)
  local t = hub.empty { 300, 200 }
  local u = hub.empty { 1000 }
  hub.empty_cache()
  local before = hub.memory_stats()
  init.normal_(t, 0.02, 0.5)
  init.uniform_(u, -2, 2)
  local after = hub.memory_stats()
  eq((t - ref):abs():max():item(), 0, "normal_ equals randn * std + mean")
  eq((u - refu):abs():max():item(), 0, "uniform_ equals rand * (b - a) + a")
  eq(after.alloc_count - before.alloc_count, 0, "allocations made by normal_ and uniform_ on contiguous f32")
  -- a transposed (non-contiguous) bf16 tensor goes through a copy and still gets the numbers
  hub.manual_seed(78)
  local r2 = (hub.randn { 4, 6 } * 3):to("bf16")
  hub.manual_seed(78)
  local b = hub.empty({ 6, 4 }, "bf16"):t()
  init.normal_(b, 3)
  eq((b:to("f32") - r2:to("f32")):abs():max():item(), 0, "bf16 strided normal_")
  local good, err = pcall(init.normal_, hub.zeros({ 3 }, "i64"))
  assert(not good and tostring(err):find("float dtype", 1, true), "integer tensor refused: " .. tostring(err))
end)

if failed > 0 then print("failed: " .. table.concat(failures, ", ")) end
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
