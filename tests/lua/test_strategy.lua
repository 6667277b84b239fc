-- test_strategy.lua - hub.strategy (lua/hub/strategy/): every strategy's learning rate per group
-- and frozen set at given steps against values computed by hand from PaddleHub's formulas
-- (docs/strategies.md), the L2-SP penalty and its gradient against a hand computation, frozen
-- parameters bit-identical after updates (no weight decay, no Adam state), the global-norm clip,
-- layer_of_ernie, option errors, and a resumed run (state_dict -> fresh model and strategy ->
-- load_state_dict) bit-identical to an uninterrupted one.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local nn = hub.nn
local strategy = hub.strategy

local function near(a, b, tol) return math.abs(a - b) <= (tol or 1e-12) * math.max(1, math.abs(b)) end

-- A two-layer ERNIE with a classifier head; names "encoder.*" and "classifier.*".
local L = 2
local Cls = nn.Module:extend("TestCls")
function Cls:init()
  self.encoder = hub.models.ernie.new { vocab_size = 30, hidden_size = 8, num_hidden_layers = L, num_attention_heads = 2,
    intermediate_size = 16, max_position_embeddings = 16, hidden_dropout_prob = 0, attention_probs_dropout_prob = 0 }
  self.classifier = nn.Linear(8, 2)
end
function Cls:forward(ids) return self.classifier(self.encoder:forward { input_ids = ids }.pooled_output) end

local ids = hub.tensor({ { 2, 5, 7, 9, 3 }, { 2, 11, 4, 3, 0 }, { 2, 8, 8, 6, 3 } }, "i64")
local labels = hub.tensor({ 1, 0, 1 }, "i64")

local function ctx_of(model, total, extra)
  local named = {}
  for n, p in model:named_parameters() do named[#named + 1] = { n, p } end
  local c = { total_steps = total, named_parameters = named, num_layers = L + 1,
              layer_of = function(n) return strategy.layer_of_ernie(n, L) end }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function train_step(model, s, step)
  s:before_step(step)
  s.optimizer:zero_grad()
  local loss = hub.cross_entropy(model(ids), labels)
  local pen = s:penalty()
  if pen then loss = loss + pen end
  loss:backward()
  s.optimizer:step()
  return loss:item()
end

-- ---- layer_of_ernie ----
local lo = strategy.layer_of_ernie
ok(lo("encoder.embeddings.word_embeddings.weight", 2) == 0, "embeddings -> 0")
ok(lo("embeddings.layer_norm.bias", 2) == 0, "embeddings without prefix -> 0")
ok(lo("encoder.encoder.layers.0.attn.qkv.weight", 2) == 1, "layer 0 -> 1")
ok(lo("encoder.layers.1.norm2.bias", 2) == 2, "layer 1 -> 2")
ok(lo("bert.encoder.layer.1.output.dense.weight", 2) == 2, "Hugging Face layer 1 -> 2")
ok(lo("encoder.pooler.dense.weight", 2) == 2, "pooler -> L")
ok(lo("classifier.weight", 2) == 3, "head -> L + 1")
ok(lo("crf.transitions", 12) == 13, "head -> L + 1 (12 layers)")
T.errors(function() lo("encoder.layers.5.norm1.weight", 2) end, "layer 5 of an encoder of 2 layers", "layer out of range")

-- ---- default: Adam, constant lr ----
hub.manual_seed(1)
local model = Cls()
local s = strategy.default { lr = 2e-4 }:setup(model, ctx_of(model, 50))
ok(s.optimizer.name == "Adam", "default: Adam, got " .. tostring(s.optimizer.name))
for _, t in ipairs { 0, 17, 49 } do
  s:before_step(t)
  s.optimizer.step_count = t
  local all = true
  for _, lr in ipairs(s:lrs()) do if not near(lr, 2e-4) then all = false end end
  ok(all, "default: every group at lr 2e-4 at step " .. t)
end
ok(s:penalty() == nil, "default: no penalty")
ok(#s.groups == L + 2, "default: one group per depth, got " .. #s.groups)
ok(s.groups[1].depth == L + 1 and s.groups[#s.groups].depth == 0, "group 1 is the head's (get_lr(1) = the base rate)")

-- ---- adamw: warm-up 0.1 of 100 steps, then lr * (1 - t/T); no decay on biases and LayerNorm ----
model = Cls()
s = strategy.adamw { lr = 1e-3, warmup = 0.1, weight_decay = 0.01 }:setup(model, ctx_of(model, 100))
ok(s.optimizer.name == "AdamW", "adamw: AdamW")
local W = "encoder.encoder.layers.0.linear1.weight"
local B = "encoder.encoder.layers.0.linear1.bias"
local N = "encoder.encoder.layers.1.norm1.weight"
local E = "encoder.embeddings.layer_norm.weight"
local expect = { [0] = 0, [1] = 1e-4, [5] = 5e-4, [9] = 9e-4, [10] = 1e-3 * 0.9, [50] = 5e-4, [99] = 1e-5, [100] = 0, [120] = 0 }
for t, v in pairs(expect) do
  s.optimizer.step_count = t
  ok(near(s:lr_of(W), v) and near(s:lr_of(B), v), string.format("adamw: lr at step %d = %g, got %g", t, v, s:lr_of(W)))
end
local wd = {}
for gi, g in ipairs(s.groups) do
  for _, n in ipairs(g.names) do wd[n] = s.optimizer.param_groups[gi].weight_decay end
end
ok(wd[W] == 0.01 and wd["classifier.weight"] == 0.01 and wd["encoder.embeddings.word_embeddings.weight"] == 0.01,
  "adamw: weights decay 0.01")
ok(wd[B] == 0 and wd[N] == 0 and wd[E] == 0 and wd["classifier.bias"] == 0, "adamw: no decay on biases and LayerNorm")
-- end_lr and noam
model = Cls()
s = strategy.adamw { lr = 1e-3, warmup = 10, end_lr = 1e-4 }:setup(model, ctx_of(model, 100))
s.optimizer.step_count = 40
ok(near(s:lr_of(W), (1e-3 - 1e-4) * 0.6 + 1e-4), "adamw: decay to end_lr")
s = strategy.adamw { lr = 1e-3, warmup = 4, noam = true, linear_decay = false }:setup(model, ctx_of(model, 100))
s.optimizer.step_count = 3   -- t + 1 = 4 = warmup: the peak, lr
ok(near(s:lr_of(W), 1e-3), "noam: lr at the end of warm-up")
s.optimizer.step_count = 15  -- sqrt(4) * 16^-0.5 = 0.5
ok(near(s:lr_of(W), 5e-4), "noam: lr * sqrt(w / (t + 1)) after warm-up")
s.optimizer.step_count = 1   -- sqrt(4) * 2 * 4^-1.5 = 0.5
ok(near(s:lr_of(W), 5e-4), "noam: warm-up")

-- ---- head_lr: the task head's groups (depth D) at lr * head_lr, the encoder's at lr ----
model = Cls()
s = strategy.adamw { lr = 1e-3, warmup = 0.1, weight_decay = 0.01, head_lr = 50 }:setup(model, ctx_of(model, 100))
s.optimizer.step_count = 10
ok(near(s:lr_of("classifier.weight"), 50 * 0.9e-3) and near(s:lr_of("classifier.bias"), 50 * 0.9e-3), "head_lr: the head at 50 x lr", s:lr_of("classifier.weight"))
ok(near(s:lr_of(W), 0.9e-3) and near(s:lr_of("encoder.embeddings.word_embeddings.weight"), 0.9e-3), "head_lr: the encoder at lr")
s.optimizer.step_count = 55
ok(near(s:lr_of("classifier.weight"), 50 * 1e-3 * (1 - 55 / 100)), "head_lr: the head follows the schedule", s:lr_of("classifier.weight"))
T.errors(function() strategy.adamw { lr = 1e-3, head_lr = 0 } end, "'head_lr' must be > 0", "head_lr 0")

-- ---- ulmfit: slanted triangle, discriminative lr, gradual unfreezing ----
model = Cls()
s = strategy.ulmfit { lr = 1e-3 }:setup(model, ctx_of(model, 100))
local D = L + 1
local function stlr(t)  -- cut = 10, ratio 32
  local p = t <= 10 and t / 10 or 1 - (t - 10) / 90
  return 1e-3 * (1 + p * 31) / 32
end
local names_at = { [0] = "encoder.embeddings.word_embeddings.weight", [1] = W, [2] = N, [3] = "classifier.weight" }
for _, t in ipairs { 0, 5, 10, 55, 99 } do
  s:before_step(t)
  s.optimizer.step_count = t
  for d = 0, D do
    local want_frozen = d < D - math.floor(t / 25)   -- 4 blocks, one per depth, every 100/4 steps
    local n = names_at[d]
    ok(s:is_frozen(n) == want_frozen, string.format("ulmfit: depth %d frozen=%s at step %d", d, tostring(want_frozen), t))
    local want = want_frozen and 0 or stlr(t) / 2.6 ^ (D - d)
    ok(near(s:lr_of(n), want), string.format("ulmfit: depth %d lr at step %d = %g, got %g", d, t, want, s:lr_of(n)))
  end
end
s:before_step(24); ok(s:is_frozen(N) and not s:is_frozen(names_at[3]), "ulmfit: step 24 only the head")
s:before_step(25); ok(not s:is_frozen(N) and s:is_frozen(W), "ulmfit: step 25 depth 2 unfrozen")
s:before_step(75); ok(not s:is_frozen(names_at[0]), "ulmfit: step 75 all unfrozen")
-- two blocks: depths {0, 1} and {2, 3}, the lower block unfrozen after 50 steps
model = Cls()
s = strategy.ulmfit { lr = 1e-3, gradual_unfreeze = 2, dis_factor = 1 }:setup(model, ctx_of(model, 100))
s:before_step(49)
ok(s:is_frozen(W) and s:is_frozen(names_at[0]) and not s:is_frozen(N), "ulmfit 2 blocks: step 49")
s:before_step(50)
ok(not s:is_frozen(W) and not s:is_frozen(names_at[0]), "ulmfit 2 blocks: step 50 all unfrozen")
s.optimizer.step_count = 10
ok(near(s:lr_of(W), 1e-3) and near(s:lr_of(names_at[3]), 1e-3), "ulmfit dis_factor 1: no discriminative lr")
-- unfreeze_every = "epoch" with the trainer's steps_per_epoch
model = Cls()
s = strategy.ulmfit { lr = 1e-3, unfreeze_every = "epoch" }:setup(model, ctx_of(model, 100, { steps_per_epoch = 7 }))
s:before_step(6); ok(s:is_frozen(N), "ulmfit epoch: step 6 depth 2 frozen")
s:before_step(7); ok(not s:is_frozen(N) and s:is_frozen(W), "ulmfit epoch: step 7 depth 2 unfrozen")

-- ---- frozen parameters do not change: no update, no decay, no Adam state ----
model = Cls()
s = strategy.combined { lr = 1e-2, weight_decay = 0.1, gradual_unfreeze = true, unfreeze_every = 3 }:setup(model, ctx_of(model, 12))
local before = {}
for n, p in model:named_parameters() do before[n] = p:clone() end
for t = 0, 2 do train_step(model, s, t) end
local frozen_same, head_moved = true, false
for n, p in model:named_parameters() do
  local same = (p - before[n]):abs():max():item() == 0
  if strategy.layer_of_ernie(n, L) < D then frozen_same = frozen_same and same else head_moved = head_moved or not same end
end
ok(frozen_same, "frozen parameters bit-identical after 3 updates with weight decay")
ok(head_moved, "the head moved")
local params, adam_states = s.optimizer:parameters(), 0
for k, p in ipairs(params) do if s.optimizer.state[k] then adam_states = adam_states + 1 end end
ok(adam_states == 2, "Adam state only for the 2 head tensors, got " .. adam_states)
train_step(model, s, 3)
ok((model.encoder.pooler.dense.weight - before["encoder.pooler.dense.weight"]):abs():max():item() > 0,
  "depth L unfrozen at step 3 and moved")
ok((model.encoder.embeddings.word_embeddings.weight - before["encoder.embeddings.word_embeddings.weight"]):abs():max():item() == 0,
  "embeddings still unchanged at step 3")
-- a parameter that did not require gradients before setup stays so
model = Cls()
model.encoder.embeddings.position_embeddings.weight:requires_grad(false)
s = strategy.ulmfit { lr = 1e-3 }:setup(model, ctx_of(model, 8))
s:before_step(7)
ok(hub.C.hub_tensor_requires_grad(model.encoder.embeddings.position_embeddings.weight) == 0,
  "a parameter frozen by the user is not unfrozen")

-- ---- L2-SP: value and gradient by hand ----
hub.manual_seed(3)
model = Cls()
s = strategy.l2sp { lr = 1e-3, alpha = 0.3, beta = 0.05 }:setup(model, ctx_of(model, 10))
local w0 = {}
for n, p in model:named_parameters() do w0[n] = p:clone() end
hub.no_grad(function()
  for _, p in model:named_parameters() do p:add_(hub.randn(p.shape) * 0.1) end
end)
local want = 0
for n, p in model:named_parameters() do
  local a, b = p:reshape(-1):totable(), w0[n]:reshape(-1):totable()
  if strategy.layer_of_ernie(n, L) < D then
    for i = 1, #a do want = want + 0.3 / 2 * (a[i] - b[i]) ^ 2 end
  else
    for i = 1, #a do want = want + 0.05 / 2 * a[i] ^ 2 end
  end
end
local pen = s:penalty()
ok(near(pen:item(), want, 1e-5), string.format("L2-SP penalty %.9g, by hand %.9g", pen:item(), want))
for _, p in model:named_parameters() do p:zero_grad() end
pen:backward()
local worst = 0
for n, p in model:named_parameters() do
  local g, a, b = p.grad:reshape(-1):totable(), p:reshape(-1):totable(), w0[n]:reshape(-1):totable()
  local pre = strategy.layer_of_ernie(n, L) < D
  for i = 1, #a do
    local w = pre and 0.3 * (a[i] - b[i]) or 0.05 * a[i]
    worst = math.max(worst, math.abs(g[i] - w))
  end
end
ok(worst < 1e-6, "L2-SP gradient alpha (w - w0) / beta w, worst " .. worst)
-- default_finetune: l2/2 ||w||^2 on the pretrained parameters only
s = strategy.default_finetune { l2 = 0.2 }:setup(model, ctx_of(model, 10))
want = 0
for n, p in model:named_parameters() do
  if strategy.layer_of_ernie(n, L) < D then
    for _, v in ipairs(p:reshape(-1):totable()) do want = want + 0.1 * v * v end
  end
end
ok(near(s:penalty():item(), want, 1e-5), "default_finetune: L2 penalty on pretrained parameters")

-- ---- clip: the update sees gradients of global norm <= clip ----
model = Cls()
s = strategy.combined { lr = 1.0, optimizer = "sgd", clip = 1e-3 }:setup(model, ctx_of(model, 4))
before = {}
for n, p in model:named_parameters() do before[n] = p:clone() end
train_step(model, s, 0)
local sq = 0
for n, p in model:named_parameters() do sq = sq + ((p - before[n]) * (p - before[n])):sum():item() end
ok(math.sqrt(sq) <= 1e-3 * 1.0001, "clip 1e-3 with SGD lr 1: the update's norm is " .. math.sqrt(sq))

-- ---- resume: 6 updates == 3 updates, state_dict, a new model + strategy, load, 3 updates ----
local function make_strategy()
  return strategy.combined { lr = 5e-3, warmup = 0.2, linear_decay = true, weight_decay = 0.01, dis_factor = 2,
    gradual_unfreeze = 2, alpha = 0.01, beta = 0.01, clip = 1.0 }
end
hub.manual_seed(7)
local m1 = Cls()
local init = {}
for n, p in m1:named_parameters() do init[n] = p:clone() end
local s1 = make_strategy():setup(m1, ctx_of(m1, 6))
for t = 0, 5 do train_step(m1, s1, t) end

-- (a) the trainer's way: setup on the pretrained weights, then the checkpoint's weights, the
-- optimiser's own state and the strategy's JSON-able state
local function resume_compare(label, full)
  local m2 = Cls()
  m2:load_state_dict(init)
  local s2 = make_strategy():setup(m2, ctx_of(m2, 6))
  for t = 0, 2 do train_step(m2, s2, t) end
  local weights = {}
  for n, p in m2:named_parameters() do weights[n] = p:clone() end
  local m3 = Cls()
  local s3
  if full then
    -- (b) a caller that keeps nothing else: state_dict{full = true}, setup on the resumed weights
    local saved = s2:state_dict { full = true }
    m3:load_state_dict(weights)
    s3 = make_strategy():setup(m3, ctx_of(m3, 6))
    s3:load_state_dict(saved)
  else
    local cjson = require "cjson"
    local saved = cjson.decode(cjson.encode(s2:state_dict()))
    local osd = s2.optimizer:state_dict()
    m3:load_state_dict(init)
    s3 = make_strategy():setup(m3, ctx_of(m3, 6))
    m3:load_state_dict(weights)
    s3.optimizer:load_state_dict(osd)
    s3:load_state_dict(saved)
  end
  ok(s3.step == 2, label .. ": resumed step")
  for t = 3, 5 do train_step(m3, s3, t) end
  local same, p3 = true, {}
  for n, p in m3:named_parameters() do p3[n] = p end
  for n, p in m1:named_parameters() do
    if (p - p3[n]):abs():max():item() ~= 0 then same = false; print(label .. " differs: " .. n) end
  end
  ok(same, label .. ": resumed run bit-identical to the uninterrupted one")
  -- the anchors are the pretrained weights, not the weights resumed from
  ok((s3.anchors["encoder.pooler.dense.weight"] - init["encoder.pooler.dense.weight"]):abs():max():item() == 0,
    label .. ": resumed L2-SP anchors are the pretrained weights")
  return s2
end
resume_compare("trainer-style resume", false)
local s2 = resume_compare("full-state resume", true)
local saved = s2:state_dict()
-- state for another strategy is refused
T.errors(function() strategy.default():setup(m1, ctx_of(m1, 6)):load_state_dict(saved) end, "the state is for strategy 'combined'",
  "load_state_dict of another strategy")

-- ---- errors ----
T.errors(function() strategy.adamw { lr = -1 } end, "'lr' must be a positive number", "negative lr")
T.errors(function() strategy.adamw { warmpu = 0.1 } end, "unknown option 'warmpu'", "misspelt option")
T.errors(function() strategy.ulmfit { warmup = 0.1 } end, "'warmup' cannot be combined with the slanted triangular", "warmup + STLR")
T.errors(function() strategy.combined { gradual_unfreeze = 1.5 } end, "'gradual_unfreeze' must be true or a whole number", "fractional blocks")
T.errors(function() strategy.combined { optimizer = "lamb" } end, "'optimizer' must be \"adam\" or \"sgd\"", "unknown optimizer")
T.errors(function() strategy.combined { unfreeze_every = 3 } end, "'unfreeze_every' without gradual_unfreeze", "unfreeze_every alone")
T.errors(function() strategy.default():setup(model, { named_parameters = {} }) end, "total_steps must be a positive integer", "no total_steps")
T.errors(function() strategy.ulmfit { unfreeze_every = "epoch" }:setup(model, ctx_of(model, 10)) end, "needs steps_per_epoch",
  "epoch without steps_per_epoch")
T.errors(function() strategy.default():setup(model, ctx_of(model, 10, { num_layers = 1 })) end,
  "num_layers is 1 but layer_of gives depths up to 3", "num_layers too small")
ok(tostring(strategy.adamw { lr = 5e-5 }):find("lr=5e-05", 1, true) ~= nil, "tostring names the options")

T.finish()
