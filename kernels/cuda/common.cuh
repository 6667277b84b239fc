/* common.cuh - what the CUDA kernels share: the strided geometry of up to four operands, launch
 * sizes, block reductions and the unary functions (the same formulas as kernels/cpu/unary.c). */
#ifndef HUB_CUDA_COMMON_CUH
#define HUB_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

extern "C" {
#include "cuda.h"
}

namespace hubcu {

enum { MAX_OPS = 4, THREADS = 256 };

/* Operands walked in the row-major order of a shape, each with its own strides (elements), after
 * size-1 dimensions are dropped and neighbouring dimensions that continue each other in every
 * operand are merged (as kernels/cpu/strided.h does), so most tensors become 1-d or 2-d. */
struct Geo {
  int nd;
  int64_t shape[HUB_MAX_DIMS];
  int64_t st[MAX_OPS][HUB_MAX_DIMS];
};

inline void geo_init(Geo *g, int ndim, const int64_t *shape, int nops, const int64_t *const *strides) {
  int nd = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    if (nd > 0) {
      bool ok = true;
      for (int k = 0; k < nops; k++)
        if (g->st[k][nd - 1] != strides[k][d] * shape[d]) ok = false;
      if (ok) {
        g->shape[nd - 1] *= shape[d];
        for (int k = 0; k < nops; k++) g->st[k][nd - 1] = strides[k][d];
        continue;
      }
    }
    g->shape[nd] = shape[d];
    for (int k = 0; k < nops; k++) g->st[k][nd] = strides[k][d];
    nd++;
  }
  if (nd == 0) {
    g->shape[0] = 1;
    for (int k = 0; k < nops; k++) g->st[k][0] = 0;
    nd = 1;
  }
  g->nd = nd;
}

/* Element offsets of the i-th element (row-major) in each operand. */
template <int NOPS>
__device__ __forceinline__ void geo_offsets(const Geo &g, int64_t i, int64_t *off) {
#pragma unroll
  for (int k = 0; k < NOPS; k++) off[k] = 0;
  for (int d = g.nd - 1; d >= 0; d--) {
    int64_t s = g.shape[d], idx = i % s;
    i /= s;
#pragma unroll
    for (int k = 0; k < NOPS; k++) off[k] += idx * g.st[k][d];
  }
}

inline unsigned blocks_for(int64_t n, int threads = THREADS) {
  int64_t b = (n + threads - 1) / threads;
  if (b > (1 << 20)) b = 1 << 20; /* grid-stride loops cover the rest */
  return (unsigned)(b < 1 ? 1 : b);
}

inline cudaStream_t stream() { return (cudaStream_t)cuda_stream(); }

/* Threads for a block working along a row of n elements (a multiple of 32, at most THREADS), and
 * blocks for `rows` rows (grid-stride loops cover more than 2^20). */
inline unsigned row_threads(int64_t n) {
  int64_t t = (n + 31) / 32 * 32;
  const int64_t most = THREADS;
  return (unsigned)(t < 32 ? 32 : t > most ? most : t);
}
inline unsigned grid_rows(int64_t rows) { return (unsigned)(rows > (1 << 20) ? (1 << 20) : rows); }

#define HUB_GRID_LOOP(i, n)                                                                  \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                \
       i += (int64_t)gridDim.x * blockDim.x)

/* ---- block reductions (blockDim.x a multiple of 32, at most 1024) ---- */

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Sum over the block; every thread gets the result.  `sh` holds 32 T. */
template <class T>
__device__ T block_sum(T v, T *sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads(); /* sh may still be read by a previous call */
  if (lane == 0) sh[w] = v;
  __syncthreads();
  T r = lane < nw ? sh[lane] : T(0);
  return warp_sum(r);
}

__device__ inline float block_max(float v, float *sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  float r = lane < nw ? sh[lane] : -INFINITY;
  return warp_max(r);
}

/* ---- the unary functions (runtime/core/backend.h hub_unop), as kernels/cpu/unary.c ---- */

#define HUB_SQRT1_2 0.70710678118654752f
#define HUB_INV_SQRT_2PI 0.39894228040143268f
#define HUB_GELU_K 0.79788456080286536f
#define HUB_GELU_C 0.044715f

__device__ __forceinline__ float gelu_tanh_e(float v) {
  float u = HUB_GELU_K * (v + HUB_GELU_C * v * v * v);
  u = fminf(fmaxf(u, -40.0f), 40.0f);
  return expf(-2.0f * u);
}

__device__ __forceinline__ float unary_f(int op, float v, float alpha, float beta) {
  switch (op) {
  case HUB_UN_NEG: return -v;
  case HUB_UN_EXP: return expf(v);
  case HUB_UN_LOG: return logf(v);
  case HUB_UN_SQRT: return sqrtf(v);
  case HUB_UN_RSQRT: return 1.0f / sqrtf(v);
  case HUB_UN_ABS: return fabsf(v);
  case HUB_UN_RELU: return v < 0 ? 0.0f : v;
  case HUB_UN_TANH: return tanhf(v);
  case HUB_UN_SIGMOID: return 1.0f / (1.0f + expf(-v));
  case HUB_UN_GELU_ERF: return 0.5f * v * erfcf(-v * HUB_SQRT1_2);
  case HUB_UN_GELU_TANH: return v / (1.0f + gelu_tanh_e(v));
  case HUB_UN_POW: return powf(v, alpha);
  case HUB_UN_LINEAR: return alpha * v + beta;
  case HUB_UN_RECIP: return alpha / v;
  default: return NAN;
  }
}

/* d op(v) / dv */
__device__ __forceinline__ float unary_d(int op, float v, float alpha) {
  switch (op) {
  case HUB_UN_NEG: return -1.0f;
  case HUB_UN_EXP: return expf(v);
  case HUB_UN_LOG: return 1.0f / v;
  case HUB_UN_SQRT: return 0.5f / sqrtf(v);
  case HUB_UN_RSQRT: {
    float r = 1.0f / sqrtf(v);
    return -0.5f * r * r * r;
  }
  case HUB_UN_ABS: return v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f;
  case HUB_UN_RELU: return v > 0 ? 1.0f : 0.0f;
  case HUB_UN_TANH: {
    float c = coshf(v);
    return 1.0f / (c * c);
  }
  case HUB_UN_SIGMOID: {
    float e = expf(-fabsf(v));
    return e / ((1.0f + e) * (1.0f + e));
  }
  case HUB_UN_GELU_ERF: return 0.5f * erfcf(-v * HUB_SQRT1_2) + v * HUB_INV_SQRT_2PI * expf(-0.5f * v * v);
  case HUB_UN_GELU_TANH: {
    float e = gelu_tanh_e(v), s = 1.0f / (1.0f + e), sm = e / (1.0f + e);
    return s + 2.0f * v * s * sm * HUB_GELU_K * (1.0f + 3.0f * HUB_GELU_C * v * v);
  }
  case HUB_UN_POW: return alpha == 0 ? 0.0f : alpha * powf(v, alpha - 1.0f);
  case HUB_UN_LINEAR: return alpha;
  case HUB_UN_RECIP: return -alpha / (v * v);
  default: return NAN;
  }
}

/* The counter-based generator of runtime/core/rng.c (hub_rng_uniform), on the device. */
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
/* kh = mix64(key * 0x9e3779b97f4a7c15 + 0x632be59bd9b4e019), hashed once per launch on the host. */
__device__ __forceinline__ float rng_uniform(uint64_t kh, uint64_t counter) {
  uint32_t u = (uint32_t)(mix64(kh ^ (counter * 0x9e3779b97f4a7c15ULL)) >> 32);
  return (float)(u >> 8) * (1.0f / 16777216.0f);
}
inline uint64_t rng_key_hash(uint64_t key) {
  uint64_t z = key * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* 0 / -1 with an error naming the kernel when t (may be NULL) is not on the cuda device. */
inline int on_device(const char *op, const hub_tensor *t) {
  if (t && t->device != HUB_CUDA) return hub_err("%s: operand is on %s, not cuda", op, hub_device_name(t->device));
  return 0;
}

/* 0 / -1 with an error naming the kernel when an operand is not an f32 tensor of numel n on the
 * device (contiguous when asked). */
inline int check_f32(const char *op, const hub_tensor *t, int64_t n, bool contiguous) {
  if (!t) return hub_err("%s: missing operand", op);
  if (t->dtype != HUB_F32) return hub_err("%s: expected an f32 tensor, got %s", op, hub_dtype_name(t->dtype));
  if (t->device != HUB_CUDA) return hub_err("%s: operand is on %s, not cuda", op, hub_device_name(t->device));
  if (n >= 0 && hub_tensor_numel(t) != n) return hub_err("%s: sizes of the operands differ", op);
  if (contiguous && !hub_tensor_is_contiguous(t)) return hub_err("%s: expected a contiguous tensor", op);
  return 0;
}

/* 0, or -1 with "<what> <id> out of range [0, n)" naming the first bad id of the k ids (i64 or i32,
 * contiguous, on the device) outside [0, n) that are not `skip` (when use_skip); *count (may be
 * NULL): how many are not skipped.  Reads two numbers back, so it waits for the stream (nn.cu). */
int check_ids(const char *what, const hub_tensor *ids, int64_t k, int64_t n, int64_t skip, int use_skip,
              int64_t *count);

/* The largest |x[i] - y[i]| / (1 + |y[i]|) over n device floats (NaN: infinite), read back through
 * one device float of scratch; INFINITY when the launch or the read fails (matmul.cu). */
float max_rel_diff(int64_t n, const float *x, const float *y, float *scratch);

} // namespace hubcu

#endif
