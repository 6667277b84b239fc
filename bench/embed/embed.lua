-- bench/embed/embed.lua: sentence vectors per second of a hubrun encoder module (all-MiniLM-L6-v2)
-- on a file of sentences, one per line (bench/embed/run.sh makes them).
--
--   build/hubrun bench/embed/embed.lua --module DIR --input SENTENCES [--batch 32] [--threads T]
--       [--repeat R] [--clock wall|cpu] [--save VEC.npy] [--profile]
--
-- Loads the module (hub.module DIR), encodes the first 2 batches once (warm-up), then all the
-- sentences R times (default 3) with m:vectors(texts, {batch_size = B}): hubrun's tokenizer,
-- length-sorted batches padded to their longest, the network, the model's pooling and
-- normalisation.  Prints
--   result impl=hub sents=N median_s=.. min_s=.. max_s=.. per_s=.. wall_s=.. cpu_s=.. threads=T batch=B tokens=..
-- (--clock cpu: process CPU time / T).  --save writes the vectors as .npy (hub.vecfile) for
-- run.sh's check against the other programs.  --profile times every op and the tokenizer in
-- one more pass and prints them as '#' lines.
local hub = require "hub"
local here = arg[0]:match("^(.*)/embed/[^/]*$") or "bench"
local B = dofile(here .. "/lib/bench.lua")

local o = { batch = 32, threads = tonumber(os.getenv("HUB_THREADS") or "") or 2, repeat_ = 3, clock = "wall" }
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "-h" or a == "--help" then
    print("usage: hubrun bench/embed/embed.lua --module DIR --input FILE [--batch B] [--threads T] [--repeat R] [--clock wall|cpu] [--save F.npy] [--profile]")
    os.exit(0)
  elseif a == "--profile" then o.profile = true; i = i + 1
  elseif a == "--module" or a == "--input" or a == "--batch" or a == "--threads" or a == "--repeat" or a == "--clock" or a == "--save" then
    local v = arg[i + 1] or error(a .. " needs a value", 0)
    local k = a:sub(3)
    if k == "repeat" then k = "repeat_" end
    o[k] = (k == "batch" or k == "threads" or k == "repeat_") and tonumber(v) or v
    i = i + 2
  else
    io.stderr:write("embed.lua: unknown argument ", a, "\n"); os.exit(2)
  end
end
if not o.module or not o.input then io.stderr:write("embed.lua: --module DIR and --input FILE are required\n"); os.exit(2) end
hub.set_num_threads(o.threads)

local texts = {}
for line in io.lines(o.input) do if line:match("%S") then texts[#texts + 1] = line end end
local m = hub.module(o.module)

local function clock() return o.clock == "cpu" and B.cpu_ms() / o.threads or B.now_ms() end
local warm = {}
for k = 1, math.min(#texts, 2 * o.batch) do warm[k] = texts[k] end
m:vectors(warm, { batch_size = o.batch })
collectgarbage()

local xs, walls, cpus, vec = {}, {}, {}, nil
for _ = 1, o.repeat_ do
  local w0, c0 = B.now_ms(), B.cpu_ms()
  vec = m:vectors(texts, { batch_size = o.batch })
  local w1, c1 = B.now_ms(), B.cpu_ms()
  walls[#walls + 1] = (w1 - w0) / 1e3
  cpus[#cpus + 1] = (c1 - c0) / 1e3 / o.threads
  xs[#xs + 1] = o.clock == "cpu" and cpus[#cpus] or walls[#walls]
  collectgarbage()
end
local tokens = 0
for _, t in ipairs(texts) do
  tokens = tokens + m.tokenizer:encode(t, { max_seq_len = m.max_seq_len, padding = false }).input_ids:numel()
end
local med = B.median(xs)
local lo, hi = B.minmax(xs)
print(string.format("result impl=hub sents=%d median_s=%.3f min_s=%.3f max_s=%.3f per_s=%.1f wall_s=%.3f cpu_s=%.3f threads=%d batch=%d tokens=%d",
  #texts, med, lo, hi, #texts / med, B.median(walls), B.median(cpus), o.threads, o.batch, tokens))
print(string.format("# hub: hubrun, module %s %s (max_seq_len %d)", m.name, tostring(m.version), m.max_seq_len))
if o.save then require("hub.vecfile").write(o.save, vec) end

if o.profile then
  -- one more pass with every op timed (bench/lib's profiler: outermost op only), plus the
  -- tokenizer; the rest of the pass is Lua (batching, module code) and the collector
  local prof = B.profiler(clock)
  local tk = m.state.tokenizer
  local t_tok = 0
  for _, name in ipairs { "encode", "encode_batch" } do
    local f = tk[name]
    tk[name] = function(...) local t0 = clock(); local a = f(...); t_tok = t_tok + clock() - t0; return a end
  end
  prof.on = true
  local t0 = clock()
  m:vectors(texts, { batch_size = o.batch })
  local total = clock() - t0
  prof.on = false
  tk.encode, tk.encode_batch = nil, nil
  local rows, ops = {}, 0
  for k, e in pairs(prof.ops) do rows[#rows + 1] = { k, e.ms, e.n }; ops = ops + e.ms end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  print(string.format("# profile (%s ms, one pass of %d sentences): total %.0f, ops %.0f, tokenizer %.0f, the rest (Lua, GC) %.0f",
    o.clock, #texts, total, ops, t_tok, total - ops - t_tok))
  for _, r in ipairs(rows) do
    if r[2] >= 0.005 * total then print(string.format("#   %-16s %8.0f ms  %5.1f%%  %6d calls", r[1], r[2], 100 * r[2] / total, r[3])) end
  end
  local lin = (prof.ops.linear and prof.ops.linear.ms or 0) + (prof.ops.linear_act and prof.ops.linear_act.ms or 0)
  print(string.format("#   linears: %.1f GFLOP/s on the real tokens (%d; padding not counted)",
    tokens * 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536) / lin / 1e6, tokens))
end
