-- nn.Dropout(p = 0.5): in training mode zeroes each element with probability p and scales the
-- kept ones by 1/(1-p); in eval mode (m:eval()) it is the identity.  The mask comes from the
-- seeded generator (hub.manual_seed).
local raise = require "hub.core".raise
local Module = require "hub.nn.module"

local Dropout = Module:extend("Dropout")

function Dropout:init(p)
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or p < 0 or p >= 1 then
    raise(string.format("bad argument #1 to 'Dropout' (expected a probability in [0, 1), got %s)", tostring(p)))
  end
  self.p = p
end

function Dropout:forward(x)
  if not self.training or self.p == 0 then return x end
  return x:dropout(self.p, true)
end

function Dropout:extra_repr() return string.format("p=%g", self.p) end

return Dropout
