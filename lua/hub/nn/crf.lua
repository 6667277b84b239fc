-- nn.CRF(num_tags): a linear-chain conditional random field over per-position tag scores, the
-- head of a sequence labeller (emissions from an encoder -> tags).
--
--   local crf = nn.CRF(#labels)
--   local loss = crf:nll(emissions, tags, mask):mean()     -- emissions [B, L, C], tags [B, L]
--   local paths = crf:decode(emissions, mask)               -- [B, L] i64, -1 at padding
--
-- Parameters, named as pytorch-crf names them (`end` is a Lua keyword): transitions [C, C]
-- (transitions[i, j] scores tag i followed by tag j), start_transitions [C] and end_transitions
-- [C], each drawn from U(-0.1, 0.1) as pytorch-crf does.  A path's score is start[y1] + the
-- emissions along it + the transitions between consecutive tags + end[yn].  nll is the negative
-- log-likelihood of the given tags per sequence (hub.crf_nll: the forward algorithm in C, with
-- its gradient), decode the highest-scoring path (hub.crf_decode: the Viterbi kernel LAC uses).
-- The mask argument may be a mask [B, L] (ones first, then zeros), lengths [B] (a tensor or a
-- Lua array) or nil (every position is real).  Calling the module, crf(emissions, tags, mask),
-- is nll.  On a device without CRF kernels (cuda) both run on the CPU, the gradients flowing back.
local core = require "hub.core"
local hub = require "hub"
local Module = require "hub.nn.module"
local Linear = require "hub.nn.linear"
local init = require "hub.nn.init_fns"

local CRF = Module:extend("CRF")

function CRF:init(num_tags, opts)
  Linear.positive_int(num_tags, 1, "CRF")
  Module.check_init_options(opts, {}, "CRF", 2)
  self.num_tags = num_tags
  self:register_parameter("transitions", init.uniform_(hub.empty(num_tags, num_tags), -0.1, 0.1):requires_grad())
  self:register_parameter("start_transitions", init.uniform_(hub.empty(num_tags), -0.1, 0.1):requires_grad())
  self:register_parameter("end_transitions", init.uniform_(hub.empty(num_tags), -0.1, 0.1):requires_grad())
end

local REDUCTIONS = { none = true, sum = true, mean = true }

-- The CRF kernels are the CPU's only: on another device the emissions, the transitions and the
-- mask go to the CPU (recorded, so the gradients flow back to the device) and the result comes
-- back to the emissions' device.
local function cpu_args(self, emissions, ...)
  local dev = core.is_tensor(emissions) and emissions.device or "cpu"
  local a = { ... }
  local tr, st, en = self.transitions, self.start_transitions, self.end_transitions
  if dev ~= "cpu" then
    emissions = emissions:to("cpu")
    for i = 1, select("#", ...) do if core.is_tensor(a[i]) then a[i] = a[i]:to("cpu") end end
    tr, st, en = tr:to("cpu"), st:to("cpu"), en:to("cpu")
  end
  return dev, emissions, a, tr, st, en
end

-- nll(emissions, tags, mask, {reduction = "none" | "sum" | "mean"}): [B] per sequence (none, the
-- default), or its sum or mean over the batch (a scalar).
function CRF:nll(emissions, tags, mask, opts)
  opts = Module.check_options(opts, { reduction = "string" }, "CRF:nll", 4)
  local red = opts.reduction or "none"
  if not REDUCTIONS[red] then
    core.raise(string.format("CRF:nll: reduction must be 'none', 'sum' or 'mean', got '%s'", red))
  end
  local dev, em, a, tr, st, en = cpu_args(self, emissions, tags, mask)
  local nll = hub.crf_nll(em, a[1], a[2], tr, st, en)
  if dev ~= "cpu" then nll = nll:to(dev) end
  if red == "sum" then return nll:sum() end
  if red == "mean" then return nll:mean() end
  return nll
end

function CRF:forward(emissions, tags, mask, opts)
  return self:nll(emissions, tags, mask, opts)
end

-- decode(emissions, mask): the best tag path of each sequence, [B, L] i64 (0-based tag ids,
-- -1 at padded positions).
function CRF:decode(emissions, mask)
  local dev, em, a, tr, st, en = cpu_args(self, emissions, mask)
  local paths = hub.crf_decode(em, a[1], tr, st, en)
  return dev ~= "cpu" and paths:to(dev) or paths
end

function CRF:extra_repr()
  return string.format("num_tags=%d", self.num_tags)
end

return CRF
