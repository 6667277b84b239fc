-- hub.recipe: what the fine-tuning recipes (recipes/ernie_*.lua) share, so that each stays about
-- ten lines: command-line options with defaults and --help, the encoder module (installed from
-- the default registry when it is missing), the data set cut to the sizes asked for, the
-- trainer's options from the command line, and the closing report.
--
--   local a = hub.recipe.args(arg, { about = "Fine-tunes ... on ...", epochs = 2, max_seq_len = 128 })
--   local ds = hub.recipe.data(hub.datasets.reviews_zh(), a)
--   local task = hub.task.text_classification{ module = hub.recipe.encoder(a), max_seq_len = a.max_seq_len }
--   local run = hub.finetune(task, ds, hub.recipe.finetune_options(a))
--   hub.recipe.report(run, a)
--
-- The options every recipe takes (the recipe's table changes the defaults):
local M = {}

M.options = {
  { "module", "ernie-tiny-zh", "the encoder module (an installed name or a module directory)" },
  { "epochs", 2, "passes over the training data" },
  { "batch_size", 32, "examples per batch" },
  { "lr", 5e-5, "peak learning rate (AdamW, linear warm-up over 10% then decay)" },
  { "strategy", "adamw", "fine-tuning strategy (hub.strategy: default, adamw, l2sp, ulmfit, combined)" },
  { "max_seq_len", 128, "tokens per example at most ([CLS] and [SEP] included)" },
  { "max_train", 0, "use a stratified subset of N training examples (0: all)" },
  { "max_eval", 0, "evaluate on a fixed random sample of N dev and N test examples (the same for every seed; 0: all)" },
  { "eval_interval", 0, "evaluate on dev every N updates (0: at epoch ends only)" },
  { "patience", 0, "early stopping after N evaluations without a gain (0: off)" },
  { "grad_accum", 1, "batches per update" },
  { "seed", 1, "random seed (weights of the head, dropout, data order)" },
  { "threads", 0, "CPU threads (0: all)" },
  { "device", "cpu", "where the model trains: cpu, or cuda (the GPU; a CUDA build of hubrun)" },
  { "precision", "f32", "f32, or bf16 / f16: mixed precision (linear layers multiply rounded operands, f32 accumulation; hub.autocast)" },
  { "out", "", "run directory: checkpoints (resumed when run again), metrics.jsonl, curves.png" },
  { "export", "", "export the fine-tuned model as a module named NAME into OUT/NAME (or ./NAME)" },
  { "export_version", "1.0.0", "the exported module's version (semantic: MAJOR.MINOR.PATCH)" },
  { "export_dtype", "f32", "the exported weights' dtype: f32, or f16 / bf16 (half the size; widened to f32 on load)" },
  { "export_format", "", "senta: the exported module answers as PaddleHub's senta (sentiment_key, positive_probs, ...)" },
  { "predictions", "", "write the best model's test predictions to FILE (JSON lines {index, gold, pred}; classification), for paired comparisons (bench/finetune/paired.lua)" },
  { "stop_after", 0, "stop after N updates, as a kill would (resume with the same --out)" },
  { "head_lr", 1, "the task head's learning rate as a multiple of --lr (e.g. 50 for a CRF's transitions)" },
  { "warmup", 0.1, "linear warm-up share of the updates (adamw)" },
  { "weight_decay", 0.01, "AdamW's weight decay (adamw)" },
  { "dropout", -1, "dropout of the encoder (hidden and attention) and of the task's head (-1: the module's own, 0.1 for BERT/ERNIE)" },
  { "pooling", "", "how a text becomes one vector for the task's head: cls (the [CLS] state) or mean (of the token states); empty: the task's default" },
  { "truncation", "longest_first", "how a text longer than max_seq_len is cut: longest_first (keep its start) or head_tail (keep its first quarter and last three quarters)" },
  { "random_init", 0, "1: the encoder's network with fresh random weights (BERT's init), not the pretrained ones -- the baseline that shows what pretraining brings" },
}

local function fail(msg) io.stderr:write(msg, "\n"); os.exit(2) end

-- args(arg, { about =, usage =, <option> = default, extra = {{name, default, help}, ...},
--             without = { "name", ... } }) -> values
-- `without` drops shared options the recipe has no use for (ernie_seq_label.lua: truncation,
-- pooling, export_format): --help leaves them out and giving one is an unknown argument.
function M.args(argv, spec)
  spec = spec or {}
  local script = (argv and argv[0] or "recipe.lua")
  local list, defaults, drop = {}, {}, {}
  for _, name in ipairs(spec.without or {}) do drop[name] = true end
  for _, o in ipairs(M.options) do if not drop[o[1]] then list[#list + 1] = o end end
  for _, o in ipairs(spec.extra or {}) do list[#list + 1] = o end
  for _, o in ipairs(list) do
    local d = spec[o[1]]
    if d == nil then d = o[2] end
    defaults[o[1]] = d
  end
  local a = {}
  for k, v in pairs(defaults) do a[k] = v end
  local i = 1
  while argv and i <= #argv do
    local s = argv[i]
    if s == "-h" or s == "--help" then
      local lines = { "usage: hubrun " .. script .. " [options]", "", spec.about or "", "" }
      for _, o in ipairs(list) do
        lines[#lines + 1] = string.format("  --%-14s %s (default: %s)", o[1], o[3], tostring(defaults[o[1]]) == "" and "none" or tostring(defaults[o[1]]))
      end
      lines[#lines + 1] = "  -h, --help        this text"
      print(table.concat(lines, "\n"))
      os.exit(0)
    end
    local k, v = s:match("^%-%-([%w_]+)=(.*)$")
    if not k then k = s:match("^%-%-([%w_]+)$"); v = argv[i + 1]; i = i + 1 end
    if not k or defaults[k] == nil then fail(script .. ": unknown argument '" .. s .. "' (see --help)") end
    if v == nil then fail(script .. ": --" .. k .. " needs a value") end
    if type(defaults[k]) == "number" then
      local n = tonumber(v)
      if not n then fail(script .. ": --" .. k .. " must be a number, got '" .. v .. "'") end
      v = n
    end
    a[k] = v
    i = i + 1
  end
  return M.trial_values(a)
end

-- Under `hubrun autofinetune` (docs/autofinetune.md) the trial's values replace the options of
-- the same name (learning_rate is lr's PaddleHub name), and --out defaults to the trial's
-- directory; alone, nothing changes.
function M.trial_values(a)
  local hub = require "hub"
  if not hub.trial.active() then return a end
  local defaults = {}
  for k, v in pairs(a) do if type(v) == "number" then defaults[k] = v end end
  local params = hub.trial.info().params or {}
  if params.learning_rate ~= nil then defaults.learning_rate = a.lr end
  local hp = hub.hparams(defaults)
  for k, v in pairs(hp) do a[k] = v end
  if hp.learning_rate ~= nil then a.lr = hp.learning_rate end
  if a.out == "" and hub.trial.dir() then a.out = hub.trial.dir() .. "/run" end
  a.trial = true
  return a
end

-- The encoder module: hub.module(name), installed from the default registry first when missing.
-- encoder(a) takes the name from a.module and, with a.random_init = 1, gives the module's network
-- fresh weights (hub.models.ernie.init_weights, from the current seed): the same network, vocabulary
-- and tokenizer without what pretraining learnt.
function M.encoder(name)
  local hub = require "hub"
  local a
  if type(name) == "table" then a = name; name = a.module end
  local ok, m = pcall(hub.module, name)
  if not ok then
    if not tostring(m):find("is not installed", 1, true) then error(m, 0) end
    io.stderr:write("recipe: installing ", name, " from the default registry\n")
    hub.store.install(name)
    m = hub.module(name)
  end
  if a and a.random_init and a.random_init ~= 0 then
    if type(m.model) ~= "table" then error("recipe: --random_init needs an encoder module with a network (" .. name .. " has none)", 0) end
    -- context() gives the network private copies of its weights first: the loaded ones may be
    -- shared with other instances of the module in this process
    if type(m.context) == "function" then m:context() end
    hub.models.ernie.init_weights(m.model)
    io.stderr:write("recipe: ", name, "'s network re-initialised at random (--random_init)\n")
  end
  if a and a.dropout and a.dropout >= 0 then M.set_dropout(m, a.dropout) end
  return m
end

-- set_dropout(module, p): every dropout of the module's network (nn.Dropout layers and the
-- attention probabilities) becomes p, and its config says so, which is where a task's head takes
-- its own dropout from (hub.task: the encoder's hidden_dropout_prob unless the task is given one).
function M.set_dropout(m, p)
  if p < 0 or p >= 1 then error(string.format("recipe: --dropout must be in [0, 1), got %s", tostring(p)), 0) end
  local net = type(m) == "table" and m.model
  if type(net) ~= "table" or type(net.apply) ~= "function" then error("recipe: --dropout needs an encoder module with a network", 0) end
  if type(m.context) == "function" then m:context() end
  net:apply(function(x)
    if x.__name == "Dropout" then x.p = p
    elseif x.__name == "MultiHeadAttention" then x.dropout = p end
  end)
  if type(net.config) == "table" then
    net.config.hidden_dropout_prob, net.config.attention_probs_dropout_prob = p, p
  end
end

-- sample(list, n) -> n elements of list picked by a fixed hash of their positions (the same
-- ones for every --seed, so that runs stay comparable), in their original order.  Data sets
-- may be ordered (reviews_zh's dev and test are sorted by label), so the first n would not do.
function M.sample(list, n)
  if n >= #list then return list end
  local bit = require "bit"
  local keyed = {}
  for i = 1, #list do
    local h = bit.tobit(i * 0x9e3779b1)
    h = bit.bxor(h, bit.rshift(h, 15)); h = bit.tobit(h * 0x85ebca6b); h = bit.bxor(h, bit.rshift(h, 13))
    keyed[i] = { h, i }
  end
  table.sort(keyed, function(x, y) if x[1] ~= y[1] then return x[1] < y[1] end return x[2] < y[2] end)
  local pick = {}
  for k = 1, n do pick[k] = keyed[k][2] end
  table.sort(pick)
  local o = {}
  for k, i in ipairs(pick) do o[k] = list[i] end
  return o
end

-- The data set with --max_train (a stratified subset) and --max_eval (a fixed sample of dev and test).
function M.data(ds, a)
  if a.max_train and a.max_train > 0 then ds = ds:subset(a.max_train, a.seed) end
  if a.max_eval and a.max_eval > 0 then
    local function head(l) return M.sample(l, a.max_eval) end
    ds = require("hub.datasets.dataset").new { name = ds.name, kind = ds.kind, labels = ds.labels, train = ds.train,
      dev = head(ds.dev), test = head(ds.test), counts = ds.counts, source = ds.source, license = ds.license }
  end
  a._data = ds -- for --predictions
  return ds
end

-- --predictions FILE: one JSON line {index, gold, pred} per test example of a classification
-- data set (index: 1-based, in the test split's order), written whole or not at all.
function M.write_predictions(path, examples, pred)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then fail("--predictions " .. path .. ": " .. tostring(err)) end
  for i, e in ipairs(examples) do
    f:write(string.format('{"index": %d, "gold": %s, "pred": %s}\n', i, tostring(e.label), tostring(pred[i])))
  end
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then fail("--predictions " .. path .. ": " .. tostring(rerr)) end
end

-- The strategy named by --strategy (hub.strategy when it is there; else the trainer's own AdamW).
function M.strategy(a)
  local ok, strat = pcall(require, "hub.strategy")
  if ok and type(strat) == "table" and type(strat[a.strategy]) == "function" then
    if a.strategy == "adamw" then
      return strat.adamw { lr = a.lr, warmup = a.warmup, weight_decay = a.weight_decay, head_lr = a.head_lr }
    end
    return strat[a.strategy] { lr = a.lr, head_lr = a.head_lr }
  end
  if a.strategy ~= "adamw" and a.strategy ~= "default" then
    error("recipe: strategy '" .. a.strategy .. "' needs hub.strategy, which is not there", 0)
  end
  return require("hub.finetune").builtin_default { lr = a.lr }
end

-- The task's pooling from --pooling (nil when empty: the task's default).
function M.pooling(a) return a.pooling ~= "" and a.pooling or nil end

-- hub.finetune's options from the recipe's.
function M.finetune_options(a)
  local function pos(v) return v and v > 0 and v or nil end
  return { epochs = a.epochs, batch_size = a.batch_size, strategy = M.strategy(a), seed = a.seed, threads = a.threads,
           grad_accum = a.grad_accum, eval_interval = pos(a.eval_interval), patience = pos(a.patience), device = a.device,
           precision = a.precision,
           checkpoint_dir = a.out ~= "" and a.out or nil, stop_after = pos(a.stop_after),
           -- in a search: every dev evaluation is reported (ASHA prunes on them)
           on_eval = a.trial and function(m, step, main) return require("hub").report(m[main], { step = step }) end or nil }
end

-- Prints the dev and test scores of a finished run (and exports when --export NAME was given).
function M.report(run, a, task)
  if not run.done then print(string.format("stopped at step %d of %d (run again with the same --out to resume)", run.step, run.total_steps)); return end
  -- in a search the trial's result is the best model's dev score (the last report counts)
  if a.trial and run.dev and run.dev[run.task.main_metric] and not require("hub.autotune.trial").stopped() then
    require("hub").report(run.dev[run.task.main_metric], { step = run.step + 1 })
  end
  local main = run.task.main_metric
  local function fmt(m) return m and m[main] and string.format("%.4f", m[main]) or "-" end
  print(string.format("dev %s %s  test %s %s  (%d steps, %.0f s)", main, fmt(run.dev), main, fmt(run.test), run.step, run.seconds))
  if a.predictions and a.predictions ~= "" then
    local ds = a._data
    if not ds or (ds.kind ~= "classification" and ds.kind ~= "pair") then
      fail("--predictions: only for classification recipes")
    end
    local items = {}
    for i, e in ipairs(ds.test) do items[i] = e.text_b and { e.text_a, e.text_b } or e.text_a end
    local r = run.task:predict(items)
    local pred = {}
    for i, x in ipairs(r) do pred[i] = x.label_id end
    M.write_predictions(a.predictions, ds.test, pred)
  end
  if a.export and a.export ~= "" then
    local dir = (a.out ~= "" and (a.out .. "/") or "") .. a.export
    run.task:export { name = a.export, dir = dir, format = a.export_format ~= "" and a.export_format or nil,
                          dtype = a.export_dtype, version = a.export_version }
    print("exported " .. dir .. "  (hubrun install " .. dir .. ")")
  end
end

return M
