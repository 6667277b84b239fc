-- test_plot.lua: hub.plot on values.  Nice ticks and tick labels; then PNGs read back through
-- libpng (hub_image_load_png): the right size, a horizontal series y = const on the row the
-- layout maps it to (and nothing of its colour elsewhere in the plot), a right-axis series on
-- its own scale, gaps at NaN, the legend and the title drawn, plot.jsonl from a metrics log,
-- and clear errors for bad series.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local hub = require "hub"
local ffi = require "ffi"
local ok, errors = T.ok, T.errors
local C = hub.C
local plot = hub.plot

local function eq(got, want, msg) ok(got == want, msg, "got  " .. tostring(got) .. "\nwant " .. tostring(want)) end

-- ticks
local a, b, step, list = plot.ticks(0.13, 0.87)
ok(a == 0.1 and math.abs(b - 0.9) < 1e-12 and step == 0.1 and #list == 9, "ticks 0.13..0.87", a .. " " .. b .. " " .. step)
a, b, step = plot.ticks(1, 2917)
ok(a == 0 and b == 3000 and step == 500, "ticks 1..2917", a .. " " .. b .. " " .. step)
a, b, step, list = plot.ticks(5, 5)
ok(a <= 4.5 and b >= 5.5 and #list >= 2, "a constant range is widened", a .. " " .. b)
eq(plot.tick_label(0.30000000000000004, 0.1), "0.3", "label decimals from the step")
eq(plot.tick_label(2500, 500), "2500", "integer label")
eq(plot.tick_label(250000, 50000), "250k", "k suffix")
eq(plot.tick_label(1.5e6, 5e5), "1.5M", "M suffix")
eq(plot.tick_label(0.25, 0.25), "0.25", "a 0.25 step keeps two decimals")
eq(plot.tick_label(-1e-17, 0.1), "0.0", "no negative zero")

local tmp = os.tmpname()
os.remove(tmp)
C.hub_fs_mkdirs(tmp)

local function load(path)
  local img = C.hub_image_load_png(path)
  if img == nil then error(hub.core.last_error()) end
  return ffi.gc(img, C.hub_image_free)
end
local function px(img, x, y) return C.hub_image_get(img, x, y) end
local BLUE, ORANGE = plot.colors[1], plot.colors[2]

-- a horizontal line y = 0.5 with fixed limits, and a rising right-axis series
local xs, flat, rise = {}, {}, {}
for i = 0, 100 do xs[#xs + 1] = i / 10; flat[#flat + 1] = 0.5; rise[#rise + 1] = i end
local path = tmp .. "/a.png"
local lay = plot.lines { path = path, title = "Test plot", xlabel = "step", width = 640, height = 400, xlim = { 0, 10 },
                         ylim = { 0, 1 }, series = { { name = "flat", x = xs, y = flat },
                                                     { name = "rise", x = xs, y = rise, axis = "right" } } }
local img = load(path)
ok(img.width == 640 and img.height == 400, "PNG size", img.width .. "x" .. img.height)
local row = math.floor(lay.y(0.5) + 0.5)
local mid_x = math.floor(lay.x(5) + 0.5)
ok(row == math.floor((lay.top + lay.bottom) / 2 + 0.5), "y = 0.5 maps to the middle of the plot", row .. " " .. lay.top .. " " .. lay.bottom)
local on_row, off_row, samples = 0, 0, 0
for x = lay.left + 2, lay.right - 2, 7 do
  if math.abs(x - mid_x) > 4 then -- the right-axis series crosses the row at x = 5
    samples = samples + 1
    if px(img, x, row) == BLUE then on_row = on_row + 1 end
    for _, dy in ipairs { -4, 4 } do if px(img, x, row + dy) == BLUE then off_row = off_row + 1 end end
  end
end
ok(on_row == samples and off_row == 0, "the flat series lies on its row and nowhere else", on_row .. " on, " .. off_row .. " off")
-- the right-axis series: 0..100 on its own scale; at x = 5 it is at 50, the right axis' middle
ok(lay.ylim_right[1] == 0 and lay.ylim_right[2] == 100, "right axis limits", lay.ylim_right[1] .. " " .. lay.ylim_right[2])
local rrow = math.floor(lay.y_right(50) + 0.5)
local found = false
for dy = -1, 1 do if px(img, math.floor(lay.x(2.5) + 0.5), math.floor(lay.y_right(25) + 0.5) + dy) == ORANGE then found = true end end
ok(found, "the right-axis series at (2.5, 25) on the right scale")
ok(rrow == row, "50 on the right axis is the middle row too")
-- frame, title and legend
ok(px(img, lay.left, lay.top + 10) ~= 0xffffff and px(img, lay.right, lay.bottom - 10) ~= 0xffffff, "frame drawn")
local dark = 0
for y = 0, lay.top - 4 do for x = 0, 639 do if px(img, x, y) == 0x222222 then dark = dark + 1 end end end
ok(dark > 100, "title text drawn", dark)
local legend_blue, legend_orange = false, false
for y = lay.top, lay.bottom do
  for x = lay.left, lay.right do
    local c = px(img, x, y)
    -- legend samples are short horizontal strokes away from the data rows
    if c == ORANGE and math.abs(y - (lay.y_right(lay.ylim_right[1]) - (x - lay.left) / (lay.right - lay.left) * (lay.bottom - lay.top))) > 6 then legend_orange = true end
    if c == BLUE and math.abs(y - row) > 3 then legend_blue = true end
  end
end
ok(legend_blue and legend_orange, "legend shows both colours")
-- left tick labels take the left series' colour when both axes are used
local blue_text = 0
for y = lay.top, lay.bottom do for x = 0, lay.left - 6 do if px(img, x, y) == BLUE then blue_text = blue_text + 1 end end end
ok(blue_text > 20, "left axis labels in the series' colour", blue_text)

-- gaps: NaN breaks the line
local ys = {}
for i = 1, 101 do ys[i] = (i > 40 and i < 60) and 0 / 0 or 0.5 end
lay = plot.lines { path = tmp .. "/gap.png", xlim = { 0, 10 }, ylim = { 0, 1 }, legend = false,
                   series = { { name = "g", x = xs, y = ys } } }
img = load(tmp .. "/gap.png")
row = math.floor(lay.y(0.5) + 0.5)
ok(px(img, math.floor(lay.x(2) + 0.5), row) == BLUE and px(img, math.floor(lay.x(5) + 0.5), row) == 0xffffff
   and px(img, math.floor(lay.x(8) + 0.5), row) == BLUE, "NaN values leave a gap")

-- smoothing: a series jumping between 0.3 and 0.7 is drawn pale, its moving average (0.5 +- 0.01)
-- in full colour
ys = {}
for i = 1, 101 do ys[i] = i % 2 == 0 and 0.3 or 0.7 end
lay = plot.lines { path = tmp .. "/smooth.png", xlim = { 0, 10 }, ylim = { 0, 1 }, legend = false,
                   series = { { name = "s", x = xs, y = ys, smooth = 0.9 } } }
img = load(tmp .. "/smooth.png")
local full_near_half, full_far = false, false
local cx = math.floor(lay.x(7) + 0.5)
for y = lay.top + 1, lay.bottom - 1 do
  if px(img, cx, y) == BLUE then
    if math.abs(y - lay.y(0.5)) <= 8 then full_near_half = true else full_far = true end
  end
end
ok(full_near_half and not full_far, "the smoothed line in full colour near 0.5, the raw values pale")
errors(function() plot.lines { path = tmp .. "/x.png", series = { { y = { 1 }, smooth = 1 } } } end, "smooth must be", "bad smooth")
eq(plot.tick_label(2e-5, 1e-5, 5e-5), "2e-5", "small steps share a power of ten")
eq(plot.tick_label(50000, 50000, 250000), "50k", "one suffix for the whole axis")

-- the legend avoids the lines, long segments included: one diagonal segment from the lower left
-- to the upper right leaves the upper-left corner
lay = plot.lines { path = tmp .. "/legend.png", xlim = { 0, 10 }, ylim = { 0, 1 },
                   series = { { name = "diagonal", x = { 0, 10 }, y = { 0, 1 } } } }
img = load(tmp .. "/legend.png")
ok(px(img, lay.left + 8, lay.top + 8) == 0xbbbbbb, "legend box in the free upper-left corner")

-- plot.jsonl
local log = hub.jsonl(tmp .. "/m.jsonl")
for s = 1, 50 do log:write { step = s * 10, loss = 3 / s } end
for s = 1, 5 do log:write { step = s * 100, acc = s / 10 } end
log:close()
lay = plot.jsonl { path = tmp .. "/m.jsonl", out = tmp .. "/m.png", x = "step", y = { "loss", { "acc", axis = "right", name = "dev acc" } },
                   title = "curves" }
img = load(tmp .. "/m.png")
ok(img.width == 800 and img.height == 500 and lay.xlim[2] == 500, "plot.jsonl writes the PNG")
found = false
for dy = -1, 1 do
  for dx = -1, 1 do
    if px(img, math.floor(lay.x(300) + 0.5) + dx, math.floor(lay.y_right(0.3) + 0.5) + dy) == ORANGE then found = true end
  end
end
ok(found, "an evaluation metric logged every 100 steps is plotted at its steps")

-- hubrun plot
local HUBRUN = arg[-1]
local function sh(cmd)
  local h = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = h:read("*a")
  h:close()
  return out
end
local out = sh(string.format("%s plot %s/m.jsonl -y 'loss~0.8,acc:right' --title cli", HUBRUN, tmp))
ok(out:find(tmp .. "/m.png\nrc=0", 1, true) ~= nil, "hubrun plot writes LOG.png", out)
img = load(tmp .. "/m.png")
ok(img.width == 800 and img.height == 500, "hubrun plot's PNG")
out = sh(string.format("%s plot %s/m.jsonl -y los -o %s/y.png", HUBRUN, tmp, tmp))
ok(out:find("has no numeric field 'los' (fields: acc, loss, step)", 1, true) and out:find("rc=1", 1, true), "unknown field", out)
out = sh(string.format("%s plot %s/m.jsonl -y 'loss~1.5'", HUBRUN, tmp))
ok(out:find("bad smoothing", 1, true) and out:find("rc=1", 1, true), "bad smoothing weight", out)

-- errors
errors(function() plot.lines { path = tmp .. "/x.png", series = {} } end, "series must be a non-empty list", "no series")
errors(function() plot.lines { path = tmp .. "/x.png", series = { { name = "l", x = { 1, 2 }, y = { 1 } } } } end,
  "series 1 ('l'): x has 2 values, y has 1", "length mismatch")
errors(function() plot.lines { path = tmp .. "/x.png", series = { { y = { 1 }, axis = "top" } } } end, "axis must be", "bad axis")
errors(function() plot.lines { path = tmp .. "/x.png", series = { { y = { 1 } } }, ylim = { 1, 0 } } end, "ylim must be", "bad ylim")
errors(function() plot.lines { path = tmp .. "/no/such/dir/x.png", series = { { y = { 1, 2 } } } } end, "no/such/dir/x.png",
  "unwritable path named")
errors(function() plot.lines { path = tmp .. "/x.png", series = { { y = { 1 } } }, colour = 1 } end, "unknown option 'colour'", "typo")
-- a series given as a tensor, a single point, all-NaN: drawn without errors
plot.lines { path = tmp .. "/t.png", series = { { name = "t", y = hub.arange(0, 10) }, { name = "one", x = { 3 }, y = { 4 } },
                                                { name = "nan", y = { 0 / 0 } } } }
ok(load(tmp .. "/t.png").width == 800, "tensor, single-point and all-NaN series")

C.hub_fs_remove_tree(tmp)
T.finish()
