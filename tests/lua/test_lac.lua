-- test_lac.lua: hub.lac (lua/hub/models/lac.lua) on Baidu's real LAC-small weights.
--
-- Needs the data fetched by scripts/fetch-lac.sh (python3-jieba's lac_small and the
-- debian-reference-zh-cn text); the parts that need no model are in test_lac_dict.lua.
--   * DATA.md's two known outputs;
--   * every sentence of tests/fixtures/lac_ref.json (made by scripts/gen_lac_fixture.py with
--     shared/reference/lac_ref.py on sentences of the book) segmented and tagged exactly as the
--     reference did; the sentences are found again in the fetched text by their SHA-1 (the
--     fixture does not hold the text) with the same extraction rule as the generator;
--   * batches of texts of different lengths give the same result as one text at a time;
--   * the user dictionary on model output.
-- Missing data skips the test ("skipped: ...") unless HUB_REQUIRE_DATA is set, as CI sets it.
local hub = require "hub"
local cjson = require "cjson"
local lac = hub.lac

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, same, read_file = T.ok, T.same, T.read_file

local dir = lac.default_dir()
local text_path = dir:gsub("/jieba/usr/lib/python3/dist%-packages/jieba/lac_small$", "")
  .. "/debian-reference-zh-cn/debian-reference.zh-cn.txt"
local text = read_file(text_path)
if not read_file(dir .. "/model_baseline/crfw") or not text then
  T.data_missing("LAC data not fetched (run scripts/fetch-lac.sh): " .. dir,
    "HUB_REQUIRE_DATA is set but the LAC data is missing (" .. dir .. ", " .. text_path .. ")")
  T.finish()
  return
end

local m = lac.load(dir)
local r = m:predict { "百度是一家高科技公司", "2019年国庆节我在上海参加了华为发布会" }
ok(lac.format(r[1]) == "百度/ORG 是/v 一家/m 高科技/n 公司/n", "known 1: " .. lac.format(r[1]))
ok(lac.format(r[2]) == "2019年国庆节/TIME 我/r 在/p 上海/LOC 参加/v 了/u 华为/ORG 发布会/n", "known 2: " .. lac.format(r[2]))
ok(same(r[1].word, { "百度", "是", "一家", "高科技", "公司" }) and same(r[1].tag, { "ORG", "v", "m", "n", "n" }),
  "PaddleHub's shape {word = {...}, tag = {...}}")
r = m:predict { "", "百度" }
ok(r[1].word[1] == "" and r[1].tag[1] == "" and #r[1].word == 1 and #r[2].word >= 1, "empty text gives {word={''}, tag={''}}")

-- SHA-1, for finding the fixture's sentences in the fetched text.
local sha1 = T.sha1
ok(sha1("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1('abc')")
ok(sha1(string.rep("a", 1000)) == "291e9a6c66994949b57ba5e650361e98fc36b1ba", "sha1 of 1000 bytes")

-- The generator's steps 1-3: paragraphs of non-blank lines, joined with a space between two
-- ASCII characters and with nothing otherwise, cut after 。！？；, stripped.
local function strip(s) return (s:gsub("^[ \t\r\f\v]+", ""):gsub("[ \t\r\f\v]+$", "")) end
local function candidates(txt)
  local out, para = {}, nil
  local function flush()
    if not para then return end
    local piece = {}
    for _, ch in ipairs(lac.utf8_chars(para)) do
      piece[#piece + 1] = ch
      if ch == "。" or ch == "！" or ch == "？" or ch == "；" then out[#out + 1] = strip(table.concat(piece)); piece = {} end
    end
    local rest = strip(table.concat(piece))
    if rest ~= "" then out[#out + 1] = rest end
    para = nil
  end
  for line in (txt .. "\n"):gmatch("([^\n]*)\n") do
    local s = strip(line)
    if s == "" then flush()
    elseif not para then para = s
    else
      local sep = (para:byte(-1) < 128 and s:byte(1) < 128) and " " or ""
      para = para .. sep .. s
    end
  end
  flush()
  return out
end

local fx = cjson.decode((assert(read_file("fixtures/lac_ref.json"), "tests/fixtures/lac_ref.json missing")))
local by_sha = {}
for _, s in ipairs(candidates(text)) do by_sha[sha1(s)] = s end
local texts, expect, missing = {}, {}, 0
for _, it in ipairs(fx.known) do texts[#texts + 1] = it.text; expect[#expect + 1] = it end
for _, it in ipairs(fx.sentences) do
  local s = by_sha[it.sha1]
  if s then texts[#texts + 1] = s; expect[#expect + 1] = it else missing = missing + 1 end
end
ok(missing == 0, missing .. " fixture sentences not found in " .. text_path .. " (another package version?)")
local nsent = #texts - #fx.known
ok(nsent >= 200, "at least 200 real sentences compared (" .. nsent .. ")")
local t0 = os.clock()
local res = m:predict(texts, { batch_size = 32 })
local secs = os.clock() - t0
local agree, nchars = 0, 0
for i, it in ipairs(expect) do
  local lens = {}
  for k, w in ipairs(res[i].word) do lens[k] = #lac.utf8_chars(w) end
  nchars = nchars + it.chars
  if same(lens, it.words) and same(res[i].tag, it.tags) then
    agree = agree + 1
  else
    print("differs from lac_ref.py: " .. texts[i] .. "\n  got " .. lac.format(res[i]) .. "\n  ref " .. cjson.encode(it.words) .. " " .. cjson.encode(it.tags))
  end
end
ok(agree == #expect, string.format("agreement with lac_ref.py: %d of %d", agree, #expect))
print(string.format("lac_ref.py agreement: %d of %d texts (%d real sentences, %d characters), %.0f chars/s CPU",
  agree, #expect, nsent, nchars, nchars / math.max(secs, 1e-6)))

-- batching: sizes 1, 7 and all at once give the same words and tags
local sub = {}
for i = 1, math.min(#texts, 40) do sub[i] = texts[i] end
sub[#sub + 1] = ""
local one = m:predict(sub, { batch_size = 1 })
for _, bs in ipairs { 7, #sub } do
  local b = m:predict(sub, { batch_size = bs })
  local eq = true
  for i = 1, #sub do eq = eq and same(b[i].word, one[i].word) and same(b[i].tag, one[i].tag) end
  ok(eq, "batch_size " .. bs .. " equals one text at a time")
end
local okc, err = pcall(m.predict, m, { "a", 3 })
ok(not okc and tostring(err):find("element 2 is number", 1, true), "bad text: " .. tostring(err))
okc, err = pcall(m.predict, m, { "a" }, { batch_size = 0 })
ok(not okc and tostring(err):find("batch_size", 1, true), "bad batch_size: " .. tostring(err))

-- loading: a broken parameter file and a missing tensor are named in the error
do
  local tmpd = os.tmpname()
  os.remove(tmpd)
  os.execute(string.format("mkdir -p '%s/model_baseline' && ln -s '%s/word.dic' '%s/tag.dic' '%s/' && " ..
    "for f in '%s'/model_baseline/*; do ln -s \"$f\" '%s/model_baseline/'; done && rm '%s/model_baseline/fc_2.w_0' && " ..
    "head -c 1000 '%s/model_baseline/fc_2.w_0' > '%s/model_baseline/fc_2.w_0'",
    tmpd, dir, dir, tmpd, dir, tmpd, tmpd, dir, tmpd))
  local okl, e = pcall(lac.load, tmpd)
  ok(not okl and tostring(e):find("fc_2.w_0", 1, true) and tostring(e):find("need 393216 data bytes", 1, true),
    "truncated parameter file named: " .. tostring(e))
  os.execute("rm -rf '" .. tmpd .. "'")
  local P = {}
  for k, v in pairs(m.params) do P[k] = v end
  P["gru_3.b_0"] = nil
  okl, e = pcall(lac.from_params, dir, P, "lac.safetensors:")
  ok(not okl and tostring(e):find("lac.safetensors:gru_3.b_0: missing", 1, true), "missing tensor named: " .. tostring(e))
  P["gru_3.b_0"] = hub.zeros({ 384 })
  okl, e = pcall(lac.from_params, dir, P, "lac.safetensors:")
  ok(not okl and tostring(e):find("gru_3.b_0: f32 [384], expected float [1,384]", 1, true), "bad shape named: " .. tostring(e))
  P["gru_3.b_0"] = m.params["gru_3.b_0"]
  local m2 = lac.from_params(dir, P)
  ok(lac.format(m2:predict({ "百度是一家高科技公司" })[1]) == "百度/ORG 是/v 一家/m 高科技/n 公司/n", "from_params works")
end

-- user dictionary on the model
ok(m:set_user_dict { "科技公司/nz", "上海参加" } == 2, "set_user_dict counts entries")
r = m:predict { "百度是一家高科技公司", "2019年国庆节我在上海参加了华为发布会" }
ok(lac.format(r[1]) == "百度/ORG 是/v 一家/m 高/n 科技公司/nz", "user dict on the model: " .. lac.format(r[1]))
ok(lac.format(r[2]) == "2019年国庆节/TIME 我/r 在/p 上海参加/LOC 了/u 华为/ORG 发布会/n", "untagged entry: " .. lac.format(r[2]))
m:del_user_dict()
r = m:predict { "百度是一家高科技公司" }
ok(lac.format(r[1]) == "百度/ORG 是/v 一家/m 高科技/n 公司/n", "del_user_dict restores")

T.finish()
