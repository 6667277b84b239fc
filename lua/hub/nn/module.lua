-- hub.nn.Module: the base class of every layer, and the small class system layers are made with.
--
--   local Scale = nn.Module:extend("Scale")
--   function Scale:init(n) self:register_parameter("w", hub.ones({n}):requires_grad()) end
--   function Scale:forward(x) return x * self.w end
--   local m = Scale(4); local y = m(x)          -- m(x) calls m:forward(x)
--
-- A class is a table whose metatable chains to its parent's (method lookup walks the chain);
-- calling the class makes an instance and runs init(...).  An instance keeps its parameters,
-- child modules and buffers in ordered registries (a name list plus a name -> value map), not in
-- plain fields, so every traversal -- named_parameters(), state_dict(), __tostring -- follows
-- registration order and never pairs() order.  Reading `m.weight` or `m.fc` looks in the class
-- first, then in the registries; assigning a module to a field (`self.fc = nn.Linear(3, 4)`)
-- registers it as a child, assigning to a registered name replaces it and assigning nil removes
-- it.  Tensors become parameters only through register_parameter (explicit, as in torch7).
--
-- List containers (Sequential, ModuleList) keep their modules in the instance's array part
-- (positions 1, 2, ...; `#m` and ipairs work) and name them "0", "1", ... as PyTorch and
-- Hugging Face do, so state_dict keys read `layers.0.attn.qkv.weight` while Lua code writes
-- `layers[1]` (the indexing rule: positions are 1-based, names are the framework's strings).
local core = require "hub.core"
local raise = core.raise
local hub_tensor = require "hub.tensor"
local is_tensor = core.is_tensor

local Module = { __name = "Module" }

local function is_module(v)
  return type(v) == "table" and rawget(v, "_parameters") ~= nil
end

-- Every class gets its own copies of the metamethods (metamethods are not inherited through
-- __index) and an __index function that looks up the class chain, then the registries.
local function install_metamethods(cls)
  cls.__index = function(t, k)
    local v = cls[k]
    if v ~= nil then return v end
    v = rawget(t, "_parameters")[k]
    if v ~= nil then return v end
    v = rawget(t, "_modules")[k]
    if v ~= nil then return v end
    return rawget(t, "_buffers")[k]
  end
  cls.__newindex = Module.__newindex
  cls.__call = Module.__call
  cls.__tostring = Module.__tostring
end

local function remove_name(list, name)
  for i = 1, #list do
    if list[i] == name then table.remove(list, i) return end
  end
end

-- Creates a subclass.  The class is callable: Class(...) makes an instance and runs init(...).
function Module:extend(name)
  if type(name) ~= "string" then core.argerror(1, "extend", "a class name string", type(name)) end
  local cls = { __name = name, super = self }
  install_metamethods(cls)
  return setmetatable(cls, { __index = self, __call = function(c, ...) return c:new(...) end,
                             __tostring = function() return "class " .. name end })
end

-- Placement asked for in a constructor's options ({device = "cuda"}, {dtype = "f64"}): init's
-- check_init_options writes it into the frame of the construction under way; new() applies it to
-- the finished module (so children made inside init move too).  Parameters are initialised on the
-- cpu first and copied, so a seeded layer starts from the same numbers on every device.
local frames = {}

function Module:new(...)
  local obj = setmetatable({ _parameters = {}, _param_names = {}, _modules = {}, _module_names = {},
                             _buffers = {}, _buffer_names = {}, training = true }, self)
  local depth = #frames + 1
  local frame = {}
  frames[depth] = frame
  obj:init(...)
  for i = #frames, depth, -1 do frames[i] = nil end -- also the frames an init that raised left behind
  if frame.dtype then obj:to(frame.dtype) end
  if frame.device and frame.device ~= "cpu" then obj:to(frame.device) end
  return obj
end

function Module:init() end

function Module:forward()
  raise(self.__name .. ": forward() is not implemented")
end

function Module.__call(self, ...) return self:forward(...) end

Module.is_module = is_module

-- ---- registration ----
local function check_name(self, name, what)
  if type(name) ~= "string" or name == "" then
    raise(string.format("bad argument #1 to '%s' (expected a non-empty name string, got %s)", what, type(name)))
  end
  if name:find(".", 1, true) then raise(string.format("%s: name '%s' must not contain '.'", what, name)) end
  local cls = getmetatable(self)
  if cls[name] ~= nil then raise(string.format("%s: name '%s' is taken by a method of %s", what, name, self.__name)) end
end

-- The kind of registry a name already belongs to, so a name is never in two of them.
local function registered(self, name)
  if rawget(self, "_parameters")[name] ~= nil then return "parameter" end
  if rawget(self, "_modules")[name] ~= nil then return "module" end
  if rawget(self, "_buffers")[name] ~= nil then return "buffer" end
  if rawget(self, name) ~= nil then return "attribute" end
  return nil
end

-- register_parameter(name, t): t (a tensor that requires grad, or nil for "no parameter").
function Module:register_parameter(name, t)
  check_name(self, name, "register_parameter")
  local kind = registered(self, name)
  if kind and kind ~= "parameter" then raise(string.format("register_parameter: '%s' is already a %s", name, kind)) end
  if t ~= nil and not is_tensor(t) then core.argerror(2, "register_parameter", "a tensor or nil", type(t)) end
  local p = rawget(self, "_parameters")
  if t == nil then
    if p[name] ~= nil then remove_name(self._param_names, name) end
  elseif p[name] == nil then
    table.insert(self._param_names, name)
  end
  p[name] = t
  return t
end

-- register_buffer(name, t): state that is saved in state_dict() but not trained (running means).
function Module:register_buffer(name, t)
  check_name(self, name, "register_buffer")
  local kind = registered(self, name)
  if kind and kind ~= "buffer" then raise(string.format("register_buffer: '%s' is already a %s", name, kind)) end
  if t ~= nil and not is_tensor(t) then core.argerror(2, "register_buffer", "a tensor or nil", type(t)) end
  local b = rawget(self, "_buffers")
  if t == nil then
    if b[name] ~= nil then remove_name(self._buffer_names, name) end
  elseif b[name] == nil then
    table.insert(self._buffer_names, name)
  end
  b[name] = t
  return t
end

-- add_module(name, m): a named child (also done by assigning a module to a field).
function Module:add_module(name, m)
  check_name(self, name, "add_module")
  local kind = registered(self, name)
  if kind and kind ~= "module" then raise(string.format("add_module: '%s' is already a %s", name, kind)) end
  if m ~= nil and not is_module(m) then core.argerror(2, "add_module", "a module or nil", type(m)) end
  local c = rawget(self, "_modules")
  if m == nil then
    if c[name] ~= nil then remove_name(self._module_names, name) end
  elseif c[name] == nil then
    table.insert(self._module_names, name)
  end
  c[name] = m
  return m
end

function Module.__newindex(t, k, v)
  if type(k) == "number" then
    if rawget(t, "_is_list") and not is_module(v) and v ~= nil then
      raise(string.format("%s: element %d must be a module, got %s", t.__name, k, type(v)))
    end
    rawset(t, k, v)
    return
  end
  if rawget(t, "_parameters")[k] ~= nil then
    if v ~= nil and not is_tensor(v) then
      raise(string.format("%s: cannot assign a %s to parameter '%s' (expected a tensor or nil)", t.__name, type(v), k))
    end
    Module.register_parameter(t, k, v)
  elseif rawget(t, "_modules")[k] ~= nil then
    if v ~= nil and not is_module(v) then
      raise(string.format("%s: cannot assign a %s to child module '%s' (expected a module or nil)", t.__name, type(v), k))
    end
    Module.add_module(t, k, v)
  elseif rawget(t, "_buffers")[k] ~= nil then
    if v ~= nil and not is_tensor(v) then
      raise(string.format("%s: cannot assign a %s to buffer '%s' (expected a tensor or nil)", t.__name, type(v), k))
    end
    Module.register_buffer(t, k, v)
  elseif is_module(v) then
    Module.add_module(t, k, v)
  else
    rawset(t, k, v)
  end
end

-- ---- traversal ----
-- The direct children as a list of { name, module }: registration order, then (for list
-- containers) the array part named "0", "1", ...
function Module:_child_list()
  local out = {}
  local c = rawget(self, "_modules")
  for _, name in ipairs(self._module_names) do out[#out + 1] = { name, c[name] } end
  if rawget(self, "_is_list") then
    for i, m in ipairs(self) do out[#out + 1] = { tostring(i - 1), m } end
  end
  return out
end

local function list_iter(list)
  local i = 0
  return function()
    i = i + 1
    local e = list[i]
    if e then return e[1], e[2] end
  end
end

-- Pre-order walk: fn(prefix, module) for self and every descendant (each module once).
local function walk(m, prefix, fn, seen)
  if seen[m] then return end
  seen[m] = true
  fn(prefix, m)
  for _, e in ipairs(m:_child_list()) do
    walk(e[2], prefix == "" and e[1] or prefix .. "." .. e[1], fn, seen)
  end
end

-- named_parameters() iterates `for name, p in m:named_parameters() do` with dotted names in
-- registration order; a tensor shared by two modules (tied weights) is given once.
function Module:_named_parameter_list()
  local out, seen = {}, {}
  walk(self, "", function(prefix, m)
    local p = rawget(m, "_parameters")
    for _, name in ipairs(m._param_names) do
      local t = p[name]
      if not seen[t] then
        seen[t] = true
        out[#out + 1] = { prefix == "" and name or prefix .. "." .. name, t }
      end
    end
  end, {})
  return out
end
function Module:named_parameters() return list_iter(self:_named_parameter_list()) end

-- parameters(): a list of tensors (what an optimiser takes).
function Module:parameters()
  local out = {}
  for _, e in ipairs(self:_named_parameter_list()) do out[#out + 1] = e[2] end
  return out
end

function Module:named_buffers()
  local out = {}
  walk(self, "", function(prefix, m)
    local b = rawget(m, "_buffers")
    for _, name in ipairs(m._buffer_names) do out[#out + 1] = { prefix == "" and name or prefix .. "." .. name, b[name] } end
  end, {})
  return list_iter(out)
end

function Module:num_parameters()
  local n = 0
  for _, e in ipairs(self:_named_parameter_list()) do n = n + e[2]:numel() end
  return n
end

function Module:named_children() return list_iter(self:_child_list()) end
function Module:children()
  local out = {}
  for _, e in ipairs(self:_child_list()) do out[#out + 1] = e[2] end
  return out
end

-- named_modules(): self (name "") and every descendant, pre-order.
function Module:named_modules()
  local out = {}
  walk(self, "", function(prefix, m) out[#out + 1] = { prefix, m } end, {})
  return list_iter(out)
end
function Module:modules()
  local out = {}
  walk(self, "", function(_, m) out[#out + 1] = m end, {})
  return out
end

-- to(what): every parameter and buffer converted to a dtype ("f32", "f16", "bf16", ...) or a
-- device ("cpu", "cuda"), in place in the module tree; returns self.  A converted float
-- parameter is a new leaf that requires gradients again (integer conversions do not); an
-- optimiser built before holds the old tensors, so build it after (as with PyTorch).
function Module:to(what)
  if type(what) ~= "string" then core.argerror(1, "to", "a dtype or device string", type(what)) end
  local hub = require "hub"
  for _, m in ipairs(self:modules()) do
    for _, kind in ipairs { "_parameters", "_buffers" } do
      local store = rawget(m, kind)
      if store then
        for name, t in pairs(store) do
          local c = hub.no_grad(function() return t:to(what) end)
          if kind == "_parameters" and (c.dtype == "f32" or c.dtype == "f16" or c.dtype == "bf16" or c.dtype == "f64") then
            c = c:detach():requires_grad()
          end
          store[name] = c
        end
      end
    end
  end
  return self
end

-- apply(fn): fn(m) on every descendant, children before parents (as PyTorch), then self.
function Module:apply(fn)
  if type(fn) ~= "function" then core.argerror(1, "apply", "a function", type(fn)) end
  local seen = {}
  local function visit(m)
    if seen[m] then return end
    seen[m] = true
    for _, e in ipairs(m:_child_list()) do visit(e[2]) end
    fn(m)
  end
  visit(self)
  return self
end

-- train(on=true) / eval(): the mode flag of self and every descendant (Dropout reads it).
function Module:train(on)
  if on == nil then on = true end
  for _, m in ipairs(self:modules()) do rawset(m, "training", on and true or false) end
  return self
end
function Module:eval() return self:train(false) end

function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p:zero_grad() end
  return self
end

-- ---- state ----
-- state_dict(): name -> tensor for every parameter and buffer (every name, tied weights too).
-- The tensors are detached views of the module's own data: saving them writes current values,
-- and writing into them changes the module.
function Module:state_dict()
  local sd = {}
  walk(self, "", function(prefix, m)
    local pre = prefix == "" and "" or prefix .. "."
    local p, b = rawget(m, "_parameters"), rawget(m, "_buffers")
    for _, name in ipairs(m._param_names) do sd[pre .. name] = p[name]:detach() end
    for _, name in ipairs(m._buffer_names) do sd[pre .. name] = b[name]:detach() end
  end, {})
  return sd
end

-- The state names in registration order, each with its tensor.
local function state_list(self)
  local out = {}
  walk(self, "", function(prefix, m)
    local pre = prefix == "" and "" or prefix .. "."
    local p, b = rawget(m, "_parameters"), rawget(m, "_buffers")
    for _, name in ipairs(m._param_names) do out[#out + 1] = { pre .. name, p[name], m, name, p } end
    for _, name in ipairs(m._buffer_names) do out[#out + 1] = { pre .. name, b[name], m, name, b } end
  end, {})
  return out
end

local function shape_str(t) return "[" .. table.concat(t.shape, ",") .. "]" end

-- load_state_dict(sd, {strict=true, assign=false}): copies sd's tensors into the module's
-- parameters and buffers in place (dtypes are converted, so f16/bf16 checkpoints widen to f32).
-- With assign = true the module takes sd's tensors themselves instead (no copy: weights mapped
-- from a file and shared by several runtimes stay shared; a tensor of another dtype is converted
-- into a new one of the module's dtype).  Everything is checked before anything is copied or
-- assigned: with strict, missing and unexpected keys are an error; mis-shaped tensors always
-- are.  Returns { missing = {...}, unexpected = {...} }.
function Module:load_state_dict(sd, opts)
  if type(sd) ~= "table" then core.argerror(1, "load_state_dict", "a table of name -> tensor", type(sd)) end
  opts = core.check_options(opts, { strict = "boolean", assign = "boolean" }, "load_state_dict", 2)
  local strict = opts.strict ~= false
  local own, expected = state_list(self), {}
  local missing, unexpected, mismatched = {}, {}, {}
  for _, e in ipairs(own) do
    local name, t = e[1], e[2]
    expected[name] = true
    local src = sd[name]
    if src == nil then
      missing[#missing + 1] = name
    elseif not is_tensor(src) then
      mismatched[#mismatched + 1] = string.format("%s is a %s, expected a tensor", name, type(src))
    else
      local a, b = t.shape, src.shape
      local same = #a == #b
      for i = 1, #a do if a[i] ~= b[i] then same = false end end
      if not same then
        mismatched[#mismatched + 1] = string.format("size mismatch for %s: expected %s, got %s", name, shape_str(t), shape_str(src))
      end
    end
  end
  for k in pairs(sd) do
    if not expected[k] then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  local problems = {}
  if strict and #missing > 0 then problems[#problems + 1] = "missing keys: " .. table.concat(missing, ", ") end
  if strict and #unexpected > 0 then problems[#problems + 1] = "unexpected keys: " .. table.concat(unexpected, ", ") end
  for _, m in ipairs(mismatched) do problems[#problems + 1] = m end
  if #problems > 0 then raise("load_state_dict: " .. table.concat(problems, "; ")) end
  if opts.assign then
    for _, e in ipairs(own) do
      local src = sd[e[1]]
      if src ~= nil then
        if src.dtype ~= e[2].dtype then src = src:to(e[2].dtype) end
        if src.device ~= e[2].device then src = src:to(e[2].device) end
        e[5][e[4]] = src
      end
    end
    return { missing = missing, unexpected = unexpected }
  end
  hub_tensor.hub.no_grad(function()
    for _, e in ipairs(own) do
      local src = sd[e[1]]
      if src ~= nil then e[2]:copy_(src) end
    end
  end)
  return { missing = missing, unexpected = unexpected }
end

-- ---- printing ----
-- extra_repr(): the text inside Name(...) in the printed tree; layers override it.
function Module:extra_repr() return "" end

local function commas(n)
  local s = tostring(n)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  if out:sub(1, 1) == "," then out = out:sub(2) end
  return out
end
Module.format_count = commas

local function describe(m)
  local e = m:extra_repr()
  if e == nil or e == "" then return m.__name end
  return m.__name .. "(" .. e .. ")"
end

-- An indented tree: containers show "(N parameters)", leaves their own count after the name.
--   Sequential (26 parameters)
--     (0): Linear(in=3, out=4, bias) 16
--     (1): ReLU
--     (2): Linear(in=4, out=2, bias) 10
function Module.__tostring(self)
  local lines = { describe(self) .. " (" .. commas(self:num_parameters()) .. " parameters)" }
  local function render(m, indent)
    for _, e in ipairs(m:_child_list()) do
      local c = e[2]
      local line = indent .. "(" .. e[1] .. "): " .. describe(c)
      local n = c:num_parameters()
      if #c:_child_list() > 0 then
        lines[#lines + 1] = line .. " (" .. commas(n) .. " parameters)"
        render(c, indent .. "  ")
      else
        lines[#lines + 1] = n > 0 and (line .. " " .. commas(n)) or line
      end
    end
  end
  render(self, "  ")
  return table.concat(lines, "\n")
end

install_metamethods(Module)
-- Module itself is callable like any class (Module() is an empty container).
setmetatable(Module, { __call = function(c, ...) return c:new(...) end, __tostring = function() return "class Module" end })

-- check_options(opts, spec, fname): an options table with only the allowed keys, each of its
-- type, so a typo ({bais = false}) is an error instead of being ignored (hub.core.check_options).
Module.check_options = core.check_options

-- check_init_options(opts, spec, fname, argn): check_options for a constructor, which also takes
-- `device` ("cpu" or "cuda") and `dtype` (a float dtype): the module is moved there once built.
local init_specs = setmetatable({}, { __mode = "k" })
local FLOAT_DTYPES = { f32 = true, f64 = true, f16 = true, bf16 = true }
function Module.check_init_options(opts, spec, fname, argn)
  local ext = init_specs[spec]
  if not ext then
    ext = { device = "string", dtype = "string" }
    for k, v in pairs(spec) do ext[k] = v end
    init_specs[spec] = ext
  end
  opts = core.check_options(opts, ext, fname, argn)
  if opts.device ~= nil then require("hub.cuda").check_device(opts.device, fname) end
  if opts.dtype ~= nil and not FLOAT_DTYPES[opts.dtype] then
    raise(string.format("%s: option 'dtype' must be one of f32, f64, f16, bf16, got '%s'", fname, opts.dtype))
  end
  local f = frames[#frames]
  if f then f.device, f.dtype = opts.device, opts.dtype end
  return opts
end

return Module
