-- hub.nn.init: parameter initialisers, in place, as torch.nn.init.
--
--   nn.init.normal_(lin.weight, 0.02); nn.init.zeros_(lin.bias)
--   model:apply(function(m) if m.__name == "Linear" then nn.init.xavier_uniform_(m.weight) end end)
--
-- Each draws from the seeded stream (the numbers hub.randn / hub.rand would give), so
-- hub.manual_seed(n) makes initialisation repeatable; normal_ and uniform_ write them in place
-- (C hub_normal_ / hub_uniform_: no temporaries, so initialising a large model leaves nothing in
-- the allocator's cache), the others with copy_ under hub.no_grad (the tensor may be a leaf that
-- requires grad; values are converted to its dtype).  Each returns the tensor.
local core = require "hub.core"
local raise = core.raise
local hub = require "hub"

local init = {}

local function need(t, fname)
  if not core.is_tensor(t) then core.argerror(1, fname, "a tensor", type(t)) end
end
local function number(v, default, n, fname)
  if v == nil then return default end
  if type(v) ~= "number" then core.argerror(n, fname, "a number", type(v)) end
  return v
end

-- fan_in and fan_out of a weight: [out, in] for Linear, [out, in, k...] for convolutions.
function init.fans(t)
  local s = t.shape
  if #s < 2 then raise(string.format("init: fan in and fan out need a tensor with at least 2 dimensions, got %d-d", #s)) end
  local receptive = 1
  for i = 3, #s do receptive = receptive * s[i] end
  return s[2] * receptive, s[1] * receptive
end

-- normal_(t, std=1, mean=0)
function init.normal_(t, std, mean)
  need(t, "normal_")
  std, mean = number(std, 1, 2, "normal_"), number(mean, 0, 3, "normal_")
  core.check(core.C.hub_normal_(t, mean, std), 2)
  return t
end

-- uniform_(t, a=0, b=1): values in [a, b)
function init.uniform_(t, a, b)
  need(t, "uniform_")
  a, b = number(a, 0, 2, "uniform_"), number(b, 1, 3, "uniform_")
  core.check(core.C.hub_uniform_(t, a, b), 2)
  return t
end

function init.constant_(t, v)
  need(t, "constant_")
  v = number(v, nil, 2, "constant_")
  if v == nil then core.argerror(2, "constant_", "a number", "nil") end
  hub.no_grad(function() t:fill_(v) end)
  return t
end
function init.zeros_(t) need(t, "zeros_") return init.constant_(t, 0) end
function init.ones_(t) need(t, "ones_") return init.constant_(t, 1) end

-- xavier_uniform_(t, gain=1): U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot).
function init.xavier_uniform_(t, gain)
  need(t, "xavier_uniform_")
  gain = number(gain, 1, 2, "xavier_uniform_")
  local fi, fo = init.fans(t)
  local b = gain * math.sqrt(6 / (fi + fo))
  return init.uniform_(t, -b, b)
end

-- xavier_normal_(t, gain=1): N(0, std) with std = gain * sqrt(2 / (fan_in + fan_out)).
function init.xavier_normal_(t, gain)
  need(t, "xavier_normal_")
  gain = number(gain, 1, 2, "xavier_normal_")
  local fi, fo = init.fans(t)
  return init.normal_(t, gain * math.sqrt(2 / (fi + fo)))
end

-- kaiming_uniform_(t, a=0): U(-b, b) with b = sqrt(6 / ((1 + a^2) fan_in)) (He, leaky-ReLU slope a).
-- With a = sqrt(5) this is PyTorch's default Linear weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
function init.kaiming_uniform_(t, a)
  need(t, "kaiming_uniform_")
  a = number(a, 0, 2, "kaiming_uniform_")
  local fi = init.fans(t)
  local b = math.sqrt(6 / ((1 + a * a) * fi))
  return init.uniform_(t, -b, b)
end

return init
