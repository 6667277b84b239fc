-- test_checkpoint.lua: hub.rng_state, hub.json's exact numbers, hub.checkpoint (round trip,
-- pruning, half-written and damaged checkpoints, bad arguments) and hub.jsonl (resume truncation,
-- a line cut by a kill).  The kill -9 resume run is test_checkpoint_resume.lua.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local hub = require "hub"
local ffi = require "ffi"
local ok, errors = T.ok, T.errors
local C = hub.C
local ckpt, json = hub.checkpoint, require "hub.json"

local tmp = os.tmpname()
os.remove(tmp)
assert(C.hub_fs_mkdirs(tmp) == 0)

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end
local function ls(dir)
  local out = {}
  local d = C.hub_dir_open(dir)
  if d == nil then return "" end
  while true do
    local n = C.hub_dir_next(d, nil)
    if n == nil then break end
    out[#out + 1] = ffi.string(n)
  end
  C.hub_dir_close(d)
  table.sort(out)
  return table.concat(out, " ")
end
local function equal(a, b) return a:sub(b):abs():max():item() == 0 end

-- ---- RNG state ----
do
  hub.manual_seed(42)
  hub.randn({ 5 })
  local s = hub.rng_state()
  ok(s.seed == 42 and s.counter > 0, "rng_state after manual_seed and one draw", s.seed .. " " .. s.counter)
  local a, b = hub.randn({ 7 }), hub.rand({ 3 })
  local d = hub.nn.Dropout(0.5)
  local da = d(hub.ones({ 64 }))
  hub.randn({ 100 }) -- move on
  hub.set_rng_state(s)
  local a2, b2 = hub.randn({ 7 }), hub.rand({ 3 })
  ok(equal(a, a2) and equal(b, b2), "numbers after restoring equal the numbers after saving")
  ok(equal(da, d(hub.ones({ 64 }))), "dropout masks after restoring equal")
  hub.set_rng_state { seed = "42", counter = tostring(s.counter) }
  ok(equal(a, hub.randn({ 7 })), "set_rng_state takes decimal strings")
  hub.set_rng_state { seed = "18446744073709551615", counter = 0 }
  ok(tostring(hub.rng_state().seed) == "18446744073709551615ULL", "64-bit seeds kept exactly")
  errors(function() hub.set_rng_state { seed = -1, counter = 0 } end, "non-negative integer", "negative seed")
  errors(function() hub.set_rng_state { seed = "12a", counter = 0 } end, "set_rng_state", "bad string")
  errors(function() hub.set_rng_state(5) end, "set_rng_state", "not a table")
end

-- ---- JSON ----
do
  local vals = { 0.1 + 0.2, 1 / 3, 5e-5, 2 ^ 53 + 2, -1e-310, 123456789012345678, 0.9 }
  local back = json.decode(json.encode(vals))
  local same = true
  for i, v in ipairs(vals) do if back[i] ~= v then same = false end end
  ok(same, "json numbers read back as the same doubles", json.encode(vals))
  ok(json.encode { 0.9, 0.5 } == "[0.9,0.5]", "shortest exact text", json.encode { 0.9, 0.5 })
  ok(json.encode { b = 1, a = { x = "q\"\n" } } == '{"a":{"x":"q\\"\\n"},"b":1}', "sorted keys, escapes")
  ok(json.encode { 0 / 0, 1 / 0 } == "[null,null]", "NaN and infinity become null")
  errors(function() json.encode { f = print } end, "value.f is a function", "functions refused")
  errors(function() json.decode("{bad", "x.json") end, "x.json: invalid JSON", "decode names the source")
end

-- ---- checkpoints ----
local nn = hub.nn
local function make()
  hub.manual_seed(3)
  local m = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 2))
  local opt = hub.optim.AdamW(m, { lr = 1e-2, no_decay = { "bias" }, schedule = hub.lr.linear { warmup = 2, total = 20 } })
  return m, opt
end
local function train(m, opt, n)
  local losses = {}
  for _ = 1, n do
    local x = hub.randn({ 5, 4 })
    local loss = m(x):pow(2):mean()
    opt:zero_grad()
    loss:backward()
    opt:step()
    losses[#losses + 1] = loss:item()
  end
  return losses
end

do
  local dir = tmp .. "/c1"
  ok(ckpt.latest(dir) == nil, "latest of a missing directory is nil")
  local m, opt = make()
  train(m, opt, 3)
  local path = ckpt.save(dir, { model = m, optimizer = opt, step = 3, state = { epoch = 2, best = 0.1 + 0.2, tags = { "a", "b" } } })
  ok(path == dir .. "/step-3", "save returns the step directory", path)
  ok(ckpt.latest(dir) == path, "latest names it")
  ok(ls(path) == "meta.json model.safetensors optimizer.safetensors", "files of a checkpoint", ls(path))
  local after = train(m, opt, 4)
  local w_after = m:state_dict()["0.weight"]:clone()

  local m2, opt2 = make()
  train(m2, opt2, 1) -- different state, to be overwritten
  local r = ckpt.load(path, { model = m2, optimizer = opt2 })
  ok(r.step == 3 and r.state.epoch == 2 and r.state.best == 0.1 + 0.2 and r.state.tags[2] == "b", "step and user state back")
  ok(opt2.step_count == 3 and opt2.state[1].step == 3, "optimizer step_count and per-parameter step back")
  local again = train(m2, opt2, 4)
  local same = true
  for i = 1, 4 do if after[i] ~= again[i] then same = false end end
  ok(same, "losses after load equal losses after save (weights, Adam state, schedule, RNG)",
    table.concat(after, " ") .. "\n" .. table.concat(again, " "))
  ok(equal(w_after, m2:state_dict()["0.weight"]), "weights after 4 more steps equal")
  -- resume: load(latest) or a fresh start
  local r0 = ckpt.resume(tmp .. "/none", { model = m2 })
  ok(r0.step == 0 and next(r0.state) == nil and r0.path == nil, "resume without a checkpoint starts at 0")
  ok(ckpt.resume(dir, { model = m2 }).step == 3, "resume loads the latest")
  -- the root directory means its latest checkpoint
  ok(ckpt.load(dir, { model = m2 }).path == path, "load(root) loads the latest")

  -- keep = 2 and pruning of abandoned futures
  for s = 4, 7 do ckpt.save(dir, { model = m, optimizer = opt, step = s }) end
  ok(ls(dir) == ".lock latest step-6 step-7", "keep = 2 leaves the last two", ls(dir))
  ckpt.save(dir, { model = m, step = 5, keep = 3 })
  ok(ls(dir) == ".lock latest step-5", "saving an earlier step drops the later ones", ls(dir))
  ckpt.save(dir, { model = m, step = 5 })
  ok(ls(dir) == ".lock latest step-5", "saving the same step again replaces it", ls(dir))
  ckpt.save(dir, { model = m, step = 9, tag = "best" })
  ok(ls(dir) == ".lock best latest step-5" and ckpt.latest(dir) == dir .. "/step-5", "a tag is kept apart", ls(dir))
  ok(ckpt.load(dir .. "/best", { model = m2 }).step == 9, "a tagged checkpoint loads")

  -- a half-written checkpoint (the writer killed before its rename) is never picked up
  C.hub_fs_mkdirs(dir .. "/.tmp-step-8-999")
  write(dir .. "/.tmp-step-8-999/model.safetensors", "partial")
  ok(ckpt.latest(dir) == dir .. "/step-5", "a .tmp directory is not a checkpoint")
  -- a lost pointer: the highest complete step directory
  os.remove(dir .. "/latest")
  C.hub_fs_mkdirs(dir .. "/step-6") -- no meta.json: not complete
  ok(ckpt.latest(dir) == dir .. "/step-5", "without the pointer, the highest complete step")
  C.hub_fs_remove_tree(dir .. "/step-6")
  ckpt.save(dir, { model = m, step = 6 })
  ok(ls(dir) == ".lock best latest step-5 step-6", "the next save removes the leftovers", ls(dir))

  -- damaged checkpoints: clear errors naming the file, nothing changed
  local before = m2:state_dict()["0.weight"]:clone()
  local f = io.open(dir .. "/step-6/model.safetensors", "r+b")
  f:seek("set", 200); f:write("\255\255\255\255"); f:close()
  errors(function() ckpt.load(dir .. "/step-6", { model = m2 }) end, dir .. "/step-6/model.safetensors does not match its sha256",
    "flipped bytes")
  ok(equal(before, m2:state_dict()["0.weight"]), "a failed load changes nothing")
  write(dir .. "/step-6/model.safetensors", "short")
  errors(function() ckpt.load(dir .. "/step-6", { model = m2 }) end, dir .. "/step-6/model.safetensors has 5 bytes",
    "truncated file")
  os.remove(dir .. "/step-6/model.safetensors")
  errors(function() ckpt.load(dir .. "/step-6", { model = m2 }) end, dir .. "/step-6/model.safetensors is missing", "missing file")
  write(dir .. "/step-6/meta.json", "{\"format\": \"hubrun-checkpoint\", ")
  errors(function() ckpt.load(dir .. "/step-6", { model = m2 }) end, dir .. "/step-6/meta.json: invalid JSON", "bad meta.json")
  os.remove(dir .. "/step-6/meta.json")
  errors(function() ckpt.load(dir .. "/step-6", { model = m2 }) end, dir .. "/step-6/meta.json is missing", "no meta.json")
  errors(function() ckpt.load(tmp .. "/nowhere", { model = m2 }) end, "is not a checkpoint directory", "no directory")
  errors(function() ckpt.load(dir .. "/step-5", { model = m2, optimizer = opt2 }) end, "holds no optimiser state",
    "optimizer asked but not saved")
  local part = nn.Sequential(nn.Linear(4, 8))
  ckpt.load(dir .. "/step-5", { model = part, strict = false })
  ok(equal(part:state_dict()["0.weight"], m:state_dict()["0.weight"]), "strict = false loads the matching names")
  local small = nn.Linear(3, 3)
  errors(function() ckpt.load(dir .. "/step-5", { model = small }) end, "step-5/model.safetensors: load_state_dict", "wrong model")

  -- bad arguments
  errors(function() ckpt.save(dir, { model = m }) end, "step must be an integer", "no step")
  errors(function() ckpt.save(dir, { model = m, step = 1, stat = {} }) end, "unknown option 'stat'", "typo")
  errors(function() ckpt.save(dir, { model = m, step = 1, state = { f = print } }) end, "state.f is a function", "state not JSON")
  errors(function() ckpt.save(dir, { model = m, step = 1, tag = "../x" }) end, "tag must be a plain name", "bad tag")
  errors(function() ckpt.save(dir, { model = 5, step = 1 }) end, "model is a number", "bad model")

  -- a plain table of tensors as the "model"; an optimiser before its first step
  local w = { a = hub.randn({ 3 }), b = hub.zeros({ 2, 2 }) }
  local o = hub.optim.SGD({ w.a }, { lr = 0.1, momentum = 0.9 })
  ckpt.save(tmp .. "/c2", { model = w, optimizer = o, step = 0 })
  local w2 = { a = hub.zeros({ 3 }), b = hub.ones({ 2, 2 }) }
  ckpt.load(tmp .. "/c2", { model = w2, optimizer = hub.optim.SGD({ w2.a }, { lr = 0.1, momentum = 0.9 }) })
  ok(equal(w.a, w2.a) and equal(w.b, w2.b), "a table of tensors round-trips")
end

-- ---- real kills in the middle of saves ----
-- A process saves 4 MB checkpoints in a loop (each holding its step number in every element and
-- in its state) and is killed with kill -9 at three moments; each time, latest() must name a
-- complete checkpoint whose contents match its step, and the next process resumes after it.
do
  local dir, saver = tmp .. "/kills", tmp .. "/saver.lua"
  write(saver, [[
local hub = require "hub"
local dir = arg[1]
local last = hub.checkpoint.latest(dir)
local s = last and hub.checkpoint.read_meta(last).step or 0
while true do
  s = s + 1
  hub.checkpoint.save(dir, { model = { w = hub.full({ 1024, 1024 }, s) }, step = s, state = { s = s } })
end
]])
  local HUBRUN = arg[-1]
  local prev = 0
  local function latest_step()
    local p = ckpt.latest(dir)
    return p and ckpt.read_meta(p).step or 0
  end
  -- each run is killed a little after its first new checkpoint, at a different phase of a save
  for i, delay in ipairs { 0.013, 0.029, 0.047 } do
    local p = io.popen(string.format("sh -c '%s %s %s >/dev/null 2>&1 & echo $!'", HUBRUN, saver, dir))
    local pid = tonumber(p:read("*l"))
    p:close()
    local deadline = C.hub_os_monotonic() + 60
    while latest_step() <= prev and C.hub_os_monotonic() < deadline do C.hub_os_sleep(0.003) end
    C.hub_os_sleep(delay)
    os.execute("kill -9 " .. pid)
    while os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 do C.hub_os_sleep(0.005) end
    local path = ckpt.latest(dir)
    local w = { w = hub.zeros({ 1024, 1024 }) }
    local good, r = pcall(ckpt.load, path or dir, { model = w })
    ok(good and r.state.s == r.step and w.w:sub(r.step):abs():max():item() == 0 and r.step > prev,
      "kill " .. i .. ": latest is complete and consistent", good and (path .. " step " .. r.step) or r)
    prev = good and r.step or prev
    print(string.format("kill %d: resumable at step %d (%s)", i, prev, ls(dir)))
  end
  ok(prev > 0, "some checkpoints were written between the kills")
  ckpt.save(dir, { model = { w = hub.full({ 4 }, prev + 1) }, step = prev + 1 })
  ok(not ls(dir):find("tmp", 1, true), "the next save removes what the kills left", ls(dir))
end

-- ---- metrics log ----
do
  local path = tmp .. "/logs/m.jsonl"
  local log = hub.jsonl(path)
  for s = 1, 5 do log:write { step = s, loss = 1 / s } end
  log:write { note = "no step" }
  log:close()
  local rows = hub.jsonl.read(path)
  ok(#rows == 6 and rows[3].loss == 1 / 3, "rows read back exactly")
  -- a kill in the middle of a line, then a resume from step 3
  local f = io.open(path, "ab"); f:write('{"step":6,"lo'); f:close()
  ok(#hub.jsonl.read(path) == 6, "an unfinished last line is skipped by read")
  log = hub.jsonl(path, { resume_step = 3 })
  log:write { step = 4, loss = 0.2 }
  log:close()
  rows = hub.jsonl.read(path)
  ok(#rows == 5 and rows[4].note == "no step" and rows[5].step == 4 and rows[5].loss == 0.2,
    "resume_step drops the lines past the checkpoint", read(path))
  f = io.open(path, "ab"); f:write('{"step":5,"lo'); f:close()
  log = hub.jsonl(path)
  log:write { step = 5 }
  log:close()
  ok(select(2, read(path):gsub("\n", "")) == 6 and #hub.jsonl.read(path) == 6, "appending after a cut line drops it", read(path))
  write(path, '{"step":1}\nnot json\n{"step":2}\n')
  errors(function() hub.jsonl.read(path) end, path .. ":2 is not a JSON object", "bad line named")
  ok(#hub.jsonl.read(path, { strict = false }) == 2, "strict = false skips bad lines")
  errors(function() hub.jsonl(path, { resum_step = 1 }) end, "unknown option", "bad option")
end

C.hub_fs_remove_tree(tmp)
T.finish()
