-- quick in-process runs while tuning: hubrun bench/autofinetune/quick.lua STRATEGY SEEDS [k=v ...]
package.path = "bench/autofinetune/?.lua;" .. package.path
local F = require "functions"
local space = require "hub.autotune.space"
local ip = require "hub.autotune.inprocess"
local strat = arg[1] or "tpe"
local opts = {}
for i = 3, #arg do local k, v = arg[i]:match("^([%w_]+)=(.*)$"); if v == "false" then opts[k] = false elseif v == "true" then opts[k] = true else opts[k] = tonumber(v) or v end end
for _, name in ipairs(os.getenv("FN") and { os.getenv("FN") } or F.order) do
  local fn = F[name]
  local sp = space.from_table(F.param_table(name), name)
  local bests = {}
  for seed = 1, tonumber(arg[2] or 5) do
    local r = ip.run{ space = sp, strategy = strat, seed = seed, budget = F.budget[name], popsize = F.popsize[name], options = opts,
      objective = function(v) local x = {}; for i = 1, fn.dim do x[i] = v["x" .. i] end; return fn.f(x) end }
    bests[#bests+1] = r.best.value
  end
  table.sort(bests)
  print(strat, name, bests[math.ceil(#bests/2)], bests[math.ceil(#bests/4)], bests[math.ceil(#bests*3/4)])
end
