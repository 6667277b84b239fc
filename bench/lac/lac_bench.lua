-- lac_bench.lua: characters per second of hub.lac on a batch of real Chinese text.
--
--   hubrun bench/lac/lac_bench.lua [--threads N] [--batch B] [--texts N] [--repeat R] [--out FILE]
--
-- The texts are the sentences of Debian's debian-reference-zh-cn book (fetched by
-- scripts/fetch-lac.sh; the same extraction as tests/lua/test_lac.lua, without the length
-- filter), taken in book order; --texts limits how many.  One warm-up pass, then --repeat timed
-- passes of lac:predict(texts, {batch_size = B}); the best and the median pass are reported
-- (wall clock), with the time of the network alone (tag_chars) against the whole predict.
-- --out FILE writes the texts used, one per line, for the Python references to read;
-- --compare FILE reads per-character tag ids (one line per text, as lac_paddle.py writes them)
-- and reports how many texts hubrun tags identically.
local hub = require "hub"
local lac = hub.lac
local ffi = require "ffi"
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } hub_bench_timespec;
  int clock_gettime(int clk, hub_bench_timespec *ts);
]]
local ts = ffi.new("hub_bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local opts = { threads = 0, batch = 64, texts = 0, ["repeat"] = 5 }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-(.+)$")
  if not k or opts[k] == nil and k ~= "out" and k ~= "compare" then error("lac_bench: unknown argument " .. arg[i], 0) end
  opts[k] = (k == "out" or k == "compare") and arg[i + 1] or tonumber(arg[i + 1])
  i = i + 2
end
if opts.threads > 0 then hub.set_num_threads(opts.threads) end

local dir = lac.default_dir()
local text_path = dir:gsub("/jieba/usr/lib/python3/dist%-packages/jieba/lac_small$", "")
  .. "/debian-reference-zh-cn/debian-reference.zh-cn.txt"
local f = io.open(text_path, "rb")
if not f then error("lac_bench: " .. text_path .. " missing: run scripts/fetch-lac.sh", 0) end
local text = f:read("*a")
f:close()

local function strip(s) return (s:gsub("^[ \t\r\f\v]+", ""):gsub("[ \t\r\f\v]+$", "")) end
local texts, para = {}, nil
local function flush()
  if not para then return end
  local piece = {}
  for _, ch in ipairs(lac.utf8_chars(para)) do
    piece[#piece + 1] = ch
    if ch == "。" or ch == "！" or ch == "？" or ch == "；" then texts[#texts + 1] = strip(table.concat(piece)); piece = {} end
  end
  local rest = strip(table.concat(piece))
  if rest ~= "" then texts[#texts + 1] = rest end
  para = nil
end
for line in (text .. "\n"):gmatch("([^\n]*)\n") do
  local s = strip(line)
  if s == "" then flush()
  elseif not para then para = s
  else para = para .. ((para:byte(-1) < 128 and s:byte(1) < 128) and " " or "") .. s end
end
flush()
if opts.texts > 0 and #texts > opts.texts then
  for k = #texts, opts.texts + 1, -1 do texts[k] = nil end
end
local nchars = 0
for _, s in ipairs(texts) do nchars = nchars + #lac.utf8_chars(s) end
if opts.out then
  local o = assert(io.open(opts.out, "wb"))
  for _, s in ipairs(texts) do o:write(s, "\n") end
  o:close()
end

local t0 = now()
local m = lac.load(dir)
if opts.compare then
  local tag_id = {}
  for id, name in pairs(m.tags) do tag_id[name] = id end
  local per = m:tag_chars(texts, { batch_size = opts.batch })
  local agree, chars_agree, k = 0, 0, 0
  for line in io.lines(opts.compare) do
    k = k + 1
    local r, j, all = per[k], 0, true
    for v in line:gmatch("%d+") do
      j = j + 1
      if r and tag_id[r.tags[j]] == tonumber(v) then chars_agree = chars_agree + 1 else all = false end
    end
    if all and r and j == #r.tags then agree = agree + 1 end
  end
  print(string.format("agreement with %s: %d of %d texts identical, %d of %d characters", opts.compare, agree,
    #texts, chars_agree, nchars))
  print(string.format("RESULT agree_texts %d/%d", agree, #texts))
end
local tload = now() - t0
local po = { batch_size = opts.batch }
if opts["repeat"] < 1 then return end
m:predict(texts, po) -- warm-up
local function timed(fn)
  local ts_ = {}
  for _ = 1, opts["repeat"] do
    collectgarbage()
    local a = now()
    fn()
    ts_[#ts_ + 1] = now() - a
  end
  table.sort(ts_)
  return ts_[1], ts_[math.floor((#ts_ + 1) / 2)]
end
local best, med = timed(function() m:predict(texts, po) end)
local nbest = timed(function() m:tag_chars(texts, po) end)
print(string.format("hubrun lac: %d texts, %d chars, batch %d, %d threads, load %.2f s", #texts, nchars,
  opts.batch, hub.get_num_threads(), tload))
print(string.format("hubrun lac: predict best %.3f s (%.0f chars/s), median %.3f s (%.0f chars/s); network+CRF %.3f s",
  best, nchars / best, med, nchars / med, nbest))
print(string.format("RESULT hubrun_chars_per_s %.0f", nchars / best))
