-- hub.convert: Hugging Face BERT / ERNIE checkpoints -> hubrun encoder modules
-- (`hubrun convert hf DIR --name NAME`, lua/hub/cli/convert.lua, is the command line).
--
--   local dir, manifest = hub.convert.hf{ dir = "bert-base-chinese", name = "bert-zh",
--                                         version = "1.0.0", dtype = "f32", output = "out/bert-zh" }
--
-- The source directory holds config.json (a BertConfig or ErnieConfig), model.safetensors (or
-- model.safetensors.index.json and its shards), vocab.txt and optionally tokenizer_config.json
-- (do_lower_case, strip_accents).  pytorch_model.bin is refused with a message saying how to
-- make safetensors of it: hubrun does not read Python pickles.
--
-- Tensor names: a "bert." or "ernie." prefix is stripped and old LayerNorm gamma / beta read as
-- weight / bias; then every name the config implies must be there (missing ones are listed) and
-- every name must be one of them (unknown ones are listed), except the buffers
-- embeddings.position_ids / token_type_ids and the next-sentence head cls.seq_relationship.*,
-- which are skipped with a note.  A checkpoint without pooler.dense makes a module without the
-- pooler.  The masked-LM head cls.predictions.* (BertForMaskedLM, BertForPreTraining) is kept
-- as the model's mlm head (config mlm_head = true); its decoder is tied to the word embeddings,
-- so cls.predictions.decoder.weight, when stored, must equal them (an untied decoder is refused),
-- and cls.predictions.decoder.bias is the same tensor as cls.predictions.bias.  Queries,
-- keys and values of each layer are concatenated (along dimension 1: query rows, then key rows,
-- then value rows) into nn.MultiHeadAttention's fused qkv.  The full table of names is
-- M.hubrun_name below and docs/models.md.
--
-- The output directory (default ./NAME) gets model.safetensors (hubrun names, in --dtype),
-- vocab.txt, module.lua (modules/ernie/module.lua) and module.json: type nlp/semantic_model,
-- the sha256 and size of every file, and config = { model = the normalised config,
-- tokenizer = { lower, strip_accents }, max_seq_len, source }.  It is written as OUT.tmp-PID
-- and renamed into place, so a failed conversion leaves nothing behind.
--
-- A sentence-transformers directory (modules.json, the Pooling module's config.json,
-- sentence_bert_config.json; M.sentence_transformers) makes an nlp/embedding module whose
-- config also holds pooling = {modes, normalize} and max_seq_len = max_seq_length: its vectors
-- are the ones SentenceTransformer.encode() gives (docs/models.md).
local ffi = require "ffi"
local hub = require "hub"
local ernie = require "hub.models.ernie"
local C = hub.C

local M = {}

local fail = require("hub.core").failf

local function cjson()
  local ok, c = pcall(require, "cjson")
  if not ok then fail("convert: lua-cjson is not available (Debian package lua-cjson)") end
  return c
end

local function is_file(p) return C.hub_fs_kind(p) == C.HUB_FS_FILE end
local function is_dir(p) return C.hub_fs_kind(p) == C.HUB_FS_DIR end
local function c_check(rc, what)
  if rc ~= 0 then fail("%s: %s", what, ffi.string(C.hub_last_error())) end
end

local function read_json(path, what)
  local f, err = io.open(path, "rb")
  if not f then fail("cannot read %s: %s", what or path, tostring(err)) end
  local text = f:read("*a")
  f:close()
  local ok, v = pcall(cjson().decode, text)
  if not ok or type(v) ~= "table" then fail("%s: invalid JSON: %s", path, tostring(v)) end
  return v
end

-- ---- names ----

-- Canonical Hugging Face name (prefix stripped, gamma/beta renamed) of a checkpoint key.
function M.canonical(name)
  local n = name:gsub("^bert%.", ""):gsub("^ernie%.", "")
  n = n:gsub("LayerNorm%.gamma$", "LayerNorm.weight"):gsub("LayerNorm%.beta$", "LayerNorm.bias")
  return n
end

-- Names that are not weights of the encoder and are skipped.
function M.ignored(cname)
  return cname == "embeddings.position_ids" or cname == "embeddings.token_type_ids"
    or cname:match("^cls%.seq_relationship%.") ~= nil
end

-- The masked-LM head's tensors (cls.predictions.*) -> hubrun names.
local mlm_map = {
  ["cls.predictions.transform.dense.weight"] = "mlm.dense.weight",
  ["cls.predictions.transform.dense.bias"] = "mlm.dense.bias",
  ["cls.predictions.transform.LayerNorm.weight"] = "mlm.layer_norm.weight",
  ["cls.predictions.transform.LayerNorm.bias"] = "mlm.layer_norm.bias",
  ["cls.predictions.bias"] = "mlm.bias",
}

local layer_map = {
  ["attention.output.dense"] = "attn.out",
  ["attention.output.LayerNorm"] = "norm1",
  ["intermediate.dense"] = "linear1",
  ["output.dense"] = "linear2",
  ["output.LayerNorm"] = "norm2",
}
local qkv_part = { query = 1, key = 2, value = 3 }

-- Canonical Hugging Face name -> hubrun name, and for query/key/value the part (1, 2, 3) of the
-- fused qkv tensor; nil for a name that is not an encoder weight.
function M.hubrun_name(cname)
  local e = cname:match("^embeddings%.([%w_]+_embeddings)%.weight$")
  if e then return "embeddings." .. e .. ".weight" end
  local wb = cname:match("^embeddings%.LayerNorm%.(%a+)$")
  if wb then return "embeddings.layer_norm." .. wb end
  local wb2 = cname:match("^pooler%.dense%.(%a+)$")
  if wb2 then return "pooler.dense." .. wb2 end
  if mlm_map[cname] then return mlm_map[cname] end
  local n, rest, suffix = cname:match("^encoder%.layer%.(%d+)%.(.-)%.(%a+)$")
  if not n then return nil end
  local part = rest:match("^attention%.self%.(%a+)$")
  if part and qkv_part[part] then return "encoder.layers." .. n .. ".attn.qkv." .. suffix, qkv_part[part] end
  if layer_map[rest] then return "encoder.layers." .. n .. "." .. layer_map[rest] .. "." .. suffix end
  return nil
end

-- The canonical Hugging Face names a config implies, in order, each with its shape.
function M.expected(cfg, with_pooler, with_mlm)
  local H, I = cfg.hidden_size, cfg.intermediate_size
  local out = {}
  local function add(name, shape) out[#out + 1] = { name, shape } end
  add("embeddings.word_embeddings.weight", { cfg.vocab_size, H })
  add("embeddings.position_embeddings.weight", { cfg.max_position_embeddings, H })
  add("embeddings.token_type_embeddings.weight", { cfg.type_vocab_size, H })
  if cfg.use_task_id then add("embeddings.task_type_embeddings.weight", { cfg.task_type_vocab_size, H }) end
  add("embeddings.LayerNorm.weight", { H }); add("embeddings.LayerNorm.bias", { H })
  for l = 0, cfg.num_hidden_layers - 1 do
    local p = "encoder.layer." .. l .. "."
    for _, q in ipairs { "query", "key", "value" } do
      add(p .. "attention.self." .. q .. ".weight", { H, H }); add(p .. "attention.self." .. q .. ".bias", { H })
    end
    add(p .. "attention.output.dense.weight", { H, H }); add(p .. "attention.output.dense.bias", { H })
    add(p .. "attention.output.LayerNorm.weight", { H }); add(p .. "attention.output.LayerNorm.bias", { H })
    add(p .. "intermediate.dense.weight", { I, H }); add(p .. "intermediate.dense.bias", { I })
    add(p .. "output.dense.weight", { H, I }); add(p .. "output.dense.bias", { H })
    add(p .. "output.LayerNorm.weight", { H }); add(p .. "output.LayerNorm.bias", { H })
  end
  if with_pooler then add("pooler.dense.weight", { H, H }); add("pooler.dense.bias", { H }) end
  if with_mlm then
    add("cls.predictions.transform.dense.weight", { H, H }); add("cls.predictions.transform.dense.bias", { H })
    add("cls.predictions.transform.LayerNorm.weight", { H }); add("cls.predictions.transform.LayerNorm.bias", { H })
    add("cls.predictions.bias", { cfg.vocab_size })
  end
  return out
end

local function shape_str(s) return "[" .. table.concat(s, ",") .. "]" end

-- Hugging Face tensors (name -> tensor, any prefix / naming) + the normalised config ->
-- hubrun tensors (f32, name -> tensor), the list of skipped names, whether there is a pooler
-- and whether there is a masked-LM head.  Raises listing every missing, unknown or mis-shaped
-- tensor.
function M.map_tensors(tensors, cfg)
  local by_canon, skipped, unknown, dups = {}, {}, {}, {}
  for name, t in pairs(tensors) do
    local cn = M.canonical(name)
    if by_canon[cn] then dups[#dups + 1] = cn .. " (" .. by_canon[cn].name .. " and " .. name .. ")" end
    by_canon[cn] = { name = name, t = t }
  end
  local pooler = by_canon["pooler.dense.weight"] ~= nil or by_canon["pooler.dense.bias"] ~= nil
  if cfg.pooler == false then pooler = false end
  local mlm = by_canon["cls.predictions.transform.dense.weight"] ~= nil
  -- the tied decoder: a stored copy of the word embeddings (and of the bias) is not a new tensor
  local dec, dec_bias = by_canon["cls.predictions.decoder.weight"], by_canon["cls.predictions.decoder.bias"]
  if dec or dec_bias then
    if not mlm then fail("%s without cls.predictions.transform: an incomplete masked-LM head", (dec or dec_bias).name) end
    local emb, bias = by_canon["embeddings.word_embeddings.weight"], by_canon["cls.predictions.bias"]
    local function same(a, b)
      return b ~= nil and shape_str(a.t.shape) == shape_str(b.t.shape)
        and a.t:to("f32"):sub(b.t:to("f32")):abs():max():item() == 0
    end
    if dec then
      if not same(dec, emb) then
        fail("%s differs from the word embeddings: hubrun's masked-LM decoder is tied to them (an untied decoder is not supported)", dec.name)
      end
      by_canon["cls.predictions.decoder.weight"] = nil
    end
    if dec_bias then
      if bias == nil then by_canon["cls.predictions.bias"] = dec_bias
      elseif not same(dec_bias, bias) then fail("%s differs from cls.predictions.bias", dec_bias.name) end
      by_canon["cls.predictions.decoder.bias"] = nil
    end
  end
  local expected, missing, bad = M.expected(cfg, pooler, mlm), {}, {}
  local want = {}
  for _, e in ipairs(expected) do
    want[e[1]] = true
    local got = by_canon[e[1]]
    if not got then
      missing[#missing + 1] = e[1]
    else
      local s = got.t.shape
      local same = #s == #e[2]
      for i = 1, #s do if s[i] ~= e[2][i] then same = false end end
      if not same then
        bad[#bad + 1] = string.format("%s is %s, the config implies %s", got.name, shape_str(s), shape_str(e[2]))
      end
    end
  end
  for cn, v in pairs(by_canon) do
    if not want[cn] then
      if M.ignored(cn) then skipped[#skipped + 1] = v.name else unknown[#unknown + 1] = v.name end
    end
  end
  table.sort(unknown); table.sort(skipped)
  local problems = {}
  if #dups > 0 then problems[#problems + 1] = "duplicate tensors: " .. table.concat(dups, ", ") end
  if #missing > 0 then problems[#problems + 1] = "missing tensors: " .. table.concat(missing, ", ") end
  if #unknown > 0 then problems[#problems + 1] = "unknown tensors: " .. table.concat(unknown, ", ") end
  for _, b in ipairs(bad) do problems[#problems + 1] = b end
  if #problems > 0 then fail("%s", table.concat(problems, "; ")) end

  local out, parts = {}, {}
  for _, e in ipairs(expected) do
    local t = by_canon[e[1]].t
    if t.dtype ~= "f32" then t = t:to("f32") end
    local hn, part = M.hubrun_name(e[1])
    if part then
      parts[hn] = parts[hn] or {}
      parts[hn][part] = t
      if #parts[hn] == 3 then out[hn] = hub.concat(parts[hn], 1) end
    else
      out[hn] = t
    end
  end
  return out, skipped, pooler, mlm
end

-- ---- the checkpoint ----

local function load_weights(dir)
  local single = dir .. "/model.safetensors"
  if is_file(single) then return hub.load(single) end
  local index = dir .. "/model.safetensors.index.json"
  if is_file(index) then
    local idx = read_json(index)
    if type(idx.weight_map) ~= "table" then fail("%s: no weight_map", index) end
    local files, all = {}, {}
    for name, file in pairs(idx.weight_map) do
      if type(file) ~= "string" or file:find("/", 1, true) then fail("%s: bad shard name for %s", index, name) end
      files[file] = true
    end
    for file in pairs(files) do
      for name, t in pairs(hub.load(dir .. "/" .. file)) do all[name] = t end
    end
    return all
  end
  for _, f in ipairs { "pytorch_model.bin", "tf_model.h5", "model.ckpt.index", "flax_model.msgpack" } do
    if is_file(dir .. "/" .. f) then
      fail("%s has %s but no model.safetensors: hubrun reads only safetensors (it does not unpickle "
        .. "PyTorch files).  Convert it first, for example with\n  python3 -c \"from transformers import AutoModel; "
        .. "AutoModel.from_pretrained('%s').save_pretrained('%s', safe_serialization=True)\"",
        dir, f, dir, dir)
    end
  end
  fail("%s has no model.safetensors", dir)
end

-- A byte copy (not hub_fs_copy's hard link: the module must not share an inode with its source).
local function copy_file(src, dst)
  local f, err = io.open(src, "rb")
  if not f then fail("cannot read %s: %s", src, tostring(err)) end
  local data = f:read("*a")
  f:close()
  local g, err2 = io.open(dst, "wb")
  if not g then fail("cannot write %s: %s", dst, tostring(err2)) end
  g:write(data)
  g:close()
end

-- module.json text: sorted keys, two-space indentation, numbers in their shortest exact form
-- (0.1, not 0.10000000000000001).
local function json(v) return require("hub.json").encode(v, { indent = "  " }) end

local function count_lines(path)
  local n = 0
  for _ in io.lines(path) do n = n + 1 end
  return n
end

local function module_lua_source()
  local here = package.searchpath("hub.models.ernie", package.path)
  local root = here and here:match("^(.*)/lua/hub/models/ernie%.lua$")
  local cands = { os.getenv("HUB_ERNIE_MODULE_LUA"), root and (root .. "/modules/ernie/module.lua") }
  for _, p in pairs(cands) do if p and is_file(p) then return p end end
  fail("cannot find modules/ernie/module.lua next to the hub library (%s); set HUB_ERNIE_MODULE_LUA", tostring(here))
end

-- ---- sentence-transformers directories ----

-- The pooling modes hubrun computes, in the order sentence-transformers concatenates them
-- (models.Pooling.forward: cls, max, mean, mean_sqrt_len_tokens).
M.POOLING_MODES = { "cls", "max", "mean", "mean_sqrt_len_tokens" }
local pooling_keys = {
  pooling_mode_cls_token = "cls", pooling_mode_max_tokens = "max", pooling_mode_mean_tokens = "mean",
  pooling_mode_mean_sqrt_len_tokens = "mean_sqrt_len_tokens",
}
-- Keys of 1_Pooling/config.json that name a mode hubrun does not compute.
local pooling_unsupported = { pooling_mode_weightedmean_tokens = "weightedmean", pooling_mode_lasttoken = "lasttoken" }
local pooling_other = { word_embedding_dimension = true, include_prompt = true }

-- Reads a sentence-transformers directory (modules.json naming a Transformer, a Pooling and
-- optionally a Normalize module; the Pooling module's config.json; sentence_bert_config.json):
-- nil when dir has no modules.json, else
--   { pooling = {modes...}, normalize = bool, max_seq_length = n or nil, do_lower_case = bool or nil,
--     dimension = n or nil }
-- Anything hubrun would compute differently (another module type, an unknown or unsupported
-- pooling mode, no mode at all) is an error naming the file.
function M.sentence_transformers(dir)
  local mpath = dir .. "/modules.json"
  if not is_file(mpath) then return nil end
  local mods = read_json(mpath)
  if #mods == 0 then fail("%s: expected a list of modules", mpath) end
  local st = { normalize = false }
  local pooling_dir
  for i, m in ipairs(mods) do
    if type(m) ~= "table" or type(m.type) ~= "string" then fail("%s: module %d has no \"type\"", mpath, i) end
    local kind = m.type:match("([%w_]+)$")
    if kind == "Transformer" then
      if i ~= 1 then fail("%s: the Transformer must be the first module", mpath) end
      if m.path ~= nil and m.path ~= "" then
        fail("%s: the Transformer is in '%s'; hubrun converts only a Transformer at the top of the directory (path \"\")",
          mpath, tostring(m.path))
      end
    elseif kind == "Pooling" then
      if pooling_dir then fail("%s: more than one Pooling module", mpath) end
      if type(m.path) ~= "string" or m.path == "" or m.path:find("..", 1, true) then
        fail("%s: the Pooling module has no valid \"path\"", mpath)
      end
      pooling_dir = dir .. "/" .. m.path
    elseif kind == "Normalize" then
      if not pooling_dir then fail("%s: Normalize before Pooling is not supported", mpath) end
      st.normalize = true
    else
      fail("%s: module %d is a %s; hubrun's sentence vectors support only Transformer, Pooling and Normalize",
        mpath, i, m.type)
    end
  end
  if not pooling_dir then fail("%s: no Pooling module (sentence-transformers.models.Pooling)", mpath) end
  local ppath = pooling_dir .. "/config.json"
  if not is_file(ppath) then fail("%s is missing (the Pooling module's configuration, named in %s)", ppath, mpath) end
  local pc = read_json(ppath)
  local on = {}
  for k, v in pairs(pc) do
    if pooling_keys[k] then
      if v == true then on[pooling_keys[k]] = true end
    elseif pooling_unsupported[k] then
      if v == true then fail("%s: pooling mode '%s' (%s) is not supported by hubrun (cls, max, mean, mean_sqrt_len_tokens)", ppath, pooling_unsupported[k], k) end
    elseif k == "pooling_mode" then   -- the constructor's string form, when a file carries it
      local mode = ({ cls = "cls", max = "max", mean = "mean", mean_sqrt_len_tokens = "mean_sqrt_len_tokens" })[v]
      if not mode then fail("%s: unknown pooling mode '%s' (expected cls, max, mean or mean_sqrt_len_tokens)", ppath, tostring(v)) end
      on[mode] = true
    elseif not pooling_other[k] then
      fail("%s: unknown pooling setting '%s' (known: %s)", ppath, tostring(k),
        "pooling_mode_cls_token, pooling_mode_mean_tokens, pooling_mode_max_tokens, pooling_mode_mean_sqrt_len_tokens, word_embedding_dimension")
    end
  end
  st.pooling = {}
  for _, mode in ipairs(M.POOLING_MODES) do if on[mode] then st.pooling[#st.pooling + 1] = mode end end
  if #st.pooling == 0 then fail("%s: no pooling mode is set (expected one of pooling_mode_mean_tokens, ...)", ppath) end
  if pc.word_embedding_dimension ~= nil and type(pc.word_embedding_dimension) ~= "number" then
    fail("%s: word_embedding_dimension is not a number", ppath)
  end
  st.dimension = pc.word_embedding_dimension
  local sb = dir .. "/sentence_bert_config.json"
  if is_file(sb) then
    local c = read_json(sb)
    if c.max_seq_length ~= nil then
      local n = c.max_seq_length
      if type(n) ~= "number" or n < 2 or n ~= math.floor(n) then fail("%s: max_seq_length must be an integer >= 2", sb) end
      st.max_seq_length = n
    end
    if c.do_lower_case ~= nil then st.do_lower_case = c.do_lower_case == true end
  end
  return st
end

-- Converts a Hugging Face directory into a module directory; returns its path and manifest.
function M.hf(o)
  if type(o) ~= "table" then fail("convert.hf: expected an options table") end
  local dir, name = o.dir, o.name
  if type(dir) ~= "string" or dir == "" then fail("which directory? (convert hf DIR --name NAME)") end
  dir = dir:gsub("(.)/+$", "%1")
  if not is_dir(dir) then fail("%s is not a directory", dir) end
  local store = require "hub.store"
  if type(name) ~= "string" or not store.valid_name(name) then
    fail("--name: '%s' is not a module name (letters, digits, _, -, .; starting with a letter or digit)", tostring(name))
  end
  local version = o.version or "1.0.0"
  if not require("hub.semver").valid(version) then fail("--version: '%s' is not a semantic version such as 1.0.0", version) end
  local dtype = o.dtype or "f32"
  if dtype ~= "f32" and dtype ~= "f16" and dtype ~= "bf16" then fail("--dtype must be f32, f16 or bf16, got %s", dtype) end
  local out = (o.output or name):gsub("(.)/+$", "%1")

  if C.hub_fs_kind(out) ~= C.HUB_FS_NONE and not o.force then
    fail("%s already exists (--force replaces it)", out)
  end

  -- config
  if not is_file(dir .. "/config.json") then fail("%s has no config.json", dir) end
  local hf = read_json(dir .. "/config.json")
  local mt = hf.model_type
  if mt ~= nil and mt ~= "bert" and mt ~= "ernie" then
    fail("%s/config.json: model_type '%s' is not a BERT-family encoder (bert or ernie)", dir, tostring(mt))
  end
  local okc, cfg = pcall(ernie.config, hf)
  if not okc then fail("%s/config.json: %s", dir, tostring(cfg)) end

  -- vocabulary and tokenizer settings
  local vocab = dir .. "/vocab.txt"
  if not is_file(vocab) then fail("%s has no vocab.txt (a BERT WordPiece vocabulary)", dir) end
  local tk_cfg = is_file(dir .. "/tokenizer_config.json") and read_json(dir .. "/tokenizer_config.json") or {}
  local lower = tk_cfg.do_lower_case ~= false
  local strip = tk_cfg.strip_accents
  if strip == cjson().null then strip = nil end
  -- a sentence-transformers directory: pooling, normalisation, max_seq_length
  local st = M.sentence_transformers(dir)
  if st then
    if st.dimension and st.dimension ~= cfg.hidden_size then
      fail("%s: word_embedding_dimension %d is not the model's hidden_size %d (%s/config.json)",
        dir .. "/modules.json's Pooling config.json", st.dimension, cfg.hidden_size, dir)
    end
    if st.do_lower_case then lower = true end
  end
  local okt, tk = pcall(hub.tokenizer.wordpiece, { vocab = vocab, lower = lower, strip_accents = strip })
  if not okt then fail("%s", tostring(tk)) end
  local nv = count_lines(vocab)
  if nv > cfg.vocab_size then
    fail("%s has %d tokens but vocab_size is %d (ids would be out of range)", vocab, nv, cfg.vocab_size)
  end

  -- weights
  local hf_tensors = load_weights(dir)
  local tensors, skipped, pooler, mlm = M.map_tensors(hf_tensors, cfg)
  if mlm and hf.tie_word_embeddings == false then
    fail("%s/config.json: tie_word_embeddings is false; hubrun's masked-LM decoder is tied to the word embeddings", dir)
  end
  cfg.pooler, cfg.mlm_head = pooler, mlm
  if #skipped > 0 and not o.quiet then
    io.stderr:write(string.format("convert: skipped %d tensors that are not encoder weights: %s\n", #skipped,
      table.concat(skipped, ", ", 1, math.min(#skipped, 8)) .. (#skipped > 8 and ", ..." or "")))
  end
  if dtype ~= "f32" then
    for k, t in pairs(tensors) do tensors[k] = t:to(dtype) end
  end

  -- the module directory, built aside and renamed into place
  local tmp = out .. ".tmp-" .. C.hub_os_pid()
  C.hub_fs_remove_tree(tmp)
  c_check(C.hub_fs_mkdirs(tmp), "mkdir " .. tmp)
  local ok, err = pcall(function()
    hub.save(tmp .. "/model.safetensors", tensors, { metadata = { format = "hubrun", model = "ernie",
      source = "huggingface " .. tostring(mt or "bert") } })
    copy_file(vocab, tmp .. "/vocab.txt")
    copy_file(module_lua_source(), tmp .. "/module.lua")
    local files = {}
    for _, f in ipairs { "module.lua", "model.safetensors", "vocab.txt" } do
      local p = tmp .. "/" .. f
      files[f] = { sha256 = store.sha256_file(p), size = tonumber(C.hub_fs_size(p)) }
    end
    local family = mt == "ernie" and "ERNIE" or "BERT"
    local summary = string.format("%s text encoder (%d layers, hidden %d), converted from Hugging Face",
      family, cfg.num_hidden_layers, cfg.hidden_size)
    if st then
      summary = string.format("sentence vectors (%s pooling%s) of a %s encoder (%d layers, hidden %d), converted from sentence-transformers",
        table.concat(st.pooling, "+"), st.normalize and ", L2-normalised" or "", family, cfg.num_hidden_layers, cfg.hidden_size)
    end
    local manifest = {
      name = name, version = version, type = o.type or (st and "nlp/embedding" or "nlp/semantic_model"),
      summary = o.summary or summary,
      author = o.author or "", license = o.license, hubrun = ">=0.1.0", entry = "module.lua", files = files,
      config = {
        model = cfg,
        tokenizer = { lower = lower, strip_accents = strip },
        max_seq_len = math.min(st and st.max_seq_length or 128, cfg.max_position_embeddings),
        source = { format = st and "sentence-transformers" or "huggingface", model_type = mt or "bert", dtype = dtype, dir = dir },
        pooling = st and { modes = st.pooling, normalize = st.normalize } or nil,
      },
    }
    store.validate_manifest(manifest, tmp .. "/module.json")
    local f = assert(io.open(tmp .. "/module.json", "wb"))
    f:write(json(manifest), "\n")
    f:close()
    return manifest
  end)
  if not ok then C.hub_fs_remove_tree(tmp); error(err, 0) end
  if C.hub_fs_kind(out) ~= C.HUB_FS_NONE then c_check(C.hub_fs_remove_tree(out), "remove " .. out) end
  c_check(C.hub_fs_rename(tmp, out), "rename " .. tmp)
  return out, err
end

return M
