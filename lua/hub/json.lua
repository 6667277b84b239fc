-- hub.json: JSON text for checkpoints and metric logs, exact for every number.
--
--   local json = require "hub.json"
--   json.encode({ step = 10, loss = 0.1 + 0.2 })    -- {"loss":0.30000000000000004,"step":10}
--   json.encode(t, { indent = "  " })                -- pretty, one key a line
--   json.encode(t, { spaced = true })                -- one line, ", " and ": " between items
--   json.encode(json.ordered{ { "name", "lac" }, { "version", "1.0.0" } }, ...)  -- keys in this order
--   local t = json.decode(text, "ckpt/step-10/meta.json")  -- errors name the source
--
-- Decoding is lua-cjson's.  Encoding is done here because lua-cjson 2.1.0 (Debian 12) writes at
-- most 14 significant digits, so a loss or a learning rate would not read back as the same
-- double and a resumed run would not be bit-identical.  Numbers go out as integers when they are
-- integral and below 2^53, else with the shortest of %.15g, %.16g and %.17g that reads back as
-- the same double (%.17g always does); NaN and infinities, which JSON cannot write, become null.
-- Keys are sorted (the same table always gives the same text) unless the object is made by
-- json.ordered{ {key, value}, ... }, which keeps its order (files people read, such as
-- module.json).  This is hubrun's one JSON writer.  A table is an array when its
-- keys are exactly 1..n; an empty table is {} unless it carries json.array_mt.  Keys of objects
-- are written with tostring (so they read back as strings); functions, userdata and cdata other
-- than 64-bit integers are an error naming their key path.
local M = {}

M.array_mt = {}
M.ordered_mt = {}

-- lua-cjson's null (a light userdata that decoding puts where JSON had null): written as null.
local cjson_null
function M.cjson_null()
  if cjson_null == nil then
    local ok, c = pcall(require, "cjson")
    cjson_null = ok and c.null or false
  end
  return cjson_null
end

-- ordered{ {key, value}, ... } -> an object whose keys are written in this order.
function M.ordered(pairs_list)
  return setmetatable(pairs_list, M.ordered_mt)
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r",
                  ["\b"] = "\\b", ["\f"] = "\\f" }
local function str(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return escapes[c] or string.format("\\u%04x", c:byte()) end) .. '"'
end

local function num(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
  for _, fmt in ipairs { "%.15g", "%.16g" } do -- the shortest text that reads back as v
    local s = string.format(fmt, v)
    if tonumber(s) == v then return s end
  end
  return string.format("%.17g", v)
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local k = 0
  for key in pairs(t) do
    if type(key) ~= "number" then return false end
    k = k + 1
  end
  return k == n
end

local function enc(v, indent, cur, path, out, spaced)
  local t = type(v)
  if t == "string" then out[#out + 1] = str(v)
  elseif t == "number" then out[#out + 1] = num(v)
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "nil" or (t == "userdata" and v == M.cjson_null()) then out[#out + 1] = "null"
  elseif t == "cdata" and (require("ffi").istype("uint64_t", v) or require("ffi").istype("int64_t", v)) then
    out[#out + 1] = tostring(v):gsub("[UL]+$", "")
  elseif t == "table" then
    local inner = indent and (cur .. indent) or nil
    local nl = indent and ("\n" .. inner) or ""
    local sep = (indent or spaced) and ": " or ":"
    local comma = (spaced and not indent) and ", " or ","
    if getmetatable(v) == M.ordered_mt then
      out[#out + 1] = "{"
      for i, kv in ipairs(v) do
        if i > 1 then out[#out + 1] = comma end
        local ks = tostring(kv[1])
        out[#out + 1] = nl .. str(ks) .. sep
        enc(kv[2], indent, inner, path .. "." .. ks, out, spaced)
      end
      out[#out + 1] = #v == 0 and "}" or (indent and ("\n" .. cur .. "}") or "}")
    elseif next(v) == nil then
      out[#out + 1] = getmetatable(v) == M.array_mt and "[]" or "{}"
    elseif is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = comma end
        out[#out + 1] = nl
        enc(v[i], indent, inner, path .. "[" .. i .. "]", out, spaced)
      end
      out[#out + 1] = indent and ("\n" .. cur .. "]") or "]"
    else
      local keys, byname = {}, {}
      for k in pairs(v) do
        local ks = tostring(k)
        if byname[ks] ~= nil then error(string.format("json: key '%s' of %s appears twice (as a number and a string)", ks, path), 0) end
        keys[#keys + 1], byname[ks] = ks, k
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, ks in ipairs(keys) do
        if i > 1 then out[#out + 1] = comma end
        out[#out + 1] = nl .. str(ks) .. sep
        enc(v[byname[ks]], indent, inner, path .. "." .. ks, out, spaced)
      end
      out[#out + 1] = indent and ("\n" .. cur .. "}") or "}"
    end
  else
    error(string.format("json: %s is a %s, which JSON cannot hold", path, t), 0)
  end
end

-- encode(v[, {indent = "  ", spaced = false}]) -> text (compact, one line, unless indent is given).
function M.encode(v, opts)
  local out = {}
  enc(v, opts and opts.indent, "", "value", out, opts and opts.spaced)
  return table.concat(out)
end

-- decode(text[, source]) -> value; JSON null becomes nil in objects and arrays stay arrays.
-- Errors read "SOURCE: invalid JSON: ...".
function M.decode(text, source)
  local ok, cjson = pcall(require, "cjson.safe")
  if not ok then error("hub.json: lua-cjson is not available (Debian package lua-cjson)", 0) end
  local v, err = cjson.decode(text)
  if v == nil and err then error(string.format("%s: invalid JSON: %s", source or "json", err), 0) end
  return M.strip_null(v, cjson.null)
end

-- cjson decodes null as a light userdata; Lua code wants nil.
function M.strip_null(v, null)
  if type(v) ~= "table" then if v == null then return nil end return v end
  for k, x in pairs(v) do
    if x == null then v[k] = nil elseif type(x) == "table" then M.strip_null(x, null) end
  end
  return v
end

return M
