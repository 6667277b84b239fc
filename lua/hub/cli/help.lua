-- `hubrun help [COMMAND]`: the list of commands with one line each, or one command's help.
-- Commands are found as hub/cli/*.lua on the module path, so new ones appear by themselves.
local cli = require "hub.cli_util"

local M = { summary = "list the commands, or show one command's help", usage = "hubrun help [COMMAND]", flags = {} }

local function commands()
  local names, seen = {}, {}
  local ok, store = pcall(require, "hub.store")
  if not ok then return names end
  for entry in package.path:gmatch("[^;]+") do
    local dir = entry:match("^(.*)/%?%.lua$")
    if dir then
      for _, e in ipairs(store.list_dir(dir .. "/hub/cli")) do
        local n = e[1]:match("^([%w_-]+)%.lua$")
        if n and not seen[n] then seen[n] = true; names[#names + 1] = n end
      end
    end
  end
  table.sort(names)
  return names
end

M.main = cli.command("help", M, function(opts, args)
  if args[1] then
    local ok, cmd = pcall(require, "hub.cli." .. args[1])
    if not ok or type(cmd) ~= "table" or not cmd.main then error("no such command: " .. args[1], 0) end
    if cmd.usage then io.write(cli.help_text(args[1], cmd)); return 0 end
    return cmd.main { "--help" }
  end
  print("usage: hubrun COMMAND [ARGS...]   (hubrun --help for the interpreter's options)\n")
  print("commands:")
  for _, n in ipairs(commands()) do
    local ok, cmd = pcall(require, "hub.cli." .. n)
    local summary = ok and type(cmd) == "table" and cmd.summary or ""
    print(string.format("  %-14s %s", n, summary))
  end
  print("\n`hubrun COMMAND --help` or `hubrun help COMMAND` shows a command's options.")
  return 0
end)

return M
