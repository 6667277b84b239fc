-- `hubrun config`: shows and changes $HUB_HOME/conf/config.json (PaddleHub's `hub config`;
-- KEY==VALUE is accepted as PaddleHub wrote it).
local cli = require "hub.cli_util"

local M = {
  summary = "show or change the settings (registries, offline mode, timeouts)",
  usage = "hubrun config [KEY=VALUE ... | KEY | reset] [--json]",
  help = [[
Without arguments prints every setting.  KEY=VALUE sets one (KEY=, with nothing after, goes
back to the default); KEY prints one; reset removes the config file.  Keys:
  server         registries, tried in order (comma-separated URLs of index.json; plain paths
                 are files); the default is $HUB_DEFAULT_REGISTRY, else the repository's
                 build/registry/index.json
  offline        true: never use the network (HUB_OFFLINE=1 does the same)
  timeout        seconds to connect (default 10)
  stall_timeout  seconds without progress before a download is retried (default 30)
  retries        further attempts after a transient failure (default 3)
  backoff        seconds before the first retry, doubled each time (default 0.5)
  progress       false: no progress bar (it is only drawn on a terminal anyway)

examples:
  hubrun config
  hubrun config server=https://example.org/hub/index.json
  hubrun config server=file:///srv/hub/index.json,https://example.org/hub/index.json
  hubrun config offline=true timeout=5
  hubrun config reset]],
  flags = { { "json", nil, help = "print the settings as JSON (the default output)" } },
}

M.main = cli.command("config", M, function(opts, args)
  local store = require "hub.store"
  if args[1] == "reset" then
    if #args > 1 then cli.usage_error("reset takes no further arguments") end
    store.reset_config()
    print("Config reset to the defaults (" .. store.conf_path() .. " removed)")
    return 0
  end
  local changed = false
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)==?(.*)$")
    if k then
      if not store.config_keys[k] then store.set_config(k, v) end -- raises: unknown key
      store.set_config(k, v ~= "" and v or nil)
      changed = true
    elseif store.config_keys[a] then
      local c = store.config()
      print(type(c[a]) == "table" and table.concat(c[a], ",") or tostring(c[a]))
    else
      cli.usage_error("expected KEY=VALUE, KEY or reset, got '" .. a .. "'")
    end
  end
  if #args == 0 or changed then
    local c = store.config()
    c.server_default = nil
    if #c.server == 0 then c.server = setmetatable({}, cli.array_mt) end
    print(cli.json(c))
  end
  return 0
end)

return M
