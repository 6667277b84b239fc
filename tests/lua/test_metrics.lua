-- test_metrics.lua - hub.metrics against hand-computed values and against scikit-learn, scipy
-- and seqeval.
--
-- The library outputs are in tests/fixtures/metrics.json, made by scripts/gen_metrics_fixture.py
-- (sklearn.metrics.precision_recall_fscore_support for single- and multi-label classification,
-- scipy.stats.pearsonr / spearmanr / rankdata, sklearn's mean_squared_error /
-- mean_absolute_error, and seqeval 1.2.2's get_entities, precision_recall_fscore_support,
-- classification_report and accuracy_score on random BIO and BIOES sentences, including
-- ill-formed ones: I- after O, type changes inside a chunk, E/S tags).  Both sides compute in
-- double precision from the same numbers, so values must agree within 1e-12 (summation order
-- only); counts, ranks and entity spans exactly.  The hand-computed cases are worked out in the
-- comments next to them.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local cjson = require "cjson"
local m = hub.metrics

local function near(a, b, tol) return math.abs(a - b) <= (tol or 1e-12) end
local function all_near(a, b, tol)
  if #a ~= #b then return false end
  for i = 1, #a do if not near(a[i], b[i], tol) then return false end end
  return true
end

-- ---- hand-computed ----
-- binary: pred 1 0 1 1 0 1, labels 1 1 0 1 0 0: TP = 2 (positions 1, 4), 4 predicted, 3 true:
-- P = 1/2, R = 2/3, F1 = 2 (1/2)(2/3) / (7/6) = 4/7
do
  local r = m.precision_recall_f1({ 1, 0, 1, 1, 0, 1 }, { 1, 1, 0, 1, 0, 0 })
  ok(near(r.precision, 0.5) and near(r.recall, 2 / 3) and near(r.f1, 4 / 7) and r.support == 3, "binary P/R/F1 by hand")
  ok(near(m.f1({ 1, 0, 1, 1, 0, 1 }, { 1, 1, 0, 1, 0, 0 }, { pos_label = 0 }), 2 * (1 / 2) * (1 / 3) / (5 / 6)),
    "binary with pos_label 0: P = 1/2, R = 1/3")
  -- logits [N, 2] give the same as their argmax
  local logits = hub.tensor({ { 0, 1 }, { 2, 1 }, { -1, 3 }, { 0.1, 0.2 }, { 5, 0 }, { 0, 0.5 } })
  ok(near(m.f1(logits, hub.tensor({ 1, 1, 0, 1, 0, 0 }, "i64")), 4 / 7), "binary F1 from logits and an i64 tensor")
end
-- multiclass: pred 0 1 2 2, labels 0 2 2 1: class 0 (tp 1, pred 1, true 1) -> 1, 1, 1;
-- class 1 (0, 1, 1) -> 0, 0, 0; class 2 (1, 2, 2) -> 1/2, 1/2, 1/2.  macro F1 = 1.5 / 3 = 1/2;
-- micro = accuracy = 2/4; weighted F1 = (1*1 + 1*0 + 2*0.5) / 4 = 1/2; macro P = 1.5/3
do
  local p, y = { 0, 1, 2, 2 }, { 0, 2, 2, 1 }
  local mac = m.precision_recall_f1(p, y, { average = "macro" })
  ok(near(mac.f1, 0.5) and near(mac.precision, 0.5) and near(mac.recall, 0.5), "macro by hand")
  ok(near(m.f1(p, y, { average = "micro" }), m.accuracy(p, y)), "micro F1 = accuracy")
  ok(near(m.f1(p, y, { average = "weighted" }), 0.5), "weighted by hand")
  local none = m.precision_recall_f1(p, y, { average = "none" })
  ok(T.same(none.labels, { 0, 1, 2 }) and all_near(none.f1, { 1, 0, 0.5 }) and T.same(none.support, { 1, 1, 2 }),
    "per class by hand")
  ok(near(m.precision(p, y, { average = "macro" }), 0.5) and near(m.recall(p, y, { average = "macro" }), 0.5),
    "precision and recall shortcuts")
end
-- multi-label: probs {.9 .2}{.6 .7}, targets {1 0}{0 1}: predicted {1 0}{1 1}; micro: tp 2, pred 3,
-- true 2 -> P 2/3, R 1, F1 0.8; label 0: P 1/2 R 1 F 2/3, label 1: 1 1 1 -> macro F1 5/6
do
  local probs, tg = { { 0.9, 0.2 }, { 0.6, 0.7 } }, { { 1, 0 }, { 0, 1 } }
  local r = m.multilabel_precision_recall_f1(probs, tg)
  ok(near(r.precision, 2 / 3) and near(r.recall, 1) and near(r.f1, 0.8), "multi-label micro by hand")
  ok(near(m.multilabel_f1(probs, tg, { average = "macro" }), 5 / 6), "multi-label macro by hand")
  local logits = hub.tensor({ { 2.2, -1.4 }, { 0.4, 0.85 } })
  ok(near(m.multilabel_f1(logits, hub.tensor(tg), { logits = true }), 0.8), "multi-label from logits (threshold 0.5 -> 0)")
  ok(near(m.multilabel_f1(probs, tg, { threshold = 0.65 }), 1), "threshold 0.65: predicted {1 0}{0 1} = the targets")
  ok(near(m.multilabel_f1(probs, tg, { threshold = 0.6 }), 0.8), "the threshold itself counts as positive (>=)")
end
-- regression: x 1 2 3, y 1 2 4: r = 3 / sqrt(2 * 42/9) = 9 / sqrt(84); ranks with ties
do
  ok(near(m.pearson({ 1, 2, 3 }, { 1, 2, 4 }), 9 / math.sqrt(84)), "pearson by hand")
  ok(T.same(m.rank({ 3, 1, 2, 2, 7 }), { 4, 1, 2.5, 2.5, 5 }), "average ranks for ties")
  -- ranks {1 2.5 2.5 4} and {1 3 2 4}: r = 4.5 / sqrt(4.5 * 5)
  ok(near(m.spearman({ 1, 2, 2, 3 }, { 1, 3, 2, 4 }), 4.5 / math.sqrt(22.5)), "spearman with ties by hand")
  ok(near(m.spearman({ 1, 2, 3, 4 }, { 1, 4, 9, 16 }), 1), "spearman of a monotone map is 1")
  ok(near(m.mse({ 1, 2 }, { 2, 4 }), 2.5) and near(m.mae({ 1, 2 }, { 2, 4 }), 1.5), "mse and mae by hand")
  ok(near(m.mse(hub.tensor({ { 1, 2 }, { 3, 4 } }), hub.tensor({ { 1, 2 }, { 3, 6 } })), 1), "mse of 2-d tensors")
  local c = m.pearson({ 1, 1, 1 }, { 1, 2, 3 })
  ok(c ~= c, "pearson of a constant is NaN (as scipy)")
end
-- entities: I- after O starts a chunk, a type change inside a chunk splits it
do
  local function ents(seq)
    local out = {}
    for _, c in ipairs(m.get_entities(seq)) do out[#out + 1] = c.type .. ":" .. c.start .. "-" .. c["end"] end
    return table.concat(out, " ")
  end
  ok(ents { "B-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC" } == "PER:1-2 LOC:4-4 ORG:5-5 LOC:6-6", "BIO chunking by hand")
  ok(ents { "I-PER", "I-PER", "B-PER", "B-PER" } == "PER:1-2 PER:3-3 PER:4-4", "I-I is one chunk, B-B two")
  ok(ents { "B-PER", "E-PER", "S-LOC", "E-LOC", "O", "E-ORG" } == "PER:1-2 LOC:3-3 LOC:4-4 ORG:6-6", "BIOES chunking by hand")
  ok(ents { "O", "O" } == "" and ents {} == "", "no entities")
  -- gold PER, LOC; predicted PER, ORG: P = R = F1 = 1/2; macro over PER, LOC, ORG = 1/3; tokens 3/4
  local s = m.entity_scores({ { "B-PER", "I-PER", "O" }, { "B-LOC" } }, { { "B-PER", "I-PER", "O" }, { "I-ORG" } })
  ok(near(s.f1, 0.5) and near(s.precision, 0.5) and near(s.recall, 0.5) and s.support == 2 and s.correct == 1
    and s.predicted == 2, "entity micro scores by hand")
  ok(near(s.macro.f1, 1 / 3) and near(s.per_type.PER.f1, 1) and s.per_type.ORG.support == 0 and T.same(s.types, { "LOC", "ORG", "PER" }),
    "entity macro and per-type scores by hand")
  ok(near(s.accuracy, 0.75), "token accuracy by hand")
  -- tag ids (a CRF decode with -1 padding; gold -100 padding) with a label list
  local labels = { "O", "B-PER", "I-PER" }
  local gold = hub.tensor({ { 1, 2, 0, -100 }, { 1, 0, -100, -100 } }, "i64")
  local pred = hub.tensor({ { 1, 2, 0, -1 }, { 2, 0, -1, -1 } }, "i64")
  local si = m.entity_scores(gold, pred, { labels = labels })
  ok(near(si.f1, 1) and near(si.accuracy, 0.8), "ids with labels: I-PER opening a sentence is an entity; padding dropped")
  local sl = m.entity_scores({ { 1, 2, 0, 0 } }, { { 1, 2, 2, 2 } }, { labels = labels, lengths = { 3 } })
  ok(near(sl.f1, 0) and near(sl.accuracy, 2 / 3), "lengths cut the sentences")
  ok(near(m.entity_f1({ "B-PER", "I-PER" }, { "B-PER", "I-PER" }), 1), "one sentence as a flat array")
end

-- ---- errors ----
T.errors(function() m.f1({ 1, 0 }, { 1 }) end, "2 predictions but 1 labels", "length mismatch")
T.errors(function() m.f1({}, {}) end, "no examples", "empty")
T.errors(function() m.f1({ 0, 1, 2 }, { 0, 1, 2 }) end, "average 'binary' needs 2 classes at most", "binary with 3 classes")
T.errors(function() m.f1({ 0, 2 }, { 0, 2 }) end, "pos_label 1 is not one of the classes 0, 2", "pos_label missing")
T.errors(function() m.f1({ 0, 1 }, { 0, 1 }, { average = "samples" }) end, "average must be one of", "bad average")
T.errors(function() m.f1({ 0, 1 }, { 0, 1 }, { averge = "macro" }) end, "unknown option 'averge'", "misspelt option")
T.errors(function() m.f1(hub.tensor({ 0.5, 0.2 }), { 0, 1 }) end, "1-d float predictions are ambiguous", "1-d float predictions")
T.errors(function() m.multilabel_f1({ { 0.1, 0.2 } }, { { 1 } }) end, "scores have 2 labels per row but targets 1", "multi-label widths")
T.errors(function() m.multilabel_f1({ { 0.1 } }, { { 2 } }) end, "targets[1][1] = 2 is not 0 or 1", "multi-label target 2")
T.errors(function() m.multilabel_f1({ { 0.1 } }, { { 1 } }, { threshold = 1 }) end, "threshold must be a number in (0, 1)", "threshold 1")
T.errors(function() m.multilabel_f1(hub.tensor({ 0.1 }), { { 1 } }) end, "scores must be 2-d", "1-d multi-label scores")
T.errors(function() m.pearson({ 1, 2 }, { 1, 2, 3 }) end, "2 x values but 3 y values", "pearson lengths")
T.errors(function() m.mse("a", { 1 }) end, "predictions must be a tensor or a Lua array", "mse of a string")
T.errors(function() m.entity_scores({ { "B-PER" } }, { { "B-PER", "O" } }) end, "sentence 1 has 1 gold tags but 2 predicted", "sentence lengths")
T.errors(function() m.entity_scores({ { "B-PER" } }, { { "B-PER" }, { "O" } }) end, "1 gold sentences but 2 predicted", "sentence counts")
T.errors(function() m.entity_scores({ { 1, 0 } }, { { 1, 0 } }) end, "pass opts.labels", "ids without labels")
T.errors(function() m.entity_scores({ { 1, 0 } }, { { 5, 0 } }, { labels = { "O", "B-X" } }) end, "tag id 5 has no name", "id out of range")
T.errors(function() m.entity_scores({ { "B-X" } }, { { "B-X" } }, { label = {} }) end, "unknown option 'label'", "entity option typo")

-- ---- against scikit-learn, scipy and seqeval ----
local f = assert(io.open("fixtures/metrics.json", "rb"), "cannot open fixtures/metrics.json (run from tests/)")
local doc = cjson.decode(f:read("*a"))
f:close()
print(string.format("references: scikit-learn %s, scipy %s, seqeval %s", doc.versions.sklearn, doc.versions.scipy, doc.versions.seqeval))

local function labels_opt(c) if c.labels ~= cjson.null then return c.labels end end

for _, c in ipairs(doc.classification) do
  for avg, ref in pairs(c.scores) do
    local r = m.precision_recall_f1(c.y_pred, c.y_true, { average = avg, labels = avg ~= "binary" and labels_opt(c) or nil })
    local good
    if avg == "none" then
      good = T.same(r.labels, ref.labels) and all_near(r.precision, ref.precision) and all_near(r.recall, ref.recall)
        and all_near(r.f1, ref.f1) and T.same(r.support, ref.support)
    else
      good = near(r.precision, ref.precision[1]) and near(r.recall, ref.recall[1]) and near(r.f1, ref.f1[1])
    end
    ok(good, string.format("sklearn %s average=%s", c.name, avg),
      string.format("got P %s R %s F %s", tostring(r.precision), tostring(r.recall), tostring(r.f1)))
  end
end

for _, c in ipairs(doc.multilabel) do
  for avg, ref in pairs(c.scores) do
    local r = m.multilabel_precision_recall_f1(hub.tensor(c.probs), c.targets, { threshold = c.threshold, average = avg })
    local good
    if avg == "none" then
      good = all_near(r.precision, ref.precision, 1e-9) and all_near(r.recall, ref.recall, 1e-9)
        and all_near(r.f1, ref.f1, 1e-9) and T.same(r.support, ref.support)
    else
      good = near(r.precision, ref.precision[1]) and near(r.recall, ref.recall[1]) and near(r.f1, ref.f1[1])
    end
    ok(good, string.format("sklearn %s average=%s", c.name, avg))
  end
  -- the same from Lua arrays of numbers (no f32 rounding of the probabilities)
  ok(near(m.multilabel_f1(c.probs, c.targets, { threshold = c.threshold, average = "macro" }), c.scores.macro.f1[1]),
    "sklearn " .. c.name .. " from Lua arrays")
end

for _, c in ipairs(doc.regression) do
  ok(near(m.pearson(c.x, c.y), c.pearson), string.format("scipy %s pearson (%.6f)", c.name, c.pearson))
  ok(near(m.spearman(c.x, c.y), c.spearman), string.format("scipy %s spearman (%.6f)", c.name, c.spearman))
  ok(T.same(m.rank(c.x), c.rank_x), "scipy " .. c.name .. " rankdata")
  ok(near(m.mse(c.x, c.y), c.mse) and near(m.mae(c.x, c.y), c.mae), "sklearn " .. c.name .. " mse and mae")
end

for _, c in ipairs(doc.seqeval) do
  -- get_entities of the flattened gold side (seqeval joins sentences with an O, 0-based spans)
  local flat = {}
  for _, s in ipairs(c.gold) do
    for _, t in ipairs(s) do flat[#flat + 1] = t end
    flat[#flat + 1] = "O"
  end
  local e = m.get_entities(flat)
  local same = #e == #c.entities_gold
  for i = 1, math.min(#e, #c.entities_gold) do
    local r = c.entities_gold[i]
    same = same and e[i].type == r[1] and e[i].start - 1 == r[2] and e[i]["end"] - 1 == r[3]
  end
  ok(same, string.format("seqeval %s get_entities (%d entities)", c.name, #c.entities_gold))
  local s = m.entity_scores(c.gold, c.pred)
  for _, avg in ipairs { "micro", "macro", "weighted" } do
    local got = avg == "micro" and s or s[avg]
    local ref = c[avg]
    ok(near(got.precision, ref.precision) and near(got.recall, ref.recall) and near(got.f1, ref.f1) and got.support == ref.support,
      string.format("seqeval %s %s (F1 %.4f)", c.name, avg, ref.f1),
      string.format("got P %s R %s F %s support %s", got.precision, got.recall, got.f1, got.support))
  end
  local types_ok, n = true, 0
  for typ, ref in pairs(c.per_type) do
    n = n + 1
    local got = s.per_type[typ]
    types_ok = types_ok and got ~= nil and near(got.precision, ref.precision) and near(got.recall, ref.recall)
      and near(got.f1, ref.f1) and got.support == ref.support
  end
  ok(types_ok and n == #s.types, string.format("seqeval %s per-type report (%d types)", c.name, n))
  ok(near(s.accuracy, c.accuracy), "seqeval " .. c.name .. " accuracy_score")
end

T.finish()
