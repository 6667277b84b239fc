-- module.lua of BERT-family encoder modules (those `hubrun convert hf` makes; docs/models.md).
--
--   local m = hub.module "./bert-zh"                         -- or an installed name
--   local pooled, seq, batch = m:embed{ "一句话", { "a question", "its context" } }
--   -- pooled [B, D]: the sentence vectors, seq [B, L, H] (L = max_seq_len; zero past each
--   -- text's tokens; batch.attention_mask marks them); length-sorted batches of
--   -- opts.batch_size (32), each padded to its longest; opts.sequence = false: vectors only
--   local v = m:vectors(texts, { batch_size = 32 })   -- [N, D] (hubrun run --output)
--   local r = m:predict({ "一句话" })   -- {{pooled_output = {...}, sequence_output = {{...}, ...}}}
--   -- (a sentence-transformers module: {{embedding = {...}}})
--   local ctx = m:context{ max_seq_len = 128, trainable = true }
--   -- ctx.network (hub.models.ernie), ctx.tokenizer (hub.tokenizer.wordpiece), ctx.max_seq_len,
--   -- ctx.hidden_size, ctx.config, ctx.encode(items) -> the network's inputs for a batch
--
-- load(dir, opts) reads module.json's config (model = the network's config, tokenizer =
-- {lower, strip_accents}, max_seq_len), builds the network without initialising it, and makes
-- the tensors of model.safetensors its parameters (every name and shape must match), loaded
-- with hub.load_shared: the runtimes of one process (serving workers) share one copy of f32
-- weights; f16/bf16 files are widened to f32.  The network is in eval mode; the tokenizer
-- reads vocab.txt.  opts.max_seq_len overrides the default sequence length, opts.batch_size
-- the default batch size, opts.device ("cpu" or "cuda") where the network runs (its results
-- come back to the cpu; context hands out the network there), opts.cuda_graphs (true, on cuda:
-- embed's batches run through CUDA graphs, one per batch shape, lengths padded to a multiple of
-- 16 under the attention mask; hub.cuda.graph_cache).  config.pooling ({modes = {...}, normalize = bool}, written by the
-- converter for sentence-transformers directories) makes the sentence vectors that model's own
-- pooling and normalisation; without it they are the pooler's output (or the [CLS] state).
-- embed and predict run without gradients in eval mode (the mode is restored afterwards), so
-- they can be called during fine-tuning.  context hands out the module's own network: training
-- it changes what embed returns; context{trainable = true} first gives the network private
-- copies of its weights, so training never writes into the shared ones.  trainable = false marks the parameters as not requiring
-- gradients (a frozen feature extractor).
local hub = require "hub"
local _, MANIFEST = ...

local M = {}
local State = {}
State.__index = State

local fail = require("hub.core").failf

-- Makes the file's tensors the model's parameters (load_state_dict with assign: no copy, so f32
-- weights stay in the mapping that every runtime of the process shares; f16/bf16 ones are
-- widened into private copies).  Every name and shape must match.  They are read-only until
-- make_private.
local function use_weights(model, weights, path)
  local ok, err = pcall(model.load_state_dict, model, weights, { assign = true })
  if not ok then fail("%s does not fit the config in module.json: %s", path, (tostring(err):gsub("^.-load_state_dict: ", ""))) end
end

-- Gives the model private copies of its parameters (before anything trains them in place).
local function make_private(self)
  if self.private then return end
  for name, m in self.model:named_modules() do
    for _, leaf in ipairs(rawget(m, "_param_names")) do
      m:register_parameter(leaf, m[leaf]:clone())
    end
  end
  self.private = true
end

local check_options = require("hub.core").check_options

function M.load(dir, opts)
  opts = check_options(opts, { max_seq_len = "integer", batch_size = "integer", device = "string",
                               cuda_graphs = "boolean" }, "module load", 2)
  local device = hub.cuda.check_device(opts.device or "cpu", "module load")
  local manifest = MANIFEST or require("hub.module").read_manifest(dir)
  local cfg = manifest.config
  if type(cfg) ~= "table" or type(cfg.model) ~= "table" then
    fail("%s/module.json: config.model (the encoder's config) is missing", dir)
  end
  local model = hub.models.ernie.new(cfg.model, { init = false })   -- the weights come next
  use_weights(model, hub.load_shared(dir .. "/model.safetensors"), dir .. "/model.safetensors")
  if device ~= "cpu" then model:to(device) end
  model:eval()
  local tk_cfg = cfg.tokenizer or {}
  local tokenizer = hub.tokenizer.wordpiece { vocab = dir .. "/vocab.txt", lower = tk_cfg.lower ~= false,
                                              strip_accents = tk_cfg.strip_accents }
  local n = opts.max_seq_len or cfg.max_seq_len or 128
  if type(n) ~= "number" or n < 2 or n > model.config.max_position_embeddings then
    fail("max_seq_len must be an integer in [2, %d], got %s", model.config.max_position_embeddings, tostring(n))
  end
  local pooling = cfg.pooling
  if pooling ~= nil then
    local known = { cls = true, max = true, mean = true, mean_sqrt_len_tokens = true }
    if type(pooling) ~= "table" or type(pooling.modes) ~= "table" or #pooling.modes == 0 then
      fail("%s/module.json: config.pooling must be {modes = [...], normalize = true|false}", dir)
    end
    for _, mode in ipairs(pooling.modes) do
      if not known[mode] then
        fail("%s/module.json: unknown pooling mode '%s' (cls, max, mean, mean_sqrt_len_tokens)", dir, tostring(mode))
      end
    end
  end
  return setmetatable({ dir = dir, model = model, tokenizer = tokenizer, max_seq_len = n, pooling = pooling,
                        batch_size = opts.batch_size, device = device,
                        graphs = opts.cuda_graphs and device == "cuda" and hub.cuda.graph_cache { who = "module " .. dir } or nil,
                        config = model.config, hidden_size = model.config.hidden_size }, State)
end

local function as_items(texts, what)
  if type(texts) == "string" then texts = { texts } end
  if type(texts) ~= "table" or #texts == 0 then
    fail("%s: expected a list of texts or {text, pair} tables, got %s", what, type(texts) == "table" and "an empty table" or type(texts))
  end
  for i, t in ipairs(texts) do
    local ok = type(t) == "string" or (type(t) == "table" and type(t[1]) == "string" and (t[2] == nil or type(t[2]) == "string"))
    if not ok then fail("%s: item %d is a %s, expected a text or a {text, pair} table", what, i, type(t)) end
  end
  return texts
end

local function run_eval(model, fn)
  local was = model.training
  model:eval()
  local ok, a, b = pcall(hub.no_grad, fn)
  if was then model:train() end
  if not ok then error(a, 0) end
  return a, b
end

local embed_options = { max_seq_len = "integer", padding = "string|boolean" }

-- The network's inputs for a batch (a tokenizer batch: input_ids, token_type_ids,
-- attention_mask as i64 [B, L]).  opts.max_seq_len (default the module's), opts.padding:
-- true (to max_seq_len, the default) or "longest" (to the longest text of the batch).
function State:encode(items, opts)
  items = as_items(items, "encode")
  opts = check_options(opts, embed_options, "encode", 2)
  return self.tokenizer:encode_batch(items, { max_seq_len = opts.max_seq_len or self.max_seq_len,
                                              padding = opts.padding })
end

-- The module's sentence vectors of one batch: sentence-transformers' pooling (config.pooling =
-- {modes = {"mean", ...}, normalize = bool}: cls, max, mean or mean_sqrt_len_tokens over the
-- tokens the mask marks, several modes concatenated in that order, then x / max(|x|, 1e-12))
-- or, for a plain encoder, the pooler's output (the [CLS] hidden state without pooler).
local function sentence_vectors(self, out, mask)
  local p = self.pooling
  if not p then return out.pooled_output or out.sequence_output:select(2, 1):contiguous() end
  local seq = out.sequence_output
  local B, L = seq.shape[1], seq.shape[2]
  local m = mask:to("f32")
  local m3 = m:reshape(B, L, 1)
  local parts = {}
  for _, mode in ipairs(p.modes) do
    if mode == "cls" then
      parts[#parts + 1] = seq:select(2, 1):contiguous()
    elseif mode == "max" then   -- padding pushed to -1e9 (sentence-transformers' masked value)
      parts[#parts + 1] = (seq + (m3 - 1) * 1e9):max(2)
    else
      local sum = (seq * m3):sum(2)
      local n = m:sum(2, true)   -- every row has at least [CLS] and [SEP]
      parts[#parts + 1] = mode == "mean" and sum / n or sum / n:sqrt()
    end
  end
  local v = #parts == 1 and parts[1] or hub.concat(parts, 2)
  if p.normalize then
    local eps = 1e-12
    local norm = (v * v):sum(2, true):sqrt()
    v = v / ((norm - eps):relu() + eps)   -- = max(norm, eps), exactly, as F.normalize
  end
  return v
end

local function default_batch(self) return self.batch_size or 32 end

-- A tokenizer batch's tensors on the module's device (load's device option); results come back
-- to the cpu.
local function on_device(self, b)
  if self.device == "cpu" then return b end
  return { input_ids = b.input_ids:to(self.device), token_type_ids = b.token_type_ids:to(self.device),
           attention_mask = b.attention_mask:to(self.device) }
end

-- vectors [B, D] (the module's sentence vectors: sentence-transformers' pooling and
-- normalisation for a module converted from it, else the pooler's output or the [CLS] hidden
-- state), sequence [B, L, H] and the tokenizer batch (padded as the tokenizer pads: to
-- max_seq_len by default; opts.padding = "longest": to the longest text).
-- The texts run in length-sorted batches of opts.batch_size (default 32), each padded to its
-- own longest row (dynamic padding), and the results are put back in the order given: every
-- text gets the vector it gets alone.  The sequence output is zero past each text's tokens
-- (the network's outputs at padding positions are not kept).  opts.sequence = false skips the sequence output and the full
-- tokenizer batch (what predict, vectors and `hubrun run --output` use: far less memory).
local embed_batch_options = { max_seq_len = "integer", padding = "string|boolean", batch_size = "integer",
                              sequence = "boolean" }

function State:embed(texts, opts)
  opts = check_options(opts, embed_batch_options, "embed", 2)
  local items = as_items(texts, "embed")
  local bs = opts.batch_size or default_batch(self)
  if type(bs) ~= "number" or bs < 1 or bs ~= math.floor(bs) then
    fail("embed: batch_size must be a positive integer, got %s", tostring(opts.batch_size))
  end
  local n = #items
  -- token counts, for sorting (the tokenizer is cheap next to the network)
  local lens = {}
  local max_len = opts.max_seq_len or self.max_seq_len
  for i, it in ipairs(items) do
    local e = type(it) == "string" and self.tokenizer:encode(it, { max_seq_len = max_len, padding = false })
      or self.tokenizer:encode(it[1], it[2], { max_seq_len = max_len, padding = false })
    lens[i] = e.input_ids:numel()
  end
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(a, b) if lens[a] ~= lens[b] then return lens[a] > lens[b] end return a < b end)
  local want_seq = opts.sequence ~= false
  local full = want_seq and self:encode(items, { max_seq_len = opts.max_seq_len, padding = opts.padding }) or nil
  local L = full and full.input_ids.shape[2]
  local vecs, seqs = {}, {}
  run_eval(self.model, function()
    for s = 1, n, bs do
      local chunk = {}
      for k = s, math.min(n, s + bs - 1) do chunk[#chunk + 1] = items[order[k]] end
      local b = on_device(self, self.tokenizer:encode_batch(chunk, { max_seq_len = max_len, padding = "longest" }))
      local function forward(x)
        local o = self.model:forward { input_ids = x.input_ids, token_type_ids = x.token_type_ids,
                                       attention_mask = x.attention_mask }
        return { vectors = sentence_vectors(self, o, x.attention_mask), sequence_output = o.sequence_output }
      end
      local out = self.graphs and self.graphs:run(b, forward, nil, self.config.max_position_embeddings) or forward(b)
      vecs[#vecs + 1] = out.vectors:to("cpu")
      if want_seq then
        local sq = out.sequence_output:to("cpu")
        b.attention_mask = b.attention_mask:to("cpu")
        local Lb = sq.shape[2]
        sq = sq * b.attention_mask:to("f32"):reshape(sq.shape[1], Lb, 1)   -- zero past each text's tokens
        if Lb < L then sq = hub.concat({ sq, hub.zeros({ sq.shape[1], L - Lb, sq.shape[3] }) }, 2) end
        seqs[#seqs + 1] = sq
      end
    end
  end)
  local inv = {}
  for k, i in ipairs(order) do inv[i] = k - 1 end   -- 0-based row of text i in the sorted result
  local sorted = true
  for i = 1, n do if inv[i] ~= i - 1 then sorted = false; break end end
  local idx = not sorted and hub.tensor(inv, "i64") or nil
  local function restore(list)
    local t = #list == 1 and list[1] or hub.concat(list, 1)
    if idx then t = t:index_select(1, idx) end
    return t
  end
  return restore(vecs), want_seq and restore(seqs) or nil, full
end

-- The sentence vectors as one f32 tensor [N, D] (what `hubrun run --output FILE` writes).
function M.vectors(self, inputs, opts)
  opts = check_options(opts, { batch_size = "integer", max_seq_len = "integer" }, "vectors", 2)
  return (self:embed(as_items(inputs, "vectors"), { batch_size = opts.batch_size, max_seq_len = opts.max_seq_len,
                                                    sequence = false }))
end

-- One result per input.  A sentence-embedding module (config.pooling): {embedding = {D numbers}}.
-- Otherwise {pooled_output = {H numbers}, sequence_output = {{H numbers} per token}} (tokens
-- only: [CLS] ... [SEP], no padding).  opts.batch_size: texts per forward (default 32).
function M.predict(self, inputs, opts)
  inputs = as_items(inputs, "predict")
  opts = check_options(opts, { batch_size = "integer", max_seq_len = "integer", padding = "string|boolean" }, "predict", 2)
  local bs = opts.batch_size or default_batch(self)
  if bs < 1 then fail("predict: batch_size must be a positive integer, got %d", bs) end
  local results = {}
  if self.pooling then
    local v = M.vectors(self, inputs, { batch_size = bs, max_seq_len = opts.max_seq_len }):totable()
    for i = 1, #inputs do results[i] = { embedding = v[i] } end
    return results
  end
  for s = 1, #inputs, bs do
    local chunk = {}
    for i = s, math.min(#inputs, s + bs - 1) do chunk[#chunk + 1] = inputs[i] end
    local pooled, seq, b = self:embed(chunk, { batch_size = bs, max_seq_len = opts.max_seq_len, padding = opts.padding })
    local p, q, m = pooled:totable(), seq:totable(), b.attention_mask:totable()
    for i = 1, #chunk do
      local n = 0
      for _, v in ipairs(m[i]) do n = n + v end
      local rows = {}
      for j = 1, n do rows[j] = q[i][j] end
      results[#results + 1] = { pooled_output = p[i], sequence_output = rows }
    end
  end
  return results
end

function M.format(self, r)
  if r.embedding then
    local head = {}
    for i = 1, math.min(4, #r.embedding) do head[i] = string.format("%.4f", r.embedding[i]) end
    return string.format("embedding [%d]: %s ...", #r.embedding, table.concat(head, " "))
  end
  local head = {}
  for i = 1, math.min(4, #r.pooled_output) do head[i] = string.format("%.4f", r.pooled_output[i]) end
  return string.format("pooled_output [%d]: %s ...  sequence_output [%d, %d]", #r.pooled_output,
    table.concat(head, " "), #r.sequence_output, #r.pooled_output)
end

-- The network and tokenizer for fine-tuning.
function M.context(self, opts)
  opts = check_options(opts, { max_seq_len = "integer", trainable = "boolean" }, "context", 2)
  local n = opts.max_seq_len or self.max_seq_len
  if type(n) ~= "number" or n < 2 or n > self.config.max_position_embeddings then
    fail("context: max_seq_len must be an integer in [2, %d], got %s", self.config.max_position_embeddings, tostring(n))
  end
  local trainable = opts.trainable ~= false
  if trainable then make_private(self) end
  for _, p in ipairs(self.model:parameters()) do p:requires_grad(trainable) end
  if trainable then self.model:train() else self.model:eval() end
  local tk = self.tokenizer
  return {
    network = self.model, tokenizer = tk, max_seq_len = n, hidden_size = self.hidden_size, config = self.config,
    encode = function(items, o) return tk:encode_batch(as_items(items, "encode"), { max_seq_len = (o and o.max_seq_len) or n }) end,
  }
end

function M.serving(self, req)
  local texts = type(req) == "table" and (req.text or req.texts or req.data or (req[1] and req))
  if texts == nil then fail("the request has no \"text\" list (expected {\"text\": [\"...\"]})") end
  return M.predict(self, texts, { batch_size = type(req) == "table" and req.batch_size or nil })
end

-- ---- fill-mask (modules whose network has the masked-LM head: config.model.mlm_head) ----

-- fill_mask(texts, {top_k = 5}) -> per text, a list with one entry per [MASK] token:
-- {{token = "首", id = 1234, score = 0.91}, ... top_k of them, best first} (score: softmax
-- probability over the vocabulary).
function M.fill_mask(self, texts, opts)
  if not self.model.mlm then fail("fill_mask: the module %s has no masked-LM head", tostring(self.dir)) end
  texts = as_items(texts, "fill_mask")
  opts = opts or {}
  local k = opts.top_k or 5
  if type(k) ~= "number" or k < 1 or k ~= math.floor(k) then fail("fill_mask: top_k must be a positive integer, got %s", tostring(k)) end
  local mask_id = self.tokenizer.mask_id
  if not mask_id then fail("fill_mask: the vocabulary has no [MASK] token") end
  local results = {}
  for i, text in ipairs(texts) do
    local b = self:encode({ text }, opts.max_seq_len and { max_seq_len = opts.max_seq_len } or nil)
    local ids = b.input_ids:totable()[1]
    b = on_device(self, b)
    local pos = {}
    for j, id in ipairs(ids) do if id == mask_id then pos[#pos + 1] = j - 1 end end
    local fills = {}
    if #pos > 0 then
      local probs = run_eval(self.model, function()
        local out = self.model:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids, attention_mask = b.attention_mask }
        return self.model:mlm_logits(out.sequence_output, hub.tensor(pos, "i64"):to(b.input_ids.device)):softmax(-1)
      end):totable()
      for m = 1, #pos do
        local row, order = probs[m], {}
        for id = 1, #row do order[id] = id end
        table.sort(order, function(a, c) return row[a] > row[c] or (row[a] == row[c] and a < c) end)
        local top = {}
        for r = 1, math.min(k, #order) do
          top[r] = { token = self.tokenizer:id_to_token(order[r] - 1), id = order[r] - 1, score = row[order[r]] }
        end
        fills[m] = top
      end
    end
    results[i] = fills
  end
  return results
end

-- predict: for a module with the masked-LM head, a text holding [MASK] gives its fills
-- ({fill_mask = fill_mask's list}); any other text its vectors as above.
local embed_predict = M.predict
function M.predict(self, inputs, opts)
  inputs = as_items(inputs, "predict")
  if not self.model.mlm then return embed_predict(self, inputs, opts) end
  local results = {}
  for i, t in ipairs(inputs) do
    if type(t) == "string" and t:find("[MASK]", 1, true) then
      results[i] = { text = t, fill_mask = M.fill_mask(self, { t }, { top_k = opts and opts.top_k })[1] }
    else
      results[i] = embed_predict(self, { t }, opts)[1]
    end
  end
  return results
end

local embed_format = M.format
function M.format(self, r)
  if not r.fill_mask then return embed_format(self, r) end
  local parts = {}
  for m, top in ipairs(r.fill_mask) do
    local c = {}
    for _, e in ipairs(top) do c[#c + 1] = string.format("%s %.3f", e.token, e.score) end
    parts[m] = string.format("[MASK]%d: %s", m, table.concat(c, ", "))
  end
  return r.text .. "\t" .. table.concat(parts, "  ")
end

State.predict = M.predict
State.context = M.context
State.fill_mask = M.fill_mask

return M
