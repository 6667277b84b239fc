/* batcher.c - the server's queues, the dynamic batcher and the worker threads.
 *
 * Every (module, kind) pair has a FIFO queue.  An HTTP handler makes a request (its parsed-and-
 * checked body, its item count), queues it and waits on the request's own condition.  A worker
 * calling hub_serve_next looks at the head of every queue: a queue holding max_batch items is
 * due now, any other is due max_delay_ms after its oldest request arrived; the worker takes the
 * queue due first (sleeping until then if it is in the future, and waking early when requests
 * arrive), up to max_batch items of its oldest requests (one request larger than that goes
 * alone), and sorts them by body length so that texts of like length go through the network
 * together.  While the server drains nothing waits for the delay.
 *
 * References: a request starts with one (its HTTP handler's); a batch that takes it adds one.
 * The handler drops its own when it has the answer, or when it gives up (timeout, client gone):
 * a queued request then leaves its queue, a taken one is marked cancelled and its answer is
 * dropped.  Whoever drops the last reference frees it.  All of this is under the server lock.
 *
 * Worker threads: each opens a hub_runtime (the server's home and threads per worker), marks
 * itself as the thread's worker (hub_serve_worker_self), and runs worker_script with the
 * worker_args; the script reports hub_serve_worker_ready once its modules are loaded, then
 * loops on hub_serve_next until it returns NULL.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_runtime.h"
#include "internal.h"
#include "serve.h"

static _Thread_local hub_serve_worker *t_worker;

double serve_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int serve_cond_init(pthread_cond_t *c) {
  pthread_condattr_t a;
  if (pthread_condattr_init(&a) != 0) return -1;
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(c, &a);
  pthread_condattr_destroy(&a);
  return rc == 0 ? 0 : -1;
}

int serve_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, double deadline) {
  struct timespec ts;
  if (deadline < 0) deadline = 0;
  ts.tv_sec = (time_t)deadline;
  ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  return pthread_cond_timedwait(c, m, &ts);
}

/* ---- requests ---------------------------------------------------------------------------- */

serve_req *serve_req_new(hub_server *s, int module, int kind, char *body, size_t len, int items) {
  serve_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  if (serve_cond_init(&r->done) != 0) {
    free(r);
    return NULL;
  }
  r->refs = 1;
  r->module = module;
  r->kind = kind;
  r->body = body;
  r->len = len;
  r->items = items < 1 ? 1 : items;
  r->t0 = serve_now();
  r->state = REQ_QUEUED;
  (void)s;
  return r;
}

static void req_free(serve_req *r) {
  pthread_cond_destroy(&r->done);
  free(r->body);
  free(r->reply);
  free(r);
}

void serve_req_release_locked(hub_server *s, serve_req *r) {
  (void)s;
  if (r && --r->refs == 0) req_free(r);
}

static serve_queue *queue_of(hub_server *s, const serve_req *r) {
  return &s->queues[r->module * SERVE_KINDS + r->kind];
}

int serve_enqueue(hub_server *s, serve_req *r) {
  pthread_mutex_lock(&s->lock);
  if (s->draining || s->queued >= s->queue_limit) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  serve_queue *q = queue_of(s, r);
  r->next = NULL;
  if (q->tail) q->tail->next = r;
  else q->head = r;
  q->tail = r;
  q->count++;
  q->items += r->items;
  s->queued++;
  pthread_cond_broadcast(&s->work);
  pthread_mutex_unlock(&s->lock);
  return 0;
}

void serve_cancel_locked(hub_server *s, serve_req *r) {
  if (r->state == REQ_QUEUED) {
    serve_queue *q = queue_of(s, r);
    serve_req *prev = NULL;
    for (serve_req *p = q->head; p; prev = p, p = p->next) {
      if (p != r) continue;
      if (prev) prev->next = p->next;
      else q->head = p->next;
      if (q->tail == p) q->tail = prev;
      q->count--;
      q->items -= p->items;
      s->queued--;
      break;
    }
    pthread_cond_broadcast(&s->changed);
  }
  if (r->state != REQ_DONE) r->state = REQ_CANCELLED;
}

/* ---- the batcher ----------------------------------------------------------------------------- */

static int by_length(const void *a, const void *b) {
  const serve_req *x = *(serve_req *const *)a, *y = *(serve_req *const *)b;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

hub_serve_batch *hub_serve_next(hub_serve_worker *w) {
  if (!w) return hub_errp("hub_serve_next: worker is NULL");
  hub_server *s = w->s;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    if (s->stopping && s->queued == 0) {
      pthread_mutex_unlock(&s->lock);
      return NULL;
    }
    double now = serve_now(), best_due = 0;
    serve_queue *best = NULL;
    int nq = s->module_count * SERVE_KINDS;
    for (int i = 0; i < nq; i++) {
      serve_queue *q = &s->queues[i];
      if (!q->head) continue;
      double due = q->items >= s->max_batch ? -1.0 : q->head->t0 + s->max_delay_ms / 1000.0;
      if (!best || due < best_due) {
        best = q;
        best_due = due;
      }
    }
    if (!best) {
      pthread_cond_wait(&s->work, &s->lock);
      continue;
    }
    if (best_due > now && !s->draining && !s->stopping) {
      serve_cond_wait_until(&s->work, &s->lock, best_due);
      continue;
    }
    /* take the oldest requests, up to max_batch items */
    int n = 0, items = 0;
    for (serve_req *p = best->head; p; p = p->next) {
      if (n > 0 && items + p->items > s->max_batch) break;
      n++;
      items += p->items;
    }
    hub_serve_batch *b = calloc(1, sizeof *b);
    serve_req **reqs = calloc((size_t)n, sizeof *reqs);
    if (!b || !reqs) {
      free(b);
      free(reqs);
      pthread_mutex_unlock(&s->lock);
      return hub_errp("hub_serve_next: out of memory");
    }
    for (int i = 0; i < n; i++) {
      serve_req *p = best->head;
      best->head = p->next;
      p->next = NULL;
      p->state = REQ_TAKEN;
      p->refs++;
      reqs[i] = p;
    }
    if (!best->head) best->tail = NULL;
    best->count -= n;
    best->items -= items;
    s->queued -= n;
    b->s = s;
    b->n = n;
    b->items = items;
    b->reqs = reqs;
    b->module = reqs[0]->module;
    b->kind = reqs[0]->kind;
    serve_metrics_batch(s, b->module, items);
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    qsort(reqs, (size_t)n, sizeof *reqs, by_length);
    return b;
  }
}

int hub_serve_batch_count(const hub_serve_batch *b) { return b ? b->n : 0; }
int hub_serve_batch_module(const hub_serve_batch *b) { return b ? b->module : -1; }
int hub_serve_batch_kind(const hub_serve_batch *b) { return b ? b->kind : -1; }

const char *hub_serve_batch_body(const hub_serve_batch *b, int i, size_t *len) {
  if (!b || i < 0 || i >= b->n) {
    if (len) *len = 0;
    return hub_errp("hub_serve_batch_body: no request %d in this batch", i);
  }
  if (len) *len = b->reqs[i]->len;
  return b->reqs[i]->body;
}

/* Sets r's answer (taking `reply`) unless it is done or cancelled; lock held. */
static void answer_locked(serve_req *r, int status, char *reply, size_t len) {
  if (r->state != REQ_TAKEN) {
    free(reply);
    return;
  }
  r->status = status;
  r->reply = reply;
  r->reply_len = len;
  r->state = REQ_DONE;
  pthread_cond_signal(&r->done);
}

void hub_serve_batch_reply(hub_serve_batch *b, int i, int status, const char *body, size_t len) {
  if (!b || i < 0 || i >= b->n) return;
  if (!body) len = 0;
  char *copy = malloc(len + 1);
  if (copy) {
    if (len) memcpy(copy, body, len);
    copy[len] = 0;
  }
  hub_server *s = b->s;
  pthread_mutex_lock(&s->lock);
  if (copy) answer_locked(b->reqs[i], status < 100 || status > 599 ? 500 : status, copy, len);
  else answer_locked(b->reqs[i], 500, NULL, 0);
  pthread_mutex_unlock(&s->lock);
}

void hub_serve_batch_done(hub_serve_batch *b) {
  if (!b) return;
  hub_server *s = b->s;
  static const char missing[] = "{\"status\":\"-1\",\"msg\":\"the worker gave no answer to this request\",\"results\":\"\"}";
  pthread_mutex_lock(&s->lock);
  for (int i = 0; i < b->n; i++) {
    serve_req *r = b->reqs[i];
    if (r->state == REQ_TAKEN) answer_locked(r, 500, strdup(missing), sizeof missing - 1);
    serve_req_release_locked(s, r);
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
  free(b->reqs);
  free(b);
}

/* ---- workers --------------------------------------------------------------------------------- */

hub_serve_worker *hub_serve_worker_self(void) { return t_worker; }
int hub_serve_worker_index(const hub_serve_worker *w) { return w ? w->index : -1; }

static void set_state(hub_serve_worker *w, int state, const char *message) {
  hub_server *s = w->s;
  pthread_mutex_lock(&s->lock);
  if (w->state == 0 || state == 2) {
    if (state != 2 || w->state != -1) w->state = state;
    if (message && !w->message) w->message = strdup(message);
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
}

void hub_serve_worker_ready(hub_serve_worker *w, int ok, const char *message) {
  if (!w) return;
  set_state(w, ok ? 1 : -1, ok ? NULL : (message ? message : "the worker failed to start"));
}

static void *worker_main(void *arg) {
  hub_serve_worker *w = arg;
  hub_server *s = w->s;
  t_worker = w;
  hub_runtime *rt = hub_runtime_open(&(hub_options){ .home = s->home, .threads = s->threads });
  if (!rt) {
    set_state(w, -1, hub_last_error());
    set_state(w, 2, NULL);
    return NULL;
  }
  const char *argv[1] = { s->worker_args ? s->worker_args : "" };
  int rc = hub_runtime_dofile(rt, s->worker_script, 1, argv);
  if (rc != 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", hub_last_error());
    pthread_mutex_lock(&s->lock);
    int was_ready = w->state == 1, stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (!was_ready) set_state(w, -1, msg);
    else if (!stopping) fprintf(stderr, "hubrun serving: worker %d stopped: %s\n", w->index, msg);
  } else {
    set_state(w, -1, "the worker script ended before it reported ready");
  }
  hub_runtime_close(rt);
  t_worker = NULL;
  set_state(w, 2, NULL);
  return NULL;
}

int serve_workers_start(hub_server *s) {
  s->workers = calloc((size_t)s->workers_n, sizeof *s->workers);
  if (!s->workers) return hub_err("hubrun serving: out of memory");
  for (int i = 0; i < s->workers_n; i++) {
    hub_serve_worker *w = &s->workers[i];
    w->s = s;
    w->index = i;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 16u << 20); /* LuaJIT and deep module code: a roomy stack */
    int rc = pthread_create(&w->thread, &a, worker_main, w);
    pthread_attr_destroy(&a);
    if (rc != 0) {
      serve_workers_stop(s);
      return hub_err("hubrun serving: cannot start worker thread %d: %s", i, strerror(rc));
    }
    w->started = 1;
  }
  /* wait until every worker is ready, or one failed */
  pthread_mutex_lock(&s->lock);
  char *failure = NULL;
  for (;;) {
    int ready = 0;
    for (int i = 0; i < s->workers_n && !failure; i++) {
      if (s->workers[i].state == 1) ready++;
      else if (s->workers[i].state == -1 || s->workers[i].state == 2)
        failure = strdup(s->workers[i].message ? s->workers[i].message : "a worker failed to start");
    }
    if (failure || ready == s->workers_n) break;
    pthread_cond_wait(&s->changed, &s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  if (failure) {
    serve_workers_stop(s);
    hub_err("%s", failure);
    free(failure);
    return -1;
  }
  return 0;
}

void serve_workers_stop(hub_server *s) {
  if (!s->workers) return;
  pthread_mutex_lock(&s->lock);
  s->stopping = 1;
  pthread_cond_broadcast(&s->work);
  pthread_mutex_unlock(&s->lock);
  for (int i = 0; i < s->workers_n; i++)
    if (s->workers[i].started) pthread_join(s->workers[i].thread, NULL);
  for (int i = 0; i < s->workers_n; i++) free(s->workers[i].message);
  free(s->workers);
  s->workers = NULL;
}
