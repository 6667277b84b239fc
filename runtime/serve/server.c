/* server.c - the model server's HTTP side on libmicrohttpd, and its life (open, wait, drain).
 *
 * The listening socket is made here (so a port in use is an error before any module loads, and
 * port 0 picks a free one), the workers start and load their modules (batcher.c), and only then
 * does libmicrohttpd accept connections on it, one thread per connection (MHD's thread-per-
 * connection mode: a handler may block while its request waits for a worker).
 *
 * A request goes through on_request several times: the first call routes it (unknown path 404,
 * wrong method 405, missing API key 401, Content-Length over max_body 413: answered at once,
 * without reading the body), the next calls append the body (over max_body: 413), the last one
 * checks the JSON (400 naming the field), queues it (503 + Retry-After when the queue is full or
 * the server drains) and waits for the answer until timeout_ms (504), polling the socket so that
 * a client that hangs up cancels its request (status 499 in the metrics, no answer sent).
 *
 * hub_serve_wait sleeps until SIGTERM/SIGINT (sigtimedwait on the signals blocked in every
 * thread the server made) or hub_serve_stop, then drains: the listening socket closes
 * (MHD_quiesce_daemon), requests still arriving on open connections get 503, the ones in flight
 * finish, then the connections close and the workers end.
 *
 * Errors: PaddleHub endpoints answer {"status": "-1", "msg": M, "results": "", "error":
 * {"message": M, "field": F}}; the others OpenAI's {"error": {"message", "type", "param", "code"}}.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "internal.h"
#include "serve.h"

/* One HTTP request, across the handler's calls. */
typedef struct conn_ctx {
  serve_endpoint ep;
  int module;
  int counted;          /* counted in s->in_flight */
  int sending;          /* counted in s->sending: its answer is queued, not yet written */
  double t0;
  char *body;
  size_t len, cap;
  int too_large;
} conn_ctx;

/* ---- answers ------------------------------------------------------------------------------ */

static enum MHD_Result send_answer(hub_server *s, struct MHD_Connection *c, conn_ctx *x, int status,
                                   const char *type, const char *body, size_t len, const char *allow) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
  if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  if (s->cors) {
    MHD_add_response_header(r, "Access-Control-Allow-Origin", s->cors);
    MHD_add_response_header(r, "Vary", "Origin");
  }
  int draining;
  pthread_mutex_lock(&s->lock);
  draining = s->draining;
  serve_metrics_request(s, x->module, x->ep, status, serve_now() - x->t0);
  if (x->counted) {
    x->counted = 0;
    s->in_flight--;
    pthread_cond_broadcast(&s->changed);
  }
  if (!x->sending) {
    x->sending = 1;
    s->sending++;
  }
  pthread_mutex_unlock(&s->lock);
  if (draining) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result send_json(hub_server *s, struct MHD_Connection *c, conn_ctx *x, int status, const char *body, size_t len) {
  return send_answer(s, c, x, status, "application/json; charset=utf-8", body, len, NULL);
}

static const char *error_type(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 405: return "method_not_allowed";
    case 413: return "request_too_large";
    case 503: return "overloaded_error";
    case 504: return "timeout_error";
    default: return "server_error";
  }
}

/* Writes s as a JSON string, every byte outside printable ASCII but valid UTF-8 kept; invalid
 * UTF-8 (a URL's %FF) becomes '?'. */
static void put_text(json_buf *b, const char *s) {
  size_t n = strlen(s);
  char *copy = malloc(n + 1);
  if (!copy) {
    json_buf_str(b, "?");
    return;
  }
  memcpy(copy, s, n + 1);
  if (!json_utf8_valid(copy, n))
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)copy[i] >= 0x80) copy[i] = '?';
  json_buf_str(b, copy);
  free(copy);
}

static enum MHD_Result send_error(hub_server *s, struct MHD_Connection *c, conn_ctx *x, int status, const char *field,
                                  const char *allow, const char *fmt, ...) HUB_PRINTF(7, 8);

static enum MHD_Result send_error(hub_server *s, struct MHD_Connection *c, conn_ctx *x, int status, const char *field,
                                  const char *allow, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_buf b = { 0 };
  if (x->ep == EP_PREDICT || x->ep == EP_EMBEDDING) {
    json_buf_printf(&b, "{\"status\":\"-1\",\"msg\":");
    put_text(&b, msg);
    json_buf_printf(&b, ",\"results\":\"\",\"error\":{\"message\":");
    put_text(&b, msg);
    json_buf_printf(&b, ",\"field\":");
    if (field) put_text(&b, field);
    else json_buf_printf(&b, "null");
    json_buf_printf(&b, "}}");
  } else {
    json_buf_printf(&b, "{\"error\":{\"message\":");
    put_text(&b, msg);
    json_buf_printf(&b, ",\"type\":\"%s\",\"param\":", error_type(status));
    if (field) put_text(&b, field);
    else json_buf_printf(&b, "null");
    json_buf_printf(&b, ",\"code\":%s}}", status == 404 && x->ep == EP_OPENAI ? "\"model_not_found\"" : "null");
  }
  enum MHD_Result rc;
  if (b.failed) rc = MHD_NO;
  else rc = send_answer(s, c, x, status, "application/json; charset=utf-8", b.data, b.len, allow);
  free(b.data);
  return rc;
}

/* ---- routing and checks -------------------------------------------------------------------- */

static int find_module(const hub_server *s, const char *name) {
  for (int i = 0; i < s->module_count; i++)
    if (strcmp(s->modules[i], name) == 0) return i;
  return -1;
}

/* The served names, for messages ("lac, all-minilm-l6-v2"). */
static void served_list(const hub_server *s, char *out, size_t n) {
  size_t used = 0;
  out[0] = 0;
  for (int i = 0; i < s->module_count && used + 1 < n; i++)
    used += (size_t)snprintf(out + used, n - used, "%s%s", i ? ", " : "", s->modules[i]);
}

static int constant_time_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char d = (unsigned char)(la != lb);
  for (size_t i = 0; i < lb; i++) d |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
  return d == 0 && la > 0;
}

/* The text list of a request: the first of the keys present, with its name. */
static const json_value *text_field(const json_value *v, const char *const *keys, const char **name) {
  for (int i = 0; keys[i]; i++) {
    const json_value *t = json_get(v, keys[i]);
    if (t) {
      *name = keys[i];
      return t;
    }
  }
  *name = keys[0];
  return NULL;
}

/* Checks a parsed body for its endpoint; returns the number of texts, or -1 with the field
 * and message written (status in *status). */
static int check_body(hub_server *s, conn_ctx *x, const json_value *v, char *field, size_t fn, char *msg, size_t mn,
                      int *status) {
  *status = 400;
  if (v->type != JSON_OBJECT) {
    snprintf(field, fn, "body");
    snprintf(msg, mn, "body: expected a JSON object, got %s%s", v->type == JSON_ARRAY ? "an " : "a ",
             json_type_name(v->type));
    return -1;
  }
  if (x->ep == EP_PREDICT) {
    static const char *const keys[] = { "text", "texts", "data", NULL };
    const char *name;
    const json_value *t = text_field(v, keys, &name);
    int n = t && t->type == JSON_ARRAY ? t->n : 1;
    if (n > s->max_items) {
      snprintf(field, fn, "%s", name);
      snprintf(msg, mn, "%s: %d items, at most %d in one request", name, n, s->max_items);
      return -1;
    }
    return n;
  }
  if (x->ep == EP_OPENAI) {
    const json_value *m = json_get(v, "model");
    if (!m || m->type != JSON_STRING) {
      snprintf(field, fn, "model");
      snprintf(msg, mn, "model: %s (the name of a served module)", m ? "expected a string" : "required");
      return -1;
    }
    x->module = find_module(s, m->s);
    if (x->module < 0) {
      char served[256];
      served_list(s, served, sizeof served);
      *status = 404;
      snprintf(field, fn, "model");
      snprintf(msg, mn, "model: '%.64s' is not served here (served: %s)", m->s, served);
      return -1;
    }
    const json_value *f = json_get(v, "encoding_format");
    if (f && !(f->type == JSON_STRING && strcmp(f->s, "float") == 0)) {
      snprintf(field, fn, "encoding_format");
      snprintf(msg, mn, "encoding_format: only \"float\" is supported");
      return -1;
    }
    const json_value *d = json_get(v, "dimensions");
    if (d && d->type != JSON_NULL) {
      snprintf(field, fn, "dimensions");
      snprintf(msg, mn, "dimensions: not supported (the module's vectors have a fixed size)");
      return -1;
    }
  }
  static const char *const openai_keys[] = { "input", NULL };
  static const char *const embed_keys[] = { "text", "texts", "input", "data", NULL };
  const char *name;
  const json_value *t = text_field(v, x->ep == EP_OPENAI ? openai_keys : embed_keys, &name);
  if (!t) {
    snprintf(field, fn, "%s", name);
    snprintf(msg, mn, "%s: required (a list of texts)", name);
    return -1;
  }
  if (t->type == JSON_STRING) return 1;
  if (t->type != JSON_ARRAY || t->n == 0) {
    snprintf(field, fn, "%s", name);
    snprintf(msg, mn, "%s: expected a text or a non-empty list of texts, got %s", name,
             t->type == JSON_ARRAY ? "an empty list" : json_type_name(t->type));
    return -1;
  }
  if (t->n > s->max_items) {
    snprintf(field, fn, "%s", name);
    snprintf(msg, mn, "%s: %d texts, at most %d in one request", name, t->n, s->max_items);
    return -1;
  }
  for (int i = 0; i < t->n; i++) {
    const json_value *e = &t->items[i];
    int good = e->type == JSON_STRING;
    if (!good && x->ep == EP_EMBEDDING && e->type == JSON_ARRAY && (e->n == 1 || e->n == 2))
      good = e->items[0].type == JSON_STRING && (e->n == 1 || e->items[1].type == JSON_STRING);
    if (!good) {
      snprintf(field, fn, "%s[%d]", name, i);
      snprintf(msg, mn, "%s[%d]: expected a string%s, got %s", name, i,
               x->ep == EP_EMBEDDING ? " or a [text, pair] list" : "",
               e->type == JSON_ARRAY && x->ep == EP_OPENAI ? "a list (token ids are not supported; send text)"
                                                           : json_type_name(e->type));
      return -1;
    }
  }
  return t->n;
}

/* Whether the client has hung up (the connection's socket reports end of input or an error). */
static int client_gone(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!ci) return 0;
  struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
  if (poll(&p, 1, 0) <= 0) return 0;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Queues the checked body and waits for its answer. */
static enum MHD_Result run_request(hub_server *s, struct MHD_Connection *c, conn_ctx *x, int kind, int items) {
  serve_req *r = serve_req_new(s, x->module, kind, x->body, x->len, items);
  if (!r) return send_error(s, c, x, 500, NULL, NULL, "out of memory");
  x->body = NULL; /* the request owns it now */
  if (serve_enqueue(s, r) != 0) {
    pthread_mutex_lock(&s->lock);
    int draining = s->draining;
    serve_req_release_locked(s, r);
    pthread_mutex_unlock(&s->lock);
    return send_error(s, c, x, 503, NULL, NULL, draining ? "the server is stopping" : "the server is busy (the queue is full); retry later");
  }
  double deadline = r->t0 + s->timeout_ms / 1000.0;
  int status = 0;
  char *reply = NULL;
  size_t reply_len = 0;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    if (r->state == REQ_DONE) {
      status = r->status;
      reply = r->reply;
      reply_len = r->reply_len;
      r->reply = NULL;
      break;
    }
    double now = serve_now();
    if (now >= deadline) {
      serve_cancel_locked(s, r);
      status = 504;
      break;
    }
    pthread_mutex_unlock(&s->lock);
    int gone = client_gone(c);
    pthread_mutex_lock(&s->lock);
    if (gone && r->state != REQ_DONE) {
      serve_cancel_locked(s, r);
      status = 499;
      break;
    }
    if (r->state == REQ_DONE) continue;
    double until = now + 0.05;
    serve_cond_wait_until(&r->done, &s->lock, until < deadline ? until : deadline);
  }
  serve_req_release_locked(s, r);
  pthread_mutex_unlock(&s->lock);
  enum MHD_Result rc;
  if (status == 499) {
    pthread_mutex_lock(&s->lock);
    serve_metrics_request(s, x->module, x->ep, 499, serve_now() - x->t0);
    if (x->counted) {
      x->counted = 0;
      s->in_flight--;
      pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    rc = MHD_NO; /* close the connection; nobody reads an answer */
  } else if (status == 504) {
    rc = send_error(s, c, x, 504, NULL, NULL, "the request took longer than the server's timeout (%d ms)", s->timeout_ms);
  } else if (!reply) {
    rc = send_error(s, c, x, 500, NULL, NULL, "out of memory");
  } else {
    rc = send_json(s, c, x, status, reply, reply_len);
  }
  free(reply);
  return rc;
}

static const char default_page[] = "<!doctype html><title>hubrun serving</title><p>hubrun serving: see GET /modules</p>\n";

static enum MHD_Result answer_get(hub_server *s, struct MHD_Connection *c, conn_ctx *x) {
  if (x->ep == EP_PAGE) {
    const char *p = s->page_html ? s->page_html : default_page;
    return send_answer(s, c, x, 200, "text/html; charset=utf-8", p, strlen(p), NULL);
  }
  json_buf b = { 0 };
  int status = 200;
  const char *type = "application/json; charset=utf-8";
  if (x->ep == EP_HEALTH) {
    pthread_mutex_lock(&s->lock);
    int ready = 0;
    for (int i = 0; i < s->workers_n; i++) ready += s->workers && s->workers[i].state == 1;
    int draining = s->draining, queued = s->queued;
    pthread_mutex_unlock(&s->lock);
    status = draining || ready == 0 ? 503 : 200;
    json_buf_printf(&b, "{\"status\":\"%s\",\"live\":true,\"ready\":%s,\"workers\":%d,\"queue_depth\":%d,\"modules\":[",
                    draining ? "stopping" : ready ? "ok" : "not ready", !draining && ready ? "true" : "false", ready, queued);
    for (int i = 0; i < s->module_count; i++) {
      if (i) json_buf_putc(&b, ',');
      json_buf_str(&b, s->modules[i]);
    }
    json_buf_printf(&b, "]}");
  } else if (x->ep == EP_MODULES) {
    if (s->modules_json) json_buf_write(&b, s->modules_json, strlen(s->modules_json));
    else {
      json_buf_printf(&b, "{\"modules\":[");
      for (int i = 0; i < s->module_count; i++) {
        if (i) json_buf_putc(&b, ',');
        json_buf_printf(&b, "{\"name\":");
        json_buf_str(&b, s->modules[i]);
        json_buf_putc(&b, '}');
      }
      json_buf_printf(&b, "]}");
    }
  } else {
    type = "text/plain; version=0.0.4; charset=utf-8";
    pthread_mutex_lock(&s->lock);
    serve_metrics_text(s, &b);
    pthread_mutex_unlock(&s->lock);
  }
  enum MHD_Result rc = b.failed ? send_error(s, c, x, 500, NULL, NULL, "out of memory")
                                : send_answer(s, c, x, status, type, b.data ? b.data : "", b.len, NULL);
  free(b.data);
  return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  hub_server *s = cls;
  conn_ctx *x = *con_cls;
  if (!x) {
    x = calloc(1, sizeof *x);
    if (!x) return MHD_NO;
    *con_cls = x;
    x->t0 = serve_now();
    x->module = -1;
    x->ep = EP_OTHER;
    pthread_mutex_lock(&s->lock);
    s->in_flight++;
    x->counted = 1;
    pthread_mutex_unlock(&s->lock);
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int is_post = strcmp(method, "POST") == 0;
    int want_post = 0;
    const char *name = NULL;
    if (strncmp(url, "/predict/", 9) == 0) x->ep = EP_PREDICT, name = url + 9, want_post = 1;
    else if (strncmp(url, "/embedding/", 11) == 0) x->ep = EP_EMBEDDING, name = url + 11, want_post = 1;
    else if (strcmp(url, "/v1/embeddings") == 0) x->ep = EP_OPENAI, want_post = 1;
    else if (strcmp(url, "/health") == 0) x->ep = EP_HEALTH;
    else if (strcmp(url, "/modules") == 0 || strcmp(url, "/get/modules") == 0) x->ep = EP_MODULES;
    else if (strcmp(url, "/metrics") == 0) x->ep = EP_METRICS;
    else if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) x->ep = EP_PAGE;
    if (x->ep == EP_OTHER) return send_error(s, c, x, 404, NULL, NULL, "no such endpoint: %.100s %.200s", method, url);
    if (name) {
      x->module = find_module(s, name);
      if (x->module < 0) {
        char served[256];
        served_list(s, served, sizeof served);
        return send_error(s, c, x, 404, NULL, NULL, "module '%.64s' is not served here (served: %s)", name, served);
      }
    }
    if (strcmp(method, "OPTIONS") == 0 && s->cors) {
      struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
      if (!r) return MHD_NO;
      MHD_add_response_header(r, "Access-Control-Allow-Origin", s->cors);
      MHD_add_response_header(r, "Access-Control-Allow-Methods", want_post ? "POST, OPTIONS" : "GET, OPTIONS");
      MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type, Authorization");
      MHD_add_response_header(r, "Access-Control-Max-Age", "600");
      pthread_mutex_lock(&s->lock);
      serve_metrics_request(s, x->module, x->ep, 204, serve_now() - x->t0);
      s->in_flight--;
      x->counted = 0;
      pthread_mutex_unlock(&s->lock);
      enum MHD_Result rc = MHD_queue_response(c, 204, r);
      MHD_destroy_response(r);
      return rc;
    }
    if (want_post && !is_post) return send_error(s, c, x, 405, NULL, "POST", "%s needs POST, not %.20s", url, method);
    if (!want_post && !is_get) return send_error(s, c, x, 405, NULL, "GET", "%s needs GET, not %.20s", url, method);
    if (s->api_key && x->ep != EP_HEALTH) {
      const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
      if (!auth || strncmp(auth, "Bearer ", 7) != 0 || !constant_time_equal(auth + 7, s->api_key))
        return send_error(s, c, x, 401, "Authorization", NULL,
                          auth ? "Authorization: wrong API key" : "Authorization: required (Bearer API key)");
    }
    pthread_mutex_lock(&s->lock);
    int draining = s->draining;
    pthread_mutex_unlock(&s->lock);
    if (draining && want_post) return send_error(s, c, x, 503, NULL, NULL, "the server is stopping");
    if (!want_post) return answer_get(s, c, x);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
      char *end;
      errno = 0;
      unsigned long long n = strtoull(cl, &end, 10);
      if (errno == 0 && end != cl && n > (unsigned long long)s->max_body)
        return send_error(s, c, x, 413, "body", NULL, "body: %llu bytes, at most %lld", n, (long long)s->max_body);
    }
    return MHD_YES;
  }
  (void)version;
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (x->too_large) return MHD_YES;
    if ((int64_t)(x->len + n) > s->max_body) {
      x->too_large = 1;
      free(x->body);
      x->body = NULL;
      x->len = x->cap = 0;
      return MHD_YES;
    }
    if (x->len + n + 1 > x->cap) {
      size_t cap = x->cap ? x->cap : 4096;
      while (cap < x->len + n + 1) cap *= 2;
      char *p = realloc(x->body, cap);
      if (!p) return MHD_NO;
      x->body = p;
      x->cap = cap;
    }
    memcpy(x->body + x->len, upload, n);
    x->len += n;
    x->body[x->len] = 0;
    return MHD_YES;
  }
  if (x->too_large) return send_error(s, c, x, 413, "body", NULL, "body: more than %lld bytes", (long long)s->max_body);
  if (!x->body || x->len == 0) return send_error(s, c, x, 400, "body", NULL, "body: empty (expected a JSON object)");
  char err[160], field[96], msg[400];
  json_value *v = json_parse(x->body, x->len, err, sizeof err);
  if (!v) return send_error(s, c, x, 400, "body", NULL, "body: invalid JSON: %s", err);
  int status = 400;
  int items = check_body(s, x, v, field, sizeof field, msg, sizeof msg, &status);
  json_free(v);
  if (items < 0) return send_error(s, c, x, status, field, NULL, "%s", msg);
  int kind = x->ep == EP_PREDICT ? HUB_SERVE_PREDICT : x->ep == EP_EMBEDDING ? HUB_SERVE_EMBEDDING : HUB_SERVE_OPENAI;
  return run_request(s, c, x, kind, items);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  hub_server *s = cls;
  conn_ctx *x = *con_cls;
  (void)c;
  (void)toe;
  if (!x) return;
  if (x->counted || x->sending) { /* counted: ended without an answer (client gone while uploading, ...) */
    pthread_mutex_lock(&s->lock);
    if (x->counted) s->in_flight--;
    if (x->sending) s->sending--;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
  }
  free(x->body);
  free(x);
  *con_cls = NULL;
}

/* ---- open, wait, stop, close ------------------------------------------------------------------ */

static char *dup_or_null(const char *p) { return p ? strdup(p) : NULL; }

static int listen_on(const char *host, int port, int *out_port) {
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
  struct addrinfo *ai = NULL;
  int rc = getaddrinfo(host, portstr, &hints, &ai);
  if (rc != 0) return hub_err("hubrun serving: host '%s': %s", host, gai_strerror(rc));
  int fd = -1, err = 0;
  for (struct addrinfo *p = ai; p; p = p->ai_next) {
    fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, 128) == 0) break;
    err = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0) {
    if (err == EADDRINUSE) return hub_err("hubrun serving: port %d is occupied (another server uses it)", port);
    return hub_err("hubrun serving: cannot listen on %s:%d: %s", host, port, strerror(err));
  }
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  *out_port = port;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    *out_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port : ((struct sockaddr_in *)&sa)->sin_port);
  return fd;
}

static void server_free(hub_server *s) {
  if (s->listen_fd >= 0) close(s->listen_fd);
  for (int i = 0; i < s->module_count && s->modules; i++) free(s->modules[i]);
  free(s->modules);
  free(s->host);
  free(s->home);
  free(s->worker_script);
  free(s->worker_args);
  free(s->api_key);
  free(s->cors);
  free(s->modules_json);
  free(s->page_html);
  free(s->queues);
  serve_metrics_free(s);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->work);
  pthread_cond_destroy(&s->changed);
  if (s->mask_set) pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
  free(s);
}

static long cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? n : 1;
}

hub_server *hub_serve_open(const hub_serve_options *o) {
  if (!o) return hub_errp("hub_serve_open: options are NULL");
  if (!o->worker_script) return hub_errp("hub_serve_open: worker_script is required");
  if (o->module_count < 1 || !o->modules) return hub_errp("hub_serve_open: no modules to serve");
  if (o->port < 0 || o->port > 65535) return hub_errp("hubrun serving: port must be in [0, 65535], got %d", o->port);
  if (o->workers < 0 || o->workers > 256) return hub_errp("hubrun serving: workers must be in [1, 256], got %d", o->workers);
  if (o->max_batch < 0) return hub_errp("hubrun serving: max_batch must be positive, got %d", o->max_batch);
  for (int i = 0; i < o->module_count; i++)
    for (int j = 0; j < i; j++)
      if (!o->modules[i] || !o->modules[j] || strcmp(o->modules[i], o->modules[j]) == 0)
        return hub_errp("hubrun serving: module '%s' is listed twice", o->modules[i] ? o->modules[i] : "(null)");
  hub_server *s = calloc(1, sizeof *s);
  if (!s) return hub_errp("hubrun serving: out of memory");
  s->listen_fd = -1;
  pthread_mutex_init(&s->lock, NULL);
  serve_cond_init(&s->work);
  serve_cond_init(&s->changed);
  s->host = strdup(o->host ? o->host : "127.0.0.1");
  s->home = dup_or_null(o->home);
  s->worker_script = strdup(o->worker_script);
  s->worker_args = dup_or_null(o->worker_args);
  s->api_key = o->api_key && o->api_key[0] ? strdup(o->api_key) : NULL;
  s->cors = o->cors_origin && o->cors_origin[0] ? strdup(o->cors_origin) : NULL;
  s->modules_json = dup_or_null(o->modules_json);
  s->page_html = dup_or_null(o->page_html);
  s->module_count = o->module_count;
  s->modules = calloc((size_t)o->module_count, sizeof *s->modules);
  s->queues = calloc((size_t)o->module_count * SERVE_KINDS, sizeof *s->queues);
  int oom = !s->host || !s->worker_script || !s->modules || !s->queues;
  for (int i = 0; !oom && i < o->module_count; i++) oom = !(s->modules[i] = strdup(o->modules[i]));
  if (oom || serve_metrics_init(s) != 0) {
    server_free(s);
    return hub_errp("hubrun serving: out of memory");
  }
  s->workers_n = o->workers > 0 ? o->workers : 1;
  s->threads = o->threads > 0 ? o->threads : (int)(cpu_count() / s->workers_n > 0 ? cpu_count() / s->workers_n : 1);
  s->max_batch = o->max_batch > 0 ? o->max_batch : 32;
  s->max_delay_ms = o->max_delay_ms > 0 ? o->max_delay_ms : 0;
  s->queue_limit = o->queue_limit > 0 ? o->queue_limit : 64 * s->workers_n;
  s->max_body = o->max_body > 0 ? o->max_body : (1 << 20);
  s->max_items = o->max_items > 0 ? o->max_items : 1024;
  s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
  s->max_connections = o->max_connections > 0 ? o->max_connections : 256;
  s->handle_signals = o->handle_signals;
  s->quiet = o->quiet;
  s->t_start = serve_now();

  s->listen_fd = listen_on(s->host, o->port, &s->port);
  if (s->listen_fd < 0) {
    s->listen_fd = -1;
    server_free(s);
    return NULL;
  }
  if (s->handle_signals) { /* before any thread exists, so that every thread inherits the mask */
    sigemptyset(&s->sigs);
    sigaddset(&s->sigs, SIGTERM);
    sigaddset(&s->sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &s->sigs, &s->old_mask);
    s->mask_set = 1;
    signal(SIGPIPE, SIG_IGN);
  }
  if (serve_workers_start(s) != 0) {
    server_free(s);
    return NULL;
  }
  s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC,
                               0, NULL, NULL, on_request, s,
                               MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->max_connections,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                               MHD_OPTION_END);
  if (!s->daemon) {
    serve_workers_stop(s);
    server_free(s);
    return hub_errp("hubrun serving: libmicrohttpd could not start on port %d", o->port);
  }
  return s;
}

int hub_serve_port(const hub_server *s) { return s ? s->port : -1; }

void hub_serve_stop(hub_server *s) {
  if (s) s->stop_asked = 1;
}

int hub_serve_wait(hub_server *s) {
  if (!s) return hub_err("hub_serve_wait: server is NULL");
  int sig = 0;
  while (!s->stop_asked) {
    if (s->handle_signals) {
      struct timespec ts = { 0, 100 * 1000000L };
      int got = sigtimedwait(&s->sigs, NULL, &ts);
      if (got > 0) {
        sig = got;
        break;
      }
    } else {
      struct timespec ts = { 0, 100 * 1000000L };
      nanosleep(&ts, NULL);
    }
  }
  pthread_mutex_lock(&s->lock);
  s->draining = 1;
  int n = s->in_flight;
  pthread_cond_broadcast(&s->work);
  pthread_mutex_unlock(&s->lock);
  if (!s->quiet)
    fprintf(stderr, "hubrun serving: %s, draining %d request%s in flight\n", sig == SIGINT ? "interrupted" : sig ? "SIGTERM" : "stop asked",
            n, n == 1 ? "" : "s");
  int fd = MHD_quiesce_daemon(s->daemon); /* no new connections */
  if (fd >= 0 && fd == s->listen_fd) {
    close(fd);
    s->listen_fd = -1;
  }
  double deadline = serve_now() + s->timeout_ms / 1000.0 + 1.0;
  pthread_mutex_lock(&s->lock);
  /* ... and until every answer is written out: MHD_stop_daemon closes connections at once */
  while ((s->in_flight > 0 || s->queued > 0 || s->sending > 0) && serve_now() < deadline)
    serve_cond_wait_until(&s->changed, &s->lock, serve_now() + 0.1 < deadline ? serve_now() + 0.1 : deadline);
  pthread_mutex_unlock(&s->lock);
  MHD_stop_daemon(s->daemon);
  s->daemon = NULL;
  serve_workers_stop(s);
  if (!s->quiet) fprintf(stderr, "hubrun serving: stopped\n");
  return 0;
}

void hub_serve_close(hub_server *s) {
  if (!s) return;
  if (s->daemon) {
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
  }
  serve_workers_stop(s);
  server_free(s);
}
