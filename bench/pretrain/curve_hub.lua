-- curve_hub.lua N LR BATCHES THREADS: trains ernie-tiny-zh's network from BERT's init on the dumped
-- batches (AdamW, no decay on biases and LayerNorm, linear warm-up over 10% then decay, clip 1.0,
-- dropout 0.1) and prints the masked-LM loss and accuracy every 20 steps (bench/pretrain/curve.sh)
local hub = require "hub"
local ernie = require "hub.models.ernie"
hub.set_num_threads(tonumber(arg[4] or 2))
local N = tonumber(arg[1] or 300)
local lr = tonumber(arg[2] or 1e-3)
local b = hub.load(arg[3])
hub.manual_seed(1)
local cfg = { vocab_size = 10000, hidden_size = 312, num_hidden_layers = 4, num_attention_heads = 12, intermediate_size = 1248,
  max_position_embeddings = 512, type_vocab_size = 2, hidden_act = "gelu", mlm_head = true, pad_token_id = 0 }
local model = ernie.init_weights(ernie.new(cfg))
model:train()
local opt = hub.optim.AdamW(model, { lr = lr, weight_decay = 0.01, no_decay = { "bias", "norm" },
  schedule = hub.lr.linear { warmup = 0.1, total = N } })
local sl, sa, sn = 0, 0, 0
local t0 = os.clock()
for k = 1, N do
  local ids, m = b[("b%d.input_ids"):format(k)], b[("b%d.attention_mask"):format(k)]
  local pos, lab = b[("b%d.positions"):format(k)], b[("b%d.labels"):format(k)]
  local out = model:forward { input_ids = ids, attention_mask = m }
  local logits = model:mlm_logits(out.sequence_output, pos)
  local loss = hub.cross_entropy(logits, lab)
  opt:zero_grad(); loss:backward(); hub.optim.clip_grad_norm(model, 1.0); opt:step()
  local p, l = hub.no_grad(function() return logits:argmax(-1) end):totable(), lab:totable()
  for i = 1, #l do if p[i] == l[i] then sa = sa + 1 end end
  sl, sn = sl + loss:item() * #l, sn + #l
  if k % 20 == 0 then print(string.format("hub step %d loss %.4f acc %.4f  cpu %.0fs", k, sl / sn, sa / sn, os.clock() - t0)); io.stdout:flush(); sl, sa, sn = 0, 0, 0 end
end
