-- testlib.lua: what the Lua tests in this directory share.  Not a test itself (ctest registers
-- only tests/lua/test_*.lua).  A test loads it, wherever it is run from, with
--
--   package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
--   local T = require "testlib"
--   local ok = T.ok
--
-- checks with T.ok (and T.errors), and ends with T.finish(): the "N passed, M failed" line, and
-- exit status 1 when a check failed.  T.passed and T.failed are the counters.
local bit = require "bit"

local T = { passed = 0, failed = 0 }

-- ok(cond, msg [, detail]): counts a passed check, or a failed one, printed as "FAIL msg" (and
-- detail, when given, on indented lines below).
function T.ok(cond, msg, detail)
  if cond then T.passed = T.passed + 1
  else T.failed = T.failed + 1; print("FAIL " .. msg .. (detail and ("\n  " .. tostring(detail):gsub("\n", "\n  ")) or "")) end
end

-- errors(fn, pattern, msg): checks that fn() raises an error whose message contains pattern
-- (plain text, not a Lua pattern).
function T.errors(fn, pattern, msg)
  local good, err = pcall(fn)
  T.ok(not good and tostring(err):find(pattern, 1, true) ~= nil,
    msg .. ": expected an error with '" .. pattern .. "', got " .. tostring(err))
end

-- data_missing(skip_msg, fail_msg): for data a test needs that is not there (not fetched, not
-- built): prints "skipped: SKIP_MSG", unless HUB_REQUIRE_DATA is set (as CI sets it), when it
-- is a failed check, FAIL_MSG.
function T.data_missing(skip_msg, fail_msg)
  local req = os.getenv("HUB_REQUIRE_DATA")
  if req == nil or req == "" then print("skipped: " .. skip_msg) else T.ok(false, fail_msg) end
end

-- finish(): prints "N passed, M failed"; exits with status 1 when a check failed.
function T.finish()
  print(string.format("%d passed, %d failed", T.passed, T.failed))
  if T.failed > 0 then os.exit(1) end
end

-- ---- small helpers ----

-- Whether two arrays hold the same elements.
function T.same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- The bytes of file p, or nil when it cannot be opened.
function T.read_file(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Writes s to file p (an error when it cannot be opened).
function T.write_file(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

-- s quoted for the shell: 'it'\''s'.
function T.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- SHA-1 (FIPS 180-4) of s as 40 hex digits, on LuaJIT's bit operations (for texts below 512 MiB).
function T.sha1(s)
  local band, bor, bxor, bnot, rol, tobit = bit.band, bit.bor, bit.bxor, bit.bnot, bit.rol, bit.tobit
  local n = #s
  local msg = s .. "\128" .. string.rep("\0", (55 - n) % 64) .. "\0\0\0\0"
    .. string.char(band(bit.rshift(n * 8, 24), 255), band(bit.rshift(n * 8, 16), 255),
                   band(bit.rshift(n * 8, 8), 255), band(n * 8, 255))
  local h0, h1, h2, h3, h4 = tobit(0x67452301), tobit(0xEFCDAB89), tobit(0x98BADCFE), tobit(0x10325476), tobit(0xC3D2E1F0)
  local w = {}
  for blk = 1, #msg, 64 do
    for i = 0, 15 do
      local a, b, c, d = msg:byte(blk + 4 * i, blk + 4 * i + 3)
      w[i] = bor(bit.lshift(a, 24), bit.lshift(b, 16), bit.lshift(c, 8), d)
    end
    for i = 16, 79 do w[i] = rol(bxor(w[i - 3], w[i - 8], w[i - 14], w[i - 16]), 1) end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then f, k = bor(band(b, c), band(bnot(b), d)), 0x5A827999
      elseif i < 40 then f, k = bxor(b, c, d), 0x6ED9EBA1
      elseif i < 60 then f, k = bor(band(b, c), band(b, d), band(c, d)), 0x8F1BBCDC
      else f, k = bxor(b, c, d), 0xCA62C1D6 end
      local t = tobit(rol(a, 5) + f + e + k + w[i])
      e, d, c, b, a = d, c, rol(b, 30), a, t
    end
    h0, h1, h2, h3, h4 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d), tobit(h4 + e)
  end
  return bit.tohex(h0) .. bit.tohex(h1) .. bit.tohex(h2) .. bit.tohex(h3) .. bit.tohex(h4)
end

return T
