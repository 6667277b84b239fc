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
 * Speed: a direct log-sum-exp costs C^2 exponentials per position.  Instead each step works
 * with exponentials scaled by maxima, E[i, j] = exp(trans[i, j] - colmax[j]) (and by row maxima
 * for the backward recursion), computed once per call, and exp(alpha[i] - max alpha): then
 *   alpha'[j] = max alpha + colmax[j] + log(sum_i exp(alpha[i] - max alpha) E[i, j]) + em[t, j],
 * C^2 multiply-adds and C exponentials per position.  Every factor is at most 1 and the sum's
 * largest possible term is exact, so nothing overflows; when a sum comes out below 1e-250 (all
 * its terms underflowed: extreme or forbidden scores such as -1e4 / -inf meeting each other)
 * that entry is recomputed with the exact max-subtracted log-sum-exp.  The pairwise marginals
 * factor likewise into exp(alpha[t-1, i] + rowmax[i] - A) * exp(trans[i, j] - rowmax[i]) *
 * exp(em[t, j] + beta[t, j] + A - log Z) with A the largest first exponent; when the last factor
 * could exceed e^300 (the step's scores are far apart) the step uses the exact exponentials.
 * Arithmetic is in double; the forward keeps two rows of alpha, the backward the whole [n, C]
 * table and two rows of beta.  The backward writes each sequence's transition, start and end
 * gradient into its own slice of a [B, C*C + 2C] buffer and sums the slices in sequence order
 * afterwards, so the result does not depend on the number of threads.  A sequence of length 0
 * has NLL 0 and no gradient.
 */
#include <math.h>
#include <stdlib.h>

#include "cpu.h"

/* Sums below this are recomputed exactly (their terms may have underflowed). */
#define CRF_TINY 1e-250
/* The pairwise fast path needs exp(em + beta + A - log Z) <= e^CRF_SPAN. */
#define CRF_SPAN 300.0

/* The scaled exponentials of the [C+2, C] table, shared read-only by the threads. */
typedef struct crf_exp {
  int64_t C;
  const float *start, *end, *trans;
  double *ecol, *cmax; /* exp(trans[i, j] - cmax[j]), cmax[j] = max_i trans[i, j] */
  double *erow, *rmax; /* exp(trans[i, j] - rmax[i]), rmax[i] = max_j trans[i, j] */
} crf_exp;

static void crf_exp_free(crf_exp *x) {
  free(x->ecol);
  free(x->erow);
  free(x->cmax);
  free(x->rmax);
}

static int crf_exp_init(crf_exp *x, const float *tr, int64_t C) {
  x->C = C, x->start = tr, x->end = tr + C, x->trans = tr + 2 * C;
  x->ecol = malloc(sizeof(double) * (size_t)(C * C));
  x->erow = malloc(sizeof(double) * (size_t)(C * C));
  x->cmax = malloc(sizeof(double) * (size_t)C);
  x->rmax = malloc(sizeof(double) * (size_t)C);
  if (!x->ecol || !x->erow || !x->cmax || !x->rmax) {
    crf_exp_free(x);
    return hub_err("crf_nll: out of memory for %lld tags", (long long)C);
  }
  const float *T = x->trans;
  for (int64_t j = 0; j < C; j++) x->cmax[j] = -INFINITY;
  for (int64_t i = 0; i < C; i++) {
    double rm = -INFINITY;
    for (int64_t j = 0; j < C; j++) {
      if (T[i * C + j] > rm) rm = T[i * C + j];
      if (T[i * C + j] > x->cmax[j]) x->cmax[j] = T[i * C + j];
    }
    x->rmax[i] = rm;
  }
  for (int64_t i = 0; i < C; i++)
    for (int64_t j = 0; j < C; j++) {
      double t = T[i * C + j];
      x->ecol[i * C + j] = x->cmax[j] == -INFINITY ? 0 : exp(t - x->cmax[j]);
      x->erow[i * C + j] = x->rmax[i] == -INFINITY ? 0 : exp(t - x->rmax[i]);
    }
  return 0;
}

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

static double max_of(const double *x, int64_t n) {
  double m = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    if (x[i] > m) m = x[i];
  return m;
}

/* na[j] = log sum_i exp(a[i] + trans[i, j]) for every j.  w holds 2C doubles. */
static void step_forward(const crf_exp *x, const double *a, double *na, double *w) {
  const int64_t C = x->C;
  double *ea = w, *s = w + C;
  double ma = max_of(a, C);
  for (int64_t j = 0; j < C; j++) s[j] = 0;
  if (ma > -INFINITY) {
    for (int64_t i = 0; i < C; i++) ea[i] = exp(a[i] - ma);
    for (int64_t i = 0; i < C; i++) {
      const double e = ea[i], *row = x->ecol + i * C;
#pragma omp simd
      for (int64_t j = 0; j < C; j++) s[j] += e * row[j];
    }
  }
  for (int64_t j = 0; j < C; j++) {
    if (s[j] > CRF_TINY) {
      na[j] = ma + x->cmax[j] + log(s[j]);
    } else { /* exact: every term may have underflowed */
      double m = -INFINITY, t = 0;
      for (int64_t i = 0; i < C; i++) {
        double v = a[i] + x->trans[i * C + j];
        if (v > m) m = v;
      }
      if (m > -INFINITY)
        for (int64_t i = 0; i < C; i++) t += exp(a[i] + x->trans[i * C + j] - m);
      na[j] = m > -INFINITY ? m + log(t) : m;
    }
  }
}

/* nb[i] = log sum_j exp(trans[i, j] + v[j]) for every i.  w holds C doubles. */
static void step_backward(const crf_exp *x, const double *v, double *nb, double *w) {
  const int64_t C = x->C;
  double *ev = w;
  double mv = max_of(v, C);
  if (mv > -INFINITY)
    for (int64_t j = 0; j < C; j++) ev[j] = exp(v[j] - mv);
  for (int64_t i = 0; i < C; i++) {
    double s = 0;
    if (mv > -INFINITY) {
      const double *row = x->erow + i * C;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < C; j++) s += row[j] * ev[j];
    }
    if (s > CRF_TINY) {
      nb[i] = x->rmax[i] + mv + log(s);
    } else {
      const float *row = x->trans + i * C;
      double m = -INFINITY, t = 0;
      for (int64_t j = 0; j < C; j++)
        if (row[j] + v[j] > m) m = row[j] + v[j];
      if (m > -INFINITY)
        for (int64_t j = 0; j < C; j++) t += exp(row[j] + v[j] - m);
      nb[i] = m > -INFINITY ? m + log(t) : m;
    }
  }
}

/* The alpha recursion over em [n, C]: writes rows into alpha (n*C when `all`, else 2 rows that
 * alternate) and returns log Z.  w holds 2C doubles. */
static double forward(const crf_exp *x, const float *em, int64_t n, double *alpha, int all, double *w) {
  const int64_t C = x->C;
  double *a = alpha;
  for (int64_t j = 0; j < C; j++) a[j] = (double)x->start[j] + em[j];
  for (int64_t t = 1; t < n; t++) {
    double *na = all ? alpha + t * C : alpha + (t & 1) * C;
    step_forward(x, a, na, w);
    for (int64_t j = 0; j < C; j++) na[j] += em[t * C + j];
    a = na;
  }
  for (int64_t j = 0; j < C; j++) w[j] = a[j] + x->end[j];
  return lse(w, C);
}

/* The score of the gold path y[0..n-1]. */
static double gold_score(const crf_exp *x, const float *em, const int64_t *y, int64_t n) {
  const int64_t C = x->C;
  double s = (double)x->start[y[0]] + x->end[y[n - 1]];
  for (int64_t t = 0; t < n; t++) s += em[t * C + y[t]];
  for (int64_t t = 1; t < n; t++) s += x->trans[y[t - 1] * C + y[t]];
  return s;
}

int cpu_crf_nll(const hub_tensor *emt, const int64_t *tags, const int64_t *len, const hub_tensor *trt,
                hub_tensor *nllt) {
  const int64_t B = emt->shape[0], L = emt->shape[1], C = emt->shape[2];
  const float *em = emt->data;
  float *nll = nllt->data;
  crf_exp x;
  if (crf_exp_init(&x, trt->data, C)) return -1;
  int failed = 0;
#pragma omp parallel if (B > 1)
  {
    double *work = malloc(sizeof(double) * (size_t)(4 * C));
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
      double logz = forward(&x, e, n, work, 0, work + 2 * C);
      nll[b] = (float)(logz - gold_score(&x, e, tags + b * L, n));
    }
    free(work);
  }
  crf_exp_free(&x);
  if (failed) return hub_err("crf_nll: out of memory for %lld tags", (long long)C);
  return 0;
}

/* Adds g * P(y_(t-1) = i, y_t = j) to gtrans[i, j] for every pair: ap = alpha[t-1], v[j] =
 * em[t, j] + beta[t, j].  w holds 2C doubles. */
static void add_pairwise(const crf_exp *x, const double *ap, const double *v, double logz, double g,
                         double *gtrans, double *w) {
  const int64_t C = x->C;
  double *f1 = w, *f3 = w + C;
  double A = -INFINITY, mv = max_of(v, C);
  for (int64_t i = 0; i < C; i++)
    if (ap[i] + x->rmax[i] > A) A = ap[i] + x->rmax[i];
  if (A == -INFINITY || mv == -INFINITY) return; /* every pair has probability 0 */
  if (A + mv - logz <= CRF_SPAN) {
    for (int64_t i = 0; i < C; i++) f1[i] = g * exp(ap[i] + x->rmax[i] - A);
    for (int64_t j = 0; j < C; j++) f3[j] = exp(v[j] + A - logz);
    for (int64_t i = 0; i < C; i++) {
      const double a = f1[i], *row = x->erow + i * C;
      double *grow = gtrans + i * C;
#pragma omp simd
      for (int64_t j = 0; j < C; j++) grow[j] += a * row[j] * f3[j];
    }
  } else {
    for (int64_t i = 0; i < C; i++) {
      const float *row = x->trans + i * C;
      double *grow = gtrans + i * C;
      for (int64_t j = 0; j < C; j++) grow[j] += g * exp(ap[i] + row[j] + v[j] - logz);
    }
  }
}

/* One sequence's gradient, scaled by g: gem rows 0..n-1 ([n, C], the padded rows are zeroed by
 * the caller) and gtr = [start C, end C, trans C*C] accumulated (+=) in double; either may be
 * NULL (not wanted).  alpha holds n*C doubles, work 5C. */
static void seq_backward(const crf_exp *x, const float *em, const int64_t *y, int64_t n, double g, float *gem,
                         double *gtr, double *alpha, double *work) {
  const int64_t C = x->C;
  double *v = work, *beta = work + C, *nbeta = work + 2 * C, *w = work + 3 * C;
  double logz = forward(x, em, n, alpha, 1, w);
  double *gstart = gtr, *gend = gtr ? gtr + C : NULL, *gtrans = gtr ? gtr + 2 * C : NULL;
  for (int64_t i = 0; i < C; i++) beta[i] = x->end[i];
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
    for (int64_t j = 0; j < C; j++) v[j] = em[t * C + j] + beta[j];
    if (gtr) {
      add_pairwise(x, alpha + (t - 1) * C, v, logz, g, gtrans, w);
      gtrans[y[t - 1] * C + y[t]] -= g;
    }
    step_backward(x, v, nbeta, w);
    double *sw = beta;
    beta = nbeta, nbeta = sw;
  }
}

int cpu_crf_nll_backward(const hub_tensor *emt, const int64_t *tags, const int64_t *len, const hub_tensor *trt,
                         const hub_tensor *gnllt, hub_tensor *gemt, hub_tensor *gtrt) {
  const int64_t B = emt->shape[0], L = emt->shape[1], C = emt->shape[2];
  const float *em = emt->data, *gnll = gnllt->data;
  float *gem = gemt ? gemt->data : NULL;
  const int64_t K = C * C + 2 * C; /* one sequence's [start, end, trans] gradient */
  crf_exp x;
  if (crf_exp_init(&x, trt->data, C)) return -1;
  double *part = gtrt ? calloc((size_t)(B > 0 ? B : 1) * (size_t)K, sizeof(double)) : NULL;
  if (gtrt && !part) {
    crf_exp_free(&x);
    return hub_err("crf_nll: out of memory for the transition gradients of %lld sequences", (long long)B);
  }
  int failed = 0;
#pragma omp parallel if (B > 1)
  {
    double *alpha = malloc(sizeof(double) * (size_t)(L * C + 5 * C));
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
      if (gp || gb) seq_backward(&x, em + b * L * C, tags + b * L, n, (double)gnll[b], gb, gp, alpha, alpha + L * C);
    }
    free(alpha);
  }
  crf_exp_free(&x);
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
