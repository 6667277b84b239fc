-- `hubrun download`: fetches a module from the registries into a directory without installing
-- it (PaddleHub's `hub download`); the result can be installed later with `hubrun install DIR`.
local cli = require "hub.cli_util"

local M = {
  summary = "download a module into a directory without installing it",
  usage = "hubrun download NAME[==VERSION] [-o DIR | --output_path DIR]",
  help = [[
Writes DIR/NAME-VERSION/ (DIR defaults to the current directory) with every file of the
newest matching version, each checked against its sha256.  Downloads go through the cache in
$HUB_HOME/cache, so a later install of the same version does not fetch again.

examples:
  hubrun download lac
  hubrun download lac==1.0.0 -o /tmp/modules]],
  flags = { { "output_path", "o", arg = "DIR", help = "where to put NAME-VERSION/ (default: .)" },
            { "quiet", "q", help = "no progress bar" } },
}

M.main = cli.command("download", M, function(opts, args)
  if #args ~= 1 then cli.usage_error(#args == 0 and "which module?" or "one module at a time") end
  local store = require "hub.store"
  local out = opts.output_path or "."
  if require("hub.core").C.hub_fs_mkdirs(out) ~= 0 then error(require("hub.core").last_error(), 0) end
  local dir, m = store.download(args[1], out, { quiet = opts.quiet })
  print(string.format("Downloaded %s-%s to %s", m.name, m.version, dir))
  return 0
end)

return M
