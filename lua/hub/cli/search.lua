-- `hubrun search`: the modules the registries offer whose name, summary or type match a
-- regular expression (PaddleHub's `hub search`).  Registries that cannot be reached are named
-- on stderr; their last cached index is used when there is one.
local cli = require "hub.cli_util"

local M = {
  summary = "search the registries' modules by name, summary or type",
  usage = "hubrun search [REGEX] [--json]",
  help = [[
REGEX is a POSIX extended regular expression, matched anywhere in the name, the summary and
the type, ignoring case; without one every module is listed.  Installed modules are marked.
In offline mode (HUB_OFFLINE=1) only the cached indexes of network registries are searched.

examples:
  hubrun search
  hubrun search lac
  hubrun search "^ernie|bert"
  hubrun search nlp/]],
  flags = { { "json", nil, help = "print the results as a JSON array" } },
}

M.main = cli.command("search", M, function(opts, args)
  if #args > 1 then cli.usage_error("one pattern at a time (use REGEX alternatives: 'a|b')") end
  local store = require "hub.store"
  local registry = require "hub.registry"
  local cfg = store.config()
  local rows, errors, idx = registry.search(store, args[1], cfg)
  for _, e in ipairs(errors) do io.stderr:write("hubrun search: warning: ", e, "\n") end
  for _, r in ipairs(idx) do
    if r.how == "cache" then
      io.stderr:write("hubrun search: note: using the cached index of ", r.url, " (", r.note or "", ")\n")
    end
  end
  if #idx == 0 then error("no registry reachable" .. (#errors > 0 and (": " .. table.concat(errors, "; ")) or ""), 0) end
  local installed = store.installed()
  if opts.json then
    for _, r in ipairs(rows) do r.installed = installed[r.name] and installed[r.name].default or nil end
    print(#rows == 0 and "[]" or cli.json(rows))
    return 0
  end
  if #rows == 0 then
    print(args[1] and ("No module matches '" .. args[1] .. "'.") or "The registries list no modules.")
    return 0
  end
  local out = {}
  for _, r in ipairs(rows) do
    local inst = installed[r.name] and ("installed " .. installed[r.name].default) or ""
    out[#out + 1] = { r.name, r.version, r.type, inst, r.summary }
  end
  cli.print_table({ "NAME", "VERSION", "TYPE", "INSTALLED", "SUMMARY" }, out)
  return 0
end)

return M
