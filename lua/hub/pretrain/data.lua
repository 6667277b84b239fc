-- hub.pretrain.data: a text corpus -> packed, word-segmented token sequences for masked-LM
-- pretraining (ERNIE 1.0's knowledge masking needs to know which tokens form one word or one
-- named entity).
--
--   local data = require "hub.pretrain.data"
--   local seqs = data.prepare{ corpus = "train.txt", tokenizer = tk, lac = hub.lac.load(),
--                              max_seq_len = 128, cache = "train.pretrain.safetensors" }
--   seqs.n, seqs.L, and host arrays (int64_t, row-major): seqs.ids [N * L], seqs.units [N * L],
--   seqs.lengths [N]
--
-- The corpus is BERT's pretraining format: one sentence per line, a blank line between
-- documents.  Every sentence is tokenized (WordPiece, with code-point offsets) and segmented by
-- LAC; each LAC word -- named entities (PER, LOC, ORG, TIME) are single LAC words -- is one
-- masking unit, and a token belongs to the unit of the word its first character is in.
-- Sequences are packed from consecutive sentences of one document ("[CLS] s1 s2 ... [SEP]", at
-- most max_seq_len tokens, RoBERTa's doc-sentences); a sentence longer than a sequence is cut
-- at unit boundaries (a single unit longer than that is cut anywhere).  Sequences never cross a
-- document boundary.
--
-- The result is cached in a safetensors file (tensors ids, lengths, units; metadata: the
-- corpus's and vocabulary's sha256, max_seq_len, counts) and read back when those still match,
-- so the LAC pass (a few minutes for millions of characters) runs once.  Unit ids are
-- numbered per sequence from 0; -1 marks [CLS], [SEP] and padding.
local ffi = require "ffi"
local hub = require "hub"
local core = require "hub.core"

local C = hub.C

local M = {}

-- Host arrays <-> tensors (the binding sees tensors as opaque: no pointer into their data).
local function to_tensor(buf, shape)
  local sh = ffi.new("int64_t[?]", #shape, shape)
  return core.wrap(C.hub_tensor_from_data(C.HUB_I32, #shape, sh, buf, C.HUB_I64), 2)
end
local function from_tensor(t)
  local n = tonumber(C.hub_tensor_numel(t))
  local buf = ffi.new("int64_t[?]", math.max(1, n))
  core.check(C.hub_tensor_read(t, buf, C.HUB_I64), 2)
  return buf
end
M.to_tensor, M.from_tensor = to_tensor, from_tensor

local fail = require("hub.core").failf

-- Documents of a corpus file: a list of lists of sentences (lines), split at blank lines.
function M.read_documents(path)
  local f, err = io.open(path, "rb")
  if not f then fail("pretrain: cannot read corpus %s: %s", path, tostring(err)) end
  local docs, cur, n = {}, {}, 0
  for line in f:lines() do
    n = n + 1
    line = line:gsub("\r$", "")
    if line:match("^%s*$") then
      if #cur > 0 then docs[#docs + 1] = cur; cur = {} end
    else
      cur[#cur + 1] = line
    end
  end
  f:close()
  if #cur > 0 then docs[#docs + 1] = cur end
  if #docs == 0 then fail("pretrain: corpus %s has no text", path) end
  return docs
end

-- The tokens of one sentence: ids and unit ids (units numbered from `base`), via LAC's
-- per-character word starts.  Returns ids, units, the next free unit id.
local function sentence_tokens(tk, text, begins, base)
  local _, ids, offs = tk:tokenize(text)
  -- unit of each character (0-based code-point index -> unit number)
  local unit_of, u = {}, base - 1
  for j = 1, #begins do
    if begins[j] or j == 1 then u = u + 1 end
    unit_of[j - 1] = u
  end
  local units, last = {}, base - 1
  for i = 1, #ids do
    local v = unit_of[offs[i][1]]
    if v == nil or v < last then v = last end   -- a token without a character (never seen): stays with the last
    units[i], last = v, v
  end
  return ids, units, math.max(u, last) + 1
end

-- Cuts a token run longer than `room` at unit boundaries: a list of {first, last} 1-based runs.
local function cut_runs(units, room)
  local runs, s, n = {}, 1, #units
  while s <= n do
    local e = math.min(n, s + room - 1)
    if e < n then
      local b = e
      while b > s and units[b + 1] == units[b] do b = b - 1 end   -- back to the end of a unit
      if b > s then e = b end
    end
    runs[#runs + 1] = { s, e }
    s = e + 1
  end
  return runs
end

local function sha256(path)
  return require("hub.store").sha256_file(path)
end

local function load_cache(path, want)
  local ok, t, meta = pcall(hub.load, path)
  if not ok or type(t) ~= "table" or not (t.ids and t.lengths and t.units) then return nil end
  for k, v in pairs(want) do if meta[k] ~= tostring(v) then return nil end end
  return t, meta
end

-- prepare{corpus=, tokenizer=, lac=, max_seq_len = 128, cache = nil, batch_chars = 4096,
--         progress = true} -> { n =, ids =, lengths =, units =, stats = {...} }
function M.prepare(o)
  if type(o) ~= "table" then fail("pretrain.prepare: expected an options table") end
  core.check_options(o, { corpus = "string", tokenizer = "table", lac = "table", max_seq_len = "integer", cache = "string",
    batch_chars = "integer", progress = "boolean", cls_id = "integer", sep_id = "integer" }, "pretrain.prepare", 1)
  local L = o.max_seq_len or 128
  local tk = o.tokenizer
  if type(o.corpus) ~= "string" then fail("pretrain.prepare: 'corpus' must be a file path") end
  if tk == nil then fail("pretrain.prepare: 'tokenizer' is required") end
  local cls = o.cls_id or tk:token_to_id("[CLS]")
  local sep = o.sep_id or tk:token_to_id("[SEP]")
  if not cls or not sep then fail("pretrain.prepare: the vocabulary has no [CLS] or [SEP]") end
  local fc = io.open(o.corpus, "rb")
  if not fc then fail("pretrain: cannot read corpus %s", o.corpus) end
  fc:close()
  local want = { corpus_sha256 = sha256(o.corpus), vocab_sha256 = tk.vocab_path and sha256(tk.vocab_path) or "",
                 max_seq_len = L, format = "hubrun-pretrain-1" }
  if o.cache then
    local t, meta = load_cache(o.cache, want)
    if t then
      return { n = t.ids.shape[1], L = L, ids = from_tensor(t.ids), lengths = from_tensor(t.lengths),
               units = from_tensor(t.units), stats = require("cjson").decode(meta.stats or "{}"), cached = true }
    end
  end
  if o.lac == nil then fail("pretrain.prepare: 'lac' (hub.lac.load() or hub.module 'lac') is required") end

  local docs = M.read_documents(o.corpus)
  local seq_ids, seq_units, seq_len = {}, {}, {}
  local stats = { documents = #docs, sentences = 0, tokens = 0, units = 0, entity_units = 0, sequences = 0,
                  unk = 0, cut_sentences = 0 }
  local unk = tk:token_to_id("[UNK]")
  local entity = { PER = true, LOC = true, ORG = true, TIME = true }
  local room = L - 2
  local cur_ids, cur_units, next_unit = {}, {}, 0
  local function flush()
    if #cur_ids == 0 then return end
    local ids, units = { cls }, { -1 }
    for i = 1, #cur_ids do ids[i + 1], units[i + 1] = cur_ids[i], cur_units[i] end
    ids[#ids + 1], units[#units + 1] = sep, -1
    seq_ids[#seq_ids + 1], seq_units[#seq_units + 1], seq_len[#seq_len + 1] = ids, units, #ids
    cur_ids, cur_units, next_unit = {}, {}, 0
  end
  local function add(ids, units, a, b)
    if #cur_ids + (b - a + 1) > room then flush() end
    local base = units[a]
    for i = a, b do
      cur_ids[#cur_ids + 1] = ids[i]
      cur_units[#cur_units + 1] = next_unit + (units[i] - base)
    end
    next_unit = next_unit + (units[b] - base) + 1
  end

  -- LAC over the sentences in chunks of documents (its batching wants many texts at once)
  local budget = o.batch_chars or 65536
  local pbar = o.progress ~= false and hub.progress { total = #docs, desc = "segment", unit = "doc" } or nil
  local d = 1
  while d <= #docs do
    local texts, owner, chars = {}, {}, 0
    local d0 = d
    while d <= #docs and (chars < budget or #texts == 0) do
      for _, s in ipairs(docs[d]) do texts[#texts + 1] = s; owner[#owner + 1] = d; chars = chars + #s end
      d = d + 1
    end
    local tagged = o.lac:tag_chars(texts, { batch_size = 64 })
    local k = 1
    for di = d0, d - 1 do
      for _ = 1, #docs[di] do
        local text, r = texts[k], tagged[k]
        local ids, units = sentence_tokens(tk, text, r.begins, 0)
        stats.sentences = stats.sentences + 1
        if #ids > 0 then
          stats.tokens = stats.tokens + #ids
          stats.units = stats.units + units[#units] + 1
          for j = 1, #r.chars do if r.begins[j] and entity[r.types[j]] then stats.entity_units = stats.entity_units + 1 end end
          for j = 1, #ids do if ids[j] == unk then stats.unk = stats.unk + 1 end end
          if #ids > room then
            stats.cut_sentences = stats.cut_sentences + 1
            for _, run in ipairs(cut_runs(units, room)) do add(ids, units, run[1], run[2]) end
          else
            add(ids, units, 1, #ids)
          end
        end
        k = k + 1
      end
      flush()   -- sequences never cross documents
    end
    if pbar then pbar:set(d - 1) end
  end
  if pbar then pbar:close() end

  local n = #seq_ids
  if n == 0 then fail("pretrain.prepare: %s gave no sequences", o.corpus) end
  stats.sequences = n
  local pi, pu, pl = ffi.new("int64_t[?]", n * L), ffi.new("int64_t[?]", n * L), ffi.new("int64_t[?]", n)
  for s = 1, n do
    local ids, units, row = seq_ids[s], seq_units[s], (s - 1) * L
    for j = 1, L do pu[row + j - 1] = -1 end
    for j = 1, #ids do pi[row + j - 1], pu[row + j - 1] = ids[j], units[j] end
    pl[s - 1] = #ids
  end
  local res = { n = n, L = L, ids = pi, lengths = pl, units = pu, stats = stats }
  if o.cache then
    local meta = {}
    for k, v in pairs(want) do meta[k] = tostring(v) end
    meta.stats = require("cjson").encode(stats)
    hub.save(o.cache, { ids = to_tensor(pi, { n, L }), lengths = to_tensor(pl, { n }), units = to_tensor(pu, { n, L }) },
      { metadata = meta })
  end
  return res
end

M._sentence_tokens, M._cut_runs = sentence_tokens, cut_runs
return M
