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
-- is nll.  Both run where the emissions are (the CRF kernels exist for the cpu and cuda).
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

-- nll(emissions, tags, mask, {reduction = "none" | "sum" | "mean"}): [B] per sequence (none, the
-- default), or its sum or mean over the batch (a scalar).
function CRF:nll(emissions, tags, mask, opts)
  opts = Module.check_options(opts, { reduction = "string" }, "CRF:nll", 4)
  local red = opts.reduction or "none"
  if not REDUCTIONS[red] then
    core.raise(string.format("CRF:nll: reduction must be 'none', 'sum' or 'mean', got '%s'", red))
  end
  local nll = hub.crf_nll(emissions, tags, mask, self.transitions, self.start_transitions, self.end_transitions)
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
  return hub.crf_decode(emissions, mask, self.transitions, self.start_transitions, self.end_transitions)
end

function CRF:extra_repr()
  return string.format("num_tags=%d", self.num_tags)
end

return CRF
