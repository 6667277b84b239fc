-- hub.task.text_matching: does a title match a query (PaddleHub 1.8's PointwiseTextMatchingTask
-- and PairwiseTextMatchingTask, with an ERNIE encoder).
--
--   local task = hub.task.text_matching{ module = "ernie-tiny-zh", mode = "pointwise" }
--   local task = hub.task.text_matching{ module = "ernie-tiny-zh", mode = "pairwise", margin = 0.1 }
--   hub.finetune(task, hub.datasets.lohelp_pairs_zh(), { epochs = 1 })
--   task:predict{ { "query", "title" } }[1].score
--
-- Data: a pair data set (text_a = the query, text_b = the title, label 1 = match, 0 = no
-- match), as lohelp_pairs_zh or a user TSV with two texts and a 0/1 label.
--
-- mode = "pointwise" (default): text_classification on the pair, the two texts encoded
-- together ([CLS] q [SEP] t [SEP]) -> [CLS] features -> dropout -> linear to 2 classes; softmax
-- cross-entropy; metrics acc (main), precision, recall, f1 (of class 1), macro_f1.  Predict:
-- { text, text_b, label, label_id, probs, score = probs[2] (the probability of a match) }.
--
-- mode = "pairwise": a siamese network.  Query and title are encoded apart by the same encoder
-- ([CLS] q [SEP] and [CLS] t [SEP]), each pooled into one vector (pooling = "mean": the mean of
-- the token states under the attention mask, the default; "cls": the pooler's output, else the
-- [CLS] state), dropout, and scored:
--   score = "cosine" (default)  s(q, t) = u.v / (max(|u|, 1e-12) max(|v|, 1e-12))
--   score = "dense"             s(q, t) = w . [u, v, |u - v|, u * v] + b  (a linear head)
-- Training takes (query, positive, negative) triples and the margin ranking loss
--   loss = mean over the batch of max(0, margin - s(q, pos) + s(q, neg))       (margin 0.1)
-- The triples come from the pair data (M.triples): the examples are grouped by their query
-- text (in order of first appearance); a query with P matching and N non-matching titles gives
-- max(P, N) triples, the k-th pairing the ((k-1) mod P + 1)-th match with the ((k-1) mod N + 1)-th
-- non-match, so every pair is used and the result depends on the data alone.  Queries with no
-- match or no non-match are left out.  lohelp_pairs_zh gives each zh-CN paragraph its zh-TW
-- translation and one same-page hard negative, so a triple is (paragraph, its translation,
-- another paragraph of its page).
-- Metrics, on the dev (test) triples: acc (the main one): the share of triples with
-- s(q, pos) > s(q, neg) (ties count as wrong); auc: the area under the ROC curve of the triples'
-- pairs (each triple gives (q, pos) as a match and (q, neg) as a non-match; ties count half),
-- which needs no threshold; pair_acc, precision, recall, f1: those pairs classified as a match
-- when s >= threshold (default 0.5 for cosine, 0 for dense); mean_pos, mean_neg: the mean scores.
-- Predict: { text, text_b, score, label_id (1 when score >= threshold), label }.
local hub = require "hub"
local nn = hub.nn
local core = require "hub.core"
local base = require "hub.task.base"
local text = require "hub.data.text"
local TC = require "hub.task.classification"

local M = {}
local fail = base.fail
local FNAME = "text_matching"

-- ---- triples from pair data ----

-- triples(examples) -> list of { query, pos, neg }, info { queries, triples, unused }: see the top.
function M.triples(exs, where)
  where = where or FNAME
  if type(exs) ~= "table" then fail("%s: expected a list of pair examples, got %s", where, type(exs)) end
  local groups, order = {}, {}
  for i, ex in ipairs(exs) do
    if type(ex) ~= "table" or type(ex.text_a) ~= "string" or type(ex.text_b) ~= "string" then
      fail("%s: example %d%s is not a pair (text_a and text_b strings)", where, i, ex and ex.id and (" (" .. tostring(ex.id) .. ")") or "")
    end
    if ex.label ~= 0 and ex.label ~= 1 then
      fail("%s: example %d%s has label %s; pairwise matching needs 1 (match) or 0 (no match)", where, i,
        ex.id and (" (" .. tostring(ex.id) .. ")") or "", tostring(ex.label))
    end
    local g = groups[ex.text_a]
    if not g then
      g = { q = ex.text_a, pos = {}, neg = {} }
      groups[ex.text_a] = g
      order[#order + 1] = g
    end
    local l = ex.label == 1 and g.pos or g.neg
    l[#l + 1] = ex.text_b
  end
  local out, unused = {}, 0
  for _, g in ipairs(order) do
    local P, N = #g.pos, #g.neg
    if P == 0 or N == 0 then unused = unused + P + N
    else
      for k = 1, math.max(P, N) do
        out[#out + 1] = { query = g.q, pos = g.pos[(k - 1) % P + 1], neg = g.neg[(k - 1) % N + 1] }
      end
    end
  end
  return out, { queries = #order, triples = #out, unused = unused }
end

-- subset(ds, n, seed) -> a data set whose train keeps whole queries (every pair of a chosen
-- query), about n pairs: the queries (by text_a, in order of first appearance) are shuffled with
-- hub.data.permutation(seed) and taken until n pairs are reached; the pairs keep their order.
-- ds:subset (stratified on pairs) would separate most matches from their non-matches, leaving
-- pairwise training few triples.  Dev and test are unchanged.
function M.subset(ds, n, seed)
  if type(n) ~= "number" or n < 0 or n ~= math.floor(n) then fail("%s.subset: n must be a non-negative integer, got %s", FNAME, tostring(n)) end
  local train = ds.train
  if n >= #train then return ds end
  local key, order = {}, {}
  for _, ex in ipairs(train) do
    if not key[ex.text_a] then key[ex.text_a] = { n = 0 }; order[#order + 1] = ex.text_a end
    key[ex.text_a].n = key[ex.text_a].n + 1
  end
  local take, got = {}, 0
  for _, p in ipairs(require("hub.data").permutation(#order, seed or 0)) do
    if got >= n then break end
    local q = order[p + 1]
    take[q] = true
    got = got + key[q].n
  end
  local out = {}
  for _, ex in ipairs(train) do if take[ex.text_a] then out[#out + 1] = ex end end
  local counts = {}
  for k, v in pairs(ds.counts or {}) do counts[k] = v end
  counts.subset_of = #train
  return require("hub.datasets.dataset").new { name = ds.name, kind = ds.kind, labels = ds.labels, train = out, dev = ds.dev,
    test = ds.test, counts = counts, source = ds.source, license = ds.license }
end

-- ---- features of several texts per example (siamese batches) ----
-- parts: { name = hub.data.text Features (one text per example) }, all of the same length n;
-- batch(idx) -> { [name] = that part's batch, index = idx, size = #idx }.  Batches are
-- length-bucketed on the sum of the parts' lengths (hub.data.text's batch_order).

local Multi = {}
Multi.__index = Multi
M.Multi = Multi

function M.multi(parts, names, labelled)
  local first = parts[names[1]]
  local f = setmetatable({ parts = parts, names = names, n = first.n, has_labels = labelled, at_max_len = 0,
                           kind = "pair", features_class = getmetatable(first) }, Multi)
  for _, nm in ipairs(names) do
    local p = parts[nm]
    if p.n ~= f.n then fail("text_matching: parts of different sizes (%d and %d)", f.n, p.n) end
    f.at_max_len = f.at_max_len + p.at_max_len
  end
  return f
end

function Multi:length(i)
  local l = 0
  for _, nm in ipairs(self.names) do l = l + self.parts[nm]:length(i) end
  return l
end
function Multi:size() return self.n end
function Multi:batch_order(batch_size, opts) return self.features_class.batch_order(self, batch_size, opts) end
function Multi:num_batches(batch_size, drop_last) return self.features_class.num_batches(self, batch_size, drop_last) end
function Multi:batch(idx)
  local b = { index = idx, size = #idx }
  for _, nm in ipairs(self.names) do b[nm] = self.parts[nm]:batch(idx) end
  return b
end
function Multi:batches(batch_size, opts)
  local order = self:batch_order(batch_size, opts)
  local k = 0
  return function()
    k = k + 1
    if order[k] == nil then return nil end
    return self:batch(order[k]), k
  end
end
function Multi:__tostring() return string.format("Features(%d examples, %s)", self.n, table.concat(self.names, " + ")) end

-- ---- pointwise ----

local PW = TC:extend("PointwiseTextMatchingTask")
M.Pointwise = PW

function PW:init(o)
  self:setup(o, FNAME, "pair", { pair = true })
  rawset(self, "uses_labels", true)
  rawset(self, "main_metric", "acc")
  rawset(self, "task_name", "text_matching")
  rawset(self, "mode", "pointwise")
  rawset(self, "pair", true)
  local labels = base.labels_of(o, FNAME, 2)
  if labels then self:set_labels(labels) end
end

function PW:set_labels(l)
  if #l ~= 2 then fail("%s: two labels (0 = no match, 1 = match), got %d", FNAME, #l) end
  TC.set_labels(self, l)
end

function PW:results(out, b, items, f)
  local r = TC.results(self, out, b, items, f)
  for _, x in ipairs(r) do x.score = x.probs[2] end
  return r
end

function PW:task_config()
  local c = TC.task_config(self)
  c.mode = "pointwise"
  return c
end

-- ---- pairwise ----

local PT = base.Task:extend("PairwiseTextMatchingTask")
M.Pairwise = PT
PT.default_pooling = "mean"

function PT:init(o)
  self:setup(o, FNAME, "pair", { pair = true })
  rawset(self, "main_metric", "acc")
  rawset(self, "task_name", "text_matching")
  rawset(self, "mode", "pairwise")
  rawset(self, "pair", true)
  rawset(self, "margin", o.margin or 0.1)
  if self.margin < 0 then fail("%s: margin must be >= 0, got %s", FNAME, tostring(o.margin)) end
  rawset(self, "score_kind", o.score or "cosine")
  if self.score_kind ~= "cosine" and self.score_kind ~= "dense" then
    fail("%s: score must be \"cosine\" or \"dense\", got \"%s\"", FNAME, tostring(o.score))
  end
  rawset(self, "threshold", o.threshold or (self.score_kind == "cosine" and 0.5 or 0))
  if o.num_classes and o.num_classes ~= 2 then fail("%s: pairwise matching has two classes (no match, match), got num_classes %d", FNAME, o.num_classes) end
  local labels = base.labels_of(o, FNAME, 2)
  if labels then
    if #labels ~= 2 then fail("%s: two labels (0 = no match, 1 = match), got %d", FNAME, #labels) end
    self:set_labels(labels)
  end
  if self.score_kind == "dense" then self.scorer = nn.Linear(4 * self.hidden_size, 1) end
end

-- The data set's label names are taken when it has two (for predict's label).
function PT:check_dataset(ds, fname)
  base.Task.check_dataset(self, ds, fname)
  rawset(self, "pair", true)
  if not self.labels and type(ds.labels) == "table" and #ds.labels == 2 then self:set_labels(ds.labels) end
  return ds
end

local function texts_of(list, field)
  local out = {}
  for i, t in ipairs(list) do out[i] = { text_a = t[field] } end
  return out
end

function PT:parts_of(lists, names, labelled, cache, name)
  local parts = {}
  for k, nm in ipairs(names) do
    parts[nm] = text.features(lists[k], self.tokenizer, { kind = "classification", max_seq_len = self.max_seq_len,
      truncation = self.truncation, cache = cache, name = name and (name .. "-" .. nm) or nil })
  end
  return M.multi(parts, names, labelled)
end

-- featurize(ds, {cache, splits}) -> { train, dev, test }: each split's triples as query / pos /
-- neg features (f.triples: the triples, f.info: M.triples' counts).
function PT:featurize(ds, opts)
  opts = core.check_options(opts, { cache = "boolean|string", splits = "table" }, "featurize", 2)
  self:check_dataset(ds, "featurize")
  local cache = opts.cache
  if cache == nil then cache = true end
  if cache == true then cache = text.default_cache_dir() end
  local out = { labels = ds.labels, kind = ds.kind, name = ds.name }
  for _, s in ipairs(opts.splits or { "train", "dev", "test" }) do
    local tr, info = M.triples(ds[s] or {}, string.format("%s: %s %s", FNAME, tostring(ds.name), s))
    if s == "train" and #tr == 0 and #(ds[s] or {}) > 0 then
      fail("%s: the training pairs of %s give no triples: no query has both a match (label 1) and a non-match (label 0)",
        FNAME, tostring(ds.name))
    end
    local f = self:parts_of({ texts_of(tr, "query"), texts_of(tr, "pos"), texts_of(tr, "neg") }, { "q", "p", "n" },
      true, cache, tostring(ds.name or "data") .. "-" .. s)
    f.triples, f.info = tr, info
    out[s] = f
  end
  return out
end

-- Predict's features: the two texts of each pair apart.
function PT:features_of(examples)
  return self:parts_of({ texts_of(examples, "text_a"), texts_of(examples, "text_b") }, { "a", "b" }, false, false)
end

-- Sentence vectors [B, H] of one text batch (Task:pool: the mean of the token states under the mask, or the
-- pooler's output / [CLS] state); dropout (training only).
function PT:vectors(tb) return (self:encode_pooled(tb)) end

-- Scores [B] of vector pairs u, v [B, H].
function PT:score(u, v)
  if self.score_kind == "dense" then
    local s = self.scorer(hub.concat({ u, v, (u - v):abs(), u * v }, 2))
    return s:reshape(s.shape[1])
  end
  local eps = 1e-12
  local nu = ((u * u):sum(2):sqrt() - eps):relu() + eps
  local nv = ((v * v):sum(2):sqrt() - eps):relu() + eps
  return (u * v):sum(2) / (nu * nv)
end

-- Its batches hold two or three encoded texts each, not the one the graph cache pads and replays.
function PT:graph_refusal() return "a pairwise matching batch holds two or three texts, which the graph cache does not take" end

function PT:forward_batch(b)
  if b.q then
    local q = self:vectors(b.q)
    return { pos = self:score(q, self:vectors(b.p)), neg = self:score(q, self:vectors(b.n)) }
  end
  if not b.a then fail("%s: pairwise forward_batch takes triple batches (q, p, n) or pair batches (a, b)", FNAME) end
  return { scores = self:score(self:vectors(b.a), self:vectors(b.b)) }
end

-- The margin ranking loss of scores pos, neg [B]: mean(max(0, margin - pos + neg)).
function M.margin_loss(pos, neg, margin) return (neg - pos + margin):relu():mean() end

function PT:loss(out, b)
  if not out.pos then fail("%s: the loss needs triples (query, match, non-match)", FNAME) end
  return M.margin_loss(out.pos, out.neg, self.margin)
end

function PT:collect(out, b, acc)
  acc.pos = acc.pos or {}
  acc.neg = acc.neg or {}
  local p, n = out.pos:totable(), out.neg:totable()
  for k = 1, #p do acc.pos[#acc.pos + 1] = p[k]; acc.neg[#acc.neg + 1] = n[k] end
end

-- The ROC AUC of scores of matches (pos) and non-matches (neg): the Mann-Whitney statistic,
-- ties counted half (average ranks).
function M.auc(pos, neg)
  local P, N = #pos, #neg
  if P == 0 or N == 0 then return 0 / 0 end
  local all = {}
  for i = 1, P do all[i] = pos[i] end
  for i = 1, N do all[P + i] = neg[i] end
  local r = require("hub.metrics.regression").rank(all)
  local s = 0
  for i = 1, P do s = s + r[i] end
  return (s - P * (P + 1) / 2) / (P * N)
end

function PT:summarize(acc)
  local pos, neg = acc.pos or {}, acc.neg or {}
  local n = #pos
  local right, tp, fp, fn, tn, sp, sn = 0, 0, 0, 0, 0, 0, 0
  local t = self.threshold
  for k = 1, n do
    if pos[k] > neg[k] then right = right + 1 end
    if pos[k] >= t then tp = tp + 1 else fn = fn + 1 end
    if neg[k] >= t then fp = fp + 1 else tn = tn + 1 end
    sp, sn = sp + pos[k], sn + neg[k]
  end
  local function div(a, b) return b > 0 and a / b or 0 end
  local precision, recall = div(tp, tp + fp), div(tp, tp + fn)
  return { acc = div(right, n), auc = M.auc(pos, neg), pair_acc = div(tp + tn, 2 * n), precision = precision,
           recall = recall, f1 = div(2 * precision * recall, precision + recall), mean_pos = div(sp, n),
           mean_neg = div(sn, n), threshold = t }
end

function PT:results(out, b, items)
  local s = out.scores:totable()
  local r = {}
  for k = 1, #s do
    local id = s[k] >= self.threshold and 1 or 0
    r[k] = { text = items[k].text_a, text_b = items[k].text_b, score = s[k], label_id = id, label = self:label_name(id) }
  end
  return r
end

function PT:format_result(r) return string.format("%s\t%s\t%.4f", r.text, r.text_b, r.score) end

function PT:task_config()
  local c = base.Task.task_config(self)
  c.mode, c.margin, c.score, c.pooling, c.threshold = "pairwise", self.margin, self.score_kind, self.pooling, self.threshold
  return c
end

function PT:extra_repr()
  return string.format("pairwise, %s score, %s pooling, margin=%g, max_seq_len=%d", self.score_kind, self.pooling,
    self.margin, self.max_seq_len)
end

-- ---- the constructor ----

local SPEC = { mode = "string", margin = "number", score = "string", pooling = "string", threshold = "number" }

function M.new(opts)
  local o = base.options(opts, SPEC, FNAME)
  local mode = o.mode or "pointwise"
  if mode == "pointwise" then
    for _, k in ipairs { "margin", "score", "threshold" } do
      if o[k] ~= nil then fail("%s: '%s' is an option of mode = \"pairwise\" (this task is pointwise)", FNAME, k) end
    end
    return PW(o)
  elseif mode == "pairwise" then
    return PT(o)
  end
  fail("%s: mode must be \"pointwise\" or \"pairwise\", got \"%s\"", FNAME, tostring(mode))
end

return setmetatable(M, { __call = function(_, opts) return M.new(opts) end })
