-- hub.io: hub.save and hub.load, tables of named tensors in safetensors files.
--
--   hub.save("p.safetensors", {w = w, b = b}, {metadata = {format = "pt"}})
--   local t, meta = hub.load("p.safetensors")              -- t.w, t.b; meta.format == "pt"
--   local t = hub.load("p.safetensors", {dtype = "f32"})   -- f16/bf16 weights widened to f32
--
-- The work is in runtime/safetensors.c: saving writes a temporary file and renames it (the old
-- file survives any failure), loading maps the file and validates its header; loaded tensors
-- point into the mapping, which stays until the last of them is collected.  These functions
-- only check the Lua arguments (naming the offending key) and move names and tensors across.
local ffi = require "ffi"
local core = require "hub.core"
local C = core.C

local M = {}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- hub.save(path, {name = tensor, ...}, {metadata = {key = "value", ...}})
function M.save(path, tensors, opts)
  if type(path) ~= "string" then core.argerror(1, "save", "a file path", type(path)) end
  if type(tensors) ~= "table" then core.argerror(2, "save", "a table of name = tensor", type(tensors)) end
  core.check_options(opts, { metadata = "table" }, "save", 3)
  local names = sorted_keys(tensors)
  for _, k in ipairs(names) do
    if type(k) ~= "string" then
      error(string.format("save %s: key %s is a %s (tensor names must be strings)", path, tostring(k), type(k)), 2)
    end
    local v = tensors[k]
    if not core.is_tensor(v) then
      error(string.format("save %s: value of '%s' is a %s, expected a tensor", path, k, type(v)), 2)
    end
  end
  local meta = opts and opts.metadata
  if meta ~= nil and type(meta) ~= "table" then
    error(string.format("save %s: metadata is a %s, expected a table of strings", path, type(meta)), 2)
  end
  local mkeys = meta and sorted_keys(meta) or {}
  for _, k in ipairs(mkeys) do
    if type(k) ~= "string" then
      error(string.format("save %s: metadata key %s is a %s (keys must be strings)", path, tostring(k), type(k)), 2)
    end
    if type(meta[k]) ~= "string" then
      error(string.format("save %s: metadata value of '%s' is a %s (metadata values must be strings)",
        path, k, type(meta[k])), 2)
    end
  end
  -- The Lua strings stay referenced by names/mkeys/meta while C reads them.
  local n, nm = #names, #mkeys
  local cnames = ffi.new("const char *[?]", n + 1)
  local ctens = ffi.new("hub_tensor *[?]", n + 1)
  for i, k in ipairs(names) do cnames[i - 1] = k; ctens[i - 1] = tensors[k] end
  local ckeys = ffi.new("const char *[?]", nm + 1)
  local cvals = ffi.new("const char *[?]", nm + 1)
  for i, k in ipairs(mkeys) do ckeys[i - 1] = k; cvals[i - 1] = meta[k] end
  core.check(C.hub_st_save(path, n, cnames, ctens, nm, ckeys, cvals), 2)
end

-- hub.load(path[, {dtype = "f32"}]) -> {name = tensor, ...}, {metadata key = value, ...}
-- opts.dtype converts the floating-point tensors (f32, f16, bf16) to that dtype; integer and
-- bool tensors are kept as they are.
function M.load(path, opts)
  if type(path) ~= "string" then core.argerror(1, "load", "a file path", type(path)) end
  core.check_options(opts, { dtype = "string" }, "load", 2)
  local want = -1
  if opts and opts.dtype ~= nil then
    if type(opts.dtype) ~= "string" then core.argerror(2, "load", "dtype as a string such as 'f32'", type(opts.dtype)) end
    want = C.hub_dtype_from_name(opts.dtype)
    if want < 0 then error("load " .. path .. ": " .. core.last_error(), 2) end
  end
  local f = C.hub_st_open(path)
  if f == nil then error(core.last_error(), 2) end
  f = ffi.gc(f, C.hub_st_close) -- closed even if a conversion below raises
  local out = {}
  for i = 0, C.hub_st_count(f) - 1 do
    local d = -1
    if want >= 0 and C.hub_dtype_is_float(C.hub_st_dtype(f, i)) ~= 0 then d = want end
    out[ffi.string(C.hub_st_name(f, i))] = core.wrap(C.hub_st_get_index(f, i, d), 2)
  end
  local meta = {}
  for i = 0, C.hub_st_meta_count(f) - 1 do
    local k = C.hub_st_meta_key(f, i)
    meta[ffi.string(k)] = ffi.string(C.hub_st_metadata(f, k))
  end
  ffi.gc(f, nil)
  C.hub_st_close(f) -- the tensors keep the mapping alive
  return out, meta
end

return M
