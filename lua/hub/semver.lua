-- hub.semver: semantic versions (semver.org 2.0) and the version constraints of the module store.
--
-- A version is MAJOR.MINOR.PATCH with an optional pre-release ("-beta.1") and build metadata
-- ("+build.5", ignored in comparisons).  module.json versions must be strict; in constraints a
-- version may be shortened ("1.2" is 1.2.0).  Constraints are what `hubrun install lac>=1.0`
-- and a module's "hubrun" field hold:
--
--   ==1.2.3  =1.2.3  1.2.3      exactly (1.2.* and 1.2.x are wildcards)
--   !=1.2.3                      anything else
--   >=1.0  >1.0  <=2  <2         comparisons
--   ~1.2.3                       >=1.2.3 <1.3.0 (~1.2 the same from 1.2.0; ~1 is >=1.0.0 <2.0.0)
--   ^1.2.3                       >=1.2.3 <2.0.0 (^0.2.3 is <0.3.0, ^0.0.3 is <0.0.4)
--   ~=1.2                        PEP 440's compatible release: >=1.2 <2.0 (~=1.2.3: <1.3.0)
--   * or empty                   any version
-- Clauses separated by commas or spaces must all hold; "||" separates alternatives.
-- Pre-releases are matched only by constraints that name a pre-release themselves, or by an
-- exact version, as npm does; so `lac>=1.0` never picks 2.0.0-rc.1.
local M = {}

local function parse_ids(s)
  local ids = {}
  for id in (s .. "."):gmatch("([^.]*)%.") do
    if id == "" or not id:match("^[0-9A-Za-z-]+$") then return nil end
    if id:match("^%d+$") then
      if #id > 1 and id:sub(1, 1) == "0" then return nil end
      ids[#ids + 1] = tonumber(id)
    else
      ids[#ids + 1] = id
    end
  end
  return ids
end

local function num(s)
  if #s > 1 and s:sub(1, 1) == "0" then return nil end
  return tonumber(s)
end

-- Parses a strict version: { major, minor, patch, pre = {ids}, str = s }, or nil + reason.
function M.parse(s)
  if type(s) ~= "string" then return nil, "expected a string" end
  local a, b, c, rest = s:match("^(%d+)%.(%d+)%.(%d+)(.*)$")
  if not a then return nil, "not MAJOR.MINOR.PATCH" end
  local v = { num(a), num(b), num(c), pre = {}, str = s }
  if not (v[1] and v[2] and v[3]) then return nil, "leading zero in a number" end
  local pre, build = rest:match("^%-([^+]+)(.*)$")
  if pre then
    v.pre = parse_ids(pre)
    if not v.pre then return nil, "bad pre-release '" .. pre .. "'" end
    rest = build
  end
  if rest ~= "" and not rest:match("^%+[0-9A-Za-z-]+[0-9A-Za-z.-]*$") then
    return nil, "unexpected '" .. rest .. "'"
  end
  return v
end

function M.valid(s) return M.parse(s) ~= nil end

-- "1" and "1.2" are padded with zeros; "1.2.*" / "1.x" give a wildcard (nil fields).
local function parse_loose(s)
  local v = M.parse(s)
  if v then return v end
  local parts = {}
  for p in (s .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = p end
  if #parts > 3 then return nil end
  local out, wild = { pre = {}, str = s }, false
  for i = 1, 3 do
    local p = parts[i]
    if p == "*" or p == "x" or p == "X" then
      wild = true
    elseif p == nil then
      if not wild then out[i] = 0 end
    elseif p:match("^%d+$") and not wild then
      out[i] = tonumber(p)
    else
      return nil
    end
  end
  out.wild = wild or nil
  return out
end

local function cmp_pre(a, b)
  if #a == 0 and #b == 0 then return 0 end
  if #a == 0 then return 1 end -- a release is newer than its pre-releases
  if #b == 0 then return -1 end
  for i = 1, math.max(#a, #b) do
    local x, y = a[i], b[i]
    if x == nil then return -1 end
    if y == nil then return 1 end
    if x ~= y then
      local nx, ny = type(x) == "number", type(y) == "number"
      if nx and not ny then return -1 end
      if ny and not nx then return 1 end
      return x < y and -1 or 1
    end
  end
  return 0
end

local function as_version(v, argn)
  if type(v) == "table" then return v end
  local p, err = M.parse(v)
  if not p then error(string.format("bad argument #%d to 'semver.cmp' ('%s' is not a version: %s)", argn,
    tostring(v), err), 3) end
  return p
end

-- -1, 0 or 1 as a is older than, equal to or newer than b (strings or parsed versions).
function M.cmp(a, b)
  a, b = as_version(a, 1), as_version(b, 2)
  for i = 1, 3 do
    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
  end
  return cmp_pre(a.pre, b.pre)
end

-- Sorts version strings in place, oldest first.
function M.sort(list)
  table.sort(list, function(x, y) return M.cmp(x, y) < 0 end)
  return list
end

local function bump(v, level) -- the smallest version above every v with the same first `level` parts
  local out = { v[1] or 0, v[2] or 0, v[3] or 0, pre = { 0 } }
  out[level] = out[level] + 1
  for i = level + 1, 3 do out[i] = 0 end
  return out
end

-- One clause to a list of {op, version} checks.
local function clause(text)
  local op, ver = text:match("^([=<>!~^]*)%s*(.-)$")
  if ver == "" and (op == "" or op == "*") or text == "*" then return {} end
  local v = parse_loose(ver)
  if not v then return nil, "'" .. ver .. "' is not a version" end
  local n = (v[3] and 3) or (v[2] and 2) or 1
  local _, dots = ver:gsub("%.", "")
  local given = math.min(dots + 1, 3) -- how many parts were written
  if v.wild then
    if op ~= "" and op ~= "==" and op ~= "=" then return nil, "a wildcard works only with ==" end
    return { { ">=", { v[1] or 0, v[2] or 0, v[3] or 0, pre = { 0 } } }, { "<", bump(v, n) } }
  end
  if op == "" or op == "==" or op == "=" then return { { "==", v } } end
  if op == "!=" or op == ">=" or op == ">" or op == "<=" or op == "<" then return { { op, v } } end
  if op == "~" then return { { ">=", v }, { "<", bump(v, given >= 2 and 2 or 1) } } end
  if op == "~=" then
    if given < 2 then return nil, "~= needs at least MAJOR.MINOR" end
    return { { ">=", v }, { "<", bump(v, given - 1) } }
  end
  if op == "^" then
    local level = (v[1] ~= 0 or given == 1) and 1 or ((v[2] ~= 0 or given == 2) and 2 or 3)
    return { { ">=", v }, { "<", bump(v, level) } }
  end
  return nil, "unknown operator '" .. op .. "'"
end

local constraint_mt = {}
constraint_mt.__index = constraint_mt
constraint_mt.__tostring = function(c) return c.text end

-- Parses a constraint string: an object with :matches(version), or nil + reason.
function M.constraint(text)
  if type(text) ~= "string" then return nil, "expected a string" end
  local alts = {}
  for alt in (text .. "||"):gmatch("(.-)||") do
    local checks = {}
    -- "> = 1.0" is not allowed, but ">= 1.0" is: glue operators to their versions first.
    local s = alt:gsub("([=<>!~^]+)%s+", "%1")
    for part in s:gmatch("[^,%s]+") do
      local c, err = clause(part)
      if not c then return nil, err end
      for _, x in ipairs(c) do checks[#checks + 1] = x end
    end
    alts[#alts + 1] = checks
  end
  return setmetatable({ text = text, alts = alts, pre = text:find("%d%-[0-9A-Za-z]") ~= nil }, constraint_mt)
end

local function check(v, op, w)
  local c = M.cmp(v, w)
  if op == "==" then return c == 0 elseif op == "!=" then return c ~= 0
  elseif op == ">=" then return c >= 0 elseif op == ">" then return c > 0
  elseif op == "<=" then return c <= 0 else return c < 0 end
end

function constraint_mt:matches(version)
  local v = type(version) == "table" and version or M.parse(version)
  if not v then return false end
  for _, checks in ipairs(self.alts) do
    local ok = true
    local exact = false
    for _, c in ipairs(checks) do
      if c[1] == "==" and #v.pre > 0 then exact = true end
      if not check(v, c[1], c[2]) then ok = false; break end
    end
    if ok and (#v.pre == 0 or self.pre or exact) then return true end
  end
  return false
end

-- true when `version` satisfies `constraint` (a string or parsed); raises on a bad constraint.
function M.satisfies(version, constraint)
  local c = constraint
  if type(c) ~= "table" then
    local err
    c, err = M.constraint(constraint)
    if not c then error(string.format("bad version constraint '%s': %s", tostring(constraint), err), 2) end
  end
  return c:matches(version)
end

-- The newest of `versions` (strings) that satisfies the constraint (nil or "" = any), or nil.
function M.newest(versions, constraint)
  local c
  if constraint and constraint ~= "" then
    local err
    c, err = M.constraint(constraint)
    if not c then error(string.format("bad version constraint '%s': %s", constraint, err), 2) end
  end
  local best
  for _, v in ipairs(versions) do
    local p = M.parse(v)
    if p and (c and c:matches(p) or (not c and #p.pre == 0)) then
      if not best or M.cmp(p, best) > 0 then best = p end
    end
  end
  if not best and not c then -- only pre-releases: take the newest of those
    for _, v in ipairs(versions) do
      local p = M.parse(v)
      if p and (not best or M.cmp(p, best) > 0) then best = p end
    end
  end
  return best and best.str or nil
end

return M
