-- hub.finetune on a tiny random encoder and toy data (tests/lua/finetune_fixture.lua): each task
-- kind learns well above chance; the best model is the one put back; early stopping stops;
-- gradient accumulation runs; options are checked and errors name them; the built-in strategy's
-- learning rate follows warm-up and decay; layer_of maps parameter names to depths.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local F = require "finetune_fixture"
local ok = T.ok
local hub = require "hub"
local finetune = require "hub.finetune"

local quiet = { cache = false, progress = false, quiet = true }
local function opts(t) local o = {}; for k, v in pairs(quiet) do o[k] = v end; for k, v in pairs(t) do o[k] = v end; return o end

do
  local net, tk = F.encoder(1)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
  local run = hub.finetune(task, F.sentiment(), opts { epochs = 6, batch_size = 16, lr = 1e-2, eval_interval = 10 })
  ok(run.done and run.test and run.test.acc >= 0.9, "classification learns the toy sentiment (test acc >= 0.9)", run.test and run.test.acc)
  ok(run.dev.acc == run.best.metrics.acc, "run.dev is the best model's dev metrics")
  local again = task:evaluate(run.features.dev)
  ok(again.acc == run.best.metrics.acc, "the task holds the best model after the run", again.acc .. " vs " .. run.best.metrics.acc)
  ok(#run.history >= 6, "every evaluation is in run.history")
  ok(task:predict { "这个很好今天" }[1].label == "positive", "predict after fine-tuning")
end

do
  local net, tk = F.encoder(2)
  local task = hub.task.sequence_labeling { network = net, tokenizer = tk, max_seq_len = 24, crf = true }
  local run = hub.finetune(task, F.ner(), opts { epochs = 8, batch_size = 16, lr = 2e-2 })
  ok(run.test.f1 >= 0.5, "CRF sequence labelling learns the toy entities (test F1 >= 0.5)", run.test.f1)
end

do
  local net, tk = F.encoder(3)
  local task = hub.task.multi_label_classification { network = net, tokenizer = tk, max_seq_len = 24 }
  local run = hub.finetune(task, F.multi_label(), opts { epochs = 8, batch_size = 16, lr = 2e-2 })
  ok(run.test.micro_f1 >= 0.7, "multi-label learns (test micro F1 >= 0.7)", run.test.micro_f1)
end

do
  local net, tk = F.encoder(4)
  local task = hub.task.regression { network = net, tokenizer = tk, max_seq_len = 24 }
  local run = hub.finetune(task, F.regression(), opts { epochs = 8, batch_size = 16, lr = 1e-2, grad_accum = 2 })
  ok(run.test.spearman >= 0.2, "regression learns with grad_accum 2 (test Spearman >= 0.2, chance 0)", run.test.spearman)
end

-- early stopping: a learning rate of ~0 never improves after the first evaluation
do
  local net, tk = F.encoder(5)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
  local run = hub.finetune(task, F.sentiment(), opts { epochs = 5, batch_size = 16, lr = 1e-12, eval_interval = 1, patience = 2 })
  ok(run.stopped_early and run.step == 3, "patience 2: stops after two evaluations without a gain", run.step)
end

-- the built-in strategy: linear warm-up over 10%, then linear decay to 0
do
  local net, tk = F.encoder(6)
  local task = hub.task.text_classification { network = net, tokenizer = tk, labels = { "a", "b" } }
  local layer_of, n = finetune.layer_of(task)
  ok(n == 2 and layer_of("encoder.embeddings.word_embeddings.weight") == 0 and
     layer_of("encoder.encoder.layers.0.attn.qkv.weight") == 1 and layer_of("classifier.weight") == 2,
     "layer_of: embeddings 0, layer N -> N + 1, head L + 1")
  local s = finetune.builtin_default { lr = 1e-3 }:setup(task, { total_steps = 100, named_parameters = finetune.trainable(task),
    layer_of = layer_of, num_layers = n })
  local opt = s.optimizer
  local function lr_at(step) opt.step_count = step; return opt:get_lr(1) end
  ok(math.abs(lr_at(5) - 5e-4) < 1e-12 and math.abs(lr_at(10) - 1e-3) < 1e-12 and math.abs(lr_at(55) - 5e-4) < 1e-12,
    "built-in strategy: lr 5e-4 at step 5, 1e-3 at 10, 5e-4 at 55", lr_at(55))
  ok(opt.param_groups[2].weight_decay == 0, "no weight decay on biases and LayerNorm")
end

-- errors
do
  local net, tk = F.encoder(7)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24 }
  T.errors(function() hub.finetune(task, F.sentiment(), { epoch = 1 }) end, "epoch", "an unknown option is named")
  T.errors(function() hub.finetune(task, F.sentiment(), { batch_size = 0 }) end, "batch_size", "batch_size 0")
  T.errors(function() hub.finetune(task, F.ner(), quiet) end, "sequence data set", "a data set of the wrong kind")
  T.errors(function() hub.finetune(task, F.sentiment(), { strategy = {} }) end, "setup", "a strategy without setup")
  T.errors(function() hub.finetune({}, F.sentiment()) end, "task", "not a task")
end

T.finish()
