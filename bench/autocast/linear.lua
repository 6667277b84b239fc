-- bench/autocast/linear.lua: one linear layer x w^T + b in f32 and under hub.autocast("bf16") on
-- the CPU (oneDNN), median of N calls after 2 warm-ups, at BERT-base shapes.
--
--   build/hubrun bench/autocast/linear.lua [--threads 2] [--iters 10] [--train 0|1]
--
-- Prints "linear M=.. K=.. N=.. f32_ms=.. bf16_ms=.. speed=.." (speed = f32 / bf16 time).  With
-- --train 1 it times a training step of BERT-base's feed-forward block instead (x [M, 768] ->
-- linear 3072 -> GELU -> linear 768 -> sum of squares, backward into both layers' weights and
-- biases and into x): "ffn_step M=.. f32_ms=.. bf16_ms=.. speed=..".  The PyTorch side is
-- linear_torch.py; run.sh runs both and prints the ratios.
local hub = require "hub"
local here = arg[0]:match("^(.*)/autocast/[^/]*$") or "bench"
local BL = dofile(here .. "/lib/bench.lua")
local args = BL.args({ threads = 2, iters = 10, train = 0 }, "usage: linear.lua [--threads 2] [--iters 10] [--train 0|1]")
hub.set_num_threads(tonumber(args.threads))
-- the median time of f under hub.autocast(mode), ms
local function median(mode, f)
  return (BL.time_synced(function() hub.autocast(mode, f) end, tonumber(args.iters), function() end))
end
local function linear_median(M, K, N, mode)
  local x, w, b = hub.randn(M, K), hub.randn(N, K), hub.randn(N)
  return median(mode, function() return hub.linear(x, w, b) end)
end
local function step_median(M, mode)
  hub.manual_seed(1)
  local l1, l2 = hub.nn.Linear(768, 3072), hub.nn.Linear(3072, 768)
  local x = hub.randn(M, 768):requires_grad()
  return median(mode, function()
    local y = l2(l1(x):gelu())
    y:mul(y):sum():backward()
    l1:zero_grad(); l2:zero_grad(); x:zero_grad()
  end)
end
if tonumber(args.train) == 1 then
  for _, M in ipairs { 512, 2048 } do
    local a, b = step_median(M, "f32"), step_median(M, "bf16")
    print(string.format("ffn_step M=%d f32_ms=%.2f bf16_ms=%.2f speed=%.2f", M, a, b, a / b))
  end
  return
end
for _, s in ipairs { { 128, 768, 3072 }, { 1024, 768, 3072 }, { 4096, 768, 3072 }, { 4096, 3072, 768 } } do
  local a, b = linear_median(s[1], s[2], s[3], "f32"), linear_median(s[1], s[2], s[3], "bf16")
  print(string.format("linear M=%d K=%d N=%d f32_ms=%.2f bf16_ms=%.2f speed=%.2f", s[1], s[2], s[3], a, b, a / b))
end
