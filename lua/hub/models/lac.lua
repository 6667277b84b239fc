-- hub.models.lac (also hub.lac): Baidu's LAC-small lexical analyser (word segmentation, part-of-speech tags and
-- PER/LOC/ORG/TIME entities) running the PaddlePaddle weights that Debian's python3-jieba ships
-- in jieba/lac_small/ (fetch them with scripts/fetch-lac.sh).
--
--   local lac = hub.lac.load(dir)                  -- dir: .../jieba/lac_small (default: the fetch)
--   local r = lac:predict({"百度是一家高科技公司"})   -- {{word = {"百度", ...}, tag = {"ORG", ...}}}
--   print(hub.lac.format(r[1]))                     -- 百度/ORG 是/v 一家/m 高科技/n 公司/n
--   print(hub.lac.json(r))                          -- [{"word":["百度",...],"tag":["ORG",...]}]
--   lac:set_user_dict("my.dic")                     -- PaddleHub's user dictionary (see below)
--
-- The network (docs/lac.md): characters -> ids through word.dic (unknown -> OOV; lac_small has
-- no q2b.dic, so no full-width folding) -> embedding [V,128] -> two BiGRU layers (fc_L + GRU
-- forward, fc_L+1 + GRU reversed, concatenated) -> fc_4 emissions [57] -> CRF Viterbi with crfw.
-- Tags are "<type>-B" / "<type>-I" / "O"; a word starts at every -B tag (or at the first char)
-- and takes the type of its first char, exactly as shared/reference/lac_ref.py.  Weights come
-- from runtime/paddle.c (hub_paddle_load), the GRU and CRF from runtime/op_rnn.c; this file does
-- the text side: UTF-8 to characters, batching, word forming and the user dictionary.
--
-- predict sorts the texts by length and runs them in padded batches of opts.batch_size
-- (default 32) with per-sequence lengths, so the result does not depend on the batching; a batch
-- of long texts holds fewer of them, so that texts x longest length stays within
-- opts.max_batch_chars (default 16384; the activations are about 6 KB per padded character).
-- Empty texts give {word = {""}, tag = {""}}, as PaddleHub does.  Invalid UTF-8 bytes are
-- single unknown characters.
--
-- User dictionary (PaddleHub lac's set_user_dict, its custom.py): one entry per line, pieces
-- separated by whitespace (or opts.sep), each "text" or "text/TAG"; the entry is the pieces
-- joined.  "春天/SEASON" forces 春天 to be one word tagged SEASON; "花/n 开/v" forces 花开 to
-- be split as 花/n 开/v; "秋天的风" forces one word keeping the model's tag.  Entries of one
-- character without a tag are ignored.  Matches are found with PaddleHub's Aho-Corasick search
-- (at each position the longest entry ending there that the automaton is on), sorted, and a
-- match starting inside the previous kept match is dropped.  Each match then rewrites the
-- per-character tags: inside a piece every char becomes "TAG-I" (or keeps its type, as -I, when
-- the piece has no tag), the first char of the entry and of every following piece, and the
-- char just after the entry, become -B.  Words are then formed as above (the type of a word is
-- its first char's; PaddleHub takes the last char's, which differs only for untagged entries
-- spanning chars of different predicted types).  A table works as well as a file:
-- lac:set_user_dict{"春天/SEASON", {"百度公司", "ORG"}} ({text, tag} pairs are whole words).
local ffi = require "ffi"
local core = require "hub.core"
local C, wrap = core.C, core.wrap

local M = {}
local Lac = {}
Lac.__index = Lac

-- ---- low-level pieces, also used by the tests ----

-- Reads one PaddlePaddle LoDTensor parameter file as an f32 tensor.
function M.paddle_load(path)
  if type(path) ~= "string" then core.argerror(1, "paddle_load", "a file path", type(path)) end
  return wrap(C.hub_paddle_load(path))
end

-- Paddle's GRU: x [B,T,3H] (input projection), w [H,3H], b [3H] or [1,3H] (or nil), lengths
-- i64 [B] (or nil); opts.reverse, opts.origin_mode.  -> [B,T,H], 0 at padded positions.
function M.gru(x, w, b, lengths, opts)
  opts = opts or {}
  return wrap(C.hub_paddle_gru(x, w, b, lengths, opts.reverse and 1 or 0, opts.origin_mode and 1 or 0))
end

-- Viterbi: emission [B,T,C], transition [C+2,C] (start, end, then C x C), lengths [B] (or nil)
-- -> i64 [B,T] of 0-based tag ids, -1 at padded positions.
function M.crf_decode(emission, transition, lengths)
  return wrap(C.hub_crf_decode(emission, transition, lengths))
end

-- ---- text ----

local REPLACEMENT = "\239\191\189" -- U+FFFD

-- The characters (code points as UTF-8 strings) of s.  Invalid UTF-8 becomes U+FFFD, one per maximal ill-formed subpart (as
-- Unicode and WHATWG decoders do: a truncated sequence is one U+FFFD, a stray byte another),
-- so every word, format and --json output is valid UTF-8.
local function utf8_chars(s)
  local out, n, i, len = {}, 0, 1, #s
  local byte, sub = string.byte, string.sub
  while i <= len do
    local c = byte(s, i)
    local k
    if c < 0x80 then
      k = 1
    else
      local need = (c >= 0xC2 and c < 0xE0) and 2 or (c >= 0xE0 and c < 0xF0) and 3 or (c >= 0xF0 and c < 0xF5) and 4 or 0
      local got = 1
      while got < need do
        local d = byte(s, i + got)
        local lo, hi = 0x80, 0xBF
        if got == 1 then -- no overlong forms, surrogates or code points above U+10FFFF
          if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F
          elseif c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
        end
        if not d or d < lo or d > hi then break end
        got = got + 1
      end
      if need > 0 and got == need then k = need else k = -got end
    end
    n = n + 1
    if k > 0 then
      out[n] = sub(s, i, i + k - 1)
      i = i + k
    else
      out[n] = REPLACEMENT
      i = i - k
    end
  end
  return out
end
M.utf8_chars = utf8_chars

-- ---- loading ----

local function read_lines(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  local lines = {}
  for l in (s .. (s:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  return lines
end

-- "id<TAB>value" lines (others skipped, as Paddle's load_kv_dict does).
local function read_kv(path, what)
  local lines, err = read_lines(path)
  if not lines then core.raise("lac.load: cannot read " .. what .. ": " .. tostring(err)) end
  local t = {}
  for _, l in ipairs(lines) do
    local id, v = l:match("^([^\t]*)\t([^\t]*)$")
    if id and tonumber(id) then t[#t + 1] = { tonumber(id), v } end
  end
  return t
end

function M.default_dir()
  local data = os.getenv("HUB_DATA")
  if not data or data == "" then
    local here = debug.getinfo(1, "S").source:match("^@(.*)/lua/hub/models/lac%.lua$")
    data = (here or ".") .. "/build/data"
  end
  return data .. "/jieba/usr/lib/python3/dist-packages/jieba/lac_small"
end

local function shape_of(t)
  local s = {}
  for i = 0, C.hub_tensor_ndim(t) - 1 do s[#s + 1] = tonumber(C.hub_tensor_size(t, i)) end
  return s
end

-- fc_0.w_0 and gru_0.w_0 of LAC-small hold a row of denormal floats (|v| < 2^-126), which
-- make every GEMM that touches them many times slower on x86; they are set to 0 (a change far
-- below anything the network can show).  Returns t itself when it has none, else a clean copy.
local function flush_denormals(t, shape)
  local n = tonumber(C.hub_tensor_numel(t))
  local buf = ffi.new("float[?]", n > 0 and n or 1)
  core.check(C.hub_tensor_read(t, buf, 0))
  local found = false
  for i = 0, n - 1 do
    local v = buf[i]
    if v ~= 0 and v < 1.1754944e-38 and v > -1.1754944e-38 then buf[i] = 0; found = true end
  end
  if not found then return t end
  local sh = ffi.new("int64_t[?]", #shape + 1)
  for i = 1, #shape do sh[i - 1] = shape[i] end
  return wrap(C.hub_tensor_from_data(0, #shape, sh, buf, 0))
end

-- The parameters of LAC-small, as Paddle names its files in model_baseline/.
M.PARAMS = { "word_emb", "crfw", "fc_4.w_0", "fc_4.b_0" }
for i = 0, 3 do
  for _, k in ipairs { "fc_%d.w_0", "fc_%d.b_0", "gru_%d.w_0", "gru_%d.b_0" } do M.PARAMS[#M.PARAMS + 1] = k:format(i) end
end

-- hub.lac.from_params(dir, params[, where]) -> a LAC object from word.dic and tag.dic in dir and
-- a table of the tensors named as in M.PARAMS (e.g. read from a safetensors file by a module).
-- Every shape is checked against the others and the dictionaries; `where` prefixes the names in
-- errors (default dir .. "/").  The table is not changed.
function M.from_params(dir, params, where)
  if type(dir) ~= "string" then core.argerror(1, "lac.from_params", "a directory path", type(dir)) end
  if type(params) ~= "table" then core.argerror(2, "lac.from_params", "a table of tensors", type(params)) end
  dir = dir:gsub("/+$", "")
  where = where or (dir .. "/")
  local self = setmetatable({ dir = dir }, Lac)
  local w2i = {}
  for _, kv in ipairs(read_kv(dir .. "/word.dic", "word.dic")) do w2i[kv[2]] = kv[1] end
  if not w2i.OOV then core.raise("lac.load " .. dir .. "/word.dic: no OOV entry") end
  self.word_ids, self.oov = w2i, w2i.OOV
  local tags = {}
  for _, kv in ipairs(read_kv(dir .. "/tag.dic", "tag.dic")) do tags[kv[1]] = kv[2] end
  local ntags = 0
  while tags[ntags] do ntags = ntags + 1 end
  if ntags == 0 then core.raise("lac.load " .. dir .. "/tag.dic: no tags") end
  -- tag id -> type ("ORG") and whether it begins a word
  self.tags, self.tag_type, self.tag_begin = tags, {}, {}
  for i = 0, ntags - 1 do
    self.tag_type[i] = tags[i]:match("^[^-]*")
    self.tag_begin[i] = tags[i]:sub(-2) == "-B"
  end
  local P = {}
  local function param(name, want)
    local t = params[name]
    if not core.is_tensor(t) then
      core.raise(string.format("lac.load %s%s: missing (got %s, expected a tensor)", where, name, type(t)))
    end
    local s = shape_of(t)
    local okshape = #s == #want and C.hub_dtype_is_float(C.hub_tensor_dtype(t)) ~= 0
    for i = 1, #want do if want[i] >= 0 and s[i] ~= want[i] then okshape = false end end
    if not okshape then
      local w = {}
      for i = 1, #want do w[i] = want[i] < 0 and "*" or tostring(want[i]) end
      core.raise(string.format("lac.load %s%s: %s [%s], expected float [%s]", where, name,
        ffi.string(C.hub_dtype_name(C.hub_tensor_dtype(t))), table.concat(s, ","), table.concat(w, ",")))
    end
    P[name] = flush_denormals(t, s)
    return P[name], s
  end
  local _, es = param("word_emb", { -1, -1 })
  local E = es[2]
  local _, gs = param("gru_0.w_0", { -1, -1 })
  local H = gs[1]
  for i = 0, 3 do
    local din = i < 2 and E or 2 * H
    param(("fc_%d.w_0"):format(i), { din, 3 * H })
    param(("fc_%d.b_0"):format(i), { 3 * H })
    param(("gru_%d.w_0"):format(i), { H, 3 * H })
    param(("gru_%d.b_0"):format(i), { 1, 3 * H })
  end
  param("fc_4.w_0", { 2 * H, ntags })
  param("fc_4.b_0", { ntags })
  param("crfw", { ntags + 2, ntags })
  for ch, id in pairs(w2i) do
    if id >= es[1] then core.raise(string.format("lac.load %s/word.dic: id %d of %q is beyond word_emb's %d rows", dir, id, ch, es[1])) end
  end
  -- fc weights are [in, out]; hub_linear wants [out, in]: a transposed view, no copy
  for i = 0, 4 do
    P[("fc_%d.wt"):format(i)] = wrap(C.hub_transpose(P[("fc_%d.w_0"):format(i)], 0, 1))
  end
  self.params, self.hidden, self.emb_dim, self.ntags = P, H, E, ntags
  self.device = "cpu"
  return self
end

-- lac:to(device): the network's weights on "cpu" or "cuda" (every kernel LAC uses - embedding,
-- linear, Paddle's GRU, the CRF's Viterbi - exists on both); predictions come back to Lua the
-- same way.  Returns self.
function Lac:to(device)
  require("hub.cuda").check_device(device, "lac:to")
  if device == self.device then return self end
  local P = self.params
  for name, t in pairs(P) do
    if not name:match("%.wt$") then P[name] = wrap(C.hub_to_device(t, device == "cuda" and 1 or 0)) end
  end
  for i = 0, 4 do
    P[("fc_%d.wt"):format(i)] = wrap(C.hub_transpose(P[("fc_%d.w_0"):format(i)], 0, 1))
  end
  self.device = device
  return self
end

-- hub.lac.load(dir) -> a LAC object from Paddle's files (dir defaults to hub.lac.default_dir()).
function M.load(dir)
  dir = dir or M.default_dir()
  if type(dir) ~= "string" then core.argerror(1, "lac.load", "a directory path", type(dir)) end
  dir = dir:gsub("/+$", "")
  local f = io.open(dir .. "/word.dic", "rb")
  if not f then core.raise("lac.load: cannot read " .. dir .. "/word.dic (not a lac_small directory? run scripts/fetch-lac.sh)") end
  f:close()
  local P = {}
  for _, name in ipairs(M.PARAMS) do
    local t = C.hub_paddle_load(dir .. "/model_baseline/" .. name)
    if t == nil then core.raise("lac.load: " .. core.last_error()) end
    P[name] = core.own(t, C.hub_tensor_release)
  end
  return M.from_params(dir, P, dir .. "/model_baseline/")
end

-- ---- the network ----

-- ids: list of id arrays (one per text, none empty) -> list of tag-id arrays.
function Lac:_run(seqs)
  local P = self.params
  local B, T = #seqs, 0
  for i = 1, B do if #seqs[i] > T then T = #seqs[i] end end
  local idbuf = ffi.new("int64_t[?]", B * T)
  local lenbuf = ffi.new("int64_t[?]", B)
  for i = 1, B do
    local s, base = seqs[i], (i - 1) * T
    for j = 1, #s do idbuf[base + j - 1] = s[j] end
    lenbuf[i - 1] = #s
  end
  local ids = wrap(C.hub_tensor_from_data(4, 2, ffi.new("int64_t[2]", B, T), idbuf, 4)) -- i64
  if self.device == "cuda" then ids = wrap(C.hub_to_device(ids, 1)) end
  -- lengths stay on the cpu: the GRU and the CRF read them on the host
  local lens = wrap(C.hub_tensor_from_data(4, 1, ffi.new("int64_t[1]", B), lenbuf, 4))
  local x = wrap(C.hub_embedding(P.word_emb, ids))
  local pair = ffi.new("hub_tensor *[2]")
  for L = 0, 2, 2 do
    local f = wrap(C.hub_linear(x, P[("fc_%d.wt"):format(L)], P[("fc_%d.b_0"):format(L)]))
    f = wrap(C.hub_paddle_gru(f, P[("gru_%d.w_0"):format(L)], P[("gru_%d.b_0"):format(L)], lens, 0, 0))
    local r = wrap(C.hub_linear(x, P[("fc_%d.wt"):format(L + 1)], P[("fc_%d.b_0"):format(L + 1)]))
    r = wrap(C.hub_paddle_gru(r, P[("gru_%d.w_0"):format(L + 1)], P[("gru_%d.b_0"):format(L + 1)], lens, 1, 0))
    pair[0], pair[1] = f, r
    x = wrap(C.hub_concat(2, pair, -1))
  end
  local em = wrap(C.hub_linear(x, P["fc_4.wt"], P["fc_4.b_0"]))
  local path = wrap(C.hub_crf_decode(em, P.crfw, lens))
  local out = ffi.new("int64_t[?]", B * T)
  core.check(C.hub_tensor_read(path, out, 4))
  local res = {}
  for i = 1, B do
    local r, base = {}, (i - 1) * T
    for j = 1, #seqs[i] do r[j] = tonumber(out[base + j - 1]) end
    res[i] = r
  end
  return res
end

local function check_texts(texts, fname)
  if type(texts) == "string" then texts = { texts } end
  if type(texts) ~= "table" then core.argerror(1, fname, "a list of strings", type(texts)) end
  for i = 1, #texts do
    if type(texts[i]) ~= "string" then
      core.raise(string.format("bad argument #1 to '%s' (element %d is %s, expected a string)", fname, i, type(texts[i])))
    end
  end
  return texts
end

-- Per-character results: {{chars = {...}, tags = {"ORG-B", ...}, types = {...}, begins = {...}}}
-- with the user dictionary applied (types/begins are what words are formed from).
function Lac:tag_chars(texts, opts)
  texts = check_texts(texts, "tag_chars")
  opts = core.check_options(opts, { batch_size = "number", max_batch_chars = "number" }, "predict", 2)
  local bs = opts.batch_size or 32
  if type(bs) ~= "number" or bs < 1 or bs ~= math.floor(bs) then
    core.argerror(2, "tag_chars", "batch_size as a positive integer", tostring(bs))
  end
  local n = #texts
  local chars, ids, order = {}, {}, {}
  for i = 1, n do
    local cs = utf8_chars(texts[i])
    local w2i, oov, s = self.word_ids, self.oov, {}
    for j = 1, #cs do s[j] = w2i[cs[j]] or oov end
    chars[i], ids[i] = cs, s
    if #cs > 0 then order[#order + 1] = i end
  end
  table.sort(order, function(a, b)
    if #ids[a] ~= #ids[b] then return #ids[a] > #ids[b] end
    return a < b
  end)
  local budget = opts.max_batch_chars or 16384
  if type(budget) ~= "number" or budget < 1 then
    core.argerror(2, "tag_chars", "max_batch_chars as a positive number", tostring(budget))
  end
  local out = {}
  for i = 1, n do out[i] = { chars = chars[i], tags = {}, types = {}, begins = {} } end
  local s = 1
  while s <= #order do
    -- the longest text comes first: fewer texts per batch when they are long (padded size)
    local nb = math.max(1, math.min(bs, math.floor(budget / #ids[order[s]])))
    local batch = {}
    for k = s, math.min(s + nb - 1, #order) do batch[#batch + 1] = ids[order[k]] end
    local res = self:_run(batch)
    for k = 1, #batch do
      local r = out[order[s + k - 1]]
      for j, t in ipairs(res[k]) do
        r.tags[j], r.types[j], r.begins[j] = self.tags[t], self.tag_type[t], self.tag_begin[t]
      end
    end
    s = s + #batch
  end
  if self.user_dict then
    for i = 1, n do self.user_dict:apply(out[i].chars, out[i].types, out[i].begins) end
  end
  return out
end

-- lac:predict(texts, {batch_size = 32, max_batch_chars = 16384}) -> {{word = {...}, tag = {...}}, ...}
function Lac:predict(texts, opts)
  local per = self:tag_chars(texts, opts)
  local res = {}
  for i, r in ipairs(per) do
    local words, tags = {}, {}
    local cs, ty, bg = r.chars, r.types, r.begins
    local j, n = 1, #cs
    while j <= n do -- a word: chars j..k-1 (no quadratic string growth on long words)
      local k = j + 1
      while k <= n and not bg[k] do k = k + 1 end
      words[#words + 1], tags[#tags + 1] = table.concat(cs, "", j, k - 1), ty[j]
      j = k
    end
    if #cs == 0 then words, tags = { "" }, { "" } end
    res[i] = { word = words, tag = tags }
  end
  return res
end

-- ---- user dictionary ----

-- PaddleHub's Ahocorasick: a trie over characters with failure links.  search() reports, at each
-- position, the entry the automaton's current state spells when that state is an entry (not the
-- shorter entries on its failure chain), as (begin, end) 1-based inclusive.
local Dict = {}
Dict.__index = Dict

local function new_node() return { next = {}, fail = nil, length = -1 } end

function Dict:add(chars, tags, offsets)
  local node = self.root
  for _, c in ipairs(chars) do
    local nx = node.next[c]
    if not nx then nx = new_node(); node.next[c] = nx end
    node = nx
  end
  node.length = #chars
  local key = table.concat(chars)
  if not self.items[key] then self.count = self.count + 1 end
  self.items[key] = { tags = tags, offsets = offsets } -- a later line replaces an earlier one
end

function Dict:make()
  local root, queue, head = self.root, {}, 1
  for _, child in pairs(root.next) do child.fail = root; queue[#queue + 1] = child end
  while head <= #queue do
    local cur = queue[head]
    head = head + 1
    for k, child in pairs(cur.next) do
      local f = cur.fail
      while f do
        if f.next[k] then child.fail = f.next[k]; break end
        f = f.fail
      end
      if not f then child.fail = root end
      queue[#queue + 1] = child
    end
  end
end

function Dict:search(chars)
  local res, root = {}, self.root
  local p = root
  for i, c in ipairs(chars) do
    while not p.next[c] and p ~= root do p = p.fail end
    if p.next[c] then
      p = p.next[c]
      if p.length > 0 then res[#res + 1] = { i - p.length + 1, i } end
    end
  end
  -- PaddleHub's ac_postpress: sort, drop a match that starts inside the previous one
  table.sort(res, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local i = 2
  while i <= #res do
    if res[i - 1][1] < res[i][1] and res[i][1] <= res[i - 1][2] then table.remove(res, i) else i = i + 1 end
  end
  return res
end

-- Rewrites the per-char types/begins of one text for every match (PaddleHub's
-- parse_customization, with tags kept as (type, begins-a-word) pairs).
function Dict:apply(chars, types, begins)
  local n = #chars
  if n == 0 then return end
  for _, m in ipairs(self:search(chars)) do
    local b, e = m[1], m[2]
    local item = self.items[table.concat(chars, "", b, e)]
    local index = b
    for k, tag in ipairs(item.tags) do
      while index < b + item.offsets[k] do
        if tag ~= "" then types[index] = tag end
        begins[index] = false
        index = index + 1
      end
    end
    begins[b] = true
    for _, off in ipairs(item.offsets) do
      if b + off <= n then begins[b + off] = true end
    end
  end
end

local function split_ws(line, sep)
  local out = {}
  if sep == nil then
    line = line:gsub("\227\128\128", " ") -- U+3000, whitespace to Python's str.split()
    for w in line:gmatch("[^ \t\r\n\f\v]+") do out[#out + 1] = w end
  else
    line = line:gsub("^[ \t\r\n\f\v]+", ""):gsub("[ \t\r\n\f\v]+$", "")
    local i = 1
    while true do
      local a, b = line:find(sep, i, true)
      if not a then out[#out + 1] = line:sub(i); break end
      out[#out + 1] = line:sub(i, a - 1)
      i = b + 1
    end
  end
  return out
end

-- One entry from its pieces ("text" or "text/TAG"), as PaddleHub's load_customization.
local function add_entry(d, pieces)
  if #pieces == 0 then return end
  local chars, tags, offsets = {}, {}, {}
  for _, w in ipairs(pieces) do
    local slash = w:match(".*()/") -- position of the last '/'
    local text, tag = w, ""
    if slash and slash > 1 then text, tag = w:sub(1, slash - 1), w:sub(slash + 1) end
    for _, c in ipairs(utf8_chars(text)) do chars[#chars + 1] = c end
    tags[#tags + 1] = tag
    offsets[#offsets + 1] = #chars
  end
  if #chars < 2 and tags[1] == "" then return end
  d:add(chars, tags, offsets)
end

-- hub.lac.user_dict(path_or_list, {sep = nil}) -> a dictionary (see the top of this file) with
-- d.count entries and d:apply(chars, types, begins), which rewrites one text's per-character
-- types (strings) and word starts (booleans) in place.
function M.user_dict(src, opts)
  opts = core.check_options(opts, { sep = "string" }, "set_user_dict", 2)
  if opts.sep ~= nil and (type(opts.sep) ~= "string" or opts.sep == "") then
    core.argerror(2, "set_user_dict", "sep as a non-empty string", type(opts.sep))
  end
  local d = setmetatable({ root = new_node(), items = {}, count = 0 }, Dict)
  if type(src) == "string" then
    local lines, err = read_lines(src)
    if not lines then core.raise("set_user_dict: cannot read " .. src .. ": " .. tostring(err)) end
    for _, l in ipairs(lines) do add_entry(d, split_ws(l, opts.sep)) end
  elseif type(src) == "table" then
    for i, e in ipairs(src) do
      if type(e) == "string" then
        add_entry(d, split_ws(e, opts.sep))
      elseif type(e) == "table" and type(e[1]) == "string" and (e[2] == nil or type(e[2]) == "string") then
        local chars = utf8_chars(e[1])
        local tag = e[2] or ""
        if #chars >= 2 or tag ~= "" then d:add(chars, { tag }, { #chars }) end
      else
        core.raise(string.format("bad argument #1 to 'set_user_dict' (entry %d is %s, expected a string or {word, tag})", i, type(e)))
      end
    end
  else
    core.argerror(1, "set_user_dict", "a file path or a list of entries", type(src))
  end
  d:make()
  return d
end

-- lac:set_user_dict(path_or_list, {sep = nil}) -> number of entries; replaces any earlier one.
function Lac:set_user_dict(src, opts)
  self.user_dict = M.user_dict(src, opts)
  return self.user_dict.count
end

function Lac:del_user_dict() self.user_dict = nil end

-- ---- output ----

-- "百度/ORG 是/v ..." for one result; for a list of results, one line each.
function M.format(r)
  if type(r) ~= "table" then core.argerror(1, "lac.format", "a result table", type(r)) end
  if r.word == nil and type(r[1]) == "table" then
    local lines = {}
    for i, x in ipairs(r) do lines[i] = M.format(x) end
    return table.concat(lines, "\n")
  end
  local parts = {}
  for i, w in ipairs(r.word) do parts[i] = w .. "/" .. tostring(r.tag and r.tag[i] or "") end
  return table.concat(parts, " ")
end

-- PaddleHub's JSON shape: [{"word": [...], "tag": [...]}, ...].
function M.json(results)
  local json = require "hub.json"
  local items = setmetatable({}, json.array_mt)
  for i, r in ipairs(results) do
    local function list(l) return (l == nil or #l == 0) and setmetatable({}, json.array_mt) or l end
    items[i] = json.ordered { { "word", list(r.word) }, { "tag", list(r.tag) } }
  end
  return json.encode(items, { spaced = true })
end

M.Lac = Lac
return M
