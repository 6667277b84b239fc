/* repl.h - the interface between the hubrun runner (hubrun.c) and its interactive loop (repl.c).
 *
 * hubrun.c owns the Lua state and the protected-call machinery (message handlers, Ctrl-C
 * turning into a Lua error); repl.c owns line reading (libedit on a terminal, plain stdio
 * otherwise), history, completion and result printing.  Neither file includes hub.h: the
 * runner knows nothing about tensors, and the REPL prints them through `hub.repl_format`
 * when the Lua library provides it.
 */
#ifndef HUBRUN_REPL_H
#define HUBRUN_REPL_H

#include <lua.h>

/* Calls the function below `narg` arguments on the stack like lua_pcall, with SIGINT turned
 * into the Lua error "interrupted!" while the call runs (a second Ctrl-C kills the process, as
 * in luajit).  On failure the stack holds one string: the message, starting with the user's
 * FILE:LINE (the innermost line of the chunk that was called), followed by a stack traceback
 * only with `hubrun --traceback` or HUB_TRACEBACK=1.  Returns lua_pcall's status. */
int hubrun_pcall(lua_State *L, int narg, int nres);

/* Runs the read-eval-print loop on stdin until end of input.  `editline` selects libedit
 * (prompt editing, ~/.hubrun_history, tab completion of Lua names); otherwise lines are read
 * with plain stdio and prompts are still written, as lua.c does for a pipe.  Sets the global
 * `hub` to require("hub") when that succeeds and the global is unset.  Returns 0. */
int hubrun_repl(lua_State *L, int editline);

#endif
