-- The recipe smoke test: recipes/ernie_cls.lua on a small subset of reviews_zh (800 training
-- examples, 1 epoch, 48 tokens) with the ernie-tiny-zh module that `make registry` builds
-- reaches a dev and test accuracy above chance (0.6; the classes are about 51/49), then exports
-- a module.  Needs the module (built only when modules/ernie-tiny-zh holds trained weights) and
-- the reviews_zh data (make corpus): without them it prints "skipped: ...".
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local build = HUBRUN:match("^(.*)/[^/]*$") or "."
local module_dir = build .. "/registry/ernie-tiny-zh/1.0.0"
if io.open(module_dir .. "/module.json") == nil then
  print("skipped: " .. module_dir .. " is not built (modules/ernie-tiny-zh has no trained weights; make registry)")
  T.finish()
  return
end
local okd = pcall(hub.datasets.reviews_zh)
if not okd then
  T.data_missing("reviews_zh is not fetched (make corpus)", "reviews_zh missing")
  T.finish()
  return
end

local tmp = io.popen("mktemp -d /tmp/hub_recipecls_XXXXXX"):read("*l")
local q = T.q
local cmd = string.format("HUB_HOME=%s %s ../recipes/ernie_cls.lua --module %s --max_train 800 --max_eval 400 --epochs 1 " ..
  "--batch_size 16 --max_seq_len 48 --lr 3e-4 --threads 2 --out %s --export smoke-cls 2>%s",
  q(tmp .. "/home"), q(HUBRUN), q(module_dir), q(tmp .. "/run"), q(tmp .. "/err"))
local out = io.popen(cmd):read("*a")
local dev, test = out:match("dev acc ([%d.]+)  test acc ([%d.]+)")
ok(dev and test, "the recipe prints dev and test accuracy", out .. (T.read_file(tmp .. "/err") or ""))
ok(tonumber(dev or 0) > 0.6 and tonumber(test or 0) > 0.6, "accuracy above chance (> 0.6)", out)
ok(io.open(tmp .. "/run/smoke-cls/module.json") ~= nil, "--export writes the module")
ok(io.open(tmp .. "/run/curves.png") ~= nil and io.open(tmp .. "/run/metrics.jsonl") ~= nil, "curves.png and metrics.jsonl")
print(out)
if T.failed == 0 then os.execute("rm -rf " .. q(tmp)) end
T.finish()
