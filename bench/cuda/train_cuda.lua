-- bench/cuda/train_cuda.lua: a BERT-base classifier's training step on the GPU (hubrun), timed
-- with hub.cuda.synchronize() around each step: forward in training mode (dropout 0.1) +
-- cross_entropy + backward + AdamW step + zero_grad, the model of bench/lib/bench.lua (BERT as
-- Hugging Face builds it, BERT's initialisation) on cuda, random ids and labels.
--
--   build-cuda/hubrun bench/cuda/train_cuda.lua [--batches 32,128] [--seq 128] [--iters 10]
--       [--layers 12] [--hidden 768] [--heads 12] [--vocab 21128] [--modes f32,tf32,bf16]
--
-- Modes: f32; tf32 (hub.cuda.set_tf32); bf16 (hub.autocast: bf16 products, f32 weights and
-- optimiser).  Lines: "train mode=M batch=B seq=L layers=N median_ms=.. min_ms=.. peak_bytes=..".
-- bench/cuda/train_torch.py is the PyTorch twin ("torch_train" lines).  Without a GPU it prints
-- "skipped: no GPU (...)".
local hub = require "hub"
local here = (arg[0]:match("^(.*)/cuda/[^/]*$") or "bench")
local BL = dofile(here .. "/lib/bench.lua")
local args = BL.args({ batches = "32,128", seq = 128, iters = 10, layers = 12, hidden = 768, heads = 12, vocab = 21128,
                       modes = "f32,tf32,bf16" },
  "usage: train_cuda.lua [--batches 32,128] [--seq 128] [--iters 10] [--layers 12] [--hidden 768] [--heads 12] [--vocab 21128] [--modes f32,tf32,bf16]")
local cuda = require "hub.cuda"
if not cuda.is_available() then
  print("skipped: no GPU (" .. cuda.unavailable_reason() .. ")")
  os.exit(0)
end

local L, V = tonumber(args.seq), tonumber(args.vocab)
for bs in tostring(args.batches):gmatch("%d+") do
  local B = tonumber(bs)
  for mode in tostring(args.modes):gmatch("[%w]+") do
    hub.manual_seed(1)
    local model = BL.bert_init(BL.Bert { vocab = V, hidden = tonumber(args.hidden), heads = tonumber(args.heads),
                                         layers = tonumber(args.layers), dropout = 0.1, classes = 2 })
    model:to("cuda")
    model:train()
    local opt = hub.optim.AdamW(model, { lr = 5e-5, weight_decay = 0.01, betas = { 0.9, 0.999 }, eps = 1e-8 })
    local ids, labels = hub.randint(0, V, { B, L }):cuda(), hub.randint(0, 2, { B }):cuda()
    local tt, pos, mask = hub.zeros({ B, L }, "i64"):cuda(), hub.arange(L):cuda(), hub.ones({ B, L }):cuda()
    local prev_tf32 = cuda.set_tf32(mode == "tf32")
    local prev_ac = hub.set_autocast(mode == "bf16" and "bf16" or "f32")
    local med, min = BL.time_synced(function()
      local loss = hub.cross_entropy(model(ids, tt, pos, mask), labels)
      loss:backward()
      opt:step()
      opt:zero_grad()
    end, tonumber(args.iters), cuda.synchronize)
    hub.set_autocast(prev_ac)
    cuda.set_tf32(prev_tf32)
    print(string.format("train mode=%s batch=%d seq=%d layers=%d median_ms=%.3f min_ms=%.3f peak_bytes=%d", mode, B, L,
      tonumber(args.layers), med, min, cuda.memory_stats().peak_bytes))
    model, opt = nil, nil
    collectgarbage()
    cuda.empty_cache()
  end
end
