-- nn.ReLU(), nn.GELU({approximate = "none" | "tanh"}), nn.Tanh(): activations as modules, for
-- Sequential and for printing; they hold no parameters.  GELU defaults to the exact erf form
-- (BERT's "gelu"); approximate = "tanh" is the tanh form ("gelu_new" in Hugging Face).
-- m:fused_act() names the activation for hub.linear_act (TransformerEncoderLayer uses it to run
-- Linear + activation as one product when no gradient is recorded).
local raise = require "hub.core".raise
local Module = require "hub.nn.module"

local ReLU = Module:extend("ReLU")
function ReLU:init(opts) Module.check_init_options(opts, {}, "ReLU", 1) end
function ReLU:fused_act() return "relu" end
function ReLU:forward(x) return x:relu() end

local Tanh = Module:extend("Tanh")
function Tanh:init(opts) Module.check_init_options(opts, {}, "Tanh", 1) end
function Tanh:fused_act() return "tanh" end
function Tanh:forward(x) return x:tanh() end

local GELU = Module:extend("GELU")
function GELU:init(opts)
  opts = Module.check_init_options(opts, { approximate = "string" }, "GELU", 1)
  local a = opts.approximate or "none"
  if a ~= "none" and a ~= "tanh" then
    raise(string.format("GELU: approximate must be 'none' or 'tanh', got %s", tostring(a)))
  end
  self.approximate = a
end
function GELU:forward(x) return x:gelu(self.approximate) end
function GELU:fused_act() return self.approximate == "tanh" and "gelu_tanh" or "gelu" end
function GELU:extra_repr() return self.approximate == "tanh" and "approximate=tanh" or "" end

return { ReLU = ReLU, GELU = GELU, Tanh = Tanh }
