-- hub.optim: optimisers over parameter groups, with fused C updates (runtime/hub_optim.h).
--
--   local opt = hub.optim.AdamW(model, { lr = 5e-5, weight_decay = 0.01,
--                                        no_decay = { "bias", "norm" },
--                                        schedule = hub.lr.linear{ warmup = 0.1, total = 1000 } })
--   loss:backward(); hub.optim.clip_grad_norm(model, 1.0); opt:step(); opt:zero_grad()
--
-- `params` may be a module (anything with named_parameters()), a list of tensors, or a list of
-- groups { params = {...}, lr = ..., weight_decay = ... } whose options override the defaults
-- (per-group learning rates, as discriminative fine-tuning needs).  With a module, `no_decay`
-- (name substrings, or a predicate function(name, param)) moves matching parameters into a group
-- with weight_decay = 0.  A `schedule` is a function of the 0-based update index returning a
-- multiplier of each group's lr (see hub.lr).
local core = require "hub.core"
local C, check, is_tensor = core.C, core.check, core.is_tensor

local optim = {}

-- Normalises named_parameters() results: a list of {name, p} pairs, {name=, param=} records, or
-- a name -> tensor map (sorted by name).
local function named_list(m)
  local np = m:named_parameters()
  local out = {}
  if type(np) == "function" then
    for name, p in np do out[#out + 1] = { name, p } end
    return out
  end
  if #np > 0 then
    for _, e in ipairs(np) do
      if is_tensor(e) then core.raise("optim: named_parameters() returned tensors without names") end
      out[#out + 1] = { e[1] or e.name, e[2] or e.param or e.tensor }
    end
  else
    local names = {}
    for k in pairs(np) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do out[#out + 1] = { k, np[k] } end
  end
  return out
end

local function excluded(no_decay, name, p)
  if type(no_decay) == "function" then return no_decay(name, p) end
  for _, pat in ipairs(no_decay) do
    if name:find(pat, 1, true) then return true end
  end
  return false
end

-- Builds param_groups from the accepted forms of `params`.
local function make_groups(params, defaults, fname, group_spec)
  local groups = {}
  local function group_of(list, overrides, names)
    local g = {}
    for k, v in pairs(defaults) do g[k] = v end
    for k, v in pairs(overrides or {}) do if k ~= "params" then g[k] = v end end
    g.params, g.names = {}, names
    for i, p in ipairs(list) do
      if not is_tensor(p) then
        core.raise(string.format("%s: parameter %d of a group is %s, expected a tensor", fname, i, type(p)))
      end
      g.params[i] = p
    end
    return g
  end
  if type(params) == "table" and type(params.named_parameters) == "function" then
    local decay, nodecay, dn, nn_ = {}, {}, {}, {}
    for _, e in ipairs(named_list(params)) do
      if defaults.no_decay and excluded(defaults.no_decay, e[1], e[2]) then
        nodecay[#nodecay + 1], nn_[#nn_ + 1] = e[2], e[1]
      else
        decay[#decay + 1], dn[#dn + 1] = e[2], e[1]
      end
    end
    if #decay > 0 then groups[#groups + 1] = group_of(decay, nil, dn) end
    if #nodecay > 0 then groups[#groups + 1] = group_of(nodecay, { weight_decay = 0 }, nn_) end
  elseif type(params) == "table" and (is_tensor(params[1]) or #params == 0) then
    groups[1] = group_of(params)
  elseif type(params) == "table" and type(params[1]) == "table" and params[1].params then
    for i, g in ipairs(params) do
      core.check_options(g, group_spec, string.format("%s: parameter group %d", fname, i), 1)
      local list = g.params
      if type(list) == "table" and type(list.named_parameters) == "function" then
        local l = {}
        for _, e in ipairs(named_list(list)) do l[#l + 1] = e[2] end
        list = l
      end
      groups[#groups + 1] = group_of(list, g)
    end
  else
    core.argerror(1, fname, "a module, a list of tensors or a list of parameter groups", type(params))
  end
  local n = 0
  for _, g in ipairs(groups) do n = n + #g.params end
  if n == 0 then core.raise(fname .. ": no parameters to optimise") end
  return groups
end

local Optimizer = {}
Optimizer.__index = Optimizer
optim.Optimizer = Optimizer

-- update(p, grad, state, group, lr) updates one parameter; update_group(items, group, lr), given
-- instead (Adam, AdamW), updates a whole group at once (items: {p, grad, state} for each parameter with a
-- gradient, in order; one fused C call instead of one per parameter).
function optim.new_class(name, defaults, update, update_group)
  -- the options: every default (of its type), a schedule and no_decay
  local spec = { schedule = "function", no_decay = "table|function" }
  for k, v in pairs(defaults) do spec[k] = type(v) end
  local group_spec = { params = "table" }
  for k, v in pairs(defaults) do group_spec[k] = type(v) end
  local cls = setmetatable({ name = name, defaults = defaults, update = update, update_group = update_group },
                           { __index = Optimizer })
  cls.__index = cls
  cls.__tostring = function(self)
    local parts = {}
    for i, g in ipairs(self.param_groups) do
      parts[#parts + 1] = string.format("  group %d: %d tensors, lr=%g, weight_decay=%g", i, #g.params, g.lr,
        g.weight_decay or 0)
    end
    return name .. " (" .. self.step_count .. " steps)\n" .. table.concat(parts, "\n")
  end
  setmetatable(cls, { __index = Optimizer, __call = function(c, params, opts)
    opts = core.check_options(opts, spec, name, 2)
    local d = {}
    for k, v in pairs(defaults) do d[k] = v end
    for k, v in pairs(opts) do
      if k ~= "schedule" then d[k] = v end
    end
    local self = setmetatable({ param_groups = make_groups(params, d, name, group_spec), state = {},
                                step_count = 0, schedule = opts.schedule }, c)
    return self
  end })
  return cls
end

-- The learning rate of group i for the next update (after the schedule).
function Optimizer:get_lr(i)
  local g = self.param_groups[i or 1]
  return g.lr * (self.schedule and self.schedule(self.step_count) or 1)
end

function Optimizer:step()
  local scale = self.schedule and self.schedule(self.step_count) or 1
  self.step_count = self.step_count + 1
  local k = 0
  for _, g in ipairs(self.param_groups) do
    local lr = g.lr * scale
    local items = self.update_group and {} or nil
    for _, p in ipairs(g.params) do
      k = k + 1
      local grad = p.grad
      if grad ~= nil then
        local st = self.state[k]
        if not st then st = {}; self.state[k] = st end
        if items then items[#items + 1] = { p, grad, st } else self.update(p, grad, st, g, lr) end
      end
    end
    if items and #items > 0 then self.update_group(items, g, lr) end
  end
end

function Optimizer:zero_grad()
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do p:zero_grad() end
  end
end

-- Every parameter, in group order.
function Optimizer:parameters()
  local out = {}
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do out[#out + 1] = p end
  end
  return out
end

-- A plain table: { step_count, param_groups = {options...}, state = { [k] = {name = tensor | number} } }.
-- Tensors are clones, so the dict is a snapshot; state_dict{ clone = false } hands out the live
-- state tensors instead (for a caller that writes them out at once, as hub.checkpoint does,
-- without a second copy of the optimiser's memory).
function Optimizer:state_dict(opts)
  local clone = not (opts and opts.clone == false)
  local groups = {}
  for i, g in ipairs(self.param_groups) do
    local c = {}
    for k, v in pairs(g) do if k ~= "params" and k ~= "names" then c[k] = v end end
    c.n_params = #g.params
    groups[i] = c
  end
  local state = {}
  for k, st in pairs(self.state) do
    local s = {}
    for name, v in pairs(st) do s[name] = (clone and is_tensor(v)) and v:clone() or v end
    state[k] = s
  end
  return { kind = self.name, step_count = self.step_count, param_groups = groups, state = state }
end

function Optimizer:load_state_dict(sd)
  if type(sd) ~= "table" or type(sd.param_groups) ~= "table" then
    core.raise("load_state_dict: expected a table made by state_dict()")
  end
  if sd.kind and sd.kind ~= self.name then
    core.raise(string.format("load_state_dict: the state is for %s, this optimiser is %s", sd.kind, self.name))
  end
  if #sd.param_groups ~= #self.param_groups then
    core.raise(string.format("load_state_dict: %d parameter groups in the state, %d here", #sd.param_groups,
      #self.param_groups))
  end
  local params = self:parameters()
  for i, g in ipairs(sd.param_groups) do
    if g.n_params and g.n_params ~= #self.param_groups[i].params then
      core.raise(string.format("load_state_dict: group %d has %d parameters in the state, %d here", i, g.n_params,
        #self.param_groups[i].params))
    end
  end
  local state = {}
  for k, st in pairs(sd.state or {}) do
    local p = params[k]
    if not p then core.raise(string.format("load_state_dict: state for parameter %d, which does not exist", k)) end
    local s = {}
    for name, v in pairs(st) do
      if is_tensor(v) then
        local ps, vs = p.shape, v.shape
        if table.concat(ps, ",") ~= table.concat(vs, ",") then
          core.raise(string.format("load_state_dict: %s of parameter %d has shape [%s], the parameter [%s]", name, k,
            table.concat(vs, ","), table.concat(ps, ",")))
        end
        s[name] = v.device == p.device and v:clone() or v:to(p.device) -- a checkpoint's state is on the cpu
      else
        s[name] = v
      end
    end
    state[k] = s
  end
  for i, g in ipairs(sd.param_groups) do
    for k, v in pairs(g) do if k ~= "n_params" then self.param_groups[i][k] = v end end
  end
  self.state = state
  self.step_count = sd.step_count or 0
end

-- Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
function optim.clip_grad_norm(params, max_norm)
  if type(max_norm) ~= "number" or max_norm <= 0 then core.argerror(2, "clip_grad_norm", "a positive number", tostring(max_norm)) end
  local list = params
  if type(params) == "table" and type(params.named_parameters) == "function" then
    list = {}
    for _, e in ipairs(named_list(params)) do list[#list + 1] = e[2] end
  elseif type(params) == "table" and getmetatable(params) and params.parameters then
    list = params:parameters()
  end
  -- the gradients by device, each device's in one call (on a GPU: one launch and one read back
  -- for all of them, not one per parameter)
  local by_dev, order, total = {}, {}, 0
  for _, p in ipairs(list) do
    local g = p.grad
    if g ~= nil then
      local d = g.device
      if not by_dev[d] then by_dev[d] = {}; order[#order + 1] = d end
      local l = by_dev[d]
      l[#l + 1] = g
    end
  end
  local ffi = require "ffi"
  local arrays = {} -- device -> the gradients as a C array (the Lua lists in by_dev keep them alive)
  for _, d in ipairs(order) do
    local l = by_dev[d]
    local arr, out = ffi.new("hub_tensor *[?]", #l), ffi.new("double[?]", #l)
    for i = 1, #l do arr[i - 1] = l[i] end
    check(C.hub_sum_squares_multi(#l, arr, out), 2)
    for i = 0, #l - 1 do total = total + out[i] end
    arrays[d] = arr
  end
  local norm = math.sqrt(total)
  if norm > max_norm then
    local s = max_norm / (norm + 1e-6)
    for _, d in ipairs(order) do check(C.hub_scale_multi_(#by_dev[d], arrays[d], s), 2) end
  end
  return norm
end

optim.SGD = require("hub.optim.sgd")(optim)
local adam = require("hub.optim.adam")(optim)
optim.Adam, optim.AdamW = adam.Adam, adam.AdamW

return optim
