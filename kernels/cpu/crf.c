/* crf.c - Viterbi decoding of a linear-chain CRF (Paddle's crf_decoding), one sequence per
 * OpenMP iteration.
 *
 * alpha[j] is the best score of a path ending in tag j at the current position; moving on to the
 * next position, each tag j takes its best predecessor i = argmax alpha[i] + trans[i][j] (the
 * lowest i on ties, as a left-to-right scan with a strict comparison gives) and remembers it in
 * a back-pointer table [T, C].  The C x C step is vectorised over j (see viterbi).  The start scores add to the first emission, the end scores to
 * the last alpha; the path is read backwards through the table.  Scores are doubles so that the
 * result does not depend on the order of float roundings between implementations.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math") /* lets GCC vectorise the max-and-argmax selects */
#endif
#include <stdlib.h>

#include "cpu.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VITERBI_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VITERBI_CLONES
#endif

/* Decodes one sequence of length n (n >= 1) into path[0..n-1]; work holds 6C doubles (4C, then 2C int64) and
 * bp n*C ints.  The loops run over the predecessor i outside and the tag j inside, so the inner
 * loop reads a row of the transition matrix and vectorises; i ascending with a strict comparison
 * keeps the lowest i among equal scores. */
VITERBI_CLONES static void viterbi(const float *em, const float *tr, int64_t n, int64_t C,
                                   double *work, int *bp, int64_t *path) {
  const float *start = tr, *end = tr + C, *trans = tr + 2 * C;
  double *a = work, *na = work + C, *best = work + 2 * C; /* best: 2C */
  int64_t *arg = (int64_t *)(work + 4 * C);                   /* 2C */
  for (int64_t j = 0; j < C; j++) a[j] = (double)start[j] + em[j];
  for (int64_t t = 1; t < n; t++) {
    const float *e = em + t * C;
    int *bpt = bp + t * C;
    double *b0 = best, *b1 = best + C;
    int64_t *g0 = arg, *g1 = arg + C;
    for (int64_t j = 0; j < C; j++) b0[j] = a[0] + trans[j], g0[j] = 0;
    for (int64_t i = 1; i < C; i++) {
      const double ai = a[i];
      const float *row = trans + i * C;
      /* from (b0, g0) into (b1, g1): an unconditional store of a select, which becomes blends
       * (an in-place update would become masked stores and branches); arg is int64 so that its
       * lanes match the doubles' */
#pragma omp simd
      for (int64_t j = 0; j < C; j++) {
        double v = ai + row[j];
        int better = v > b0[j];
        b1[j] = better ? v : b0[j];
        g1[j] = better ? i : g0[j];
      }
      double *tb = b0;
      b0 = b1, b1 = tb;
      int64_t *tg = g0;
      g0 = g1, g1 = tg;
    }
    for (int64_t j = 0; j < C; j++) na[j] = b0[j] + e[j], bpt[j] = (int)g0[j];
    double *tmp = a;
    a = na, na = tmp;
  }
  int64_t j = 0;
  double bs = a[0] + end[0];
  for (int64_t k = 1; k < C; k++)
    if (a[k] + end[k] > bs) bs = a[k] + end[k], j = k;
  for (int64_t t = n - 1; t >= 0; t--) {
    path[t] = j;
    if (t > 0) j = bp[t * C + j];
  }
}

int cpu_crf_decode(const hub_tensor *emt, const hub_tensor *trt, const int64_t *len, hub_tensor *patht) {
  const int64_t B = emt->shape[0], T = emt->shape[1], C = emt->shape[2];
  const float *em = emt->data, *tr = trt->data;
  int64_t *path = patht->data;
  if (C > 1 << 30) return hub_err("crf_decode: %lld tags is too many", (long long)C);
  int failed = 0;
#pragma omp parallel if (B > 1)
  {
    double *work = malloc(sizeof(double) * (size_t)(6 * C));
    int *bp = malloc(sizeof(int) * (size_t)(T * C > 0 ? T * C : 1));
    if (!work || !bp) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < B; b++) {
      int64_t *pb = path + b * T;
      for (int64_t t = len[b]; t < T; t++) pb[t] = -1;
      if (work && bp && len[b] > 0) viterbi(em + b * T * C, tr, len[b], C, work, bp, pb);
    }
    free(work);
    free(bp);
  }
  if (failed) return hub_err("crf_decode: out of memory for %lld x %lld back-pointers", (long long)T, (long long)C);
  return 0;
}
