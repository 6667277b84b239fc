/* hub_serve.h - the model server: HTTP on libmicrohttpd, a dynamic batcher per module, and
 * worker threads that each run their own Lua runtime (`hubrun serving start`, docs/serving.md).
 *
 * The host (lua/hub/serving/init.lua, or a C program) fills hub_serve_options and calls
 *
 *   hub_server *s = hub_serve_open(&opts);   // binds the port, starts the workers, waits until
 *   if (!s) ...hub_last_error()...           // each loaded every module, then starts accepting
 *   hub_serve_wait(s);                       // until SIGTERM/SIGINT (handle_signals) or
 *   hub_serve_close(s);                      // hub_serve_stop: drains, then returns 0
 *
 * Requests: POST /predict/<module>, POST /embedding/<module>, POST /v1/embeddings, GET /health,
 * GET /modules, GET /metrics, GET /.  A POST body is read whole (over max_body: 413), parsed as
 * JSON here (not JSON, or not an object: 400 naming what is wrong), and queued on its module's
 * queue for its kind (queue full: 503 with Retry-After).  The handler's thread then waits for
 * the answer (timeout_ms: 504); a client that hangs up while it waits cancels its request, which
 * leaves the queue if no worker took it yet.
 *
 * The batcher: a worker asks for work with hub_serve_next; it gets the queue whose oldest request
 * is due first, once that queue holds max_batch items (texts) or its oldest request has waited
 * max_delay_ms.  A batch is the queue's oldest requests up to max_batch items (a larger request
 * alone), sorted by body length (shortest first), so that requests of like size share padding.
 *
 * Workers: each is a thread with its own hub_runtime (hub_options.home, .threads) that runs the
 * Lua file worker_script with arg[1] = worker_args.  The script loads the modules (their weights
 * through hub.load_shared: one copy in the process), calls hub_serve_worker_ready, then loops:
 * hub_serve_next -> read the bodies -> hub_serve_batch_reply for each -> hub_serve_batch_done.
 * hub_serve_next returns NULL when the server stops and the queues are empty.
 *
 * Nothing here exits or aborts; errors return NULL/-1 with hub_last_error() set.
 */
#ifndef HUB_SERVE_H
#define HUB_SERVE_H

#include "hub_base.h"

typedef struct hub_server hub_server;
typedef struct hub_serve_worker hub_serve_worker;
typedef struct hub_serve_batch hub_serve_batch;

/* The kinds of request a worker gets (hub_serve_batch_kind). */
typedef enum hub_serve_kind {
  HUB_SERVE_PREDICT = 0,   /* POST /predict/<module>: PaddleHub's JSON */
  HUB_SERVE_EMBEDDING = 1, /* POST /embedding/<module>: texts or pairs -> vectors */
  HUB_SERVE_OPENAI = 2     /* POST /v1/embeddings: OpenAI's request and answer */
} hub_serve_kind;

typedef struct hub_serve_options {
  const char *host;             /* address to listen on; NULL: "127.0.0.1" */
  int port;                     /* 0: any free port (hub_serve_port tells which) */
  int workers;                  /* worker threads (0: 1) */
  int threads;                  /* compute threads per worker (0: cores / workers, at least 1) */
  int max_batch;                /* items per batch (0: 32) */
  int max_delay_ms;             /* how long the oldest request may wait for others (<0: 0; 0: none) */
  int queue_limit;              /* queued requests, all modules together (0: 64 * workers) */
  int64_t max_body;             /* bytes of a request body (0: 1 MiB) */
  int max_items;                /* texts in one request (0: 1024) */
  int timeout_ms;               /* per request, queue + work (0: 30000) */
  int max_connections;          /* open connections (0: 256) */
  int module_count;             /* the served modules' names, in the order worker_args lists */
  const char *const *modules;   /* them (URL names are only ever looked up in this list) */
  const char *modules_json;     /* the body of GET /modules (NULL: a list of the names) */
  const char *page_html;        /* the body of GET / (NULL: a short text page) */
  const char *home;             /* $HUB_HOME for the worker runtimes (NULL: the environment's) */
  const char *worker_script;    /* the Lua file each worker runs (required) */
  const char *worker_args;      /* its arg[1] (the modules to load, as the script wants them) */
  const char *api_key;          /* when set: "Authorization: Bearer KEY" on all but /health */
  const char *cors_origin;      /* when set: Access-Control-Allow-Origin and preflight answers */
  int handle_signals;           /* 1: SIGTERM/SIGINT stop the server (blocked in its threads) */
  int quiet;                    /* 1: no log line per start/stop on stderr */
} hub_serve_options;

HUB_API hub_server *hub_serve_open(const hub_serve_options *opts);
HUB_API int hub_serve_port(const hub_server *s);
/* Blocks until a stop is asked for (a signal when handle_signals, or hub_serve_stop), then stops
 * accepting connections, lets the requests in flight finish (at most timeout_ms more), stops the
 * workers once the queues are empty, and returns 0. */
HUB_API int hub_serve_wait(hub_server *s);
/* Asks hub_serve_wait to return (safe from any thread). */
HUB_API void hub_serve_stop(hub_server *s);
HUB_API void hub_serve_close(hub_server *s);

/* ---- the worker side (lua/hub/serving/worker.lua calls these through the FFI) ---- */

/* The worker of the calling thread (NULL outside a worker thread). */
HUB_API hub_serve_worker *hub_serve_worker_self(void);
HUB_API int hub_serve_worker_index(const hub_serve_worker *w);
/* ok = 1: loaded, ready for work; ok = 0: failed with `message` (the server does not start). */
HUB_API void hub_serve_worker_ready(hub_serve_worker *w, int ok, const char *message);
/* The next batch (blocks); NULL when the server stops. */
HUB_API hub_serve_batch *hub_serve_next(hub_serve_worker *w);
HUB_API int hub_serve_batch_count(const hub_serve_batch *b);
HUB_API int hub_serve_batch_module(const hub_serve_batch *b); /* 0-based, in `modules` order */
HUB_API int hub_serve_batch_kind(const hub_serve_batch *b);   /* hub_serve_kind */
/* Request i's body (0-based; NUL-terminated; *len its length). */
HUB_API const char *hub_serve_batch_body(const hub_serve_batch *b, int i, size_t *len);
/* Request i's answer: HTTP status and JSON body (copied). */
HUB_API void hub_serve_batch_reply(hub_serve_batch *b, int i, int status, const char *body, size_t len);
/* Ends the batch (requests without a reply get a 500) and frees it. */
HUB_API void hub_serve_batch_done(hub_serve_batch *b);

#endif
