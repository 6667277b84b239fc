-- test_run_cli.lua: `hubrun run` end to end, and the hub.module API under it.
--
-- A toy module written to a temporary directory (predict: each text becomes {text, n, bs}; a
-- format and a set_user_dict on its state) is run through the real hubrun executable with
-- --input_text, --input_file (empty lines skipped), --json, --batch_size and --user_dict, and
-- every bad invocation must print "hubrun run: ..." and exit with status 1.  A second toy
-- defines run(argv) and gets the arguments itself.  Then the real lac module, when it is
-- installed or built (make registry): DATA.md's known output, --json in PaddleHub's shape,
-- --input_file and a user dictionary.  Without lac those cases are skipped, unless
-- HUB_REQUIRE_DATA is set.
local hub = require "hub"
local cjson = require "cjson"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, write, q = T.ok, T.write_file, T.q

local HUBRUN = arg[-1]
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p '" .. tmp .. "/toy' '" .. tmp .. "/runner' '" .. tmp .. "/home'")

-- hubrun run ARGS... -> stdout, stderr, exit status (HUB_HOME is the temporary store)
local function run(...)
  local args = { "run" }
  for _, a in ipairs { ... } do args[#args + 1] = q(a) end
  local cmd = string.format("HUB_HOME=%s %s %s >%s/out 2>%s/err; echo $?", q(tmp .. "/home"), q(HUBRUN),
    table.concat(args, " "), q(tmp), q(tmp))
  local p = io.popen(cmd)
  local rc = tonumber(p:read("*a"):match("(%d+)"))
  p:close()
  local function slurp(name)
    local f = io.open(tmp .. "/" .. name, "rb")
    local s = f:read("*a")
    f:close()
    return s
  end
  return slurp("out"), slurp("err"), rc
end

-- module.json lists module.lua with its sha256 and size, as the module format requires.
local function manifest(dir, name, version)
  local ffi = require "ffi"
  local hex = ffi.new("char[65]")
  assert(hub.C.hub_sha256_file(dir .. "/module.lua", hex) == 0)
  write(dir .. "/module.json", string.format(
    '{"name": "%s", "version": "%s", "type": "test", "entry": "module.lua", "files": {"module.lua": {"sha256": "%s", "size": %d}}}',
    name, version, ffi.string(hex), tonumber(hub.C.hub_fs_size(dir .. "/module.lua"))))
end

write(tmp .. "/toy/module.lua", [[
local M = {}
function M.load(dir, opts)
  return { prefix = "", set_user_dict = function(self, path) self.prefix = "dict(" .. path .. ")" end }
end
function M.predict(self, texts, opts)
  local out = {}
  for i, t in ipairs(texts) do out[i] = { text = self.prefix .. t, n = #t, bs = opts and opts.batch_size or 0 } end
  return out
end
function M.format(self, r) return r.text .. "|" .. r.n .. "|" .. r.bs end
return M
]])
write(tmp .. "/runner/module.lua", [[
return {
  load = function() return {} end,
  predict = function() return {} end,
  run = function(self, argv) print("argv:" .. table.concat(argv, ",")); return #argv end,
}
]])
manifest(tmp .. "/toy", "toy", "0.2.0")
manifest(tmp .. "/runner", "runner", "1.0.0")
write(tmp .. "/in.txt", "one\n\ntwo words\r\n   \nthree\n")
local toy = tmp .. "/toy"

-- ---- the Lua API ----
local m = hub.module(toy)
ok(m.name == "toy" and m.version == "0.2.0" and m.dir == toy and m.manifest.type == "test", "module object fields")
ok(m:predict({ "ab" })[1].n == 2 and m:format(m:predict({ "ab" })[1]) == "ab|2|0", "predict and format")
ok(m:has("format") and not m:has("run"), ":has")
m:set_user_dict("x")
ok(m:predict({ "ab" })[1].text == "dict(x)ab", "methods of the state are reachable through the module")
ok(hub.module == require("hub.module") and hub.module(toy .. "/", { version = "9" }).name == "toy",
  "hub.module is callable with options; trailing slash")
local okr, err = pcall(m.run, m, {})
ok(not okr and err:find("defines no run function", 1, true) and err:find("toy", 1, true), "missing run: " .. tostring(err))
okr, err = pcall(hub.module, tmp .. "/nowhere")
ok(not okr and err:find("no module.json", 1, true), "not a module: " .. tostring(err))
okr, err = pcall(hub.module, 42)
ok(not okr and err:find("bad argument #1 to 'module'", 1, true), "bad argument: " .. tostring(err))
ok(m:predict_json('{"text": ["abc"]}') == '[{"text":"dict(x)abc","n":3,"bs":0}]'
   or cjson.decode(m:predict_json('{"text": ["abc"]}'))[1].n == 3, "predict_json")

-- ---- hubrun run with the toy ----
local out, errs, rc = run(toy, "--input_text", "hello")
ok(rc == 0 and out == "hello|5|0\n", "--input_text: " .. out .. errs)
out, errs, rc = run(toy, "--input_text=hi there", "--batch_size", "4")
ok(rc == 0 and out == "hi there|8|4\n", "--input_text=, --batch_size: " .. out .. errs)
out, errs, rc = run(toy, "--input_file", tmp .. "/in.txt")
ok(rc == 0 and out == "one|3|0\ntwo words|9|0\nthree|5|0\n", "--input_file skips empty lines: " .. out .. errs)
out, errs, rc = run(toy, "--input_file", tmp .. "/in.txt", "--json", "--batch_size=2")
local okj, j = pcall(cjson.decode, out)
ok(rc == 0 and okj and #j == 3 and j[2].text == "two words" and j[3].bs == 2, "--json: " .. out .. errs)
out, errs, rc = run(toy, "--input_text", "a", "--user_dict", "my.dic")
ok(rc == 0 and out == "dict(my.dic)a|1|0\n", "--user_dict: " .. out .. errs)
out, errs, rc = run(toy, "--help")
ok(rc == 0 and out:find("usage: hubrun run NAME", 1, true), "--help")
out, errs, rc = run(tmp .. "/runner", "--anything", "goes")
ok(rc == 2 and out == "argv:--anything,goes\n", "module's own run(argv): " .. out .. errs .. tostring(rc))

local bad = {
  { { toy }, "no input" },
  { { toy, "--input_text", "a", "--input_file", tmp .. "/in.txt" }, "not both" },
  { { toy, "--input_text" }, "needs a value" },
  { { toy, "--input_text", "a", "--batch_size", "0" }, "positive integer" },
  { { toy, "--input_text", "a", "--batch_size", "x" }, "positive integer" },
  { { toy, "--input_text", "a", "--frobnicate" }, "unknown argument '--frobnicate'" },
  { { toy, "--input_file", tmp .. "/missing.txt" }, "cannot read" },
  { { toy, "--input_file", tmp }, tmp .. ": cannot read the input file: Is a directory\n" },
  { { tmp .. "/nowhere", "--input_text", "a" }, "no module.json" },
  { { "no_such_module_xyz", "--input_text", "a" }, "no_such_module_xyz" },
  { { "--input_text", "a" }, "module name comes first" },
  { { tmp .. "/runner/..", "--input_text", "a" }, "no module.json" },
}
for _, case in ipairs(bad) do
  out, errs, rc = run((table.unpack or unpack)(case[1]))
  ok(rc == 1 and errs:find("hubrun run: ", 1, true) and errs:find(case[2], 1, true) and not errs:find("traceback")
     and select(2, errs:gsub("\n", "")) == 1,
    "error '" .. case[2] .. "' in one line: rc " .. tostring(rc) .. " " .. errs)
end
out, errs, rc = run()
ok(rc == 1 and out:find("usage", 1, true), "no arguments prints the usage and fails")

-- ---- lac ----
local function find_lac()
  local okl, mod = pcall(hub.module, "lac") -- installed: the CLI below runs with another HUB_HOME
  if okl then return mod.dir, mod end
  local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or ".."
  local reg = os.getenv("HUB_REGISTRY_DIR")
  local dir = (reg and reg ~= "" and reg or here .. "/build/registry") .. "/lac/1.0.0"
  local okd, dm = pcall(hub.module, dir)
  if okd then return dir, dm end
  return nil
end
local lac_spec, lac = find_lac()
if not lac_spec then
  T.data_missing("lac cases (the lac module is neither installed nor built; run make registry)",
    "HUB_REQUIRE_DATA is set but the lac module is not built (make registry)")
else
  local baidu = "百度/ORG 是/v 一家/m 高科技/n 公司/n"
  out, errs, rc = run(lac_spec, "--input_text", "百度是一家高科技公司")
  ok(rc == 0 and out == baidu .. "\n", "lac --input_text: " .. out .. errs)
  out, errs, rc = run(lac_spec, "--input_text", "今天是个好日子", "--json")
  ok(rc == 0 and out == '[{"word": ["今天", "是", "个", "好日子"], "tag": ["TIME", "v", "q", "n"]}]\n',
    "lac --json in PaddleHub's shape: " .. out .. errs)
  write(tmp .. "/lac.txt", "百度是一家高科技公司\n2019年国庆节我在上海参加了华为发布会\n")
  out, errs, rc = run(lac_spec, "--input_file", tmp .. "/lac.txt", "--batch_size", "1")
  ok(rc == 0 and out == baidu .. "\n2019年国庆节/TIME 我/r 在/p 上海/LOC 参加/v 了/u 华为/ORG 发布会/n\n",
    "lac --input_file: " .. out .. errs)
  -- invalid UTF-8 in the input: U+FFFD in the words, and --json stays valid JSON (a strict
  -- UTF-8 decoder and JSON parser: Python's)
  write(tmp .. "/bad-utf8.txt", "ab\255\254百度\228\184cd\n\237\160\128公司\n")
  out, errs, rc = run(lac_spec, "--input_file", tmp .. "/bad-utf8.txt", "--json")
  write(tmp .. "/bad-utf8.json", out)
  local py = io.popen("/usr/bin/python3 -c 'import json, sys; r = json.loads(open(sys.argv[1], \"rb\").read().decode(\"utf-8\"));"
    .. " print(\"\".join(w for x in r for w in x[\"word\"]))' " .. q(tmp .. "/bad-utf8.json") .. " 2>&1")
  local joined = py:read("*a")
  py:close()
  local R = "\239\191\189"
  ok(rc == 0 and joined == "ab" .. R .. R .. "百度" .. R .. "cd" .. R .. R .. R .. "公司\n",
    "lac --json on invalid UTF-8 is valid JSON with U+FFFD: " .. joined .. errs)
  write(tmp .. "/user.dic", "高科技公司/NT\n")
  out, errs, rc = run(lac_spec, "--input_text", "百度是一家高科技公司", "--user_dict", tmp .. "/user.dic")
  ok(rc == 0 and out == "百度/ORG 是/v 一家/m 高科技公司/NT\n", "lac --user_dict: " .. out .. errs)
  local r = lac:predict({ "百度是一家高科技公司" })
  ok(r[1].word[1] == "百度" and r[1].tag[1] == "ORG" and lac:format(r[1]) == baidu, "hub.module lac from Lua")
  -- options are checked: hub.module's (passed to load) and predict's
  local oke, e = pcall(hub.module, lac_spec, { user_dcit = "x" })
  ok(not oke and tostring(e):find("unknown option 'user_dcit' (expected one of device, user_dict)", 1, true), "hub.module lac, misspelt option: " .. tostring(e))
  oke, e = pcall(lac.predict, lac, { "百度" }, { batchsize = 2 })
  ok(not oke and tostring(e):find("predict: unknown option 'batchsize' (expected one of batch_size, max_batch_chars)", 1, true),
    "lac:predict, misspelt option: " .. tostring(e))
  oke, e = pcall(lac.predict, lac, { "百度" }, { batch_size = "2" })
  ok(not oke and tostring(e):find("predict: option 'batch_size' must be a number, got string 2", 1, true),
    "lac:predict, batch_size as a string: " .. tostring(e))
  -- The packaged weights (lac.safetensors) give what hub.lac gives on the Paddle files.
  local paddle_dir = hub.lac.default_dir()
  local fp = io.open(paddle_dir .. "/model_baseline/crfw", "rb")
  if fp then
    fp:close()
    local texts = { "百度是一家高科技公司", "2019年国庆节我在上海参加了华为发布会", "今天是个好日子", "",
                    "Debian 是一个自由的操作系统，由全世界的志愿者开发和维护。", "ＡＢＣ全角字符和emoji😀混排" }
    local ra, rb = hub.lac.load(paddle_dir):predict(texts), lac:predict(texts, { batch_size = 2 })
    local same = true
    for i = 1, #texts do same = same and hub.lac.format(ra[i]) == lac:format(rb[i]) end
    ok(same, "the module agrees with hub.lac on the Paddle files")
  end
  local n0 = hub.shared_count()
  local again = hub.module(lac_spec)
  ok(hub.shared_count() == n0 and again:format(again:predict({ "百度是一家高科技公司" })[1]) == baidu,
    "a second load reuses the cached weights (" .. n0 .. " -> " .. hub.shared_count() .. ")")
  -- hub_tensor's first field is its data pointer: both loads use the one mapping, untouched
  -- (fc_0.w_0 is where LAC-small had denormals; a copy here would mean the converter missed them).
  local ffi = require "ffi"
  local function data(t) return tonumber(ffi.cast("uintptr_t", ffi.cast("void **", t)[0])) end
  local same = true
  for _, name in ipairs(hub.lac.PARAMS) do
    same = same and data(lac.params[name]) == data(again.params[name])
  end
  ok(same, "both loads of lac point at the same weight memory")
end

os.execute("rm -rf '" .. tmp .. "'")
T.finish()
