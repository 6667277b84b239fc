-- `hubrun show`: a module's module.json in words (PaddleHub's `hub show`): installed modules,
-- module directories, or, when the module is not installed, what the registries offer.
local cli = require "hub.cli_util"

local M = {
  summary = "show a module's name, version, type, summary, author, files and path",
  usage = "hubrun show NAME[==VERSION] | DIR [--json]",
  help = [[
For an installed module, shows the default version (or the newest installed version that
matches the constraint); for a directory, its module.json; otherwise the newest version the
registries list, marked "not installed".

examples:
  hubrun show lac
  hubrun show lac==1.0.0
  hubrun show ./my-cls]],
  flags = { { "json", nil, help = "print module.json (with the path) as JSON" } },
}

local function describe(m, dir, extra, opts)
  local cli_json = opts.json
  if cli_json then
    local t = {}
    for k, v in pairs(m) do t[k] = v end
    t.path = dir
    for k, v in pairs(extra) do t[k] = v end
    print(cli.json(t))
    return
  end
  local total, n = 0, 0
  for _, f in pairs(m.files or {}) do total = total + (tonumber(f.size) or 0); n = n + 1 end
  local lines = {
    { "name", m.name }, { "version", m.version .. (extra.note and ("  (" .. extra.note .. ")") or "") },
    { "type", m.type }, { "summary", m.summary }, { "author", m.author }, { "author_email", m.author_email },
    { "license", m.license }, { "hubrun", m.hubrun }, { "entry", m.entry },
    { "files", n > 0 and string.format("%d (%s)", n, cli.human_size(total)) or nil },
    { "path", dir }, { "registry", extra.registry }, { "available", extra.available },
  }
  for _, l in ipairs(lines) do
    if l[2] ~= nil and l[2] ~= "" then print(string.format("%-13s %s", l[1] .. ":", tostring(l[2]))) end
  end
end

M.main = cli.command("show", M, function(opts, args)
  if #args ~= 1 then cli.usage_error(#args == 0 and "which module?" or "one module at a time") end
  local store = require "hub.store"
  local spec = args[1]
  if spec:find("/", 1, true) or spec == "." or spec == ".." then
    local m = store.read_manifest(spec)
    describe(m, spec, {}, opts)
    return 0
  end
  local name, constraint = store.parse_spec(spec)
  local vs = store.versions(name)
  if vs then
    local dir, m = store.resolve(name, constraint)
    if not dir then error(m, 0) end
    local note = m.version == vs.default and "default" or nil
    if #vs > 1 then note = (note and note .. "; " or "") .. "installed: " .. table.concat(vs, ", ") end
    describe(m, dir, { note = note }, opts)
    return 0
  end
  local ok, entry, why = pcall(store.choose, name, constraint, store.config())
  if not ok then why = entry; entry = nil end
  if not entry then error(string.format("module '%s' is not installed (%s)", name, why), 0) end
  local found = require("hub.registry").lookup(store, name, store.config())
  local all = {}
  for v in pairs(found) do all[#all + 1] = v end
  store.semver.sort(all)
  local m = { name = name, version = entry.version, type = entry.type, summary = entry.summary, hubrun = entry.hubrun }
  describe(m, nil, { note = "not installed", registry = entry.index_url, available = table.concat(all, ", ") }, opts)
  return 0
end)

return M
