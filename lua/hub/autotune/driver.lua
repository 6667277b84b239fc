-- hub.autotune.driver: `hubrun autofinetune`'s search: trials as child hubrun processes, N at a
-- time, a JSONL journal that a killed search resumes from, and the output directory.
--
--   driver.run{ script = "train.lua", param_file = "hparam.yaml", popsize = 5, rounds = 10,
--               workers = 2, output_dir = "out", evaluator = "fulltrail", strategy = "pshe2",
--               direction = "max", seed = 0, resume = false, timeout = nil, threads = 1,
--               script_args = {} }
--
-- Layout of the output directory (docs/autofinetune.md):
--   journal.jsonl          every decision, one JSON object a line (search, ask, start, report, end)
--   trials/0007/           trial.json (what the script reads through HUB_TRIAL), params.json,
--                          log.txt (stdout + stderr), metrics.jsonl (its reports), and whatever the
--                          script writes there (hub.trial.dir(): checkpoint/, an exported module)
--   summary.txt            the table of trials, best first line; trials.csv the same as CSV
--   best.json              the best trial: id, value, params
--   best/                  a copy of the best trial's directory (hard links)
--   search.png             value per trial and best so far; each parameter against the value
--
-- Resume: the journal is replayed through a fresh strategy with the same seed (asks, reports,
-- ends, in their order), which puts it in the state it had; trials that were asked but had not
-- ended are run again from scratch (a child left running by the killed driver is stopped first).
local json = require "hub.json"
local core = require "hub.core"
local space_mod = require "hub.autotune.space"
local strategies = require "hub.autotune.strategies"
local proc = require "hub.autotune.proc"
local rng_mod = require "hub.autotune.rng"

local C = core.C
local M = {}

local fail = require("hub.core").failf

local function kind(path) return C.hub_fs_kind(path) end
local function is_dir(path) return kind(path) == C.HUB_FS_DIR end
local function is_file(path) return kind(path) == C.HUB_FS_FILE end
local function mkdirs(path) if C.hub_fs_mkdirs(path) ~= 0 then fail("%s", core.last_error()) end end
local function rmtree(path) C.hub_fs_remove_tree(path) end

local function write_file(path, text)
  if C.hub_fs_write_file(path, text, #text) ~= 0 then fail("%s", core.last_error()) end
end
local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local cwd = os.getenv("PWD")
  if not cwd or cwd == "" then
    local h = io.popen("pwd")
    cwd = h:read("*l")
    h:close()
  end
  return cwd .. "/" .. p
end
M.abspath = abspath

-- copy_tree(src, dst): files hard-linked where possible (hub_fs_copy), directories made.
local function copy_tree(src, dst)
  local store = require "hub.store"
  mkdirs(dst)
  for _, e in ipairs(store.list_dir(src)) do
    local name, k = e[1], e[2]
    if k == C.HUB_FS_DIR then copy_tree(src .. "/" .. name, dst .. "/" .. name)
    elseif k == C.HUB_FS_FILE then
      if C.hub_fs_copy(src .. "/" .. name, dst .. "/" .. name) ~= 0 then fail("%s", core.last_error()) end
    end
  end
end
M.copy_tree = copy_tree

local function nproc()
  local f = io.open("/proc/cpuinfo", "rb")
  if not f then return 1 end
  local n = 0
  for line in f:lines() do if line:match("^processor%s*:") then n = n + 1 end end
  f:close()
  return math.max(1, n)
end

local function fmt_value(v)
  if v == nil then return "-" end
  return string.format("%.6g", v)
end

---------------------------------------------------------------------------------------------
-- The journal

local Journal = {}
Journal.__index = Journal

local function open_journal(path)
  local f, e = io.open(path, "ab")
  if not f then fail("cannot write the journal: %s", tostring(e)) end
  return setmetatable({ f = f, path = path }, Journal)
end

function Journal:write(t)
  self.f:write(json.encode(t), "\n")
  self.f:flush()
end

function Journal:close() if self.f then self.f:close(); self.f = nil end end

-- Reads a journal, dropping an unfinished last line (a driver killed mid-write).
local function read_journal(path)
  local text = read_file(path)
  if not text then fail("%s: cannot read the journal", path) end
  local events = {}
  local lineno = 0
  local good_end = 0
  for line, nl in text:gmatch("([^\n]*)(\n?)") do
    if nl == "" then break end
    lineno = lineno + 1
    if line:match("%S") then
      local ok, v = pcall(json.decode, line, path .. ":" .. lineno)
      if not ok or type(v) ~= "table" then fail("%s:%d: not a journal record: %s", path, lineno, ok and line or tostring(v)) end
      events[#events + 1] = v
    end
    good_end = good_end + #line + 1
  end
  if good_end < #text then write_file(path, text:sub(1, good_end)) end
  return events
end

---------------------------------------------------------------------------------------------

local SETTINGS = { "strategy", "evaluator", "popsize", "rounds", "seed", "direction" }

local function defaults(cfg)
  local o = {}
  for k, v in pairs(cfg) do o[k] = v end
  o.popsize = o.popsize or 5
  o.rounds = o.rounds or 10
  o.workers = o.workers or 1
  o.evaluator = o.evaluator or "fulltrail"
  o.strategy = o.strategy or "pshe2"
  o.direction = o.direction or "max"
  o.seed = o.seed or 0
  o.poll = o.poll or 0.05
  o.grace = o.grace or 10
  o.script_args = o.script_args or {}
  o.say = o.say or function(s) io.write(s, "\n"); io.stdout:flush() end
  return o
end

local function check_cfg(o)
  local function int_at_least(name, v, lo)
    if type(v) ~= "number" or v ~= math.floor(v) or v < lo then fail("--%s must be an integer >= %d, got %s", name, lo, tostring(v)) end
  end
  int_at_least("popsize", o.popsize, 1)
  int_at_least("round", o.rounds, 1)
  int_at_least("workers", o.workers, 1)
  if o.threads ~= nil then int_at_least("threads_per_trial", o.threads, 1) end
  if o.evaluator ~= "fulltrail" and o.evaluator ~= "populationbased" then
    fail("--evaluator must be fulltrail or populationbased, got '%s'", tostring(o.evaluator))
  end
  local okname = false
  for _, n in ipairs(strategies.names) do if n == o.strategy then okname = true end end
  if not okname then fail("--tuning_strategy must be one of %s, got '%s'", table.concat(strategies.names, ", "), tostring(o.strategy)) end
  if o.direction ~= "max" and o.direction ~= "min" then fail("--direction must be max or min, got '%s'", tostring(o.direction)) end
  if o.timeout ~= nil and (type(o.timeout) ~= "number" or o.timeout <= 0) then fail("--timeout must be a number of seconds > 0, got %s", tostring(o.timeout)) end
end

-- The space as plain data (recorded in the journal; a resume checks the param file is the same).
local function space_record(space)
  local out = {}
  for i, p in ipairs(space.params) do
    out[i] = { name = p.name, type = p.type, lo = p.lo, hi = p.hi, log = p.log, init = p.init, values = p.values }
  end
  return out
end

local function same(a, b)
  return json.encode(a) == json.encode(b)
end

function M.run(cfg)
  local o = defaults(cfg)
  local say = o.say
  local out = o.output_dir or ("output_" .. os.date("%Y%m%d%H%M%S"))
  o.output_dir = out
  local journal_path = out .. "/journal.jsonl"
  local events
  if o.resume then
    if not is_file(journal_path) then fail("--resume: %s has no journal.jsonl (nothing to resume)", out) end
    events = read_journal(journal_path)
    local head = events[1]
    if not head or head.event ~= "search" then fail("%s: the first record is not the search's settings", journal_path) end
    for _, k in ipairs(SETTINGS) do
      if cfg[k] ~= nil and not same(cfg[k], head[k]) then
        fail("--resume: the search in %s was started with %s = %s, not %s", out, k, json.encode(head[k]), json.encode(cfg[k]))
      end
      o[k] = head[k]
    end
    if cfg.script and abspath(cfg.script) ~= head.script then fail("--resume: the search in %s runs %s, not %s", out, head.script, cfg.script) end
    o.script = head.script
    o.script_args = head.script_args or {}
    o.param_file = cfg.param_file or head.param_file
  else
    if is_file(journal_path) then
      fail("%s holds a search already (journal.jsonl): --resume continues it, or choose another --output_dir", out)
    end
  end
  check_cfg(o)
  if not o.script then fail("which script? (hubrun autofinetune SCRIPT --param_file FILE)") end
  if not o.param_file then fail("--param_file is required (PaddleHub's hparam.yaml format, or JSON)") end
  local script = abspath(o.script)
  if not is_file(script) then fail("no such script: %s", o.script) end
  local space = space_mod.load(o.param_file)
  if o.resume and not same(space_record(space), events[1].space) then
    fail("--resume: %s no longer describes the search in %s (its parameters changed)", o.param_file, out)
  end
  local budget = o.popsize * o.rounds
  local strat = strategies.new(o.strategy, space, { seed = o.seed, popsize = o.popsize, budget = budget,
                                                     sigma = o.sigma })
  local sign = o.direction == "max" and -1 or 1
  local pbt = o.evaluator == "populationbased"
  local explore_rng = rng_mod.new((o.seed or 0) + 7919)
  local threads = o.threads or math.max(1, math.floor(nproc() / o.workers))
  local hubrun = o.hubrun or proc.self_exe() or "hubrun"

  mkdirs(out .. "/trials")
  local journal = open_journal(journal_path)
  if not o.resume then
    journal:write { event = "search", version = 1, script = script, script_args = setmetatable(o.script_args, json.array_mt),
                    param_file = abspath(o.param_file), space = space_record(space), strategy = o.strategy,
                    evaluator = o.evaluator, popsize = o.popsize, rounds = o.rounds, seed = o.seed,
                    direction = o.direction, time = os.time() }
  end

  -- state
  local trials = {}        -- id -> trial record
  local order = {}         -- ids in ask order
  local requeue = {}       -- ids to run again (resume)
  local running = {}       -- id -> run state
  local nrunning = 0
  local best = nil
  local done_asking = false

  local function round_of(id) return math.floor((id - 1) / o.popsize) end

  local function ended_in_round(r)
    local list, n = {}, 0
    for _, id in ipairs(order) do
      local t = trials[id]
      if t.round == r then
        n = n + 1
        if t.status then list[#list + 1] = t end
      end
    end
    return list, n
  end

  -- PBT: the better half of round r's successful trials (PaddleHub: half_best_model_path)
  local function parents_of(r)
    local list = ended_in_round(r)
    local ok = {}
    for _, t in ipairs(list) do if t.status == "ok" then ok[#ok + 1] = t end end
    table.sort(ok, function(a, b) if a.loss ~= b.loss then return a.loss < b.loss end return a.id < b.id end)
    local half = math.max(1, math.floor(#ok / 2))
    local out_ = {}
    for i = 1, math.min(half, #ok) do out_[i] = ok[i] end
    return out_
  end

  -- The next trial: a record { id, x, values, round, parent } or nil (wait) / false (no more).
  local function propose()
    if done_asking then return false end
    local id = #order + 1
    if id > budget then done_asking = true; return false end
    local r = round_of(id)
    local parent
    if pbt and r > 0 then
      local ended, n = ended_in_round(r - 1)
      if #ended < n then return nil end -- the round barrier
      local ps = parents_of(r - 1)
      if #ps > 0 then parent = ps[(id - 1 - r * o.popsize) % #ps + 1] end
    end
    local t = strat:ask()
    if t == false then done_asking = true; return false end
    if t == nil then return nil end
    local x = t.x
    if pbt and parent and not strategies.generational(o.strategy) and o.strategy ~= "grid" then
      -- PBT's explore step: each coordinate of the parent's moves by a tenth of the range
      x = {}
      for i = 1, space.dim do
        local d = explore_rng:uniform() < 0.5 and -0.2 or 0.2
        x[i] = space_mod.clamp(parent.x[i] + d, -1, 1)
      end
      x = space:snap(x)
      t.x = x
    end
    local rec = { id = id, x = x, values = space:values(x), round = r, parent = parent and parent.id or nil, st = t, reports = {} }
    trials[id] = rec
    order[#order + 1] = id
    return rec
  end

  local function record_end(t, status, value, reason)
    t.status, t.value, t.reason = status, value, reason
    t.loss = value and sign * value or nil
    if status ~= "ok" and status ~= "pruned" then t.loss = nil end
    strat:tell(t.st, t.loss)
    if t.loss and (not best or t.loss < best.loss) then best = t end
  end

  -- replay
  local ended_count = 0
  if o.resume then
    local reports_of = {}
    for i = 2, #events do
      local e = events[i]
      if e.event == "ask" then
        local t = propose()
        if not t then fail("%s: the journal does not replay (ask of trial %s refused); was the code changed?", journal_path, tostring(e.id)) end
        if t.id ~= e.id then fail("%s: the journal does not replay (trial %s where %s was asked)", journal_path, t.id, tostring(e.id)) end
        for k = 1, space.dim do
          if math.abs(t.x[k] - e.x[k]) > 1e-9 then
            fail("%s: the journal does not replay (trial %d's parameters differ); was the code or the param file changed?", journal_path, t.id)
          end
        end
      elseif e.event == "start" then
        local t = trials[e.id]
        if t then t.pid, t.started = e.pid, e.time end
      elseif e.event == "report" then
        reports_of[e.id] = reports_of[e.id] or {}
        table.insert(reports_of[e.id], e)
      elseif e.event == "end" then
        local t = trials[e.id]
        if not t then fail("%s: end of trial %s, which was never asked", journal_path, tostring(e.id)) end
        -- asha's rungs get the trial's reports in order before its end
        if strat.should_stop then
          for _, rp in ipairs(reports_of[e.id] or {}) do
            if type(rp.value) == "number" then strat:should_stop(t.st, rp.step or 0, sign * rp.value) end
          end
        end
        t.reports = reports_of[e.id] or {}
        t.seconds = e.seconds
        record_end(t, e.status, e.value, e.reason)
        ended_count = ended_count + 1
      end
    end
    for _, id in ipairs(order) do
      local t = trials[id]
      if not t.status then
        requeue[#requeue + 1] = id
        if t.pid and proc.runs_with(t.pid, out .. "/trials/" .. string.format("%04d", id) .. "/trial.json") then
          proc.kill(t.pid, proc.SIGKILL)
        end
      end
    end
    say(string.format("autofinetune: resuming %s: %d of %d trials ended, %d to run again", out, ended_count, budget, #requeue))
  else
    say(string.format("autofinetune: %s on %s, %d x %d trials (%s, %s), %d at a time, %d thread%s each -> %s",
      o.strategy, o.script, o.popsize, o.rounds, o.evaluator, o.direction == "max" and "maximise" or "minimise",
      o.workers, threads, threads == 1 and "" or "s", out))
  end

  local function trial_dir(id) return string.format("%s/trials/%04d", out, id) end

  local function start(t, rerun)
    local dir = trial_dir(t.id)
    if rerun then rmtree(dir) end
    mkdirs(dir)
    local resume_from
    if t.parent then
      local src = trial_dir(t.parent) .. "/checkpoint"
      if is_dir(src) then
        resume_from = dir .. "/parent_checkpoint"
        copy_tree(src, resume_from)
      end
    end
    local info = { id = t.id, params = t.values, dir = abspath(dir), report = abspath(dir .. "/metrics.jsonl"),
                   control = abspath(dir .. "/stop"), resume_from = resume_from and abspath(resume_from) or nil,
                   round = t.round, parent = t.parent, evaluator = o.evaluator, threads = threads }
    write_file(dir .. "/trial.json", json.encode(info, { indent = "  " }) .. "\n")
    write_file(dir .. "/params.json", json.encode(t.values, { indent = "  " }) .. "\n")
    os.remove(dir .. "/metrics.jsonl")
    os.remove(dir .. "/stop")
    if not rerun then
      journal:write { event = "ask", id = t.id, x = t.x, params = t.values, round = t.round, parent = t.parent }
    end
    local argv = { hubrun, script }
    for _, a in ipairs(o.script_args) do argv[#argv + 1] = a end
    local env = { HUB_TRIAL = abspath(dir .. "/trial.json"), OMP_NUM_THREADS = threads }
    local pid, err = proc.spawn(argv, env, dir .. "/log.txt")
    local now = C.hub_os_monotonic()
    local rs = { t = t, pid = pid, started = now, offset = 0, dir = dir, partial = "" }
    t.reports = {}
    if not pid then
      rs.failed = err
    else
      journal:write { event = "start", id = t.id, pid = pid, time = os.time() }
    end
    running[t.id] = rs
    nrunning = nrunning + 1
  end

  local function finish(rs, status, value, reason)
    local t = rs.t
    t.seconds = C.hub_os_monotonic() - rs.started
    record_end(t, status, value, reason)
    journal:write { event = "end", id = t.id, status = status, value = value, reason = reason,
                    seconds = math.floor(t.seconds * 1000 + 0.5) / 1000, steps = #t.reports }
    running[t.id] = nil
    nrunning = nrunning - 1
    ended_count = ended_count + 1
    local line = string.format("[%" .. #tostring(budget) .. "d/%d] trial %d %-7s value %s  best %s%s  %s  (%.1f s)%s",
      ended_count, budget, t.id, status, fmt_value(value),
      best and fmt_value(best.value) or "-", best and (" #" .. best.id) or "",
      space:format(t.values), t.seconds, reason and ("  " .. reason) or "")
    say(line)
  end

  -- Reads new report lines of a running trial; returns false when one is not a finite number.
  local function read_reports(rs)
    local f = io.open(rs.dir .. "/metrics.jsonl", "rb")
    if not f then return true end
    f:seek("set", rs.offset)
    local chunk = f:read("*a") or ""
    f:close()
    if chunk == "" then return true end
    local text = rs.partial .. chunk
    rs.offset = rs.offset + #chunk
    local last_nl = 0
    local good = true
    for line, e in text:gmatch("()([^\n]*)\n") do
      last_nl = line + #e
      local ok, v = pcall(json.decode, e, "report")
      if ok and type(v) == "table" then
        local value = v.value
        if type(value) ~= "number" or value ~= value or value == math.huge or value == -math.huge then
          rs.bad = "reported a value that is not a finite number (" .. tostring(value) .. ")"
          good = false
        else
          local step = type(v.step) == "number" and v.step or (#rs.t.reports + 1)
          local rep = { value = value, step = step }
          table.insert(rs.t.reports, rep)
          journal:write { event = "report", id = rs.t.id, step = step, value = value }
          if strat.should_stop and not rs.stopping and strat:should_stop(rs.t.st, step, sign * value) then
            rs.stopping = C.hub_os_monotonic()
            write_file(rs.dir .. "/stop", string.format("stopped by asha at step %s\n", tostring(step)))
            journal:write { event = "stop", id = rs.t.id, step = step }
          end
        end
      end
    end
    rs.partial = text:sub(last_nl + 1)
    return good
  end

  local function poll(rs)
    if rs.failed then return finish(rs, "failed", nil, rs.failed) end
    if not read_reports(rs) and not rs.killing then
      rs.killing = C.hub_os_monotonic()
      rs.kill_reason = rs.bad
      proc.kill(rs.pid, proc.SIGTERM)
    end
    local st = proc.poll(rs.pid)
    local now = C.hub_os_monotonic()
    if not st then
      if rs.killing then
        if now - rs.killing > 5 and not rs.hard then rs.hard = true; proc.kill(rs.pid, proc.SIGKILL) end
      elseif o.timeout and now - rs.started > o.timeout then
        rs.killing = now
        rs.kill_reason = string.format("timed out after %g s", o.timeout)
        proc.kill(rs.pid, proc.SIGTERM)
      elseif rs.stopping and now - rs.stopping > o.grace then
        rs.killing = now
        rs.kill_reason = "stopped by asha"
        proc.kill(rs.pid, proc.SIGTERM)
      end
      return
    end
    read_reports(rs)
    local reps = rs.t.reports
    local last = reps[#reps]
    if rs.stopping then return finish(rs, "pruned", last and last.value, string.format("stopped at step %s", tostring(last and last.step))) end
    if rs.kill_reason then return finish(rs, "failed", nil, rs.kill_reason) end
    if st.signal then return finish(rs, "failed", nil, string.format("killed by signal %d (see %s/log.txt)", st.signal, rs.dir)) end
    if st.code ~= 0 then
      local log = read_file(rs.dir .. "/log.txt") or ""
      local lastline = ""
      for l in log:gmatch("[^\n]+") do lastline = l end
      if #lastline > 160 then lastline = lastline:sub(1, 160) .. "..." end
      return finish(rs, "failed", nil, string.format("exit status %d: %s", st.code, lastline))
    end
    if not last then return finish(rs, "failed", nil, "exited without hub.report") end
    return finish(rs, "ok", last.value)
  end

  -- main loop
  local ok, err = pcall(function()
    while true do
      local last
      while nrunning < o.workers do
        local id = table.remove(requeue, 1)
        if id then
          start(trials[id], true)
        else
          last = propose()
          if not last then break end
          start(last, false)
        end
      end
      if nrunning == 0 then
        if last == false then break end
        fail("the strategy waits for results but no trial is running (internal error)")
      end
      for _, rs in pairs(running) do poll(rs) end
      if nrunning > 0 then C.hub_os_sleep(o.poll) end
    end
  end)
  if not ok then
    for _, rs in pairs(running) do if rs.pid then proc.kill(rs.pid, proc.SIGTERM) end end
    journal:close()
    error(err, 0)
  end
  journal:write { event = "done", time = os.time() }
  journal:close()

  local result = { trials = trials, order = order, best = best, output_dir = out, space = space, direction = o.direction }
  M.write_outputs(result, say)
  return result
end

---------------------------------------------------------------------------------------------
-- Outputs

local function csv_field(s)
  s = tostring(s == nil and "" or s)
  if s:find('[,"\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

function M.write_outputs(r, say)
  local out, space = r.output_dir, r.space
  local headers = { "trial", "round", "status", "value", "steps", "seconds" }
  for _, p in ipairs(space.params) do headers[#headers + 1] = p.name end
  headers[#headers + 1] = "note"
  local rows = {}
  for _, id in ipairs(r.order) do
    local t = r.trials[id]
    local row = { tostring(t.id), tostring(t.round), t.status or "unfinished", fmt_value(t.value), tostring(#(t.reports or {})),
                  t.seconds and string.format("%.1f", t.seconds) or "-" }
    for _, p in ipairs(space.params) do
      local v = t.values[p.name]
      row[#row + 1] = p.type == "int" and string.format("%d", v) or string.format("%.6g", v)
    end
    row[#row + 1] = (t.reason or "") .. (t.parent and (" (from trial " .. t.parent .. ")") or "")
    rows[#rows + 1] = row
  end
  -- aligned text
  local w = {}
  for i, h in ipairs(headers) do w[i] = #h end
  for _, row in ipairs(rows) do for i = 1, #headers do w[i] = math.max(w[i], #row[i]) end end
  local lines = {}
  local b = r.best
  if b then
    lines[#lines + 1] = string.format("best: trial %d, value %s (%s), %s", b.id, fmt_value(b.value), r.direction == "max" and "max" or "min", space:format(b.values))
  else
    lines[#lines + 1] = "best: none (no trial succeeded)"
  end
  lines[#lines + 1] = ""
  local function line(row)
    local parts = {}
    for i = 1, #headers do parts[i] = row[i] .. string.rep(" ", w[i] - #row[i]) end
    lines[#lines + 1] = (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  line(headers)
  for _, row in ipairs(rows) do line(row) end
  write_file(out .. "/summary.txt", table.concat(lines, "\n") .. "\n")
  local csv = { table.concat(headers, ",") }
  for _, row in ipairs(rows) do
    local f = {}
    for i = 1, #row do f[i] = csv_field(row[i]) end
    csv[#csv + 1] = table.concat(f, ",")
  end
  write_file(out .. "/trials.csv", table.concat(csv, "\n") .. "\n")
  if b then
    write_file(out .. "/best.json", json.encode({ trial = b.id, value = b.value, params = b.values, direction = r.direction,
                                                   dir = string.format("trials/%04d", b.id) }, { indent = "  " }) .. "\n")
    rmtree(out .. "/best")
    copy_tree(string.format("%s/trials/%04d", out, b.id), out .. "/best")
  end
  local ok, err = pcall(M.plot, r, out .. "/search.png")
  if not ok and say then say("autofinetune: no search.png: " .. tostring(err)) end
  if say then
    say("")
    for i = 1, #lines do say(lines[i]) end
    say("")
    say(string.format("output: %s (summary.txt, trials.csv, best.json, best/, search.png, journal.jsonl)", out))
  end
end

-- search.png: the value of each trial (points) and the best so far (line); below, one panel per
-- parameter with the value against the parameter (points).
function M.plot(r, path)
  local plot = require "hub.plot"
  local ffi = require "ffi"
  local space = r.space
  local tmp = path .. ".tmp"
  local xs, ys, bx, by = {}, {}, {}, {}
  local bestv
  local sign = r.direction == "max" and -1 or 1
  for _, id in ipairs(r.order) do
    local t = r.trials[id]
    if t.value then
      xs[#xs + 1] = id; ys[#ys + 1] = t.value
      xs[#xs + 1] = 0 / 0; ys[#ys + 1] = 0 / 0
      if not bestv or sign * t.value < sign * bestv then bestv = t.value end
    end
    if bestv then bx[#bx + 1] = id; by[#by + 1] = bestv end
  end
  if #ys == 0 then error("no trial has a value", 0) end
  local panels = {}
  local W = 900
  plot.lines { path = tmp .. ".0.png", width = W, height = 380, title = "autofinetune: value per trial", xlabel = "trial",
               ylabel = "value", series = { { name = "trial value", x = xs, y = ys }, { name = "best so far", x = bx, y = by } } }
  panels[1] = { tmp .. ".0.png", 0, 0 }
  local pw, ph = W / 2, 280
  for i, p in ipairs(space.params) do
    local px, py = {}, {}
    for _, id in ipairs(r.order) do
      local t = r.trials[id]
      if t.value then
        local v = t.values[p.name]
        px[#px + 1] = p.log and math.log10(v) or v; py[#py + 1] = t.value
        px[#px + 1] = 0 / 0; py[#py + 1] = 0 / 0
      end
    end
    local file = string.format("%s.%d.png", tmp, i)
    local xl = p.log and { math.log10(p.lo), math.log10(p.hi) } or { p.lo, p.hi }
    plot.lines { path = file, width = pw, height = ph, xlabel = p.log and ("log10 " .. p.name) or p.name, ylabel = "value",
                 legend = false, xlim = xl, line_width = 3, series = { { name = p.name, x = px, y = py, color = plot.colors[(i % #plot.colors) + 1] } } }
    panels[#panels + 1] = { file, ((i - 1) % 2) * pw, 380 + math.floor((i - 1) / 2) * ph }
  end
  local H = 380 + math.ceil(space.dim / 2) * ph
  local img = ffi.gc(C.hub_image_new(W, H, 0xffffff), C.hub_image_free)
  for _, pnl in ipairs(panels) do
    local src = C.hub_image_load_png(pnl[1])
    if src == nil then error(core.last_error(), 0) end
    for row = 0, src.height - 1 do
      if pnl[3] + row < H then
        local n = math.min(src.width, W - pnl[2])
        ffi.copy(img.rgb + ((pnl[3] + row) * W + pnl[2]) * 3, src.rgb + row * src.width * 3, n * 3)
      end
    end
    C.hub_image_free(src)
    os.remove(pnl[1])
  end
  if C.hub_image_save_png(img, path) ~= 0 then error(core.last_error(), 0) end
end

return M
