-- nn.MultiHeadAttention(d_model, n_heads, {dropout = 0, bias = true}): self-attention.
--
--   y = attn(x, attention_mask)      x [B, L, d_model] -> y [B, L, d_model]
--
-- One fused projection `qkv` (a Linear [3*d_model, d_model]) makes queries, keys and values in
-- one GEMM; its rows are the query rows, then the key rows, then the value rows (each [d_model,
-- d_model], head h owning rows h*Dh .. h*Dh+Dh-1 of its block), so Hugging Face's
-- attention.self.{query,key,value}.weight concatenate along dimension 1 into qkv.weight (and
-- their biases into qkv.bias).  `out` (a Linear [d_model, d_model]) is attention.output.dense.
-- hub.attention_qkv (fused softmax(q k^T / sqrt(Dh) + mask) v per head) reads q, k and v for
-- each head in place from the projection [B, L, 3, H, Dh] and writes the context as [B, L, H*Dh]:
-- no head split or merge copies.
--
-- attention_mask is BERT's: [B, L] with 1 for tokens and 0 for padding (any dtype); it becomes
-- an additive [B, 1, 1, L] mask of 0 / -1e4, so padded keys get weight exp(-1e4) = 0 while a
-- fully padded row stays finite.  A float mask with 4 dimensions is taken as already additive
-- (broadcast to [B, H, L, L]; a causal mask, for instance).
--
-- dropout is on the attention probabilities, as in BERT and torch.nn.MultiheadAttention, in
-- training mode only.  It runs inside the fused kernel, which draws the same numbers hub.dropout
-- would draw on the [B, H, L, L] probabilities and draws them again in the backward instead of
-- keeping a mask (so it equals softmax, dropout and matmul run one after the other).
local raise = require "hub.core".raise
local hub = require "hub"
local Module = require "hub.nn.module"
local Linear = require "hub.nn.linear"

local MultiHeadAttention = Module:extend("MultiHeadAttention")

function MultiHeadAttention:init(d_model, n_heads, opts)
  Linear.positive_int(d_model, 1, "MultiHeadAttention")
  Linear.positive_int(n_heads, 2, "MultiHeadAttention")
  if d_model % n_heads ~= 0 then
    raise(string.format("MultiHeadAttention: d_model %d is not divisible by n_heads %d", d_model, n_heads))
  end
  opts = Module.check_init_options(opts, { dropout = "number", bias = "boolean" }, "MultiHeadAttention", 3)
  local p = opts.dropout or 0
  if type(p) ~= "number" or p < 0 or p >= 1 then
    raise(string.format("MultiHeadAttention: dropout must be a probability in [0, 1), got %s", tostring(p)))
  end
  self.d_model, self.n_heads, self.head_dim, self.dropout = d_model, n_heads, d_model / n_heads, p
  self.qkv = Linear(d_model, 3 * d_model, { bias = opts.bias })
  self.out = Linear(d_model, d_model, { bias = opts.bias })
end

-- The additive mask for hub.attention from a [B, L] padding mask (1 = token, 0 = pad).
function MultiHeadAttention.additive_mask(mask, B, L)
  local nd = mask:dim()
  if nd == 4 then return mask.dtype == "f32" and mask or mask:to("f32") end
  local s = mask.shape
  if nd ~= 2 or s[1] ~= B or s[2] ~= L then
    raise(string.format("MultiHeadAttention: attention_mask must be [B, L] = [%d,%d] (1 = token, 0 = pad) or a 4-d additive mask, got [%s]",
      B, L, table.concat(s, ",")))
  end
  return mask:to("f32"):sub(1):mul(1e4):reshape(B, 1, 1, L)   -- (m - 1) * 1e4
end

function MultiHeadAttention:forward(x, attention_mask)
  local s = x.shape
  if #s ~= 3 or s[3] ~= self.d_model then
    raise(string.format("MultiHeadAttention: input must be [B, L, %d], got [%s]", self.d_model, table.concat(s, ",")))
  end
  local B, L = s[1], s[2]
  local mask = attention_mask ~= nil and MultiHeadAttention.additive_mask(attention_mask, B, L) or nil
  local p = self.training and self.dropout or 0
  return self.out(hub.attention_qkv(self.qkv(x), self.n_heads, mask, { dropout = p }))
end

function MultiHeadAttention:extra_repr()
  return string.format("d_model=%d, n_heads=%d, dropout=%g", self.d_model, self.n_heads, self.dropout)
end

return MultiHeadAttention
