/* repl.c - hubrun's interactive read-eval-print loop.
 *
 * Each line read is appended to a pending chunk, which is then compiled twice: first as
 * "return " .. chunk, so that an expression prints its values, then as written.  If either
 * compile stops at the end of the input (LuaJIT's message ends in '<eof>') the chunk is
 * incomplete and the next line is read on the ">> " prompt; otherwise the chunk runs, or its
 * syntax error is printed, and the pending chunk is cleared.
 *
 * Results go through a small Lua printer: each value is formatted by `hub.repl_format` when the
 * hub library provides it (tensors print their shape and values), else by tostring, and the
 * values of one chunk are joined with tabs.  Errors print as "error: MESSAGE" and the loop goes
 * on.  Chunks run through hubrun_pcall, so Ctrl-C stops running code; at the prompt Ctrl-C
 * only abandons the line and the pending chunk.
 *
 * On a terminal, lines come from libedit's readline() (history kept in $HUB_HOME/history or
 * ~/.hubrun_history, tab completion of global names and table fields such as `hub.ze<TAB>`).
 * On a pipe (hubrun -i < file) lines come from getline() and the prompts are still printed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>
#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>

#include "repl.h"

#ifndef HUB_VERSION_STRING
#define HUB_VERSION_STRING "0.0.0"
#endif

#define PROMPT "> "
#define PROMPT_MORE ">> "
#define HISTORY_MAX 1000

/* ---- the Lua side: result printer and completer --------------------------------------------- */

static const char printer_src[] =
    "local select, tostring, type, concat = select, tostring, type, table.concat\n"
    "return function(...)\n"
    "  local fmt = tostring\n"
    "  local hub = hub\n"
    "  if type(hub) == 'table' and type(hub.repl_format) == 'function' then\n"
    "    fmt = hub.repl_format\n"
    "  end\n"
    "  local out = {}\n"
    "  for i = 1, select('#', ...) do\n"
    "    local s = fmt((select(i, ...)))\n"
    "    out[i] = type(s) == 'string' and s or tostring(s)\n"
    "  end\n"
    "  return concat(out, '\\t')\n"
    "end\n";

/* completer(word) -> sorted list of completions of `word`, a dotted name such as "hub.ze" or
 * "x:si"; fields are found through __index tables (and, for FFI objects such as tensors, in
 * hub.methods); the only Lua code run is __index metamethods along the dotted path. */
static const char completer_src[] =
    "local keywords = { 'and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for',\n"
    "  'function', 'goto', 'if', 'in', 'local', 'nil', 'not', 'or', 'repeat', 'return',\n"
    "  'then', 'true', 'until', 'while' }\n"
    "local getmetatable, rawget, next, type, pcall = debug.getmetatable, rawget, next, type, pcall\n"
    "return function(word)\n"
    "  local head, sep, part = word:match('^([%w_.]-)([.:])([%w_]*)$')\n"
    "  local obj = _G\n"
    "  if head then\n"
    "    for name in head:gmatch('[^.]+') do\n"
    "      local ok, v = pcall(function() return obj[name] end)\n"
    "      if not ok or v == nil then return {} end\n"
    "      obj = v\n"
    "    end\n"
    "  elseif word:match('^[%w_]*$') then\n"
    "    head, sep, part = '', '', word\n"
    "  else\n"
    "    return {}\n"
    "  end\n"
    "  local out, seen = {}, {}\n"
    "  local function add(k)\n"
    "    if type(k) == 'string' and not seen[k] and k:sub(1, #part) == part\n"
    "       and k:match('^[%a_][%w_]*$') then\n"
    "      seen[k] = true\n"
    "      out[#out + 1] = head .. sep .. k\n"
    "    end\n"
    "  end\n"
    "  local t = obj\n"
    "  if type(obj) == 'cdata' then -- FFI objects hide their __index; tensors list hub.methods\n"
    "    local h = rawget(_G, 'hub')\n"
    "    t = type(h) == 'table' and rawget(h, 'methods') or nil\n"
    "    local is = type(h) == 'table' and rawget(h, 'is_tensor')\n"
    "    if type(is) == 'function' and not is(obj) then t = nil end\n"
    "  end\n"
    "  for _ = 1, 8 do\n"
    "    if type(t) == 'table' then for k in next, t do add(k) end end\n"
    "    local mt = getmetatable(t)\n"
    "    t = type(mt) == 'table' and rawget(mt, '__index') or nil\n"
    "    if type(t) ~= 'table' then break end\n"
    "  end\n"
    "  if sep == '' then for _, k in ipairs(keywords) do add(k) end end\n"
    "  table.sort(out)\n"
    "  return out\n"
    "end\n";

static lua_State *repl_L;
static int printer_ref = LUA_NOREF, completer_ref = LUA_NOREF;

static int make_function(lua_State *L, const char *src, const char *name) {
  if (luaL_loadbuffer(L, src, strlen(src), name) != 0 || lua_pcall(L, 0, 1, 0) != 0) {
    lua_pop(L, 1);
    return LUA_NOREF;
  }
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* ---- output ------------------------------------------------------------------------------- */

static void print_error(const char *msg) {
  fflush(stdout);
  fprintf(stderr, "error: %s\n", msg ? msg : "(no message)");
  fflush(stderr);
}

/* Prints the `n` values on top of the stack and pops them. */
static void print_results(lua_State *L, int n) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, printer_ref);
  lua_insert(L, -n - 1);
  if (hubrun_pcall(L, n, 1) != 0) {
    print_error(lua_tostring(L, -1));
  } else {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (s) fwrite(s, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
  }
  lua_pop(L, 1);
}

/* ---- Ctrl-C at the prompt ------------------------------------------------------------------- */

static volatile sig_atomic_t prompt_interrupted;

/* A Ctrl-C that lands after the prompt is printed but before readline() blocks in read()
 * interrupts nothing; the alarm then interrupts that read a second later. */
static void on_sigint_prompt(int sig) {
  (void)sig;
  prompt_interrupted = 1;
  alarm(1);
}

static void on_sigalrm_prompt(int sig) { (void)sig; }

struct saved_signals {
  struct sigaction sigint, sigalrm;
  int active;
};

/* Without SA_RESTART the read under readline()/getline() fails with EINTR, so they return. */
static void catch_prompt_signals(struct saved_signals *old) {
  old->active = sigaction(SIGINT, NULL, &old->sigint) == 0 && old->sigint.sa_handler != SIG_IGN;
  if (!old->active) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_sigalrm_prompt;
  sigaction(SIGALRM, &sa, &old->sigalrm);
  sa.sa_handler = on_sigint_prompt;
  sigaction(SIGINT, &sa, NULL);
}

static void restore_signals(struct saved_signals *old) {
  if (!old->active) return;
  sigaction(SIGINT, &old->sigint, NULL);
  if (prompt_interrupted) alarm(0);
  sigaction(SIGALRM, &old->sigalrm, NULL);
}

/* ---- history ------------------------------------------------------------------------------------ */

static char *history_path;

/* $HUB_HOME/history, else ~/.hubrun_history, else nothing (no file is created anywhere). */
static char *find_history_path(void) {
  const char *dir = getenv("HUB_HOME"), *file = "history";
  if (!dir || !*dir) {
    dir = getenv("HOME");
    file = ".hubrun_history";
  }
  if (!dir || !*dir) return NULL;
  size_t n = strlen(dir) + strlen(file) + 2;
  char *path = malloc(n);
  if (path) snprintf(path, n, "%s/%s", dir, file);
  return path;
}

/* Written after every line, so that nothing typed is lost when the process is killed (a
 * second Ctrl-C while code runs, a crash in native code). */
static void sync_history(void) {
  if (history_path && write_history(history_path) == 0) chmod(history_path, 0600); /* lines may hold secrets */
}

static void save_history(void) {
  if (!history_path) return;
  sync_history();
  free(history_path);
  history_path = NULL;
}

/* ---- completion ------------------------------------------------------------------------------ */

static char **completions;
static size_t n_completions, next_completion;

static void free_completions(void) {
  for (size_t i = next_completion; i < n_completions; i++) free(completions[i]);
  free(completions);
  completions = NULL;
  n_completions = next_completion = 0;
}

/* readline's generator protocol: state 0 starts a new list, then one strdup'ed match per call. */
static char *completion_generator(const char *text, int state) {
  lua_State *L = repl_L;
  if (state == 0) {
    free_completions();
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, completer_ref);
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 1, 0) == 0 && lua_istable(L, -1)) {
      size_t n = lua_objlen(L, -1);
      completions = calloc(n ? n : 1, sizeof *completions);
      for (size_t i = 0; completions && i < n; i++) {
        lua_rawgeti(L, -1, (int)i + 1);
        const char *s = lua_tostring(L, -1);
        if (s && (completions[n_completions] = strdup(s)) != NULL) n_completions++;
        lua_pop(L, 1);
      }
    }
    lua_settop(L, top);
  }
  if (next_completion < n_completions) return completions[next_completion++];
  free_completions();
  return NULL;
}

static char **complete(const char *text, int start, int end) {
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1; /* never fall back to file names */
  if (completer_ref == LUA_NOREF) return NULL;
  return rl_completion_matches(text, completion_generator);
}

static void setup_editline(void) {
  /* libedit decodes input with mbrtowc: without a UTF-8 LC_CTYPE it drops non-ASCII bytes. */
  const char *loc = setlocale(LC_CTYPE, "");
  if (!loc || strcmp(loc, "C") == 0 || strcmp(loc, "POSIX") == 0) setlocale(LC_CTYPE, "C.UTF-8");
  rl_readline_name = "hubrun"; /* selects "hubrun:" lines in ~/.editrc */
  rl_catch_signals = 0;        /* our SIGINT handler, not libedit's (which re-raises it) */
  rl_attempted_completion_function = complete;
  rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(}[],+-*/%^~#";
  rl_completion_append_character = '\0';
  using_history();
  stifle_history(HISTORY_MAX);
  history_path = find_history_path();
  if (history_path) read_history(history_path);
  atexit(save_history); /* also covers os.exit */
}

/* ---- line reading --------------------------------------------------------------------------- */

/* Reads one line without its newline (malloc'ed), or NULL at end of input; *interrupted says
 * whether a Ctrl-C ended the read instead. */
static char *read_line(int editline, const char *prompt, int *interrupted) {
  struct saved_signals old;
  char *line = NULL;
  prompt_interrupted = 0;
  catch_prompt_signals(&old);
  if (editline) {
    line = readline(prompt);
  } else {
    size_t cap = 0;
    fputs(prompt, stdout);
    fflush(stdout);
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
      free(line);
      line = NULL;
      clearerr(stdin);
    } else if (n > 0 && line[n - 1] == '\n') {
      line[n - 1] = '\0';
    }
  }
  restore_signals(&old);
  *interrupted = prompt_interrupted && !line;
  return line;
}

/* ---- chunks --------------------------------------------------------------------------------- */

struct chunk {
  char *text;
  size_t len, cap;
};

static int chunk_append(struct chunk *c, const char *line) {
  size_t n = strlen(line), need = c->len + n + 2;
  if (need > c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(c->text, cap);
    if (!p) return -1;
    c->text = p;
    c->cap = cap;
  }
  if (c->len) c->text[c->len++] = '\n';
  memcpy(c->text + c->len, line, n + 1);
  c->len += n;
  return 0;
}

/* A syntax error is an incomplete chunk when the parser ran into the end of the input. */
static int incomplete(lua_State *L, int status) {
  size_t len;
  const char *msg = status == LUA_ERRSYNTAX ? lua_tolstring(L, -1, &len) : NULL;
  static const char eof[] = "'<eof>'";
  return msg && len >= sizeof eof - 1 && strcmp(msg + len - (sizeof eof - 1), eof) == 0;
}

enum { COMPILED, INCOMPLETE, SYNTAX_ERROR };

/* Typed code runs in LuaJIT's interpreter: code compiled by the JIT never checks hooks, so a
 * tight loop such as `while true do end` could not be stopped by Ctrl-C (the SIGINT handler
 * sets a hook).  Turning the JIT off for the chunk and every function defined in it keeps
 * them interruptible; library code they call stays compiled. */
static int compile_no_jit(lua_State *L, const struct chunk *c);

static int compile(lua_State *L, const struct chunk *c) {
  int r = compile_no_jit(L, c);
  if (r == COMPILED) luaJIT_setmode(L, -1, LUAJIT_MODE_ALLFUNC | LUAJIT_MODE_OFF);
  return r;
}

/* Compiles the chunk, preferring its reading as an expression list.  Leaves the function (or
 * for SYNTAX_ERROR, the message) on the stack; leaves nothing for INCOMPLETE. */
static int compile_no_jit(lua_State *L, const struct chunk *c) {
  const char *text = c->text;
  size_t len = c->len;
  if (text[0] == '=') { /* Lua 5.1's "=expr" */
    text++;
    len--;
  }
  lua_pushliteral(L, "return ");
  lua_pushlstring(L, text, len);
  lua_concat(L, 2);
  size_t rlen;
  const char *rtext = lua_tolstring(L, -1, &rlen);
  int status = luaL_loadbuffer(L, rtext, rlen, "=stdin");
  lua_remove(L, -2);
  if (status == 0) {
    /* "return f()" is a tail call, which would hide the chunk from `error`'s position
     * ("stdin:1:"); passing the values through an identity function keeps the frame. */
    lua_pushliteral(L, "return (function(...) return ... end)(");
    lua_pushlstring(L, text, len);
    lua_pushliteral(L, "\n)");
    lua_concat(L, 3);
    rtext = lua_tolstring(L, -1, &rlen);
    if (luaL_loadbuffer(L, rtext, rlen, "=stdin") == 0) lua_replace(L, -3);
    else lua_pop(L, 1);
    lua_pop(L, 1);
    return COMPILED;
  }
  int more = incomplete(L, status);
  lua_pop(L, 1);
  status = luaL_loadbuffer(L, text, len, "=stdin");
  if (status == 0) return COMPILED;
  if (more || incomplete(L, status)) {
    lua_pop(L, 1);
    return INCOMPLETE;
  }
  return SYNTAX_ERROR;
}

/* Errors print as one line; "stdin:1: " says nothing for a one-line chunk and is dropped. */
static void print_chunk_error(const char *msg, const struct chunk *c) {
  static const char pos[] = "stdin:1: ";
  if (msg && !memchr(c->text, '\n', c->len) && strncmp(msg, pos, sizeof pos - 1) == 0) msg += sizeof pos - 1;
  print_error(msg);
}

static void eval(lua_State *L, int base, const struct chunk *c) {
  if (hubrun_pcall(L, 0, LUA_MULTRET) != 0) {
    print_chunk_error(lua_tostring(L, -1), c);
  } else {
    int n = lua_gettop(L) - base;
    if (n > 0) print_results(L, n);
  }
  lua_settop(L, base);
}

/* Returns whether the global `hub` is set afterwards. */
static int preload_hub(lua_State *L) {
  lua_getglobal(L, "hub");
  int present = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (present) return 1;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "hub");
  if (hubrun_pcall(L, 1, 1) == 0) {
    lua_setglobal(L, "hub");
    return 1;
  }
  const char *msg = lua_tostring(L, -1);
  if (!msg) msg = "(no message)";
  int n = (int)strcspn(msg, "\n");
  if (n > 0 && msg[n - 1] == ':') n--; /* "module 'hub' not found:" */
  fflush(stdout);
  fprintf(stderr, "hubrun: warning: the hub library did not load: %.*s\n", n, msg);
  lua_pop(L, 1);
  return 0;
}

int hubrun_repl(lua_State *L, int editline) {
  repl_L = L;
  int base = lua_gettop(L);
  int have_hub = preload_hub(L);
  printer_ref = make_function(L, printer_src, "=(repl printer)");
  if (printer_ref == LUA_NOREF) {
    print_error("internal: cannot build the REPL printer");
    return 1;
  }
  if (editline) {
    completer_ref = make_function(L, completer_src, "=(repl completer)");
    setup_editline();
    printf("hubrun %s - %sCtrl-D to quit\n", HUB_VERSION_STRING, have_hub ? "hub is loaded; " : "");
  }
  struct chunk c = {0};
  for (;;) {
    int interrupted;
    char *line = read_line(editline, c.len ? PROMPT_MORE : PROMPT, &interrupted);
    if (!line) {
      if (!interrupted) break;
      fputc('\n', stdout); /* Ctrl-C: drop the line and any pending chunk */
      fflush(stdout);
      c.len = 0;
      continue;
    }
    if (editline && line[strspn(line, " \t")] != '\0') {
      add_history(line);
      sync_history();
    }
    if (c.len == 0 && line[strspn(line, " \t")] == '\0') {
      free(line);
      continue;
    }
    int ok = chunk_append(&c, line) == 0;
    free(line);
    if (!ok) {
      print_error("not enough memory");
      c.len = 0;
      continue;
    }
    switch (compile(L, &c)) {
    case INCOMPLETE:
      continue;
    case SYNTAX_ERROR:
      print_chunk_error(lua_tostring(L, -1), &c);
      lua_settop(L, base);
      break;
    case COMPILED:
      eval(L, base, &c);
      break;
    }
    c.len = 0;
  }
  if (editline) fputc('\n', stdout); /* leave the shell's prompt on a fresh line */
  fflush(stdout);
  free(c.text);
  free_completions();
  luaL_unref(L, LUA_REGISTRYINDEX, printer_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, completer_ref);
  printer_ref = completer_ref = LUA_NOREF;
  lua_settop(L, base);
  return 0;
}
