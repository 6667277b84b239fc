/* sort.c - CPU kernels that work along one dimension with a per-element index: gather and
 * scatter (torch.gather / scatter / scatter_add), sort (behind sort, argsort and topk) and
 * cumsum.
 *
 * Every operand is contiguous and seen as [outer, n, inner] with the dimension in the middle
 * (the op layer makes the views).  gather and scatter take an index [outer, k, inner] (i64,
 * 0-based) whose element (o, j, i) names a position along the middle dimension of x / dst at the
 * same (o, i): gather reads out[o, j, i] = x[o, index[o, j, i], i]; scatter writes
 * dst[o, index[o, j, i], i] = src[o, j, i] (or adds it).  Indices are checked before anything is
 * written, so a bad one leaves dst unchanged and the error names it.  Scatter runs serially in
 * index order, so duplicate positions take the last value (set) or accumulate in a fixed order
 * (add): results are the same on every run.  gather and scatter-set copy elements of any dtype
 * by size; scatter-add supports f32, i64 and i32.
 *
 * sort orders each of the outer*inner lines of n values with a stable merge sort on
 * (value, position) pairs, ascending or descending; NaN sorts as larger than every number (as
 * torch).  Values are f32 or i64 (compared exactly); positions come out as i64.
 * cumsum adds along the line (f32 lines accumulate in double), optionally from the end (the
 * backward of cumsum is the reverse cumsum of the gradient).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static int geom(const char *what, const hub_tensor *t, int64_t *o, int64_t *n, int64_t *i) {
  if (t->ndim != 3 || !hub_tensor_is_contiguous(t))
    return hub_err("%s: expected a contiguous [outer, n, inner] operand", what);
  *o = t->shape[0], *n = t->shape[1], *i = t->shape[2];
  return 0;
}

static int check_index(const hub_tensor *idx, int64_t n) {
  if (idx->dtype != HUB_I64) return hub_err("index must be i64, got %s", hub_dtype_name(idx->dtype));
  const int64_t *p = idx->data;
  int64_t cnt = hub_tensor_numel(idx);
  for (int64_t j = 0; j < cnt; j++)
    if (p[j] < 0 || p[j] >= n)
      return hub_err("index %lld out of range [0, %lld)", (long long)p[j], (long long)n);
  return 0;
}

int cpu_gather_dim(const hub_tensor *x, const hub_tensor *index, hub_tensor *out) {
  int64_t o = 0, n = 0, in = 0, o2 = 0, k = 0, in2 = 0;
  if (geom("gather", x, &o, &n, &in) || geom("gather", index, &o2, &k, &in2)) return -1;
  if (o2 != o || in2 != in || !hub_same_shape(index, out) || out->dtype != x->dtype)
    return hub_err("gather: index and output do not fit the input");
  if (check_index(index, n)) return -1;
  size_t sz = hub_dtype_size(x->dtype);
  const int64_t *ip = index->data;
  const char *xp = x->data;
  char *op = out->data;
  for (int64_t a = 0; a < o; a++)
    for (int64_t j = 0; j < k; j++)
      for (int64_t i = 0; i < in; i++) {
        int64_t e = (a * k + j) * in + i;
        memcpy(op + (size_t)e * sz, xp + (size_t)((a * n + ip[e]) * in + i) * sz, sz);
      }
  return 0;
}

int cpu_scatter_dim(hub_tensor *dst, const hub_tensor *index, const hub_tensor *src, int add) {
  int64_t o = 0, n = 0, in = 0, o2 = 0, k = 0, in2 = 0;
  if (geom("scatter", dst, &o, &n, &in) || geom("scatter", index, &o2, &k, &in2)) return -1;
  if (o2 != o || in2 != in || !hub_same_shape(index, src) || src->dtype != dst->dtype)
    return hub_err("scatter: index and source do not fit the destination");
  if (add && dst->dtype != HUB_F32 && dst->dtype != HUB_F64 && dst->dtype != HUB_I64 && dst->dtype != HUB_I32)
    return hub_err("scatter_add: unsupported dtype %s", hub_dtype_name(dst->dtype));
  if (check_index(index, n)) return -1;
  size_t sz = hub_dtype_size(dst->dtype);
  const int64_t *ip = index->data;
  const char *sp = src->data;
  char *dp = dst->data;
  for (int64_t a = 0; a < o; a++)
    for (int64_t j = 0; j < k; j++)
      for (int64_t i = 0; i < in; i++) {
        int64_t e = (a * k + j) * in + i, d = (a * n + ip[e]) * in + i;
        if (!add) {
          memcpy(dp + (size_t)d * sz, sp + (size_t)e * sz, sz);
        } else if (dst->dtype == HUB_F32) {
          ((float *)dp)[d] += ((const float *)sp)[e];
        } else if (dst->dtype == HUB_F64) {
          ((double *)dp)[d] += ((const double *)sp)[e];
        } else if (dst->dtype == HUB_I64) {
          ((int64_t *)dp)[d] = (int64_t)((uint64_t)((int64_t *)dp)[d] + (uint64_t)((const int64_t *)sp)[e]);
        } else {
          ((int32_t *)dp)[d] = (int32_t)((uint32_t)((int32_t *)dp)[d] + (uint32_t)((const int32_t *)sp)[e]);
        }
      }
  return 0;
}

/* ---- sort ---- */

typedef struct item {
  double v; /* f32 and i64 values (i64 compared through `iv` instead) */
  int64_t iv;
  int64_t pos;
} item;

/* a before b in the order asked for (ties keep positions: the merge is stable). */
static inline int before(const item *a, const item *b, int is_int, int desc) {
  if (is_int) return desc ? a->iv > b->iv : a->iv < b->iv;
  int an = a->v != a->v, bn = b->v != b->v;
  if (an || bn) return desc ? (an && !bn) : (!an && bn); /* NaN is the largest */
  return desc ? a->v > b->v : a->v < b->v;
}

static void merge_sort(item *a, item *tmp, int64_t n, int is_int, int desc) {
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      int64_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = before(&a[j], &a[i], is_int, desc) ? a[j++] : a[i++];
      while (i < mid) tmp[k++] = a[i++];
      while (j < hi) tmp[k++] = a[j++];
    }
    memcpy(a, tmp, (size_t)n * sizeof *a);
  }
}

int cpu_sort(const hub_tensor *x, int descending, hub_tensor *values, hub_tensor *indices) {
  int64_t o = 0, n = 0, in = 0;
  if (geom("sort", x, &o, &n, &in)) return -1;
  if (x->dtype != HUB_F32 && x->dtype != HUB_F64 && x->dtype != HUB_I64)
    return hub_err("sort: expected f32, f64 or i64 values");
  if (values->dtype != x->dtype || indices->dtype != HUB_I64 || !hub_same_shape(values, x) ||
      !hub_same_shape(indices, x))
    return hub_err("sort: outputs do not fit the input");
  if (n == 0) return 0;
  item *buf = malloc(2 * (size_t)n * sizeof *buf);
  if (!buf) return hub_err("sort: out of memory");
  int is_int = x->dtype == HUB_I64;
  for (int64_t a = 0; a < o; a++)
    for (int64_t i = 0; i < in; i++) {
      for (int64_t j = 0; j < n; j++) {
        int64_t e = (a * n + j) * in + i;
        buf[j].pos = j;
        if (is_int) buf[j].iv = ((const int64_t *)x->data)[e];
        else if (x->dtype == HUB_F64) buf[j].v = ((const double *)x->data)[e];
        else buf[j].v = ((const float *)x->data)[e];
      }
      merge_sort(buf, buf + n, n, is_int, descending);
      for (int64_t j = 0; j < n; j++) {
        int64_t e = (a * n + j) * in + i;
        ((int64_t *)indices->data)[e] = buf[j].pos;
        if (is_int) ((int64_t *)values->data)[e] = buf[j].iv;
        else if (x->dtype == HUB_F64) ((double *)values->data)[e] = buf[j].v;
        else ((float *)values->data)[e] = (float)buf[j].v;
      }
    }
  free(buf);
  return 0;
}

/* ---- cumsum ---- */

int cpu_cumsum(const hub_tensor *x, int reverse, hub_tensor *out) {
  int64_t o = 0, n = 0, in = 0;
  if (geom("cumsum", x, &o, &n, &in)) return -1;
  if ((x->dtype != HUB_F32 && x->dtype != HUB_F64 && x->dtype != HUB_I64) || out->dtype != x->dtype ||
      !hub_same_shape(out, x))
    return hub_err("cumsum: expected f32, f64 or i64 operands of one shape");
  for (int64_t a = 0; a < o; a++)
    for (int64_t i = 0; i < in; i++) {
      double acc = 0;
      uint64_t iacc = 0;
      for (int64_t s = 0; s < n; s++) {
        int64_t j = reverse ? n - 1 - s : s, e = (a * n + j) * in + i;
        if (x->dtype == HUB_F32) {
          acc += ((const float *)x->data)[e];
          ((float *)out->data)[e] = (float)acc;
        } else if (x->dtype == HUB_F64) {
          acc += ((const double *)x->data)[e];
          ((double *)out->data)[e] = acc;
        } else {
          iacc += (uint64_t)((const int64_t *)x->data)[e];
          ((int64_t *)out->data)[e] = (int64_t)iacc;
        }
      }
    }
  return 0;
}
