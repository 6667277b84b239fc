-- hub.autotune.proc: child processes for the trials, through libc's posix_spawn, waitpid and
-- kill (LuaJIT FFI; Linux/glibc).  Nothing here blocks: the driver polls.
--
--   local pid = proc.spawn({ "/usr/bin/hubrun", "train.lua" }, { HUB_TRIAL = "t.json" }, "log.txt")
--   local st = proc.poll(pid)   -- nil while running, else { code = n } or { signal = n }
--   proc.kill(pid, proc.SIGTERM)
--
-- The child's stdin is /dev/null and its stdout and stderr go to the log file (created or
-- truncated).  Its environment is this process's with `env` put over it.
local ffi = require "ffi"

ffi.cdef [[
typedef int hub_pid_t;
int posix_spawn(hub_pid_t *pid, const char *path, const void *file_actions, const void *attrp,
                char *const argv[], char *const envp[]);
int posix_spawn_file_actions_init(void *fa);
int posix_spawn_file_actions_destroy(void *fa);
int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, unsigned int mode);
int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd);
hub_pid_t waitpid(hub_pid_t pid, int *status, int options);
int kill(hub_pid_t pid, int sig);
long readlink(const char *path, char *buf, size_t size);
char *strerror(int errnum);
extern char **environ;
]]

local C = ffi.C
local M = { SIGTERM = 15, SIGKILL = 9 }

local O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_APPEND = 0, 1, 64, 512, 1024
local WNOHANG = 1

-- The running executable (/proc/self/exe): the hubrun that children run.
function M.self_exe()
  local buf = ffi.new("char[4096]")
  local n = C.readlink("/proc/self/exe", buf, 4095)
  if n <= 0 then return nil end
  return ffi.string(buf, n)
end

local function environment(extra)
  local env, seen = {}, {}
  for k, v in pairs(extra or {}) do
    env[#env + 1] = k .. "=" .. tostring(v)
    seen[k] = true
  end
  local e = C.environ
  local i = 0
  while e[i] ~= nil do
    local s = ffi.string(e[i])
    local k = s:match("^([^=]*)=")
    if not (k and seen[k]) then env[#env + 1] = s end
    i = i + 1
  end
  return env
end

local function cstrings(list)
  local arr = ffi.new("char *[?]", #list + 1)
  local keep = {}
  for i, s in ipairs(list) do
    local b = ffi.new("char[?]", #s + 1, s)
    keep[i] = b
    arr[i - 1] = b
  end
  arr[#list] = nil
  return arr, keep
end

-- spawn(argv, env, log_path[, append]) -> pid, or nil + message.
function M.spawn(argv, env, log_path, append)
  local fa = ffi.new("uint64_t[64]") -- posix_spawn_file_actions_t is 80 bytes in glibc
  if C.posix_spawn_file_actions_init(fa) ~= 0 then return nil, "posix_spawn_file_actions_init failed" end
  C.posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0)
  C.posix_spawn_file_actions_addopen(fa, 1, log_path, O_WRONLY + O_CREAT + (append and O_APPEND or O_TRUNC), tonumber("644", 8))
  C.posix_spawn_file_actions_adddup2(fa, 1, 2)
  local av, k1 = cstrings(argv)
  local ev, k2 = cstrings(environment(env))
  local pid = ffi.new("hub_pid_t[1]")
  local rc = C.posix_spawn(pid, argv[1], fa, nil, av, ev)
  C.posix_spawn_file_actions_destroy(fa)
  local _ = { k1, k2 }
  if rc ~= 0 then return nil, string.format("cannot start %s: %s", argv[1], ffi.string(C.strerror(rc))) end
  return pid[0]
end

-- poll(pid) -> nil while the child runs, else { code = exit status } or { signal = n }.
function M.poll(pid)
  local st = ffi.new("int[1]")
  local r = C.waitpid(pid, st, WNOHANG)
  if r == 0 then return nil end
  if r < 0 then return { code = -1, lost = true } end
  local s = st[0]
  local sig = s % 128
  if sig == 0 then return { code = math.floor(s / 256) % 256 } end
  return { signal = sig }
end

-- wait(pid) -> the status, blocking.
function M.wait(pid)
  local st = ffi.new("int[1]")
  local r = C.waitpid(pid, st, 0)
  if r < 0 then return { code = -1, lost = true } end
  local s = st[0]
  local sig = s % 128
  if sig == 0 then return { code = math.floor(s / 256) % 256 } end
  return { signal = sig }
end

function M.kill(pid, sig) return C.kill(pid, sig or M.SIGTERM) == 0 end

-- Whether pid is alive and its environment holds `needle` (a trial left running by a driver
-- that was killed: resume stops it before running that trial again).
function M.runs_with(pid, needle)
  local f = io.open("/proc/" .. tostring(pid) .. "/environ", "rb")
  if not f then return false end
  local s = f:read("*a") or ""
  f:close()
  return s:find(needle, 1, true) ~= nil
end

return M
