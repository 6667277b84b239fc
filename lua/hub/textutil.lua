-- hub.textutil: small UTF-8 helpers for building corpora, vocabularies and data sets, in plain
-- Lua (no C, so the rules are easy to read and to reproduce elsewhere).
--
--   textutil.utf8_error(s)     byte position of the first invalid UTF-8 sequence, or nil
--   textutil.chars(s)          iterator over (character, code point)
--   textutil.is_han(cp)        a CJK ideograph, with the ranges of runtime/hub_text.h (BERT's)
--   textutil.han_count(s)      number of such characters
--   textutil.normalize(s)      the corpus normalisation (below)
--
-- normalize is a deliberate, minimal subset of NFKC: full-width digits and Latin letters
-- (U+FF10-FF19, FF21-FF3A, FF41-FF5A) become ASCII, and so does the full-width full stop
-- U+FF0E between two digits (People's Daily writes "５．２万"); the ideographic space U+3000, no-break
-- space U+00A0 and all ASCII white space and control characters become a space; zero-width
-- space U+200B, BOM U+FEFF and soft hyphen U+00AD are dropped; runs of spaces collapse to one
-- and the ends are trimmed; a space between two CJK characters (U+3000-9FFF: ideographs, CJK
-- punctuation, kana; or the full-width forms U+FF00-FFEF) is removed, since Chinese is written
-- without spaces and such spaces come from line wrapping.  Full-width punctuation (，。：；！？（）)
-- is kept as written: it is how Chinese is typed, and full NFKC would turn "，" into ",".
local M = {}

local byte, char = string.byte, string.char

-- Returns the 1-based byte position of the first byte that does not start a valid UTF-8
-- sequence (overlong forms, surrogates and code points above U+10FFFF are invalid), or nil.
function M.utf8_error(s)
  if not s:find("[\128-\255]") then return nil end
  local i, n = 1, #s
  while i <= n do
    local c = byte(s, i)
    if c < 0x80 then
      i = i + 1
    else
      local len, min
      if c >= 0xC2 and c <= 0xDF then len, min = 2, 0x80
      elseif c >= 0xE0 and c <= 0xEF then len, min = 3, 0x800
      elseif c >= 0xF0 and c <= 0xF4 then len, min = 4, 0x10000
      else return i end
      if i + len - 1 > n then return i end
      local cp = c % (2 ^ (7 - len))
      for k = 1, len - 1 do
        local cc = byte(s, i + k)
        if cc < 0x80 or cc > 0xBF then return i end
        cp = cp * 64 + (cc - 0x80)
      end
      if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return i end
      i = i + len
    end
  end
  return nil
end

-- Code point of one UTF-8 character (as chars yields; the string is assumed valid).
local function codepoint(ch)
  local c = byte(ch, 1)
  if c < 0x80 then return c end
  local n = #ch
  local cp = c % (2 ^ (7 - n))
  for k = 2, n do cp = cp * 64 + (byte(ch, k) - 0x80) end
  return cp
end
M.codepoint = codepoint

-- Iterates over the characters of a valid UTF-8 string: for ch, cp in textutil.chars(s).
function M.chars(s)
  local it = s:gmatch("[%z\1-\127\192-\247][\128-\191]*")
  return function()
    local ch = it()
    if ch then return ch, codepoint(ch) end
  end
end

-- BERT's "Chinese character" ranges, as runtime/hub_text.h step 3.
function M.is_han(cp)
  return (cp >= 0x4E00 and cp <= 0x9FFF) or (cp >= 0x3400 and cp <= 0x4DBF) or
         (cp >= 0x20000 and cp <= 0x2A6DF) or (cp >= 0x2A700 and cp <= 0x2B81F) or
         (cp >= 0x2B920 and cp <= 0x2CEAF) or (cp >= 0xF900 and cp <= 0xFAFF) or
         (cp >= 0x2F800 and cp <= 0x2FA1F)
end
local is_han = M.is_han

-- Number of Han characters (is_han) in a valid UTF-8 string.
function M.han_count(s)
  local n = 0
  -- Han characters are 3 bytes (lead E3-EF) or 4 bytes (lead F0): look only at those.
  for ch in s:gmatch("[\227-\240][\128-\191]+") do
    if is_han(codepoint(ch)) then n = n + 1 end
  end
  return n
end

-- The UTF-8 bytes of a code point ("" for surrogates and values above U+10FFFF).
function M.utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    if cp >= 0xD800 and cp <= 0xDFFF then return "" end
    return char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  if cp > 0x10FFFF then return "" end
  return char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
    0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local fw = {}
for i = 0, 9 do fw[char(0x90 + i)] = char(0x30 + i) end                  -- EF BC 90.. = FF10..
for i = 0, 25 do fw[char(0xA1 + i)] = char(0x41 + i) end                 -- EF BC A1.. = FF21..
local fw2 = {}
for i = 0, 25 do fw2[char(0x81 + i)] = char(0x61 + i) end                -- EF BD 81.. = FF41..

-- The corpus normalisation (see the top of this file).
function M.normalize(s)
  s = s:gsub("\239\188([\144-\153\161-\186])", fw)
  s = s:gsub("\239\189([\129-\154])", fw2)
  s = s:gsub("(%d)\239\188\142(%d)", "%1.%2")
  s = s:gsub("\227\128\128", " "):gsub("\194\160", " ")
  s = s:gsub("\226\128\139", ""):gsub("\239\187\191", ""):gsub("\194\173", "")
  s = s:gsub("[%z\1-\31\127]", " ")
  s = s:gsub("  +", " ")
  if s:byte(1) == 32 then s = s:sub(2) end
  if s:byte(-1) == 32 then s = s:sub(1, -2) end
  if s:find("[\227-\233\239][\128-\191][\128-\191] [\227-\233\239]") then
    for _ = 1, 2 do  -- twice: matches cannot overlap
      s = s:gsub("([\227-\233\239][\128-\191][\128-\191]) ([\227-\233\239])", "%1%2")
    end
  end
  return s
end

return M
