-- test_store_cli.lua: the module store end to end, through the real `hubrun` CLI.
--
-- The test writes tiny fake modules (module.json, module.lua, a data file) and registries
-- (index.json and the files) into a temporary directory, serves them over HTTP on 127.0.0.1
-- with tests/tools/http_serve, and runs `hubrun install|list|show|search|uninstall|download|
-- clear|config|version|help` as child processes with HUB_HOME set to a fresh directory:
--   install from the registry (newest, constraints), list/show/search (text and --json),
--   uninstall of one version and of all; install from a directory and from a URL; download;
--   a checksum mismatch refused with nothing installed; a 404 naming the URL; a download cut
--   half-way resumed with a Range request; corrupt module.json files refused naming the field;
--   an unreachable registry failing fast; HUB_OFFLINE=1 never touching the network while
--   installed modules still list and load; two concurrent installs of one module both
--   succeeding; a failed upgrade keeping the old version working; uninstalling a missing
--   module failing with status 1; the Lua API (hub.store.install, .list, .uninstall).
-- hubrun is $HUBRUN or arg[-1] (the interpreter running this test); http_serve is
-- $HUB_HTTP_SERVE or tests/http_serve in hubrun's build directory.
local store = require "hub.store"
local core = require "hub.core"
local cjson = require "cjson"
local C = core.C

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, q, read = T.ok, T.q, T.read_file

local function abs(p)
  if p:sub(1, 1) == "/" then return p end
  return (os.getenv("PWD") or io.popen("pwd"):read("*l")) .. "/" .. p
end

local hubrun = abs(os.getenv("HUBRUN") or arg[-1])
local serve = os.getenv("HUB_HTTP_SERVE") or (hubrun:match("^(.*)/[^/]*$") .. "/tests/http_serve")
if C.hub_fs_kind(serve) ~= C.HUB_FS_FILE then
  ok(false, "http_serve not found at " .. serve .. " (build the http_serve target or set HUB_HTTP_SERVE)")
  T.finish() -- exits with status 1
end

local tmp = io.popen("mktemp -d /tmp/hub_store_cli_XXXXXX"):read("*l")
local home = tmp .. "/home"
local now = function() return C.hub_os_time() end

local function write(path, text)
  C.hub_fs_mkdirs(path:match("^(.*)/[^/]*$"))
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Runs a shell command; returns the exit status and stdout+stderr.
local function sh(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1; echo \"__rc=$?\"")
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  return rc, (out:gsub("__rc=%d+%s*$", ""))
end

local base_env = "env -u HUB_OFFLINE -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY "
  .. "-u all_proxy -u HUB_DEFAULT_REGISTRY HUB_HOME=" .. q(home) .. " "
local function hub(args, env)
  return sh(base_env .. (env or "") .. " " .. q(hubrun) .. " " .. args)
end

-- ---- fake modules and registries ---------------------------------------------------------------

-- Checksums come from coreutils' sha256sum, not from the store's own sha256 (which is what the
-- store checks against them).
local function sha256sum(path)
  local p = io.popen("sha256sum " .. q(path))
  local line = p:read("*l")
  p:close()
  local sum = line and line:match("^(%x+)")
  assert(sum and #sum == 64, "sha256sum failed on " .. path)
  return sum
end

local function file_entry(path)
  return { sha256 = sha256sum(path), size = tonumber(C.hub_fs_size(path)) }
end

-- A module directory: module.lua whose predict returns "NAME-VERSION:<data>", data.txt of
-- `size` bytes.  `edit(manifest)` may spoil the manifest.
local function make_module(dir, name, version, size, edit)
  local data = string.rep(name .. version .. ";", math.ceil((size or 64) / (#name + #version + 1))):sub(1, size or 64)
  write(dir .. "/data.txt", data)
  write(dir .. "/module.lua", string.format([[
local M = {}
function M.load(dir, opts)
  local f = assert(io.open(dir .. "/data.txt", "rb")); local d = f:read("*a"); f:close()
  return setmetatable({ data = d }, { __index = M })
end
function M.predict(self, inputs) return %q .. ":" .. #self.data end
return M
]], name .. "-" .. version))
  local m = { name = name, version = version, type = "test/fake", summary = "fake module " .. name,
              author = "tests", license = "Apache-2.0", hubrun = ">=0.1.0", entry = "module.lua",
              files = { ["module.lua"] = file_entry(dir .. "/module.lua"), ["data.txt"] = file_entry(dir .. "/data.txt") } }
  if edit then edit(m) end
  write(dir .. "/module.json", cjson.encode(m))
  return m
end

-- A registry in www/: { {name, version, size=, edit=, spoil=fn(index_files)} ... } -> index.json
local function make_registry(www, mods)
  local index = { modules = {} }
  for _, spec in ipairs(mods) do
    local name, version = spec[1], spec[2]
    local dir = www .. "/" .. name .. "/" .. version
    make_module(dir, name, version, spec.size, spec.edit)
    local files = {}
    for _, p in ipairs { "module.json", "module.lua", "data.txt" } do
      local e = file_entry(dir .. "/" .. p)
      files[p] = { url = name .. "/" .. version .. "/" .. p, sha256 = e.sha256, size = e.size }
    end
    if spec.spoil then spec.spoil(files, dir) end
    index.modules[name] = index.modules[name] or { summary = "fake module " .. name, type = "test/fake", versions = {} }
    index.modules[name].versions[version] = { files = files, hubrun = spec.hubrun }
  end
  write(www .. "/index.json", cjson.encode(index))
end

local servers = {}
-- Starts http_serve on www with extra switches; returns the base URL and a handle.
local function start_server(www, extra)
  local n = #servers + 1
  local pf, lf, pidf = tmp .. "/port" .. n, tmp .. "/log" .. n, tmp .. "/pid" .. n
  os.execute(string.format("%s --dir %s --port 0 --port-file %s --log %s %s >/dev/null 2>&1 & echo $! > %s",
    q(serve), q(www), q(pf), q(lf), extra or "", q(pidf)))
  local port
  for _ = 1, 500 do
    port = tonumber(read(pf) or "")
    if port then break end
    os.execute("sleep 0.01")
  end
  assert(port, "http_serve did not start")
  local s = { url = "http://127.0.0.1:" .. port, port = port, log = lf, pid = tonumber(read(pidf)) }
  servers[n] = s
  return s
end
local function stop_server(s)
  if s.pid and not s.stopped then
    os.execute("kill " .. s.pid .. " 2>/dev/null")
    for _ = 1, 200 do
      if os.execute("kill -0 " .. s.pid .. " 2>/dev/null") ~= 0 then break end
      os.execute("sleep 0.01")
    end
    s.stopped = true
  end
end
local function log_lines(s)
  local t = {}
  for l in (read(s.log) or ""):gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

local function installed_json()
  local rc, out = hub("list --json")
  local okj, t = pcall(cjson.decode, out)
  return okj and t or {}, rc, out
end
local function version_dirs(name)
  local out = {}
  for _, e in ipairs(store.list_dir(home .. "/modules/" .. name)) do
    if not e[1]:match("^%.lock$") and e[1] ~= "default" then out[#out + 1] = e[1] end
  end
  return out
end

-- ---- the registry ------------------------------------------------------------------------------

local www = tmp .. "/www"
make_registry(www, {
  { "demo", "1.0.0" }, { "demo", "1.1.0" }, { "demo", "2.0.0-rc.1" },
  { "other", "0.3.0" },
  { "big", "1.0.0", size = 60000 },
  { "conc", "1.0.0", size = 30000 },
  { "upg", "1.0.0" },
  { "upg", "2.0.0", spoil = function(files) files["data.txt"].sha256 = string.rep("0", 64) end },
  { "bad", "1.0.0", spoil = function(files) files["data.txt"].sha256 = string.rep("a", 64) end },
  { "gone", "1.0.0", spoil = function(files, dir) os.remove(dir .. "/data.txt") end },
  { "future", "1.0.0", hubrun = ">=99.0" },
})
local srv = start_server(www)
local reg = srv.url .. "/index.json"
local rc, out

rc, out = hub("config server=" .. reg)
ok(rc == 0 and out:find(reg, 1, true), "config server=URL", out)

-- install: newest stable version, then a constraint
rc, out = hub("install demo")
ok(rc == 0 and out:find("Successfully installed demo-1.1.0", 1, true), "install picks the newest stable version", out)
rc, out = hub("install 'demo==1.0.0'")
ok(rc == 0 and out:find("demo-1.0.0", 1, true), "install NAME==VER", out)
local inst = installed_json()
ok(inst.demo and inst.demo.default == "1.0.0" and #inst.demo.versions == 2, "two versions, the last installed is default",
  cjson.encode(inst))
rc, out = hub("install 'demo>=1.0,<1.1'")
ok(rc == 0 and out:find("demo-1.0.0 is already installed", 1, true), "constraint resolves to an installed version", out)
rc, out = hub("install demo~1.1")
ok(rc == 0 and out:find("already installed", 1, true) and installed_json().demo.default == "1.1.0",
  "reinstalling an installed version makes it the default", out)
rc, out = hub("install other -q")
ok(rc == 0, "install other", out)

-- list, show
rc, out = hub("list")
ok(rc == 0 and out:find("demo%s+1%.1%.0%s+1%.0%.0%s+test/fake") and out:find("other%s+0%.3%.0"), "list table", out)
rc, out = hub("show demo")
ok(rc == 0 and out:find("version:%s+1%.1%.0") and out:find("summary:%s+fake module demo") and
  out:find(home .. "/modules/demo/1.1.0", 1, true), "show NAME", out)
rc, out = hub("show demo==1.0.0 --json")
local okj, shown = pcall(cjson.decode, out)
ok(rc == 0 and okj and shown.version == "1.0.0" and shown.path:find("/demo/1.0.0$"), "show NAME==VER --json", out)
rc, out = hub("show big")
ok(rc == 0 and out:find("not installed", 1, true) and out:find("1.0.0", 1, true), "show a module only in the registry", out)
rc, out = hub("show " .. q(www .. "/demo/1.0.0"))
ok(rc == 0 and out:find("name:%s+demo"), "show DIR", out)
rc, out = hub("show nosuch")
ok(rc == 1 and out:find("nosuch", 1, true), "show of an unknown module fails", out)

-- search
rc, out = hub("search")
ok(rc == 0 and out:find("demo%s+1%.1%.0") and out:find("other") and out:find("installed 1.1.0", 1, true), "search all", out)
rc, out = hub("search '^oth'")
ok(rc == 0 and out:find("other") and not out:find("demo"), "search REGEX", out)
rc, out = hub("search zzz")
ok(rc == 0 and out:find("No module matches", 1, true), "search without results", out)
rc, out = hub("search --json DEMO")
okj, shown = pcall(cjson.decode, out)
ok(rc == 0 and okj and #shown == 1 and shown[1].name == "demo" and shown[1].installed == "1.1.0", "search --json", out)
rc, out = hub("search '('")
ok(rc == 1 and out:find("regular expression", 1, true), "bad regex is a clear error", out)

-- uninstall one version: the default moves to the newest remaining
rc, out = hub("uninstall demo==1.1.0")
ok(rc == 0 and out:find("Successfully uninstalled demo-1.1.0", 1, true), "uninstall NAME==VER", out)
inst = installed_json()
ok(inst.demo and inst.demo.default == "1.0.0" and #inst.demo.versions == 1, "default falls back", cjson.encode(inst))
rc, out = hub("uninstall demo==3.0.0")
ok(rc == 1 and out:find("no installed version", 1, true), "uninstall of a version not installed", out)
rc, out = hub("uninstall nosuch")
ok(rc == 1 and out:find("module 'nosuch' is not installed", 1, true), "uninstall of a missing module: status 1", out)

-- checksum mismatch: refused, nothing installed, nothing left behind
rc, out = hub("install bad")
ok(rc == 1 and out:find("checksum mismatch", 1, true) and out:find(srv.url .. "/bad/1.0.0/data.txt", 1, true),
  "checksum mismatch refused naming the URL", out)
ok(C.hub_fs_kind(home .. "/modules/bad") == C.HUB_FS_NONE and not installed_json().bad,
  "nothing of the bad module installed", table.concat(version_dirs("bad"), " "))
ok(C.hub_fs_kind(home .. "/cache/downloads/" .. string.rep("a", 64)) == C.HUB_FS_NONE, "bad blob not kept in the cache")
rc, out = hub("install gone")
ok(rc == 1 and out:find("HTTP 404", 1, true) and out:find("/gone/1.0.0/data.txt", 1, true), "404 names the URL", out)
ok(#version_dirs("gone") == 0, "nothing installed after a 404")
rc, out = hub("install future")
ok(rc == 1 and out:find("needs hubrun >=99.0", 1, true), "incompatible hubrun range refused", out)
rc, out = hub("install nosuch")
ok(rc == 1 and out:find("no module 'nosuch'", 1, true), "unknown module", out)

-- a failed upgrade keeps the old version working
rc, out = hub("install upg==1.0.0")
ok(rc == 0, "install upg 1.0.0", out)
rc, out = hub("install upg")
ok(rc == 1 and out:find("checksum mismatch", 1, true), "upgrade to a corrupt 2.0.0 fails", out)
inst = installed_json()
ok(inst.upg and inst.upg.default == "1.0.0" and #inst.upg.versions == 1, "old version still installed and default",
  cjson.encode(inst))
local use = [[-e 'local s = require "hub.store"; local dir, m = assert(s.resolve(arg[1] or "upg"));
local mod = dofile(dir .. "/" .. m.entry); print("PREDICT " .. mod.predict(mod.load(dir), {}))']]
rc, out = hub(use)
ok(rc == 0 and out:find("PREDICT upg-1.0.0:64", 1, true), "old version still loads and predicts", out)

-- a download cut half-way resumes (Range request after the cut)
stop_server(srv)
local cut = start_server(www, "--cut-after 20000")
rc, out = hub("config server=" .. cut.url .. "/index.json")
rc, out = hub("install big")
ok(rc == 0 and out:find("Successfully installed big-1.0.0", 1, true), "install through a cut connection", out)
local ranged = false
for _, l in ipairs(log_lines(cut)) do
  if l:find("/big/1.0.0/data.txt bytes=20000-", 1, true) then ranged = true end
end
ok(ranged, "the cut download resumed with Range: bytes=20000-", table.concat(log_lines(cut), "\n"))
rc, out = hub((use:gsub('"upg"', '"big"')))
ok(rc == 0 and out:find("PREDICT big-1.0.0:60000", 1, true), "resumed module is intact", out)
stop_server(cut)

-- two concurrent installs of one module: both succeed, one version directory, no leftovers
local slow = start_server(www, "--delay-ms 150")
hub("config server=" .. slow.url .. "/index.json")
local cmd = base_env .. q(hubrun) .. " install conc"
os.execute(string.format("(%s > %s 2>&1; echo $? > %s) & (%s > %s 2>&1; echo $? > %s) & wait",
  cmd, q(tmp .. "/c1.out"), q(tmp .. "/c1.rc"), cmd, q(tmp .. "/c2.out"), q(tmp .. "/c2.rc")))
local rc1, rc2 = tonumber(read(tmp .. "/c1.rc")), tonumber(read(tmp .. "/c2.rc"))
ok(rc1 == 0 and rc2 == 0, "both concurrent installs succeed", (read(tmp .. "/c1.out") or "") .. (read(tmp .. "/c2.out") or ""))
local dirs = version_dirs("conc")
ok(#dirs == 1 and dirs[1] == "1.0.0", "one version directory and no temporary ones", table.concat(dirs, " "))
rc, out = hub((use:gsub('"upg"', '"conc"')))
ok(rc == 0 and out:find("PREDICT conc-1.0.0:30000", 1, true), "concurrently installed module works", out)

-- offline: never touches the network, installed modules still list and load
local before = #log_lines(slow)
C.hub_fs_remove_tree(home .. "/cache/downloads")
rc, out = hub("install demo", "HUB_OFFLINE=1")
ok(rc == 0 and out:find("demo-1.0.0 is already installed", 1, true), "offline install of an installed module succeeds", out)
rc, out = hub("install demo==1.1.0", "HUB_OFFLINE=1")
ok(rc == 1 and out:find("offline", 1, true) and out:find("not in the cache", 1, true),
  "offline install of something new fails clearly", out)
ok(#version_dirs("demo") == 1, "nothing added offline", table.concat(version_dirs("demo"), " "))
rc, out = hub("list", "HUB_OFFLINE=1")
ok(rc == 0 and out:find("demo") and out:find("conc"), "offline list", out)
rc, out = hub((use:gsub('"upg"', '"demo"')), "HUB_OFFLINE=1")
ok(rc == 0 and out:find("PREDICT demo-1.0.0", 1, true), "offline use of an installed module", out)
rc, out = hub("search demo", "HUB_OFFLINE=1")
ok(rc == 0 and out:find("demo") and out:find("cached index", 1, true), "offline search uses the cached index", out)
ok(#log_lines(slow) == before, "offline mode made no request", table.concat(log_lines(slow), "\n"))
stop_server(slow)

-- an unreachable registry fails fast and clearly (the last server's port is closed now)
local dead = slow.url .. "/index.json"
hub("clear")
hub("config server=" .. dead)
local t0 = now()
rc, out = hub("install other2")
local dt = now() - t0
ok(rc == 1 and out:find("no registry reachable", 1, true) and
  out:find("fetch " .. dead .. ": could not connect (Connection refused)", 1, true), "unreachable registry message", out)
ok(dt < 5, string.format("unreachable registry fails fast (%.2f s)", dt))
rc, out = hub("install demo")
ok(rc == 0 and out:find("already installed", 1, true), "unreachable registry: installed module still counts", out)
rc, out = hub("search")
ok(rc == 1 and out:find("no registry reachable", 1, true), "search with no registry reachable fails", out)

-- corrupt module.json files are refused, naming the field
local function corrupt(label, edit, field)
  local dir = tmp .. "/corrupt-" .. label
  make_module(dir, "corrupt", "1.0.0", 10, edit)
  local r, o = hub("install " .. q(dir))
  ok(r == 1 and o:find(field, 1, true) and o:find(dir .. "/module.json", 1, true), "corrupt module.json (" .. label .. ")", o)
end
corrupt("version", function(m) m.version = "1.x" end, "field 'version'")
corrupt("type", function(m) m.type = nil end, "field 'type'")
corrupt("entry", function(m) m.entry = "missing.lua" end, "field 'entry'")
corrupt("sha", function(m) m.files["data.txt"].sha256 = "xyz" end, "field 'files.data.txt.sha256'")
corrupt("path", function(m) m.files["../evil"] = m.files["data.txt"] end, "field 'files.../evil'")
corrupt("hubrun", function(m) m.hubrun = ">>1" end, "field 'hubrun'")
write(tmp .. "/corrupt-json/module.json", "{ not json")
rc, out = hub("install " .. q(tmp .. "/corrupt-json"))
ok(rc == 1 and out:find("not valid JSON", 1, true), "module.json that is not JSON", out)
local sizebad = tmp .. "/corrupt-size"
make_module(sizebad, "corrupt", "1.0.0", 10, function(m) m.files["data.txt"].size = 11 end)
rc, out = hub("install " .. q(sizebad))
ok(rc == 1 and out:find("data.txt: size 10 bytes, module.json says 11", 1, true), "file size checked", out)
ok(#version_dirs("corrupt") == 0, "no corrupt module installed", table.concat(version_dirs("corrupt"), " "))
-- a file changed after module.json was written, keeping its size: only the sha256 tells
local tampered = tmp .. "/tampered"
make_module(tampered, "tampered", "1.0.0", 10)
local before = read(tampered .. "/data.txt")
write(tampered .. "/data.txt", before:sub(1, 9) .. (before:sub(10) == "X" and "Y" or "X"))
ok(#read(tampered .. "/data.txt") == #before, "the tampered file keeps its size")
rc, out = hub("install " .. q(tampered))
ok(rc == 1 and out:find("data.txt: sha256 mismatch", 1, true)
   and out:find(sha256sum(tampered .. "/data.txt"), 1, true), "a tampered file of the same size is refused", out)
ok(C.hub_fs_kind(home .. "/modules/tampered") == C.HUB_FS_NONE and not installed_json().tampered,
  "nothing of the tampered module installed", table.concat(version_dirs("tampered"), " "))
local okv, verr = pcall(store.verify, tampered, store.read_manifest(tampered))
ok(not okv and tostring(verr):find("sha256 mismatch", 1, true), "store.verify on the tampered directory", tostring(verr))
-- the store's sha256 is coreutils' (empty, one block, several blocks)
for _, n in ipairs { 0, 55, 56, 64, 1000, 70000 } do
  local f = tmp .. "/sha-" .. n
  write(f, string.rep("hubrun\n", math.ceil(n / 7)):sub(1, n))
  ok(store.sha256_file(f) == sha256sum(f), "store.sha256_file agrees with sha256sum on " .. n .. " bytes")
end

-- install from a directory (with --force replacing) and from a URL; download
local local_dir = tmp .. "/mine"
make_module(local_dir, "mine", "0.1.0", 100)
rc, out = hub("install " .. q(local_dir))
ok(rc == 0 and out:find("Successfully installed mine-0.1.0", 1, true), "install DIR", out)
rc, out = hub("install --force " .. q(local_dir))
ok(rc == 0 and out:find("Successfully installed mine-0.1.0", 1, true), "install --force DIR", out)
local web = start_server(www)
hub("config server=" .. web.url .. "/index.json")
rc, out = hub("install " .. web.url .. "/other/0.3.0/")
ok(rc == 0 and out:find("other-0.3.0", 1, true), "install URL of a module directory", out)
rc, out = hub("download demo==1.1.0 -o " .. q(tmp .. "/dl"))
ok(rc == 0 and read(tmp .. "/dl/demo-1.1.0/module.json") ~= nil, "download -o DIR", out)
rc, out = hub("install " .. q(tmp .. "/dl/demo-1.1.0"))
ok(rc == 0 and out:find("Successfully installed demo-1.1.0", 1, true), "install a downloaded module", out)
rc, out = hub("clear")
ok(rc == 0 and out:find("Cleared", 1, true) and C.hub_fs_kind(home .. "/cache") == C.HUB_FS_NONE, "clear", out)

-- the Lua API
rc, out = hub([[-e 'local hub = require "hub"; local dir, m, how = hub.store.install("other==0.3.0", { quiet = true });
print("HOW " .. how); print("LIST " .. hub.store.list().demo.default); print("GONE " .. table.concat(hub.store.uninstall("mine"), ","));
print("AFTER " .. tostring(hub.store.list().mine) .. " " .. tostring(hub.install))']])
ok(rc == 0 and out:find("HOW already", 1, true) and out:find("LIST 1.1.0", 1, true) and out:find("GONE 0.1.0", 1, true)
  and out:find("AFTER nil nil", 1, true), "hub.store.install / list / uninstall (and no hub.install beside hub.sum)", out)
stop_server(web)

-- uninstall everything of a module
rc, out = hub("uninstall demo")
ok(rc == 0 and out:find("demo-1.0.0", 1, true) and out:find("demo-1.1.0", 1, true), "uninstall all versions", out)
ok(C.hub_fs_kind(home .. "/modules/demo") == C.HUB_FS_NONE, "module directory removed")

-- config, version, help
rc, out = hub("config timeout=3 offline=false")
ok(rc == 0 and out:find('"timeout": 3', 1, true), "config KEY=VALUE", out)
rc, out = hub("config timeout")
ok(rc == 0 and out:match("^3"), "config KEY", out)
rc, out = hub("config colour=red")
ok(rc == 1 and out:find("unknown key 'colour'", 1, true), "config unknown key", out)
rc, out = hub("config retries=-1")
ok(rc == 1 and out:find("retries", 1, true), "config bad value", out)
rc, out = hub("config reset")
ok(rc == 0 and read(home .. "/conf/config.json") == nil, "config reset", out)
rc, out = hub("version")
ok(rc == 0 and out:find("^hubrun %d+%.%d+%.%d+"), "version", out)
rc, out = hub("help")
ok(rc == 0 and out:find("install") and out:find("uninstall"), "help", out)
for _, verb in ipairs { "install", "uninstall", "list", "show", "search", "download", "clear", "config", "version", "help" } do
  rc, out = hub(verb .. " --help")
  ok(rc == 0 and out:find("^usage: hubrun " .. verb), verb .. " --help", out)
end
rc, out = hub("install --bogus")
ok(rc == 1 and out:find("unknown option '--bogus'", 1, true), "unknown option", out)
rc, out = hub("install")
ok(rc == 1 and out:find("usage:", 1, true), "install without arguments", out)

for _, s in ipairs(servers) do stop_server(s) end
if T.failed == 0 and not os.getenv("KEEP") then C.hub_fs_remove_tree(tmp) else print("left " .. tmp .. " for inspection") end
T.finish()
