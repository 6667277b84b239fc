-- test_checkpoint_resume.lua: a training run killed with kill -9 and resumed ends bit-identical
-- to an uninterrupted one.  resume_train.lua (an MLP with dropout, AdamW + warm-up/decay, data
-- shuffled per epoch, a checkpoint every 10 steps) runs once to the end; a second copy is killed
-- at a point that changes from run to run (after its first checkpoint), started again, and must
-- then have logged exactly the same metric lines (step, epoch, loss, lr as exact doubles) and
-- saved byte-identical final weights.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local hub = require "hub"
local ok = T.ok

local HUBRUN = arg[-1]
local here = arg[0]:match("^(.*)/") or "."
local script = here .. "/resume_train.lua"
local STEPS, EVERY = 60, 10

local tmp = os.tmpname()
os.remove(tmp)
assert(hub.C.hub_fs_mkdirs(tmp) == 0)

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
local function lines(path)
  local out = {}
  for l in (read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end
local function run_args(d, pause)
  return string.format("%s %s %s/ckpt %s/metrics.jsonl %s/final.safetensors %d %d %s", HUBRUN, script, d, d, d, STEPS,
    EVERY, pause or "0")
end

-- 1. uninterrupted
local a = tmp .. "/a"
hub.C.hub_fs_mkdirs(a)
local t0 = hub.C.hub_os_monotonic()
ok(os.execute(run_args(a) .. " 2>" .. a .. "/err") == 0, "uninterrupted run exits 0", read(a .. "/err"))
local ref = lines(a .. "/metrics.jsonl")
ok(#ref == STEPS, "uninterrupted run logs every step", #ref)

-- 2. killed at a random-ish step after the first checkpoint
local b = tmp .. "/b"
hub.C.hub_fs_mkdirs(b)
local kill_at = EVERY + 3 + math.floor(hub.C.hub_os_time() * 1000) % (STEPS - EVERY - 10)
local p = io.popen(string.format("sh -c '%s >%s/out 2>&1 & echo $!'", run_args(b, "0.02"), b))
local pid = tonumber(p:read("*l"))
p:close()
ok(pid ~= nil, "background run started")
local deadline = hub.C.hub_os_monotonic() + 60
while #lines(b .. "/metrics.jsonl") < kill_at and hub.C.hub_os_monotonic() < deadline do hub.C.hub_os_sleep(0.005) end
os.execute("kill -9 " .. pid)
while os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 and hub.C.hub_os_monotonic() < deadline do hub.C.hub_os_sleep(0.005) end
local logged = #lines(b .. "/metrics.jsonl")
print(string.format("killed after %d logged steps (aimed at %d)", logged, kill_at))
ok(logged >= kill_at and logged < STEPS, "the run was killed mid-way", logged)
ok(read(b .. "/final.safetensors") == nil, "the killed run did not finish")
local latest = hub.checkpoint.latest(b .. "/ckpt")
ok(latest ~= nil, "a checkpoint exists after the kill")

-- 3. resumed
ok(os.execute(run_args(b) .. " 2>" .. b .. "/err") == 0, "resumed run exits 0", read(b .. "/err"))
ok((read(b .. "/err") or ""):find("resumed from", 1, true) ~= nil, "the second start resumed", read(b .. "/err"))
local got = lines(b .. "/metrics.jsonl")
ok(#got == STEPS, "resumed log has one line per step", #got)
local same, first_diff = #got == #ref, nil
for i = 1, math.max(#got, #ref) do
  if got[i] ~= ref[i] then same, first_diff = false, i; break end
end
ok(same, "metric lines (loss, lr) identical to the uninterrupted run",
  first_diff and ("line " .. first_diff .. ":\n" .. tostring(ref[first_diff]) .. "\n" .. tostring(got[first_diff])))
local wa, wb = read(a .. "/final.safetensors"), read(b .. "/final.safetensors")
ok(wa ~= nil and wa == wb, "final weights bit-identical")

-- the directory holds the last two checkpoints, a pointer and nothing half-written
local names = {}
local d = hub.C.hub_dir_open(b .. "/ckpt")
while true do
  local n = hub.C.hub_dir_next(d, nil)
  if n == nil then break end
  names[#names + 1] = require("ffi").string(n)
end
hub.C.hub_dir_close(d)
table.sort(names)
ok(table.concat(names, " ") == ".lock latest step-50 step-60", "last two checkpoints kept", table.concat(names, " "))
ok(read(b .. "/ckpt/latest") == "step-60\n", "latest points at the last step")

print(string.format("%.1f s", hub.C.hub_os_monotonic() - t0))
hub.C.hub_fs_remove_tree(tmp)
T.finish()
