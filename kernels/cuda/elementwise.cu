/* elementwise.cu - the CUDA kernels that touch each element once: copy (any strides, any pair of
 * dtypes), fill, binary + - * / (f32, broadcast through 0 strides), axpy, where, the unary maps
 * and their derivatives, dropout, the optimiser updates and the GEMM's bias/activation pass.
 *
 * Strided operands go through hubcu::Geo (common.cuh): dimensions are merged on the host, and
 * each thread turns its element index into per-operand offsets.  Conversions follow
 * kernels/cpu/copy.c: through double, float -> integer truncates toward zero, clamps to the
 * range and maps NaN to 0, anything non-zero (NaN too) is true as bool, f16/bf16 round to
 * nearest even.  Equal dtypes move raw elements (1, 2, 4 or 8 bytes), so i64 ids keep every bit.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

using namespace hubcu;

namespace {

/* ---- copy / convert ---- */

__device__ __forceinline__ double load_as_double(const void *p, int64_t i, int dt) {
  switch (dt) {
  case HUB_F32: return ((const float *)p)[i];
  case HUB_F16: return __half2float(((const __half *)p)[i]);
  case HUB_BF16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
  case HUB_I32: return ((const int32_t *)p)[i];
  case HUB_I64: return (double)((const int64_t *)p)[i];
  case HUB_U8:
  case HUB_BOOL: return ((const uint8_t *)p)[i];
  case HUB_F64: return ((const double *)p)[i];
  default: return 0;
  }
}

__device__ __forceinline__ int64_t to_i64(double v) {
  if (!(v == v)) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

__device__ __forceinline__ void store_double(void *p, int64_t i, int dt, double v) {
  switch (dt) {
  case HUB_F32: ((float *)p)[i] = (float)v; break;
  case HUB_F16: ((__half *)p)[i] = __float2half_rn((float)v); break;
  case HUB_BF16: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn((float)v); break;
  case HUB_I32: {
    int32_t r = !(v == v) ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : (int32_t)v;
    ((int32_t *)p)[i] = r;
    break;
  }
  case HUB_I64: ((int64_t *)p)[i] = to_i64(v); break;
  case HUB_U8: ((uint8_t *)p)[i] = (uint8_t)(uint64_t)to_i64(v); break;
  case HUB_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  case HUB_F64: ((double *)p)[i] = v; break;
  default: break;
  }
}

template <class T>
__global__ void k_move(Geo g, int64_t n, T *dst, const T *src) {
  HUB_GRID_LOOP(i, n) {
    int64_t off[2];
    geo_offsets<2>(g, i, off);
    dst[off[0]] = src[off[1]];
  }
}

__global__ void k_convert(Geo g, int64_t n, void *dst, int ddt, const void *src, int sdt) {
  HUB_GRID_LOOP(i, n) {
    int64_t off[2];
    geo_offsets<2>(g, i, off);
    store_double(dst, off[0], ddt, load_as_double(src, off[1], sdt));
  }
}

template <class T>
__global__ void k_fill(Geo g, int64_t n, T *dst, T v) {
  HUB_GRID_LOOP(i, n) {
    int64_t off[1];
    geo_offsets<1>(g, i, off);
    dst[off[0]] = v;
  }
}

/* ---- f32 arithmetic ---- */

__global__ void k_binary(Geo g, int64_t n, int op, float *o, const float *a, const float *b) {
  HUB_GRID_LOOP(i, n) {
    int64_t off[3];
    geo_offsets<3>(g, i, off);
    float x = a[off[1]], y = b[off[2]];
    o[off[0]] = op == HUB_BIN_ADD ? x + y : op == HUB_BIN_SUB ? x - y : op == HUB_BIN_MUL ? x * y : x / y;
  }
}

__global__ void k_axpy(Geo g, int64_t n, float *a, const float *b, float alpha) {
  HUB_GRID_LOOP(i, n) {
    int64_t off[2];
    geo_offsets<2>(g, i, off);
    a[off[0]] += alpha * b[off[1]];
  }
}

__global__ void k_where(Geo g, int64_t n, float *o, const uint8_t *c, const float *a, const float *b) {
  HUB_GRID_LOOP(i, n) {
    int64_t off[4];
    geo_offsets<4>(g, i, off);
    o[off[0]] = c[off[1]] ? a[off[2]] : b[off[3]];
  }
}

__global__ void k_unary(int64_t n, int op, const float *x, float *y, float alpha, float beta) {
  HUB_GRID_LOOP(i, n) y[i] = unary_f(op, x[i], alpha, beta);
}

__global__ void k_unary_bw(int64_t n, int op, const float *x, const float *gy, float *gx, float alpha) {
  HUB_GRID_LOOP(i, n) gx[i] = gy[i] * unary_d(op, x[i], alpha);
}

__global__ void k_bias_act(float *o, const float *bias, int64_t total, int64_t n, int act) {
  HUB_GRID_LOOP(i, total) {
    float v = o[i] + (bias ? bias[i % n] : 0.0f);
    o[i] = act >= 0 ? unary_f(act, v, 0.0f, 0.0f) : v;
  }
}

__global__ void k_dropout(int64_t n, const float *x, float *y, uint8_t *mask, float p, float scale, uint64_t kh,
                          uint64_t counter) {
  HUB_GRID_LOOP(i, n) {
    uint8_t keep = rng_uniform(kh, counter + (uint64_t)i) >= p;
    if (mask) mask[i] = keep;
    y[i] = x[i] * ((float)keep * scale);
  }
}

__global__ void k_dropout_bw(int64_t n, const float *gy, const uint8_t *mask, float scale, float *gx) {
  HUB_GRID_LOOP(i, n) gx[i] = gy[i] * ((float)mask[i] * scale);
}

/* ---- optimiser updates (runtime/hub_optim.h formulas, as kernels/cpu/optim.c) ---- */

__global__ void k_sgd(int64_t n, float *p, const float *g, float *buf, float lr, float mu, float damp, float wd,
                      int nesterov, int first) {
  HUB_GRID_LOOP(i, n) {
    float d = g[i] + wd * p[i];
    if (buf) {
      float b = first ? d : mu * buf[i] + (1.0f - damp) * d;
      buf[i] = b;
      d = nesterov ? d + mu * b : b;
    }
    p[i] -= lr * d;
  }
}

/* ---- multi-tensor updates: one launch over a table of tensors ----
 * Tensor k gets ceil(n_k / MT_CHUNK) consecutive blocks starting at first_block; a block finds its
 * tensor by binary search in the (device) table and works on its chunk. */
enum { MT_CHUNK = 4096 };
struct MtEntry {
  float *p;
  const float *g;
  float *m, *v;
  int64_t n, first_block;
  float step_size, inv_sqrt_bc2, decay, l2;
};

__device__ __forceinline__ int mt_find(const MtEntry *e, int ne, int64_t block) {
  int lo = 0, hi = ne - 1;
  while (lo < hi) { /* the last entry whose first_block <= block */
    int mid = (lo + hi + 1) >> 1;
    if (e[mid].first_block <= block) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

__global__ void k_adam_multi(const MtEntry *e, int ne, float b1, float b2, float eps) {
  const MtEntry t = e[mt_find(e, ne, blockIdx.x)];
  int64_t start = ((int64_t)blockIdx.x - t.first_block) * MT_CHUNK, end = start + MT_CHUNK < t.n ? start + MT_CHUNK : t.n;
  for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
    float gi = t.g[i] + t.l2 * t.p[i];
    float mi = b1 * t.m[i] + (1.0f - b1) * gi;
    float vi = b2 * t.v[i] + (1.0f - b2) * gi * gi;
    t.m[i] = mi;
    t.v[i] = vi;
    t.p[i] = t.p[i] * t.decay - t.step_size * mi / (sqrtf(vi) * t.inv_sqrt_bc2 + eps);
  }
}

__global__ void k_scale_multi(const MtEntry *e, int ne, float s) {
  const MtEntry t = e[mt_find(e, ne, blockIdx.x)];
  int64_t start = ((int64_t)blockIdx.x - t.first_block) * MT_CHUNK, end = start + MT_CHUNK < t.n ? start + MT_CHUNK : t.n;
  for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) t.p[i] *= s;
}

/* part[block] = the block's chunk's sum of squares */
__global__ void k_sumsq_multi(const MtEntry *e, int ne, double *part) {
  __shared__ double sh[32];
  const MtEntry t = e[mt_find(e, ne, blockIdx.x)];
  int64_t start = ((int64_t)blockIdx.x - t.first_block) * MT_CHUNK, end = start + MT_CHUNK < t.n ? start + MT_CHUNK : t.n;
  double s = 0;
  for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) s += (double)t.g[i] * t.g[i];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* out[k] = the sum of tensor k's chunk sums, in chunk order (one block per tensor) */
__global__ void k_sumsq_finish(const MtEntry *e, const double *part, double *out) {
  __shared__ double sh[32];
  const MtEntry t = e[blockIdx.x];
  int64_t nb = (t.n + MT_CHUNK - 1) / MT_CHUNK;
  double s = 0;
  for (int64_t i = threadIdx.x; i < nb; i += blockDim.x) s += part[t.first_block + i];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) out[blockIdx.x] = s;
}

/* The table on the device (NULL with an error); *blocks: the launch's grid. */
MtEntry *mt_upload(const MtEntry *host, int ne, int64_t *blocks) {
  *blocks = 0;
  MtEntry *d = (MtEntry *)cuda_alloc(sizeof(MtEntry) * (size_t)ne);
  if (!d) return NULL;
  if (cuda_copy_in(d, host, sizeof(MtEntry) * (size_t)ne)) {
    cuda_free(d, sizeof(MtEntry) * (size_t)ne);
    return NULL;
  }
  *blocks = host[ne - 1].first_block + (host[ne - 1].n + MT_CHUNK - 1) / MT_CHUNK;
  return d;
}

int same_shape_err(const char *op, const hub_tensor *a, const hub_tensor *b) {
  if (a->ndim == b->ndim && hub_same_shape(a, b)) return 0;
  char s1[128], s2[128];
  return hub_err("%s: shapes %s and %s differ", op, hub_shape_str(a, s1, sizeof s1), hub_shape_str(b, s2, sizeof s2));
}


} // namespace

extern "C" {

int cuda_copy(hub_tensor *dst, const hub_tensor *src) {
  if (dst->dtype < 0 || dst->dtype >= HUB_DTYPE_COUNT || src->dtype < 0 || src->dtype >= HUB_DTYPE_COUNT)
    return hub_err("copy: unknown dtype");
  if (same_shape_err("copy", dst, src) || on_device("copy", dst) || on_device("copy", src)) return -1;
  int64_t n = hub_tensor_numel(dst);
  if (n == 0) return 0;
  size_t dsz = hub_dtype_size(dst->dtype);
  if (dst->dtype == src->dtype && hub_tensor_is_contiguous(dst) && hub_tensor_is_contiguous(src))
    return cuda_copy_d2d(dst->data, src->data, (size_t)n * dsz);
  Geo g;
  const int64_t *st[2] = {dst->stride, src->stride};
  geo_init(&g, dst->ndim, dst->shape, 2, st);
  unsigned nb = blocks_for(n);
  if (dst->dtype == src->dtype) {
    switch (dsz) {
    case 1: k_move<uint8_t><<<nb, THREADS, 0, stream()>>>(g, n, (uint8_t *)dst->data, (const uint8_t *)src->data); break;
    case 2: k_move<uint16_t><<<nb, THREADS, 0, stream()>>>(g, n, (uint16_t *)dst->data, (const uint16_t *)src->data); break;
    case 4: k_move<uint32_t><<<nb, THREADS, 0, stream()>>>(g, n, (uint32_t *)dst->data, (const uint32_t *)src->data); break;
    default: k_move<uint64_t><<<nb, THREADS, 0, stream()>>>(g, n, (uint64_t *)dst->data, (const uint64_t *)src->data); break;
    }
  } else {
    k_convert<<<nb, THREADS, 0, stream()>>>(g, n, dst->data, dst->dtype, src->data, src->dtype);
  }
  return cuda_check("copy");
}

int cuda_fill(hub_tensor *t, double v) {
  if (t->dtype < 0 || t->dtype >= HUB_DTYPE_COUNT) return hub_err("fill: unknown dtype %d", t->dtype);
  if (on_device("fill", t)) return -1;
  int64_t n = hub_tensor_numel(t);
  if (n == 0) return 0;
  /* the value's bytes in t's dtype, made on the host as kernels/cpu/copy.c stores them */
  uint64_t bits = 0;
  switch (t->dtype) {
  case HUB_F32: { float f = (float)v; memcpy(&bits, &f, 4); break; }
  case HUB_F16: { uint16_t h = hub_float_to_half((float)v); memcpy(&bits, &h, 2); break; }
  case HUB_BF16: { uint16_t h = hub_float_to_bf16((float)v); memcpy(&bits, &h, 2); break; }
  case HUB_I32: {
    int32_t i = !(v == v) ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : (int32_t)v;
    memcpy(&bits, &i, 4);
    break;
  }
  case HUB_I64: {
    int64_t i = !(v == v) ? 0 : v >= 9223372036854775807.0 ? INT64_MAX : v <= -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
    memcpy(&bits, &i, 8);
    break;
  }
  case HUB_U8: {
    int64_t i = !(v == v) ? 0 : v >= 9223372036854775807.0 ? INT64_MAX : v <= -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
    bits = (uint8_t)(uint64_t)i;
    break;
  }
  case HUB_BOOL: bits = v != 0; break;
  case HUB_F64: memcpy(&bits, &v, 8); break;
  }
  size_t sz = hub_dtype_size(t->dtype);
  if (bits == 0 && hub_tensor_is_contiguous(t)) return cuda_memset(t->data, 0, (size_t)n * sz);
  Geo g;
  const int64_t *st[1] = {t->stride};
  geo_init(&g, t->ndim, t->shape, 1, st);
  unsigned nb = blocks_for(n);
  switch (sz) {
  case 1: k_fill<uint8_t><<<nb, THREADS, 0, stream()>>>(g, n, (uint8_t *)t->data, (uint8_t)bits); break;
  case 2: k_fill<uint16_t><<<nb, THREADS, 0, stream()>>>(g, n, (uint16_t *)t->data, (uint16_t)bits); break;
  case 4: k_fill<uint32_t><<<nb, THREADS, 0, stream()>>>(g, n, (uint32_t *)t->data, (uint32_t)bits); break;
  default: k_fill<uint64_t><<<nb, THREADS, 0, stream()>>>(g, n, (uint64_t *)t->data, bits); break;
  }
  return cuda_check("fill");
}

int cuda_binary(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out) {
  if (op < HUB_BIN_ADD || op > HUB_BIN_DIV) return hub_err("binary: unknown op %d", op);
  if (check_f32("binary", out, -1, false) || check_f32("binary", a, -1, false) || check_f32("binary", b, -1, false) ||
      same_shape_err("binary", a, out) || same_shape_err("binary", b, out))
    return -1;
  int64_t n = hub_tensor_numel(out);
  if (n == 0) return 0;
  Geo g;
  const int64_t *st[3] = {out->stride, a->stride, b->stride};
  geo_init(&g, out->ndim, out->shape, 3, st);
  k_binary<<<blocks_for(n), THREADS, 0, stream()>>>(g, n, op, (float *)out->data, (const float *)a->data,
                                                     (const float *)b->data);
  return cuda_check("binary");
}

int cuda_axpy(hub_tensor *a, const hub_tensor *b, float alpha) {
  if (check_f32("axpy", a, -1, false) || check_f32("axpy", b, -1, false) || same_shape_err("axpy", b, a)) return -1;
  int64_t n = hub_tensor_numel(a);
  if (n == 0) return 0;
  Geo g;
  const int64_t *st[2] = {a->stride, b->stride};
  geo_init(&g, a->ndim, a->shape, 2, st);
  k_axpy<<<blocks_for(n), THREADS, 0, stream()>>>(g, n, (float *)a->data, (const float *)b->data, alpha);
  return cuda_check("axpy");
}

int cuda_where(const hub_tensor *cond, const hub_tensor *a, const hub_tensor *b, hub_tensor *out) {
  if (cond->dtype != HUB_BOOL && cond->dtype != HUB_U8)
    return hub_err("where: expected a bool or u8 condition, got %s", hub_dtype_name(cond->dtype));
  if (on_device("where", cond) || same_shape_err("where", cond, out) || check_f32("where", out, -1, false) ||
      check_f32("where", a, -1, false) || check_f32("where", b, -1, false) || same_shape_err("where", a, out) ||
      same_shape_err("where", b, out))
    return -1;
  int64_t n = hub_tensor_numel(out);
  if (n == 0) return 0;
  Geo g;
  const int64_t *st[4] = {out->stride, cond->stride, a->stride, b->stride};
  geo_init(&g, out->ndim, out->shape, 4, st);
  k_where<<<blocks_for(n), THREADS, 0, stream()>>>(g, n, (float *)out->data, (const uint8_t *)cond->data,
                                                    (const float *)a->data, (const float *)b->data);
  return cuda_check("where");
}

int cuda_unary(int op, const hub_tensor *x, hub_tensor *y, float alpha, float beta) {
  if (op < 0 || op >= HUB_UN_COUNT) return hub_err("unary: unknown op %d", op);
  int64_t n = hub_tensor_numel(x);
  if (check_f32("unary", x, n, true) || check_f32("unary", y, n, true)) return -1;
  if (n == 0) return 0;
  k_unary<<<blocks_for(n), THREADS, 0, stream()>>>(n, op, (const float *)x->data, (float *)y->data, alpha, beta);
  return cuda_check("unary");
}

int cuda_unary_backward(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx, float alpha, float beta) {
  (void)beta;
  if (op < 0 || op >= HUB_UN_COUNT) return hub_err("unary_backward: unknown op %d", op);
  int64_t n = hub_tensor_numel(x);
  if (check_f32("unary_backward", x, n, true) || check_f32("unary_backward", gy, n, true) ||
      check_f32("unary_backward", gx, n, true))
    return -1;
  if (n == 0) return 0;
  k_unary_bw<<<blocks_for(n), THREADS, 0, stream()>>>(n, op, (const float *)x->data, (const float *)gy->data,
                                                       (float *)gx->data, alpha);
  return cuda_check("unary_backward");
}

int cuda_bias_act(float *out, const float *bias, int64_t rows, int64_t n, int act) {
  int64_t total = rows * n;
  if (total == 0 || (!bias && act < 0)) return 0;
  k_bias_act<<<blocks_for(total), THREADS, 0, stream()>>>(out, bias, total, n, act);
  return cuda_check("matmul epilogue");
}

int cuda_dropout(const hub_tensor *x, float p, uint64_t key, uint64_t counter, hub_tensor *y, hub_tensor *mask) {
  int64_t n = hub_tensor_numel(x);
  if (check_f32("dropout", x, n, true) || check_f32("dropout", y, n, true)) return -1;
  if (mask && (mask->dtype != HUB_U8 || hub_tensor_numel(mask) != n || on_device("dropout", mask)))
    return hub_err("dropout: the mask must be a u8 tensor of the input's size on cuda");
  if (n == 0) return 0;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  k_dropout<<<blocks_for(n), THREADS, 0, stream()>>>(n, (const float *)x->data, (float *)y->data,
                                                      mask ? (uint8_t *)mask->data : nullptr, p, scale,
                                                      rng_key_hash(key), counter);
  return cuda_check("dropout");
}

int cuda_dropout_backward(const hub_tensor *gy, const hub_tensor *mask, float p, hub_tensor *gx) {
  int64_t n = hub_tensor_numel(gy);
  if (check_f32("dropout", gy, n, true) || check_f32("dropout", gx, n, true)) return -1;
  if (mask->dtype != HUB_U8 || hub_tensor_numel(mask) != n || on_device("dropout", mask))
    return hub_err("dropout: the mask must be a u8 tensor of the input's size on cuda");
  if (n == 0) return 0;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  k_dropout_bw<<<blocks_for(n), THREADS, 0, stream()>>>(n, (const float *)gy->data, (const uint8_t *)mask->data,
                                                         scale, (float *)gx->data);
  return cuda_check("dropout backward");
}

int cuda_sgd_step(hub_tensor *p, const hub_tensor *g, hub_tensor *buf, float lr, float momentum, float dampening,
                  float weight_decay, int nesterov, int first) {
  int64_t n = hub_tensor_numel(p);
  if (check_f32("sgd", p, n, true) || check_f32("sgd", g, n, true) || (buf && check_f32("sgd", buf, n, true)))
    return -1;
  if (n == 0) return 0;
  k_sgd<<<blocks_for(n), THREADS, 0, stream()>>>(n, (float *)p->data, (const float *)g->data,
                                                  buf ? (float *)buf->data : nullptr, lr, momentum, dampening,
                                                  weight_decay, nesterov, first);
  return cuda_check("sgd");
}

int cuda_adam_step(int n, hub_tensor *const *p, const hub_tensor *const *g, hub_tensor *const *m,
                   hub_tensor *const *v, const int64_t *steps, float lr, float b1, float b2, float eps, float wd,
                   int decoupled) {
  MtEntry *tab = (MtEntry *)malloc(sizeof(MtEntry) * (size_t)(n > 0 ? n : 1));
  if (!tab) return hub_err("adam: out of memory");
  int ne = 0;
  int64_t fb = 0;
  for (int k = 0; k < n; k++) {
    int64_t c = hub_tensor_numel(p[k]);
    if (check_f32("adam", p[k], c, true) || check_f32("adam", g[k], c, true) || check_f32("adam", m[k], c, true) ||
        check_f32("adam", v[k], c, true)) {
      free(tab);
      return -1;
    }
    if (c == 0) continue;
    double bc1 = 1.0 - pow(b1, (double)steps[k]), bc2 = 1.0 - pow(b2, (double)steps[k]);
    MtEntry e = {(float *)p[k]->data, (const float *)g[k]->data, (float *)m[k]->data, (float *)v[k]->data, c, fb,
                 (float)(lr / bc1), (float)(1.0 / sqrt(bc2)), decoupled ? 1.0f - lr * wd : 1.0f, decoupled ? 0.0f : wd};
    tab[ne++] = e;
    fb += (c + MT_CHUNK - 1) / MT_CHUNK;
  }
  int rc = 0;
  if (ne > 0) {
    int64_t blocks;
    MtEntry *d = mt_upload(tab, ne, &blocks);
    if (!d) rc = -1;
    else {
      k_adam_multi<<<(unsigned)blocks, THREADS, 0, stream()>>>(d, ne, b1, b2, eps);
      rc = cuda_check("adam");
      cuda_free(d, sizeof(MtEntry) * (size_t)ne);
    }
  }
  free(tab);
  return rc;
}

/* The entries of n f32 tensors held in .g / .p (empty ones left out); NULL with an error. */
static MtEntry *mt_plain(const char *op, int n, const hub_tensor *const *ts, int *ne, int64_t *fb) {
  MtEntry *tab = (MtEntry *)calloc((size_t)(n > 0 ? n : 1), sizeof(MtEntry));
  if (!tab) {
    hub_err("%s: out of memory", op);
    return NULL;
  }
  *ne = 0, *fb = 0;
  for (int k = 0; k < n; k++) {
    int64_t c = hub_tensor_numel(ts[k]);
    if (check_f32(op, ts[k], c, true)) {
      free(tab);
      return NULL;
    }
    if (c == 0) continue;
    tab[*ne].p = (float *)ts[k]->data;
    tab[*ne].g = (const float *)ts[k]->data;
    tab[*ne].n = c;
    tab[*ne].first_block = *fb;
    (*ne)++;
    *fb += (c + MT_CHUNK - 1) / MT_CHUNK;
  }
  return tab;
}

int cuda_sum_squares(int n, const hub_tensor *const *ts, double *out) {
  int ne = 0;
  int64_t fb = 0;
  MtEntry *tab = mt_plain("sum_squares", n, ts, &ne, &fb);
  if (!tab) return -1;
  for (int k = 0; k < n; k++) out[k] = 0;
  int rc = 0;
  if (ne > 0) {
    int64_t blocks;
    MtEntry *d = mt_upload(tab, ne, &blocks);
    size_t pbytes = sizeof(double) * (size_t)(blocks + ne);
    double *part = d ? (double *)cuda_alloc(pbytes) : NULL;
    double *res = (double *)malloc(sizeof(double) * (size_t)ne);
    if (!d || !part || !res) rc = res ? -1 : hub_err("sum_squares: out of memory");
    else {
      k_sumsq_multi<<<(unsigned)blocks, THREADS, 0, stream()>>>(d, ne, part);
      k_sumsq_finish<<<(unsigned)ne, THREADS, 0, stream()>>>(d, part, part + blocks);
      rc = cuda_check("sum_squares");
      if (rc == 0) rc = cuda_copy_out(res, part + blocks, sizeof(double) * (size_t)ne); /* the one read back */
      for (int k = 0, j = 0; rc == 0 && k < n; k++)
        if (hub_tensor_numel(ts[k]) > 0) out[k] = res[j++];
    }
    free(res);
    if (part) cuda_free(part, pbytes);
    if (d) cuda_free(d, sizeof(MtEntry) * (size_t)ne);
  }
  free(tab);
  return rc;
}

int cuda_scale(int n, hub_tensor *const *ts, float s) {
  int ne = 0;
  int64_t fb = 0;
  MtEntry *tab = mt_plain("scale_", n, (const hub_tensor *const *)ts, &ne, &fb);
  if (!tab) return -1;
  int rc = 0;
  if (ne > 0) {
    int64_t blocks;
    MtEntry *d = mt_upload(tab, ne, &blocks);
    if (!d) rc = -1;
    else {
      k_scale_multi<<<(unsigned)blocks, THREADS, 0, stream()>>>(d, ne, s);
      rc = cuda_check("scale_");
      cuda_free(d, sizeof(MtEntry) * (size_t)ne);
    }
  }
  free(tab);
  return rc;
}

} // extern "C"
