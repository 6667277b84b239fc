/* paddle.cu - Paddle's GRU and the linear-chain CRF on the GPU, with the formulas of
 * kernels/cpu/gru.c, crf.c and crf_nll.c:
 *   - gru: one block per sequence walks its steps; the state h, r * h and the update gate live
 *     in shared memory (3H floats), each thread computes the gates of its columns (h Wg and
 *     (r * h) Wc as dot products over the weight's columns, coalesced across threads).  The
 *     gates use expf (the CPU a polynomial exp of about 1 ulp): outputs agree to f32 rounding.
 *   - crf_decode: one block per sequence, the Viterbi scores in double in shared memory, each tag
 *     taking its best predecessor with the CPU's scan (lowest tag on ties), back-pointers in a
 *     device buffer; the path is read back by one thread.  The same arithmetic as the CPU's, so
 *     the same paths.
 *   - crf_nll and its backward: the forward (and backward) algorithm in log space in double,
 *     every log-sum-exp exact with its maximum subtracted (the CPU scales exponentials instead;
 *     the results agree to double rounding).  The backward keeps the whole [L, C] alpha table per
 *     sequence in device memory, writes each sequence's start/end/transition gradient into its
 *     own slice and sums the slices in sequence order: deterministic, no atomics.
 * Lengths and tags come in host memory (the op layer checked them) and are copied over.
 */
#include "common.cuh"

using namespace hubcu;

namespace {

/* A device copy of n host int64s (NULL with an error); free with cuda_free(p, n * 8). */
int64_t *to_device_i64(const int64_t *host, int64_t n) {
  size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(int64_t);
  int64_t *d = (int64_t *)cuda_alloc(bytes);
  if (!d) return NULL;
  if (n > 0 && cuda_copy_in(d, host, (size_t)n * sizeof(int64_t))) {
    cuda_free(d, bytes);
    return NULL;
  }
  return d;
}
void free_i64(int64_t *d, int64_t n) { cuda_free(d, (size_t)(n > 0 ? n : 1) * sizeof(int64_t)); }

unsigned threads_for(int64_t n) {
  int64_t t = (n + 31) / 32 * 32;
  return (unsigned)(t < 32 ? 32 : t > 256 ? 256 : t);
}

/* ---- GRU ---- */

__device__ __forceinline__ float g_sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }
__device__ __forceinline__ float g_tanh(float v) { return 1.0f - 2.0f / (1.0f + expf(2.0f * v)); }

__global__ void k_gru(int64_t T, int64_t H, const float *x, const float *Wg, const float *Wc, const float *bias,
                      const int64_t *len, int reverse, int origin_mode, float *out) {
  extern __shared__ float sh[];
  float *h = sh, *rh = sh + H, *u = sh + 2 * H;
  const int64_t b = blockIdx.x, n = len[b], G = 3 * H;
  for (int64_t j = threadIdx.x; j < H; j += blockDim.x) h[j] = 0;
  __syncthreads();
  for (int64_t s = 0; s < n; s++) {
    const int64_t p = reverse ? n - 1 - s : s;
    const float *xg = x + (b * T + p) * G;
    for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
      float gu = 0, gr = 0;
      for (int64_t k = 0; k < H; k++) {
        float hk = h[k];
        gu += hk * Wg[k * 2 * H + j];
        gr += hk * Wg[k * 2 * H + H + j];
      }
      gu += xg[j] + (bias ? bias[j] : 0.0f);
      gr += xg[H + j] + (bias ? bias[H + j] : 0.0f);
      u[j] = g_sigmoid(gu);
      rh[j] = g_sigmoid(gr) * h[j];
    }
    __syncthreads();
    for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
      float c = 0;
      for (int64_t k = 0; k < H; k++) c += rh[k] * Wc[k * H + j];
      c += xg[2 * H + j] + (bias ? bias[2 * H + j] : 0.0f);
      float hn = origin_mode ? u[j] * h[j] + (1.0f - u[j]) * g_tanh(c) : (1.0f - u[j]) * h[j] + u[j] * g_tanh(c);
      h[j] = hn; /* only thread j reads h[j] in this phase */
      out[(b * T + p) * H + j] = hn;
    }
    __syncthreads();
  }
}

/* ---- CRF: Viterbi ---- */

__global__ void k_crf_decode(int64_t T, int64_t C, const float *em, const float *tr, const int64_t *len, int *bp,
                             int64_t *path) {
  extern __shared__ double sd[];
  double *a = sd, *na = sd + C;
  const int64_t b = blockIdx.x, n = len[b];
  const float *start = tr, *end = tr + C, *trans = tr + 2 * C, *e = em + b * T * C;
  for (int64_t t = n + threadIdx.x; t < T; t += blockDim.x) path[b * T + t] = -1;
  if (n == 0) return;
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) a[j] = (double)start[j] + e[j];
  __syncthreads();
  for (int64_t t = 1; t < n; t++) {
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      double best = a[0] + trans[j];
      int arg = 0;
      for (int64_t i = 1; i < C; i++) {
        double v = a[i] + trans[i * C + j];
        if (v > best) best = v, arg = (int)i;
      }
      na[j] = best + e[t * C + j];
      bp[(b * T + t) * C + j] = arg;
    }
    __syncthreads();
    double *tmp = a;
    a = na, na = tmp;
  }
  if (threadIdx.x == 0) {
    int64_t j = 0;
    double bs = a[0] + end[0];
    for (int64_t k = 1; k < C; k++)
      if (a[k] + end[k] > bs) bs = a[k] + end[k], j = k;
    for (int64_t t = n - 1; t >= 0; t--) {
      path[b * T + t] = j;
      if (t > 0) j = bp[(b * T + t) * C + j];
    }
  }
}

/* ---- CRF: negative log-likelihood ---- */

/* log sum_i exp(a[i] + trans[i, j]) over i (column j), exact */
__device__ double lse_col(const double *a, const float *trans, int64_t C, int64_t j) {
  double m = -INFINITY, s = 0;
  for (int64_t i = 0; i < C; i++) m = fmax(m, a[i] + trans[i * C + j]);
  if (m == -INFINITY) return m;
  for (int64_t i = 0; i < C; i++) s += exp(a[i] + trans[i * C + j] - m);
  return m + log(s);
}

/* log sum_j exp(trans[i, j] + v[j]) over j (row i), exact */
__device__ double lse_row(const float *trans, const double *v, int64_t C, int64_t i) {
  double m = -INFINITY, s = 0;
  for (int64_t j = 0; j < C; j++) m = fmax(m, trans[i * C + j] + v[j]);
  if (m == -INFINITY) return m;
  for (int64_t j = 0; j < C; j++) s += exp(trans[i * C + j] + v[j] - m);
  return m + log(s);
}

/* The alpha recursion of sequence blockIdx.x: nll[b] (and logz[b], alpha rows when the pointers
 * are given).  Shared: 2C doubles. */
__global__ void k_crf_forward(int64_t L, int64_t C, const float *em, const float *tr, const int64_t *tags,
                              const int64_t *len, float *nll, double *logz_out, double *alpha_all) {
  extern __shared__ double sd[];
  double *a = sd, *na = sd + C;
  const int64_t b = blockIdx.x, n = len[b];
  const float *start = tr, *end = tr + C, *trans = tr + 2 * C, *e = em + b * L * C;
  if (n == 0) {
    if (threadIdx.x == 0) {
      if (nll) nll[b] = 0;
      if (logz_out) logz_out[b] = 0;
    }
    return;
  }
  double *al = alpha_all ? alpha_all + b * L * C : NULL;
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
    a[j] = (double)start[j] + e[j];
    if (al) al[j] = a[j];
  }
  __syncthreads();
  for (int64_t t = 1; t < n; t++) {
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      na[j] = lse_col(a, trans, C, j) + e[t * C + j];
      if (al) al[t * C + j] = na[j];
    }
    __syncthreads();
    double *tmp = a;
    a = na, na = tmp;
  }
  if (threadIdx.x == 0) {
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < C; j++) m = fmax(m, a[j] + end[j]);
    if (m > -INFINITY)
      for (int64_t j = 0; j < C; j++) s += exp(a[j] + end[j] - m);
    double logz = m > -INFINITY ? m + log(s) : m;
    const int64_t *y = tags + b * L;
    double g = (double)start[y[0]] + end[y[n - 1]];
    for (int64_t t = 0; t < n; t++) g += e[t * C + y[t]];
    for (int64_t t = 1; t < n; t++) g += trans[y[t - 1] * C + y[t]];
    if (nll) nll[b] = (float)(logz - g);
    if (logz_out) logz_out[b] = logz;
  }
}

/* The gradient of sequence blockIdx.x scaled by gnll[b]: gem rows (0 past the length) and its
 * slice of part ([start C, end C, trans C*C] doubles, zeroed by the caller).  Shared: 3C doubles. */
__global__ void k_crf_backward(int64_t L, int64_t C, const float *em, const float *tr, const int64_t *tags,
                               const int64_t *len, const double *alpha_all, const double *logz_all, const float *gnll,
                               float *gem, double *part) {
  extern __shared__ double sd[];
  double *beta = sd, *nbeta = sd + C, *v = sd + 2 * C;
  const int64_t b = blockIdx.x, n = len[b], K = C * C + 2 * C;
  const float *end = tr + C, *trans = tr + 2 * C, *e = em + b * L * C;
  float *gb = gem ? gem + b * L * C : NULL;
  if (gb)
    for (int64_t k = n * C + threadIdx.x; k < L * C; k += blockDim.x) gb[k] = 0;
  if (n == 0) return;
  const double g = gnll[b], logz = logz_all[b], *al = alpha_all + b * L * C;
  const int64_t *y = tags + b * L;
  double *gstart = part ? part + b * K : NULL, *gend = part ? gstart + C : NULL, *gtrans = part ? gstart + 2 * C : NULL;
  for (int64_t i = threadIdx.x; i < C; i += blockDim.x) beta[i] = end[i];
  __syncthreads();
  for (int64_t t = n - 1; t >= 0; t--) {
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      double p = exp(al[t * C + j] + beta[j] - logz);
      if (gb) gb[t * C + j] = (float)(g * (p - (y[t] == j)));
      if (part && t == 0) gstart[j] += g * (p - (y[0] == j));
      if (part && t == n - 1) gend[j] += g * (p - (y[n - 1] == j));
    }
    if (t == 0) break;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) v[j] = e[t * C + j] + beta[j];
    __syncthreads();
    if (part) {
      const double *ap = al + (t - 1) * C;
      for (int64_t k = threadIdx.x; k < C * C; k += blockDim.x)
        gtrans[k] += g * exp(ap[k / C] + trans[k] + v[k % C] - logz);
      __syncthreads();
      if (threadIdx.x == 0) gtrans[y[t - 1] * C + y[t]] -= g;
    }
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x) nbeta[i] = lse_row(trans, v, C, i);
    __syncthreads();
    double *tmp = beta;
    beta = nbeta, nbeta = tmp;
  }
}

__global__ void k_sum_parts(int64_t B, int64_t K, const double *part, float *out) {
  HUB_GRID_LOOP(k, K) {
    double s = 0;
    for (int64_t b = 0; b < B; b++) s += part[b * K + k];
    out[k] = (float)s;
  }
}

int check_on(const char *op, const hub_tensor *t) {
  if (on_device(op, t)) return -1;
  if (t && !hub_tensor_is_contiguous(t)) return hub_err("%s: expected contiguous operands", op);
  return 0;
}

} // namespace

extern "C" {

int cuda_gru(const hub_tensor *x, const hub_tensor *w, const hub_tensor *b, const int64_t *lengths, int reverse,
             int origin_mode, hub_tensor *out) {
  if (check_on("paddle_gru", x) || check_on("paddle_gru", w) || check_on("paddle_gru", b) || check_on("paddle_gru", out))
    return -1;
  const int64_t B = x->shape[0], T = x->shape[1], H = w->shape[0];
  size_t smem = (size_t)(3 * H) * sizeof(float);
  if (smem > 48 * 1024) return hub_err("paddle_gru: hidden size %lld is too large for the cuda kernel (at most 4096)", (long long)H);
  if (cuda_memset(out->data, 0, (size_t)hub_tensor_numel(out) * sizeof(float))) return -1;
  if (B == 0 || T == 0) return 0;
  int64_t *len = to_device_i64(lengths, B);
  if (!len) return -1;
  const float *wp = (const float *)w->data;
  k_gru<<<(unsigned)B, threads_for(H), smem, stream()>>>(T, H, (const float *)x->data, wp, wp + 2 * H * H,
                                                          b ? (const float *)b->data : NULL, len, reverse, origin_mode,
                                                          (float *)out->data);
  int rc = cuda_check("paddle_gru");
  free_i64(len, B);
  return rc;
}

int cuda_crf_decode(const hub_tensor *emission, const hub_tensor *transition, const int64_t *lengths, hub_tensor *path) {
  if (check_on("crf_decode", emission) || check_on("crf_decode", transition) || check_on("crf_decode", path)) return -1;
  const int64_t B = emission->shape[0], T = emission->shape[1], C = emission->shape[2];
  if (C > 1 << 30) return hub_err("crf_decode: %lld tags is too many", (long long)C);
  size_t smem = (size_t)(2 * C) * sizeof(double);
  if (smem > 48 * 1024) return hub_err("crf_decode: %lld tags is too many for the cuda kernel (at most 3072)", (long long)C);
  if (B == 0 || T == 0) return 0;
  int64_t *len = to_device_i64(lengths, B);
  if (!len) return -1;
  size_t bp_bytes = (size_t)(B * T * C) * sizeof(int);
  int *bp = (int *)cuda_alloc(bp_bytes > 0 ? bp_bytes : 1);
  int rc = -1;
  if (bp) {
    k_crf_decode<<<(unsigned)B, threads_for(C), smem, stream()>>>(T, C, (const float *)emission->data,
                                                                   (const float *)transition->data, len, bp,
                                                                   (int64_t *)path->data);
    rc = cuda_check("crf_decode");
    cuda_free(bp, bp_bytes > 0 ? bp_bytes : 1);
  }
  free_i64(len, B);
  return rc;
}

int cuda_crf_nll(const hub_tensor *emission, const int64_t *tags, const int64_t *lengths, const hub_tensor *transition,
                 hub_tensor *nll) {
  if (check_on("crf_nll", emission) || check_on("crf_nll", transition) || check_on("crf_nll", nll)) return -1;
  const int64_t B = emission->shape[0], L = emission->shape[1], C = emission->shape[2];
  size_t smem = (size_t)(2 * C) * sizeof(double);
  if (smem > 48 * 1024) return hub_err("crf_nll: %lld tags is too many for the cuda kernel (at most 3072)", (long long)C);
  if (B == 0) return 0;
  int64_t *len = to_device_i64(lengths, B), *y = len ? to_device_i64(tags, B * L) : NULL;
  int rc = -1;
  if (y) {
    k_crf_forward<<<(unsigned)B, threads_for(C), smem, stream()>>>(L, C, (const float *)emission->data,
                                                                    (const float *)transition->data, y, len,
                                                                    (float *)nll->data, nullptr, nullptr);
    rc = cuda_check("crf_nll");
  }
  if (y) free_i64(y, B * L);
  if (len) free_i64(len, B);
  return rc;
}

int cuda_crf_nll_backward(const hub_tensor *emission, const int64_t *tags, const int64_t *lengths,
                          const hub_tensor *transition, const hub_tensor *gnll, hub_tensor *gemission,
                          hub_tensor *gtransition) {
  if (check_on("crf_nll", emission) || check_on("crf_nll", transition) || check_on("crf_nll", gnll) ||
      check_on("crf_nll", gemission) || check_on("crf_nll", gtransition))
    return -1;
  const int64_t B = emission->shape[0], L = emission->shape[1], C = emission->shape[2], K = C * C + 2 * C;
  size_t smem = (size_t)(3 * C) * sizeof(double);
  if (smem > 48 * 1024) return hub_err("crf_nll: %lld tags is too many for the cuda kernel (at most 2048)", (long long)C);
  if (B == 0 || (!gemission && !gtransition)) {
    if (gtransition && cuda_memset(gtransition->data, 0, (size_t)K * sizeof(float))) return -1;
    return 0;
  }
  size_t abytes = (size_t)(B * L * C + B) * sizeof(double), pbytes = gtransition ? (size_t)(B * K) * sizeof(double) : 0;
  int64_t *len = to_device_i64(lengths, B), *y = len ? to_device_i64(tags, B * L) : NULL;
  double *alpha = y ? (double *)cuda_alloc(abytes) : NULL, *part = NULL;
  int rc = -1;
  if (alpha && pbytes) {
    part = (double *)cuda_alloc(pbytes);
    if (part && cuda_memset(part, 0, pbytes)) {
      cuda_free(part, pbytes);
      part = NULL;
    }
  }
  if (alpha && (part || !pbytes)) {
    double *logz = alpha + B * L * C;
    unsigned th = threads_for(C);
    k_crf_forward<<<(unsigned)B, th, (size_t)(2 * C) * sizeof(double), stream()>>>(
        L, C, (const float *)emission->data, (const float *)transition->data, y, len, nullptr, logz, alpha);
    k_crf_backward<<<(unsigned)B, th, smem, stream()>>>(L, C, (const float *)emission->data,
                                                         (const float *)transition->data, y, len, alpha, logz,
                                                         (const float *)gnll->data,
                                                         gemission ? (float *)gemission->data : NULL, part);
    if (part) k_sum_parts<<<blocks_for(K), THREADS, 0, stream()>>>(B, K, part, (float *)gtransition->data);
    rc = cuda_check("crf_nll backward");
  }
  if (part) cuda_free(part, pbytes);
  if (alpha) cuda_free(alpha, abytes);
  if (y) free_i64(y, B * L);
  if (len) free_i64(len, B);
  return rc;
}

} // extern "C"
