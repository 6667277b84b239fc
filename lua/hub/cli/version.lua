-- `hubrun version`: prints the version of hubrun (PaddleHub's `hub version`).
local cli = require "hub.cli_util"

local M = { summary = "print the version", usage = "hubrun version", flags = {} }

M.main = cli.command("version", M, function(opts, args)
  local v = HUBRUN_VERSION or require("hub.store").hubrun_version
  print("hubrun " .. v .. (jit and (" (" .. jit.version .. ")") or ""))
  return 0
end)

return M
