-- ernie_cls.lua: sentiment of Chinese reviews (hub.datasets.reviews_zh, negative / positive)
-- with ernie-tiny-zh fine-tuned end to end; prints dev and test accuracy (docs/finetune.md).
--   hubrun recipes/ernie_cls.lua [--epochs 2] [--max_train N] [--out runs/cls] [--export my-cls] [--help]
local hub = require "hub"
local a = hub.recipe.args(arg, { about = "Fine-tunes ernie-tiny-zh on reviews_zh sentiment (2 classes).", lr = 2e-4,
                                 pooling = "mean" })
local ds = hub.recipe.data(hub.datasets.reviews_zh(), a)
hub.manual_seed(a.seed)
local task = hub.task.text_classification{ module = hub.recipe.encoder(a), max_seq_len = a.max_seq_len,
                                            pooling = hub.recipe.pooling(a), truncation = a.truncation }
local run = hub.finetune(task, ds, hub.recipe.finetune_options(a))
hub.recipe.report(run, a)
