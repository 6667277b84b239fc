-- bench/autofinetune/bench.lua: every hubrun strategy on the benchmark functions, in-process
-- (hub.autotune.inprocess: no child processes), one line per (function, strategy, seed):
-- `hubrun FUNCTION STRATEGY SEED BEST_TRUE_VALUE`, the same budgets as optuna_bench.py.
--   build/hubrun bench/autofinetune/bench.lua [--seeds 20] [--only branin,hartmann6,quad10] [--strategies ...]
-- The noisy quadratic's trials report f + N(0, 1); the score is the noise-free f at the trial the
-- search calls best (as for Optuna).
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local F = require "functions"
local space = require "hub.autotune.space"
local ip = require "hub.autotune.inprocess"
local rng = require "hub.autotune.rng"
local seeds, only, strats = 20, table.concat(F.order, ","), "hazero,pshe2,tpe,random,grid,asha"
local i = 1
while i <= #arg do
  if arg[i] == "--seeds" then seeds = tonumber(arg[i + 1]); i = i + 2
  elseif arg[i] == "--only" then only = arg[i + 1]; i = i + 2
  elseif arg[i] == "--strategies" then strats = arg[i + 1]; i = i + 2
  else error("bench.lua: unknown argument " .. arg[i], 0) end
end
for name in only:gmatch("[^,]+") do
  local fn = F[name]
  local sp = space.from_table(F.param_table(name), name)
  for s in strats:gmatch("[^,]+") do
    for seed = 1, seeds do
      local noise = rng.new(1000 + seed)
      local truth = {}
      local r = ip.run { space = sp, strategy = s, seed = seed, budget = F.budget[name], popsize = F.popsize[name],
        objective = function(v, ctx)
          local x = {}
          for k = 1, fn.dim do x[k] = v["x" .. k] end
          local f = fn.f(x)
          truth[ctx.id] = f
          return f + (fn.noise > 0 and fn.noise * noise:normal() or 0)
        end }
      print(string.format("hubrun %s %s %d %.10g", name, s, seed, truth[r.best.id]))
      io.stdout:flush()
    end
  end
end
