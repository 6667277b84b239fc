-- nn.TransformerEncoderLayer and nn.TransformerEncoder: BERT's encoder block and a stack of them.
--
--   layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff,
--             {dropout = 0.1, activation = "gelu", norm_first = false, eps = 1e-5})
--   y = layer(x, attention_mask)                x, y [B, L, d_model]; mask [B, L], 1 = token
--
-- Post-LN (BERT, the default):  x = norm1(x + drop(attn(x)));  x = norm2(x + drop(ff(x)))
--   (each residual add fused into its norm: norm1(x, drop(attn(x))), hub.add_layer_norm)
-- Pre-LN (norm_first = true):   x = x + drop(attn(norm1(x)));  x = x + drop(ff(norm2(x)))
-- with ff(x) = linear2(act(linear1(x))) and no dropout inside ff (as BERT; PyTorch has one).
-- `dropout` is also the attention-probability dropout of `attn`.  Children, in order: attn
-- (qkv, out), norm1, linear1, activation, linear2, norm2, dropout -- the PyTorch names, with
-- attn for self_attn.  Hugging Face BERT maps as: attention.self.{query,key,value} -> attn.qkv,
-- attention.output.dense -> attn.out, attention.output.LayerNorm -> norm1,
-- intermediate.dense -> linear1, output.dense -> linear2, output.LayerNorm -> norm2 (BERT's
-- LayerNorm eps is 1e-12).
--
--   enc = nn.TransformerEncoder(config_or_factory, n_layers, {final_norm = false})
--
-- config_or_factory is either a table { d_model, n_heads, d_ff, dropout, activation, norm_first,
-- eps } (each layer built from it) or a function(i) returning layer i (1-based).  The layers sit
-- in a ModuleList `layers` (names layers.0..., layers.1...).  final_norm adds a LayerNorm `norm`
-- after the last layer, which pre-LN stacks usually want.
local raise = require "hub.core".raise
local Module = require "hub.nn.module"
local hub = require "hub"
local Linear = require "hub.nn.linear"
local LayerNorm = require "hub.nn.layer_norm"
local Dropout = require "hub.nn.dropout"
local ModuleList = require "hub.nn.module_list"
local MultiHeadAttention = require "hub.nn.attention"
local act = require "hub.nn.activation"

local activations = {
  gelu = function() return act.GELU() end,
  gelu_tanh = function() return act.GELU { approximate = "tanh" } end,
  relu = function() return act.ReLU() end,
  tanh = function() return act.Tanh() end,
}

local TransformerEncoderLayer = Module:extend("TransformerEncoderLayer")

local layer_options = { dropout = "number", activation = "string", norm_first = "boolean", eps = "number" }

function TransformerEncoderLayer:init(d_model, n_heads, d_ff, opts)
  Linear.positive_int(d_model, 1, "TransformerEncoderLayer")
  Linear.positive_int(n_heads, 2, "TransformerEncoderLayer")
  Linear.positive_int(d_ff, 3, "TransformerEncoderLayer")
  opts = Module.check_init_options(opts, layer_options, "TransformerEncoderLayer", 4)
  local p = opts.dropout
  if p == nil then p = 0.1 end
  local a = opts.activation or "gelu"
  if not activations[a] then
    raise(string.format("TransformerEncoderLayer: activation must be gelu, gelu_tanh, relu or tanh, got %s", tostring(a)))
  end
  local eps = opts.eps or 1e-5
  self.d_model, self.n_heads, self.d_ff, self.norm_first = d_model, n_heads, d_ff, opts.norm_first == true
  self.attn = MultiHeadAttention(d_model, n_heads, { dropout = p })
  self.norm1 = LayerNorm(d_model, { eps = eps })
  self.linear1 = Linear(d_model, d_ff)
  self.activation = activations[a]()
  self.linear2 = Linear(d_ff, d_model)
  self.norm2 = LayerNorm(d_model, { eps = eps })
  self.dropout = Dropout(p)
end

function TransformerEncoderLayer:ff(x)
  local l1, act = self.linear1, self.activation
  -- hub.linear_act runs Linear + activation as one product (the activation a oneDNN post-op)
  -- when nothing is recorded (inference under no_grad), and as the two ops otherwise.
  if getmetatable(l1) == Linear and act.fused_act then
    return self.linear2(hub.linear_act(x, l1.weight, l1.bias, act:fused_act()))
  end
  return self.linear2(act(l1(x)))
end

function TransformerEncoderLayer:forward(x, attention_mask)
  if self.norm_first then
    x = x:add(self.dropout(self.attn(self.norm1(x), attention_mask)))
    return x:add(self.dropout(self:ff(self.norm2(x))))
  end
  x = self.norm1(x, self.dropout(self.attn(x, attention_mask)))
  return self.norm2(x, self.dropout(self:ff(x)))
end

function TransformerEncoderLayer:extra_repr()
  return string.format("d_model=%d, n_heads=%d, d_ff=%d%s", self.d_model, self.n_heads, self.d_ff,
    self.norm_first and ", norm_first" or "")
end

local TransformerEncoder = Module:extend("TransformerEncoder")

function TransformerEncoder:init(config, n_layers, opts)
  Linear.positive_int(n_layers, 2, "TransformerEncoder")
  opts = Module.check_init_options(opts, { final_norm = "boolean" }, "TransformerEncoder", 3)
  local make
  if type(config) == "function" then
    make = config
  elseif type(config) == "table" and not Module.is_module(config) then
    local lo = {}
    for k, v in pairs(config) do
      if k ~= "d_model" and k ~= "n_heads" and k ~= "d_ff" then lo[k] = v end
    end
    make = function() return TransformerEncoderLayer(config.d_model, config.n_heads, config.d_ff, lo) end
  else
    raise(string.format("bad argument #1 to 'TransformerEncoder' (expected a config table or a layer factory function, got %s)",
      Module.is_module(config) and "a module (pass a function that makes a fresh layer)" or type(config)))
  end
  self.layers = ModuleList()
  for i = 1, n_layers do
    local layer = make(i)
    if not Module.is_module(layer) then
      raise(string.format("TransformerEncoder: the layer factory returned %s for layer %d, expected a module", type(layer), i))
    end
    self.layers:append(layer)
  end
  if opts.final_norm then
    local d = type(config) == "table" and config.d_model or self.layers[1].d_model
    local eps = type(config) == "table" and config.eps or nil
    self.norm = LayerNorm(d, { eps = eps })
  end
end

function TransformerEncoder:forward(x, attention_mask)
  for _, layer in ipairs(self.layers) do x = layer(x, attention_mask) end
  if self.norm then x = self.norm(x) end
  return x
end

return { TransformerEncoderLayer = TransformerEncoderLayer, TransformerEncoder = TransformerEncoder }
