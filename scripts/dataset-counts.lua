-- dataset-counts.lua: prints every labelled text data set of hub.datasets with its split sizes,
-- label counts and what its loader dropped (the figures of docs/datasets.md).
--
--   build/hubrun scripts/dataset-counts.lua              # all of them
--   build/hubrun scripts/dataset-counts.lua reviews_zh   # the named ones
--
-- The sources come from scripts/fetch-corpus.sh (into $HUB_DATA/corpus/raw).
local hub = require "hub"

local names = { "reviews_zh", "peoples_daily_ner", "peoples_daily_pos", "lohelp_topics_zh", "lohelp_pairs_zh" }
if arg and #arg > 0 then names = arg end
for _, name in ipairs(names) do
  local load = hub.datasets[name]
  if type(load) ~= "function" then error("unknown data set '" .. tostring(name) .. "'", 0) end
  print(load():describe())
  if name == "peoples_daily_ner" then print(hub.datasets.peoples_daily_ner { sentences = true }:describe()) end
end
