-- test_determinism.lua: the same seed gives the same loss curve to the last bit.  A small MLP
-- (with dropout, so the dropout stream is covered too) trains for 50 AdamW steps on synthetic
-- data from hub.randn, in shuffled batches whose order is drawn from hub's generator; two runs
-- from the same seed must give identical losses (compared as hex floats, "%a"), in this process
-- and in a child hubrun process, at the current thread count and at one thread; another seed
-- must give another curve.
local hub = require "hub"
local nn = hub.nn

-- Prints the loss curve of SEED and exits: the child process's side of the check.
local function curve(seed)
  hub.manual_seed(seed)
  local x = hub.randn(256, 16)
  local y = hub.randint(0, 4, { 256 })
  local ds = hub.data.TensorDataset{ x = x, y = y }
  local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 4))
  local opt = hub.optim.AdamW(model, { lr = 1e-2 })
  local losses = {}
  while #losses < 50 do
    for xb, yb in ds:batches(32) do
      local loss = hub.cross_entropy(model(xb), yb)
      opt:zero_grad(); loss:backward(); opt:step()
      losses[#losses + 1] = string.format("%a", loss:item())
      if #losses == 50 then break end
    end
  end
  return losses
end

if arg and arg[1] == "--curve" then
  if arg[3] then hub.set_num_threads(tonumber(arg[3])) end
  print(table.concat(curve(tonumber(arg[2])), " "))
  return
end

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local function first_difference(a, b)
  for i = 1, math.max(#a, #b) do
    if a[i] ~= b[i] then return string.format("step %d: %s vs %s", i, tostring(a[i]), tostring(b[i])) end
  end
  return nil
end

local threads = hub.get_num_threads()
local a, b = curve(1), curve(1)
ok(#a == 50, "50 losses")
ok(first_difference(a, b) == nil, "same seed, same curve: " .. tostring(first_difference(a, b)))
local c = curve(2)
ok(first_difference(a, c) ~= nil, "another seed gives another curve")
ok(tonumber(a[50]) < tonumber(a[1]), "the loss falls: " .. tonumber(a[1]) .. " -> " .. tonumber(a[50]))

-- At one thread, again twice (curves at different thread counts need not agree).
hub.set_num_threads(1)
local a1, b1 = curve(1), curve(1)
hub.set_num_threads(threads)
ok(first_difference(a1, b1) == nil, "one thread, same seed, same curve: " .. tostring(first_difference(a1, b1)))
if first_difference(a, a1) then
  print(string.format("note: %d threads and 1 thread differ (%s)", threads, first_difference(a, a1)))
end

-- In a fresh process: nothing may depend on addresses, allocator state or caches.
local exe, script = arg and arg[-1], arg and arg[0]
if exe and script then
  local p = io.popen(string.format("'%s' '%s' --curve 1 %d", exe, script, threads))
  local out = p:read("*a")
  p:close()
  local child = {}
  for w in out:gmatch("%S+") do child[#child + 1] = w end
  ok(first_difference(a, child) == nil, "a child process gives the same curve: " .. tostring(first_difference(a, child)))
else
  print("note: interpreter path unknown, child-process check skipped")
end

T.finish()
