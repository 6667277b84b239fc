-- hub.plot: line charts of training curves as PNG files (rasterised by runtime/image.c).
--
--   hub.plot.lines{ path = "loss.png", title = "ERNIE pretraining", xlabel = "step",
--                   series = { { name = "loss", x = steps, y = losses },
--                              { name = "mlm acc", x = steps, y = accs, axis = "right" } } }
--   hub.plot.jsonl{ path = "metrics.jsonl", out = "curves.png", x = "step",
--                   y = { { "loss", smooth = 0.9 }, { "mlm_acc", axis = "right", name = "mlm acc" } } }
--
-- lines{} draws each series as an antialiased polyline on a white canvas: a frame, grid lines at
-- "nice" ticks (1, 2 or 5 times a power of ten; the axis limits are whole ticks), numeric tick
-- labels, a title, axis labels and a legend in the corner of the plot with the fewest points
-- under it.  Series with axis = "right" get their own y axis on the right; with one series on
-- an axis that axis' label defaults to the series' name and, when both axes are used, takes its
-- colour.  Missing or non-finite values (nil, NaN, inf) leave gaps.  A series with smooth = w
-- (0 <= w < 1) is drawn thin and pale as it is, with its exponential moving average (weight w,
-- debiased: TensorBoard's smoothing) over it in full colour.  Options: path (required),
-- series (required), title, xlabel, ylabel, ylabel_right, width (800), height (500), xlim, ylim,
-- ylim_right ({lo, hi}: fixed limits instead of nice ones around the data), line_width (2),
-- legend (false hides it), colors (a list of 0xRRGGBB).  The PNG is written atomically.  Returns
-- the layout: { left, right, top, bottom (the plot area's pixel edges), xlim, ylim, ylim_right,
-- x = fn(v) -> pixel column, y = fn(v) -> row, y_right = fn(v) -> row }, which tests use.
--
-- Text is hubrun's 5x8 bitmap font (ASCII; other characters show as boxes).
local ffi = require "ffi"
local bit = require "bit"
local core = require "hub.core"
local C = core.C

local M = {}

-- matplotlib's "tab10" colours.
M.colors = { 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf }

local fail = require("hub.core").failf
local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- ticks(lo, hi[, target = 6]) -> lo', hi', step, { tick values }: lo' <= lo and hi' >= hi are
-- multiples of a step of 1, 2 or 5 times a power of ten giving about `target` intervals.
function M.ticks(lo, hi, target)
  target = target or 6
  if lo > hi then lo, hi = hi, lo end
  if lo == hi then
    local d = lo ~= 0 and math.abs(lo) * 0.1 or 1
    lo, hi = lo - d, hi + d
  end
  local raw = (hi - lo) / target
  local mag = 10 ^ math.floor(math.log10(raw))
  local norm = raw / mag
  local step = (norm < 1.5 and 1 or norm < 3 and 2 or norm < 7 and 5 or 10) * mag
  local a = math.floor(lo / step + 1e-9) * step
  local b = math.ceil(hi / step - 1e-9) * step
  local list = {}
  local n = math.floor((b - a) / step + 0.5)
  for i = 0, n do
    local v = a + i * step
    if math.abs(v) < step * 1e-9 then v = 0 end
    list[#list + 1] = v
  end
  return a, b, step, list
end

-- Decimals that show multiples of `s` exactly (0.25 needs two, 2.5 one, 500 none).
local function decimals(s)
  local dec = 0 - math.floor(math.log10(s) + 1e-9)
  if not (dec > 0) then dec = 0 end
  while dec < 12 and math.abs(s * 10 ^ dec - math.floor(s * 10 ^ dec + 0.5)) > 1e-6 * s * 10 ^ dec do dec = dec + 1 end
  return dec
end

-- tick_label(v, step[, top]): the label of tick v on an axis of ticks `step` apart whose largest
-- magnitude is `top` (the same suffix and decimals for every tick of the axis): the decimals the
-- step needs, k / M / G from 10^5 up, and a shared power of ten below a step of 10^-3
-- ("2e-5", "1.5e-4").
function M.tick_label(v, step, top)
  top = top or math.max(math.abs(v), step)
  if math.abs(v) < step * 1e-9 then v = 0 end
  if step < 1e-3 and top > 0 then
    if v == 0 then return "0" end
    local e = math.floor(math.log10(top) + 1e-9)
    return string.format("%." .. string.format("%d", decimals(step / 10 ^ e)) .. "fe%d", v / 10 ^ e, e)
  end
  local scale, suffix = 1, ""
  if top >= 1e9 then scale, suffix = 1e9, "G" elseif top >= 1e6 then scale, suffix = 1e6, "M" elseif top >= 1e5 then scale, suffix = 1e3, "k" end
  local t = string.format("%." .. string.format("%d", decimals(step / scale)) .. "f", v / scale)
  if t:match("^%-0%.?0*$") then t = t:sub(2) end
  return t .. suffix
end

local function check_series(series)
  if type(series) ~= "table" or #series == 0 then fail("plot.lines: series must be a non-empty list of { name =, x =, y = }") end
  for i, s in ipairs(series) do
    local what = string.format("plot.lines: series %d%s", i, type(s) == "table" and s.name and (" ('" .. tostring(s.name) .. "')") or "")
    if type(s) ~= "table" then fail("%s is a %s, expected a table", what, type(s)) end
    if type(s.y) ~= "table" and type(s.y) ~= "cdata" then fail("%s: y must be a list of numbers", what) end
    local y = s.y
    if core.is_tensor(y) then y = y:reshape({ -1 }):totable() end
    local x = s.x
    if core.is_tensor(x) then x = x:reshape({ -1 }):totable() end
    if x == nil then
      x = {}
      for k = 1, #y do x[k] = k end
    end
    if type(x) ~= "table" then fail("%s: x must be a list of numbers", what) end
    if #x ~= #y then fail("%s: x has %d values, y has %d", what, #x, #y) end
    if s.smooth ~= nil and (type(s.smooth) ~= "number" or s.smooth < 0 or s.smooth >= 1) then
      fail("%s: smooth must be a number in [0, 1), got %s", what, tostring(s.smooth))
    end
    if s.axis ~= nil and s.axis ~= "left" and s.axis ~= "right" then
      fail("%s: axis must be 'left' or 'right', got %s", what, tostring(s.axis))
    end
    s._x, s._y = x, y
  end
end

local function range(series, axis, key)
  local lo, hi = math.huge, -math.huge
  for _, s in ipairs(series) do
    if axis == nil or (s.axis or "left") == axis then
      for k = 1, #s._y do
        local v = (key == "x") and s._x[k] or s._y[k]
        local other = (key == "x") and s._y[k] or s._x[k]
        if finite(v) and finite(other) then
          if v < lo then lo = v end
          if v > hi then hi = v end
        end
      end
    end
  end
  if lo > hi then return 0, 1 end
  return lo, hi
end

local function limits(what, given, lo, hi)
  if given ~= nil then
    if type(given) ~= "table" or not finite(given[1]) or not finite(given[2]) or given[1] >= given[2] then
      fail("plot.lines: %s must be { lo, hi } with lo < hi", what)
    end
    local a, b = given[1], given[2]
    local _, _, step = M.ticks(a, b)
    local list = {}
    for i = math.ceil(a / step - 1e-9), math.floor(b / step + 1e-9) do list[#list + 1] = i * step end
    return a, b, step, list
  end
  return M.ticks(lo, hi)
end

-- rgb mixed with white: alpha = 1 is the colour, 0 white.
local function tint(rgb, alpha)
  local out = 0
  for shift = 16, 0, -8 do
    local c = bit.band(bit.rshift(rgb, shift), 0xff)
    out = out * 256 + math.floor(255 - (255 - c) * alpha + 0.5)
  end
  return out
end

-- TensorBoard's smoothing: an exponential moving average with weight w, debiased at the start;
-- non-finite values are skipped (and stay gaps).
local function smoothed(ys, w)
  local out, ema, n = {}, 0, 0
  for k = 1, #ys do
    local v = ys[k]
    if finite(v) then
      n = n + 1
      ema = w * ema + (1 - w) * v
      out[k] = ema / (1 - w ^ n)
    else
      out[k] = 0 / 0
    end
  end
  return out
end

local known = { path = true, series = true, title = true, xlabel = true, ylabel = true, ylabel_right = true, width = true,
                height = true, xlim = true, ylim = true, ylim_right = true, line_width = true, legend = true, colors = true }

function M.lines(o)
  if type(o) ~= "table" then core.argerror(1, "plot.lines", "an options table", type(o)) end
  for k in pairs(o) do if not known[k] then fail("plot.lines: unknown option '%s'", tostring(k)) end end
  if type(o.path) ~= "string" or o.path == "" then fail("plot.lines: path (the PNG file) is required") end
  check_series(o.series)
  local W, H = o.width or 800, o.height or 500
  if type(W) ~= "number" or type(H) ~= "number" or W < 200 or H < 150 then fail("plot.lines: width and height must be at least 200 x 150") end
  local colors = o.colors or M.colors
  local lw = o.line_width or 2
  local series = o.series
  local left_s, right_s = {}, {}
  for i, s in ipairs(series) do
    s._color = s.color or colors[(i - 1) % #colors + 1]
    if s.axis == "right" then right_s[#right_s + 1] = s else left_s[#left_s + 1] = s end
  end
  local two = #right_s > 0 and #left_s > 0
  local xa, xb, xstep, xt = limits("xlim", o.xlim, range(series, nil, "x"))
  local ya, yb, ystep, yt = limits("ylim", o.ylim, range(series, #left_s > 0 and "left" or "right", "y"))
  local ra, rb, rstep, rt
  if two then ra, rb, rstep, rt = limits("ylim_right", o.ylim_right, range(series, "right", "y")) end
  local ylabel = o.ylabel or (#left_s == 1 and left_s[1].name) or nil
  local ylabel_r = two and (o.ylabel_right or (#right_s == 1 and right_s[1].name)) or nil

  local FH, FA = C.HUB_FONT_HEIGHT, C.HUB_FONT_ADVANCE
  local function tw(s, sc) return C.hub_image_text_width(s, sc or 1) end
  local ylabels, rlabels, wl, wr = {}, {}, 0, 0
  local function maxabs(list) local m = 0; for _, v in ipairs(list) do m = math.max(m, math.abs(v)) end return m end
  for i, v in ipairs(yt) do ylabels[i] = M.tick_label(v, ystep, maxabs(yt)); wl = math.max(wl, tw(ylabels[i])) end
  if two then for i, v in ipairs(rt) do rlabels[i] = M.tick_label(v, rstep, maxabs(rt)); wr = math.max(wr, tw(rlabels[i])) end end
  local top = 12 + (o.title and (2 * FH + 8) or 0)
  local bottom = 12 + 6 + FH + (o.xlabel and (FH + 8) or 0)
  local left = 12 + (ylabel and (FH + 8) or 0) + wl + 8
  local right = two and (12 + (ylabel_r and (FH + 8) or 0) + wr + 8) or 24
  local L, R, T, B = left, W - 1 - right, top, H - 1 - bottom
  if R - L < 50 or B - T < 50 then fail("plot.lines: %d x %d leaves no room for the plot", W, H) end
  local function X(v) return L + (v - xa) / (xb - xa) * (R - L) end
  local function Y(v) return B - (v - ya) / (yb - ya) * (B - T) end
  local function YR(v) return B - (v - ra) / (rb - ra) * (B - T) end

  local img = C.hub_image_new(W, H, 0xffffff)
  if img == nil then fail("plot.lines: %s", core.last_error()) end
  img = ffi.gc(img, C.hub_image_free)
  local ink, grid, frame = 0x222222, 0xe4e4e4, 0x555555

  -- grid
  for _, v in ipairs(xt) do
    local px = math.floor(X(v) + 0.5)
    if px > L and px < R then C.hub_image_fill_rect(img, px, T + 1, 1, B - T - 1, grid) end
  end
  for _, v in ipairs(yt) do
    local py = math.floor(Y(v) + 0.5)
    if py > T and py < B then C.hub_image_fill_rect(img, L + 1, py, R - L - 1, 1, grid) end
  end
  -- series, clipped to the plot area
  C.hub_image_clip(img, L, T, R + 1, B + 1)
  local function polyline(xs, ys, map, width, color)
    local px, py, run = nil, nil, 0
    for k = 1, #ys do
      local xv, yv = xs[k], ys[k]
      if finite(xv) and finite(yv) then
        local cx, cy = X(xv), map(yv)
        if px then C.hub_image_line(img, px, py, cx, cy, width, color) end
        px, py, run = cx, cy, run + 1
      else
        if run == 1 then C.hub_image_line(img, px, py, px, py, width + 2, color) end -- a lone point
        px, py, run = nil, nil, 0
      end
    end
    if run == 1 then C.hub_image_line(img, px, py, px, py, width + 2, color) end
  end
  for _, s in ipairs(series) do
    local map = (two and s.axis == "right") and YR or Y
    if s.smooth and s.smooth > 0 then
      polyline(s._x, s._y, map, 1, tint(s._color, 0.3))
      polyline(s._x, smoothed(s._y, s.smooth), map, lw, s._color)
    else
      polyline(s._x, s._y, map, lw, s._color)
    end
  end
  C.hub_image_clip(img, 0, 0, W, H)
  -- frame, ticks and labels
  C.hub_image_fill_rect(img, L, T, R - L + 1, 1, frame)
  C.hub_image_fill_rect(img, L, B, R - L + 1, 1, frame)
  C.hub_image_fill_rect(img, L, T, 1, B - T + 1, frame)
  C.hub_image_fill_rect(img, R, T, 1, B - T + 1, frame)
  for _, v in ipairs(xt) do
    local px = math.floor(X(v) + 0.5)
    C.hub_image_fill_rect(img, px, B + 1, 1, 4, frame)
    local s = M.tick_label(v, xstep, maxabs(xt))
    C.hub_image_text(img, px - math.floor(tw(s) / 2), B + 8, s, 1, ink)
  end
  local lcol = (two and #left_s == 1) and left_s[1]._color or ink
  local rcol = (two and #right_s == 1) and right_s[1]._color or ink
  for i, v in ipairs(yt) do
    local py = math.floor(Y(v) + 0.5)
    C.hub_image_fill_rect(img, L - 4, py, 4, 1, frame)
    C.hub_image_text(img, L - 8 - tw(ylabels[i]), py - 3, ylabels[i], 1, lcol)
  end
  if two then
    for i, v in ipairs(rt) do
      local py = math.floor(YR(v) + 0.5)
      C.hub_image_fill_rect(img, R + 1, py, 4, 1, frame)
      C.hub_image_text(img, R + 8, py - 3, rlabels[i], 1, rcol)
    end
  end
  if o.title then
    local t = tostring(o.title)
    C.hub_image_text(img, math.floor((W - tw(t, 2)) / 2), 12, t, 2, ink)
  end
  if o.xlabel then
    local t = tostring(o.xlabel)
    C.hub_image_text(img, math.floor((L + R - tw(t)) / 2), B + 8 + FH + 6, t, 1, ink)
  end
  if ylabel then
    local t = tostring(ylabel)
    C.hub_image_text_up(img, 12, math.floor((T + B + tw(t)) / 2), t, 1, lcol)
  end
  if ylabel_r then
    local t = tostring(ylabel_r)
    C.hub_image_text_up(img, W - 12 - FH + 2, math.floor((T + B + tw(t)) / 2), t, 1, rcol)
  end
  -- legend: the corner of the plot area with the fewest points under the box
  if o.legend ~= false then
    local names, bw = {}, 0
    for i, s in ipairs(series) do
      names[i] = tostring(s.name or ("series " .. i)) .. ((two and s.axis == "right") and " (right)" or "")
      bw = math.max(bw, tw(names[i]))
    end
    bw = bw + 22 + 12
    local bh = #series * (FH + 4) + 8
    -- the drawn lines as pixel samples (points, and along long segments every 4 pixels)
    local samples = {}
    for _, s in ipairs(series) do
      local map = (two and s.axis == "right") and YR or Y
      local px, py
      for k = 1, #s._y do
        if finite(s._x[k]) and finite(s._y[k]) then
          local cx, cy = X(s._x[k]), map(s._y[k])
          local n = px and math.min(200, math.floor(math.sqrt((cx - px) ^ 2 + (cy - py) ^ 2) / 4)) or 0
          for j = 1, n do samples[#samples + 1] = { px + (cx - px) * j / (n + 1), py + (cy - py) * j / (n + 1) } end
          samples[#samples + 1] = { cx, cy }
          px, py = cx, cy
        else
          px, py = nil, nil
        end
      end
    end
    local best, bx, by = math.huge, nil, nil
    for _, c in ipairs { { R - bw - 8, T + 8 }, { L + 8, T + 8 }, { R - bw - 8, B - bh - 8 }, { L + 8, B - bh - 8 } } do
      local count = 0
      for _, q in ipairs(samples) do
        if q[1] >= c[1] - 4 and q[1] <= c[1] + bw + 4 and q[2] >= c[2] - 4 and q[2] <= c[2] + bh + 4 then count = count + 1 end
      end
      if count < best then best, bx, by = count, c[1], c[2] end
    end
    C.hub_image_fill_rect(img, bx, by, bw, bh, 0xffffff)
    for _, e in ipairs { { bx, by, bw, 1 }, { bx, by + bh - 1, bw, 1 }, { bx, by, 1, bh }, { bx + bw - 1, by, 1, bh } } do
      C.hub_image_fill_rect(img, e[1], e[2], e[3], e[4], 0xbbbbbb)
    end
    for i, s in ipairs(series) do
      local ty = by + 6 + (i - 1) * (FH + 4)
      C.hub_image_line(img, bx + 6, ty + 3, bx + 22, ty + 3, lw, s._color)
      C.hub_image_text(img, bx + 28, ty, names[i], 1, ink)
    end
  end
  if C.hub_image_save_png(img, o.path) ~= 0 then fail("plot.lines: %s", core.last_error()) end
  return { left = L, right = R, top = T, bottom = B, xlim = { xa, xb }, ylim = { ya, yb }, ylim_right = two and { ra, rb } or nil,
           x = X, y = Y, y_right = two and YR or nil }
end

-- jsonl{ path = "metrics.jsonl", out = "curves.png", x = "step", y = { "loss", { "acc", axis = "right", name = } },
--        ...any lines{} option }: the curves of a hub.jsonl metrics log.  Rows without the y field
-- are skipped for that series (evaluation metrics logged every N steps plot as their own points).
function M.jsonl(o)
  if type(o) ~= "table" then core.argerror(1, "plot.jsonl", "an options table", type(o)) end
  if type(o.path) ~= "string" or type(o.out) ~= "string" then fail("plot.jsonl: path (the log) and out (the PNG) are required") end
  if type(o.y) ~= "table" or #o.y == 0 then fail("plot.jsonl: y must list the fields to plot") end
  local rows = require("hub.jsonl").read(o.path)
  local xkey = o.x or "step"
  local series = {}
  for i, spec in ipairs(o.y) do
    if type(spec) == "string" then spec = { spec } end
    local key = spec[1] or spec.field
    local s = { name = spec.name or key, axis = spec.axis, color = spec.color, smooth = spec.smooth, x = {}, y = {} }
    for _, r in ipairs(rows) do
      if type(r[key]) == "number" and type(r[xkey]) == "number" then s.x[#s.x + 1], s.y[#s.y + 1] = r[xkey], r[key] end
    end
    series[i] = s
  end
  local opts = { series = series, path = o.out, xlabel = o.xlabel or xkey }
  for k, v in pairs(o) do
    if k ~= "path" and k ~= "out" and k ~= "x" and k ~= "y" and k ~= "xlabel" then opts[k] = v end
  end
  return M.lines(opts)
end

return M
