-- test_autocast.lua: hub.autocast (mixed precision).  Under "bf16" / "f16", linear and matmul
-- round their f32 operands to that dtype and accumulate in f32; the reference is computed in
-- double from operands rounded by an independent implementation (Python's standard library:
-- tests/fixtures/autocast/make_autocast.py).  Also: gradients in the forward's mode wherever
-- backward runs, the mode API and its errors, other ops untouched, the same results on the "cuda"
-- device (the emulated or real GPU, or the stand-in), and hub.finetune's precision option.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local F = require "finetune_fixture"

local R = hub.json.decode(T.read_file("fixtures/autocast/autocast.json"), "autocast.json")
local function tens(v) return hub.tensor(v) end
local function rel(a, b) -- max |a - b| / (1 + |b|)
  return ((a - b):abs() / (b:abs() + 1)):max():item()
end

local x, w, b, c = tens(R.x), tens(R.w), tens(R.b), tens(R.c)
local a3, b3 = tens(R.a3), tens(R.b3)

-- the mode API
ok(hub.get_autocast() == "f32", "autocast is off by default", hub.get_autocast())
ok(hub.set_autocast("bf16") == "f32" and hub.get_autocast() == "bf16", "set_autocast returns the previous mode")
ok(hub.set_autocast(false) == "bf16" and hub.get_autocast() == "f32", "set_autocast(false) turns it off")
T.errors(function() hub.set_autocast("i64") end, "'bf16', 'f16' or 'f32'", "an integer dtype is refused")
T.errors(function() hub.set_autocast("f99") end, "f99", "an unknown dtype is named")
T.errors(function() hub.autocast("bf16") end, "function", "autocast without a function")
pcall(hub.autocast, "bf16", function() error("inside") end)
ok(hub.get_autocast() == "f32", "autocast restores the mode after an error")
ok(hub.autocast("bf16", function() return hub.get_autocast() end) == "bf16", "the mode inside autocast")

-- forward: f32 as before, bf16 = the rounded operands' product
local y32 = x:linear(w, b)
ok(rel(y32, tens(R.y_f32)) < 2e-6, "f32 linear matches the double reference", rel(y32, tens(R.y_f32)))
local y16 = hub.autocast("bf16", function() return x:linear(w, b) end)
ok(y16.dtype == "f32", "an autocast product is f32", y16.dtype)
ok(rel(y16, tens(R.y_bf16)) < 2e-6, "bf16 linear = bf16-rounded operands, f32 accumulation", rel(y16, tens(R.y_bf16)))
ok(rel(y16, tens(R.y_f32)) > 1e-3, "bf16 linear is not the f32 product (the operands were rounded)", rel(y16, tens(R.y_f32)))
local m16 = hub.autocast("bf16", function() return a3:matmul(b3) end)
ok(rel(m16, tens(R.m3_bf16)) < 2e-6, "batched matmul under bf16", rel(m16, tens(R.m3_bf16)))
local wt = w:t() -- a transposed (column-major) operand keeps working
local mt = hub.autocast("bf16", function() return x:matmul(wt) + b end)
ok(rel(mt, tens(R.y_bf16)) < 2e-6, "a transposed operand under bf16", rel(mt, tens(R.y_bf16)))
local la = hub.autocast("bf16", function() return hub.linear_act(x, w, b, "relu") end)
ok(rel(la, tens(R.y_bf16):relu()) < 2e-6, "linear_act (fused relu) under bf16", rel(la, tens(R.y_bf16):relu()))
-- f16: the rounded product where the backend has one, else f32 (oneDNN 2.6 has no f16 on CPUs)
local h16 = hub.autocast("f16", function() return x:linear(w, b) end)
local e16, e32 = rel(h16, tens(R.y_f16)), rel(h16, tens(R.y_f32))
ok(e16 < 2e-6 or e32 < 2e-6, "f16 linear: the f16 product, or f32 where there is none", e16 .. " / " .. e32)
-- other ops are not touched
local s = hub.autocast("bf16", function() return (x * 3 + 1):sum():item() end)
ok(s == ((x * 3 + 1):sum():item()), "elementwise ops and reductions stay f32 under autocast")

-- weights stored in bf16 (inference: no cast of the weight at each call): the same product
local w16 = w:to("bf16")
local yw = hub.no_grad(function() return hub.autocast("bf16", function() return x:linear(w16, b) end) end)
ok(rel(yw, tens(R.y_bf16)) < 2e-6 and rel(yw, y16) == 0, "bf16 weights under autocast: used as they are, same result",
   rel(yw, y16))
local lin = hub.nn.Linear(40, 24)
lin.weight:copy_(w); lin.bias:copy_(b)
lin:to("bf16")
ok(lin.weight.dtype == "bf16", "a Linear moved to bf16", lin.weight.dtype)
local yl = hub.no_grad(function() return hub.autocast("bf16", function() return lin(x) end) end)
ok(rel(yl, tens(R.y_bf16)) < 1e-2, "a bf16 Linear under autocast (its bias rounded to bf16 too)", rel(yl, tens(R.y_bf16)))
local yu = hub.no_grad(function() return x:linear(w16, b) end)
ok(yu.dtype == "f32" and rel(yu, tens(R.y_f32)) > 1e-4, "bf16 weights without autocast: widened to f32 (x not rounded)")

-- backward: the forward's mode, even when backward runs outside autocast
local xg, wg = x:clone():requires_grad(), w:clone():requires_grad()
local y = hub.autocast("bf16", function() return xg:linear(wg, b) end)
local loss = (y * c):sum()
ok(hub.get_autocast() == "f32", "backward below runs with autocast off")
loss:backward()
ok(rel(xg.grad, tens(R.gx_bf16)) < 2e-6, "dL/dx of a bf16 product: rounded operands", rel(xg.grad, tens(R.gx_bf16)))
ok(rel(wg.grad, tens(R.gw_bf16)) < 2e-6, "dL/dw of a bf16 product: rounded operands", rel(wg.grad, tens(R.gw_bf16)))
local xg2 = x:clone():requires_grad()
local y2 = xg2:linear(w, b)
hub.autocast("bf16", function() (y2 * c):sum():backward() end)
ok(rel(xg2.grad, tens(R.gx_f32)) < 2e-6, "an f32 forward's backward stays f32 inside autocast", rel(xg2.grad, tens(R.gx_f32)))

-- on the "cuda" device (a GPU, the emulator of a HUB_CUDA=EMU build, or the stand-in)
if hub.cuda and hub.cuda.is_available() then
  local xd, wd, bd = x:cuda(), w:cuda(), b:cuda()
  local yd = hub.autocast("bf16", function() return xd:linear(wd, bd) end)
  ok(yd.device == "cuda" and rel(yd:cpu(), tens(R.y_bf16)) < 1e-5, "bf16 linear on cuda", rel(yd:cpu(), tens(R.y_bf16)))
  local md = hub.autocast("bf16", function() return a3:cuda():matmul(b3:cuda()) end)
  ok(rel(md:cpu(), tens(R.m3_bf16)) < 1e-5, "batched bf16 matmul on cuda", rel(md:cpu(), tens(R.m3_bf16)))
  local xdg = x:cuda():requires_grad()
  local yy = hub.autocast("bf16", function() return xdg:linear(wd, bd) end)
  ;(yy * c:cuda()):sum():backward()
  ok(rel(xdg.grad:cpu(), tens(R.gx_bf16)) < 1e-5, "dL/dx of a bf16 product on cuda", rel(xdg.grad:cpu(), tens(R.gx_bf16)))
else
  print("cuda: not available here; the device cases were not run")
end

-- hub.finetune's precision option
do
  local net, tk = F.encoder(3)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
  local o = { epochs = 4, batch_size = 16, lr = 1e-2, cache = false, progress = false, quiet = true, precision = "bf16" }
  local run = hub.finetune(task, F.sentiment(), o)
  ok(run.done and run.test and run.test.acc >= 0.85, "fine-tuning in bf16 learns the toy sentiment", run.test and run.test.acc)
  ok(hub.get_autocast() == "f32", "the mode is off again after the run")
  T.errors(function() hub.finetune(task, F.sentiment(), { precision = "f8", quiet = true }) end, "precision",
           "a bad precision is named")
end

T.finish()
