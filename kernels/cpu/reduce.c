/* reduce.c - sum, mean and max of a contiguous f32 tensor over one dimension (CPU).
 *
 * The input is viewed as [outer, n, inner] where n is the size of the reduced dimension; the
 * output holds outer*inner values.  Sums accumulate in double, which keeps the result within
 * one f32 rounding of the exact sum for any n a tensor can reach (f32 pairwise summation would
 * already do; double is simpler and just as fast here because the loops are memory bound).
 *   inner == 1: every output is the sum of a contiguous row.  Rows are spread over threads;
 *               when there are fewer rows than threads (a full reduction) the row itself is
 *               split into its fixed chunks; either way a row is the in-order sum of the same
 *               chunk sums, so the result does not depend on the number of threads.
 *   inner  > 1: a block of up to HUB_RED_BLOCK adjacent outputs is accumulated in a local
 *               double array (it stays in L1/L2) while walking down n row by row, so loads
 *               are long unit-stride runs and the inner loop vectorises.  Long n is cut in
 *               fixed chunks of rows whose partial sums are then added in order; blocks and
 *               chunks are spread over threads.
 * MAX keeps the first position of the maximum (NaN counts as larger than everything, as in
 * torch); its index goes to `idx` when given.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

enum { HUB_RED_BLOCK = 2048, HUB_RED_ROWS = 256, HUB_RED_CHUNK = 1 << 15 };

/* Sum of a contiguous run in double, four independent accumulators for ILP. */
static double sum_run(const float *x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += x[k];
    s1 += x[k + 1];
    s2 += x[k + 2];
    s3 += x[k + 3];
  }
  for (; k < n; k++) s0 += x[k];
  return (s0 + s1) + (s2 + s3);
}

/* First maximum of a strided run; NaN wins (and the first NaN stays). */
static float max_run(const float *x, int64_t n, int64_t stride, int64_t *arg) {
  float best = x[0];
  int64_t bi = 0;
  if (!isnan(best)) {
    for (int64_t k = 1; k < n; k++) {
      float v = x[k * stride];
      if (v > best || isnan(v)) {
        best = v;
        bi = k;
        if (isnan(v)) break;
      }
    }
  }
  *arg = bi;
  return best;
}

/* acc[j] = sum over rows k0..k1-1 of base[k * inner + j], j < m (rows read front to back). */
static void col_sums(double *acc, const float *base, int64_t k0, int64_t k1, int64_t inner,
                     int64_t m) {
  for (int64_t j = 0; j < m; j++) acc[j] = 0;
  for (int64_t k = k0; k < k1; k++) {
    const float *row = base + k * inner;
#pragma omp simd
    for (int64_t j = 0; j < m; j++) acc[j] += row[j];
  }
}

/* Sum of a row as the in-order sum of fixed chunks; the same numbers whether the chunks are
 * computed by one thread (row_sum) or by many (sum_long_row). */
static double row_sum(const float *x, int64_t n) {
  double s = 0;
  for (int64_t lo = 0; lo < n; lo += HUB_RED_CHUNK)
    s += sum_run(x + lo, n - lo < HUB_RED_CHUNK ? n - lo : HUB_RED_CHUNK);
  return s;
}

/* Sum of one long contiguous row, its chunks spread over threads. */
static double sum_long_row(const float *x, int64_t n) {
  int64_t nchunks = (n + HUB_RED_CHUNK - 1) / HUB_RED_CHUNK;
  double *part = malloc((size_t)nchunks * sizeof(double));
  if (!part) return row_sum(x, n);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t lo = c * HUB_RED_CHUNK, hi = lo + HUB_RED_CHUNK < n ? lo + HUB_RED_CHUNK : n;
    part[c] = sum_run(x + lo, hi - lo);
  }
  double s = 0;
  for (int64_t c = 0; c < nchunks; c++) s += part[c];
  free(part);
  return s;
}

int cpu_reduce(int op, const hub_tensor *x, int dim, hub_tensor *out, hub_tensor *idx) {
  if (x->dtype == HUB_F64) return cpu_reduce_f64(op, x, dim, out, idx);
  if (x->dtype != HUB_F32 || out->dtype != HUB_F32)
    return hub_err("reduce: cpu kernel expects f32 tensors");
  if (idx && idx->dtype != HUB_I64) return hub_err("reduce: index output must be i64");
  int64_t outer = 1, inner = 1, n = x->ndim ? x->shape[dim] : 1;
  for (int i = 0; i < dim; i++) outer *= x->shape[i];
  for (int i = dim + 1; i < x->ndim; i++) inner *= x->shape[i];
  const float *xp = x->data;
  float *op_ = out->data;
  int64_t *ip = idx ? idx->data : NULL;
  int64_t nout = outer * inner;
  if (nout == 0) return 0;
  if (n == 0) {
    if (op == HUB_RED_MAX) return hub_err("max: cannot reduce over an empty dimension");
    float v = op == HUB_RED_MEAN ? NAN : 0.0f;
    for (int64_t i = 0; i < nout; i++) op_[i] = v;
    return 0;
  }
  double scale = op == HUB_RED_MEAN ? 1.0 / (double)n : 1.0;

  if (op == HUB_RED_MAX) {
#pragma omp parallel for schedule(static) if (nout * n > 4096)
    for (int64_t o = 0; o < nout; o++) {
      int64_t a = o / inner, j = o % inner, arg;
      float v = max_run(xp + a * n * inner + j, n, inner, &arg);
      op_[o] = v;
      if (ip) ip[o] = arg;
    }
    return 0;
  }
  if (op != HUB_RED_SUM && op != HUB_RED_MEAN) return hub_err("reduce: unknown reduction %d", op);

  if (inner == 1) {
    if (outer < omp_get_max_threads() && n > 2 * HUB_RED_CHUNK) {
      for (int64_t o = 0; o < outer; o++) op_[o] = (float)(sum_long_row(xp + o * n, n) * scale);
    } else {
#pragma omp parallel for schedule(static) if (outer * n > 4096)
      for (int64_t o = 0; o < outer; o++) op_[o] = (float)(row_sum(xp + o * n, n) * scale);
    }
    return 0;
  }
  int64_t nblk = (inner + HUB_RED_BLOCK - 1) / HUB_RED_BLOCK;
  /* Long reductions are also cut in fixed chunks of HUB_RED_ROWS rows, so that a bias gradient
   * ([4096, 768] summed over rows) keeps every thread busy; the chunks' partial sums go to
   * `part` and are added in chunk order. */
  int64_t nch = n >= 2 * HUB_RED_ROWS ? (n + HUB_RED_ROWS - 1) / HUB_RED_ROWS : 1;
  double *part = nch > 1 ? malloc(sizeof(double) * (size_t)(outer * nch * inner)) : NULL;
  if (!part) nch = 1;
#pragma omp parallel for schedule(static) if (outer * n * inner > 4096)
  for (int64_t t = 0; t < outer * nblk * nch; t++) {
    int64_t c = t % nch, ab = t / nch, a = ab / nblk, j0 = (ab % nblk) * HUB_RED_BLOCK;
    int64_t m = inner - j0 < HUB_RED_BLOCK ? inner - j0 : HUB_RED_BLOCK;
    int64_t k0 = c * HUB_RED_ROWS, k1 = nch > 1 && k0 + HUB_RED_ROWS < n ? k0 + HUB_RED_ROWS : n;
    double acc[HUB_RED_BLOCK];
    col_sums(acc, xp + a * n * inner + j0, k0, k1, inner, m);
    if (part) {
      memcpy(part + (a * nch + c) * inner + j0, acc, sizeof(double) * (size_t)m);
    } else {
      float *dst = op_ + a * inner + j0;
      for (int64_t j = 0; j < m; j++) dst[j] = (float)(acc[j] * scale);
    }
  }
  if (part) {
#pragma omp parallel for schedule(static) if (outer * inner * nch > 65536)
    for (int64_t o = 0; o < outer * inner; o++) {
      int64_t a = o / inner, j = o % inner;
      double sum = 0;
      for (int64_t c = 0; c < nch; c++) sum += part[(a * nch + c) * inner + j];
      op_[o] = (float)(sum * scale);
    }
    free(part);
  }
  return 0;
}
