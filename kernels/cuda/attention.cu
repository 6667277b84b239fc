/* attention.cu - the fused scaled-dot-product attention (kernels/cpu/attention.c's op) on the GPU:
 * out = dropout(softmax(q k^T scale + mask)) v over the B*H (batch, head) entries, forward and
 * backward, with the CPU kernel's random stream for dropout (the same masks).
 *
 * Kernels: the plain ones (one block per query row; any head dimension) and, for head dimensions
 * up to 128 (BERT's 64), tiled ones that read each key/value row once per tile of 16 query rows:
 *   - k_attn_fwd_tiled: the forward that keeps the probabilities (training);
 *   - k_attn_fwd_flash: the forward without them (inference: a running softmax per row);
 *   - k_attn_bw_rows_tiled / k_attn_bw_cols_tiled: the backward from the stored probabilities.
 * Written without a GPU, the tiled kernels check themselves once against the plain ones on a small
 * case (attn_tiled_check) and switch themselves off with a line on stderr if they differ;
 * HUB_CUDA_TILED_ATTN=0 / HUB_CUDA_FLASH_ATTN=0 turn them off.  tests/cuda/emu runs them all in CI.
 */
#include <cublas_v2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

using namespace hubcu;

namespace {

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

/* Rows r0 .. r0 + n - 1 of one (b, h) entry of t (W floats each, row strides s) into shared
 * memory with a row pitch of `pitch` floats; rows n .. pad_to - 1 as zeros.  Every thread of the
 * block takes part (the caller synchronises). */
__device__ __forceinline__ void load_rows(float *dst, int64_t pitch, const float *t, const int64_t *s, int64_t b,
                                          int64_t h, int64_t r0, int64_t n, int64_t W, int64_t pad_to = 0) {
  const int64_t rows = pad_to > n ? pad_to : n;
  for (int64_t x = threadIdx.x; x < rows * W; x += blockDim.x) {
    int64_t c = x / W, d = x % W;
    dst[c * pitch + d] = c < n ? row4(t, s, b, h, r0 + c)[d] : 0.0f;
  }
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

/* One chunk of a tile product into the thread's ATT_ACC accumulators: accumulator a holds output
 * (r, d) = (t / W, t % W) with t = threadIdx.x + a * blockDim.x, and gains sum_c P[r, c] M[c, d]
 * over the chunk's nk rows of M (P: rows of pitch ATT_TK, M: rows of pitch W + 1, both in shared
 * memory); rows r >= nq are left alone.  rescale (NULL: none) multiplies row r's accumulated value
 * first (the flash kernel's running softmax). */
__device__ __forceinline__ void tile_accumulate(float *acc, const float *P, const float *M, int64_t W, int64_t nq,
                                                int64_t nk, const float *rescale) {
#pragma unroll
  for (int a = 0; a < ATT_ACC; a++) {
    int64_t t = threadIdx.x + (int64_t)a * blockDim.x, r = t / W, d = t % W;
    if (r < nq) {
      float s2 = rescale ? acc[a] * rescale[r] : acc[a];
      for (int64_t c = 0; c < nk; c++) s2 += P[r * ATT_TK + c] * M[c * (W + 1) + d];
      acc[a] = s2;
    }
  }
}

__global__ void k_attn_fwd_tiled(AttnGeo g, const float *q, const float *k, const float *v, float *out, float *probs) {
  extern __shared__ float sm[];
  const int64_t DM = g.D > g.Dv ? g.D : g.Dv;
  float *qs = sm, *kv = sm + ATT_TQ * g.D, *ps = kv + ATT_TK * (DM + 1);
  const int64_t tiles = (g.Lq + ATT_TQ - 1) / ATT_TQ, e = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * ATT_TQ;
  const int64_t b = e / g.H, h = e % g.H, nq = g.Lq - i0 < ATT_TQ ? g.Lq - i0 : ATT_TQ;
  const int tid = threadIdx.x;
  load_rows(qs, g.D, q, g.sq, b, h, i0, nq, g.D, ATT_TQ);
  float *prow0 = probs + (e * g.Lq + i0) * g.Lk;
  /* scores */
  for (int64_t j0 = 0; j0 < g.Lk; j0 += ATT_TK) {
    const int64_t nk = g.Lk - j0 < ATT_TK ? g.Lk - j0 : ATT_TK;
    __syncthreads();
    load_rows(kv, g.D + 1, k, g.sk, b, h, j0, nk, g.D);
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
    load_rows(kv, g.Dv + 1, v, g.sv, b, h, j0, nk, g.Dv);
    for (int64_t t = tid; t < nq * nk; t += blockDim.x) {
      int64_t r = t / nk, c = t % nk;
      ps[r * ATT_TK + c] = prow0[r * g.Lk + j0 + c] * keep_scale(g, e, i0 + r, j0 + c);
    }
    __syncthreads();
    tile_accumulate(acc, ps, kv, g.Dv, nq, nk, nullptr);
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
  load_rows(qs, g.D, q, g.sq, b, h, i0, nq, g.D, ATT_TQ);
  if (tid < ATT_TQ) mrow[tid] = -INFINITY, lrow[tid] = 0.0, arow[tid] = 0.0f;
  float acc[ATT_ACC];
#pragma unroll
  for (int a = 0; a < ATT_ACC; a++) acc[a] = 0.0f;
  for (int64_t j0 = 0; j0 < g.Lk; j0 += ATT_TK) {
    const int64_t nk = g.Lk - j0 < ATT_TK ? g.Lk - j0 : ATT_TK;
    __syncthreads(); /* the previous chunk's values and weights are no longer read */
    load_rows(kv, g.D + 1, k, g.sk, b, h, j0, nk, g.D);
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
    load_rows(kv, g.Dv + 1, v, g.sv, b, h, j0, nk, g.Dv); /* the keys are no longer read: values over them */
    __syncthreads();
    tile_accumulate(acc, ps, kv, g.Dv, nq, nk, arow);
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
  load_rows(gos, g.Dv, gout, g.so, b, h, i0, nq, g.Dv, ATT_TQ);
  float *srow0 = gs + (e * g.Lq + i0) * g.Lk;
  const float *prow0 = probs + (e * g.Lq + i0) * g.Lk;
  for (int64_t j0 = 0; j0 < g.Lk; j0 += ATT_TK) { /* gp = (gout v^T) keep */
    const int64_t nk = g.Lk - j0 < ATT_TK ? g.Lk - j0 : ATT_TK;
    __syncthreads();
    load_rows(kv, g.Dv + 1, v, g.sv, b, h, j0, nk, g.Dv);
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
    load_rows(kv, g.D + 1, k, g.sk, b, h, j0, nk, g.D);
    for (int64_t t = tid; t < nq * nk; t += blockDim.x) {
      int64_t r = t / nk, c = t % nk;
      ps[r * ATT_TK + c] = srow0[r * g.Lk + j0 + c];
    }
    __syncthreads();
    tile_accumulate(acc, ps, kv, g.D, nq, nk, nullptr);
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
      load_rows(rows, W + 1, pass == 0 ? q : gout, pass == 0 ? g.sq : g.so, b, h, i0, ni, W);
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

/* ---- the GEMM path: the products on cuBLAS ----
 *
 * Forward: S = scale q k^T (one batched GEMM into probs, or scratch), then a row kernel turns S
 * into the probabilities in place (mask, softmax as k_attn_fwd: max, sum in double) and, with
 * dropout, writes the dropped copy P'; out = P' v (a second batched GEMM).  Backward: gv = P'^T
 * gout, gP = gout v^T, a row kernel gS = scale P (gP keep - sum(gP keep P)) (k_attn_bw_rows's
 * formula), gq = gS k, gk = gS^T q.  cuBLAS is column-major: a row-major [R, C] matrix with row
 * stride ld is a column-major [C, R] one with the same ld, so each product is written for the
 * transposes (see each call).  The (b, h) entries of q, k, v and out are strided views (q, k and v
 * of attention_qkv sit in one packed projection), so the GEMMs take arrays of per-entry pointers
 * (cublasGemmBatchedEx), filled on the device by k_attn_ptrs: no copy of q, k or v.
 *
 * On the tensor cores: with TF32 on (CUBLAS_COMPUTE_32F_FAST_TF32) and under autocast
 * (hub_attn.lowp: CUBLAS_COMPUTE_32F_FAST_16BF / _16F, f32 in and out); plain f32 otherwise. */
struct PtrSpec {
  const float *base;
  int64_t s0, s1; /* entry (b, h) at base + b s0 + h s1 */
};
enum { ATT_MAXPTR = 6 };
struct PtrArgs {
  PtrSpec op[ATT_MAXPTR];
  int n;
  int64_t B, H;
};

__global__ void k_attn_ptrs(PtrArgs a, const float **out) {
  const int64_t E = a.B * a.H;
  HUB_GRID_LOOP(t, (int64_t)a.n * E) {
    int64_t w = t / E, e = t % E;
    const PtrSpec &ps = a.op[w];
    out[t] = ps.base + (e / a.H) * ps.s0 + (e % a.H) * ps.s1;
  }
}

/* probs row r (scores in, probabilities out) with the mask; P' = P keep into drop when given */
__global__ void k_attn_softmax(AttnGeo g, float *probs, float *drop) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const int64_t rows = g.B * g.H * g.Lq;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t e = r / g.Lq, i = r % g.Lq;
    float *pr = probs + r * g.Lk;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) {
      float s = pr[j];
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
    for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) {
      float pv = m == -INFINITY ? 0.0f : expf(pr[j] - m) * inv;
      pr[j] = pv;
      if (drop) drop[r * g.Lk + j] = pv * keep_scale(g, e, i, j);
    }
  }
}

/* P' = P keep (the backward's copy of the forward's dropped probabilities) */
__global__ void k_attn_dropped(AttnGeo g, const float *probs, float *drop) {
  const int64_t n = g.B * g.H * g.Lq * g.Lk;
  HUB_GRID_LOOP(t, n) {
    int64_t j = t % g.Lk, r = t / g.Lk;
    drop[t] = probs[t] * keep_scale(g, r / g.Lq, r % g.Lq, j);
  }
}

/* gP (in) -> gS (out, in place): gS = scale P (gP keep - sum_j gP keep P) */
__global__ void k_attn_softmax_bw(AttnGeo g, const float *probs, float *gp) {
  __shared__ double shd[32];
  const int64_t rows = g.B * g.H * g.Lq;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t e = r / g.Lq, i = r % g.Lq;
    const float *pr = probs + r * g.Lk;
    float *sr = gp + r * g.Lk;
    double acc = 0;
    for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) {
      float v = sr[j] * keep_scale(g, e, i, j);
      sr[j] = v;
      acc += (double)v * pr[j];
    }
    float t = (float)block_sum(acc, shd);
    for (int64_t j = threadIdx.x; j < g.Lk; j += blockDim.x) sr[j] = pr[j] * (sr[j] - t) * g.scale;
  }
}

unsigned attn_threads(int64_t L, int64_t D) {
  int64_t m = L > D ? L : D;
  return row_threads(m < 64 ? m : (m > 128 ? 128 : m));
}

} // namespace

extern "C" {

/* ---- the GEMM path (host side) ---- */

/* A leading dimension for cuBLAS: the row stride, or `min` when the matrix has one row (its
 * stride is then meaningless and may be anything). */
static int64_t lead(int64_t stride, int64_t rows, int64_t min) { return rows <= 1 || stride < min ? min : stride; }

static cublasComputeType_t attn_compute(int lowp) {
  if (lowp == HUB_BF16) return CUBLAS_COMPUTE_32F_FAST_16BF;
  if (lowp == HUB_F16) return CUBLAS_COMPUTE_32F_FAST_16F;
  return cuda_get_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

/* C[e] = alpha op(A[e]) op(B[e]) for the E entries, through the pointer arrays (device memory). */
static int attn_gemm(const char *op, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *const *A, int64_t lda, const float *const *B, int64_t ldb, float *const *C,
                     int64_t ldc, int64_t E, cublasComputeType_t ct) {
  const int64_t big = 0x7fffffff;
  if (m > big || n > big || k > big || lda > big || ldb > big || ldc > big || E > big)
    return hub_err("%s: sizes beyond cuBLAS's 32-bit limits", op);
  float zero = 0.0f;
  cublasHandle_t h = (cublasHandle_t)cuda_cublas();
  cuda_stream(); /* binds the device for this thread */
  static int fast_off; /* this cuBLAS refused a tensor-core compute type for these products once */
  if (ct != CUBLAS_COMPUTE_32F && __atomic_load_n(&fast_off, __ATOMIC_RELAXED)) ct = CUBLAS_COMPUTE_32F;
  cublasStatus_t st;
  for (;;) {
    cuda_cublas_lock();
    st = cublasGemmBatchedEx(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, (int)m, (int)n, (int)k,
                             &alpha, (const void *const *)A, CUDA_R_32F, (int)lda, (const void *const *)B, CUDA_R_32F,
                             (int)ldb, &zero, (void *const *)C, CUDA_R_32F, (int)ldc, (int)E, ct, CUBLAS_GEMM_DEFAULT);
    cuda_cublas_unlock();
    if (st != CUBLAS_STATUS_NOT_SUPPORTED || ct == CUBLAS_COMPUTE_32F) break;
    /* f32 operands with a TF32 / bf16 / f16 compute type are documented for the batched GEMM; if
     * this library says otherwise, plain f32 from now on rather than a failed step */
    if (!__atomic_exchange_n(&fast_off, 1, __ATOMIC_RELAXED))
      fprintf(stderr, "hubrun: attention: cuBLAS does not support compute type %d for its batched products here; "
                      "they run in plain f32\n", (int)ct);
    ct = CUBLAS_COMPUTE_32F;
  }
  if (st != CUBLAS_STATUS_SUCCESS) return hub_err("%s: cuBLAS %s", op, cublasGetStatusString(st));
  return 0;
}

/* Fills n arrays of E pointers (one per spec, in order) into ptrs. */
static int attn_ptrs(const char *op, const PtrArgs &a, const float **ptrs) {
  k_attn_ptrs<<<blocks_for((int64_t)a.n * a.B * a.H), THREADS, 0, stream()>>>(a, ptrs);
  return cuda_check(op);
}

/* The forward on the GEMM path.  probs: the caller's (training) or NULL (then scratch). */
static int attn_gemm_fwd(const AttnGeo &g, const float *q, const float *k, const float *v, float *out, float *probs,
                         cublasComputeType_t ct) {
  const int64_t E = g.B * g.H, np = E * g.Lq * g.Lk;
  /* scratch: the probabilities when the caller keeps none, else the dropped copy when p > 0 (with
   * no probabilities kept, the softmax kernel writes the dropped values over them in place) */
  const size_t sbytes = !probs || g.p > 0 ? sizeof(float) * (size_t)np : 0;
  const size_t abytes = sizeof(float *) * (size_t)(6 * E);
  float *scratch = sbytes ? (float *)cuda_alloc(sbytes) : nullptr;
  const float **ptrs = (const float **)cuda_alloc(abytes);
  int rc = -1;
  if ((!sbytes || scratch) && ptrs) {
    float *P = probs ? probs : scratch, *D = g.p > 0 && probs ? scratch : P;
    PtrArgs a{};
    a.B = g.B, a.H = g.H, a.n = 6;
    a.op[0] = {k, g.sk[0], g.sk[1]};
    a.op[1] = {q, g.sq[0], g.sq[1]};
    a.op[2] = {P, g.H * g.Lq * g.Lk, g.Lq * g.Lk};
    a.op[3] = {v, g.sv[0], g.sv[1]};
    a.op[4] = {D, g.H * g.Lq * g.Lk, g.Lq * g.Lk};
    a.op[5] = {out, g.so[0], g.so[1]};
    const float *const *K = ptrs, *const *Q = ptrs + E, *const *V = ptrs + 3 * E;
    const float *const *Dp = ptrs + 4 * E;
    float *const *S = (float *const *)(ptrs + 2 * E), *const *O = (float *const *)(ptrs + 5 * E);
    /* S^T [Lk, Lq] = K [Lk, D] Q^T [D, Lq]: K is the column-major [D, Lk] of its rows, transposed */
    rc = attn_ptrs("attention", a, ptrs);
    if (rc == 0)
      rc = attn_gemm("attention", true, false, g.Lk, g.Lq, g.D, g.scale, K, lead(g.sk[2], g.Lk, g.D), Q,
                     lead(g.sq[2], g.Lq, g.D), S, g.Lk, E, ct);
    if (rc == 0) {
      k_attn_softmax<<<grid_rows(E * g.Lq), row_threads(g.Lk), 0, stream()>>>(g, P, g.p > 0 ? D : nullptr);
      rc = cuda_check("attention");
    }
    /* out^T [Dv, Lq] = V^T [Dv, Lk] P'^T [Lk, Lq] */
    if (rc == 0)
      rc = attn_gemm("attention", false, false, g.Dv, g.Lq, g.Lk, 1.0f, V, lead(g.sv[2], g.Lk, g.Dv), Dp, g.Lk, O,
                     lead(g.so[2], g.Lq, g.Dv), E, ct);
  }
  if (scratch) cuda_free(scratch, sbytes);
  if (ptrs) cuda_free(ptrs, abytes);
  return rc;
}

/* The backward on the GEMM path (g.so: gout's strides). */
static int attn_gemm_bw(const AttnGeo &g, const float *q, const float *k, const float *v, const float *probs,
                        const float *gout, float *gq, const int64_t *sgq, float *gk, const int64_t *sgk, float *gv,
                        const int64_t *sgv, cublasComputeType_t ct) {
  const int64_t E = g.B * g.H, np = E * g.Lq * g.Lk, pe = g.Lq * g.Lk;
  const bool want_s = gq || gk, drop = g.p > 0 && gv;
  /* one buffer for the dropped copy P' and then gS: P' is read only by the gv product, which the
   * stream finishes before the gP product writes gS */
  const size_t sbytes = want_s || drop ? sizeof(float) * (size_t)np : 0;
  const size_t abytes = sizeof(float *) * (size_t)(ATT_MAXPTR * E);
  float *scratch = sbytes ? (float *)cuda_alloc(sbytes) : nullptr;
  const float **ptrs = (const float **)cuda_alloc(abytes);
  int rc = -1;
  if ((scratch || !sbytes) && ptrs) {
    float *GS = want_s ? scratch : nullptr, *PD = drop ? scratch : (float *)probs;
    rc = 0;
    if (gv) { /* gv^T [Dv, Lk] = gout^T [Dv, Lq] P' [Lq, Lk] (P' row-major = column-major P'^T, transposed) */
      if (drop) {
        k_attn_dropped<<<blocks_for(np), THREADS, 0, stream()>>>(g, probs, PD);
        rc = cuda_check("attention backward");
      }
      PtrArgs a{};
      a.B = g.B, a.H = g.H, a.n = 3;
      a.op[0] = {gout, g.so[0], g.so[1]};
      a.op[1] = {PD, g.H * pe, pe};
      a.op[2] = {gv, sgv[0], sgv[1]};
      if (rc == 0) rc = attn_ptrs("attention backward", a, ptrs);
      if (rc == 0)
        rc = attn_gemm("attention backward", false, true, g.Dv, g.Lk, g.Lq, 1.0f, ptrs, lead(g.so[2], g.Lq, g.Dv),
                       ptrs + E, g.Lk, (float *const *)(ptrs + 2 * E), lead(sgv[2], g.Lk, g.Dv), E, ct);
    }
    if (rc == 0 && want_s) {
      PtrArgs a{};
      a.B = g.B, a.H = g.H, a.n = 6;
      a.op[0] = {v, g.sv[0], g.sv[1]};
      a.op[1] = {gout, g.so[0], g.so[1]};
      a.op[2] = {GS, g.H * pe, pe};
      a.op[3] = {k, g.sk[0], g.sk[1]};
      a.op[4] = {q, g.sq[0], g.sq[1]};
      a.op[5] = {gq ? gq : gk, gq ? sgq[0] : sgk[0], gq ? sgq[1] : sgk[1]}; /* gk's go in after gq's */
      rc = attn_ptrs("attention backward", a, ptrs);
      /* gP^T [Lk, Lq] = V [Lk, Dv] gout^T [Dv, Lq] */
      if (rc == 0)
        rc = attn_gemm("attention backward", true, false, g.Lk, g.Lq, g.Dv, 1.0f, ptrs, lead(g.sv[2], g.Lk, g.Dv),
                       ptrs + E, lead(g.so[2], g.Lq, g.Dv), (float *const *)(ptrs + 2 * E), g.Lk, E, ct);
      if (rc == 0) {
        k_attn_softmax_bw<<<grid_rows(E * g.Lq), row_threads(g.Lk), 0, stream()>>>(g, probs, GS);
        rc = cuda_check("attention backward");
      }
      /* gq^T [D, Lq] = K^T [D, Lk] gS^T [Lk, Lq] */
      if (rc == 0 && gq)
        rc = attn_gemm("attention backward", false, false, g.D, g.Lq, g.Lk, 1.0f, ptrs + 3 * E,
                       lead(g.sk[2], g.Lk, g.D), ptrs + 2 * E, g.Lk, (float *const *)(ptrs + 5 * E),
                       lead(sgq[2], g.Lq, g.D), E, ct);
      if (rc == 0 && gk) {
        if (gq) { /* gk's pointers in place of gq's */
          PtrArgs b{};
          b.B = g.B, b.H = g.H, b.n = 1;
          b.op[0] = {gk, sgk[0], sgk[1]};
          rc = attn_ptrs("attention backward", b, ptrs + 5 * E);
        }
        /* gk^T [D, Lk] = Q^T [D, Lq] gS [Lq, Lk] (gS row-major = column-major gS^T, transposed) */
        if (rc == 0)
          rc = attn_gemm("attention backward", false, true, g.D, g.Lk, g.Lq, 1.0f, ptrs + 4 * E,
                         lead(g.sq[2], g.Lq, g.D), ptrs + 2 * E, g.Lk, (float *const *)(ptrs + 5 * E),
                         lead(sgk[2], g.Lk, g.D), E, ct);
      }
    }
  }
  if (scratch) cuda_free(scratch, sbytes);
  if (ptrs) cuda_free(ptrs, abytes);
  return rc;
}

/* The tiled forward checks itself once against k_attn_fwd (2 x 3 entries, 37 query rows over three
 * tiles, 70 keys over two chunks, head dimensions 24 and 40, a mask, dropout): they must agree
 * to 1e-5 (the same sums in the same order), else the tiled kernel is off for the process with a
 * line on stderr.  Written without a GPU, hence the check.  HUB_CUDA_TILED_ATTN=0 turns it off. */
static int g_tiled_state; /* 0 unchecked, 1 on, -1 off; set once (pthread_once: serving's workers) */
static int g_flash_state; /* the flash kernel's, checked in the same pass (HUB_CUDA_FLASH_ATTN=0: off) */
static int g_tiled_bw_state; /* the tiled backward's, checked in the same pass (HUB_CUDA_TILED_ATTN=0: off too) */
static int g_gemm_state; /* the GEMM path's, checked in the same pass (HUB_CUDA_ATTN_GEMM=0: off) */
static int g_gemm_mode;  /* HUB_CUDA_ATTN_GEMM: 1 always, else by size (attn_use_gemm) */
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
static int attn_gemm_ok(void) {
  pthread_once(&g_tiled_once, attn_tiled_check);
  return g_gemm_state > 0;
}
static void attn_tiled_check(void) {
  g_tiled_state = g_flash_state = g_tiled_bw_state = g_gemm_state = -1;
  const char *env = getenv("HUB_CUDA_TILED_ATTN"), *fenv = getenv("HUB_CUDA_FLASH_ATTN");
  const char *genv = getenv("HUB_CUDA_ATTN_GEMM");
  bool want_tiled = !(env && strcmp(env, "0") == 0), want_flash = !(fenv && strcmp(fenv, "0") == 0);
  bool want_gemm = !(genv && strcmp(genv, "0") == 0);
  g_gemm_mode = genv && strcmp(genv, "1") == 0;
  if (!want_tiled && !want_flash && !want_gemm) return;
  AttnGeo g;
  memset(&g, 0, sizeof g);
  g.B = 2, g.H = 3, g.Lq = 37, g.Lk = 70, g.D = 24, g.Dv = 40;
  int64_t nq = g.B * g.H * g.Lq * g.D, nk = g.B * g.H * g.Lk * g.D, nv = g.B * g.H * g.Lk * g.Dv;
  int64_t no = g.B * g.H * g.Lq * g.Dv, np = g.B * g.H * g.Lq * g.Lk, nm = g.B * g.H * g.Lq * g.Lk;
  int64_t total = nq + nk + nv + nm + 3 * no + 2 * np + 1 + 2 * (np + nq + nk + nv) + no + np + nq + nk + nv;
  float *h = (float *)malloc(sizeof(float) * (size_t)(nq + nk + nv + nm));
  float *d = (float *)cuda_alloc(sizeof(float) * (size_t)total);
  float err = INFINITY, ferr = INFINITY, berr = INFINITY, gerr = INFINITY;
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
      /* the GEMM path in plain f32, forward and backward, against the plain kernels (other sums,
       * in another order: 1e-4) */
      float *o4 = gv2 + nv, *p4 = o4 + no, *gq4 = p4 + np, *gk4 = gq4 + nq, *gv4 = gk4 + nk;
      if (want_gemm && attn_gemm_fwd(g, q, k, v, o4, p4, CUBLAS_COMPUTE_32F) == 0 &&
          attn_gemm_bw(g, q, k, v, p1, o1, gq4, strides[0], gk4, strides[1], gv4, strides[2], CUBLAS_COMPUTE_32F) == 0)
        gerr = fmaxf(fmaxf(max_rel_diff(no, o4, o1, e), max_rel_diff(np, p4, p1, e)),
                     fmaxf(fmaxf(max_rel_diff(nq, gq4, gq1, e), max_rel_diff(nk, gk4, gk1, e)),
                           max_rel_diff(nv, gv4, gv1, e)));
      else
        hub_clear_error();
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
  if (want_gemm && gerr <= 1e-4f) g_gemm_state = 1;
  else if (want_gemm)
    fprintf(stderr, "hubrun: the GEMM attention path is off (its self-check differs from the plain kernels by %g)\n",
            (double)gerr);
  if (want_flash && ferr <= 1e-5f) g_flash_state = 1;
  else if (want_flash)
    fprintf(stderr, "hubrun: the flash attention kernel is off (its self-check differs from the plain kernel by %g)\n",
            (double)ferr);
}

/* The GEMM path, once it has checked itself: always for training (the products on the tensor cores
 * with TF32 or autocast; the SIMT kernels would take most of a BERT step), and for inference from
 * 8192 query rows (BERT-base at batch 6 and up) while the scores fit in 256 MiB: below that the
 * flash kernel (one launch, no score matrix) is the better one.  HUB_CUDA_ATTN_GEMM=1: always;
 * =0: never. */
static bool attn_use_gemm(const AttnGeo &g, bool training) {
  /* each operand's rows must be a column-major matrix for cuBLAS: a row stride of at least the
   * row's width (the op layer's views always have one; a broadcast row would not) */
  auto rows_ok = [](const int64_t *s, int64_t rows, int64_t width) { return rows <= 1 || s[2] >= width; };
  if (g.D < 1 || !rows_ok(g.sq, g.Lq, g.D) || !rows_ok(g.sk, g.Lk, g.D) || !rows_ok(g.sv, g.Lk, g.Dv) ||
      !rows_ok(g.so, g.Lq, g.Dv) || !attn_gemm_ok())
    return false;
  if (g_gemm_mode || training) return true;
  const int64_t rows = g.B * g.H * g.Lq;
  return rows >= 8192 && (double)rows * (double)g.Lk * 4.0 <= 256.0 * 1024 * 1024;
}

/* A kernel launched with more than the default 48 KiB of dynamic shared memory must be allowed it
 * first (up to the device's opt-in limit, 227 KiB on an H100); past that, a clear error. */
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
  if (attn_use_gemm(g, probs != nullptr || p->recorded))
    return attn_gemm_fwd(g, (const float *)q->data, (const float *)k->data, (const float *)v->data,
                         (float *)out->data, probs ? (float *)probs->data : nullptr, attn_compute(p->lowp));
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

/* The backward from the probabilities pp ([B*H, Lq, Lk] on the device); g from attn_geom. */
static int attn_backward(const hub_attn *p, const AttnGeo &g, const hub_tensor *q, const hub_tensor *k,
                         const hub_tensor *v, const float *pp, const hub_tensor *gout, hub_tensor *gq, hub_tensor *gk,
                         hub_tensor *gv) {
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
  auto rows_ok = [](const hub_tensor *t, int64_t width) { return !t || t->shape[2] <= 1 || t->stride[2] >= width; };
  if (attn_use_gemm(g, true) && rows_ok(gq, g.D) && rows_ok(gk, g.D) && rows_ok(gv, g.Dv)) {
    int64_t sgq[4] = {0}, sgk[4] = {0}, sgv[4] = {0};
    for (int d = 0; d < 4; d++) {
      if (gq) sgq[d] = gq->stride[d];
      if (gk) sgk[d] = gk->stride[d];
      if (gv) sgv[d] = gv->stride[d];
    }
    return attn_gemm_bw(g, (const float *)q->data, (const float *)k->data, (const float *)v->data,
                        pp, (const float *)gout->data, gq ? (float *)gq->data : nullptr, sgq,
                        gk ? (float *)gk->data : nullptr, sgk, gv ? (float *)gv->data : nullptr, sgv,
                        attn_compute(p->lowp));
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
        g, (const float *)k->data, (const float *)v->data, pp, (const float *)gout->data, gs,
        gq ? (float *)gq->data : nullptr, sgq);
    int rc = cuda_check("attention backward");
    if (rc == 0 && (gk || gv)) {
      AttnStrides sgk{}, sgv{};
      for (int d = 0; d < 4; d++) sgk.s[d] = gk ? gk->stride[d] : 0, sgv.s[d] = gv ? gv->stride[d] : 0;
      k_attn_bw_cols_tiled<<<(unsigned)(g.B * g.H * kt), ATT_THREADS, bs, stream()>>>(
          g, (const float *)q->data, pp, (const float *)gout->data, gs,
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
      g, (const float *)k->data, (const float *)v->data, pp, (const float *)gout->data, gs,
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
        g, (const float *)q->data, pp, (const float *)gout->data, gs, gp);
    rc = cuda_check("attention backward");
  }
  cuda_free(gs, gs_bytes);
  return rc;
}

int cuda_attention_backward(const hub_attn *p, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
                            const hub_tensor *probs, const hub_tensor *gout, hub_tensor *gq, hub_tensor *gk,
                            hub_tensor *gv) {
  AttnGeo g;
  if (!probs) return hub_err("attention backward: the forward's probabilities are missing");
  if (attn_geom("attention backward", p, q, k, v, gout, probs, &g)) return -1;
  return attn_backward(p, g, q, k, v, (const float *)probs->data, gout, gq, gk, gv);
}

/* The probabilities of a forward that kept none, into P: S = scale q k^T on the GEMM path (in the
 * forward's compute type) and the row softmax with the mask, or the plain forward kernel (its
 * output to scratch) where the GEMM path is off.  Dropout is not applied here: the backward
 * regenerates its keep mask from the same stream. */
static int attn_recompute_probs(const hub_attn *p, const AttnGeo &g, const float *q, const float *k, const float *v,
                                float *P) {
  const int64_t E = g.B * g.H;
  if (attn_use_gemm(g, true)) {
    const size_t abytes = sizeof(float *) * (size_t)(3 * E);
    const float **ptrs = (const float **)cuda_alloc(abytes);
    if (!ptrs) return -1;
    PtrArgs a{};
    a.B = g.B, a.H = g.H, a.n = 3;
    a.op[0] = {k, g.sk[0], g.sk[1]};
    a.op[1] = {q, g.sq[0], g.sq[1]};
    a.op[2] = {P, g.H * g.Lq * g.Lk, g.Lq * g.Lk};
    int rc = attn_ptrs("attention backward", a, ptrs);
    if (rc == 0)
      rc = attn_gemm("attention backward", true, false, g.Lk, g.Lq, g.D, g.scale, ptrs, lead(g.sk[2], g.Lk, g.D),
                     ptrs + E, lead(g.sq[2], g.Lq, g.D), (float *const *)(ptrs + 2 * E), g.Lk, E,
                     /* the forward's precision (it took the GEMM path too: p->recorded) */
                     attn_compute(p->lowp));
    if (rc == 0) {
      k_attn_softmax<<<grid_rows(E * g.Lq), row_threads(g.Lk), 0, stream()>>>(g, P, nullptr);
      rc = cuda_check("attention backward");
    }
    cuda_free(ptrs, abytes);
    return rc;
  }
  /* the plain kernel, which also writes an output: to scratch, contiguous */
  AttnGeo g2 = g;
  g2.so[3] = 1, g2.so[2] = g.Dv, g2.so[1] = g.Lq * g.Dv, g2.so[0] = g.H * g.Lq * g.Dv;
  const size_t obytes = sizeof(float) * (size_t)(E * g.Lq * (g.Dv ? g.Dv : 1));
  float *o = (float *)cuda_alloc(obytes);
  if (!o) return -1;
  size_t smem = sizeof(float) * (size_t)(g.D ? g.D : 1);
  int rc = dynamic_smem("attention backward", (const void *)k_attn_fwd, smem, "head dimension", g.D);
  if (rc == 0) {
    k_attn_fwd<<<grid_rows(E * g.Lq), attn_threads(g.Lk, g.Dv), smem, stream()>>>(g2, q, k, v, o, P);
    rc = cuda_check("attention backward");
  }
  cuda_free(o, obytes);
  return rc;
}

int cuda_attention_backward_recompute(const hub_attn *p, const hub_tensor *q, const hub_tensor *k,
                                      const hub_tensor *v, const hub_tensor *gout, hub_tensor *gq, hub_tensor *gk,
                                      hub_tensor *gv) {
  AttnGeo g;
  if (attn_geom("attention backward", p, q, k, v, gout, nullptr, &g)) return -1;
  const int64_t np = g.B * g.H * g.Lq * g.Lk;
  if (np == 0 || g.Dv == 0) return attn_backward(p, g, q, k, v, nullptr, gout, gq, gk, gv); /* zeros */
  const size_t pbytes = sizeof(float) * (size_t)np;
  float *P = (float *)cuda_alloc(pbytes);
  if (!P) return -1;
  int rc = attn_recompute_probs(p, g, (const float *)q->data, (const float *)k->data, (const float *)v->data, P);
  if (rc == 0) rc = attn_backward(p, g, q, k, v, P, gout, gq, gk, gv);
  cuda_free(P, pbytes);
  return rc;
}
} // extern "C"
