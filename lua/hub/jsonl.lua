-- hub.jsonl: metric logs as JSON Lines, one object a line, that survive kills and resumes.
--
--   local log = hub.jsonl("run/metrics.jsonl", { resume_step = step })  -- after a resume
--   log:write{ step = step, loss = 2.31, lr = opt:get_lr() }   -- one line, flushed at once
--   log:close()
--   local rows = hub.jsonl.read("run/metrics.jsonl")           -- { {step=1, loss=...}, ... }
--
-- (Not hub.log: that is the elementwise logarithm.)
--
-- Every write is one complete line handed to the kernel before write() returns (the file is
-- flushed), so a process killed with kill -9 loses at most the line it was writing.  Numbers are
-- written exactly (hub.json: the value read back is the double written).
--
-- Resuming: a run that restarts from the checkpoint of step S has already logged steps past S
-- that it will now log again.  Opening with `resume_step = S` keeps only the lines whose `step`
-- is at most S (lines without a step field are kept, an unfinished last line from the kill is
-- dropped), rewrites the file atomically with them, and appends from there, so the file reads as
-- one uninterrupted run.  Without resume_step the file is appended to as it is; `truncate =
-- true` starts it empty.  The step field's name is `step_key` (default "step").  Opening a file
-- whose last line is unfinished (a writer killed mid-line) drops that line first, so appending
-- never glues two records together.
local core = require "hub.core"
local json = require "hub.json"
local C = core.C

local M = {}

local Log = {}
Log.__index = Log

local fail = require("hub.core").failf

-- read(path[, {strict=true}]) -> list of tables.  A line that is not a JSON object is an
-- error naming path:line, except an unfinished last line (no newline: the writer was killed),
-- which is skipped; strict = false skips every bad line.
function M.read(path, opts)
  local strict = not (opts and opts.strict == false)
  local f, err = io.open(path, "rb")
  if not f then fail("jsonl.read: cannot open %s", tostring(err)) end
  local text = f:read("*a")
  f:close()
  local rows, lineno, pos = {}, 0, 1
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    local line = text:sub(pos, (nl or #text + 1) - 1)
    pos = (nl or #text) + 1
    lineno = lineno + 1
    if line:match("%S") then
      local ok, v = pcall(json.decode, line, path .. ":" .. lineno)
      if ok and type(v) == "table" then rows[#rows + 1] = v
      elseif strict and nl then fail("jsonl.read: %s:%d is not a JSON object: %s", path, lineno, ok and line or v) end
    end
  end
  return rows
end

-- Lines of text kept when resuming at step s (see the file's comment).
local function kept_text(path, s, key)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  local out = {}
  for line, nl in text:gmatch("([^\n]*)(\n?)") do
    if nl == "\n" and line:match("%S") then
      local ok, v = pcall(json.decode, line, path)
      if ok and type(v) == "table" and (type(v[key]) ~= "number" or v[key] <= s) then out[#out + 1] = line .. "\n" end
    end
  end
  return table.concat(out)
end

-- jsonl(path[, {resume_step =, truncate = false, step_key = "step"}]) -> log (hub.jsonl(...))
function M.open(path, opts)
  if type(path) ~= "string" or path == "" then core.argerror(1, "jsonl", "a file path", type(path)) end
  opts = opts or {}
  if type(opts) ~= "table" then core.argerror(2, "jsonl", "an options table", type(opts)) end
  for k in pairs(opts) do
    if k ~= "resume_step" and k ~= "truncate" and k ~= "step_key" then fail("jsonl: unknown option '%s'", tostring(k)) end
  end
  local key = opts.step_key or "step"
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" and C.hub_fs_mkdirs(dir) ~= 0 then fail("jsonl: %s", core.last_error()) end
  if opts.truncate then
    if C.hub_fs_write_file(path, "", 0) ~= 0 then fail("jsonl: %s", core.last_error()) end
  elseif opts.resume_step ~= nil then
    if type(opts.resume_step) ~= "number" then fail("jsonl: resume_step must be a number, got %s", type(opts.resume_step)) end
    local text = kept_text(path, opts.resume_step, key)
    if text and C.hub_fs_write_file(path, text, #text) ~= 0 then fail("jsonl: %s", core.last_error()) end
  else
    local f = io.open(path, "rb")
    if f then
      local size = f:seek("end")
      local last = size > 0 and (f:seek("set", size - 1) and f:read(1)) or "\n"
      f:close()
      if last ~= "\n" then
        local text = kept_text(path, math.huge, key)
        if C.hub_fs_write_file(path, text, #text) ~= 0 then fail("jsonl: %s", core.last_error()) end
      end
    end
  end
  local f, err = io.open(path, "ab")
  if not f then fail("jsonl: cannot open %s", tostring(err)) end
  return setmetatable({ path = path, file = f }, Log)
end

-- write(t): appends t as one JSON line and flushes it.
function Log:write(t)
  if not self.file then fail("log %s: write after close", self.path) end
  if type(t) ~= "table" then core.argerror(1, "write", "a table of fields", type(t)) end
  local ok, line = pcall(json.encode, t)
  if not ok then fail("log %s: %s", self.path, line) end
  self.file:write(line, "\n")
  self.file:flush()
end
Log.log = Log.write

function Log:close()
  if self.file then self.file:close(); self.file = nil end
end

return setmetatable(M, { __call = function(_, path, opts) return M.open(path, opts) end })
