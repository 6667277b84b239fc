/* gemm.c - hub_linear forward against raw dnnl_sgemm, and a memory-flatness check.
 *
 *   bench_gemm [THREADS] [--reps N] [--warmup N] [--clock wall|cpu] [--raw]
 *   bench_gemm [THREADS] --memory N
 *
 * Throughput mode: for each shape M x N x K (M rows of input, K in-features, N out-features)
 * it times
 *   hub        hub_linear(x[M,K], w[N,K], bias[N]) with grad mode off, result released each call
 *   hub_nb     the same without bias
 *   sgemm      dnnl_sgemm('N','T', M,N,K, 1, x,K, w,K, 0, y,N)   (row-major y = x w^T, no bias)
 *   sgemm_b    sgemm followed by a plain C loop adding the bias (what an unfused layer would do)
 * on the same x and w.  Calls are interleaved (hub, hub_nb, sgemm, sgemm_b, hub, ...) so that
 * frequency drift or a noisy neighbour hits every variant alike.  Each figure is the median of
 * the timed calls (CLOCK_MONOTONIC) after warm-up calls; GFLOP/s counts 2*M*N*K (the bias's M*N
 * adds are not counted).  The headline ratio hub/sgemm compares hub WITH bias to sgemm WITHOUT
 * bias, the strictest reading; hub/sgemm_b is printed too.
 *
 * --clock cpu times with the process's CPU time divided by the thread count instead of the wall
 * clock: on a shared machine whose other processes steal cores it measures the work itself (time
 * spent descheduled does not count).  With more than one thread run it with
 * OMP_WAIT_POLICY=passive, or threads spinning at a barrier count as working.
 *
 * Threads: THREADS from argv, else HUB_THREADS, else 2.  hub_set_num_threads(T) sets the OpenMP
 * thread count that both hub's kernels and oneDNN (an OpenMP build in Debian) use; dnnl_sgemm
 * runs under the same setting.  If OMP_NUM_THREADS is set to something else the program says so
 * (the setting in force is T either way; run.sh exports OMP_NUM_THREADS=T).
 *
 * --raw prints one machine-readable line per shape:
 *   gemm M N K hub_gflops hub_nobias_gflops sgemm_gflops sgemm_bias_gflops threads paired
 * where paired is the median over rounds of t(sgemm)/t(hub) (hub/sgemm measured pairwise, which
 * drifting load on a shared machine disturbs less than the ratio of the two medians).
 *
 * Memory mode (--memory N): N iterations of forward + backward of a small MLP
 * (linear -> gelu -> linear -> sum) whose weights require gradients; each iteration releases
 * every tensor it made and drops the gradients.  Prints VmRSS at iteration 100 and at the end,
 * the relative change, and the live tensor/node counts; exits 1 if RSS grew by more than 5% or
 * tensors leaked.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#include "hub.h"

/* CLOCK_MONOTONIC, or with --clock cpu the process's CPU time divided by the thread count. */
static clockid_t g_clock = CLOCK_MONOTONIC;
static double g_clock_div = 1.0;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(g_clock, &ts);
  return ((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec) / g_clock_div;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what) {
  fprintf(stderr, "bench_gemm: %s failed: %s\n", what, hub_last_error());
  exit(2);
}

/* ---------------------------------------------------------------- throughput ---- */

typedef struct shape {
  int64_t M, N, K;
} shape;

static const shape SHAPES[] = {{1024, 1024, 1024}, {4096, 768, 768}, {4096, 3072, 768}};
enum { NSHAPES = sizeof SHAPES / sizeof SHAPES[0], NVAR = 4 };
static const char *VAR_NAMES[NVAR] = {"hub", "hub_nb", "sgemm", "sgemm_b"};

typedef struct ctx {
  int64_t M, N, K;
  hub_tensor *x, *w, *b;
  float *y; /* sgemm output */
} ctx;

static void run_variant(ctx *c, int v) {
  if (v == 0 || v == 1) {
    hub_tensor *o = hub_linear(c->x, c->w, v == 0 ? c->b : NULL);
    if (!o) die("hub_linear");
    hub_tensor_release(o);
    return;
  }
  const float *x = c->x->data, *w = c->w->data;
  if (dnnl_sgemm('N', 'T', c->M, c->N, c->K, 1.0f, x, c->K, w, c->K, 0.0f, c->y, c->N) != dnnl_success) {
    fprintf(stderr, "bench_gemm: dnnl_sgemm failed\n");
    exit(2);
  }
  if (v == 3) {
    const float *bias = c->b->data;
    float *y = c->y;
    int64_t M = c->M, N = c->N;
    for (int64_t i = 0; i < M; i++) {
      float *row = y + i * N;
      for (int64_t j = 0; j < N; j++) row[j] += bias[j];
    }
  }
}

static int bench_shapes(int threads, int reps, int warmup, int raw) {
  double gf[NSHAPES][NVAR], paired[NSHAPES];
  for (int s = 0; s < NSHAPES; s++) {
    ctx c = {SHAPES[s].M, SHAPES[s].N, SHAPES[s].K, NULL, NULL, NULL, NULL};
    c.x = hub_randn(2, (int64_t[]){c.M, c.K}, HUB_F32);
    c.w = hub_randn(2, (int64_t[]){c.N, c.K}, HUB_F32);
    c.b = hub_randn(1, (int64_t[]){c.N}, HUB_F32);
    if (!c.x || !c.w || !c.b) die("hub_randn");
    c.y = aligned_alloc(64, (size_t)(c.M * c.N) * sizeof(float));
    if (!c.y) die("aligned_alloc");
    memset(c.y, 0, (size_t)(c.M * c.N) * sizeof(float)); /* first touch outside the timing */

    for (int i = 0; i < warmup; i++)
      for (int v = 0; v < NVAR; v++) run_variant(&c, v);

    /* Sanity: hub's result must match sgemm + bias. */
    {
      hub_tensor *o = hub_linear(c.x, c.w, c.b);
      if (!o) die("hub_linear");
      run_variant(&c, 3);
      const float *h = o->data;
      double maxerr = 0;
      for (int64_t i = 0; i < c.M * c.N; i += 97) {
        double e = h[i] - c.y[i];
        if (e < 0) e = -e;
        if (e > maxerr) maxerr = e;
      }
      hub_tensor_release(o);
      if (maxerr > 1e-2) {
        fprintf(stderr, "bench_gemm: hub_linear and sgemm+bias differ by %g at %lldx%lldx%lld\n", maxerr,
                (long long)c.M, (long long)c.N, (long long)c.K);
        return 2;
      }
    }

    double *t[NVAR];
    for (int v = 0; v < NVAR; v++) t[v] = malloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++)
      for (int v = 0; v < NVAR; v++) {
        double t0 = now_s();
        run_variant(&c, v);
        t[v][r] = now_s() - t0;
      }
    double flop = 2.0 * (double)c.M * (double)c.N * (double)c.K;
    /* Paired ratio: hub and sgemm ran back to back in each round; the median of the per-round
     * ratios is less sensitive to load that changes during the run than the ratio of medians. */
    double *pr = malloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++) pr[r] = t[2][r] / t[0][r];
    paired[s] = median(pr, reps);
    free(pr);
    for (int v = 0; v < NVAR; v++) {
      gf[s][v] = flop / median(t[v], reps) / 1e9;
      free(t[v]);
    }
    if (raw)
      printf("gemm %lld %lld %lld %.2f %.2f %.2f %.2f %d %.3f\n", (long long)c.M, (long long)c.N, (long long)c.K,
             gf[s][0], gf[s][1], gf[s][2], gf[s][3], threads, paired[s]);
    fflush(stdout);
    free(c.y);
    hub_tensor_release(c.x);
    hub_tensor_release(c.w);
    hub_tensor_release(c.b);
  }
  if (raw) return 0;

  printf("linear forward, f32, %d thread(s), median of %d calls after %d warm-up; GFLOP/s = 2*M*N*K / time%s\n", threads,
         reps, warmup, g_clock == CLOCK_PROCESS_CPUTIME_ID ? " (time = process CPU time / threads)" : "");
  printf("hub = hub_linear with bias (grad off); hub_nb = without bias; sgemm = dnnl_sgemm N,T (no bias);\n"
         "sgemm_b = sgemm + C bias loop\n\n");
  printf("%-16s %8s %8s %8s %8s %10s %12s %8s\n", "M x N x K", VAR_NAMES[0], VAR_NAMES[1], VAR_NAMES[2], VAR_NAMES[3],
         "hub/sgemm", "hub/sgemm_b", "paired");
  int ok = 1;
  for (int s = 0; s < NSHAPES; s++) {
    char name[64];
    snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)SHAPES[s].M, (long long)SHAPES[s].N,
             (long long)SHAPES[s].K);
    double r = gf[s][0] / gf[s][2];
    if (r < 0.9) ok = 0;
    printf("%-16s %8.1f %8.1f %8.1f %8.1f %10.3f %12.3f %8.3f\n", name, gf[s][0], gf[s][1], gf[s][2], gf[s][3], r,
           gf[s][0] / gf[s][3], paired[s]);
  }
  printf("\npaired = median over rounds of t(sgemm)/t(hub), each round running both back to back\n");
  printf("target hub >= 0.90 x sgemm at every shape: %s\n", ok ? "met" : "NOT met");
  return 0;
}

/* ---------------------------------------------------------------- memory ---- */

static long vmrss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kib;
}

static int bench_memory(long iters, int threads) {
  enum { B = 64, IN = 256, HID = 512, OUT = 128 };
  hub_set_grad_enabled(1);
  hub_manual_seed(1);
  hub_tensor *x = hub_randn(2, (int64_t[]){B, IN}, HUB_F32);
  hub_tensor *w1 = hub_randn(2, (int64_t[]){HID, IN}, HUB_F32), *b1 = hub_randn(1, (int64_t[]){HID}, HUB_F32);
  hub_tensor *w2 = hub_randn(2, (int64_t[]){OUT, HID}, HUB_F32), *b2 = hub_randn(1, (int64_t[]){OUT}, HUB_F32);
  if (!x || !w1 || !b1 || !w2 || !b2) die("hub_randn");
  hub_tensor *params[4] = {w1, b1, w2, b2};
  for (int i = 0; i < 4; i++)
    if (hub_tensor_set_requires_grad(params[i], 1)) die("set_requires_grad");
  int64_t live0 = hub_tensor_live_count(), nodes0 = hub_node_live_count();

  long rss100 = -1, rss_end = -1;
  double t0 = now_s();
  printf("memory: MLP [%d,%d] -> linear %d -> gelu -> linear %d -> sum, forward+backward, %d thread(s)\n", B, IN, HID,
         OUT, threads);
  for (long it = 1; it <= iters; it++) {
    hub_tensor *h = hub_linear(x, w1, b1);
    hub_tensor *a = h ? hub_gelu(h, 0) : NULL;
    hub_tensor *o = a ? hub_linear(a, w2, b2) : NULL;
    hub_tensor *loss = o ? hub_sum(o, 0, NULL, 0) : NULL;
    if (!loss) die("forward");
    if (hub_backward(loss, NULL)) die("hub_backward");
    hub_tensor_release(loss);
    hub_tensor_release(o);
    hub_tensor_release(a);
    hub_tensor_release(h);
    for (int i = 0; i < 4; i++) {
      hub_tensor *g = hub_tensor_grad(params[i]);
      if (!g) die("missing gradient");
      hub_tensor_release(g);
      hub_tensor_zero_grad(params[i]);
    }
    if (it == 100 || it == iters || (iters >= 10 && it % (iters / 10) == 0)) {
      long rss = vmrss_kib();
      if (it == 100) rss100 = rss;
      if (it == iters) rss_end = rss;
      printf("  iter %6ld  VmRSS %8ld KiB  tensors %lld  nodes %lld\n", it, rss, (long long)hub_tensor_live_count(),
             (long long)hub_node_live_count());
    }
  }
  double dt = now_s() - t0;
  int64_t live = hub_tensor_live_count(), nodes = hub_node_live_count();
  hub_mem_stats st;
  hub_mem_get_stats(HUB_CPU, &st);
  if (rss100 < 0) rss100 = rss_end; /* fewer than 100 iterations */
  double rel = rss100 > 0 ? (double)(rss_end - rss100) / (double)rss100 : 0.0;
  printf("memory: %ld iterations in %.2f s; VmRSS at iter 100: %ld KiB, at end: %ld KiB, change %+.2f%%\n", iters, dt,
         rss100, rss_end, 100.0 * rel);
  printf("memory: live tensors %lld (params+input %lld), live nodes %lld (before loop %lld); allocator live %lld B, "
         "cached %lld B, peak %lld B\n",
         (long long)live, (long long)live0, (long long)nodes, (long long)nodes0, (long long)st.live_bytes,
         (long long)st.cached_bytes, (long long)st.peak_bytes);
  int ok = rel <= 0.05 && live == live0 && nodes == nodes0;
  printf("memory: resident memory flat within 5%% and no leaked tensors/nodes: %s\n", ok ? "yes" : "NO");
  hub_tensor_release(x);
  for (int i = 0; i < 4; i++) hub_tensor_release(params[i]);
  return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- main ---- */

static void usage(void) {
  fprintf(stderr, "usage: bench_gemm [THREADS] [--reps N] [--warmup N] [--clock wall|cpu] [--raw] | [THREADS] --memory N\n");
  exit(2);
}

int main(int argc, char **argv) {
  int threads = 0, reps = 15, warmup = 3, raw = 0;
  long mem_iters = 0;
  int cpu_clock = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--raw")) raw = 1;
    else if (!strcmp(a, "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(a, "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
    else if (!strcmp(a, "--memory") && i + 1 < argc) mem_iters = atol(argv[++i]);
    else if (!strcmp(a, "--clock") && i + 1 < argc) {
      const char *c = argv[++i];
      if (!strcmp(c, "cpu")) cpu_clock = 1;
      else if (strcmp(c, "wall")) usage();
    }
    else if (a[0] >= '0' && a[0] <= '9') threads = atoi(a);
    else usage();
  }
  if (threads <= 0) {
    const char *e = getenv("HUB_THREADS");
    threads = e && atoi(e) > 0 ? atoi(e) : 2;
  }
  if (reps < 10) reps = 10;
  if (warmup < 1) warmup = 1;
  const char *omp = getenv("OMP_NUM_THREADS");
  if (omp && atoi(omp) != threads)
    fprintf(stderr, "bench_gemm: note: OMP_NUM_THREADS=%s differs from %d threads; hub_set_num_threads(%d) overrides it\n",
            omp, threads, threads);
  hub_set_num_threads(threads);
  if (hub_get_num_threads() != threads) {
    fprintf(stderr, "bench_gemm: asked for %d threads, hub reports %d\n", threads, hub_get_num_threads());
    return 2;
  }
  if (cpu_clock) {
    g_clock = CLOCK_PROCESS_CPUTIME_ID;
    g_clock_div = threads;
  }
  hub_manual_seed(1234);
  if (mem_iters > 0) return bench_memory(mem_iters, threads);
  hub_set_grad_enabled(0);
  return bench_shapes(threads, reps, warmup, raw);
}
