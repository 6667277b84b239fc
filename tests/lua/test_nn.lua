-- test_nn.lua: hub.nn modules.  Names and counts of parameters, state_dict round trips and the
-- errors of load_state_dict, train/eval, apply, the printed tree, layers against the same
-- computation written by hand (Linear, the fused qkv layout of MultiHeadAttention), padding
-- masks (padded inputs must not reach real positions), attention dropout against the same chain
-- written by hand,
-- a finite-difference gradient check through MultiHeadAttention, initialisers and seeding.
local hub = require "hub"
local nn = hub.nn

local passed, failed = 0, 0
local function ok(cond, msg)
  if cond then passed = passed + 1 else failed = failed + 1; print("FAIL " .. msg) end
end
local function maxdiff(a, b) return (a - b):abs():max():item() end
local function names_of(m)
  local n = {}
  for name in m:named_parameters() do n[#n + 1] = name end
  return n
end
local function errmsg(fn)
  local good, e = pcall(fn)
  if good then return nil end
  return (tostring(e):gsub("^[^:]*:%d+: ", ""))   -- drop "file:line: "
end

-- ---- Sequential: names, counts, printing, positions ----
hub.manual_seed(1)
local seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, { bias = false }))
ok(table.concat(names_of(seq), " ") == "0.weight 0.bias 2.weight", "Sequential names: " .. table.concat(names_of(seq), " "))
ok(seq:num_parameters() == 12 + 4 + 8, "Sequential count " .. seq:num_parameters())
ok(#seq:parameters() == 3, "parameters() is a list of 3 tensors")
ok(#seq == 3 and seq[1].out_features == 4 and seq[3].bias == nil, "positions 1..3, no bias on the last")
local expect_tree = table.concat({
  "Sequential (24 parameters)",
  "  (0): Linear(in=3, out=4, bias) 16",
  "  (1): ReLU",
  "  (2): Linear(in=4, out=2, no bias) 8",
}, "\n")
ok(tostring(seq) == expect_tree, "Sequential tree:\n" .. tostring(seq))
local kids = {}
for name, m in seq:named_children() do kids[#kids + 1] = name .. "=" .. m.__name end
ok(table.concat(kids, " ") == "0=Linear 1=ReLU 2=Linear", "named_children " .. table.concat(kids, " "))
local y = seq(hub.randn { 5, 3 })
ok(y.shape[1] == 5 and y.shape[2] == 2, "Sequential forward shape")

-- ---- TransformerEncoder: names, counts, tree ----
local enc = nn.TransformerEncoder({ d_model = 32, n_heads = 4, d_ff = 64, dropout = 0 }, 2)
local enames = names_of(enc)
local per_layer = { "attn.qkv.weight", "attn.qkv.bias", "attn.out.weight", "attn.out.bias", "norm1.weight",
  "norm1.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "norm2.weight", "norm2.bias" }
local want = {}
for l = 0, 1 do for _, n in ipairs(per_layer) do want[#want + 1] = "layers." .. l .. "." .. n end end
ok(table.concat(enames, " ") == table.concat(want, " "), "encoder names:\n" .. table.concat(enames, "\n"))
-- per layer: qkv 32*96+96, out 32*32+32, two LayerNorms 2*64, linear1 32*64+64, linear2 64*32+32
local layer_count = 3168 + 1056 + 128 + 2112 + 2080
ok(enc:num_parameters() == 2 * layer_count, "encoder count " .. enc:num_parameters())
local tree = tostring(enc)
ok(tree:find("^TransformerEncoder %(17,088 parameters%)\n  %(layers%): ModuleList %(17,088 parameters%)\n") ~= nil,
  "encoder tree header:\n" .. tree)
ok(tree:find("\n      (qkv): Linear(in=32, out=96, bias) 3,168\n", 1, true) == nil and
   tree:find("\n        (qkv): Linear(in=32, out=96, bias) 3,168\n", 1, true) ~= nil, "qkv line indented 8:\n" .. tree)
ok(tree:find("(1): TransformerEncoderLayer(d_model=32, n_heads=4, d_ff=64) (8,544 parameters)", 1, true) ~= nil,
  "layer line in tree")
ok(#enc.layers == 2 and enc.layers[2].attn.n_heads == 4, "ModuleList positions")

-- factory form and pre-LN with a final norm
local enc2 = nn.TransformerEncoder(function(i)
  return nn.TransformerEncoderLayer(16, 2, 32, { dropout = 0, norm_first = true, activation = "relu" })
end, 3, { final_norm = true })
local n2 = names_of(enc2)
ok(#n2 == 3 * 12 + 2 and n2[#n2] == "norm.bias" and n2[#n2 - 1] == "norm.weight", "factory + final_norm names")
ok(enc2.layers[1].norm_first == true and enc2.layers[3].activation.__name == "ReLU", "factory layers configured")

-- ---- state_dict round trip ----
local function make_model(seed)
  hub.manual_seed(seed)
  local m = nn.Module()
  m.emb = nn.Embedding(10, 16)
  m.enc = nn.TransformerEncoder({ d_model = 16, n_heads = 2, d_ff = 32, dropout = 0.1 }, 2)
  m.head = nn.Linear(16, 3)
  m.forward = function(self, ids, mask) return self.head(self.enc(self.emb(ids), mask)) end
  return m
end
local ids = hub.tensor({ { 1, 2, 3, 4 }, { 5, 6, 0, 0 } }, "i64")
local mask = hub.tensor { { 1, 1, 1, 1 }, { 1, 1, 0, 0 } }
local a, b = make_model(1), make_model(2)
a:eval(); b:eval()
local ya, yb = a(ids, mask), b(ids, mask)
ok(maxdiff(ya, yb) > 1e-3, "different seeds give different models")
local sd = a:state_dict()
local nkeys = 0
for _ in pairs(sd) do nkeys = nkeys + 1 end
ok(nkeys == 1 + 2 * 12 + 2, "state_dict has every parameter: " .. nkeys)
ok(sd["enc.layers.1.attn.qkv.weight"] ~= nil and sd["emb.weight"].shape[1] == 10, "state_dict names")
local res = b:load_state_dict(sd)
ok(#res.missing == 0 and #res.unexpected == 0, "nothing missing or unexpected")
ok(maxdiff(a(ids, mask), b(ids, mask)) == 0, "loaded model gives identical outputs")
-- loaded values are copies: changing a does not change b
hub.no_grad(function() a.head.bias:fill_(7) end)
ok(b.head.bias:max():item() ~= 7, "load_state_dict copies values")
ok(b.head.bias.is_leaf and b.head.weight.grad == nil and b:parameters()[1].dtype == "f32", "parameters stay leaves")
-- assign = true: the module takes the tensors themselves (shared, no copy); other dtypes convert
do
  local c = make_model(3)
  c:eval()
  local sd2 = a:state_dict()
  local half = {}
  for k, v in pairs(sd2) do half[k] = v end
  half["head.weight"] = sd2["head.weight"]:to("f16")
  local r2 = c:load_state_dict(half, { assign = true })
  ok(#r2.missing == 0 and #r2.unexpected == 0, "assign: nothing missing or unexpected")
  ok(maxdiff(a.head.bias, c.head.bias) == 0, "assign: the same values")
  hub.no_grad(function() a.head.bias:fill_(3) end)
  ok(c.head.bias:max():item() == 3, "assign: the tensor itself, not a copy (a change in the source shows)")
  ok(c.head.weight.dtype == "f32" and maxdiff(c.head.weight, sd2["head.weight"]:to("f16"):float()) == 0,
    "assign: an f16 tensor is converted to the module's f32")
  local bad = {}
  for k, v in pairs(sd2) do bad[k] = v end
  bad["head.weight"] = hub.zeros(1, 1)
  local e = pcall(c.load_state_dict, c, bad, { assign = true })
  ok(not e and c.head.bias:max():item() == 3, "assign: a mis-shaped tensor is refused before anything is assigned")
end


-- ---- load_state_dict errors ----
local function fresh() hub.manual_seed(5); return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)) end
local m = fresh()
local good = fresh():state_dict()
local before = m[1].weight:clone()
local function without(sdt, ...)
  local t = {}
  for k, v in pairs(sdt) do t[k] = v end
  for _, k in ipairs { ... } do t[k] = nil end
  return t
end
local e = errmsg(function() m:load_state_dict(without(good, "0.weight", "1.bias")) end)
ok(e == "load_state_dict: missing keys: 0.weight, 1.bias", "missing: " .. tostring(e))
local extra = without(good)
extra["2.weight"] = hub.zeros { 2 }
extra["0.scale"] = hub.zeros { 2 }
e = errmsg(function() m:load_state_dict(extra) end)
ok(e == "load_state_dict: unexpected keys: 0.scale, 2.weight", "unexpected: " .. tostring(e))
local both = without(good, "1.bias")
both["fc.weight"] = hub.zeros { 1 }
e = errmsg(function() m:load_state_dict(both) end)
ok(e == "load_state_dict: missing keys: 1.bias; unexpected keys: fc.weight", "missing+unexpected: " .. tostring(e))
local bad = without(good)
bad["0.weight"] = hub.zeros { 3, 4 }
e = errmsg(function() m:load_state_dict(bad) end)
ok(e == "load_state_dict: size mismatch for 0.weight: expected [4,3], got [3,4]", "mis-shaped: " .. tostring(e))
e = errmsg(function() m:load_state_dict(bad, { strict = false }) end)
ok(e == "load_state_dict: size mismatch for 0.weight: expected [4,3], got [3,4]", "strict=false still checks shapes: " .. tostring(e))
-- mis-shapes that copy_ would broadcast without complaint: refused all the same
for _, shape in ipairs { { 1, 3 }, { 3 }, { 1, 1 }, { 4, 1 } } do
  local bc = without(good)
  bc["0.weight"] = hub.ones(shape)
  e = errmsg(function() m:load_state_dict(bc) end)
  local want = "load_state_dict: size mismatch for 0.weight: expected [4,3], got [" .. table.concat(shape, ",") .. "]"
  ok(e == want, "broadcastable mis-shape [" .. table.concat(shape, ",") .. "]: " .. tostring(e))
  e = errmsg(function() m:load_state_dict(bc, { strict = false }) end)
  ok(e == want, "broadcastable mis-shape with strict=false: " .. tostring(e))
end
local bcb = without(good)
bcb["1.bias"] = hub.ones { 1 }
e = errmsg(function() m:load_state_dict(bcb) end)
ok(e == "load_state_dict: size mismatch for 1.bias: expected [2], got [1]", "a [1] bias into [2]: " .. tostring(e))
local notensor = without(good)
notensor["1.bias"] = 3
e = errmsg(function() m:load_state_dict(notensor) end)
ok(e == "load_state_dict: 1.bias is a number, expected a tensor", "non-tensor value: " .. tostring(e))
ok(maxdiff(m[1].weight, before) == 0, "a failed load changes nothing")
e = errmsg(function() m:load_state_dict(good, { strct = false }) end)
ok(e == "load_state_dict: unknown option 'strct' (expected one of assign, strict)", "unknown option: " .. tostring(e))
-- strict = false: loads what matches, reports the rest
local partial = without(good, "1.weight")
partial["other"] = hub.zeros { 1 }
hub.no_grad(function() m[1].bias:fill_(0) end)
res = m:load_state_dict(partial, { strict = false })
ok(#res.missing == 1 and res.missing[1] == "1.weight" and #res.unexpected == 1 and res.unexpected[1] == "other",
  "strict=false reports missing and unexpected")
ok(maxdiff(m[1].bias, good["0.bias"]) == 0, "strict=false loads the present keys")
-- f16 checkpoints widen on load
local half = {}
for k, v in pairs(good) do half[k] = v:to("f16") end
m:load_state_dict(half)
ok(m[1].weight.dtype == "f32" and maxdiff(m[1].weight, good["0.weight"]) < 1e-3, "f16 state widens to f32")

-- ---- train / eval ----
hub.manual_seed(3)
local dnet = nn.Sequential(nn.Linear(8, 64), nn.Dropout(0.5))
local x = hub.randn { 4, 8 }
ok(dnet.training and dnet[2].training, "modules start in training mode")
dnet:eval()
ok(not dnet.training and not dnet[2].training, "eval() reaches every module")
local e1, e2 = dnet(x), dnet(x)
ok(maxdiff(e1, e2) == 0 and maxdiff(e1, dnet[1](x)) == 0, "eval: dropout is the identity")
dnet:train()
local t1, t2 = dnet(x), dnet(x)
ok(maxdiff(t1, t2) > 0, "train: two passes differ")
local zeros, total = 0, 0
for _, row in ipairs(t1:totable()) do for _, v in ipairs(row) do total = total + 1; if v == 0 then zeros = zeros + 1 end end end
ok(zeros > total * 0.3 and zeros < total * 0.7, "train: about half dropped " .. zeros .. "/" .. total)
local scaled = true
local tr, ev = t1:totable(), e1:totable()
for i = 1, #tr do
  for j = 1, #tr[i] do
    if tr[i][j] ~= 0 and math.abs(tr[i][j] - 2 * ev[i][j]) > 1e-5 then scaled = false end
  end
end
ok(scaled, "train: kept elements scaled by 1/(1-p)")

-- ---- apply ----
local visited = {}
enc:apply(function(mod) visited[#visited + 1] = mod.__name end)
-- encoder, list, 2 x (layer, attn, qkv, out, norm1, linear1, activation, linear2, norm2, dropout)
ok(#visited == 2 + 2 * 10, "apply visits every module: " .. #visited)
ok(visited[#visited] == "TransformerEncoder" and visited[1] == "Linear", "apply: children before parents")
local nmods = 0
for name, mod in enc:named_modules() do nmods = nmods + 1; if nmods == 3 then ok(name == "layers.0", "named_modules order " .. name) end end
ok(nmods == 22 and #enc:modules() == 22, "named_modules counts every module once")
-- apply as an initialiser (BERT style)
enc:apply(function(mod)
  if mod.__name == "Linear" then nn.init.normal_(mod.weight, 0.02); nn.init.zeros_(mod.bias) end
end)
ok(enc.layers[2].linear1.bias:abs():max():item() == 0, "apply initialises")

-- ---- Linear by hand ----
hub.manual_seed(7)
local lin = nn.Linear(5, 3)
local xl = hub.randn { 2, 4, 5 }
local by_hand = xl:matmul(lin.weight:t()) + lin.bias
ok(maxdiff(lin(xl), by_hand) < 1e-5, "Linear = x W^T + b")
ok(lin.weight.shape[1] == 3 and lin.weight.shape[2] == 5, "Linear weight is [out, in]")
local bound = 1 / math.sqrt(5)
ok(lin.weight:abs():max():item() <= bound and lin.bias:abs():max():item() <= bound, "Linear default init within 1/sqrt(in)")
lin(xl):sum():backward()
ok(lin.weight.grad ~= nil and lin.bias.grad ~= nil and maxdiff(lin.bias.grad, hub.full({ 3 }, 8)) < 1e-5, "Linear gradients")
seq:zero_grad()
lin:zero_grad()
ok(lin.weight.grad == nil or lin.weight.grad:abs():max():item() == 0, "zero_grad clears")

-- ---- Embedding, LayerNorm ----
local emb = nn.Embedding(6, 4)
local got = emb(hub.tensor({ { 5, 0 } }, "i64"))
ok(got.shape[1] == 1 and got.shape[3] == 4 and maxdiff(got:select(2, 1):squeeze(1), emb.weight:select(1, 6)) == 0, "Embedding rows at 0-based ids")
local ln = nn.LayerNorm(4, { eps = 1e-12 })
local xn = hub.randn { 3, 4 }
local mu = xn:mean(-1, true)
local var = ((xn - mu) ^ 2):mean(-1, true)
ok(maxdiff(ln(xn), (xn - mu) / (var + 1e-12):sqrt()) < 1e-5, "LayerNorm by hand")
ok(nn.LayerNorm(4, { affine = false }):num_parameters() == 0, "LayerNorm without affine")

-- ---- MultiHeadAttention: the fused qkv layout against attention written by hand ----
hub.manual_seed(11)
local D, H, L, B = 8, 2, 5, 2
local mha = nn.MultiHeadAttention(D, H, { dropout = 0 })
local xa = hub.randn { B, L, D }
local function by_hand_attention(att, xin, add_mask)
  local Dh = D / H
  local W, bias = att.qkv.weight, att.qkv.bias
  local heads = {}
  for h = 1, H do
    local function proj(block)   -- block 0 = query, 1 = key, 2 = value; head h's rows
      local r = block * D + (h - 1) * Dh + 1
      return xin:matmul(W:narrow(1, r, Dh):t()) + bias:narrow(1, r, Dh)
    end
    local q, k, v = proj(0), proj(1), proj(2)   -- [B, L, Dh]
    local s = q:matmul(k:transpose(2, 3)) / math.sqrt(Dh)
    if add_mask then s = s + add_mask end
    heads[h] = s:softmax(-1):matmul(v)
  end
  return att.out(hub.concat(heads, 3))
end
ok(maxdiff(mha(xa), by_hand_attention(mha, xa)) < 1e-5, "MultiHeadAttention = per-head attention by hand")
ok(table.concat(names_of(mha), " ") == "qkv.weight qkv.bias out.weight out.bias", "attention names")

-- padding mask: padded inputs must not change real positions
local pmask = hub.tensor({ { 1, 1, 1, 0, 0 }, { 1, 1, 1, 1, 1 } }, "i64")
local y1 = mha(xa, pmask)
ok(maxdiff(y1, by_hand_attention(mha, xa, ((1 - pmask:to("f32")) * -1e4):reshape(B, 1, L))) < 1e-5, "masked attention by hand")
local noise = hub.zeros { B, L, D }
hub.no_grad(function() noise:narrow(1, 1, 1):narrow(2, 4, 2):copy_(hub.randn { 1, 2, D } * 10) end)
local y2 = mha(xa + noise, pmask)
ok(maxdiff(y1:narrow(1, 1, 1):narrow(2, 1, 3), y2:narrow(1, 1, 1):narrow(2, 1, 3)) < 1e-5, "padded inputs do not reach real positions")
ok(maxdiff(y1:narrow(1, 2, 1), y2:narrow(1, 2, 1)) < 1e-5, "the unpadded sequence is unchanged")
ok(maxdiff(y1:narrow(1, 1, 1):narrow(2, 4, 2), y2:narrow(1, 1, 1):narrow(2, 4, 2)) > 1e-3, "padded positions themselves do change")
-- bool masks work too; a 4-d mask is additive
ok(maxdiff(mha(xa, pmask:to("bool")), y1) < 1e-6, "bool padding mask")
ok(maxdiff(mha(xa, ((1 - pmask:to("f32")) * -1e4):reshape(B, 1, 1, L)), y1) < 1e-6, "4-d additive mask")
e = errmsg(function() return mha(xa, hub.ones { B, L + 1 }) end)
ok(e and e:find("attention_mask must be [B, L] = [2,5]", 1, true) ~= nil, "bad mask shape: " .. tostring(e))
e = errmsg(function() return mha(hub.randn { B, L, D + 1 }) end)
ok(e == "MultiHeadAttention: input must be [B, L, 8], got [2,5,9]", "bad input: " .. tostring(e))
e = errmsg(function() return nn.MultiHeadAttention(10, 3) end)
ok(e == "MultiHeadAttention: d_model 10 is not divisible by n_heads 3", "heads check: " .. tostring(e))

-- a whole encoder under a padding mask
local encm = nn.TransformerEncoder({ d_model = D, n_heads = H, d_ff = 16, dropout = 0 }, 2)
local z1, z2 = encm(xa, pmask), encm(xa + noise, pmask)
ok(maxdiff(z1:narrow(1, 1, 1):narrow(2, 1, 3), z2:narrow(1, 1, 1):narrow(2, 1, 3)) < 1e-5, "encoder: padding stays out")

-- training mode with dropout: the layer equals the chain written by hand (split heads, matmul,
-- scale, mask, softmax, dropout, matmul, merge) from the same seed, gradients included
local mha_d = nn.MultiHeadAttention(D, H, { dropout = 0.3 })
mha_d:load_state_dict(mha:state_dict())
local xg = xa:clone():requires_grad()
local xf = xa:clone():requires_grad()
local R = hub.randn { B, L, D }
hub.manual_seed(5)
local yf = mha_d(xg, pmask)           -- training mode: dropout inside the fused kernel
local function by_hand_dropout(att, xin, add_mask)
  local qkv = att.qkv(xin):reshape(B, L, 3, H, D / H):permute(3, 1, 4, 2, 5)
  local q, k, v = qkv:select(1, 1), qkv:select(1, 2), qkv:select(1, 3)
  local s = q:matmul(k:transpose(-2, -1)):mul(1 / math.sqrt(D / H)):add(add_mask)
  local ctx = s:softmax(-1):dropout(0.3, true):matmul(v)
  return att.out(ctx:permute(1, 3, 2, 4):contiguous():reshape(B, L, D))
end
hub.manual_seed(5)
local yu = by_hand_dropout(mha, xf, nn.MultiHeadAttention.additive_mask(pmask, B, L))
ok(maxdiff(yu, yf) < 1e-5, "dropout in the fused kernel = dropout written by hand " .. maxdiff(yu, yf))
;(yf * R):sum():backward()
;(yu * R):sum():backward()
ok(maxdiff(xg.grad, xf.grad) < 1e-5 and maxdiff(mha_d.qkv.weight.grad, mha.qkv.weight.grad) < 1e-5, "fused dropout gradients = by-hand gradients")
mha:train()
local mha_p = nn.MultiHeadAttention(D, H, { dropout = 0.5 })
ok(maxdiff(mha_p(xa), mha_p(xa)) > 0, "attention dropout active in training")
mha_p:eval()
ok(maxdiff(mha_p(xa), mha_p(xa)) == 0, "attention dropout off in eval")

-- finite differences through the head split / merge (d loss / d qkv.weight and d x)
hub.manual_seed(13)
local gm = nn.MultiHeadAttention(4, 2, { dropout = 0 })
local gx = (hub.randn { 1, 3, 4 }):requires_grad()
local gR = hub.randn { 1, 3, 4 }
local gmask = hub.tensor { { 1, 1, 0 } }
local function loss_of() return (gm(gx, gmask) * gR):sum() end
loss_of():backward()
local worst = 0
local function fd(t, grad)
  local flat, gflat = t:view(-1), grad:reshape(-1)
  for i = 1, math.min(flat:numel(), 12) do
    local cell = flat:narrow(1, i, 1)
    local v0 = cell:item()
    local h = 1e-2
    local lp, lm
    hub.no_grad(function()
      cell:fill_(v0 + h); lp = loss_of():item()
      cell:fill_(v0 - h); lm = loss_of():item()
      cell:fill_(v0)
    end)
    local num, ana = (lp - lm) / (2 * h), gflat:narrow(1, i, 1):item()
    worst = math.max(worst, math.abs(num - ana) / math.max(1, math.abs(num)))
  end
end
fd(gm.qkv.weight, gm.qkv.weight.grad)
fd(gx, gx.grad)
ok(worst < 2e-2, "finite-difference check through MultiHeadAttention, worst " .. worst)

-- ---- TransformerEncoderLayer: post-LN and pre-LN by hand ----
hub.manual_seed(17)
for _, nf in ipairs { false, true } do
  local layer = nn.TransformerEncoderLayer(D, H, 16, { dropout = 0, norm_first = nf })
  local xx = hub.randn { B, L, D }
  local want_y
  if nf then
    local h1 = xx + layer.attn(layer.norm1(xx), pmask)
    want_y = h1 + layer.linear2(layer.linear1(layer.norm2(h1)):gelu())
  else
    local h1 = layer.norm1(xx + layer.attn(xx, pmask))
    want_y = layer.norm2(h1 + layer.linear2(layer.linear1(h1):gelu()))
  end
  ok(maxdiff(layer(xx, pmask), want_y) < 1e-5, "encoder layer formula, norm_first=" .. tostring(nf))
end

-- ---- the Module base ----
local Scale = nn.Module:extend("Scale")
function Scale:init(n) self:register_parameter("w", hub.ones({ n }):requires_grad()) end
function Scale:forward(xx) return xx * self.w end
function Scale:extra_repr() return "n=" .. self.w.shape[1] end
local sc = Scale(3)
ok(sc(hub.full({ 3 }, 2)):sum():item() == 6 and tostring(sc) == "Scale(n=3) (3 parameters)", "custom module")
local tied = nn.Module()
tied.a = Scale(2)
tied.b = Scale(2)
tied.b.w = tied.a.w                                     -- tie the weights
ok(#tied:parameters() == 1 and table.concat(names_of(tied), " ") == "a.w", "tied weights counted once")
local tsd = tied:state_dict()
ok(tsd["a.w"] ~= nil and tsd["b.w"] ~= nil, "state_dict keeps both names of a tied weight")
tied.b = nil
ok(#tied:children() == 1, "assigning nil removes a child")
e = errmsg(function() tied.a = 3 end)
ok(e == "Module: cannot assign a number to child module 'a' (expected a module or nil)", "assign check: " .. tostring(e))
e = errmsg(function() sc:register_parameter("forward", hub.ones { 1 }) end)
ok(e == "register_parameter: name 'forward' is taken by a method of Scale", "name clash: " .. tostring(e))
e = errmsg(function() return nn.Linear(3, 4, { bais = false }) end)
ok(e == "Linear: unknown option 'bais' (expected one of bias, device, dtype)", "unknown option: " .. tostring(e))
e = errmsg(function() return nn.Module()(hub.ones { 1 }) end)
ok(e == "Module: forward() is not implemented", "forward missing: " .. tostring(e))
e = errmsg(function() return enc.layers(hub.ones { 1 }) end)
ok(e and e:find("ModuleList is not callable", 1, true) ~= nil, "ModuleList not callable")
local subclass = Scale:extend("Scale2")
function subclass:forward(xx) return Scale.forward(self, xx) * 2 end
ok(subclass(2)(hub.ones { 2 }):sum():item() == 4 and subclass(2).__name == "Scale2", "subclass inherits init")

-- ---- initialisers and seeding ----
local w = hub.empty(200, 100)
nn.init.xavier_uniform_(w)
local xb = math.sqrt(6 / 300)
ok(w:abs():max():item() <= xb and w:abs():max():item() > 0.9 * xb, "xavier_uniform_ bound")
nn.init.normal_(w, 0.02)
local std = ((w - w:mean()) ^ 2):mean():sqrt():item()
ok(math.abs(std - 0.02) < 0.001 and math.abs(w:mean():item()) < 0.001, "normal_ std " .. std)
nn.init.xavier_normal_(w)
std = (w ^ 2):mean():sqrt():item()
ok(math.abs(std - math.sqrt(2 / 300)) < 0.005, "xavier_normal_ std " .. std)
nn.init.zeros_(w)
ok(w:abs():max():item() == 0, "zeros_")
nn.init.ones_(w)
ok(w:sum():item() == 20000, "ones_")
local leaf = hub.zeros({ 3 }):requires_grad()
nn.init.constant_(leaf, 0.5)
ok(leaf.is_leaf and leaf:sum():item() == 1.5, "initialisers write into leaves that require grad")
local function params_of(seed)
  hub.manual_seed(seed)
  return nn.TransformerEncoder({ d_model = 16, n_heads = 2, d_ff = 32 }, 2):parameters()
end
local p1, p2, p3 = params_of(42), params_of(42), params_of(43)
local same, differ = true, false
for i = 1, #p1 do
  if maxdiff(p1[i], p2[i]) ~= 0 then same = false end
  if p1[i]:numel() > 100 and maxdiff(p1[i], p3[i]) > 0 then differ = true end
end
ok(same, "same seed gives identical parameters")
ok(differ, "another seed gives other parameters")

-- ---- Embedding padding_idx: the row starts at zero and gets no gradient; other rows as without ----
do
  hub.manual_seed(21)
  local ep = nn.Embedding(6, 4, { padding_idx = 2 })
  local e0 = nn.Embedding(6, 4)
  e0:load_state_dict(ep:state_dict())
  ok(ep.weight:narrow(1, 3, 1):abs():max():item() == 0, "padding row starts at zero")
  local idsp = hub.tensor({ { 1, 2, 2, 5 }, { 2, 0, 3, 2 } }, "i64")
  local Rr = hub.randn { 2, 4, 4 }
  ;(ep(idsp) * Rr):sum():backward()
  ;(e0(idsp) * Rr):sum():backward()
  ok(ep.weight.grad:narrow(1, 3, 1):abs():max():item() == 0, "padding row gets no gradient")
  ok(e0.weight.grad:narrow(1, 3, 1):abs():max():item() > 0, "without padding_idx it does")
  local others = hub.tensor({ 0, 1, 3, 4, 5 }, "i64")
  ok(maxdiff(ep.weight.grad:index_select(1, others), e0.weight.grad:index_select(1, others)) == 0, "other rows unchanged")
  ok(tostring(ep):find("padding_idx=2", 1, true) ~= nil, "printed with padding_idx")
  ok((errmsg(function() nn.Embedding(6, 4, { padding_idx = 6 }) end) or ""):find("padding_idx must be an integer in [0, 6)", 1, true) ~= nil,
    "padding_idx out of range")
end

-- ---- Module:to: dtype round trip keeps values within bf16 rounding, leaves stay trainable ----
do
  hub.manual_seed(22)
  local m = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
  local before = m[1].weight:clone()
  ok(m:to("bf16") == m, "to returns the module")
  local dts, leaves = {}, true
  for _, p in m:named_parameters() do dts[p.dtype] = true; leaves = leaves and p.is_leaf end
  ok(dts.bf16 and not dts.f32 and leaves, "every parameter bf16 and a leaf")
  m(hub.randn({ 4, 3 }):to("bf16")):to("f32"):sum():backward()
  ok(m[1].weight.grad ~= nil, "bf16 parameters get gradients")
  m:to("f32")
  local err = maxdiff(m[1].weight, before)
  ok(m[1].weight.dtype == "f32" and err <= before:abs():max():item() * 2 ^ -8, "f32 -> bf16 -> f32 within bf16 rounding " .. err)
  ok(not pcall(m.to, m, 3), "to(number) is an error")
end

print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
