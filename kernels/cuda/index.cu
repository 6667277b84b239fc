/* index.cu - the CUDA kernels that move elements by an index or a mask, with the semantics of
 * kernels/cpu/sort.c and kernels/cpu/elementwise.c:
 *   - gather_dim / scatter_dim along the middle of contiguous [outer, n, inner] operands with an i64
 *     index [outer, k, inner]; the index is checked on the device before anything is written (the
 *     error names the first bad one, as on the CPU).  scatter gives each (outer, inner) column to
 *     one thread, which walks the index in order: duplicates take the last value (set) or add up
 *     in a fixed order (add: f32, f64, i64, i32), so results equal the CPU's bit for bit.
 *   - sort: a stable sort of each line along the middle dimension (f32, f64, i64), NaN the
 *     largest.  A bitonic network on (value, position) pairs ordered by value and then position:
 *     a total order, so the result is the stable sort's whatever the network.  One block per line,
 *     in shared memory up to 2,048 elements, in a device scratch buffer beyond.
 *   - cumsum along the middle dimension, one thread per line, f32 accumulated in double (the
 *     CPU's order and rounding), i64 wrapping.
 *   - masked_select / masked_scatter over contiguous operands: the set positions counted per
 *     1,024-element chunk, an exclusive scan over the chunks, then each chunk places its elements
 *     (a block scan inside the chunk), in order.
 */
#include "common.cuh"

using namespace hubcu;

namespace {

template <int SZ> struct Word;
template <> struct Word<1> { typedef uint8_t type; };
template <> struct Word<2> { typedef uint16_t type; };
template <> struct Word<4> { typedef uint32_t type; };
template <> struct Word<8> { typedef uint64_t type; };

int geom(const char *what, const hub_tensor *t, int64_t *o, int64_t *n, int64_t *i) {
  if (t->ndim != 3 || !hub_tensor_is_contiguous(t))
    return hub_err("%s: expected a contiguous [outer, n, inner] operand", what);
  if (t->device != HUB_CUDA) return hub_err("%s: operand is on %s, not cuda", what, hub_device_name(t->device));
  *o = t->shape[0], *n = t->shape[1], *i = t->shape[2];
  return 0;
}

/* ---- gather / scatter along a dimension ---- */

template <class W>
__global__ void k_gather_dim(int64_t total, int64_t n, int64_t k, int64_t in, const int64_t *idx, const W *x, W *out) {
  HUB_GRID_LOOP(e, total) {
    int64_t a = e / (k * in), i = e % in;
    out[e] = x[(a * n + idx[e]) * in + i];
  }
}

template <class T, int ADD>
__global__ void k_scatter_dim(int64_t cols, int64_t n, int64_t k, int64_t in, const int64_t *idx, const T *src, T *dst) {
  HUB_GRID_LOOP(c, cols) {
    int64_t a = c / in, i = c % in;
    for (int64_t j = 0; j < k; j++) {
      int64_t e = (a * k + j) * in + i, d = (a * n + idx[e]) * in + i;
      if (ADD) dst[d] = dst[d] + src[e];
      else dst[d] = src[e];
    }
  }
}

/* integer adds wrap (unsigned arithmetic) */
template <class T, class UT>
__global__ void k_scatter_add_int(int64_t cols, int64_t n, int64_t k, int64_t in, const int64_t *idx, const T *src,
                                  T *dst) {
  HUB_GRID_LOOP(c, cols) {
    int64_t a = c / in, i = c % in;
    for (int64_t j = 0; j < k; j++) {
      int64_t e = (a * k + j) * in + i, d = (a * n + idx[e]) * in + i;
      dst[d] = (T)((UT)dst[d] + (UT)src[e]);
    }
  }
}

template <int SZ>
void launch_gather(int64_t total, int64_t n, int64_t k, int64_t in, const hub_tensor *index, const hub_tensor *x,
                   hub_tensor *out) {
  typedef typename Word<SZ>::type W;
  k_gather_dim<W><<<blocks_for(total), THREADS, 0, stream()>>>(total, n, k, in, (const int64_t *)index->data,
                                                               (const W *)x->data, (W *)out->data);
}

template <int SZ>
void launch_scatter_set(int64_t cols, int64_t n, int64_t k, int64_t in, const hub_tensor *index, const hub_tensor *src,
                        hub_tensor *dst) {
  typedef typename Word<SZ>::type W;
  k_scatter_dim<W, 0><<<blocks_for(cols), THREADS, 0, stream()>>>(cols, n, k, in, (const int64_t *)index->data,
                                                                  (const W *)src->data, (W *)dst->data);
}

/* ---- sort ---- */

template <class K> struct Item {
  K v;
  int64_t pos; /* -1: padding, after everything */
};

template <class K>
__device__ __forceinline__ bool before(const Item<K> &a, const Item<K> &b, int desc) {
  if (a.pos < 0) return false;
  if (b.pos < 0) return true;
  bool an = a.v != a.v, bn = b.v != b.v; /* NaN is the largest */
  if (an || bn) {
    if (an && bn) return a.pos < b.pos;
    return desc ? an : bn;
  }
  if (a.v != b.v) return desc ? a.v > b.v : a.v < b.v;
  return a.pos < b.pos;
}

/* Lines [outer*inner] of n values, a bitonic network of P (a power of two >= n) items per line;
 * scratch: NULL (shared memory) or gridDim.x * P items. */
template <class K>
__global__ void k_sort(int64_t lines, int64_t n, int64_t in, int64_t P, int desc, const K *x, K *vals, int64_t *idx,
                       Item<K> *scratch) {
  extern __shared__ unsigned char smem[];
  Item<K> *e = scratch ? scratch + (int64_t)blockIdx.x * P : (Item<K> *)smem;
  for (int64_t line = blockIdx.x; line < lines; line += gridDim.x) {
    int64_t a = line / in, i = line % in;
    for (int64_t j = threadIdx.x; j < P; j += blockDim.x) {
      if (j < n) {
        e[j].v = x[(a * n + j) * in + i];
        e[j].pos = j;
      } else {
        e[j].v = K(0);
        e[j].pos = -1;
      }
    }
    __syncthreads();
    for (int64_t k = 2; k <= P; k <<= 1)
      for (int64_t jj = k >> 1; jj > 0; jj >>= 1) {
        for (int64_t t = threadIdx.x; t < P; t += blockDim.x) {
          int64_t l = t ^ jj;
          if (l > t) {
            Item<K> A = e[t], B = e[l];
            bool up = (t & k) == 0;
            if (up ? before(B, A, desc) : before(A, B, desc)) {
              e[t] = B;
              e[l] = A;
            }
          }
        }
        __syncthreads();
      }
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      int64_t o = (a * n + j) * in + i, p = e[j].pos;
      idx[o] = p;
      vals[o] = x[(a * n + p) * in + i];
    }
    __syncthreads();
  }
}

enum { SORT_SHARED_MAX = 2048 };

template <class K>
int launch_sort(int64_t lines, int64_t n, int64_t in, int desc, const hub_tensor *x, hub_tensor *values,
                hub_tensor *indices) {
  int64_t P = 1;
  while (P < n) P <<= 1;
  unsigned threads = P >= 512 ? 512 : (unsigned)(P < 32 ? 32 : P);
  if (P <= SORT_SHARED_MAX) {
    unsigned grid = (unsigned)(lines < (1 << 20) ? lines : (1 << 20));
    k_sort<K><<<grid, threads, (size_t)P * sizeof(Item<K>), stream()>>>(lines, n, in, P, desc, (const K *)x->data,
                                                                         (K *)values->data,
                                                                         (int64_t *)indices->data, nullptr);
    return cuda_check("sort");
  }
  /* long lines: scratch in device memory, at most 256 MiB of it */
  int64_t per = P * (int64_t)sizeof(Item<K>), grid = ((int64_t)256 << 20) / per;
  if (grid < 1) grid = 1;
  if (grid > lines) grid = lines;
  if (grid > 1024) grid = 1024;
  size_t bytes = (size_t)(grid * per);
  Item<K> *scratch = (Item<K> *)cuda_alloc(bytes);
  if (!scratch) return -1;
  k_sort<K><<<(unsigned)grid, threads, 0, stream()>>>(lines, n, in, P, desc, (const K *)x->data, (K *)values->data,
                                                      (int64_t *)indices->data, scratch);
  int rc = cuda_check("sort");
  cuda_free(scratch, bytes);
  return rc;
}

/* ---- cumsum ---- */

template <class T, class ACC>
__global__ void k_cumsum(int64_t lines, int64_t n, int64_t in, int reverse, const T *x, T *out) {
  HUB_GRID_LOOP(line, lines) {
    int64_t a = line / in, i = line % in;
    ACC acc = 0;
    for (int64_t s = 0; s < n; s++) {
      int64_t j = reverse ? n - 1 - s : s, e = (a * n + j) * in + i;
      acc += (ACC)x[e];
      out[e] = (T)acc;
    }
  }
}

/* ---- masked_select / masked_scatter ---- */

enum { MASK_THREADS = 256, MASK_PER = 4, MASK_CHUNK = MASK_THREADS * MASK_PER };

__global__ void k_mask_count(int64_t n, const uint8_t *m, int64_t *counts) {
  __shared__ int64_t sh[32];
  int64_t base = (int64_t)blockIdx.x * MASK_CHUNK, c = 0;
  for (int r = 0; r < MASK_PER; r++) {
    int64_t i = base + (int64_t)threadIdx.x * MASK_PER + r;
    if (i < n && m[i]) c++;
  }
  c = block_sum(c, sh);
  if (threadIdx.x == 0) counts[blockIdx.x] = c;
}

/* exclusive scan of the chunk counts in place; counts[nb] = the total */
__global__ void k_mask_scan(int64_t nb, int64_t *counts) {
  int64_t acc = 0;
  for (int64_t b = 0; b < nb; b++) {
    int64_t c = counts[b];
    counts[b] = acc;
    acc += c;
  }
  counts[nb] = acc;
}

/* select (scatter == 0): out[pos] = x[i]; scatter: x[i] = out[pos], for the set i in order; pos
 * beyond cap is not written (the op layer sizes cap from the same mask). */
template <class W>
__global__ void k_mask_apply(int64_t n, const uint8_t *m, const int64_t *offsets, int scatter, W *x, W *out,
                             int64_t cap) {
  __shared__ int64_t sc[MASK_THREADS];
  int64_t first = (int64_t)blockIdx.x * MASK_CHUNK + (int64_t)threadIdx.x * MASK_PER, c = 0;
  for (int r = 0; r < MASK_PER; r++)
    if (first + r < n && m[first + r]) c++;
  sc[threadIdx.x] = c;
  __syncthreads();
  for (int s = 1; s < MASK_THREADS; s <<= 1) { /* inclusive scan (Hillis-Steele) */
    int64_t v = threadIdx.x >= (unsigned)s ? sc[threadIdx.x - s] : 0;
    __syncthreads();
    sc[threadIdx.x] += v;
    __syncthreads();
  }
  int64_t pos = offsets[blockIdx.x] + sc[threadIdx.x] - c;
  for (int r = 0; r < MASK_PER; r++) {
    int64_t i = first + r;
    if (i < n && m[i]) {
      if (pos < cap) {
        if (scatter) x[i] = out[pos];
        else out[pos] = x[i];
      }
      pos++;
    }
  }
}

int masked(const char *what, int scatter, hub_tensor *x, const hub_tensor *mask, hub_tensor *other) {
  if (x->dtype != other->dtype) return hub_err("%s: dtypes differ", what);
  if (mask->dtype != HUB_BOOL && mask->dtype != HUB_U8) return hub_err("%s: expected a bool or u8 mask", what);
  if (!hub_tensor_is_contiguous(x) || !hub_tensor_is_contiguous(mask) || !hub_tensor_is_contiguous(other))
    return hub_err("%s: expected contiguous operands", what);
  if (hub_tensor_numel(mask) != hub_tensor_numel(x)) return hub_err("%s: the mask does not fit the input", what);
  if (x->device != HUB_CUDA || mask->device != HUB_CUDA || other->device != HUB_CUDA)
    return hub_err("%s: operands must be on cuda", what);
  int64_t n = hub_tensor_numel(x), cap = hub_tensor_numel(other);
  if (n == 0) return 0;
  int64_t nb = (n + MASK_CHUNK - 1) / MASK_CHUNK;
  size_t bytes = (size_t)(nb + 1) * sizeof(int64_t);
  int64_t *off = (int64_t *)cuda_alloc(bytes);
  if (!off) return -1;
  const uint8_t *m = (const uint8_t *)mask->data;
  k_mask_count<<<(unsigned)nb, MASK_THREADS, 0, stream()>>>(n, m, off);
  k_mask_scan<<<1, 1, 0, stream()>>>(nb, off);
  switch (hub_dtype_size(x->dtype)) {
  case 1: k_mask_apply<uint8_t><<<(unsigned)nb, MASK_THREADS, 0, stream()>>>(n, m, off, scatter, (uint8_t *)x->data, (uint8_t *)other->data, cap); break;
  case 2: k_mask_apply<uint16_t><<<(unsigned)nb, MASK_THREADS, 0, stream()>>>(n, m, off, scatter, (uint16_t *)x->data, (uint16_t *)other->data, cap); break;
  case 4: k_mask_apply<uint32_t><<<(unsigned)nb, MASK_THREADS, 0, stream()>>>(n, m, off, scatter, (uint32_t *)x->data, (uint32_t *)other->data, cap); break;
  default: k_mask_apply<uint64_t><<<(unsigned)nb, MASK_THREADS, 0, stream()>>>(n, m, off, scatter, (uint64_t *)x->data, (uint64_t *)other->data, cap); break;
  }
  int rc = cuda_check(what);
  int64_t total = 0;
  if (rc == 0) rc = cuda_copy_out(&total, off + nb, sizeof total);
  cuda_free(off, bytes);
  if (rc) return -1;
  if (total > cap) return hub_err(scatter ? "%s: source too small" : "%s: output too small", what);
  return 0;
}

} // namespace

extern "C" {

int cuda_gather_dim(const hub_tensor *x, const hub_tensor *index, hub_tensor *out) {
  int64_t o = 0, n = 0, in = 0, o2 = 0, k = 0, in2 = 0;
  if (geom("gather", x, &o, &n, &in) || geom("gather", index, &o2, &k, &in2)) return -1;
  if (o2 != o || in2 != in || !hub_same_shape(index, out) || out->dtype != x->dtype || out->device != HUB_CUDA ||
      !hub_tensor_is_contiguous(out))
    return hub_err("gather: index and output do not fit the input");
  if (index->dtype != HUB_I64) return hub_err("index must be i64, got %s", hub_dtype_name(index->dtype));
  int64_t total = o * k * in;
  if (check_ids("index", index, total, n, 0, 0, NULL)) return -1;
  if (total == 0) return 0;
  switch (hub_dtype_size(x->dtype)) {
  case 1: launch_gather<1>(total, n, k, in, index, x, out); break;
  case 2: launch_gather<2>(total, n, k, in, index, x, out); break;
  case 4: launch_gather<4>(total, n, k, in, index, x, out); break;
  default: launch_gather<8>(total, n, k, in, index, x, out); break;
  }
  return cuda_check("gather");
}

int cuda_scatter_dim(hub_tensor *dst, const hub_tensor *index, const hub_tensor *src, int add) {
  int64_t o = 0, n = 0, in = 0, o2 = 0, k = 0, in2 = 0;
  if (geom("scatter", dst, &o, &n, &in) || geom("scatter", index, &o2, &k, &in2)) return -1;
  if (o2 != o || in2 != in || !hub_same_shape(index, src) || src->dtype != dst->dtype || src->device != HUB_CUDA ||
      !hub_tensor_is_contiguous(src))
    return hub_err("scatter: index and source do not fit the destination");
  if (add && dst->dtype != HUB_F32 && dst->dtype != HUB_F64 && dst->dtype != HUB_I64 && dst->dtype != HUB_I32)
    return hub_err("scatter_add: unsupported dtype %s", hub_dtype_name(dst->dtype));
  if (index->dtype != HUB_I64) return hub_err("index must be i64, got %s", hub_dtype_name(index->dtype));
  if (check_ids("index", index, o * k * in, n, 0, 0, NULL)) return -1;
  int64_t cols = o * in;
  if (cols == 0 || k == 0) return 0;
  const int64_t *ip = (const int64_t *)index->data;
  unsigned nb = blocks_for(cols);
  if (!add) {
    switch (hub_dtype_size(dst->dtype)) {
    case 1: launch_scatter_set<1>(cols, n, k, in, index, src, dst); break;
    case 2: launch_scatter_set<2>(cols, n, k, in, index, src, dst); break;
    case 4: launch_scatter_set<4>(cols, n, k, in, index, src, dst); break;
    default: launch_scatter_set<8>(cols, n, k, in, index, src, dst); break;
    }
  } else if (dst->dtype == HUB_F32) {
    k_scatter_dim<float, 1><<<nb, THREADS, 0, stream()>>>(cols, n, k, in, ip, (const float *)src->data, (float *)dst->data);
  } else if (dst->dtype == HUB_F64) {
    k_scatter_dim<double, 1><<<nb, THREADS, 0, stream()>>>(cols, n, k, in, ip, (const double *)src->data, (double *)dst->data);
  } else if (dst->dtype == HUB_I64) {
    k_scatter_add_int<int64_t, uint64_t><<<nb, THREADS, 0, stream()>>>(cols, n, k, in, ip, (const int64_t *)src->data,
                                                                       (int64_t *)dst->data);
  } else {
    k_scatter_add_int<int32_t, uint32_t><<<nb, THREADS, 0, stream()>>>(cols, n, k, in, ip, (const int32_t *)src->data,
                                                                       (int32_t *)dst->data);
  }
  return cuda_check(add ? "scatter_add" : "scatter");
}

int cuda_sort(const hub_tensor *x, int descending, hub_tensor *values, hub_tensor *indices) {
  int64_t o = 0, n = 0, in = 0;
  if (geom("sort", x, &o, &n, &in)) return -1;
  if (x->dtype != HUB_F32 && x->dtype != HUB_F64 && x->dtype != HUB_I64)
    return hub_err("sort: expected f32, f64 or i64 values");
  if (values->dtype != x->dtype || indices->dtype != HUB_I64 || !hub_same_shape(values, x) ||
      !hub_same_shape(indices, x) || values->device != HUB_CUDA || indices->device != HUB_CUDA ||
      !hub_tensor_is_contiguous(values) || !hub_tensor_is_contiguous(indices))
    return hub_err("sort: outputs do not fit the input");
  int64_t lines = o * in;
  if (n == 0 || lines == 0) return 0;
  switch (x->dtype) {
  case HUB_F32: return launch_sort<float>(lines, n, in, descending, x, values, indices);
  case HUB_F64: return launch_sort<double>(lines, n, in, descending, x, values, indices);
  default: return launch_sort<int64_t>(lines, n, in, descending, x, values, indices);
  }
}

int cuda_cumsum(const hub_tensor *x, int reverse, hub_tensor *out) {
  int64_t o = 0, n = 0, in = 0;
  if (geom("cumsum", x, &o, &n, &in)) return -1;
  if ((x->dtype != HUB_F32 && x->dtype != HUB_F64 && x->dtype != HUB_I64) || out->dtype != x->dtype ||
      !hub_same_shape(out, x) || out->device != HUB_CUDA || !hub_tensor_is_contiguous(out))
    return hub_err("cumsum: expected f32, f64 or i64 operands of one shape");
  int64_t lines = o * in;
  if (lines == 0 || n == 0) return 0;
  unsigned nb = blocks_for(lines);
  switch (x->dtype) {
  case HUB_F32:
    k_cumsum<float, double><<<nb, THREADS, 0, stream()>>>(lines, n, in, reverse, (const float *)x->data, (float *)out->data);
    break;
  case HUB_F64:
    k_cumsum<double, double><<<nb, THREADS, 0, stream()>>>(lines, n, in, reverse, (const double *)x->data, (double *)out->data);
    break;
  default: /* wraps: summed as unsigned */
    k_cumsum<uint64_t, uint64_t><<<nb, THREADS, 0, stream()>>>(lines, n, in, reverse, (const uint64_t *)x->data,
                                                               (uint64_t *)out->data);
    break;
  }
  return cuda_check("cumsum");
}

int cuda_masked_select(const hub_tensor *x, const hub_tensor *mask, hub_tensor *out) {
  return masked("masked_select", 0, (hub_tensor *)x, mask, out);
}

int cuda_masked_scatter(hub_tensor *dst, const hub_tensor *mask, const hub_tensor *src) {
  return masked("masked_scatter", 1, dst, mask, (hub_tensor *)src);
}

} // extern "C"
