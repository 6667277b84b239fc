-- test_safetensors.lua: hub.save / hub.load (lua/hub/io.lua over runtime/safetensors.c).
-- The reference file tests/fixtures/reference.safetensors was written by
-- scripts/gen_safetensors_fixture.py from the documented format alone; every value in it is
-- compared with tests/fixtures/reference_values.json.  Then: round trips of every dtype, views
-- saved in logical order, metadata, atomic saves (failures leave the old file byte-identical and
-- no temporary file), a collection of deliberately broken files (each must fail with the file
-- name and a useful phrase, and the process goes on), unaligned data, and the lifetime of the
-- mapping behind loaded tensors.
local hub = require "hub"
local ffi = require "ffi"
local cjson = require "cjson"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, read_file, write_file = T.ok, T.read_file, T.write_file

local function exists(p) local f = io.open(p, "rb"); if f then f:close() end; return f ~= nil end

-- A scratch directory under /tmp, removed at the end.
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'") == 0 or true)
local function path(name) return dir .. "/" .. name end
local function listdir(d)
  local p = io.popen("ls -A '" .. d .. "' 2>/dev/null")
  local names = {}
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  table.sort(names)
  return table.concat(names, " ")
end

local function flat(t)
  local n = t:numel()
  local out = {}
  for i = 0, n - 1 do out[i + 1] = hub.C.hub_tensor_get(t, i) end
  return out
end
local same_shape = T.same
local function same_values(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false, i end end
  return true
end
local function f32(x) return tonumber(ffi.new("float", x)) end

-- ---- the reference file ----
do
  local ref = cjson.decode(read_file("fixtures/reference_values.json"))
  local t, meta = hub.load("fixtures/reference.safetensors")
  local hub_dtype = { F32 = "f32", F16 = "f16", BF16 = "bf16", I32 = "i32", I64 = "i64", U8 = "u8",
                      BOOL = "bool", F64 = "f32", I8 = "i32" }
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  local want_count = 0
  for name, w in pairs(ref.tensors) do
    want_count = want_count + 1
    local x = t[name]
    ok(x ~= nil, "reference: tensor " .. name .. " loaded")
    if x then
      ok(x.dtype == hub_dtype[w.dtype], "reference: " .. name .. " dtype " .. x.dtype .. " for " .. w.dtype)
      ok(same_shape(x.shape, w.shape), "reference: " .. name .. " shape")
      local want = {}
      for i, v in ipairs(w.values) do
        if w.dtype == "F64" then v = f32(v) end     -- F64 is read as f32
        want[i] = v
      end
      local same, at = same_values(flat(x), want)
      ok(same, "reference: " .. name .. " values (first difference at " .. tostring(at) .. ")")
    end
  end
  ok(count == want_count, "reference: " .. count .. " tensors, expected " .. want_count)
  ok(meta.format == "pt" and meta.note == "made by gen_safetensors_fixture.py", "reference: metadata")
  -- 2^53 + 1 does not survive doubles: compare the i64 exactly.
  local buf = ffi.new("int64_t[3]")
  hub.C.hub_tensor_read(t.ids, buf, 4)
  ok(buf[2] == 9007199254740993LL and buf[1] == -42, "reference: i64 values exact")
  ok(t.scalar:dim() == 0 and t.scalar:item() == 2.5, "reference: 0-d tensor")
  ok(t.empty:numel() == 0 and same_shape(t.empty.shape, { 0, 5 }), "reference: empty [0,5] tensor")
  -- widening on request: floating tensors become f32, integer ones are kept
  local w = hub.load("fixtures/reference.safetensors", { dtype = "f32" })
  ok(w.half.dtype == "f32" and same_values(flat(w.half), flat(t.half)), "dtype=f32 widens f16")
  ok(w.brain.dtype == "f32" and same_values(flat(w.brain), flat(t.brain)), "dtype=f32 widens bf16")
  ok(w.ids.dtype == "i64" and w.mask.dtype == "bool", "dtype=f32 keeps integer and bool tensors")
  local ok_, err = pcall(hub.load, "fixtures/reference.safetensors", { dtype = "f99" })
  ok(not ok_ and err:find("f99", 1, true), "bad dtype option: " .. tostring(err))
end

-- ---- round trips ----
do
  hub.manual_seed(7)
  local src = {
    a32 = hub.randn(3, 4),
    b16 = hub.randn(5):to("f16"),
    cbf = hub.randn(2, 3):to("bf16"),
    di32 = hub.randint(-1000, 1000, { 4 }, "i32"),
    ei64 = hub.tensor({ 1, -2, 3000000000 }, "i64"),
    fu8 = hub.tensor({ 0, 7, 255 }, "u8"),
    gbool = hub.tensor({ 1, 0, 1, 1 }, "bool"),
    scalar = hub.tensor(3.25),
    empty = hub.zeros(0, 3),
    odd16 = hub.randn(3):to("f16"), -- 6 bytes: the writer must keep later tensors aligned
  }
  local p = path("all.safetensors")
  hub.save(p, src, { metadata = { format = "pt", ["quote\"and\\slash"] = "line\nbreak ünï" } })
  local t, meta = hub.load(p)
  for name, x in pairs(src) do
    local y = t[name]
    ok(y and y.dtype == x.dtype and same_shape(y.shape, x.shape) and same_values(flat(y), flat(x)),
      "round trip " .. name)
  end
  ok(meta.format == "pt" and meta["quote\"and\\slash"] == "line\nbreak ünï", "round trip metadata with escapes")
  -- zero copy: a file of aligned native tensors allocates nothing from the allocator
  collectgarbage()
  local before = hub.memory_stats().live_bytes
  local z = hub.load(p)
  local after = hub.memory_stats().live_bytes
  ok(after == before, "load maps instead of copying (" .. (after - before) .. " bytes allocated)")
  -- the header is padded to a multiple of 8 and the data is aligned
  local s = read_file(p)
  local n = 0
  for i = 8, 1, -1 do n = n * 256 + s:byte(i) end
  ok(n % 8 == 0, "header length " .. n .. " is a multiple of 8")
  z = nil
  -- saving an empty table gives a valid empty file
  hub.save(path("none.safetensors"), {})
  local e, em = hub.load(path("none.safetensors"))
  ok(next(e) == nil and next(em) == nil, "empty table round trip")
end

-- ---- views are saved in logical order ----
do
  local x = hub.arange(0, 6):reshape(2, 3):to("f32")
  local views = {
    tr = x:t(),                         -- [3,2], strides (1,3)
    nar = x:narrow(2, 2, 2),            -- [2,2] inside a row
    exp = hub.tensor({ 1, 2 }):reshape(2, 1):expand(2, 3), -- stride 0
    perm = hub.arange(0, 24):reshape(2, 3, 4):permute(3, 1, 2),
  }
  local p = path("views.safetensors")
  hub.save(p, views)
  local t = hub.load(p)
  for name, v in pairs(views) do
    local c = v:contiguous()
    ok(same_shape(t[name].shape, c.shape) and same_values(flat(t[name]), flat(c)), "view " .. name .. " saved in logical order")
  end
  ok(same_values(flat(t.tr), { 0, 3, 1, 4, 2, 5 }), "transposed values")
end

-- ---- argument errors and atomicity ----
do
  local p = path("keep.safetensors")
  hub.save(p, { w = hub.ones(2, 2) }, { metadata = { v = "1" } })
  local orig = read_file(p)
  local function fails(fn, phrase, what)
    local good, err = pcall(fn)
    ok(not good and tostring(err):find(phrase, 1, true), what .. ": " .. tostring(err))
    ok(read_file(p) == orig, what .. ": the old file is byte-identical")
  end
  fails(function() hub.save(p, { w = hub.zeros(3), bad = 42 }) end, "value of 'bad' is a number", "non-tensor value")
  fails(function() hub.save(p, { [1] = hub.zeros(3) }) end, "tensor names must be strings", "non-string key")
  fails(function() hub.save(p, { w = hub.zeros(3) }, { metadata = { n = 5 } }) end,
    "metadata value of 'n' is a number", "non-string metadata")
  fails(function() hub.save(p, { w = hub.zeros(3) }, { metadata = { ["k"] = "\255" } }) end,
    "not valid UTF-8", "invalid UTF-8 metadata")
  fails(function() hub.save(p, { __metadata__ = hub.zeros(3) }) end, "reserved", "__metadata__ as a name")
  fails(function() hub.save(p, "nope") end, "bad argument #2 to 'save'", "tensors not a table")
  ok(listdir(dir):find("tmp", 1, true) == nil, "no temporary files after failed saves")

  -- a directory that does not exist, one that is a file, and one nobody may write (/proc)
  local missing = path("no/such/dir/m.safetensors")
  local good, err = pcall(hub.save, missing, { w = hub.zeros(2) })
  ok(not good and err:find(missing, 1, true) and err:find("No such file", 1, true), "missing dir: " .. tostring(err))
  ok(not exists(missing), "missing dir: no file")
  local under_file = p .. "/x.safetensors"
  good, err = pcall(hub.save, under_file, { w = hub.zeros(2) })
  ok(not good and err:find(under_file, 1, true) and err:find("ot a directory", 1, true), "parent is a file: " .. tostring(err))
  ok(read_file(p) == orig, "parent is a file: the file is untouched")
  good, err = pcall(hub.save, "/proc/hub_test.safetensors", { w = hub.zeros(2) })
  ok(not good and err:find("/proc/hub_test.safetensors", 1, true) and err:find("cannot create", 1, true),
    "read-only location: " .. tostring(err))
  -- the target is a directory: the temporary file is written, the rename fails, the temporary
  -- file must be removed
  local d = path("adir")
  os.execute("mkdir '" .. d .. "'")
  local before = listdir(dir)
  good, err = pcall(hub.save, d, { w = hub.zeros(2) })
  ok(not good and err:find("renaming", 1, true), "target is a directory: " .. tostring(err))
  ok(listdir(dir) == before, "target is a directory: temporary file removed (" .. listdir(dir) .. ")")
  -- a successful save replaces the file and keeps its permission bits
  os.execute("chmod 640 '" .. p .. "'")
  hub.save(p, { w = hub.full({ 2 }, 5) })
  local t = hub.load(p)
  ok(same_values(flat(t.w), { 5, 5 }), "overwrite replaces the content")
  local st = io.popen("stat -c %a '" .. p .. "'"):read("*l")
  ok(st == "640", "overwrite keeps the mode (" .. tostring(st) .. ")")
  ok(listdir(dir):find("tmp", 1, true) == nil, "no temporary files after saves")
end

-- ---- deliberately broken files ----
local function u64le(n)
  local b = {}
  for i = 1, 8 do b[i] = string.char(n % 256); n = math.floor(n / 256) end
  return table.concat(b)
end
local function stfile(header, data) return u64le(#header) .. header .. (data or "") end
local function floats(...)
  local v = { ... }
  return ffi.string(ffi.new("float[?]", #v, v), 4 * #v)
end

do
  local cases = {
    { "empty", "", "too short" },
    { "short", "\1\0\0", "too short" },
    { "hlen_big", u64le(1000) .. "{}", "header length 1000 exceeds the file" },
    { "hlen_huge", u64le(2 ^ 52) .. "{}", "exceeds the file" },
    { "bad_json", stfile('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]', floats(1)), "invalid JSON" },
    { "trailing_comma", stfile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}', floats(1)), "invalid JSON" },
    { "garbage_after", stfile('{} x'), "invalid JSON" },
    { "not_object", stfile('[1,2]'), "expected an object" },
    { "entry_not_object", stfile('{"a": 5}'), "tensor 'a' is a JSON number" },
    { "no_dtype", stfile('{"a":{"shape":[1],"data_offsets":[0,4]}}', floats(1)), "tensor 'a' has no dtype" },
    { "unknown_dtype", stfile('{"enc.w":{"dtype":"X99","shape":[1],"data_offsets":[0,4]}}', floats(1)), "tensor 'enc.w' has unknown dtype 'X99'" },
    { "u64_dtype", stfile('{"big":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}', floats(1, 2)), "tensor 'big' has dtype U64, which hubrun cannot read" },
    { "shape_negative", stfile('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', floats(1)), "shape entry 1 is not a non-negative integer" },
    { "shape_float", stfile('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}', floats(1)), "not a non-negative integer" },
    { "too_many_dims", stfile('{"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}', floats(1)), "9 dimensions" },
    { "offsets_range", stfile('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', floats(1, 2)), "data_offsets [0,16] are out of range" },
    { "offsets_reversed", stfile('{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}', floats(1, 2)), "end before they begin" },
    { "offsets_shape", stfile('{"encoder.w":{"dtype":"F32","shape":[5,6],"data_offsets":[0,100]}}', string.rep("\0", 100)),
      "tensor 'encoder.w' data_offsets [0,100] do not match shape [5,6] F32 (120 bytes)" },
    { "offsets_one", stfile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', floats(1)), "data_offsets must be [begin, end]" },
    { "overlap", stfile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', floats(1, 2, 3)),
      "tensors 'a' [0,8] and 'b' [4,12] overlap" },
    { "duplicate", stfile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', floats(1, 2)), "appears twice" },
    { "meta_not_string", stfile('{"__metadata__":{"epoch":3}}'), "__metadata__ value of 'epoch' is a JSON number" },
    { "size_overflow", stfile('{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}', floats(1)), "too large" },
    { "bad_utf8", stfile('{"a\255":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', floats(1)), "UTF-8" },
    { "deep", stfile(string.rep("[", 100) .. string.rep("]", 100)), "nesting deeper" },
  }
  -- a valid file with its last bytes cut off
  local whole = read_file("fixtures/reference.safetensors")
  cases[#cases + 1] = { "truncated_data", whole:sub(1, #whole - 3), "out of range" }
  cases[#cases + 1] = { "truncated_header", whole:sub(1, 40), "exceeds the file" }
  for _, c in ipairs(cases) do
    local p = path("broken_" .. c[1] .. ".safetensors")
    write_file(p, c[2])
    local good, err = pcall(hub.load, p)
    err = tostring(err)
    ok(not good and err:find(p, 1, true) and err:find(c[3], 1, true), "broken " .. c[1] .. ": " .. err)
    if os.getenv("VERBOSE") then print(err) end
  end
  local good, err = pcall(hub.load, path("does_not_exist.safetensors"))
  ok(not good and err:find("does_not_exist.safetensors", 1, true) and err:find("No such file", 1, true), "missing file: " .. tostring(err))
  -- the process goes on: a good file still loads
  local t = hub.load("fixtures/reference.safetensors")
  ok(t.weight ~= nil, "loading works after the failures")
end

-- ---- files from writers that do not align: the tensor is copied out ----
do
  -- header of length 13 puts the data at byte 21: not 4-aligned
  local hdr = '{"a":{"dtype":"F32","shape":[3],"data_offsets":[1,13]},"b":{"dtype":"I64","shape":[1],"data_offsets":[13,21]}}  '
  local data = "\0" .. floats(1.5, -2, 4) .. ffi.string(ffi.new("int64_t[1]", { -5 }), 8)
  local p = path("unaligned.safetensors")
  write_file(p, stfile(hdr, data))
  local t = hub.load(p)
  ok(same_values(flat(t.a), { 1.5, -2, 4 }) and same_values(flat(t.b), { -5 }), "unaligned data is read correctly")
  ok(same_values(flat(t.a * 2), { 3, -4, 8 }), "unaligned copy is a usable tensor")
end

-- ---- lifetime of the mapping ----
do
  collectgarbage(); collectgarbage()
  local live0 = hub.live_tensors()
  local p = path("life.safetensors")
  hub.save(p, { a = hub.full({ 1000 }, 1.5), b = hub.full({ 4 }, 2) })
  local t = hub.load(p)
  local a = t.a
  t = nil
  collectgarbage(); collectgarbage()
  ok(a:sum():item() == 1500, "a tensor outlives its table and the closed file")
  -- replacing the file while it is mapped leaves the old tensor intact
  hub.save(p, { a = hub.full({ 1000 }, -1) })
  collectgarbage()
  ok(a:sum():item() == 1500, "a mapped tensor keeps the old content after the file is replaced")
  -- writing into a loaded tensor does not change the file
  local b = hub.load(p).a
  b:fill_(7)
  ok(hub.load(p).a:sum():item() == -1000, "in-place writes to a loaded tensor stay in memory")
  ok(b:sum():item() == 7000, "in-place write visible in the tensor")
  a, b = nil, nil
  collectgarbage(); collectgarbage()
  ok(hub.live_tensors() == live0, "no tensors leak (" .. hub.live_tensors() .. " vs " .. live0 .. ")")
end

os.execute("rm -rf '" .. dir .. "'")
T.finish()
