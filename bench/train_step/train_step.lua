-- bench/train_step/train_step.lua: one BERT-style training step and one inference forward in
-- hubrun, timed; the PyTorch twin is train_step_torch.py (same model, shapes, init and data).
--
--   build/hubrun bench/train_step/train_step.lua [--size small|large] [--steps N] [--warmup W]
--       [--threads T] [--mode train|infer|both] [--mem-steps N] [--profile] [--seed S] [--attn-dropout P]
--       [--collect]
--
-- The model is BERT for sequence classification, built from hub.nn:
--   embeddings  word [V, H] + position [512, H] + token type [2, H], summed, LayerNorm, dropout
--   encoder     N post-LN TransformerEncoderLayers (GELU, d_ff = 4 H, dropout 0.1 on the
--               attention probabilities and after attention and feed-forward)
--   pooler      tanh(Linear(H, H)) of token 0; dropout; classifier Linear(H, 2)
-- LayerNorm eps is BERT's 1e-12.  Initialisation is BERT's: every Linear and Embedding weight
-- N(0, 0.02), biases zero, LayerNorm weight one and bias zero.  The optimiser is AdamW
-- (lr 5e-5, weight decay 0.01 on every parameter, betas 0.9/0.999, eps 1e-8).  Inputs are random
-- token ids in [0, V) and labels in {0, 1} from hub.manual_seed(seed), an all-ones attention
-- mask and zero token types: one fixed batch reused every step.
--
-- Sizes:  small  4 layers, H 128, 4 heads, V 8000,  batch 32, sequence 128
--         large 12 layers, H 768, 12 heads, V 21128, batch 8, sequence 128
--
-- train  = forward (training mode) + cross_entropy + backward + opt:step() + opt:zero_grad()
-- infer  = forward in eval mode (dropout off) under hub.no_grad
-- Each mode runs W warm-up steps (default 3), then N timed steps (default 10; CLOCK_MONOTONIC
-- around each step), and prints the median, min and max.  Output, one machine-readable line per
-- measurement (key=value pairs after the first word), then readable lines starting with '#':
--   result impl=hub size=small mode=train median_ms=.. min_ms=.. max_ms=.. steps=N threads=T cpu_ms=..
--   phase impl=hub size=small name=forward median_ms=..      (forward, loss, backward, step, zero_grad, gc)
--   memory impl=hub size=small peak_rss_mb=.. rss_mb=.. params=.. alloc_peak_mb=.. alloc_live_mb=.. alloc_cached_mb=..
-- (alloc_*: hub's caching allocator, hub.memory_stats(): peak and live tensor bytes, and the bytes
-- held in its free lists.)
-- cpu_ms is the median CPU time of the process per step, all threads together
-- (CLOCK_PROCESS_CPUTIME_ID): on a busy machine it does not count time spent descheduled, but
-- it counts OpenMP threads spinning at barriers unless OMP_WAIT_POLICY=passive.
-- peak_rss_mb is VmHWM from /proc/self/status after everything ran (the process's peak).
--
-- --mem-steps N runs N training steps instead of the timing (no inference) and prints VmRSS at
-- step 100 and at the end, and the relative growth:
--   memsteps impl=hub size=small steps=N rss100_mb=.. rss_end_mb=.. growth_pct=.. peak_rss_mb=..
--
-- --attn-dropout P changes the dropout on the attention probabilities (an experiment, not BERT:
-- the fused kernel applies it inside; 0 skips it).
--
-- --collect runs a full collectgarbage() at the end of every step (inside the timed step; an
-- experiment on how much of the resident size is garbage waiting for hub's collector pacing).
--
-- --profile wraps hub's ops (methods and functions) with timers for the timed training steps and
-- prints where the forward time goes per op, the backward (one C call) as a whole, and the time
-- spent in Lua's collector (collectgarbage calls made by hub's allocation pacing).
local hub = require "hub"
local ffi = require "ffi"
local nn = hub.nn

-- ---- options ----
local opts = { size = "small", steps = 10, warmup = 3, threads = 2, mode = "both", mem_steps = 0,
               profile = false, seed = 1234, attn_dropout = 0.1, collect = false }
do
  local env = tonumber(os.getenv("HUB_THREADS") or "")
  if env and env > 0 then opts.threads = env end
  local i = 1
  local function val() i = i + 1; if arg[i] == nil then error("missing value for " .. arg[i - 1], 0) end return arg[i] end
  while i <= #arg do
    local a = arg[i]
    if a == "--size" then opts.size = val()
    elseif a == "--steps" then opts.steps = tonumber(val())
    elseif a == "--warmup" then opts.warmup = tonumber(val())
    elseif a == "--threads" then opts.threads = tonumber(val())
    elseif a == "--mode" then opts.mode = val()
    elseif a == "--mem-steps" then opts.mem_steps = tonumber(val())
    elseif a == "--seed" then opts.seed = tonumber(val())
    elseif a == "--attn-dropout" then opts.attn_dropout = tonumber(val())
    elseif a == "--profile" then opts.profile = true
    elseif a == "--collect" then opts.collect = true
    elseif a == "-h" or a == "--help" then
      print("usage: hubrun bench/train_step/train_step.lua [--size small|large] [--steps N] [--warmup W] [--threads T] [--mode train|infer|both] [--mem-steps N] [--profile] [--seed S] [--attn-dropout P] [--collect]")
      os.exit(0)
    else
      io.stderr:write("train_step.lua: unknown option " .. tostring(a) .. "\n"); os.exit(2)
    end
    i = i + 1
  end
end

local SIZES = {
  small = { layers = 4, hidden = 128, heads = 4, vocab = 8000, batch = 32, seq = 128 },
  large = { layers = 12, hidden = 768, heads = 12, vocab = 21128, batch = 8, seq = 128 },
}
local cfg = SIZES[opts.size]
if not cfg then io.stderr:write("train_step.lua: --size must be small or large\n"); os.exit(2) end
if opts.mode ~= "train" and opts.mode ~= "infer" and opts.mode ~= "both" then
  io.stderr:write("train_step.lua: --mode must be train, infer or both\n"); os.exit(2)
end

hub.set_num_threads(opts.threads)
hub.manual_seed(opts.seed)

-- ---- clock and memory (bench/lib/bench.lua) ----
local bench_dir = (arg and arg[0] or "bench/train_step/train_step.lua"):match("^(.*)/train_step/[^/]*$") or "bench"
local BL = dofile(bench_dir .. "/lib/bench.lua")
local now_ms, cpu_ms, proc_status, median, minmax = BL.now_ms, BL.cpu_ms, BL.proc_status, BL.median, BL.minmax

-- ---- model (bench/lib/bench.lua: BERT for sequence classification, BERT's initialisation) ----
local model = BL.bert_init(BL.Bert { vocab = cfg.vocab, hidden = cfg.hidden, heads = cfg.heads, layers = cfg.layers,
                                    dropout = 0.1, attn_dropout = opts.attn_dropout, classes = 2 })
local n_params = model:num_parameters()
local opt = hub.optim.AdamW(model, { lr = 5e-5, weight_decay = 0.01, betas = { 0.9, 0.999 }, eps = 1e-8 })

local B, L = cfg.batch, cfg.seq
local ids = hub.randint(0, cfg.vocab, { B, L })
local labels = hub.randint(0, 2, { B })
local token_types = hub.zeros({ B, L }, "i64")
local positions = hub.arange(L)
local mask = hub.ones({ B, L })

-- ---- profiling hooks ----
local prof = { on = false, ops = {} }
local phases = { forward = {}, loss = {}, backward = {}, step = {}, zero_grad = {}, gc = {} }
local gc_acc = 0
do
  local raw_collect = collectgarbage
  -- hub's allocation pacing calls the global collectgarbage(); time those calls (all modes).
  _G.collectgarbage = function(what, ...)
    if what == nil or what == "collect" then
      local t0 = now_ms()
      local r = raw_collect(what, ...)
      gc_acc = gc_acc + (now_ms() - t0)
      return r
    end
    return raw_collect(what, ...)
  end
end

if opts.profile then prof = BL.profiler(now_ms, function() return gc_acc end) end

-- ---- steps ----
local function train_step(record)
  local g0 = gc_acc
  local t0 = now_ms()
  local logits = model(ids, token_types, positions, mask)
  local t1 = now_ms()
  local loss = hub.cross_entropy(logits, labels)
  local t2 = now_ms()
  prof.on = false
  loss:backward()
  local t3 = now_ms()
  opt:step()
  local t4 = now_ms()
  opt:zero_grad()
  logits, loss = nil, loss:detach()
  if opts.collect then collectgarbage() end
  local t5 = now_ms()
  if record then
    local n = #phases.forward + 1
    phases.forward[n], phases.loss[n], phases.backward[n] = t1 - t0, t2 - t1, t3 - t2
    phases.step[n], phases.zero_grad[n], phases.gc[n] = t4 - t3, t5 - t4, gc_acc - g0
  end
  return loss
end

local function infer_step()
  hub.no_grad(function() return model(ids, token_types, positions, mask) end)
  if opts.collect then collectgarbage() end
end


local tag = string.format("impl=hub size=%s", opts.size)
io.write(string.format("# hub %s: %s, %d layers, hidden %d, %d heads, vocab %d, batch %d, seq %d, %d parameters, %d threads\n",
  hub.version, opts.size, cfg.layers, cfg.hidden, cfg.heads, cfg.vocab, B, L, n_params, opts.threads))

if opts.mem_steps > 0 then
  model:train()
  local rss100
  local t0 = now_ms()
  for s = 1, opts.mem_steps do
    train_step(false)
    if s == math.min(100, opts.mem_steps) then rss100 = proc_status("VmRSS") end
  end
  local rss_end = proc_status("VmRSS")
  print(string.format("memsteps %s steps=%d rss100_mb=%.1f rss_end_mb=%.1f growth_pct=%.2f peak_rss_mb=%.1f live_tensors=%d seconds=%.1f threads=%d",
    tag, opts.mem_steps, rss100 / 1024, rss_end / 1024, 100 * (rss_end - rss100) / rss100,
    proc_status("VmHWM") / 1024, hub.live_tensors(), (now_ms() - t0) / 1e3, opts.threads))
  os.exit(0)
end

local function report(mode, times, cpu)
  local lo, hi = minmax(times)
  print(string.format("result %s mode=%s median_ms=%.2f min_ms=%.2f max_ms=%.2f steps=%d threads=%d cpu_ms=%.2f",
    tag, mode, median(times), lo, hi, #times, opts.threads, median(cpu)))
  io.stdout:flush()
end

local train_loss
if opts.mode ~= "infer" then
  model:train()
  for _ = 1, opts.warmup do train_step(false) end
  for k in pairs(phases) do phases[k] = {} end
  local times, cpu = {}, {}
  for s = 1, opts.steps do
    prof.on = opts.profile
    local c0, t0 = cpu_ms(), now_ms()
    train_loss = train_step(true)
    times[s], cpu[s] = now_ms() - t0, cpu_ms() - c0
  end
  prof.on = false
  report("train", times, cpu)
  for _, k in ipairs { "forward", "loss", "backward", "step", "zero_grad", "gc" } do
    print(string.format("phase %s name=%s median_ms=%.2f", tag, k, median(phases[k])))
  end
  io.write(string.format("# train loss after %d steps: %.4f\n", opts.warmup + opts.steps, train_loss:item()))
end

if opts.mode ~= "train" then
  model:eval()
  for _ = 1, opts.warmup do infer_step() end
  local times, cpu = {}, {}
  for s = 1, opts.steps do
    local c0, t0 = cpu_ms(), now_ms()
    infer_step()
    times[s], cpu[s] = now_ms() - t0, cpu_ms() - c0
  end
  report("infer", times, cpu)
end

local ms = hub.memory_stats()
print(string.format("memory %s peak_rss_mb=%.1f rss_mb=%.1f params=%d alloc_peak_mb=%.1f alloc_live_mb=%.1f alloc_cached_mb=%.1f",
  tag, proc_status("VmHWM") / 1024, proc_status("VmRSS") / 1024, n_params, ms.peak_bytes / 2 ^ 20,
  ms.live_bytes / 2 ^ 20, ms.cached_bytes / 2 ^ 20))

if opts.profile and opts.mode ~= "infer" then
  local total = 0
  local rows = {}
  for k, e in pairs(prof.ops) do rows[#rows + 1] = { k, e.ms / opts.steps, e.n / opts.steps }; total = total + e.ms end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  print(string.format("# profile (per training step, mean of %d timed steps; forward ops timed in Lua, outermost op only)", opts.steps))
  local fwd = median(phases.forward)
  print(string.format("#   forward %.1f ms (ops below %.1f ms; the rest is Lua module code)", fwd, total / opts.steps))
  for _, r in ipairs(rows) do
    if r[2] >= 0.05 then print(string.format("#     %-16s %8.2f ms  %5.1f calls", r[1], r[2], r[3])) end
  end
  for _, k in ipairs { "loss", "backward", "step", "zero_grad", "gc" } do
    print(string.format("#   %-10s %8.2f ms", k, median(phases[k])))
  end
end
