-- nn.ModuleList({m1, m2, ...}): holds modules so their parameters are registered, without
-- running them (the owner's forward loops over it).  Positions are 1-based (`list[1]`, `#list`,
-- ipairs); names are "0", "1", ... so a stack of layers reads `layers.0.attn.qkv.weight`.
local raise = require "hub.core".raise
local Module = require "hub.nn.module"

local ModuleList = Module:extend("ModuleList")

function ModuleList:init(list)
  rawset(self, "_is_list", true)
  if list == nil then return end
  if type(list) ~= "table" or Module.is_module(list) then
    raise(string.format("bad argument #1 to 'ModuleList' (expected a table of modules, got %s)", type(list)))
  end
  for i, m in ipairs(list) do
    if not Module.is_module(m) then
      raise(string.format("ModuleList: element %d is %s, expected a module", i, type(m)))
    end
    self:append(m)
  end
end

function ModuleList:append(m)
  if not Module.is_module(m) then
    raise(string.format("bad argument #1 to 'append' (expected a module, got %s)", type(m)))
  end
  rawset(self, #self + 1, m)
  return self
end

function ModuleList:forward()
  raise("ModuleList: a ModuleList is not callable; loop over its modules in the owner's forward")
end

return ModuleList
