-- hub.core: loads libhub through the LuaJIT FFI and holds the helpers every binding file uses:
-- turning C results into Lua values or Lua errors, pacing LuaJIT's collector to C memory, and the
-- 1-based dimension rule.
--
-- Declarations come from hub/cdefs.lua, generated at build time from runtime/hub.h, so the
-- binding never drifts from the header.  Inside the hubrun executable libhub is already loaded
-- (ffi.C sees it); from a plain luajit the library is found through HUB_LIB, then the usual
-- library search path (LD_LIBRARY_PATH), then the build directory next to this file.
local ffi = require "ffi"

local M = {}

ffi.cdef(require "hub.cdefs")

local function try_lib(lib)
  local ok = pcall(function() return lib.hub_version end)
  return ok and lib or nil
end

local function load_lib()
  local lib = try_lib(ffi.C)
  if lib then return lib end
  local tried = {}
  local candidates = {}
  if os.getenv("HUB_LIB") then candidates[#candidates + 1] = os.getenv("HUB_LIB") end
  candidates[#candidates + 1] = "hub"
  local src = debug.getinfo(1, "S").source:match("^@(.*)/hub/core%.lua$")
  if src then
    candidates[#candidates + 1] = src .. "/../build/libhub.so"
    candidates[#candidates + 1] = src .. "/../libhub.so"
  end
  for _, name in ipairs(candidates) do
    local ok, l = pcall(ffi.load, name)
    if ok and try_lib(l) then return l end
    tried[#tried + 1] = name
  end
  error("hub: cannot load libhub (tried " .. table.concat(tried, ", ") ..
        "); set HUB_LIB to the path of libhub.so or add its directory to LD_LIBRARY_PATH", 0)
end

local C = load_lib()
M.C = C
M.ffi = ffi

-- Errors point at the user's line: the first stack frame outside lua/hub (tail calls and
-- wrapper depth make fixed levels unreliable).
local hub_dir = debug.getinfo(1, "S").source:match("^@(.*/)core%.lua$")

function M.raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then level = 0; break end
    local src = info.source
    if info.what ~= "C" and not (hub_dir and src:sub(1, #hub_dir + 1) == "@" .. hub_dir) then break end
    level = level + 1
  end
  error(msg, level)
end

function M.last_error()
  return ffi.string(C.hub_last_error())
end

-- failf(fmt, ...): the one error of lua/hub for a bad input or state -- the formatted message
-- alone, without a position (the CLI prints it as it is; `--traceback` shows where).
function M.failf(fmt, ...) error(string.format(fmt, ...), 0) end

-- Raises the C error message at the caller's caller (level 3 = the user's line).
function M.fail()
  M.raise(M.last_error())
end

-- Collector pacing: LuaJIT sees only the small cdata headers, not the C memory behind them.  A
-- full collection runs once the C bytes allocated since the last one exceed what was live right
-- after it (at least 64 MiB).  Measuring "live" after a collection matters: live bytes before it
-- include the garbage waiting for it, and a threshold that grows with garbage let a BERT-large
-- training step reach 8 GB instead of ~4 GB (bench/train_step --collect).
local last_total = tonumber(C.hub_mem_allocated_total())
local stats = ffi.new("hub_mem_stats")
local min_pace = 64 * 1024 * 1024
local pace_bytes = min_pace

local function pace()
  local total = tonumber(C.hub_mem_allocated_total())
  if total - last_total > pace_bytes then
    collectgarbage()
    last_total = tonumber(C.hub_mem_allocated_total())
    C.hub_mem_get_stats(0, stats)
    local live = tonumber(stats.live_bytes)
    pace_bytes = live > min_pace and live or min_pace
  end
end
M.pace = pace

local release = C.hub_tensor_release

-- Lua holds a tensor as a `hub_tensor &` (a reference cdata), not as the `hub_tensor *` that C
-- returns: LuaJIT gives t[i] on a pointer its own meaning (pointer arithmetic), while on a
-- reference to the opaque struct it calls the metatype's __index, so t[i] can be t:select(1, i).
-- A reference passes to every C parameter of type hub_tensor * (LuaJIT takes its address),
-- fits in hub_tensor *[] arrays, and two references to one tensor compare equal.
local ref_ct = ffi.typeof("hub_tensor &")

-- Takes ownership of a new reference returned by C with the finaliser fin (default: release).
function M.own(p, fin)
  return ffi.gc(ffi.cast(ref_ct, p), fin or release)
end

-- Takes ownership of a new reference returned by C (NULL raises the C error).
function M.wrap(p, level)
  if p == nil then M.raise(M.last_error()) end
  pace()
  return ffi.gc(ffi.cast(ref_ct, p), release)
end

-- Like wrap but NULL is nil without an error (for optional results such as .grad).
function M.wrap_opt(p)
  if p == nil then return nil end
  return ffi.gc(ffi.cast(ref_ct, p), release)
end

-- Status code check.
function M.check(rc, level)
  if rc ~= 0 then M.raise(M.last_error()) end
end

local tensor_ct, struct_ct = ffi.typeof("hub_tensor *"), ffi.typeof("hub_tensor")
function M.is_tensor(v)
  return type(v) == "cdata" and (ffi.istype(struct_ct, v) or ffi.istype(tensor_ct, v))
end

function M.argerror(n, fname, expected, got)
  M.raise(string.format("bad argument #%d to '%s' (expected %s, got %s)", n, fname, expected, got))
end

-- check_options(opts, spec, fname, argn) -> opts (or {} for nil): the one checker of options
-- tables.  spec maps each allowed key to its type: "number", "integer", "string", "boolean",
-- "table", "function", "tensor", "any", or alternatives such as "number|string"; a plain list of
-- names ({"bias", "eps"}) allows those keys with any type.  An unknown key or a wrong type is an
-- error naming the key and the allowed ones ("Linear: unknown option 'bais' (expected bias)").
local spec_cache = setmetatable({}, { __mode = "k" })

local function normalise_spec(spec)
  local n = spec_cache[spec]
  if n then return n end
  n = { types = {}, names = {} }
  for k, v in pairs(spec) do
    if type(k) == "number" then n.types[v] = "any" else n.types[k] = v end
  end
  for k in pairs(n.types) do n.names[#n.names + 1] = k end
  table.sort(n.names)
  n.list = #n.names > 0 and table.concat(n.names, ", ") or "no options"
  spec_cache[spec] = n
  return n
end

local function type_ok(v, want)
  for w in want:gmatch("[^|]+") do
    if w == "any" then return true end
    if w == "integer" then
      if type(v) == "number" and v == math.floor(v) then return true end
    elseif w == "tensor" then
      if M.is_tensor(v) then return true end
    elseif type(v) == w then
      return true
    end
  end
  return false
end

local function describe_type(want)
  local parts = {}
  for w in want:gmatch("[^|]+") do
    parts[#parts + 1] = (w == "integer" and "an integer") or (w == "any" and "anything")
      or ((w:match("^[aeiou]") and "an " or "a ") .. w)
  end
  return table.concat(parts, " or ")
end

function M.check_options(opts, spec, fname, argn)
  if opts == nil then return {} end
  if type(opts) ~= "table" then M.argerror(argn or 2, fname, "an options table", type(opts)) end
  local n = normalise_spec(spec)
  for k, v in pairs(opts) do
    local want = type(k) == "string" and n.types[k] or nil
    if not want then
      M.raise(string.format("%s: unknown option '%s' (expected %s)", fname, tostring(k),
        #n.names == 0 and "no options" or #n.names == 1 and n.list or ("one of " .. n.list)))
    end
    if not type_ok(v, want) then
      local got = type(v)
      if got == "number" or got == "string" or got == "boolean" then got = got .. " " .. tostring(v) end
      M.raise(string.format("%s: option '%s' must be %s, got %s", fname, k, describe_type(want), got))
    end
  end
  return opts
end

-- Lua dimension (1-based, negative from the end) to C (0-based, negative kept).
function M.cdim(d, fname, argn)
  if type(d) ~= "number" or d ~= math.floor(d) then
    M.argerror(argn or 2, fname, "an integer dimension", type(d))
  end
  if d == 0 then
    M.raise(string.format("bad argument #%d to '%s' (dimension 0 is not valid: dimensions are 1-based, -1 is the last)",
      argn or 2, fname))
  end
  return d > 0 and d - 1 or d
end

-- A Lua array of numbers as an int64_t[] (for shapes), with its length.
function M.shape_arg(shape, fname, argn)
  if type(shape) ~= "table" then M.argerror(argn or 1, fname, "a shape table such as {2, 3}", type(shape)) end
  local n = #shape
  if n > 8 then M.raise(string.format("%s: %d dimensions (at most 8)", fname, n)) end
  local a = ffi.new("int64_t[?]", n > 0 and n or 1)
  for i = 1, n do
    local v = shape[i]
    if type(v) ~= "number" then M.argerror(argn or 1, fname, "integer sizes in the shape", type(v)) end
    -- converting NaN, inf or a number beyond int64_t to int64_t is undefined: refuse them here,
    -- and leave negative and too-large products to the C side (hub_check_shape)
    if v ~= v or v == math.huge or v == -math.huge then
      M.raise(string.format("%s: size %s in dimension %d is not a finite integer", fname, tostring(v), i))
    end
    if v ~= math.floor(v) then
      M.raise(string.format("%s: size %s in dimension %d is not an integer", fname, tostring(v), i))
    end
    if v >= 2^63 or v < -2^63 then
      M.raise(string.format("%s: size %.0f in dimension %d does not fit in 64 bits", fname, v, i))
    end
    a[i - 1] = v
  end
  return n, a
end

-- dtype string to enum (nil gives the default).
function M.dtype(name, default, fname)
  if name == nil then return default end
  if type(name) ~= "string" then M.argerror(2, fname or "dtype", "a dtype string such as 'f32'", type(name)) end
  local d = C.hub_dtype_from_name(name)
  if d < 0 then M.raise(M.last_error()) end
  return d
end

return M
