-- hub.autotune.inprocess: a search without child processes, for benchmarks and tests: the
-- objective is a Lua function called in this process, one trial after the other.
--
--   local r = inprocess.run{ space = space, strategy = "tpe", seed = 1, budget = 50,
--                            popsize = 5, direction = "min",
--                            objective = function(values, ctx) return f(values) end }
--   r.best.value, r.best.values, r.trials[i].value
--
-- The objective may call ctx.report(value, step) for intermediate values (asha stops the trial
-- when it returns false: the objective should then return at once); what it returns is the
-- trial's value (nil or an error: a failed trial).
local strategies = require "hub.autotune.strategies"

local M = {}

function M.run(o)
  local space = o.space
  local dir = o.direction or "min"
  local sign = dir == "max" and -1 or 1
  local budget = o.budget or (o.popsize or 5) * (o.rounds or 10)
  local s = strategies.new(o.strategy, space, { seed = o.seed, popsize = o.popsize, budget = budget,
                                                sigma = o.sigma, grid_points = o.grid_points })
  for k, v in pairs(o.options or {}) do s[k] = v end
  local trials, best = {}, nil
  while #trials < budget do
    local t = s:ask()
    if not t then break end -- grid exhausted (sequential: generational strategies never wait)
    local values = space:values(t.x)
    local last, stopped = nil, false
    local ctx = {
      id = #trials + 1,
      report = function(value, step)
        last = value
        if s.should_stop and s:should_stop(t, step, sign * value) then stopped = true; return false end
        return true
      end,
    }
    local ok, v = pcall(o.objective, values, ctx)
    if not ok then v = nil elseif v == nil then v = last end
    if type(v) ~= "number" or v ~= v then v = nil end
    s:tell(t, v and sign * v or nil)
    local tr = { id = #trials + 1, values = values, x = t.x, value = v, pruned = stopped }
    trials[#trials + 1] = tr
    if v and (not best or sign * v < sign * best.value) then best = tr end
  end
  return { trials = trials, best = best }
end

return M
