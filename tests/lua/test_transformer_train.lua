-- test_transformer_train.lua: a 2-layer TransformerEncoder learns to reverse sequences, which
-- only works if gradients reach the queries, keys and values through attention (each output
-- position must copy the token at the mirrored position; only attention mixes positions, and
-- position information comes from a learned position embedding).
--
-- Model: token embedding + position embedding -> 2 encoder layers (d_model 32, 4 heads, d_ff 64,
-- dropout 0) -> Linear to the 8 token logits.  Training: fresh random batches of 32 sequences
-- of length 6 over a vocabulary of 8, cross-entropy over every position, a small Adam written
-- here (lr 3e-3; hub.optim is tested on its own).
--
-- Pass: token accuracy >= 0.95 on a held-out batch of 256 sequences (checked every 25 steps)
-- within MAX_STEPS = 300 steps, for post-LN (BERT) and for pre-LN with a final LayerNorm.
-- Measured on 2 cores: about 50-75 steps each (a few seconds); the cap leaves 4x headroom.
local hub = require "hub"
local nn = hub.nn

local VOCAB, LEN, D, HEADS, FF, BATCH = 8, 6, 32, 4, 64, 32
local MAX_STEPS, TARGET_ACC, LR = 300, 0.95, 3e-3

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok

local Reverser = nn.Module:extend("Reverser")
function Reverser:init(layer_opts)
  self.tok = nn.Embedding(VOCAB, D)
  self.pos = nn.Embedding(LEN, D)
  local config = { d_model = D, n_heads = HEADS, d_ff = FF, dropout = 0 }
  for k, v in pairs(layer_opts) do config[k] = v end
  self.encoder = nn.TransformerEncoder(config, 2, { final_norm = layer_opts.norm_first })
  self.head = nn.Linear(D, VOCAB)
  nn.init.normal_(self.tok.weight, 0.1)
  nn.init.normal_(self.pos.weight, 0.1)
  self.positions = hub.arange(LEN)
end
function Reverser:forward(ids)
  local x = self.tok(ids) + self.pos(self.positions)     -- [B, L, D] + [L, D]
  return self.head(self.encoder(x))                      -- [B, L, VOCAB]
end

local reverse_idx = hub.arange(LEN - 1, -1, -1)          -- 5, 4, ..., 0
local function batch(n)
  local x = hub.randint(0, VOCAB, { n, LEN })
  return x, x:index_select(2, reverse_idx)
end

local function accuracy(logits, y)
  local pred, want = logits:argmax(-1):totable(), y:totable()
  local right, total = 0, 0
  for i = 1, #want do
    for j = 1, #want[i] do
      total = total + 1
      if pred[i][j] == want[i][j] then right = right + 1 end
    end
  end
  return right / total
end

-- Adam (Kingma & Ba), out of place under no_grad, added into the parameters in place.
local function adam(params)
  local m, v, t = {}, {}, 0
  for i, p in ipairs(params) do m[i], v[i] = hub.zeros_like(p), hub.zeros_like(p) end
  local B1, B2, EPS = 0.9, 0.999, 1e-8
  return function()
    t = t + 1
    hub.no_grad(function()
      local c1, c2 = 1 - B1 ^ t, 1 - B2 ^ t
      for i, p in ipairs(params) do
        local g = p.grad
        m[i] = m[i] * B1 + g * (1 - B1)
        v[i] = v[i] * B2 + g * g * (1 - B2)
        p:add_(m[i] / ((v[i] / c2):sqrt() + EPS), -LR / c1)
        p:zero_grad()
      end
    end)
  end
end

local function train(label, layer_opts)
  hub.manual_seed(1234)
  local model = Reverser(layer_opts)
  local step_fn = adam(model:parameters())
  local test_x, test_y = batch(256)
  local t0, reached, loss_v, acc = os.time(), nil, nil, 0
  for step = 1, MAX_STEPS do
    local x, y = batch(BATCH)
    local loss = hub.cross_entropy(model(x):reshape(BATCH * LEN, VOCAB), y:reshape(BATCH * LEN))
    loss:backward()
    if step == 1 then
      -- every parameter, the attention projections included, receives a gradient
      local dead = {}
      for name, p in model:named_parameters() do
        if p.grad == nil or p.grad:abs():sum():item() == 0 then dead[#dead + 1] = name end
      end
      ok(#dead == 0, label .. ": parameters without gradient: " .. table.concat(dead, ", "))
    end
    step_fn()
    loss_v = loss:item()
    if step % 25 == 0 then
      model:eval()
      acc = hub.no_grad(function() return accuracy(model(test_x), test_y) end)
      model:train()
      print(string.format("%-6s step %4d  loss %.4f  held-out token accuracy %.3f", label, step, loss_v, acc))
      if acc >= TARGET_ACC then reached = step break end
    end
  end
  print(string.format("%s: %s after %d steps (loss %.4f, accuracy %.3f, ~%d s, %d threads)", label,
    reached and "reached" or "NOT reached", reached or MAX_STEPS, loss_v, acc, os.time() - t0, hub.get_num_threads()))
  ok(reached ~= nil, string.format("%s: token accuracy %.3f < %.2f after %d steps", label, acc, TARGET_ACC, MAX_STEPS))
end

train("post-LN", {})
train("pre-LN", { norm_first = true })

T.finish()
