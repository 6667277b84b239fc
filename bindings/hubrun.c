/* hubrun.c - the hubrun executable: a LuaJIT interpreter that finds the hub Lua library,
 * runs scripts, and dispatches subcommands written in Lua.
 *
 * main() opens one runtime with hub_runtime_open (runtime.c, the embedding API: a lua_State
 * whose package.path finds `require "hub"` in $HUB_LUA_PATH, then the build tree, the source
 * tree and the install prefix), sets the global `arg` exactly as the luajit executable does,
 * and then acts on the command line:
 *
 *   hubrun SCRIPT.lua ARGS...   run a file (ARGS also arrive as `...`)
 *   hubrun NAME ARGS...         run require("hub.cli.NAME").main(ARGS) when lua/hub/cli/NAME.lua
 *                               exists on the path: every subcommand is a Lua file
 *   hubrun -e CODE / -l MOD     run a string / require a module into a global (repeatable)
 *   hubrun -i / hubrun / -      REPL (repl.c) / REPL on a terminal, else stdin / stdin as a script
 *
 * Errors print one line, "hubrun: FILE:LINE: MESSAGE" (the line of the user's code), on stderr
 * and exit with status 1; `--traceback` or HUB_TRACEBACK=1 adds the stack traceback.  Whatever
 * way the program ends, os.exit included, the state is closed first (lua_close) so that ffi.gc
 * finalisers run and release their C memory; AddressSanitizer's leak check relies on that.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>
#include <oneapi/dnnl/dnnl.h>

#include "hub_runtime.h"
#include "repl.h"

#ifndef HUB_VERSION_STRING
#define HUB_VERSION_STRING "0.0.0"
#endif

#define PROGNAME "hubrun"

/* ---- messages -------------------------------------------------------------------------------- */

static void print_version(void) {
  const dnnl_version_t *v = dnnl_version();
  printf("%s %s (%s, oneDNN %d.%d.%d)\n", PROGNAME, HUB_VERSION_STRING, LUAJIT_VERSION,
         v->major, v->minor, v->patch);
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints the subcommands found as hub/cli/NAME.lua under the directories of package.path
 * (each "DIR/?.lua" entry), if any. */
static void print_commands(lua_State *L) {
  char *names[128];
  int n = 0;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char *path = lua_tostring(L, -1);
  for (const char *p = path ? path : ""; *p;) {
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *entry = p;
    p += len;
    if (*p == ';') p++;
    if (len < 6 || strncmp(entry + len - 6, "/?.lua", 6) != 0) continue;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s/hub/cli", (int)(len - 6), entry);
    DIR *d = opendir(dir);
    if (!d) continue;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 128) {
      size_t nlen = strlen(e->d_name);
      if (nlen <= 4 || e->d_name[0] == '.' || strcmp(e->d_name + nlen - 4, ".lua") != 0) continue;
      char *name = strndup(e->d_name, nlen - 4);
      int dup = 0;
      for (int k = 0; name && k < n; k++) dup |= strcmp(names[k], name) == 0;
      if (name && !dup) names[n++] = name;
      else free(name);
    }
    closedir(d);
  }
  lua_pop(L, 2);
  if (n == 0) return;
  qsort(names, (size_t)n, sizeof names[0], name_cmp);
  printf("\nCommands (lua/hub/cli/NAME.lua):\n ");
  for (int k = 0; k < n; k++) {
    printf(" %s", names[k]);
    free(names[k]);
  }
  printf("\n");
}

static void print_usage(lua_State *L) {
  printf("usage: %s [options] [SCRIPT.lua [ARGS...]]\n"
         "       %s COMMAND [ARGS...]\n"
         "\n"
         "Runs Lua scripts on LuaJIT with the hub library on the module path.\n"
         "\n"
         "  SCRIPT.lua ARGS...  run a script; arg[0] is the script, arg[1..] and ... are ARGS\n"
         "  -                   run the script read from stdin\n"
         "  COMMAND ARGS...     run the subcommand in lua/hub/cli/COMMAND.lua, that is\n"
         "                      require(\"hub.cli.COMMAND\").main(ARGS); a name ending in .lua or\n"
         "                      containing '/' is always a script\n"
         "  -e CODE             run the Lua string CODE (may repeat; runs in order)\n"
         "  -l MODULE           require MODULE (into the global of that name when it has no dot)\n"
         "  -i                  enter the REPL after the script or -e code\n"
         "  --traceback         print a stack traceback with errors (also HUB_TRACEBACK=1)\n"
         "  --                  stop handling options\n"
         "  -v, --version       print the versions of hubrun, LuaJIT and oneDNN\n"
         "  -h, --help          print this text\n"
         "\n"
         "With no script and no -e, %s starts the REPL when stdin is a terminal and otherwise\n"
         "runs stdin as a script.  The REPL prints the value of expressions, continues incomplete\n"
         "chunks on a \">> \" prompt, keeps history in $HUB_HOME/history or ~/.hubrun_history,\n"
         "clears the line on Ctrl-C and exits on Ctrl-D.\n"
         "\n"
         "Environment: HUB_LUA_PATH, a ';'-separated list of directories searched for Lua\n"
         "modules before the built-in ones.\n",
         PROGNAME, PROGNAME, PROGNAME);
  if (L) print_commands(L);
}

static void error_line(const char *msg) {
  fflush(stdout);
  fprintf(stderr, "%s: %s\n", PROGNAME, msg);
  fflush(stderr);
}

/* Prints the error string on top of the stack (left there by hubrun_pcall) and pops it.
 * Returns the exit status for a Lua status: 0 or 1. */
static int report(lua_State *L, int status) {
  if (status != 0) {
    const char *msg = lua_tostring(L, -1);
    error_line(msg ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
  return status != 0;
}

/* ---- protected calls and Ctrl-C ----------------------------------------------------------- */

static lua_State *volatile running_L;

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* Asks the running code to stop at its next call, return or instruction count; LuaJIT allows
 * lua_sethook from a signal handler.  Code compiled by the JIT does not check hooks, so a
 * second Ctrl-C gets the default action and ends the process. */
static void on_sigint_running(int sig) {
  signal(sig, SIG_DFL);
  if (running_L) lua_sethook(running_L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* Turns the error value at index 1 into a message: strings and numbers as they are, objects
 * with __tostring through it, anything else by its type. */
static const char *error_message(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg) return msg;
  if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return lua_tostring(L, -1);
  return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
}

/* Tracebacks are printed only when asked for: hubrun --traceback or HUB_TRACEBACK=1. */
static int want_traceback = -1;

static int traceback_wanted(void) {
  if (want_traceback < 0) {
    const char *e = getenv("HUB_TRACEBACK");
    want_traceback = e && *e && strcmp(e, "0") != 0;
  }
  return want_traceback;
}

/* Names the user's line in a message that does not already start with it.  The user's code is
 * the chunk the protected call started (the outermost Lua frame: the script, the -e string,
 * the REPL's typed chunk); its innermost frame on the stack is the line that was running.  A
 * message raised with level 0, by a C function, or at a position inside the library gets
 * "FILE:LINE: " of that frame in front ("script.lua:7: module 'x' is not installed"). */
static const char *with_user_line(lua_State *L, const char *msg) {
  lua_Debug ar;
  char user_src[LUA_IDSIZE] = "";
  int top_level = 0;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (lua_getinfo(L, "S", &ar) && (strcmp(ar.what, "main") == 0 || strcmp(ar.what, "Lua") == 0)) {
      snprintf(user_src, sizeof user_src, "%s", ar.short_src);
      top_level = level;
    }
  }
  if (!top_level) return msg;
  size_t n = strlen(user_src);
  if (strncmp(msg, user_src, n) == 0 && msg[n] == ':') return msg; /* already the user's line */
  for (int level = 1; level <= top_level && lua_getstack(L, level, &ar); level++) {
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && strcmp(ar.short_src, user_src) == 0) {
      return lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
    }
  }
  return msg;
}

/* The message handler: the message with the user's line; the traceback only when asked for. */
static int handler(lua_State *L) {
  const char *msg = error_message(L);
  if (lua_type(L, 1) == LUA_TSTRING) msg = with_user_line(L, msg);
  if (traceback_wanted()) luaL_traceback(L, L, msg, 1);
  else lua_pushstring(L, msg);
  return 1;
}

int hubrun_pcall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, handler);
  lua_insert(L, base);

  struct sigaction old, sa;
  int catch_int = sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN;
  if (catch_int) {
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint_running;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    running_L = L;
    sigaction(SIGINT, &sa, NULL);
  }
  int status = lua_pcall(L, narg, nres, base);
  if (catch_int) {
    sigaction(SIGINT, &old, NULL);
    running_L = NULL;
    if (lua_gethook(L) == interrupt_hook) lua_sethook(L, NULL, 0, 0); /* came too late to matter */
  }
  lua_remove(L, base);
  return status;
}

/* ---- os.exit that closes the state first -------------------------------------------------- */

static hub_runtime *main_rt;

/* Like LuaJIT's os.exit([code]) (true/false/number), but always closes the state so that
 * finalisers run; the second argument (`close`) is accepted and ignored. */
static int os_exit_closing(lua_State *L) {
  int status;
  if (lua_isboolean(L, 1)) status = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
  else status = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
  hub_runtime *rt = main_rt;
  main_rt = NULL; /* a finaliser calling os.exit during the close just exits */
  fflush(stdout);
  if (rt) hub_runtime_close(rt);
  exit(status);
  return 0;
}

/* ---- running code --------------------------------------------------------------------------- */

/* The global `arg`, as luajit makes it: argv[script] at 0, its arguments at 1.., the
 * interpreter and its options at negative indices (all negative when there is no script). */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script, script);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int run_string(lua_State *L, const char *code) {
  int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
  if (status == 0) status = hubrun_pcall(L, 0, 0);
  return report(L, status);
}

static int run_library(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  int status = hubrun_pcall(L, 1, 1);
  if (status == 0 && !strchr(name, '.')) lua_setglobal(L, name);
  else if (status == 0) lua_pop(L, 1);
  return report(L, status);
}

/* Runs argv[script] (NULL name: stdin) with argv[script+1..] as its `...`. */
static int run_script(lua_State *L, const char *fname, char **args, int nargs) {
  int status = luaL_loadfile(L, fname);
  if (status == 0) {
    luaL_checkstack(L, nargs, "too many arguments to script");
    for (int i = 0; i < nargs; i++) lua_pushstring(L, args[i]);
    status = hubrun_pcall(L, nargs, 0);
  }
  return report(L, status);
}

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A subcommand name: letters, digits, '_' and '-', starting with a letter or digit. */
static int is_command_name(const char *s) {
  if (!(s[0] >= 'a' && s[0] <= 'z') && !(s[0] >= 'A' && s[0] <= 'Z') && !(s[0] >= '0' && s[0] <= '9'))
    return 0;
  for (const char *p = s; *p; p++) {
    int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '_' || *p == '-';
    if (!ok) return 0;
  }
  return 1;
}

/* Whether package.searchpath finds hub.cli.NAME on package.path. */
static int command_exists(lua_State *L, const char *name) {
  int top = lua_gettop(L);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchpath");
  int found = 0;
  if (lua_isfunction(L, -1)) {
    lua_pushfstring(L, "hub.cli.%s", name);
    lua_getfield(L, -3, "path");
    found = lua_pcall(L, 2, 1, 0) == 0 && lua_isstring(L, -1);
  }
  lua_settop(L, top);
  return found;
}

/* Runs require("hub.cli." .. name).main(args).  main's result is the exit status: nothing or
 * true is 0, false is 1, a number is itself. */
static int command_main(lua_State *L) {
  const char *name = lua_tostring(L, 1);
  lua_getglobal(L, "require");
  lua_pushfstring(L, "hub.cli.%s", name);
  lua_call(L, 1, 1);
  if (lua_istable(L, -1)) lua_getfield(L, -1, "main");
  else lua_pushnil(L);
  if (!lua_isfunction(L, -1)) return luaL_error(L, "command '%s': module hub.cli.%s has no main function", name, name);
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  return 1;
}

static int run_command(lua_State *L, const char *name, char **args, int nargs) {
  lua_pushcfunction(L, command_main);
  lua_pushstring(L, name);
  lua_createtable(L, nargs, 0);
  for (int i = 0; i < nargs; i++) {
    lua_pushstring(L, args[i]);
    lua_rawseti(L, -2, i + 1);
  }
  int status = hubrun_pcall(L, 2, 1);
  if (status != 0) return report(L, status);
  int code = 0;
  if (lua_isnumber(L, -1)) code = (int)lua_tointeger(L, -1);
  else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) code = 1;
  lua_pop(L, 1);
  return code;
}

/* ---- command line ----------------------------------------------------------------------------- */

struct options {
  int argc;
  char **argv;
  int script;      /* index of the script or command name in argv; argc when there is none */
  int interactive; /* -i */
  int has_code;    /* some -e or -l was given */
  int status;      /* exit status, set by pmain */
};

static int usage_error(const char *fmt, const char *what) {
  fflush(stdout);
  fprintf(stderr, "%s: ", PROGNAME);
  fprintf(stderr, fmt, what);
  fprintf(stderr, "\nTry '%s --help' for more information.\n", PROGNAME);
  return 1;
}

/* Scans the options before the script.  Returns -1 to go on, else an exit status. */
static int parse_options(struct options *o) {
  int i;
  o->script = o->argc;
  for (i = 1; i < o->argc; i++) {
    const char *a = o->argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      hub_runtime *rt = hub_runtime_open(NULL);
      print_usage(hub_runtime_lua(rt));
      hub_runtime_close(rt);
      return 0;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
      print_version();
      return 0;
    }
    if (strcmp(a, "-i") == 0) {
      o->interactive = 1;
    } else if (strcmp(a, "--traceback") == 0) {
      want_traceback = 1;
    } else if (strncmp(a, "-e", 2) == 0 || strncmp(a, "-l", 2) == 0) {
      if (a[2] == '\0' && ++i >= o->argc) return usage_error("option '%s' needs an argument", a);
      o->has_code = 1;
    } else {
      return usage_error("unrecognized option '%s'", a);
    }
  }
  o->script = i;
  return -1;
}

/* Runs the -e and -l options in their order. */
static int run_options(lua_State *L, struct options *o) {
  for (int i = 1; i < o->script; i++) {
    const char *a = o->argv[i];
    int is_e = strncmp(a, "-e", 2) == 0, is_l = strncmp(a, "-l", 2) == 0;
    if (!is_e && !is_l) continue;
    const char *val = a[2] ? a + 2 : o->argv[++i];
    int status = is_e ? run_string(L, val) : run_library(L, val);
    if (status != 0) return status;
  }
  return 0;
}

/* Runs what follows the options: a script, a subcommand, stdin, or nothing. */
static int run_main(lua_State *L, struct options *o) {
  if (o->script >= o->argc) {
    if (o->has_code || o->interactive || isatty(STDIN_FILENO)) return 0;
    return run_script(L, NULL, NULL, 0); /* `hubrun < file` */
  }
  const char *name = o->argv[o->script];
  char **args = o->argv + o->script + 1;
  int nargs = o->argc - o->script - 1;
  int dashdash = o->script > 1 && strcmp(o->argv[o->script - 1], "--") == 0;
  if (strcmp(name, "-") == 0) return run_script(L, NULL, args, nargs);
  if (!dashdash && !has_suffix(name, ".lua") && is_command_name(name)) {
    if (command_exists(L, name)) return run_command(L, name, args, nargs);
    if (access(name, F_OK) != 0) {
      char msg[512];
      snprintf(msg, sizeof msg, "no such file or command: %s", name);
      error_line(msg);
      return 1;
    }
  }
  return run_script(L, name, args, nargs);
}

/* The state comes from hub_runtime_open (libraries, package.path, HUBRUN_VERSION); hubrun
 * adds its own os.exit and the luajit-style `arg`. */
static int pmain(lua_State *L) {
  struct options *o = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_getglobal(L, "os");
  lua_pushcfunction(L, os_exit_closing);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  create_arg_table(L, o->argv, o->argc, o->script);

  /* Statuses are exit codes from here on.  With -i the REPL runs even after an error, which
   * is then inspectable; the exit status still reports the error. */
  int status = run_options(L, o);
  if (status == 0) status = run_main(L, o);
  int no_work = o->script >= o->argc && !o->has_code;
  if (o->interactive || (no_work && isatty(STDIN_FILENO))) hubrun_repl(L, isatty(STDIN_FILENO));
  o->status = status;
  return 0;
}

int main(int argc, char **argv) {
  struct options o = {.argc = argc, .argv = argv};
  if (argc < 1 || !argv[0]) {
    static char *fallback[] = {PROGNAME, NULL};
    o.argc = 1;
    o.argv = fallback;
  }
  int early = parse_options(&o);
  if (early >= 0) return early;

  hub_runtime *rt = hub_runtime_open(NULL);
  if (!rt) {
    error_line(hub_last_error());
    return 1;
  }
  main_rt = rt;
  lua_State *L = hub_runtime_lua(rt);
  int status = lua_cpcall(L, pmain, &o);
  if (status != 0) {
    report(L, status);
    o.status = 1;
  }
  main_rt = NULL;
  fflush(stdout);
  hub_runtime_close(rt);
  return o.status;
}
