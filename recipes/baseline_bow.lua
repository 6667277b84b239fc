-- baseline_bow.lua: the non-neural baselines of the fine-tune proof (docs/finetune.md):
-- a bag-of-characters logistic regression on reviews_zh (--task cls) or per-character window
-- features with a softmax on People's Daily NER (--task ner); prints dev and test scores as the
-- ernie recipes do.
--   hubrun recipes/baseline_bow.lua --task cls|ner [--max_train N] [--epochs E] [--seed S] [--help]
local hub = require "hub"
local a = hub.recipe.args(arg, { about = "Bag-of-characters / window-feature linear baselines (hub.baseline).",
  extra = { { "task", "cls", "cls: reviews_zh sentiment; ner: People's Daily NER" } }, epochs = 0, lr = 0 })
if a.task ~= "cls" and a.task ~= "ner" then io.stderr:write("baseline_bow.lua: --task must be cls or ner, got '", a.task, "'\n"); os.exit(2) end
if a.threads > 0 then hub.set_num_threads(a.threads) end
local ds = hub.recipe.data(a.task == "cls" and hub.datasets.reviews_zh() or hub.datasets.peoples_daily_ner{ sentences = true }, a)
local o = { seed = a.seed, epochs = a.epochs > 0 and a.epochs or nil, lr = a.lr > 0 and a.lr or nil }
local r = a.task == "cls" and hub.baseline.classify(ds, o) or hub.baseline.tag(ds, o)
local m = r.main_metric
print(string.format("dev %s %.4f  test %s %.4f  (%d features, %d train examples, %.0f s)", m, r.dev[m], m, r.test[m], r.features, #ds.train, r.seconds))
if a.predictions ~= "" then
  if a.task ~= "cls" then io.stderr:write("baseline_bow.lua: --predictions is for --task cls\n"); os.exit(2) end
  hub.recipe.write_predictions(a.predictions, ds.test, r.predict(ds.test))
end
