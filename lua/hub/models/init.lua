-- hub.models: the model zoo's networks, each in its own file and loaded on first use
-- (hub.models.ernie is lua/hub/models/ernie.lua).  A name with no file is nil.
return setmetatable({}, {
  __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local ok, m = pcall(require, "hub.models." .. k)
    if ok then rawset(t, k, m); return m end
    if tostring(m):find("module 'hub.models." .. k .. "' not found", 1, true) then return nil end
    error(m, 2)
  end,
})
