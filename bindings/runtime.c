/* runtime.c - the embedding API (hub_runtime.h): Lua runtimes, modules called with JSON.
 *
 * A runtime is a lua_State set up the way the hubrun executable sets up its own (hubrun.c opens
 * its state here, so there is one implementation): LuaJIT's libraries, then package.path with
 * the hub library's directories in front -- $HUB_LUA_PATH, the build tree's generated lua/ (the
 * FFI declarations), the source tree's lua/, the install prefix's share/hubrun/lua -- and
 * LuaJIT's default path after them.  The directories are compiled in (HUB_*_LUA_DIR) and the
 * build-tree ones are used only if they exist.
 *
 * Every entry into Lua goes through lua_pcall with a message handler that appends a traceback,
 * and the message of a failure is copied into hub_last_error(): no Lua error ever unwinds into
 * the host.  Modules are Lua objects made by hub.module (lua/hub/module.lua) and held in the
 * registry; a JSON request goes to hub.module's predict_json, which decodes it with lua-cjson,
 * calls the module (its `serving` adapter or `predict`) and encodes the answer.
 *
 * os.exit inside an embedded runtime must not end the host, so it raises a private error value
 * that hub_runtime_dofile turns into a return; hubrun replaces os.exit with one that exits.
 * This file is libhub_lua, a library of its own on top of libhub (which links no Lua); the
 * runtime/ directory itself never includes a Lua header.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "hub_runtime.h"
#include "internal.h"

#ifndef HUB_VERSION_STRING
#define HUB_VERSION_STRING "0.0.0"
#endif
#ifndef HUB_SOURCE_LUA_DIR
#define HUB_SOURCE_LUA_DIR "lua"
#endif
#ifndef HUB_BUILD_LUA_DIR
#define HUB_BUILD_LUA_DIR "build/lua"
#endif
#ifndef HUB_INSTALL_LUA_DIR
#define HUB_INSTALL_LUA_DIR "/usr/local/share/hubrun/lua"
#endif

struct hub_runtime {
  lua_State *L;
  int threads;
};

struct hub_module {
  hub_runtime *rt;
  int ref; /* the module object in the registry */
};

/* The error value os.exit raises in an embedded runtime (its address is what matters). */
static char exit_token;
static const char exit_status_key[] = "hub.runtime.exit_status";

/* ---- package.path ------------------------------------------------------------------------- */

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Pushes "D/?.lua;D/?/init.lua;" for the directory dir[0..len) unless it is empty, already in
 * the list `seen` (a Lua table at index `seen`), or, when must_exist, not a directory.  Returns
 * the number of strings pushed (0 or 1). */
static int push_lua_dir(lua_State *L, int seen, const char *dir, size_t len, int must_exist) {
  while (len > 1 && dir[len - 1] == '/') len--;
  if (len == 0) return 0;
  lua_pushlstring(L, dir, len);
  lua_pushvalue(L, -1);
  lua_rawget(L, seen);
  int dup = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (dup || (must_exist && !is_dir(lua_tostring(L, -1)))) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushvalue(L, -1);
  lua_pushboolean(L, 1);
  lua_rawset(L, seen);
  const char *d = lua_tostring(L, -1);
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", d, d);
  lua_remove(L, -2);
  luaL_checkstack(L, 4, "too many Lua directories");
  return 1;
}

/* package.path = the hub directories (see the top of this file), then the default path. */
static void set_package_path(lua_State *L) {
  lua_newtable(L);
  int seen = lua_gettop(L), n = 0;
  const char *env = getenv("HUB_LUA_PATH");
  for (const char *p = env ? env : ""; *p;) {
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    n += push_lua_dir(L, seen, p, len, 0);
    p += len;
    if (*p == ';') p++;
  }
  n += push_lua_dir(L, seen, HUB_BUILD_LUA_DIR, strlen(HUB_BUILD_LUA_DIR), 1);
  n += push_lua_dir(L, seen, HUB_SOURCE_LUA_DIR, strlen(HUB_SOURCE_LUA_DIR), 1);
  n += push_lua_dir(L, seen, HUB_INSTALL_LUA_DIR, strlen(HUB_INSTALL_LUA_DIR), 0);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_remove(L, -2);
  lua_concat(L, n + 1);
  lua_getglobal(L, "package");
  lua_insert(L, -2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 2); /* package, seen */
}

/* ---- the runtime's own versions of os.exit and os.getenv ---------------------------------- */

static int os_exit_embedded(lua_State *L) {
  int status;
  if (lua_isboolean(L, 1)) status = lua_toboolean(L, 1) ? 0 : 1;
  else status = (int)luaL_optinteger(L, 1, 0);
  lua_pushinteger(L, status);
  lua_setfield(L, LUA_REGISTRYINDEX, exit_status_key);
  lua_pushlightuserdata(L, &exit_token);
  return lua_error(L);
}

/* os.getenv with HUB_HOME answered by the runtime's store (upvalue 1); the rest goes to the
 * original function (upvalue 2). */
static int os_getenv_home(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (strcmp(name, "HUB_HOME") == 0) {
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

static int init_state(lua_State *L) {
  const hub_options *o = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_gc(L, LUA_GCSTOP, 0);
  luaL_openlibs(L);
  lua_gc(L, LUA_GCRESTART, -1);
  set_package_path(L);
  lua_pushliteral(L, HUB_VERSION_STRING);
  lua_setglobal(L, "HUBRUN_VERSION");
  lua_getglobal(L, "os");
  lua_pushcfunction(L, os_exit_embedded);
  lua_setfield(L, -2, "exit");
  if (o && o->home) {
    lua_pushstring(L, o->home);
    lua_getfield(L, -2, "getenv");
    lua_pushcclosure(L, os_getenv_home, 2);
    lua_setfield(L, -2, "getenv");
  }
  lua_pop(L, 1);
  return 0;
}

/* ---- protected calls ------------------------------------------------------------------------ */

/* The error value as a string: strings and numbers as they are, objects through __tostring,
 * anything else by its type. */
static const char *error_text(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg) return msg;
  if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return lua_tostring(L, -1);
  return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
}

static int traceback_handler(lua_State *L) {
  if (lua_touserdata(L, 1) == &exit_token) return 1; /* os.exit: passed through untouched */
  luaL_traceback(L, L, error_text(L), 1);
  return 1;
}

static int message_handler(lua_State *L) {
  if (lua_touserdata(L, 1) == &exit_token) return 1;
  lua_pushstring(L, error_text(L));
  return 1;
}

/* lua_pcall of the function below narg arguments, with a traceback added to the message when
 * `trace` is set.  On failure the message becomes the thread's error (prefixed with `what`
 * when given), the stack is restored and -1 returned.  An os.exit gives -2 and its status in
 * *exit_status (when not NULL). */
static int protected_call(lua_State *L, int narg, int nres, int trace, const char *what, int *exit_status) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, trace ? traceback_handler : message_handler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  if (status == 0) return 0;
  int rc = -1;
  if (lua_touserdata(L, -1) == &exit_token) {
    lua_getfield(L, LUA_REGISTRYINDEX, exit_status_key);
    int code = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (exit_status) *exit_status = code;
    hub_err("%s%sos.exit(%d) was called (it does not end an embedding program)", what ? what : "", what ? ": " : "", code);
    rc = -2;
  } else if (status == LUA_ERRMEM) {
    hub_err("%s%snot enough memory", what ? what : "", what ? ": " : "");
  } else {
    const char *msg = lua_tostring(L, -1);
    hub_err("%s%s%s", what ? what : "", what ? ": " : "", msg ? msg : "(no message)");
  }
  lua_settop(L, base - 1);
  return rc;
}

/* ---- runtimes --------------------------------------------------------------------------------- */

hub_runtime *hub_runtime_open(const hub_options *opts) {
  hub_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) return hub_errp("hub_runtime_open: out of memory");
  rt->L = luaL_newstate();
  if (!rt->L) {
    free(rt);
    return hub_errp("hub_runtime_open: cannot create a Lua state (out of memory)");
  }
  rt->threads = opts ? opts->threads : 0;
  lua_pushcfunction(rt->L, init_state);
  lua_pushlightuserdata(rt->L, (void *)opts);
  if (protected_call(rt->L, 1, 0, 1, "hub_runtime_open", NULL) != 0) {
    lua_close(rt->L);
    free(rt);
    return NULL;
  }
  if (rt->threads > 0) hub_set_num_threads(rt->threads);
  return rt;
}

void hub_runtime_close(hub_runtime *rt) {
  if (!rt) return;
  lua_close(rt->L);
  free(rt);
}

lua_State *hub_runtime_lua(hub_runtime *rt) { return rt ? rt->L : NULL; }

int hub_runtime_dofile(hub_runtime *rt, const char *path, int argc, const char *const *argv) {
  if (!rt || !path) return hub_err("hub_runtime_dofile: %s is NULL", rt ? "path" : "runtime");
  if (argc < 0 || (argc > 0 && !argv)) return hub_err("hub_runtime_dofile %s: bad argc/argv", path);
  lua_State *L = rt->L;
  int top = lua_gettop(L);
  if (!lua_checkstack(L, argc + 8)) return hub_err("hub_runtime_dofile %s: too many arguments", path);
  lua_createtable(L, argc, 1);
  lua_pushstring(L, path);
  lua_rawseti(L, -2, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i] ? argv[i] : "");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setglobal(L, "arg");
  if (luaL_loadfile(L, path) != 0) {
    const char *msg = lua_tostring(L, -1);
    hub_err("%s", msg ? msg : "cannot load the file");
    lua_settop(L, top);
    return -1;
  }
  for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i] ? argv[i] : "");
  int code = 0;
  int rc = protected_call(L, argc, 0, 1, NULL, &code);
  lua_settop(L, top);
  if (rc == -2) {
    if (code == 0) {
      hub_clear_error();
      return 0;
    }
    return hub_err("%s: exited with status %d", path, code);
  }
  return rc;
}

/* ---- modules -------------------------------------------------------------------------------- */

/* Pushes require("hub.module")[field]. */
static int get_module_api(lua_State *L) {
  const char *field = lua_tostring(L, lua_upvalueindex(1));
  lua_getglobal(L, "require");
  lua_pushliteral(L, "hub.module");
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1)) return luaL_error(L, "hub.module did not load as a table");
  lua_getfield(L, -1, field);
  if (lua_isnil(L, -1)) return luaL_error(L, "hub.module has no function '%s'", field);
  lua_insert(L, 1);
  lua_pop(L, 1); /* the module table */
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* Calls require("hub.module")[field](args...) on the nargs values on the stack; 0 and one
 * result on the stack, or -1 with the error set. */
static int call_module_api(lua_State *L, const char *field, int nargs, const char *what) {
  lua_pushstring(L, field);
  lua_pushcclosure(L, get_module_api, 1);
  lua_insert(L, -nargs - 1);
  return protected_call(L, nargs, 1, 0, what, NULL) == 0 ? 0 : -1;
}

hub_module *hub_module_load(hub_runtime *rt, const char *name_or_dir) {
  if (!rt || !name_or_dir) return hub_errp("hub_module_load: %s is NULL", rt ? "name" : "runtime");
  lua_State *L = rt->L;
  int top = lua_gettop(L);
  if (rt->threads > 0) hub_set_num_threads(rt->threads);
  hub_module *m = calloc(1, sizeof *m);
  if (!m) return hub_errp("hub_module_load %s: out of memory", name_or_dir);
  lua_pushstring(L, name_or_dir);
  if (call_module_api(L, "load", 1, NULL) != 0) {
    free(m);
    lua_settop(L, top);
    return NULL;
  }
  m->rt = rt;
  m->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, top);
  return m;
}

char *hub_module_predict_json(hub_module *m, const char *json) {
  if (!m || !json) return hub_errp("hub_module_predict_json: %s is NULL", m ? "json" : "module");
  lua_State *L = m->rt->L;
  int top = lua_gettop(L);
  if (m->rt->threads > 0) hub_set_num_threads(m->rt->threads);
  lua_rawgeti(L, LUA_REGISTRYINDEX, m->ref);
  lua_pushstring(L, json);
  if (call_module_api(L, "predict_json", 2, NULL) != 0) {
    lua_settop(L, top);
    return NULL;
  }
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  char *out = s ? malloc(len + 1) : NULL;
  if (out) memcpy(out, s, len + 1);
  lua_settop(L, top);
  if (!s) return hub_errp("hub_module_predict_json: the module's answer is not a string");
  if (!out) return hub_errp("hub_module_predict_json: out of memory");
  return out;
}

void hub_module_release(hub_module *m) {
  if (!m) return;
  luaL_unref(m->rt->L, LUA_REGISTRYINDEX, m->ref);
  free(m);
}

void hub_free(void *p) { free(p); }
