-- test_device.lua: fine-tuning and prediction on the "cuda" device, against the same runs on the
-- CPU.  ctest runs it with HUB_CUDA_STANDIN=1: on a machine with a GPU that is the GPU; without
-- one it is the stand-in device (kernels/cpu/cuda_standin.c: the CPU's kernels behind exactly the
-- CUDA backend's coverage), which checks everything above the kernels - every tensor a task, a
-- strategy, the optimiser, a checkpoint or an export makes is on the task's device, no op mixes
-- devices, the CRF's loss, gradient and decoding run there too - and then the two runs must agree
-- exactly (the same kernels); on a GPU within tolerances (below).
--
-- Each case: the same tiny encoder from the same seed, hub.finetune with device = "cpu" and
-- "cuda", then the dev and test metrics, every weight, and predict() compared.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local F = require "finetune_fixture"

if not hub.cuda.is_available() then
  -- run outside ctest (no HUB_CUDA_STANDIN) on a machine without a GPU: the option's error
  local net, tk = F.encoder(1)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 16 }
  T.errors(function() hub.finetune(task, F.sentiment(40), { quiet = true, device = "cuda" }) end,
    "device \"cuda\" is not available", "finetune on cuda without a device")
  print("skipped: no cuda device and no stand-in (set HUB_CUDA_STANDIN=1)")
  T.finish()
  return
end
local standin = hub.cuda.device_name(1):find("stand-in", 1, true) ~= nil
-- Tolerances.  The stand-in runs the CPU's kernels: everything must agree exactly.  On a GPU the
-- first update (loss, gradient norm) must agree to f32 rounding (TF32 stays off); after many
-- Adam updates tiny differences grow (a near-zero gradient's sign decides a whole lr step), so
-- the finished runs are compared loosely: their metrics, predictions and weights.
local TOL = standin and 0 or 0.05         -- metrics and predictions (relative, at least absolute)
local STEP_TOL = standin and 0 or 1e-4    -- the first update
local W_TOL = standin and 0 or 0.1        -- max |weight difference| after training
print(string.format("device: %s (tolerances: first step %g, metrics %g, weights %g)", hub.cuda.device_name(1), STEP_TOL, TOL, W_TOL))

-- factories with {device =}; the same seeded numbers on both devices
do
  ok(hub.zeros(2, 3, { device = "cuda" }).device == "cuda", "zeros(..., {device = 'cuda'})")
  local z = hub.zeros({ 2, 3 }, { dtype = "i64", device = "cuda" })
  ok(z.device == "cuda" and z.dtype == "i64", "zeros({2, 3}, {dtype, device})")
  ok(hub.arange(5, { device = "cuda" }).device == "cuda" and hub.arange(5, { device = "cuda" }):sum():item() == 10, "arange on cuda")
  ok(hub.empty(3, { device = "cuda" }).device == "cuda", "empty on cuda")
  ok(hub.full({ 2 }, 3, { device = "cuda" }):sum():item() == 6, "full on cuda")
  ok(hub.tensor({ 1, 2 }, { device = "cuda" }).device == "cuda", "tensor on cuda")
  ok(hub.zeros_like(z).device == "cuda" and hub.ones_like(z).dtype == "i64", "zeros_like/ones_like keep device and dtype")
  hub.manual_seed(3); local a = hub.randn(4, 5)
  hub.manual_seed(3); local b = hub.randn(4, 5, { device = "cuda" })
  ok(b.device == "cuda" and (a - b:cpu()):abs():max():item() == 0, "randn: the same numbers on both devices")
  T.errors(function() return hub.zeros(2, { device = "tpu" }) end, "device must be", "an unknown device")
  T.errors(function() return hub.zeros(2, { devise = "cuda" }) end, "unknown option 'devise'", "a misspelt option")
  local c = hub.zeros(3)
  c:copy_(hub.tensor({ 1, 2, 3 }, { device = "cuda" }))
  ok(c.device == "cpu" and c:sum():item() == 6, "copy_ across devices")
  ok(tostring(b):find("device=cuda", 1, true) and tostring(b):find("%d%.%d%d%d%d"), "a cuda tensor prints its values", tostring(b))
end

-- nn constructors with {device =} / {dtype =}: the layer (and the children its init makes) is
-- moved there when built, from the same seeded cpu initialisation
do
  local nn = hub.nn
  hub.manual_seed(5); local lc = nn.Linear(6, 4)
  hub.manual_seed(5); local lg = nn.Linear(6, 4, { device = "cuda" })
  ok(lg.weight.device == "cuda" and lg.bias.device == "cuda" and tostring(lg.weight):find("requires_grad", 1, true) ~= nil,
     "Linear(6, 4, {device = 'cuda'}): parameters on cuda")
  ok((lc.weight - lg.weight:cpu()):abs():max():item() == 0, "Linear on cuda starts from the cpu's seeded weights")
  local x = hub.randn(3, 6)
  ok((lc(x) - lg(x:cuda()):cpu()):abs():max():item() < 1e-6, "Linear on cuda computes what the cpu does")
  local mha = nn.MultiHeadAttention(8, 2, { device = "cuda" })
  ok(mha.qkv.weight.device == "cuda" and mha.out.weight.device == "cuda", "MultiHeadAttention's children go with it")
  local layer = nn.TransformerEncoderLayer(8, 2, 16, { device = "cuda", dropout = 0 })
  local n_cuda, n_all = 0, 0
  for _, p in ipairs(layer:parameters()) do n_all = n_all + 1; if p.device == "cuda" then n_cuda = n_cuda + 1 end end
  ok(n_all > 0 and n_cuda == n_all, "TransformerEncoderLayer {device = 'cuda'}: every parameter on cuda", n_cuda .. "/" .. n_all)
  ok(nn.LayerNorm(5, { dtype = "f64" }).weight.dtype == "f64", "LayerNorm {dtype = 'f64'}")
  local e = nn.Embedding(10, 4, { device = "cuda", padding_idx = 0 })
  ok(e.weight.device == "cuda" and e(hub.tensor({ 1, 2 }, { dtype = "i64", device = "cuda" })).device == "cuda", "Embedding on cuda")
  T.errors(function() return nn.Linear(2, 2, { device = "tpu" }) end, 'Linear: device must be "cpu" or "cuda"', "a bad device names the layer")
  T.errors(function() return nn.Linear(2, 2, { dtype = "i64" }) end, "option 'dtype' must be one of", "an integer dtype for a layer")
  ok(nn.Linear(2, 2).weight.device == "cpu", "without the option: the cpu")
end

local function maxdiff(a, b)
  local d = (a:to("cpu"):to("f64") - b:to("cpu"):to("f64")):abs()
  return d:numel() > 0 and d:max():item() or 0
end

local function close(x, y, what)
  if type(x) == "table" then
    for k, v in pairs(x) do close(v, y[k], what .. "." .. tostring(k)) end
    return
  end
  if type(x) == "number" then
    ok(type(y) == "number" and math.abs(x - y) <= TOL * math.max(1, math.abs(x)), what, string.format("%s vs %s", tostring(x), tostring(y)))
  else
    ok(x == y, what, string.format("%s vs %s", tostring(x), tostring(y)))
  end
end

-- runs make_task() on both devices with the same options; compares everything; returns the
-- cuda task
local function both(name, make_task, ds, o, texts)
  -- the first update: one batch forward and backward on each device, from the same seed
  local first = {}
  for _, dev in ipairs { "cpu", "cuda" } do
    local task = make_task()
    task:check_dataset(ds)
    local f = task:featurize(ds, { cache = false })
    task:place(dev):train()
    hub.manual_seed(11)
    local b = task:on_device(f.train:batch(f.train:batch_order(8, { shuffle = false })[1]))
    local loss = task:loss(task:forward_batch(b), b)
    loss:backward()
    local sq = 0
    for _, p in ipairs(task:parameters()) do
      local g = p.grad
      if g then
        ok(g.device == dev, name .. ": a gradient on " .. dev, g.device)
        sq = sq + (g * g):sum():item()
      end
    end
    first[dev] = { loss = loss:item(), gnorm = math.sqrt(sq) }
  end
  for _, k in ipairs { "loss", "gnorm" } do
    local x, y = first.cpu[k], first.cuda[k]
    ok(math.abs(x - y) <= STEP_TOL * math.max(1, math.abs(x)), name .. ": the first update's " .. k .. " agrees",
      string.format("%.9g vs %.9g", x, y))
  end
  local runs, tasks = {}, {}
  for _, dev in ipairs { "cpu", "cuda" } do
    local task = make_task()
    local opts = { quiet = true, progress = false, cache = false, seed = 3, device = dev }
    for k, v in pairs(o) do opts[k] = v end
    if type(opts.strategy) == "function" then opts.strategy = opts.strategy() end
    runs[dev], tasks[dev] = hub.finetune(task, ds, opts), task
  end
  local a, b = runs.cpu, runs.cuda
  ok(tasks.cuda:device() == "cuda", name .. ": the task ends on cuda", tasks.cuda:device())
  local on = 0
  for _, p in ipairs(tasks.cuda:parameters()) do if p.device == "cuda" then on = on + 1 end end
  ok(on == #tasks.cuda:parameters(), name .. ": every parameter is on cuda", on .. " of " .. #tasks.cuda:parameters())
  ok(a.step == b.step and a.step > 0, name .. ": the same number of updates", a.step .. " vs " .. b.step)
  close(a.dev, b.dev, name .. ": dev metrics")
  close(a.test, b.test, name .. ": test metrics")
  local sa, sb, worst, wname = tasks.cpu:state_dict(), tasks.cuda:state_dict(), 0, ""
  for k, t in pairs(sa) do
    local d = maxdiff(t, sb[k])
    if d > worst then worst, wname = d, k end
  end
  ok(worst <= W_TOL, name .. ": the weights agree", string.format("max |diff| %g at %s", worst, wname))
  if texts then
    close(tasks.cpu:predict(texts), tasks.cuda:predict(texts), name .. ": predict")
  end
  return tasks.cuda, b
end

local texts = { "这个很好", "酒店太差了", "我们今天真的满意" }

-- classification, the default strategy (AdamW, warm-up, clipping), grad accumulation
local cls = both("classification", function()
  local net, tk = F.encoder(1)
  return hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
end, F.sentiment(), { epochs = 3, batch_size = 16, lr = 1e-2, grad_accum = 2, eval_interval = 5 }, texts)

-- sequence labelling with a CRF: its loss, gradient and Viterbi decoding on the device
-- (kernels/cuda/paddle.cu)
both("ner crf", function()
  local net, tk = F.encoder(2)
  return hub.task.sequence_labeling { network = net, tokenizer = tk, max_seq_len = 24, crf = true }
end, F.ner(120), { epochs = 2, batch_size = 16, lr = 2e-2 }, texts)
both("ner softmax", function()
  local net, tk = F.encoder(2)
  return hub.task.sequence_labeling { network = net, tokenizer = tk, max_seq_len = 24 }
end, F.ner(120), { epochs = 2, batch_size = 16, lr = 2e-2 }, texts)

both("multi-label", function()
  local net, tk = F.encoder(3)
  return hub.task.multi_label_classification { network = net, tokenizer = tk, max_seq_len = 24 }
end, F.multi_label(120), { epochs = 2, batch_size = 16, lr = 2e-2 }, texts)

both("regression, mean pooling", function()
  local net, tk = F.encoder(4)
  return hub.task.regression { network = net, tokenizer = tk, max_seq_len = 24, pooling = "mean" }
end, F.regression(120), { epochs = 2, batch_size = 16, lr = 1e-2 }, texts)

both("pairwise matching", function()
  local net, tk = F.encoder(5)
  return hub.task.text_matching { network = net, tokenizer = tk, max_seq_len = 24, mode = "pairwise" }
end, F.query_pairs(60), { epochs = 2, batch_size = 8, lr = 1e-2 }, { { "这个很好", "不错酒店" } })

-- the strategies that keep tensors of their own (L2-SP's anchors) or freeze layers (ULMFiT)
both("l2sp", function()
  local net, tk = F.encoder(6)
  return hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
end, F.sentiment(120), { epochs = 2, batch_size = 16,
  strategy = function() return hub.strategy.l2sp { lr = 1e-2, alpha = 1e-2, beta = 1e-2 } end })
both("ulmfit", function()
  local net, tk = F.encoder(7, { layers = 2 })
  return hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
end, F.sentiment(120), { epochs = 3, batch_size = 16,
  strategy = function() return hub.strategy.ulmfit { lr = 1e-2 } end })

-- a checkpointed run on cuda, stopped and resumed, ends as one that ran through
do
  local dir = os.tmpname()
  os.remove(dir)
  local function make()
    local net, tk = F.encoder(8)
    return hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
  end
  local o = { epochs = 2, batch_size = 16, lr = 1e-2, quiet = true, progress = false, cache = false, seed = 4, device = "cuda" }
  local full = make()
  hub.finetune(full, F.sentiment(120), o)
  local o2 = {}
  for k, v in pairs(o) do o2[k] = v end
  o2.checkpoint_dir, o2.stop_after = dir, 5
  local part = make()
  local r1 = hub.finetune(part, F.sentiment(120), o2)
  ok(r1.done == false and r1.step == 5, "resume: the first process stops after 5 updates", tostring(r1.step))
  o2.stop_after = nil
  local resumed = make()
  local r2 = hub.finetune(resumed, F.sentiment(120), o2)
  ok(r2.done and resumed:device() == "cuda", "resume: the second process finishes on cuda", resumed:device())
  local worst = 0
  local sa, sb = full:state_dict(), resumed:state_dict()
  for k, t in pairs(sa) do worst = math.max(worst, maxdiff(t, sb[k])) end
  ok(worst <= (standin and 0 or 1e-5), "resume on cuda: the same weights as a run through", tostring(worst))
  os.execute("rm -rf '" .. dir .. "'")
end

-- export from a task on cuda: the module's weights are written (from the device) and, loaded
-- back on the cpu, predict as the task did
do
  local dir = os.tmpname()
  os.remove(dir)
  cls:export { name = "dev-cls", version = "1.0.0", dir = dir }
  local back = hub.task.load(dir)
  ok(back:device() == "cpu", "the exported task loads on the cpu")
  close(cls:predict(texts), back:predict(texts), "export from cuda: the same predictions")
  os.execute("rm -rf '" .. dir .. "'")
end

-- modules loaded with device = "cuda" (hub.module's option, `hubrun serving --device cuda`):
-- the registry's ernie-tiny-zh (vectors, fill-mask) and senta-ernie-tiny-zh when make registry
-- built them; their results come back to the cpu and equal the cpu's
do
  local here = (arg[0]:match("^(.*)/") or ".") .. "/../.."
  local reg = os.getenv("HUB_REGISTRY_DIR")
  reg = (reg and reg ~= "" and reg or here .. "/build/registry")
  local function newest(name)
    local v = (T.read_file(here .. "/modules/" .. name .. "/VERSION") or ""):match("%d+%.%d+%.%d+")
    local d = v and (reg .. "/" .. name .. "/" .. v)
    if d and T.read_file(d .. "/module.json") then return d end
    local p = io.popen("ls -d '" .. reg .. "/" .. name .. "'/*/ 2>/dev/null | sort -V | tail -1")
    d = p:read("*l"); p:close()
    return d and d ~= "" and d:gsub("/$", "") or nil
  end
  local enc = newest("ernie-tiny-zh")
  if enc then
    local mc, mg = hub.module(enc), hub.module(enc, { device = "cuda" })
    local s = { "这家酒店很干净", "打开文件菜单，然后选择保存。" }
    local vc, vg = mc:vectors(s), mg:vectors(s)
    ok(vg.device == "cpu", "module on cuda: the vectors come back to the cpu")
    ok(maxdiff(vc, vg) <= (standin and 0 or 1e-4), "module on cuda: the same vectors", tostring(maxdiff(vc, vg)))
    local fc, fg = mc:fill_mask({ "北京是中国的首[MASK]" }), mg:fill_mask({ "北京是中国的首[MASK]" })
    ok(fc[1][1][1].token == fg[1][1][1].token, "module on cuda: the same fill-mask", fc[1][1][1].token .. " vs " .. fg[1][1][1].token)
    local ctx = mg:context { trainable = true }
    ok(ctx.network:parameters()[1].device == "cuda", "context on cuda hands out the network there")
    local task = hub.task.text_classification { module = mg, num_classes = 2 }
    ok(task:place():device() == "cuda" and task.classifier.weight.device == "cuda", "a task over a cuda module: the head joins it")
  else
    print("(no ernie-tiny-zh in " .. reg .. ": make registry; module cases skipped)")
  end
  local senta = newest("senta-ernie-tiny-zh")
  if senta then
    local a = hub.module(senta):predict { "这家酒店很干净" }
    local b = hub.module(senta, { device = "cuda" }):predict { "这家酒店很干净" }
    close(a, b, "senta on cuda: the same result")
  end
  -- LAC (embedding, linear, Paddle's GRU, the CRF's Viterbi) on the device: the same words and tags
  local lacdir = newest("lac")
  if lacdir then
    local texts = { "百度是一家高科技公司", "今天是个好日子", "我", "春天来了，北京的花都开了，我们去颐和园看看吧" }
    local a, b = hub.module(lacdir):predict(texts), hub.module(lacdir, { device = "cuda" }):predict(texts)
    local same = #a == #b
    for i = 1, #a do
      same = same and b[i] and table.concat(a[i].word, " ") == table.concat(b[i].word, " ")
        and table.concat(a[i].tag, " ") == table.concat(b[i].tag, " ")
    end
    ok(same, "lac on cuda: the same words and tags", b[1] and table.concat(b[1].word, " ") or "nil")
    T.errors(function() hub.module(lacdir, { device = "gpu" }) end, "device must be", "lac: an unknown device")
  else
    print("(no lac in " .. reg .. ": make registry; lac case skipped)")
  end
  if enc or senta then -- (without the registry there is no module to load: the skips above say so)
    T.errors(function() hub.module(enc or senta, { device = "tpu" }) end, "device must be", "module load: an unknown device")
  end
  -- serving: --device cuda gives every module device = "cuda"; a bad device fails before any port opens
  if senta then
    local serving = require "hub.serving"
    local cfg = serving.config { modules = { senta }, device = "cuda" }
    ok(cfg.served[1].init_args.device == "cuda", "serving --device cuda: the module loads on cuda")
    cfg = serving.config { modules = { senta }, use_gpu = true }
    ok(cfg.served[1].init_args.device == "cuda", "serving --use_gpu: the same")
    T.errors(function() serving.config { modules = { senta }, device = "gpu" } end, "device must be", "serving: an unknown device")
  end
end

T.errors(function()
  local net, tk = F.encoder(1)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 16 }
  hub.finetune(task, F.sentiment(40), { quiet = true, device = "gpu" })
end, "finetune: device must be \"cpu\" or \"cuda\", got \"gpu\"", "an unknown device is named")
T.finish()
