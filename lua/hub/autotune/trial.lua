-- hub.autotune.trial: the side of the search contract that runs inside a trial script
-- (hub.hparams, hub.report and hub.trial; docs/autofinetune.md).
--
--   local hp = hub.hparams{ lr = 5e-5, batch_size = 32, dropout = 0.1 }
--   ...
--   for epoch = 1, 3 do
--     train_one_epoch(hp.lr, hp.batch_size)
--     if not hub.report(dev_accuracy(), { step = epoch }) then break end -- the tuner said stop
--   end
--
-- Alone (`hubrun script.lua`) hparams returns its defaults and report returns true.  Under
-- `hubrun autofinetune` the environment variable HUB_TRIAL names a JSON file the tuner wrote:
--   { "id": 7, "params": { "lr": 3.1e-5, ... }, "dir": ".../trials/0007",
--     "report": ".../trials/0007/metrics.jsonl", "control": ".../trials/0007/stop",
--     "resume_from": null | ".../trials/0007/parent_checkpoint", "round": 2,
--     "evaluator": "fulltrail" | "populationbased", "threads": 2 }
-- hparams returns the defaults with the tuner's values put in (an int parameter arrives as an
-- integer); a tuned name missing from the defaults is an error (a typo in the param file would
-- otherwise tune nothing).  report appends { value, step, time } to the report file, flushed at
-- once; the last report is the trial's result.  It returns false once the tuner has written the
-- control file (ASHA stopping a trial): the script should then return; a report after that is
-- an error, which ends the script.
local json = require "hub.json"

local M = {}

local info, info_loaded
local report_file
local stopped = false

local fail = require("hub.core").failf

local function load_info()
  if info_loaded then return info end
  info_loaded = true
  local path = os.getenv("HUB_TRIAL")
  if not path or path == "" then return nil end
  local f, e = io.open(path, "rb")
  if not f then fail("HUB_TRIAL: cannot open the trial file %s", tostring(e)) end
  local text = f:read("*a")
  f:close()
  local ok, t = pcall(json.decode, text, path)
  if not ok or type(t) ~= "table" or type(t.params) ~= "table" then fail("HUB_TRIAL: %s is not a trial file (%s)", path, ok and "no params" or tostring(t)) end
  info = t
  if type(t.threads) == "number" and t.threads > 0 then
    local ok2, core = pcall(require, "hub.core")
    if ok2 and core.C then pcall(function() core.C.hub_set_num_threads(t.threads) end) end
  end
  return info
end

-- For tests: forget what was loaded (the next call reads HUB_TRIAL again).
function M._reset() info, info_loaded, report_file, stopped = nil, false, nil, false end

-- Whether this script runs as a trial of a search.
function M.active() return load_info() ~= nil end
function M.info() return load_info() end
function M.id() local t = load_info(); return t and t.id end
-- The trial's own directory (outputs, checkpoints, an exported module), or nil when alone.
function M.dir() local t = load_info(); return t and t.dir end
-- populationbased: where the script saves its state for the next round (dir/checkpoint), and
-- the copy of a better trial's checkpoint to start from (nil in round 0 and under fulltrail).
function M.checkpoint_dir() local t = load_info(); return t and (t.dir .. "/checkpoint") end
function M.resume_from() local t = load_info(); return t and t.resume_from or nil end
function M.round() local t = load_info(); return t and t.round or 0 end

function M.hparams(defaults)
  if defaults == nil then defaults = {} end
  if type(defaults) ~= "table" then fail("hub.hparams: expected a table of defaults { name = value, ... }, got %s", type(defaults)) end
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  local t = load_info()
  if not t then return out end
  local unknown = {}
  for k, v in pairs(t.params) do
    if defaults[k] == nil then unknown[#unknown + 1] = k else out[k] = v end
  end
  if #unknown > 0 then
    table.sort(unknown)
    local names = {}
    for k in pairs(defaults) do names[#names + 1] = tostring(k) end
    table.sort(names)
    fail("hub.hparams: the search tunes %s, which the script's defaults do not have (defaults: %s)",
      table.concat(unknown, ", "), #names > 0 and table.concat(names, ", ") or "none")
  end
  return out
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close(); return true end
  return false
end

-- Whether the tuner has stopped this trial (a report returned false).
function M.stopped() return stopped end

-- report(value[, { step = n, ...extra numbers }]) -> true to go on, false when the tuner says stop.
function M.report(value, opts)
  if type(value) ~= "number" then fail("hub.report: the value must be a number, got %s", type(value)) end
  if opts ~= nil and type(opts) ~= "table" then fail("hub.report: options must be a table { step = n }, got %s", type(opts)) end
  local step = opts and opts.step
  if step ~= nil and type(step) ~= "number" then fail("hub.report: step must be a number, got %s", type(step)) end
  local t = load_info()
  if not t then return true end
  if stopped then fail("hub.report: trial %s was stopped by the tuner; the script should return after hub.report returns false", tostring(t.id)) end
  if not report_file then
    local f, e = io.open(t.report, "ab")
    if not f then fail("hub.report: cannot open %s", tostring(e)) end
    report_file = f
  end
  local row = { value = value, step = step, time = os.time() }
  if opts then for k, v in pairs(opts) do if k ~= "step" and type(v) == "number" then row[k] = v end end end
  if value ~= value or value == math.huge or value == -math.huge then row.value = tostring(value) end
  report_file:write(json.encode(row), "\n")
  report_file:flush()
  if t.control and exists(t.control) then stopped = true; return false end
  return true
end

return M
