-- bench/autocast/linear.lua: one linear layer x w^T + b in f32 and under hub.autocast("bf16") on
-- the CPU (oneDNN), median of N calls after 3 warm-ups, at BERT-base shapes.
--
--   build/hubrun bench/autocast/linear.lua [--threads 2] [--iters 10]
--
-- Prints "linear M=.. K=.. N=.. f32_ms=.. bf16_ms=.. speed=.." (speed = f32 / bf16 time).  The
-- PyTorch column (torch.autocast("cpu", dtype=torch.bfloat16)) is not written yet.
local hub = require "hub"
local C = require("hub.core").C
local args = { threads = 2, iters = 10 }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-(.+)$")
  if not k or args[k] == nil then error("usage: linear.lua [--threads 2] [--iters 10]", 0) end
  args[k] = tonumber(arg[i + 1])
  i = i + 2
end
hub.set_num_threads(args.threads)
local function median(M, K, N, mode)
  local x, w, b = hub.randn(M, K), hub.randn(N, K), hub.randn(N)
  local f = function() return hub.linear(x, w, b) end
  for _ = 1, 3 do hub.autocast(mode, f) end
  local ts = {}
  for _ = 1, args.iters do
    local t0 = C.hub_os_monotonic()
    hub.autocast(mode, f)
    ts[#ts + 1] = C.hub_os_monotonic() - t0
  end
  table.sort(ts)
  return ts[math.floor((#ts + 1) / 2)] * 1e3
end
for _, s in ipairs { { 128, 768, 3072 }, { 1024, 768, 3072 }, { 4096, 768, 3072 }, { 4096, 3072, 768 } } do
  local a, b = median(s[1], s[2], s[3], "f32"), median(s[1], s[2], s[3], "bf16")
  print(string.format("linear M=%d K=%d N=%d f32_ms=%.2f bf16_ms=%.2f speed=%.2f", s[1], s[2], s[3], a, b, a / b))
end
