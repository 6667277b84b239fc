-- nn.Sequential(m1, m2, ...) (or nn.Sequential{m1, m2, ...}): runs its modules in order, each
-- one's output the next one's input.  The modules sit at positions 1, 2, ... (`seq[1]`, `#seq`,
-- ipairs) and are named "0", "1", ... in parameter names, as in PyTorch.
local raise = require "hub.core".raise
local Module = require "hub.nn.module"

local Sequential = Module:extend("Sequential")

function Sequential:init(...)
  rawset(self, "_is_list", true)
  local list = { ... }
  if select("#", ...) == 1 and type(list[1]) == "table" and not Module.is_module(list[1]) then list = list[1] end
  for i, m in ipairs(list) do
    if not Module.is_module(m) then
      raise(string.format("bad argument #%d to 'Sequential' (expected a module, got %s)", i, type(m)))
    end
    self:append(m)
  end
end

-- append(m): adds m at the end and returns self.
function Sequential:append(m)
  if not Module.is_module(m) then
    raise(string.format("bad argument #1 to 'append' (expected a module, got %s)", type(m)))
  end
  rawset(self, #self + 1, m)
  return self
end
Sequential.add = Sequential.append

function Sequential:forward(x, ...)
  for _, m in ipairs(self) do x = m(x, ...) end
  return x
end

return Sequential
