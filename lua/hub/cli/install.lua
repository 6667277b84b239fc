-- `hubrun install`: installs modules from the registries, a module directory or a URL
-- (PaddleHub's `hub install`).  Each argument is installed atomically (see hub.store); the exit
-- status is 1 when any of them failed.
local cli = require "hub.cli_util"

local M = {
  summary = "install modules from a registry, a module directory or a URL",
  usage = "hubrun install NAME[==VERSION | >=VERSION ...] | DIR | URL ... [--force] [--quiet] [--no-default]",
  help = [[
NAME installs the newest version the registries list (`hubrun config server=URL`) that
matches the constraint and this hubrun; `lac==1.0.0`, `lac>=1.0`, `"lac>=1.0,<2"`, `lac~1.2`
and `lac^1.2` are constraints.  DIR is a module directory (one with module.json); URL is the
http(s):// or file:// address of a module directory or of its module.json.  Every file is
checked against its sha256 and size before the module appears in $HUB_HOME/modules; an
interrupted download resumes on the next try.  The installed version becomes the default.

examples:
  hubrun install lac
  hubrun install lac==1.0.0
  hubrun install ./my-cls
  hubrun install https://example.org/modules/lac/1.0.0/]],
  flags = {
    { "force", "f", help = "reinstall a version that is already installed" },
    { "quiet", "q", help = "no progress bar or messages" },
    { "no_default", nil, long = "no-default", help = "keep the current default version" },
  },
}

M.main = cli.command("install", M, function(opts, args)
  if #args == 0 then cli.usage_error("which module? give a NAME, a DIR or a URL") end
  local store = require "hub.store"
  local status = 0
  for _, spec in ipairs(args) do
    local ok, dir, m, how = pcall(store.install, spec, { force = opts.force, quiet = opts.quiet,
                                                          default = not opts.no_default })
    if not ok then
      local msg = tostring(dir)
      io.stderr:write("hubrun install: ", msg:match("^install ") and msg:sub(9) or msg, "\n")
      status = 1
    elseif how == "already" then
      print(string.format("%s-%s is already installed in %s", m.name, m.version, dir))
    else
      print(string.format("Successfully installed %s-%s in %s", m.name, m.version, dir))
    end
  end
  return status
end)

return M
