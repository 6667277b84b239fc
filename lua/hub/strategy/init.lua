-- hub.strategy: fine-tune strategies, PaddleHub's names and formulas (docs/strategies.md).
--
--   hub.strategy.default{ lr = 1e-4 }                                   -- Adam, constant lr
--   hub.strategy.adamw{ lr = 5e-5, warmup = 0.1, weight_decay = 0.01 }  -- AdamWeightDecay
--   hub.strategy.l2sp{ lr = 1e-4, alpha = 1e-3, beta = 1e-3 }           -- L2-SP
--   hub.strategy.ulmfit{ lr = 1e-4, ratio = 32, cut_fraction = 0.1, dis_factor = 2.6,
--                        gradual_unfreeze = true }                      -- ULMFiT
--   hub.strategy.default_finetune{ lr = 1e-4, l2 = 1e-3 }               -- L2 on pretrained weights
--   hub.strategy.combined{ ... }                 -- CombinedStrategy: any mix of the options below
--
-- THE CONTRACT (what the trainer, hub.finetune, calls; fixed):
--
--   local s = strategy:setup(model, {
--     total_steps = N,                      -- optimiser updates in the whole run
--     named_parameters = { {name, tensor}, ... },
--     layer_of = function(name) -> depth,   -- 0 = embeddings, 1..L encoder layers, L+1 = head
--     num_layers = L + 1,                   -- the largest depth (the head's)
--     steps_per_epoch = n,                  -- optional: for unfreeze_every = "epoch"
--   })
--   s.optimizer            a hub.optim optimiser: zero_grad / step / get_lr / state_dict /
--                          load_state_dict (step drops frozen parameters' gradients and clips)
--   s:before_step(step)    0-based, before the forward pass of each update: (un)freezing.
--                          Frozen parameters stop requiring gradients and are never updated
--                          (no weight decay, no Adam moment drift).
--   s:penalty()            a scalar tensor with gradients to add to the loss (L2-SP, L2), or nil
--   s:state_dict() / s:load_state_dict(t)   plain Lua tables and tensors, for checkpoints: a
--                          resumed run continues bit for bit
--   s:lr_of(name), s:lrs(), s:is_frozen(name), s.groups   for tests and logs
--
-- hub.strategy.layer_of_ernie(name, L) maps hubrun's ERNIE/BERT parameter names (with any
-- prefix, e.g. "encoder.") to depths for an encoder of L layers: *embeddings.* -> 0,
-- *encoder.layers.N.* (or Hugging Face's encoder.layer.N.) -> N + 1, the pooler and the
-- masked-LM head -> L (they sit on the top layer), anything else -> L + 1 (the task's head).
--
-- OPTIONS (every strategy takes them all; each named strategy only changes the defaults):
--   lr                base learning rate (1e-4, as PaddleHub)
--   optimizer         "adam" (default; AdamW when weight_decay > 0) or "sgd" (with momentum)
--   warmup            linear warm-up, a fraction (< 1) of total_steps or a number of steps
--   linear_decay      true: after warm-up lr_t = (lr - end_lr) * (1 - t/T) + end_lr
--   end_lr            where linear_decay ends (0)
--   noam              true: noam decay after the warm-up instead
--   cut_fraction, ratio   slanted triangular lr (ULMFiT) when cut_fraction > 0 (ratio 32);
--                     not together with warmup, linear_decay or noam
--   dis_factor        discriminative fine-tuning: the lr of depth d is lr / dis_factor^(D - d)
--   head_lr           the task head's lr (depth D) is lr * head_lr (1; new layers such as a CRF's
--                     transitions learn faster than the pretrained ones need)
--   gradual_unfreeze  true (one block per depth) or N blocks: only the top block trains at first,
--                     one more block from the top is unfrozen every unfreeze_every steps
--                     (default total_steps / N; "epoch" = the trainer's steps_per_epoch)
--   weight_decay      decoupled weight decay (p -= lr_t * wd * p), not on biases and LayerNorm
--   no_decay          names excluded from weight decay: substrings or function(name)
--   clip              clip the global gradient norm to this value before each update (0 = off)
--   alpha, beta       L2-SP: alpha/2 ||w - w0||^2 on pretrained parameters, beta/2 ||w||^2 on new ones
--   l2                plain L2 penalty l2/2 ||w||^2 on pretrained parameters
--   pretrained        which parameters are pretrained: substrings or function(name)
--                     (default: those with layer_of(name) < num_layers)
local core = require "hub.core"

local M = {}

local spec = {
  lr = "number", optimizer = "string", momentum = "number",
  warmup = "number", linear_decay = "boolean", end_lr = "number", noam = "boolean",
  cut_fraction = "number", ratio = "number",
  dis_factor = "number", head_lr = "number", gradual_unfreeze = "boolean|number", unfreeze_every = "number|string",
  weight_decay = "number", no_decay = "table|function", clip = "number",
  alpha = "number", beta = "number", l2 = "number", pretrained = "table|function",
}

local Strategy = {}
Strategy.__index = Strategy

function Strategy:setup(model, ctx)
  return require("hub.strategy.setup").setup(self, model, ctx)
end

function Strategy:__tostring()
  local keys, parts = {}, {}
  for k in pairs(self.opts) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = self.opts[k]
    if type(v) ~= "function" and type(v) ~= "table" then parts[#parts + 1] = k .. "=" .. tostring(v) end
  end
  return string.format("strategy %s{%s}", self.name, table.concat(parts, ", "))
end

local function nonneg(o, k, name)
  local v = o[k]
  if v ~= nil and (v ~= v or v < 0) then core.raise(string.format("%s: '%s' must be >= 0, got %s", name, k, tostring(v))) end
end

-- Checks the user's options against spec, fills in the preset's defaults, checks the values.
local function make(name, defaults, opts)
  opts = core.check_options(opts, spec, name, 1)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  if type(o.lr) ~= "number" or not (o.lr > 0) then
    core.raise(string.format("%s: 'lr' must be a positive number, got %s", name, tostring(o.lr)))
  end
  for _, k in ipairs { "warmup", "end_lr", "weight_decay", "clip", "alpha", "beta", "l2", "momentum", "cut_fraction" } do
    nonneg(o, k, name)
  end
  if o.optimizer ~= "adam" and o.optimizer ~= "sgd" then
    core.raise(string.format("%s: 'optimizer' must be \"adam\" or \"sgd\", got %s", name, tostring(o.optimizer)))
  end
  if o.cut_fraction and o.cut_fraction >= 1 then
    core.raise(string.format("%s: 'cut_fraction' must be in [0, 1), got %s", name, tostring(o.cut_fraction)))
  end
  if o.ratio ~= nil and not (o.ratio >= 1) then
    core.raise(string.format("%s: 'ratio' must be >= 1, got %s", name, tostring(o.ratio)))
  end
  if o.dis_factor ~= nil and not (o.dis_factor > 0) then
    core.raise(string.format("%s: 'dis_factor' must be > 0 (1 = off), got %s", name, tostring(o.dis_factor)))
  end
  if o.head_lr ~= nil and not (o.head_lr > 0) then
    core.raise(string.format("%s: 'head_lr' must be > 0 (a multiplier of lr; 1 = off), got %s", name, tostring(o.head_lr)))
  end
  if (o.cut_fraction or 0) > 0 then
    -- PaddleHub: the slanted triangle replaces warm-up and decay.  Explicit mixes are refused.
    for _, k in ipairs { "warmup", "linear_decay", "noam" } do
      if opts[k] and opts[k] ~= 0 then
        core.raise(string.format("%s: '%s' cannot be combined with the slanted triangular schedule (cut_fraction > 0)", name, k))
      end
    end
    o.warmup, o.linear_decay, o.noam = 0, false, false
  end
  if o.noam and (o.warmup or 0) <= 0 then
    core.raise(string.format("%s: 'noam' needs a warm-up (warmup > 0)", name))
  end
  if o.noam and opts.linear_decay then
    core.raise(string.format("%s: 'noam' and 'linear_decay' are two different decays; choose one", name))
  end
  if o.noam then o.linear_decay = false end
  if o.gradual_unfreeze == false then o.gradual_unfreeze = nil end
  if type(o.gradual_unfreeze) == "number" and (o.gradual_unfreeze < 1 or o.gradual_unfreeze ~= math.floor(o.gradual_unfreeze)) then
    core.raise(string.format("%s: 'gradual_unfreeze' must be true or a whole number of blocks >= 1, got %s", name, tostring(o.gradual_unfreeze)))
  end
  if type(o.unfreeze_every) == "string" and o.unfreeze_every ~= "epoch" then
    core.raise(string.format("%s: 'unfreeze_every' must be a number of steps or \"epoch\", got %s", name, o.unfreeze_every))
  end
  if o.unfreeze_every ~= nil and not o.gradual_unfreeze then
    core.raise(string.format("%s: 'unfreeze_every' without gradual_unfreeze", name))
  end
  return setmetatable({ name = name, opts = o }, Strategy)
end

local presets = {
  default = { lr = 1e-4, optimizer = "adam" },
  adamw = { lr = 1e-4, optimizer = "adam", warmup = 0.1, linear_decay = true, weight_decay = 0.01, clip = 1.0 },
  l2sp = { lr = 1e-4, optimizer = "adam", alpha = 1e-3, beta = 1e-3 },
  default_finetune = { lr = 1e-4, optimizer = "adam", l2 = 1e-3 },
  ulmfit = { lr = 1e-4, optimizer = "adam", cut_fraction = 0.1, ratio = 32, dis_factor = 2.6, gradual_unfreeze = true },
  combined = { lr = 1e-4, optimizer = "adam" },
}
M.presets = presets

for name, d in pairs(presets) do
  M[name] = function(opts) return make(name, d, opts) end
end

function M.is_strategy(v) return getmetatable(v) == Strategy end

function M.layer_of_ernie(name, L)
  if type(name) ~= "string" then core.argerror(1, "layer_of_ernie", "a parameter name", type(name)) end
  if type(L) ~= "number" or L < 0 or L ~= math.floor(L) then
    core.argerror(2, "layer_of_ernie", "the number of encoder layers", tostring(L))
  end
  local s = "." .. name
  local n = s:match("%.encoder%.layers?%.(%d+)%.")
  if n then
    n = tonumber(n)
    if n >= L then core.raise(string.format("layer_of_ernie: '%s' is layer %d of an encoder of %d layers", name, n, L)) end
    return n + 1
  end
  if s:find(".embeddings.", 1, true) then return 0 end
  if s:find(".pooler.", 1, true) or s:find(".mlm.", 1, true) or s:find(".cls.predictions.", 1, true) then return L end
  return L + 1
end

return M
