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

return cuda
