-- hub.progress: a progress bar on a terminal, plain log lines elsewhere.
--
--   local p = hub.progress{ total = 1000, desc = "pretrain", unit = "step" }
--   for step = 1, 1000 do ...; p:update(1, { loss = 2.31, acc = 0.41, ["tok/s"] = 5120 }) end
--   p:close()
--
-- update(n, fields) advances the count by n (as tqdm does; n = nil is 1) and shows `fields`, a
-- table of name = number or string; set(count, fields) sets the count itself (after a resume:
-- `hub.progress{ total = N, initial = step }` or p:set(step)).  On a terminal (stderr is a tty,
-- asked through hub_os_isatty) one line is redrawn in place at most every `refresh` seconds
-- (default 0.2) and at the end:
--
--   pretrain  42%|########            | 420/1000 [01:23<01:55, 5.06 step/s] acc=0.41 loss=2.31 tok/s=5.12k
--
-- Elsewhere (a log file, a pipe, CI) it writes plain lines, the first at the first update, then
-- one every `interval` seconds (default 30) and a last one at close:
--
--   pretrain 420/1000 (42%) elapsed 01:23 eta 01:55 5.06 step/s acc=0.41 loss=2.31 tok/s=5.12k
--
-- The rate is the count since the start (or `initial`) over the elapsed time, the ETA the rest
-- at that rate.  Fields appear in `order` (a list of names) and then the others sorted by name.
-- Options: total, desc, unit ("it"), initial (0), refresh, interval, order, tty (true/false to
-- force a mode), stream (anything with :write, default io.stderr), width (columns; default
-- $COLUMNS, else the terminal's width (TIOCGWINSZ, asked at each redraw), else 100), clock (a
-- function returning seconds; default the monotonic clock).
-- p:write(text) prints a line without breaking the bar.  The formatting functions below
-- (format_time, format_number, format_fields, line) are exported for tests and other displays.
local core = require "hub.core"
local C = core.C

local M = {}

-- 83 -> "01:23", 7384 -> "2:03:04", 90061 -> "1d 01:01:01"; nil or non-finite -> "?".
function M.format_time(s)
  if type(s) ~= "number" or s ~= s or s == math.huge or s < 0 then return "?" end
  s = math.floor(s + 0.5)
  local d, h, m, sec = math.floor(s / 86400), math.floor(s / 3600) % 24, math.floor(s / 60) % 60, s % 60
  if d > 0 then return string.format("%dd %02d:%02d:%02d", d, h, m, sec) end
  if h > 0 then return string.format("%d:%02d:%02d", h, m, sec) end
  return string.format("%02d:%02d", m, sec)
end

-- Numbers for a narrow column: integers as they are (below 10^4), large values with k/M/G,
-- small ones in scientific notation, the rest with 4 significant digits.
function M.format_number(v)
  if type(v) ~= "number" then return tostring(v) end
  if v ~= v then return "nan" end
  if v == math.huge or v == -math.huge then return v > 0 and "inf" or "-inf" end
  local a = math.abs(v)
  if v == math.floor(v) and a < 1e4 then return string.format("%d", v) end
  if a >= 1e4 then
    for _, u in ipairs { { 1e12, "T" }, { 1e9, "G" }, { 1e6, "M" }, { 1e3, "k" } } do
      if a >= u[1] then return string.format("%.3g%s", v / u[1], u[2]) end
    end
  end
  if a ~= 0 and a < 1e-3 then return string.format("%.2e", v) end
  return string.format("%.4g", v)
end

-- "a=1 b=0.5": names in `order` first, then the rest sorted.
function M.format_fields(fields, order)
  if not fields then return "" end
  local seen, parts = {}, {}
  for _, k in ipairs(order or {}) do
    if fields[k] ~= nil then parts[#parts + 1] = k .. "=" .. M.format_number(fields[k]); seen[k] = true end
  end
  local rest = {}
  for k in pairs(fields) do if not seen[k] then rest[#rest + 1] = tostring(k) end end
  table.sort(rest)
  for _, k in ipairs(rest) do parts[#parts + 1] = k .. "=" .. M.format_number(fields[k]) end
  return table.concat(parts, " ")
end

local function rate_text(rate, unit)
  if not rate or rate <= 0 then return "? " .. unit .. "/s" end
  if rate >= 1 then return string.format("%.2f %s/s", rate, unit) end
  return string.format("%.2f s/%s", 1 / rate, unit)
end

-- The text of a progress state s = { n, total, initial, desc, unit, fields, order, elapsed }:
-- the terminal line (tty = true, at most `width` characters) or the plain log line.  Returns the
-- text, the rate (units/s) and the ETA in seconds (nil when unknown).
function M.line(s, tty, width, done)
  local done_n = s.n - (s.initial or 0)
  local rate = s.elapsed > 0 and done_n > 0 and done_n / s.elapsed or nil
  local eta = s.total and rate and (s.total - s.n) / rate or nil
  if eta and eta < 0 then eta = 0 end
  local desc = s.desc and s.desc ~= "" and s.desc or nil
  local fields = M.format_fields(s.fields, s.order)
  local text
  if tty then
    local head = desc and (desc .. " ") or ""
    local tail = fields ~= "" and (" " .. fields) or ""
    if s.total and s.total > 0 then
      local frac = math.min(1, math.max(0, s.n / s.total))
      local function with_bar(bw)
        local filled = math.floor(frac * bw)
        return string.format("%s%3d%%|%s%s| %d/%d [%s<%s, %s]", head, math.floor(frac * 100), string.rep("#", filled),
          string.rep(" ", bw - filled), s.n, s.total, M.format_time(s.elapsed), M.format_time(eta), rate_text(rate, s.unit)) .. tail
      end
      text = with_bar(20)
      -- on a narrow terminal the bar gives way first (down to 5 cells), then the end is cut
      if width and #text > width - 1 then text = with_bar(math.max(5, 20 - (#text - (width - 1)))) end
    else
      text = string.format("%s%d %s [%s, %s]", head, s.n, s.unit, M.format_time(s.elapsed), rate_text(rate, s.unit)) .. tail
    end
    if width and #text > width - 1 then text = text:sub(1, width - 1) end
  else
    local parts = { desc }
    if s.total and s.total > 0 then
      parts[#parts + 1] = string.format("%d/%d (%d%%)", s.n, s.total, math.floor(100 * math.min(1, s.n / s.total)))
    else
      parts[#parts + 1] = string.format("%d %s", s.n, s.unit)
    end
    parts[#parts + 1] = "elapsed " .. M.format_time(s.elapsed)
    if s.total and not done then parts[#parts + 1] = "eta " .. M.format_time(eta) end
    parts[#parts + 1] = rate_text(rate, s.unit)
    if fields ~= "" then parts[#parts + 1] = fields end
    if done then parts[#parts + 1] = "(done)" end
    text = table.concat(parts, " ")
  end
  return text, rate, eta
end

local Bar = {}
Bar.__index = Bar

local known = { total = true, desc = true, unit = true, initial = true, refresh = true, interval = true, order = true,
                tty = true, stream = true, width = true, clock = true }

function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then core.argerror(1, "progress", "an options table", type(opts)) end
  for k in pairs(opts) do
    if not known[k] then core.raise(string.format("progress: unknown option '%s'", tostring(k))) end
  end
  if opts.total ~= nil and (type(opts.total) ~= "number" or opts.total < 0) then
    core.raise("progress: total must be a number >= 0, got " .. tostring(opts.total))
  end
  local clock = opts.clock or function() return C.hub_os_monotonic() end
  local tty = opts.tty
  if tty == nil then tty = opts.stream == nil and C.hub_os_isatty(2) == 1 end
  local now = clock()
  return setmetatable({
    n = opts.initial or 0, initial = opts.initial or 0, total = opts.total, desc = opts.desc, unit = opts.unit or "it",
    order = opts.order, fields = nil, tty = tty, stream = opts.stream or io.stderr, clock = clock, start = now,
    refresh = opts.refresh or 0.2, interval = opts.interval or 30,
    width = opts.width,
    last_draw = nil, drawn_n = nil, closed = false,
  }, Bar)
end

function Bar:state(now)
  return { n = self.n, total = self.total, initial = self.initial, desc = self.desc, unit = self.unit,
           fields = self.fields, order = self.order, elapsed = now - self.start }
end

function Bar:_show(force, done)
  local now = self.clock()
  if self.tty then
    if force or not self.last_draw or now - self.last_draw >= self.refresh then
      -- asked at every redraw: the terminal may have been resized
      local width = self.width or tonumber(os.getenv("COLUMNS") or "")
      if not width then
        local cols = self.stream == io.stderr and C.hub_os_term_columns(2) or 0
        width = cols > 0 and cols or 100
      end
      self.stream:write("\r", (M.line(self:state(now), true, width, done)), "\27[K")
      if self.stream.flush then self.stream:flush() end
      self.last_draw, self.drawn_n = now, self.n
    end
  elseif force or not self.last_draw or now - self.last_draw >= self.interval then
    self.stream:write((M.line(self:state(now), false, nil, done)), "\n")
    if self.stream.flush then self.stream:flush() end
    self.last_draw, self.drawn_n = now, self.n
  end
end

local function take_fields(self, fields, fname)
  if fields ~= nil then
    if type(fields) ~= "table" then core.argerror(2, fname, "a table of fields", type(fields)) end
    self.fields = fields
  end
end

-- update(n = 1, fields): advances by n.
function Bar:update(n, fields)
  if n == nil then n = 1 end
  if type(n) ~= "number" then core.argerror(1, "update", "a number", type(n)) end
  take_fields(self, fields, "update")
  self.n = self.n + n
  self:_show(self.tty and self.total ~= nil and self.n >= self.total)
end

-- set(count, fields): sets the count.
function Bar:set(count, fields)
  if type(count) ~= "number" then core.argerror(1, "set", "a number", type(count)) end
  take_fields(self, fields, "set")
  self.n = count
  self:_show(self.tty and self.total ~= nil and self.n >= self.total)
end

-- write(text): a line of text above the bar (the bar is redrawn under it on a terminal).
function Bar:write(text)
  if self.tty then
    self.stream:write("\r\27[K", tostring(text), "\n")
    if self.last_draw then self:_show(true) end
  else
    self.stream:write(tostring(text), "\n")
  end
end

-- close([fields]): the final state (a last redraw and a newline, or a last plain line).
function Bar:close(fields)
  if self.closed then return end
  take_fields(self, fields, "close")
  self.closed = true
  self:_show(true, true)
  if self.tty then self.stream:write("\n") end
  if self.stream.flush then self.stream:flush() end
end

return setmetatable(M, { __call = function(_, opts) return M.new(opts) end })
