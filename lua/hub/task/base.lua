-- hub.task.base: what every fine-tuning task shares.  A task is an nn.Module holding the
-- pretrained encoder (`task.encoder`, an hub.models.ernie network) and a small head; it knows
-- its data set kind, its loss, its metrics (one of them, `task.main_metric`, chooses the best
-- model and drives early stopping), how to predict from raw texts and how to export itself as
-- an installable module.  The task files (classification.lua, multi_label.lua, regression.lua,
-- sequence_labeling.lua, matching.lua) fill in five methods:
--
--   task:forward_batch(b)        -> out (a table of tensors: logits, ...) for a batch of
--                                   hub.data.text (input_ids, token_type_ids, attention_mask, labels)
--   task:loss(out, b)            -> a scalar tensor
--   task:collect(out, b, acc)    adds the batch's predictions and gold labels to acc (Lua tables)
--   task:summarize(acc)          -> metrics table (numbers; main_metric among them)
--   task:results(out, b, items, f) -> one result table per example of the batch (predict; f:
--                                   the features, items: the examples)
--
-- and this file gives the rest:
--
--   task:featurize(ds, {cache=})         hub.data.text features for the task (train/dev/test)
--   task:evaluate(features, {batch_size=}) -> metrics (+ loss, examples)
--   task:predict(texts, {batch_size=})   raw texts (pairs as {a, b} or "a\tb") -> results
--   task:export{ name=, version=, dir= } an installable module directory (see export.lua)
--
-- The encoder comes from `module =` (a hub.module object or an installed name: its
-- context{trainable = true} gives the network and the tokenizer) or from `network =` and
-- `tokenizer =` directly (a hub.models.ernie network and a hub.tokenizer.wordpiece), which is
-- how tests build small random encoders.  Label names come from `labels =` (a list) or, when
-- only `num_classes =` is given, are "0", "1", ... (hub.finetune takes the data set's names when
-- the task has none of its own).
local hub = require "hub"
local core = require "hub.core"
local nn = hub.nn
local text = require "hub.data.text"

local M = {}

local fail = require("hub.core").failf
M.fail = fail

local Task = nn.Module:extend("Task")
M.Task = Task

-- The options every task takes, merged with the task's own spec by M.options.
M.common_spec = { module = "table|string", network = "table", tokenizer = "table", max_seq_len = "integer",
  labels = "table", num_classes = "integer", dropout = "number", pair = "boolean", pooling = "string",
  truncation = "string" }

function M.options(opts, spec, fname)
  if type(opts) ~= "table" then core.argerror(1, fname, "an options table", type(opts)) end
  local all = {}
  for k, v in pairs(M.common_spec) do all[k] = v end
  for k, v in pairs(spec or {}) do all[k] = v end
  return core.check_options(opts, all, fname, 1)
end

-- network, tokenizer, max_seq_len from opts.module or opts.network + opts.tokenizer.
function M.encoder_of(o, fname)
  local network, tokenizer, max_len
  if o.module ~= nil then
    if o.network or o.tokenizer then fail("%s: give either module or network + tokenizer, not both", fname) end
    local m = o.module
    if type(m) == "string" then m = hub.module(m) end
    if type(m.context) ~= "function" then fail("%s: module %s has no context (not an encoder module)", fname, tostring(m.name)) end
    local ctx = m:context { max_seq_len = o.max_seq_len, trainable = true }
    network, tokenizer, max_len = ctx.network, ctx.tokenizer, ctx.max_seq_len
  else
    if type(o.network) ~= "table" or type(o.network.forward) ~= "function" or type(o.network.config) ~= "table" then
      fail("%s: 'module' (an encoder module) or 'network' (a hub.models.ernie network) is required", fname)
    end
    if type(o.tokenizer) ~= "table" or type(o.tokenizer.encode_batch) ~= "function" then
      fail("%s: 'tokenizer' (a hub.tokenizer.wordpiece) is required with 'network'", fname)
    end
    network, tokenizer = o.network, o.tokenizer
    for _, p in ipairs(network:parameters()) do p:requires_grad(true) end
  end
  max_len = o.max_seq_len or max_len or math.min(128, network.config.max_position_embeddings)
  if max_len < 3 or max_len > network.config.max_position_embeddings then
    fail("%s: max_seq_len must be an integer in [3, %d], got %d", fname, network.config.max_position_embeddings, max_len)
  end
  return network, tokenizer, max_len
end

-- Label names from opts.labels / opts.num_classes (nil when neither: the data set gives them).
function M.labels_of(o, fname, min)
  if o.labels ~= nil then
    if #o.labels < (min or 1) then fail("%s: labels must list at least %d names, got %d", fname, min or 1, #o.labels) end
    for i, l in ipairs(o.labels) do
      if type(l) ~= "string" then fail("%s: labels[%d] is a %s, expected a name", fname, i, type(l)) end
    end
    if o.num_classes and o.num_classes ~= #o.labels then
      fail("%s: num_classes %d but %d labels", fname, o.num_classes, #o.labels)
    end
    return { unpack(o.labels) }
  end
  if o.num_classes ~= nil then
    if o.num_classes < (min or 1) then fail("%s: num_classes must be at least %d, got %d", fname, min or 1, o.num_classes) end
    local l = {}
    for i = 1, o.num_classes do l[i] = tostring(i - 1) end
    return l
  end
  return nil
end

-- Fills the common fields of a new task (called from the task's init).
function Task:setup(o, fname, kind, kinds)
  local network, tokenizer, max_len = M.encoder_of(o, fname)
  self.encoder = network
  rawset(self, "tokenizer", tokenizer)
  rawset(self, "max_seq_len", max_len)
  rawset(self, "kind", kind)
  rawset(self, "kinds", kinds or { [kind] = true })
  rawset(self, "hidden_size", network.config.hidden_size)
  -- the head's dropout: the task's option, else the encoder's own (as Hugging Face's
  -- classifier_dropout falls back on hidden_dropout_prob), else 0.1
  local own = type(network.config) == "table" and tonumber(network.config.hidden_dropout_prob) or nil
  rawset(self, "dropout_p", o.dropout or own or 0.1)
  if self.dropout_p < 0 or self.dropout_p >= 1 then fail("%s: dropout must be in [0, 1), got %s", fname, tostring(o.dropout)) end
  self.dropout = nn.Dropout(self.dropout_p)
  rawset(self, "pair", o.pair == true)
  -- how a text becomes one vector: "cls" (the pooler's output, else the [CLS] state) or
  -- "mean" (the mean of the token states under the attention mask)
  rawset(self, "pooling", o.pooling or self.default_pooling or "cls")
  if self.pooling ~= "mean" and self.pooling ~= "cls" then
    fail("%s: pooling must be \"mean\" or \"cls\", got \"%s\"", fname, tostring(o.pooling))
  end
  -- how a text longer than max_seq_len is cut: "longest_first" (keep its start) or
  -- "head_tail" (keep its first quarter and last three quarters; not for sequence labelling)
  rawset(self, "truncation", o.truncation or "longest_first")
  if self.truncation ~= "longest_first" and self.truncation ~= "head_tail" then
    fail("%s: truncation must be \"longest_first\" or \"head_tail\", got \"%s\"", fname, tostring(o.truncation))
  end
  if self.truncation == "head_tail" and kind == "sequence" then
    fail("%s: truncation \"head_tail\" drops the middle of a text, which sequence labelling cannot tag", fname)
  end
end

-- One vector per text of an encoder output: the pooler's output / [CLS] state (pooling "cls")
-- or the mean of the token states under the attention mask ("mean").
function Task:pool(out, attention_mask)
  if self.pooling == "mean" then
    local seq = out.sequence_output
    local B, L = seq.shape[1], seq.shape[2]
    local m = attention_mask:to("f32")
    return (seq * m:reshape(B, L, 1)):sum(2) / m:sum(2, true)
  end
  return out.pooled_output or out.sequence_output:select(2, 1):contiguous()
end

-- Pooled features of a batch (Task:pool), dropout applied (training only).
function Task:encode_pooled(b)
  local out = self.encoder:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids,
                                     attention_mask = b.attention_mask }
  return self.dropout(self:pool(out, b.attention_mask)), out
end

-- The data set kinds this task trains on, as text.
function Task:kinds_text()
  local k = {}
  for name in pairs(self.kinds) do k[#k + 1] = name end
  table.sort(k)
  return table.concat(k, " or ")
end

-- Checks a data set against the task (kind, labels); adopts its label names when the task has
-- none.  Returns the data set.
function Task:check_dataset(ds, fname)
  fname = fname or "finetune"
  if type(ds) ~= "table" or type(ds.train) ~= "table" or not ds.kind then
    fail("%s: expected a text data set (hub.datasets: train, dev, test, kind, labels), got %s", fname, type(ds))
  end
  if not self.kinds[ds.kind] then
    fail("%s: the data set %s is a %s data set; %s needs %s data", fname, tostring(ds.name), ds.kind, self.__name, self:kinds_text())
  end
  local first = ds.train[1] or ds.dev[1] or ds.test[1]
  rawset(self, "pair", ds.kind == "pair" or (first ~= nil and first.text_b ~= nil))
  if self.uses_labels then
    local dl = ds.labels or {}
    if self.labels == nil then
      if #dl == 0 then fail("%s: the data set %s has no label names and the task was given none", fname, tostring(ds.name)) end
      self:set_labels(dl)
    elseif #dl > 0 and #dl ~= #self.labels then
      fail("%s: the task has %d labels but the data set %s has %d", fname, #self.labels, tostring(ds.name), #dl)
    end
  end
  return ds
end

-- The features of a data set for this task ({train, dev, test}); cache as hub.data.text.
function Task:featurize(ds, opts)
  opts = core.check_options(opts, { cache = "boolean|string", splits = "table" }, "featurize", 2)
  self:check_dataset(ds, "featurize")
  return text.featurize(ds, self.tokenizer, { max_seq_len = self.max_seq_len, truncation = self.truncation,
    cache = opts.cache, splits = opts.splits })
end

local function num_labels(self) return self.labels and #self.labels or 0 end

-- The examples of a predict call: strings (pair tasks: {a, b} tables or "a\tb").
function Task:predict_examples(texts)
  if type(texts) == "string" then texts = { texts } end
  if type(texts) ~= "table" or #texts == 0 then
    fail("predict: expected a list of texts, got %s", type(texts) == "table" and "an empty table" or type(texts))
  end
  local pair = self.pair
  local exs = {}
  for i, t in ipairs(texts) do
    local a, b
    if type(t) == "string" then
      if pair then a, b = t:match("^(.-)\t(.*)$") end
      if not a then a = t end
    elseif type(t) == "table" and type(t[1]) == "string" and (t[2] == nil or type(t[2]) == "string") then
      a, b = t[1], t[2]
    else
      fail("predict: item %d is a %s, expected a text%s", i, type(t), pair and " or a {text_a, text_b} pair" or "")
    end
    if pair and not b then fail("predict: item %d is one text; this task takes pairs ({a, b} or \"a<TAB>b\")", i) end
    if not pair and b then fail("predict: item %d is a pair; this task takes single texts", i) end
    exs[i] = { text_a = a, text_b = b }
  end
  return exs
end

-- Features of raw examples (no cache).
function Task:features_of(examples)
  return text.features(examples, self.tokenizer, { kind = self.feature_kind or self.kind, num_labels = num_labels(self),
    max_seq_len = self.max_seq_len, truncation = self.truncation, cache = false })
end

-- The device of the task's weights ("cpu" or "cuda"): where task:to(device) (or hub.finetune's
-- device option) put them, else its encoder's; its batches go there (Task:on_device) before the
-- forward.
function Task:device()
  local p = self.encoder:parameters()[1]
  return p and p.device or "cpu"
end

-- place(device[, who]): the whole task (encoder and head) on `device` (default: the encoder's,
-- so a head built on the cpu joins an encoder loaded on cuda); a clear error naming `who` when the
-- device is not there (hub.cuda.check_device).  Returns self.
function Task:place(device, who)
  device = hub.cuda.check_device(device or self:device(), who or "task")
  for _, p in ipairs(self:parameters()) do
    if p.device ~= device then return self:to(device) end
  end
  return self
end

-- A batch (hub.data.text's table, or matching's table of them) with its tensors on `device`
-- (default: the task's); the batch itself when it is there already.
local function batch_to(b, device, depth)
  local out
  for k, v in pairs(b) do
    local m = v
    if core.is_tensor(v) then
      if v.device ~= device then m = v:to(device) end
    elseif type(v) == "table" and depth < 3 and getmetatable(v) == nil then
      m = batch_to(v, device, depth + 1)
    end
    if m ~= v then
      if not out then out = {}; for k2, v2 in pairs(b) do out[k2] = v2 end end
      out[k] = m
    end
  end
  return out or b
end
function Task:on_device(b, device) return batch_to(b, device or self:device(), 1) end

-- ---- CUDA graphs for inference (evaluate, predict) ----
-- task:use_cuda_graphs(on[, {max_graphs = 8, pad = 16}]): on a cuda device, the forward of
-- evaluation and prediction batches runs as captured CUDA graphs (hub.cuda.graph_cache), one per
-- batch shape: the length is padded up to a multiple of `pad` (padding ids 0 with attention mask
-- 0, which no real token attends to, so the results are those of the unpadded batch) and the
-- `max_graphs` most recently used graphs are kept.  A task whose forward cannot be captured (a
-- CRF's decoding reads the batch's lengths on the host, a pair task's batches have another form)
-- falls back to the ordinary forward, with one line on stderr.  Returns self.
function Task:use_cuda_graphs(on, opts)
  opts = core.check_options(opts, { max_graphs = "integer", pad = "integer" }, "use_cuda_graphs", 3)
  local old = rawget(self, "_graphs")
  if old then old:free() end
  rawset(self, "_graphs", on and hub.cuda.graph_cache { max_graphs = opts.max_graphs, pad = opts.pad,
                                                        who = self.__name or "task" } or nil)
  return self
end

-- Why this task's forward cannot be captured, or nil (a task kind that knows says so here).
function Task:graph_refusal() return nil end

-- {captures, replays, graphs, off} of use_cuda_graphs (nil when off).
function Task:cuda_graph_stats()
  local G = rawget(self, "_graphs")
  return G and G:stats() or nil
end

-- The forward of a (device) batch through a captured graph; nil when it cannot be.
function Task:graph_forward(b)
  local G = rawget(self, "_graphs")
  if not G then return nil end
  local why = self:graph_refusal()
  if why then
    G:refuse(why)
    return nil
  end
  local inputs = { input_ids = b.input_ids, token_type_ids = b.token_type_ids, attention_mask = b.attention_mask }
  local cfg = self.encoder and self.encoder.config
  return G:run(inputs, function(st)
    st.size = b.size
    return self:forward_batch(st)
  end, nil, cfg and cfg.max_position_embeddings)
end

-- Runs fn(batch, out) over features in eval mode without gradients, in length-bucketed batches
-- (on the task's device; as CUDA graphs after task:use_cuda_graphs(true)).
function Task:each_batch(f, batch_size, fn)
  local was = self.training
  self:eval()
  self:place()
  local dev = self:device()
  local graphs = dev == "cuda" and rawget(self, "_graphs")
  local ok, err = pcall(hub.no_grad, function()
    for _, idx in ipairs(f:batch_order(batch_size, { shuffle = false })) do
      local b = self:on_device(f:batch(idx), dev)
      fn(b, graphs and self:graph_forward(b) or self:forward_batch(b))
    end
  end)
  if was then self:train() end
  if not ok then error(err, 0) end
end

-- evaluate(features, {batch_size = 64}) -> metrics: the task's metrics, loss (mean per
-- example) and examples.
function Task:evaluate(f, opts)
  opts = core.check_options(opts, { batch_size = "integer" }, "evaluate", 2)
  if type(f) ~= "table" or type(f.batch_order) ~= "function" then
    fail("evaluate: expected features (task:featurize(ds).dev), got %s", type(f))
  end
  if f.n == 0 then return { examples = 0 } end
  if not f.has_labels then fail("evaluate: the examples have no labels") end
  local acc = {}
  local loss_sum, n = 0, 0
  self:each_batch(f, opts.batch_size or 64, function(b, out)
    loss_sum = loss_sum + self:loss(out, b):item() * b.size
    n = n + b.size
    self:collect(out, b, acc)
  end)
  local m = self:summarize(acc)
  m.loss, m.examples = loss_sum / n, n
  return m
end

-- predict(texts, {batch_size = 32}) -> one result per text, in order.
function Task:predict(texts, opts)
  opts = core.check_options(opts, { batch_size = "integer" }, "predict", 2)
  local exs = self:predict_examples(texts)
  local f = self:features_of(exs)
  local results = {}
  self:each_batch(f, opts.batch_size or 32, function(b, out)
    local items = {}
    for k, i in ipairs(b.index) do items[k] = exs[i] end
    local r = self:results(out, b, items, f)
    for k, i in ipairs(b.index) do results[i] = r[k] end
  end)
  return results
end

-- The task's own configuration, for export (the task file adds its fields).
function Task:task_config()
  return { labels = self.labels, max_seq_len = self.max_seq_len, dropout = self.dropout_p, pair = self.pair,
           pooling = self.pooling, truncation = self.truncation }
end

function Task:set_labels(l) rawset(self, "labels", { unpack(l) }) end

function Task:export(opts) return require("hub.task.export").export(self, opts) end

function Task:extra_repr()
  return string.format("%s, max_seq_len=%d%s", self.kind, self.max_seq_len,
    self.labels and (", " .. #self.labels .. " labels") or "")
end

-- Label name of a 0-based id.
function Task:label_name(id) return self.labels and self.labels[id + 1] or tostring(id) end

-- Rows of a 2-d tensor as Lua tables (a [B] tensor gives numbers).
function M.rows(t) return t:totable() end

return M
