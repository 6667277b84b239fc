-- test_lr.lua - hub.lr's schedules against torch's schedulers (tests/fixtures/lr_schedules.json,
-- made by scripts/gen_lr_fixtures.py with LinearLR and CosineAnnealingLR): cosine with warm-up,
-- `min` and several cycles, a fractional warm-up, linear and constant with warm-up.  Every
-- update index from 0 to the end of the schedule is compared (a warm-up that is one update off
-- changes the values at its edge).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local cjson = require "cjson"

local fx = cjson.decode(T.read_file("fixtures/lr_schedules.json"))
ok(#fx.cases >= 10, "fixture cases: " .. #fx.cases)
for _, c in ipairs(fx.cases) do
  local fn = hub.lr[c.kind](c.opts)
  local worst, at = 0, nil
  for k = 0, #c.values - 1 do
    local d = math.abs(fn(k) - c.values[k + 1])
    if d > worst then worst, at = d, k end
  end
  -- torch's warm-up starts at 1e-12 (it refuses 0) and its cosine is recursive: 1e-9 is ample
  ok(worst < 1e-9, string.format("%s differs from torch by %.3g at update %s", c.name, worst, tostring(at)))
end

-- after `total` updates the cosine stays at its floor, the linear decay at 0
local cos = hub.lr.cosine { warmup = 2, total = 12, min = 0.2 }
ok(math.abs(cos(12) - 0.2) < 1e-12 and math.abs(cos(100) - 0.2) < 1e-12, "cosine stays at min after total")
ok(hub.lr.linear { warmup = 2, total = 12 }(50) == 0, "linear stays at 0 after total")

T.finish()
