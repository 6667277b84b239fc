-- hub.models.ernie: the BERT-family encoder (BERT, RoBERTa-style BERTs, ERNIE 1.0, ERNIE 3.0),
-- one configurable network built from a Hugging Face-style config.
--
--   local ernie = require "hub.models.ernie"            -- or hub.models.ernie
--   local model = ernie.new{ vocab_size = 8000, hidden_size = 32, num_hidden_layers = 2,
--                            num_attention_heads = 4, intermediate_size = 64 }
--   local out = model:forward{ input_ids = ids, token_type_ids = tt, attention_mask = mask }
--   -- out.sequence_output [B, L, H], out.pooled_output [B, H] (nil for a model without pooler)
--
-- The network is Hugging Face's BertModel / ErnieModel:
--   embeddings  x = word[input_ids] + token_type[token_type_ids] + position[position_ids]
--               (+ task_type[task_type_ids] when use_task_id), then LayerNorm and dropout;
--   encoder     num_hidden_layers post-LN blocks (nn.TransformerEncoderLayer: fused-qkv
--               self-attention through the fused hub.attention kernel, residual + LayerNorm,
--               feed-forward with hidden_act, residual + LayerNorm);
--   pooler      tanh(dense(sequence_output[:, 1])) -- the [CLS] position.
-- Defaults follow Hugging Face: token_type_ids and task_type_ids all 0, position_ids 0 .. L-1,
-- attention_mask all 1.  Ids are 0-based (values in tensors); any of them may be an i64/i32
-- tensor [B, L] or a nested Lua table; a 1-d input is one sequence (B = 1).
--
-- Parameter names (state_dict) are hubrun's; `hubrun convert hf` (lua/hub/convert.lua) maps
-- Hugging Face checkpoints onto them (docs/models.md has the table):
--   embeddings.{word,position,token_type,task_type}_embeddings.weight, embeddings.layer_norm.*
--   encoder.layers.N.{attn.qkv, attn.out, norm1, linear1, linear2, norm2}.{weight,bias}
--   pooler.dense.{weight,bias}
--   mlm.dense.{weight,bias}, mlm.layer_norm.{weight,bias}, mlm.bias   (the masked-LM head)
--
-- The config (ernie.config normalises it; unknown keys are ignored, so a Hugging Face
-- config.json can be passed as it is): vocab_size, hidden_size, num_hidden_layers,
-- num_attention_heads, intermediate_size (required); hidden_act = gelu | gelu_new | relu
-- (also gelu_pytorch_tanh = gelu_new; default gelu), max_position_embeddings (512),
-- type_vocab_size (2), layer_norm_eps (1e-12), hidden_dropout_prob (0.1),
-- attention_probs_dropout_prob (0.1), use_task_id (false) and task_type_vocab_size (3) for
-- ERNIE 3.0, pad_token_id (0: the word embedding row that gets no gradient, as Hugging Face's
-- padding_idx), initializer_range (0.02: ernie.init_weights' standard deviation), and hubrun's
-- own `pooler` (true: the model has the pooler) and `mlm_head` (false: the model has BERT's
-- masked-language-model head, see Ernie:mlm_logits).
local raise = require "hub.core".raise
local is_tensor = require "hub.core".is_tensor
local hub = require "hub"
local nn = hub.nn

local M = {}

local acts = { gelu = "gelu", gelu_new = "gelu_tanh", gelu_pytorch_tanh = "gelu_tanh", relu = "relu" }

local function cfg_error(fmt, ...) raise("ernie config: " .. string.format(fmt, ...)) end

local function need_int(c, key, default, min)
  local v = c[key]
  if v == nil then v = default end
  if v == nil then cfg_error("'%s' is required", key) end
  if type(v) ~= "number" or v ~= math.floor(v) or v < (min or 1) then
    cfg_error("'%s' must be an integer >= %d, got %s", key, min or 1, tostring(v))
  end
  return v
end

local function need_prob(c, key, default)
  local v = c[key]
  if v == nil then v = default end
  if type(v) ~= "number" or v < 0 or v >= 1 then cfg_error("'%s' must be a probability in [0, 1), got %s", key, tostring(v)) end
  return v
end

-- A checked copy of a (Hugging Face-style) config with every default filled in.
function M.config(c)
  if type(c) ~= "table" then raise("ernie config: expected a table, got " .. type(c)) end
  local o = {}
  o.vocab_size = need_int(c, "vocab_size")
  o.hidden_size = need_int(c, "hidden_size")
  o.num_hidden_layers = need_int(c, "num_hidden_layers")
  o.num_attention_heads = need_int(c, "num_attention_heads")
  o.intermediate_size = need_int(c, "intermediate_size")
  o.max_position_embeddings = need_int(c, "max_position_embeddings", 512)
  o.type_vocab_size = need_int(c, "type_vocab_size", 2)
  if o.hidden_size % o.num_attention_heads ~= 0 then
    cfg_error("hidden_size %d is not a multiple of num_attention_heads %d", o.hidden_size, o.num_attention_heads)
  end
  o.hidden_act = c.hidden_act or "gelu"
  if not acts[o.hidden_act] then
    cfg_error("hidden_act '%s' is not supported (gelu, gelu_new, gelu_pytorch_tanh or relu)", tostring(o.hidden_act))
  end
  o.layer_norm_eps = c.layer_norm_eps or 1e-12
  if type(o.layer_norm_eps) ~= "number" or o.layer_norm_eps <= 0 then
    cfg_error("'layer_norm_eps' must be a positive number, got %s", tostring(o.layer_norm_eps))
  end
  o.hidden_dropout_prob = need_prob(c, "hidden_dropout_prob", 0.1)
  o.attention_probs_dropout_prob = need_prob(c, "attention_probs_dropout_prob", 0.1)
  o.pad_token_id = need_int(c, "pad_token_id", 0, 0)
  if o.pad_token_id >= o.vocab_size then
    cfg_error("'pad_token_id' %d is not below vocab_size %d", o.pad_token_id, o.vocab_size)
  end
  o.use_task_id = c.use_task_id == true
  if o.use_task_id then o.task_type_vocab_size = need_int(c, "task_type_vocab_size", 3) end
  o.pooler = c.pooler ~= false
  o.mlm_head = c.mlm_head == true
  o.initializer_range = c.initializer_range or 0.02
  if type(o.initializer_range) ~= "number" or o.initializer_range <= 0 then
    cfg_error("'initializer_range' must be a positive number, got %s", tostring(o.initializer_range))
  end
  local pet = c.position_embedding_type
  if pet ~= nil and pet ~= "absolute" then
    cfg_error("position_embedding_type '%s' is not supported (only absolute positions)", tostring(pet))
  end
  if c.is_decoder == true or c.add_cross_attention == true then
    cfg_error("decoders and cross-attention are not supported (an encoder only)")
  end
  return o
end

-- ---- embeddings ----

local Embeddings = nn.Module:extend("ErnieEmbeddings")

function Embeddings:init(c)
  self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, { padding_idx = c.pad_token_id })
  self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
  self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
  if c.use_task_id then self.task_type_embeddings = nn.Embedding(c.task_type_vocab_size, c.hidden_size) end
  self.layer_norm = nn.LayerNorm(c.hidden_size, { eps = c.layer_norm_eps })
  self.dropout = nn.Dropout(c.hidden_dropout_prob)
end

-- Adds table[ids], or row 0 of the table (broadcast) when ids is nil: the default ids are 0.
local function add_lookup(x, emb, ids)
  if ids == nil then return x:add(emb.weight:narrow(1, 1, 1)) end
  return x:add(emb(ids))
end

-- The default position ids 0 .. L-1 on a device, made once per (module, device, L): no copy from
-- the host on every forward (which a captured CUDA graph could not contain).
local positions_cache = setmetatable({}, { __mode = "k" })
local function positions(self, L, device)
  local c = positions_cache[self]
  if not c then c = {}; positions_cache[self] = c end
  local key = device .. ":" .. L
  local p = c[key]
  if not p then p = hub.arange(L):to(device); c[key] = p end
  return p
end

function Embeddings:forward(input_ids, token_type_ids, position_ids, task_type_ids)
  local L = input_ids.shape[2]
  local x = self.word_embeddings(input_ids)
  x = add_lookup(x, self.token_type_embeddings, token_type_ids)
  x = x:add(self.position_embeddings(position_ids or positions(self, L, input_ids.device)))
  if self.task_type_embeddings then x = add_lookup(x, self.task_type_embeddings, task_type_ids) end
  return self.dropout(self.layer_norm(x))
end

-- ---- pooler ----

local Pooler = nn.Module:extend("ErniePooler")

function Pooler:init(hidden) self.dense = nn.Linear(hidden, hidden) end

function Pooler:forward(seq) return self.dense(seq:select(2, 1)):tanh() end

-- ---- the masked-language-model head ----
-- BERT's: transform = LayerNorm(act(dense(h))), then a decoder tied to the word embeddings
-- (logits = transform · word_embeddingsᵀ + bias).  The decoder weight is the embeddings' own
-- tensor, passed in by Ernie:mlm_logits, so it is one parameter and trains once.

local MLMHead = nn.Module:extend("ErnieMLMHead")

function MLMHead:init(c)
  self.dense = nn.Linear(c.hidden_size, c.hidden_size)
  self.layer_norm = nn.LayerNorm(c.hidden_size, { eps = c.layer_norm_eps })
  self:register_parameter("bias", hub.zeros(c.vocab_size):requires_grad())
  rawset(self, "act", acts[c.hidden_act])
end

function MLMHead:forward(h, decoder_weight)
  local x = self.layer_norm(h:linear_act(self.dense.weight, self.dense.bias, self.act))
  return x:linear(decoder_weight, self.bias)
end

-- ---- the model ----

local Ernie = nn.Module:extend("Ernie")
M.Ernie = Ernie

function Ernie:init(config)
  local c = M.config(config)
  rawset(self, "config", c)
  self.embeddings = Embeddings(c)
  self.encoder = nn.TransformerEncoder(function()
    local layer = nn.TransformerEncoderLayer(c.hidden_size, c.num_attention_heads, c.intermediate_size,
      { dropout = c.hidden_dropout_prob, activation = acts[c.hidden_act], eps = c.layer_norm_eps })
    layer.attn.dropout = c.attention_probs_dropout_prob
    return layer
  end, c.num_hidden_layers)
  if c.pooler then self.pooler = Pooler(c.hidden_size) end
  if c.mlm_head then self.mlm = MLMHead(c) end
end

-- An id input as an integer tensor [B, L] (tables are converted; 1-d means B = 1).
local function ids_tensor(v, name, shape)
  if v == nil then return nil end
  if type(v) == "table" and not is_tensor(v) then
    local ok, t = pcall(hub.tensor, v, "i64")
    if not ok then raise(string.format("ernie forward: %s: %s", name, tostring(t))) end
    v = t
  end
  if not is_tensor(v) then raise(string.format("ernie forward: %s must be a tensor or a table of ids, got %s", name, type(v))) end
  if v:dim() == 1 then v = v:unsqueeze(1) end
  if v:dim() ~= 2 then
    raise(string.format("ernie forward: %s must be [B, L], got [%s]", name, table.concat(v.shape, ",")))
  end
  if shape and (v.shape[1] ~= shape[1] or v.shape[2] ~= shape[2]) then
    raise(string.format("ernie forward: %s is [%s] but input_ids is [%s]", name, table.concat(v.shape, ","), table.concat(shape, ",")))
  end
  return v
end

local function check_range(t, n, name, what)
  if t == nil then return end
  -- inside a CUDA graph capture nothing can be read back: the embedding's gather gives zeros for
  -- an id out of range there instead (docs/cuda.md)
  if t.device == "cuda" and require("hub.cuda").capturing() then return end
  local f = t:to("f32")
  local hi, lo = f:max():item(), -f:neg():max():item()
  if lo < 0 or hi >= n then
    raise(string.format("ernie forward: %s has ids in [%d, %d], outside [0, %d) (%s)", name, lo, hi, n, what))
  end
end

-- model:forward{input_ids=, token_type_ids=, attention_mask=, position_ids=, task_type_ids=}
--   -> { sequence_output = [B, L, H], pooled_output = [B, H] or nil }
function Ernie:forward(inputs)
  if type(inputs) ~= "table" or is_tensor(inputs) then
    raise("ernie forward: expected a table {input_ids = ..., token_type_ids = ..., attention_mask = ...}")
  end
  for k in pairs(inputs) do
    if k ~= "input_ids" and k ~= "token_type_ids" and k ~= "attention_mask" and k ~= "position_ids"
      and k ~= "task_type_ids" then
      raise(string.format("ernie forward: unknown input '%s' (expected input_ids, token_type_ids, attention_mask, position_ids, task_type_ids)", tostring(k)))
    end
  end
  local c = self.config
  local ids = ids_tensor(inputs.input_ids, "input_ids")
  if ids == nil then raise("ernie forward: input_ids is required") end
  local shape = ids.shape
  local tt = ids_tensor(inputs.token_type_ids, "token_type_ids", shape)
  local pos = ids_tensor(inputs.position_ids, "position_ids", shape)
  local task = ids_tensor(inputs.task_type_ids, "task_type_ids", shape)
  local mask = inputs.attention_mask
  if mask ~= nil and not (is_tensor(mask) and mask:dim() == 4) then mask = ids_tensor(mask, "attention_mask", shape) end
  if task ~= nil and not c.use_task_id then
    raise("ernie forward: task_type_ids given but the model has no task type embeddings (use_task_id is false)")
  end
  if pos == nil and shape[2] > c.max_position_embeddings then
    raise(string.format("ernie forward: sequence length %d is longer than max_position_embeddings %d",
      shape[2], c.max_position_embeddings))
  end
  check_range(tt, c.type_vocab_size, "token_type_ids", "type_vocab_size")
  check_range(pos, c.max_position_embeddings, "position_ids", "max_position_embeddings")
  check_range(task, c.task_type_vocab_size or 0, "task_type_ids", "task_type_vocab_size")
  local x = self.embeddings(ids, tt, pos, task)
  x = self.encoder(x, mask)
  return { sequence_output = x, pooled_output = self.pooler and self.pooler(x) or nil }
end

-- model:mlm_logits(sequence_output, positions?) -> [M, vocab_size]: the masked-LM head's
-- logits at the given positions.  positions is an integer tensor of 0-based indices into the
-- flattened [B * L] tokens (only the masked ones need the vocabulary-sized product); nil means
-- every position ([B * L, vocab_size]).  The model must have been made with mlm_head = true.
function Ernie:mlm_logits(seq, positions)
  if not self.mlm then raise("ernie mlm_logits: the model has no masked-LM head (config mlm_head = true)") end
  if not is_tensor(seq) or seq:dim() ~= 3 then raise("ernie mlm_logits: sequence_output must be a [B, L, H] tensor") end
  local B, L, H = seq.shape[1], seq.shape[2], seq.shape[3]
  local h = seq:reshape { B * L, H }
  if positions ~= nil then
    if not is_tensor(positions) or positions:dim() ~= 1 then
      raise("ernie mlm_logits: positions must be a 1-d integer tensor of indices into the B * L tokens")
    end
    h = h:index_select(1, positions)
  end
  return self.mlm(h, self.embeddings.word_embeddings.weight)
end

function Ernie:extra_repr()
  local c = self.config
  return string.format("layers=%d, hidden=%d, heads=%d, ff=%d, act=%s%s", c.num_hidden_layers, c.hidden_size,
    c.num_attention_heads, c.intermediate_size, c.hidden_act, c.use_task_id and ", task ids" or "")
end

-- ernie.init_weights(model): BERT's initialisation, for pretraining from scratch: Linear and
-- Embedding weights N(0, initializer_range), biases 0 (the pad row of the word embeddings too),
-- LayerNorm 1 / 0.  Returns the model.
function M.init_weights(model)
  local std = model.config.initializer_range
  local init = nn.init
  model:apply(function(m)
    if m.__name == "Linear" then
      init.normal_(m.weight, std)
      if m.bias then init.zeros_(m.bias) end
    elseif m.__name == "Embedding" then
      init.normal_(m.weight, std)
    elseif m.__name == "LayerNorm" and m.weight then
      init.ones_(m.weight); init.zeros_(m.bias)
    elseif m.__name == "ErnieMLMHead" then
      init.zeros_(m.bias)
    end
  end)
  hub.no_grad(function()
    local w = model.embeddings.word_embeddings.weight
    w:narrow(1, model.config.pad_token_id + 1, 1):zero_()
  end)
  return model
end

-- ernie.new(config, {init = false}): without the random initialisation of the weights (their
-- values are then undefined), for a model whose weights are loaded next -- it saves seconds on
-- a BERT-base.  This swaps nn.init's normal_/uniform_ for no-ops while the layers are made.
function M.new(config, opts)
  opts = require("hub.core").check_options(opts, { init = "boolean" }, "ernie", 2)
  if not (opts and opts.init == false) then return Ernie(config) end
  local init = require "hub.nn.init_fns"
  local normal, uniform = init.normal_, init.uniform_
  local function keep(t) return t end
  init.normal_, init.uniform_ = keep, keep
  local ok, model = pcall(Ernie, config)
  init.normal_, init.uniform_ = normal, uniform
  if not ok then error(model, 0) end
  return model
end

return setmetatable(M, { __call = function(_, config, opts) return M.new(config, opts) end })
