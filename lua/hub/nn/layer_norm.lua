-- nn.LayerNorm(shape, {eps = 1e-5, affine = true}): normalises over the last dimensions.
--
-- shape is a size (the last dimension) or a table of the last sizes.  With affine, weight
-- (ones) and bias (zeros) of that shape scale and shift the result (Hugging Face names them
-- LayerNorm.weight / LayerNorm.bias, once gamma / beta).  Uses the fused x:layer_norm, and
-- x:add_layer_norm for ln(x, residual).
local raise = require "hub.core".raise
local hub = require "hub"
local Module = require "hub.nn.module"
local Linear = require "hub.nn.linear"

local LayerNorm = Module:extend("LayerNorm")

function LayerNorm:init(shape, opts)
  if type(shape) == "number" then shape = { shape } end
  if type(shape) ~= "table" or #shape == 0 then
    raise(string.format("bad argument #1 to 'LayerNorm' (expected a size or a table of sizes, got %s)", type(shape)))
  end
  for _, s in ipairs(shape) do Linear.positive_int(s, 1, "LayerNorm") end
  opts = Module.check_init_options(opts, { eps = "number", affine = "boolean" }, "LayerNorm", 2)
  self.normalized_shape = shape
  self.eps = opts.eps or 1e-5
  if opts.affine ~= false then
    self:register_parameter("weight", hub.ones(shape):requires_grad())
    self:register_parameter("bias", hub.zeros(shape):requires_grad())
  end
end

-- ln(x) normalises x; ln(x, residual) normalises x + residual in one fused op (the post-LN
-- transformer's norm(x + sublayer(x))); both get the same gradient.
function LayerNorm:forward(x, residual)
  if residual ~= nil then
    return x:add_layer_norm(residual, self.normalized_shape, self.weight, self.bias, self.eps)
  end
  return x:layer_norm(self.normalized_shape, self.weight, self.bias, self.eps)
end

function LayerNorm:extra_repr()
  local s = #self.normalized_shape == 1 and tostring(self.normalized_shape[1])
    or "{" .. table.concat(self.normalized_shape, ", ") .. "}"
  return string.format("%s, eps=%g%s", s, self.eps, self.weight and "" or ", no affine")
end

return LayerNorm
