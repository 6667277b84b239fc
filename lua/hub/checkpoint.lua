-- hub.checkpoint: complete, resumable training state written atomically.
--
--   local ckpt = hub.checkpoint
--   ckpt.save("ckpt", { model = m, optimizer = opt, step = step,
--                       state = { epoch = e, batch = b, best = best } })   -- ckpt/step-<step>/
--   local path = ckpt.latest("ckpt")                                    -- nil before the first
--   if path then local r = ckpt.load(path, { model = m, optimizer = opt }); step = r.step ... end
--   local r = ckpt.resume("ckpt", { model = m, optimizer = opt })  -- the two above: step 0 if none
--
-- A checkpoint is a directory `DIR/step-<n>/` holding
--   model.safetensors      model:state_dict() (every parameter and buffer)
--   optimizer.safetensors  the optimiser's state tensors, named "<k>.<name>" (k = parameter number
--                          in group order, name as exp_avg): Adam's moments, SGD's momentum
--   meta.json              format, step, the generator's state (hub.rng_state, as decimal strings),
--                          the optimiser's numbers (kind, step_count, group options, per-parameter
--                          scalars such as Adam's step), the scheduler's state_dict when it has
--                          one, the caller's `state` table, and each file's size and sha256.
-- LR schedules of hub.lr are pure functions of the optimiser's step_count, which the optimiser's
-- state carries: a schedule needs no state of its own.  `scheduler` is for objects with
-- state_dict()/load_state_dict() (their state must be JSON-able).
--
-- Atomicity: everything is written into `DIR/.tmp-step-<n>-<pid>/` (safetensors files and
-- meta.json each fsync'ed, meta.json last), the directory is renamed to `step-<n>`, and only then
-- is `DIR/latest` (one line, the directory's name) replaced atomically.  A process killed at any
-- point leaves either no new step directory or a complete one; `.tmp-*` leftovers (and a
-- `latest.tmp.*` from a kill during the pointer's write) are never read and are removed by the
-- next save.  A lock (`DIR/.lock`) keeps two processes from saving into
-- one directory at once.  After the pointer moves, older step directories beyond the last `keep`
-- (default 2) are removed, and so are step directories numbered above the new one: they are the
-- future of a run that was resumed from an earlier checkpoint and has now been overwritten.
--
-- load() checks the sizes and sha256 of the files against meta.json before it changes anything,
-- so a damaged checkpoint is an error naming the file, and restores the model (in place), the
-- optimiser, the scheduler and the generator, so the numbers drawn after a load are the numbers
-- drawn after the save.  Data order is the caller's: shuffle with an explicit seed and epoch
-- (`ds:batches(n, { seed = s, epoch = e })`) and keep the epoch and the batch reached in `state`.
local ffi = require "ffi"
local core = require "hub.core"
local json = require "hub.json"
local C = core.C

local M = {}

local function hub() return require "hub" end

local fail = require("hub.core").failf

-- An error message from a pcall'd call, without the "file.lua:12: " position prefix.
local function msg(err) return (tostring(err):gsub("^[^%s:]+:%d+: ", "")) end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, text)
  if C.hub_fs_write_file(path, text, #text) ~= 0 then fail("checkpoint: %s", core.last_error()) end
end

local function sha256(path)
  local hex = ffi.new("char[65]")
  if C.hub_sha256_file(path, hex) ~= 0 then fail("checkpoint: %s", core.last_error()) end
  return ffi.string(hex)
end

local function list_dir(dir)
  local out = {}
  local d = C.hub_dir_open(dir)
  if d == nil then return out end
  local kind = ffi.new("int[1]")
  while true do
    local name = C.hub_dir_next(d, kind)
    if name == nil then break end
    out[#out + 1] = { name = ffi.string(name), kind = kind[0] }
  end
  C.hub_dir_close(d)
  return out
end

local function remove_tree(path)
  if C.hub_fs_remove_tree(path) ~= 0 then fail("checkpoint: %s", core.last_error()) end
end

-- Step directories of dir, sorted by step: { {step =, name =}, ... }.
local function step_dirs(dir)
  local out = {}
  for _, e in ipairs(list_dir(dir)) do
    local n = e.name:match("^step%-(%d+)$")
    if n and e.kind == C.HUB_FS_DIR then out[#out + 1] = { step = tonumber(n), name = e.name } end
  end
  table.sort(out, function(a, b) return a.step < b.step end)
  return out
end

local function is_file(p) return C.hub_fs_kind(p) == C.HUB_FS_FILE end

-- ---- the parts of a training state ----

local function model_tensors(model, fname)
  if type(model) ~= "table" then fail("%s: model is a %s, expected a module (or a table of tensors)", fname, type(model)) end
  if type(model.state_dict) == "function" then return model:state_dict() end
  for k, v in pairs(model) do
    if not core.is_tensor(v) then fail("%s: model.%s is a %s, expected a module or a table of tensors", fname, tostring(k), type(v)) end
  end
  return model
end

local function json_able(v)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return true end
  if t ~= "table" then return false end
  for k, x in pairs(v) do
    if (type(k) ~= "string" and type(k) ~= "number") or not json_able(x) then return false end
  end
  return true
end

-- An optimiser's state_dict() split into tensors (for safetensors) and JSON-able numbers.
local function optimizer_parts(opt)
  local sd = opt:state_dict { clone = false } -- written out at once: no copy of Adam's moments
  local tensors, scalars = {}, {}
  for k, st in pairs(sd.state or {}) do
    local s = {}
    for name, v in pairs(st) do
      if core.is_tensor(v) then tensors[k .. "." .. name] = v
      elseif json_able(v) then s[name] = v end
    end
    scalars[tostring(k)] = s
  end
  local groups = {}
  for i, g in ipairs(sd.param_groups or {}) do
    local c = {}
    for key, v in pairs(g) do if json_able(v) then c[key] = v end end -- a no_decay function stays as built
    groups[i] = c
  end
  return tensors, { kind = sd.kind, step_count = sd.step_count, param_groups = groups, state = scalars }
end

local function optimizer_state(meta, tensors)
  local state = {}
  for k, s in pairs(meta.state or {}) do
    local t = {}
    for name, v in pairs(s) do t[name] = v end
    state[tonumber(k)] = t
  end
  for key, v in pairs(tensors) do
    local k, name = key:match("^(%d+)%.(.+)$")
    if not k then fail("optimizer tensor '%s' is not named <parameter>.<name>", key) end
    k = tonumber(k)
    state[k] = state[k] or {}
    state[k][name] = v
  end
  return { kind = meta.kind, step_count = meta.step_count, param_groups = meta.param_groups, state = state }
end

-- ---- save ----

local allowed = { model = true, optimizer = true, scheduler = true, step = true, state = true, keep = true,
                  tag = true, checksum = true }

-- save(dir, {model=, optimizer=, scheduler=, step=, state=, keep=2, tag=, checksum=true}) -> path
-- tag = "best" writes DIR/best/ instead (atomically replaced; no `latest`, no pruning).
function M.save(dir, opts)
  if type(dir) ~= "string" or dir == "" then core.argerror(1, "checkpoint.save", "a directory path", type(dir)) end
  if type(opts) ~= "table" then core.argerror(2, "checkpoint.save", "an options table", type(opts)) end
  for k in pairs(opts) do
    if not allowed[k] then fail("checkpoint.save: unknown option '%s'", tostring(k)) end
  end
  local step = opts.step
  if type(step) ~= "number" or step < 0 or step ~= math.floor(step) then
    fail("checkpoint.save: step must be an integer >= 0, got %s", tostring(step))
  end
  local keep = opts.keep or 2
  if type(keep) ~= "number" or keep < 1 then fail("checkpoint.save: keep must be a number >= 1, got %s", tostring(keep)) end
  local tag = opts.tag
  if tag ~= nil and (type(tag) ~= "string" or not tag:match("^[%w_.-]+$") or tag:match("^%.") or tag:match("^step%-") or tag == "latest") then
    fail("checkpoint.save: tag must be a plain name (letters, digits, _ . -, not 'latest' or 'step-*'), got %s", tostring(tag))
  end
  local state = opts.state
  if state ~= nil and type(state) ~= "table" then fail("checkpoint.save: state is a %s, expected a table", type(state)) end
  local sched = opts.scheduler
  if sched ~= nil and type(sched) ~= "function" and not (type(sched) == "table" and type(sched.state_dict) == "function") then
    fail("checkpoint.save: scheduler is a %s, expected a hub.lr schedule or an object with state_dict()", type(sched))
  end

  -- Everything that can fail on the caller's values fails before anything is written.
  local meta = { format = "hubrun-checkpoint", version = 1, step = step, hubrun = hub().version, saved_at = os.time(),
                 files = {} }
  local rng = hub().rng_state()
  meta.rng = { seed = tostring(rng.seed):gsub("ULL$", ""), counter = tostring(rng.counter):gsub("ULL$", "") }
  local model_sd = opts.model ~= nil and model_tensors(opts.model, "checkpoint.save") or nil
  local opt_tensors
  if opts.optimizer ~= nil then
    if type(opts.optimizer) ~= "table" or type(opts.optimizer.state_dict) ~= "function" then
      fail("checkpoint.save: optimizer is a %s, expected an optimiser (hub.optim)", type(opts.optimizer))
    end
    opt_tensors, meta.optimizer = optimizer_parts(opts.optimizer)
  end
  if type(sched) == "table" then meta.scheduler = sched:state_dict() end
  meta.state = state
  local ok, meta_text = pcall(json.encode, meta, { indent = "  " })
  if not ok then fail("checkpoint.save: %s (state must hold only numbers, strings, booleans and tables)", meta_text:gsub("^json: value%.", "")) end

  if C.hub_fs_mkdirs(dir) ~= 0 then fail("checkpoint.save: %s", core.last_error()) end
  local lock = C.hub_lock_file(dir .. "/.lock", 0)
  if lock == -2 then fail("checkpoint.save: another process is saving checkpoints into %s", dir) end
  if lock < 0 then fail("checkpoint.save: %s", core.last_error()) end
  local function unlocked(f, ...)
    local res = { pcall(f, ...) }
    C.hub_unlock_file(lock)
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2)
  end
  return unlocked(function()
    -- Leftovers of a killed writer: never read, removed here (we hold the lock).
    for _, e in ipairs(list_dir(dir)) do
      if e.name:match("^%.tmp%-") or e.name:match("^%.old%-") or e.name:match("^latest%.tmp%.") then
        remove_tree(dir .. "/" .. e.name)
      end
    end
    local name = tag or ("step-" .. step)
    local tmp = string.format("%s/.tmp-%s-%d", dir, name, C.hub_os_pid())
    if C.hub_fs_mkdirs(tmp) ~= 0 then fail("checkpoint.save: %s", core.last_error()) end
    local function add(file, tensors)
      local ok, err = pcall(hub().save, tmp .. "/" .. file, tensors)
      if not ok then fail("checkpoint.save: %s", msg(err)) end
      local rec = { size = tonumber(C.hub_fs_size(tmp .. "/" .. file)) }
      if opts.checksum ~= false then rec.sha256 = sha256(tmp .. "/" .. file) end
      meta.files[file] = rec
    end
    local written, err = pcall(function()
      if model_sd then add("model.safetensors", model_sd) end
      if opt_tensors then add("optimizer.safetensors", opt_tensors) end
      write_file(tmp .. "/meta.json", json.encode(meta, { indent = "  " }) .. "\n")
    end)
    if not written then -- a full disk, say: nothing half-written stays behind
      C.hub_fs_remove_tree(tmp)
      error(err, 0)
    end
    local final = dir .. "/" .. name
    if C.hub_fs_kind(final) ~= C.HUB_FS_NONE then -- the same step saved again: swap it out
      local old = string.format("%s/.old-%s-%d", dir, name, C.hub_os_pid())
      if C.hub_fs_rename(final, old) ~= 0 then fail("checkpoint.save: %s", core.last_error()) end
      if C.hub_fs_rename(tmp, final) ~= 0 then fail("checkpoint.save: %s", core.last_error()) end
      remove_tree(old)
    elseif C.hub_fs_rename(tmp, final) ~= 0 then
      fail("checkpoint.save: %s", core.last_error())
    end
    C.hub_fs_sync(dir)
    if tag then return final end
    write_file(dir .. "/latest", name .. "\n")
    local steps, kept = step_dirs(dir), 0
    for i = #steps, 1, -1 do
      local s = steps[i]
      if s.step > step then remove_tree(dir .. "/" .. s.name)
      elseif s.step < step then
        kept = kept + 1
        if kept >= keep then remove_tree(dir .. "/" .. s.name) end
      end
    end
    return final
  end)
end

-- ---- latest and load ----

-- latest(dir) -> path of the newest complete checkpoint, or nil when there is none (or no dir).
-- The `latest` pointer names it; without a usable pointer (removed by hand), the highest
-- step-<n> directory holding a meta.json.
function M.latest(dir)
  if type(dir) ~= "string" then core.argerror(1, "checkpoint.latest", "a directory path", type(dir)) end
  local p = read_file(dir .. "/latest")
  local name = p and p:match("^%s*(.-)%s*$")
  if name and name ~= "" and not name:find("/", 1, true) and is_file(dir .. "/" .. name .. "/meta.json") then
    return dir .. "/" .. name
  end
  local steps = step_dirs(dir)
  for i = #steps, 1, -1 do
    if is_file(dir .. "/" .. steps[i].name .. "/meta.json") then return dir .. "/" .. steps[i].name end
  end
  return nil
end

-- read_meta(path) -> the decoded meta.json of a checkpoint directory (errors name the file).
function M.read_meta(path)
  local file = path .. "/meta.json"
  local text = read_file(file)
  if not text then
    if C.hub_fs_kind(path) ~= C.HUB_FS_DIR then fail("checkpoint.load: %s is not a checkpoint directory", path) end
    fail("checkpoint.load: %s is missing (not a complete checkpoint)", file)
  end
  local ok, meta = pcall(json.decode, text, file)
  if not ok then fail("checkpoint.load: %s", meta) end
  if type(meta) ~= "table" or meta.format ~= "hubrun-checkpoint" then
    fail("checkpoint.load: %s is not a hubrun checkpoint's meta.json", file)
  end
  if type(meta.step) ~= "number" or type(meta.files) ~= "table" then fail("checkpoint.load: %s lacks step or files", file) end
  return meta
end

-- Sizes and checksums of every file meta.json lists.
local function verify(path, meta)
  for file, rec in pairs(meta.files) do
    local p = path .. "/" .. file
    if not is_file(p) then fail("checkpoint.load: %s is missing (the checkpoint is damaged)", p) end
    local size = tonumber(C.hub_fs_size(p))
    if rec.size and size ~= rec.size then
      fail("checkpoint.load: %s has %d bytes, meta.json says %d (the checkpoint is damaged)", p, size, rec.size)
    end
    if rec.sha256 and sha256(p) ~= rec.sha256 then
      fail("checkpoint.load: %s does not match its sha256 in meta.json (the checkpoint is damaged)", p)
    end
  end
end

local function load_tensors(path, file)
  local ok, t = pcall(hub().load, path .. "/" .. file)
  if not ok then fail("checkpoint.load: %s: %s", path .. "/" .. file, msg(t)) end
  return t
end

-- load(path, {model=, optimizer=, scheduler=, rng=true, strict=true}) -> { step =, state =, path =, meta = }
-- path is a step directory (as latest() returns it) or a checkpoint root (its latest one).  Parts
-- not passed are not restored (a model alone for evaluation); rng = false leaves the generator;
-- strict = false lets the model and the checkpoint differ in names (module:load_state_dict's).
function M.load(path, opts)
  if type(path) ~= "string" then core.argerror(1, "checkpoint.load", "a checkpoint directory", type(path)) end
  opts = opts or {}
  if type(opts) ~= "table" then core.argerror(2, "checkpoint.load", "an options table", type(opts)) end
  for k in pairs(opts) do
    if k ~= "model" and k ~= "optimizer" and k ~= "scheduler" and k ~= "rng" and k ~= "strict" then
      fail("checkpoint.load: unknown option '%s'", tostring(k))
    end
  end
  if not is_file(path .. "/meta.json") and is_file(path .. "/latest") then
    local p = M.latest(path)
    if not p then fail("checkpoint.load: %s holds no complete checkpoint", path) end
    path = p
  end
  local meta = M.read_meta(path)
  verify(path, meta)
  -- Read and check everything first, then change the caller's objects.
  local model_sd, opt_sd
  if opts.model ~= nil then
    if not meta.files["model.safetensors"] then fail("checkpoint.load: %s holds no model weights", path) end
    model_sd = load_tensors(path, "model.safetensors")
  end
  if opts.optimizer ~= nil then
    if not meta.optimizer then fail("checkpoint.load: %s holds no optimiser state", path) end
    local t = meta.files["optimizer.safetensors"] and load_tensors(path, "optimizer.safetensors") or {}
    opt_sd = optimizer_state(meta.optimizer, t)
  end
  if model_sd then
    local m = opts.model
    if type(m.load_state_dict) == "function" then
      local ok, err = pcall(m.load_state_dict, m, model_sd, { strict = opts.strict ~= false })
      if not ok then fail("checkpoint.load: %s/model.safetensors: %s", path, msg(err)) end
    else
      local dst = model_tensors(m, "checkpoint.load")
      for k, t in pairs(dst) do
        if model_sd[k] == nil then fail("checkpoint.load: %s/model.safetensors has no tensor '%s'", path, k) end
        hub().no_grad(function() t:copy_(model_sd[k]) end)
      end
    end
  end
  if opt_sd then
    local ok, err = pcall(opts.optimizer.load_state_dict, opts.optimizer, opt_sd)
    if not ok then fail("checkpoint.load: %s/optimizer.safetensors: %s", path, msg(err)) end
  end
  if type(opts.scheduler) == "table" and type(opts.scheduler.load_state_dict) == "function" and meta.scheduler then
    opts.scheduler:load_state_dict(meta.scheduler)
  end
  if opts.rng ~= false and meta.rng then hub().set_rng_state(meta.rng) end
  return { step = meta.step, state = meta.state or {}, path = path, meta = meta }
end

-- resume(dir, {model=, optimizer=, scheduler=, rng=}) -> { step =, state =, path = }: load(latest(dir))
-- when dir holds a checkpoint, else { step = 0, state = {} } and nothing is changed.  The first
-- lines of a resumable loop:  local r = hub.checkpoint.resume(dir, { model = m, optimizer = opt })
function M.resume(dir, opts)
  if type(dir) ~= "string" then core.argerror(1, "checkpoint.resume", "a directory path", type(dir)) end
  local path = M.latest(dir)
  if not path then return { step = 0, state = {} } end
  return M.load(path, opts)
end

return M
