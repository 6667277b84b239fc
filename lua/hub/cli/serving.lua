-- `hubrun serving start|stop`: PaddleHub's `hub serving`, on hubrun's C server (docs/serving.md).
--
--   hubrun serving start -m lac,all-minilm-l6-v2 [-p 8866] [--workers N] [--max-batch 32]
--                        [--max-delay-ms 5] [--config serving.json] [--daemon] ...
--   hubrun serving stop [-p 8866]
--
-- start resolves every module first (not installed: an error before the port opens), then runs
-- the server in the foreground until SIGTERM/SIGINT (drains, exits 0); --daemon starts it in
-- the background (log in $HUB_HOME/logs/serving_<port>.log) and returns once it listens.
-- stop sends SIGTERM to the server whose pid file is $HUB_HOME/conf/serving_<port>.json.
local cli = require "hub.cli_util"

local M = {
  summary = "serve modules over HTTP (start|stop): PaddleHub's JSON, embeddings, metrics",
  usage = "hubrun serving start -m NAME[,NAME...] [options] | hubrun serving stop [-p PORT]",
  help = [[Endpoints: POST /predict/<module>, POST /embedding/<module>, POST /v1/embeddings,
GET /health, GET /modules, GET /metrics, GET / (see docs/serving.md).  A --config file is
PaddleHub's: {"modules_info": {"lac": {"init_args": {"version": "1.0.0"}, "predict_args": {}}},
"port": 8866, "workers": 2, "timeout": 30, "use_gpu": false}, plus host, max_batch, max_delay_ms,
queue, threads, max_body, max_items, api_key, cors, device; flags given on the command line win
over it.  --device cuda (or --use_gpu) loads every module on the GPU (encoders, fine-tuned
tasks, lac).]],
  flags = {
    { "modules", "m", arg = "A,B", help = "modules to serve (names, NAME==VERSION, or directories)" },
    { "port", "p", arg = "PORT", help = "port (default 8866; 0: any free port)" },
    { "host", nil, arg = "ADDR", help = "address to listen on (default 127.0.0.1)" },
    { "workers", "w", arg = "N", help = "worker threads, each its own runtime (default 1)" },
    { "threads", nil, arg = "N", help = "compute threads per worker (default: cores / workers)" },
    { "max_batch", nil, long = "max-batch", arg = "N", help = "texts per batch (default 32)" },
    { "max_delay_ms", nil, long = "max-delay-ms", arg = "MS", help = "how long a request waits for others (default 5)" },
    { "queue", nil, arg = "N", help = "queued requests before 503 (default 64 per worker)" },
    { "timeout", nil, arg = "S", help = "seconds per request before 504 (default 30)" },
    { "max_body", nil, long = "max-body", arg = "BYTES", help = "request body limit, 413 above (default 1 MiB)" },
    { "api_key", nil, long = "api-key", arg = "KEY", help = "require Authorization: Bearer KEY (or HUB_API_KEY)" },
    { "cors", nil, arg = "ORIGIN", help = "allow browser calls from ORIGIN" },
    { "device", nil, arg = "cpu|cuda", help = "where the modules run (default cpu; cuda: the GPU)" },
    { "use_gpu", nil, long = "use_gpu", help = "PaddleHub's flag: the same as --device cuda" },
    { "cuda_graphs", nil, long = "cuda_graphs", help = "with --device cuda: fine-tuned task and encoder modules run through CUDA graphs (one per batch shape)" },
    { "config", "c", arg = "FILE", help = "PaddleHub's serving config file (JSON)" },
    { "daemon", nil, help = "run in the background; stop with hubrun serving stop -p PORT" },
    { "quiet", "q", help = "no start/stop lines on stderr" },
  },
}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function self_exe()
  local p = io.popen("readlink /proc/" .. "self/exe 2>/dev/null")
  local s = p and p:read("*l")
  if p then p:close() end
  return s
end

local function daemonize(args, store)
  local exe = self_exe() or "hubrun"
  local rest = {}
  for _, a in ipairs(args) do if a ~= "--daemon" then rest[#rest + 1] = q(a) end end
  require("hub.core").C.hub_fs_mkdirs(store.logs_dir())
  local log = store.logs_dir() .. "/serving_" .. os.time() .. "_" .. math.random(1e6) .. ".log"
  os.execute(string.format("setsid %s serving %s >%s 2>&1 </dev/null &", q(exe), table.concat(rest, " "), q(log)))
  for _ = 1, 600 do
    local f = io.open(log, "rb")
    local text = f and f:read("*a") or ""
    if f then f:close() end
    local port = text:match("listening on http://%S-:(%d+)")
    if port then
      io.write(text:match("[^\n]*listening[^\n]*"), "\n(daemon; log ", log, "; stop with hubrun serving stop -p ", port, ")\n")
      return 0
    end
    if text:find("hubrun serving", 1, true) and text:find("\n", 1, true) and not text:find("listening", 1, true) then
      io.stderr:write(text)
      return 1
    end
    os.execute("sleep 0.1")
  end
  error("the server did not start within 60 s (see " .. log .. ")", 0)
end

M.main = cli.command("serving", M, function(opts, args)
  local verb = args[1]
  local serving = require "hub.serving"
  local store = require "hub.store"
  if verb == "stop" then
    local port = tonumber(opts.port or 8866)
    if not port then cli.usage_error("-p must be a port number") end
    local ok, msg = serving.stop(port)
    print(msg)
    return ok and 0 or 1
  end
  if verb ~= "start" then
    cli.usage_error(verb and ("unknown action '" .. verb .. "' (start or stop)") or "start or stop?")
  end
  if args[2] then cli.usage_error("unexpected argument '" .. args[2] .. "'") end
  local o = {}
  if opts.config then
    o = serving.config_file(opts.config)
    o.use_multiprocess, o.use_gpu = nil, nil
  end
  if opts.modules then
    o.modules = {}
    for m in opts.modules:gmatch("[^,%s]+") do o.modules[#o.modules + 1] = m end
  end
  for _, k in ipairs { "port", "host", "workers", "threads", "max_batch", "max_delay_ms", "queue", "timeout", "max_body", "api_key", "cors",
                       "device", "use_gpu", "cuda_graphs" } do
    if opts[k] ~= nil then o[k] = opts[k] end
  end
  if o.api_key == nil and os.getenv("HUB_API_KEY") and os.getenv("HUB_API_KEY") ~= "" then o.api_key = os.getenv("HUB_API_KEY") end
  o.quiet = opts.quiet
  local cfg = serving.config(o)          -- modules resolved here, before any port opens
  if opts.daemon then
    return daemonize(M._argv or {}, store)
  end
  return serving.start(cfg)
end)

-- keep the raw arguments for --daemon (re-run without it)
local command_main = M.main
M.main = function(args)
  M._argv = {}
  for i, a in ipairs(args or {}) do M._argv[i] = a end
  return command_main(args)
end

return M
