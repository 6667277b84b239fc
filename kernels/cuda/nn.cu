/* nn.cu - the CUDA kernels that work along rows: reduce (sum, mean, max over one dimension),
 * softmax and log-softmax, layer_norm, gather / scatter_add (embedding), cross-entropy and fused
 * attention, forward and backward.  The formulas and the corner cases (empty dimensions, all -inf
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
#include <pthread.h>
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

unsigned row_threads(int64_t n) {
  int64_t t = (n + 31) / 32 * 32;
  const int64_t most = THREADS;
  return (unsigned)(t < 32 ? 32 : t > most ? most : t);
}

unsigned grid_rows(int64_t rows) { return (unsigned)(rows > (1 << 20) ? (1 << 20) : rows); }

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

__global__ void k_ln_fwd(const float *x, const float *w, const float *b, float eps, float *y, float *mean, float *rstd,
                         int64_t rows, int64_t n) {
  __shared__ double sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * n;
    double s = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += xr[j];
    double mu = block_sum(s, sh) / (double)n, v = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      double d = xr[j] - mu;
      v += d * d;
    }
    v = block_sum(v, sh);
    float m = (float)mu, rs = (float)(1.0 / sqrt(v / (double)n + (double)eps));
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      float t = (xr[j] - m) * rs;
      if (w) t *= w[j];
      if (b) t += b[j];
      y[r * n + j] = t;
    }
    if (threadIdx.x == 0) {
      if (mean) mean[r] = m;
      if (rstd) rstd[r] = rs;
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

/* ---- attention (kernels/cpu/attention.c) ---- */

struct AttnGeo {
  int64_t B, H, Lq, Lk, D, Dv;
  int64_t sq[4], sk[4], sv[4], so[4]; /* so: out (forward) or gout (backward) */
  const float *mask;
  int64_t sm[3];
  float scale, p, dscale; /* dscale = 1 / (1 - p), 0 when p == 1 */
  uint64_t kh, counter;
};

__device__ __forceinline__ const float *row4(const float *base, const int64_t *s, int64_t b, int64_t h, int64_t i) {
  return base + b * s[0] + h * s[1] + i * s[2];
}

__device__ __forceinline__ float keep_scale(const AttnGeo &g, int64_t e, int64_t i, int64_t j) {
  if (g.p <= 0.0f) return 1.0f;
  uint64_t c = g.counter + (uint64_t)((e * g.Lq + i) * g.Lk + j);
  return rng_uniform(g.kh, c) >= g.p ? g.dscale : 0.0f;
}

/* One block per (entry e, query row i): the scores into probs, softmax in place, then the row of
 * out.  Dynamic shared memory: the query row (D floats). */
__global__ void k_attn_fwd(AttnGeo g, const float *q, const float *k, const float *v, float *out, float *probs) {
  extern __shared__ float qs[];
  __shared__ float shf[32];
  __shared__ double shd[32];
  int64_t rows = g.B * g.H * g.Lq;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t e = r / g.Lq, i = r % g.Lq, b = e / g.H, h = e % g.H;
    const float *qr = row4(q, g.sq, b, h, i);
    __syncthreads(); /* qs of the previous row is no longer read */
    for (int64_t d = threadIdx.x; d < g.D; d += blockDim.x) qs[d] = qr[d];
    __syncthreads();
    float *pr = probs + r * g.Lk;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) {
      const float *kr = row4(k, g.sk, b, h, j);
      float s = 0;
      for (int64_t d = 0; d < g.D; d++) s += qs[d] * kr[d];
      s *= g.scale;
      if (g.mask) s += g.mask[e * g.sm[0] + i * g.sm[1] + j * g.sm[2]];
      pr[j] = s;
      m = fmaxf(m, s);
    }
    m = block_max(m, shf);
    double sum = 0;
    if (m != -INFINITY)
      for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) sum += (double)expf(pr[j] - m);
    sum = block_sum(sum, shd);
    float inv = m == -INFINITY ? 0.0f : (float)(1.0 / sum);
    for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) pr[j] = m == -INFINITY ? 0.0f : expf(pr[j] - m) * inv;
    __syncthreads(); /* the whole row of probs is written */
    float *orow = out + b * g.so[0] + h * g.so[1] + i * g.so[2];
    for (int64_t d = threadIdx.x; d < g.Dv; d += blockDim.x) {
      float acc = 0;
      for (int64_t j = 0; j < g.Lk; j++) {
        float a = pr[j] * keep_scale(g, e, i, j);
        acc += a * row4(v, g.sv, b, h, j)[d];
      }
      orow[d] = acc;
    }
  }
}

/* The tiled forward: one block per (entry e, tile of ATT_TQ query rows), so that each key and
 * value row is read from global memory once per tile instead of once per query row.  The query
 * tile sits in shared memory; keys come in chunks of ATT_TK rows (padded by one float against bank
 * conflicts), each thread scoring a few (row, key) pairs into probs; one warp per row then turns
 * the row into probabilities (the sum in double, as k_attn_fwd); values come in chunks too, with
 * the chunk's probabilities, each thread accumulating a few (row, d) outputs in registers.  Every
 * sum runs in the same order as k_attn_fwd's (d ascending for a score, keys ascending for an
 * output), so the two give the same numbers; head dimensions up to ATT_DMAX. */
enum { ATT_TQ = 16, ATT_TK = 64, ATT_DMAX = 128, ATT_THREADS = 256, ATT_ACC = ATT_TQ * ATT_DMAX / ATT_THREADS };

__global__ void k_attn_fwd_tiled(AttnGeo g, const float *q, const float *k, const float *v, float *out, float *probs) {
  extern __shared__ float sm[];
  const int64_t DM = g.D > g.Dv ? g.D : g.Dv;
  float *qs = sm, *kv = sm + ATT_TQ * g.D, *ps = kv + ATT_TK * (DM + 1);
  const int64_t tiles = (g.Lq + ATT_TQ - 1) / ATT_TQ, e = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * ATT_TQ;
  const int64_t b = e / g.H, h = e % g.H, nq = g.Lq - i0 < ATT_TQ ? g.Lq - i0 : ATT_TQ;
  const int tid = threadIdx.x;
  for (int64_t t = tid; t < ATT_TQ * g.D; t += blockDim.x) {
    int64_t r = t / g.D, d = t % g.D;
    qs[t] = r < nq ? row4(q, g.sq, b, h, i0 + r)[d] : 0.0f;
  }
  float *prow0 = probs + (e * g.Lq + i0) * g.Lk;
  /* scores */
  for (int64_t j0 = 0; j0 < g.Lk; j0 += ATT_TK) {
    const int64_t nk = g.Lk - j0 < ATT_TK ? g.Lk - j0 : ATT_TK;
    __syncthreads();
    for (int64_t t = tid; t < nk * g.D; t += blockDim.x) {
      int64_t c = t / g.D, d = t % g.D;
      kv[c * (g.D + 1) + d] = row4(k, g.sk, b, h, j0 + c)[d];
    }
    __syncthreads();
    for (int64_t t = tid; t < nq * nk; t += blockDim.x) {
      int64_t r = t / nk, c = t % nk;
      const float *qr = qs + r * g.D, *kr = kv + c * (g.D + 1);
      float sc = 0;
      for (int64_t d = 0; d < g.D; d++) sc += qr[d] * kr[d];
      sc *= g.scale;
      if (g.mask) sc += g.mask[e * g.sm[0] + (i0 + r) * g.sm[1] + (j0 + c) * g.sm[2]];
      prow0[r * g.Lk + j0 + c] = sc;
    }
  }
  __syncthreads();
  /* softmax: one warp per row */
  const int lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
  for (int64_t r = warp; r < nq; r += nwarps) {
    float *pr = prow0 + r * g.Lk;
    float m = -INFINITY;
    for (int64_t j = lane; j < g.Lk; j += 32) m = fmaxf(m, pr[j]);
    m = warp_max(m);
    double sum = 0;
    if (m != -INFINITY)
      for (int64_t j = lane; j < g.Lk; j += 32) sum += (double)expf(pr[j] - m);
    sum = warp_sum(sum);
    float inv = m == -INFINITY ? 0.0f : (float)(1.0 / sum);
    for (int64_t j = lane; j < g.Lk; j += 32) pr[j] = m == -INFINITY ? 0.0f : expf(pr[j] - m) * inv;
  }
  /* out = dropout(P) V */
  float acc[ATT_ACC];
#pragma unroll
  for (int a = 0; a < ATT_ACC; a++) acc[a] = 0.0f;
  for (int64_t j0 = 0; j0 < g.Lk; j0 += ATT_TK) {
    const int64_t nk = g.Lk - j0 < ATT_TK ? g.Lk - j0 : ATT_TK;
    __syncthreads(); /* the probabilities are written; the previous chunk is no longer read */
    for (int64_t t = tid; t < nk * g.Dv; t += blockDim.x) {
      int64_t c = t / g.Dv, d = t % g.Dv;
      kv[c * (g.Dv + 1) + d] = row4(v, g.sv, b, h, j0 + c)[d];
    }
    for (int64_t t = tid; t < nq * nk; t += blockDim.x) {
      int64_t r = t / nk, c = t % nk;
      ps[r * ATT_TK + c] = prow0[r * g.Lk + j0 + c] * keep_scale(g, e, i0 + r, j0 + c);
    }
    __syncthreads();
#pragma unroll
    for (int a = 0; a < ATT_ACC; a++) {
      int64_t t = tid + (int64_t)a * blockDim.x, r = t / g.Dv, d = t % g.Dv;
      if (r < nq) {
        float s2 = acc[a];
        for (int64_t c = 0; c < nk; c++) s2 += ps[r * ATT_TK + c] * kv[c * (g.Dv + 1) + d];
        acc[a] = s2;
      }
    }
  }
#pragma unroll
  for (int a = 0; a < ATT_ACC; a++) {
    int64_t t = tid + (int64_t)a * blockDim.x, r = t / g.Dv, d = t % g.Dv;
    if (r < nq) out[b * g.so[0] + h * g.so[1] + (i0 + r) * g.so[2] + d] = acc[a];
  }
}

/* The flash forward (inference: no probabilities kept): the tiled kernel's layout, but each chunk
 * of keys is scored, folded into a running softmax (per row: the running maximum m, the running
 * sum l in double, and the factor exp(m_old - m_new) that rescales what was accumulated), and
 * multiplied with its chunk of values at once; out = acc / l at the end.  Dropout multiplies the
 * unnormalised weights by the same keep mask as the other kernels (same counters).  The sums run in
 * another order than k_attn_fwd's: equal to rounding (the self-check allows 1e-5). */
__global__ void k_attn_fwd_flash(AttnGeo g, const float *q, const float *k, const float *v, float *out) {
  extern __shared__ float sm[];
  __shared__ float mrow[ATT_TQ], arow[ATT_TQ];
  __shared__ double lrow[ATT_TQ];
  const int64_t DM = g.D > g.Dv ? g.D : g.Dv;
  float *qs = sm, *kv = sm + ATT_TQ * g.D, *ps = kv + ATT_TK * (DM + 1);
  const int64_t tiles = (g.Lq + ATT_TQ - 1) / ATT_TQ, e = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * ATT_TQ;
  const int64_t b = e / g.H, h = e % g.H, nq = g.Lq - i0 < ATT_TQ ? g.Lq - i0 : ATT_TQ;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
  for (int64_t t = tid; t < ATT_TQ * g.D; t += blockDim.x) {
    int64_t r = t / g.D, d = t % g.D;
    qs[t] = r < nq ? row4(q, g.sq, b, h, i0 + r)[d] : 0.0f;
  }
  if (tid < ATT_TQ) mrow[tid] = -INFINITY, lrow[tid] = 0.0, arow[tid] = 0.0f;
  float acc[ATT_ACC];
#pragma unroll
  for (int a = 0; a < ATT_ACC; a++) acc[a] = 0.0f;
  for (int64_t j0 = 0; j0 < g.Lk; j0 += ATT_TK) {
    const int64_t nk = g.Lk - j0 < ATT_TK ? g.Lk - j0 : ATT_TK;
    __syncthreads(); /* the previous chunk's values and weights are no longer read */
    for (int64_t t = tid; t < nk * g.D; t += blockDim.x) {
      int64_t c = t / g.D, d = t % g.D;
      kv[c * (g.D + 1) + d] = row4(k, g.sk, b, h, j0 + c)[d];
    }
    __syncthreads();
    for (int64_t t = tid; t < nq * nk; t += blockDim.x) {
      int64_t r = t / nk, c = t % nk;
      const float *qr = qs + r * g.D, *kr = kv + c * (g.D + 1);
      float sc = 0;
      for (int64_t d = 0; d < g.D; d++) sc += qr[d] * kr[d];
      sc *= g.scale;
      if (g.mask) sc += g.mask[e * g.sm[0] + (i0 + r) * g.sm[1] + (j0 + c) * g.sm[2]];
      ps[r * ATT_TK + c] = sc;
    }
    __syncthreads();
    /* the running softmax: one warp per row */
    for (int64_t r = warp; r < nq; r += nwarps) {
      float *pr = ps + r * ATT_TK;
      float cm = -INFINITY;
      for (int64_t c = lane; c < nk; c += 32) cm = fmaxf(cm, pr[c]);
      cm = warp_max(cm);
      float mo = mrow[r], mn = fmaxf(mo, cm);
      double s = 0;
      for (int64_t c = lane; c < nk; c += 32) {
        float w = mn == -INFINITY ? 0.0f : expf(pr[c] - mn);
        s += (double)w;
        pr[c] = w * keep_scale(g, e, i0 + r, j0 + c);
      }
      s = warp_sum(s);
      __syncwarp();
      if (lane == 0) {
        float a = mo == -INFINITY ? 0.0f : expf(mo - mn);
        arow[r] = a;
        lrow[r] = lrow[r] * (double)a + s;
        mrow[r] = mn;
      }
    }
    for (int64_t t = tid; t < nk * g.Dv; t += blockDim.x) { /* the keys are no longer read: values over them */
      int64_t c = t / g.Dv, d = t % g.Dv;
      kv[c * (g.Dv + 1) + d] = row4(v, g.sv, b, h, j0 + c)[d];
    }
    __syncthreads();
#pragma unroll
    for (int a = 0; a < ATT_ACC; a++) {
      int64_t t = tid + (int64_t)a * blockDim.x, r = t / g.Dv, d = t % g.Dv;
      if (r < nq) {
        float s2 = acc[a] * arow[r];
        for (int64_t c = 0; c < nk; c++) s2 += ps[r * ATT_TK + c] * kv[c * (g.Dv + 1) + d];
        acc[a] = s2;
      }
    }
  }
  __syncthreads();
#pragma unroll
  for (int a = 0; a < ATT_ACC; a++) {
    int64_t t = tid + (int64_t)a * blockDim.x, r = t / g.Dv, d = t % g.Dv;
    if (r < nq) {
      double l = lrow[r];
      out[b * g.so[0] + h * g.so[1] + (i0 + r) * g.so[2] + d] = l > 0 ? (float)(acc[a] / l) : 0.0f;
    }
  }
}

size_t attn_tiled_smem(const AttnGeo &g) {
  int64_t DM = g.D > g.Dv ? g.D : g.Dv;
  return sizeof(float) * (size_t)(ATT_TQ * g.D + ATT_TK * (DM + 1) + ATT_TQ * ATT_TK);
}

struct AttnStrides {
  int64_t s[4];
};

/* Backward, pass 1, one block per (e, i): gs[e, i, :] = P * (gp - rowsum(gp P)) with gp = (gout v^T) M/(1-p),
 * and gq[e, i, :] = scale gs k. */
__global__ void k_attn_bw_rows(AttnGeo g, const float *k, const float *v, const float *probs, const float *gout,
                               float *gs, float *gq, AttnStrides sgq) {
  extern __shared__ float go[]; /* the gout row (Dv floats) */
  __shared__ double shd[32];
  int64_t rows = g.B * g.H * g.Lq;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t e = r / g.Lq, i = r % g.Lq, b = e / g.H, h = e % g.H;
    const float *gr = row4(gout, g.so, b, h, i);
    __syncthreads();
    for (int64_t d = threadIdx.x; d < g.Dv; d += blockDim.x) go[d] = gr[d];
    __syncthreads();
    const float *pr = probs + r * g.Lk;
    float *sr = gs + r * g.Lk;
    double acc = 0;
    for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) {
      const float *vr = row4(v, g.sv, b, h, j);
      float ga = 0;
      for (int64_t d = 0; d < g.Dv; d++) ga += go[d] * vr[d];
      float gp = ga * keep_scale(g, e, i, j);
      sr[j] = gp;
      acc += (double)gp * pr[j];
    }
    float t = (float)block_sum(acc, shd);
    for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) sr[j] = pr[j] * (sr[j] - t);
    __syncthreads();
    if (gq) {
      float *qrow = gq + b * sgq.s[0] + h * sgq.s[1] + i * sgq.s[2];
      for (int64_t d = threadIdx.x; d < g.D; d += blockDim.x) {
        float s = 0;
        for (int64_t j = 0; j < g.Lk; j++) s += sr[j] * row4(k, g.sk, b, h, j)[d];
        qrow[d] = s * g.scale;
      }
    }
  }
}

struct GradPtrs {
  float *gk, *gv;
  int64_t sgk[4], sgv[4];
};

/* Backward, pass 2, one block per (e, j): gk[j] = scale sum_i gs[i, j] q[i], gv[j] = sum_i A[i, j] gout[i]. */
__global__ void k_attn_bw_cols(AttnGeo g, const float *q, const float *probs, const float *gout, const float *gs,
                               GradPtrs gp) {
  int64_t cols = g.B * g.H * g.Lk;
  for (int64_t c = blockIdx.x; c < cols; c += gridDim.x) {
    int64_t e = c / g.Lk, j = c % g.Lk, b = e / g.H, h = e % g.H;
    const float *pe = probs + e * g.Lq * g.Lk, *se = gs + e * g.Lq * g.Lk;
    if (gp.gk) {
      float *kr = gp.gk + b * gp.sgk[0] + h * gp.sgk[1] + j * gp.sgk[2];
      for (int64_t d = threadIdx.x; d < g.D; d += blockDim.x) {
        float s = 0;
        for (int64_t i = 0; i < g.Lq; i++) s += se[i * g.Lk + j] * row4(q, g.sq, b, h, i)[d];
        kr[d] = s * g.scale;
      }
    }
    if (gp.gv) {
      float *vr = gp.gv + b * gp.sgv[0] + h * gp.sgv[1] + j * gp.sgv[2];
      for (int64_t d = threadIdx.x; d < g.Dv; d += blockDim.x) {
        float s = 0;
        for (int64_t i = 0; i < g.Lq; i++) s += pe[i * g.Lk + j] * keep_scale(g, e, i, j) * row4(gout, g.so, b, h, i)[d];
        vr[d] = s;
      }
    }
  }
}

/* The tiled backward (head dimensions up to ATT_DMAX), as the tiled forward: one block per tile of
 * ATT_TQ rows, the other side's rows through shared memory in chunks of ATT_TK, read once per tile
 * instead of once per row.  Pass 1 (k_attn_bw_rows_tiled, a tile of query rows): gp = (gout v^T)
 * keep into gs (chunks of v), then one warp per row: t = sum_j gp p and gs = p (gp - t), then
 * gq = scale gs k (chunks of k with the tile's gs).  Pass 2 (k_attn_bw_cols_tiled, a tile of key
 * rows): gk = scale gs^T q, then gv = (p keep)^T gout (chunks of q / gout with the tile's columns
 * of gs / p).  Every output sum runs in the plain kernels' order (keys or queries ascending); only
 * t is summed in another order (in double).  Shared memory: ATT_TQ * Dv + ATT_TK * (max(D, Dv) + 1)
 * + ATT_TQ * ATT_TK floats, as the forward's. */
__global__ void k_attn_bw_rows_tiled(AttnGeo g, const float *k, const float *v, const float *probs, const float *gout,
                                     float *gs, float *gq, AttnStrides sgq) {
  extern __shared__ float sm[];
  const int64_t DM = g.D > g.Dv ? g.D : g.Dv;
  float *gos = sm, *kv = sm + ATT_TQ * g.Dv, *ps = kv + ATT_TK * (DM + 1);
  const int64_t tiles = (g.Lq + ATT_TQ - 1) / ATT_TQ, e = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * ATT_TQ;
  const int64_t b = e / g.H, h = e % g.H, nq = g.Lq - i0 < ATT_TQ ? g.Lq - i0 : ATT_TQ;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
  for (int64_t t = tid; t < ATT_TQ * g.Dv; t += blockDim.x) {
    int64_t r = t / g.Dv, d = t % g.Dv;
    gos[t] = r < nq ? row4(gout, g.so, b, h, i0 + r)[d] : 0.0f;
  }
  float *srow0 = gs + (e * g.Lq + i0) * g.Lk;
  const float *prow0 = probs + (e * g.Lq + i0) * g.Lk;
  for (int64_t j0 = 0; j0 < g.Lk; j0 += ATT_TK) { /* gp = (gout v^T) keep */
    const int64_t nk = g.Lk - j0 < ATT_TK ? g.Lk - j0 : ATT_TK;
    __syncthreads();
    for (int64_t t = tid; t < nk * g.Dv; t += blockDim.x) {
      int64_t c = t / g.Dv, d = t % g.Dv;
      kv[c * (g.Dv + 1) + d] = row4(v, g.sv, b, h, j0 + c)[d];
    }
    __syncthreads();
    for (int64_t t = tid; t < nq * nk; t += blockDim.x) {
      int64_t r = t / nk, c = t % nk;
      const float *gr = gos + r * g.Dv, *vr = kv + c * (g.Dv + 1);
      float ga = 0;
      for (int64_t d = 0; d < g.Dv; d++) ga += gr[d] * vr[d];
      srow0[r * g.Lk + j0 + c] = ga * keep_scale(g, e, i0 + r, j0 + c);
    }
  }
  __syncthreads(); /* (global memory: the block's own rows, written above) */
  for (int64_t r = warp; r < nq; r += nwarps) { /* gs = p (gp - sum_j gp p) */
    float *sr = srow0 + r * g.Lk;
    const float *pr = prow0 + r * g.Lk;
    double acc = 0;
    for (int64_t j = lane; j < g.Lk; j += 32) acc += (double)sr[j] * pr[j];
    float t = (float)warp_sum(acc);
    for (int64_t j = lane; j < g.Lk; j += 32) sr[j] = pr[j] * (sr[j] - t);
  }
  if (!gq) return;
  float acc[ATT_ACC];
#pragma unroll
  for (int a = 0; a < ATT_ACC; a++) acc[a] = 0.0f;
  for (int64_t j0 = 0; j0 < g.Lk; j0 += ATT_TK) { /* gq = scale gs k */
    const int64_t nk = g.Lk - j0 < ATT_TK ? g.Lk - j0 : ATT_TK;
    __syncthreads();
    for (int64_t t = tid; t < nk * g.D; t += blockDim.x) {
      int64_t c = t / g.D, d = t % g.D;
      kv[c * (g.D + 1) + d] = row4(k, g.sk, b, h, j0 + c)[d];
    }
    for (int64_t t = tid; t < nq * nk; t += blockDim.x) {
      int64_t r = t / nk, c = t % nk;
      ps[r * ATT_TK + c] = srow0[r * g.Lk + j0 + c];
    }
    __syncthreads();
#pragma unroll
    for (int a = 0; a < ATT_ACC; a++) {
      int64_t t = tid + (int64_t)a * blockDim.x, r = t / g.D, d = t % g.D;
      if (r < nq) {
        float s2 = acc[a];
        for (int64_t c = 0; c < nk; c++) s2 += ps[r * ATT_TK + c] * kv[c * (g.D + 1) + d];
        acc[a] = s2;
      }
    }
  }
#pragma unroll
  for (int a = 0; a < ATT_ACC; a++) {
    int64_t t = tid + (int64_t)a * blockDim.x, r = t / g.D, d = t % g.D;
    if (r < nq) gq[b * sgq.s[0] + h * sgq.s[1] + (i0 + r) * sgq.s[2] + d] = acc[a] * g.scale;
  }
}

__global__ void k_attn_bw_cols_tiled(AttnGeo g, const float *q, const float *probs, const float *gout, const float *gs,
                                     float *gk, float *gv, AttnStrides sgk, AttnStrides sgv) {
  extern __shared__ float sm[];
  const int64_t DM = g.D > g.Dv ? g.D : g.Dv;
  float *rows = sm, *cs = rows + ATT_TK * (DM + 1); /* cs: [ATT_TK query rows][ATT_TQ columns] */
  const int64_t tiles = (g.Lk + ATT_TQ - 1) / ATT_TQ, e = blockIdx.x / tiles, j0 = (blockIdx.x % tiles) * ATT_TQ;
  const int64_t b = e / g.H, h = e % g.H, nc = g.Lk - j0 < ATT_TQ ? g.Lk - j0 : ATT_TQ;
  const int tid = threadIdx.x;
  const float *se = gs + e * g.Lq * g.Lk, *pe = probs + e * g.Lq * g.Lk;
  for (int pass = 0; pass < 2; pass++) { /* 0: gk = scale gs^T q; 1: gv = (p keep)^T gout */
    float *dst = pass == 0 ? gk : gv;
    if (!dst) continue;
    const int64_t W = pass == 0 ? g.D : g.Dv;
    float acc[ATT_ACC];
#pragma unroll
    for (int a = 0; a < ATT_ACC; a++) acc[a] = 0.0f;
    for (int64_t i0 = 0; i0 < g.Lq; i0 += ATT_TK) {
      const int64_t ni = g.Lq - i0 < ATT_TK ? g.Lq - i0 : ATT_TK;
      __syncthreads();
      for (int64_t t = tid; t < ni * W; t += blockDim.x) {
        int64_t r = t / W, d = t % W;
        rows[r * (W + 1) + d] = pass == 0 ? row4(q, g.sq, b, h, i0 + r)[d] : row4(gout, g.so, b, h, i0 + r)[d];
      }
      for (int64_t t = tid; t < ni * nc; t += blockDim.x) {
        int64_t r = t / nc, c = t % nc, o = (i0 + r) * g.Lk + j0 + c;
        cs[r * ATT_TQ + c] = pass == 0 ? se[o] : pe[o] * keep_scale(g, e, i0 + r, j0 + c);
      }
      __syncthreads();
#pragma unroll
      for (int a = 0; a < ATT_ACC; a++) {
        int64_t t = tid + (int64_t)a * blockDim.x, c = t / W, d = t % W;
        if (c < nc) {
          float s2 = acc[a];
          for (int64_t r = 0; r < ni; r++) s2 += cs[r * ATT_TQ + c] * rows[r * (W + 1) + d];
          acc[a] = s2;
        }
      }
    }
    const AttnStrides &st = pass == 0 ? sgk : sgv;
#pragma unroll
    for (int a = 0; a < ATT_ACC; a++) {
      int64_t t = tid + (int64_t)a * blockDim.x, c = t / W, d = t % W;
      if (c < nc) dst[b * st.s[0] + h * st.s[1] + (j0 + c) * st.s[2] + d] = pass == 0 ? acc[a] * g.scale : acc[a];
    }
  }
}

size_t attn_bw_tiled_smem(const AttnGeo &g) {
  int64_t DM = g.D > g.Dv ? g.D : g.Dv;
  return sizeof(float) * (size_t)(ATT_TQ * g.Dv + ATT_TK * (DM + 1) + ATT_TQ * ATT_TK);
}

int attn_operand(const char *op, const char *name, const hub_tensor *t, int64_t B, int64_t H, int64_t L, int64_t D,
                 int64_t *s) {
  if (!t || t->ndim != 4 || t->dtype != HUB_F32 || t->device != HUB_CUDA)
    return hub_err("%s: %s must be a 4-d f32 tensor on cuda", op, name);
  if (t->shape[0] != B || t->shape[1] != H || t->shape[2] != L || t->shape[3] != D)
    return hub_err("%s: %s is not [%lld,%lld,%lld,%lld]", op, name, (long long)B, (long long)H, (long long)L,
                   (long long)D);
  if (D > 1 && t->stride[3] != 1) return hub_err("%s: the last dimension of %s must be contiguous", op, name);
  for (int d = 0; d < 4; d++) s[d] = t->stride[d];
  return 0;
}

int attn_geom(const char *op, const hub_attn *p, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
              const hub_tensor *out, const hub_tensor *probs, AttnGeo *g) {
  if (!q || q->ndim != 4 || !k || k->ndim != 4 || !v || v->ndim != 4)
    return hub_err("%s: q, k and v must be 4-d [B, H, L, D] views", op);
  *g = AttnGeo{};
  g->B = q->shape[0], g->H = q->shape[1], g->Lq = q->shape[2], g->D = q->shape[3];
  g->Lk = k->shape[2], g->Dv = v->shape[3];
  if (attn_operand(op, "q", q, g->B, g->H, g->Lq, g->D, g->sq) ||
      attn_operand(op, "k", k, g->B, g->H, g->Lk, g->D, g->sk) ||
      attn_operand(op, "v", v, g->B, g->H, g->Lk, g->Dv, g->sv) ||
      attn_operand(op, "out", out, g->B, g->H, g->Lq, g->Dv, g->so))
    return -1;
  if (probs && (probs->dtype != HUB_F32 || probs->ndim != 3 || probs->shape[0] != g->B * g->H ||
      probs->shape[1] != g->Lq || probs->shape[2] != g->Lk || !hub_tensor_is_contiguous(probs) ||
      probs->device != HUB_CUDA))
    return hub_err("%s: probs must be a contiguous f32 [%lld,%lld,%lld] tensor on cuda", op,
                   (long long)(g->B * g->H), (long long)g->Lq, (long long)g->Lk);
  if (p->mask) {
    const hub_tensor *m = p->mask;
    if (m->dtype != HUB_F32 || m->ndim != 3 || m->device != HUB_CUDA || m->shape[0] != g->B * g->H ||
        m->shape[1] != g->Lq || m->shape[2] != g->Lk)
      return hub_err("%s: the mask must be an f32 [%lld,%lld,%lld] view on cuda", op, (long long)(g->B * g->H),
                     (long long)g->Lq, (long long)g->Lk);
    g->mask = (const float *)m->data;
    for (int d = 0; d < 3; d++) g->sm[d] = m->stride[d];
  }
  g->scale = p->scale;
  g->p = p->p;
  g->dscale = p->p < 1.0f ? 1.0f / (1.0f - p->p) : 0.0f;
  g->kh = rng_key_hash(p->key);
  g->counter = p->counter;
  return 0;
}

unsigned attn_threads(int64_t L, int64_t D) {
  int64_t m = L > D ? L : D;
  return row_threads(m < 64 ? m : (m > 128 ? 128 : m));
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

int cuda_layer_norm(const hub_tensor *x, const hub_tensor *w, const hub_tensor *b, float eps, hub_tensor *y,
                    hub_tensor *mean, hub_tensor *rstd) {
  int64_t total = hub_tensor_numel(x), rows, n;
  if (check_f32("layer_norm", x, total, true) || check_f32("layer_norm", y, total, true) ||
      (w && check_f32("layer_norm", w, -1, true)) || (b && check_f32("layer_norm", b, -1, true)) ||
      (mean && check_f32("layer_norm", mean, -1, true)) || (rstd && check_f32("layer_norm", rstd, -1, true)))
    return -1;
  ln_geometry(x, mean ? mean : rstd, w, &rows, &n);
  if (rows == 0 || n == 0) return 0;
  k_ln_fwd<<<grid_rows(rows), row_threads(n), 0, stream()>>>(
      (const float *)x->data, w ? (const float *)w->data : nullptr, b ? (const float *)b->data : nullptr, eps,
      (float *)y->data, mean ? (float *)mean->data : nullptr, rstd ? (float *)rstd->data : nullptr, rows, n);
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

/* A kernel launched with more than the default 48 KiB of dynamic shared memory must be allowed it
 * first (up to the device's opt-in limit, 227 KiB on an H100); past that, a clear error. */
/* The tiled forward checks itself once against k_attn_fwd (2 x 3 entries, 37 query rows over three
 * tiles, 70 keys over two chunks, head dimensions 24 and 40, a mask, dropout): they must agree
 * to 1e-5 (the same sums in the same order), else the tiled kernel is off for the process with a
 * line on stderr.  Written without a GPU, hence the check.  HUB_CUDA_TILED_ATTN=0 turns it off. */
static int g_tiled_state; /* 0 unchecked, 1 on, -1 off; set once (pthread_once: serving's workers) */
static int g_flash_state; /* the flash kernel's, checked in the same pass (HUB_CUDA_FLASH_ATTN=0: off) */
static int g_tiled_bw_state; /* the tiled backward's, checked in the same pass (HUB_CUDA_TILED_ATTN=0: off too) */
static pthread_once_t g_tiled_once = PTHREAD_ONCE_INIT;
static void attn_tiled_check(void);
static int attn_tiled_ok(void) {
  pthread_once(&g_tiled_once, attn_tiled_check);
  return g_tiled_state > 0;
}
static int attn_tiled_bw_ok(void) {
  pthread_once(&g_tiled_once, attn_tiled_check);
  return g_tiled_bw_state > 0;
}
static int attn_flash_ok(void) {
  pthread_once(&g_tiled_once, attn_tiled_check);
  return g_flash_state > 0;
}
static void attn_tiled_check(void) {
  g_tiled_state = g_flash_state = g_tiled_bw_state = -1;
  const char *env = getenv("HUB_CUDA_TILED_ATTN"), *fenv = getenv("HUB_CUDA_FLASH_ATTN");
  bool want_tiled = !(env && strcmp(env, "0") == 0), want_flash = !(fenv && strcmp(fenv, "0") == 0);
  if (!want_tiled && !want_flash) return;
  AttnGeo g;
  memset(&g, 0, sizeof g);
  g.B = 2, g.H = 3, g.Lq = 37, g.Lk = 70, g.D = 24, g.Dv = 40;
  int64_t nq = g.B * g.H * g.Lq * g.D, nk = g.B * g.H * g.Lk * g.D, nv = g.B * g.H * g.Lk * g.Dv;
  int64_t no = g.B * g.H * g.Lq * g.Dv, np = g.B * g.H * g.Lq * g.Lk, nm = g.B * g.H * g.Lq * g.Lk;
  int64_t total = nq + nk + nv + nm + 3 * no + 2 * np + 1 + 2 * (np + nq + nk + nv);
  float *h = (float *)malloc(sizeof(float) * (size_t)(nq + nk + nv + nm));
  float *d = (float *)cuda_alloc(sizeof(float) * (size_t)total);
  float err = INFINITY, ferr = INFINITY, berr = INFINITY;
  if (h && d) {
    for (int64_t i = 0; i < nq + nk + nv; i++) h[i] = (float)((i * 7919 % 211) - 105) / 60.0f;
    for (int64_t i = 0; i < nm; i++) h[nq + nk + nv + i] = (i % 11 == 3) ? -1e9f : 0.0f;
    float *q = d, *k = q + nq, *v = k + nk, *m = v + nv, *o1 = m + nm, *p1 = o1 + no, *o2 = p1 + np, *p2 = o2 + no;
    float *o3 = p2 + np, *e = o3 + no;
    int64_t strides[4][4] = {{g.H * g.Lq * g.D, g.Lq * g.D, g.D, 1}, {g.H * g.Lk * g.D, g.Lk * g.D, g.D, 1},
                             {g.H * g.Lk * g.Dv, g.Lk * g.Dv, g.Dv, 1}, {g.H * g.Lq * g.Dv, g.Lq * g.Dv, g.Dv, 1}};
    memcpy(g.sq, strides[0], sizeof g.sq), memcpy(g.sk, strides[1], sizeof g.sk);
    memcpy(g.sv, strides[2], sizeof g.sv), memcpy(g.so, strides[3], sizeof g.so);
    g.mask = m, g.sm[0] = g.Lq * g.Lk, g.sm[1] = g.Lk, g.sm[2] = 1;
    g.scale = 0.2f, g.p = 0.1f, g.dscale = 1.0f / 0.9f, g.kh = rng_key_hash(77), g.counter = 5;
    if (cuda_copy_in(d, h, sizeof(float) * (size_t)(nq + nk + nv + nm)) == 0) {
      int64_t tiles = (g.Lq + ATT_TQ - 1) / ATT_TQ;
      k_attn_fwd<<<grid_rows(g.B * g.H * g.Lq), attn_threads(g.Lk, g.Dv), sizeof(float) * (size_t)g.D, stream()>>>(
          g, q, k, v, o1, p1);
      k_attn_fwd_tiled<<<(unsigned)(g.B * g.H * tiles), ATT_THREADS, attn_tiled_smem(g), stream()>>>(g, q, k, v, o2, p2);
      err = fmaxf(max_rel_diff(no, o2, o1, e), max_rel_diff(np, p2, p1, e));
      k_attn_fwd_flash<<<(unsigned)(g.B * g.H * tiles), ATT_THREADS, attn_tiled_smem(g), stream()>>>(g, q, k, v, o3);
      ferr = max_rel_diff(no, o3, o1, e);
      /* the backward of the plain forward's probabilities, with the output as gout: plain vs tiled */
      float *gs1 = e + 1, *gq1 = gs1 + np, *gk1 = gq1 + nq, *gv1 = gk1 + nk;
      float *gs2 = gv1 + nv, *gq2 = gs2 + np, *gk2 = gq2 + nq, *gv2 = gk2 + nk;
      AttnStrides sq{}, sk{}, sv{};
      memcpy(sq.s, strides[0], sizeof sq.s), memcpy(sk.s, strides[1], sizeof sk.s), memcpy(sv.s, strides[2], sizeof sv.s);
      k_attn_bw_rows<<<grid_rows(g.B * g.H * g.Lq), attn_threads(g.Lk, g.D), sizeof(float) * (size_t)g.Dv, stream()>>>(
          g, k, v, p1, o1, gs1, gq1, sq);
      GradPtrs gp{};
      gp.gk = gk1, gp.gv = gv1;
      memcpy(gp.sgk, strides[1], sizeof gp.sgk), memcpy(gp.sgv, strides[2], sizeof gp.sgv);
      k_attn_bw_cols<<<grid_rows(g.B * g.H * g.Lk), attn_threads(g.D, g.Dv), 0, stream()>>>(g, q, p1, o1, gs1, gp);
      size_t bs = attn_bw_tiled_smem(g);
      int64_t ktiles = (g.Lk + ATT_TQ - 1) / ATT_TQ;
      k_attn_bw_rows_tiled<<<(unsigned)(g.B * g.H * tiles), ATT_THREADS, bs, stream()>>>(g, k, v, p1, o1, gs2, gq2, sq);
      k_attn_bw_cols_tiled<<<(unsigned)(g.B * g.H * ktiles), ATT_THREADS, bs, stream()>>>(g, q, p1, o1, gs2, gk2, gv2,
                                                                                            sk, sv);
      berr = fmaxf(fmaxf(max_rel_diff(nq, gq2, gq1, e), max_rel_diff(nk, gk2, gk1, e)), max_rel_diff(nv, gv2, gv1, e));
    }
  }
  free(h);
  if (d) cuda_free(d, sizeof(float) * (size_t)total);
  if (want_tiled && err <= 1e-5f) g_tiled_state = 1;
  else if (want_tiled)
    fprintf(stderr, "hubrun: the tiled attention kernel is off (its self-check differs from the plain kernel by %g)\n",
            (double)err);
  if (want_tiled && berr <= 1e-5f) g_tiled_bw_state = 1;
  else if (want_tiled)
    fprintf(stderr, "hubrun: the tiled attention backward is off (its self-check differs from the plain kernels by %g)\n",
            (double)berr);
  if (want_flash && ferr <= 1e-5f) g_flash_state = 1;
  else if (want_flash)
    fprintf(stderr, "hubrun: the flash attention kernel is off (its self-check differs from the plain kernel by %g)\n",
            (double)ferr);
}

static int dynamic_smem(const char *op, const void *fn, size_t bytes, const char *what, int64_t dim) {
  if (bytes <= 48 * 1024) return 0;
  cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return hub_err("%s: a %s of %lld needs %zu bytes of shared memory, more than this GPU gives a block (%s)", op, what,
                   (long long)dim, bytes, cudaGetErrorString(e));
  }
  return 0;
}

int cuda_attention(const hub_attn *p, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v, hub_tensor *out,
                   hub_tensor *probs) {
  AttnGeo g;
  if (attn_geom("attention", p, q, k, v, out, probs, &g)) return -1;
  int64_t rows = g.B * g.H * g.Lq;
  if (rows == 0 || g.Dv == 0) return 0;
  if (g.Lk == 0) { /* no keys: out = 0 */
    hub_tensor *o = out;
    return cuda_fill(o, 0);
  }
  /* the tiled kernels for head dimensions up to ATT_DMAX (BERT's 64), once they have checked
   * themselves; without probs (inference) the flash one, which keeps none */
  int64_t tiles = (g.Lq + ATT_TQ - 1) / ATT_TQ;
  bool tiled_fits = g.D >= 1 && g.D <= ATT_DMAX && g.Dv <= ATT_DMAX && g.B * g.H * tiles < (1ll << 31);
  if (!probs && tiled_fits && attn_flash_ok()) {
    size_t ts = attn_tiled_smem(g);
    if (dynamic_smem("attention", (const void *)k_attn_fwd_flash, ts, "head dimension", g.D)) return -1;
    k_attn_fwd_flash<<<(unsigned)(g.B * g.H * tiles), ATT_THREADS, ts, stream()>>>(
        g, (const float *)q->data, (const float *)k->data, (const float *)v->data, (float *)out->data);
    return cuda_check("attention");
  }
  hub_tensor *scratch = nullptr; /* no probs wanted, no flash kernel: the others need the room */
  if (!probs) {
    int64_t sh[3] = {g.B * g.H, g.Lq, g.Lk};
    if (!(scratch = hub_tensor_empty(HUB_F32, 3, sh, HUB_CUDA))) return -1;
  }
  float *pp = (float *)(probs ? probs->data : scratch->data);
  int rc;
  if (tiled_fits && attn_tiled_ok()) {
    size_t ts = attn_tiled_smem(g);
    rc = dynamic_smem("attention", (const void *)k_attn_fwd_tiled, ts, "head dimension", g.D);
    if (rc == 0) {
      k_attn_fwd_tiled<<<(unsigned)(g.B * g.H * tiles), ATT_THREADS, ts, stream()>>>(
          g, (const float *)q->data, (const float *)k->data, (const float *)v->data, (float *)out->data, pp);
      rc = cuda_check("attention");
    }
  } else {
    size_t smem = sizeof(float) * (size_t)(g.D ? g.D : 1);
    rc = dynamic_smem("attention", (const void *)k_attn_fwd, smem, "head dimension", g.D);
    if (rc == 0) {
      k_attn_fwd<<<grid_rows(rows), attn_threads(g.Lk, g.Dv), smem, stream()>>>(
          g, (const float *)q->data, (const float *)k->data, (const float *)v->data, (float *)out->data, pp);
      rc = cuda_check("attention");
    }
  }
  hub_tensor_release(scratch);
  return rc;
}

int cuda_attention_backward(const hub_attn *p, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
                            const hub_tensor *probs, const hub_tensor *gout, hub_tensor *gq, hub_tensor *gk,
                            hub_tensor *gv) {
  AttnGeo g;
  if (!probs) return hub_err("attention backward: the forward's probabilities are missing");
  if (attn_geom("attention backward", p, q, k, v, gout, probs, &g)) return -1;
  int64_t tmp[4];
  if ((gq && attn_operand("attention backward", "gq", gq, g.B, g.H, g.Lq, g.D, tmp)) ||
      (gk && attn_operand("attention backward", "gk", gk, g.B, g.H, g.Lk, g.D, tmp)) ||
      (gv && attn_operand("attention backward", "gv", gv, g.B, g.H, g.Lk, g.Dv, tmp)))
    return -1;
  int64_t rows = g.B * g.H * g.Lq, cols = g.B * g.H * g.Lk;
  if (rows == 0 || cols == 0 || g.Dv == 0) { /* nothing flows: every gradient is 0 */
    if (gq && cuda_fill(gq, 0)) return -1;
    if (gk && cuda_fill(gk, 0)) return -1;
    if (gv && cuda_fill(gv, 0)) return -1;
    return 0;
  }
  size_t gs_bytes = sizeof(float) * (size_t)(rows * g.Lk);
  AttnStrides sgq{};
  if (gq)
    for (int d = 0; d < 4; d++) sgq.s[d] = gq->stride[d];
  int64_t qt = (g.Lq + ATT_TQ - 1) / ATT_TQ, kt = (g.Lk + ATT_TQ - 1) / ATT_TQ;
  if (g.D >= 1 && g.D <= ATT_DMAX && g.Dv <= ATT_DMAX && g.B * g.H * (qt > kt ? qt : kt) < (1ll << 31) &&
      attn_tiled_bw_ok()) {
    size_t bs = attn_bw_tiled_smem(g);
    if (dynamic_smem("attention backward", (const void *)k_attn_bw_rows_tiled, bs, "head dimension", g.D) ||
        dynamic_smem("attention backward", (const void *)k_attn_bw_cols_tiled, bs, "head dimension", g.D))
      return -1;
    float *gs = (float *)cuda_alloc(gs_bytes);
    if (!gs) return -1;
    k_attn_bw_rows_tiled<<<(unsigned)(g.B * g.H * qt), ATT_THREADS, bs, stream()>>>(
        g, (const float *)k->data, (const float *)v->data, (const float *)probs->data, (const float *)gout->data, gs,
        gq ? (float *)gq->data : nullptr, sgq);
    int rc = cuda_check("attention backward");
    if (rc == 0 && (gk || gv)) {
      AttnStrides sgk{}, sgv{};
      for (int d = 0; d < 4; d++) sgk.s[d] = gk ? gk->stride[d] : 0, sgv.s[d] = gv ? gv->stride[d] : 0;
      k_attn_bw_cols_tiled<<<(unsigned)(g.B * g.H * kt), ATT_THREADS, bs, stream()>>>(
          g, (const float *)q->data, (const float *)probs->data, (const float *)gout->data, gs,
          gk ? (float *)gk->data : nullptr, gv ? (float *)gv->data : nullptr, sgk, sgv);
      rc = cuda_check("attention backward");
    }
    cuda_free(gs, gs_bytes);
    return rc;
  }
  if (dynamic_smem("attention backward", (const void *)k_attn_bw_rows, sizeof(float) * (size_t)g.Dv,
                   "value head dimension", g.Dv))
    return -1;
  float *gs = (float *)cuda_alloc(gs_bytes);
  if (!gs) return -1;
  k_attn_bw_rows<<<grid_rows(rows), attn_threads(g.Lk, g.D), sizeof(float) * (size_t)g.Dv, stream()>>>(
      g, (const float *)k->data, (const float *)v->data, (const float *)probs->data, (const float *)gout->data, gs,
      gq ? (float *)gq->data : nullptr, sgq);
  int rc = cuda_check("attention backward");
  if (rc == 0 && (gk || gv)) {
    GradPtrs gp{};
    gp.gk = gk ? (float *)gk->data : nullptr;
    gp.gv = gv ? (float *)gv->data : nullptr;
    for (int d = 0; d < 4; d++) {
      gp.sgk[d] = gk ? gk->stride[d] : 0;
      gp.sgv[d] = gv ? gv->stride[d] : 0;
    }
    k_attn_bw_cols<<<grid_rows(cols), attn_threads(g.D, g.Dv), 0, stream()>>>(
        g, (const float *)q->data, (const float *)probs->data, (const float *)gout->data, gs, gp);
    rc = cuda_check("attention backward");
  }
  cuda_free(gs, gs_bytes);
  return rc;
}

} // extern "C"
