-- hub.pretrain: masked-language-model pretraining of an ERNIE/BERT encoder from a text corpus,
-- with ERNIE 1.0's knowledge masking (hub.pretrain.masking) over packed, LAC-segmented
-- sequences (hub.pretrain.data).  recipes/ernie_pretrain.lua is the short script around it.
--
--   local run = hub.pretrain.run{
--     model = { vocab_size = 10000, hidden_size = 312, num_hidden_layers = 4, ... },
--     vocab = "vocab.txt", train = "corpus/train.txt", heldout = "corpus/heldout.txt",
--     out = "runs/ernie-tiny-zh", steps = 6000, batch_size = 32, lr = 5e-4 }
--
-- ERNIE 1.0's curriculum: the first `basic_steps` steps mask single tokens (basic-level
-- masking), the rest whole words and entities (knowledge masking); held-out evaluation always
-- uses knowledge masking.
--
-- The loop: AdamW (no decay on biases and LayerNorm), linear warm-up then linear decay,
-- gradient clipping; every step one batch of `batch_size` sequences in an order shuffled per
-- epoch from the seed, masked afresh per epoch.  Every `log_every` steps a line goes to
-- OUT/metrics.jsonl (step, loss, MLM accuracy, learning rate, gradient norm, tokens/s) and to
-- the progress display; every `eval_every` steps the held-out MLM loss and accuracy (fixed
-- masks) are measured and logged; every `checkpoint_every` steps the whole training state
-- (weights, optimiser, RNG, epoch and position) is written atomically under OUT/checkpoints,
-- and a run started again with the same OUT resumes from the latest one and continues
-- bit-identically (the masks are a function of seed, epoch and sequence; dropout's stream is
-- in the checkpoint).  At the end OUT/model.safetensors holds the weights and OUT/curves.png
-- the loss and accuracy curves.
local hub = require "hub"
local core = require "hub.core"
local data = require "hub.pretrain.data"
local masking = require "hub.pretrain.masking"
local ernie = require "hub.models.ernie"

local M = { data = data, masking = masking }

local fail = require("hub.core").failf

local DEFAULTS = {
  steps = 1000, batch_size = 32, max_seq_len = 128, lr = 5e-4, warmup = 0.06, weight_decay = 0.01,
  clip = 1.0, seed = 1, mask_ratio = 0.15, log_every = 20, eval_every = 500,
  eval_sequences = 1024, eval_batch_size = 64, checkpoint_every = 200, keep_checkpoints = 2, threads = 0,
  progress = true, quiet = false, basic_steps = 0,
}
local SPEC = {
  model = "table", vocab = "string", train = "string", heldout = "string", out = "string", steps = "integer",
  batch_size = "integer", max_seq_len = "integer", lr = "number", warmup = "number", weight_decay = "number",
  clip = "number", betas = "table", seed = "integer", mask_ratio = "number", log_every = "integer",
  eval_every = "integer", eval_sequences = "integer", eval_batch_size = "integer", checkpoint_every = "integer",
  keep_checkpoints = "integer", threads = "integer", lac = "table", progress = "boolean", stop_after = "integer|boolean",
  quiet = "boolean", basic_steps = "integer", init = "string",
}

local function options(o)
  if type(o) ~= "table" then fail("pretrain.run: expected an options table") end
  core.check_options(o, SPEC, "pretrain.run", 1)
  local r = {}
  for k, v in pairs(DEFAULTS) do r[k] = v end
  for k, v in pairs(o) do r[k] = v end
  for _, k in ipairs { "model", "vocab", "train", "out" } do
    if not r[k] then fail("pretrain.run: option '%s' is required", k) end
  end
  for _, k in ipairs { "steps", "batch_size", "max_seq_len", "log_every", "eval_every", "checkpoint_every" } do
    if r[k] < 1 then fail("pretrain.run: '%s' must be a positive integer, got %s", k, tostring(r[k])) end
  end
  return r
end

local function mkdirs(p) hub.C.hub_fs_mkdirs(p) end

-- Masked-LM loss and accuracy of `model` over `seqs` with fixed masks (epoch 0 of `seed`).
function M.evaluate(model, seqs, o)
  local mo = { seed = o.seed, epoch = 0, vocab_size = o.vocab_size, mask_id = o.mask_id, special_ids = o.special_ids,
               first_normal = o.first_normal, ratio = o.ratio }
  local n = math.min(seqs.n, o.max_sequences or seqs.n)
  local bs = o.batch_size or 64
  local was = model.training
  model:eval()
  local loss_sum, correct, count = 0, 0, 0
  hub.no_grad(function()
    for s = 1, n, bs do
      local idx = {}
      for i = s, math.min(n, s + bs - 1) do idx[#idx + 1] = i end
      local b = masking.batch(seqs, idx, mo)
      if b.n_masked > 0 then
        local out = model:forward { input_ids = b.input_ids, attention_mask = b.attention_mask }
        local logits = model:mlm_logits(out.sequence_output, b.positions)
        loss_sum = loss_sum + hub.cross_entropy(logits, b.labels):item() * b.n_masked
        local pred, lab = logits:argmax(-1):totable(), b.labels:totable()
        for i = 1, #lab do if pred[i] == lab[i] then correct = correct + 1 end end
        count = count + b.n_masked
      end
    end
  end)
  if was then model:train() end
  return { loss = loss_sum / math.max(1, count), acc = correct / math.max(1, count), tokens = count }
end

local function now() return tonumber(hub.C.hub_os_time()) end

function M.run(o)
  o = options(o)
  if o.threads > 0 then hub.set_num_threads(o.threads) end
  mkdirs(o.out)
  local say = o.quiet and function() end or function(...) io.stderr:write(string.format(...), "\n") end
  local tk = hub.tokenizer.wordpiece { vocab = o.vocab, lower = true }
  local special = {}
  for _, t in ipairs { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" } do
    local id = tk:token_to_id(t)
    if not id then fail("pretrain: %s has no %s token", o.vocab, t) end
    special[#special + 1] = id
  end
  local first_normal = 0
  for _, id in ipairs(special) do first_normal = math.max(first_normal, id + 1) end
  local cfg = {}
  for k, v in pairs(o.model) do cfg[k] = v end
  cfg.vocab_size = cfg.vocab_size or tk.vocab_size
  cfg.mlm_head = true
  if cfg.vocab_size < tk.vocab_size then fail("pretrain: vocab_size %d is smaller than %s (%d tokens)", cfg.vocab_size, o.vocab, tk.vocab_size) end
  cfg.pad_token_id = special[1]

  -- data (segmented once, cached next to the run)
  local lac = o.lac
  local function get_lac()
    if not lac then lac = hub.lac.load() end
    return lac
  end
  mkdirs(o.out .. "/cache")
  local function prep(path, name)
    local cache = o.out .. "/cache/" .. name .. ".safetensors"
    local ok, s = pcall(data.prepare, { corpus = path, tokenizer = tk, max_seq_len = o.max_seq_len, cache = cache,
      lac = { tag_chars = function(_, texts, opts) return get_lac():tag_chars(texts, opts) end }, progress = o.progress })
    if not ok then error(s, 0) end
    say("pretrain: %s: %d sequences of at most %d tokens (%d documents, %d sentences, %d tokens, %d units%s)", name,
      s.n, o.max_seq_len, s.stats.documents or 0, s.stats.sentences or 0, s.stats.tokens or 0, s.stats.units or 0,
      s.cached and ", cached" or "")
    return s
  end
  local train = prep(o.train, "train")
  local held = o.heldout and prep(o.heldout, "heldout") or nil

  -- model and optimiser
  hub.manual_seed(o.seed)
  local model = ernie.init_weights(ernie.new(cfg))
  -- init = a safetensors file of an earlier run's weights (e.g. the committed ernie-tiny-zh):
  -- continued pretraining from them (a fresh optimiser and schedule); missing ones (the pooler)
  -- keep their initialisation
  if o.init then
    local ok, err = pcall(function() return model:load_state_dict(hub.load(o.init), { strict = false }) end)
    if not ok then fail("pretrain: init %s: %s", o.init, tostring(err)) end
    say("pretrain: weights from %s", o.init)
  end
  model:train()
  local opt = hub.optim.AdamW(model, { lr = o.lr, weight_decay = o.weight_decay, betas = o.betas,
    no_decay = { "bias", "norm" }, schedule = hub.lr.linear { warmup = o.warmup, total = o.steps } })
  local mo = { seed = o.seed, vocab_size = cfg.vocab_size, mask_id = special[5], special_ids = special,
               first_normal = first_normal, ratio = o.mask_ratio }
  local eo = { seed = o.seed + 7919, vocab_size = cfg.vocab_size, mask_id = special[5], special_ids = special,
               first_normal = first_normal, ratio = o.mask_ratio, max_sequences = o.eval_sequences,
               batch_size = o.eval_batch_size }

  -- resume
  local ckdir = o.out .. "/checkpoints"
  local ck = hub.checkpoint
  local step, epoch, pos = 0, 0, 0
  local latest = ck and ck.latest(ckdir)
  if latest then
    local st = ck.load(latest, { model = model, optimizer = opt })
    step, epoch, pos = st.step, st.state.epoch, st.state.pos
    say("pretrain: resumed from %s (step %d, epoch %d)", latest, step, epoch)
  end
  local logf = hub.jsonl(o.out .. "/metrics.jsonl", { resume_step = step })
  local function log(t) logf:write(t) end
  if latest then log { event = "resume", step = step, from = latest } end
  if step == 0 then
    log { event = "start", step = 0, config = cfg, options = { steps = o.steps, batch_size = o.batch_size, lr = o.lr,
      warmup = o.warmup, weight_decay = o.weight_decay, clip = o.clip, seed = o.seed, max_seq_len = o.max_seq_len,
      basic_steps = o.basic_steps },
      train_sequences = train.n, heldout_sequences = held and held.n or 0, parameters = model:num_parameters() }
    if held then
      local e = M.evaluate(model, held, eo)
      log { step = 0, eval_loss = e.loss, eval_acc = e.acc, eval_tokens = e.tokens }
      say("pretrain: untrained network: held-out MLM loss %.4f, accuracy %.4f (%d masked tokens)", e.loss, e.acc, e.tokens)
    end
  end

  local order = masking.epoch_order(train.n, o.seed, epoch)
  local per_epoch = math.floor(train.n / o.batch_size)
  if per_epoch < 1 then fail("pretrain: %d sequences are fewer than one batch of %d", train.n, o.batch_size) end
  local pbar = o.progress and hub.progress { total = o.steps, desc = "pretrain", unit = "step", initial = step,
                                             order = { "loss", "acc", "tok/s" } } or nil
  local acc_loss, acc_right, acc_n, acc_tok, t0 = 0, 0, 0, 0, now()
  local stop_at = o.stop_after and math.min(o.steps, step + o.stop_after) or o.steps
  while step < stop_at do
    if pos + o.batch_size > per_epoch * o.batch_size then
      epoch, pos = epoch + 1, 0
      order = masking.epoch_order(train.n, o.seed, epoch)
    end
    local idx = {}
    for i = pos + 1, pos + o.batch_size do idx[#idx + 1] = order[i] end
    mo.epoch = epoch
    mo.basic = step < o.basic_steps
    local b = masking.batch(train, idx, mo)
    local out = model:forward { input_ids = b.input_ids, attention_mask = b.attention_mask }
    local logits = model:mlm_logits(out.sequence_output, b.positions)
    local loss = hub.cross_entropy(logits, b.labels)
    opt:zero_grad()
    loss:backward()
    local gn = hub.optim.clip_grad_norm(model, o.clip)
    local lr_now = opt:get_lr(1)
    opt:step()
    step, pos = step + 1, pos + o.batch_size

    local lv = loss:item()
    local pred, lab = hub.no_grad(function() return logits:argmax(-1) end):totable(), b.labels:totable()
    for i = 1, #lab do if pred[i] == lab[i] then acc_right = acc_right + 1 end end
    acc_loss, acc_n = acc_loss + lv * #lab, acc_n + #lab
    acc_tok = acc_tok + b.attention_mask:sum():item()
    if step % o.log_every == 0 or step == stop_at then
      local dt = math.max(1e-9, now() - t0)
      local rec = { step = step, epoch = epoch, loss = acc_loss / acc_n, acc = acc_right / acc_n, lr = lr_now,
                    grad_norm = type(gn) == "number" and gn or nil, tokens_per_s = acc_tok / dt }
      log(rec)
      if pbar then pbar:set(step, { loss = rec.loss, acc = rec.acc, ["tok/s"] = math.floor(rec.tokens_per_s) })
      else say("pretrain: step %d/%d  loss %.4f  acc %.4f  lr %.2e  %.0f tok/s", step, o.steps, rec.loss, rec.acc, lr_now, rec.tokens_per_s) end
      acc_loss, acc_right, acc_n, acc_tok, t0 = 0, 0, 0, 0, now()
    end
    if held and (step % o.eval_every == 0 or step == o.steps) then
      local e = M.evaluate(model, held, eo)
      log { step = step, eval_loss = e.loss, eval_acc = e.acc, eval_tokens = e.tokens }
      local line = string.format("pretrain: step %d held-out MLM loss %.4f accuracy %.4f", step, e.loss, e.acc)
      if pbar then pbar:write(line) else say("%s", line) end
    end
    if ck and (step % o.checkpoint_every == 0 or step == o.steps) then
      ck.save(ckdir, { model = model, optimizer = opt, step = step, state = { epoch = epoch, pos = pos },
                       keep = o.keep_checkpoints })
    end
  end
  if pbar then pbar:close() end
  logf:close()
  if step >= o.steps then
    hub.save(o.out .. "/model.safetensors", model:state_dict(), { metadata = { format = "hubrun", model = "ernie" } })
    local f = assert(io.open(o.out .. "/config.json", "wb"))
    f:write(require("cjson").encode(cfg), "\n")
    f:close()
    if hub.plot then pcall(M.plot, o.out) end
  end
  return { step = step, model = model, out = o.out, done = step >= o.steps }
end

-- Draws OUT/curves.png from OUT/metrics.jsonl (training loss, training and held-out accuracy).
function M.plot(out)
  local sx, sl, sa, ex, ea = {}, {}, {}, {}, {}
  for _, v in ipairs(hub.jsonl.read(out .. "/metrics.jsonl", { strict = false })) do
    if v.step then
      if v.loss then sx[#sx + 1], sl[#sl + 1], sa[#sa + 1] = v.step, v.loss, v.acc end
      if v.eval_acc then ex[#ex + 1], ea[#ea + 1] = v.step, v.eval_acc end
    end
  end
  return hub.plot.lines { path = out .. "/curves.png", title = "masked-LM pretraining", xlabel = "step",
    series = { { name = "train loss", x = sx, y = sl }, { name = "train acc", x = sx, y = sa, axis = "right" },
               { name = "held-out acc", x = ex, y = ea, axis = "right" } } }
end

-- export{ run = OUT, dir = "modules/ernie-tiny-zh", dtype = "f16", pooler = false } -> dir: the
-- finished run's weights as a module's model.safetensors (in dtype; the pooler, which masked-LM
-- pretraining never trains, left out unless pooler = true) and config.json (the encoder's
-- config), written atomically.  scripts/build-registry.sh packs that directory, with the vocab
-- and modules/ernie/module.lua, into the ernie-tiny-zh module.
function M.export(o)
  o = core.check_options(o, { run = "string", dir = "string", dtype = "string", pooler = "boolean" }, "pretrain.export", 1)
  if not o.run or not o.dir then fail("pretrain.export: 'run' and 'dir' are required") end
  local dtype = o.dtype or "f16"
  local f = io.open(o.run .. "/config.json", "rb")
  if not f then fail("pretrain.export: %s/config.json not found (has the run finished?)", o.run) end
  local cfg = require("cjson").decode(f:read("*a"))
  f:close()
  local w = hub.load(o.run .. "/model.safetensors")
  local out = {}
  for k, t in pairs(w) do
    if o.pooler or not k:match("^pooler%.") then out[k] = t:to(dtype) end
  end
  cfg.pooler = o.pooler == true
  mkdirs(o.dir)
  hub.save(o.dir .. "/model.safetensors", out, { metadata = { format = "hubrun", model = "ernie", source = "hub.pretrain " .. o.run } })
  local text = require("hub.json").encode(cfg, { indent = "  " }) .. "\n"
  if hub.C.hub_fs_write_file(o.dir .. "/config.json", text, #text) ~= 0 then fail("pretrain.export: %s", core.last_error()) end
  return o.dir
end

return M
