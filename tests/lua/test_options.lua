-- test_options.lua - every options table is checked by the one checker, hub.core.check_options:
-- an unknown key, or a value of the wrong type, is an error that names the key and the allowed
-- ones (as the nn constructors always did), and correct options keep working.  One case per
-- place that takes options: ops, nn, optim (and its parameter groups), lr, data, io, the
-- tokenizer, hub.module, and $HUB_HOME/conf/config.json.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local core = require "hub.core"

local function errmsg(fn)
  local good, err = pcall(fn)
  if good then return nil end
  return (tostring(err):gsub("^[^:]*:%d+: ", "")) -- the caller's position
end

local function expect(name, fn, want)
  local e = errmsg(fn)
  ok(e == want, name, "expected: " .. want .. "\n got:      " .. tostring(e))
end

-- ---- the checker itself ----
local spec = { n = "number", i = "integer", s = "string", b = "boolean", t = "table", f = "function",
               x = "tensor", u = "number|string", a = "any" }
local good = { n = 1.5, i = 3, s = "x", b = false, t = {}, f = print, x = hub.zeros { 1 }, u = "y", a = print }
ok(core.check_options(good, spec, "f") == good, "check_options returns the table")
ok(next(core.check_options(nil, spec, "f")) == nil, "check_options(nil) is an empty table")
expect("unknown key", function() core.check_options({ nn = 1 }, spec, "f") end,
  "f: unknown option 'nn' (expected one of a, b, f, i, n, s, t, u, x)")
expect("one allowed key", function() core.check_options({ y = 1 }, { z = "number" }, "g") end,
  "g: unknown option 'y' (expected z)")
expect("no options at all", function() core.check_options({ y = 1 }, {}, "g") end,
  "g: unknown option 'y' (expected no options)")
expect("a positional entry", function() core.check_options({ 5 }, { z = "number" }, "g") end,
  "g: unknown option '1' (expected z)")
expect("integer", function() core.check_options({ i = 1.5 }, spec, "f") end, "f: option 'i' must be an integer, got number 1.5")
expect("tensor", function() core.check_options({ x = 1 }, spec, "f") end, "f: option 'x' must be a tensor, got number 1")
expect("alternatives", function() core.check_options({ u = true }, spec, "f") end,
  "f: option 'u' must be a number or a string, got boolean true")
expect("not a table", function() core.check_options(5, spec, "f", 3) end,
  "bad argument #3 to 'f' (expected an options table, got number)")

-- ---- ops ----
local x = hub.randn(2, 3)
local tgt = hub.tensor({ 0, 2 }, "i64")
expect("cross_entropy", function() hub.cross_entropy(x, tgt, { ignore = 1 }) end,
  "cross_entropy: unknown option 'ignore' (expected one of ignore_index, label_smoothing)")
expect("cross_entropy type", function() hub.cross_entropy(x, tgt, { label_smoothing = "0.1" }) end,
  "cross_entropy: option 'label_smoothing' must be a number, got string 0.1")
ok(math.abs(hub.cross_entropy(x, tgt, { label_smoothing = 0 }):item() - hub.cross_entropy(x, tgt):item()) < 1e-6,
  "cross_entropy with correct options")
expect("embedding", function() hub.embedding(hub.randn(4, 2), hub.tensor({ 1 }, "i64"), { padding = 0 }) end,
  "embedding: unknown option 'padding' (expected padding_idx)")
expect("attention_qkv", function() hub.attention_qkv(hub.randn(1, 2, 6), 1, nil, { drop = 0.1 }) end,
  "attention_qkv: unknown option 'drop' (expected one of dropout, scale)")
expect("format", function() x:format { treshold = 2 } end, "format: unknown option 'treshold' (expected one of edgeitems, threshold)")

-- ---- nn ----
expect("Linear", function() hub.nn.Linear(2, 3, { bias = "no" }) end, "Linear: option 'bias' must be a boolean, got string no")
expect("LayerNorm", function() hub.nn.LayerNorm(3, { epsilon = 1e-6 }) end,
  "LayerNorm: unknown option 'epsilon' (expected one of affine, device, dtype, eps)")
expect("TransformerEncoderLayer", function() hub.nn.TransformerEncoderLayer(8, 2, 16, { norm_first = 1 }) end,
  "TransformerEncoderLayer: option 'norm_first' must be a boolean, got number 1")
local lin = hub.nn.Linear(2, 3)
expect("load_state_dict", function() lin:load_state_dict(lin:state_dict(), { strict = "yes" }) end,
  "load_state_dict: option 'strict' must be a boolean, got string yes")

-- ---- optim ----
expect("SGD unknown", function() hub.optim.SGD(lin, { lr = 0.1, momentun = 0.9 }) end,
  "SGD: unknown option 'momentun' (expected one of dampening, lr, momentum, nesterov, no_decay, schedule, weight_decay)")
expect("Adam betas type", function() hub.optim.Adam(lin, { betas = 0.9 }) end, "Adam: option 'betas' must be a table, got number 0.9")
expect("AdamW lr type", function() hub.optim.AdamW(lin, { lr = "1e-3" }) end, "AdamW: option 'lr' must be a number, got string 1e-3")
expect("schedule type", function() hub.optim.SGD(lin, { schedule = 3 }) end, "SGD: option 'schedule' must be a function, got number 3")
expect("parameter group", function() hub.optim.Adam { { params = lin:parameters(), lrr = 1 } } end,
  "Adam: parameter group 1: unknown option 'lrr' (expected one of betas, eps, lr, params, weight_decay)")
ok(pcall(hub.optim.AdamW, lin, { lr = 1e-3, no_decay = { "bias" }, schedule = hub.lr.constant() }), "AdamW with correct options")

-- ---- lr ----
expect("cosine", function() hub.lr.cosine { total = 10, warmpu = 2 } end,
  "cosine: unknown option 'warmpu' (expected one of cycles, min, total, warmup)")
expect("linear", function() hub.lr.linear { total = "10" } end, "linear: option 'total' must be a number, got string 10")
expect("constant", function() hub.lr.constant { warm_up = 3 } end, "constant: unknown option 'warm_up' (expected warmup)")
expect("slanted_triangular", function() hub.lr.slanted_triangular { total = 10, cut = 0.2 } end,
  "slanted_triangular: unknown option 'cut' (expected one of cut_frac, ratio, total)")

-- ---- data, io ----
local ds = hub.data.TensorDataset { x = hub.randn(4, 2) }
expect("batches", function() ds:batches(2, { shufle = false }) end,
  "batches: unknown option 'shufle' (expected one of drop_last, epoch, seed, shuffle)")
expect("split", function() ds:split(0.5, { shuffle = "no" }) end, "split: option 'shuffle' must be a boolean, got string no")
local tmp = os.tmpname()
expect("save", function() hub.save(tmp, { a = x }, { meta = {} }) end, "save: unknown option 'meta' (expected metadata)")
hub.save(tmp, { a = x })
expect("load", function() hub.load(tmp, { dtype = 16 }) end, "load: option 'dtype' must be a string, got number 16")
os.remove(tmp)

-- ---- hub.module ----
expect("module version type", function() hub.module("lac", { version = true }) end,
  "module: option 'version' must be a string such as \"1.0.0\" or \">=1.0\", got boolean")

-- ---- $HUB_HOME/conf/config.json, edited by hand ----
local home = os.tmpname()
os.remove(home)
local store = require "hub.store"
assert(os.execute("mkdir -p " .. T.q(home .. "/conf")) == 0)
local old_home = store.home
store.home = function() return home end
T.write_file(home .. "/conf/config.json", '{"timeout": 5, "timeuot": 3}')
local e = errmsg(store.config)
ok(e and e:find("unknown option 'timeuot' (expected one of backoff, offline, progress, retries, server, stall_timeout, timeout)", 1, true),
  "config.json with an unknown key", tostring(e))
T.write_file(home .. "/conf/config.json", '{"offline": "maybe"}')
e = errmsg(store.config)
ok(e and e:find("option 'offline' must be a boolean, got string maybe", 1, true), "config.json with a wrong type", tostring(e))
T.write_file(home .. "/conf/config.json", '{"timeout": 5}')
ok(store.config().timeout == 5, "a correct config.json")
store.home = old_home
os.execute("rm -rf " .. T.q(home))

T.finish()
