-- hub.shared: hub.load_shared, weights loaded once per process and shared by every runtime.
--
--   local w = hub.load_shared(dir .. "/model.safetensors")   -- {name = tensor, ...}, metadata
--
-- Like hub.load, but the file goes through the process-wide cache of runtime/shared.c
-- (hub_shared_open): a program that runs several runtimes (serving workers on threads, a game
-- engine's scripts) maps each weight file once, and the tensors of every runtime point at the
-- same memory.  Each tensor counts as one user of the cached file until it is collected, so
-- the file stays in the cache exactly as long as some runtime holds a tensor from it.
--
-- The tensors are read-only by contract: writing into one (an optimiser step, an in-place op)
-- would change it for every runtime.  Clone what you mean to train (t:clone()).  opts.dtype
-- converts floating-point tensors as hub.load does, which makes private copies.
local ffi = require "ffi"
local core = require "hub.core"
local C = core.C

local M = {}

local release, retain, close = C.hub_tensor_release, C.hub_shared_retain, C.hub_shared_close

-- hub.load_shared(path[, {dtype = "f32"}]) -> {name = tensor, ...}, {metadata key = value}
function M.load_shared(path, opts)
  if type(path) ~= "string" then core.argerror(1, "load_shared", "a file path", type(path)) end
  core.check_options(opts, { dtype = "string" }, "load_shared", 2)
  local want = -1
  if opts and opts.dtype ~= nil then
    if type(opts.dtype) ~= "string" then
      core.argerror(2, "load_shared", "dtype as a string such as 'f32'", type(opts.dtype))
    end
    want = C.hub_dtype_from_name(opts.dtype)
    if want < 0 then error("load_shared " .. path .. ": " .. core.last_error(), 2) end
  end
  local f = C.hub_shared_open(path)
  if f == nil then error(core.last_error(), 2) end
  local out = {}
  local ok, err = pcall(function()
    for i = 0, C.hub_st_count(f) - 1 do
      local d = -1
      if want >= 0 and C.hub_dtype_is_float(C.hub_st_dtype(f, i)) ~= 0 then d = want end
      local t = C.hub_st_get_index(f, i, d)
      if t == nil then error(core.last_error(), 0) end
      retain(f)
      out[ffi.string(C.hub_st_name(f, i))] = core.own(t, function(p) release(p); close(f) end)
    end
  end)
  local meta = {}
  if ok then
    for i = 0, C.hub_st_meta_count(f) - 1 do
      local k = C.hub_st_meta_key(f, i)
      meta[ffi.string(k)] = ffi.string(C.hub_st_metadata(f, k))
    end
  end
  close(f) -- the tensors hold the cache entry from here on
  if not ok then error(err, 2) end
  return out, meta
end

-- Number of files in the process-wide cache (all runtimes together).
function M.shared_count() return tonumber(C.hub_shared_count()) end

return M
