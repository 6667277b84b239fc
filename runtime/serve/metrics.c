/* metrics.c - the server's counters, written as Prometheus text for GET /metrics.
 *
 *   hub_serve_requests_total{module,endpoint,status}   answers given (counter)
 *   hub_serve_request_duration_seconds{module}         arrival to answer, module endpoints (histogram)
 *   hub_serve_batch_size{module}                       texts per batch a worker took (histogram)
 *   hub_serve_queue_depth{module}                      requests waiting (gauge)
 *   hub_serve_in_flight, hub_serve_workers, hub_serve_uptime_seconds, process_resident_memory_bytes
 *
 * Everything is updated and read under the server lock.  Requests that name no served module
 * (GET /health, a 404) carry module="".
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "serve.h"

static const int status_codes[SERVE_STATUS_N] = { 200, 204, 400, 401, 404, 405, 413, 499, 500, 503, 504, 0 };
static const double lat_bounds[SERVE_LAT_BUCKETS - 1] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                          0.25, 0.5, 1, 2.5, 5, 10, 30 };
static const int batch_bounds[SERVE_BATCH_BUCKETS - 1] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };
static const char *const ep_names[EP_COUNT] = { "predict", "embedding", "v1_embeddings", "health",
                                                "modules", "metrics", "page", "other" };

const char *serve_endpoint_name(serve_endpoint ep) { return ep >= 0 && ep < EP_COUNT ? ep_names[ep] : "other"; }

int serve_metrics_init(hub_server *s) {
  size_t m = (size_t)s->module_count;
  serve_metrics *x = &s->m;
  x->requests = calloc((m + 1) * EP_COUNT * SERVE_STATUS_N, sizeof *x->requests);
  x->lat = calloc(m * SERVE_LAT_BUCKETS + 1, sizeof *x->lat);
  x->lat_sum = calloc(m + 1, sizeof *x->lat_sum);
  x->lat_count = calloc(m + 1, sizeof *x->lat_count);
  x->batch = calloc(m * SERVE_BATCH_BUCKETS + 1, sizeof *x->batch);
  x->batch_sum = calloc(m + 1, sizeof *x->batch_sum);
  x->batch_count = calloc(m + 1, sizeof *x->batch_count);
  if (!x->requests || !x->lat || !x->lat_sum || !x->lat_count || !x->batch || !x->batch_sum || !x->batch_count) return -1;
  return 0;
}

void serve_metrics_free(hub_server *s) {
  serve_metrics *x = &s->m;
  free(x->requests);
  free(x->lat);
  free(x->lat_sum);
  free(x->lat_count);
  free(x->batch);
  free(x->batch_sum);
  free(x->batch_count);
}

static int status_index(int status) {
  for (int i = 0; i < SERVE_STATUS_N - 1; i++)
    if (status_codes[i] == status) return i;
  return SERVE_STATUS_N - 1;
}

void serve_metrics_request(hub_server *s, int module, serve_endpoint ep, int status, double seconds) {
  serve_metrics *x = &s->m;
  if (!x->requests) return;
  if (module < -1 || module >= s->module_count) module = -1;
  x->requests[((size_t)(module + 1) * EP_COUNT + ep) * SERVE_STATUS_N + status_index(status)]++;
  if (module < 0 || (ep != EP_PREDICT && ep != EP_EMBEDDING && ep != EP_OPENAI)) return;
  int b = 0;
  while (b < SERVE_LAT_BUCKETS - 1 && seconds > lat_bounds[b]) b++;
  x->lat[(size_t)module * SERVE_LAT_BUCKETS + b]++;
  x->lat_sum[module] += seconds;
  x->lat_count[module]++;
}

void serve_metrics_batch(hub_server *s, int module, int items) {
  serve_metrics *x = &s->m;
  if (!x->batch || module < 0 || module >= s->module_count) return;
  int b = 0;
  while (b < SERVE_BATCH_BUCKETS - 1 && items > batch_bounds[b]) b++;
  x->batch[(size_t)module * SERVE_BATCH_BUCKETS + b]++;
  x->batch_sum[module] += items;
  x->batch_count[module]++;
}

static long resident_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long size = 0, rss = 0;
  if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = 0;
  fclose(f);
  return rss * sysconf(_SC_PAGESIZE);
}

static void label(json_buf *o, const char *name, const char *value) {
  /* module names are the served ones (checked at start); quote and backslash escaped anyway */
  json_buf_printf(o, "%s=\"", name);
  for (const char *p = value; *p; p++) {
    if (*p == '"' || *p == '\\') json_buf_putc(o, '\\');
    if (*p == '\n') { json_buf_write(o, "\\n", 2); continue; }
    json_buf_putc(o, *p);
  }
  json_buf_putc(o, '"');
}

void serve_metrics_text(hub_server *s, json_buf *o) {
  serve_metrics *x = &s->m;
  int M = s->module_count;
  json_buf_printf(o, "# HELP hub_serve_requests_total Requests answered, by module, endpoint and HTTP status.\n"
                     "# TYPE hub_serve_requests_total counter\n");
  for (int m = -1; m < M; m++)
    for (int e = 0; e < EP_COUNT; e++)
      for (int k = 0; k < SERVE_STATUS_N; k++) {
        uint64_t v = x->requests[((size_t)(m + 1) * EP_COUNT + e) * SERVE_STATUS_N + k];
        if (!v) continue;
        json_buf_printf(o, "hub_serve_requests_total{");
        label(o, "module", m < 0 ? "" : s->modules[m]);
        json_buf_printf(o, ",endpoint=\"%s\",status=\"", ep_names[e]);
        if (status_codes[k]) json_buf_printf(o, "%d", status_codes[k]);
        else json_buf_printf(o, "other");
        json_buf_printf(o, "\"} %llu\n", (unsigned long long)v);
      }
  json_buf_printf(o, "# HELP hub_serve_request_duration_seconds Time from a request's arrival to its answer (module endpoints).\n"
                     "# TYPE hub_serve_request_duration_seconds histogram\n");
  for (int m = 0; m < M; m++) {
    uint64_t cum = 0;
    for (int b = 0; b < SERVE_LAT_BUCKETS; b++) {
      cum += x->lat[(size_t)m * SERVE_LAT_BUCKETS + b];
      json_buf_printf(o, "hub_serve_request_duration_seconds_bucket{");
      label(o, "module", s->modules[m]);
      if (b < SERVE_LAT_BUCKETS - 1) json_buf_printf(o, ",le=\"%g\"} %llu\n", lat_bounds[b], (unsigned long long)cum);
      else json_buf_printf(o, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    json_buf_printf(o, "hub_serve_request_duration_seconds_sum{");
    label(o, "module", s->modules[m]);
    json_buf_printf(o, "} %.6f\nhub_serve_request_duration_seconds_count{", x->lat_sum[m]);
    label(o, "module", s->modules[m]);
    json_buf_printf(o, "} %llu\n", (unsigned long long)x->lat_count[m]);
  }
  json_buf_printf(o, "# HELP hub_serve_batch_size Texts per batch a worker ran.\n"
                     "# TYPE hub_serve_batch_size histogram\n");
  for (int m = 0; m < M; m++) {
    uint64_t cum = 0;
    for (int b = 0; b < SERVE_BATCH_BUCKETS; b++) {
      cum += x->batch[(size_t)m * SERVE_BATCH_BUCKETS + b];
      json_buf_printf(o, "hub_serve_batch_size_bucket{");
      label(o, "module", s->modules[m]);
      if (b < SERVE_BATCH_BUCKETS - 1) json_buf_printf(o, ",le=\"%d\"} %llu\n", batch_bounds[b], (unsigned long long)cum);
      else json_buf_printf(o, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    json_buf_printf(o, "hub_serve_batch_size_sum{");
    label(o, "module", s->modules[m]);
    json_buf_printf(o, "} %.0f\nhub_serve_batch_size_count{", x->batch_sum[m]);
    label(o, "module", s->modules[m]);
    json_buf_printf(o, "} %llu\n", (unsigned long long)x->batch_count[m]);
  }
  json_buf_printf(o, "# HELP hub_serve_queue_depth Requests waiting for a worker.\n# TYPE hub_serve_queue_depth gauge\n");
  for (int m = 0; m < M; m++) {
    int depth = 0;
    for (int k = 0; k < SERVE_KINDS; k++) depth += s->queues[m * SERVE_KINDS + k].count;
    json_buf_printf(o, "hub_serve_queue_depth{");
    label(o, "module", s->modules[m]);
    json_buf_printf(o, "} %d\n", depth);
  }
  int ready = 0;
  for (int i = 0; i < s->workers_n; i++) ready += s->workers && s->workers[i].state == 1;
  json_buf_printf(o, "# HELP hub_serve_in_flight Requests being read, queued, run or answered.\n# TYPE hub_serve_in_flight gauge\n"
                     "hub_serve_in_flight %d\n"
                     "# HELP hub_serve_workers Worker threads ready.\n# TYPE hub_serve_workers gauge\nhub_serve_workers %d\n"
                     "# HELP hub_serve_uptime_seconds Seconds since the server started.\n# TYPE hub_serve_uptime_seconds gauge\n"
                     "hub_serve_uptime_seconds %.3f\n"
                     "# HELP process_resident_memory_bytes Resident memory of the server process.\n"
                     "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
                  s->in_flight, ready, serve_now() - s->t_start, resident_bytes());
}
