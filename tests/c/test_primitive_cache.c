/* test_primitive_cache.c - the bounded oneDNN primitive cache (kernels/cpu/dnnl_cache.c).
 *
 * A server sees many shapes (sequence lengths, batch sizes) and creates a primitive for each; the
 * cache keeps at most a bound of them and drops the least recently used half when full.  Checked:
 * the bound holds over many shapes, recently used primitives survive an eviction (their next
 * lookup does not create a new one), and products stay right - also when several threads evict
 * primitives that other threads are running (each reference is held from lookup to execution).
 * Every product is compared with a naive double-precision loop.  And primitives created on one
 * thread and run on others at the same time, with shapes whose oneDNN implementations need a
 * scratchpad (a long reduction over few outputs): each thread gets its own scratchpad (the user
 * scratchpad mode of dnnl_cache.c); with oneDNN's library mode the threads shared one and two
 * serving workers got each other's partial sums.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "hub.h"
#include "check.h"

/* max |a b - naive| for a [M, K] x b [K, N] with deterministic values */
static double product_error(int64_t M, int64_t K, int64_t N) {
  hub_tensor *a = hub_tensor_empty(HUB_F32, 2, (int64_t[]){M, K}, HUB_CPU);
  hub_tensor *b = hub_tensor_empty(HUB_F32, 2, (int64_t[]){K, N}, HUB_CPU);
  if (!a || !b) return 1e9;
  float *pa = a->data, *pb = b->data;
  for (int64_t i = 0; i < M * K; i++) pa[i] = (float)((i * 7 + 3) % 11) * 0.125f - 0.5f;
  for (int64_t i = 0; i < K * N; i++) pb[i] = (float)((i * 5 + 1) % 13) * 0.0625f - 0.25f;
  hub_tensor *c = hub_matmul(a, b);
  double err = c ? 0 : 1e9;
  for (int64_t i = 0; c && i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0;
      for (int64_t k = 0; k < K; k++) s += (double)pa[i * K + k] * pb[k * N + j];
      double e = fabs(s - ((float *)c->data)[i * N + j]);
      if (e > err) err = e;
    }
  hub_tensor_release(a);
  hub_tensor_release(b);
  hub_tensor_release(c);
  return err;
}

typedef struct {
  int id;
  double worst;
} job;

static void *same_shapes(void *arg) {
  job *j = arg;
  hub_set_num_threads(2);
  for (int r = 0; r < 40; r++) {
    double e = product_error(r % 2 ? 6 : 3, 3000, r % 2 ? 5 : 7);
    if (e > j->worst) j->worst = e;
  }
  return NULL;
}

static void *worker(void *arg) {
  job *j = arg;
  hub_set_num_threads(1);
  for (int r = 0; r < 60; r++) {
    int64_t M = 3 + (r * 7 + j->id * 5) % 23, K = 5 + (r + j->id) % 9, N = 4 + (r * 3) % 11;
    double e = product_error(M, K, N);
    if (e > j->worst) j->worst = e;
  }
  return NULL;
}

int main(void) {
  cpu_dnnl_cache_set_limit(8);
  size_t most = 0;
  double worst = 0;
  for (int64_t M = 1; M <= 40; M++) {
    double e = product_error(M, 16, 24);
    if (e > worst) worst = e;
    size_t n = cpu_dnnl_cache_count();
    if (n > most) most = n;
  }
  CHECK(most <= 8, "at most 8 primitives cached over 40 shapes (saw %zu)", most);
  CHECK(cpu_dnnl_cache_count() >= 1, "the cache is not emptied wholesale (%zu)", cpu_dnnl_cache_count());
  CHECK(worst < 1e-4, "40 shapes through evictions: max error %g", worst);

  /* the most recently used shape survives the next eviction */
  product_error(40, 16, 24);              /* most recent */
  for (int64_t M = 100; M < 104; M++) product_error(M, 16, 24); /* fills up to 8 again, maybe evicts */
  size_t before = cpu_dnnl_cache_count();
  product_error(40, 16, 24);              /* a hit if it survived: the count does not change */
  CHECK(cpu_dnnl_cache_count() == before, "recently used primitive kept (%zu -> %zu)", before,
        cpu_dnnl_cache_count());

  /* threads evicting what other threads run */
  cpu_dnnl_cache_set_limit(4);
  enum { T = 4 };
  pthread_t th[T];
  job jobs[T];
  for (int i = 0; i < T; i++) {
    jobs[i].id = i;
    jobs[i].worst = 0;
    pthread_create(&th[i], NULL, worker, &jobs[i]);
  }
  double tw = 0;
  for (int i = 0; i < T; i++) {
    pthread_join(th[i], NULL);
    if (jobs[i].worst > tw) tw = jobs[i].worst;
  }
  CHECK(tw < 1e-4, "4 threads, bound 4, 240 products: max error %g", tw);
  CHECK(cpu_dnnl_cache_count() <= 4, "bound 4 holds after the threads (%zu)", cpu_dnnl_cache_count());

  /* primitives made here, run by 3 threads at once */
  cpu_dnnl_cache_set_limit(0);
  product_error(3, 3000, 7);
  product_error(6, 3000, 5);
  job sj[3];
  pthread_t st[3];
  for (int i = 0; i < 3; i++) {
    sj[i].id = i;
    sj[i].worst = 0;
    pthread_create(&st[i], NULL, same_shapes, &sj[i]);
  }
  double sw = 0;
  for (int i = 0; i < 3; i++) {
    pthread_join(st[i], NULL);
    if (sj[i].worst > sw) sw = sj[i].worst;
  }
  CHECK(sw < 1e-3, "3 threads running the same long-reduction primitives at once: max error %g", sw);

  cpu_dnnl_cache_set_limit(0); /* back to the default */
  return check_summary();
}
