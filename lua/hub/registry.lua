-- hub.registry: the registries modules are installed from, read through their index.json.
--
-- A registry is one index.json (format in docs/module-format.md) reached by file://, http:// or
-- https:// (a plain path is taken as a file).  The registries are the config's `server` list,
-- tried in order: for each module version the first registry that lists it wins.  Every index
-- fetched over the network is kept in $HUB_HOME/cache/index/ and used again when its registry
-- cannot be reached, or always in offline mode (HUB_OFFLINE=1 or `offline: true` in the config),
-- which never touches the network (file:// registries are read as usual).  An index is fetched
-- with one retry at most, so an unreachable registry costs about a second, not minutes.
local core = require "hub.core"
local cjson = require "cjson"
local semver = require "hub.semver"
local ffi, C = core.ffi, core.C

local M = {}

local fail = require("hub.core").failf

local function sha256_hex(s)
  local out = ffi.new("char[65]")
  C.hub_sha256_hex(s, #s, out)
  return ffi.string(out)
end

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
  if not f then return nil, err end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then os.remove(tmp); return nil, rerr end
  return true
end

function M.is_network(url) return url:match("^[Hh][Tt][Tt][Pp][Ss]?://") ~= nil end

-- A registry location as a URL: plain paths become file:// URLs (made absolute).
function M.to_url(loc)
  if loc:match("^%a[%w+.-]*://") then return loc end
  if loc:sub(1, 1) ~= "/" then
    local pwd = os.getenv("PWD") or "."
    loc = pwd .. "/" .. loc:gsub("^%./", "")
  end
  return "file://" .. loc
end

-- An index's file URL: absolute URLs as they are, others relative to the index's directory.
function M.file_url(index_url, rel)
  if rel:match("^%a[%w+.-]*://") then return rel end
  if rel:sub(1, 1) == "/" then
    local origin = index_url:match("^(%a[%w+.-]*://[^/]*)")
    return origin .. rel
  end
  return (index_url:gsub("[^/]*$", "")) .. rel
end

-- The label string must outlive the C call: each options struct keeps its own alive.
local anchors = setmetatable({}, { __mode = "k" })

-- The effective options for libcurl from the store's config (`retries` caps the attempts).
function M.fetch_opts(cfg, progress, retries, label)
  local o = ffi.new("hub_fetch_opts")
  o.connect_timeout = tonumber(cfg.timeout) or 10
  o.stall_timeout = tonumber(cfg.stall_timeout) or 30
  o.retries = retries or tonumber(cfg.retries) or 3
  o.backoff = tonumber(cfg.backoff) or 0.5
  o.progress = progress and 1 or 0
  if label then
    anchors[o] = label
    o.label = label
  end
  return o
end

function M.offline(cfg)
  local e = os.getenv("HUB_OFFLINE")
  if e and e ~= "" and e ~= "0" then return true end
  return cfg.offline == true
end

local function is_hex64(s) return type(s) == "string" and #s == 64 and s:match("^[0-9a-f]+$") ~= nil end
local function is_count(n) return type(n) == "number" and n >= 0 and n == math.floor(n) end

-- Raises an error naming the index and the field when the index does not have the documented shape.
function M.validate(index, url)
  local function bad(field, what) fail("index %s: field '%s': %s", url, field, what) end
  if type(index) ~= "table" then fail("index %s: not a JSON object", url) end
  if type(index.modules) ~= "table" then bad("modules", "expected an object of modules") end
  for name, mod in pairs(index.modules) do
    local f = "modules." .. tostring(name)
    if type(name) ~= "string" or not name:match("^[%w][%w_.-]*$") then bad(f, "not a module name") end
    if type(mod) ~= "table" or type(mod.versions) ~= "table" then bad(f .. ".versions", "expected an object of versions") end
    for v, entry in pairs(mod.versions) do
      local fv = f .. ".versions." .. tostring(v)
      if not semver.valid(v) then bad(fv, "not a semantic version") end
      if type(entry) ~= "table" or type(entry.files) ~= "table" then bad(fv .. ".files", "expected an object of files") end
      if entry.files["module.json"] == nil then bad(fv .. ".files", "no module.json") end
      for path, file in pairs(entry.files) do
        local ff = fv .. ".files." .. tostring(path)
        if type(file) ~= "table" then bad(ff, "expected an object with url, sha256 and size") end
        if type(file.url) ~= "string" or file.url == "" then bad(ff .. ".url", "expected a URL string") end
        if not is_hex64(file.sha256) then bad(ff .. ".sha256", "expected 64 lowercase hex digits") end
        if not is_count(file.size) then bad(ff .. ".size", "expected a size in bytes") end
      end
      if entry.hubrun ~= nil and (type(entry.hubrun) ~= "string" or not semver.constraint(entry.hubrun)) then
        bad(fv .. ".hubrun", "expected a version constraint such as '>=0.1.0'")
      end
    end
  end
  return index
end

local function decode(text, url)
  local ok, index = pcall(cjson.decode, text)
  if not ok then fail("index %s: not valid JSON (%s)", url, tostring(index)) end
  return M.validate(index, url)
end

local function cache_path(store, url)
  return store.cache_dir() .. "/index/" .. sha256_hex(url):sub(1, 24) .. ".json"
end

-- Loads one registry's index: index, how ("file", "network", "cache"), or nil + error message.
function M.load_index(store, url, cfg)
  url = M.to_url(url)
  local cpath = cache_path(store, url)
  local function from_cache(why)
    local text = read_file(cpath)
    if not text then return nil, why end
    local ok, index = pcall(decode, text, url)
    if not ok then return nil, why end
    return index, "cache", why
  end
  if M.is_network(url) and M.offline(cfg) then
    return from_cache("offline: " .. url .. " not used (HUB_OFFLINE or config offline)")
  end
  local len = ffi.new("size_t[1]")
  local p = C.hub_fetch_memory(url, M.fetch_opts(cfg, false, math.min(tonumber(cfg.retries) or 3, 1)), len)
  if p == nil then
    local err = core.last_error()
    if M.is_network(url) then return from_cache(err) end
    return nil, err
  end
  local text = ffi.string(p, len[0])
  C.hub_fetch_free(p)
  local ok, index = pcall(decode, text, url)
  if not ok then return nil, index end
  if M.is_network(url) then
    C.hub_fs_mkdirs(store.cache_dir() .. "/index")
    write_atomic(cpath, text)
  end
  return index, M.is_network(url) and "network" or "file"
end

-- Every configured registry's index, in order: { {url=, index=, how=, note=}, ... }, errors.
-- Raises when no registry is configured.
function M.indexes(store, cfg)
  local servers = cfg.server or {}
  if #servers == 0 then
    fail("no registry configured: set one with `hubrun config server=URL` or HUB_DEFAULT_REGISTRY")
  end
  local out, errors = {}, {}
  for _, s in ipairs(servers) do
    local url = M.to_url(s)
    local index, how, note = M.load_index(store, url, cfg)
    if index then out[#out + 1] = { url = url, index = index, how = how, note = note }
    else errors[#errors + 1] = how end
  end
  return out, errors
end

-- Every version of `name` the registries list: { ["1.0.0"] = entry with .index_url }, plus the
-- indexes' errors; entry.files[path].url is made absolute.
function M.lookup(store, name, cfg)
  local found = {}
  local idx, errors = M.indexes(store, cfg)
  for _, r in ipairs(idx) do
    local mod = r.index.modules[name]
    if mod then
      for v, entry in pairs(mod.versions) do
        if not found[v] then
          local files = {}
          for path, f in pairs(entry.files) do
            files[path] = { url = M.file_url(r.url, f.url), sha256 = f.sha256, size = f.size }
          end
          found[v] = { version = v, files = files, hubrun = entry.hubrun, index_url = r.url,
                       summary = entry.summary or mod.summary, type = entry.type or mod.type }
        end
      end
    end
  end
  return found, errors, idx
end

-- Modules whose name, summary or type match the POSIX regular expression (case ignored; nil or
-- "" matches all): sorted rows { name, version (newest), versions, summary, type, registry }.
function M.search(store, pattern, cfg)
  local idx, errors = M.indexes(store, cfg)
  local rows, seen = {}, {}
  local function match(s)
    if not pattern or pattern == "" then return true end
    local r = C.hub_regex_match(pattern, s or "", 1)
    if r < 0 then fail("%s", core.last_error()) end
    return r == 1
  end
  for _, r in ipairs(idx) do
    for name, mod in pairs(r.index.modules) do
      if not seen[name] then
        local versions = {}
        for v in pairs(mod.versions) do versions[#versions + 1] = v end
        semver.sort(versions)
        local newest = semver.newest(versions) or versions[#versions]
        local e = mod.versions[newest] or {}
        local summary, typ = e.summary or mod.summary or "", e.type or mod.type or ""
        if match(name) or match(summary) or match(typ) then
          seen[name] = true
          rows[#rows + 1] = { name = name, version = newest, versions = versions, summary = summary, type = typ,
                              registry = r.url }
        end
      end
    end
  end
  table.sort(rows, function(a, b) return a.name < b.name end)
  return rows, errors, idx
end

return M
