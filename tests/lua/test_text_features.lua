-- test_text_features.lua: featurizing text data sets (hub.data.text) on values.
--
-- With a tiny hand-written vocabulary (tests/fixtures/datasets/vocab.txt) and the project's
-- ernie-tiny-zh vocabulary: rows equal the tokenizer's own encode_batch (single texts, pairs,
-- longest_first truncation), segment lengths under truncation, label maps of every kind
-- (class ids, multi-hot, regression, sequence tags aligned to WordPiece tokens with -100 on
-- [CLS]/[SEP]/"##" pieces/padding, a Latin word and a number labelled on their first piece),
-- dynamic padding, length-bucketed batches (the same order for the same seed and epoch,
-- another for another epoch, every example exactly once, less padding than without buckets),
-- and the on-disk cache (a hit equals a fresh build; any change of data or options misses).
local hub = require "hub"
local text = hub.data.text
local dataset = require "hub.datasets.dataset"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, errors, same = T.ok, T.errors, T.same
local function eq(a, b, msg) ok(a == b, msg, "got      " .. tostring(a) .. "\nexpected " .. tostring(b)) end
local function j(t) return table.concat(t, " ") end

local tiny = hub.tokenizer.wordpiece { vocab = "fixtures/datasets/vocab.txt" }
local zh = hub.tokenizer.wordpiece { vocab = "../modules/ernie-tiny-zh/vocab.txt" }

-- ---- rows equal encode_batch ----
local exs = {
  { text_a = "这家酒店很干净，服务也很好", label = 1 },
  { text_a = "房间太小了", text_b = "很失望，下次不会再来了，价格也贵", label = 0 },
  { text_a = "好", label = 1 },
  { text_a = "键盘手感不错但是屏幕有点暗，电池也不耐用", text_b = "一般", label = 0 },
}
for _, max in ipairs { 8, 16, 0 } do
  local f = text.features(exs, zh, { kind = "pair", num_labels = 2, max_seq_len = max })
  local items = {}
  for i, e in ipairs(exs) do items[i] = e.text_b and { e.text_a, e.text_b } or e.text_a end
  local enc = zh:encode_batch(items, { max_seq_len = max, padding = "longest" })
  local ids, tt, mask = enc.input_ids:totable(), enc.token_type_ids:totable(), enc.attention_mask:totable()
  local all = true
  for i = 1, #exs do
    local r = f:row(i)
    local want_ids, want_tt = {}, {}
    for k = 1, #ids[i] do if mask[i][k] == 1 then want_ids[#want_ids + 1] = ids[i][k]; want_tt[#want_tt + 1] = tt[i][k] end end
    if not (same(r.input_ids, want_ids) and same(r.token_type_ids, want_tt)) then all = false end
  end
  ok(all, "rows equal encode_batch at max_seq_len " .. max)
end

-- longest_first: a 12-character text_a and a 2-character text_b in 8 tokens: 3 + 2 remain
local tr = text.features({ { text_a = "江泽民用江泽民用江泽民用", text_b = "北京", label = 0 } }, tiny,
  { kind = "pair", num_labels = 1, max_seq_len = 8 })
local r = tr:row(1)
eq(j(r.input_ids), "2 5 6 7 3 12 13 3", "longest_first truncation: the longer text is cut")
eq(j(r.token_type_ids), "0 0 0 0 0 1 1 1", "segment ids of a truncated pair")
eq(tr.at_max_len, 1, "rows at max_seq_len counted")

-- ---- sequence tags aligned to tokens ----
local ner_labels = { "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG" }
local s = "江泽民用Windows在北京1998年"
local tags = { 1, 2, 2, 0, 5, 6, 6, 6, 6, 6, 6, 0, 3, 4, 0, 0, 0, 0, 0 }
local sq = text.features({ { text_a = s, label = tags }, { text_a = "北京", label = { 3, 4 } } }, tiny,
  { kind = "sequence", num_labels = #ner_labels, max_seq_len = 32 })
local r1 = sq:row(1)
eq(j(r1.input_ids), "2 5 6 7 8 9 10 11 12 13 14 15 16 3", "sequence: tokens (win ##dows, 19 ##98)")
eq(j(r1.labels), "-100 1 2 2 0 5 -100 0 3 4 0 -100 0 -100", "sequence: first-token labels, -100 elsewhere")
eq(j(sq:char_positions(1)), "-1 0 1 2 3 4 -1 11 12 13 14 -1 18 -1", "sequence: the character each token labels")
eq(sq.chars_cut, 0, "sequence: nothing cut")
local b = sq:batch { 2, 1 }
eq(j(b.labels:totable()[1]), "-100 3 4 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100", "sequence batch: padding is -100")
eq(j(b.attention_mask:totable()[1]), "1 1 1 1 0 0 0 0 0 0 0 0 0 0", "sequence batch: attention mask")
eq(j(b.input_ids:totable()[1]), "2 12 13 3 0 0 0 0 0 0 0 0 0 0", "sequence batch: [PAD] id")
eq(b.labels.dtype .. " " .. b.input_ids.dtype, "i64 i64", "sequence batch dtypes")
local cut = text.features({ { text_a = s, label = tags } }, tiny, { kind = "sequence", num_labels = 7, max_seq_len = 6 })
eq(j(cut:row(1).labels), "-100 1 2 2 0 -100", "sequence: truncated row")
eq(cut.chars_cut, 15, "sequence: characters cut by truncation counted")
errors(function() text.features({ { text_a = "a", text_b = "b", label = { 0 } } }, tiny, { kind = "sequence" }) end,
  "sequence labelling takes one text", "sequence: pairs refused")
errors(function() text.features({ { text_a = s, label = tags } }, tiny, { kind = "sequence", num_labels = 7, truncation = "head_tail" }) end,
  "which sequence labelling cannot tag", "sequence: head_tail refused")

-- ---- label maps of every kind ----
local ml = text.features({ { text_a = "好", label = { 0, 2 } }, { text_a = "很好", label = {} } }, tiny,
  { kind = "multi_label", num_labels = 3 })
local mb = ml:batch { 1, 2 }
eq(mb.labels.dtype .. " " .. j(mb.labels.shape), "f32 2 3", "multi_label: [B, C] f32")
eq(j(mb.labels:totable()[1]) .. " | " .. j(mb.labels:totable()[2]), "1 0 1 | 0 0 0", "multi_label: multi-hot")
local rg = text.features({ { text_a = "好", label = 4.5 }, { text_a = "不错", label = -1.25 } }, tiny, { kind = "regression" })
local rb = rg:batch { 2, 1 }
eq(rb.labels.dtype .. " " .. j(rb.labels:totable()), "f32 -1.25 4.5", "regression: f32 labels")
local cl = text.features({ { text_a = "好", label = 1 }, { text_a = "不错", label = 0 } }, tiny, { kind = "classification", num_labels = 2 })
eq(j(cl:batch({ 1, 2 }).labels:totable()), "1 0", "classification: i64 class ids")
eq(j(cl:batch({ 1, 2 }).input_ids.shape), "2 4", "dynamic padding: to the longest row of the batch")
local nolab = text.features({ { text_a = "好" } }, tiny, {})
eq(nolab:batch({ 1 }).labels, nil, "no labels: no b.labels")
errors(function() text.features({ { text_a = "好", label = 2 } }, tiny, { num_labels = 2 }) end, "example 1: label 2 is not a class id",
  "class id out of range")
errors(function() text.features({ { text_b = "x" } }, tiny, {}) end, "example 1 has no text_a", "text_a required")
errors(function() text.features({}, {}, {}) end, "expected a WordPiece tokenizer", "tokenizer checked")
errors(function() text.features({}, tiny, { max_seq_len = 2 }) end, "max_seq_len must be 0", "max_seq_len checked")

-- ---- bucketed batches ----
local many = {}
local chars = { "好", "的", "很", "不", "错", "酒", "店", "干", "净" }
for i = 1, 103 do
  local t = {}
  for k = 1, 1 + (i * 37) % 23 do t[k] = chars[(i + k) % #chars + 1] end
  many[i] = { text_a = table.concat(t), label = i % 2 }
end
local fm = text.features(many, tiny, { num_labels = 2 })
local function flat(order)
  local t = {}
  for _, bt in ipairs(order) do t[#t + 1] = j(bt) end
  return table.concat(t, "|")
end
local o1 = fm:batch_order(8, { seed = 5, epoch = 0, bucket = 4 })
eq(flat(o1), flat(fm:batch_order(8, { seed = 5, epoch = 0, bucket = 4 })), "buckets: same seed and epoch, same batches")
ok(flat(o1) ~= flat(fm:batch_order(8, { seed = 5, epoch = 1, bucket = 4 })), "buckets: another epoch, another order")
ok(flat(o1) ~= flat(fm:batch_order(8, { seed = 6, epoch = 0, bucket = 4 })), "buckets: another seed, another order")
local function once(order)
  local seen, n = {}, 0
  for _, bt in ipairs(order) do
    for _, i in ipairs(bt) do
      if seen[i] then return false end
      seen[i] = true; n = n + 1
    end
  end
  return n == 103
end
ok(once(o1), "buckets: every example exactly once per epoch")
ok(once(fm:batch_order(8, { seed = 5, epoch = 3, bucket = 0 })), "no buckets: every example once")
ok(once(fm:batch_order(7, { shuffle = false })), "no shuffle: every example once")
eq(#o1, 13, "buckets: ceil(103 / 8) batches")
eq(#fm:batch_order(8, { seed = 1, drop_last = true }), 12, "drop_last drops the partial batch")
eq(j(fm:batch_order(5, { shuffle = false, bucket = 0 })[2]), "6 7 8 9 10", "no shuffle, no buckets: in order")
local function padding(order)
  local pad = 0
  for _, bt in ipairs(order) do
    local L = 0
    for _, i in ipairs(bt) do L = math.max(L, fm:length(i)) end
    for _, i in ipairs(bt) do pad = pad + L - fm:length(i) end
  end
  return pad
end
ok(padding(o1) < padding(fm:batch_order(8, { seed = 5, bucket = 0 })) / 2, "buckets: less than half the padding",
  padding(o1) .. " vs " .. padding(fm:batch_order(8, { seed = 5, bucket = 0 })))
local sorted_in_bucket = true
for _, bt in ipairs(o1) do
  for k = 2, #bt do if fm:length(bt[k]) < fm:length(bt[k - 1]) then sorted_in_bucket = false end end
end
ok(sorted_in_bucket, "buckets: rows of a batch by length")
local count, seen = 0, {}
for bt, k in fm:batches(8, { seed = 2 }) do
  count = count + 1
  eq(bt.size, #bt.index, "batch size field")
  for _, i in ipairs(bt.index) do seen[i] = true end
  if k == 1 then
    local i1 = bt.index[1]
    eq(bt.labels:totable()[1], many[i1].label, "batch labels follow the index")
  end
end
local n_seen = 0
for _ in pairs(seen) do n_seen = n_seen + 1 end
eq(count .. " " .. n_seen, "13 103", "batches(): iterator over one epoch")

-- ---- cache ----
local dir = os.tmpname()
os.remove(dir)
local function dump(f)
  local t = {}
  for i = 1, f.n do
    local rr = f:row(i)
    t[#t + 1] = j(rr.input_ids) .. "/" .. j(rr.token_type_ids) .. "/" .. (type(rr.labels) == "table" and j(rr.labels) or tostring(rr.labels))
  end
  return table.concat(t, "\n")
end
local fresh = text.features(exs, zh, { kind = "pair", num_labels = 2, max_seq_len = 12 })
local c1 = text.features(exs, zh, { kind = "pair", num_labels = 2, max_seq_len = 12, cache = dir, name = "t" })
ok(c1.cache_path ~= nil and c1.from_cache == nil, "cache: the first run writes", tostring(c1.cache_path))
local c2 = text.features(exs, zh, { kind = "pair", num_labels = 2, max_seq_len = 12, cache = dir, name = "t" })
eq(c2.from_cache, c1.cache_path, "cache: the second run reads it")
eq(dump(c2), dump(fresh), "cache: a hit equals a fresh build")
eq(c2.at_max_len, fresh.at_max_len, "cache: counts kept")
local bt1, bt2 = fresh:batch { 4, 2 }, c2:batch { 4, 2 }
eq(j(bt2.input_ids:totable()[1]) .. j(bt2.labels:totable()), j(bt1.input_ids:totable()[1]) .. j(bt1.labels:totable()),
  "cache: batches equal")
local c3 = text.features(exs, zh, { kind = "pair", num_labels = 2, max_seq_len = 10, cache = dir, name = "t" })
ok(c3.from_cache == nil and c3.cache_path ~= c1.cache_path, "cache: another max_seq_len misses")
local changed = { { text_a = exs[1].text_a, label = 0 }, exs[2], exs[3], exs[4] }
local c4 = text.features(changed, zh, { kind = "pair", num_labels = 2, max_seq_len = 12, cache = dir, name = "t" })
ok(c4.from_cache == nil, "cache: a changed label misses")
local c5 = text.features(exs, tiny, { kind = "pair", num_labels = 2, max_seq_len = 12, cache = dir, name = "t" })
ok(c5.from_cache == nil, "cache: another vocabulary misses")
local sqc1 = text.features({ { text_a = s, label = tags } }, tiny, { kind = "sequence", num_labels = 7, cache = dir, name = "s" })
local sqc2 = text.features({ { text_a = s, label = tags } }, tiny, { kind = "sequence", num_labels = 7, cache = dir, name = "s" })
ok(sqc2.from_cache ~= nil and dump(sqc2) == dump(sqc1) and j(sqc2:char_positions(1)) == j(sq:char_positions(1)),
  "cache: sequence tags and character positions survive")
local rgc = text.features({ { text_a = "好", label = 0.1 } }, tiny, { kind = "regression", cache = dir, name = "r" })
local rgc2 = text.features({ { text_a = "好", label = 0.1 } }, tiny, { kind = "regression", cache = dir, name = "r" })
eq(rgc2.from_cache ~= nil and rgc2:batch({ 1 }).labels:item(), rgc:batch({ 1 }).labels:item(), "cache: regression labels")
local mlc = text.features({ { text_a = "好", label = { 1, 2 } }, { text_a = "的", label = {} } }, tiny,
  { kind = "multi_label", num_labels = 3, cache = dir, name = "m" })
local mlc2 = text.features({ { text_a = "好", label = { 1, 2 } }, { text_a = "的", label = {} } }, tiny,
  { kind = "multi_label", num_labels = 3, cache = dir, name = "m" })
eq(mlc2.from_cache ~= nil and j(mlc2:batch({ 1 }).labels:totable()[1]), "0 1 1", "cache: multi-label lists")
-- a damaged cache file is ignored and rewritten
T.write_file(c1.cache_path, "not safetensors")
local c6 = text.features(exs, zh, { kind = "pair", num_labels = 2, max_seq_len = 12, cache = dir, name = "t" })
ok(c6.from_cache == nil and dump(c6) == dump(fresh), "cache: a damaged file is rebuilt")
os.execute("rm -rf " .. T.q(dir))

-- ---- featurize a data set ----
local ds = hub.datasets.tsv { path = "fixtures/datasets/good.tsv", split = true }
local fs = text.featurize(ds, tiny, { max_seq_len = 16, cache = false })
eq(fs.train.n .. " " .. fs.dev.n .. " " .. fs.test.n .. " " .. fs.kind .. " " .. j(fs.labels), "2 1 0 classification neg pos",
  "featurize: every split, kind and labels")
eq(j(fs.dev:row(1).input_ids), "2 1 1 22 23 19 24 25 3", "featurize: a row (unknown characters are [UNK])")

T.finish()
