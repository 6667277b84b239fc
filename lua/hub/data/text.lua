-- hub.data.text: turns the examples of a text data set (hub.datasets.dataset) into network
-- inputs with a WordPiece tokenizer (hub.tokenizer.wordpiece, or a module context's), and serves
-- them in length-bucketed, dynamically padded batches.
--
--   local text = require "hub.data.text"
--   local f = text.featurize(ds, ctx.tokenizer, { max_seq_len = 128 })  -- f.train, f.dev, f.test
--   for b in f.train:batches(32, { seed = 1, epoch = e }) do
--     model:forward{ input_ids = b.input_ids, token_type_ids = b.token_type_ids,
--                    attention_mask = b.attention_mask }   -- [B, L] i64, L = longest row of b
--     ... b.labels ...                                      -- see below;  b.index: positions
--   end
--
-- Tokenizing: the tokenizer's own encoder (runtime/encode.c) makes every row, so [CLS] a [SEP]
-- (and b [SEP]) and truncation to max_seq_len (longest_first by default, or any of the tokenizer's
-- truncations; head_tail keeps a long text's start and end, not for sequence labelling) are
-- exactly what tokenizer:encode gives.  The rows are kept unpadded (int32 ids,
-- the length of segment a) and padded per batch.
--
-- Labels, by the data set's kind: classification and pair -> b.labels i64 [B]; regression ->
-- f32 [B]; multi_label -> f32 [B, C] (multi-hot); sequence -> i64 [B, L]: the character tags
-- aligned to tokens by first-token labelling: a token that begins a word (not a "##" piece)
-- gets the tag of the character it starts at; [CLS], [SEP], "##" pieces and padding get -100
-- (ignored by the loss).  Chinese characters are one token each; a Latin word or a number
-- ("Windows", "1998") is labelled on its first piece, and the rest of its characters follow
-- that tag (f:char_positions(i) gives, per token, the 0-based character it labels or -1, to
-- map predictions back).  Characters after the last token (cut by truncation) are counted in
-- f.chars_cut.  Examples without a label (predict files) give no b.labels.
--
-- Batches (f:batches(batch_size, opts)): the examples are shuffled with seed and epoch (a
-- permutation from hub.data's splitmix64 stream 2*epoch+1), cut into buckets of
-- bucket * batch_size (bucket = 100 by default; 0 turns bucketing off), each bucket sorted by
-- length (ties by shuffled position), cut into batches, and the batches shuffled again (stream
-- 2*epoch+2).  So a batch holds rows of similar length (little padding), the order is the same
-- for the same seed and epoch on every machine, and every example is in exactly one batch of
-- an epoch.  shuffle = false keeps the examples' order (still bucketed when bucket > 0, the
-- batches in order); seed = nil draws a seed from hub's generator (reproducible after
-- hub.manual_seed).
--
-- Cache: with cache = true (the default of featurize) or a directory, the tokenized rows are
-- written to <dir>/<name>-<key>.safetensors (dir: $HUB_DATA/features, or
-- <repo>/build/data/features) and read back by the next run whose key matches.  The key is the
-- sha256 of the format version, the vocabulary file's sha256, the tokenizer's lower and
-- strip_accents, max_seq_len, truncation, the kind, the number of labels and every example's
-- texts and label; any change gives a new file.  A cache file that cannot be read is ignored
-- (and rewritten).
local ffi = require "ffi"
local core = require "hub.core"
local data = require "hub.data"
local C = core.C

local M = {}
M.format_version = "hubrun-text-features-1"
M.ignore_index = -100

local I32, I64, F32 = 3, 4, 0

-- ---- growable int32 vectors ----
local function vec(cap)
  return { n = 0, cap = cap or 1024, p = ffi.new("int32_t[?]", cap or 1024) }
end
local function push(v, x)
  if v.n == v.cap then
    local p = ffi.new("int32_t[?]", v.cap * 2)
    ffi.copy(p, v.p, v.n * 4)
    v.p, v.cap = p, v.cap * 2
  end
  v.p[v.n] = x
  v.n = v.n + 1
end

-- ---- the ids of "##" continuation pieces, per tokenizer ----
local cont_cache = setmetatable({}, { __mode = "k" })
local function continuation_ids(tk)
  local c = cont_cache[tk]
  if c then return c end
  c = {}
  for id = 0, tk.vocab_size - 1 do
    local t = tk:id_to_token(id)
    if t and t:sub(1, 2) == "##" then c[id] = true end
  end
  cont_cache[tk] = c
  return c
end

local Features = {}
Features.__index = Features
M.Features = Features

local function check_tokenizer(tk, fname)
  if type(tk) ~= "table" or type(tk.encode_batch) ~= "function" or not tk.pad_id then
    core.raise(fname .. ": expected a WordPiece tokenizer (hub.tokenizer.wordpiece, or a module context's tokenizer)")
  end
end

local function read_i64(t)
  local n = t:numel()
  local buf = ffi.new("int64_t[?]", n > 0 and n or 1)
  core.check(C.hub_tensor_read(t, buf, I64))
  return buf, n
end

-- Tokenizes the examples into a new Features (no cache).
local function build(examples, tk, o)
  local n = #examples
  local f = setmetatable({ n = n, kind = o.kind, num_labels = o.num_labels, max_seq_len = o.max_seq_len,
    truncation = o.truncation, at_max_len = 0, chars_cut = 0, pad_id = o.pad_id }, Features)
  local ids, seg, starts = vec(n * 32 + 16), ffi.new("int32_t[?]", n + 1), ffi.new("int32_t[?]", n + 1)
  local tags, cpos
  local seq = o.kind == "sequence"
  if seq then tags, cpos = vec(n * 32 + 16), vec(n * 32 + 16) end
  local cont = seq and continuation_ids(tk) or nil
  local chunk = 256
  for from = 1, n, chunk do
    local to = math.min(from + chunk - 1, n)
    local items = {}
    for i = from, to do
      local ex = examples[i]
      if type(ex) ~= "table" or type(ex.text_a) ~= "string" then
        core.raise(string.format("featurize: example %d has no text_a string", i))
      end
      if ex.text_b ~= nil and type(ex.text_b) ~= "string" then
        core.raise(string.format("featurize: example %d: text_b is a %s, expected a string", i, type(ex.text_b)))
      end
      if seq and ex.text_b then core.raise(string.format("featurize: example %d: sequence labelling takes one text, not a pair", i)) end
      items[#items + 1] = ex.text_b and { ex.text_a, ex.text_b } or ex.text_a
    end
    local enc = tk:encode_batch(items, { max_seq_len = o.max_seq_len, truncation = o.truncation, padding = "longest" })
    local B, L = enc.input_ids:size(1), enc.input_ids:size(2)
    local eid = read_i64(enc.input_ids)
    local ett = read_i64(enc.token_type_ids)
    local emask = read_i64(enc.attention_mask)
    local eoff = seq and read_i64(enc.offsets) or nil
    for r = 0, B - 1 do
      local i = from + r   -- 1-based example
      starts[i - 1] = ids.n
      local len, a = 0, 0
      for j = 0, L - 1 do
        if emask[r * L + j] == 0 then break end
        len = len + 1
        if ett[r * L + j] == 0 then a = a + 1 end
        push(ids, tonumber(eid[r * L + j]))
      end
      seg[i - 1] = a
      if o.max_seq_len > 0 and len >= o.max_seq_len then f.at_max_len = f.at_max_len + 1 end
      if seq then
        local label = examples[i].label
        if label ~= nil and type(label) ~= "table" then
          core.raise(string.format("featurize: example %d: a sequence label is a list of tag ids, got a %s", i, type(label)))
        end
        local nch = label and #label or 0
        local last, last_end = -1, 0
        for j = 0, len - 1 do
          local tag, cp = M.ignore_index, -1
          if j > 0 and j < len - 1 then
            local id = tonumber(eid[r * L + j])
            local s = tonumber(eoff[(r * L + j) * 2])
            local e = tonumber(eoff[(r * L + j) * 2 + 1])
            if e > last_end then last_end = e end
            if not cont[id] and s > last and s < nch then
              tag, cp, last = label[s + 1], s, s
              if type(tag) ~= "number" or tag ~= math.floor(tag) or tag < 0 or (o.num_labels > 0 and tag >= o.num_labels) then
                core.raise(string.format("featurize: example %d: tag %s of character %d is not a tag id in 0..%d", i,
                  tostring(tag), s + 1, o.num_labels - 1))
              end
            end
          end
          push(tags, tag)
          push(cpos, cp)
        end
        if nch > last_end then f.chars_cut = f.chars_cut + (nch - last_end) end
      end
    end
  end
  starts[n] = ids.n
  f.ids, f.seg, f.starts, f.total = ids.p, seg, starts, ids.n
  if seq then f.tags, f.cpos = tags.p, cpos.p end
  -- labels
  local labelled = n > 0
  for i = 1, n do if examples[i].label == nil then labelled = false; break end end
  f.has_labels = labelled
  if labelled and not seq then
    if o.kind == "regression" then
      f.labels = ffi.new("float[?]", n)
      for i = 1, n do
        local v = examples[i].label
        if type(v) ~= "number" then core.raise(string.format("featurize: example %d: regression label is a %s", i, type(v))) end
        f.labels[i - 1] = v
      end
    elseif o.kind == "multi_label" then
      local ml, ms = vec(n + 16), ffi.new("int32_t[?]", n + 1)
      for i = 1, n do
        ms[i - 1] = ml.n
        local l = examples[i].label
        if type(l) ~= "table" then core.raise(string.format("featurize: example %d: multi-label label is a %s, expected a list", i, type(l))) end
        for _, id in ipairs(l) do
          if type(id) ~= "number" or id ~= math.floor(id) or id < 0 or id >= o.num_labels then
            core.raise(string.format("featurize: example %d: label %s is not a class id in 0..%d", i, tostring(id), o.num_labels - 1))
          end
          push(ml, id)
        end
      end
      ms[n] = ml.n
      f.ml, f.ml_starts, f.ml_total = ml.p, ms, ml.n
    else
      f.labels = ffi.new("int32_t[?]", n)
      for i = 1, n do
        local v = examples[i].label
        if type(v) ~= "number" or v ~= math.floor(v) or v < 0 or (o.num_labels > 0 and v >= o.num_labels) then
          core.raise(string.format("featurize: example %d: label %s is not a class id in 0..%d", i, tostring(v), o.num_labels - 1))
        end
        f.labels[i - 1] = v
      end
    end
  end
  return f
end

-- ---- cache ----

local function cache_key(examples, tk, o)
  local parts = { M.format_version, "\n" }
  local hex = ffi.new("char[65]")
  if C.hub_sha256_file(tk.vocab_path, hex) ~= 0 then core.fail() end
  parts[#parts + 1] = string.format("vocab=%s lower=%s strip=%s max=%d trunc=%s kind=%s labels=%d\n", ffi.string(hex, 64),
    tostring(tk.lower), tostring(tk.strip_accents), o.max_seq_len, tostring(o.truncation), o.kind, o.num_labels)
  for i = 1, #examples do
    local ex = examples[i]
    local l = ex.label
    if type(l) == "table" then l = table.concat(l, ",")
    elseif type(l) == "number" then l = string.format("%.17g", l)
    else l = "" end
    parts[#parts + 1] = ex.text_a .. "\1" .. (ex.text_b or "") .. "\1" .. l .. "\n"
  end
  local s = table.concat(parts)
  C.hub_sha256_hex(s, #s, hex)
  return ffi.string(hex, 64)
end

local function tensor_of(ptr, n, dt, src_dt)
  local shape = ffi.new("int64_t[1]", n)
  return core.wrap(C.hub_tensor_from_data(dt, 1, shape, ptr, src_dt))
end

local function save_cache(f, path, key)
  local hub = require "hub"
  local t = { ids = tensor_of(f.ids, f.total, I32, I32), seg = tensor_of(f.seg, f.n, I32, I32),
              starts = tensor_of(f.starts, f.n + 1, I32, I32) }
  if f.tags then t.tags = tensor_of(f.tags, f.total, I32, I32); t.cpos = tensor_of(f.cpos, f.total, I32, I32) end
  if f.labels then
    if f.kind == "regression" then t.labels = tensor_of(f.labels, f.n, F32, F32)
    else t.labels = tensor_of(f.labels, f.n, I32, I32) end
  end
  if f.ml then
    t.ml_starts = tensor_of(f.ml_starts, f.n + 1, I32, I32)
    if f.ml_total > 0 then t.ml = tensor_of(f.ml, f.ml_total, I32, I32) end
  end
  hub.save(path, t, { metadata = { key = key, format = M.format_version, kind = f.kind, n = tostring(f.n),
    at_max_len = tostring(f.at_max_len), chars_cut = tostring(f.chars_cut),
    has_labels = tostring(f.has_labels) } })
end

local function to_i32(t)
  local buf, n = read_i64(t)
  local out = ffi.new("int32_t[?]", n > 0 and n or 1)
  for i = 0, n - 1 do out[i] = buf[i] end
  return out, n
end

local function load_cache(path, key, o)
  local hub = require "hub"
  local ok, t, meta = pcall(hub.load, path)
  if not ok or type(meta) ~= "table" or meta.key ~= key or meta.format ~= M.format_version then return nil end
  local n = tonumber(meta.n)
  local f = setmetatable({ n = n, kind = o.kind, num_labels = o.num_labels, max_seq_len = o.max_seq_len,
    truncation = o.truncation, at_max_len = tonumber(meta.at_max_len), chars_cut = tonumber(meta.chars_cut),
    has_labels = meta.has_labels == "true", from_cache = path, pad_id = o.pad_id }, Features)
  f.ids, f.total = to_i32(t.ids)
  f.seg = to_i32(t.seg)
  f.starts = to_i32(t.starts)
  if t.tags then f.tags = to_i32(t.tags); f.cpos = to_i32(t.cpos) end
  if t.labels then
    if o.kind == "regression" then
      local n2 = t.labels:numel()
      f.labels = ffi.new("float[?]", n2)
      core.check(C.hub_tensor_read(t.labels, f.labels, F32))
    else
      f.labels = to_i32(t.labels)
    end
  end
  if t.ml_starts then
    f.ml_starts = to_i32(t.ml_starts)
    f.ml_total = f.ml_starts[n]
    f.ml = t.ml and to_i32(t.ml) or ffi.new("int32_t[1]")
  end
  return f
end

function M.default_cache_dir()
  local env = os.getenv("HUB_DATA")
  if env and env ~= "" then return env .. "/features" end
  local repo = require("hub.datasets").repo_dir()
  return (repo or "./") .. "build/data/features"
end

local feature_opts = { max_seq_len = "number", truncation = "string|boolean", kind = "string", num_labels = "number",
  cache = "boolean|string", name = "string" }

-- features(examples, tokenizer, { kind = "classification", num_labels = 0, max_seq_len = 128,
--   truncation = "longest_first", cache = false | true | dir, name = "features" }) -> Features
function M.features(examples, tk, opts)
  if type(examples) ~= "table" then core.argerror(1, "features", "a list of examples", type(examples)) end
  check_tokenizer(tk, "features")
  opts = core.check_options(opts, feature_opts, "features", 3)
  local o = { kind = opts.kind or "classification", num_labels = opts.num_labels or 0,
    max_seq_len = opts.max_seq_len or 128, truncation = opts.truncation, pad_id = tk.pad_id }
  if o.truncation == nil or o.truncation == true then o.truncation = "longest_first" end
  if not require("hub.datasets.dataset").kinds[o.kind] then core.raise("features: unknown kind '" .. o.kind .. "'") end
  if o.kind == "sequence" and o.truncation == "head_tail" then
    core.raise("features: truncation 'head_tail' drops the middle of a text, which sequence labelling cannot tag; " ..
      "use 'longest_first'")
  end
  if o.max_seq_len ~= math.floor(o.max_seq_len) or o.max_seq_len < 0 or (o.max_seq_len > 0 and o.max_seq_len < 3) then
    core.raise("features: max_seq_len must be 0 (no limit) or an integer >= 3, got " .. tostring(o.max_seq_len))
  end
  local dir = opts.cache
  if dir == true then dir = M.default_cache_dir() end
  if not dir or #examples == 0 then return build(examples, tk, o) end
  local key = cache_key(examples, tk, o)
  local name = (opts.name or "features"):gsub("[^%w%._%-]", "_")
  local path = string.format("%s/%s-%s.safetensors", dir, name, key:sub(1, 16))
  local f = load_cache(path, key, o)
  if f then return f end
  f = build(examples, tk, o)
  if C.hub_fs_mkdirs(dir) == 0 then
    local ok = pcall(save_cache, f, path, key)
    if ok then f.cache_path = path end
  end
  return f
end

-- featurize(ds, tokenizer, { max_seq_len = 128, truncation =, cache = true, splits = {"train",
-- "dev", "test"} }) -> { train = Features, dev = ..., test = ..., labels = ds.labels, kind = ds.kind }
function M.featurize(ds, tk, opts)
  if type(ds) ~= "table" or type(ds.train) ~= "table" or not ds.kind then
    core.argerror(1, "featurize", "a text data set (hub.datasets: train, dev, test, kind, labels)", type(ds))
  end
  opts = core.check_options(opts, { max_seq_len = "number", truncation = "string|boolean", cache = "boolean|string",
    splits = "table" }, "featurize", 3)
  local cache = opts.cache
  if cache == nil then cache = true end
  local out = { labels = ds.labels, kind = ds.kind, name = ds.name }
  for _, s in ipairs(opts.splits or { "train", "dev", "test" }) do
    out[s] = M.features(ds[s] or {}, tk, { kind = ds.kind, num_labels = #(ds.labels or {}), max_seq_len = opts.max_seq_len,
      truncation = opts.truncation, cache = cache, name = tostring(ds.name or "data") .. "-" .. s })
  end
  return out
end

-- ---- access ----

function Features:size() return self.n end
function Features:__tostring()
  return string.format("Features(%d examples, %s, %d tokens, max_seq_len %d%s)", self.n, self.kind, self.total,
    self.max_seq_len, self.from_cache and ", from cache" or "")
end

-- Length (tokens, specials included) of example i (1-based).
function Features:length(i) return self.starts[i] - self.starts[i - 1] end

-- Example i as Lua tables: { input_ids, token_type_ids, labels (sequence: per token) }.
function Features:row(i)
  if type(i) ~= "number" or i < 1 or i > self.n then core.raise("row: position out of range: " .. tostring(i)) end
  local s, e = self.starts[i - 1], self.starts[i]
  local r = { input_ids = {}, token_type_ids = {} }
  for j = s, e - 1 do
    r.input_ids[#r.input_ids + 1] = self.ids[j]
    r.token_type_ids[#r.token_type_ids + 1] = (j - s) < self.seg[i - 1] and 0 or 1
  end
  if self.tags then
    r.labels = {}
    for j = s, e - 1 do r.labels[#r.labels + 1] = self.tags[j] end
  elseif self.labels then
    r.labels = self.labels[i - 1]
  elseif self.ml then
    r.labels = {}
    for j = self.ml_starts[i - 1], self.ml_starts[i] - 1 do r.labels[#r.labels + 1] = self.ml[j] end
  end
  return r
end

-- Per token of example i, the 0-based character it labels, or -1 (sequence data).
function Features:char_positions(i)
  if not self.cpos then core.raise("char_positions: only sequence data has character positions") end
  local out = {}
  for j = self.starts[i - 1], self.starts[i] - 1 do out[#out + 1] = self.cpos[j] end
  return out
end

-- A batch of the examples at 1-based positions idx (a Lua list), padded to its longest row.
function Features:batch(idx)
  local B = #idx
  if B == 0 then core.raise("batch: no examples") end
  local L = 0
  for k = 1, B do
    local i = idx[k]
    if type(i) ~= "number" or i < 1 or i > self.n then core.raise("batch: position out of range: " .. tostring(i)) end
    local l = self:length(i)
    if l > L then L = l end
  end
  local pad = self.pad_id or 0
  local ids, tt, mask = ffi.new("int64_t[?]", B * L), ffi.new("int64_t[?]", B * L), ffi.new("int64_t[?]", B * L)
  local tl = self.tags and ffi.new("int64_t[?]", B * L) or nil
  for k = 0, B - 1 do
    local i = idx[k + 1]
    local s, e, a = self.starts[i - 1], self.starts[i], self.seg[i - 1]
    local len = e - s
    for j = 0, L - 1 do
      local o = k * L + j
      if j < len then
        ids[o] = self.ids[s + j]; tt[o] = j < a and 0 or 1; mask[o] = 1
        if tl then tl[o] = self.tags[s + j] end
      else
        ids[o] = pad; tt[o] = 0; mask[o] = 0
        if tl then tl[o] = M.ignore_index end
      end
    end
  end
  local shape = ffi.new("int64_t[2]", B, L)
  local b = {
    input_ids = core.wrap(C.hub_tensor_from_data(I64, 2, shape, ids, I64)),
    token_type_ids = core.wrap(C.hub_tensor_from_data(I64, 2, shape, tt, I64)),
    attention_mask = core.wrap(C.hub_tensor_from_data(I64, 2, shape, mask, I64)),
    index = idx, size = B,
  }
  if self.has_labels then
    if tl then
      b.labels = core.wrap(C.hub_tensor_from_data(I64, 2, shape, tl, I64))
    elseif self.kind == "regression" then
      local v = ffi.new("float[?]", B)
      for k = 0, B - 1 do v[k] = self.labels[idx[k + 1] - 1] end
      b.labels = core.wrap(C.hub_tensor_from_data(F32, 1, ffi.new("int64_t[1]", B), v, F32))
    elseif self.ml then
      local Cn = self.num_labels
      local v = ffi.new("float[?]", B * math.max(Cn, 1))
      for k = 0, B - 1 do
        local i = idx[k + 1]
        for j = self.ml_starts[i - 1], self.ml_starts[i] - 1 do v[k * Cn + self.ml[j]] = 1 end
      end
      b.labels = core.wrap(C.hub_tensor_from_data(F32, 2, ffi.new("int64_t[2]", B, Cn), v, F32))
    else
      local v = ffi.new("int64_t[?]", B)
      for k = 0, B - 1 do v[k] = self.labels[idx[k + 1] - 1] end
      b.labels = core.wrap(C.hub_tensor_from_data(I64, 1, ffi.new("int64_t[1]", B), v, I64))
    end
  end
  return b
end

-- The batches of one epoch as lists of 1-based positions (see the top of this file).
function Features:batch_order(batch_size, opts)
  opts = core.check_options(opts, { shuffle = "boolean", seed = "number", epoch = "number", bucket = "number",
    drop_last = "boolean" }, "batches", 2)
  if type(batch_size) ~= "number" or batch_size < 1 or batch_size ~= math.floor(batch_size) then
    core.raise("batches: batch size must be a positive integer, got " .. tostring(batch_size))
  end
  local n = self.n
  local shuffle = opts.shuffle ~= false
  local seed = opts.seed
  if shuffle and seed == nil then seed = require("hub").randint(0, 2 ^ 31, { 1 }):item() end
  local epoch = opts.epoch or 0
  local bucket = opts.bucket or 100
  local order = {}
  if shuffle then
    for k, p in ipairs(data.permutation(n, seed, 2 * epoch + 1)) do order[k] = p + 1 end
  else
    for k = 1, n do order[k] = k end
  end
  if bucket > 0 then
    local span = bucket * batch_size
    local rank = {}
    for k, i in ipairs(order) do rank[i] = k end
    for from = 1, n, span do
      local to = math.min(from + span - 1, n)
      local part = {}
      for k = from, to do part[#part + 1] = order[k] end
      table.sort(part, function(x, y)
        local lx, ly = self:length(x), self:length(y)
        if lx ~= ly then return lx < ly end
        return rank[x] < rank[y]
      end)
      for k = from, to do order[k] = part[k - from + 1] end
    end
  end
  local batches = {}
  for from = 1, n, batch_size do
    local to = math.min(from + batch_size - 1, n)
    if not (opts.drop_last and to - from + 1 < batch_size) then
      local b = {}
      for k = from, to do b[#b + 1] = order[k] end
      batches[#batches + 1] = b
    end
  end
  if shuffle and #batches > 1 then
    local p = data.permutation(#batches, seed, 2 * epoch + 2)
    local shuffled = {}
    for k, q in ipairs(p) do shuffled[k] = batches[q + 1] end
    batches = shuffled
  end
  return batches
end

-- batches(batch_size, { shuffle = true, seed =, epoch = 0, bucket = 100, drop_last = false }):
-- an iterator over batch tables (input_ids, token_type_ids, attention_mask, labels, index, size)
-- and the batch number.
function Features:batches(batch_size, opts)
  local order = self:batch_order(batch_size, opts)
  local k = 0
  return function()
    k = k + 1
    if order[k] == nil then return nil end
    return self:batch(order[k]), k
  end
end

function Features:num_batches(batch_size, drop_last)
  if drop_last then return math.floor(self.n / batch_size) end
  return math.ceil(self.n / batch_size)
end

return M
