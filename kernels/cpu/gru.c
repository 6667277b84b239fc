/* gru.c - Paddle's GRU (dynamic_gru) over a padded batch, forward only.
 *
 * The recurrence is sequential in time, so the kernel walks the steps once and does each step
 * for a group of sequences at once: the two products with the hidden state, h Wg [n, 2H] and
 * (r * h) Wc [n, H], are one dnnl_sgemm each over the n sequences of the group still running,
 * and the gates are vectorised loops (with a polynomial exp, see gate_exp).  Sequences never
 * interact, so with several threads each thread takes every nt-th sequence as its own group and
 * runs its own time loop: no barrier per step, and GEMMs big enough to be worth it.  The input projection (x W + b of the fc before the GRU) is already in x, so the
 * per-step work is only the recurrent part.
 *
 * Sequences of different lengths: the batch is ordered by decreasing length once, and the
 * hidden states are kept in that order, so the sequences still running at step s are always the
 * first n rows of the state matrix (n shrinks as short sequences end) and the GEMMs need no
 * gathering.  Step s of sequence b reads and writes position s, or lengths[b]-1-s when reverse,
 * so a reverse GRU starts at each sequence's own last element.  Padded positions stay 0.
 *
 * Weight layout (the "GRU trap"): w is [H, 3H] in shape but holds Wg [H, 2H] (update and reset
 * gates, row-major, leading dimension 2H) in its first 2H*H floats and Wc [H, H] (candidate,
 * leading dimension H) in the last H*H floats.
 */
/* The clamps in gate_exp are selects; without this GCC treats them as possibly trapping float
 * comparisons, i.e. control flow, and does not vectorise the gate loops. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "cpu.h"

/* exp for the gates, written so that the compiler vectorises the loops that call it (libm's
 * expf is a call per element): Cody-Waite reduction x = n ln2 + r, the Cephes degree-6
 * polynomial for e^r (about 1 ulp), 2^n put into the exponent bits.  Rounding to n uses the
 * 1.5 * 2^23 trick, so n also sits in the low bits of t.  x is clamped to [-87, 88]. */
static inline float gate_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float t = x * 1.44269504088896341f + 12582912.0f, n = t - 12582912.0f, sc;
  int32_t ti, si;
  memcpy(&ti, &t, 4);
  int32_t ni = ti - 0x4B400000; /* the bits of 12582912.0f */
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  si = (ni + 127) << 23;
  memcpy(&sc, &si, 4);
  return (p * r * r + r + 1.0f) * sc;
}
static inline float gate_sigmoid(float v) { return 1.0f / (1.0f + gate_exp(-v)); }
static inline float gate_tanh(float v) { return 1.0f - 2.0f / (1.0f + gate_exp(2.0f * v)); }

/* Row-major C[M, N] = A[M, K] B[K, N]. */
static int sgemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bm,
                 int64_t ldb, float *Cm, int64_t ldc) {
  dnnl_status_t st = dnnl_sgemm('N', 'N', M, N, K, 1.0f, A, lda, Bm, ldb, 0.0f, Cm, ldc);
  if (st != dnnl_success) return hub_err("paddle_gru: dnnl_sgemm failed (status %d)", (int)st);
  return 0;
}

/* Stable sort of sequence indices by decreasing length (insertion sort: B is a batch size). */
static void order_by_length(int64_t B, const int64_t *len, int64_t *order) {
  for (int64_t i = 0; i < B; i++) {
    int64_t j = i;
    while (j > 0 && len[order[j - 1]] < len[i]) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
}

typedef struct gru_args {
  const float *x, *Wg, *Wc, *bias;
  float *out;
  const int64_t *len;
  int64_t T, H;
  int reverse, origin_mode;
} gru_args;

/* x86-64: an AVX2+FMA clone of the time loop (8-float gate vectors), picked at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GRU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GRU_CLONES
#endif

/* Runs the sequences rows[0..m) (sorted by decreasing length) to their ends. */
GRU_CLONES static int gru_rows(const gru_args *a, const int64_t *rows, int64_t m) {
  const int64_t T = a->T, H = a->H, G = 3 * H;
  const float *bias = a->bias;
#if defined(__SSE__)
  /* Denormal weights or states slow every GEMM down many times over; flush them to zero on
   * input and output (FTZ + DAZ) on this thread for the duration of the loop. */
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040);
#endif
  float *h = calloc((size_t)(m * H * 5), sizeof(float)); /* h | gh (2H) | rh | ch */
  if (!h) {
#if defined(__SSE__)
    _mm_setcsr(csr);
#endif
    return hub_err("paddle_gru: out of memory for the state of %lld sequences", (long long)m);
  }
  float *gh = h + m * H, *rh = gh + 2 * m * H, *ch = rh + m * H;
  int64_t n = m, maxlen = m ? a->len[rows[0]] : 0;
  int rc = 0;
  for (int64_t s = 0; s < maxlen && rc == 0; s++) {
    while (n > 0 && a->len[rows[n - 1]] <= s) n--;
    /* gh = h Wg: update and reset pre-activations from the state */
    if ((rc = sgemm(n, 2 * H, H, h, H, a->Wg, 2 * H, gh, 2 * H))) break;
    for (int64_t i = 0; i < n; i++) {
      const int64_t b = rows[i], p = a->reverse ? a->len[b] - 1 - s : s;
      const float *xg = a->x + (b * T + p) * G;
      float *ghi = gh + i * 2 * H, *hi = h + i * H, *rhi = rh + i * H;
      if (bias) {
#pragma omp simd
        for (int64_t j = 0; j < 2 * H; j++) ghi[j] += xg[j] + bias[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < 2 * H; j++) ghi[j] += xg[j];
      }
#pragma omp simd
      for (int64_t j = 0; j < H; j++) {
        ghi[j] = gate_sigmoid(ghi[j]); /* u, kept for the update below */
        rhi[j] = gate_sigmoid(ghi[H + j]) * hi[j];
      }
    }
    /* ch = (r * h) Wc: the candidate's recurrent term */
    if ((rc = sgemm(n, H, H, rh, H, a->Wc, H, ch, H))) break;
    for (int64_t i = 0; i < n; i++) {
      const int64_t b = rows[i], p = a->reverse ? a->len[b] - 1 - s : s;
      const float *xc = a->x + (b * T + p) * G + 2 * H, *bc = bias ? bias + 2 * H : NULL;
      const float *u = gh + i * 2 * H;
      float *chi = ch + i * H, *hi = h + i * H, *o = a->out + (b * T + p) * H;
      if (bc) {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) chi[j] += xc[j] + bc[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) chi[j] += xc[j];
      }
      if (a->origin_mode) {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) hi[j] = u[j] * hi[j] + (1.0f - u[j]) * gate_tanh(chi[j]);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) hi[j] = (1.0f - u[j]) * hi[j] + u[j] * gate_tanh(chi[j]);
      }
      memcpy(o, hi, sizeof(float) * (size_t)H);
    }
  }
  free(h);
#if defined(__SSE__)
  _mm_setcsr(csr);
#endif
  return rc;
}

int cpu_gru(const hub_tensor *xt, const hub_tensor *wt, const hub_tensor *bt, const int64_t *len,
            int reverse, int origin_mode, hub_tensor *outt) {
  const int64_t B = xt->shape[0], T = xt->shape[1], H = wt->shape[0];
  const float *w = wt->data;
  gru_args a = {xt->data, w, w + 2 * H * H, bt ? bt->data : NULL, outt->data, len, T, H, reverse, origin_mode};
  memset(a.out, 0, sizeof(float) * (size_t)(B * T * H));
  if (B == 0 || T == 0) return 0;
  /* Sequences are independent: thread k takes sorted rows k, k+nt, ... (balanced, and still
   * sorted) and runs its own time loop with single-threaded GEMMs (oneDNN does not nest). */
  int nt = omp_get_max_threads();
  if (nt > B) nt = (int)B;
  if (nt < 1) nt = 1;
  int64_t total = 0;
  for (int64_t i = 0; i < B; i++) total += len[i];
  if (total * H < 16384) nt = 1; /* too little work to wake threads */
  const int64_t per = (B + nt - 1) / nt;
  int64_t *order = malloc(sizeof(int64_t) * (size_t)(B + nt * per));
  if (!order) return hub_err("paddle_gru: out of memory");
  order_by_length(B, len, order);
  int rc = 0;
  if (nt == 1) {
    rc = gru_rows(&a, order, B);
  } else {
#pragma omp parallel num_threads(nt)
    {
      int k = omp_get_thread_num(), m = 0;
      int64_t *rows = order + B + k * per;
      for (int64_t i = k; i < B; i += nt) rows[m++] = order[i];
      if (gru_rows(&a, rows, m)) {
#pragma omp atomic write
        rc = -1; /* the message is in that thread's hub_last_error */
      }
    }
    if (rc) hub_err("paddle_gru: a worker thread failed (out of memory or a oneDNN error)");
  }
  free(order);
  return rc;
}
