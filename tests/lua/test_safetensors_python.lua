-- test_safetensors_python.lua: a file written by hub.save is read back by an independent reader,
-- scripts/gen_safetensors_fixture.py --check, written from the documented safetensors format
-- with Python's standard library only.  It checks the header (JSON, padding, offsets tiling the
-- data section as the strict Rust reader requires) and every value against an expectation file
-- written here.  A second run with one expected value changed must fail, so the checker is
-- known to look.  Skipped (still printing the summary line) when /usr/bin/python3 is missing.
local hub = require "hub"
local cjson = require "cjson"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok

local PY = "/usr/bin/python3"
local SCRIPT = "../scripts/gen_safetensors_fixture.py"

local function run(cmd)
  local r = os.execute(cmd)
  return r == 0 or r == true
end

local have_python = run(PY .. " -c 'import json, struct' >/dev/null 2>&1")
if not have_python then
  print("skipped: no python3")
else
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p '" .. dir .. "'")
  local file, expect_path = dir .. "/hub.safetensors", dir .. "/expect.json"

  hub.manual_seed(3)
  local x = hub.randn(3, 4)
  local tensors = {
    ["encoder.weight"] = x,
    ["encoder.weight_t"] = x:t(), -- a view: written in logical order
    half = hub.tensor({ 0.5, -1.25, 3 }, "f16"),
    brain = hub.tensor({ { 1, -2.5 }, { 0.125, 8 } }, "bf16"),
    ids = hub.tensor({ 5, -6, 2147483648 }, "i64"),
    count = hub.tensor({ 1, 2 }, "i32"),
    bytes = hub.tensor({ 0, 200 }, "u8"),
    mask = hub.tensor({ 1, 0, 1 }, "bool"),
    scalar = hub.tensor(-0.75),
    empty = hub.zeros(0, 2),
  }
  local metadata = { format = "pt", note = "hubrun \"quoted\" ünïcode\n" }
  hub.save(file, tensors, { metadata = metadata })

  local file_dtype = { f32 = "F32", f16 = "F16", bf16 = "BF16", i32 = "I32", i64 = "I64", u8 = "U8", bool = "BOOL" }
  local expect = { metadata = metadata, tensors = {} }
  for name, t in pairs(tensors) do
    local vals = {}
    for i = 0, t:numel() - 1 do vals[i + 1] = hub.C.hub_tensor_get(t, i) end
    local shape = t.shape
    expect.tensors[name] = { dtype = file_dtype[t.dtype], shape = #shape > 0 and shape or cjson.empty_array or {},
                             values = #vals > 0 and vals or cjson.empty_array or {} }
  end
  cjson.encode_number_precision(14) -- the most lua-cjson allows; f32 needs 9
  local function write_expect(e)
    local s = cjson.encode(e)
    -- lua-cjson without empty_array writes {} for empty tables: the checker wants lists
    s = s:gsub('"shape":{}', '"shape":[]'):gsub('"values":{}', '"values":[]')
    T.write_file(expect_path, s)
  end
  write_expect(expect)
  ok(run(PY .. " " .. SCRIPT .. " --check '" .. file .. "' '" .. expect_path .. "'"),
    "python reference reads the hubrun file")

  -- the checker must notice a wrong value and a wrong metadata entry
  expect.tensors.count.values[2] = 3
  write_expect(expect)
  ok(not run(PY .. " " .. SCRIPT .. " --check '" .. file .. "' '" .. expect_path .. "' 2>/dev/null"),
    "python reference rejects a wrong value")
  expect.tensors.count.values[2] = 2
  expect.metadata = { format = "np" }
  write_expect(expect)
  ok(not run(PY .. " " .. SCRIPT .. " --check '" .. file .. "' '" .. expect_path .. "' 2>/dev/null"),
    "python reference rejects wrong metadata")

  -- and the reference writer's output reads back here (the committed fixture is one such file;
  -- this regenerates one to make sure the script and the fixture agree)
  ok(run(PY .. " " .. SCRIPT .. " '" .. dir .. "' >/dev/null"), "python writer runs")
  local fresh = io.open(dir .. "/reference.safetensors", "rb"):read("*a")
  local committed = io.open("fixtures/reference.safetensors", "rb"):read("*a")
  ok(fresh == committed, "the committed fixture is what the script writes")
  local t, meta = hub.load(dir .. "/reference.safetensors")
  ok(t.weight ~= nil and meta.format == "pt", "hubrun reads the python-written file")

  os.execute("rm -rf '" .. dir .. "'")
end

T.finish()
