-- nn.Embedding(num_embeddings, dim): a lookup table, weight [num_embeddings, dim] ~ N(0, 1).
--
-- forward(ids) takes 0-based ids (an i64 or i32 tensor of any shape, as every vocabulary
-- numbers its tokens) and returns ids.shape .. {dim}; gradients flow into the rows used.
local hub = require "hub"
local Module = require "hub.nn.module"
local Linear = require "hub.nn.linear"
local init = require "hub.nn.init_fns"

local Embedding = Module:extend("Embedding")

function Embedding:init(num_embeddings, dim, opts)
  Linear.positive_int(num_embeddings, 1, "Embedding")
  Linear.positive_int(dim, 2, "Embedding")
  Module.check_options(opts, {}, "Embedding", 3)
  self.num_embeddings, self.dim = num_embeddings, dim
  self:register_parameter("weight", init.normal_(hub.empty(num_embeddings, dim), 1):requires_grad())
end

function Embedding:forward(ids)
  return hub.embedding(self.weight, ids)
end

function Embedding:extra_repr()
  return string.format("num=%d, dim=%d", self.num_embeddings, self.dim)
end

return Embedding
