-- curve_dump.lua N OUT CACHE VOCAB CORPUS: the first N training batches (32 sequences, single-token
-- masking, epoch 0 of seed 1) exactly as hub.pretrain makes them, into OUT (safetensors), for
-- curve_hub.lua and curve_torch.py (bench/pretrain/curve.sh)
local hub = require "hub"
local data = require "hub.pretrain.data"
local masking = require "hub.pretrain.masking"
local N, B = tonumber(arg[1]), 32
local tk = hub.tokenizer.wordpiece { vocab = arg[4], lower = true }
local s = data.prepare { corpus = arg[5], tokenizer = tk, max_seq_len = 128,
  cache = arg[3], progress = false,
  lac = { tag_chars = function(_, texts, opts) return hub.lac.load():tag_chars(texts, opts) end } }
local special = {}
for _, t in ipairs { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" } do special[#special + 1] = tk:token_to_id(t) end
local fn = 0
for _, id in ipairs(special) do fn = math.max(fn, id + 1) end
local mo = { seed = 1, epoch = 0, vocab_size = tk.vocab_size, mask_id = special[5], special_ids = special, first_normal = fn, ratio = 0.15, basic = true }
local order = masking.epoch_order(s.n, 1, 0)
local out = {}
for k = 1, N do
  local idx = {}
  for i = (k - 1) * B + 1, k * B do idx[#idx + 1] = order[i] end
  local b = masking.batch(s, idx, mo)
  out[("b%d.input_ids"):format(k)] = b.input_ids
  out[("b%d.attention_mask"):format(k)] = b.attention_mask
  out[("b%d.positions"):format(k)] = b.positions
  out[("b%d.labels"):format(k)] = b.labels
end
hub.save(arg[2], out)
