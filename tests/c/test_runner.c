/* test_runner.c - end-to-end tests of the hubrun executable as a script runner.
 *
 * Each case runs $HUBRUN (set by ctest) as a child process with pipes on stdin, stdout and
 * stderr, waits at most 20 seconds for it, and checks its exit status and output: -e code,
 * script files with `arg` and `...`, scripts from stdin, one-line error reports naming the
 * script's line (tracebacks only with --traceback or HUB_TRACEBACK=1),
 * os.exit, finalisers at exit, --version, --help, subcommand dispatch through
 * HUB_LUA_PATH/hub/cli/NAME.lua, unknown commands and options, and -i on a pipe.
 */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define TIMEOUT_MS 20000

static const char *hubrun;

struct result {
  int status; /* exit status, or 128+signal, or -1 on timeout */
  char out[65536], err[65536];
  size_t nout, nerr;
};

static void append(char *buf, size_t *n, size_t cap, const char *data, size_t len) {
  if (*n + len >= cap) len = cap - 1 - *n;
  memcpy(buf + *n, data, len);
  *n += len;
  buf[*n] = '\0';
}

/* Runs hubrun with argv (argv[0] is replaced by $HUBRUN), `input` on stdin and `env` entries
 * ("NAME=VALUE", or "NAME" to unset) added to the environment. */
static void run(struct result *r, const char *input, const char *const *env, const char *const *argv) {
  int in[2], out[2], err[2];
  memset(r, 0, sizeof *r);
  if (pipe(in) || pipe(out) || pipe(err)) {
    perror("pipe");
    exit(1);
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    for (int i = 0; env && env[i]; i++) {
      char name[256];
      const char *eq = strchr(env[i], '=');
      if (eq) {
        snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
        setenv(name, eq + 1, 1);
      } else {
        unsetenv(env[i]);
      }
    }
    int argc = 0;
    while (argv[argc]) argc++;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    args[0] = (char *)hubrun;
    for (int i = 1; i < argc; i++) args[i] = (char *)argv[i];
    execv(hubrun, args);
    perror("execv");
    _exit(127);
  }
  close(in[0]), close(out[1]), close(err[1]);
  if (input) {
    size_t len = strlen(input), done = 0;
    while (done < len) { /* inputs are small: they fit the pipe buffer */
      ssize_t k = write(in[1], input + done, len - done);
      if (k <= 0) break;
      done += (size_t)k;
    }
  }
  close(in[1]);
  long deadline = now_ms() + TIMEOUT_MS;
  int open_out = 1, open_err = 1, timed_out = 0;
  while (open_out || open_err) {
    struct pollfd p[2] = {{open_out ? out[0] : -1, POLLIN, 0}, {open_err ? err[0] : -1, POLLIN, 0}};
    long left = deadline - now_ms();
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    if (poll(p, 2, (int)left) < 0 && errno != EINTR) break;
    char buf[4096];
    if (p[0].revents) {
      ssize_t k = read(out[0], buf, sizeof buf);
      if (k > 0) append(r->out, &r->nout, sizeof r->out, buf, (size_t)k);
      else open_out = 0;
    }
    if (p[1].revents) {
      ssize_t k = read(err[0], buf, sizeof buf);
      if (k > 0) append(r->err, &r->nerr, sizeof r->err, buf, (size_t)k);
      else open_err = 0;
    }
  }
  close(out[0]), close(err[0]);
  if (timed_out) kill(pid, SIGKILL);
  int ws;
  waitpid(pid, &ws, 0);
  r->status = timed_out ? -1 : WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void check(int ok, const struct result *r, const char *fmt, ...) {
  if (ok) {
    check_passed++;
    return;
  }
  check_failed++;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (r) fprintf(stderr, "\n  status %d\n  stdout: [%s]\n  stderr: [%s]\n", r->status, r->out, r->err);
  else fprintf(stderr, "\n");
}

#define ARGV(...) ((const char *const[]){"hubrun", __VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static char tmpdir[] = "/tmp/hubrun-test-runner-XXXXXX";

static void test_eval(void) {
  struct result r;
  run(&r, NULL, NULL, ARGV("-e", "print(1+1)"));
  check(r.status == 0 && strcmp(r.out, "2\n") == 0, &r, "-e 'print(1+1)' prints 2");

  run(&r, NULL, NULL, ARGV("-e", "x = 1", "-e", "x = x * 10", "-ex = x + 2", "-e", "print(x)"));
  check(r.status == 0 && strcmp(r.out, "12\n") == 0, &r, "-e options run in order");

  run(&r, NULL, NULL, ARGV("-e", "print(type(HUBRUN_VERSION), HUBRUN_VERSION ~= '')"));
  check(r.status == 0 && strcmp(r.out, "string\ttrue\n") == 0, &r, "HUBRUN_VERSION is set");

  run(&r, NULL, NULL, ARGV("-e", "x = = 1"));
  check(r.status == 1 && strncmp(r.err, "hubrun: ", 8) == 0 && strstr(r.err, "(command line)"), &r,
        "a syntax error in -e exits 1 with the message");

  run(&r, NULL, NULL, ARGV("-e", "error({})"));
  check(r.status == 1 && strstr(r.err, "hubrun: (error object is a table value)"), &r,
        "a non-string error object is described");

  run(&r, NULL, NULL, ARGV("-e", "error(setmetatable({}, {__tostring = function() return 'custom!' end}))"));
  check(r.status == 1 && strstr(r.err, "hubrun: custom!"), &r, "an error object's __tostring is used");

  run(&r, NULL, NULL, ARGV("-l", "string", "-e", "print(string == require 'string')"));
  check(r.status == 0 && strcmp(r.out, "true\n") == 0, &r, "-l requires a module");
}

static void test_scripts(void) {
  struct result r;
  char script[512], bad[512];
  snprintf(script, sizeof script, "%s/args.lua", tmpdir);
  write_file(script, "print(arg[1], select('#', ...), ...)\n"
                     "print(arg[0] == debug.getinfo(1, 'S').source:sub(2), #arg, arg[-1] ~= nil)\n");
  run(&r, NULL, NULL, ARGV(script, "first", "second", "third"));
  check(r.status == 0 && strcmp(r.out, "first\t3\tfirst\tsecond\tthird\ntrue\t3\ttrue\n") == 0, &r,
        "a script sees arg[0], arg[1..], arg[-1] and ...");

  run(&r, NULL, NULL, ARGV("-e", "print(arg[0] ~= nil, arg[1])", script, "x"));
  check(r.status == 0 && strncmp(r.out, "true\tx\n", 7) == 0, &r, "arg is set before -e runs");

  snprintf(bad, sizeof bad, "%s/bad.lua", tmpdir);
  write_file(bad, "local function inner() error('kaboom') end\n"
                  "print('before')\n"
                  "inner()\n"
                  "print('after')\n");
  run(&r, NULL, NULL, ARGV(bad));
  check(r.status == 1, &r, "a runtime error exits with status 1");
  check(strcmp(r.out, "before\n") == 0, &r, "output before the error is kept, none after");
  check(strncmp(r.err, "hubrun: ", 8) == 0 && strstr(r.err, "bad.lua:1: kaboom\n") &&
            !strstr(r.err, "stack traceback:") && strchr(r.err, '\n') == r.err + strlen(r.err) - 1,
        &r, "the error prints one line, 'hubrun: FILE:LINE: MESSAGE', on stderr");
  run(&r, NULL, NULL, ARGV("--traceback", bad));
  check(r.status == 1 && strstr(r.err, "bad.lua:1: kaboom") && strstr(r.err, "stack traceback:") &&
            strstr(r.err, "in function 'inner'"),
        &r, "--traceback adds the stack traceback");
  run(&r, NULL, ENV("HUB_TRACEBACK=1"), ARGV(bad));
  check(r.status == 1 && strstr(r.err, "stack traceback:") && strstr(r.err, "in function 'inner'"), &r,
        "HUB_TRACEBACK=1 adds the stack traceback");

  /* An error raised without a position (level 0, or by a C function) names the script's line. */
  write_file(bad, "local hub = require 'hub'\n"
                  "\n"
                  "hub.module('no-such-module-anywhere')\n");
  run(&r, NULL, NULL, ARGV(bad));
  check(r.status == 1 && strstr(r.err, "bad.lua:3: module 'no-such-module-anywhere'"), &r,
        "a message without a position gets the script's line");
  run(&r, NULL, NULL, ARGV("-e", "local hub = require 'hub'\nlocal x = hub.zeros{2, 3}\nprint(x:sum(5))"));
  check(r.status == 1 && strstr(r.err, "hubrun: (command line):3: sum: dimension 5 out of range") &&
            !strstr(r.err, "core.lua"),
        &r, "a library error names the user's line, not the library's");

  run(&r, NULL, NULL, ARGV("/nonexistent/dir/missing.lua"));
  check(r.status == 1 && strstr(r.err, "hubrun: cannot open /nonexistent/dir/missing.lua"), &r,
        "a missing script file is reported");

  run(&r, "print('from stdin', ...)\n", NULL, ARGV("-", "a", "b"));
  check(r.status == 0 && strcmp(r.out, "from stdin\ta\tb\n") == 0, &r, "'-' runs stdin with arguments");

  run(&r, "print(6 * 7)\n", NULL, (const char *const[]){"hubrun", NULL});
  check(r.status == 0 && strcmp(r.out, "42\n") == 0, &r, "no arguments and a non-tty stdin runs stdin");

  run(&r, "print('not read')\n", NULL, ARGV("-e", "print(1)"));
  check(r.status == 0 && strcmp(r.out, "1\n") == 0, &r, "with -e, stdin is not run");
}

static void test_exit(void) {
  struct result r;
  run(&r, NULL, NULL, ARGV("-e", "io.write('x'); os.exit(3)"));
  check(r.status == 3 && strcmp(r.out, "x") == 0, &r, "os.exit(3) exits 3 and flushes output");
  run(&r, NULL, NULL, ARGV("-e", "os.exit(false)"));
  check(r.status == 1, &r, "os.exit(false) exits 1");
  run(&r, NULL, NULL, ARGV("-e", "os.exit(true)"));
  check(r.status == 0, &r, "os.exit(true) exits 0");

  /* Finalisers must run at exit: the state is closed both on a normal end and on os.exit. */
  const char *fin = "local ffi = require 'ffi'\n"
                    "keep = ffi.gc(ffi.new('int[1]'), function() io.stdout:write('finalised\\n') end)\n";
  run(&r, NULL, NULL, ARGV("-e", fin));
  check(r.status == 0 && strcmp(r.out, "finalised\n") == 0, &r, "ffi.gc finalisers run at a normal end");
  char code[512];
  snprintf(code, sizeof code, "%sos.exit(4)", fin);
  run(&r, NULL, NULL, ARGV("-e", code));
  check(r.status == 4 && strcmp(r.out, "finalised\n") == 0, &r, "ffi.gc finalisers run on os.exit");
}

static void test_info(void) {
  struct result r;
  run(&r, NULL, NULL, ARGV("--version"));
  check(r.status == 0 && strncmp(r.out, "hubrun ", 7) == 0 && strstr(r.out, "(LuaJIT ") &&
            strstr(r.out, "oneDNN ") && strchr(r.out, '\n') == r.out + r.nout - 1,
        &r, "--version prints one line with the hubrun, LuaJIT and oneDNN versions");

  run(&r, NULL, NULL, ARGV("--help"));
  check(r.status == 0 && strstr(r.out, "usage: hubrun") && strstr(r.out, "-e CODE") &&
            strstr(r.out, "-i ") && strstr(r.out, "--version") && strstr(r.out, "COMMAND"),
        &r, "--help prints the usage");

  run(&r, NULL, NULL, ARGV("-Z"));
  check(r.status == 1 && strstr(r.err, "hubrun: unrecognized option '-Z'"), &r, "an unknown option exits 1");

  run(&r, NULL, NULL, ARGV("-e"));
  check(r.status == 1 && strstr(r.err, "needs an argument"), &r, "-e without code exits 1");
}

static void test_commands(void) {
  struct result r;
  char dir[512], path[600], envvar[600];
  snprintf(dir, sizeof dir, "%s/lua/hub/cli", tmpdir);
  snprintf(path, sizeof path, "%s/lua", tmpdir);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/lua/hub", tmpdir);
  mkdir(path, 0700);
  mkdir(dir, 0700);
  snprintf(path, sizeof path, "%s/h3probe.lua", dir);
  write_file(path, "local M = {}\n"
                   "function M.main(args)\n"
                   "  print('probe', #args, args[1], args[2], arg[0])\n"
                   "  if args[1] == 'fail' then error('probe failed') end\n"
                   "  return tonumber(args[2])\n"
                   "end\n"
                   "return M\n");
  snprintf(path, sizeof path, "%s/nomain.lua", dir);
  write_file(path, "return {}\n");
  snprintf(envvar, sizeof envvar, "HUB_LUA_PATH=/nonexistent;%s/lua", tmpdir);

  run(&r, NULL, ENV(envvar), ARGV("h3probe", "a", "5"));
  check(r.status == 5 && strcmp(r.out, "probe\t2\ta\t5\th3probe\n") == 0, &r,
        "a subcommand runs main(args) and its number is the exit status");

  run(&r, NULL, ENV(envvar), ARGV("h3probe", "fail"));
  check(r.status == 1 && strstr(r.err, "hubrun: ") && strstr(r.err, "probe failed"), &r,
        "a failing subcommand exits 1 with its message");

  run(&r, NULL, ENV(envvar), ARGV("nomain"));
  check(r.status == 1 && strstr(r.err, "no main function"), &r, "a command module without main is reported");

  run(&r, NULL, ENV(envvar), ARGV("-e", "print(package.path:sub(1, #'/nonexistent/?.lua'))"));
  check(r.status == 0 && strcmp(r.out, "/nonexistent/?.lua\n") == 0, &r, "HUB_LUA_PATH comes first in package.path");

  run(&r, NULL, ENV(envvar), ARGV("--help"));
  check(r.status == 0 && strstr(r.out, "h3probe") && strstr(r.out, "nomain"), &r, "--help lists the subcommands found");

  run(&r, NULL, ENV(envvar), ARGV("no-such-command-xyz", "arg"));
  check(r.status == 1 && strstr(r.err, "hubrun: no such file or command: no-such-command-xyz\n"), &r,
        "an unknown command exits 1 with 'no such file or command'");
}

static void test_interactive_pipe(void) {
  struct result r;
  run(&r, "1+2\nerror('boom')\nt = {\n1, 2}\n#t, 'ok'\n", NULL, ARGV("-i"));
  check(r.status == 0 && strstr(r.out, "> 3\n") && strstr(r.out, ">> ") && strstr(r.out, "2\tok\n"), &r,
        "-i reads REPL lines from a pipe, with prompts");
  check(strstr(r.err, "error: ") && strstr(r.err, "boom"), &r, "REPL errors print 'error: MESSAGE'");

  run(&r, "print(seen)\n", NULL, ARGV("-e", "seen = 'yes'", "-i"));
  check(r.status == 0 && strstr(r.out, "yes\n"), &r, "-e then -i keeps the state");
}

int main(void) {
  hubrun = getenv("HUBRUN");
  if (!hubrun || !*hubrun) {
    fprintf(stderr, "test_runner: set HUBRUN to the hubrun executable (ctest does)\n");
    return 1;
  }
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_eval();
  test_scripts();
  test_exit();
  test_info();
  test_commands();
  test_interactive_pipe();

  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "test_runner: could not remove %s\n", tmpdir);
  printf("test_runner: %d of %d checks passed\n", check_passed, check_passed + check_failed);
  return check_failed ? 1 : 0;
}
