/* index.c - gather and scatter-add along one dimension: the CPU kernels behind embedding and
 * index_select (runtime/op_index.c) and their backwards.
 *
 * Both see their operands as three-dimensional: x [outer, n, inner] is indexed along the middle
 * dimension by k ids, giving [outer, k, inner].  The op layer passes 3-d views (2-d [n, inner]
 * and 1-d [n] are also read, with outer = 1 and inner = 1).  Rows of `inner` elements are
 * contiguous, so gather copies them with memcpy (any dtype) and splits the outer*k rows between
 * OpenMP threads.
 *
 * Ids are checked before anything is written, serially (an O(k) pass), so the error names the
 * first bad id: "id 9000 out of range [0, 8000)".  The message carries no op name: the op layer
 * prefixes its own ("embedding: id 9000 out of range [0, 8000)").
 *
 * scatter_add (gx += gy at ids, f32) must accumulate duplicate ids, deterministically and without
 * races.  Threads therefore never split the ids: each work unit is one outer slice times one
 * chunk of the inner (column) dimension, and within it the ids are visited in order.  Every
 * element of gx is thus owned by one thread and summed in the same order whatever the thread
 * count, so results are bitwise reproducible.
 */
#include <omp.h>
#include <string.h>

#include "cpu.h"

/* Reads the 3-d geometry [outer, n, inner] of a contiguous operand. */
static int geom3(const char *what, const hub_tensor *t, int64_t *outer, int64_t *n, int64_t *inner) {
  switch (t->ndim) {
    case 3: *outer = t->shape[0], *n = t->shape[1], *inner = t->shape[2]; break;
    case 2: *outer = 1, *n = t->shape[0], *inner = t->shape[1]; break;
    case 1: *outer = 1, *n = t->shape[0], *inner = 1; break;
    default:
      return hub_err("%s: expected a 1-d, 2-d or 3-d [outer, n, inner] view, got %d-d", what, t->ndim);
  }
  if (!hub_tensor_is_contiguous(t)) return hub_err("%s: operands must be contiguous", what);
  return 0;
}

/* Validates ids (contiguous i64/i32 of any shape, numel k) against [0, n). */
static int check_ids(const hub_tensor *ids, int64_t n, int64_t *k) {
  if (ids->dtype != HUB_I64 && ids->dtype != HUB_I32)
    return hub_err("ids must be i64 or i32, got %s", hub_dtype_name(ids->dtype));
  if (!hub_tensor_is_contiguous(ids)) return hub_err("ids must be contiguous");
  int64_t cnt = hub_tensor_numel(ids);
  if (ids->dtype == HUB_I64) {
    const int64_t *p = ids->data;
    for (int64_t j = 0; j < cnt; j++)
      if (p[j] < 0 || p[j] >= n)
        return hub_err("id %lld out of range [0, %lld)", (long long)p[j], (long long)n);
  } else {
    const int32_t *p = ids->data;
    for (int64_t j = 0; j < cnt; j++)
      if (p[j] < 0 || p[j] >= n)
        return hub_err("id %lld out of range [0, %lld)", (long long)p[j], (long long)n);
  }
  *k = cnt;
  return 0;
}

static inline int64_t id_at(const hub_tensor *ids, int64_t j) {
  return ids->dtype == HUB_I64 ? ((const int64_t *)ids->data)[j]
                               : (int64_t)((const int32_t *)ids->data)[j];
}

int cpu_gather(const hub_tensor *x, const hub_tensor *ids, hub_tensor *out) {
  int64_t outer = 0, n = 0, inner = 0, oo = 0, ok = 0, oi = 0, k = 0;
  if (geom3("gather", x, &outer, &n, &inner) || geom3("gather", out, &oo, &ok, &oi)) return -1;
  if (check_ids(ids, n, &k)) return -1;
  if (x->dtype != out->dtype)
    return hub_err("gather: dtypes %s and %s differ", hub_dtype_name(x->dtype), hub_dtype_name(out->dtype));
  if (oo != outer || ok != k || oi != inner)
    return hub_err("gather: output is not [%lld, %lld, %lld]", (long long)outer, (long long)k,
                   (long long)inner);
  const size_t es = hub_dtype_size(x->dtype), row = (size_t)inner * es;
  const char *src = x->data;
  char *dst = out->data;
  const int64_t rows = outer * k;
  if (rows == 0 || inner == 0) return 0;
#pragma omp parallel for schedule(static) if (rows * inner > 4096)
  for (int64_t r = 0; r < rows; r++) {
    int64_t o = r / k, j = r - o * k;
    memcpy(dst + (size_t)r * row, src + (size_t)(o * n + id_at(ids, j)) * row, row);
  }
  return 0;
}

/* Columns per work unit: enough units to keep every thread busy (4 per thread), but at least 16
 * floats (a cache line) so threads do not share lines of gx. */
static int64_t scatter_chunk(int64_t outer, int64_t inner) {
  int64_t want = 4 * (int64_t)omp_get_max_threads();
  int64_t per_outer = (want + outer - 1) / outer;
  int64_t chunk = (inner + per_outer - 1) / per_outer;
  chunk = (chunk + 15) / 16 * 16;
  return chunk < 16 ? 16 : chunk;
}

int cpu_scatter_add(hub_tensor *gx, const hub_tensor *ids, const hub_tensor *gy) {
  int64_t outer = 0, n = 0, inner = 0, yo = 0, yk = 0, yi = 0, k = 0;
  if (geom3("scatter_add", gx, &outer, &n, &inner) || geom3("scatter_add", gy, &yo, &yk, &yi)) return -1;
  if (gx->dtype != HUB_F32 || gy->dtype != HUB_F32)
    return hub_err("scatter_add: expected f32 tensors, got %s and %s", hub_dtype_name(gx->dtype),
                   hub_dtype_name(gy->dtype));
  if (check_ids(ids, n, &k)) return -1;
  if (yo != outer || yk != k || yi != inner)
    return hub_err("scatter_add: gradient is not [%lld, %lld, %lld]", (long long)outer, (long long)k,
                   (long long)inner);
  if (outer == 0 || k == 0 || inner == 0) return 0;
  float *dx = gx->data;
  const float *dy = gy->data;
  const int64_t chunk = scatter_chunk(outer, inner);
  const int64_t nchunk = (inner + chunk - 1) / chunk, units = outer * nchunk;
#pragma omp parallel for schedule(static) if (outer * k * inner > 4096)
  for (int64_t u = 0; u < units; u++) {
    int64_t o = u / nchunk, c0 = (u - o * nchunk) * chunk;
    int64_t c1 = c0 + chunk < inner ? c0 + chunk : inner;
    float *xo = dx + o * n * inner;
    const float *yo_ = dy + o * k * inner;
    for (int64_t j = 0; j < k; j++) {
      float *xr = xo + id_at(ids, j) * inner;
      const float *yr = yo_ + j * inner;
      for (int64_t c = c0; c < c1; c++) xr[c] += yr[c];
    }
  }
  return 0;
}
