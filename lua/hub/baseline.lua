-- hub.baseline: the non-neural baselines of the fine-tune proof (docs/finetune.md): what a
-- pretrained encoder must beat.  Both are linear models over sparse indicator features, trained
-- with hubrun's own tensors and Adam (L2 through Adam's weight_decay), no Python:
--
--   local r = hub.baseline.classify(ds, { epochs = 10 })     -- bag of characters + bigrams
--   print(r.dev.acc, r.test.acc)
--   local r = hub.baseline.tag(ds, { epochs = 5 })           -- per-character window features
--   print(r.dev.f1, r.test.f1)                               -- seqeval's entity F1
--
-- classify: each text is the set of its characters and character bigrams (binary indicators,
-- "U:x" and "B:xy"); the feature vocabulary is the training split's features seen at least
-- `min_count` times (the `max_features` most frequent).  Multinomial logistic regression:
-- logits = Σ_features W[f] + b, i.e. an embedding bag (nn.Embedding summed over the features), so
-- one update touches only the rows of the features present.
-- tag: each character of a sequence data set (BIO tags) gets the features of its window -- the
-- characters at offsets -2..2 and the bigrams at -2..1, each with its offset -- and a softmax
-- over the tags; the predicted tag sequences are scored as the fine-tuned taggers are (entity
-- F1, seqeval's exact matching: hub.metrics.entity_scores).
--
-- Options: epochs (5), batch_size (64 texts / 256 characters), lr (0.02 / 0.05),
-- weight_decay (the L2 coefficient: 1e-4 / 1e-6), min_count (1), max_features (200000 / 300000), seed (1),
-- quiet.  The result: { dev = metrics, test = metrics, features = n, seconds = s, epochs = n }.
local hub = require "hub"
local core = require "hub.core"
local fail = core.failf

local M = {}

local OPTS = { epochs = "integer", batch_size = "integer", lr = "number", weight_decay = "number", min_count = "integer",
               max_features = "integer", seed = "integer", quiet = "boolean" }

local function chars(s)
  local out = {}
  for ch in s:gmatch("[%z\1-\127\194-\244][\128-\191]*") do out[#out + 1] = ch end
  return out
end

-- features_of_text(s) -> list of feature strings (unique): "U:c" for each character, "B:cd" for
-- each adjacent pair.
function M.text_features(s)
  local cs, seen, out = chars(s), {}, {}
  local function add(f) if not seen[f] then seen[f] = true; out[#out + 1] = f end end
  for i = 1, #cs do
    add("U:" .. cs[i])
    if i < #cs then add("B:" .. cs[i] .. cs[i + 1]) end
  end
  return out
end

-- window_features(cs, i) -> the feature strings of character i of the character list cs.
function M.window_features(cs, i)
  local function at(j) return cs[j] or (j < 1 and "<s>" or "</s>") end
  local out = {}
  for o = -2, 2 do out[#out + 1] = "U" .. o .. ":" .. at(i + o) end
  for o = -2, 1 do out[#out + 1] = "B" .. o .. ":" .. at(i + o) .. at(i + o + 1) end
  return out
end

-- A feature vocabulary from lists of features: id 0 is padding; ids 1.. by frequency, then text.
local function vocabulary(lists, min_count, max_features)
  local count = {}
  for _, l in ipairs(lists) do for _, f in ipairs(l) do count[f] = (count[f] or 0) + 1 end end
  local keep = {}
  for f, n in pairs(count) do if n >= min_count then keep[#keep + 1] = f end end
  table.sort(keep, function(a, b) if count[a] ~= count[b] then return count[a] > count[b] end return a < b end)
  local ids = {}
  for i = 1, math.min(#keep, max_features) do ids[keep[i]] = i end
  return ids, math.min(#keep, max_features)
end

local function to_ids(list, vocab)
  local out = {}
  for _, f in ipairs(list) do local id = vocab[f]; if id then out[#out + 1] = id end end
  return out
end

-- The linear model: an embedding bag [n_features + 1, n_classes] (row 0 = padding) and a bias.
local Bag = hub.nn.Module:extend("BaselineBag")
function Bag:init(n_features, n_classes)
  self.weight = hub.nn.Embedding(n_features + 1, n_classes, { padding_idx = 0 })
  hub.no_grad(function() self.weight.weight:zero_() end)
  self:register_parameter("bias", hub.zeros(n_classes):requires_grad())
end
function Bag:forward(ids) return self.weight(ids):sum(2):add(self.bias) end
M.Bag = Bag

-- [B, F] i64 ids, padded with 0, from lists of ids.
local function batch_ids(rows)
  local width = 1
  for _, r in ipairs(rows) do width = math.max(width, #r) end
  local t = {}
  for i, r in ipairs(rows) do
    local row = {}
    for j = 1, width do row[j] = r[j] or 0 end
    t[i] = row
  end
  return hub.tensor(t, "i64")
end

local function shuffle(n, gen)
  local order = {}
  for i = 1, n do order[i] = i end
  for i = n, 2, -1 do
    local j = gen(i)
    order[i], order[j] = order[j], order[i]
  end
  return order
end

-- A deterministic generator of integers in [1, n] (the data order), independent of hub's RNG.
local function lcg(seed)
  local s = (seed * 2654435761 + 12345) % 4294967296
  return function(n)
    s = (s * 1664525 + 1013904223) % 4294967296
    return math.floor(s / 4294967296 * n) + 1
  end
end

-- Trains a Bag on (ids, label) rows; returns the model.
local function train(rows, labels, n_features, n_classes, o, what)
  hub.manual_seed(o.seed)
  local model = Bag(n_features, n_classes)
  local opt = hub.optim.Adam(model, { lr = o.lr, weight_decay = o.weight_decay })
  local gen = lcg(o.seed)
  local bar = not o.quiet and hub.progress { total = o.epochs * math.ceil(#rows / o.batch_size), desc = what, unit = "batch" } or nil
  for _ = 1, o.epochs do
    local order = shuffle(#rows, gen)
    for s = 1, #rows, o.batch_size do
      local br, bl = {}, {}
      for k = s, math.min(#rows, s + o.batch_size - 1) do br[#br + 1] = rows[order[k]]; bl[#bl + 1] = labels[order[k]] end
      local loss = hub.cross_entropy(model(batch_ids(br)), hub.tensor(bl, "i64"))
      opt:zero_grad()
      loss:backward()
      opt:step()
      if bar then bar:update(1, { loss = loss:item() }) end
    end
  end
  if bar then bar:close() end
  return model
end

local function predict(model, rows, bs)
  local out = {}
  hub.no_grad(function()
    for s = 1, #rows, bs do
      local br = {}
      for k = s, math.min(#rows, s + bs - 1) do br[#br + 1] = rows[k] end
      local p = model(batch_ids(br)):argmax(-1):totable()
      for _, v in ipairs(p) do out[#out + 1] = v end
    end
  end)
  return out
end

local function options(o, defaults, name)
  o = core.check_options(o, OPTS, name, 3)
  local r = {}
  for k, v in pairs(defaults) do r[k] = v end
  for k, v in pairs(o) do r[k] = v end
  for _, k in ipairs { "epochs", "batch_size", "min_count", "max_features" } do
    if r[k] < 1 then fail("%s: '%s' must be a positive integer, got %s", name, k, tostring(r[k])) end
  end
  if not (r.lr > 0) then fail("%s: 'lr' must be > 0, got %s", name, tostring(r.lr)) end
  return r
end

local function now() return tonumber(hub.C.hub_os_time()) end

-- classify(ds[, opts]): ds a classification data set (hub.datasets.dataset; pair data sets use
-- text_a .. text_b with a separator).
function M.classify(ds, opts)
  if type(ds) ~= "table" or type(ds.train) ~= "table" then fail("baseline.classify: expected a data set (hub.datasets), got %s", type(ds)) end
  if ds.kind ~= "classification" and ds.kind ~= "pair" then
    fail("baseline.classify: data set %s is a %s data set (expected classification or pair)", tostring(ds.name), tostring(ds.kind))
  end
  local o = options(opts, { epochs = 5, batch_size = 64, lr = 0.02, weight_decay = 1e-4, min_count = 1,
                            max_features = 200000, seed = 1, quiet = false }, "baseline.classify")
  local t0 = now()
  local function text(e) return e.text_b and (e.text_a .. "\1" .. e.text_b) or e.text_a end
  local feats = {}
  for i, e in ipairs(ds.train) do feats[i] = M.text_features(text(e)) end
  local vocab, n = vocabulary(feats, o.min_count, o.max_features)
  local rows, labels = {}, {}
  for i, e in ipairs(ds.train) do rows[i] = to_ids(feats[i], vocab); labels[i] = e.label end
  local model = train(rows, labels, n, #ds.labels, o, "bow " .. tostring(ds.name))
  local function score(split)
    if #split == 0 then return nil end
    local r, gold = {}, {}
    for i, e in ipairs(split) do r[i] = to_ids(M.text_features(text(e)), vocab); gold[i] = e.label end
    local pred = predict(model, r, 256)
    return { acc = hub.metrics.accuracy(pred, gold), n = #split }
  end
  -- predict(split) -> the predicted label ids of a list of examples
  local function predict_split(split)
    local r = {}
    for i, e in ipairs(split) do r[i] = to_ids(M.text_features(text(e)), vocab) end
    return predict(model, r, 256)
  end
  return { dev = score(ds.dev), test = score(ds.test), features = n, seconds = now() - t0, epochs = o.epochs,
           main_metric = "acc", model = model, predict = predict_split }
end

-- tag(ds[, opts]): ds a sequence data set (label = a tag id per character of text_a).
function M.tag(ds, opts)
  if type(ds) ~= "table" or type(ds.train) ~= "table" then fail("baseline.tag: expected a data set (hub.datasets), got %s", type(ds)) end
  if ds.kind ~= "sequence" then fail("baseline.tag: data set %s is a %s data set (expected sequence)", tostring(ds.name), tostring(ds.kind)) end
  local o = options(opts, { epochs = 5, batch_size = 256, lr = 0.05, weight_decay = 1e-6, min_count = 1,
                            max_features = 300000, seed = 1, quiet = false }, "baseline.tag")
  local t0 = now()
  local feats, labels = {}, {}
  for _, e in ipairs(ds.train) do
    local cs = chars(e.text_a)
    if #cs ~= #e.label then fail("baseline.tag: %s: %d characters but %d tags", tostring(e.id), #cs, #e.label) end
    for i = 1, #cs do feats[#feats + 1] = M.window_features(cs, i); labels[#labels + 1] = e.label[i] end
  end
  local vocab, n = vocabulary(feats, o.min_count, o.max_features)
  local rows = {}
  for i, f in ipairs(feats) do rows[i] = to_ids(f, vocab) end
  feats = nil
  local model = train(rows, labels, n, #ds.labels, o, "window " .. tostring(ds.name))
  local function score(split)
    if #split == 0 then return nil end
    local r, spans = {}, {}
    for _, e in ipairs(split) do
      local cs = chars(e.text_a)
      spans[#spans + 1] = { #r + 1, #cs }
      for i = 1, #cs do r[#r + 1] = to_ids(M.window_features(cs, i), vocab) end
    end
    local pred = predict(model, r, 1024)
    local gold_tags, pred_tags = {}, {}
    for k, e in ipairs(split) do
      local g, p = {}, {}
      for i = 1, spans[k][2] do
        g[i] = ds.labels[e.label[i] + 1]
        p[i] = ds.labels[pred[spans[k][1] + i - 1] + 1]
      end
      gold_tags[k], pred_tags[k] = g, p
    end
    local s = hub.metrics.entity_scores(gold_tags, pred_tags)
    return { f1 = s.f1, precision = s.precision, recall = s.recall, n = #split }
  end
  return { dev = score(ds.dev), test = score(ds.test), features = n, seconds = now() - t0, epochs = o.epochs,
           main_metric = "f1", model = model }
end

return M
