-- hub.strategy.setup: what a strategy becomes once it meets a model (strategy:setup in
-- lua/hub/strategy/init.lua calls M.setup).  The object it returns holds
--
--   optimizer   a hub.optim Adam/AdamW (or SGD) whose parameter groups are the parameters split
--               by depth (layer_of) and by decay / no decay; each group's lr is
--               lr * dis_factor^-(D - depth) (discriminative fine-tuning; D = num_layers, the
--               head's depth; the head's lr also times head_lr) and its schedule is the
--               strategy's multiplier (schedule.lua).
--               Its step() is wrapped: the gradients of frozen parameters are dropped first (an
--               update then skips them entirely: no weight decay, no Adam moments), then the
--               global gradient norm is clipped to `clip` when clip > 0.
--   groups      { depth =, decay = bool, names = {...} } for each optimiser group, in order
--   before_step(t)  unfreezing: the parameters of the blocks that are still frozen at update t
--               stop requiring gradients (backward skips them) and lose any gradient; the others
--               require gradients again.  Parameters that did not require gradients when setup
--               ran are never touched.
--   penalty()   alpha/2 ||w - w0||^2 over the pretrained parameters (w0: their values at setup)
--               + beta/2 ||w||^2 over the others + l2/2 ||w||^2 over the pretrained ones; a
--               scalar tensor with gradients, or nil when there is nothing to add.  Frozen
--               parameters are left out (they cannot move, so their terms are constants).
--   state_dict() / load_state_dict(sd)   the last step seen (JSON-able, for hub.checkpoint's
--               meta.json); state_dict{ full = true } also holds the optimiser's state and the
--               L2-SP anchors w0 (a run resumed from fine-tuned weights must pull towards the
--               pretrained ones, not towards the weights it resumed from)
--   lr_of(name), is_frozen(name), lrs()  what a test, a log line or a progress bar wants to know
local core = require "hub.core"
local sched = require "hub.strategy.schedule"

local M = {}

local function fail(fmt, ...) core.raise(string.format(fmt, ...)) end

-- PaddleHub's exclusions from weight decay, in hubrun's names: biases and LayerNorm parameters
-- (layer_norm, norm1, norm2, LayerNorm: any name component containing "norm").
function M.default_no_decay(name)
  local last = name:match("([^%.]+)$") or name
  if last == "bias" or last:match("_bias$") or last == "b" then return true end
  for part in name:gmatch("[^%.]+") do
    if part:lower():find("norm", 1, true) then return true end
  end
  return false
end

local function matcher(v, what)
  if v == nil then return nil end
  if type(v) == "function" then return v end
  if type(v) == "table" then
    return function(name)
      for _, pat in ipairs(v) do if name:find(pat, 1, true) then return true end end
      return false
    end
  end
  fail("strategy: '%s' must be a list of name substrings or a function(name) -> boolean, got %s", what, type(v))
end

local Setup = {}
Setup.__index = Setup

-- ctx: { total_steps =, named_parameters = {{name, tensor}, ...}, layer_of = fn, num_layers = D,
--        steps_per_epoch = (optional) }
function M.setup(strategy, model, ctx)
  local o = strategy.opts
  local fname = strategy.name .. ":setup"
  if type(ctx) ~= "table" then core.argerror(2, fname, "a table {total_steps, named_parameters, layer_of, num_layers}", type(ctx)) end
  local T = ctx.total_steps
  if type(T) ~= "number" or T < 1 or T ~= math.floor(T) then
    fail("%s: total_steps must be a positive integer, got %s", fname, tostring(T))
  end
  local named = ctx.named_parameters
  if named == nil and model and type(model.named_parameters) == "function" then
    named = {}
    for n, p in model:named_parameters() do named[#named + 1] = { n, p } end
  end
  if type(named) ~= "table" or #named == 0 then fail("%s: named_parameters must be a non-empty list of {name, tensor}", fname) end
  local layer_of = ctx.layer_of or function() return 0 end
  if type(layer_of) ~= "function" then fail("%s: layer_of must be a function(name) -> depth", fname) end

  -- depths
  local params, maxd = {}, 0
  for i, e in ipairs(named) do
    local name, p = e[1] or e.name, e[2] or e.param or e.tensor
    if type(name) ~= "string" or not core.is_tensor(p) then
      fail("%s: named_parameters[%d] is not {name, tensor}", fname, i)
    end
    local d = layer_of(name)
    if type(d) ~= "number" or d < 0 or d ~= math.floor(d) then
      fail("%s: layer_of('%s') returned %s, expected an integer >= 0", fname, name, tostring(d))
    end
    if d > maxd then maxd = d end
    params[#params + 1] = { name = name, p = p, depth = d, trainable = core.C.hub_tensor_requires_grad(p) ~= 0 }
  end
  local D = ctx.num_layers or maxd
  if type(D) ~= "number" or D < maxd then
    fail("%s: num_layers is %s but layer_of gives depths up to %d", fname, tostring(D), maxd)
  end

  local no_decay = matcher(o.no_decay, "no_decay") or M.default_no_decay
  local pretrained = matcher(o.pretrained, "pretrained") or function(name) return layer_of(name) < D end

  -- optimiser groups: by depth from the top (group 1 is the head's: get_lr(1) is the base
  -- rate), decay before no decay
  local by_key, keys = {}, {}
  for _, e in ipairs(params) do
    e.decay = (o.weight_decay or 0) > 0 and not no_decay(e.name)
    e.pretrained = pretrained(e.name) and true or false
    local key = (D - e.depth) * 2 + (e.decay and 0 or 1)
    if not by_key[key] then by_key[key] = {}; keys[#keys + 1] = key end
    table.insert(by_key[key], e)
  end
  table.sort(keys)
  local factor, head = o.dis_factor or 1, o.head_lr or 1
  local groups, info = {}, {}
  for _, key in ipairs(keys) do
    local list = by_key[key]
    local d, decay = list[1].depth, list[1].decay
    local g = { params = {}, lr = o.lr * factor ^ -(D - d) * (d == D and head or 1), weight_decay = decay and o.weight_decay or 0 }
    local names = {}
    for i, e in ipairs(list) do g.params[i], names[i] = e.p, e.name end
    groups[#groups + 1] = g
    info[#info + 1] = { depth = d, decay = decay, names = names, lr = g.lr }
  end

  local end_ratio = (o.end_lr or 0) / o.lr
  local mult = sched.multiplier({ cut_fraction = o.cut_fraction, ratio = o.ratio, warmup = o.warmup,
    noam = o.noam, linear_decay = o.linear_decay, end_ratio = end_ratio }, T)
  local optim = require "hub.optim"
  local opt
  if o.optimizer == "sgd" then
    for _, g in ipairs(groups) do g.momentum = o.momentum or 0 end
    opt = optim.SGD(groups, { lr = o.lr, schedule = mult })
  elseif (o.weight_decay or 0) > 0 then
    opt = optim.AdamW(groups, { lr = o.lr, schedule = mult })
  else
    for _, g in ipairs(groups) do g.weight_decay = nil end
    opt = optim.Adam(groups, { lr = o.lr, schedule = mult })
  end

  local self = setmetatable({ strategy = strategy, optimizer = opt, groups = info, params = params,
    total_steps = T, num_layers = D, step = nil, multiplier = mult }, Setup)
  self.by_name = {}
  for _, e in ipairs(params) do self.by_name[e.name] = e end
  for gi, g in ipairs(info) do for _, n in ipairs(g.names) do self.by_name[n].group = gi end end

  -- gradual unfreezing
  local gu = o.gradual_unfreeze
  if gu then
    local n = gu == true and (D + 1) or gu
    if type(n) ~= "number" or n < 1 or n ~= math.floor(n) then
      fail("%s: gradual_unfreeze must be true or a number of blocks >= 1, got %s", fname, tostring(gu))
    end
    local every = o.unfreeze_every
    if every == "epoch" then
      every = ctx.steps_per_epoch
      if type(every) ~= "number" or every < 1 then
        fail("%s: unfreeze_every = \"epoch\" needs steps_per_epoch from the trainer", fname)
      end
    elseif every ~= nil and (type(every) ~= "number" or every < 1) then
      fail("%s: unfreeze_every must be a number of steps >= 1 or \"epoch\", got %s", fname, tostring(every))
    end
    self.unfreeze = { n = n, every = every and math.floor(every) or nil, block = sched.blocks(D, n) }
  end

  -- L2-SP anchors, and the lists penalty() walks
  self.alpha, self.beta, self.l2 = o.alpha or 0, o.beta or 0, o.l2 or 0
  if self.alpha > 0 then
    self.anchors = {}
    require("hub").no_grad(function()
      for _, e in ipairs(params) do
        if e.pretrained then self.anchors[e.name] = e.p:detach():clone() end
      end
    end)
  end

  -- frozen parameters get no update at all; then the global-norm clip
  local base_step, clip = opt.step, o.clip or 0
  opt.step = function(op)
    for _, e in ipairs(self.params) do
      if e.frozen then e.p:zero_grad() end
    end
    if clip > 0 then
      local list = {}
      for _, e in ipairs(self.params) do if not e.frozen then list[#list + 1] = e.p end end
      optim.clip_grad_norm(list, clip)
    end
    return base_step(op)
  end
  self:apply_freeze(0)
  return self
end

-- The phase (number of blocks unfrozen beyond the top one) at update t.
function Setup:phase_at(t)
  local u = self.unfreeze
  if not u then return nil end
  return sched.phase(t, self.total_steps, u.n, u.every)
end

function Setup:apply_freeze(t)
  local u = self.unfreeze
  if not u then return end
  local k = self:phase_at(t)
  if k == self.phase then return end
  self.phase = k
  for _, e in ipairs(self.params) do
    if e.trainable then
      local frozen = u.block(e.depth) < u.n - 1 - k
      e.frozen = frozen
      e.p:requires_grad(not frozen)
      if frozen then e.p:zero_grad() end
    end
  end
end

function Setup:before_step(t)
  if type(t) ~= "number" or t < 0 then core.argerror(1, "before_step", "a 0-based step number", tostring(t)) end
  self.step = t
  self:apply_freeze(t)
end

function Setup:is_frozen(name)
  local e = self.by_name[name]
  if not e then fail("strategy: no parameter named '%s'", tostring(name)) end
  return e.frozen == true
end

-- The learning rate the next update gives parameter `name` (0 when it is frozen).
function Setup:lr_of(name)
  local e = self.by_name[name]
  if not e then fail("strategy: no parameter named '%s'", tostring(name)) end
  if e.frozen then return 0 end
  return self.optimizer:get_lr(e.group)
end

-- Every group's learning rate for the next update.
function Setup:lrs()
  local out = {}
  for i in ipairs(self.groups) do out[i] = self.optimizer:get_lr(i) end
  return out
end

function Setup:penalty()
  if self.alpha == 0 and self.beta == 0 and self.l2 == 0 then return nil end
  local total
  local function add(term, c)
    if c == 0 then return end
    term = term * (c / 2)
    total = total and total + term or term
  end
  for _, e in ipairs(self.params) do
    if e.trainable and not e.frozen then
      if e.pretrained then
        if self.alpha > 0 then
          local d = e.p - self.anchors[e.name]
          add((d * d):sum(), self.alpha)
        end
        if self.l2 > 0 then add((e.p * e.p):sum(), self.l2) end
      elseif self.beta > 0 then
        add((e.p * e.p):sum(), self.beta)
      end
    end
  end
  return total
end

-- state_dict() is JSON-able (numbers and strings: hub.checkpoint keeps it in meta.json beside
-- the optimiser, which the trainer saves itself); state_dict{ full = true } adds the
-- optimiser's state and the L2-SP anchors (tensors), for a caller that keeps nothing else.
-- Without them the anchors are the weights at setup: the trainer must call setup before it
-- loads fine-tuned weights into the model (hub.finetune does).
function Setup:state_dict(opts)
  local sd = { kind = "hubrun-strategy", strategy = self.strategy.name, step = self.step }
  if opts and opts.full then
    sd.optimizer = self.optimizer:state_dict(opts)
    if self.anchors then
      local clone = opts.clone ~= false
      sd.anchors = {}
      for k, v in pairs(self.anchors) do sd.anchors[k] = clone and v:clone() or v end
    end
  end
  return sd
end

function Setup:load_state_dict(sd)
  if type(sd) ~= "table" or sd.kind ~= "hubrun-strategy" then
    fail("strategy load_state_dict: expected a table made by state_dict()")
  end
  if sd.strategy ~= self.strategy.name then
    fail("strategy load_state_dict: the state is for strategy '%s', this is '%s'", tostring(sd.strategy), self.strategy.name)
  end
  if self.anchors and sd.anchors ~= nil then
    if type(sd.anchors) ~= "table" then fail("strategy load_state_dict: 'anchors' is not a table of tensors") end
    for name, a in pairs(self.anchors) do
      local v = sd.anchors[name]
      if not core.is_tensor(v) then fail("strategy load_state_dict: no L2-SP anchor for '%s'", name) end
      if table.concat(v.shape, ",") ~= table.concat(a.shape, ",") then
        fail("strategy load_state_dict: the anchor of '%s' is [%s], the parameter [%s]", name,
          table.concat(v.shape, ","), table.concat(a.shape, ","))
      end
    end
    for name, a in pairs(self.anchors) do self.anchors[name] = sd.anchors[name]:to(a.device):clone() end
  end
  if sd.optimizer ~= nil then self.optimizer:load_state_dict(sd.optimizer) end
  self.step = sd.step
  self.phase = nil
  self:apply_freeze(sd.step or 0)
end

return M
