-- nn.Linear(in_features, out_features, {bias = true}): y = x W^T + b over the last dimension.
--
-- weight is [out, in] (PyTorch's and Hugging Face's layout, so checkpoints load unchanged) and
-- bias [out]; both start as PyTorch's defaults, U(-1/sqrt(in), 1/sqrt(in)).  forward accepts
-- x[..., in] of any rank and calls the fused x:linear(weight, bias).
local raise = require "hub.core".raise
local hub = require "hub"
local Module = require "hub.nn.module"
local init = require "hub.nn.init_fns"

local Linear = Module:extend("Linear")

local function positive_int(v, n, fname)
  if type(v) ~= "number" or v < 1 or v ~= math.floor(v) then
    raise(string.format("bad argument #%d to '%s' (expected a positive integer, got %s)", n, fname, tostring(v)))
  end
  return v
end
Linear.positive_int = positive_int

function Linear:init(in_features, out_features, opts)
  positive_int(in_features, 1, "Linear")
  positive_int(out_features, 2, "Linear")
  opts = Module.check_init_options(opts, { bias = "boolean" }, "Linear", 3)
  self.in_features, self.out_features = in_features, out_features
  local bound = 1 / math.sqrt(in_features)
  self:register_parameter("weight", init.uniform_(hub.empty(out_features, in_features), -bound, bound):requires_grad())
  if opts.bias ~= false then
    self:register_parameter("bias", init.uniform_(hub.empty(out_features), -bound, bound):requires_grad())
  end
end

function Linear:forward(x)
  return x:linear(self.weight, self.bias)
end

function Linear:extra_repr()
  return string.format("in=%d, out=%d, %s", self.in_features, self.out_features, self.bias and "bias" or "no bias")
end

return Linear
