-- test_attention_qkv.lua: hub.attention_qkv, the fused multi-head self-attention on a packed
-- projection that nn.MultiHeadAttention runs (kernels/cpu/attention.c with strided operands and
-- dropout inside the kernel).
--
-- References, all built from other ops of hub (each checked against PyTorch in
-- test_ops_golden.lua and by finite differences in test_gradcheck.lua):
--   * without dropout: qkv split into heads by reshape/permute/select, hub.attention per head
--     (contiguous operands), heads merged by permute/reshape - outputs and gradients;
--   * with dropout: the unfused chain matmul, * scale, + mask, softmax, dropout, matmul from the
--     same seed: the fused kernel draws the numbers hub.dropout draws for the [B, H, L, L]
--     probabilities, so the two agree to rounding, gradients included (the backward regenerates
--     the mask rather than storing it);
--   * finite differences of the dropout version (tests/lua/test_gradcheck.lua, attention_qkv_*).
-- Plus: statistics of the dropped fraction, determinism, errors.
local hub = require "hub"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local function maxdiff(a, b) return (a - b):abs():max():item() end
local function errmsg(fn)
  local good, e = pcall(fn)
  if good then return nil end
  return tostring(e)
end

-- qkv [B, L, 3*H*Dh] -> q, k, v [B, H, L, Dh] (views)
local function split(qkv, H)
  local B, L, D3 = qkv.shape[1], qkv.shape[2], qkv.shape[3]
  local t = qkv:reshape(B, L, 3, H, D3 / (3 * H)):permute(3, 1, 4, 2, 5)
  return t:select(1, 1), t:select(1, 2), t:select(1, 3)
end
local function merge(ctx) -- [B, H, L, Dh] -> [B, L, H*Dh]
  local B, H, L, Dh = ctx.shape[1], ctx.shape[2], ctx.shape[3], ctx.shape[4]
  return ctx:permute(1, 3, 2, 4):contiguous():reshape(B, L, H * Dh)
end
-- additive [B, 1, 1, L] key-padding mask: the last `pad[b]` keys of batch entry b hidden
local function padmask(B, L, pad)
  local rows = {}
  for b = 1, B do
    local r = {}
    for j = 1, L do r[j] = j > L - (pad[b] or 0) and -1e4 or 0 end
    rows[b] = { { r } }
  end
  return hub.tensor(rows)
end

local function by_hand(qkv, H, mask, p)
  local q, k, v = split(qkv, H)
  if p == 0 then return merge(hub.attention(q, k, v, mask)) end
  local s = q:matmul(k:transpose(-2, -1)):mul(1 / math.sqrt(q.shape[4]))
  if mask then s = s:add(mask) end
  return merge(s:softmax(-1):dropout(p, true):matmul(v))
end

local shapes = {
  { B = 2, L = 5, H = 3, Dh = 4, pad = { 2, 0 } },     -- heads not a power of two, padding
  { B = 1, L = 1, H = 2, Dh = 8 },                      -- one token
  { B = 3, L = 7, H = 1, Dh = 5 },                      -- one head, no mask
  { B = 2, L = 128, H = 12, Dh = 64, pad = { 0, 40 } }, -- BERT-base geometry (threaded loop)
}

for _, sh in ipairs(shapes) do
  for _, p in ipairs { 0, 0.1, 0.5 } do
    local tag = string.format("B=%d L=%d H=%d Dh=%d p=%g", sh.B, sh.L, sh.H, sh.Dh, p)
    hub.manual_seed(100 + sh.L)
    local x = hub.randn { sh.B, sh.L, 3 * sh.H * sh.Dh }
    local mask = sh.pad and padmask(sh.B, sh.L, sh.pad) or nil
    local R = hub.randn { sh.B, sh.L, sh.H * sh.Dh }
    local xa, xb = x:clone():requires_grad(), x:clone():requires_grad()
    hub.manual_seed(7)
    local ya = hub.attention_qkv(xa, sh.H, mask, { dropout = p })
    hub.manual_seed(7)
    local yb = by_hand(xb, sh.H, mask, p)
    ok(ya.shape[1] == sh.B and ya.shape[2] == sh.L and ya.shape[3] == sh.H * sh.Dh, tag .. ": output shape")
    local ey = maxdiff(ya, yb)
    ok(ey < 2e-5, tag .. ": output vs reference, max abs error " .. ey)
    ;(ya * R):sum():backward()
    ;(yb * R):sum():backward()
    local eg = maxdiff(xa.grad, xb.grad)
    local scale = xb.grad:abs():max():item()
    ok(eg < 2e-5 * math.max(1, scale), tag .. ": qkv gradient vs reference, max abs error " .. eg)
    if p > 0 then
      -- a different seed draws a different mask
      hub.manual_seed(8)
      local yc = hub.attention_qkv(x, sh.H, mask, { dropout = p })
      ok(sh.L == 1 and sh.H * sh.B <= 3 or maxdiff(ya, yc) > 0, tag .. ": the mask follows the seed")
      -- and the same seed the same output, bit for bit
      hub.manual_seed(7)
      ok(maxdiff(ya, hub.attention_qkv(x, sh.H, mask, { dropout = p })) == 0, tag .. ": deterministic")
    end
  end
end

-- The dropped fraction: with v = identity-like values the output rows are the kept, scaled
-- probabilities.  Use L = 64 keys, uniform scores (q = 0), Dh = L and v = I per head, so out[i, j]
-- = keep(i, j) / (1 - p) / L.
do
  local B, L, H, p = 2, 64, 2, 0.3
  local rows = {}
  for b = 1, B do
    rows[b] = {}
    for i = 1, L do
      local r = {}
      for part = 0, 2 do
        for h = 1, H do
          for j = 1, L do r[#r + 1] = (part == 2 and i == j) and 1 or 0 end
        end
      end
      rows[b][i] = r
    end
  end
  local qkv = hub.tensor(rows)
  hub.manual_seed(3)
  local out = hub.attention_qkv(qkv, H, nil, { dropout = p })
  local want, kept, total, bad = 1 / (1 - p) / L, 0, 0, 0
  for _, row in ipairs(out:reshape(-1):totable()) do
    total = total + 1
    if row ~= 0 then
      kept = kept + 1
      if math.abs(row - want) > 1e-6 then bad = bad + 1 end
    end
  end
  ok(math.abs(kept / total - (1 - p)) < 0.02, string.format("kept fraction %.4f of %d (expected %.2f)", kept / total, total, 1 - p))
  ok(bad == 0, "kept probabilities are 1/L scaled by 1/(1-p) (" .. bad .. " differ)")
end

-- eval-style use (no graph) and no_grad give the same numbers as with a graph
do
  hub.manual_seed(11)
  local x = hub.randn { 2, 6, 12 }
  local y1 = hub.attention_qkv(x, 2)
  local y2 = hub.no_grad(function() return hub.attention_qkv(x:clone():requires_grad(), 2) end)
  ok(maxdiff(y1, y2) == 0 and y2.grad_fn == nil, "no_grad: same output, no graph")
  local y3 = hub.attention_qkv(x:clone():requires_grad(), 2)
  ok(y3.grad_fn == "attention_qkv", "with grad: recorded as attention_qkv (" .. tostring(y3.grad_fn) .. ")")
end

-- a gradient that reaches only part of the output
do
  hub.manual_seed(12)
  local x = hub.randn({ 1, 4, 6 }):requires_grad()
  hub.attention_qkv(x, 1):narrow(2, 1, 1):sum():backward()
  ok(x.grad ~= nil and x.grad.shape[3] == 6, "partial output gradient")
end

-- errors name the argument
local x = hub.randn { 2, 3, 12 }
local function has(fn, want, msg)
  local e = errmsg(fn)
  ok(e and e:find(want, 1, true), msg .. ": " .. tostring(e))
end
has(function() return hub.attention_qkv(x, 5) end, "qkv must be [B, L, 3 * heads * head_dim] with 5 heads", "heads do not divide")
has(function() return hub.attention_qkv(x, 0) end, "positive integer number of heads", "zero heads")
has(function() return hub.attention_qkv(hub.randn { 6, 12 }, 2) end, "qkv must be [B, L", "2-d qkv")
has(function() return hub.attention_qkv(x, 2, nil, { dropout = 1 }) end, "dropout probability 1 is not in [0, 1)", "p = 1")
has(function() return hub.attention_qkv(x, 2, hub.zeros { 2, 1, 1, 4 }) end, "does not broadcast to the scores [2,2,3,3]", "mask shape")
has(function() return hub.attention_qkv(x, 2, hub.zeros({ 2, 1, 1, 3 }, "bool")) end, "additive float tensor", "bool mask")
has(function() return hub.attention_qkv(hub.zeros({ 2, 3, 12 }, "i64"), 2) end, "attention_qkv", "integer qkv")

-- ---- masks whose key stride is not 1 (kernels/cpu/attention.c's strided-mask path) ----
-- Each mask gives the same result as the same call on mask:contiguous() (the unit-stride path),
-- and as the unfused chain softmax(q k^T * scale + mask) v.
do
  hub.manual_seed(7)
  local B, H, Lq, Lk, Dh = 2, 3, 5, 6, 4
  local q, k, v = hub.randn(B, H, Lq, Dh), hub.randn(B, H, Lk, Dh), hub.randn(B, H, Lk, Dh)
  local function unfused(m)
    local s = q:matmul(k:transpose(-2, -1)) * (1 / math.sqrt(Dh)) + m
    return s:softmax(-1):matmul(v)
  end
  local hidden = {} -- some keys hidden from some queries (stored [Lk, Lq])
  for j = 1, Lk do
    hidden[j] = {}
    for i = 1, Lq do hidden[j][i] = (i + 2 * j) % 4 == 0 and -1e4 or 0 end
  end
  local hide = hub.tensor(hidden)
  local masks = {
    { "transposed [Lk, Lq] -> [Lq, Lk]", (hub.randn(Lk, Lq) + hide):transpose(1, 2) },
    { "transposed per batch [B, 1, Lq, Lk]", hub.randn(B, 1, Lk, Lq):transpose(3, 4) },
    { "[Lq, 1] broadcast over the keys", hub.randn(Lq, 1) },
    { "[B, H, Lq, 1] expanded over the keys", hub.randn(B, H, Lq, 1):expand(B, H, Lq, Lk) },
    { "every other column of [Lq, 2 Lk]", hub.randn(Lq, 2 * Lk):reshape(Lq, Lk, 2):select(3, 1) },
  }
  for _, c in ipairs(masks) do
    local name, m = c[1], c[2]
    if m.shape[#m.shape] ~= 1 then ok(hub.C.hub_tensor_is_contiguous(m) == 0, name .. ": the mask is a strided view") end
    local y = hub.attention(q, k, v, m)
    local yc = hub.attention(q, k, v, m:contiguous())
    ok(maxdiff(y, yc) < 1e-6, string.format("%s: same as on mask:contiguous() (%.3g)", name, maxdiff(y, yc)))
    ok(maxdiff(y, unfused(m)) < 1e-5, string.format("%s: same as the unfused chain (%.3g)", name, maxdiff(y, unfused(m))))
  end
  -- through attention_qkv: a transposed [L, L] mask
  local L = 5
  local qkv = hub.randn(B, L, 3 * H * Dh)
  local mt = hub.randn(L, L):transpose(1, 2)
  ok(maxdiff(hub.attention_qkv(qkv, H, mt), hub.attention_qkv(qkv, H, mt:contiguous())) < 1e-6,
    "attention_qkv with a transposed mask: same as on mask:contiguous()")
end

T.finish()
