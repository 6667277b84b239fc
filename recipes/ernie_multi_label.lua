-- ernie_multi_label.lua: which entity types a People's Daily sentence mentions (hub.datasets.
-- peoples_daily_entity_types: PER, LOC, ORG, TIME, any number, from the corpus's gold annotation)
-- with ernie-tiny-zh and a sigmoid head; prints dev and test micro F1.  docs/finetune.md.
--   hubrun recipes/ernie_multi_label.lua [--epochs 2] [--max_train N] [--out runs/ml] [--help]
local hub = require "hub"
local a = hub.recipe.args(arg, { about = "Fine-tunes ernie-tiny-zh on peoples_daily_entity_types (multi-label: PER/LOC/ORG/TIME).", lr = 2e-4 })
local ds = hub.recipe.data(hub.datasets.peoples_daily_entity_types(), a)
hub.manual_seed(a.seed)
local task = hub.task.multi_label_classification{ module = hub.recipe.encoder(a), max_seq_len = a.max_seq_len,
                                                  pooling = hub.recipe.pooling(a), truncation = a.truncation }
local run = hub.finetune(task, ds, hub.recipe.finetune_options(a))
hub.recipe.report(run, a)
