-- ernie_regression.lua: how many named entities (PER, LOC, ORG) a People's Daily sentence holds
-- (hub.datasets.peoples_daily_entity_count, from the corpus's gold annotation) with ernie-tiny-zh
-- and a linear head (MSE); prints dev and test Spearman.  docs/finetune.md.
--   hubrun recipes/ernie_regression.lua [--epochs 2] [--max_train N] [--out runs/reg] [--help]
local hub = require "hub"
local a = hub.recipe.args(arg, { about = "Fine-tunes ernie-tiny-zh on peoples_daily_entity_count (regression: entities per sentence).", lr = 2e-4 })
local ds = hub.recipe.data(hub.datasets.peoples_daily_entity_count(), a)
hub.manual_seed(a.seed)
local task = hub.task.regression{ module = hub.recipe.encoder(a), max_seq_len = a.max_seq_len,
                                  pooling = hub.recipe.pooling(a), truncation = a.truncation }
local run = hub.finetune(task, ds, hub.recipe.finetune_options(a))
hub.recipe.report(run, a)
