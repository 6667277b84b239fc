/* check.h - what every tests/c/test_*.c shares: the CHECK macro and its counters, the summary
 * line, and a few small helpers.  Header-only (every function static inline), so each test stays
 * one source file with counters of its own; tests/CMakeLists.txt builds every tests/c/test_*.c
 * and this file is found next to the test that includes it.
 *
 *   CHECK(cond, fmt, ...)  counts a passed check, or counts a failure and prints
 *                          "FAIL file:line: message" (a test may end that line otherwise by
 *                          defining CHECK_FAIL_END() before including this file)
 *   check_summary()        prints "N passed, M failed"; returns the exit status (1 on failure):
 *                          `return check_summary();` ends main
 *   check_passed, check_failed   the counters, for tests that count or report otherwise
 *
 * Include it after the system headers (and after the feature macros: now_ms and now_s exist
 * when <time.h> declares clock_gettime, i.e. with _DEFAULT_SOURCE, _GNU_SOURCE or a POSIX
 * _POSIX_C_SOURCE, and with CMake's default -std=gnu11).
 */
#ifndef HUB_TESTS_CHECK_H
#define HUB_TESTS_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub.h"

static int check_passed, check_failed;

#ifndef CHECK_FAIL_END
#define CHECK_FAIL_END() printf("\n")
#endif

#define CHECK(cond, ...)                          \
  do {                                            \
    if (cond) {                                   \
      check_passed++;                             \
    } else {                                      \
      check_failed++;                             \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                        \
      CHECK_FAIL_END();                           \
    }                                             \
  } while (0)

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed ? 1 : 0;
}

/* ---- small helpers ---- */

/* Whether s contains sub. */
static inline int has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

#ifdef CLOCK_MONOTONIC
/* Monotonic time in milliseconds and in seconds. */
static inline long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
#endif

/* ---- tensors ---- */

/* A tensor's logical (row-major) values as doubles, whatever its strides and dtype; the caller
 * frees them. */
static inline double *values(const hub_tensor *t) {
  int64_t n = hub_tensor_numel(t);
  double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
  hub_tensor_read(t, v, -1);
  return v;
}

/* Whether t is a tensor of exactly this shape (0 for NULL). */
static inline int shape_is(const hub_tensor *t, int ndim, const int64_t *shape) {
  if (!t || t->ndim != ndim) return 0;
  for (int i = 0; i < ndim; i++)
    if (t->shape[i] != shape[i]) return 0;
  return 1;
}

/* Releases n tensors (NULL entries are skipped, as hub_tensor_release does). */
static inline void release_n(int n, hub_tensor **ts) {
  for (int i = 0; i < n; i++) hub_tensor_release(ts[i]);
}

#endif
