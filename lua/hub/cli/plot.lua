-- `hubrun plot`: a PNG of the curves in a metrics log (JSON Lines, as hub.jsonl writes them), by
-- hub.plot.jsonl.  Fields are listed with -y; `:right` puts one on the right-hand axis and `~W`
-- smooths it (exponential moving average of weight W, the raw values drawn pale under it).
local cli = require "hub.cli_util"

local M = {
  summary = "draw the curves of a metrics log (JSON Lines) as a PNG",
  usage = "hubrun plot METRICS.jsonl [-y FIELD[:right][~W],...] [-x FIELD] [-o OUT.png] [--title TEXT]",
  help = [[
Reads one JSON object per line and draws each -y field against the -x field (default "step");
lines without the field are skipped for that curve, so an evaluation metric logged every N
steps is drawn at its own steps.  Without -y, "loss" is drawn.  The PNG goes next to the log
(.jsonl replaced by .png) unless -o says where.

examples:
  hubrun plot run/metrics.jsonl
  hubrun plot run/metrics.jsonl -y 'loss~0.9,eval_acc:right' --title pretraining -o curves.png]],
  flags = {
    { "y", "y", arg = "FIELDS", help = "fields to draw, comma-separated (FIELD:right, FIELD~0.9)" },
    { "x", "x", arg = "FIELD", help = "the x field (default step)" },
    { "output", "o", arg = "OUT.png", help = "the PNG to write" },
    { "title", nil, arg = "TEXT", help = "a title above the plot" },
    { "width", nil, arg = "PX", help = "image width (default 800)" },
    { "height", nil, arg = "PX", help = "image height (default 500)" },
  },
}

-- "loss~0.9,acc:right" -> { { "loss", smooth = 0.9 }, { "acc", axis = "right" } }
local function parse_fields(text)
  local out = {}
  for part in text:gmatch("[^,]+") do
    part = part:match("^%s*(.-)%s*$")
    local name = part:match("^[^:~]+")
    if not name or name == "" then cli.usage_error("bad field '" .. part .. "' in -y") end
    local spec = { name }
    if part:find(":right", 1, true) then spec.axis = "right" end
    local w = part:match("~([%d.]+)")
    if part:find("~", 1, true) then
      spec.smooth = tonumber(w)
      if not spec.smooth or spec.smooth < 0 or spec.smooth >= 1 then cli.usage_error("bad smoothing in '" .. part .. "' (0 <= W < 1)") end
    end
    local rest = part:sub(#name + 1):gsub(":right", ""):gsub("~[%d.]*", "")
    if rest ~= "" then cli.usage_error("bad field '" .. part .. "' in -y (FIELD[:right][~W])") end
    out[#out + 1] = spec
  end
  return out
end

M.main = cli.command("plot", M, function(opts, args)
  if #args ~= 1 then cli.usage_error(#args == 0 and "which metrics log?" or "one metrics log at a time") end
  local path = args[1]
  local hub = require "hub"
  local rows = hub.jsonl.read(path, { strict = false })
  local xkey = opts.x or "step"
  local fields, have = {}, {}
  for _, r in ipairs(rows) do
    for k, v in pairs(r) do
      if type(v) == "number" and not have[k] then have[k] = true; fields[#fields + 1] = k end
    end
  end
  table.sort(fields)
  local y = opts.y and parse_fields(opts.y) or { { "loss" } }
  for _, f in ipairs(y) do
    if not have[f[1]] then
      error(string.format("%s has no numeric field '%s' (fields: %s)", path, f[1],
        #fields > 0 and table.concat(fields, ", ") or "none"), 0)
    end
  end
  if not have[xkey] then error(string.format("%s has no numeric x field '%s'", path, xkey), 0) end
  local out = opts.output or (path:gsub("%.jsonl$", "") .. ".png")
  local num = function(v, what)
    local n = tonumber(v)
    if v ~= nil and not n then cli.usage_error(what .. " must be a number") end
    return n
  end
  hub.plot.jsonl { path = path, out = out, x = xkey, y = y, title = opts.title,
                   width = num(opts.width, "--width"), height = num(opts.height, "--height") }
  print(out)
  return 0
end)

return M
