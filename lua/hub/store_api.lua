-- hub.store_api: the module store's functions that join the hub table (see lua/hub/init.lua):
--   hub.install("lac>=1.0" | DIR | URL, {force=, quiet=, default=})  -> dir, manifest, status
--   hub.uninstall("lac" | "lac==1.0.0")                               -> removed versions
--   hub.list()  -> { lac = {"1.0.0", "1.1.0", default = "1.1.0"}, ... }
-- The store itself (hub.store, lua/hub/store.lua) loads on first use, so `require "hub"` stays cheap.
local M = {}

function M.install(spec, opts) return require("hub.store").install(spec, opts) end
function M.uninstall(spec, version)
  local store = require "hub.store"
  if version then return store.uninstall(spec, "==" .. version) end
  return store.uninstall(spec)
end
function M.list() return require("hub.store").installed() end

return M
