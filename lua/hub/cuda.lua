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

return cuda
