-- tensor_demo.lua: the main demo until the ERNIE recipe exists.  Builds tensors, composes
-- differentiable ops and fits a two-layer network to a noisy sine with plain gradient descent,
-- printing the loss as it falls.   Run: hubrun recipes/tensor_demo.lua [steps]
local hub = require "hub"
hub.manual_seed(0)

local steps = tonumber(arg and arg[1]) or 300
local x = hub.tensor{{1, 2}, {3, 4}}
print("a tensor:\n" .. tostring(x))
print("x:matmul(x) =\n" .. tostring(x:matmul(x)))
print("softmax over the last dim =\n" .. tostring(x:softmax(-1)))

-- Data: y = sin(3x) + noise on 256 points.
local n = 256
local xs = hub.rand({n, 1}) * 2 - 1
local ys = hub.tensor((function()
  local t, v = {}, xs:totable()
  for i = 1, n do t[i] = { math.sin(3 * v[i][1]) } end
  return t
end)()) + hub.randn({n, 1}) * 0.05

-- A 1-32-1 network with tanh, weights in [out, in] as hub.linear expects.
local w1 = (hub.randn({32, 1}) * 1.0):requires_grad()
local b1 = hub.zeros({32}):requires_grad()
local w2 = (hub.randn({1, 32}) * 0.2):requires_grad()
local b2 = hub.zeros({1}):requires_grad()
local params = { w1, b1, w2, b2 }

local lr = 0.1
local first, last
for step = 1, steps do
  local h = xs:linear(w1, b1):tanh()
  local pred = h:linear(w2, b2)
  local loss = hub.mse_loss(pred, ys)
  loss:backward()
  hub.no_grad(function()
    for _, p in ipairs(params) do
      p:add_(p.grad, -lr)
      p:zero_grad()
    end
  end)
  local l = loss:item()
  first = first or l
  last = l
  if step == 1 or step % 50 == 0 then print(string.format("step %4d  mse %.5f", step, l)) end
end
print(string.format("mse fell from %.4f to %.4f over %d steps", first, last, steps))
