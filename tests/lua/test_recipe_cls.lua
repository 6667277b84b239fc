-- The recipe smoke test: recipes/ernie_cls.lua on a small subset of reviews_zh (800 training
-- examples, 1 epoch, 48 tokens) with the ernie-tiny-zh module that `make registry` builds
-- reaches a dev and test accuracy above chance (0.6; the classes are about 51/49), then exports
-- a module.  Needs the module (built only when modules/ernie-tiny-zh holds trained weights) and
-- the reviews_zh data (make corpus): without them it prints "skipped: ...".
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local build = HUBRUN:match("^(.*)/[^/]*$") or "."
local ver = (T.read_file((arg[0]:match("^(.*)/") or ".") .. "/../../modules/ernie-tiny-zh/VERSION") or "1.0.0"):match("%d+%.%d+%.%d+")
local module_dir = os.getenv("RECIPE_MODULE") or (build .. "/registry/ernie-tiny-zh/" .. ver)

-- hub.recipe.args' `without`: ernie_seq_label.lua drops the shared options it has no use for
-- (no module or data needed: --help and a refused argument exit before either is touched)
do
  local function run(args)
    local p = io.popen(string.format("%s ../recipes/ernie_seq_label.lua %s 2>&1; echo rc=$?", T.q(HUBRUN), args))
    local s = p:read("*a"); p:close(); return s
  end
  local help = run("--help")
  ok(help:find("--head_lr", 1, true) and help:find("(default: 50)", 1, true) and help:find("rc=0", 1, true),
     "ernie_seq_label --help lists its options and defaults", help)
  ok(not help:find("--truncation", 1, true) and not help:find("--pooling", 1, true) and not help:find("--export_format", 1, true),
     "ernie_seq_label --help leaves out truncation, pooling and export_format", help)
  local bad = run("--truncation head_tail --max_train 8 --max_eval 8 --stop_after 1 --threads 1")  -- (bounded if it were taken)
  ok(bad:find("unknown argument '--truncation'", 1, true) and bad:find("rc=2", 1, true),
     "ernie_seq_label --truncation is an unknown argument", bad)
  local p = io.popen(string.format("%s ../recipes/ernie_cls.lua --help 2>&1", T.q(HUBRUN)))
  local chelp = p:read("*a"); p:close()
  ok(chelp:find("--truncation", 1, true) and chelp:find("--pooling", 1, true), "ernie_cls --help keeps truncation and pooling", chelp)
end
if io.open(module_dir .. "/module.json") == nil then
  print("skipped: " .. module_dir .. " is not built (modules/ernie-tiny-zh has no trained weights; make registry)")
  T.finish()
  return
end
local okd = pcall(hub.datasets.reviews_zh)
if not okd then
  T.data_missing("reviews_zh is not fetched (make corpus)", "reviews_zh missing")
  T.finish()
  return
end

-- --random_init: the same network with fresh BERT-init weights (the baseline of docs/finetune.md)
do
  local pre = hub.module(module_dir)
  hub.manual_seed(7)
  local rnd = hub.recipe.encoder { module = module_dir, random_init = 1 }
  local function qkv(m)
    for k, v in pairs(m.model:state_dict()) do if k:match("qkv%.weight$") and k:match("%.0%.") then return v:float() end end
    error("no qkv weight in the encoder")
  end
  local pw, rw = qkv(pre), qkv(rnd)
  ok((pw - rw):abs():max():item() > 1e-3, "--random_init: the query weights are not the pretrained ones")
  local std = rw:pow(2):mean():sqrt():item()
  ok(math.abs(std - 0.02) < 0.002, "--random_init: weights ~ N(0, 0.02)", std)
  local ln = rnd.model.embeddings.layer_norm.weight:float()
  ok(ln:min():item() == 1 and ln:max():item() == 1, "--random_init: LayerNorm weights 1")
  hub.manual_seed(7)
  local rnd2 = hub.recipe.encoder { module = module_dir, random_init = 1 }
  ok((qkv(rnd2) - rw):abs():max():item() == 0,
    "--random_init: the same seed gives the same weights")
  local r0 = hub.recipe.encoder { module = module_dir, random_init = 0 }
  ok((qkv(r0) - pw):abs():max():item() == 0,
    "--random_init 0 keeps the pretrained weights")
end

-- --dropout: every dropout of the encoder (embeddings + one per layer, and the attentions) and
-- the head's; -1 leaves the module's 0.1
do
  local m = hub.recipe.encoder { module = module_dir, dropout = 0.25 }
  local ps, attn = {}, {}
  m.model:apply(function(x)
    if x.__name == "Dropout" then ps[#ps + 1] = x.p end
    if x.__name == "MultiHeadAttention" then attn[#attn + 1] = x.dropout end
  end)
  ok(#ps == 5 and #attn == 4, "--dropout: the encoder's dropout layers and attentions found", #ps, #attn)
  local all = true
  for _, p in ipairs(ps) do all = all and p == 0.25 end
  for _, p in ipairs(attn) do all = all and p == 0.25 end
  ok(all, "--dropout 0.25 reaches every dropout of the encoder")
  local task = hub.task.text_classification { module = m, num_classes = 2 }
  ok(task.dropout.p == 0.25, "--dropout: the head's dropout follows the encoder's", task.dropout.p)
  local d = hub.recipe.encoder { module = module_dir, dropout = -1 }
  ok(hub.task.text_classification { module = d, num_classes = 2 }.dropout.p == 0.1, "--dropout -1: the module's 0.1")
  ok(not pcall(hub.recipe.set_dropout, d, 1.5), "--dropout 1.5 is an error")
end

-- --max_eval: a fixed sample (not the first N: reviews_zh's dev is sorted by label), the same
-- elements for any seed, in their order
do
  local l = {}
  for i = 1, 1000 do l[i] = i end
  local s = hub.recipe.sample(l, 50)
  local lo, hi, sorted = 0, 0, true
  for k, v in ipairs(s) do
    if v <= 500 then lo = lo + 1 else hi = hi + 1 end
    if k > 1 and v <= s[k - 1] then sorted = false end
  end
  ok(#s == 50 and sorted, "sample: 50 distinct elements in their original order")
  ok(lo >= 15 and hi >= 15, "sample: drawn from the whole list, not its head", lo, hi)
  local ds = hub.recipe.data(hub.datasets.reviews_zh(), { max_eval = 200, seed = 3 })
  local pos = 0
  for _, e in ipairs(ds.dev) do if e.label == 1 then pos = pos + 1 end end
  ok(#ds.dev == 200 and pos > 60 and pos < 140, "--max_eval 200 on reviews_zh dev holds both labels", pos)
end

local tmp = io.popen("mktemp -d /tmp/hub_recipecls_XXXXXX"):read("*l")
local q = T.q
local cmd = string.format("HUB_HOME=%s %s ../recipes/ernie_cls.lua --module %s --max_train 800 --max_eval 400 --epochs 1 " ..
  "--batch_size 16 --max_seq_len 48 --lr 3e-4 --threads 2 --out %s --export smoke-cls --predictions %s 2>%s",
  q(tmp .. "/home"), q(HUBRUN), q(module_dir), q(tmp .. "/run"), q(tmp .. "/pred.jsonl"), q(tmp .. "/err"))
local out = io.popen(cmd):read("*a")
local dev, test = out:match("dev acc ([%d.]+)  test acc ([%d.]+)")
ok(dev and test, "the recipe prints dev and test accuracy", out .. (T.read_file(tmp .. "/err") or ""))
ok(tonumber(dev or 0) > 0.6 and tonumber(test or 0) > 0.6, "accuracy above chance (> 0.6)", out)
ok(io.open(tmp .. "/run/smoke-cls/module.json") ~= nil, "--export writes the module")
ok(io.open(tmp .. "/run/curves.png") ~= nil and io.open(tmp .. "/run/metrics.jsonl") ~= nil, "curves.png and metrics.jsonl")
-- --predictions: one line per test example; their accuracy is the printed test accuracy
do
  local n, right = 0, 0
  for line in (T.read_file(tmp .. "/pred.jsonl") or ""):gmatch("[^\n]+") do
    local i, g, p = line:match('^{"index": (%d+), "gold": (%d+), "pred": (%d+)}$')
    if i and tonumber(i) == n + 1 then n = n + 1; if g == p then right = right + 1 end end
  end
  ok(n == 400, "--predictions writes every test example in order", n)
  ok(n > 0 and math.abs(right / n - tonumber(test or -1)) < 1e-4, "--predictions agree with the test accuracy",
    string.format("%d/%d vs %s", right, n, tostring(test)))
end
print(out)
if T.failed == 0 then os.execute("rm -rf " .. q(tmp)) end
T.finish()
