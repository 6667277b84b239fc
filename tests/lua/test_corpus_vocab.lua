-- test_corpus_vocab.lua: the vocabulary builder (hub.vocab_builder), the committed
-- modules/ernie-tiny-zh/vocab.txt, and hubrun's WordPiece tokenizer with that vocabulary
-- against Hugging Face's BertTokenizerFast.
--
-- The builder on lines written here: order of the blocks, Han by frequency with ties by code
-- point, symbols, Latin words and pieces, the size, errors.  The committed vocabulary: its
-- layout, no duplicates, 8k-12k entries.  With the real corpus ($HUB_DATA/corpus, made by
-- scripts/fetch-corpus.sh and scripts/build-corpus.lua): rebuilding the vocabulary from
-- train.txt gives the committed file byte for byte, and every held-out sentence tokenizes to
-- the ids BertTokenizerFast gave (fixtures/corpus_tokenizer_expected.json, made by
-- scripts/gen_corpus_tokenizer_fixture.py; it keeps sha1 sums and ids, never the text).
-- Without the corpus those parts are skipped, unless HUB_REQUIRE_DATA is set.
local hub = require "hub"
local vb = require "hub.vocab_builder"
local cjson = require "cjson"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, errors = T.ok, T.errors
local function eq(a, b, msg) ok(a == b, msg, "got      " .. tostring(a) .. "\nexpected " .. tostring(b)) end
local function slurp(p) local f = io.open(p, "rb"); if not f then return nil end; local s = f:read("*a"); f:close(); return s end

-- ---- the builder on a small corpus ----
local lines = {
  "乙乙乙甲甲甲丙，丁。", "", "Hello hello HELLO world，running runs ★★★ é", "configure configured 2019年",
  "hello world again 丙",
}
local v = vb.build{ lines = lines, size = 150, min_symbol_count = 2, min_word_count = 2 }
local t = v.tokens
eq(table.concat(t, " ", 1, 15), "[PAD] [UNK] [CLS] [SEP] [MASK] 0 1 2 3 4 5 6 7 8 9", "specials at 0-4, digits at 5-14")
-- 乙 3 and 甲 3 (tie: U+4E59 before U+7532), 丙 2, then 丁 1 and 年 1 (U+4E01 before U+5E74)
eq(table.concat(t, " ", 16, 20), "乙 甲 丙 丁 年", "Han by frequency, ties by code point")
eq(v.counts.han, 5, "5 Han")
eq(t[21] .. t[52], "!~", "the 32 ASCII punctuation characters after the Han")
eq(t[53] .. t[54], "★，", "then symbols by frequency (★ 3, ， 2); é is a letter, not a symbol; 。 is rare")
eq(#t, 150, "size reached")
local idx = {}
for i, tok in ipairs(t) do
  ok(idx[tok] == nil, "no duplicate: " .. tok)
  idx[tok] = i - 1
end
ok(idx["a"] and idx["z"] and idx["##a"] and idx["##z"] and idx["##0"] and idx["##9"], "letters and ## pieces")
ok(idx["hello"] and idx["world"] and not idx["Hello"], "frequent words, lower-cased")
ok(idx["hello"] < idx["world"], "hello (4) before world (2)")
ok(not idx["running"], "a word seen once is not whole")
ok(idx["##ing"] and idx["run"] and idx["##ning"] and idx["config"] and idx["##ed"] and not idx["##nni"],
   "prefixes and suffixes of the words left out")
eq(table.concat(t, " ", 117, 127), "hello world co con conf confi config ru run ##019 ##19", "whole words, then pieces by count and bytes")
local v2 = vb.build{ lines = lines, size = 150, min_symbol_count = 2, min_word_count = 2 }
eq(table.concat(v2.tokens, "\n"), table.concat(t, "\n"), "deterministic")
errors(function() vb.build{ lines = lines, size = 20 } end, "size 20 is too small", "size too small")
errors(function() vb.build{ lines = { "好", "坏\255" } } end, "line 2: invalid UTF-8", "invalid UTF-8 in the corpus")
errors(function() vb.build{ corpus = "/nonexistent/train.txt" } end, "cannot open /nonexistent/train.txt", "missing corpus")

-- a written vocabulary loads in the tokenizer
local path = os.tmpname()
vb.write(v, path)
local tk = hub.tokenizer.wordpiece{ vocab = path }
local toks = tk:tokenize("Hello乙丁丑running!")
eq(table.concat(toks, " "), "hello 乙 丁 [UNK] run ##ning !", "the tokenizer with a built vocabulary")
os.remove(path)

-- ---- the committed vocabulary ----
local VOCAB = "../modules/ernie-tiny-zh/vocab.txt"
local committed = assert(slurp(VOCAB), "no " .. VOCAB)
local ct, seen, dup = {}, {}, nil
for line in committed:gmatch("([^\n]*)\n") do
  if seen[line] then dup = line end
  seen[line] = true
  ct[#ct + 1] = line
end
ok(#ct >= 8000 and #ct <= 12000, "ernie-tiny-zh vocab: 8k-12k entries (" .. #ct .. ")")
ok(dup == nil, "ernie-tiny-zh vocab: no duplicates", dup)
eq(table.concat(ct, " ", 1, 15), "[PAD] [UNK] [CLS] [SEP] [MASK] 0 1 2 3 4 5 6 7 8 9", "ernie-tiny-zh: specials and digits first")
eq(ct[16] .. ct[17], "的一", "ernie-tiny-zh: the most frequent Han first")
local ztk = hub.tokenizer.wordpiece{ vocab = VOCAB }
ok(ztk.pad_id == 0 and ztk.unk_id == 1 and ztk.cls_id == 2 and ztk.sep_id == 3 and ztk.mask_id == 4, "special ids 0-4")
eq(table.concat((ztk:tokenize("北京是中国的首都，LibreOffice 2019年。")), " "), "北 京 是 中 国 的 首 都 ， libreoffice 201 ##9 年 。",
   "a sentence with the committed vocabulary")

-- ---- with the real corpus ----
local data = os.getenv("HUB_DATA")
if not data or data == "" then data = "../build/data" end
local train = data .. "/corpus/train.txt"
local heldout = slurp(data .. "/corpus/heldout.txt")
if not heldout or not io.open(train, "rb") then
  T.data_missing("corpus not built (scripts/fetch-corpus.sh; build/hubrun scripts/build-corpus.lua)",
    "HUB_REQUIRE_DATA is set but " .. data .. "/corpus/{train,heldout}.txt is missing")
else
  local rebuilt = vb.build{ corpus = train, size = #ct }
  ok(table.concat(rebuilt.tokens, "\n") .. "\n" == committed,
     "vocab rebuilt from train.txt equals the committed vocab.txt (else: rebuild it, see docs/corpus.md)")

  local fx = cjson.decode(assert(slurp("fixtures/corpus_tokenizer_expected.json")))
  local sha = require("hub.datasets.splits").sha256_hex(committed)
  eq(fx.vocab_sha256, sha, "the fixture was made with the committed vocab")
  local hl = {}
  for line in heldout:gmatch("([^\n]*)\n") do hl[#hl + 1] = line end
  local sha1 = T.sha1
  local missing, bad, n, offbad, encbad = 0, 0, 0, 0, 0
  for _, row in ipairs(fx.lines) do
    local text = hl[row[1]]
    if not text or sha1(text) ~= row[2] then
      missing = missing + 1
    else
      n = n + 1
      local _, ids, offs = ztk:tokenize(text)
      local s = {}
      for i, id in ipairs(ids) do s[i] = string.format("%d", id) end
      if table.concat(s, " ") ~= row[3] then
        bad = bad + 1
        if bad <= 5 then print(string.format("  heldout.txt:%d: got %s\n    expected %s", row[1], table.concat(s, " "), row[3])) end
      end
      if row[4] then
        local o = {}
        for i, p in ipairs(offs) do o[2 * i - 1] = p[1]; o[2 * i] = p[2] end
        if table.concat(o, " ") ~= row[4].offsets then offbad = offbad + 1 end
        local e = ztk:encode(text, { max_seq_len = 64 })
        local a, m = {}, {}
        for i, x in ipairs(e.input_ids:totable()) do a[i] = string.format("%d", x) end
        for i, x in ipairs(e.attention_mask:totable()) do m[i] = string.format("%d", x) end
        if table.concat(a, " ") ~= row[4].encode64[1] or table.concat(m, " ") ~= row[4].encode64[2] then encbad = encbad + 1 end
      end
    end
  end
  ok(missing == 0, string.format("held-out lines of the fixture found in heldout.txt (%d missing: rebuild the corpus or the fixture)", missing))
  ok(n >= 2000 and bad == 0, string.format("BertTokenizerFast ids on %d held-out sentences: %d differ", n, bad))
  ok(offbad == 0 and encbad == 0, string.format("offsets and [CLS]/[SEP] encodings at 64: %d, %d differ", offbad, encbad))
end

T.finish()
