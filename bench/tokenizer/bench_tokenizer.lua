-- bench_tokenizer.lua: hubrun's WordPiece throughput, single thread, on the lines of a corpus.
--
--   hubrun bench/tokenizer/bench_tokenizer.lua VOCAB FILE... [--rounds N]
--
-- Two measures, each the best of N rounds (default 5) over every line of the files:
--   tokenize  hub_wordpiece_tokenize per line (ids and offsets, no specials), called through
--             the FFI so that no Lua tables are built: the C tokenizer itself
--   encode    hub_wordpiece_encode on batches of 32 lines, max_seq_len 128, truncation and
--             padding: the four i64 tensors a model gets (the path tasks use)
-- MB/s counts the UTF-8 bytes of the lines (not the newlines).  Prints one "hubrun ..." line per
-- measure for run.sh to combine with HF's.
local hub = require "hub"
local ffi = require "ffi"
local C = hub.C

local vocab, files, rounds = nil, {}, 5
local i = 1
while arg[i] do
  if arg[i] == "--rounds" then rounds = tonumber(arg[i + 1]); i = i + 2
  else
    if not vocab then vocab = arg[i] else files[#files + 1] = arg[i] end
    i = i + 1
  end
end
assert(vocab and #files > 0, "usage: bench_tokenizer.lua VOCAB FILE... [--rounds N]")

local lines, bytes = {}, 0
for _, f in ipairs(files) do
  for line in io.lines(f) do lines[#lines + 1] = line; bytes = bytes + #line end
end

local tk = hub.tokenizer.wordpiece { vocab = vocab, lower = true }
local p = tk._p
local clock = os.clock -- process CPU time: the run is single-threaded

local ids, offs, n = ffi.new("int64_t *[1]"), ffi.new("int64_t *[1]"), ffi.new("int64_t[1]")
local function tokenize_all()
  local tokens = 0
  for k = 1, #lines do
    local s = lines[k]
    assert(C.hub_wordpiece_tokenize(p, s, #s, ids, offs, n) == 0)
    tokens = tokens + tonumber(n[0])
    C.hub_text_free(ids[0]); C.hub_text_free(offs[0])
  end
  return tokens
end

local B = 32
local ct, cl = ffi.new("const char *[?]", B), ffi.new("int64_t[?]", B)
local out = ffi.new("hub_tensor *[4]")
local function encode_all()
  local rows = 0
  for k = 1, #lines, B do
    local m = math.min(B, #lines - k + 1)
    for j = 0, m - 1 do ct[j] = lines[k + j]; cl[j] = #lines[k + j] end
    assert(C.hub_wordpiece_encode(p, m, ct, cl, nil, nil, 128, 1, 1, out) == 0)
    for j = 0, 3 do C.hub_tensor_release(out[j]) end
    rows = rows + m
  end
  return rows
end

local function best(fn)
  fn() -- warm-up
  local t, r = math.huge, nil
  for _ = 1, rounds do
    local t0 = clock()
    r = fn()
    local dt = clock() - t0
    if dt < t then t = dt end
  end
  return t, r
end

local t1, tokens = best(tokenize_all)
print(string.format("hubrun tokenize %.2f MB/s %d lines %d bytes %d tokens %.3f s", bytes / t1 / 1e6, #lines, bytes, tokens, t1))
local t2 = best(encode_all)
print(string.format("hubrun encode %.2f MB/s %d lines %d bytes %d tokens %.3f s", bytes / t2 / 1e6, #lines, bytes, tokens, t2))
