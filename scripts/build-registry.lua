-- build-registry.lua: makes the modules hubrun can build offline and the local registry that
-- lists them (run by scripts/build-registry.sh through hubrun; see it for the usage).
--
--   hubrun scripts/build-registry.lua --out DIR --lac LAC_SMALL_DIR
--
-- For lac: every PaddlePaddle parameter file of lac_small/model_baseline is read (hub.lac's
-- paddle_load, i.e. hub_paddle_load) and written, under its Paddle name, into lac.safetensors
-- (denormal floats, which only slow the GEMMs down, written as 0, as hub.lac.load does);
-- word.dic and tag.dic are copied (lac_small has no q2b.dic); modules/lac/module.lua is the
-- entry.  module.json lists every file with its sha256 and size.  A module directory is built
-- as DIR/NAME/VERSION.tmp and renamed into place, so a failed build leaves no half module.
--
-- The registry is DIR/index.json: for each module and version, what module.json says (type,
-- summary, ...) and its files, each with sha256, size and an absolute file:// URL.
local hub = require "hub"
local ffi = require "ffi"
local C = hub.C

local REPO = (debug.getinfo(1, "S").source:match("^@(.*)/scripts/[^/]*$") or ".")

local function die(msg)
  io.stderr:write("build-registry: ", msg, "\n")
  os.exit(1)
end

local function check(rc, what) if rc ~= 0 then die(what .. ": " .. ffi.string(C.hub_last_error())) end end

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local pwd = os.getenv("PWD") or io.popen("pwd"):read("*l")
  return (pwd .. "/" .. p):gsub("/%./", "/"):gsub("/%.$", "")
end

-- ---- JSON that keeps key order (module.json is read by people): hub.json's ordered objects ----

local json = require "hub.json"
local function obj(...) return json.ordered { ... } end
local function to_json(v) return json.encode(v, { indent = "  " }) end

local function write_file(path, text)
  local f, err = io.open(path, "wb")
  if not f then die("cannot write " .. path .. ": " .. tostring(err)) end
  f:write(text)
  f:close()
end

local function sha256(path)
  local hex = ffi.new("char[65]")
  check(C.hub_sha256_file(path, hex), "sha256 " .. path)
  return ffi.string(hex)
end

local function size(path)
  local n = C.hub_fs_size(path)
  if n < 0 then die("size of " .. path .. ": " .. ffi.string(C.hub_last_error())) end
  return tonumber(n)
end

-- ---- building one module directory ----

-- files: list of {name, writer(path)}; meta: ordered fields of module.json before "files".
local function build_module(out, meta, files)
  local name, version = meta.name, meta.version
  local final = out .. "/" .. name .. "/" .. version
  local tmp = final .. ".tmp"
  check(C.hub_fs_remove_tree(tmp), "remove " .. tmp)
  check(C.hub_fs_mkdirs(tmp), "mkdir " .. tmp)
  local listed = {}
  for _, f in ipairs(files) do
    f[2](tmp .. "/" .. f[1])
    listed[#listed + 1] = { f[1], obj({ "sha256", sha256(tmp .. "/" .. f[1]) }, { "size", size(tmp .. "/" .. f[1]) }) }
  end
  table.sort(listed, function(a, b) return a[1] < b[1] end)
  setmetatable(listed, json.ordered_mt)
  local m = obj()
  for _, kv in ipairs(meta.fields) do m[#m + 1] = kv end
  m[#m + 1] = { "files", listed }
  write_file(tmp .. "/module.json", to_json(m) .. "\n")
  check(C.hub_fs_remove_tree(final), "remove " .. final)
  check(C.hub_fs_rename(tmp, final), "rename " .. tmp)
  io.stderr:write("build-registry: ", name, " ", version, " -> ", final, "\n")
  return final
end

-- A byte copy (not hub_fs_copy's hard link: the registry must not change when a source does).
local function copy_to(src)
  return function(dst)
    local f, err = io.open(src, "rb")
    if not f then die("cannot read " .. src .. ": " .. tostring(err)) end
    local data = f:read("*a")
    f:close()
    write_file(dst, data)
  end
end

-- LAC-small's fc_0.w_0 and gru_0.w_0 hold denormal floats (|v| < 2^-126), which make every
-- GEMM touching them many times slower on x86: they are written as 0, as hub.lac.load does.
local function flush_denormals(t)
  local n = t:numel()
  local buf = ffi.new("float[?]", n > 0 and n or 1)
  check(C.hub_tensor_read(t, buf, 0), "read")
  local found = 0
  for i = 0, n - 1 do
    local v = buf[i]
    if v ~= 0 and v < 1.1754944e-38 and v > -1.1754944e-38 then buf[i] = 0; found = found + 1 end
  end
  if found == 0 then return t, 0 end
  local shape = t.shape
  local sh = ffi.new("int64_t[?]", #shape + 1)
  for i = 1, #shape do sh[i - 1] = shape[i] end
  local c = C.hub_tensor_from_data(0, #shape, sh, buf, 0)
  if c == nil then die(ffi.string(C.hub_last_error())) end
  return ffi.gc(c, C.hub_tensor_release), found
end

local function build_lac(out, lac_dir)
  local module_lua = REPO .. "/modules/lac/module.lua"
  local params = hub.lac.PARAMS
  local function convert(dst)
    local t = {}
    for _, name in ipairs(params) do
      local n
      t[name], n = flush_denormals(hub.lac.paddle_load(lac_dir .. "/model_baseline/" .. name))
      if n > 0 then io.stderr:write("build-registry: ", name, ": ", n, " denormal values written as 0\n") end
    end
    hub.save(dst, t, { metadata = { source = "python3-jieba jieba/lac_small/model_baseline (PaddlePaddle)",
                                     license = "Apache-2.0" } })
  end
  return build_module(out, {
    name = "lac", version = "1.0.0",
    fields = {
      { "name", "lac" }, { "version", "1.0.0" }, { "type", "nlp/lexical_analysis" },
      { "summary", "Baidu LAC (small): Chinese word segmentation, part-of-speech tagging and named entities (PER/LOC/ORG/TIME)" },
      { "author", "Baidu (weights), hubrun (module)" }, { "license", "Apache-2.0" },
      { "hubrun", ">=0.1.0" }, { "entry", "module.lua" },
      { "source", "Debian python3-jieba: jieba/lac_small" },
    },
  }, {
    { "module.lua", copy_to(module_lua) },
    { "lac.safetensors", convert },
    { "word.dic", copy_to(lac_dir .. "/word.dic") },
    { "tag.dic", copy_to(lac_dir .. "/tag.dic") },
  })
end

-- A plain Lua table as an ordered object with sorted keys (lists stay lists), for module.json.
local function sorted_obj(v)
  if type(v) ~= "table" then return v end
  if #v > 0 or next(v) == nil then
    local l = setmetatable({}, json.array_mt)
    for i, x in ipairs(v) do l[i] = sorted_obj(x) end
    return l
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  local o = obj()
  for _, k in ipairs(keys) do o[#o + 1] = { k, sorted_obj(v[k]) } end
  return o
end

-- ernie-tiny-zh: hubrun's own pretrained Chinese ERNIE (recipes/ernie_pretrain.lua, then
-- hub.pretrain.export into modules/ernie-tiny-zh: model.safetensors in f16, config.json, and the
-- vocabulary the corpus builder made), packed with the encoder modules' module.lua.  Its sentence
-- vectors are the mean of the token states (the masked-LM objective trains no pooler).
local function build_ernie_tiny(out, src)
  local f = io.open(src .. "/config.json", "rb")
  if not f then die(src .. "/config.json not found") end
  local cfg = require("cjson").decode(f:read("*a"))
  f:close()
  local config = {
    model = cfg, tokenizer = { lower = true }, max_seq_len = 128,
    pooling = { modes = { "mean" }, normalize = false },
  }
  -- src/VERSION: new weights get a new version (docs/pretraining.md lists them)
  local vf = io.open(src .. "/VERSION", "rb")
  local version = vf and vf:read("*a"):match("^%s*(%d+%.%d+%.%d+)%s*$") or "1.0.0"
  if vf then vf:close() end
  return build_module(out, {
    name = "ernie-tiny-zh", version = version,
    fields = {
      { "name", "ernie-tiny-zh" }, { "version", version }, { "type", "nlp/semantic_model" },
      { "summary", string.format("hubrun's own Chinese ERNIE (%d layers, hidden %d, %d heads; vocab %d), pretrained "
        .. "with knowledge masking on Debian's Chinese docs, People's Daily and reviews; fill-mask and sentence vectors",
        cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.vocab_size) },
      { "author", "hubrun" }, { "license", "Apache-2.0" },
      { "hubrun", ">=0.1.0" }, { "entry", "module.lua" },
      { "source", "recipes/ernie_pretrain.lua (docs/pretraining.md)" },
      { "config", sorted_obj(config) },
    },
  }, {
    { "module.lua", copy_to(REPO .. "/modules/ernie/module.lua") },
    { "model.safetensors", copy_to(src .. "/model.safetensors") },
    { "vocab.txt", copy_to(src .. "/vocab.txt") },
  })
end

-- A fine-tuned task module exported by task:export (e.g. senta-ernie-tiny-zh, committed in
-- modules/senta-ernie-tiny-zh by recipes/ernie_cls.lua --export ... --export_format senta
-- --export_dtype f16): its module.json's fields and files, with the repository's
-- modules/finetuned/module.lua as the entry.
local function build_exported(out, src)
  local f = io.open(src .. "/module.json", "rb")
  if not f then die(src .. "/module.json not found (not an exported module directory)") end
  local m = require("cjson").decode(f:read("*a"))
  f:close()
  if type(m.name) ~= "string" or type(m.version) ~= "string" or type(m.config) ~= "table" or type(m.files) ~= "table" then
    die(src .. "/module.json: name, version, config and files are required")
  end
  local fields = { { "name", m.name }, { "version", m.version } }
  for _, k in ipairs { "type", "summary", "author", "license", "description", "hubrun", "entry", "source" } do
    if m[k] ~= nil then fields[#fields + 1] = { k, m[k] } end
  end
  fields[#fields + 1] = { "config", sorted_obj(m.config) }
  local files = { { "module.lua", copy_to(REPO .. "/modules/finetuned/module.lua") } }
  local names = {}
  for name in pairs(m.files) do if name ~= "module.lua" then names[#names + 1] = name end end
  table.sort(names)
  for _, name in ipairs(names) do files[#files + 1] = { name, copy_to(src .. "/" .. name) } end
  return build_module(out, { name = m.name, version = m.version, fields = fields }, files)
end

-- ---- the index ----

local function read_json(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return require("cjson").decode(s)
end

-- Every DIR/NAME/VERSION/module.json found under out becomes an index entry.
local function write_index(out)
  local modules = obj()
  local names = {}
  local d = C.hub_dir_open(out)
  if d == nil then die(ffi.string(C.hub_last_error())) end
  local kind = ffi.new("int[1]")
  while true do
    local n = C.hub_dir_next(d, kind)
    if n == nil then break end
    if kind[0] == C.HUB_FS_DIR then names[#names + 1] = ffi.string(n) end
  end
  C.hub_dir_close(d)
  table.sort(names)
  for _, name in ipairs(names) do
    local versions = obj()
    local vd = C.hub_dir_open(out .. "/" .. name)
    local vs = {}
    while vd ~= nil do
      local v = C.hub_dir_next(vd, kind)
      if v == nil then break end
      v = ffi.string(v)
      if kind[0] == C.HUB_FS_DIR and C.hub_fs_kind(out .. "/" .. name .. "/" .. v .. "/module.json") == C.HUB_FS_FILE then
        vs[#vs + 1] = v
      end
    end
    if vd ~= nil then C.hub_dir_close(vd) end
    table.sort(vs)
    for _, v in ipairs(vs) do
      local dir = out .. "/" .. name .. "/" .. v
      local m = read_json(dir .. "/module.json")
      local files = obj()
      local fnames = { "module.json" }
      for fname in pairs(m.files or {}) do fnames[#fnames + 1] = fname end
      table.sort(fnames)
      for _, fname in ipairs(fnames) do
        local p = dir .. "/" .. fname
        files[#files + 1] = { fname, obj({ "url", "file://" .. p }, { "sha256", sha256(p) }, { "size", size(p) }) }
      end
      local e = obj()
      for _, k in ipairs { "type", "summary", "author", "license", "hubrun" } do
        if type(m[k]) == "string" then e[#e + 1] = { k, m[k] } end
      end
      e[#e + 1] = { "files", files }
      versions[#versions + 1] = { v, e }
    end
    if #versions > 0 then modules[#modules + 1] = { name, obj({ "versions", versions }) } end
  end
  local tmp = out .. "/index.json.tmp"
  write_file(tmp, to_json(obj({ "format", "hubrun-registry/1" }, { "modules", modules })) .. "\n")
  check(C.hub_fs_rename(tmp, out .. "/index.json"), "rename index.json")
  io.stderr:write("build-registry: ", out, "/index.json lists ", #modules, " module(s)\n")
end

-- ---- command line ----

local opts = {}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--out" or a == "--lac" or a == "--ernie-tiny" or a == "--senta" then
    opts[a:sub(3)] = arg[i + 1] or die(a .. " needs a value")
    i = i + 2
  elseif a == "--index-only" then
    opts.index_only = true
    i = i + 1
  else
    die("unknown argument '" .. a .. "' (usage: build-registry.lua --out DIR [--lac LAC_SMALL_DIR] [--ernie-tiny DIR] [--senta DIR] [--index-only])")
  end
end
if not opts.out then die("--out DIR is required") end
local out = abspath(opts.out):gsub("/+$", "")
check(C.hub_fs_mkdirs(out), "mkdir " .. out)
if opts.lac and not opts.index_only then build_lac(out, abspath(opts.lac)) end
if opts["ernie-tiny"] and not opts.index_only then build_ernie_tiny(out, abspath(opts["ernie-tiny"])) end
if opts.senta and not opts.index_only then build_exported(out, abspath(opts.senta)) end
write_index(out)
