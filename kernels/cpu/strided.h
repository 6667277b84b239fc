/* strided.h - a small N-d iterator over up to four strided operands, shared by the elementwise
 * CPU kernels (copy.c, binary.c).
 *
 * cpu_iter_init drops size-1 dimensions and merges neighbouring dimensions that are contiguous
 * with respect to each other in every operand, so that most inputs collapse to one or two
 * dimensions.  The iteration is then "rows" of the innermost dimension: a kernel splits the rows
 * between OpenMP threads, computes the element offsets of its first row once (cpu_iter_seek)
 * and steps from row to row with an odometer (cpu_iter_next), so no division happens per row.
 * The inner loop sees a length and one element stride per operand, which lets kernels pick a
 * vectorisable loop when the strides are 1 or 0.  Threads split the elements (not the rows), so
 * a single long row is shared too: a thread starts in the middle of a row at (e / inner,
 * e % inner) and its first and last rows may be partial.
 */
#ifndef HUB_CPU_STRIDED_H
#define HUB_CPU_STRIDED_H

#include <omp.h>
#include <stdint.h>

#include "hub_tensor.h"

enum { CPU_ITER_MAX_OPS = 4 };

typedef struct cpu_iter {
  int nd;                                         /* >= 1 after coalescing */
  int nops;
  int64_t shape[HUB_MAX_DIMS];
  int64_t stride[CPU_ITER_MAX_OPS][HUB_MAX_DIMS]; /* in elements */
  int64_t rows;                                   /* product of all but the innermost size */
  int64_t inner;                                  /* innermost size */
} cpu_iter;

static inline void cpu_iter_init(cpu_iter *it, int ndim, const int64_t *shape, int nops,
                                 const int64_t *const *strides) {
  int nd = 0;
  it->nops = nops;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    if (nd > 0) {
      /* merge d into the last kept dimension when it continues it in every operand */
      int ok = 1;
      for (int k = 0; k < nops; k++)
        if (it->stride[k][nd - 1] != strides[k][d] * shape[d]) ok = 0;
      if (ok) {
        it->shape[nd - 1] *= shape[d];
        for (int k = 0; k < nops; k++) it->stride[k][nd - 1] = strides[k][d];
        continue;
      }
    }
    it->shape[nd] = shape[d];
    for (int k = 0; k < nops; k++) it->stride[k][nd] = strides[k][d];
    nd++;
  }
  if (nd == 0) {
    it->shape[0] = 1;
    for (int k = 0; k < nops; k++) it->stride[k][0] = 0;
    nd = 1;
  }
  it->nd = nd;
  it->inner = it->shape[nd - 1];
  it->rows = 1;
  for (int d = 0; d < nd - 1; d++) it->rows *= it->shape[d];
}

/* Sets idx (the odometer over the outer dimensions) and off (per operand) for row `row`. */
static inline void cpu_iter_seek(const cpu_iter *it, int64_t row, int64_t *idx, int64_t *off) {
  for (int k = 0; k < it->nops; k++) off[k] = 0;
  for (int d = it->nd - 2; d >= 0; d--) {
    idx[d] = row % it->shape[d];
    row /= it->shape[d];
    for (int k = 0; k < it->nops; k++) off[k] += idx[d] * it->stride[k][d];
  }
}

/* Advances to the next row. */
static inline void cpu_iter_next(const cpu_iter *it, int64_t *idx, int64_t *off) {
  for (int d = it->nd - 2; d >= 0; d--) {
    idx[d]++;
    for (int k = 0; k < it->nops; k++) off[k] += it->stride[k][d];
    if (idx[d] < it->shape[d]) return;
    for (int k = 0; k < it->nops; k++) off[k] -= it->stride[k][d] * it->shape[d];
    idx[d] = 0;
  }
}

/* Elements below which a kernel stays on one thread. */
enum { CPU_PAR_MIN = 1 << 15 };

/* The share [*b, *e) of n elements that belongs to the calling OpenMP thread. */
static inline void cpu_thread_range(int64_t n, int64_t *b, int64_t *e) {
  int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
  *b = n / nt * t + (t < n % nt ? t : n % nt);
  *e = *b + n / nt + (t < n % nt ? 1 : 0);
}

/* Calls fn(ctx, off, len) for every run of `len` elements along the innermost dimension, where
 * off[k] is the element offset of the run's first element in operand k (the run's stride in
 * operand k is it->stride[k][it->nd - 1]).  Threads share the work when there are at least
 * CPU_PAR_MIN elements. */
typedef void (*cpu_run_fn)(void *ctx, const int64_t *off, int64_t len);

static inline void cpu_iter_run(const cpu_iter *it, cpu_run_fn fn, void *ctx) {
  int64_t n = it->rows * it->inner; /* bounded by hub_check_shape: no overflow */
  if (n <= 0) return;                 /* an empty operand: no row to divide by */
#pragma omp parallel if (n >= CPU_PAR_MIN)
  {
    int64_t e, end, idx[HUB_MAX_DIMS], off[CPU_ITER_MAX_OPS], run[CPU_ITER_MAX_OPS];
    cpu_thread_range(n, &e, &end);
    if (e < end) {
      int64_t col = e % it->inner;
      cpu_iter_seek(it, e / it->inner, idx, off);
      while (e < end) {
        int64_t len = it->inner - col < end - e ? it->inner - col : end - e;
        for (int k = 0; k < it->nops; k++) run[k] = off[k] + col * it->stride[k][it->nd - 1];
        fn(ctx, run, len);
        e += len;
        col = 0;
        cpu_iter_next(it, idx, off);
      }
    }
  }
}

#endif
