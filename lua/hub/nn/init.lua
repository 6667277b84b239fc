-- hub.nn: layers as modules with named parameters (see docs/nn.md).
--
--   local nn = hub.nn
--   local mlp = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2, { bias = false }))
--   for name, p in mlp:named_parameters() do print(name, p.shape[1]) end   -- 0.weight 16 ...
--
-- Constructors are torch-like: the sizes as positional arguments, everything optional in one
-- trailing options table ({bias = false}, {dropout = 0.1, norm_first = true}); an unknown
-- option is an error.  Each layer lives in its own file; this one only gathers them.
--
-- Library code in hub/nn calls tensor methods (x:add(y), x:mul(s)) rather than the arithmetic
-- operators: LuaJIT's trace recorder can corrupt its stack slots when a hot function chains
-- cdata arithmetic metamethods (`r * 2 + 1`), which crashes the process at random.
local act = require "hub.nn.activation"
local tr = require "hub.nn.transformer"

return {
  Module = require "hub.nn.module",
  Linear = require "hub.nn.linear",
  Embedding = require "hub.nn.embedding",
  LayerNorm = require "hub.nn.layer_norm",
  Dropout = require "hub.nn.dropout",
  Sequential = require "hub.nn.sequential",
  ModuleList = require "hub.nn.module_list",
  ReLU = act.ReLU,
  GELU = act.GELU,
  Tanh = act.Tanh,
  MultiHeadAttention = require "hub.nn.attention",
  TransformerEncoderLayer = tr.TransformerEncoderLayer,
  TransformerEncoder = tr.TransformerEncoder,
  CRF = require "hub.nn.crf",
  init = require "hub.nn.init_fns",
}
