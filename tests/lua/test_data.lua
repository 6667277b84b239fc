-- test_data.lua: hub.data (TensorDataset, split, batches, shuffling, csv), hub.metrics.accuracy
-- and hub.datasets' error for a data set that is not fetched.  Needs no downloaded data.
local hub = require "hub"
local data = hub.data

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, errors = T.ok, T.errors

-- A data set whose x rows carry their own index: x[i] = {i, 10 i}, y[i] = i (0-based).
local N = 37
local xs, ys = {}, {}
for i = 0, N - 1 do xs[i + 1] = { i, 10 * i }; ys[i + 1] = i end
local ds = data.TensorDataset{ x = hub.tensor(xs), y = hub.tensor(ys, "i64") }
ok(ds:size() == N, "size")
ok(tostring(ds):find("37 examples", 1, true), "tostring: " .. tostring(ds))

-- Visits every batch of one pass; returns the list of ids in order and the batch sizes.
local function pass(d, bs, opts)
  local ids, sizes, good = {}, {}, true
  for x, y, k in d:batches(bs, opts) do
    local xt, yt = x:totable(), y:totable()
    sizes[#sizes + 1] = #yt
    if k ~= #sizes then good = false end
    for i = 1, #yt do
      ids[#ids + 1] = yt[i]
      if xt[i][1] ~= yt[i] or xt[i][2] ~= 10 * yt[i] then good = false end
    end
  end
  return ids, sizes, good
end
local function each_once(ids, n)
  local seen = {}
  for _, v in ipairs(ids) do
    if seen[v] or v < 0 or v >= n then return false end
    seen[v] = true
  end
  return #ids == n
end
local same = T.same

-- Every example exactly once per epoch, rows and labels kept together, for several batch sizes.
for _, bs in ipairs { 1, 5, 8, 37, 64 } do
  for _, shuffle in ipairs { true, false } do
    local ids, sizes, good = pass(ds, bs, { shuffle = shuffle, seed = 3 })
    ok(each_once(ids, N), string.format("bs %d shuffle %s: every example once", bs, tostring(shuffle)))
    ok(good, string.format("bs %d: x rows match y and batch numbers count up", bs))
    ok(#sizes == ds:num_batches(bs), string.format("bs %d: %d batches, num_batches %d", bs, #sizes, ds:num_batches(bs)))
    ok(sizes[#sizes] == (N % bs == 0 and bs or N % bs), string.format("bs %d: last batch size %d", bs, sizes[#sizes]))
  end
end
do
  local ids = pass(ds, 5, { shuffle = false })
  local inorder = true
  for i = 1, N do if ids[i] ~= i - 1 then inorder = false end end
  ok(inorder, "shuffle = false keeps the order")
  local ids2, sizes = pass(ds, 5, { drop_last = true, seed = 1 })
  ok(#ids2 == 35 and #sizes == 7 and sizes[7] == 5, "drop_last drops the short batch")
  ok(ds:num_batches(5, true) == 7, "num_batches with drop_last")
end

-- Shuffling is deterministic under a seed, differs between seeds and epochs, and follows
-- hub.manual_seed when no seed is given.
do
  local a = pass(ds, 8, { seed = 42 })
  local b = pass(ds, 8, { seed = 42 })
  local c = pass(ds, 8, { seed = 43 })
  local e1 = pass(ds, 8, { seed = 42, epoch = 1 })
  local e1b = pass(ds, 8, { seed = 42, epoch = 1 })
  ok(same(a, b), "same seed, same order")
  ok(not same(a, c), "another seed, another order")
  ok(not same(a, e1) and same(e1, e1b), "epoch varies the order deterministically")
  local natural = true
  for i = 1, N do if a[i] ~= i - 1 then natural = false end end
  ok(not natural, "shuffle changes the order")

  hub.manual_seed(7)
  local g1, g2 = pass(ds, 8), pass(ds, 8)
  hub.manual_seed(7)
  local h1, h2 = pass(ds, 8), pass(ds, 8)
  ok(same(g1, h1) and same(g2, h2), "unseeded shuffles repeat after hub.manual_seed")
  ok(not same(g1, g2), "unseeded shuffles differ from one pass to the next")
end

-- The generator and permutation: known, machine-independent values, and a rough uniformity check.
do
  local p = data.permutation(10, 123)
  ok(each_once(p, 10), "permutation is a permutation")
  ok(same(p, data.permutation(10, 123)), "permutation is deterministic")
  local counts = { 0, 0, 0, 0 }
  local rng = data.rng(5)
  for _ = 1, 4000 do local k = rng(4); counts[k] = counts[k] + 1 end
  local uniform = true
  for k = 1, 4 do if counts[k] < 900 or counts[k] > 1100 then uniform = false end end
  ok(uniform, "rng(4) is roughly uniform: " .. table.concat(counts, " "))
  -- splitmix64 seeded with 0: the first output is 0xE220A8397B1DCDAF, whose value mod 1000 is 535.
  ok(data.rng(0)(1000) == 536, "splitmix64 reference value")
end

-- split: sizes, disjoint and complete, deterministic under a seed.
do
  local a, b = ds:split(0.8, { seed = 0 })
  ok(a:size() == 30 and b:size() == 7, string.format("split sizes %d/%d", a:size(), b:size()))
  local ids = {}
  for _, v in ipairs(a.y:totable()) do ids[#ids + 1] = v end
  for _, v in ipairs(b.y:totable()) do ids[#ids + 1] = v end
  ok(each_once(ids, N), "split parts are disjoint and cover the data set")
  local a2 = ds:split(0.8, { seed = 0 })
  local a3 = ds:split(0.8, { seed = 1 })
  ok(same(a.y:totable(), a2.y:totable()), "same seed, same split")
  ok(not same(a.y:totable(), a3.y:totable()), "another seed, another split")
  local x = a.x:totable()
  local rows = true
  for i, v in ipairs(a.y:totable()) do if x[i][1] ~= v then rows = false end end
  ok(rows, "split keeps x rows with their labels")
  local f, r = ds:split(0.5, { shuffle = false })
  ok(f:size() == 19 and r:size() == 18 and f.y:totable()[1] == 0 and r.y:totable()[1] == 19, "unshuffled split")
  local all, none = ds:split(1, { seed = 0 })
  ok(all:size() == N and none == nil or (none and none:size() == 0), "split(1)")
  errors(function() ds:split(1.5) end, "fraction must be a number in [0, 1]", "bad split fraction")
end

-- subset and argument errors.
do
  local s = ds:subset { 3, 1 }
  ok(same(s.y:totable(), { 3, 1 }), "subset takes 0-based positions")
  errors(function() data.TensorDataset{ x = hub.zeros(3, 2), y = hub.zeros(4) } end,
    "field 'y' has 4 examples but 'x' has 3", "mismatched sizes")
  errors(function() data.TensorDataset{ y = hub.zeros(4) } end, "field 'x' is required", "x missing")
  errors(function() data.TensorDataset{ x = {1, 2} } end, "field 'x' is table, expected a tensor", "x not a tensor")
  errors(function() ds:batches(0) end, "batch size must be a positive integer", "batch size 0")
  local only = data.TensorDataset{ x = hub.zeros(5, 2) }
  local n = 0
  for x, k in only:batches(2, { shuffle = false }) do n = n + x.shape[1]; ok(type(k) == "number", "x-only batch number") end
  ok(n == 5, "x-only data set")
  local extra = data.TensorDataset{ x = hub.zeros(4, 2), y = hub.zeros(4, "i64"), w = hub.ones(4) }
  local cnt = 0
  for x, y, w in extra:batches(3) do cnt = cnt + w:sum():item(); ok(y.dtype == "i64", "y batch dtype") end
  ok(cnt == 4, "extra fields are batched too")
end

-- csv
do
  local path = os.tmpname()
  local function write(s) T.write_file(path, s) end
  write("1,2,3\n4,5.5,-6\n\n7,8,9e2\r\n")
  local rows = data.csv(path)
  ok(#rows == 3 and rows[2][2] == 5.5 and rows[2][3] == -6 and rows[3][3] == 900, "csv parses numbers, skips empty lines, CRLF")
  write("a;b\n1;2\n")
  local r2, header = data.csv(path, { header = true, sep = ";" })
  ok(#r2 == 1 and r2[1][2] == 2 and header[1] == "a" and header[2] == "b", "csv header and sep")
  write("1,2\n3,x\n")
  errors(function() data.csv(path) end, path .. ":2: field 2 (\"x\") is not a number", "csv bad field")
  write("1,2\n3,4\n5\n")
  errors(function() data.csv(path) end, path .. ":3: 1 fields, expected 2", "csv ragged row")
  write("1,,2\n")
  errors(function() data.csv(path) end, path .. ":1: field 2", "csv empty field")
  os.remove(path)
  errors(function() data.csv(path) end, "csv: cannot open " .. path, "csv missing file")
end

-- metrics.accuracy
do
  local acc = hub.metrics.accuracy
  local logits = hub.tensor{ { 0.1, 0.9, 0 }, { 2, 1, 0 }, { 0, 0, 3 }, { 1, 5, 2 } }
  ok(acc(logits, hub.tensor({ 1, 0, 2, 0 }, "i64")) == 0.75, "accuracy from logits")
  ok(acc(hub.tensor({ 1, 0 }, "i64"), { 1, 1 }) == 0.5, "accuracy from ids and a Lua array")
  ok(acc({ 2, 2 }, { 2, 2 }) == 1, "accuracy of Lua arrays")
  local w = hub.randn(4, 3):requires_grad()
  ok(acc(w * 1, hub.tensor({ 0, 0, 0, 0 }, "i64")) >= 0, "accuracy of outputs that record gradients")
  errors(function() acc(logits, { 1, 2 }) end, "4 predictions but 2 labels", "accuracy sizes")
  errors(function() acc({}, {}) end, "no examples", "accuracy of nothing")
end

-- hub.datasets: a missing data set names the command that fetches it.
do
  errors(function() hub.datasets.find("nosuch", "nosuch.csv", "/nonexistent") end,
    "fetch it with: scripts/fetch-data.sh nosuch", "missing data set")
  ok(hub.datasets.repo_dir() ~= nil, "repository found from the lua dir")
end

T.finish()
