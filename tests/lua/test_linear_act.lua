-- test_linear_act.lua: hub.linear_act, Linear + activation with the activation fused into the
-- product (a oneDNN post-op) when no gradient is recorded.  The reference is the two ops run one
-- after the other (linear, then relu / tanh / gelu; each checked against PyTorch in
-- test_ops_golden.lua): values within a few f32 ulps, gradients equal when recorded, and
-- TransformerEncoderLayer's inference (which uses it) equal to its recorded forward.
local hub = require "hub"
local nn = hub.nn

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local function maxdiff(a, b) return (a - b):abs():max():item() end

local function reference(x, w, b, act)
  local y = x:linear(w, b)
  if act == "relu" then return y:relu() end
  if act == "tanh" then return y:tanh() end
  return y:gelu(act == "gelu_tanh" and "tanh" or "none")
end

hub.manual_seed(31)
local shapes = {
  { x = { 3, 5 }, w = { 7, 5 } },             -- small (hub's own elementwise loops in the reference)
  { x = { 2, 64, 96 }, w = { 384, 96 } },     -- 3-d input, large enough for oneDNN eltwise
  { x = { 128, 768 }, w = { 3072, 768 } },    -- BERT's feed-forward at batch 1
}
for _, sh in ipairs(shapes) do
  local x, w, b = hub.randn(sh.x), hub.randn(sh.w) * 0.05, hub.randn { sh.w[1] }
  for _, act in ipairs { "relu", "tanh", "gelu", "gelu_tanh" } do
    for _, bias in ipairs { true, false } do
      local tag = string.format("%s x=[%s] bias=%s", act, table.concat(sh.x, ","), tostring(bias))
      local bb = bias and b or nil
      local ref = reference(x, w, bb, act)
      local fused = hub.no_grad(function() return hub.linear_act(x, w, bb, act) end)
      local scale = math.max(1, ref:abs():max():item())
      local e = maxdiff(ref, fused)
      ok(e <= 2e-6 * scale, tag .. ": fused vs linear + activation, max abs error " .. e)
      ok(#fused.shape == #sh.x and fused.shape[#sh.x] == sh.w[1], tag .. ": shape")
    end
  end
end

-- recorded: the same graph as linear + activation, gradients included
do
  local x = hub.randn({ 4, 6 }):requires_grad()
  local w = (hub.randn { 5, 6 }):requires_grad()
  local b = (hub.randn { 5 }):requires_grad()
  local x2, w2, b2 = x:detach():clone():requires_grad(), w:detach():clone():requires_grad(), b:detach():clone():requires_grad()
  local R = hub.randn { 4, 5 }
  local y = hub.linear_act(x, w, b, "gelu")
  ok(y.grad_fn == "gelu", "recorded as linear then gelu (" .. tostring(y.grad_fn) .. ")")
  ;(y * R):sum():backward()
  ;(reference(x2, w2, b2, "gelu") * R):sum():backward()
  ok(maxdiff(x.grad, x2.grad) == 0 and maxdiff(w.grad, w2.grad) == 0 and maxdiff(b.grad, b2.grad) == 0,
    "gradients equal those of linear + gelu")
end

-- the transformer layer: inference under no_grad (fused) equals the recorded eval forward
for _, a in ipairs { "gelu", "gelu_tanh", "relu", "tanh" } do
  hub.manual_seed(32)
  local layer = nn.TransformerEncoderLayer(64, 4, 256, { dropout = 0, activation = a })
  layer:eval()
  local x = hub.randn { 2, 10, 64 }
  local y1 = layer(x)
  local y2 = hub.no_grad(function() return layer(x) end)
  ok(maxdiff(y1, y2) < 1e-5, a .. ": layer inference with the fused feed-forward = recorded forward " .. maxdiff(y1, y2))
end

-- empty inner dimension: act(bias)
do
  local y = hub.no_grad(function() return hub.linear_act(hub.zeros { 3, 0 }, hub.zeros { 2, 0 }, hub.tensor { -1, 2 }, "relu") end)
  ok(maxdiff(y, hub.tensor { { 0, 2 }, { 0, 2 }, { 0, 2 } }) == 0, "K = 0: relu(bias)")
  -- and linear itself at K = 0, with gradients (rows must not be lost to numel / 0)
  local x0, w0, b0 = hub.zeros({ 3, 0 }):requires_grad(), hub.zeros({ 2, 0 }):requires_grad(), hub.tensor({ 1, 2 }):requires_grad()
  local y0 = x0:linear(w0, b0)
  ok(maxdiff(y0, hub.tensor { { 1, 2 }, { 1, 2 }, { 1, 2 } }) == 0, "K = 0: linear is the bias on every row")
  y0:sum():backward()
  ok(x0.grad.shape[1] == 3 and x0.grad.shape[2] == 0 and w0.grad.shape[1] == 2 and maxdiff(b0.grad, hub.tensor { 3, 3 }) == 0,
    "K = 0: gradients shaped like the inputs, bias gradient = rows")
end

-- errors
local x, w = hub.randn { 3, 5 }, hub.randn { 7, 5 }
local good, err = pcall(hub.linear_act, x, w, nil, "swish")
ok(not good and tostring(err):find("unknown activation 'swish'", 1, true), "unknown activation: " .. tostring(err))
good, err = pcall(hub.linear_act, x, hub.randn { 7, 4 }, nil, "relu")
ok(not good and tostring(err):find("linear_act: input [3,5] does not match weight [7,4]", 1, true), "shape mismatch: " .. tostring(err))
good, err = pcall(hub.linear_act, x, w, nil, nil)
ok(not good and tostring(err):find("linear_act", 1, true), "missing activation: " .. tostring(err))

T.finish()
