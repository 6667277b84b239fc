-- build-corpus.lua: builds the Chinese pretraining corpus (hub.corpus) and, with --vocab, its
-- vocabulary (hub.vocab_builder).  Run by hubrun; see docs/corpus.md.
--
--   build/hubrun scripts/build-corpus.lua                   # $HUB_DATA/corpus/{train,heldout}.txt, stats.json
--   build/hubrun scripts/build-corpus.lua --vocab modules/ernie-tiny-zh/vocab.txt --size 10000
--   options: --raw DIR (default $HUB_DATA/corpus/raw)  --out DIR (default $HUB_DATA/corpus)
--            --min-han N (4)  --sources NAME,NAME,... (default: all, in hub.corpus's order)
--            --vocab FILE  --size N (10000)  --vocab-only (reuse out/train.txt)
--
-- $HUB_DATA defaults to <repo>/build/data.  The raw sources come from scripts/fetch-corpus.sh.
-- Prints a table of documents, sentences and Han characters per source (train and held out)
-- and what was dropped.  Exit status 1 with "build-corpus: <error>" on bad input.
local corpus = require "hub.corpus"

local REPO = (debug.getinfo(1, "S").source:match("^@(.*)/scripts/[^/]*$") or ".")

local function die(msg)
  io.stderr:write("build-corpus: ", msg, "\n")
  os.exit(1)
end

local data = os.getenv("HUB_DATA")
if not data or data == "" then data = REPO .. "/build/data" end
local o = { raw = data .. "/corpus/raw", out = data .. "/corpus", size = 10000 }
local i = 1
while i <= #arg do
  local a = arg[i]
  local function val()
    i = i + 1
    if arg[i] == nil then die("option " .. a .. " needs a value") end
    return arg[i]
  end
  if a == "--raw" then o.raw = val()
  elseif a == "--out" then o.out = val()
  elseif a == "--min-han" then o.min_han = tonumber(val()) or die("--min-han needs a number")
  elseif a == "--vocab" then o.vocab = val()
  elseif a == "--size" then o.size = tonumber(val()) or die("--size needs a number")
  elseif a == "--vocab-only" then o.vocab_only = true
  elseif a == "--sources" then o.sources = val()
  elseif a == "-h" or a == "--help" then
    local f = io.open(debug.getinfo(1, "S").source:sub(2), "rb")
    for line in f:lines() do
      if not line:match("^%-%-") then break end
      print((line:gsub("^%-%- ?", "")))
    end
    f:close()
    os.exit(0)
  else die("unknown argument '" .. a .. "' (see the top of scripts/build-corpus.lua)") end
  i = i + 1
end

local sources
if o.sources then
  local by = {}
  for _, src in ipairs(corpus.sources) do by[src.name] = src end
  sources = {}
  for name in o.sources:gmatch("[^,]+") do
    if not by[name] then
      local names = {}
      for _, src in ipairs(corpus.sources) do names[#names + 1] = src.name end
      die("unknown source '" .. name .. "' (known: " .. table.concat(names, ", ") .. ")")
    end
    sources[#sources + 1] = by[name]
  end
end

local ok, err = pcall(function()
  if not o.vocab_only then
    os.execute("mkdir -p '" .. o.out .. "'")
    local t0 = os.clock()
    local header = false
    local function log(row)
      if not header then
        header = true
        print(string.format("%-24s %12s %18s %13s | %-24s | %s", "source", "documents", "sentences", "Han", "train docs/sents/Han", "held-out docs/sents/Han"))
      end
      print(row)
    end
    local stats = corpus.build{ raw = o.raw, out = o.out, min_han = o.min_han, sources = sources, log = log }
    print(corpus.format_row("total", stats.total))
    local T = stats.total
    print(string.format("dropped: %d duplicate sentences, %d sentences under %d Han, %d empty documents, %d downstream dev/test items",
      T.duplicates, T.short, stats.min_han, T.empty_documents, T.downstream_held))
    print(string.format("wrote %s/train.txt, heldout.txt, stats.json in %.1f s", o.out, os.clock() - t0))
  end
  if o.vocab then
    local vb = require "hub.vocab_builder"
    local t0 = os.clock()
    local v = vb.build{ corpus = o.out .. "/train.txt", size = o.size }
    vb.write(v, o.vocab)
    print(string.format("vocab: %d entries (%d Han, %d punctuation/symbols, %d Latin wordpieces) -> %s in %.1f s",
      #v.tokens, v.counts.han, v.counts.symbols, v.counts.latin, o.vocab, os.clock() - t0))
  end
end)
if not ok then die(tostring(err)) end
