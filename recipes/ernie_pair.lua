-- ernie_pair.lua: paraphrase matching on the LibreOffice help (hub.datasets.lohelp_pairs_zh: a zh-CN
-- paragraph with its zh-TW translation, or with another paragraph of its page) with ernie-tiny-zh.
-- --mode pointwise: the pair encoded together, softmax (text classification on pairs; acc);
-- --mode pairwise: siamese encoder, cosine, margin ranking loss on (paragraph, translation, other
-- paragraph) triples (ranking acc, AUC).  docs/finetune.md.
--   hubrun recipes/ernie_pair.lua [--mode pairwise] [--margin 0.1] [--max_train N] [--out runs/pair] [--help]
local hub = require "hub"
local a = hub.recipe.args(arg, { about = "Fine-tunes ernie-tiny-zh on lohelp_pairs_zh paraphrase matching (pointwise or pairwise).",
  lr = 2e-4, extra = { { "mode", "pointwise", "pointwise (joint encoder, softmax) or pairwise (siamese, margin ranking loss)" },
                       { "margin", 0.1, "pairwise: the margin of the ranking loss" } } })
local ds = hub.datasets.lohelp_pairs_zh()
if a.mode == "pairwise" and a.max_train > 0 then ds = require("hub.task.matching").subset(ds, a.max_train, a.seed); a.max_train = 0 end
ds = hub.recipe.data(ds, a)
hub.manual_seed(a.seed)
local task = hub.task.text_matching{ module = hub.recipe.encoder(a), max_seq_len = a.max_seq_len, mode = a.mode,
  margin = a.mode == "pairwise" and a.margin or nil, pooling = hub.recipe.pooling(a), truncation = a.truncation }
hub.recipe.report(hub.finetune(task, ds, hub.recipe.finetune_options(a)), a)
