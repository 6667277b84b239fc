-- test_crash_inputs.lua - issue 9's crash and wrong-result inputs, each now a clear error.
--
-- Before the fix these crashed the process (SIGSEGV in fill_run/copy_run, SIGFPE in
-- cpu_iter_run), hung it (print of a tensor whose numel wrapped to 0) or silently gave wrong
-- numbers (300 as u8 -> 44, 2^63 as i64 -> INT64_MIN, a table with a hole -> shape [1]).  Each
-- case must raise an error containing every listed substring; after all of them a normal op
-- still works and no tensor leaked.  Valid edge cases check their values.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local hub = require "hub"
local ffi = require "ffi"

local function errs(name, fn, ...)
  local needles = { ... }
  local good, err = pcall(fn)
  local msg = tostring(err)
  local ok = not good
  for _, s in ipairs(needles) do if not msg:find(s, 1, true) then ok = false end end
  T.ok(ok, name, good and "no error raised" or msg)
end

collectgarbage(); collectgarbage()
local live0 = tonumber(ffi.C.hub_tensor_live_count())

-- ---- sizes whose product overflows (were crashes and a hang) ----
errs("zeros{2^62}", function() return hub.zeros { 2 ^ 62 } end, "too large", "[4611686018427387904]")
errs("randn{2^62}", function() return hub.randn { 2 ^ 62 } end, "too large")
errs("rand{2^62}", function() return hub.rand { 2 ^ 62 } end, "too large")
errs("randint(0, 10, {2^62})", function() return hub.randint(0, 10, { 2 ^ 62 }) end, "too large")
errs("empty{2^62}:fill_(1)", function() return hub.empty { 2 ^ 62 }:fill_(1) end, "too large")
errs("zeros{2^31, 2^31}", function() return hub.zeros { 2 ^ 31, 2 ^ 31 } end, "too large")
errs("ones(1, 1):expand{2^31, 2^31}:sum()", function() return hub.ones(1, 1):expand { 2 ^ 31, 2 ^ 31 }:sum() end,
  "expand", "too large")
errs("zeros{2^40, 2^40} (numel was 0, print hung)", function() return tostring(hub.zeros { 2 ^ 40, 2 ^ 40 }) end,
  "too large")
errs("zeros{3, 2^62} (numel was negative)", function() return hub.zeros { 3, 2 ^ 62 }:numel() end, "too large")
errs("zeros{0, 2^40, 2^40}", function() return hub.zeros { 0, 2 ^ 40, 2 ^ 40 } end, "too large")
errs("zeros{2^35, 2^10}: more than the machine has", function() return hub.zeros { 2 ^ 35, 2 ^ 10 } end,
  "out of memory: cannot allocate 140737488355328 bytes")
errs("ones{2^50} u8: the allocator's error", function() return hub.ones({ 2 ^ 50 }, "u8") end,
  "out of memory: cannot allocate 1125899906842624 bytes")
errs("reshape to an overflowing shape", function() return hub.zeros(0):reshape(0, 2 ^ 40, 2 ^ 40) end,
  "reshape", "too large")
errs("view to an overflowing shape", function() return hub.zeros(4):view(2 ^ 62, 2 ^ 62) end, "view")

-- ---- sizes that are not finite integers ----
errs("zeros{1/0}", function() return hub.zeros { 1 / 0 } end, "zeros: size inf in dimension 1 is not a finite integer")
errs("zeros{-1/0}", function() return hub.zeros { -1 / 0 } end, "not a finite integer")
errs("zeros{0/0}", function() return hub.zeros { 0 / 0 } end, "in dimension 1 is not a finite integer")
errs("zeros{2, 2.5}", function() return hub.zeros { 2, 2.5 } end, "zeros: size 2.5 in dimension 2 is not an integer")
errs("zeros{2^64}", function() return hub.zeros { 2 ^ 64 } end, "does not fit in 64 bits")
errs("zeros{-2}", function() return hub.zeros { -2 } end, "negative size -2 in dimension 1")
errs("zeros with 9 dims", function() return hub.zeros { 1, 1, 1, 1, 1, 1, 1, 1, 1 } end, "9 dimensions (at most 8)")
errs("zeros with 100 dims", function() local s = {} for i = 1, 100 do s[i] = 1 end return hub.zeros(s) end,
  "100 dimensions")
errs("reshape(1/0)", function() return hub.zeros(4):reshape(1 / 0) end, "reshape: size inf")
errs("expand{0/0}", function() return hub.zeros(1):expand { 0 / 0 } end, "expand: size nan")
errs("randint size 2.5", function() return hub.randint(0, 3, { 2.5 }) end, "randint: size 2.5")
errs("narrow huge length", function() return hub.zeros(4):narrow(1, 2, 2 ^ 62) end, "narrow", "out of bounds")

-- ---- values that an integer dtype would change silently ----
errs("tensor({300}, 'u8')", function() return hub.tensor({ 300 }, "u8") end,
  "tensor: element [1] = 300 is out of range for u8 (0 to 255)")
errs("tensor({-1}, 'u8')", function() return hub.tensor({ -1 }, "u8") end, "element [1] = -1 is out of range for u8")
errs("tensor({2^63}, 'i64')", function() return hub.tensor({ 2 ^ 63 }, "i64") end,
  "element [1] = 9223372036854775808 is out of range for i64")
errs("tensor({2^31}, 'i32')", function() return hub.tensor({ 1, 2 ^ 31 }, "i32") end, "element [2] = 2147483648")
errs("tensor 2.5 as i64", function() return hub.tensor({ { 1, 2 }, { 3, 2.5 } }, "i64") end,
  "element [2][2] = 2.5 is not an integer (dtype i64)")
errs("tensor nan as i32", function() return hub.tensor({ 0 / 0 }, "i32") end, "is not a finite number (dtype i32)")
errs("tensor inf as u8", function() return hub.tensor(1 / 0, "u8") end, "value = inf is not a finite number")
errs("full 300 u8", function() return hub.full({ 2 }, 300, "u8") end, "fill: value 300 is out of range for u8")
errs("fill_ 2.5 into i64", function() return hub.zeros({ 2 }, "i64"):fill_(2.5) end, "value 2.5 is not an integer")

-- ---- tables that are not arrays ----
errs("tensor{1, nil, 3}", function() return hub.tensor { 1, nil, 3 } end, "hole", "element 2 is nil")
errs("tensor{x = 1}", function() return hub.tensor { x = 1 } end, "non-array key \"x\"")
errs("tensor{{1, 2}, {3, 4, y = 5}}", function() return hub.tensor { { 1, 2 }, { 3, 4, y = 5 } } end,
  "table at [2] has the non-array key \"y\"")
errs("tensor{[0] = 1, 2}", function() return hub.tensor { [0] = 1, 2 } end, "non-array key 0")
errs("tensor{[1.5] = 1}", function() return hub.tensor { [1.5] = 1 } end, "non-array key 1.5")
errs("tensor{{1, nil, 3}, {1, 2, 3}}", function() return hub.tensor { { 1, 2, 3 }, { 1, nil, 3 } } end, "hole")

collectgarbage(); collectgarbage()
T.ok(tonumber(ffi.C.hub_tensor_live_count()) == live0, "no tensors leaked by the errors",
  tonumber(ffi.C.hub_tensor_live_count()) .. " live, " .. live0 .. " before")

-- ---- the valid edge cases give the right values ----
local a = hub.tensor({ 0, 255, 7 }, "u8"):totable()
T.ok(a[1] == 0 and a[2] == 255 and a[3] == 7, "u8 0 and 255 are kept")
local b = hub.tensor({ -2 ^ 63, 2 ^ 62, -1 }, "i64")
T.ok(b:totable()[1] == -2 ^ 63 and b:totable()[2] == 2 ^ 62, "i64 -2^63 and 2^62 exact")
local c = hub.tensor({ -2 ^ 31, 2 ^ 31 - 1 }, "i32"):totable()
T.ok(c[1] == -2 ^ 31 and c[2] == 2 ^ 31 - 1, "i32 limits exact")
T.ok(hub.tensor({ 2.5, 1e39 }):totable()[2] == math.huge, "f32 takes any number (1e39 -> inf)")
local bt = hub.tensor({ 0.5, 0, -2, 2 ^ 70, 0 / 0 }, "bool"):totable()
T.ok(bt[1] == true and bt[2] == false and bt[3] == true and bt[4] == true and bt[5] == true,
  "bool: non-zero (0.5, 2^70, NaN) is true, 0 is false")
local e = hub.zeros { 0, 2 ^ 40 }
T.ok(e:numel() == 0 and e.shape[2] == 2 ^ 40, "zeros{0, 2^40} is empty with the right shape")
T.ok(tostring(e):find("shape=[0,1099511627776]", 1, true) ~= nil, "and prints", tostring(e))
-- found by fuzz_ops: a batched matmul with inner size 0 divided by zero (SIGFPE)
local mz = hub.zeros(2, 3, 0):matmul(hub.zeros(0, 4))
T.ok(mz.shape[1] == 2 and mz.shape[2] == 3 and mz.shape[3] == 4 and mz:sum():item() == 0, "zeros(2,3,0):matmul(zeros(0,4)) = zeros(2,3,4)")
local x = hub.ones(1, 1):expand { 2 ^ 11, 2 ^ 11 }
T.ok(x:sum():item() == 2 ^ 22, "a large expand that fits sums right")
T.ok(#hub.tensor({}).shape == 1 and hub.tensor({}):numel() == 0, "tensor{} is an empty 1-d tensor")

local h = hub.tensor { { 1, 2 }, { 3, 4 } }
T.ok(h:matmul(h):sum():item() == 54, "a normal op works afterwards")
T.finish()
