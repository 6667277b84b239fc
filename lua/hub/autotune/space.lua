-- hub.autotune.space: the search space of a param file, and the map between parameter values
-- and the search's coordinates.
--
-- A param file is PaddleHub's hparam.yaml (or the same thing in JSON):
--
--   param_list:
--   - name: learning_rate      # the name hub.hparams{} knows it by
--     init_value: 5e-5         # where HAZero and PSHE2 start (default: the middle)
--     type: float              # float or int
--     greater_than: 1e-6       # the lower bound
--     lower_than: 1e-3         # the upper bound
--     log: true                # search on a log scale (hubrun's addition; bounds > 0)
--   - name: batch_size
--     type: int
--     greater_than: 8
--     lower_than: 64
--     values: [8, 16, 32, 64]  # optional: the only values allowed (grid uses them as its points)
--
-- Every strategy works in x coordinates in [-1, 1]^d, PaddleHub's convention: x = -1 is the
-- lower bound, x = 1 the upper one, linear in the value (or in log(value) with log: true).
-- An int parameter takes the integers lo..hi in equal slices of [-1, 1] (so each is equally
-- likely under uniform x; PaddleHub truncated, which made hi reachable only at x = 1 exactly);
-- a parameter with `values` takes them in equal slices the same way.
local json = require "hub.json"

local M = {}

local KNOWN = { name = true, init_value = true, type = true, lower_than = true, greater_than = true, log = true,
                values = true }
local KNOWN_LIST = "name, type, greater_than, lower_than, init_value, log, values"

local fail = require("hub.core").failf

local function clamp(x, a, b) if x < a then return a elseif x > b then return b end return x end
M.clamp = clamp

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- from_table(doc, source[, line_of]) -> space.  line_of(tbl, key) gives the line of a field (YAML).
function M.from_table(doc, source, line_of)
  source = source or "<params>"
  local function where(tbl, key)
    local l = line_of and line_of(tbl, key)
    return l and (source .. ":" .. l) or source
  end
  if type(doc) ~= "table" then fail("%s: expected a mapping with param_list, got %s", source, type(doc)) end
  for k in pairs(doc) do
    if k ~= "param_list" then fail("%s: unknown top-level key '%s' (a param file has param_list)", where(doc, k), tostring(k)) end
  end
  local list = doc.param_list
  if type(list) ~= "table" or #list == 0 then fail("%s: param_list must be a non-empty list of parameters", where(doc, "param_list")) end
  local params, by_name = {}, {}
  for i, p in ipairs(list) do
    local field = string.format("param_list[%d]", i)
    if type(p) ~= "table" then fail("%s: %s must be a mapping (name, type, greater_than, lower_than, ...)", where(list, i), field) end
    for k in pairs(p) do
      if not KNOWN[k] then fail("%s: %s: unknown key '%s' (known: %s)", where(p, k), field, tostring(k), KNOWN_LIST) end
    end
    local name = p.name
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
      fail("%s: %s.name must be an identifier (letters, digits, _), got %s", where(p, "name"), field, tostring(name))
    end
    field = string.format("param_list[%d] (%s)", i, name)
    if by_name[name] then fail("%s: %s: the name '%s' is used twice", where(p, "name"), field, name) end
    local ty = p.type or "float"
    if ty ~= "float" and ty ~= "int" then fail("%s: %s.type must be int or float, got '%s'", where(p, "type"), field, tostring(ty)) end
    local q = { name = name, type = ty, log = false }
    if p.values ~= nil then
      if type(p.values) ~= "table" or #p.values == 0 then fail("%s: %s.values must be a non-empty list of numbers", where(p, "values"), field) end
      q.values = {}
      for j, v in ipairs(p.values) do
        if not finite(v) then fail("%s: %s.values[%d] must be a number, got %s", where(p.values, j), field, j, tostring(v)) end
        if ty == "int" and v ~= math.floor(v) then fail("%s: %s.values[%d] = %s is not an integer", where(p.values, j), field, j, tostring(v)) end
        q.values[j] = v
      end
      table.sort(q.values)
    end
    local lo, hi = p.greater_than, p.lower_than
    if lo == nil and q.values then lo = q.values[1] end
    if hi == nil and q.values then hi = q.values[#q.values] end
    if not finite(lo) then fail("%s: %s.greater_than (the lower bound) must be a number, got %s", where(p, "greater_than"), field, tostring(lo)) end
    if not finite(hi) then fail("%s: %s.lower_than (the upper bound) must be a number, got %s", where(p, "lower_than"), field, tostring(hi)) end
    if lo >= hi then fail("%s: %s: greater_than %s must be below lower_than %s", where(p, "lower_than"), field, tostring(lo), tostring(hi)) end
    if ty == "int" then
      if lo ~= math.floor(lo) or hi ~= math.floor(hi) then fail("%s: %s: an int parameter needs integer bounds, got %s and %s", where(p, "greater_than"), field, tostring(lo), tostring(hi)) end
    end
    if q.values then
      for j, v in ipairs(q.values) do
        if v < lo or v > hi then fail("%s: %s.values[%d] = %s is outside [%s, %s]", where(p, "values"), field, j, tostring(v), tostring(lo), tostring(hi)) end
      end
    end
    if p.log ~= nil then
      if type(p.log) ~= "boolean" then fail("%s: %s.log must be true or false, got %s", where(p, "log"), field, tostring(p.log)) end
      q.log = p.log
      if q.log and lo <= 0 then fail("%s: %s: log scale needs greater_than > 0, got %s", where(p, "greater_than"), field, tostring(lo)) end
    end
    q.lo, q.hi = lo, hi
    if p.init_value ~= nil then
      local v = p.init_value
      if not finite(v) then fail("%s: %s.init_value must be a number, got %s", where(p, "init_value"), field, tostring(v)) end
      if v < lo or v > hi then fail("%s: %s.init_value %s is outside [%s, %s]", where(p, "init_value"), field, tostring(v), tostring(lo), tostring(hi)) end
      q.init = v
    end
    params[i] = q
    by_name[name] = q
  end
  local space = setmetatable({ params = params, dim = #params, by_name = by_name, source = source }, { __index = M })
  return space
end

-- load(path) -> space, from a .yaml/.yml (libyaml) or .json file.
function M.load(path)
  if type(path) ~= "string" then fail("param file: expected a path, got %s", type(path)) end
  local f, e = io.open(path, "rb")
  if not f then fail("param file: cannot open %s", tostring(e)) end
  local text = f:read("*a")
  f:close()
  if path:match("%.[jJ][sS][oO][nN]$") then
    local ok, doc = pcall(json.decode, text, path)
    if not ok then fail("%s: not valid JSON: %s", path, tostring(doc)) end
    return M.from_table(doc, path)
  end
  local yaml = require "hub.yaml"
  local doc = yaml.load(text, path)
  return M.from_table(doc, path, yaml.line)
end

-- The value of one parameter at coordinate x in [-1, 1].
local function value_of(p, x)
  local t = (clamp(x, -1, 1) + 1) / 2 -- in [0, 1]
  if p.values then
    local k = math.min(#p.values, math.floor(t * #p.values) + 1)
    return p.values[k]
  end
  if p.type == "int" then
    local n = p.hi - p.lo + 1
    if p.log then
      local v = math.exp(math.log(p.lo) + t * (math.log(p.hi + 1) - math.log(p.lo)))
      return clamp(math.floor(v), p.lo, p.hi)
    end
    return clamp(p.lo + math.floor(t * n), p.lo, p.hi)
  end
  if p.log then return clamp(math.exp(math.log(p.lo) + t * (math.log(p.hi) - math.log(p.lo))), p.lo, p.hi) end
  return clamp(p.lo + t * (p.hi - p.lo), p.lo, p.hi)
end
M.value_of = value_of

-- The coordinate of a value (the middle of its slice for int and values parameters).
local function coord_of(p, v)
  local t
  if p.values then
    local k = 1
    for j, u in ipairs(p.values) do if math.abs(u - v) < math.abs(p.values[k] - v) then k = j end end
    t = (k - 0.5) / #p.values
  elseif p.type == "int" then
    if p.log then
      local a, b = math.log(p.lo), math.log(p.hi + 1)
      t = (math.log(v + 0.5) - a) / (b - a)
    else
      t = (math.floor(v + 0.5) - p.lo + 0.5) / (p.hi - p.lo + 1)
    end
  elseif p.log then
    t = (math.log(v) - math.log(p.lo)) / (math.log(p.hi) - math.log(p.lo))
  else
    t = (v - p.lo) / (p.hi - p.lo)
  end
  return clamp(2 * t - 1, -1, 1)
end
M.coord_of = coord_of

-- space:values(x) -> { name = value, ... } for a coordinate vector x.
function M:values(x)
  local out = {}
  for i, p in ipairs(self.params) do out[p.name] = value_of(p, x[i]) end
  return out
end

-- space:coords(values) -> x (a missing value takes its init or the middle).
function M:coords(values)
  local x = {}
  for i, p in ipairs(self.params) do
    local v = values[p.name]
    if v == nil then v = p.init end
    x[i] = v ~= nil and coord_of(p, v) or 0
  end
  return x
end

-- The init point's coordinates (PaddleHub: get_init_params).
function M:init_coords()
  local x = {}
  for i, p in ipairs(self.params) do x[i] = p.init ~= nil and coord_of(p, p.init) or 0 end
  return x
end

-- The number of distinct values of parameter i (nil: continuous).
function M:levels(i)
  local p = self.params[i]
  if p.values then return #p.values end
  if p.type == "int" then return p.hi - p.lo + 1 end
  return nil
end

-- Snaps x to the coordinate the value it maps to has (so equal values have equal x).
function M:snap(x)
  local y = {}
  for i, p in ipairs(self.params) do
    if p.values or p.type == "int" then y[i] = coord_of(p, value_of(p, x[i])) else y[i] = clamp(x[i], -1, 1) end
  end
  return y
end

-- A short text of a parameter set: "lr=5e-05 batch_size=32".
function M:format(values)
  local parts = {}
  for _, p in ipairs(self.params) do
    local v = values[p.name]
    parts[#parts + 1] = p.name .. "=" .. (p.type == "int" and string.format("%d", v) or string.format("%.4g", v))
  end
  return table.concat(parts, " ")
end

return M
