-- finetune_fixture.lua: what the fine-tuning tests share (not a test itself): a tiny randomly
-- initialised ERNIE encoder with the fixture vocabulary, and small synthetic data sets of every
-- kind whose labels follow from the words in the text, so a few hundred updates learn them.
local hub = require "hub"
local dataset = require "hub.datasets.dataset"

local F = {}

F.vocab = "fixtures/vocab_zh.txt"

-- encoder(seed) -> network, tokenizer (hidden 16, 1 layer, 2 heads; positions up to 64)
function F.encoder(seed, opts)
  hub.manual_seed(seed or 1)
  opts = opts or {}
  local net = hub.models.ernie.new { vocab_size = 8000, hidden_size = opts.hidden or 16, num_hidden_layers = opts.layers or 1,
    num_attention_heads = 2, intermediate_size = 32, max_position_embeddings = 64, pooler = opts.pooler }
  return net, hub.tokenizer.wordpiece { vocab = F.vocab }
end

local POS = { "很好", "不错", "喜欢", "满意", "干净" }
local NEG = { "太差", "讨厌", "失望", "很脏", "糟糕" }
local FILL = { "这个", "酒店", "房间", "我们", "今天", "真的" }

local function split(exs, name, kind, labels)
  local train, dev, test = {}, {}, {}
  for i, e in ipairs(exs) do
    if i % 5 == 0 then dev[#dev + 1] = e elseif i % 5 == 1 and i > 5 then test[#test + 1] = e else train[#train + 1] = e end
  end
  return dataset.new { name = name, kind = kind, labels = labels or {}, train = train, dev = dev, test = test }
end

-- sentiment: 2 classes by the word it holds
function F.sentiment(n)
  local exs = {}
  for i = 1, n or 250 do
    local good = i % 2 == 0
    local w = good and POS[(i * 7) % 5 + 1] or NEG[(i * 3) % 5 + 1]
    exs[i] = { text_a = FILL[i % 6 + 1] .. w .. FILL[(i * 5) % 6 + 1], label = good and 1 or 0 }
  end
  return split(exs, "toy_sentiment", "classification", { "negative", "positive" })
end

-- pairs: paraphrase when both texts hold a word of the same polarity
function F.pairs(n)
  local exs = {}
  for i = 1, n or 250 do
    local same = i % 2 == 0
    local a = POS[i % 5 + 1]
    local b = same and POS[(i * 3) % 5 + 1] or NEG[(i * 3) % 5 + 1]
    exs[i] = { text_a = FILL[i % 6 + 1] .. a, text_b = b .. FILL[(i * 5) % 6 + 1], label = same and 1 or 0 }
  end
  return split(exs, "toy_pairs", "pair", { "different", "same" })
end

-- multi-label: label 0 when a POS word is there, 1 when a NEG word, 2 when 酒店
function F.multi_label(n)
  local exs = {}
  for i = 1, n or 250 do
    local parts, l = {}, {}
    if i % 2 == 0 then parts[#parts + 1] = POS[i % 5 + 1]; l[#l + 1] = 0 end
    if i % 3 == 0 then parts[#parts + 1] = NEG[i % 5 + 1]; l[#l + 1] = 1 end
    if i % 4 < 2 then parts[#parts + 1] = "酒店"; l[#l + 1] = 2 end
    parts[#parts + 1] = "今天"
    exs[i] = { text_a = table.concat(parts), label = l }
  end
  return split(exs, "toy_multi", "multi_label", { "good", "bad", "hotel" })
end

-- regression: the number of POS words minus NEG words
function F.regression(n)
  local exs = {}
  for i = 1, n or 250 do
    local p, q = i % 3, math.floor(i / 3) % 3
    local s = {}
    for k = 1, p do s[#s + 1] = POS[(i + k) % 5 + 1] end
    for k = 1, q do s[#s + 1] = NEG[(i + k) % 5 + 1] end
    s[#s + 1] = "了"
    exs[i] = { text_a = table.concat(s), label = p - q }
  end
  return split(exs, "toy_regression", "regression")
end

-- NER-like tags: the names 张三 / 李四 are PER, 北京 / 上海 LOC
local ENT = { { "张三", "PER" }, { "李四", "PER" }, { "北京", "LOC" }, { "上海", "LOC" } }
F.tags = { "O", "B-PER", "I-PER", "B-LOC", "I-LOC" }
local TAG_ID = { O = 0, ["B-PER"] = 1, ["I-PER"] = 2, ["B-LOC"] = 3, ["I-LOC"] = 4 }
function F.ner(n)
  local exs = {}
  for i = 1, n or 250 do
    local text, tags = "", {}
    local function add(w, t)
      text = text .. w
      local k = 0
      for _ in w:gmatch("[%z\1-\127\194-\244][\128-\191]*") do
        k = k + 1
        tags[#tags + 1] = t == "O" and 0 or TAG_ID[(k == 1 and "B-" or "I-") .. t]
      end
    end
    local e1, e2 = ENT[i % 4 + 1], ENT[(i * 3 + 1) % 4 + 1]
    add(FILL[i % 6 + 1], "O"); add(e1[1], e1[2]); add("去", "O"); add(e2[1], e2[2]); add("了", "O")
    exs[i] = { text_a = text, label = tags }
  end
  return split(exs, "toy_ner", "sequence", F.tags)
end

-- query pairs for matching: a query holds a word of one polarity; its match (label 1) a word of
-- the same polarity, its non-match (0) one of the other.  Words drawn by a fixed LCG; every query
-- has both, so pairwise training finds triples.  Per 5 queries: 3 train, 1 dev, 1 test.
function F.query_pairs(n)
  local x = 12345
  local function pick(t) x = (x * 1103515245 + 12345) % 2147483648; return t[math.floor(x / 65536) % #t + 1] end
  local tr, dv, te = {}, {}, {}
  for i = 1, n do
    local good = i % 2 == 0
    local W, O = good and POS or NEG, good and NEG or POS
    local q = pick(FILL) .. pick(W)
    local l = i % 5 == 0 and dv or i % 5 == 1 and te or tr
    l[#l + 1] = { text_a = q, text_b = pick(W) .. pick(FILL), label = 1 }
    l[#l + 1] = { text_a = q, text_b = pick(O) .. pick(FILL), label = 0 }
  end
  return dataset.new { name = "toy_match", kind = "pair", labels = { "no", "yes" }, train = tr, dev = dv, test = te }
end

return F
