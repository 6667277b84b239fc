/* hub_runtime.h - embedding hubrun: runtimes, modules called from C, and weights shared
 * between runtimes.
 *
 * A hub_runtime is one LuaJIT state with the standard libraries and the hub Lua library on its
 * module path (the same path the hubrun executable uses: $HUB_LUA_PATH, the build tree, the
 * source tree, the install prefix).  A program that embeds hubrun opens one runtime per thread
 * that needs one; a runtime must only be used by one thread at a time, and different runtimes
 * may run at the same time on different threads.  Modules are loaded into a runtime and called
 * with JSON, the shape PaddleHub's serving uses:
 *
 *   hub_runtime *rt = hub_runtime_open(&(hub_options){ .home = NULL, .threads = 0 });
 *   if (!rt) { fprintf(stderr, "%s\n", hub_last_error()); return 1; }
 *   hub_module *m = hub_module_load(rt, "lac");          // an installed module, or a directory
 *   char *out = m ? hub_module_predict_json(m, "{\"text\": [\"今天是个好日子\"]}") : NULL;
 *   if (out) puts(out);           // [{"word": ["今天", "是", "个", "好日子"], "tag": [...]}]
 *   else fprintf(stderr, "%s\n", hub_last_error());
 *   hub_free(out); hub_module_release(m);
 *   if (hub_runtime_dofile(rt, "recipes/mlp_digits.lua", 0, NULL) != 0)
 *     fprintf(stderr, "%s\n", hub_last_error());           // the message and a traceback
 *   hub_runtime_close(rt);
 *
 * Nothing here aborts, exits or lets a Lua error escape: every call into Lua is protected, and
 * a failure returns NULL or -1 with the message in hub_last_error() (thread-local).
 *
 * Weights shared between runtimes: a safetensors file opened through hub_shared_open is mapped
 * once per process, whatever the number of runtimes (hub.load_shared in Lua; modules load their
 * weights this way), so N serving workers hold one copy.  Files are told apart by absolute path,
 * inode, size and modification time: a file replaced on disk is mapped afresh on the next open,
 * while tensors from the old one keep the old mapping.  Shared weights are read-only by
 * contract: writing into them would change every runtime's copy (clone before fine-tuning).
 */
#ifndef HUB_RUNTIME_H
#define HUB_RUNTIME_H

#include "hub_io.h"

typedef struct hub_runtime hub_runtime;
typedef struct hub_module hub_module;
struct lua_State;

typedef struct hub_options {
  const char *home; /* the module store for this runtime ($HUB_HOME); NULL: the environment's */
  int threads;      /* compute threads (hub_set_num_threads, process-wide); 0: leave as it is */
} hub_options;

/* Opens a runtime: a new Lua state with LuaJIT's libraries, package.path set as for hubrun,
 * the global HUBRUN_VERSION, and, when opts->home is set, that store: os.getenv("HUB_HOME")
 * answers it inside this runtime.  os.exit in the runtime does not end the process: it stops
 * the running script (see hub_runtime_dofile).  opts may be NULL.  NULL + error on failure. */
HUB_API hub_runtime *hub_runtime_open(const hub_options *opts);
/* Closes the state (finalisers run, tensors are released) and frees the runtime.  Modules
 * still loaded in it must not be used afterwards (release them first).  NULL is ignored. */
HUB_API void hub_runtime_close(hub_runtime *rt);

/* Runs a Lua file.  argv[0..argc-1] are the script's arguments: arg[1..argc] and `...`;
 * arg[0] is path (so a host's main passes argc - 2, argv + 2 for `host script.lua args`).
 * 0 on success, or when the script calls os.exit(0 / true); -1 with "MESSAGE\nstack
 * traceback: ..." on an error, or with "PATH: exited with status N" for os.exit(N != 0). */
HUB_API int hub_runtime_dofile(hub_runtime *rt, const char *path, int argc, const char *const *argv);
/* The runtime's lua_State, for hosts that already run LuaJIT (push and call in protected
 * mode; the state belongs to the runtime).  NULL for NULL. */
HUB_API struct lua_State *hub_runtime_lua(hub_runtime *rt);

/* Loads a module into the runtime: an installed name ("lac", "lac==1.0.0") resolved in the
 * store, or a module directory (a path with a '/').  Calls hub.module(name_or_dir) in Lua.
 * NULL + error ("module 'x' is not installed ...") on failure. */
HUB_API hub_module *hub_module_load(hub_runtime *rt, const char *name_or_dir);
/* Calls the module with a JSON request and returns its JSON answer, a malloc'ed string to free
 * with hub_free.  The request follows PaddleHub serving: {"text": ["...", ...]} (or "texts"),
 * plus options such as "batch_size"; a module may define its own `serving` adapter.  The answer
 * is the module's results, e.g. [{"word": [...], "tag": [...]}] for lac.  NULL + error for
 * invalid JSON, a request the module rejects, or a failure inside the module. */
HUB_API char *hub_module_predict_json(hub_module *m, const char *json);
/* Releases the module (its Lua object becomes garbage in the runtime).  NULL is ignored. */
HUB_API void hub_module_release(hub_module *m);
/* Frees a string returned by this API.  NULL is ignored. */
HUB_API void hub_free(void *p);

/* hub_shared_open, hub_shared_retain, hub_shared_close, hub_shared_count: see hub_io.h. */

#endif
