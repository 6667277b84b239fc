-- bench/lib/bench.lua: what the Lua benchmarks share - clocks, medians, /proc figures, the
-- BERT model both bench/encoder and bench/train_step build, BERT's initialisation and the
-- per-op profiler.
--
--   local B = dofile(bench_dir .. "/lib/bench.lua")   -- bench_dir from arg[0]
--   B.now_ms(), B.cpu_ms()              CLOCK_MONOTONIC and the process CPU time (all threads), ms
--   B.median(xs), B.minmax(xs)
--   B.args(defaults, usage)            --key value pairs of arg over a table of defaults (an
--                                       unknown key: error(usage))
--   B.time_synced(fn, iters, sync)     fn twice, then iters timed runs each followed by sync();
--                                       median and min in ms (the GPU benches: hub.cuda.synchronize)
--   B.proc_status("VmHWM")              a /proc/self/status field, kB (0 when unreadable)
--   B.Bert(c)                           the model, see below; B.bert_init(model)
--   B.profiler(clock, extra)            per-op timers: p:wrap(names), p.on, p.ops[name] = {ms, n}
local hub = require "hub"
local ffi = require "ffi"
local nn = hub.nn

local M = {}

-- ---- clocks ----
pcall(ffi.cdef, "struct hub_bench_timespec { long tv_sec; long tv_nsec; }; int clock_gettime(int, struct hub_bench_timespec *);")
local ts = ffi.new("struct hub_bench_timespec")
function M.now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e3 + tonumber(ts.tv_nsec) * 1e-6
end
function M.cpu_ms()
  ffi.C.clock_gettime(2, ts) -- CLOCK_PROCESS_CPUTIME_ID
  return tonumber(ts.tv_sec) * 1e3 + tonumber(ts.tv_nsec) * 1e-6
end

-- ---- statistics ----
function M.median(xs)
  local s = {}
  for i, v in ipairs(xs) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return 0 end
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end
function M.minmax(xs)
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(xs) do lo = math.min(lo, v); hi = math.max(hi, v) end
  return lo, hi
end

-- ---- command line and timed runs ----
function M.args(defaults, usage)
  local a = {}
  for k, v in pairs(defaults) do a[k] = v end
  local i = 1
  while i <= #arg do
    local k = arg[i]:match("^%-%-(.+)$")
    if not k or a[k] == nil or arg[i + 1] == nil then error(usage, 0) end
    a[k] = arg[i + 1]
    i = i + 2
  end
  return a
end

function M.time_synced(fn, iters, sync)
  fn(); fn(); sync()
  local ts = {}
  for _ = 1, iters do
    local t0 = M.now_ms(); fn(); sync(); ts[#ts + 1] = M.now_ms() - t0
  end
  return M.median(ts), (M.minmax(ts))
end

function M.proc_status(key)
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("*a"); f:close()
  return tonumber(s:match(key .. ":%s*(%d+)")) or 0 -- kB
end

-- ---- the model ----
-- B.Bert{ vocab, hidden, heads, layers, ffn = 4 * hidden, dropout = 0.1, attn_dropout = dropout,
--         classes = nil }: BERT as Hugging Face builds it - word + position (512) + token type (2)
-- embeddings summed, LayerNorm (eps 1e-12), dropout; post-LN encoder layers (GELU); pooler
-- tanh(Linear(H, H)) of token 0; with `classes`, dropout and a classifier Linear(H, classes).
-- forward(ids, token_types, positions, mask) returns logits with `classes`, else the sequence
-- output and the pooled output.
local EPS, MAX_POS, TYPES = 1e-12, 512, 2
local Bert = nn.Module:extend("BertBench")
M.Bert = Bert

function Bert:init(c)
  local p = c.dropout or 0.1
  self.word = nn.Embedding(c.vocab, c.hidden)
  self.position = nn.Embedding(MAX_POS, c.hidden)
  self.token_type = nn.Embedding(TYPES, c.hidden)
  self.emb_norm = nn.LayerNorm(c.hidden, { eps = EPS })
  self.emb_drop = nn.Dropout(p)
  self.encoder = nn.TransformerEncoder({ d_model = c.hidden, n_heads = c.heads, d_ff = c.ffn or 4 * c.hidden,
                                         dropout = p, activation = "gelu", eps = EPS }, c.layers)
  if c.attn_dropout then
    for _, layer in ipairs(self.encoder.layers) do layer.attn.dropout = c.attn_dropout end
  end
  self.pooler = nn.Linear(c.hidden, c.hidden)
  if c.classes then
    self.cls_drop = nn.Dropout(p)
    self.classifier = nn.Linear(c.hidden, c.classes)
  end
end

function Bert:forward(ids, token_types, positions, mask)
  local x = self.word(ids) + self.position(positions) + self.token_type(token_types)
  x = self.encoder(self.emb_drop(self.emb_norm(x)), mask)
  local pooled = self.pooler(x:select(2, 1)):tanh()
  if self.classifier then return self.classifier(self.cls_drop(pooled)) end
  return x, pooled
end

-- BERT's initialisation: Linear and Embedding weights N(0, 0.02), biases 0, LayerNorm 1 / 0.
function M.bert_init(model)
  model:apply(function(m)
    if m.__name == "Linear" then
      nn.init.normal_(m.weight, 0.02)
      if m.bias then nn.init.zeros_(m.bias) end
    elseif m.__name == "Embedding" then
      nn.init.normal_(m.weight, 0.02)
    elseif m.__name == "LayerNorm" and m.weight then
      nn.init.ones_(m.weight); nn.init.zeros_(m.bias)
    end
  end)
  return model
end

-- ---- per-op profiler ----
-- B.profiler(clock, excluded): wraps hub's tensor methods, the listed hub functions and the
-- arithmetic metamethods with timers.  clock() gives ms; excluded() (optional) gives ms to leave
-- out (time spent in the collector, say).  Only the outermost op of a nest is timed, and only
-- while p.on is true.  p.ops[name] = { ms =, n = }.
local FUNCTIONS = { "embedding", "cross_entropy", "attention", "attention_qkv", "linear_act", "layer_norm", "add_layer_norm",
                    "dropout", "softmax", "matmul", "linear", "gelu" }
function M.profiler(clock, excluded)
  local p = { on = false, ops = {} }
  excluded = excluded or function() return 0 end
  local depth = 0
  local function wrap(tbl, name, key)
    local f = tbl[name]
    if type(f) ~= "function" then return end
    tbl[name] = function(...)
      if not p.on or depth > 0 then return f(...) end
      depth = depth + 1
      local x0, t0 = excluded(), clock()
      local a, b, c, d = f(...)
      local dt = clock() - t0 - (excluded() - x0)
      depth = depth - 1
      local e = p.ops[key]
      if not e then e = { ms = 0, n = 0 }; p.ops[key] = e end
      e.ms, e.n = e.ms + dt, e.n + 1
      return a, b, c, d
    end
  end
  local names = {}
  for k, v in pairs(hub.methods) do if type(v) == "function" then names[#names + 1] = k end end
  for _, k in ipairs(names) do wrap(hub.methods, k, k) end
  for _, k in ipairs(FUNCTIONS) do
    if rawget(hub, k) then wrap(hub, k, k) end
  end
  local mt = require("hub.tensor").metatype -- the tensor metatype (arithmetic operators)
  if mt then
    for _, mm in ipairs { "__add", "__sub", "__mul", "__div", "__unm", "__pow" } do
      if rawget(mt, mm) then wrap(mt, mm, "op" .. mm) end
    end
  end
  return p
end

return M
