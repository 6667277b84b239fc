-- paired.lua: is model A better than model B on the same test examples?  Reads the test
-- predictions that the recipes write with --predictions (JSON lines {index, gold, pred}), one
-- file per seed for each model, the files of a seed paired (the same training subset and test
-- split: recipes/ernie_cls.lua and recipes/baseline_bow.lua with the same --seed and
-- --max_train), and prints per seed the two accuracies, their difference and the discordant
-- pairs (A right and B wrong, and the reverse; McNemar's test), then the mean difference over the
-- seeds with a 95% interval from a paired bootstrap over the test examples (the same resampled
-- examples for every seed and both models) and the share of resamples where A is not ahead.
--
--   hubrun bench/finetune/paired.lua --a A1.jsonl,A2.jsonl,A3.jsonl --b B1.jsonl,B2.jsonl,B3.jsonl
--       [--names "ernie-tiny-zh,bag of characters"] [--resamples 10000] [--seed 1]
local args = { resamples = 10000, seed = 1, names = "A,B" }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-([%w_]+)$")
  if arg[i] == "-h" or arg[i] == "--help" then
    print("usage: hubrun bench/finetune/paired.lua --a A1,A2,... --b B1,B2,... [--names A,B] [--resamples N] [--seed S]")
    os.exit(0)
  end
  if not k or arg[i + 1] == nil or not (k == "a" or k == "b" or k == "names" or k == "resamples" or k == "seed") then
    io.stderr:write("paired.lua: bad argument '", tostring(arg[i]), "' (see --help)\n")
    os.exit(2)
  end
  args[k] = arg[i + 1]
  i = i + 2
end
local function split(s)
  local t = {}
  for x in tostring(s):gmatch("[^,]+") do t[#t + 1] = x end
  return t
end
local A, B = split(args.a), split(args.b)
if #A == 0 or #A ~= #B then
  io.stderr:write("paired.lua: give as many --a files as --b files (one per seed), comma-separated\n")
  os.exit(2)
end
local names = split(args.names)
local nA, nB = names[1] or "A", names[2] or "B"

-- the 0/1 correctness of each test example, by index
local function read(path)
  local f, err = io.open(path, "rb")
  if not f then io.stderr:write("paired.lua: ", tostring(err), "\n"); os.exit(1) end
  local right, n = {}, 0
  local ln = 0
  for line in f:lines() do
    ln = ln + 1
    local idx, gold, pred = line:match('"index":%s*(%d+).-"gold":%s*(%-?%d+).-"pred":%s*(%-?%d+)')
    if not idx then io.stderr:write(string.format("paired.lua: %s:%d: not a {index, gold, pred} line\n", path, ln)); os.exit(1) end
    idx = tonumber(idx)
    right[idx] = (gold == pred) and 1 or 0
    if idx > n then n = idx end
  end
  f:close()
  for j = 1, n do
    if right[j] == nil then io.stderr:write(string.format("paired.lua: %s: no prediction for example %d\n", path, j)); os.exit(1) end
  end
  return right, n
end

local pairs_ = {}
local N
print(string.format("| seed | %s | %s | difference | %s right, %s wrong | %s wrong, %s right | McNemar z |", nA, nB, nA, nB, nA, nB))
print("|---|---|---|---|---|---|---|")
local sum_diff = 0
for s = 1, #A do
  local ra, na = read(A[s])
  local rb, nb = read(B[s])
  if na ~= nb then io.stderr:write(string.format("paired.lua: %s has %d examples, %s %d\n", A[s], na, B[s], nb)); os.exit(1) end
  if N and N ~= na then io.stderr:write("paired.lua: the seeds' files cover different test splits\n"); os.exit(1) end
  N = na
  local ca, cb, n10, n01 = 0, 0, 0, 0
  for j = 1, N do
    ca, cb = ca + ra[j], cb + rb[j]
    if ra[j] == 1 and rb[j] == 0 then n10 = n10 + 1 elseif ra[j] == 0 and rb[j] == 1 then n01 = n01 + 1 end
  end
  local z = (n10 + n01) > 0 and (n10 - n01) / math.sqrt(n10 + n01) or 0
  local d = (ca - cb) / N
  sum_diff = sum_diff + d
  pairs_[s] = { ra, rb }
  print(string.format("| %d | %.4f | %.4f | %+.2f points | %d | %d | %.2f |", s, ca / N, cb / N, 100 * d, n10, n01, z))
end
local mean = sum_diff / #A

-- paired bootstrap: resample the N test examples with replacement (LuaJIT's math.random, a
-- Tausworthe generator, seeded: the same figures on every run), the same resample for every seed
-- and both models; the statistic is the mean difference over seeds
math.randomseed(tonumber(args.seed))
local rnd = math.random
-- per example, the difference summed over the seeds
local dsum = {}
for j = 1, N do
  local t = 0
  for s = 1, #A do t = t + pairs_[s][1][j] - pairs_[s][2][j] end
  dsum[j] = t
end
local R = tonumber(args.resamples)
local stats, not_ahead = {}, 0
for r = 1, R do
  local t = 0
  for _ = 1, N do t = t + dsum[rnd(N)] end
  local m = t / (N * #A)
  stats[r] = m
  if m <= 0 then not_ahead = not_ahead + 1 end
end
table.sort(stats)
local lo, hi = stats[math.max(1, math.floor(0.025 * R))], stats[math.min(R, math.ceil(0.975 * R))]
print()
print(string.format("%s - %s over %d seeds x %d test examples: %+.2f points, 95%% interval [%+.2f, %+.2f] (paired bootstrap, %d resamples); %s not ahead in %.2f%% of them",
  nA, nB, #A, N, 100 * mean, 100 * lo, 100 * hi, R, nA, 100 * not_ahead / R))
