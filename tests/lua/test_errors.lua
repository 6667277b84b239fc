-- test_errors.lua - error paths through the Lua binding: every bad call raises a Lua error whose
-- message names the op (and the offending shapes, dtypes, ids or dimensions), and the process
-- goes on: after each failure a normal op still works, and after many failures no tensors leak.
--
-- Each case runs under pcall and checks that it failed and that the message contains every
-- listed substring (plain find, case-sensitive) and none of the forbidden ones (a message naming
-- "dim 0" breaks the 1-based rule of DESIGN.md).  Prints one line per case and "N passed, N
-- failed"; exits 1 on any failure.
local hub = require "hub"

local passed, failed, failures = 0, 0, {}

local function healthy()
  -- a small forward + backward that must keep working after an error
  local a = hub.tensor { { 1, 2 }, { 3, 4 } }:requires_grad()
  local l = (a:matmul(a) * 2):sum()
  l:backward()
  local g = a.grad:totable()
  -- d/da sum(2 a a) = 2 (1 a^T + a^T 1) ; for [[1,2],[3,4]]: [[14, 22], [18, 26]]
  return math.abs(l:item() - 108) < 1e-4 and g[1][1] == 14 and g[1][2] == 22 and g[2][1] == 18 and g[2][2] == 26
end

local function expect_error(name, fn, needles, forbidden)
  local ok, err = pcall(fn)
  local msg = tostring(err)
  local good, why = true, nil
  if ok then
    good, why = false, "no error raised"
  else
    for _, s in ipairs(needles) do
      if not msg:find(s, 1, true) then good, why = false, "message lacks '" .. s .. "'"; break end
    end
    for _, s in ipairs(forbidden or {}) do
      if msg:find(s, 1, true) then good, why = false, "message contains '" .. s .. "'"; break end
    end
  end
  local ok2, alive = pcall(healthy)
  if not (ok2 and alive) then good, why = false, (why and why .. "; " or "") .. "a normal op failed afterwards: " .. tostring(alive) end
  if good then
    passed = passed + 1
    print(string.format("ok    %-30s %s", name, msg))
  else
    failed = failed + 1
    failures[#failures + 1] = name
    print(string.format("FAIL  %-30s %s (got: %s)", name, why, ok and "success" or msg))
  end
end

local x = hub.randn(2, 3)
local w = hub.randn(4, 2)

local CASES = {
  -- shapes
  { "matmul shapes", function() return hub.zeros(2, 3):matmul(hub.zeros(4, 5)) end, { "matmul", "[2,3]", "[4,5]" } },
  { "matmul 3-d batch", function() return hub.zeros(2, 3, 4):matmul(hub.zeros(3, 4, 5)) end, { "matmul", "[2,3,4]", "[3,4,5]" } },
  { "add broadcast", function() return hub.zeros(2, 3) + hub.zeros(4) end, { "add", "[2,3]", "[4]" } },
  { "mul broadcast", function() return hub.zeros(2, 3) * hub.zeros(2, 2) end, { "mul", "[2,3]", "[2,2]" } },
  { "linear shapes", function() return x:linear(hub.zeros(4, 4)) end, { "linear", "[2,3]", "[4,4]" } },
  -- dimensions named in messages follow the 1-based rule: there is no "dim 0"
  { "concat shapes", function() return hub.concat({ hub.zeros(2, 3), hub.zeros(3, 3) }, 2) end, { "concat", "[2,3]", "[3,3]" }, { "dim 0" } },
  { "split sizes", function() return x:split({ 1, 3 }, 1) end, { "split" }, { "dim 0" } },
  { "mse shapes", function() return hub.mse_loss(x, hub.zeros(3, 2)) end, { "mse_loss", "[2,3]", "[3,2]" } },
  { "attention D", function() return hub.attention(hub.zeros(2, 3, 4), hub.zeros(2, 3, 5), hub.zeros(2, 3, 5)) end, { "attention" } },
  { "layer_norm size", function() return x:layer_norm(4) end, { "layer_norm" } },
  { "expand", function() return x:expand(4, 3) end, { "expand" } },
  { "reshape size", function() return x:reshape(4, 2) end, { "reshape", "[2,3]", "[4,2]" } },
  { "reshape two -1", function() return x:reshape(-1, -1) end, { "reshape" } },
  { "view non-contiguous", function() return x:t():view(6) end, { "view" } },
  { "narrow range", function() return x:narrow(2, 3, 2) end, { "narrow" } },
  { "narrow start 0", function() return x:narrow(2, 0, 2) end, { "narrow", "1-based" } },
  { "narrow dim", function() return x:narrow(3, 1, 1) end, { "narrow" } },
  { "item of many", function() return x:item() end, { "item" } },
  -- dtypes
  { "relu of i64", function() return hub.tensor({ 1, 2 }, "i64"):relu() end, { "relu", "i64" } },
  { "fmod i64 by zero", function() return hub.tensor({ 1, 2 }, "i64"):fmod(0) end, { "fmod", "division by zero" } },
  { "remainder i64 by zero", function() return hub.tensor({ 1, 2 }, "i64") % hub.tensor({ 1, 0 }, "i64") end, { "remainder", "division by zero" } },
  { "i64 to a negative power", function() return hub.tensor({ 1, 2 }, "i64") ^ -1 end, { "pow", "negative" } },
  { "index out of range", function() return x[3] end, { "index 3 out of range", "size 2" } },
  { "index of a 0-d tensor", function() return hub.tensor(1)[1] end, { "0-d" } },
  { "unknown field", function() return x.shpae end, { "no field 'shpae'" } },
  { "set unknown field", function() x.foo = 1 end, { "cannot set field 'foo'" } },
  { "in-place float into i64", function() return hub.tensor({ 1, 2 }, "i64"):add_(0.5) end, { "add_", "i64" } },
  { "clamp without bounds", function() return x:clamp() end, { "clamp" } },
  { "masked_select f32 mask", function() return x:masked_select(x) end, { "masked_select", "bool" } },
  { "embedding f32 ids", function() return hub.embedding(w, hub.tensor { 1, 2 }) end, { "embedding", "f32" } },
  { "index_select f32 index", function() return x:index_select(1, hub.tensor { 0 }) end, { "index_select" } },
  { "cross_entropy f32 target", function() return hub.cross_entropy(x, hub.tensor { 0, 1 }) end, { "cross_entropy" } },
  { "where f32 cond", function() return hub.where(hub.tensor { 1, 0, 1 }, x, x) end, { "where", "f32" } },
  { "masked_fill f32 mask", function() return x:masked_fill(hub.tensor { 1, 0, 1 }, 1) end, { "masked_fill", "f32" } },
  { "unknown dtype", function() return hub.zeros({ 2 }, "f33") end, { "f33" } },
  { "to unknown dtype", function() return x:to("f99") end, { "f99" } },
  -- ids out of range
  { "embedding id >= V", function() return hub.embedding(w, hub.tensor({ 1, 4 }, "i64")) end, { "embedding", "4" } },
  { "embedding id < 0", function() return hub.embedding(w, hub.tensor({ -1 }, "i64")) end, { "embedding", "-1" } },
  { "index_select id", function() return x:index_select(1, hub.tensor({ 2 }, "i64")) end, { "index_select", "2" } },
  { "index_select id dim 2", function() return x:index_select(2, hub.tensor({ 0, 3 }, "i64")) end, { "index_select", "3" } },
  { "cross_entropy target", function() return hub.cross_entropy(x, hub.tensor({ 0, 3 }, "i64")) end, { "cross_entropy", "3" } },
  { "cross_entropy neg target", function() return hub.cross_entropy(x, hub.tensor({ 0, -5 }, "i64")) end, { "cross_entropy", "-5" } },
  -- dimensions (1-based; 0 is invalid)
  { "sum(5) on 2-d", function() return x:sum(5) end, { "sum", "5" } },
  { "sum(0)", function() return x:sum(0) end, { "sum", "0" } },
  { "sum(-3) on 2-d", function() return x:sum(-3) end, { "sum", "-3" } },
  { "mean({1,4})", function() return x:mean({ 1, 4 }) end, { "mean" } },
  { "softmax(3) on 2-d", function() return x:softmax(3) end, { "softmax", "3" } },
  { "softmax(0)", function() return x:softmax(0) end, { "softmax" } },
  { "max(3)", function() return x:max(3) end, { "max" } },
  { "argmax(0)", function() return x:argmax(0) end, { "argmax" } },
  { "transpose(1,4)", function() return x:transpose(1, 4) end, { "transpose" } },
  { "permute repeat", function() return x:permute(1, 1) end, { "permute" } },
  { "squeeze(3)", function() return x:squeeze(3) end, { "squeeze" } },
  { "concat dim 3", function() return hub.concat({ x, x }, 3) end, { "concat" } },
  -- bad arguments
  { "matmul(5)", function() return x:matmul(5) end, { "bad argument #2 to 'matmul'" } },
  { "tensor + string", function() return x + "a" end, { "add" } },
  { "tensor ^ string", function() return x ^ "a" end, { "pow" } },
  { "sum('a')", function() return x:sum("a") end, { "sum" } },
  { "masked_fill value", function() return x:masked_fill(hub.tensor({ true, false, true }, "bool"), "v") end, { "masked_fill" } },
  { "ragged table", function() return hub.tensor { { 1, 2 }, { 3 } } end, { "tensor", "ragged" } },
  { "non-number element", function() return hub.tensor { 1, "a" } end, { "tensor" } },
  { "randint high <= low", function() return hub.randint(5, 2, { 3 }) end, { "randint" } },
  { "dropout p > 1", function() return x:dropout(1.5) end, { "dropout" } },
  { "label_smoothing 1.5", function() return hub.cross_entropy(x, hub.tensor({ 0, 1 }, "i64"), { label_smoothing = 1.5 }) end, { "cross_entropy" } },
  -- autograd misuse
  { "backward non-scalar", function() local y = hub.randn(2, 2):requires_grad(); (y * 2):backward() end, { "backward" } },
  { "backward twice", function()
      local y = hub.randn(2, 2):requires_grad()
      local l = y:exp():sum()
      l:backward(); l:backward()
    end, { "backward" } },
  { "backward without grad", function() hub.randn(2, 2):sum():backward() end, { "backward" } },
  { "backward grad shape", function()
      local y = hub.randn(2, 2):requires_grad()
      y:exp():backward(hub.ones(3))
    end, { "backward" } },
}

for _, c in ipairs(CASES) do expect_error(c[1], c[2], c[3], c[4]) end

-- Errors must not leak: run every case many times and compare the live tensor count.
collectgarbage(); collectgarbage()
local before = hub.live_tensors()
for _ = 1, 50 do
  for _, c in ipairs(CASES) do pcall(c[2]) end
end
collectgarbage(); collectgarbage()
local after = hub.live_tensors()
if after - before <= 3 then
  passed = passed + 1
  print(string.format("ok    %-30s live tensors %d -> %d after %d failing calls", "no leak on errors", before, after, 50 * #CASES))
else
  failed = failed + 1
  failures[#failures + 1] = "no leak on errors"
  print(string.format("FAIL  %-30s live tensors %d -> %d after %d failing calls", "no leak on errors", before, after, 50 * #CASES))
end

-- And the process still computes correctly at the end.
local okf, alive = pcall(healthy)
if okf and alive then passed = passed + 1; print("ok    still healthy at the end")
else failed = failed + 1; failures[#failures + 1] = "healthy at end"; print("FAIL  healthy at end: " .. tostring(alive)) end

if failed > 0 then print("failed: " .. table.concat(failures, ", ")) end
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
