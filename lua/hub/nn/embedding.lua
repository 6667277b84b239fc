-- nn.Embedding(num_embeddings, dim, {padding_idx = i}): a lookup table, weight
-- [num_embeddings, dim] ~ N(0, 1).
--
-- forward(ids) takes 0-based ids (an i64 or i32 tensor of any shape, as every vocabulary
-- numbers its tokens) and returns ids.shape .. {dim}; gradients flow into the rows used.
-- padding_idx (0-based, as torch.nn.Embedding): that row starts at zero and gets no gradient,
-- so padded positions never move it.
local raise = require "hub.core".raise
local hub = require "hub"
local Module = require "hub.nn.module"
local Linear = require "hub.nn.linear"
local init = require "hub.nn.init_fns"

local Embedding = Module:extend("Embedding")

function Embedding:init(num_embeddings, dim, opts)
  Linear.positive_int(num_embeddings, 1, "Embedding")
  Linear.positive_int(dim, 2, "Embedding")
  opts = Module.check_init_options(opts, { padding_idx = "number" }, "Embedding", 3)
  local pad = opts.padding_idx
  if pad ~= nil and (type(pad) ~= "number" or pad % 1 ~= 0 or pad < 0 or pad >= num_embeddings) then
    raise(string.format("Embedding: padding_idx must be an integer in [0, %d), got %s", num_embeddings, tostring(pad)))
  end
  self.num_embeddings, self.dim, self.padding_idx = num_embeddings, dim, pad
  local w = init.normal_(hub.empty(num_embeddings, dim), 1)
  if pad then w:narrow(1, pad + 1, 1):zero_() end
  self:register_parameter("weight", w:requires_grad())
end

function Embedding:forward(ids)
  return hub.embedding(self.weight, ids, self.padding_idx and { padding_idx = self.padding_idx } or nil)
end

function Embedding:extra_repr()
  return string.format("num=%d, dim=%d%s", self.num_embeddings, self.dim,
    self.padding_idx and ", padding_idx=" .. self.padding_idx or "")
end

return Embedding
