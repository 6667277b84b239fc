-- test_autotune_cli.lua: `hubrun autofinetune` end to end with child hubrun trials: a search's
-- output directory; a trial that crashes, one that hangs (--timeout), one that prints garbage
-- and never reports, all counted as failed while the search goes on; a driver killed with
-- SIGKILL mid-search and resumed (--resume) gives the same trials as an uninterrupted search;
-- ASHA stops bad trials early; populationbased hands a better trial's checkpoint to the next
-- round; bad invocations fail with one clear line.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, q, write = T.ok, T.q, T.write_file
local json = require "hub.json"
local HUBRUN = arg[-1]

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. q(tmp))
local function path(n) return tmp .. "/" .. n end

local function sh(cmd)
  local p = io.popen("cd " .. q(tmp) .. " && (" .. cmd .. ") >out.txt 2>err.txt; echo $?")
  local rc = tonumber(p:read("*a"):match("(%d+)"))
  p:close()
  return rc, T.read_file(path("out.txt")) or "", T.read_file(path("err.txt")) or ""
end
local function aft(args) return sh(q(HUBRUN) .. " autofinetune " .. args) end
local function summary(dir)
  local rows = {}
  for line in io.lines(path(dir .. "/trials.csv")) do rows[#rows + 1] = line end
  return rows
end

write(path("h.yaml"), [[
param_list:
- name: x
  init_value: 0.5
  type: float
  greater_than: 0
  lower_than: 1
- name: k
  init_value: 2
  type: int
  greater_than: 0
  lower_than: 4
]])
-- a script that behaves by its x: x < 0.15 crashes, 0.15-0.3 hangs, 0.3-0.4 prints garbage
-- and exits without reporting; otherwise reports -(x - 0.7)^2 - k/10 over 3 steps
write(path("trial.lua"), [[
local hub = require "hub"
local hp = hub.hparams{ x = 0.5, k = 2 }
if hp.x < 0.15 then error("boom") end
if hp.x < 0.3 then while true do end end
if hp.x < 0.4 then print("\0garbage{{{"); os.exit(0) end
for s = 1, 3 do hub.report(-(hp.x - 0.7) ^ 2 - hp.k / 10 - (3 - s) * 0.01, { step = s }) end
]])

-- 1. a search with failures, random strategy: 8 trials, 2 at once
local rc, out, err = aft("trial.lua --param_file h.yaml --popsize 4 --round 2 --workers 2 --tuning_strategy random --seed 1 --timeout 3 --output_dir s1")
ok(rc == 0, "search with failing trials exits 0", err)
local rows = summary("s1")
ok(#rows == 9, "8 trials in trials.csv", #rows)
local nfail, nok, reasons = 0, 0, {}
for i = 2, #rows do
  if rows[i]:find(",failed,", 1, true) then nfail = nfail + 1; reasons[#reasons + 1] = rows[i] end
  if rows[i]:find(",ok,", 1, true) then nok = nok + 1 end
end
ok(nok >= 1 and nok + nfail == 8, "every trial ended ok or failed", table.concat(rows, "\n"))
local best = json.decode(T.read_file(path("s1/best.json")))
ok(best and best.params and best.params.x >= 0.4, "best.json holds a successful trial")
for _, f in ipairs { "summary.txt", "search.png", "journal.jsonl", "best/params.json", "best/metrics.jsonl", "trials/0001/log.txt", "trials/0001/trial.json" } do
  ok(io.open(path("s1/" .. f)) ~= nil, "output has " .. f)
end

-- the three failure kinds, by a search over fixed points (grid on values)
write(path("fail.yaml"), "param_list:\n- name: x\n  values: [0.1, 0.2, 0.35, 0.8]\n- name: k\n  type: int\n  greater_than: 1\n  lower_than: 1\n")
-- (k has a single value: a degenerate range is refused, so use lower_than 2 and one value)
write(path("fail.yaml"), "param_list:\n- name: x\n  values: [0.1, 0.2, 0.35, 0.8]\n- name: k\n  type: int\n  values: [1]\n  greater_than: 1\n  lower_than: 2\n")
-- (--timeout 5, not less: the good trial must start and finish beside a spinning one on a loaded machine)
rc, out, err = aft("trial.lua --param_file fail.yaml --popsize 4 --round 1 --workers 4 --tuning_strategy grid --timeout 5 --output_dir s2")
ok(rc == 0, "grid over crash/hang/garbage/good exits 0", err .. out)
local csv = T.read_file(path("s2/trials.csv")) or ""
ok(csv:find("failed,[^\n]*exit status 1[^\n]*boom") ~= nil, "a crashing trial is failed with its error", csv)
ok(csv:find("failed,[^\n]*timed out after 5 s") ~= nil, "a hanging trial is failed by --timeout", csv)
ok(csv:find("failed,[^\n]*exited without hub.report") ~= nil, "a garbage-printing trial without a report is failed", csv)
ok(csv:find(",ok,") ~= nil, "the good trial is ok", csv)

-- 2. resume: an uninterrupted search vs one whose driver is killed after 3 trials
local cmd = "--param_file h.yaml --popsize 3 --round 3 --tuning_strategy hazero --seed 7 --workers 1"
write(path("slow.lua"), [[
local hub = require "hub"
local hp = hub.hparams{ x = 0.5, k = 2 }
require("hub.core").C.hub_os_sleep(0.3)
hub.report(-(hp.x - 0.7) ^ 2 - hp.k / 10, { step = 1 })
]])
rc = aft("slow.lua " .. cmd .. " --output_dir full")
ok(rc == 0, "uninterrupted search")
local p = io.popen("cd " .. q(tmp) .. " && " .. q(HUBRUN) .. " autofinetune slow.lua " .. cmd .. " --output_dir cut >cut.log 2>&1 & echo $!")
local pid = p:read("*l")
p:close()
local C = require("hub.core").C
for _ = 1, 600 do
  local j = T.read_file(path("cut/journal.jsonl")) or ""
  local _, ends = j:gsub('"event":"end"', "")
  if ends >= 3 then break end
  C.hub_os_sleep(0.02)
end
os.execute("kill -9 " .. pid)
C.hub_os_sleep(0.2)
local j = T.read_file(path("cut/journal.jsonl")) or ""
ok(not j:find('"event":"done"'), "the driver was killed mid-search")
rc, out, err = aft("slow.lua --output_dir cut --resume")
ok(rc == 0 and out:find("resuming"), "--resume continues", err .. out)
local function params(dir)
  local t = {}
  for line in io.lines(path(dir .. "/trials.csv")) do t[#t + 1] = line:match("^[^,]*,[^,]*,[^,]*,[^,]*,[^,]*,[^,]*,(.*)$") end
  return table.concat(t, "\n")
end
ok(params("full") == params("cut"), "a resumed search runs the same trials as an uninterrupted one", params("full") .. "\n--\n" .. params("cut"))
rc, out, err = aft("slow.lua " .. cmd .. " --output_dir cut")
ok(rc == 1 and err:find("holds a search already"), "no silent overwrite of a search", err)
rc, out, err = aft("slow.lua --output_dir cut --resume --seed 8")
ok(rc == 1 and err:find("started with seed = 7"), "resume refuses changed settings", err)

-- 3. asha through processes: bad trials stopped before their last step
write(path("curve.lua"), [[
local hub = require "hub"
local hp = hub.hparams{ x = 0.5, k = 2 }
for s = 1, 9 do
  if not hub.report(hp.x * (1 - 1 / (s + 1)), { step = s }) then return end
end
]])
rc, out, err = aft("curve.lua --param_file h.yaml --popsize 6 --round 2 --tuning_strategy asha --seed 2 --output_dir s3")
ok(rc == 0, "asha search", err)
local stopped = 0
for line in io.lines(path("s3/trials.csv")) do if line:find(",pruned,", 1, true) then stopped = stopped + 1 end end
ok(stopped >= 3, "asha stopped bad trials early", T.read_file(path("s3/trials.csv")))

-- 4. populationbased: round 1 trials start from a round-0 checkpoint
write(path("pbt.lua"), [[
local hub = require "hub"
local hp = hub.hparams{ x = 0.5, k = 2 }
local from = hub.trial.resume_from()
local acc = 0
if from then acc = tonumber(io.open(from .. "/state.txt"):read("*a")) end
acc = acc + hp.x
os.execute("mkdir -p '" .. hub.trial.checkpoint_dir() .. "'")
local f = io.open(hub.trial.checkpoint_dir() .. "/state.txt", "w"); f:write(tostring(acc)); f:close()
hub.report(acc)
]])
rc, out, err = aft("pbt.lua --param_file h.yaml --popsize 3 --round 2 --tuning_strategy pshe2 --evaluator populationbased --output_dir s4")
ok(rc == 0, "populationbased search", err)
local t4 = json.decode(T.read_file(path("s4/trials/0004/trial.json")) or "{}")
ok(t4.parent and t4.resume_from and io.open(t4.resume_from .. "/state.txt") ~= nil, "round 1 gets a copy of a parent's checkpoint", T.read_file(path("s4/trials/0004/trial.json")))

-- 5. bad invocations
rc, out, err = aft("trial.lua")
ok(rc == 1 and err:find("--param_file is required"), "missing --param_file", err)
rc, out, err = aft("trial.lua --param_file h.yaml --tuning_strategy bayes --output_dir s5")
ok(rc == 1 and err:find("--tuning_strategy must be one of"), "unknown strategy", err)
rc, out, err = aft("trial.lua --param_file h.yaml --popsize zero")
ok(rc == 1 and err:find("--popsize must be an integer"), "bad --popsize", err)
rc, out, err = aft("nope.lua --param_file h.yaml --output_dir s6")
ok(rc == 1 and err:find("no such script"), "missing script", err)
rc, out, err = aft("--help")
ok(rc == 0 and out:find("--tuning_strategy"), "--help")

-- TPE with two workers: past the 10 startup trials, a trial is asked while another runs (the
-- constant liar models it at the worst loss seen; test_autotune checks the value), and no two
-- trials get the same point
write(path("tq.lua"), [[
local hub = require "hub"
local hp = hub.hparams{ x = 0.5, k = 2 }
os.execute("sleep 0.3")
hub.report(-(hp.x - 0.3) ^ 2 - 0.01 * hp.k)
]])
do
  local rc2 = aft("tq.lua --param_file h.yaml --popsize 16 --round 1 --workers 2 --tuning_strategy tpe --seed 4 --output_dir sl")
  ok(rc2 == 0, "tpe with --workers 2 runs")
  local running, overlap, xs, dup = {}, 0, {}, false
  for line in io.lines(path("sl/journal.jsonl")) do
    local e = json.decode(line)
    if e.event == "ask" then
      local key = table.concat(e.x, ",")
      if xs[key] then dup = true end
      xs[key] = true
      if e.id > 10 and next(running) then overlap = overlap + 1 end
      running[e.id] = true
    elseif e.event == "end" then running[e.id] = nil end
  end
  ok(overlap >= 2, "tpe --workers 2: model-based asks while another trial runs", overlap)
  ok(not dup, "tpe --workers 2: every trial a different point")
end


os.execute("rm -rf " .. q(tmp))

T.finish()
