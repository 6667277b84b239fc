-- `hubrun list`: the installed modules with their default version, other versions, type and
-- path (PaddleHub's `hub list`); --json prints the same as a JSON object.
local cli = require "hub.cli_util"

local M = {
  summary = "list the installed modules",
  usage = "hubrun list [--json]",
  help = [[
Shows every module under $HUB_HOME/modules: its default version (the one `hubrun run NAME`
and hub.module "NAME" use), the other installed versions, its type and its directory.
Works offline.]],
  flags = { { "json", nil, help = "print a JSON object {name: {default, versions, type, path}}" } },
}

M.main = cli.command("list", M, function(opts, args)
  if #args > 0 then cli.usage_error("unexpected argument '" .. args[1] .. "'") end
  local store = require "hub.store"
  local all = store.installed()
  local names = {}
  for name in pairs(all) do names[#names + 1] = name end
  table.sort(names)
  local rows, json = {}, {}
  for _, name in ipairs(names) do
    local vs = all[name]
    local dir, m = store.resolve(name)
    local others = {}
    for _, v in ipairs(vs) do if v ~= vs.default then others[#others + 1] = v end end
    local typ = m and m.type or "(broken: " .. tostring(m) .. ")"
    rows[#rows + 1] = { name, vs.default, table.concat(others, ", "), typ, dir or "" }
    local versions = {}
    for i, v in ipairs(vs) do versions[i] = v end
    json[name] = { default = vs.default, versions = versions, type = m and m.type or nil, path = dir,
                   summary = m and m.summary or nil }
  end
  if opts.json then print(cli.json(json)); return 0 end
  if #rows == 0 then
    print("No modules installed in " .. store.modules_dir() .. " (hubrun install NAME installs one).")
    return 0
  end
  cli.print_table({ "NAME", "VERSION", "OTHER VERSIONS", "TYPE", "PATH" }, rows)
  return 0
end)

return M
