-- test_optim.lua: hub.optim and hub.lr against PyTorch.  tests/fixtures/optim.json (made by
-- scripts/gen_optim_fixtures.py with torch.optim) holds parameter trajectories of SGD, Adam and
-- AdamW under a fixed sequence of gradients, and torch's learning-rate schedules.  Gradients are
-- injected exactly through loss = sum(p * G), whose gradient is G.  Also: resume from
-- state_dict, clip_grad_norm, per-group options and no_decay.
local hub = require "hub"
local cjson = require "cjson"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok

local f = assert(io.open("fixtures/optim.json"))
local fx = cjson.decode(f:read("*a"))
f:close()

local function maxdiff(t, ref)
  local flat, m = {}, 0
  for _, row in ipairs(t:totable()) do for _, v in ipairs(row) do flat[#flat + 1] = v end end
  for i = 1, #ref do m = math.max(m, math.abs(flat[i] - ref[i])) end
  return m
end

local function reshape(flat, shape)
  local t = {}
  for i = 1, shape[1] do
    t[i] = {}
    for j = 1, shape[2] do t[i][j] = flat[(i - 1) * shape[2] + j] end
  end
  return hub.tensor(t)
end

local grads = {}
for i, g in ipairs(fx.grads) do grads[i] = reshape(g, fx.shape) end

local function apply(opt, p, i)
  local loss = (p * grads[i]):sum()
  loss:backward()
  opt:step()
  opt:zero_grad()
end

-- f32 arithmetic over 6 steps: 1e-5 absolute covers the rounding of both implementations.
local TOL = 1e-5
for _, case in ipairs(fx.cases) do
  local p = reshape(fx.p0, fx.shape):requires_grad()
  local opts = case.opts
  local opt = hub.optim[case.kind]({ p }, opts)
  local worst = 0
  for i = 1, #grads do
    apply(opt, p, i)
    worst = math.max(worst, maxdiff(p, case.trajectory[i]))
  end
  print(string.format("%-18s max abs err %.2e", case.name, worst))
  ok(worst < TOL, case.name .. " trajectory differs from torch by " .. worst)
end

-- Resume: 3 steps, state_dict, a fresh optimiser loads it, 3 more steps = 6 steps straight.
for _, kind in ipairs { "AdamW", "SGD" } do
  local opts = kind == "SGD" and { lr = 0.1, momentum = 0.9 } or { lr = 0.01, weight_decay = 0.1 }
  local p = reshape(fx.p0, fx.shape):requires_grad()
  local opt = hub.optim[kind]({ p }, opts)
  for i = 1, 3 do apply(opt, p, i) end
  local sd = opt:state_dict()
  local p2 = p:clone():detach():requires_grad()
  local opt2 = hub.optim[kind]({ p2 }, opts)
  opt2:load_state_dict(sd)
  for i = 4, 6 do apply(opt, p, i); apply(opt2, p2, i) end
  local d = maxdiff(p2, (function() local r = {} for _, row in ipairs(p:totable()) do for _, v in ipairs(row) do r[#r + 1] = v end end return r end)())
  ok(d == 0, kind .. " resumed run differs by " .. d)
end
do -- load_state_dict errors
  local p = hub.zeros({2, 2}):requires_grad()
  local opt = hub.optim.AdamW({ p })
  local okk, err = pcall(opt.load_state_dict, opt, hub.optim.SGD({ p }):state_dict())
  ok(not okk and err:find("SGD"), "loading an SGD state into AdamW is refused: " .. tostring(err))
end

-- Schedules.
for name, ref in pairs(fx.schedules) do
  local fn = name == "linear_w3_t10" and hub.lr.linear { warmup = 3, total = 10 } or hub.lr.cosine { total = 10 }
  local worst = 0
  for s = 0, #ref - 1 do worst = math.max(worst, math.abs(fn(s) - ref[s + 1])) end
  ok(worst < 1e-12, name .. " schedule differs from torch by " .. worst)
end
do -- ULMFiT slanted triangular, T = 100, cut_frac 0.1, ratio 32: cut = 10.
  local fn = hub.lr.slanted_triangular { total = 100, cut_frac = 0.1, ratio = 32 }
  -- t=0: p=0 -> 1/32; t=10 (the peak): p=1 -> 1; t=55: p = 1 - 45/90 = 0.5 -> (1 + 0.5*31)/32
  ok(math.abs(fn(0) - 1 / 32) < 1e-12 and math.abs(fn(10) - 1) < 1e-12 and math.abs(fn(55) - 16.5 / 32) < 1e-12,
    "slanted triangular values")
  ok(math.abs(hub.lr.linear { warmup = 0.1, total = 100 }(5) - 0.5) < 1e-12, "fractional warmup")
end

-- clip_grad_norm: grads (3,4) and (12) have global norm 13.
do
  local a, b = hub.zeros({2}):requires_grad(), hub.zeros({1}):requires_grad()
  local loss = (a * hub.tensor{3, 4}):sum() + (b * hub.tensor{12}):sum()
  loss:backward()
  local n = hub.optim.clip_grad_norm({ a, b }, 6.5)
  local ga = a.grad:totable()
  ok(math.abs(n - 13) < 1e-5, "clip_grad_norm returns the norm before clipping: " .. n)
  ok(math.abs(ga[1] - 1.5) < 1e-5 and math.abs(ga[2] - 2) < 1e-5 and math.abs(b.grad:item() - 6) < 1e-5,
    "gradients scaled by 6.5/13")
end

-- Parameter groups: per-group lr, and no_decay by name on a module-like object.
do
  local w, bias = hub.ones({2}):requires_grad(), hub.ones({2}):requires_grad()
  local model = { named_parameters = function() return { { "fc.weight", w }, { "fc.bias", bias } } end }
  local opt = hub.optim.SGD(model, { lr = 0.1, weight_decay = 0.5, no_decay = { "bias" } })
  ok(#opt.param_groups == 2 and opt.param_groups[2].weight_decay == 0, "no_decay makes a group without decay")
  local loss = (w * 0):sum() + (bias * 0):sum()
  loss:backward()
  opt:step()
  -- zero gradient: only decay moves w: 1 - 0.1*0.5 = 0.95; bias stays 1.
  ok(math.abs(w:totable()[1] - 0.95) < 1e-6 and bias:totable()[1] == 1, "decay applied to weights only")
  local x, y = hub.ones({1}):requires_grad(), hub.ones({1}):requires_grad()
  local opt2 = hub.optim.SGD({ { params = { x }, lr = 1 }, { params = { y } } }, { lr = 0.1 })
  ;((x + y) * 1):sum():backward()
  opt2:step()
  ok(math.abs(x:item() - 0) < 1e-6 and math.abs(y:item() - 0.9) < 1e-6, "per-group learning rates")
  local okk, err = pcall(hub.optim.AdamW, { x }, { learning_rate = 1 })
  ok(not okk and err:find("learning_rate"), "unknown option named: " .. tostring(err))
end

T.finish()
