-- hub.task.export: a fine-tuned task as an installable module, and back.
--
--   task:export{ name = "my-cls", version = "1.0.0", dir = "out/my-cls" }  -> dir
--   hubrun install out/my-cls && hubrun run my-cls --input_text "这家酒店很干净"
--   local m = hub.module "my-cls"; m:predict{ "..." }    -- = task:predict{ "..." }
--   local task = hub.task.load("out/my-cls")               -- the task again, trainable
--
-- The directory holds module.lua (a copy of the repository's modules/finetuned/module.lua:
-- load rebuilds the task with hub.task.load, predict is task:predict, format one line per
-- result), model.safetensors (the task's state_dict in f32: the encoder less its masked-LM
-- head, and the task head), vocab.txt (the tokenizer's vocabulary) and module.json: name,
-- version, type ("nlp/text_classification", ...), summary, author, license, hubrun (>= this
-- version), entry, files (sha256 and size of each) and config = { task = the constructor's
-- name, task_config = the task's own options (labels, max_seq_len, crf, pair, ...), model = the
-- encoder's config, tokenizer = { lower, strip_accents } }.  It is written into DIR.tmp-<pid>
-- and renamed into place; an existing DIR is replaced only when it is a module directory
-- (holds a module.json), else it is an error.  Predictions of the module equal the task's: the
-- same network is rebuilt from the same f32 weights and predict runs the same code.
local ffi = require "ffi"
local hub = require "hub"
local core = require "hub.core"
local json = require "hub.json"
local C = core.C

local M = {}

local fail = require("hub.core").failf

local TYPES = {
  text_classification = "nlp/text_classification", multi_label_classification = "nlp/multi_label_classification",
  regression = "nlp/regression", sequence_labeling = "nlp/sequence_labeling", text_matching = "nlp/text_matching",
}

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, s)
  if C.hub_fs_write_file(path, s, #s) ~= 0 then fail("export: %s", core.last_error()) end
end

local function sha256(path)
  local hex = ffi.new("char[65]")
  if C.hub_sha256_file(path, hex) ~= 0 then fail("export: %s", core.last_error()) end
  return ffi.string(hex, 64)
end

-- The generic module file, from the repository (modules/finetuned/module.lua).
function M.module_file()
  local repo = require("hub.datasets").repo_dir()
  local p = (repo or "./") .. "modules/finetuned/module.lua"
  local s = read_file(p)
  if not s then fail("export: %s not found (the generic module file of fine-tuned tasks)", p) end
  return s
end

local spec = { name = "string", version = "string", dir = "string", summary = "string", author = "string",
               license = "string", description = "string", format = "string", dtype = "string" }

function M.export(task, opts)
  opts = core.check_options(opts, spec, "export", 2)
  if not opts.name then fail("export: 'name' is required") end
  if not opts.name:match("^[%w][%w_.-]*$") or #opts.name > 100 then
    fail("export: name '%s' must be letters, digits, _ . - (starting with a letter or digit)", opts.name)
  end
  local version = opts.version or "1.0.0"
  if not require("hub.semver").parse(version) then fail("export: version '%s' is not a semantic version such as 1.0.0", version) end
  if task.uses_labels and not task.labels then fail("export: the task has no labels yet (train it, or give labels)") end
  -- format = "senta": PaddleHub's senta answers ({text, sentiment_label, sentiment_key,
  -- positive_probs, negative_probs}) from a two-class classifier whose labels are negative, positive
  if opts.dtype ~= nil and opts.dtype ~= "f32" and opts.dtype ~= "f16" and opts.dtype ~= "bf16" then
    fail("export: dtype '%s' must be f32, f16 or bf16 (the weights as stored; they are widened to f32 on load)", opts.dtype)
  end
  if opts.format ~= nil and opts.format ~= "senta" then fail("export: format '%s' is unknown (expected senta)", opts.format) end
  if opts.format == "senta" then
    local l = task.labels or {}
    if task.task_name ~= "text_classification" or #l ~= 2 or l[1] ~= "negative" or l[2] ~= "positive" or task.pair then
      fail("export: format 'senta' needs a single-text classifier with the labels negative, positive (got %s: %s)",
        tostring(task.task_name), table.concat(l, ", "))
    end
  end
  local dir = (opts.dir or opts.name):gsub("/+$", "")
  local kind = C.hub_fs_kind(dir)
  if kind ~= C.HUB_FS_NONE and C.hub_fs_kind(dir .. "/module.json") ~= C.HUB_FS_FILE then
    fail("export: %s exists and is not a module directory; choose another dir", dir)
  end
  local tmp = string.format("%s.tmp-%d", dir, C.hub_os_pid())
  C.hub_fs_remove_tree(tmp)
  if C.hub_fs_mkdirs(tmp) ~= 0 then fail("export: %s", core.last_error()) end
  local ok, err = pcall(function()
    local sd = {}
    for k, t in pairs(task:state_dict()) do
      if not k:match("^encoder%.mlm%.") then sd[k] = t:to(opts.dtype or "f32") end
    end
    hub.save(tmp .. "/model.safetensors", sd, { metadata = { format = "hubrun", task = task.task_name } })
    local vocab = read_file(task.tokenizer.vocab_path)
    if not vocab then fail("export: cannot read the tokenizer's vocabulary %s", tostring(task.tokenizer.vocab_path)) end
    write_file(tmp .. "/vocab.txt", vocab)
    write_file(tmp .. "/module.lua", M.module_file())
    local model = {}
    for k, v in pairs(task.encoder.config) do model[k] = v end
    model.mlm_head = false
    local files = {}
    for _, f in ipairs { "model.safetensors", "vocab.txt", "module.lua" } do
      files[f] = { sha256 = sha256(tmp .. "/" .. f), size = tonumber(C.hub_fs_size(tmp .. "/" .. f)) }
    end
    local manifest = {
      name = opts.name, version = version, type = TYPES[task.task_name] or "nlp/fine_tuned",
      summary = opts.summary or string.format("%s fine-tuned with hubrun (%s)", task.task_name,
        task.labels and table.concat(task.labels, ", ") or "regression"),
      author = opts.author or "hubrun hub.finetune", license = opts.license or "Apache-2.0",
      description = opts.description, hubrun = ">=" .. hub.version:match("^[%d.]+"), entry = "module.lua", files = files,
      config = { task = task.task_name, task_config = task:task_config(), model = model,
                 tokenizer = { lower = task.tokenizer.lower, strip_accents = task.tokenizer.strip_accents },
                 max_seq_len = task.max_seq_len, format = opts.format },
    }
    write_file(tmp .. "/module.json", json.encode(manifest, { indent = "  " }) .. "\n")
  end)
  if not ok then C.hub_fs_remove_tree(tmp); error(err, 0) end
  if kind ~= C.HUB_FS_NONE and C.hub_fs_remove_tree(dir) ~= 0 then fail("export: %s", core.last_error()) end
  if C.hub_fs_rename(tmp, dir) ~= 0 then fail("export: %s", core.last_error()) end
  return dir
end

-- load(dir, {max_seq_len =, device =, cuda_graphs =}) -> the task of an exported module directory
-- (on `device`; cuda_graphs: its predictions as CUDA graphs there, task:use_cuda_graphs).
function M.load(dir, opts)
  opts = core.check_options(opts, { max_seq_len = "integer", batch_size = "integer", device = "string",
                                    cuda_graphs = "boolean" }, "task.load", 2)
  local manifest = require("hub.module").read_manifest(dir)
  local cfg = manifest.config
  if type(cfg) ~= "table" or type(cfg.task) ~= "string" or type(cfg.model) ~= "table" then
    fail("%s/module.json: config.task and config.model are missing (not an exported task)", dir)
  end
  local ctor = require("hub.task")[cfg.task]
  if type(ctor) ~= "function" then fail("%s/module.json: config.task '%s' is not a hub.task", dir, cfg.task) end
  local network = require("hub.models.ernie").new(cfg.model, { init = false })
  local tk = cfg.tokenizer or {}
  local tokenizer = hub.tokenizer.wordpiece { vocab = dir .. "/vocab.txt", lower = tk.lower ~= false, strip_accents = tk.strip_accents }
  local o = {}
  for k, v in pairs(cfg.task_config or {}) do o[k] = v end
  o.network, o.tokenizer = network, tokenizer
  if opts.max_seq_len then o.max_seq_len = opts.max_seq_len end
  local ok, task = pcall(ctor, o)
  if not ok then fail("%s/module.json: config.task_config: %s", dir, tostring(task)) end
  local w = hub.load(dir .. "/model.safetensors")
  local okl, err = pcall(task.load_state_dict, task, w)
  if not okl then fail("%s/model.safetensors: %s", dir, tostring(err)) end
  if opts.device then task:place(opts.device, "task.load") end
  if opts.cuda_graphs and task:device() == "cuda" then task:use_cuda_graphs(true) end
  task:eval()
  return task
end

return M
