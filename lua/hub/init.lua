-- hub: the Lua package of hubrun.  `local hub = require "hub"` gives tensors, autograd and ops
-- (and, as the project grows, nn, optim, models, tasks ...).  Loading works inside the hubrun
-- executable and from a plain luajit with libhub on the library path (see hub.core).
local core = require "hub.core"
local tensor = require "hub.tensor"
local ops = require "hub.ops"
local ffi = core.ffi
local C = core.C

local hub = {}
for k, v in pairs(tensor.hub) do hub[k] = v end
for k, v in pairs(ops.hub) do hub[k] = v end
for k, v in pairs(ops.methods) do tensor.methods[k] = v end

-- Operators.
local mt = tensor.metatype
mt.__add = ops.methods.add
mt.__sub = ops.methods.sub
mt.__mul = ops.methods.mul
mt.__div = ops.methods.div
mt.__unm = function(a) return ops.methods.neg(a) end
mt.__pow = function(a, p) return ops.methods.pow(a, p) end
mt.__mod = function(a, b) return ops.methods.remainder(a, b) end
-- LuaJIT 2.1 (Debian 12's snapshot and later ones alike) miscompiles chains of arithmetic
-- metamethods on cdata (`r * 2 + 1` in a hot function loses track of stack slots and crashes
-- at a later GC).  Keeping the operator metamethods out of the JIT avoids it; method calls
-- (x:add(y)) and everything else stay compiled.
if jit then
  for _, k in ipairs { "__add", "__sub", "__mul", "__div", "__unm", "__pow", "__mod" } do jit.off(mt[k]) end
end

hub.version = ffi.string(C.hub_version())
hub.C = C
hub.methods = tensor.methods

function hub.set_num_threads(n) C.hub_set_num_threads(n) end
function hub.get_num_threads() return C.hub_get_num_threads() end

-- Memory statistics of the caching allocator: live, cached and peak bytes, allocation counts.
function hub.memory_stats(device)
  local s = ffi.new("hub_mem_stats")
  C.hub_mem_get_stats(device == "cuda" and 1 or 0, s)
  return { live_bytes = tonumber(s.live_bytes), cached_bytes = tonumber(s.cached_bytes),
           peak_bytes = tonumber(s.peak_bytes), alloc_count = tonumber(s.alloc_count),
           os_alloc_count = tonumber(s.os_alloc_count) }
end
function hub.empty_cache() collectgarbage(); C.hub_mem_empty_cache(0) end
-- set_cache_limit(bytes): a fixed bound on the allocator's cache; nil restores the default
-- (the larger of 1 GiB and peak - live bytes).
function hub.set_cache_limit(bytes)
  if bytes ~= nil and (type(bytes) ~= "number" or bytes < 0) then
    core.argerror(1, "set_cache_limit", "a number of bytes >= 0 or nil", tostring(bytes))
  end
  C.hub_mem_set_cache_limit(0, bytes or -1)
end
function hub.live_tensors() return tonumber(C.hub_tensor_live_count()) end
function hub.live_nodes() return tonumber(C.hub_node_live_count()) end

-- Used by the REPL to print values: tensors in full format, tables shallowly.
function hub.repl_format(v)
  if core.is_tensor(v) then return tostring(v) end
  return tostring(v)
end

-- hub.save / hub.load (safetensors) and hub.load_shared join the hub table itself.
for _, name in ipairs { "hub.io", "hub.shared" } do
  for k, v in pairs(require(name)) do if hub[k] == nil then hub[k] = v end end
end

-- Hyper-parameter search's contract (docs/autofinetune.md): hub.hparams{ lr = 5e-5 } gives the
-- defaults, or the values `hubrun autofinetune` chose; hub.report(value, { step = n }) reports a
-- score (false back: the tuner says stop); hub.trial has the rest (dir, resume_from, ...).
function hub.hparams(defaults) return require("hub.autotune.trial").hparams(defaults) end
function hub.report(value, opts) return require("hub.autotune.trial").report(value, opts) end
hub.trial = setmetatable({}, { __index = function(_, k) return require("hub.autotune.trial")[k] end })

-- Submodules load on first use (so `require "hub"` stays cheap), each named here once:
-- hub.X is require(SUBMODULES.X); any other key is nil.  Layers: tensors and nn (nn, optim, lr,
-- data, metrics, checkpoint, progress, plot, json, jsonl, io), text (tokenizer, textutil, corpus,
-- vocab_builder), models (models.ernie, models.lac), fine-tuning (datasets, task, strategy,
-- finetune, recipe, pretrain, baseline), the package manager (store, registry, module, semver),
-- and the services (serving, autotune).
local SUBMODULES = {
  core = "hub.core", tensor = "hub.tensor", ops = "hub.ops", nn = "hub.nn", optim = "hub.optim", lr = "hub.lr",
  data = "hub.data", metrics = "hub.metrics", checkpoint = "hub.checkpoint", progress = "hub.progress",
  plot = "hub.plot", json = "hub.json", jsonl = "hub.jsonl", io = "hub.io", shared = "hub.shared",
  tokenizer = "hub.tokenizer", textutil = "hub.textutil", corpus = "hub.corpus", vocab_builder = "hub.vocab_builder",
  vecfile = "hub.vecfile", yaml = "hub.yaml",
  models = "hub.models", lac = "hub.models.lac",
  datasets = "hub.datasets", task = "hub.task", strategy = "hub.strategy", finetune = "hub.finetune",
  recipe = "hub.recipe", pretrain = "hub.pretrain", baseline = "hub.baseline",
  store = "hub.store", registry = "hub.registry", module = "hub.module", semver = "hub.semver",
  convert = "hub.convert", convert_to_hf = "hub.convert_to_hf",
  serving = "hub.serving", cuda = "hub.cuda",
}
hub.SUBMODULES = SUBMODULES
setmetatable(hub, {
  __index = function(t, k)
    local name = SUBMODULES[k]
    if not name then return nil end
    local m = require(name)
    rawset(t, k, m)
    return m
  end,
})

return hub
