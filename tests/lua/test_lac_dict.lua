-- test_lac_dict.lua: the parts of hub.lac (lua/hub/models/lac.lua) that need no model: the user
-- dictionary with PaddleHub's semantics (its lac module's custom.py: pieces "text[/TAG]", an
-- Aho-Corasick search reporting the entry each state spells, overlapping later matches dropped,
-- tags rewritten per character, the char after an entry starting a word) applied to hand-made
-- per-character tags, the formatter, the JSON shape, UTF-8 splitting and argument errors.  The
-- model itself is tested by test_lac.lua.
local hub = require "hub"
local cjson = require "cjson"
local lac = hub.lac

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, same = T.ok, T.same

-- Tags of a text as PaddleHub writes them ("n-B n-I v-B"): chars, types, begins.
local function tagged(text, tags)
  local chars, types, begins = lac.utf8_chars(text), {}, {}
  local i = 0
  for t in tags:gmatch("%S+") do
    i = i + 1
    types[i] = t:match("^[^-]*")
    begins[i] = t:sub(-2) == "-B"
  end
  assert(i == #chars, text)
  return chars, types, begins
end
local function words(chars, types, begins)
  local w, t = {}, {}
  for j = 1, #chars do
    if j == 1 or begins[j] then w[#w + 1], t[#t + 1] = chars[j], types[j]
    else w[#w] = w[#w] .. chars[j] end
  end
  return lac.format { word = w, tag = t }
end
local BASE = "ORG-B ORG-I v-B m-B m-I n-B n-I n-I n-B n-I" -- 百度/ORG 是/v 一家/m 高科技/n 公司/n
local function with_dict(entries, text, tags, opts)
  local d = lac.user_dict(entries, opts)
  local c, t, b = tagged(text or "百度是一家高科技公司", tags or BASE)
  d:apply(c, t, b)
  return words(c, t, b), d
end

ok(words(tagged("百度是一家高科技公司", BASE)) == "百度/ORG 是/v 一家/m 高科技/n 公司/n", "word forming")
ok(with_dict { "科技公司/nz" } == "百度/ORG 是/v 一家/m 高/n 科技公司/nz", "tagged entry: one word with its tag")
ok(with_dict { "高科 技公司" } == "百度/ORG 是/v 一家/m 高科/n 技公司/n", "untagged pieces: forced split, model types kept")
ok(with_dict { "是一家" } == "百度/ORG 是一家/v 高科技/n 公司/n", "untagged entry: the first char's type")
ok(with_dict { "家" } == "百度/ORG 是/v 一家/m 高科技/n 公司/n", "one char without a tag is ignored")
ok(with_dict { "是/SHI" } == "百度/ORG 是/SHI 一家/m 高科技/n 公司/n", "one char with a tag applies")
ok(with_dict { "一家高", "家高科技" } == "百度/ORG 是/v 一家高/m 科技/n 公司/n",
  "a match starting inside the previous one is dropped")
ok(with_dict { "高科技/X", "高科技公司/Y" } == "百度/ORG 是/v 一家/m 高科技公司/Y",
  "two matches at one start: the longer, applied last, wins")
ok(with_dict { "度是一", "度是一家高" } == "百/ORG 度是一家高/ORG 科技/n 公司/n",
  "two matches at one start, applied in order")
ok(with_dict { "科技", "高科技公" } == "百度/ORG 是/v 一家/m 高科技公/n 司/n",
  "the automaton reports only the entry its state spells, not shorter ones on the failure chain")
ok(with_dict { "百度/ORG 是一/v" } == "百度/ORG 是一/v 家/m 高科技/n 公司/n",
  "pieces with tags: the char after the entry starts a word")
ok(with_dict({ "高科|技公司/nz" }, nil, nil, { sep = "|" }) == "百度/ORG 是/v 一家/m 高科/n 技公司/nz", "sep option")
ok(with_dict { { "高科技公司", "ORG" } } == "百度/ORG 是/v 一家/m 高科技公司/ORG", "{word, tag} table entries")
ok(with_dict { "a/b/c" } == "百度/ORG 是/v 一家/m 高科技/n 公司/n", "no match, no change")
ok(with_dict({ "a/b/c" }, "xa/bz", "w-B w-I w-I w-I w-I") == "x/w a/b/c z/w", "the last '/' separates the tag")
ok(with_dict({ "/x" }, "a/xb", "w-B w-I w-I w-I") == "a/w /x/w b/w", "a leading '/' is part of the text")
ok(with_dict({ "ab" }, "xaby", "O O O O") == "x/O ab/O y/O", "O chars forced into words keep type O")
local _, d = with_dict { "春天/SEASON", "花/n 开/v", "秋天的风", "落 阳", "花/n 开/v", "x" }
ok(d.count == 4, "entries counted once, one-char untagged skipped: " .. d.count)

-- the same from a file (whitespace: spaces, tabs, U+3000)
local tmp = os.tmpname()
do
  T.write_file(tmp, "科技公司/nz\n\n  高科\t技公司  \n是\227\128\128一家/X\n")
  local dd = lac.user_dict(tmp)
  local c, t, b = tagged("百度是一家高科技公司", BASE)
  dd:apply(c, t, b)
  ok(dd.count == 3 and words(c, t, b) == "百度/ORG 是/v 一家/X 高科/n 技公司/n", "dictionary file: " .. words(c, t, b))
end
os.remove(tmp)
local okc, err = pcall(lac.user_dict, "/nonexistent/user.dic")
ok(not okc and tostring(err):find("/nonexistent/user.dic", 1, true), "missing dictionary file named: " .. tostring(err))
okc, err = pcall(lac.user_dict, { 42 })
ok(not okc and tostring(err):find("entry 1 is number", 1, true), "bad entry: " .. tostring(err))

ok(lac.format { word = { "百度", "是" }, tag = { "ORG", "v" } } == "百度/ORG 是/v", "format one")
ok(lac.format { { word = { "a" }, tag = { "n" } }, { word = { "b" }, tag = { "v" } } } == "a/n\nb/v", "format a list")
local js = lac.json { { word = { "百度", 'a"b' }, tag = { "ORG", "n" } } }
ok(js == '[{"word": ["百度", "a\\"b"], "tag": ["ORG", "n"]}]', "json: " .. js)
ok(cjson.decode(js)[1].word[2] == 'a"b', "json parses back")
local FFFD = "\239\191\189"
ok(same(lac.utf8_chars("a百\255度"), { "a", "百", FFFD, "度" }), "utf8 chars: a bad byte is one U+FFFD")
-- maximal subparts, as Python's bytes.decode("utf-8", "replace") splits them
ok(same(lac.utf8_chars("\228\184c\237\160\128\240\159\152\128\192\175\244\144"),
        { FFFD, "c", FFFD, FFFD, FFFD, "\240\159\152\128", FFFD, FFFD, FFFD, FFFD }),
  "utf8 chars: truncated, surrogate, overlong and out-of-range sequences")
okc, err = pcall(lac.load, "/nonexistent/lac_small")
ok(not okc and tostring(err):find("word.dic", 1, true), "missing model directory: " .. tostring(err))
okc, err = pcall(lac.paddle_load, "/nonexistent/fc_0.w_0")
ok(not okc and tostring(err):find("/nonexistent/fc_0.w_0", 1, true), "paddle_load error: " .. tostring(err))

T.finish()
