-- hub.convert_to_hf: hubrun BERT / ERNIE encoder modules -> Hugging Face directories, the
-- reverse of `hubrun convert hf` (`hubrun convert to-hf MODULE --out DIR`, lua/hub/cli/convert.lua).
--
--   local out, info = require("hub.convert_to_hf").convert{ module = "ernie-tiny-zh", out = "hf/ernie-tiny-zh" }
--
-- MODULE is an installed module name or a module directory whose module.json config holds
-- model = the encoder's config (what `hubrun convert hf`, recipes/ernie_pretrain.lua and the
-- module builders write) and whose model.safetensors holds hubrun's parameter names.  The
-- output directory gets
--   config.json              BertConfig (model_type "bert"; "ernie" with ErnieConfig when the
--                            model has task-type embeddings), architectures naming the classes
--                            that load every tensor written
--   model.safetensors        f32, Hugging Face names with the "bert." / "ernie." prefix of the
--                            task classes (BertModel.from_pretrained strips it): the fused qkv of
--                            each layer split back into query, key and value (rows in that
--                            order), attn.out -> attention.output.dense, norm1 ->
--                            attention.output.LayerNorm, linear1 -> intermediate.dense, linear2 ->
--                            output.dense, norm2 -> output.LayerNorm, layer_norm -> LayerNorm; the
--                            masked-LM head as cls.predictions.* (the decoder is tied to the word
--                            embeddings, so it is not stored); metadata format = "pt"
--   vocab.txt                the module's vocabulary
--   tokenizer_config.json    BertTokenizer with the module's do_lower_case / strip_accents
--   special_tokens_map.json  [UNK] [SEP] [PAD] [CLS] [MASK]
-- A module whose weights carry a prefix (a fine-tuned task's "encoder.") is read under that
-- prefix; a classifier beside it (classifier.weight [n, H] + classifier.bias [n]) becomes
-- BertForSequenceClassification's classifier with num_labels = n (id2label from the module's
-- label names, config.task_config.labels as task:export writes them, else LABEL_0, ...).  Any other tensor is an error naming it.  The directory is
-- written as OUT.tmp-PID and renamed into place.
local ffi = require "ffi"
local hub = require "hub"
local ernie = require "hub.models.ernie"
local C = hub.C

local M = {}

local fail = require("hub.core").failf
local function is_file(p) return C.hub_fs_kind(p) == C.HUB_FS_FILE end
local function c_check(rc, what)
  if rc ~= 0 then fail("%s: %s", what, ffi.string(C.hub_last_error())) end
end

local layer_map = {
  ["attn.out"] = "attention.output.dense",
  norm1 = "attention.output.LayerNorm",
  linear1 = "intermediate.dense",
  linear2 = "output.dense",
  norm2 = "output.LayerNorm",
}
local mlm_map = {
  ["mlm.dense.weight"] = "cls.predictions.transform.dense.weight",
  ["mlm.dense.bias"] = "cls.predictions.transform.dense.bias",
  ["mlm.layer_norm.weight"] = "cls.predictions.transform.LayerNorm.weight",
  ["mlm.layer_norm.bias"] = "cls.predictions.transform.LayerNorm.bias",
  ["mlm.bias"] = "cls.predictions.bias",
}

-- hubrun encoder name -> Hugging Face names without the model prefix (a list: qkv gives three),
-- and whether the name is outside the "bert." prefix (the masked-LM head); nil for a name that
-- is not an encoder tensor.
function M.hf_names(name)
  if mlm_map[name] then return { mlm_map[name] }, true end
  local e = name:match("^embeddings%.([%w_]+_embeddings)%.weight$")
  if e then return { "embeddings." .. e .. ".weight" } end
  local wb = name:match("^embeddings%.layer_norm%.(%a+)$")
  if wb then return { "embeddings.LayerNorm." .. wb } end
  local pb = name:match("^pooler%.dense%.(%a+)$")
  if pb then return { "pooler.dense." .. pb } end
  local n, part, suffix = name:match("^encoder%.layers%.(%d+)%.(.-)%.(%a+)$")
  if not n then return nil end
  local p = "encoder.layer." .. n .. "."
  if part == "attn.qkv" then
    return { p .. "attention.self.query." .. suffix, p .. "attention.self.key." .. suffix, p .. "attention.self.value." .. suffix }
  end
  if layer_map[part] then return { p .. layer_map[part] .. "." .. suffix } end
  return nil
end

-- The prefix under which a module's file holds the encoder ("" or e.g. "encoder.").
local function find_prefix(tensors)
  if tensors["embeddings.word_embeddings.weight"] then return "" end
  local found
  for k in pairs(tensors) do
    local p = k:match("^(.-)embeddings%.word_embeddings%.weight$")
    if p then
      if found and found ~= p then fail("two encoders in one module (%s and %s)", found, p) end
      found = p
    end
  end
  if not found then fail("no embeddings.word_embeddings.weight in the module's weights: not a BERT/ERNIE encoder module") end
  return found
end

local function cjson()
  local ok, c = pcall(require, "cjson")
  if not ok then fail("convert to-hf: lua-cjson is not available (Debian package lua-cjson)") end
  return c
end

local function write(path, text)
  local f, err = io.open(path, "wb")
  if not f then fail("cannot write %s: %s", path, tostring(err)) end
  f:write(text)
  f:close()
end

local function copy_file(src, dst)
  local f, err = io.open(src, "rb")
  if not f then fail("cannot read %s: %s", src, tostring(err)) end
  local data = f:read("*a")
  f:close()
  write(dst, data)
end

-- hubrun's activation names are Hugging Face's already (gelu, gelu_new, relu, ...).
local function hf_config(cfg, extra)
  local c = {
    model_type = cfg.use_task_id and "ernie" or "bert",
    vocab_size = cfg.vocab_size, hidden_size = cfg.hidden_size, num_hidden_layers = cfg.num_hidden_layers,
    num_attention_heads = cfg.num_attention_heads, intermediate_size = cfg.intermediate_size,
    hidden_act = cfg.hidden_act, hidden_dropout_prob = cfg.hidden_dropout_prob,
    attention_probs_dropout_prob = cfg.attention_probs_dropout_prob,
    max_position_embeddings = cfg.max_position_embeddings, type_vocab_size = cfg.type_vocab_size,
    initializer_range = cfg.initializer_range, layer_norm_eps = cfg.layer_norm_eps,
    pad_token_id = cfg.pad_token_id, position_embedding_type = "absolute", use_cache = true,
    tie_word_embeddings = true, torch_dtype = "float32", classifier_dropout = cjson().null,
  }
  if cfg.use_task_id then c.use_task_id, c.task_type_vocab_size = true, cfg.task_type_vocab_size end
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- o: { module = name or dir, out = dir, force = bool }; returns out and
-- { config = hf config, tensors = n, prefix = "", classifier = n or nil, mlm = bool, pooler = bool }
function M.convert(o)
  if type(o) ~= "table" then fail("convert to-hf: expected an options table") end
  if type(o.module) ~= "string" or o.module == "" then fail("which module? (convert to-hf MODULE --out DIR)") end
  if type(o.out) ~= "string" or o.out == "" then fail("--out DIR is required") end
  local out = o.out:gsub("(.)/+$", "%1")
  if C.hub_fs_kind(out) ~= C.HUB_FS_NONE and not o.force then fail("%s already exists (--force replaces it)", out) end
  local dir, manifest = require("hub.module").resolve(o.module)
  local mc = type(manifest.config) == "table" and manifest.config or {}
  if type(mc.model) ~= "table" then
    fail("%s/module.json has no config.model: not a BERT/ERNIE encoder module (made by `hubrun convert hf` or a hubrun recipe)", dir)
  end
  local okc, cfg = pcall(ernie.config, mc.model)
  if not okc then fail("%s/module.json config.model: %s", dir, tostring(cfg)) end
  local wpath = dir .. "/model.safetensors"
  if not is_file(wpath) then fail("%s has no model.safetensors", dir) end
  local vocab = dir .. "/vocab.txt"
  if not is_file(vocab) then fail("%s has no vocab.txt", dir) end

  local tensors = hub.load(wpath)
  local prefix = find_prefix(tensors)
  local base = cfg.use_task_id and "ernie." or "bert."
  local hf, unknown, count = {}, {}, 0
  local has = { pooler = false, mlm = false }
  local H = cfg.hidden_size
  for name, t in pairs(tensors) do
    local inner = name:sub(1, #prefix) == prefix and name:sub(#prefix + 1) or nil
    local names, outside = nil, false
    if inner then names, outside = M.hf_names(inner) end
    if t.dtype ~= "f32" then t = t:to("f32") end
    if names then
      if inner:match("^pooler%.") then has.pooler = true end
      if outside then has.mlm = true end
      local pre = outside and "" or base
      if #names == 3 then
        local rows = t.shape[1] / 3
        if rows ~= H then fail("%s is [%s]; a fused qkv of hidden %d has %d rows", name, table.concat(t.shape, ","), H, 3 * H) end
        for i = 1, 3 do hf[pre .. names[i]] = t:narrow(1, (i - 1) * H + 1, H):contiguous() end
      else
        hf[pre .. names[1]] = t
      end
    elseif name == "classifier.weight" or name == "classifier.bias" then
      hf[name] = t
    else
      unknown[#unknown + 1] = name
    end
    count = count + 1
  end
  if #unknown > 0 then
    table.sort(unknown)
    fail("%s: tensors that are neither the encoder%s nor a classifier: %s", wpath,
      prefix ~= "" and (" (under '" .. prefix .. "')") or "", table.concat(unknown, ", "))
  end
  -- every tensor the config implies must be there (BertModel would silently initialise it)
  local missing = {}
  for _, e in ipairs(require("hub.convert").expected(cfg, has.pooler, has.mlm)) do
    local key = e[1]:match("^cls%.") and e[1] or base .. e[1]
    if not hf[key] then missing[#missing + 1] = key end
  end
  if #missing > 0 then fail("%s: missing tensors: %s", wpath, table.concat(missing, ", ")) end

  local extra, archs = {}, {}
  local ncls
  if hf["classifier.weight"] or hf["classifier.bias"] then
    local w, b = hf["classifier.weight"], hf["classifier.bias"]
    if not (w and b) or #w.shape ~= 2 or w.shape[2] ~= H or #b.shape ~= 1 or b.shape[1] ~= w.shape[1] then
      fail("%s: classifier.weight must be [n, %d] and classifier.bias [n]", wpath, H)
    end
    ncls = w.shape[1]
    -- task:export keeps the label names in config.task_config.labels (lua/hub/task/export.lua)
    local tc = type(mc.task_config) == "table" and mc.task_config or {}
    local labels = type(tc.labels) == "table" and tc.labels
      or type(mc.labels) == "table" and mc.labels or (type(mc.label_map) == "table" and mc.label_map or nil)
    local id2label, label2id = {}, {}
    for i = 1, ncls do
      local l = labels and labels[i] and tostring(labels[i]) or ("LABEL_" .. (i - 1))
      id2label[tostring(i - 1)], label2id[l] = l, i - 1
    end
    extra.num_labels, extra.id2label, extra.label2id = ncls, id2label, label2id
    archs[1] = cfg.use_task_id and "ErnieForSequenceClassification" or "BertForSequenceClassification"
  elseif has.mlm then
    archs[1] = cfg.use_task_id and "ErnieForMaskedLM" or "BertForMaskedLM"
  else
    archs[1] = cfg.use_task_id and "ErnieModel" or "BertModel"
  end
  extra.architectures = archs
  local config = hf_config(cfg, extra)
  local tk = type(mc.tokenizer) == "table" and mc.tokenizer or {}
  local lower = tk.lower ~= false
  local strip = tk.strip_accents
  if strip == nil or strip == cjson().null then strip = cjson().null end

  local tmp = out .. ".tmp-" .. C.hub_os_pid()
  C.hub_fs_remove_tree(tmp)
  c_check(C.hub_fs_mkdirs(tmp), "mkdir " .. tmp)
  local ok, err = pcall(function()
    local json = require("hub.cli_util").json
    hub.save(tmp .. "/model.safetensors", hf, { metadata = { format = "pt" } })
    copy_file(vocab, tmp .. "/vocab.txt")
    write(tmp .. "/config.json", json(config) .. "\n")
    write(tmp .. "/tokenizer_config.json", json {
      tokenizer_class = "BertTokenizer", do_lower_case = lower, strip_accents = strip,
      tokenize_chinese_chars = true, model_max_length = mc.max_seq_len or cfg.max_position_embeddings,
      unk_token = "[UNK]", sep_token = "[SEP]", pad_token = "[PAD]", cls_token = "[CLS]", mask_token = "[MASK]",
    } .. "\n")
    write(tmp .. "/special_tokens_map.json", json {
      unk_token = "[UNK]", sep_token = "[SEP]", pad_token = "[PAD]", cls_token = "[CLS]", mask_token = "[MASK]",
    } .. "\n")
  end)
  if not ok then C.hub_fs_remove_tree(tmp); error(err, 0) end
  if C.hub_fs_kind(out) ~= C.HUB_FS_NONE then c_check(C.hub_fs_remove_tree(out), "remove " .. out) end
  c_check(C.hub_fs_rename(tmp, out), "rename " .. tmp)
  return out, { config = config, tensors = count, prefix = prefix, classifier = ncls, mlm = has.mlm,
                pooler = has.pooler, dir = dir, name = manifest.name }
end

return M
