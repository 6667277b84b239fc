-- bench/finetune/export_split.lua: writes the exact examples recipes/ernie_cls.lua trains and
-- evaluates on, for hf_trainer.py (bench/finetune/run.sh; bench/README.md).
--
--   hubrun bench/finetune/export_split.lua --out DIR [--max_train N] [--max_eval N] [--seed S]
--
-- The data set goes through hub.recipe.data with the recipe's own options, so --max_train N
-- --seed S give the same stratified subset (ds:subset(N, S)) and --max_eval N the same dev and
-- test heads as `hubrun recipes/ernie_cls.lua --max_train N --max_eval N --seed S`.  DIR gets
-- train.jsonl, dev.jsonl and test.jsonl, one example a line in the recipe's order:
-- {"label":<0-based id>,"text_a":"..."} (and "text_b" for pair data), and labels.json (the label
-- names by id, the data set's name and the counts).
local hub = require "hub"
local json = require "hub.json"

local a = hub.recipe.args(arg, { about = "Writes reviews_zh's train (the recipe's subset), dev and test splits as JSON Lines into --out DIR." })
if a.out == "" then io.stderr:write("export_split.lua: --out DIR is required\n"); os.exit(2) end
local ds = hub.recipe.data(hub.datasets.reviews_zh(), a)

local C = hub.C
if C.hub_fs_mkdirs(a.out) ~= 0 then
  io.stderr:write("export_split.lua: cannot make ", a.out, "\n"); os.exit(1)
end

local function write(path, text)
  local f, err = io.open(path, "wb")
  if not f then io.stderr:write("export_split.lua: cannot write ", path, ": ", tostring(err), "\n"); os.exit(1) end
  f:write(text)
  f:close()
end

local counts = {}
for _, split in ipairs { "train", "dev", "test" } do
  local lines = {}
  for i, e in ipairs(ds[split]) do
    if type(e.label) ~= "number" then
      io.stderr:write(string.format("export_split.lua: %s example %d has no class id\n", split, i)); os.exit(1)
    end
    lines[i] = json.encode { text_a = e.text_a, text_b = e.text_b, label = e.label }
  end
  write(a.out .. "/" .. split .. ".jsonl", table.concat(lines, "\n") .. (#lines > 0 and "\n" or ""))
  counts[split] = #lines
end
write(a.out .. "/labels.json", json.encode { name = tostring(ds.name), kind = ds.kind, labels = ds.labels, counts = counts } .. "\n")
print(string.format("%s: train %d, dev %d, test %d examples -> %s", tostring(ds.name), counts.train, counts.dev, counts.test, a.out))
