/* attention.c - fused scaled-dot-product attention on the CPU, forward and backward.
 *
 * For each entry e = (b, h) (q [Lq, D], k [Lk, D], v [Lk, Dv], strided as runtime/backend.h's
 * hub_attn says; the last dimension contiguous):
 *
 *   P = softmax(q k^T * scale + mask)        (over Lk; kept in `probs` for the backward)
 *   A = P * M / (1 - p)                      (dropout: M the 0/1 keep mask; A = P when p = 0)
 *   out = A v
 *
 * and, given gout = dL/dout:
 *
 *   gv = A^T gout            ga = gout v^T            gp = ga * M / (1 - p)
 *   gs = P * (gp - rowsum(gp * P))           (the softmax backward, row by row)
 *   gq = gs k * scale        gk = gs^T q * scale
 *
 * M is not stored: element (e, i, j) is kept when the counter-based stream gives
 * u(key, counter + (e*Lq + i)*Lk + j) >= p, the same numbers hub_dropout draws for a [B, H, Lq,
 * Lk] tensor (so the fused op equals softmax, dropout and matmul run one after the other from
 * the same seed), and the backward draws them again.  With dropout, the forward keeps only P
 * (not A, not M): one [Lq, Lk] tensor per entry where the unfused ops keep three.
 *
 * Strided operands let the multi-head layer pass its packed projection [B, L, 3, H, Dh] and get
 * the context straight in [B, L, H, Dh] (hub_attention_qkv): no head split or merge copies.
 *
 * The products go through oneDNN's dnnl_sgemm (row-major, any leading dimension).  The scores
 * are written straight into `probs` and turned into probabilities in place; the forward needs a
 * per-thread [Lq, Lk] buffer only for A, the backward two or three (ga/gs, and M and A).
 *
 * Parallelism: with at least as many entries as threads (B*H is usually large), one OpenMP loop
 * runs over the entries and each sgemm runs single-threaded inside it (oneDNN sees it is inside
 * a parallel region).  With fewer entries, the loop runs serially and each sgemm uses all
 * threads.  Measured on 2 threads (AVX-512 Xeon, B = 8*12 = 96, L = 128, D = 64, best of
 * 150): loop over b 3.8 ms forward / 5.2 ms backward, serial loop with threaded sgemm 11.2 / 17.2
 * ms.  A oneDNN batched matmul primitive does the two forward GEMMs in 2.1 ms against 2.6 ms here,
 * but then the softmax is a separate pass over B*Lq*Lk floats out of cache; fused per entry the
 * [Lq, Lk] block stays in L2.  (The unfused matmul/add/softmax/matmul ops take 5.1 ms, this
 * op 3.3 ms.)
 *
 * The mask is additive, f32, [B*H, Lq, Lk] with any strides (0 strides broadcast: a key-padding
 * mask [B, 1, 1, Lk] is read with stride 0 over h and Lq, never materialised).  Softmax subtracts
 * the row maximum, so rows masked with a large negative number (-1e9, -1e4) stay finite (uniform
 * over the keys when all of them are masked, like PyTorch).  A row whose every score is -inf has
 * no defined softmax; PyTorch returns NaN there, this kernel returns a row of zeros (so out is 0
 * and no gradient flows through that row), which keeps padded query positions from poisoning a
 * loss.
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

/* The geometry the loops below use: entry e = b*H + h of q is the [Lq, D] matrix at q + b*sq[0]
 * + h*sq[1] with row stride sq[2] (unit column stride); k, v and out likewise.  Built from the
 * tensors by cpu_attention / cpu_attention_backward. */
typedef struct attn_geom {
  int64_t B, H, Lq, Lk, D, Dv;
  int64_t sq[3], sk[3], sv[3], so[3];
  const hub_tensor *mask;
  float scale, p;
  uint64_t key, counter;
} attn_geom;

#ifndef HUB_ATTN_SERIAL_BELOW
/* Run the batch loop in parallel when B >= this many entries per thread. */
#define HUB_ATTN_SERIAL_BELOW 1
#endif

/* exp(x) for -88 <= x <= 0 in the softmax, vectorisable (glibc's expf is not, and it dominated
 * the forward): Cephes' expf, x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r and
 * the exponent bits for 2^n.  Relative error about 2e-7.  The caller maps x < -87 to -88, where
 * n = -127 makes the exponent bits, and so the result, exactly 0 (as expf underflows): tiny values
 * there would be denormals in the following sgemm and slow it down twentyfold.  (The clamp lives
 * in a separate loop because GCC does not if-convert it together with the polynomial.) */
static inline float exp_poly(float x) {
  /* round to nearest by adding 1.5 * 2^23 (floorf is a library call without SSE4.1) */
  float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  /* keep the int conversion below defined when x is NaN or out of range (NaN/inf scores from
   * NaN/inf inputs): a NaN n becomes -127, and r, so the result, stays NaN */
  n = n >= -127.f ? n : -127.f;
  n = n <= 128.f ? n : 128.f;
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

/* The keep mask of dropout as factors: m[j] = 1/(1-p) where element c0 + j of the stream is
 * kept, else 0 (the test of kernels/cpu/dropout.c). */
HUB_SIMD_CLONES static void keep_factors(float *m, int64_t n, uint64_t key, uint64_t c0, float p, float inv) {
  hub_rng_uniform_block(m, n, key, c0);
  for (int64_t j = 0; j < n; j++) m[j] = m[j] >= p ? inv : 0.f;
}

HUB_SIMD_CLONES static void mul_into(float *restrict y, const float *restrict a, const float *restrict b, int64_t n) {
  for (int64_t j = 0; j < n; j++) y[j] = a[j] * b[j];
}

HUB_SIMD_CLONES static void mul_inplace(float *restrict y, const float *restrict b, int64_t n) {
  for (int64_t j = 0; j < n; j++) y[j] *= b[j];
}

static int use_parallel_batches(int64_t B) {
  return B >= (int64_t)HUB_ATTN_SERIAL_BELOW * omp_get_max_threads();
}

/* Pointers to entry e of an operand with strides s. */
static inline int64_t entry_off(const attn_geom *a, const int64_t *s, int64_t e) {
  return (e / a->H) * s[0] + (e % a->H) * s[1];
}

static int attention_fwd(const attn_geom *a, const float *Q, const float *K, const float *V, float *O,
                         float *P) {
  const int64_t E = a->B * a->H, Lq = a->Lq, Lk = a->Lk, D = a->D, Dv = a->Dv;
  /* nothing to write: with Dv == 0 (and no probabilities wanted) the output is empty even when
   * E * Lq is huge (q [2^30, 2^30, 0] is a legal empty tensor), so looping over it would hang */
  if (E == 0 || Lq == 0 || (Dv == 0 && !P)) return 0;
  if (Lk == 0) {
    if (Dv == 0) return 0;
    for (int64_t e = 0; e < E; e++)
      for (int64_t i = 0; i < Lq; i++) memset(O + entry_off(a, a->so, e) + i * a->so[2], 0, sizeof(float) * (size_t)Dv);
    return 0;
  }
  const hub_tensor *mask = a->mask;
  if (mask && (mask->ndim != 3 || mask->dtype != HUB_F32 || mask->shape[0] != E ||
               mask->shape[1] != Lq || mask->shape[2] != Lk))
    return hub_err("attention: mask must be f32 [%lld,%lld,%lld] (strides may be 0)",
                   (long long)E, (long long)Lq, (long long)Lk);
  const float *M = mask ? mask->data : NULL;
  const int64_t mb = mask ? mask->stride[0] : 0, mq = mask ? mask->stride[1] : 0,
                mk = mask ? mask->stride[2] : 0;
  const int drop = a->p > 0.f;
  const float inv = a->p < 1.f ? 1.f / (1.f - a->p) : 0.f;
  int failed = 0;
#pragma omp parallel if (use_parallel_batches(E))
  {
    float *A = drop ? malloc(sizeof(float) * (size_t)(2 * Lq * Lk)) : NULL;
    if (drop && !A) {
#pragma omp atomic write
      failed = 2;
    }
#pragma omp for schedule(static)
    for (int64_t e = 0; e < E; e++) {
      if (drop && !A) continue;
      float *Pe = P + e * Lq * Lk;
      dnnl_status_t st = dnnl_sgemm('N', 'T', Lq, Lk, D, a->scale, Q + entry_off(a, a->sq, e), a->sq[2],
                                    K + entry_off(a, a->sk, e), a->sk[2], 0.f, Pe, Lk);
      if (st == dnnl_success) {
        softmax_rows(Pe, Lq, Lk, M ? M + e * mb : NULL, mq, mk);
        const float *Ae = Pe;
        if (drop) {
          keep_factors(A + Lq * Lk, Lq * Lk, a->key, a->counter + (uint64_t)(e * Lq * Lk), a->p, inv);
          mul_into(A, Pe, A + Lq * Lk, Lq * Lk);
          Ae = A;
        }
        st = dnnl_sgemm('N', 'N', Lq, Dv, Lk, 1.f, Ae, Lk, V + entry_off(a, a->sv, e), a->sv[2], 0.f,
                        O + entry_off(a, a->so, e), a->so[2]);
      }
      if (st != dnnl_success) {
#pragma omp atomic write
        failed = 1;
      }
    }
    free(A);
  }
  if (failed == 2) return hub_err("attention: out of memory for the dropout scratch");
  return failed ? hub_err("attention: oneDNN sgemm failed") : 0;
}

/* Writes zeros over entry e's [rows, cols] block of an operand with strides s. */
static void zero_entry(const attn_geom *a, float *X, const int64_t *s, int64_t e, int64_t rows, int64_t cols) {
  if (!X) return;
  for (int64_t i = 0; i < rows; i++) memset(X + entry_off(a, s, e) + i * s[2], 0, sizeof(float) * (size_t)cols);
}

static int attention_bwd(const attn_geom *a, const float *Q, const float *K, const float *V,
                         const float *P, const float *G, float *GQ, float *GK, float *GV) {
  const int64_t E = a->B * a->H, Lq = a->Lq, Lk = a->Lk, D = a->D, Dv = a->Dv;
  if (E == 0) return 0;
  if (Lq == 0 || Lk == 0) { /* empty products: the gradients are zero */
    if (Lq * D == 0 && Lk * D == 0 && Lk * Dv == 0) return 0; /* and empty: E may be huge */
    for (int64_t e = 0; e < E; e++) {
      zero_entry(a, GQ, a->sq, e, Lq, D);
      zero_entry(a, GK, a->sk, e, Lk, D);
      zero_entry(a, GV, a->sv, e, Lk, Dv);
    }
    return 0;
  }
  const int need_gs = GQ || GK, drop = a->p > 0.f;
  const float inv = a->p < 1.f ? 1.f / (1.f - a->p) : 0.f;
  const int64_t LL = Lq * Lk;
  /* per thread: S (ga/gs) when needed, and with dropout the factors M and A = P * M */
  const int64_t nbuf = (need_gs ? 1 : 0) + (drop ? 2 : 0);
  int failed = 0;
#pragma omp parallel if (use_parallel_batches(E))
  {
    float *buf = nbuf ? malloc(sizeof(float) * (size_t)(nbuf * LL)) : NULL;
    if (nbuf && !buf) {
#pragma omp atomic write
      failed = 2;
    }
    float *S = need_gs && buf ? buf : NULL;
    float *Mf = drop && buf ? buf + (need_gs ? LL : 0) : NULL, *A = Mf ? Mf + LL : NULL;
#pragma omp for schedule(static)
    for (int64_t e = 0; e < E; e++) {
      if (nbuf && !buf) continue;
      const float *Pe = P + e * LL, *Ge = G + entry_off(a, a->so, e), *Ae = Pe;
      const float *Ve = V + entry_off(a, a->sv, e);
      const int64_t ldg = a->so[2];
      if (drop) {
        keep_factors(Mf, LL, a->key, a->counter + (uint64_t)(e * LL), a->p, inv);
        mul_into(A, Pe, Mf, LL);
        Ae = A;
      }
      dnnl_status_t st = dnnl_success;
      if (GV)
        st = dnnl_sgemm('T', 'N', Lk, Dv, Lq, 1.f, Ae, Lk, Ge, ldg, 0.f, GV + entry_off(a, a->sv, e), a->sv[2]);
      if (need_gs && st == dnnl_success) {
        st = dnnl_sgemm('N', 'T', Lq, Lk, Dv, 1.f, Ge, ldg, Ve, a->sv[2], 0.f, S, Lk);
        if (st == dnnl_success) {
          if (drop) mul_inplace(S, Mf, LL);
          softmax_backward_rows(S, Pe, Lq, Lk);
        }
        if (GQ && st == dnnl_success)
          st = dnnl_sgemm('N', 'N', Lq, D, Lk, a->scale, S, Lk, K + entry_off(a, a->sk, e), a->sk[2], 0.f,
                          GQ + entry_off(a, a->sq, e), a->sq[2]);
        if (GK && st == dnnl_success)
          st = dnnl_sgemm('T', 'N', Lk, D, Lq, a->scale, S, Lk, Q + entry_off(a, a->sq, e), a->sq[2], 0.f,
                          GK + entry_off(a, a->sk, e), a->sk[2]);
      }
      if (st != dnnl_success) {
#pragma omp atomic write
        failed = 1;
      }
    }
    free(buf);
  }
  if (failed == 2) return hub_err("attention: out of memory for the backward scratch");
  return failed ? hub_err("attention: oneDNN sgemm failed") : 0;
}

/* ---- the kernels of the table: tensors in, geometry read from their strides ---- */

static int operand(const char *op, const char *arg, const hub_tensor *t, int64_t B, int64_t H,
                   int64_t L, int64_t D, int64_t *s) {
  if (!t || t->dtype != HUB_F32 || t->ndim != 4 || t->shape[0] != B || t->shape[1] != H ||
      t->shape[2] != L || t->shape[3] != D || (D > 1 && t->stride[3] != 1))
    return hub_err("%s: %s must be an f32 [%lld,%lld,%lld,%lld] view with unit last stride", op, arg,
                   (long long)B, (long long)H, (long long)L, (long long)D);
  s[0] = t->stride[0], s[1] = t->stride[1], s[2] = t->stride[2];
  return 0;
}

/* The geometry of q, k, v and out; 0 or -1 with an error. */
static int geom_of(const char *op, const hub_attn *p, const hub_tensor *q, const hub_tensor *k,
                   const hub_tensor *v, const hub_tensor *out, attn_geom *g) {
  if (!q || q->ndim != 4 || !k || k->ndim != 4 || !v || v->ndim != 4)
    return hub_err("%s: q, k and v must be 4-d [B, H, L, D] views", op);
  *g = (attn_geom){.B = q->shape[0], .H = q->shape[1], .Lq = q->shape[2], .D = q->shape[3],
                   .Lk = k->shape[2], .Dv = v->shape[3], .mask = p->mask, .scale = p->scale,
                   .p = p->p, .key = p->key, .counter = p->counter};
  if (operand(op, "q", q, g->B, g->H, g->Lq, g->D, g->sq) || operand(op, "k", k, g->B, g->H, g->Lk, g->D, g->sk) ||
      operand(op, "v", v, g->B, g->H, g->Lk, g->Dv, g->sv) || operand(op, "out", out, g->B, g->H, g->Lq, g->Dv, g->so))
    return -1;
  return 0;
}

static int probs_ok(const char *op, const hub_tensor *p, const attn_geom *g) {
  if (p && p->dtype == HUB_F32 && p->ndim == 3 && p->shape[0] == g->B * g->H && p->shape[1] == g->Lq &&
      p->shape[2] == g->Lk && hub_tensor_is_contiguous(p))
    return 0;
  return hub_err("%s: probs must be a contiguous f32 [%lld,%lld,%lld] tensor", op, (long long)(g->B * g->H),
                 (long long)g->Lq, (long long)g->Lk);
}

int cpu_attention(const hub_attn *p, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
                  hub_tensor *out, hub_tensor *probs) {
  attn_geom g;
  if (geom_of("attention", p, q, k, v, out, &g) || (probs && probs_ok("attention", probs, &g))) return -1;
  if (probs) return attention_fwd(&g, q->data, k->data, v->data, out->data, probs->data);
  /* no probabilities wanted (inference): the scores still need a place */
  int64_t sh[3] = {g.B * g.H, g.Lq, g.Lk};
  hub_tensor *scratch = hub_tensor_empty(HUB_F32, 3, sh, HUB_CPU);
  int rc = scratch ? attention_fwd(&g, q->data, k->data, v->data, out->data, scratch->data) : -1;
  hub_tensor_release(scratch);
  return rc;
}

/* gq, gk and gv (any may be NULL) must have the strides of q, k and v. */
static int same_geometry(const hub_tensor *g, const hub_tensor *like) {
  if (!g) return 1;
  if (g->dtype != HUB_F32 || g->ndim != 4) return 0;
  for (int d = 0; d < 4; d++)
    if (g->shape[d] != like->shape[d] || (g->shape[d] > 1 && g->stride[d] != like->stride[d])) return 0;
  return 1;
}

int cpu_attention_backward(const hub_attn *p, const hub_tensor *q, const hub_tensor *k,
                           const hub_tensor *v, const hub_tensor *probs, const hub_tensor *gout,
                           hub_tensor *gq, hub_tensor *gk, hub_tensor *gv) {
  attn_geom g;
  if (geom_of("attention backward", p, q, k, v, gout, &g) || probs_ok("attention backward", probs, &g)) return -1;
  if (!same_geometry(gq, q) || !same_geometry(gk, k) || !same_geometry(gv, v))
    return hub_err("attention backward: gq, gk and gv must have the geometry (and strides) of q, k and v");
  return attention_bwd(&g, q->data, k->data, v->data, probs->data, gout->data, gq ? gq->data : NULL,
                       gk ? gk->data : NULL, gv ? gv->data : NULL);
}
