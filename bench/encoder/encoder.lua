-- bench/encoder/encoder.lua: BERT-base-shaped encoder inference in hubrun, timed; the PyTorch and
-- ONNX Runtime twins are in encoder_ref.py (same model, shapes and inputs).
--
--   build/hubrun bench/encoder/encoder.lua [--batch B] [--seq L] [--threads T] [--iters N]
--       [--warmup W] [--clock wall|cpu] [--layers N] [--jit on|off] [--profile] [--sgemm] [--seed S]
--
-- --jit on|off turns LuaJIT's compiler on or off for the whole run (jit.on() / jit.off() +
-- jit.flush()); without it hubrun's default applies (lua/hub/init.lua: on since 787e487, with
-- the tensor operator metamethods excluded; off before it unless HUB_JIT=1).
--
-- The model (random weights, BERT's initialisation: every Linear and Embedding weight N(0, 0.02),
-- biases zero, LayerNorm weight one and bias zero; LayerNorm eps 1e-12):
--   embeddings  word [21128, 768] + position [512, 768] + token type [2, 768], summed, LayerNorm
--   encoder     12 post-LN nn.TransformerEncoderLayers (768 hidden, 12 heads, FFN 3072, GELU)
--   pooler      tanh(Linear(768, 768)) of token 0
-- run in eval mode under hub.no_grad with an all-ones attention mask, zero token types and random
-- token ids from hub.manual_seed(seed).  The output is the sequence output and the pooled output.
--
-- W warm-up forwards (default 3), then N timed forwards (default 10); the median, min and max.
-- --clock wall (default) times with CLOCK_MONOTONIC; --clock cpu with the process's CPU time
-- divided by the thread count (time spent descheduled by other load does not count; use it with
-- OMP_WAIT_POLICY=passive, or threads spinning at barriers count as working).  Both are printed;
-- median_ms is the one --clock chose.
--
-- GFLOP per forward counts the multiply-adds of the GEMMs as 2 flops: per layer the QKV
-- projection 2*T*768*2304, the attention output 2*T*768*768, the FFN 2*2*T*768*3072 (T = B*L) and
-- the attention itself 2*2*B*L*L*768 (q k^T and p v); the pooler 2*B*768*768.  Softmax, GELU,
-- LayerNorm, adds and the embedding gather are not counted.
--
-- --sgemm also times raw dnnl_sgemm('N', 'T') (oneDNN, called through the FFI from the library
-- hubrun links) at each of the model's four linear shapes [T, K] x [N, K]^T for the same B*L and
-- threads, and prints the GEMM-only floor: the time the 48 linear GEMMs of the encoder would take
-- at sgemm speed, and the sgemm GFLOP/s over those shapes (total flops / total time), the "peak"
-- that hub's GFLOP/s is compared with.
--
-- --profile wraps hub's ops (methods, functions and tensor operators) with timers for the timed
-- forwards and prints where the time goes per op (outermost op only; the remainder is Lua module
-- code), beside the sgemm floor of the linear ops when --sgemm is also given.
--
-- Output: machine-readable lines (key=value after the first word), then readable '#' lines:
--   result impl=hub batch=B seq=L median_ms=.. min_ms=.. max_ms=.. wall_ms=.. cpu_ms=.. iters=N
--          threads=T gflop=.. gflops=.. jit=on|off
--   sgemm batch=B seq=L floor_ms=.. gflops=.. shape_T_N_K=..ms ...
local hub = require "hub"
local ffi = require "ffi"
local nn = hub.nn

-- ---- options ----
local opts = { batch = 1, seq = 128, threads = 2, iters = 10, warmup = 3, clock = "wall", layers = 12,
               profile = false, sgemm = false, seed = 1234 }
do
  local env = tonumber(os.getenv("HUB_THREADS") or "")
  if env and env > 0 then opts.threads = env end
  local i = 1
  local function val() i = i + 1; if arg[i] == nil then error("missing value for " .. arg[i - 1], 0) end return arg[i] end
  while i <= #arg do
    local a = arg[i]
    if a == "--batch" then opts.batch = tonumber(val())
    elseif a == "--seq" then opts.seq = tonumber(val())
    elseif a == "--threads" then opts.threads = tonumber(val())
    elseif a == "--iters" then opts.iters = tonumber(val())
    elseif a == "--warmup" then opts.warmup = tonumber(val())
    elseif a == "--clock" then opts.clock = val()
    elseif a == "--layers" then opts.layers = tonumber(val())
    elseif a == "--seed" then opts.seed = tonumber(val())
    elseif a == "--jit" then opts.jit = val()
    elseif a == "--profile" then opts.profile = true
    elseif a == "--sgemm" then opts.sgemm = true
    elseif a == "-h" or a == "--help" then
      print("usage: hubrun bench/encoder/encoder.lua [--batch B] [--seq L] [--threads T] [--iters N] [--warmup W] [--clock wall|cpu] [--layers N] [--jit on|off] [--profile] [--sgemm] [--seed S]")
      os.exit(0)
    else
      io.stderr:write("encoder.lua: unknown option " .. tostring(a) .. "\n"); os.exit(2)
    end
    i = i + 1
  end
end
if opts.jit == "off" then jit.off(); jit.flush()
elseif opts.jit == "on" then jit.on()
elseif opts.jit ~= nil then io.stderr:write("encoder.lua: --jit must be on or off\n"); os.exit(2) end
if opts.clock ~= "wall" and opts.clock ~= "cpu" then
  io.stderr:write("encoder.lua: --clock must be wall or cpu\n"); os.exit(2)
end

local HIDDEN, HEADS, FFN, VOCAB, MAX_POS = 768, 12, 3072, 21128, 512
local B, L, NL = opts.batch, opts.seq, opts.layers
if L > MAX_POS then io.stderr:write("encoder.lua: --seq is at most 512\n"); os.exit(2) end

hub.set_num_threads(opts.threads)
hub.manual_seed(opts.seed)

-- ---- clocks (bench/lib/bench.lua) ----
local bench_dir = (arg and arg[0] or "bench/encoder/encoder.lua"):match("^(.*)/encoder/[^/]*$") or "bench"
local BL = dofile(bench_dir .. "/lib/bench.lua")
local now_ms, cpu_ms, median, minmax = BL.now_ms, BL.cpu_ms, BL.median, BL.minmax

-- ---- model (bench/lib/bench.lua: BERT without a classifier, BERT's initialisation) ----
local model = BL.bert_init(BL.Bert { vocab = VOCAB, hidden = HIDDEN, heads = HEADS, layers = NL, ffn = FFN, dropout = 0.1 })
model:eval()
local n_params = model:num_parameters()

local ids = hub.randint(0, VOCAB, { B, L })
local token_types = hub.zeros({ B, L }, "i64")
local positions = hub.arange(L)
local mask = hub.ones({ B, L })

local T = B * L
local LINEARS = { -- name, N (out), K (in), per layer
  { "qkv", 3 * HIDDEN, HIDDEN }, { "attn_out", HIDDEN, HIDDEN }, { "ffn1", FFN, HIDDEN }, { "ffn2", HIDDEN, FFN },
}
local gemm_flop = 0
for _, s in ipairs(LINEARS) do gemm_flop = gemm_flop + 2 * T * s[2] * s[3] end
local attn_flop = 4 * B * L * L * HIDDEN
local gflop = (NL * (gemm_flop + attn_flop) + 2 * B * HIDDEN * HIDDEN) / 1e9

-- ---- profiling hooks (bench/lib/bench.lua) ----
local function clk() -- the chosen clock, per thread for cpu
  if opts.clock == "cpu" then return cpu_ms() / opts.threads end
  return now_ms()
end
local prof = { on = false, ops = {} }
if opts.profile then prof = BL.profiler(clk) end

-- ---- raw sgemm at the model's linear shapes ----
local sgemm_res
if opts.sgemm then
  pcall(ffi.cdef, [[
    int dnnl_sgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
    void *malloc(size_t); void free(void *);
  ]])
  local ok, err = pcall(function()
    local function buf(n, v)
      local p = ffi.cast("float *", ffi.C.malloc(n * 4))
      for i = 0, n - 1 do p[i] = v * ((i % 7) - 3) end
      return p
    end
    sgemm_res = { floor_ms = 0, shapes = {} }
    local total_t, total_f = 0, 0
    for _, s in ipairs(LINEARS) do
      local N, K = s[2], s[3]
      local A, W, C = buf(T * K, 0.01), buf(N * K, 0.02), buf(T * N, 0)
      local reps = math.max(5, math.min(30, math.floor(2e10 / (2 * T * N * K))))
      local ts_ = {}
      for r = 1, reps + 2 do
        local t0 = (opts.clock == "cpu") and cpu_ms() or now_ms()
        local st = ffi.C.dnnl_sgemm(78, 84, T, N, K, 1.0, A, K, W, K, 0.0, C, N) -- 'N', 'T'
        local t1 = (opts.clock == "cpu") and cpu_ms() or now_ms()
        if st ~= 0 then error("dnnl_sgemm status " .. st) end
        if r > 2 then ts_[#ts_ + 1] = (opts.clock == "cpu") and (t1 - t0) / opts.threads or (t1 - t0) end
      end
      ffi.C.free(A); ffi.C.free(W); ffi.C.free(C)
      local m = median(ts_)
      sgemm_res.shapes[#sgemm_res.shapes + 1] = { s[1], N, K, m }
      total_t, total_f = total_t + m, total_f + 2 * T * N * K
    end
    sgemm_res.floor_ms = NL * total_t
    sgemm_res.gflops = total_f / total_t / 1e6
  end)
  if not ok then io.stderr:write("encoder.lua: sgemm timing failed: " .. tostring(err) .. "\n"); sgemm_res = nil end
end

-- ---- timing ----
local function forward()
  return hub.no_grad(function() return model(ids, token_types, positions, mask) end)
end

local jit_on = jit.status() and "on" or "off"
io.write(string.format("# hub %s: BERT-base encoder, %d layers, hidden %d, %d heads, FFN %d, vocab %d, batch %d, seq %d, %d parameters, %d threads, JIT %s, clock %s\n",
  hub.version, NL, HIDDEN, HEADS, FFN, VOCAB, B, L, n_params, opts.threads, jit_on, opts.clock))

local seq_out, pooled
for _ = 1, opts.warmup do seq_out, pooled = forward() end
local wall, cpu = {}, {}
for s = 1, opts.iters do
  seq_out, pooled = nil, nil
  prof.on = opts.profile
  local c0, t0 = cpu_ms(), now_ms()
  seq_out, pooled = forward()
  wall[s], cpu[s] = now_ms() - t0, (cpu_ms() - c0) / opts.threads
  prof.on = false
end
local times = opts.clock == "cpu" and cpu or wall
local med = median(times)
local lo, hi = minmax(times)
print(string.format("result impl=hub batch=%d seq=%d median_ms=%.2f min_ms=%.2f max_ms=%.2f wall_ms=%.2f cpu_ms=%.2f iters=%d threads=%d gflop=%.3f gflops=%.1f jit=%s clock=%s",
  B, L, med, lo, hi, median(wall), median(cpu), opts.iters, opts.threads, gflop, gflop / med * 1e3, jit_on, opts.clock))
if sgemm_res then
  local parts = {}
  for _, s in ipairs(sgemm_res.shapes) do parts[#parts + 1] = string.format("%s_%dx%dx%d=%.3fms", s[1], T, s[2], s[3], s[4]) end
  print(string.format("sgemm batch=%d seq=%d floor_ms=%.2f gflops=%.1f %s", B, L, sgemm_res.floor_ms, sgemm_res.gflops,
    table.concat(parts, " ")))
  print(string.format("# hub reaches %.1f%% of sgemm GFLOP/s (%.1f of %.1f); the %d linear GEMMs alone take %.1f ms at sgemm speed (%.0f%% of hub's time)",
    100 * (gflop / med * 1e3) / sgemm_res.gflops, gflop / med * 1e3, sgemm_res.gflops, 4 * NL, sgemm_res.floor_ms,
    100 * sgemm_res.floor_ms / med))
end
do
  local p3 = pooled:select(1, 1):narrow(1, 1, 3):totable()
  io.write(string.format("# checksum: sequence output mean %.6f, pooled[1][1..3] %.5f %.5f %.5f\n", seq_out:mean():item(),
    p3[1], p3[2], p3[3]))
end

if opts.profile then
  local total = 0
  local rows = {}
  for k, e in pairs(prof.ops) do rows[#rows + 1] = { k, e.ms / opts.iters, e.n / opts.iters }; total = total + e.ms end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  local fwd = median(times)
  print(string.format("# profile (" .. opts.clock .. " ms per forward, mean of %d timed forwards; ops timed in Lua, outermost op only)", opts.iters))
  print(string.format("#   forward %.1f ms: ops %.1f ms, the rest (Lua module code, no_grad, GC) %.1f ms", fwd, total / opts.iters, fwd - total / opts.iters))
  for _, r in ipairs(rows) do
    if r[2] >= 0.05 then
      print(string.format("#     %-16s %8.2f ms  %5.1f%%  %5.1f calls", r[1], r[2], 100 * r[2] / fwd, r[3]))
    end
  end
  if sgemm_res then
    local lin = ((prof.ops.linear and prof.ops.linear.ms or 0) + (prof.ops.linear_act and prof.ops.linear_act.ms or 0)) / opts.iters
    print(string.format("#   linear (+ linear_act) ops %.1f ms vs the sgemm floor of the encoder's linears %.1f ms (+ pooler): %.0f%% of sgemm speed",
      lin, sgemm_res.floor_ms, lin > 0 and 100 * sgemm_res.floor_ms / lin or 0))
  end
end
