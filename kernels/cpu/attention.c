/* attention.c - fused scaled-dot-product attention on the CPU, forward and backward.
 *
 * For each batch entry b (q [Lq, D], k [Lk, D], v [Lk, Dv], all contiguous f32):
 *
 *   P = softmax(q k^T * scale + mask)        (over Lk; kept in `probs` for the backward)
 *   out = P v
 *
 * and, given gout = dL/dout:
 *
 *   gv = P^T gout            gp = gout v^T
 *   gs = P * (gp - rowsum(gp * P))           (the softmax backward, row by row)
 *   gq = gs k * scale        gk = gs^T q * scale
 *
 * The products go through oneDNN's dnnl_sgemm (row-major, no cblas).  The scores are written
 * straight into `probs` and turned into probabilities in place, so the forward needs no scratch;
 * the backward needs one [Lq, Lk] buffer per thread for gp/gs.
 *
 * Parallelism: with at least as many batch entries as threads (B = batch * heads is usually
 * large), one OpenMP loop runs over b and each sgemm runs single-threaded inside it (oneDNN sees
 * it is inside a parallel region).  With fewer entries, the loop runs serially and each sgemm
 * uses all threads.  Measured on 2 threads (AVX-512 Xeon, B = 8*12 = 96, L = 128, D = 64, best of
 * 150): loop over b 3.8 ms forward / 5.2 ms backward, serial loop with threaded sgemm 11.2 / 17.2
 * ms.  A oneDNN batched matmul primitive does the two forward GEMMs in 2.1 ms against 2.6 ms here,
 * but then the softmax is a separate pass over B*Lq*Lk floats out of cache; fused per batch entry
 * the [Lq, Lk] block stays in L2.  (The unfused matmul/add/softmax/matmul ops take 5.1 ms, this
 * op 3.3 ms.)
 *
 * The mask is additive, f32, [B, Lq, Lk] with any strides (0 strides broadcast: a key-padding
 * mask [B, 1, Lk] is read with stride 0 over Lq, never materialised).  Softmax subtracts the row
 * maximum, so rows masked with a large negative number (-1e9, -1e4) stay finite (uniform over the
 * keys when all of them are masked, like PyTorch).  A row whose every score is -inf has no
 * defined softmax; PyTorch returns NaN there, this kernel returns a row of zeros (so out is 0 and
 * no gradient flows through that row), which keeps padded query positions from poisoning a loss.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* The softmax loops are compiled for AVX-512, AVX2 and baseline x86-64, chosen at load time
 * (the build targets baseline x86-64; the wider vectors make the forward about 1.4x faster). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define HUB_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HUB_SIMD_CLONES
#endif

#ifndef HUB_ATTN_SERIAL_BELOW
/* Run the batch loop in parallel when B >= this many entries per thread. */
#define HUB_ATTN_SERIAL_BELOW 1
#endif

static int check3(const char *what, const hub_tensor *t, int64_t b, int64_t l, int64_t d) {
  if (!t) return 0;
  if (t->ndim != 3 || t->dtype != HUB_F32 || !hub_tensor_is_contiguous(t))
    return hub_err("attention: %s must be a contiguous 3-d f32 tensor", what);
  if ((b >= 0 && t->shape[0] != b) || (l >= 0 && t->shape[1] != l) || (d >= 0 && t->shape[2] != d))
    return hub_err("attention: %s is [%lld,%lld,%lld], expected [%lld,%lld,%lld]", what,
                   (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2],
                   (long long)b, (long long)l, (long long)d);
  return 0;
}

/* exp(x) for -88 <= x <= 0 in the softmax, vectorisable (glibc's expf is not, and it dominated
 * the forward): Cephes' expf, x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r and
 * the exponent bits for 2^n.  Relative error about 2e-7.  The caller maps x < -87 to -88, where
 * n = -127 makes the exponent bits, and so the result, exactly 0 (as expf underflows): tiny values
 * there would be denormals in the following sgemm and slow it down twentyfold.  (The clamp lives
 * in a separate loop because GCC does not if-convert it together with the polynomial.) */
static inline float exp_poly(float x) {
  /* round to nearest by adding 1.5 * 2^23 (floorf is a library call without SSE4.1) */
  float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float e;
  memcpy(&e, &bits, sizeof e);
  return y * e;
}

/* Sum with eight partial sums (vectorises; a fixed order, so results are reproducible). */
static inline float sum_f32(const float *x, int64_t n) {
  float acc[8] = {0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; l++) acc[l] += x[j + l];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; j < n; j++) s += x[j];
  return s;
}

/* Maximum, likewise with eight lanes (omp simd's reduction kept its accumulator in memory). */
static inline float max_f32(const float *x, int64_t n) {
  float acc[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; l++) acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
  float m = -INFINITY;
  for (int l = 0; l < 8; l++) m = acc[l] > m ? acc[l] : m;
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/* Row-wise softmax of s [Lq, Lk] (scores already scaled) plus the strided mask, in place. */
HUB_SIMD_CLONES static void softmax_rows(float *s, int64_t Lq, int64_t Lk, const float *mask, int64_t msq,
                         int64_t msk) {
  for (int64_t i = 0; i < Lq; i++) {
    float *restrict r = s + i * Lk;
    if (mask) {
      const float *restrict m = mask + i * msq;
      if (msk == 1) {
#pragma omp simd
        for (int64_t j = 0; j < Lk; j++) r[j] += m[j];
      } else {
        for (int64_t j = 0; j < Lk; j++) r[j] += m[j * msk];
      }
    }
    float mx = max_f32(r, Lk);
    if (mx == -INFINITY) { /* every key masked with -inf: zeros, see the header */
      memset(r, 0, sizeof(float) * (size_t)Lk);
      continue;
    }
#pragma omp simd
    for (int64_t j = 0; j < Lk; j++) {
      float x = r[j] - mx;
      r[j] = x < -87.f ? -88.f : x;
    }
#pragma omp simd
    for (int64_t j = 0; j < Lk; j++) r[j] = exp_poly(r[j]);
    float sum = sum_f32(r, Lk);
    float inv = 1.f / sum;
#pragma omp simd
    for (int64_t j = 0; j < Lk; j++) r[j] *= inv;
  }
}

/* gs = P * (gp - rowsum(gp * P)), in place over gp [Lq, Lk]. */
HUB_SIMD_CLONES static void softmax_backward_rows(float *gp, const float *p, int64_t Lq, int64_t Lk) {
  for (int64_t i = 0; i < Lq; i++) {
    float *restrict sr = gp + i * Lk;
    const float *restrict pr = p + i * Lk;
    float acc[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= Lk; j += 8)
      for (int l = 0; l < 8; l++) acc[l] += sr[j + l] * pr[j + l];
    float dot = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < Lk; j++) dot += sr[j] * pr[j];
#pragma omp simd
    for (j = 0; j < Lk; j++) sr[j] = pr[j] * (sr[j] - dot);
  }
}

static int use_parallel_batches(int64_t B) {
  return B >= (int64_t)HUB_ATTN_SERIAL_BELOW * omp_get_max_threads();
}

int cpu_attention(const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
                  const hub_tensor *mask, float scale, hub_tensor *out, hub_tensor *probs) {
  if (check3("q", q, -1, -1, -1)) return -1;
  const int64_t B = q->shape[0], Lq = q->shape[1], D = q->shape[2];
  if (check3("k", k, B, -1, D)) return -1;
  const int64_t Lk = k->shape[1];
  if (check3("v", v, B, Lk, -1)) return -1;
  const int64_t Dv = v->shape[2];
  if (check3("out", out, B, Lq, Dv) || check3("probs", probs, B, Lq, Lk)) return -1;
  if (mask && (mask->ndim != 3 || mask->dtype != HUB_F32 || mask->shape[0] != B ||
               mask->shape[1] != Lq || mask->shape[2] != Lk))
    return hub_err("attention: mask must be f32 [%lld,%lld,%lld] (strides may be 0)",
                   (long long)B, (long long)Lq, (long long)Lk);
  if (B == 0 || Lq == 0) return 0;
  if (Lk == 0) {
    memset(out->data, 0, sizeof(float) * (size_t)(B * Lq * Dv));
    return 0;
  }
  const float *Q = q->data, *K = k->data, *V = v->data;
  const float *M = mask ? mask->data : NULL;
  const int64_t mb = mask ? mask->stride[0] : 0, mq = mask ? mask->stride[1] : 0,
                mk = mask ? mask->stride[2] : 0;
  float *O = out->data, *P = probs->data;
  int failed = 0;
#pragma omp parallel for schedule(static) if (use_parallel_batches(B))
  for (int64_t b = 0; b < B; b++) {
    float *Pb = P + b * Lq * Lk;
    dnnl_status_t st = dnnl_sgemm('N', 'T', Lq, Lk, D, scale, Q + b * Lq * D, D, K + b * Lk * D, D,
                                  0.f, Pb, Lk);
    if (st == dnnl_success) {
      softmax_rows(Pb, Lq, Lk, M ? M + b * mb : NULL, mq, mk);
      st = dnnl_sgemm('N', 'N', Lq, Dv, Lk, 1.f, Pb, Lk, V + b * Lk * Dv, Dv, 0.f, O + b * Lq * Dv, Dv);
    }
    if (st != dnnl_success) {
#pragma omp atomic write
      failed = 1;
    }
  }
  return failed ? hub_err("attention: oneDNN sgemm failed") : 0;
}

int cpu_attention_backward(const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
                           const hub_tensor *probs, const hub_tensor *gout, float scale,
                           hub_tensor *gq, hub_tensor *gk, hub_tensor *gv) {
  if (check3("q", q, -1, -1, -1)) return -1;
  const int64_t B = q->shape[0], Lq = q->shape[1], D = q->shape[2];
  if (check3("k", k, B, -1, D)) return -1;
  const int64_t Lk = k->shape[1];
  if (check3("v", v, B, Lk, -1)) return -1;
  const int64_t Dv = v->shape[2];
  if (check3("probs", probs, B, Lq, Lk) || check3("gout", gout, B, Lq, Dv) ||
      check3("gq", gq, B, Lq, D) || check3("gk", gk, B, Lk, D) || check3("gv", gv, B, Lk, Dv))
    return -1;
  if (B == 0) return 0;
  if (Lq == 0 || Lk == 0) { /* empty products: the gradients are zero */
    if (gq) memset(gq->data, 0, sizeof(float) * (size_t)(B * Lq * D));
    if (gk) memset(gk->data, 0, sizeof(float) * (size_t)(B * Lk * D));
    if (gv) memset(gv->data, 0, sizeof(float) * (size_t)(B * Lk * Dv));
    return 0;
  }
  const float *Q = q->data, *K = k->data, *V = v->data, *P = probs->data, *G = gout->data;
  float *GQ = gq ? gq->data : NULL, *GK = gk ? gk->data : NULL, *GV = gv ? gv->data : NULL;
  const int need_gs = GQ || GK;
  int failed = 0;
#pragma omp parallel if (use_parallel_batches(B))
  {
    /* one gp/gs buffer per thread */
    float *S = need_gs ? malloc(sizeof(float) * (size_t)(Lq * Lk)) : NULL;
    if (need_gs && !S) {
#pragma omp atomic write
      failed = 2;
    }
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; b++) {
      if (need_gs && !S) continue;
      const float *Pb = P + b * Lq * Lk, *Gb = G + b * Lq * Dv;
      dnnl_status_t st = dnnl_success;
      if (GV)
        st = dnnl_sgemm('T', 'N', Lk, Dv, Lq, 1.f, Pb, Lk, Gb, Dv, 0.f, GV + b * Lk * Dv, Dv);
      if (need_gs && st == dnnl_success) {
        st = dnnl_sgemm('N', 'T', Lq, Lk, Dv, 1.f, Gb, Dv, V + b * Lk * Dv, Dv, 0.f, S, Lk);
        if (st == dnnl_success) softmax_backward_rows(S, Pb, Lq, Lk);
        if (GQ && st == dnnl_success)
          st = dnnl_sgemm('N', 'N', Lq, D, Lk, scale, S, Lk, K + b * Lk * D, D, 0.f, GQ + b * Lq * D, D);
        if (GK && st == dnnl_success)
          st = dnnl_sgemm('T', 'N', Lk, D, Lq, scale, S, Lk, Q + b * Lq * D, D, 0.f, GK + b * Lk * D, D);
      }
      if (st != dnnl_success) {
#pragma omp atomic write
        failed = 1;
      }
    }
    free(S);
  }
  if (failed == 2) return hub_err("attention: out of memory for the backward scratch");
  return failed ? hub_err("attention: oneDNN sgemm failed") : 0;
}
