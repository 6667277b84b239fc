-- hub.serving: starting and stopping the model server (`hubrun serving start|stop`; docs/serving.md).
--
--   local serving = require "hub.serving"
--   local cfg = serving.config{ modules = {"lac"}, port = 8866, workers = 2 }   -- or config_file(path)
--   serving.start(cfg)      -- blocks until SIGTERM/SIGINT; the C engine is runtime/serve
--
-- config() checks the options and resolves every module in the store (or as a directory) before
-- anything listens: a module that is not installed is an error naming it.  start() opens the
-- server (hub_serve_open: the port, then the workers, each loading every module in its own
-- runtime; weights are shared through hub.load_shared), writes the pid file
-- $HUB_HOME/conf/serving_<port>.json ({pid, port, host, modules, start_time}, as PaddleHub), prints
-- one line "hubrun serving: listening on http://HOST:PORT ...", waits, and removes the pid file.
-- stop(port) sends SIGTERM to the pid in that file and waits for the process to end.
local ffi = require "ffi"
local cjson = require "cjson"
local hub = require "hub"
local store = require "hub.store"
local hubmodule = require "hub.module"
local C = hub.C or require("hub.core").C

pcall(ffi.cdef, [[
int getpid(void);
int kill(int pid, int sig);
]])

local M = {}

local fail = require("hub.core").failf

M.defaults = { host = "127.0.0.1", port = 8866, workers = 1, threads = 0, max_batch = 32, max_delay_ms = 5,
               queue = 0, max_body = 1048576, max_items = 1024, timeout = 30 }

local function int_opt(cfg, key, lo, hi, what)
  local v = cfg[key]
  if type(v) == "string" then v = tonumber(v) end
  if type(v) ~= "number" or v ~= math.floor(v) or v < lo or (hi and v > hi) then
    fail("%s must be an integer in [%d, %s], got %s", what or key, lo, hi and tostring(hi) or "...", tostring(cfg[key]))
  end
  cfg[key] = v
end

local function is_path(spec) return spec:find("/", 1, true) ~= nil or spec == "." or spec == ".." end

-- One served module: {name, spec, version, init_args, predict_args, dir, manifest}.
local function resolve_module(spec, info)
  if type(spec) ~= "string" or spec == "" then fail("modules: expected module names, got %s", tostring(spec)) end
  info = info or {}
  if type(info) ~= "table" then fail("modules_info.%s: expected an object {init_args, predict_args}", spec) end
  local init = info.init_args or {}
  if type(init) ~= "table" then fail("modules_info.%s.init_args: expected an object", spec) end
  local pargs = info.predict_args or {}
  if type(pargs) ~= "table" then fail("modules_info.%s.predict_args: expected an object", spec) end
  local name, version = spec, init.version
  if not is_path(spec) then
    local n, constraint = store.parse_spec(spec)   -- "lac==1.0.0"
    name = n
    if constraint then version = version or constraint end
  end
  local ok, dir, manifest = pcall(hubmodule.resolve, is_path(spec) and spec or name, version)
  if not ok then
    local msg = tostring(dir)
    if msg:find("not installed", 1, true) then
      fail("module '%s' is not installed (hubrun install %s, or give a module directory)", name, name)
    end
    fail("module '%s': %s", name, msg)
  end
  local args = {}
  for k, v in pairs(init) do if k ~= "version" then args[k] = v end end
  local served = type(manifest.name) == "string" and manifest.name or name
  return { name = served, spec = is_path(spec) and dir or name, version = not is_path(spec) and version or nil,
           init_args = args, predict_args = pargs, dir = dir, manifest = manifest }
end

-- PaddleHub's config file: {"modules_info": {"lac": {"init_args": {...}, "predict_args": {...}}},
-- "port": 8866, "workers": 2, "timeout": 30} plus hubrun's own keys (host, max_batch,
-- max_delay_ms, queue, threads, max_body, max_items, api_key, cors).
function M.config_file(path)
  local f, err = io.open(path, "rb")
  if not f then fail("--config %s: %s", path, tostring(err)) end
  local text = f:read("*a")
  f:close()
  local ok, t = pcall(cjson.decode, text)
  if not ok or type(t) ~= "table" then fail("--config %s: not a JSON object (%s)", path, ok and type(t) or tostring(t)) end
  local mi = t.modules_info
  if mi ~= nil and (type(mi) ~= "table" or mi[1] ~= nil) then
    fail("--config %s: modules_info must be an object {\"name\": {\"init_args\": {...}, \"predict_args\": {...}}} (the list form is not accepted)", path)
  end
  return t
end

-- Options (CLI flags or a config file's keys) -> the checked configuration with resolved modules.
-- opts.modules: list of specs, or opts.modules_info: {spec = {init_args, predict_args}}.
function M.config(opts)
  local cfg = {}
  for k, v in pairs(M.defaults) do cfg[k] = v end
  for k, v in pairs(opts) do if v ~= cjson.null then cfg[k] = v end end
  int_opt(cfg, "port", 0, 65535)
  int_opt(cfg, "workers", 1, 256)
  int_opt(cfg, "threads", 0, 1024)
  int_opt(cfg, "max_batch", 1, 100000, "max_batch")
  int_opt(cfg, "max_delay_ms", 0, 60000, "max_delay_ms")
  int_opt(cfg, "queue", 0, 1000000)
  int_opt(cfg, "max_body", 1, 1073741824, "max_body")
  int_opt(cfg, "max_items", 1, 1000000, "max_items")
  if type(cfg.timeout) == "string" then cfg.timeout = tonumber(cfg.timeout) end
  if type(cfg.timeout) ~= "number" or cfg.timeout <= 0 then fail("timeout must be a positive number of seconds, got %s", tostring(opts.timeout)) end
  if type(cfg.host) ~= "string" or cfg.host == "" then fail("host must be an address such as 127.0.0.1") end
  -- device: where the modules run ("cpu", or "cuda": PaddleHub's --use_gpu); given to every
  -- module's load as init_args.device unless its own init_args name one
  if cfg.use_gpu == true and cfg.device == nil then cfg.device = "cuda" end
  cfg.use_gpu = nil
  if cfg.device ~= nil then require("hub").cuda.check_device(cfg.device, "--device") end
  if cfg.cuda_graphs ~= nil and type(cfg.cuda_graphs) ~= "boolean" then fail("cuda_graphs must be true or false") end
  if cfg.cuda_graphs and cfg.device ~= "cuda" then fail("--cuda_graphs needs --device cuda (or --use_gpu)") end
  local specs, infos = {}, {}
  if type(cfg.modules_info) == "table" then
    for spec, info in pairs(cfg.modules_info) do specs[#specs + 1] = spec; infos[spec] = info end
    table.sort(specs)
  end
  for _, spec in ipairs(cfg.modules or {}) do
    if not infos[spec] then specs[#specs + 1] = spec; infos[spec] = {} end
  end
  if #specs == 0 then fail("no modules to serve: give -m NAME[,NAME...] or a --config file with modules_info") end
  cfg.served = {}
  local seen = {}
  for _, spec in ipairs(specs) do
    local m = resolve_module(spec, infos[spec])
    if cfg.device == "cuda" and m.init_args.device == nil then m.init_args.device = "cuda" end
    if cfg.cuda_graphs and m.init_args.cuda_graphs == nil and m.init_args.device == "cuda" and
       m.manifest and type(m.manifest.config) == "table" and m.manifest.config.model then
      m.init_args.cuda_graphs = true -- encoders and fine-tuned tasks (modules/ernie, modules/finetuned)
    end
    if seen[m.name] then fail("module '%s' is given twice", m.name) end
    seen[m.name] = true
    cfg.served[#cfg.served + 1] = m
  end
  return cfg
end

-- What GET /modules answers.
local function modules_json(cfg)
  local list = {}
  for _, m in ipairs(cfg.served) do
    local mf = m.manifest
    local encoder = type(mf.type) == "string" and mf.type:find("embedding", 1, true) ~= nil
      or (type(mf.config) == "table" and type(mf.config.model) == "table")
    local endpoints = { "/predict/" .. m.name }
    if encoder then endpoints[2] = "/embedding/" .. m.name; endpoints[3] = "/v1/embeddings" end
    list[#list + 1] = {
      name = m.name, version = mf.version, type = mf.type, summary = mf.summary,
      inputs = encoder and { text = "a list of texts (or [text, pair] lists for /embedding)" }
                      or { text = "a list of texts" },
      encoder = encoder, endpoints = endpoints, device = m.init_args.device or "cpu",
    }
  end
  return cjson.encode { modules = list }
end

local function pid_path(port) return store.home() .. "/conf/serving_" .. port .. ".json" end
M.pid_path = pid_path

-- Starts the server and blocks until it stops; returns 0.
function M.start(cfg, out)
  out = out or io.stderr
  local names = ffi.new("const char *[?]", #cfg.served)
  local keep = {}
  local wmods = {}
  for i, m in ipairs(cfg.served) do
    keep[#keep + 1] = m.name
    names[i - 1] = m.name
    wmods[i] = { name = m.name, spec = m.spec, version = m.version, init_args = m.init_args,
                 predict_args = m.predict_args, max_batch = cfg.max_batch }
  end
  local script = package.searchpath("hub.serving.worker", package.path)
  if not script then fail("cannot find hub/serving/worker.lua on package.path") end
  local o = ffi.new("hub_serve_options")
  local function str(s) if s == nil then return nil end keep[#keep + 1] = s; return s end
  o.host = str(cfg.host)
  o.port = cfg.port
  o.workers = cfg.workers
  o.threads = cfg.threads
  o.max_batch = cfg.max_batch
  o.max_delay_ms = cfg.max_delay_ms
  o.queue_limit = cfg.queue
  o.max_body = cfg.max_body
  o.max_items = cfg.max_items
  o.timeout_ms = math.floor(cfg.timeout * 1000 + 0.5)
  o.module_count = #cfg.served
  o.modules = names
  o.modules_json = str(modules_json(cfg))
  o.page_html = str(require("hub.serving.page").html(cfg))
  o.worker_script = str(script)
  o.worker_args = str(cjson.encode { modules = wmods })
  o.api_key = str(cfg.api_key)
  o.cors_origin = str(cfg.cors)
  o.handle_signals = 1
  o.quiet = cfg.quiet and 1 or 0
  local s = C.hub_serve_open(o)
  if s == nil then fail("%s", require("hub.core").last_error()) end
  local port = C.hub_serve_port(s)
  local pidf = pid_path(port)
  C.hub_fs_mkdirs(store.home() .. "/conf")
  local served = {}
  for i, m in ipairs(cfg.served) do served[i] = m.name end
  local info = cjson.encode { pid = ffi.C.getpid(), port = port, host = cfg.host, modules = served, start_time = os.time() }
  C.hub_fs_write_file(pidf, info, #info)
  out:write(string.format("hubrun serving: listening on http://%s:%d (modules: %s; %d worker%s, max batch %d, max delay %d ms)\n",
    cfg.host:find(":", 1, true) and "[" .. cfg.host .. "]" or cfg.host, port, table.concat(served, ", "),
    cfg.workers, cfg.workers == 1 and "" or "s", cfg.max_batch, cfg.max_delay_ms))
  out:flush()
  io.stdout:flush()
  C.hub_serve_wait(s)
  C.hub_serve_close(s)
  os.remove(pidf)
  return 0
end

-- Sends SIGTERM to the server on `port` (its pid file) and waits up to `wait` seconds for it to end.
function M.stop(port, wait)
  local path = pid_path(port)
  local f = io.open(path, "rb")
  if not f then fail("no server on port %d (no %s)", port, path) end
  local text = f:read("*a")
  f:close()
  local ok, info = pcall(cjson.decode, text)
  if not ok or type(info) ~= "table" or type(info.pid) ~= "number" then fail("%s: not a serving pid file", path) end
  local pid = info.pid
  if ffi.C.kill(pid, 0) ~= 0 then
    os.remove(path)
    return false, string.format("the server on port %d (pid %d) was not running; removed %s", port, pid, path)
  end
  if ffi.C.kill(pid, 15) ~= 0 then fail("cannot signal pid %d", pid) end
  local deadline = os.time() + (wait or 60)
  while ffi.C.kill(pid, 0) == 0 and os.time() <= deadline do
    os.execute("sleep 0.1")
  end
  if ffi.C.kill(pid, 0) == 0 then fail("the server (pid %d) is still draining after %d s", pid, wait or 60) end
  os.remove(path)
  return true, string.format("stopped the server on port %d (pid %d)", port, pid)
end

return M
