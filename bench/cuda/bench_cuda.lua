-- bench/cuda/bench_cuda.lua: hubrun on the CUDA device - GEMM throughput and a BERT-base-shaped
-- encoder forward (inference), timed with hub.cuda.synchronize() around each run.
--
--   build-cuda/hubrun bench/cuda/bench_cuda.lua [--batches 1,8] [--seq 128] [--iters 20] [--layers 12]
--                                               [--modes f32,tf32,bf16] [--graph 1] [--gemm 4096 (0: none)]
--
-- The encoder is built from hub's ops on device tensors (random weights N(0, 0.02), biases 0,
-- LayerNorm 1/0): embedding gather of random ids + position rows, LayerNorm, then per layer the
-- packed QKV linear, hub.attention_qkv (12 heads, all-ones mask), the output linear, residual +
-- LayerNorm, FFN 768 -> 3072 (GELU) -> 768, residual + LayerNorm; pooler tanh(linear) of token 0.
-- GEMM lines: [M, K] x [K, N] at 4096^3 in f32, f32 with TF32, f16 and bf16 (hub_cuda_gemm, f32
-- accumulation).  The encoder runs in each mode of --modes: f32, tf32 (hub.cuda.set_tf32) and bf16
-- (hub.autocast: bf16 operands, f32 accumulation; the weight matrices stored in bf16), op by op ("encoder") and, with --graph 1, as a
-- captured CUDA graph replayed ("encoder_graph": hub.cuda.graph, no launch overhead).
-- Output lines are "key=value" after the first word, like the other benches.
-- Without a GPU it prints "skipped: no GPU (...)" and exits 0.
local hub = require "hub"
local ffi = require "ffi"
local C = require("hub.core").C

local BL = dofile((arg[0]:match("^(.*)/cuda/[^/]*$") or "bench") .. "/lib/bench.lua")
local args = BL.args({ batches = "1,8", seq = 128, iters = 20, layers = 12, modes = "f32,tf32,bf16", graph = 1, gemm = 4096 },
  "usage: bench_cuda.lua [--batches 1,8] [--seq 128] [--iters 20] [--layers 12] [--modes f32,tf32,bf16] [--graph 1] [--gemm 4096]")

local cuda = require "hub.cuda"
if not cuda.is_available() then
  print("skipped: no GPU (" .. cuda.unavailable_reason() .. ")")
  os.exit(0)
end
print(string.format("# device %s", cuda.device_name(1)))

local function time_it(fn, iters) return BL.time_synced(fn, iters, cuda.synchronize) end

-- GEMM throughput
local n = tonumber(args.gemm)
for _, mode in ipairs(n > 0 and { "f32", "tf32", "f16", "bf16" } or {}) do
  local dt = mode == "tf32" and "f32" or mode
  local a = hub.randn(1, n, n):to(dt):cuda()
  local b = hub.randn(1, n, n):to(dt):cuda()
  local c = hub.zeros(1, n, n):cuda()
  local prev = cuda.set_tf32(mode == "tf32")
  local med = time_it(function()
    if C.hub_cuda_gemm(a, b, c) ~= 0 then error(ffi.string(C.hub_last_error()), 0) end
  end, args.iters)
  cuda.set_tf32(prev)
  print(string.format("gemm dtype=%s M=%d N=%d K=%d median_ms=%.3f tflops=%.1f", mode, n, n, n, med, 2 * n ^ 3 / med / 1e9))
end

-- BERT-base-shaped encoder forward
local D, H, F, V, L = 768, 12, 3072, 21128, tonumber(args.seq)
local function w(...) return (hub.randn(...) * 0.02):cuda() end
local function z(...) return hub.zeros(...):cuda() end
local function o(...) return hub.ones(...):cuda() end
local word, pos = w(V, D), w(512, D)
local layers = {}
for l = 1, tonumber(args.layers) do
  layers[l] = { qkv = w(3 * D, D), qkv_b = z(3 * D), out = w(D, D), out_b = z(D), ln1 = o(D), ln1_b = z(D),
                f1 = w(F, D), f1_b = z(F), f2 = w(D, F), f2_b = z(D), ln2 = o(D), ln2_b = z(D) }
end
local ln0, ln0_b, pool, pool_b = o(D), z(D), w(D, D), z(D)
-- bf16 mode: the matrices stored in bf16 (as PyTorch's bf16 inference runs), biases and norms f32
local function half_weights(ls)
  local out = {}
  for l, p in ipairs(ls) do
    local q = {}
    for k, t in pairs(p) do q[k] = (k == "qkv" or k == "out" or k == "f1" or k == "f2") and t:to("bf16") or t end
    out[l] = q
  end
  return out
end
local layers16, pool16 = nil, nil
for bs in tostring(args.batches):gmatch("%d+") do
  local B = tonumber(bs)
  local ids = hub.randint(0, V, { B * L }):cuda()
  local pids = hub.arange(0, L):to("i64"):cuda()
  local ls, pw = layers, pool
  local body = function()
    local x = hub.embedding(word, ids):reshape(B, L, D) + hub.embedding(pos, pids)
    x = x:layer_norm(D, ln0, ln0_b, 1e-12)
    for _, p in ipairs(ls) do
      local ctx = hub.attention_qkv(x:linear(p.qkv, p.qkv_b), H, nil)
      x = x:add_layer_norm(ctx:linear(p.out, p.out_b), D, p.ln1, p.ln1_b, 1e-12)
      local f = x:linear_act(p.f1, p.f1_b, "gelu"):linear(p.f2, p.f2_b)
      x = x:add_layer_norm(f, D, p.ln2, p.ln2_b, 1e-12)
    end
    return x, x:narrow(2, 1, 1):reshape(B, D):linear_act(pw, pool_b, "tanh")
  end
  for mode in tostring(args.modes):gmatch("[%w]+") do
    local prev_tf32 = cuda.set_tf32(mode == "tf32")
    local prev_ac = hub.set_autocast(mode == "bf16" and "bf16" or "f32")
    if mode == "bf16" then
      if not layers16 then layers16, pool16 = half_weights(layers), pool:to("bf16") end
      ls, pw = layers16, pool16
    else
      ls, pw = layers, pool
    end
    local med, min = time_it(function() return hub.no_grad(body) end, tonumber(args.iters))
    local stats = cuda.memory_stats()
    print(string.format("encoder mode=%s batch=%d seq=%d layers=%d median_ms=%.3f min_ms=%.3f peak_bytes=%d", mode, B, L,
      tonumber(args.layers), med, min, stats.peak_bytes))
    if tonumber(args.graph) == 1 then
      local ok, g = pcall(cuda.graph, body)
      if ok then
        local gmed, gmin = time_it(function() g:replay() end, tonumber(args.iters))
        print(string.format("encoder_graph mode=%s batch=%d seq=%d layers=%d median_ms=%.3f min_ms=%.3f", mode, B, L,
          tonumber(args.layers), gmed, gmin))
        g:free()
      else
        print(string.format("encoder_graph mode=%s batch=%d failed: %s", mode, B, tostring(g)))
      end
    end
    hub.set_autocast(prev_ac)
    cuda.set_tf32(prev_tf32)
  end
end
