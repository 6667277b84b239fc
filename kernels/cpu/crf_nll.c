/* crf_nll.c - the negative log-likelihood of a linear-chain CRF and its gradient (the forward
 * and backward algorithms in log space), one sequence per OpenMP iteration.
 *
 * A path y of length n scores  s(y) = start[y0] + sum_t em[t, y_t] + sum_t trans[y_t-1, y_t]
 * + end[y_n-1]; the NLL is log Z - s(gold) with log Z = logsumexp over every path.  The forward
 * variables alpha[t, j] = log sum of exp(score) of path prefixes ending in tag j at t:
 *
 *   alpha[0, j] = start[j] + em[0, j]
 *   alpha[t, j] = logsumexp_i (alpha[t-1, i] + trans[i, j]) + em[t, j]
 *   log Z       = logsumexp_j (alpha[n-1, j] + end[j])
 *
 * and the backward ones beta[n-1, i] = end[i], beta[t-1, i] = logsumexp_j (trans[i, j] +
 * em[t, j] + beta[t, j]).  The gradient of the NLL is "expected counts minus gold counts":
 * d/d em[t, j] = P(y_t = j) - [gold_t = j] with P(y_t = j) = exp(alpha[t, j] + beta[t, j] -
 * log Z), d/d trans[i, j] = sum_t P(y_t-1 = i, y_t = j) - #gold (i, j) steps with the pairwise
 * marginal exp(alpha[t-1, i] + trans[i, j] + em[t, j] + beta[t, j] - log Z), and start and end
 * likewise with the first and last unary marginals.  Every logsumexp subtracts its maximum, so
 * very negative scores (forbidden transitions such as -1e4) neither overflow nor give NaN.
 *
 * The scores come as one [C+2, C] table, the layout crf_decode (crf.c) reads: row 0 start, row 1
 * end, row 2+i the transitions from tag i; the op layer (runtime/op_crf.c) concatenates them.
 * Arithmetic is in double; the forward keeps two rows of alpha, the backward the whole [n, C]
 * table and two rows of beta.  The backward writes each sequence's transition, start and end
 * gradient into its own slice of a [B, C*C + 2C] buffer and sums the slices in sequence order
 * afterwards, so the result does not depend on the number of threads.  A sequence of length 0
 * has NLL 0 and no gradient.
 */
#include <math.h>
#include <stdlib.h>

#include "cpu.h"

/* log(sum_i exp(x[i])) of n >= 1 values; -inf when all are -inf. */
static double lse(const double *x, int64_t n) {
  double m = x[0];
  for (int64_t i = 1; i < n; i++)
    if (x[i] > m) m = x[i];
  if (m == -INFINITY) return m;
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += exp(x[i] - m);
  return m + log(s);
}

/* The alpha recursion over em [n, C]: writes rows into alpha (n*C when `all`, else 2 rows that
 * alternate) and returns log Z.  tmp holds C doubles. */
static double forward(const float *em, const float *tr, int64_t n, int64_t C, double *alpha, int all,
                      double *tmp) {
  const float *start = tr, *end = tr + C, *trans = tr + 2 * C;
  double *a = alpha;
  for (int64_t j = 0; j < C; j++) a[j] = (double)start[j] + em[j];
  for (int64_t t = 1; t < n; t++) {
    double *na = all ? alpha + t * C : alpha + (t & 1) * C;
    for (int64_t j = 0; j < C; j++) {
      for (int64_t i = 0; i < C; i++) tmp[i] = a[i] + trans[i * C + j];
      na[j] = lse(tmp, C) + em[t * C + j];
    }
    a = na;
  }
  for (int64_t j = 0; j < C; j++) tmp[j] = a[j] + end[j];
  return lse(tmp, C);
}

/* The score of the gold path y[0..n-1]. */
static double gold_score(const float *em, const float *tr, const int64_t *y, int64_t n, int64_t C) {
  const float *start = tr, *end = tr + C, *trans = tr + 2 * C;
  double s = (double)start[y[0]] + end[y[n - 1]];
  for (int64_t t = 0; t < n; t++) s += em[t * C + y[t]];
  for (int64_t t = 1; t < n; t++) s += trans[y[t - 1] * C + y[t]];
  return s;
}

int cpu_crf_nll(const hub_tensor *emt, const int64_t *tags, const int64_t *len, const hub_tensor *trt,
                hub_tensor *nllt) {
  const int64_t B = emt->shape[0], L = emt->shape[1], C = emt->shape[2];
  const float *em = emt->data, *tr = trt->data;
  float *nll = nllt->data;
  int failed = 0;
#pragma omp parallel if (B > 1)
  {
    double *work = malloc(sizeof(double) * (size_t)(3 * C));
    if (!work) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < B; b++) {
      int64_t n = len[b];
      if (n == 0 || !work) {
        nll[b] = 0;
        continue;
      }
      const float *e = em + b * L * C;
      double logz = forward(e, tr, n, C, work, 0, work + 2 * C);
      nll[b] = (float)(logz - gold_score(e, tr, tags + b * L, n, C));
    }
    free(work);
  }
  if (failed) return hub_err("crf_nll: out of memory for %lld tags", (long long)C);
  return 0;
}

/* One sequence's gradient, scaled by g: gem rows 0..n-1 ([n, C], the padded rows are zeroed by
 * the caller) and gtr = [start C, end C, trans C*C] accumulated (+=) in double; either may be
 * NULL (not wanted).  alpha holds n*C doubles, work 3C. */
static void seq_backward(const float *em, const float *tr, const int64_t *y, int64_t n, int64_t C,
                         double g, float *gem, double *gtr, double *alpha, double *work) {
  const float *end = tr + C, *trans = tr + 2 * C;
  double *tmp = work, *beta = work + C, *nbeta = work + 2 * C;
  double logz = forward(em, tr, n, C, alpha, 1, tmp);
  double *gstart = gtr, *gend = gtr ? gtr + C : NULL, *gtrans = gtr ? gtr + 2 * C : NULL;
  for (int64_t i = 0; i < C; i++) beta[i] = end[i];
  for (int64_t t = n - 1; t >= 0; t--) {
    const double *a = alpha + t * C;
    for (int64_t j = 0; j < C; j++) {
      double p = exp(a[j] + beta[j] - logz);
      if (gem) gem[t * C + j] = (float)(g * (p - (y[t] == j)));
      if (gtr && t == 0) gstart[j] += g * (p - (y[0] == j));
      if (gtr && t == n - 1) gend[j] += g * (p - (y[n - 1] == j));
    }
    if (t == 0) break;
    /* pairwise marginals of (t-1, t), then beta one step back */
    const double *ap = alpha + (t - 1) * C;
    const float *et = em + t * C;
    for (int64_t j = 0; j < C; j++) tmp[j] = et[j] + beta[j]; /* reused as em + beta */
    if (gtr)
      for (int64_t i = 0; i < C; i++) {
        const float *row = trans + i * C;
        double *grow = gtrans + i * C;
        for (int64_t j = 0; j < C; j++) grow[j] += g * exp(ap[i] + row[j] + tmp[j] - logz);
      }
    for (int64_t i = 0; i < C; i++) {
      const float *row = trans + i * C;
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < C; j++)
        if (row[j] + tmp[j] > m) m = row[j] + tmp[j];
      if (m > -INFINITY)
        for (int64_t j = 0; j < C; j++) s += exp(row[j] + tmp[j] - m);
      nbeta[i] = m > -INFINITY ? m + log(s) : m;
    }
    double *sw = beta;
    beta = nbeta, nbeta = sw;
    if (gtr) gtrans[y[t - 1] * C + y[t]] -= g;
  }
}

int cpu_crf_nll_backward(const hub_tensor *emt, const int64_t *tags, const int64_t *len, const hub_tensor *trt,
                         const hub_tensor *gnllt, hub_tensor *gemt, hub_tensor *gtrt) {
  const int64_t B = emt->shape[0], L = emt->shape[1], C = emt->shape[2];
  const float *em = emt->data, *tr = trt->data, *gnll = gnllt->data;
  float *gem = gemt ? gemt->data : NULL;
  const int64_t K = C * C + 2 * C; /* one sequence's [start, end, trans] gradient */
  double *part = gtrt ? calloc((size_t)(B > 0 ? B : 1) * (size_t)K, sizeof(double)) : NULL;
  if (gtrt && !part) return hub_err("crf_nll: out of memory for the transition gradients of %lld sequences", (long long)B);
  int failed = 0;
#pragma omp parallel if (B > 1)
  {
    double *alpha = malloc(sizeof(double) * (size_t)(L * C + 3 * C));
    if (!alpha) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < B; b++) {
      int64_t n = len[b];
      float *gb = gem ? gem + b * L * C : NULL;
      if (gb)
        for (int64_t k = n * C; k < L * C; k++) gb[k] = 0;
      if (n == 0 || !alpha) continue;
      double *gp = part ? part + b * K : NULL;
      if (gp || gb)
        seq_backward(em + b * L * C, tr, tags + b * L, n, C, (double)gnll[b], gb, gp, alpha, alpha + L * C);
    }
    free(alpha);
  }
  if (failed) {
    free(part);
    return hub_err("crf_nll: out of memory for a %lld x %lld forward table", (long long)L, (long long)C);
  }
  if (gtrt) {
    float *out = gtrt->data;
#pragma omp parallel for schedule(static) if (K * B > 65536)
    for (int64_t k = 0; k < K; k++) {
      double s = 0;
      for (int64_t b = 0; b < B; b++) s += part[b * K + k];
      out[k] = (float)s;
    }
    free(part);
  }
  return 0;
}
