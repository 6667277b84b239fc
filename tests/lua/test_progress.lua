-- test_progress.lua: hub.progress on values (time, number and field formatting, rate and ETA
-- arithmetic, redraw throttling, plain-line intervals, driven by a fake clock and a captured
-- stream), then for real: hubrun on a pty (through script(1)) draws the bar in place with \r and
-- erase-line, and the same run into a file writes plain lines.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local hub = require "hub"
local ok, errors = T.ok, T.errors
local P = hub.progress

local function eq(got, want, msg) ok(got == want, msg, "got  " .. tostring(got) .. "\nwant " .. tostring(want)) end

-- formatting
eq(P.format_time(0), "00:00", "time 0")
eq(P.format_time(83), "01:23", "time 83")
eq(P.format_time(59.6), "01:00", "time rounds")
eq(P.format_time(7384), "2:03:04", "time hours")
eq(P.format_time(90061), "1d 01:01:01", "time days")
eq(P.format_time(nil), "?", "time unknown")
eq(P.format_time(1 / 0), "?", "time infinite")
eq(P.format_number(2.31), "2.31", "number plain")
eq(P.format_number(42), "42", "number integer")
eq(P.format_number(5120.4), "5120", "number 4 digits")
eq(P.format_number(51234.5), "51.2k", "number k")
eq(P.format_number(2.5e6), "2.5M", "number M")
eq(P.format_number(5e-5), "5.00e-05", "number small")
eq(P.format_number(0 / 0), "nan", "number nan")
eq(P.format_number("x"), "x", "strings kept")
eq(P.format_fields({ loss = 2.31, acc = 0.41, ["tok/s"] = 51200 }), "acc=0.41 loss=2.31 tok/s=51.2k", "fields sorted")
eq(P.format_fields({ loss = 2.31, acc = 0.41, lr = 1e-4 }, { "loss" }), "loss=2.31 acc=0.41 lr=1.00e-04", "fields order")

-- rate and ETA
local s = { n = 420, total = 1000, initial = 0, desc = "pretrain", unit = "step", fields = { loss = 2.31 }, elapsed = 83 }
local text, rate, eta = P.line(s, true, 200)
ok(math.abs(rate - 420 / 83) < 1e-12 and math.abs(eta - 580 / (420 / 83)) < 1e-9, "rate and eta", rate .. " " .. eta)
eq(text, "pretrain  42%|########            | 420/1000 [01:23<01:55, 5.06 step/s] loss=2.31", "terminal line")
eq((P.line(s, false)), "pretrain 420/1000 (42%) elapsed 01:23 eta 01:55 5.06 step/s loss=2.31", "plain line")
s.initial = 400 -- resumed at 400: the rate counts the 20 steps done since
text, rate, eta = P.line(s, false)
ok(math.abs(rate - 20 / 83) < 1e-12, "rate after a resume counts new work only", rate)
eq(text, "pretrain 420/1000 (42%) elapsed 01:23 eta 40:07 4.15 s/step loss=2.31", "slow rate as s/step")
eq((P.line({ n = 7, unit = "it", elapsed = 2 }, true, 80)), "7 it [00:02, 3.50 it/s]", "no total")
eq(#P.line(s, true, 30), 29, "the terminal line fits the width")
s.initial = 0
eq((P.line(s, true, 75)), "pretrain  42%|#####        | 420/1000 [01:23<01:55, 5.06 step/s] loss=2.31",
  "on a narrow terminal the bar shrinks first")
s.initial = 400
eq((P.line({ n = 0, total = 10, initial = 0, unit = "it", elapsed = 0 }, true, 80)), "  0%|                    | 0/10 [00:00<?, ? it/s]",
  "unknown rate at the start")

-- a fake clock and stream: throttled redraws on a "terminal"
local function capture()
  local buf = {}
  return { write = function(self, ...) for _, x in ipairs { ... } do buf[#buf + 1] = x end end,
           text = function() return table.concat(buf) end }
end
local now = 0
local clock = function() return now end
local out = capture()
local p = P { total = 100, desc = "t", unit = "step", tty = true, stream = out, clock = clock, refresh = 0.2 }
for i = 1, 100 do now = i * 0.05; p:update(1, { loss = 1 / i }) end
p:close()
local draws = select(2, out.text():gsub("\r", ""))
-- first update, then every 0.2 s (every 4th update) up to 5.0 s, the forced one at 100/100 and close
ok(draws >= 24 and draws <= 28, "redraws throttled to the refresh interval", draws)
ok(out.text():find("100%|####################| 100/100 [00:05<00:00, 20.00 step/s] loss=0.01\27[K\n", 1, true) ~= nil,
  "final line and newline", out.text():sub(-120))

-- plain lines every `interval` seconds
now = 0
out = capture()
p = P { total = 50, desc = "t", tty = false, stream = out, clock = clock, interval = 1 }
for i = 1, 50 do now = i * 0.1; p:update() end
p:close({ acc = 0.5 })
local lines = {}
for l in out.text():gmatch("[^\n]+") do lines[#lines + 1] = l end
eq(#lines, 6, "plain: the first update, then one a second, then the last")
eq(lines[1], "t 1/50 (2%) elapsed 00:00 eta 00:05 10.00 it/s", "plain first line")
eq(lines[#lines], "t 50/50 (100%) elapsed 00:05 10.00 it/s acc=0.5 (done)", "plain last line")
ok(not out.text():find("\r", 1, true), "no carriage returns in plain mode")

-- set() and write()
out = capture()
p = P { total = 10, tty = true, stream = out, clock = clock }
p:set(5, { x = 1 })
p:write("evaluating")
ok(out.text():find("\r\27[Kevaluating\n\r 50%", 1, true) ~= nil, "write() prints above the bar and redraws it", out.text())
errors(function() P { totl = 3 } end, "unknown option 'totl'", "bad option")
errors(function() p:update("x") end, "bad argument #1 to 'update'", "bad update")

-- for real, on a pty and into a file
local HUBRUN = arg[-1]
local prog = [[local hub = require 'hub'; local p = hub.progress{ total = 30, desc = 'pty', unit = 'step', refresh = 0 }
for i = 1, 30 do hub.C.hub_os_sleep(0.002); p:update(1, { loss = 1 / i }) end; p:close()]]
local script_path = os.tmpname()
local f = assert(io.open(script_path, "w")); f:write(prog); f:close()
local has_script = os.execute("command -v script >/dev/null 2>&1") == 0
if has_script then
  local h = io.popen(string.format("script -qec '%s %s' /dev/null 2>&1", HUBRUN, script_path))
  local tty_out = h:read("*a")
  h:close()
  ok(tty_out:find("\r", 1, true) and tty_out:find("\27[K", 1, true), "on a pty the bar is redrawn in place", tty_out)
  ok(tty_out:find("100%|####################| 30/30", 1, true) ~= nil, "on a pty the bar reaches 100%", tty_out)
  -- a 50-column terminal (COLUMNS unset): the width comes from the terminal itself
  h = io.popen(string.format("script -qec 'stty cols 50; env -u COLUMNS %s %s' /dev/null 2>&1", HUBRUN, script_path))
  local narrow = h:read("*a")
  h:close()
  local longest = 0
  for seg in narrow:gsub("\27%[K", ""):gmatch("[^\r\n]+") do longest = math.max(longest, #seg) end
  ok(longest > 30 and longest <= 49, "on a 50-column terminal every redraw fits", longest .. "\n" .. narrow)
else
  print("skipped: script(1) not found, no pty check")
end
local h = io.popen(string.format("%s %s 2>&1 | cat", HUBRUN, script_path))
local plain = h:read("*a")
h:close()
ok(not plain:find("\r", 1, true) and plain:find("^pty 1/30 %(3%%%) elapsed") and plain:find("pty 30/30 %(100%%%) elapsed [^\n]* loss=0.03333 %(done%)\n$"),
  "into a pipe: plain lines", plain)
os.remove(script_path)

T.finish()
