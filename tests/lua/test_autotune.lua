-- test_autotune.lua: hyper-parameter search, in this process: the YAML reader (libyaml) and the
-- param-file parser with its errors, the x <-> value map (bounds, log scale, int), the strategies
-- (grid enumerates exactly, random respects bounds, seeds are deterministic, HAZero/TPE/PSHE2
-- beat random on a convex function in the median over seeds, ASHA stops bad trials) and the
-- trial contract (hub.hparams / hub.report alone).
local hub = require "hub"
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, errors = T.ok, T.errors
local yaml = require "hub.yaml"
local space = require "hub.autotune.space"
local strategies = require "hub.autotune.strategies"
local ip = require "hub.autotune.inprocess"

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p '" .. tmp .. "'")
local function file(name, text) T.write_file(tmp .. "/" .. name, text); return tmp .. "/" .. name end

-- ---- YAML ----
local doc = yaml.load("a: 1\nb: [x, 'y', 2.5, 5e-5, ~]\nc:\n  d: yes\n  e: \"007\"\nf: &A {g: 1}\nh: *A\n", "t.yaml")
ok(doc.a == 1 and doc.b[1] == "x" and doc.b[2] == "y" and doc.b[3] == 2.5 and doc.b[4] == 5e-5 and doc.b[5] == yaml.null, "yaml scalars and sequences")
ok(doc.c.d == true and doc.c.e == "007" and doc.h == doc.f and doc.h.g == 1, "yaml booleans, quoted strings, anchors")
ok(yaml.line(doc.c, "e") == 5 and yaml.line(doc, "b") == 2, "yaml lines of values")
errors(function() yaml.load("a: [1, 2\nb: 3", "bad.yaml") end, "bad.yaml:2:", "yaml syntax error names file:line")
errors(function() yaml.load("a: 1\nb: 2\na: 3", "dup.yaml") end, "dup.yaml:3: duplicate key 'a'", "duplicate keys")

-- ---- param files ----
local good = file("h.yaml", [[
param_list:
- name : lr
  init_value : 0.001
  type : float
  lower_than : 0.05
  greater_than : 0.00001
  log: true
- name : batch_size
  init_value : 32
  type : int
  lower_than : 40
  greater_than : 30
- name: warmup
  type: float
  greater_than: 0
  lower_than: 0.2
]])
local sp = space.load(good)
ok(sp.dim == 3 and sp.params[1].log and sp.params[2].type == "int" and sp.params[3].init == nil, "param file read")
local sj = space.load(file("h.json", '{"param_list": [{"name": "a", "type": "int", "greater_than": 1, "lower_than": 4}, {"name": "b", "greater_than": -1, "lower_than": 1}]}'))
ok(sj.dim == 2 and sj.params[1].type == "int" and sj.params[2].type == "float", "JSON param file")
local function bad(text, pattern, msg) errors(function() space.load(file("bad.yaml", text)) end, pattern, msg) end
bad("param_list:\n- name: lr\n  type: double\n  greater_than: 0\n  lower_than: 1\n", "bad.yaml:3: param_list[1] (lr).type must be int or float", "bad type")
bad("param_list:\n- name: lr\n  greater_than: 2\n  lower_than: 1\n", "bad.yaml:4: param_list[1] (lr): greater_than 2 must be below lower_than 1", "lower > upper")
bad("param_list:\n- name: lr\n  greater_than: 0\n  lower_than: 1\n  lower: 3\n", "bad.yaml:5: param_list[1]: unknown key 'lower'", "unknown key")
bad("param_list:\n- name: lr\n  greater_than: 0\n  lower_than: 1\n  log: true\n", "log scale needs greater_than > 0", "log with 0 bound")
bad("param_list:\n- name: lr\n  greater_than: 0\n  lower_than: 1\n  init_value: 3\n", "bad.yaml:5: param_list[1] (lr).init_value 3 is outside [0, 1]", "init outside")
bad("param_list:\n- name: n\n  type: int\n  greater_than: 0.5\n  lower_than: 4\n", "int parameter needs integer bounds", "int bounds")
bad("params:\n- name: n\n", "unknown top-level key 'params'", "top-level key")
bad("param_list:\n- name: a\n  greater_than: 0\n  lower_than: 1\n- name: a\n  greater_than: 0\n  lower_than: 1\n", "the name 'a' is used twice", "duplicate name")
bad("param_list:\n- name: lr\n  greater_than: zero\n  lower_than: 1\n", "bad.yaml:3: param_list[1] (lr).greater_than (the lower bound) must be a number", "non-numeric bound")
errors(function() space.load(tmp .. "/missing.yaml") end, "cannot open", "missing file")

-- ---- the map ----
local v = sp:values { -1, -1, -1 }
ok(math.abs(v.lr - 1e-5) < 1e-15 and v.batch_size == 30 and v.warmup == 0, "x = -1 is the lower bound")
v = sp:values { 1, 1, 1 }
ok(math.abs(v.lr - 0.05) < 1e-12 and v.batch_size == 40 and math.abs(v.warmup - 0.2) < 1e-15, "x = 1 is the upper bound")
v = sp:values { 0, 0, 0 }
ok(math.abs(v.lr - math.sqrt(1e-5 * 0.05)) < 1e-12, "log scale: the middle is the geometric mean")
local back = sp:values(sp:coords { lr = 3e-4, batch_size = 33, warmup = 0.05 })
ok(math.abs(back.lr - 3e-4) < 1e-12 and back.batch_size == 33 and math.abs(back.warmup - 0.05) < 1e-12, "coords and values round-trip")

-- ---- strategies ----
-- grid: exactly the product of the axes, each point once
local g2 = space.from_table { param_list = { { name = "a", type = "int", greater_than = 1, lower_than = 3 },
                                             { name = "b", greater_than = 0, lower_than = 1 },
                                             { name = "c", values = { 8, 16, 32 }, type = "int", greater_than = 8, lower_than = 32 } } }
local grid = strategies.new("grid", g2, { budget = 27 })
local seen, n = {}, 0
while true do
  local t = grid:ask()
  if not t then break end
  local vals = g2:values(t.x)
  local key = string.format("%d/%.6f/%d", vals.a, vals.b, vals.c)
  ok(not seen[key], "grid: point " .. key .. " once")
  seen[key] = true
  n = n + 1
end
ok(n == 27, "grid: 3 ints x 3 points x 3 values = 27 points", n)
ok(seen["1/0.000000/8"] and seen["3/1.000000/32"] and seen["2/0.500000/16"], "grid: bounds and middle included")
ok(grid:ask() == false, "grid: done after the last point")

-- random: bounds, ints, log scale (median of log lr near the log middle)
local r = strategies.new("random", sp, { seed = 3 })
local inb, logs = true, {}
for _ = 1, 2000 do
  local vals = sp:values(r:ask().x)
  if vals.lr < 1e-5 or vals.lr > 0.05 or vals.batch_size < 30 or vals.batch_size > 40 or vals.batch_size % 1 ~= 0
     or vals.warmup < 0 or vals.warmup > 0.2 then inb = false end
  logs[#logs + 1] = math.log(vals.lr)
end
table.sort(logs)
ok(inb, "random: every value within bounds, ints integral")
local mid = (math.log(1e-5) + math.log(0.05)) / 2
ok(math.abs(logs[1000] - mid) < 0.3, "random: log-uniform lr (median of log lr at the log middle)", logs[1000] - mid)

-- determinism under a seed
for _, name in ipairs { "random", "tpe", "hazero", "pshe2", "asha" } do
  local function first(seed)
    local s = strategies.new(name, sp, { seed = seed, popsize = 4 })
    local xs = {}
    for k = 1, 14 do local t = s:ask(); xs[k] = table.concat(t.x, ","); s:tell(t, k % 5) end
    return table.concat(xs, ";")
  end
  ok(first(5) == first(5) and first(5) ~= first(6), name .. ": same seed, same trials; other seed, other trials")
end

-- TPE with workers: trials still running count as the worst loss seen (constant liar), so two
-- asks without a tell in between give different points, and the model sees the liar value
do
  local s1 = space.from_table { param_list = { { name = "u", greater_than = -1, lower_than = 1 } } }
  local function warmed(liar)
    local s = strategies.new("tpe", s1, { seed = 3, liar = liar })
    for k = 1, 12 do local t = s:ask(); s:tell(t, (t.x[1] - 0.3) ^ 2 + k * 1e-6) end
    return s
  end
  local s = warmed()
  local a = s:ask()
  local obs, liar = s:observations()
  local worst = -math.huge
  for _, o in ipairs(obs) do if not o.pending and o.loss > worst then worst = o.loss end end
  local lied
  for _, o in ipairs(obs) do if o.pending then lied = o end end
  ok(liar == worst and lied and lied.loss == worst and lied.x == a.x,
    "tpe: a running trial is modelled at the worst loss seen (the constant liar)", liar, worst)
  local b = s:ask()
  ok(math.abs(a.x[1] - b.x[1]) > 1e-6, "tpe: two pending asks give different points", a.x[1], b.x[1])
  s:tell(a, 0.5); s:tell(b, 0.5)
  local obs2, liar2 = s:observations()
  ok(liar2 == nil and #obs2 == 14, "tpe: told trials are no longer pending", #obs2)
  -- without the liar, the same state asks the same point twice (what the liar prevents)
  local n = warmed("none")
  local na = n:ask()
  ok(na.x[1] == a.x[1], "tpe: the liar changes nothing for the first of the pending asks", na.x[1], a.x[1])
end

-- HAZero, TPE, PSHE2 improve on random on a convex function (median over 9 seeds, wide margin)
local q6 = space.from_table { param_list = (function()
  local l = {}
  for k = 1, 4 do l[k] = { name = "x" .. k, greater_than = -5, lower_than = 5, init_value = 2 } end
  return l end)() }
local function median_best(name)
  local b = {}
  for seed = 1, 9 do
    local res = ip.run { space = q6, strategy = name, seed = seed, budget = 60, popsize = 6,
      objective = function(vals) local s = 0; for k = 1, 4 do s = s + (vals["x" .. k] - 1) ^ 2 end; return s end }
    b[#b + 1] = res.best.value
  end
  table.sort(b)
  return b[5]
end
local rnd = median_best("random")
for _, name in ipairs { "hazero", "tpe", "pshe2" } do
  local m = median_best(name)
  ok(m < rnd * 0.5, string.format("%s beats random on a convex function (median best %.3g vs %.3g)", name, m, rnd))
end

-- ASHA: trials whose curves are bad get stopped early; good ones run to the end
local a1 = space.from_table { param_list = { { name = "q", greater_than = 0, lower_than = 1 } } }
local res = ip.run { space = a1, strategy = "asha", seed = 1, budget = 30, direction = "max",
  objective = function(vals, ctx)
    local last
    for step = 1, 27 do
      last = vals.q * (1 - 1 / (step + 1))
      if not ctx.report(last, step) then return last end
    end
    return last
  end }
local pruned, full_good, pruned_good = 0, 0, 0
for _, t in ipairs(res.trials) do if t.pruned then pruned = pruned + 1 end end
ok(pruned >= 10, "asha stops bad trials early", pruned)
ok(not res.best.pruned and res.best.value > 0.8, "asha: the best trial ran to the end", res.best.value)

-- ---- the contract alone ----
local hp = hub.hparams { lr = 5e-5, n = 3 }
ok(hp.lr == 5e-5 and hp.n == 3, "hub.hparams alone returns the defaults")
ok(hub.report(0.5, { step = 1 }) == true, "hub.report alone returns true")
errors(function() hub.report("x") end, "the value must be a number", "hub.report of a string")

os.execute("rm -rf '" .. tmp .. "'")
T.finish()
