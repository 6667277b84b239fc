-- bench/pretrain/pretrain_step.lua: one masked-LM pretraining step of ernie-tiny-zh's shape in
-- hubrun, timed; pretrain_step_torch.py is the PyTorch twin (run both with bench/pretrain/run.sh).
--
--   build/hubrun bench/pretrain/pretrain_step.lua [--steps N] [--warmup W] [--threads T] [--batch B]
--
-- The model is recipes/ernie_pretrain.lua's: 4 layers, hidden 312, 12 heads, feed-forward 1248,
-- vocabulary 10000, the masked-LM head (decoder tied to the word embeddings), dropout 0.1,
-- BERT's initialisation.  One fixed batch of B (32) random sequences of 128 tokens with 15%
-- of the positions (chosen once) to predict.  A step = forward (train mode) + the head at the
-- masked positions + cross-entropy + backward + clip_grad_norm(1.0) + AdamW(5e-4, decay 0.01,
-- no decay on biases and LayerNorm) + zero_grad.  Prints
--   result impl=hub median_ms=.. min_ms=.. max_ms=.. steps=N threads=T tokens_per_s=..
local hub = require "hub"
local o = { steps = 10, warmup = 3, threads = 2, batch = 32 }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-(%w+)$")
  if arg[i] == "-h" or arg[i] == "--help" then print("usage: hubrun bench/pretrain/pretrain_step.lua [--steps N] [--warmup W] [--threads T] [--batch B]") os.exit(0) end
  if not k or o[k] == nil or not tonumber(arg[i + 1]) then error("bad option " .. arg[i] .. " (see --help)", 0) end
  o[k] = tonumber(arg[i + 1]); i = i + 2
end
hub.set_num_threads(o.threads)
hub.manual_seed(1234)
local V, L, B = 10000, 128, o.batch
local e = hub.models.ernie
local model = e.init_weights(e.new { vocab_size = V, hidden_size = 312, num_hidden_layers = 4, num_attention_heads = 12,
  intermediate_size = 1248, mlm_head = true })
model:train()
local opt = hub.optim.AdamW(model, { lr = 5e-4, weight_decay = 0.01, no_decay = { "bias", "norm" } })
local ids = hub.randint(5, V, { B, L })
local mask = hub.ones({ B, L }, "i64")
local M = math.floor(B * L * 0.15)
local perm = {}
for k = 0, B * L - 1 do perm[k + 1] = k end
local r = hub.rand({ B * L }):totable()
table.sort(perm, function(a, b) return r[a + 1] < r[b + 1] end)
local pos = {}
for k = 1, M do pos[k] = perm[k] end
table.sort(pos)
local positions = hub.tensor(pos, "i64")
local labels = hub.randint(5, V, { M })
local function now() return tonumber(hub.C.hub_os_time()) * 1000 end
local function step()
  local out = model:forward { input_ids = ids, attention_mask = mask }
  local loss = hub.cross_entropy(model:mlm_logits(out.sequence_output, positions), labels)
  loss:backward()
  hub.optim.clip_grad_norm(model, 1.0)
  opt:step()
  opt:zero_grad()
  return loss:item()
end
for _ = 1, o.warmup do step() end
local t = {}
for k = 1, o.steps do
  local t0 = now()
  step()
  t[k] = now() - t0
end
table.sort(t)
local med = t[math.floor((#t + 1) / 2)]
print(string.format("result impl=hub median_ms=%.1f min_ms=%.1f max_ms=%.1f steps=%d threads=%d tokens_per_s=%.0f masked=%d",
  med, t[1], t[#t], o.steps, o.threads, B * L / med * 1000, M))
