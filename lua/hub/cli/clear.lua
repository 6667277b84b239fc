-- `hubrun clear`: empties $HUB_HOME/cache (downloaded files and registry indexes), as
-- PaddleHub's `hub clear`.  Installed modules are not touched.
local cli = require "hub.cli_util"

local M = {
  summary = "remove cached downloads and registry indexes",
  usage = "hubrun clear",
  help = "Removes $HUB_HOME/cache; installed modules and the config stay.",
  flags = {},
}

M.main = cli.command("clear", M, function(opts, args)
  if #args > 0 then cli.usage_error("unexpected argument '" .. args[1] .. "'") end
  local store = require "hub.store"
  local n = store.clear_cache()
  print(string.format("Cleared %s from %s", cli.human_size(n), store.cache_dir()))
  return 0
end)

return M
