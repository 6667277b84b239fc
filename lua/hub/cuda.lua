-- hub.cuda: the CUDA device from Lua (docs/cuda.md).
--
--   if hub.cuda.is_available() then
--     print(hub.cuda.device_name(1))             -- "NVIDIA H200"
--     local x = hub.randn(4, 8):cuda()           -- or x:to("cuda"); back with x:cpu()
--     print(hub.cuda.memory_stats().live_bytes)
--   else
--     print(hub.cuda.unavailable_reason())       -- "no CUDA device (...)" / built without CUDA
--   end
--
-- Without a GPU (or a build without the CUDA backend) is_available() is false, device_count() is
-- 0 and t:to("cuda") fails with "device cuda is not available: no CUDA device ...".  Device
-- numbers are 1-based here, as everything in Lua.  An op whose inputs are on different devices
-- fails ("add: tensors on different devices (cuda and cpu)"); an op the CUDA backend has no kernel
-- for fails with "<op> is not implemented for cuda" (move the tensor with :cpu() first).
local ffi = require "ffi"
local core = require "hub.core"
local C = core.C

local cuda = {}
local CUDA = 1 -- HUB_CUDA

-- true when hubrun was built with the CUDA backend and a GPU answers.
function cuda.is_available() return C.hub_device_available(CUDA) ~= 0 end

-- true when hubrun was built with the CUDA backend (a GPU may still be missing).
function cuda.is_built() return C.hub_cuda_built() ~= 0 end

-- Why is_available() is false ("" when it is true).
function cuda.unavailable_reason() return ffi.string(C.hub_cuda_unavailable_reason()) end

function cuda.device_count() return tonumber(C.hub_cuda_device_count()) end

-- device_name(i): the name of device i (1-based; default 1).
function cuda.device_name(i)
  i = i or 1
  if type(i) ~= "number" then core.failf("cuda.device_name: expected a device number (1-based), got %s", type(i)) end
  local s = C.hub_cuda_device_name(i - 1)
  if s == nil then core.failf("cuda.device_name: %s", ffi.string(C.hub_last_error())) end
  return ffi.string(s)
end

-- The caching allocator's statistics for the device: live_bytes, cached_bytes, peak_bytes,
-- alloc_count, os_alloc_count (all zero without a device), plus free_bytes and total_bytes of
-- the device when it is available.
function cuda.memory_stats()
  local st = ffi.new("hub_mem_stats[1]")
  C.hub_mem_get_stats(CUDA, st)
  local s = st[0]
  local out = {
    live_bytes = tonumber(s.live_bytes), cached_bytes = tonumber(s.cached_bytes), peak_bytes = tonumber(s.peak_bytes),
    alloc_count = tonumber(s.alloc_count), os_alloc_count = tonumber(s.os_alloc_count),
  }
  if cuda.is_available() then
    local f, t = ffi.new("int64_t[1]"), ffi.new("int64_t[1]")
    if C.hub_cuda_mem_info(f, t) == 0 then out.free_bytes, out.total_bytes = tonumber(f[0]), tonumber(t[0]) end
  end
  return out
end

-- Gives the cached (free) device blocks back to the driver.
function cuda.empty_cache() C.hub_mem_empty_cache(CUDA) end

-- Waits for every queued kernel and copy (for timing).
function cuda.synchronize()
  if C.hub_cuda_synchronize() ~= 0 then core.failf("cuda.synchronize: %s", ffi.string(C.hub_last_error())) end
end

-- set_tf32(on): TF32 tensor cores for f32 matmuls (off by default); returns the previous setting.
function cuda.set_tf32(on)
  local prev = C.hub_cuda_set_tf32(on and 1 or 0)
  if prev < 0 then core.failf("cuda.set_tf32: %s", ffi.string(C.hub_last_error())) end
  return prev == 1
end

-- check_device(device, who): the one check of a `device` option (hub.finetune, Task:place,
-- modules, serving): "cpu" or "cuda", and cuda only when it is there; errors name `who`.
-- Returns device.
function cuda.check_device(device, who)
  if device ~= "cpu" and device ~= "cuda" then
    core.failf("%s: device must be \"cpu\" or \"cuda\", got \"%s\"", who, tostring(device))
  end
  if device == "cuda" and not cuda.is_available() then
    core.failf("%s: device \"cuda\" is not available: %s", who, cuda.unavailable_reason())
  end
  return device
end

-- ---- CUDA graphs ----
-- cuda.graph(fn, ...): runs fn(...) once (first uses plan and check themselves), then captures
-- the device work of a second call as a CUDA graph.  Returns a graph g:
--   g.outputs      the values fn returned during the capture (tensors in the graph's memory)
--   g:replay()     launches the captured work again (one launch) and returns g.outputs unpacked:
--                  the same tensors, holding the results for what the inputs hold now
--   g:free()       frees the graph (the garbage collector does too)
-- fn runs under hub.no_grad.  Write new inputs into the tensors fn read (x:copy_(new)) before a
-- replay; shapes are fixed by the capture (capture one graph per shape).  Inside fn nothing may
-- move host data to the device, read a value back (item, printing) or synchronise: that op fails
-- naming itself, and so does the capture.  Embedding ids are not checked in a replay (an id out
-- of range gives a row of zeros).  Needs a GPU (not the stand-in).
local Graph = {}
Graph.__index = Graph

local function pack(...) return { n = select("#", ...), ... } end

-- true while a graph is being captured (code that would read a value back can skip its check)
function cuda.capturing() return C.hub_cuda_graph_capturing() == 1 end

function cuda.graph(fn, ...)
  if type(fn) ~= "function" then core.argerror(1, "cuda.graph", "a function", type(fn)) end
  local hub = require "hub"
  hub.no_grad(fn, ...) -- warm-up
  if C.hub_cuda_graph_begin() ~= 0 then core.failf("cuda.graph: %s", ffi.string(C.hub_last_error())) end
  local res = pack(pcall(hub.no_grad, fn, ...))
  local g = C.hub_cuda_graph_end(res[1] and 1 or 0)
  if not res[1] then core.failf("cuda.graph: the captured function failed: %s", tostring(res[2])) end
  if g == nil then core.failf("cuda.graph: %s", ffi.string(C.hub_last_error())) end
  local outputs = { unpack(res, 2, res.n) }
  return setmetatable({ handle = ffi.gc(g, C.hub_cuda_graph_free), outputs = outputs, n = res.n - 1,
                        inputs = { ... } }, Graph)
end

function Graph:replay()
  if self.handle == nil then core.failf("graph:replay: the graph was freed") end
  if C.hub_cuda_graph_replay(self.handle) ~= 0 then core.failf("graph:replay: %s", ffi.string(C.hub_last_error())) end
  return unpack(self.outputs, 1, self.n)
end

function Graph:free()
  if self.handle ~= nil then
    C.hub_cuda_graph_free(ffi.gc(self.handle, nil))
    self.handle = nil
  end
end

-- ---- graphs per batch shape ----
-- cuda.graph_cache{max_graphs = 8, pad = 16, who = "..."}: runs a function of a batch of [B, L]
-- cuda tensors through CUDA graphs, one per (B, padded L, tag).  cache:run(inputs, fn[, tag]):
-- inputs is a table of [B, L] tensors of one B and L (ids, masks); L is padded up to a multiple of
-- `pad` with zeros (so a mask marks the padding as nothing to attend to: the caller's function
-- must be one whose results for the real positions do not depend on masked ones); fn(static)
-- gets a table with the same keys holding the graph's own input tensors and returns a table of
-- tensors.  The result is that table for these inputs: tensors whose second dimension is the
-- padded length cut back to L, every tensor a copy (the next replay overwrites the graph's).
-- Returns nil when fn cannot be captured (then every later call returns nil too, and one line on
-- stderr said why): the caller runs fn itself.  cache:stats() -> {captures, replays, graphs,
-- off}; cache:refuse(why); cache:free().
local Cache = {}
Cache.__index = Cache

function cuda.graph_cache(opts)
  opts = core.check_options(opts, { max_graphs = "integer", pad = "integer", who = "string" }, "cuda.graph_cache", 2)
  return setmetatable({ list = {}, max = math.max(1, opts.max_graphs or 8), pad = math.max(1, opts.pad or 16),
                        who = opts.who or "cuda.graph_cache", captures = 0, replays = 0 }, Cache)
end

function Cache:run(inputs, fn, tag, max_len)
  if self.failed then return nil end
  local hub = require "hub"
  local keys, B, L = {}, nil, nil
  for k, t in pairs(inputs) do
    if not core.is_tensor(t) or t:dim() ~= 2 or t.device ~= "cuda" then return nil end
    if B and (t.shape[1] ~= B or t.shape[2] ~= L) then return nil end
    B, L = t.shape[1], t.shape[2]
    keys[#keys + 1] = k
  end
  if not B then return nil end
  table.sort(keys)
  local Lp = math.max(L, math.min(math.ceil(L / self.pad) * self.pad, max_len or math.huge))
  local key = B .. "x" .. Lp .. ":" .. tostring(tag or "")
  local e, at
  for i, x in ipairs(self.list) do if x.key == key then e, at = x, i end end
  local function fill(st)
    for _, k in ipairs(keys) do
      st[k]:zero_()
      st[k]:narrow(2, 1, L):copy_(inputs[k])
    end
  end
  if e then
    table.remove(self.list, at)
    fill(e.st)
  else
    local st = {}
    for _, k in ipairs(keys) do st[k] = hub.zeros({ B, Lp }, inputs[k].dtype):cuda() end
    fill(st)
    local ok, g = pcall(cuda.graph, function() return fn(st) end)
    if not ok then
      self.failed = true
      io.stderr:write(string.format("hubrun: %s: CUDA graphs off (the forward cannot be captured: %s)\n", self.who,
        (tostring(g):gsub("\n.*", ""))))
      return nil
    end
    self.captures = self.captures + 1
    e = { key = key, g = g, st = st }
    if #self.list >= self.max then table.remove(self.list).g:free() end
  end
  table.insert(self.list, 1, e)
  local out = e.g:replay()
  self.replays = self.replays + 1
  local r = {}
  for k, v in pairs(out) do
    if core.is_tensor(v) then
      if Lp ~= L and v:dim() >= 2 and v.shape[2] == Lp then v = v:narrow(2, 1, L) end
      v = v:clone()
    end
    r[k] = v
  end
  return r
end

-- cache:refuse(why): graphs off for good, with one line on stderr (a caller that knows its function
-- cannot be captured says so before trying).
function Cache:refuse(why)
  if self.failed then return end
  self.failed = true
  io.stderr:write(string.format("hubrun: %s: CUDA graphs off (%s)\n", self.who, why))
end

function Cache:stats() return { captures = self.captures, replays = self.replays, graphs = #self.list, off = self.failed } end

function Cache:free()
  for _, e in ipairs(self.list) do e.g:free() end
  self.list = {}
end

return cuda
