/* serve.h - what the files of the model server share (internal; the API is hub_serve.h).
 *
 * server.c   the HTTP side: the listening socket, libmicrohttpd (a thread per connection), routing,
 *            body limits, JSON checks, the wait for an answer, open/wait/stop/close and the drain
 * batcher.c  the queues (one per module and kind), requests and their reference counts, the
 *            batches handed to workers, the worker threads and the worker API
 * metrics.c  counters and histograms, written out in Prometheus' text format
 *
 * One mutex (hub_server.lock) guards the queues, the requests' states, the workers' states and
 * the metrics; the work is done outside it (Lua in the workers, HTTP I/O in the connection
 * threads), so it is held for microseconds.
 */
#ifndef HUB_SERVE_INTERNAL_H
#define HUB_SERVE_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "hub_serve.h"
#include "json.h"

enum { SERVE_KINDS = 3 };

/* Endpoints, for routing and the metrics' labels. */
typedef enum serve_endpoint {
  EP_PREDICT, EP_EMBEDDING, EP_OPENAI, EP_HEALTH, EP_MODULES, EP_METRICS, EP_PAGE, EP_OTHER, EP_COUNT
} serve_endpoint;

/* A request's life: queued -> taken by a worker's batch -> done; or cancelled (timeout, client
 * gone) while queued (it leaves the queue) or while taken (the worker's answer is dropped). */
typedef enum { REQ_QUEUED, REQ_TAKEN, REQ_DONE, REQ_CANCELLED } serve_req_state;

typedef struct serve_req {
  struct serve_req *next;
  int refs;              /* the HTTP handler's, and a batch's while it holds the request */
  int module, kind;
  char *body;            /* the JSON body, NUL-terminated */
  size_t len;
  int items;             /* texts in it (what max_batch counts) */
  double t0;             /* arrival (monotonic seconds) */
  serve_req_state state;
  int status;            /* the answer, once done */
  char *reply;
  size_t reply_len;
  pthread_cond_t done;
} serve_req;

typedef struct serve_queue {
  serve_req *head, *tail;
  int count, items;
} serve_queue;

struct hub_serve_worker {
  hub_server *s;
  int index;
  pthread_t thread;
  int started;
  int state;             /* 0 loading, 1 ready, -1 failed, 2 exited */
  char *message;         /* why it failed */
};

struct hub_serve_batch {
  hub_server *s;
  int module, kind, n, items;
  serve_req **reqs;
};

/* Metrics: counts by (module + 1, endpoint, status), latency and batch-size histograms. */
enum { SERVE_STATUS_N = 12, SERVE_LAT_BUCKETS = 15, SERVE_BATCH_BUCKETS = 10 };
typedef struct serve_metrics {
  uint64_t *requests;    /* [(modules + 1) * EP_COUNT * SERVE_STATUS_N] */
  uint64_t *lat;         /* [modules * SERVE_LAT_BUCKETS] (the last bucket: +Inf) */
  double *lat_sum;       /* [modules] */
  uint64_t *lat_count;
  uint64_t *batch;       /* [modules * SERVE_BATCH_BUCKETS] (items per batch) */
  double *batch_sum;
  uint64_t *batch_count;
} serve_metrics;

struct hub_server {
  /* options, copied */
  char *host, *home, *worker_script, *worker_args, *api_key, *cors, *modules_json, *page_html;
  char **modules;
  int module_count, port, workers_n, threads, max_batch, max_delay_ms, queue_limit, max_items;
  int timeout_ms, max_connections, handle_signals, quiet;
  int64_t max_body;

  struct MHD_Daemon *daemon;
  int listen_fd;
  pthread_mutex_t lock;
  pthread_cond_t work;       /* workers wait here for requests */
  pthread_cond_t changed;    /* worker readiness, requests finishing (the drain) */
  serve_queue *queues;       /* [module * SERVE_KINDS + kind] */
  int queued;                /* requests in the queues */
  int in_flight;             /* requests between their first byte and their answer */
  int sending;            /* answers queued to libmicrohttpd and not yet written out (the drain waits for them) */
  int draining;              /* no new work accepted */
  int stopping;              /* workers end once the queues are empty */
  volatile sig_atomic_t stop_asked;
  hub_serve_worker *workers;
  serve_metrics m;
  double t_start;
  sigset_t sigs, old_mask;
  int mask_set;
};

double serve_now(void);
/* Timed waits on conditions made with serve_cond_init (monotonic clock) until `deadline`. */
int serve_cond_init(pthread_cond_t *c);
int serve_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, double deadline);

/* batcher.c */
serve_req *serve_req_new(hub_server *s, int module, int kind, char *body, size_t len, int items);
/* Queues r (0), or -1 when the queue is full or the server drains (the caller answers 503). */
int serve_enqueue(hub_server *s, serve_req *r);
/* Called with the lock held: cancels r if it is not done (leaving its queue if queued). */
void serve_cancel_locked(hub_server *s, serve_req *r);
/* Called with the lock held: drops one reference. */
void serve_req_release_locked(hub_server *s, serve_req *r);
int serve_workers_start(hub_server *s);   /* 0 once every worker is ready, else -1 (all stopped) */
void serve_workers_stop(hub_server *s);

/* metrics.c (all with the lock held) */
int serve_metrics_init(hub_server *s);
void serve_metrics_free(hub_server *s);
void serve_metrics_request(hub_server *s, int module, serve_endpoint ep, int status, double seconds);
void serve_metrics_batch(hub_server *s, int module, int items);
void serve_metrics_text(hub_server *s, json_buf *out);
const char *serve_endpoint_name(serve_endpoint ep);

#endif
