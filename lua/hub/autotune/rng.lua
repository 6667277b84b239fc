-- hub.autotune.rng: the seeded generator of the search strategies: L'Ecuyer's MRG32k3a, which
-- needs nothing but exact double arithmetic (every product stays below 2^53), so a seed gives the
-- same stream on every machine and in every LuaJIT.
--
--   local r = rng.new(42)
--   r:uniform()         -- [0, 1)
--   r:uniform(a, b)     -- [a, b)
--   r:normal()          -- N(0, 1) (Box-Muller)
--   r:int(n)            -- 1..n
local M = {}
local R = {}
R.__index = R

local m1, m2 = 4294967087, 4294944443
local a12, a13n, a21, a23n = 1403580, 810728, 527612, 1370589
local norm = 1 / (m1 + 1)
local floor = math.floor

function R:next()
  local s = self.s
  local p1 = a12 * s[2] - a13n * s[1]
  p1 = p1 - floor(p1 / m1) * m1
  s[1], s[2], s[3] = s[2], s[3], p1
  local p2 = a21 * s[6] - a23n * s[4]
  p2 = p2 - floor(p2 / m2) * m2
  s[4], s[5], s[6] = s[5], s[6], p2
  local d = p1 - p2
  if d <= 0 then d = d + m1 end
  return d * norm
end

function R:uniform(a, b)
  local u = self:next()
  if a == nil then return u end
  return a + (b - a) * u
end

function R:normal()
  if self.spare then
    local v = self.spare
    self.spare = nil
    return v
  end
  local u1, u2 = self:next(), self:next()
  local r = math.sqrt(-2 * math.log(u1))
  self.spare = r * math.sin(2 * math.pi * u2)
  return r * math.cos(2 * math.pi * u2)
end

function R:int(n) return math.min(n, floor(self:next() * n) + 1) end

function R:shuffle(t)
  for i = #t, 2, -1 do
    local j = self:int(i)
    t[i], t[j] = t[j], t[i]
  end
  return t
end

-- new(seed): any number; equal seeds give equal streams.
function M.new(seed)
  seed = tonumber(seed) or 0
  -- spread the seed over the six state words with Park-Miller steps (x < 2^31, so every
  -- product stays below 2^46: exact in doubles)
  local x = (floor(math.abs(seed)) % 2147483647) + 12345 + (seed < 0 and 777 or 0)
  local s = {}
  for i = 1, 6 do
    x = (x * 48271) % 2147483647
    local y = (x * 16807) % 2147483647
    s[i] = (x * 2 + y % 2 + i) % ((i <= 3) and m1 or m2)
    if s[i] == 0 then s[i] = i end
  end
  local r = setmetatable({ s = s }, R)
  for _ = 1, 10 do r:next() end
  return r
end

return M
