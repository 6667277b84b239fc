-- test_paired.lua: bench/finetune/paired.lua (the paired comparison of two models' test
-- predictions) on hand-made files whose figures are worked out below.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local script = (arg[0]:match("^(.*)/") or ".") .. "/../../bench/finetune/paired.lua"
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. T.q(dir))

-- 4 test examples, gold 1 0 1 0.  Seed 1: A right on 1, 2, 3 (pred 1 0 1 1), B right on 1
-- (pred 1 1 0 1): accuracies 0.75 and 0.25, difference +50 points, A right and B wrong on 2
-- examples, the reverse on 0: McNemar z = 2 / sqrt(2) = 1.41.  Seed 2: both right everywhere
-- (difference 0).  The mean over the seeds: +25 points.
local function write(name, preds)
  local gold = { 1, 0, 1, 0 }
  local lines = {}
  for i, p in ipairs(preds) do lines[i] = string.format('{"index": %d, "gold": %d, "pred": %d}', i, gold[i], p) end
  T.write_file(dir .. "/" .. name, table.concat(lines, "\n") .. "\n")
  return dir .. "/" .. name
end
local a1, b1 = write("a1", { 1, 0, 1, 1 }), write("b1", { 1, 1, 0, 1 })
local a2, b2 = write("a2", { 1, 0, 1, 0 }), write("b2", { 1, 0, 1, 0 })
local function run(args)
  local p = io.popen(string.format("%s %s %s 2>&1; echo rc=$?", T.q(HUBRUN), T.q(script), args))
  local out = p:read("*a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end
local out, rc = run(string.format("--a %s,%s --b %s,%s --names A,B --resamples 500", a1, a2, b1, b2))
ok(rc == 0, "paired.lua runs", out)
ok(out:find("| 1 | 0.7500 | 0.2500 | +50.00 points | 2 | 0 | 1.41 |", 1, true), "seed 1's row", out)
ok(out:find("| 2 | 1.0000 | 1.0000 | +0.00 points | 0 | 0 | 0.00 |", 1, true), "seed 2's row", out)
ok(out:find("A - B over 2 seeds x 4 test examples: +25.00 points", 1, true), "the mean difference", out)
-- every resample's mean lies in [0, 0.5] (examples 2 and 3 give +0.5 each, the others 0)
local lo, hi = out:match("95%% interval %[([%+%-]%d+%.%d+), ([%+%-]%d+%.%d+)%]")
ok(lo and tonumber(lo) >= 0 and tonumber(hi) <= 50 and tonumber(lo) <= tonumber(hi), "the interval lies within [0, 50]", out)
-- errors: unequal lists, a bad line, a missing example
local o2, rc2 = run(string.format("--a %s --b %s,%s", a1, b1, b2))
ok(rc2 == 2 and o2:find("as many --a files as --b files", 1, true), "unequal lists are refused", o2)
T.write_file(dir .. "/bad", '{"index": 1, "gold": 1}\n')
local o3, rc3 = run(string.format("--a %s --b %s", dir .. "/bad", b1))
ok(rc3 == 1 and o3:find("bad:1: not a {index, gold, pred} line", 1, true), "a bad line names the file and line", o3)
T.write_file(dir .. "/gap", '{"index": 2, "gold": 1, "pred": 1}\n')
local o4, rc4 = run(string.format("--a %s --b %s", dir .. "/gap", b1))
ok(rc4 == 1 and o4:find("no prediction for example 1", 1, true), "a missing example is named", o4)
os.execute("rm -rf " .. T.q(dir))
T.finish()
