-- hub.store: the installed modules under $HUB_HOME, and installing and removing them.
--
-- Layout ($HUB_HOME, default ~/.hubrun):
--   modules/<name>/<version>/    one directory per installed version (module.json, module.lua, ...)
--   modules/<name>/default       the default version's number (the newest installed when absent)
--   modules/<name>/.lock         flock(2) lock taken by every install and uninstall of <name>
--   cache/downloads/<sha256>     downloaded files, named by content (resumable through .part)
--   cache/index/                 the last index.json fetched from each network registry
--   conf/config.json             settings (server, offline, timeout, ...; see M.config)
--   logs/
--
-- An install never leaves a half module: under the module's lock, the files are gathered into
-- modules/<name>/.tmp-<pid>-<n>/ (copied from a directory, or hard-linked from the download
-- cache), module.json is validated, every file's size and sha256 is checked, and only then is the
-- directory renamed to <version>/.  Replacing an installed version (--force) renames the old one
-- aside first and puts it back if the rename fails.  A crash leaves only .tmp-* and .old-*
-- directories, which the next holder of the lock cleans up (restoring an .old-* whose version
-- directory is missing).  A second install of the same module waits for the lock and then finds
-- the version installed.  Errors are raised as plain messages (error(msg, 0)) that name the file
-- and the field or the URL at fault.
local core = require "hub.core"
local cjson = require "cjson"
local semver = require "hub.semver"
local registry = require "hub.registry"
local ffi, C = core.ffi, core.C

local M = {}
M.semver_cmp = semver.cmp
M.semver = semver

local fail = require("hub.core").failf

local function check_c(rc) if rc ~= 0 then error(core.last_error(), 0) end end

-- ---- paths and small file helpers ------------------------------------------------------------

function M.home()
  local h = os.getenv("HUB_HOME")
  if h and h ~= "" then return (h:gsub("/+$", "")) end
  local home = os.getenv("HOME")
  if not home or home == "" then fail("neither HUB_HOME nor HOME is set: cannot find the module store") end
  return home .. "/.hubrun"
end
function M.modules_dir() return M.home() .. "/modules" end
function M.cache_dir() return M.home() .. "/cache" end
function M.conf_path() return M.home() .. "/conf/config.json" end
function M.logs_dir() return M.home() .. "/logs" end

M.hubrun_version = ffi.string(C.hub_version())

local function kind(path) return C.hub_fs_kind(path) end
local function is_dir(path) return kind(path) == C.HUB_FS_DIR end
local function is_file(path) return kind(path) == C.HUB_FS_FILE end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_atomic(path, text)
  local tmp = path .. ".tmp-" .. C.hub_os_pid()
  local f, err = io.open(tmp, "wb")
  if not f then fail("cannot write %s: %s", path, err) end
  f:write(text)
  f:close()
  check_c(C.hub_fs_rename(tmp, path))
end

-- Entries of a directory: { {name, kind}, ... } sorted by name (empty when it does not exist).
local function list_dir(path)
  local d = C.hub_dir_open(path)
  if d == nil then return {} end
  local out, k = {}, ffi.new("int[1]")
  while true do
    local name = C.hub_dir_next(d, k)
    if name == nil then break end
    out[#out + 1] = { ffi.string(name), k[0] }
  end
  C.hub_dir_close(d)
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end
M.list_dir = list_dir

local function sha256_file(path)
  local out = ffi.new("char[65]")
  check_c(C.hub_sha256_file(path, out))
  return ffi.string(out)
end
M.sha256_file = sha256_file

local function valid_name(s) return type(s) == "string" and #s <= 100 and s:match("^[%w][%w_.-]*$") ~= nil end
M.valid_name = valid_name

-- A file path inside a module: relative, no "." or ".." parts, no empty parts.
local function safe_path(p)
  if type(p) ~= "string" or p == "" or p:sub(1, 1) == "/" or p:find("\\", 1, true) or p:find("%z") then
    return false
  end
  for part in (p .. "/"):gmatch("([^/]*)/") do
    if part == "" or part == "." or part == ".." then return false end
  end
  return true
end

-- ---- module.json -----------------------------------------------------------------------------

local function is_hex64(s) return type(s) == "string" and #s == 64 and s:match("^[0-9a-f]+$") ~= nil end

-- Checks a decoded module.json; raises "<where>: field 'F': problem" on the first problem.
function M.validate_manifest(m, where)
  local function bad(field, what) fail("%s: field '%s': %s", where, field, what) end
  if type(m) ~= "table" then fail("%s: not a JSON object", where) end
  if m.name == nil then bad("name", "missing") end
  if not valid_name(m.name) then bad("name", "expected a module name (letters, digits, '_', '-', '.')") end
  if m.version == nil then bad("version", "missing") end
  local ok, why = semver.parse(m.version)
  if not ok then bad("version", string.format("'%s' is not a semantic version such as 1.0.0 (%s)", tostring(m.version), why)) end
  if m.type == nil then bad("type", "missing (for example \"nlp/lexical_analysis\")") end
  if type(m.type) ~= "string" or m.type == "" then bad("type", "expected a non-empty string") end
  for _, f in ipairs { "summary", "author", "author_email", "license", "description" } do
    if m[f] ~= nil and type(m[f]) ~= "string" then bad(f, "expected a string") end
  end
  if m.hubrun ~= nil then
    if type(m.hubrun) ~= "string" then bad("hubrun", "expected a version range such as \">=0.1.0\"") end
    local c, err = semver.constraint(m.hubrun)
    if not c then bad("hubrun", string.format("'%s' is not a version range (%s)", m.hubrun, err)) end
  end
  if m.entry == nil then bad("entry", "missing (the module's Lua file, usually \"module.lua\")") end
  if not safe_path(m.entry) or not m.entry:match("%.lua$") then bad("entry", "expected a relative path to a .lua file") end
  if type(m.files) ~= "table" then bad("files", "expected an object {path: {sha256, size}}") end
  for path, f in pairs(m.files) do
    local fld = "files." .. tostring(path)
    if type(path) ~= "string" or not safe_path(path) then bad(fld, "not a relative path inside the module") end
    if path == "module.json" then bad(fld, "module.json cannot list itself") end
    if type(f) ~= "table" then bad(fld, "expected an object {sha256, size}") end
    if not is_hex64(f.sha256) then bad(fld .. ".sha256", "expected 64 lowercase hex digits") end
    if type(f.size) ~= "number" or f.size < 0 or f.size ~= math.floor(f.size) then bad(fld .. ".size", "expected a size in bytes") end
  end
  if m.files[m.entry] == nil then bad("entry", string.format("'%s' is not listed in files", m.entry)) end
  if m.config ~= nil and type(m.config) ~= "table" then bad("config", "expected an object") end
  return m
end

-- Reads and validates DIR/module.json; raises an error naming the file and the field.
function M.read_manifest(dir)
  local path = dir .. "/module.json"
  local text, err = read_file(path)
  if not text then fail("%s: cannot read (%s)", path, err) end
  local ok, m = pcall(cjson.decode, text)
  if not ok then fail("%s: not valid JSON (%s)", path, tostring(m)) end
  return M.validate_manifest(m, path)
end

-- Raises unless this hubrun satisfies the module's "hubrun" range.
function M.check_compatible(m)
  if m.hubrun and not semver.satisfies(M.hubrun_version, m.hubrun) then
    fail("%s %s needs hubrun %s, this is hubrun %s", m.name, m.version, m.hubrun, M.hubrun_version)
  end
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

-- Checks every file of the manifest in dir: present, the size and the sha256 it states.
function M.verify(dir, m)
  for _, path in ipairs(sorted_keys(m.files)) do
    local f, full = m.files[path], dir .. "/" .. path
    if not is_file(full) then fail("%s: missing (listed in module.json)", full) end
    local size = tonumber(C.hub_fs_size(full))
    if size ~= f.size then fail("%s: size %d bytes, module.json says %d", full, size, f.size) end
    local sum = sha256_file(full)
    if sum ~= f.sha256 then fail("%s: sha256 mismatch (module.json says %s, the file has %s)", full, f.sha256, sum) end
  end
  return true
end

-- ---- what is installed -----------------------------------------------------------------------

local function module_dir(name) return M.modules_dir() .. "/" .. name end

-- Installed versions of one module (sorted, oldest first) with .default, or nil.
local function versions_of(name)
  local mdir = module_dir(name)
  local vs = {}
  for _, e in ipairs(list_dir(mdir)) do
    if e[2] == C.HUB_FS_DIR and semver.valid(e[1]) and is_file(mdir .. "/" .. e[1] .. "/module.json") then
      vs[#vs + 1] = e[1]
    end
  end
  if #vs == 0 then return nil end
  semver.sort(vs)
  local d = read_file(mdir .. "/default")
  d = d and d:match("^%s*(.-)%s*$")
  local found = false
  for _, v in ipairs(vs) do if v == d then found = true end end
  vs.default = found and d or (semver.newest(vs) or vs[#vs])
  return vs
end
M.versions = versions_of

-- { name = { "1.0.0", "1.1.0", default = "1.1.0" }, ... }
function M.installed()
  local out = {}
  for _, e in ipairs(list_dir(M.modules_dir())) do
    if e[2] == C.HUB_FS_DIR and valid_name(e[1]) then
      local vs = versions_of(e[1])
      if vs then out[e[1]] = vs end
    end
  end
  return out
end
M.list = function() return M.installed() end   -- hub.store.list(): the same

-- "lac", "lac==1.0.0", "lac>=1.0,<2" -> name, constraint (nil when none).  Raises on a bad spec.
function M.parse_spec(spec)
  if type(spec) ~= "string" then fail("bad module spec: expected a string such as 'lac' or 'lac==1.0.0'") end
  local name, rest = spec:match("^%s*([%w][%w_.-]*)%s*(.-)%s*$")
  if not name then fail("bad module spec '%s': expected NAME, NAME==VERSION or NAME>=VERSION", spec) end
  -- A name may contain '.', so "lac1.0" is a name; versions come after an operator or '@'.
  rest = rest:gsub("^@", "==")
  if rest == "" then return name, nil end
  if not rest:match("^[=<>!~^]") then fail("bad module spec '%s': expected an operator such as == or >= after the name", spec) end
  local c, err = semver.constraint(rest)
  if not c then fail("bad module spec '%s': %s", spec, err) end
  return name, rest
end

-- The installed version of `name` that a constraint selects (the newest match; the default
-- version without one): dir, manifest; or nil + message.
function M.resolve(name, constraint)
  local vs = versions_of(name)
  if not vs then return nil, string.format("module '%s' is not installed (try: hubrun install %s)", name, name) end
  local v = vs.default
  if constraint and constraint ~= "" then
    local c, err = semver.constraint(constraint)
    if not c then return nil, string.format("bad version constraint '%s': %s", constraint, err) end
    v = semver.newest(vs, constraint)
    if not v then
      return nil, string.format("no installed version of '%s' matches '%s' (installed: %s)", name, constraint,
        table.concat(vs, ", "))
    end
  end
  local dir = module_dir(name) .. "/" .. v
  local ok, m = pcall(M.read_manifest, dir)
  if not ok then return nil, m end
  return dir, m
end

-- ---- config ----------------------------------------------------------------------------------

local source_root = debug.getinfo(1, "S").source:match("^@(.*)/lua/hub/store%.lua$")

-- The registry used when the config names none: $HUB_DEFAULT_REGISTRY (one URL, or several
-- separated by spaces or commas), else the repository's build/registry/index.json if built.
function M.default_servers()
  local env = os.getenv("HUB_DEFAULT_REGISTRY")
  if env and env ~= "" then
    local out = {}
    for s in env:gmatch("[^,%s]+") do out[#out + 1] = s end
    return out
  end
  if source_root and is_file(source_root .. "/build/registry/index.json") then
    return { "file://" .. source_root .. "/build/registry/index.json" }
  end
  return {}
end

M.config_keys = {
  server = "registries (index.json URLs), tried in order; comma-separated on the command line",
  offline = "true: never use the network (as HUB_OFFLINE=1)",
  timeout = "seconds to connect to a registry",
  stall_timeout = "seconds a download may make no progress before it is retried",
  retries = "further attempts after a transient download failure",
  backoff = "seconds before the first retry, doubled for each further one",
  progress = "false: no progress bar even on a terminal",
}
local conf_types = { server = "string|table", offline = "boolean", timeout = "number", stall_timeout = "number",
                     retries = "number", backoff = "number", progress = "boolean" }
local defaults = { offline = false, timeout = 10, stall_timeout = 30, retries = 3, backoff = 0.5, progress = true }

local function read_conf()
  local text = read_file(M.conf_path())
  if not text then return {} end
  local ok, t = pcall(cjson.decode, text)
  if not ok or type(t) ~= "table" then fail("%s: not valid JSON (fix or run `hubrun config reset`)", M.conf_path()) end
  -- a hand-edited file: every key known, every value of its type
  local ok2, err = pcall(require("hub.core").check_options, t, conf_types, M.conf_path(), 1)
  if not ok2 then fail("%s (fix it, or run `hubrun config reset`)", tostring(err):gsub("^[^:]*:%d+: ", "")) end
  return t
end

-- The settings: the file's values over the defaults.
function M.config()
  local c = {}
  for k, v in pairs(defaults) do c[k] = v end
  for k, v in pairs(read_conf()) do c[k] = v end
  if type(c.server) == "string" then c.server = { c.server } end
  if c.server == nil then c.server = M.default_servers(); c.server_default = true end
  return c
end

local function to_bool(k, v)
  if v == true or v == "true" or v == "1" or v == "yes" or v == "on" or v == 1 then return true end
  if v == false or v == "false" or v == "0" or v == "no" or v == "off" or v == 0 then return false end
  fail("config %s: expected true or false, got '%s'", k, tostring(v))
end

local function to_number(k, v, integer)
  local n = tonumber(v)
  if not n or n < 0 or (integer and n ~= math.floor(n)) then
    fail("config %s: expected a %s, got '%s'", k, integer and "whole number >= 0" or "number >= 0", tostring(v))
  end
  return n
end

-- Sets one key (strings from the command line are converted) and writes conf/config.json
-- atomically; a nil value removes the key.  Returns the stored value.
function M.set_config(k, v)
  if not M.config_keys[k] then
    local keys = sorted_keys(M.config_keys)
    fail("config: unknown key '%s' (keys: %s)", tostring(k), table.concat(keys, ", "))
  end
  if v ~= nil then
    if k == "server" then
      local list = {}
      if type(v) == "table" then for _, s in ipairs(v) do list[#list + 1] = tostring(s) end
      else for s in tostring(v):gmatch("[^,%s]+") do list[#list + 1] = s end end
      if #list == 0 then fail("config server: expected one or more registry URLs") end
      v = list
    elseif k == "offline" or k == "progress" then v = to_bool(k, v)
    elseif k == "retries" then v = to_number(k, v, true)
    else v = to_number(k, v, false) end
  end
  local conf = read_conf()
  conf[k] = v
  check_c(C.hub_fs_mkdirs(M.home() .. "/conf"))
  write_atomic(M.conf_path(), cjson.encode(conf))
  return v
end

function M.reset_config()
  os.remove(M.conf_path())
end

-- ---- installing ------------------------------------------------------------------------------

local function say(opts, fmt, ...)
  if not opts.quiet then io.stderr:write(string.format(fmt, ...), "\n") end
end

-- Takes the module's lock (waiting, with a message, while another process holds it).
local function lock_module(name, opts)
  local path = module_dir(name) .. "/.lock"
  local fd = C.hub_lock_file(path, 0)
  if fd == -2 then
    say(opts, "waiting for another install or uninstall of %s to finish ...", name)
    fd = C.hub_lock_file(path, 1)
  end
  if fd < 0 then error(core.last_error(), 0) end
  return fd
end

-- Leftovers of a crashed install (we hold the lock, so nobody else is using them).
local function recover(name)
  local mdir = module_dir(name)
  for _, e in ipairs(list_dir(mdir)) do
    local n = e[1]
    local v = n:match("^%.old%-%d+%-(.+)$")
    if v and semver.valid(v) and not is_dir(mdir .. "/" .. v) then
      C.hub_fs_rename(mdir .. "/" .. n, mdir .. "/" .. v)
    elseif n:match("^%.tmp%-") or n:match("^%.old%-") then
      C.hub_fs_remove_tree(mdir .. "/" .. n)
    end
  end
end

local function set_default(name, version)
  write_atomic(module_dir(name) .. "/default", version .. "\n")
end

local tmp_counter = 0

-- Runs fill(tmpdir) under the module's lock, then validates and moves the result into place.
-- `want` (optional) = version the result must have; installed versions are kept unless
-- opts.force.  Returns dir, manifest, "installed" | "already".
local function install_with(name, want, fill, opts)
  check_c(C.hub_fs_mkdirs(module_dir(name)))
  local fd = lock_module(name, opts)
  tmp_counter = tmp_counter + 1
  local mdir = module_dir(name)
  local tmp = string.format("%s/.tmp-%d-%d", mdir, C.hub_os_pid(), tmp_counter)
  local ok, dir, m, status = pcall(function()
    recover(name)
    if want and not opts.force and is_file(mdir .. "/" .. want .. "/module.json") then
      if opts.default ~= false then set_default(name, want) end
      local d = mdir .. "/" .. want
      return d, M.read_manifest(d), "already"
    end
    check_c(C.hub_fs_mkdirs(tmp))
    fill(tmp)
    local man = M.read_manifest(tmp)
    if man.name ~= name then
      fail("%s/module.json: field 'name': '%s', but the module is installed as '%s'", tmp, man.name, name)
    end
    if want and man.version ~= want then
      fail("%s/module.json: field 'version': '%s', but the registry lists %s", tmp, man.version, want)
    end
    M.check_compatible(man)
    M.verify(tmp, man)
    local final = mdir .. "/" .. man.version
    local st = "installed"
    if is_dir(final) then
      if not opts.force then
        C.hub_fs_remove_tree(tmp)
        if opts.default ~= false then set_default(name, man.version) end
        return final, M.read_manifest(final), "already"
      end
      local old = string.format("%s/.old-%d-%s", mdir, C.hub_os_pid(), man.version)
      check_c(C.hub_fs_rename(final, old))
      if C.hub_fs_rename(tmp, final) ~= 0 then
        local err = core.last_error()
        C.hub_fs_rename(old, final)
        error(err, 0)
      end
      C.hub_fs_remove_tree(old)
    else
      check_c(C.hub_fs_rename(tmp, final))
    end
    if opts.default ~= false then set_default(name, man.version) end
    return final, man, st
  end)
  if not ok then
    C.hub_fs_remove_tree(tmp)
    -- A first install that failed leaves no trace (not even the module's directory).
    if not versions_of(name) then
      local trash = string.format("%s/.trash-%s-%d", M.modules_dir(), name, C.hub_os_pid())
      if C.hub_fs_rename(mdir, trash) == 0 then C.hub_fs_remove_tree(trash) end
    end
  end
  C.hub_unlock_file(fd)
  if not ok then error(dir, 0) end
  return dir, m, status
end

-- Fills tmp from a local module directory (every file module.json lists, and module.json).
local function copy_from_dir(src)
  return function(tmp)
    local man = M.read_manifest(src)
    check_c(C.hub_fs_copy(src .. "/module.json", tmp .. "/module.json"))
    for _, path in ipairs(sorted_keys(man.files)) do
      local from, to = src .. "/" .. path, tmp .. "/" .. path
      if not is_file(from) then fail("%s: missing (listed in %s/module.json)", from, src) end
      local sub = to:match("^(.*)/[^/]*$")
      check_c(C.hub_fs_mkdirs(sub))
      check_c(C.hub_fs_copy(from, to))
    end
  end
end

-- Downloads one file into the content-addressed cache and checks it; returns the cache path.
-- A cached blob that fails its check is fetched again; a resumed download that fails is
-- fetched once more from the beginning (the old part may have come from another file).
local function fetch_blob(f, label, cfg, opts)
  local dir = M.cache_dir() .. "/downloads"
  check_c(C.hub_fs_mkdirs(dir))
  local blob = dir .. "/" .. f.sha256
  local fd = C.hub_lock_file(blob .. ".lock", 1)
  if fd < 0 then error(core.last_error(), 0) end
  local ok, err = pcall(function()
    if is_file(blob) and tonumber(C.hub_fs_size(blob)) == f.size and sha256_file(blob) == f.sha256 then return end
    os.remove(blob)
    if registry.is_network(f.url) and registry.offline(cfg) then
      fail("cannot download %s: offline (HUB_OFFLINE or config offline) and the file is not in the cache", f.url)
    end
    local o = registry.fetch_opts(cfg, cfg.progress ~= false and not opts.quiet, nil, label)
    for attempt = 1, 2 do
      check_c(C.hub_fetch_file(f.url, blob, o))
      local resumed = tonumber(C.hub_fetch_last_resumed())
      local size = tonumber(C.hub_fs_size(blob))
      local sum = size == f.size and sha256_file(blob) or nil
      if sum == f.sha256 then return end
      os.remove(blob)
      if resumed == 0 or attempt == 2 then
        if size ~= f.size then fail("fetch %s: size mismatch (the registry says %d bytes, got %d)", f.url, f.size, size) end
        fail("fetch %s: checksum mismatch (the registry says sha256 %s, got %s)", f.url, f.sha256, sum)
      end
    end
  end)
  C.hub_unlock_file(fd)
  os.remove(blob .. ".lock")
  if not ok then error(err, 0) end
  return blob
end

local function fill_from_files(files, cfg, opts, name, version)
  return function(tmp)
    for _, path in ipairs(sorted_keys(files)) do
      local blob = fetch_blob(files[path], name .. "/" .. path, cfg, opts)
      local to = tmp .. "/" .. path
      check_c(C.hub_fs_mkdirs(to:match("^(.*)/[^/]*$")))
      check_c(C.hub_fs_copy(blob, to))
    end
  end
end

-- Chooses the version of `name` to install from the registries: the newest that matches the
-- constraint and this hubrun.  Returns entry, or nil + message.
function M.choose(name, constraint, cfg)
  local found, errors = registry.lookup(M, name, cfg)
  local versions, skipped = {}, {}
  for v, e in pairs(found) do
    if e.hubrun and not semver.satisfies(M.hubrun_version, e.hubrun) then skipped[#skipped + 1] = v .. " (needs hubrun " .. e.hubrun .. ")"
    else versions[#versions + 1] = v end
  end
  local v = semver.newest(versions, constraint)
  if v then return found[v], errors end
  local why
  if next(found) == nil then
    if #errors > 0 and #errors == #(cfg.server or {}) then
      why = "no registry reachable: " .. table.concat(errors, "; ")
    else
      why = string.format("no module '%s' in the registries (%s)", name, table.concat(cfg.server or {}, ", "))
      if #errors > 0 then why = why .. "; " .. table.concat(errors, "; ") end
    end
  else
    local all = {}
    for k in pairs(found) do all[#all + 1] = k end
    semver.sort(all)
    if constraint then
      why = string.format("no version of '%s' matches '%s' (available: %s)", name, constraint, table.concat(all, ", "))
    else
      why = string.format("no version of '%s' works with hubrun %s", name, M.hubrun_version)
    end
    if #skipped > 0 then why = why .. "; skipped: " .. table.concat(skipped, ", ") end
  end
  return nil, why
end

local function is_url(s) return s:match("^%a[%w+.-]*://") ~= nil end

-- Installs from a registry (NAME, NAME==VER, NAME>=VER ...), a module directory, or a URL of a
-- module directory or of its module.json.  opts: force (reinstall an installed version),
-- quiet (no messages or progress), default = false (keep the current default version).
-- Returns dir, manifest, "installed" | "already".
function M.install(spec, opts)
  opts = opts or {}
  if type(spec) ~= "string" or spec == "" then
    fail("install: expected a module name (lac, lac==1.0.0), a module directory or a URL")
  end
  local cfg = M.config()
  if is_url(spec) then
    local base = spec:gsub("/module%.json$", ""):gsub("/+$", "")
    local murl = base .. "/module.json"
    local len = ffi.new("size_t[1]")
    local p = C.hub_fetch_memory(murl, registry.fetch_opts(cfg, false), len)
    if p == nil then error(core.last_error(), 0) end
    local text = ffi.string(p, len[0])
    C.hub_fetch_free(p)
    local ok, man = pcall(cjson.decode, text)
    if not ok then fail("%s: not valid JSON (%s)", murl, tostring(man)) end
    M.validate_manifest(man, murl)
    local files = { ["module.json"] = { url = murl, sha256 = nil, size = #text } }
    local hex = ffi.new("char[65]")
    C.hub_sha256_hex(text, #text, hex)
    files["module.json"].sha256 = ffi.string(hex)
    for path, f in pairs(man.files) do files[path] = { url = base .. "/" .. path, sha256 = f.sha256, size = f.size } end
    return install_with(man.name, man.version, fill_from_files(files, cfg, opts, man.name, man.version), opts)
  end
  if is_dir(spec) and is_file(spec .. "/module.json") then
    local man = M.read_manifest(spec)
    return install_with(man.name, nil, copy_from_dir(spec), opts)
  end
  if is_dir(spec) then fail("install %s: %s/module.json: not found (not a module directory)", spec, spec) end
  if spec:find("/", 1, true) then fail("install %s: no such directory", spec) end
  local name, constraint = M.parse_spec(spec)
  if registry.offline(cfg) and not opts.force then
    local dir, m = M.resolve(name, constraint)
    if dir then return dir, m, "already" end
  end
  local entry, why = M.choose(name, constraint, cfg)
  if not entry then
    -- Unreachable or offline: what is installed still counts.
    local dir, m = M.resolve(name, constraint)
    if dir and (why:find("no registry reachable", 1, true) or registry.offline(cfg)) then return dir, m, "already" end
    fail("install %s: %s", spec, why)
  end
  return install_with(name, entry.version, fill_from_files(entry.files, cfg, opts, name, entry.version), opts)
end

-- Downloads a module from the registries into dir/<name>-<version>/ (checked), without
-- installing it.  Returns the directory and the manifest.
function M.download(spec, dir, opts)
  opts = opts or {}
  local cfg = M.config()
  local name, constraint = M.parse_spec(spec)
  if registry.offline(cfg) and not opts.force then
    local dir, m = M.resolve(name, constraint)
    if dir then return dir, m, "already" end
  end
  local entry, why = M.choose(name, constraint, cfg)
  if not entry then fail("download %s: %s", spec, why) end
  local out = (dir or ".") .. "/" .. name .. "-" .. entry.version
  local tmp = out .. ".tmp-" .. C.hub_os_pid()
  check_c(C.hub_fs_mkdirs(tmp))
  local ok, man = pcall(function()
    fill_from_files(entry.files, cfg, opts, name, entry.version)(tmp)
    local m = M.read_manifest(tmp)
    M.verify(tmp, m)
    return m
  end)
  if not ok then C.hub_fs_remove_tree(tmp); error(man, 0) end
  C.hub_fs_remove_tree(out)
  check_c(C.hub_fs_rename(tmp, out))
  return out, man
end

-- Removes every installed version of `name` that the constraint matches (all without one).
-- Returns the removed versions; raises when none is installed.
function M.uninstall(name, constraint, opts)
  opts = opts or {}
  if constraint == nil then name, constraint = M.parse_spec(name) end
  local vs = versions_of(name)
  if not vs then fail("module '%s' is not installed", name) end
  local fd = lock_module(name, opts)
  local ok, removed = pcall(function()
    vs = versions_of(name)
    if not vs then fail("module '%s' is not installed", name) end
    local c
    if constraint and constraint ~= "" then
      local err
      c, err = semver.constraint(constraint)
      if not c then fail("bad version constraint '%s': %s", constraint, err) end
    end
    local gone, keep = {}, {}
    for _, v in ipairs(vs) do
      if not c or c:matches(v) then gone[#gone + 1] = v else keep[#keep + 1] = v end
    end
    if #gone == 0 then
      fail("no installed version of '%s' matches '%s' (installed: %s)", name, constraint, table.concat(vs, ", "))
    end
    local mdir = module_dir(name)
    for _, v in ipairs(gone) do
      -- Renamed first, so a removal cut short never leaves a half version that looks installed.
      local trash = string.format("%s/.old-%d-rm-%s", mdir, C.hub_os_pid(), v)
      check_c(C.hub_fs_rename(mdir .. "/" .. v, trash))
      check_c(C.hub_fs_remove_tree(trash))
    end
    if #keep == 0 then
      local trash = string.format("%s/.trash-%s-%d", M.modules_dir(), name, C.hub_os_pid())
      check_c(C.hub_fs_rename(mdir, trash))
      check_c(C.hub_fs_remove_tree(trash))
    elseif c:matches(vs.default) then
      set_default(name, semver.newest(keep) or keep[#keep])
    end
    return gone
  end)
  C.hub_unlock_file(fd)
  if not ok then error(removed, 0) end
  return removed
end

-- Removes the download and index caches; returns the bytes freed.
function M.clear_cache()
  local total = 0
  local function walk(p)
    for _, e in ipairs(list_dir(p)) do
      local full = p .. "/" .. e[1]
      if e[2] == C.HUB_FS_DIR then walk(full) elseif e[2] == C.HUB_FS_FILE then total = total + tonumber(C.hub_fs_size(full)) end
    end
  end
  local dir = M.cache_dir()
  walk(dir)
  check_c(C.hub_fs_remove_tree(dir))
  return total
end

return M
