-- hub.vocab_builder: a deterministic BERT-Chinese-style WordPiece vocabulary from a corpus in
-- the BERT pretraining format (one sentence a line, blank lines between documents).
--
--   local vb = require "hub.vocab_builder"
--   local v = vb.build{ corpus = "train.txt", size = 10000 }   -- or lines = { ... }
--   vb.write(v, "modules/ernie-tiny-zh/vocab.txt")
--
-- The entries, in this order (ids from 0):
--   1. [PAD] [UNK] [CLS] [SEP] [MASK]                                   ids 0-4
--   2. the digits 0-9                                                   ids 5-14
--   3. every Han character of the corpus (textutil.is_han: BERT's ranges) with at least
--      min_han_count (1) occurrences, by frequency, ties by code point
--   4. punctuation and symbols: the 32 ASCII punctuation characters (ASCII order), then every
--      other character that is neither Han, nor ASCII, nor a letter the tokenizer's accent
--      stripping turns into ASCII (U+00C0-024F) or drops (U+0300-036F), nor white space, with at least min_symbol_count
--      (5) occurrences, by frequency, ties by code point
--   5. the letters a-z, then the continuation pieces ##a-##z and ##0-##9, so that every Latin
--      word and number can be tokenized without [UNK]
--   6. Latin wordpieces up to `size` entries in all.  Words are the maximal runs of ASCII
--      letters and digits, lower-cased (what BERT's basic tokenizer leaves of Latin text next to
--      Han characters, punctuation and spaces).  Whole words (2+ characters, at least
--      min_word_count (3) occurrences) by frequency take up to 70% of the room; the rest goes to
--      pieces of the words left out: their prefixes (2-6 characters, as word starts) and their
--      suffixes (2-6 characters, as "##" pieces: ##ing, ##ed, ##tion), ranked by how many word
--      occurrences have them.  Ties are broken by the token's bytes.  This is a frequency
--      selection, not Hugging Face's WordPiece trainer; any Latin word still tokenizes, through
--      the single-character pieces of step 5.
-- The result depends only on the corpus text: the same file on every run.
local textutil = require "hub.textutil"

local M = {}

M.specials = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }

local function sorted_keys(counts, less)
  local keys = {}
  for k in pairs(counts) do keys[#keys + 1] = k end
  table.sort(keys, less)
  return keys
end

-- build{ corpus = path | lines = {...}, size = 10000, min_han_count = 1, min_symbol_count = 5,
--        min_word_count = 3, whole_word_share = 0.7 }
-- Returns { tokens = {...}, counts = { han, symbols, latin } }.
function M.build(opts)
  opts = opts or {}
  local size = opts.size or 10000
  local min_han = opts.min_han_count or 1
  local min_sym = opts.min_symbol_count or 5
  local min_word = opts.min_word_count or 3
  local share = opts.whole_word_share or 0.7
  local han, sym, words = {}, {}, {}

  local function count_line(line, where)
    local bad = textutil.utf8_error(line)
    if bad then error(string.format("vocab_builder: %s: invalid UTF-8 at byte %d", where, bad), 0) end
    for ch, cp in textutil.chars(line) do
      if cp >= 0x80 then
        if textutil.is_han(cp) then han[cp] = (han[cp] or 0) + 1
        elseif not (cp >= 0xC0 and cp <= 0x24F) and not (cp >= 0x300 and cp <= 0x36F) and cp ~= 0xA0 and cp ~= 0x3000 and
               not (cp >= 0x2000 and cp <= 0x200F) and cp ~= 0x2028 and cp ~= 0x2029 and cp ~= 0xFEFF then
          sym[cp] = (sym[cp] or 0) + 1
        end
      end
    end
    for w in line:lower():gmatch("[a-z0-9]+") do words[w] = (words[w] or 0) + 1 end
  end

  if opts.lines then
    for i, line in ipairs(opts.lines) do count_line(line, "line " .. i) end
  else
    local path = opts.corpus or error("vocab_builder.build: option 'corpus' (a path) or 'lines' is required", 2)
    local f, err = io.open(path, "rb")
    if not f then error("vocab_builder: cannot open " .. err, 0) end
    local n = 0
    for line in f:lines() do
      n = n + 1
      count_line(line, path .. ":" .. n)
    end
    f:close()
  end

  local tokens, have = {}, {}
  local function add(t)
    if not have[t] then have[t] = true; tokens[#tokens + 1] = t end
  end
  for _, t in ipairs(M.specials) do add(t) end
  for d = 0, 9 do add(tostring(d)) end

  local function by_count(counts)
    return function(a, b)
      if counts[a] ~= counts[b] then return counts[a] > counts[b] end
      return a < b
    end
  end
  local nhan = 0
  for _, cp in ipairs(sorted_keys(han, by_count(han))) do
    if han[cp] >= min_han then add(textutil.utf8_char(cp)); nhan = nhan + 1 end
  end
  local nsym = 0
  for c = 33, 126 do
    local ch = string.char(c)
    if ch:find("%p") then add(ch); nsym = nsym + 1 end
  end
  for _, cp in ipairs(sorted_keys(sym, by_count(sym))) do
    if sym[cp] >= min_sym then add(textutil.utf8_char(cp)); nsym = nsym + 1 end
  end
  local nfixed = #tokens
  for c = 97, 122 do add(string.char(c)) end
  for c = 97, 122 do add("##" .. string.char(c)) end
  for d = 0, 9 do add("##" .. d) end
  if #tokens > size then
    error(string.format("vocab_builder: size %d is too small: the fixed entries and Han characters alone are %d", size, #tokens), 0)
  end

  -- Latin wordpieces.
  local room = size - #tokens
  local whole_room = math.floor(room * share)
  local ranked = sorted_keys(words, by_count(words))
  local left = {}  -- words not taken whole
  local nlatin = #tokens - nfixed
  for _, w in ipairs(ranked) do
    if whole_room > 0 and #w >= 2 and words[w] >= min_word and not have[w] then
      add(w); whole_room = whole_room - 1
    elseif not have[w] then
      left[#left + 1] = w
    end
  end
  local pieces = {}
  for _, w in ipairs(left) do
    local c, n = words[w], #w
    local seen = {}
    for len = 2, math.min(6, n) do
      local p = w:sub(1, len)
      if not seen[p] then seen[p] = true; pieces[p] = (pieces[p] or 0) + c end
    end
    for len = 2, math.min(6, n - 1) do
      local p = "##" .. w:sub(n - len + 1)
      if not seen[p] then seen[p] = true; pieces[p] = (pieces[p] or 0) + c end
    end
  end
  for _, p in ipairs(sorted_keys(pieces, by_count(pieces))) do
    if #tokens >= size then break end
    add(p)
  end
  nlatin = #tokens - nfixed
  return { tokens = tokens, counts = { han = nhan, symbols = nsym, latin = nlatin } }
end

-- Writes the tokens one a line (atomically: a temporary file, then rename).
function M.write(v, path)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error("vocab_builder: cannot write " .. err, 0) end
  f:write(table.concat(v.tokens, "\n"), "\n")
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then error("vocab_builder: cannot rename " .. tmp .. ": " .. tostring(rerr), 0) end
end

return M
