-- ernie_seq_label.lua: named entities of the People's Daily 1998 corpus (hub.datasets.
-- peoples_daily_ner: PER, LOC, ORG in BIO, sentence-cut) with ernie-tiny-zh and a CRF head;
-- prints dev and test entity F1 (seqeval's).  docs/finetune.md.
--   hubrun recipes/ernie_seq_label.lua [--epochs 2] [--max_train N] [--out runs/ner] [--help]
local hub = require "hub"
local a = hub.recipe.args(arg, { about = "Fine-tunes ernie-tiny-zh with a CRF on People's Daily NER (PER/LOC/ORG).", lr = 2e-4,
                                 head_lr = 50, without = { "truncation", "pooling", "export_format" } })
local ds = hub.recipe.data(hub.datasets.peoples_daily_ner{ sentences = true }, a)
hub.manual_seed(a.seed)
local task = hub.task.sequence_labeling{ module = hub.recipe.encoder(a), max_seq_len = a.max_seq_len, crf = true }
local run = hub.finetune(task, ds, hub.recipe.finetune_options(a))
hub.recipe.report(run, a)
