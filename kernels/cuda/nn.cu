/* nn.cu - the CUDA kernels that work along rows: reduce (sum, mean, max over one dimension),
 * softmax and log-softmax, layer_norm, gather / scatter_add (embedding) and cross-entropy, forward
 * and backward (the fused attention is in attention.cu).  The formulas and the corner cases (empty dimensions, all -inf
 * rows, NaN) are those of the CPU kernels named beside each one.
 *
 * Determinism: nothing here uses atomics on values.  Sums over a row are block reductions in a
 * fixed order.  Column sums (sum/mean over a dimension that is not the last, layer_norm's gw/gb:
 * the bias and LayerNorm gradients of training) are tiled: a block of 32 x 8 threads takes 32
 * columns and a chunk of COL_CHUNK rows, each thread summing every 8th row of the chunk, the 8
 * partial sums added in a fixed order in shared memory; a second pass adds the chunks' partial
 * sums in chunk order.  So results do not change from run to run, and a [4096, 768] bias
 * gradient runs on 16 x 24 blocks instead of 3.  scatter_add and max still give each column to
 * one thread.  Sums accumulate in double, as on the CPU.
 *
 * Ids and targets live on the device; the kernels that must reject bad ones (gather, scatter_add,
 * cross-entropy) check them on the device and read one number back, which waits for the stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

using namespace hubcu;

namespace {

/* [outer, n, inner] around dimension dim of a contiguous tensor */
void around(const hub_tensor *x, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  *n = x->ndim ? x->shape[dim] : 1;
  for (int i = 0; i < dim; i++) *outer *= x->shape[i];
  for (int i = dim + 1; i < x->ndim; i++) *inner *= x->shape[i];
}


/* ---- reduce (kernels/cpu/reduce.c) ---- */

template <class T>
__global__ void k_reduce_rows(const T *x, T *out, int64_t rows, int64_t n, double scale) {
  __shared__ double sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *xr = x + r * n;
    double s = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += (double)xr[j];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) out[r] = (T)(s * scale);
  }
}

/* ---- column sums, tiled (see the top of this file) ---- */

enum { COL_TX = 32, COL_TY = 8, COL_CHUNK = 256 };

/* Column tiles x row chunks of x [outer, n, inner] (summing over n): blockIdx.x the 32-column
 * tile, blockIdx.y the outer index (looped), blockIdx.z the chunk.  With one chunk the result
 * (times scale) goes to out; else the chunk's sum to part[(chunk * outer + a) * inner + j]. */
template <class T>
__global__ void k_cols_tile(const T *x, T *out, double *part, int64_t outer, int64_t n, int64_t inner, double scale) {
  __shared__ double sh[COL_TY][COL_TX + 1];
  int64_t j = (int64_t)blockIdx.x * COL_TX + threadIdx.x;
  int64_t k0 = (int64_t)blockIdx.z * COL_CHUNK, k1 = k0 + COL_CHUNK < n ? k0 + COL_CHUNK : n;
  for (int64_t a = blockIdx.y; a < outer; a += gridDim.y) {
    double s = 0;
    if (j < inner)
      for (int64_t k = k0 + threadIdx.y; k < k1; k += COL_TY) s += (double)x[(a * n + k) * inner + j];
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < inner) {
      double t = 0;
      for (int r = 0; r < COL_TY; r++) t += sh[r][threadIdx.x];
      if (part) part[((int64_t)blockIdx.z * outer + a) * inner + j] = t;
      else out[a * inner + j] = (T)(t * scale);
    }
    __syncthreads();
  }
}

/* out[o] = scale * the chunks' partial sums of output o, added in chunk order */
template <class T>
__global__ void k_cols_finish(const double *part, T *out, int64_t nout, int64_t chunks, double scale) {
  HUB_GRID_LOOP(o, nout) {
    double s = 0;
    for (int64_t c = 0; c < chunks; c++) s += part[c * nout + o];
    out[o] = (T)(s * scale);
  }
}

/* The launch geometry of a column sum of [outer, n, inner] over n: the number of row chunks and
 * the grid of k_cols_tile. */
int64_t col_chunks(int64_t n) {
  int64_t c = (n + COL_CHUNK - 1) / COL_CHUNK;
  return c < 1 ? 1 : c;
}
dim3 col_grid(int64_t outer, int64_t inner, int64_t chunks) {
  return dim3((unsigned)((inner + COL_TX - 1) / COL_TX), (unsigned)(outer < 65535 ? outer : 65535), (unsigned)chunks);
}

/* First maximum, NaN larger than everything (the first NaN wins). */
template <class T>
__device__ __forceinline__ bool better(T v, int64_t i, T best, int64_t bi) {
  bool vn = v != v, bn = best != best;
  if (bn) return vn && i < bi;
  if (vn) return true;
  return v > best || (v == best && i < bi);
}

template <class T>
__global__ void k_max(const T *x, T *out, int64_t *idx, int64_t outer, int64_t n, int64_t inner) {
  HUB_GRID_LOOP(o, outer * inner) {
    int64_t a = o / inner, j = o % inner;
    const T *p = x + a * n * inner + j;
    T best = p[0];
    int64_t bi = 0;
    if (best == best)
      for (int64_t k = 1; k < n; k++) {
        T v = p[k * inner];
        if (v > best || v != v) {
          best = v;
          bi = k;
          if (v != v) break;
        }
      }
    out[o] = best;
    if (idx) idx[o] = bi;
  }
}

template <class T>
int reduce_t(int op, const hub_tensor *x, int64_t outer, int64_t n, int64_t inner, hub_tensor *out, hub_tensor *idx) {
  const T *xp = (const T *)x->data;
  T *op_ = (T *)out->data;
  int64_t nout = outer * inner;
  if (op == HUB_RED_MAX) {
    k_max<T><<<blocks_for(nout), THREADS, 0, stream()>>>(xp, op_, idx ? (int64_t *)idx->data : nullptr, outer, n,
                                                         inner);
    return cuda_check("max");
  }
  double scale = op == HUB_RED_MEAN ? 1.0 / (double)n : 1.0;
  if (inner == 1) {
    k_reduce_rows<T><<<grid_rows(outer), row_threads(n), 0, stream()>>>(xp, op_, outer, n, scale);
    return cuda_check(op == HUB_RED_MEAN ? "mean" : "sum");
  }
  if (nout == 0) return 0;
  int64_t chunks = col_chunks(n);
  if (chunks > 65535) /* grid.z's limit: more than 16.7 M rows per column */
    return hub_err("%s: %lld rows to sum per column are more than the CUDA kernel takes", op == HUB_RED_MEAN ? "mean" : "sum",
                   (long long)n);
  double *part = nullptr;
  size_t part_bytes = chunks > 1 ? sizeof(double) * (size_t)(chunks * nout) : 0;
  if (part_bytes && !(part = (double *)cuda_alloc(part_bytes))) return -1;
  k_cols_tile<T><<<col_grid(outer, inner, chunks), dim3(COL_TX, COL_TY), 0, stream()>>>(xp, op_, part, outer, n, inner,
                                                                                        scale);
  if (part) k_cols_finish<T><<<blocks_for(nout), THREADS, 0, stream()>>>(part, op_, nout, chunks, scale);
  int rc = cuda_check(op == HUB_RED_MEAN ? "mean" : "sum");
  if (part) cuda_free(part, part_bytes);
  return rc;
}

/* ---- softmax (kernels/cpu/softmax.c) ---- */

__global__ void k_softmax_rows(const float *x, float *y, int64_t rows, int64_t n, int log) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_max(m, shf);
    double s = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += (double)expf(xr[j] - m);
    s = block_sum(s, shd);
    float ls = (float)::log(s), inv = (float)(1.0 / s);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      yr[j] = log ? xr[j] - m - ls : expf(xr[j] - m) * inv;
  }
}

__global__ void k_softmax_cols(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, int log) {
  HUB_GRID_LOOP(o, outer * inner) {
    int64_t a = o / inner, j = o % inner, base = a * n * inner + j;
    float m = -INFINITY;
    for (int64_t k = 0; k < n; k++) m = fmaxf(m, x[base + k * inner]);
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += (double)expf(x[base + k * inner] - m);
    float ls = (float)::log(s), inv = (float)(1.0 / s);
    for (int64_t k = 0; k < n; k++) {
      float v = x[base + k * inner];
      y[base + k * inner] = log ? v - m - ls : expf(v - m) * inv;
    }
  }
}

/* softmax: gx = y (gy - sum(gy y)); log-softmax: gx = gy - exp(y) sum(gy) */
__global__ void k_softmax_bw_rows(const float *y, const float *gy, float *gx, int64_t rows, int64_t n, int log) {
  __shared__ double sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *yr = y + r * n, *gr = gy + r * n;
    double s = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += log ? (double)gr[j] : (double)gr[j] * yr[j];
    float t = (float)block_sum(s, sh);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      gx[r * n + j] = log ? gr[j] - expf(yr[j]) * t : yr[j] * (gr[j] - t);
  }
}

__global__ void k_softmax_bw_cols(const float *y, const float *gy, float *gx, int64_t outer, int64_t n, int64_t inner,
                                  int log) {
  HUB_GRID_LOOP(o, outer * inner) {
    int64_t a = o / inner, j = o % inner, base = a * n * inner + j;
    double s = 0;
    for (int64_t k = 0; k < n; k++) {
      int64_t q = base + k * inner;
      s += log ? (double)gy[q] : (double)gy[q] * y[q];
    }
    float t = (float)s;
    for (int64_t k = 0; k < n; k++) {
      int64_t q = base + k * inner;
      gx[q] = log ? gy[q] - expf(y[q]) * t : y[q] * (gy[q] - t);
    }
  }
}

/* ---- layer_norm (kernels/cpu/layer_norm.c's loops) ---- */

/* r (may be NULL): normalise x + r.  With s, the sum is written there in the first pass and
 * read back (from cache) by the other two; without, x + r is recomputed, which costs a read of
 * r per pass and no write. */
__global__ void k_ln_fwd(const float *x, const float *r, const float *w, const float *b, float eps, float *y,
                         float *s, float *mean, float *rstd, int64_t rows, int64_t n) {
  __shared__ double sh[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *xr = x + row * n, *rr = r ? r + row * n : nullptr;
    float *sr = s ? s + row * n : nullptr;
    double sum = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      float v = rr ? xr[j] + rr[j] : xr[j];
      if (sr) sr[j] = v;
      sum += v;
    }
    if (sr) xr = sr, rr = nullptr; /* each thread reads back only the elements it wrote */
    double mu = block_sum(sum, sh) / (double)n, var = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      double d = (rr ? xr[j] + rr[j] : xr[j]) - mu;
      var += d * d;
    }
    var = block_sum(var, sh);
    float m = (float)mu, rs = (float)(1.0 / sqrt(var / (double)n + (double)eps));
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      float t = ((rr ? xr[j] + rr[j] : xr[j]) - m) * rs;
      if (w) t *= w[j];
      if (b) t += b[j];
      y[row * n + j] = t;
    }
    if (threadIdx.x == 0) {
      if (mean) mean[row] = m;
      if (rstd) rstd[row] = rs;
    }
  }
}

/* gx = rstd (g - mean(g) - xhat mean(g xhat)), g = gy w */
__global__ void k_ln_bw_x(const float *x, const float *w, const float *mean, const float *rstd, const float *gy,
                          float *gx, int64_t rows, int64_t n) {
  __shared__ double sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * n, *gr = gy + r * n;
    float m = mean[r], rs = rstd[r];
    double s1 = 0, s2 = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      float g = gr[j] * (w ? w[j] : 1.0f), xh = (xr[j] - m) * rs;
      s1 += g;
      s2 += (double)g * xh;
    }
    float a = (float)(block_sum(s1, sh) / (double)n);
    float c = (float)(block_sum(s2, sh) / (double)n);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      float g = gr[j] * (w ? w[j] : 1.0f), xh = (xr[j] - m) * rs;
      gx[r * n + j] = rs * (g - a - xh * c);
    }
  }
}

/* gw[j] = sum_r gy xhat, gb[j] = sum_r gy, tiled as k_cols_tile (blockIdx.x: 32 columns,
 * blockIdx.z: a chunk of COL_CHUNK rows).  One chunk: straight into gw/gb; else the chunk's sums
 * into part[chunk * n + j] (gw's) and part[(chunks + chunk) * n + j] (gb's). */
__global__ void k_ln_bw_wb(const float *x, const float *mean, const float *rstd, const float *gy, float *gw, float *gb,
                           double *part, int64_t rows, int64_t n) {
  __shared__ double shw[COL_TY][COL_TX + 1], shb[COL_TY][COL_TX + 1];
  int64_t j = (int64_t)blockIdx.x * COL_TX + threadIdx.x;
  int64_t r0 = (int64_t)blockIdx.z * COL_CHUNK, r1 = r0 + COL_CHUNK < rows ? r0 + COL_CHUNK : rows;
  double sw = 0, sb = 0;
  if (j < n)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += COL_TY) {
      float g = gy[r * n + j];
      sw += (double)g * ((x[r * n + j] - mean[r]) * rstd[r]);
      sb += g;
    }
  shw[threadIdx.y][threadIdx.x] = sw;
  shb[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && j < n) {
    double tw = 0, tb = 0;
    for (int r = 0; r < COL_TY; r++) tw += shw[r][threadIdx.x], tb += shb[r][threadIdx.x];
    if (part) {
      part[(int64_t)blockIdx.z * n + j] = tw;
      part[((int64_t)gridDim.z + blockIdx.z) * n + j] = tb;
    } else {
      if (gw) gw[j] = (float)tw;
      if (gb) gb[j] = (float)tb;
    }
  }
}

/* gw and gb from k_ln_bw_wb's chunk sums, in chunk order */
__global__ void k_ln_bw_wb_finish(const double *part, float *gw, float *gb, int64_t n, int64_t chunks) {
  HUB_GRID_LOOP(j, n) {
    double tw = 0, tb = 0;
    for (int64_t c = 0; c < chunks; c++) tw += part[c * n + j], tb += part[(chunks + c) * n + j];
    if (gw) gw[j] = (float)tw;
    if (gb) gb[j] = (float)tb;
  }
}

void ln_geometry(const hub_tensor *x, const hub_tensor *stat, const hub_tensor *w, int64_t *rows, int64_t *n) {
  int64_t total = hub_tensor_numel(x);
  if (stat) {
    *rows = hub_tensor_numel(stat);
    *n = *rows ? total / *rows : 0;
  } else if (w) {
    *n = hub_tensor_numel(w);
    *rows = *n ? total / *n : 0;
  } else {
    *n = x->ndim ? x->shape[x->ndim - 1] : 1;
    *rows = *n ? total / *n : 0;
  }
}

/* ---- ids on the device ---- */

__device__ __forceinline__ int64_t id_at(const void *ids, int i64, int64_t j) {
  return i64 ? ((const int64_t *)ids)[j] : (int64_t)((const int32_t *)ids)[j];
}

/* first[0] = the first position j whose id is outside [0, n) and not `skip` (k when none);
 * first[1] = how many ids are not `skip`. */
__global__ void k_check_ids(const void *ids, int i64, int64_t k, int64_t n, int64_t skip, int use_skip,
                            unsigned long long *first) {
  HUB_GRID_LOOP(j, k) {
    int64_t v = id_at(ids, i64, j);
    if (use_skip && v == skip) continue;
    atomicAdd(first + 1, 1ull);
    if (v < 0 || v >= n) atomicMin(first, (unsigned long long)j);
  }
}

} // namespace

/* 0, or -1 with "<what> <id> out of range ..." for the first bad id; *count: ids not skipped
 * (common.cuh; index.cu uses it too). */
int hubcu::check_ids(const char *what, const hub_tensor *ids, int64_t k, int64_t n, int64_t skip, int use_skip,
              int64_t *count) {
  if (cuda_capturing())
    return hub_err("%s: ids are checked by reading them back, which a captured CUDA graph cannot do (only the "
                   "embedding's gather may be captured)", what);
  if (k == 0) {
    if (count) *count = 0;
    return 0;
  }
  unsigned long long *buf = (unsigned long long *)cuda_alloc(2 * sizeof(unsigned long long));
  if (!buf) return -1;
  unsigned long long host[2] = {(unsigned long long)k, 0};
  int rc = cuda_copy_in(buf, host, sizeof host);
  if (rc == 0) {
    k_check_ids<<<blocks_for(k), THREADS, 0, stream()>>>(ids->data, ids->dtype == HUB_I64, k, n, skip, use_skip, buf);
    rc = cuda_check(what);
  }
  if (rc == 0) rc = cuda_copy_out(host, buf, sizeof host);
  cuda_free(buf, 2 * sizeof(unsigned long long));
  if (rc) return -1;
  if (count) *count = (int64_t)host[1];
  if (host[0] < (unsigned long long)k) {
    int64_t bad = 0;
    size_t es = hub_dtype_size(ids->dtype);
    if (cuda_copy_out(&bad, (const char *)ids->data + host[0] * es, es)) return -1;
    if (es == 4) bad = (int64_t)(int32_t)bad;
    if (strncmp(what, "cross_entropy", 13) == 0) /* the CPU kernel's words (kernels/cpu/loss.c) */
      return hub_err("%s %lld out of range for %lld classes", what, (long long)bad, (long long)n);
    return hub_err("%s %lld out of range [0, %lld)", what, (long long)bad, (long long)n);
  }
  return 0;
}

namespace {

int geom3(const char *what, const hub_tensor *t, int64_t *outer, int64_t *n, int64_t *inner) {
  switch (t->ndim) {
  case 3: *outer = t->shape[0], *n = t->shape[1], *inner = t->shape[2]; break;
  case 2: *outer = 1, *n = t->shape[0], *inner = t->shape[1]; break;
  case 1: *outer = 1, *n = t->shape[0], *inner = 1; break;
  default: return hub_err("%s: expected a 1-d, 2-d or 3-d [outer, n, inner] view, got %d-d", what, t->ndim);
  }
  if (!hub_tensor_is_contiguous(t)) return hub_err("%s: operands must be contiguous", what);
  if (t->device != HUB_CUDA) return hub_err("%s: operand is on %s, not cuda", what, hub_device_name(t->device));
  return 0;
}

int ids_ok(const hub_tensor *ids) {
  if (ids->dtype != HUB_I64 && ids->dtype != HUB_I32)
    return hub_err("ids must be i64 or i32, got %s", hub_dtype_name(ids->dtype));
  if (!hub_tensor_is_contiguous(ids)) return hub_err("ids must be contiguous");
  if (ids->device != HUB_CUDA) return hub_err("ids are on %s, not cuda", hub_device_name(ids->device));
  return 0;
}

template <class T>
__global__ void k_gather(const T *x, const void *ids, int i64, T *out, int64_t k, int64_t n, int64_t inner,
                         int64_t total) {
  HUB_GRID_LOOP(e, total) {
    int64_t c = e % inner, r = e / inner, o = r / k, j = r - o * k, id = id_at(ids, i64, j);
    /* ids are checked on the host first (check_ids), except inside a captured graph: there an id
     * out of range gives zeros, never a read outside x */
    out[e] = id >= 0 && id < n ? x[(o * n + id) * inner + c] : T(0);
  }
}

/* one thread per (outer, column): the ids in order, so duplicates add up deterministically */
__global__ void k_scatter_add(float *gx, const void *ids, int i64, const float *gy, int64_t outer, int64_t k, int64_t n,
                              int64_t inner) {
  HUB_GRID_LOOP(e, outer * inner) {
    int64_t o = e / inner, c = e % inner;
    float *xo = gx + o * n * inner + c;
    const float *yo = gy + o * k * inner + c;
    for (int64_t j = 0; j < k; j++) xo[id_at(ids, i64, j) * inner] += yo[j * inner];
  }
}

/* ---- cross-entropy (kernels/cpu/loss.c) ---- */

__global__ void k_ce_rows(const float *x, const void *tgt, int i64, int64_t N, int64_t C, int64_t ignore, double eps,
                          float *lse, double *row) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  for (int64_t i = blockIdx.x; i < N; i += gridDim.x) {
    const float *xr = x + i * C;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = fmaxf(m, xr[c]);
    m = block_max(m, shf);
    double s = 0, sx = 0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      s += (double)expf(xr[c] - m);
      sx += (double)xr[c];
    }
    s = block_sum(s, shd);
    sx = block_sum(sx, shd);
    if (threadIdx.x == 0) {
      double l = (double)m + ::log(s);
      if (isinf(m)) l = m;
      if (isnan(sx)) l = NAN;
      if (lse) lse[i] = (float)l;
      int64_t t = id_at(tgt, i64, i);
      row[i] = t == ignore ? 0.0 : (1.0 - eps) * (l - xr[t]) + (eps > 0 ? eps * (l - sx / (double)C) : 0.0);
    }
  }
}

__global__ void k_ce_total(const double *row, int64_t N, int64_t cnt, float *loss) {
  __shared__ double sh[32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += row[i];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) *loss = cnt ? (float)(s / (double)cnt) : NAN;
}

__global__ void k_ce_bw(const float *x, const void *tgt, int i64, const float *lse, int64_t N, int64_t C, int64_t ignore,
                        float on, float off, float gscale, float *g) {
  HUB_GRID_LOOP(e, N * C) {
    int64_t i = e / C, c = e % C, t = id_at(tgt, i64, i);
    if (t == ignore || t < 0 || t >= C) {
      g[e] = 0.0f;
      continue;
    }
    float v = gscale * (expf(x[e] - lse[i]) - off);
    if (c == t) v -= gscale * on;
    g[e] = v;
  }
}


} // namespace

extern "C" {

int cuda_reduce(int op, const hub_tensor *x, int dim, hub_tensor *out, hub_tensor *idx) {
  if (op != HUB_RED_SUM && op != HUB_RED_MEAN && op != HUB_RED_MAX) return hub_err("reduce: unknown reduction %d", op);
  if (x->dtype != HUB_F32 && x->dtype != HUB_F64)
    return hub_err("reduce: expected an f32 or f64 tensor, got %s", hub_dtype_name(x->dtype));
  if (out->dtype != x->dtype || !hub_tensor_is_contiguous(x) || !hub_tensor_is_contiguous(out))
    return hub_err("reduce: operands must be contiguous and of one dtype");
  if (idx && idx->dtype != HUB_I64) return hub_err("reduce: index output must be i64");
  if (x->ndim && (dim < 0 || dim >= x->ndim)) return hub_err("reduce: dimension %d out of range", dim);
  int64_t outer, n, inner;
  around(x, dim, &outer, &n, &inner);
  if (outer * inner == 0) return 0;
  if (n == 0) {
    if (op == HUB_RED_MAX) return hub_err("max: cannot reduce over an empty dimension");
    return cuda_fill(out, op == HUB_RED_MEAN ? NAN : 0.0);
  }
  return x->dtype == HUB_F64 ? reduce_t<double>(op, x, outer, n, inner, out, idx)
                             : reduce_t<float>(op, x, outer, n, inner, out, idx);
}

int cuda_softmax(const hub_tensor *x, int dim, int log, hub_tensor *y) {
  int64_t total = hub_tensor_numel(x);
  if (check_f32("softmax", x, total, true) || check_f32("softmax", y, total, true)) return -1;
  if (x->ndim && (dim < 0 || dim >= x->ndim)) return hub_err("softmax: dimension %d out of range", dim);
  if (total == 0) return 0;
  int64_t outer, n, inner;
  around(x, dim, &outer, &n, &inner);
  if (inner == 1)
    k_softmax_rows<<<grid_rows(outer), row_threads(n), 0, stream()>>>((const float *)x->data, (float *)y->data, outer, n,
                                                                      log);
  else
    k_softmax_cols<<<blocks_for(outer * inner), THREADS, 0, stream()>>>((const float *)x->data, (float *)y->data, outer,
                                                                        n, inner, log);
  return cuda_check("softmax");
}

int cuda_softmax_backward(const hub_tensor *y, const hub_tensor *gy, int dim, int log, hub_tensor *gx) {
  int64_t total = hub_tensor_numel(y);
  if (check_f32("softmax backward", y, total, true) || check_f32("softmax backward", gy, total, true) ||
      check_f32("softmax backward", gx, total, true))
    return -1;
  if (y->ndim && (dim < 0 || dim >= y->ndim)) return hub_err("softmax: dimension %d out of range", dim);
  if (total == 0) return 0;
  int64_t outer, n, inner;
  around(y, dim, &outer, &n, &inner);
  if (inner == 1)
    k_softmax_bw_rows<<<grid_rows(outer), row_threads(n), 0, stream()>>>(
        (const float *)y->data, (const float *)gy->data, (float *)gx->data, outer, n, log);
  else
    k_softmax_bw_cols<<<blocks_for(outer * inner), THREADS, 0, stream()>>>(
        (const float *)y->data, (const float *)gy->data, (float *)gx->data, outer, n, inner, log);
  return cuda_check("softmax backward");
}

int cuda_layer_norm(const hub_tensor *x, const hub_tensor *r, const hub_tensor *w, const hub_tensor *b, float eps,
                    hub_tensor *y, hub_tensor *s, hub_tensor *mean, hub_tensor *rstd) {
  int64_t total = hub_tensor_numel(x), rows, n;
  if (check_f32("layer_norm", x, total, true) || check_f32("layer_norm", y, total, true) ||
      (r && check_f32("layer_norm", r, total, true)) || (s && check_f32("layer_norm", s, total, true)) ||
      (w && check_f32("layer_norm", w, -1, true)) || (b && check_f32("layer_norm", b, -1, true)) ||
      (mean && check_f32("layer_norm", mean, -1, true)) || (rstd && check_f32("layer_norm", rstd, -1, true)))
    return -1;
  ln_geometry(x, mean ? mean : rstd, w, &rows, &n);
  if (rows == 0 || n == 0) return 0;
  k_ln_fwd<<<grid_rows(rows), row_threads(n), 0, stream()>>>(
      (const float *)x->data, r ? (const float *)r->data : nullptr, w ? (const float *)w->data : nullptr,
      b ? (const float *)b->data : nullptr, eps, (float *)y->data, s ? (float *)s->data : nullptr,
      mean ? (float *)mean->data : nullptr, rstd ? (float *)rstd->data : nullptr, rows, n);
  return cuda_check("layer_norm");
}

int cuda_layer_norm_backward(const hub_tensor *x, const hub_tensor *w, const hub_tensor *mean, const hub_tensor *rstd,
                             const hub_tensor *gy, hub_tensor *gx, hub_tensor *gw, hub_tensor *gb) {
  int64_t total = hub_tensor_numel(x), rows, n;
  if (check_f32("layer_norm backward", x, total, true) || check_f32("layer_norm backward", gy, total, true) ||
      check_f32("layer_norm backward", gx, total, true) || check_f32("layer_norm backward", mean, -1, true) ||
      check_f32("layer_norm backward", rstd, -1, true) || (w && check_f32("layer_norm backward", w, -1, true)) ||
      (gw && check_f32("layer_norm backward", gw, -1, true)) || (gb && check_f32("layer_norm backward", gb, -1, true)))
    return -1;
  ln_geometry(x, mean, w, &rows, &n);
  if (rows == 0 || n == 0) {
    if (gw && cuda_fill(gw, 0)) return -1;
    if (gb && cuda_fill(gb, 0)) return -1;
    return 0;
  }
  k_ln_bw_x<<<grid_rows(rows), row_threads(n), 0, stream()>>>(
      (const float *)x->data, w ? (const float *)w->data : nullptr, (const float *)mean->data,
      (const float *)rstd->data, (const float *)gy->data, (float *)gx->data, rows, n);
  if (gw || gb) {
    int64_t chunks = col_chunks(rows);
    if (chunks > 65535) return hub_err("layer_norm backward: %lld rows are more than the CUDA kernel takes", (long long)rows);
    double *part = nullptr;
    size_t part_bytes = chunks > 1 ? 2 * sizeof(double) * (size_t)(chunks * n) : 0;
    if (part_bytes && !(part = (double *)cuda_alloc(part_bytes))) return -1;
    float *gwp = gw ? (float *)gw->data : nullptr, *gbp = gb ? (float *)gb->data : nullptr;
    k_ln_bw_wb<<<col_grid(1, n, chunks), dim3(COL_TX, COL_TY), 0, stream()>>>(
        (const float *)x->data, (const float *)mean->data, (const float *)rstd->data, (const float *)gy->data, gwp, gbp,
        part, rows, n);
    if (part) k_ln_bw_wb_finish<<<blocks_for(n), THREADS, 0, stream()>>>(part, gwp, gbp, n, chunks);
    int rc = cuda_check("layer_norm backward");
    if (part) cuda_free(part, part_bytes);
    return rc;
  }
  return cuda_check("layer_norm backward");
}

int cuda_gather(const hub_tensor *x, const hub_tensor *ids, hub_tensor *out) {
  int64_t outer = 0, n = 0, inner = 0, oo = 0, ok = 0, oi = 0;
  if (geom3("gather", x, &outer, &n, &inner) || geom3("gather", out, &oo, &ok, &oi) || ids_ok(ids)) return -1;
  int64_t k = hub_tensor_numel(ids);
  if (x->dtype != out->dtype)
    return hub_err("gather: dtypes %s and %s differ", hub_dtype_name(x->dtype), hub_dtype_name(out->dtype));
  if (oo != outer || ok != k || oi != inner)
    return hub_err("gather: output is not [%lld, %lld, %lld]", (long long)outer, (long long)k, (long long)inner);
  if (!cuda_capturing() && check_ids("id", ids, k, n, 0, 0, nullptr)) return -1;
  int64_t total = outer * k * inner;
  if (total == 0) return 0;
  unsigned nb = blocks_for(total);
  int i64 = ids->dtype == HUB_I64;
  switch (hub_dtype_size(x->dtype)) {
  case 1: k_gather<uint8_t><<<nb, THREADS, 0, stream()>>>((const uint8_t *)x->data, ids->data, i64, (uint8_t *)out->data, k, n, inner, total); break;
  case 2: k_gather<uint16_t><<<nb, THREADS, 0, stream()>>>((const uint16_t *)x->data, ids->data, i64, (uint16_t *)out->data, k, n, inner, total); break;
  case 4: k_gather<uint32_t><<<nb, THREADS, 0, stream()>>>((const uint32_t *)x->data, ids->data, i64, (uint32_t *)out->data, k, n, inner, total); break;
  default: k_gather<uint64_t><<<nb, THREADS, 0, stream()>>>((const uint64_t *)x->data, ids->data, i64, (uint64_t *)out->data, k, n, inner, total); break;
  }
  return cuda_check("gather");
}

int cuda_scatter_add(hub_tensor *gx, const hub_tensor *ids, const hub_tensor *gy) {
  int64_t outer = 0, n = 0, inner = 0, yo = 0, yk = 0, yi = 0;
  if (geom3("scatter_add", gx, &outer, &n, &inner) || geom3("scatter_add", gy, &yo, &yk, &yi) || ids_ok(ids)) return -1;
  if (gx->dtype != HUB_F32 || gy->dtype != HUB_F32)
    return hub_err("scatter_add: expected f32 tensors, got %s and %s", hub_dtype_name(gx->dtype),
                   hub_dtype_name(gy->dtype));
  int64_t k = hub_tensor_numel(ids);
  if (yo != outer || yk != k || yi != inner)
    return hub_err("scatter_add: gradient is not [%lld, %lld, %lld]", (long long)outer, (long long)k, (long long)inner);
  if (check_ids("id", ids, k, n, 0, 0, nullptr)) return -1;
  if (outer == 0 || k == 0 || inner == 0) return 0;
  k_scatter_add<<<blocks_for(outer * inner), THREADS, 0, stream()>>>((float *)gx->data, ids->data, ids->dtype == HUB_I64,
                                                                      (const float *)gy->data, outer, k, n, inner);
  return cuda_check("scatter_add");
}

int cuda_cross_entropy(const hub_tensor *logits, const hub_tensor *target, int64_t ignore_index, float smoothing,
                       hub_tensor *loss, hub_tensor *lse, int64_t *count) {
  if (check_f32("cross_entropy", logits, -1, true) || check_f32("cross_entropy", loss, 1, true) ||
      (lse && check_f32("cross_entropy", lse, -1, true)))
    return -1;
  if ((target->dtype != HUB_I64 && target->dtype != HUB_I32) || !hub_tensor_is_contiguous(target) ||
      target->device != HUB_CUDA)
    return hub_err("cross_entropy: target must be a contiguous i64 or i32 tensor on cuda");
  int64_t N = hub_tensor_numel(target), C = N ? hub_tensor_numel(logits) / N : 0, cnt = 0;
  if (check_ids("cross_entropy: target", target, N, C, ignore_index, 1, &cnt)) return -1;
  double *row = (double *)cuda_alloc(sizeof(double) * (size_t)(N ? N : 1));
  if (!row) return -1;
  int i64 = target->dtype == HUB_I64;
  if (N > 0)
    k_ce_rows<<<grid_rows(N), row_threads(C), 0, stream()>>>((const float *)logits->data, target->data, i64, N, C,
                                                             ignore_index, (double)smoothing,
                                                             lse ? (float *)lse->data : nullptr, row);
  k_ce_total<<<1, THREADS, 0, stream()>>>(row, N, cnt, (float *)loss->data);
  int rc = cuda_check("cross_entropy");
  cuda_free(row, sizeof(double) * (size_t)(N ? N : 1));
  if (count) *count = cnt;
  return rc;
}

int cuda_cross_entropy_backward(const hub_tensor *logits, const hub_tensor *target, const hub_tensor *lse,
                                int64_t ignore_index, float smoothing, float gscale, hub_tensor *glogits) {
  if (check_f32("cross_entropy backward", logits, -1, true) || check_f32("cross_entropy backward", lse, -1, true) ||
      check_f32("cross_entropy backward", glogits, hub_tensor_numel(logits), true))
    return -1;
  if ((target->dtype != HUB_I64 && target->dtype != HUB_I32) || target->device != HUB_CUDA)
    return hub_err("cross_entropy: target must be an i64 or i32 tensor on cuda");
  int64_t N = hub_tensor_numel(target), C = N ? hub_tensor_numel(logits) / N : 0;
  if (N * C == 0) return 0;
  float on = 1.0f - smoothing, off = C ? smoothing / (float)C : 0.0f;
  k_ce_bw<<<blocks_for(N * C), THREADS, 0, stream()>>>((const float *)logits->data, target->data,
                                                        target->dtype == HUB_I64, (const float *)lse->data, N, C,
                                                        ignore_index, on, off, gscale, (float *)glogits->data);
  return cuda_check("cross_entropy backward");
}

} // extern "C"
