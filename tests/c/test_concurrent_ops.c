/* test_concurrent_ops.c - the ops of an encoder layer run at the same time on several threads
 * (serving workers: one runtime per thread, one process, the same shapes and the same weights)
 * give the same numbers as on one thread.
 *
 * Each thread calls hub_set_num_threads(1) and runs, for a list of row counts R (the batcher's
 * varying batch x sequence sizes), a transformer block's forward on x [R/8, 8, 384] with weights
 * shared by every thread (read-only, as hub.load_shared hands them out):
 *
 *   qkv = x Wqkv^T + bqkv;  ctx = attention_qkv(qkv, 12 heads);  a = layer_norm(x + ctx Wo^T + bo)
 *   h = gelu(a W1^T + b1) (fused post-op);  y = layer_norm(a + h W2^T + b2);  p = softmax(y)
 *
 * The reference is the same computation on the main thread alone, before the threads start (so
 * the threads also run oneDNN primitives that another thread created).  Every thread's result
 * for every R must equal it within 1e-5 (single-threaded oneDNN kernels are deterministic: the
 * difference is 0 when nothing is shared that should not be).  Before the fix (kernels/cpu/
 * dnnl_cache.c shared one primitive, and with it oneDNN's library-managed scratchpad, between
 * threads running it at once) results differed by up to ~1e-2 here.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

#define D 384
#define FF 1536
#define HEADS 12
#define NTHREADS 4
#define ROUNDS 3

static const int64_t k_rows[] = {8, 16, 24, 40, 64, 72, 96, 128};
#define NR ((int)(sizeof k_rows / sizeof k_rows[0]))

static hub_tensor *Wqkv, *bqkv, *Wo, *bo, *W1, *b1, *W2, *b2, *g1, *be1, *g2, *be2;

/* A deterministic tensor with values in about [-scale, scale]. */
static hub_tensor *filled(int ndim, const int64_t *shape, unsigned seed, float scale) {
  hub_tensor *t = hub_tensor_empty(HUB_F32, ndim, shape, HUB_CPU);
  if (!t) return NULL;
  float *p = t->data;
  uint32_t s = seed * 2654435761u + 12345u;
  for (int64_t i = 0, n = hub_tensor_numel(t); i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
  }
  return t;
}

/* The block's output for R rows (a new tensor; NULL on error). */
static hub_tensor *block(int64_t R) {
  hub_tensor *x = filled(3, (int64_t[]){R / 8, 8, D}, (unsigned)R, 1.0f);
  hub_tensor *qkv = hub_linear(x, Wqkv, bqkv);
  hub_tensor *ctx = qkv ? hub_attention_qkv(qkv, NULL, HEADS, 0.0, 0.0) : NULL;
  hub_tensor *o = ctx ? hub_linear(ctx, Wo, bo) : NULL;
  hub_tensor *r1 = o ? hub_add(x, o) : NULL;
  hub_tensor *a = r1 ? hub_layer_norm(r1, 1, g1, be1, 1e-12) : NULL;
  hub_tensor *h = a ? hub_linear_act(a, W1, b1, "gelu") : NULL;
  hub_tensor *f = h ? hub_linear(h, W2, b2) : NULL;
  hub_tensor *r2 = f ? hub_add(a, f) : NULL;
  hub_tensor *y = r2 ? hub_layer_norm(r2, 1, g2, be2, 1e-12) : NULL;
  hub_tensor *p = y ? hub_softmax(y, -1) : NULL;
  hub_tensor *all[] = {x, qkv, ctx, o, r1, a, h, f, r2, y};
  release_n(10, all);
  return p;
}

static double *want[NR];

typedef struct {
  double worst;
  int errors;
} job;

static void *worker(void *arg) {
  job *j = arg;
  hub_set_num_threads(1);
  for (int round = 0; round < ROUNDS; round++)
    for (int i = 0; i < NR; i++) {
      hub_tensor *p = block(k_rows[i]);
      if (!p) {
        j->errors++;
        continue;
      }
      double *v = values(p);
      for (int64_t e = 0, n = hub_tensor_numel(p); e < n; e++) {
        double d = fabs(v[e] - want[i][e]);
        if (!(d <= j->worst)) j->worst = d; /* NaN counts as the worst */
      }
      free(v);
      hub_tensor_release(p);
    }
  return NULL;
}

int main(void) {
  hub_set_num_threads(1);
  Wqkv = filled(2, (int64_t[]){3 * D, D}, 1, 0.05f);
  bqkv = filled(1, (int64_t[]){3 * D}, 2, 0.02f);
  Wo = filled(2, (int64_t[]){D, D}, 3, 0.05f);
  bo = filled(1, (int64_t[]){D}, 4, 0.02f);
  W1 = filled(2, (int64_t[]){FF, D}, 5, 0.05f);
  b1 = filled(1, (int64_t[]){FF}, 6, 0.02f);
  W2 = filled(2, (int64_t[]){D, FF}, 7, 0.03f);
  b2 = filled(1, (int64_t[]){D}, 8, 0.02f);
  g1 = filled(1, (int64_t[]){D}, 9, 1.0f);
  be1 = filled(1, (int64_t[]){D}, 10, 0.1f);
  g2 = filled(1, (int64_t[]){D}, 11, 1.0f);
  be2 = filled(1, (int64_t[]){D}, 12, 0.1f);

  for (int i = 0; i < NR; i++) {
    hub_tensor *p = block(k_rows[i]);
    CHECK(p != NULL, "reference block for %lld rows: %s", (long long)k_rows[i], hub_last_error());
    if (!p) return check_summary();
    want[i] = values(p);
    /* the same thread twice: the same numbers (the comparison below is meaningful) */
    hub_tensor *p2 = block(k_rows[i]);
    double *v2 = p2 ? values(p2) : NULL;
    double d = v2 ? 0 : 1e9;
    for (int64_t e = 0, n = hub_tensor_numel(p); v2 && e < n; e++) d = fmax(d, fabs(v2[e] - want[i][e]));
    CHECK(d == 0, "one thread, %lld rows twice: identical (max diff %g)", (long long)k_rows[i], d);
    free(v2);
    hub_tensor_release(p2);
    hub_tensor_release(p);
  }

  pthread_t th[NTHREADS];
  job jobs[NTHREADS] = {{0}};
  for (int t = 0; t < NTHREADS; t++) pthread_create(&th[t], NULL, worker, &jobs[t]);
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < NTHREADS; t++) {
    CHECK(jobs[t].errors == 0, "thread %d: %d blocks failed", t, jobs[t].errors);
    CHECK(jobs[t].worst <= 1e-5, "thread %d of %d at once: max |diff| from one thread alone %g (<= 1e-5)", t,
          NTHREADS, jobs[t].worst);
  }

  for (int i = 0; i < NR; i++) free(want[i]);
  hub_tensor *w[] = {Wqkv, bqkv, Wo, bo, W1, b1, W2, b2, g1, be1, g2, be2};
  release_n(12, w);
  return check_summary();
}
