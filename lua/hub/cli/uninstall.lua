-- `hubrun uninstall`: removes installed modules, or some of their versions (PaddleHub's
-- `hub uninstall`).  A module that is not installed is an error (exit status 1).
local cli = require "hub.cli_util"

local M = {
  summary = "remove installed modules or versions",
  usage = "hubrun uninstall NAME[==VERSION] ...",
  help = [[
NAME removes every installed version of the module; NAME==VERSION (or any constraint, such
as "lac<2") removes the matching versions only.  When the default version goes, the newest
remaining one becomes the default.

examples:
  hubrun uninstall lac
  hubrun uninstall lac==1.0.0]],
  flags = {},
}

M.main = cli.command("uninstall", M, function(opts, args)
  if #args == 0 then cli.usage_error("which module?") end
  local store = require "hub.store"
  local status = 0
  for _, spec in ipairs(args) do
    local ok, res = pcall(function()
      local name, constraint = store.parse_spec(spec)
      return { name, store.uninstall(name, constraint or "") }
    end)
    if ok then
      for _, v in ipairs(res[2]) do print(string.format("Successfully uninstalled %s-%s", res[1], v)) end
    else
      io.stderr:write("hubrun uninstall: ", tostring(res), "\n")
      status = 1
    end
  end
  return status
end)

return M
