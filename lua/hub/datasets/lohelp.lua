-- hub.datasets.lohelp: labelled data sets from the LibreOffice 7.4 help in Chinese (MPL-2.0),
-- the Debian packages libreoffice-help-zh-cn and libreoffice-help-zh-tw that
-- scripts/fetch-corpus.sh puts in $HUB_DATA/corpus/raw/ (zh-TW converted to Simplified by
-- OpenCC's tw2s at fetch time; characters only, so the translation stays independent).
--
--   lohelp_topics_zh()   a help paragraph -> the program whose help it is (7 classes)
--   lohelp_pairs_zh()    (zh-CN paragraph, zh-TW paragraph) -> paraphrase (1) or not (0)
--
-- A paragraph is a <p id="par_id..."> element of a page (headings are left out): its inner
-- markup removed, entities decoded, textutil.normalize'd; paragraphs with fewer than 4 Han
-- characters (untranslated English ones among them) are dropped.  The split of a paragraph is
-- its page's (splits.lohelp, by the page path), as in the pretraining corpus, which took only
-- train pages.
--
-- Topics: pages under text/<program>/ for the 7 programs of M.programs (text/shared and
-- text/sdatabase left out), labels in that (alphabetical) order.  The same text on several
-- pages is kept once (the first page in MANIFEST order); a text found under two programs is
-- dropped everywhere (counted as conflicting).
-- Pairs: every page of the help (all programs, shared too).  A par_id present in both languages
-- with both texts valid is a positive pair; a pair whose two texts are identical after the
-- conversion is dropped (nothing to match), and so is a pair seen before (same two texts).  Each
-- positive gets one negative: the same zh-CN paragraph with the zh-TW text of another
-- paragraph of the same page, chosen by hash ("lohelp_neg:<page>#<par_id>", the first
-- candidate in a hashed rotation whose text differs from the positive's); pages with one
-- pair give no negative, so their positive is dropped too (balanced: as many 1s as 0s).
local textutil = require "hub.textutil"
local splits = require "hub.datasets.splits"
local dataset = require "hub.datasets.dataset"

local M = {}

M.programs = { "sbasic", "scalc", "schart", "sdraw", "simpress", "smath", "swriter" }
M.min_han = 4

local function read_all(path)
  local f, err = io.open(path, "rb")
  if not f then error("lohelp: cannot open " .. tostring(err), 0) end
  local s = f:read("*a")
  f:close()
  return s
end

local function line_of(s, pos)
  local n = 1
  for _ in s:sub(1, pos - 1):gmatch("\n") do n = n + 1 end
  return n
end

-- paragraphs(html, path) -> list of { id = par_id, text = normalised text } (every <p
-- id="par_id..."> element, short ones too, in page order; the first of a repeated id).
function M.paragraphs(html, path)
  local bad = textutil.utf8_error(html)
  if bad then error(string.format("lohelp: %s:%d: invalid UTF-8", path or "?", line_of(html, bad)), 0) end
  local decode = require("hub.corpus").decode_entities
  local out, seen = {}, {}
  for id, body in html:gmatch('<p%s+id="(par_id[^"]*)"[^>]*>(.-)</p>') do
    if not seen[id] then
      seen[id] = true
      local t = body:gsub("<[^>]*>", ""):gsub("[\r\n\t]", " ")
      out[#out + 1] = { id = id, text = textutil.normalize(decode(t)) }
    end
  end
  return out
end

local function raw_dir(lang, dir)
  local src = "libreoffice-help-" .. lang
  local manifest, msg = require("hub.datasets").locate("corpus/raw/" .. src, "MANIFEST", dir and (dir .. "/" .. src),
    "scripts/fetch-corpus.sh " .. src, dir ~= nil)
  if not manifest then error(msg, 0) end
  return manifest:sub(1, -#"/MANIFEST" - 1), manifest
end

local function valid(text) return textutil.han_count(text) >= M.min_han end

function M.lohelp_topics_zh(opts)
  opts = require("hub.core").check_options(opts, { dir = "string" }, "lohelp_topics_zh", 1)
  local root, manifest = raw_dir("zh-cn", opts.dir)
  local label_of = {}
  for i, p in ipairs(M.programs) do label_of[p] = i - 1 end
  local counts = { pages = 0, paragraphs = 0, short = 0, duplicates = 0, conflicting = 0 }
  local seen, order = {}, {}
  for _, rel in ipairs(splits.read_lines(manifest, "lohelp_topics_zh")) do
    local prog = rel:match("^text/([^/]+)/")
    local label = prog and label_of[prog]
    if label then
      counts.pages = counts.pages + 1
      local path = root .. "/" .. rel
      local split = splits.lohelp(rel)
      for _, p in ipairs(M.paragraphs(read_all(path), path)) do
        counts.paragraphs = counts.paragraphs + 1
        if not valid(p.text) then counts.short = counts.short + 1
        else
          local s = seen[p.text]
          if not s then
            s = { text_a = p.text, label = label, id = rel .. "#" .. p.id, split = split, n = 1 }
            seen[p.text] = s
            order[#order + 1] = s
          else
            s.n = s.n + 1
            if s.label ~= label then s.conflict = true else counts.duplicates = counts.duplicates + 1 end
          end
        end
      end
    end
  end
  local out = { train = {}, dev = {}, test = {} }
  for _, s in ipairs(order) do
    if s.conflict then counts.conflicting = counts.conflicting + s.n
    else
      local l = out[s.split]
      l[#l + 1] = { text_a = s.text_a, label = s.label, id = s.id }
    end
  end
  return dataset.new { name = "lohelp_topics_zh", kind = "classification", labels = M.programs,
    train = out.train, dev = out.dev, test = out.test, counts = counts, source = root,
    license = "MPL-2.0 (LibreOffice help)" }
end

function M.lohelp_pairs_zh(opts)
  opts = require("hub.core").check_options(opts, { dir = "string" }, "lohelp_pairs_zh", 1)
  local cn_root, cn_manifest = raw_dir("zh-cn", opts.dir)
  local tw_root = raw_dir("zh-tw", opts.dir)
  local counts = { pages = 0, aligned = 0, short = 0, identical = 0, duplicates = 0, single = 0, positives = 0, negatives = 0 }
  local out = { train = {}, dev = {}, test = {} }
  local seen = {}
  for _, rel in ipairs(splits.read_lines(cn_manifest, "lohelp_pairs_zh")) do
    local tw_path = tw_root .. "/" .. rel
    local fh = io.open(tw_path, "rb")
    if fh then
      fh:close()
      counts.pages = counts.pages + 1
      local cn_path = cn_root .. "/" .. rel
      local tw = {}
      for _, p in ipairs(M.paragraphs(read_all(tw_path), tw_path)) do tw[p.id] = p.text end
      local pairs_ = {}
      for _, p in ipairs(M.paragraphs(read_all(cn_path), cn_path)) do
        local t = tw[p.id]
        if t then
          counts.aligned = counts.aligned + 1
          if not valid(p.text) or not valid(t) then counts.short = counts.short + 1
          elseif p.text == t then counts.identical = counts.identical + 1
          elseif seen[p.text .. "\0" .. t] then counts.duplicates = counts.duplicates + 1
          else
            seen[p.text .. "\0" .. t] = true
            pairs_[#pairs_ + 1] = { id = p.id, cn = p.text, tw = t }
          end
        end
      end
      local m = #pairs_
      if m == 1 then counts.single = counts.single + 1 end
      if m >= 2 then
        local l = out[splits.lohelp(rel)]
        for i, p in ipairs(pairs_) do
          -- a hashed rotation over the other paragraphs of the page
          local start = tonumber(splits.sha256_hex("lohelp_neg:" .. rel .. "#" .. p.id):sub(1, 8), 16) % (m - 1)
          local neg
          for k = 0, m - 2 do
            local j = (i + start + k) % m + 1   -- never i itself: offsets 1 .. m-1
            if pairs_[j].tw ~= p.tw then neg = pairs_[j]; break end
          end
          if neg then
            l[#l + 1] = { text_a = p.cn, text_b = p.tw, label = 1, id = rel .. "#" .. p.id }
            l[#l + 1] = { text_a = p.cn, text_b = neg.tw, label = 0, id = rel .. "#" .. p.id .. "~" .. neg.id }
            counts.positives = counts.positives + 1
            counts.negatives = counts.negatives + 1
          end
        end
      end
    end
  end
  return dataset.new { name = "lohelp_pairs_zh", kind = "pair", labels = { "not_paraphrase", "paraphrase" },
    train = out.train, dev = out.dev, test = out.test, counts = counts, source = { cn_root, tw_root },
    license = "MPL-2.0 (LibreOffice help)" }
end

return M
