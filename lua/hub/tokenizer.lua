-- hub.tokenizer: BERT WordPiece tokenization for models and tasks.
--
--   local tk = hub.tokenizer.wordpiece{ vocab = "vocab.txt", lower = true }
--   tk:tokenize("Héllo, 世界")          --> {"hello", ",", "世", "界"}, ids, offsets
--   local e = tk:encode("a question", "its context", { max_seq_len = 128 })
--   e.input_ids, e.token_type_ids, e.attention_mask   -- i64 [128]; e.offsets i64 [128, 2]
--   local b = tk:encode_batch({ "one", { "two", "pair" } }, { max_seq_len = 32 })   -- [2, 32]
--   tk:decode(e.input_ids)              --> "a question its context"
--
-- The work is in runtime/wordpiece.c and runtime/encode.c (rules in runtime/hub_text.h; they
-- are Hugging Face BertTokenizerFast's, checked token for token).  Ids and offsets are values
-- stored in tensors, so they are 0-based like every vocabulary: offsets are (start, end)
-- code-point positions into the text, end exclusive, (0, 0) for [CLS], [SEP] and padding.
-- Options of encode and encode_batch:
--   max_seq_len  (128)              length of a row, specials included; 0 = no limit
--   truncation   ("longest_first")  also "only_first", "only_second", "head_tail" (as
--                                   longest_first, but a cut text keeps its first quarter and
--                                   last three quarters, losing its middle), or false
--   padding      (true)             true: to max_seq_len; "longest": to the longest row of
--                                   the batch; false: none for one text, "longest" for a batch
local ffi = require "ffi"
local core = require "hub.core"
local C = core.C

local M = {}

local truncations = { longest_first = 1, only_first = 2, only_second = 3, head_tail = 4 }

local Tokenizer = {}
Tokenizer.__index = Tokenizer

local function argtype(n, fname, expected, v)
  if type(v) ~= expected then core.argerror(n, fname, "a " .. expected, type(v)) end
end

-- hub.tokenizer.wordpiece{ vocab = path, lower = true, strip_accents = nil (follows lower) }
function M.wordpiece(opts)
  if type(opts) ~= "table" then core.argerror(1, "wordpiece", "an options table such as {vocab = 'vocab.txt'}", type(opts)) end
  core.check_options(opts, { vocab = "any", lower = "boolean", strip_accents = "boolean" }, "wordpiece", 1)
  if type(opts.vocab) ~= "string" then
    core.raise("wordpiece: option 'vocab' must be the path of a vocab.txt file (got " .. type(opts.vocab) .. ")")
  end
  local lower = opts.lower
  if lower == nil then lower = true end
  local strip = opts.strip_accents
  local p = C.hub_wordpiece_open(opts.vocab, lower and 1 or 0, strip == nil and -1 or (strip and 1 or 0))
  if p == nil then core.fail() end
  local self = setmetatable({ _p = ffi.gc(p, C.hub_wordpiece_close), lower = lower and true or false,
                              vocab_path = opts.vocab }, Tokenizer)
  self.vocab_size = tonumber(C.hub_wordpiece_vocab_size(p))
  self.strip_accents = (strip == nil and self.lower) or (strip and true or false)
  for _, name in ipairs { "cls", "sep", "pad", "unk", "mask" } do
    local id = tonumber(C.hub_wordpiece_token_to_id(p, "[" .. name:upper() .. "]"))
    self[name .. "_id"] = id >= 0 and id or nil
  end
  return self
end

function Tokenizer:__tostring()
  return string.format("wordpiece tokenizer (%d tokens from %s, lower=%s)", self.vocab_size,
    self.vocab_path, tostring(self.lower))
end

-- Id of a token ("##ing" for a continuation piece), or nil when it is not in the vocabulary.
function Tokenizer:token_to_id(token)
  argtype(1, "token_to_id", "string", token)
  local id = tonumber(C.hub_wordpiece_token_to_id(self._p, token))
  return id >= 0 and id or nil
end

-- Token of a 0-based id, or nil when out of range.
function Tokenizer:id_to_token(id)
  argtype(1, "id_to_token", "number", id)
  local s = C.hub_wordpiece_id_to_token(self._p, id)
  return s ~= nil and ffi.string(s) or nil
end

-- Tokens of a text (no [CLS]/[SEP]), then their ids and {start, end} character offsets.
local ids_pp, offs_pp, n_p = ffi.new("int64_t *[1]"), ffi.new("int64_t *[1]"), ffi.new("int64_t[1]")
function Tokenizer:tokenize(text)
  argtype(1, "tokenize", "string", text)
  core.check(C.hub_wordpiece_tokenize(self._p, text, #text, ids_pp, offs_pp, n_p))
  local n, ids, offs = tonumber(n_p[0]), ids_pp[0], offs_pp[0]
  local tokens, idt, offt = {}, {}, {}
  for i = 0, n - 1 do
    local id = tonumber(ids[i])
    idt[i + 1] = id
    tokens[i + 1] = ffi.string(C.hub_wordpiece_id_to_token(self._p, id))
    offt[i + 1] = { tonumber(offs[2 * i]), tonumber(offs[2 * i + 1]) }
  end
  C.hub_text_free(ids)
  C.hub_text_free(offs)
  return tokens, idt, offt
end

local function options(opts, fname, argn)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then core.argerror(argn, fname, "an options table", type(opts)) end
  core.check_options(opts, { max_seq_len = "number", truncation = "string|boolean", padding = "string|boolean" }, fname, argn)
  local max_len = opts.max_seq_len
  if max_len == nil then max_len = 128 end
  if type(max_len) ~= "number" or max_len ~= math.floor(max_len) or max_len < 0 then
    core.raise(string.format("%s: max_seq_len must be a non-negative integer (got %s)", fname, tostring(max_len)))
  end
  local tr = opts.truncation
  if tr == nil or tr == true then tr = "longest_first" end
  local trunc
  if tr == false or tr == "none" or tr == "do_not_truncate" then trunc = 0
  else
    trunc = truncations[tr]
    if not trunc then
      core.raise(string.format("%s: unknown truncation '%s' (longest_first, only_first, only_second, head_tail or false)", fname, tostring(tr)))
    end
  end
  local pad = opts.padding
  if pad == nil then pad = true end
  local padding
  if pad == true or pad == "max_length" then padding = 1
  elseif pad == false or pad == "longest" then padding = 0
  else
    core.raise(string.format("%s: unknown padding '%s' (true, 'longest' or false)", fname, tostring(pad)))
  end
  return max_len, trunc, padding
end

-- Runs the C encoder on Lua strings; returns the four tensors as a table.
local function encode_rows(self, texts, pairs, n, max_len, trunc, padding)
  local ct = ffi.new("const char *[?]", n > 0 and n or 1)
  local cl = ffi.new("int64_t[?]", n > 0 and n or 1)
  local cp, cpl
  for i = 1, n do ct[i - 1] = texts[i]; cl[i - 1] = #texts[i] end
  if pairs then
    cp = ffi.new("const char *[?]", n > 0 and n or 1)
    cpl = ffi.new("int64_t[?]", n > 0 and n or 1)
    for i = 1, n do
      if pairs[i] then cp[i - 1] = pairs[i]; cpl[i - 1] = #pairs[i] else cp[i - 1] = nil end
    end
  end
  local out = ffi.new("hub_tensor *[4]")
  local rc = C.hub_wordpiece_encode(self._p, n, ct, cl, cp, cpl, max_len, trunc, padding, out)
  if rc ~= 0 then core.fail() end
  -- texts and pairs stay referenced until here, so the pointers above stayed valid.
  local r = { input_ids = core.wrap(out[0]), token_type_ids = core.wrap(out[1]),
              attention_mask = core.wrap(out[2]), offsets = core.wrap(out[3]) }
  return r
end

-- encode(text, pair?, opts?) -> { input_ids, token_type_ids, attention_mask = [L], offsets = [L, 2] }
function Tokenizer:encode(text, pair, opts)
  argtype(1, "encode", "string", text)
  if type(pair) == "table" and opts == nil then pair, opts = nil, pair end
  if pair ~= nil and type(pair) ~= "string" then core.argerror(2, "encode", "a string (the second text of a pair) or nil", type(pair)) end
  local max_len, trunc, padding = options(opts, "encode", 3)
  local r = encode_rows(self, { text }, pair and { pair } or nil, 1, max_len, trunc, padding)
  local L = r.input_ids:size(2)
  return { input_ids = r.input_ids:view(L), token_type_ids = r.token_type_ids:view(L),
           attention_mask = r.attention_mask:view(L), offsets = r.offsets:view(L, 2) }
end

-- encode_batch({text | {text, pair}, ...}, opts?) -> the same fields as [B, L] and [B, L, 2]
function Tokenizer:encode_batch(items, opts)
  if type(items) ~= "table" then core.argerror(1, "encode_batch", "a list of texts or {text, pair} tables", type(items)) end
  local max_len, trunc, padding = options(opts, "encode_batch", 2)
  local texts, pairs, any_pair = {}, {}, false
  for i = 1, #items do
    local it = items[i]
    if type(it) == "string" then texts[i] = it
    elseif type(it) == "table" and type(it[1]) == "string" and (it[2] == nil or type(it[2]) == "string") then
      texts[i] = it[1]; pairs[i] = it[2] or false
      if it[2] then any_pair = true end
    else
      core.raise(string.format("encode_batch: item %d is a %s (expected a string or a {text, pair} table of strings)", i, type(it)))
    end
  end
  return encode_rows(self, texts, any_pair and pairs or nil, #items, max_len, trunc, padding)
end

local function ids_array(ids, fname)
  if core.is_tensor(ids) then
    local n = ids:numel()
    local buf = ffi.new("int64_t[?]", n > 0 and n or 1)
    core.check(C.hub_tensor_read(ids, buf, 4))
    return buf, n
  end
  if type(ids) ~= "table" then core.argerror(1, fname, "a table of ids or an i64 tensor", type(ids)) end
  local n = #ids
  local buf = ffi.new("int64_t[?]", n > 0 and n or 1)
  for i = 1, n do
    local v = ids[i]
    if type(v) ~= "number" or v ~= math.floor(v) then
      core.raise(string.format("%s: id %d is %s (expected an integer)", fname, i, tostring(v)))
    end
    buf[i - 1] = v
  end
  return buf, n
end

local function decode1(self, buf, n, skip, cleanup)
  local s = C.hub_wordpiece_decode(self._p, buf, n, skip and 1 or 0, cleanup and 1 or 0)
  if s == nil then core.fail() end
  local r = ffi.string(s)
  C.hub_text_free(s)
  return r
end

-- decode(ids, {skip_special = true, cleanup = true}) -> string; a 2-d tensor gives a list.
function Tokenizer:decode(ids, opts)
  opts = core.check_options(opts, { skip_special = "boolean", cleanup = "boolean" }, "decode", 2)
  local skip = opts.skip_special ~= false
  local cleanup = opts.cleanup ~= false
  if core.is_tensor(ids) and ids:dim() == 2 then
    local rows, cols = ids:size(1), ids:size(2)
    local buf = ids_array(ids, "decode")
    local out = {}
    for r = 0, rows - 1 do out[r + 1] = decode1(self, buf + r * cols, cols, skip, cleanup) end
    return out
  end
  if core.is_tensor(ids) and ids:dim() ~= 1 then
    core.raise(string.format("decode: expected a 1-d or 2-d tensor of ids, got %d-d", ids:dim()))
  end
  local buf, n = ids_array(ids, "decode")
  return decode1(self, buf, n, skip, cleanup)
end

return M
