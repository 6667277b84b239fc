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
-- run.sh's check against the other programs.  --profile times the tokenizer, the forwards and
-- the pooling separately (one more pass) and prints them as '#' lines.
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
  -- one more pass, split: tokenizer (lengths + batches), forwards, pooling
  local st = m.state
  local t_tok, t_fwd, t_pool = 0, 0, 0
  local lens = {}
  local t0 = clock()
  for k, t in ipairs(texts) do lens[k] = st.tokenizer:encode(t, { max_seq_len = st.max_seq_len, padding = false }).input_ids:numel() end
  local order = {}
  for k = 1, #texts do order[k] = k end
  table.sort(order, function(a, b) if lens[a] ~= lens[b] then return lens[a] > lens[b] end return a < b end)
  t_tok = t_tok + clock() - t0
  hub.no_grad(function()
    for s = 1, #texts, o.batch do
      local chunk = {}
      for k = s, math.min(#texts, s + o.batch - 1) do chunk[#chunk + 1] = texts[order[k]] end
      local t1 = clock()
      local b = st.tokenizer:encode_batch(chunk, { max_seq_len = st.max_seq_len, padding = "longest" })
      local t2 = clock()
      local out = st.model:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids, attention_mask = b.attention_mask }
      local t3 = clock()
      local mk = b.attention_mask:to("f32")
      local n = mk:sum(2, true)
      local v = (out.sequence_output * mk:reshape(mk.shape[1], mk.shape[2], 1)):sum(2) / n
      v = v / (v * v):sum(2, true):sqrt()
      local t4 = clock()
      t_tok, t_fwd, t_pool = t_tok + t2 - t1, t_fwd + t3 - t2, t_pool + t4 - t3
    end
  end)
  print(string.format("# profile (%s ms): tokenizer %.0f, forwards %.0f, pooling %.0f; %.1f GFLOP/s in the forwards (encoder linears only)",
    o.clock, t_tok, t_fwd, t_pool, tokens * 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536) / t_fwd / 1e6))
end
