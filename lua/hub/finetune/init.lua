-- hub.finetune: the fine-tuning loop (PaddleHub's finetune_and_eval with its RunConfig).
--
--   local task = hub.task.text_classification{ module = "ernie-tiny-zh", max_seq_len = 128 }
--   local run = hub.finetune(task, hub.datasets.reviews_zh(), {
--     strategy = hub.strategy.adamw{ lr = 5e-5, warmup = 0.1, weight_decay = 0.01 },
--     epochs = 3, batch_size = 32, eval_interval = 100, checkpoint_dir = "ckpt/cls" })
--   print(run.best.metrics.acc, run.test.acc)
--
-- What it does: featurizes the data set with the task's tokenizer (hub.data.text, cached),
-- trains on length-bucketed batches in an order fixed by (seed, epoch), evaluates on dev every
-- `eval_interval` updates and at the end of every epoch, keeps the best model by the task's
-- main metric (early stopping after `patience` evaluations without a gain), and at the end
-- loads the best model back into the task and evaluates it on test.  Options (defaults):
--
--   epochs (1), batch_size (32), lr (5e-5: the default strategy's), strategy (below),
--   grad_accum (1: updates every N batches, the loss scaled by 1/N), clip (1.0: global gradient
--   norm; 0 = off), eval_interval (nil: at epoch ends only), eval_batch_size (64),
--   log_interval (10 updates), patience (nil: no early stopping), seed (1: hub.manual_seed at the
--   start of a fresh run, and the data order), max_seq_len (the task's), threads (0: as set),
--   checkpoint_dir (nil: nothing written), save_interval (nil: at each evaluation and epoch
--   end), keep_checkpoints (2), cache (true: the tokenized features are cached), progress
--   (true: a bar on a terminal, plain lines elsewhere), quiet (false), stop_after (nil: stop
--   after N updates of this process, as a kill would; for tests), eval_test (true), device
--   (nil: where the task's encoder is; "cuda" moves the task there first, its batches follow),
--   precision ("f32"; "bf16" or "f16": autocast for the whole run, training and evaluation: the
--   products of linear layers and matmuls round their operands to that dtype and accumulate in
--   f32; weights, optimiser state and every other op stay f32; see hub.autocast).
--
-- With checkpoint_dir, it holds: step-<n>/ (hub.checkpoint: the task's weights, the optimiser,
-- the RNG, and in the state the epoch, the batches done in it, the strategy's state, the best
-- metric so far and early stopping's count), best/ (the best model, hub.checkpoint's tag),
-- metrics.jsonl (one line per log interval and per evaluation; hub.jsonl) and curves.png (the
-- training loss and the dev main metric; hub.plot).  Starting again with the same directory
-- resumes from the latest checkpoint: the same batches in the same order, the same dropout
-- masks, so a run killed at any moment (kill -9 included) and started again ends with the same
-- weights, bit for bit, as one that ran through (tests/lua/test_finetune_resume.lua).  A run
-- already finished only reloads the best model and evaluates it.
--
-- Returns run = { best = { metrics, step }, dev = the best model's dev metrics, test = its test
-- metrics, history = { {step, epoch, metrics}, ... }, step, total_steps, epochs_done,
-- stopped_early, done, seconds, checkpoint_dir, task }.
--
-- ---- the strategy contract (lua/hub/strategy/ implements hub.strategy.*) ----
-- A strategy is an object made by a constructor (hub.strategy.default{lr=}, adamw{lr=, warmup=,
-- weight_decay=}, l2sp{...}, ulmfit{...}, combined{...}) with one method the trainer calls once:
--   local s = strategy:setup(model, { total_steps = N, named_parameters = { {name, tensor}, ... }
--     (the trainable ones), layer_of = function(name) -> depth (0 = embeddings, 1..L encoder
--     layers, L + 1 = the task head), num_layers = L + 1 })
-- returning an object with
--   s.optimizer            a hub.optim optimiser (zero_grad, step, get_lr, state_dict)
--   s:before_step(step)    before each update (0-based step): may freeze/unfreeze, set lrs
--   s:penalty()            a scalar tensor added to the loss (L2-SP), or nil
--   s:state_dict()         a plain Lua table (JSON-able) for checkpoints; s:load_state_dict(t)
-- When hub.strategy is not there the trainer uses its own `default` (below): AdamW, linear
-- warm-up over 10% then linear decay, weight decay 0.01 except biases and LayerNorm.
local hub = require "hub"
local core = require "hub.core"

local M = {}

local fail = require("hub.core").failf

-- ---- the built-in strategy ----

local Builtin = {}
Builtin.__index = Builtin

-- builtin_default{ lr = 5e-5, warmup = 0.1, weight_decay = 0.01 }
function M.builtin_default(o)
  o = core.check_options(o, { lr = "number", warmup = "number", weight_decay = "number" }, "default strategy", 1)
  return setmetatable({ name = "default", lr = o.lr or 5e-5, warmup = o.warmup or 0.1,
                        weight_decay = o.weight_decay or 0.01 }, Builtin)
end

local function no_decay(name) return name:find("bias", 1, true) ~= nil or name:find("norm", 1, true) ~= nil end

function Builtin:setup(model, info)
  local decay, nod = {}, {}
  for _, e in ipairs(info.named_parameters) do
    if no_decay(e[1]) then nod[#nod + 1] = e[2] else decay[#decay + 1] = e[2] end
  end
  local groups = {}
  if #decay > 0 then groups[#groups + 1] = { params = decay } end
  if #nod > 0 then groups[#groups + 1] = { params = nod, weight_decay = 0 } end
  local opt = hub.optim.AdamW(groups, { lr = self.lr, weight_decay = self.weight_decay,
    schedule = hub.lr.linear { warmup = self.warmup, total = math.max(1, info.total_steps) } })
  return { optimizer = opt, before_step = function() end, penalty = function() return nil end,
           state_dict = function() return {} end, load_state_dict = function() end }
end

-- The strategy used when none is given: hub.strategy.adamw when hub.strategy exists, else the
-- built-in one (the same AdamW).
function M.default_strategy(lr)
  local ok, strat = pcall(require, "hub.strategy")
  if ok and type(strat) == "table" and type(strat.adamw) == "function" then
    return strat.adamw { lr = lr or 5e-5, warmup = 0.1, weight_decay = 0.01 }
  end
  return M.builtin_default { lr = lr }
end

-- ---- parameters and layers ----

-- The trainable parameters of a task, less the encoder's masked-LM head (unused here).
function M.trainable(task)
  local out = {}
  for name, p in task:named_parameters() do
    if not name:match("^encoder%.mlm%.") and core.C.hub_tensor_requires_grad(p) ~= 0 then out[#out + 1] = { name, p } end
  end
  return out
end

-- layer_of for a task's parameter names: encoder.embeddings.* 0, encoder.encoder.layers.N.*
-- N + 1, encoder.pooler.* L, anything else (the head) L + 1.
function M.layer_of(task)
  local L = task.encoder.config.num_hidden_layers
  return function(name)
    if name:match("^encoder%.embeddings%.") then return 0 end
    local n = name:match("^encoder%.encoder%.layers%.(%d+)%.")
    if n then return tonumber(n) + 1 end
    if name:match("^encoder%.pooler%.") then return L end
    if name:match("^encoder%.") then return L end
    return L + 1
  end, L + 1
end

-- ---- options ----

local SPEC = {
  epochs = "integer", batch_size = "integer", lr = "number", strategy = "table", grad_accum = "integer",
  clip = "number", eval_interval = "integer", eval_batch_size = "integer", log_interval = "integer",
  patience = "integer", seed = "integer", max_seq_len = "integer", threads = "integer", checkpoint_dir = "string",
  save_interval = "integer", keep_checkpoints = "integer", cache = "boolean|string", progress = "boolean",
  quiet = "boolean", stop_after = "integer", eval_test = "boolean", on_eval = "function", device = "string",
  precision = "string",
}
local DEFAULTS = { epochs = 1, batch_size = 32, grad_accum = 1, clip = 1.0, eval_batch_size = 64, log_interval = 10,
                   seed = 1, threads = 0, keep_checkpoints = 2, progress = true, quiet = false, eval_test = true }

local function options(o)
  if o ~= nil and type(o) ~= "table" then core.argerror(3, "finetune", "an options table", type(o)) end
  o = core.check_options(o, SPEC, "finetune", 3)
  local r = {}
  for k, v in pairs(DEFAULTS) do r[k] = v end
  for k, v in pairs(o) do r[k] = v end
  for _, k in ipairs { "epochs", "batch_size", "grad_accum", "eval_batch_size", "log_interval", "keep_checkpoints" } do
    if r[k] < 1 then fail("finetune: option '%s' must be a positive integer, got %s", k, tostring(r[k])) end
  end
  for _, k in ipairs { "eval_interval", "save_interval", "patience", "stop_after" } do
    if r[k] ~= nil and r[k] < 1 then fail("finetune: option '%s' must be a positive integer, got %s", k, tostring(r[k])) end
  end
  if r.lr ~= nil and r.lr <= 0 then fail("finetune: option 'lr' must be positive, got %s", tostring(r.lr)) end
  if r.lr ~= nil and r.strategy ~= nil then fail("finetune: give 'lr' to the strategy, not to finetune, when 'strategy' is given") end
  if r.clip < 0 then fail("finetune: option 'clip' must be >= 0, got %s", tostring(r.clip)) end
  if r.precision ~= nil and r.precision ~= "f32" and r.precision ~= "bf16" and r.precision ~= "f16" then
    fail("finetune: option 'precision' must be 'f32', 'bf16' or 'f16', got '%s'", r.precision)
  end
  if r.strategy ~= nil and type(r.strategy.setup) ~= "function" then
    fail("finetune: option 'strategy' must be a strategy (hub.strategy.adamw{...}, ...), with a setup method")
  end
  return r
end

local function now() return tonumber(core.C.hub_os_time()) end

-- ---- the loop ----

local run_body

function M.run(task, ds, opts)
  if type(task) ~= "table" or type(task.forward_batch) ~= "function" then
    core.argerror(1, "finetune", "a task (hub.task.text_classification{...}, ...)", type(task))
  end
  local o = options(opts)
  if not o.precision or o.precision == "f32" then return run_body(task, ds, o) end
  return hub.autocast(o.precision, run_body, task, ds, o)
end

function run_body(task, ds, o)
  if o.threads > 0 then hub.set_num_threads(o.threads) end
  local say = o.quiet and function() end or function(fmt, ...) io.stderr:write(string.format(fmt, ...), "\n") end
  if o.max_seq_len then
    if o.max_seq_len < 3 or o.max_seq_len > task.encoder.config.max_position_embeddings then
      fail("finetune: max_seq_len must be in [3, %d], got %d", task.encoder.config.max_position_embeddings, o.max_seq_len)
    end
    rawset(task, "max_seq_len", o.max_seq_len)
  end
  task:check_dataset(ds, "finetune")
  task:place(o.device, "finetune") -- before the strategy builds its optimiser over the parameters
  local cache = o.cache
  if cache == nil then cache = true end
  local t_feat = now()
  local f = task:featurize(ds, { cache = cache })
  if f.train.n == 0 then fail("finetune: the data set %s has no training examples", tostring(ds.name)) end
  say("finetune: %s: train %d, dev %d, test %d examples (max_seq_len %d, %d train texts cut; %.1f s)", tostring(ds.name),
    f.train.n, f.dev.n, f.test.n, task.max_seq_len, f.train.at_max_len, now() - t_feat)

  local nb = f.train:num_batches(o.batch_size)
  local per_epoch = math.ceil(nb / o.grad_accum)
  local total = per_epoch * o.epochs
  local ck, dir = hub.checkpoint, o.checkpoint_dir
  local fingerprint = { batch_size = o.batch_size, epochs = o.epochs, grad_accum = o.grad_accum, seed = o.seed,
                        train = f.train.n, max_seq_len = task.max_seq_len }
  -- the starting weights (before a checkpoint is loaded over them): a checkpoint_dir of a run that
  -- started from another module or version must not be resumed with these
  do
    local p = task.encoder and task.encoder.parameters and task.encoder:parameters()[1]
    if p then
      local s = hub.no_grad(function() return p:to("f64"):sum():item() end)
      fingerprint.init = string.format("%.9g", s)
    end
  end

  -- fresh start: seed, then the strategy (its optimiser over the trainable parameters)
  local latest = dir and ck.latest(dir)
  if not latest then hub.manual_seed(o.seed) end
  task:train()
  local named = M.trainable(task)
  if #named == 0 then fail("finetune: the task has no trainable parameters") end
  local layer_of, num_layers = M.layer_of(task)
  local strategy = o.strategy or M.default_strategy(o.lr)
  local s = strategy:setup(task, { total_steps = total, named_parameters = named, layer_of = layer_of, num_layers = num_layers })
  if type(s) ~= "table" or type(s.optimizer) ~= "table" then fail("finetune: the strategy's setup returned no optimizer") end
  local opt = s.optimizer

  local step, epoch, pos = 0, 0, 0
  local best = { value = nil, step = nil, metrics = nil }
  local bad, stopped, done = 0, false, false
  local history = {}
  local lstate
  if latest then
    local r = ck.load(latest, { model = task, optimizer = opt })
    local st = r.state
    lstate = st
    for k, v in pairs(fingerprint) do
      if st.fingerprint and st.fingerprint[k] ~= nil and st.fingerprint[k] ~= v then
        if k == "init" then
          fail("finetune: %s holds a run that started from other encoder weights (another module or version): use another checkpoint_dir or remove it", dir)
        end
        fail("finetune: %s holds a run with %s = %s, this one has %s: use another checkpoint_dir or remove it",
          dir, k, tostring(st.fingerprint[k]), tostring(v))
      end
    end
    step, epoch, pos = r.step, st.epoch, st.pos
    best = st.best or best
    bad, stopped, done = st.bad or 0, st.stopped == true, st.done == true
    history = st.history or {}
    if s.load_state_dict and st.strategy then s:load_state_dict(st.strategy) end
    say("finetune: resumed from %s (step %d of %d, epoch %d)", latest, step, total, epoch + 1)
  end
  local logf = dir and hub.jsonl(dir .. "/metrics.jsonl", { resume_step = step }) or nil
  local function log(t) if logf then logf:write(t) end end
  if latest then log { event = "resume", step = step, from = latest }
  elseif logf then
    log { event = "start", step = 0, task = task.task_name, data = tostring(ds.name), train = f.train.n, dev = f.dev.n,
          test = f.test.n, total_steps = total, options = fingerprint, main_metric = task.main_metric,
          parameters = task:num_parameters() }
  end

  local main = task.main_metric
  -- the training loss summed since the last log line (in the checkpoint, so that the line after
  -- a resume averages the same updates)
  local acc_loss, acc_n = 0, 0
  if latest and lstate and lstate.log then acc_loss, acc_n = lstate.log[1], lstate.log[2] end
  local snapshot -- the best weights, kept in memory when there is no checkpoint_dir
  local function save(final)
    if not dir then return end
    ck.save(dir, { model = task, optimizer = opt, step = step, keep = o.keep_checkpoints,
      state = { epoch = epoch, pos = pos, best = best, bad = bad, stopped = stopped, done = final == true,
                history = history, fingerprint = fingerprint, log = { acc_loss, acc_n }, strategy = s.state_dict and s:state_dict() or {} } })
  end
  local pbar
  local function note(line) if pbar then pbar:write(line) else say("%s", line) end end
  local function evaluate()
    if f.dev.n == 0 then return end
    local t0 = now()
    local m = task:evaluate(f.dev, { batch_size = o.eval_batch_size })
    history[#history + 1] = { step = step, epoch = epoch, metrics = m }
    local rec = { step = step, event = "eval", split = "dev", seconds = now() - t0 }
    for k, v in pairs(m) do rec["dev_" .. k] = v end
    log(rec)
    local v = m[main]
    local better = v ~= nil and v == v and (best.value == nil or v > best.value)
    note(string.format("finetune: step %d dev %s %.4f loss %.4f%s", step, main, v or 0 / 0, m.loss,
      better and " (best)" or string.format(" (best %.4f at step %d)", best.value or 0 / 0, best.step or 0)))
    if better then
      best = { value = v, step = step, metrics = m }
      bad = 0
      if dir then ck.save(dir, { model = task, step = step, tag = "best", state = { metrics = m } })
      else snapshot = {}; for k, t in pairs(task:state_dict()) do snapshot[k] = t:clone() end end
    else
      bad = bad + 1
      if o.patience and bad >= o.patience then
        stopped = true
        note(string.format("finetune: early stop at step %d: no gain in %s for %d evaluations", step, main, bad))
      end
    end
    -- on_eval(metrics, step, main_metric): false stops the run as early stopping does (a
    -- hyper-parameter search's tuner deciding to prune the trial)
    if o.on_eval and o.on_eval(m, step, main) == false and not stopped then
      stopped = true
      note(string.format("finetune: stopped at step %d (on_eval said stop)", step))
    end
  end

  local t_start = now()
  if not done and not stopped then
    pbar = o.progress and not o.quiet and hub.progress { total = total, desc = "finetune", unit = "step", initial = step,
                                                          order = { "epoch", "loss", "samples/s" } } or nil
    local stop_at = o.stop_after and math.min(total, step + o.stop_after) or total
    local acc_ex, t0 = 0, now()
    local order, order_epoch
    while step < stop_at and not stopped do
      if pos >= nb then epoch, pos = epoch + 1, 0 end
      if epoch >= o.epochs then break end
      if order_epoch ~= epoch then
        order, order_epoch = f.train:batch_order(o.batch_size, { seed = o.seed, epoch = epoch }), epoch
      end
      -- one update: up to grad_accum batches
      local group = math.min(o.grad_accum, nb - pos)
      if s.before_step then s:before_step(step) end
      opt:zero_grad()
      local loss_sum = 0
      for g = 1, group do
        local b = task:on_device(f.train:batch(order[pos + g]))
        local out = task:forward_batch(b)
        local loss = task:loss(out, b)
        local pen = s.penalty and s:penalty() or nil
        if pen then loss = loss + pen end
        local scaled = group > 1 and loss / group or loss
        scaled:backward()
        loss_sum = loss_sum + loss:item()
        acc_ex = acc_ex + b.size
      end
      pos = pos + group
      if o.clip > 0 then hub.optim.clip_grad_norm(opt:parameters(), o.clip) end
      local lr = opt:get_lr(1)
      opt:step()
      step = step + 1
      acc_loss, acc_n = acc_loss + loss_sum / group, acc_n + 1
      local epoch_end = pos >= nb
      if step % o.log_interval == 0 or step == stop_at or epoch_end then
        local dt = math.max(1e-9, now() - t0)
        local rec = { step = step, epoch = epoch + 1, loss = acc_loss / acc_n, lr = lr, samples_per_s = acc_ex / dt }
        log(rec)
        if pbar then pbar:set(step, { epoch = epoch + 1, loss = rec.loss, ["samples/s"] = math.floor(rec.samples_per_s + 0.5) })
        else say("finetune: step %d/%d epoch %d loss %.4f lr %.2e %.1f samples/s", step, total, epoch + 1, rec.loss, lr, rec.samples_per_s) end
        acc_loss, acc_n, acc_ex, t0 = 0, 0, 0, now()
      end
      local evaluated = false
      if (o.eval_interval and step % o.eval_interval == 0) or epoch_end then evaluate(); evaluated = true end
      if o.save_interval and step % o.save_interval == 0 or (not o.save_interval and evaluated) then
        if step < total and not stopped then save(false) end
      end
    end
    if pbar then pbar:close() end
    done = step >= total or stopped
    if done then save(true) end
  end
  if logf then logf:close() end
  local seconds = now() - t_start
  local run = { best = { metrics = best.metrics, step = best.step, value = best.value }, history = history, step = step,
                total_steps = total, epochs_done = epoch + (pos >= nb and 1 or 0), stopped_early = stopped, done = done,
                seconds = seconds, checkpoint_dir = dir, task = task, features = f }
  if not done then return run end
  -- the best model back into the task, then test
  if best.step then
    if dir then ck.load(dir .. "/best", { model = task, rng = false })
    elseif snapshot then task:load_state_dict(snapshot) end
  end
  run.dev = best.metrics
  if o.eval_test and f.test.n > 0 then
    run.test = task:evaluate(f.test, { batch_size = o.eval_batch_size })
    if dir then
      local lf = hub.jsonl(dir .. "/metrics.jsonl")
      local rec = { event = "test", step = best.step or step }
      for k, v in pairs(run.test) do rec["test_" .. k] = v end
      lf:write(rec)
      lf:close()
    end
    say("finetune: test %s %.4f (the best model: step %s)", main, run.test[main] or 0 / 0, tostring(best.step or step))
  end
  task:eval()
  if dir then pcall(M.plot, dir, main) end
  return run
end

-- Draws DIR/curves.png from DIR/metrics.jsonl: training loss (left) and the dev main metric (right).
function M.plot(dir, main)
  local sx, sl, ex, ev = {}, {}, {}, {}
  for _, v in ipairs(hub.jsonl.read(dir .. "/metrics.jsonl", { strict = false })) do
    if v.step and v.loss and not v.event then sx[#sx + 1], sl[#sl + 1] = v.step, v.loss end
    if v.event == "eval" and v["dev_" .. main] then ex[#ex + 1], ev[#ev + 1] = v.step, v["dev_" .. main] end
  end
  local series = { { name = "train loss", x = sx, y = sl } }
  if #ex > 0 then series[2] = { name = "dev " .. main, x = ex, y = ev, axis = "right" } end
  return hub.plot.lines { path = dir .. "/curves.png", title = "fine-tuning", xlabel = "step", series = series }
end

return setmetatable(M, { __call = function(_, ...) return M.run(...) end })
