-- hub.cli_util: what the subcommands in lua/hub/cli/ share: option parsing, --help, turning
-- errors into one line on stderr with exit status 1, and printing tables and JSON.
--
-- A command is declared as
--   local M = { summary = "one line for `hubrun help`", usage = "hubrun VERB ARGS", help = "...",
--               flags = { { "force", "f", help = "reinstall" }, { "output_path", "o", arg = "DIR" } } }
--   M.main = cli.command("VERB", M, function(opts, args) ... return 0 end)
-- Flags are written --name, --name=value, --name value or -x value; "--" ends them.  A flag's
-- value lands in opts[name] (true for flags without an argument).
local M = {}

local function flag_usage(f)
  local s = "  " .. (f[2] and ("-" .. f[2] .. ", ") or "    ") .. "--" .. (f.long or f[1])
  if f.arg then s = s .. " " .. f.arg end
  if #s < 26 then s = s .. string.rep(" ", 26 - #s) else s = s .. "  " end
  return s .. (f.help or "")
end

function M.help_text(verb, def)
  local out = { "usage: " .. def.usage, "" }
  if def.summary then out[#out + 1] = def.summary:sub(1, 1):upper() .. def.summary:sub(2) .. "." end
  if def.help then out[#out + 1] = ""; out[#out + 1] = def.help end
  out[#out + 1] = ""
  out[#out + 1] = "options:"
  for _, f in ipairs(def.flags or {}) do out[#out + 1] = flag_usage(f) end
  out[#out + 1] = flag_usage { "help", "h", help = "show this help" }
  return table.concat(out, "\n") .. "\n"
end

local usage_mt = { __tostring = function(e) return e.msg end }
local function usage_error(msg) error(setmetatable({ msg = msg }, usage_mt), 0) end
M.usage_error = usage_error

-- Splits args into options and positional arguments by the command's flag list.
function M.parse(args, flags)
  local by_long, by_short = {}, {}
  for _, f in ipairs(flags or {}) do
    by_long[f[1]] = f
    by_long[(f[1]:gsub("_", "-"))] = f
    if f.long then by_long[f.long] = f end
    if f[2] then by_short[f[2]] = f end
  end
  local opts, pos = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i + 1, #args do pos[#pos + 1] = args[j] end
      break
    end
    local f, value
    if a:sub(1, 2) == "--" and #a > 2 then
      local name, v = a:sub(3):match("^([^=]+)=(.*)$")
      name = name or a:sub(3)
      value = v
      f = by_long[name]
      if not f then usage_error("unknown option '--" .. name .. "'") end
    elseif a:sub(1, 1) == "-" and #a == 2 and a ~= "-" then
      f = by_short[a:sub(2)]
      if not f then usage_error("unknown option '" .. a .. "'") end
    end
    if f then
      if f.arg then
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then usage_error("option --" .. f[1] .. " needs a value (" .. f.arg .. ")") end
        end
        opts[f[1]] = value
      else
        if value ~= nil then usage_error("option --" .. f[1] .. " takes no value") end
        opts[f[1]] = true
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

-- The main function of a command: --help, option parsing, errors as "hubrun VERB: message".
function M.command(verb, def, run)
  return function(args)
    args = args or {}
    for _, a in ipairs(args) do
      if a == "--" then break end
      if a == "--help" or a == "-h" then io.write(M.help_text(verb, def)); return 0 end
    end
    local ok, res = pcall(function()
      local opts, pos = M.parse(args, def.flags)
      return run(opts, pos)
    end)
    io.stdout:flush()
    if ok then return res == nil and 0 or res end
    if getmetatable(res) == usage_mt then
      io.stderr:write("hubrun ", verb, ": ", res.msg, "\nusage: ", def.usage, "\n(`hubrun ", verb, " --help` for more)\n")
      return 1
    end
    local msg = tostring(res)
    if msg:sub(1, #verb + 1) == verb .. " " then io.stderr:write("hubrun ", msg, "\n")
    else io.stderr:write("hubrun ", verb, ": ", msg, "\n") end
    return 1
  end
end

local function width(s) -- display columns: UTF-8 continuation bytes do not count
  return #(s:gsub("[\128-\191]", ""))
end

-- Prints rows (arrays of strings) under headers in aligned columns.
function M.print_table(headers, rows)
  local w = {}
  for i, h in ipairs(headers) do w[i] = width(h) end
  for _, r in ipairs(rows) do
    for i = 1, #headers do w[i] = math.max(w[i], width(tostring(r[i] or ""))) end
  end
  local function line(r)
    local parts = {}
    for i = 1, #headers do
      local s = tostring(r[i] or "")
      parts[i] = i < #headers and (s .. string.rep(" ", w[i] - width(s))) or s
    end
    io.write((table.concat(parts, "  "):gsub("%s+$", "")), "\n")
  end
  line(headers)
  for _, r in ipairs(rows) do line(r) end
end

function M.human_size(n)
  n = tonumber(n) or 0
  if n < 1024 then return string.format("%d B", n) end
  if n < 1024 * 1024 then return string.format("%.1f KiB", n / 1024) end
  if n < 1024 * 1024 * 1024 then return string.format("%.1f MiB", n / (1024 * 1024)) end
  return string.format("%.2f GiB", n / (1024 * 1024 * 1024))
end

-- Marks an empty table as a JSON array: setmetatable({}, cli.array_mt).
M.array_mt = require("hub.json").array_mt

-- JSON with sorted keys and two-space indentation (for --json output and `hubrun config`).
function M.json(v) return require("hub.json").encode(v, { indent = "  " }) end

return M
