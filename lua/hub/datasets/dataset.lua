-- hub.datasets.dataset: the one shape every text data set of hub.datasets has (the real ones,
-- reviews_zh, peoples_daily_ner/pos, lohelp_topics_zh/pairs_zh, and user files read by
-- tsv/csv/jsonl), so tasks, featurizing and the trainer need to know only this.
--
--   ds.name     "reviews_zh", or the user file's name
--   ds.kind     "classification" | "pair" | "sequence" | "multi_label" | "regression"
--   ds.labels   the label names, by id: ds.labels[id + 1] is the name of 0-based id `id`
--               (empty for regression); ds.label_ids[name] is the id
--   ds.train, ds.dev, ds.test   lists of examples (a split may be empty)
--   ds.counts   { train = n, dev = n, test = n, ... } (and what was dropped, per data set)
--   ds.source   where it was read from;  ds.license  for the real data sets
--
-- An example is a table { text_a = string, text_b = string or nil, label = ..., id = string }:
--   classification, pair   label = 0-based class id (pair: text_b is set; a matching task)
--   multi_label            label = sorted list of 0-based class ids (possibly empty)
--   regression             label = a number
--   sequence               label = list of 0-based tag ids, one per character (code point)
--                          of text_a
-- A label may be nil in a file read without labels (a predict file).
--
-- ds:subset(n, seed) is a new data set whose train is the first n examples of a seeded shuffle
-- of train (dev and test unchanged): for learning curves at 500, 2,000, ... examples.  For
-- classification and pair data the shuffle is stratified: each class keeps its share (largest
-- remainders), and the chosen examples keep the shuffled order.  The same (n, seed) always
-- gives the same examples, and with one seed a smaller subset lies inside a larger one (up to
-- the rounding of the class quotas), so learning-curve points differ only by added examples.
local data = require "hub.data"

local M = {}

local Dataset = {}
Dataset.__index = Dataset
M.Dataset = Dataset

M.kinds = { classification = true, pair = true, sequence = true, multi_label = true, regression = true }

-- new{ name, kind, labels, train, dev, test, counts, source, license }: fills label_ids and the
-- split counts.
function M.new(t)
  if not M.kinds[t.kind] then error("dataset: unknown kind '" .. tostring(t.kind) .. "'", 2) end
  local ds = setmetatable({
    name = t.name, kind = t.kind, labels = t.labels or {}, train = t.train or {}, dev = t.dev or {},
    test = t.test or {}, counts = t.counts or {}, source = t.source, license = t.license,
  }, Dataset)
  ds.label_ids = {}
  for i, name in ipairs(ds.labels) do ds.label_ids[name] = i - 1 end
  for _, s in ipairs { "train", "dev", "test" } do ds.counts[s] = #ds[s] end
  return ds
end

function Dataset:num_labels() return #self.labels end

-- The name of a 0-based label id (nil when out of range).
function Dataset:label_name(id) return self.labels[id + 1] end

function Dataset:__tostring()
  return string.format("%s (%s, %d labels): train %d, dev %d, test %d", tostring(self.name), self.kind,
    #self.labels, #self.train, #self.dev, #self.test)
end

-- A copy of the data set sharing its examples, with train replaced.
local function with_train(self, train)
  local counts = {}
  for k, v in pairs(self.counts) do counts[k] = v end
  counts.subset_of = #self.train
  return M.new { name = self.name, kind = self.kind, labels = self.labels, train = train, dev = self.dev,
    test = self.test, counts = counts, source = self.source, license = self.license }
end

-- subset(n, seed): see the top of this file.
function Dataset:subset(n, seed)
  if type(n) ~= "number" or n < 0 or n ~= math.floor(n) then
    error("subset: n must be a non-negative integer, got " .. tostring(n), 2)
  end
  if seed == nil then seed = 0 end
  if type(seed) ~= "number" then error("subset: seed must be a number, got " .. type(seed), 2) end
  local train = self.train
  local N = #train
  if n >= N then return with_train(self, { unpack(train) }) end
  local perm = data.permutation(N, seed)
  local out = {}
  if self.kind == "classification" or self.kind == "pair" then
    -- Per class quotas by largest remainders (ties: the lower class id), then the first
    -- examples of each class in the shuffled order.
    local by, classes = {}, {}
    for _, p in ipairs(perm) do
      local c = train[p + 1].label or -1
      if not by[c] then by[c] = {}; classes[#classes + 1] = c end
      local l = by[c]
      l[#l + 1] = p
    end
    table.sort(classes)
    local quota, rem, given = {}, {}, 0
    for _, c in ipairs(classes) do
      local exact = n * #by[c] / N
      quota[c] = math.floor(exact)
      given = given + quota[c]
      rem[#rem + 1] = { c = c, r = exact - quota[c] }
    end
    table.sort(rem, function(a, b) if a.r ~= b.r then return a.r > b.r end return a.c < b.c end)
    for i = 1, n - given do quota[rem[i].c] = quota[rem[i].c] + 1 end
    local chosen = {}
    for _, c in ipairs(classes) do
      for i = 1, quota[c] do chosen[by[c][i]] = true end
    end
    for _, p in ipairs(perm) do if chosen[p] then out[#out + 1] = train[p + 1] end end
  else
    for i = 1, n do out[i] = train[perm[i] + 1] end
  end
  return with_train(self, out)
end

-- A multi-line summary: per split its size and, for classification and pair data, each
-- label's count; then what the loader dropped or counted (ds.counts).
function Dataset:describe()
  local lines = { tostring(self) }
  for _, split in ipairs { "train", "dev", "test" } do
    local line = string.format("  %-5s %7d", split, #self[split])
    if self.kind == "classification" or self.kind == "pair" then
      local c, parts = self:label_counts(split), {}
      for id, name in ipairs(self.labels) do parts[id] = string.format("%s %d", name, c[id - 1] or 0) end
      line = line .. "  (" .. table.concat(parts, ", ") .. ")"
    end
    lines[#lines + 1] = line
  end
  local keys = {}
  for k, v in pairs(self.counts) do
    if k ~= "train" and k ~= "dev" and k ~= "test" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = self.counts[k]
    if type(v) == "table" then
      local sub, ks = {}, {}
      for kk in pairs(v) do ks[#ks + 1] = kk end
      table.sort(ks)
      for _, kk in ipairs(ks) do sub[#sub + 1] = kk .. " " .. tostring(v[kk]) end
      v = "{" .. table.concat(sub, ", ") .. "}"
    end
    parts[#parts + 1] = k .. " " .. tostring(v)
  end
  if #parts > 0 then lines[#lines + 1] = "  counts: " .. table.concat(parts, "; ") end
  return table.concat(lines, "\n")
end

-- Counts of each label id in a split (classification and pair), as { [id] = n }.
function Dataset:label_counts(split)
  local c = {}
  for _, ex in ipairs(self[split or "train"]) do
    if type(ex.label) == "number" then c[ex.label] = (c[ex.label] or 0) + 1 end
  end
  return c
end

return M
