/* copy.c - the CPU copy and fill kernels: dst = src with any strides and any pair of dtypes,
 * and t = v.
 *
 * A contiguous copy between tensors of the same dtype is a memcpy (split between threads when
 * large); a transposed or permuted source is copied in cache-sized tiles (see transposes).  Everything else walks the operands with the strided iterator of strided.h, which
 * coalesces dimensions and hands out runs along the innermost one.  Within a run, a copy
 * between equal dtypes moves raw elements of 1, 2, 4 or 8 bytes; a conversion goes through a
 * small buffer of doubles (load from the source dtype, store into the destination dtype), so
 * that there are 8 + 8 loops rather than 64; f32 <-> f16 / bf16, the pairs that weights take,
 * convert directly (with the F16C instructions when the CPU has them).  f16 and bf16 go through hub_half_to_float and
 * friends; float to integer conversion truncates toward zero, clamps to the integer range and
 * maps NaN to 0; anything non-zero (NaN included) becomes true as bool.
 */
#include <math.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/strided.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_F16C_PATH 1
#endif

enum { BUF = 256 };

static void load(double *buf, const void *p, int64_t st, int64_t n, int dt) {
  switch (dt) {
  case HUB_F32: {
    const float *s = p;
    for (int64_t i = 0; i < n; i++) buf[i] = s[i * st];
    break;
  }
  case HUB_F16: {
    const uint16_t *s = p;
    for (int64_t i = 0; i < n; i++) buf[i] = hub_half_to_float(s[i * st]);
    break;
  }
  case HUB_BF16: {
    const uint16_t *s = p;
    for (int64_t i = 0; i < n; i++) buf[i] = hub_bf16_to_float(s[i * st]);
    break;
  }
  case HUB_I32: {
    const int32_t *s = p;
    for (int64_t i = 0; i < n; i++) buf[i] = s[i * st];
    break;
  }
  case HUB_I64: {
    const int64_t *s = p;
    for (int64_t i = 0; i < n; i++) buf[i] = (double)s[i * st];
    break;
  }
  case HUB_U8:
  case HUB_BOOL: {
    const uint8_t *s = p;
    for (int64_t i = 0; i < n; i++) buf[i] = s[i * st];
    break;
  }
  case HUB_F64: {
    const double *s = p;
    for (int64_t i = 0; i < n; i++) buf[i] = s[i * st];
    break;
  }
  }
}

static inline int64_t to_i64(double v) {
  if (!(v == v)) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

static inline int32_t to_i32(double v) {
  if (!(v == v)) return 0;
  if (v >= 2147483647.0) return INT32_MAX;
  if (v <= -2147483648.0) return INT32_MIN;
  return (int32_t)v;
}

static void store(void *p, int64_t st, const double *buf, int64_t n, int dt) {
  switch (dt) {
  case HUB_F32: {
    float *d = p;
    for (int64_t i = 0; i < n; i++) d[i * st] = (float)buf[i];
    break;
  }
  case HUB_F16: {
    uint16_t *d = p;
    for (int64_t i = 0; i < n; i++) d[i * st] = hub_float_to_half((float)buf[i]);
    break;
  }
  case HUB_BF16: {
    uint16_t *d = p;
    for (int64_t i = 0; i < n; i++) d[i * st] = hub_float_to_bf16((float)buf[i]);
    break;
  }
  case HUB_I32: {
    int32_t *d = p;
    for (int64_t i = 0; i < n; i++) d[i * st] = to_i32(buf[i]);
    break;
  }
  case HUB_I64: {
    int64_t *d = p;
    for (int64_t i = 0; i < n; i++) d[i * st] = to_i64(buf[i]);
    break;
  }
  case HUB_U8: {
    uint8_t *d = p;
    for (int64_t i = 0; i < n; i++) d[i * st] = (uint8_t)(uint64_t)to_i64(buf[i]);
    break;
  }
  case HUB_BOOL: {
    uint8_t *d = p;
    for (int64_t i = 0; i < n; i++) d[i * st] = buf[i] != 0;
    break;
  }
  case HUB_F64: {
    double *d = p;
    for (int64_t i = 0; i < n; i++) d[i * st] = buf[i];
    break;
  }
  }
}

/* Raw element moves for equal dtypes. */
#define MOVE(T)                                                      \
  do {                                                               \
    T *d = dp;                                                       \
    const T *s = sp;                                                 \
    if (ds == 1 && ss == 1)                                          \
      memcpy(d, s, (size_t)n * sizeof(T));                           \
    else if (ss == 0)                                                \
      for (int64_t i = 0; i < n; i++) d[i * ds] = s[0];              \
    else                                                             \
      for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];         \
  } while (0)

/* ---- direct f32 <-> f16 / bf16 runs (weights are widened on load; this is the hot pair) ---- */

static inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static inline uint16_t f32_to_bf16(float f) { /* as hub_float_to_bf16: nearest even, quiet NaN */
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

#ifdef HAVE_F16C_PATH
/* F16C converts 8 values per instruction with IEEE round-to-nearest-even, the same results as
 * hub_float_to_half / hub_half_to_float (NaN payloads aside). */
__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(float *d, const uint16_t *s, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
  for (; i < n; i++) d[i] = hub_half_to_float(s[i]);
}

__attribute__((target("avx,f16c"))) static void f32_to_f16_f16c(uint16_t *d, const float *s, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) d[i] = hub_float_to_half(s[i]);
}

static int have_f16c(void) {
  static int cached = -1;
  int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (c < 0) {
    __builtin_cpu_init();
    /* f16c from cpuid (clang's __builtin_cpu_supports does not know it); avx from the builtin,
     * which also checks that the OS saves the ymm registers */
    unsigned a, b, cx, d;
    c = __get_cpuid(1, &a, &b, &cx, &d) && (cx & bit_F16C) && __builtin_cpu_supports("avx");
    __atomic_store_n(&cached, c, __ATOMIC_RELAXED);
  }
  return c;
}
#endif

/* 1 when the run was converted here. */
static int float_run(void *dp, int64_t ds, int ddt, const void *sp, int64_t ss, int sdt, int64_t n) {
  if (ddt == HUB_F32 && sdt == HUB_BF16) {
    float *d = dp;
    const uint16_t *s = sp;
    for (int64_t i = 0; i < n; i++) d[i * ds] = bf16_to_f32(s[i * ss]);
    return 1;
  }
  if (ddt == HUB_BF16 && sdt == HUB_F32) {
    uint16_t *d = dp;
    const float *s = sp;
    for (int64_t i = 0; i < n; i++) d[i * ds] = f32_to_bf16(s[i * ss]);
    return 1;
  }
#ifdef HAVE_F16C_PATH
  if (ds == 1 && ss == 1 && have_f16c()) {
    if (ddt == HUB_F32 && sdt == HUB_F16) {
      f16_to_f32_f16c(dp, sp, n);
      return 1;
    }
    if (ddt == HUB_F16 && sdt == HUB_F32) {
      f32_to_f16_f16c(dp, sp, n);
      return 1;
    }
  }
#endif
  return 0;
}

typedef struct copy_ctx {
  const cpu_iter *it;
  char *dst;
  const char *src;
  int ddt, sdt;
  size_t dsz, ssz;
} copy_ctx;

static void copy_run(void *vc, const int64_t *off, int64_t n) {
  copy_ctx *c = vc;
  int64_t ds = c->it->stride[0][c->it->nd - 1], ss = c->it->stride[1][c->it->nd - 1];
  void *dp = c->dst + off[0] * (int64_t)c->dsz;
  const void *sp = c->src + off[1] * (int64_t)c->ssz;
  if (c->ddt == c->sdt) {
    switch (c->dsz) {
    case 1: MOVE(uint8_t); break;
    case 2: MOVE(uint16_t); break;
    case 4: MOVE(uint32_t); break;
    default: MOVE(uint64_t); break;
    }
    return;
  }
  if (float_run(dp, ds, c->ddt, sp, ss, c->sdt, n)) return;
  double buf[BUF];
  for (int64_t i = 0; i < n; i += BUF) {
    int64_t m = n - i < BUF ? n - i : BUF;
    load(buf, (const char *)sp + i * ss * (int64_t)c->ssz, ss, m, c->sdt);
    store((char *)dp + i * ds * (int64_t)c->dsz, ds, buf, m, c->ddt);
  }
}

/* ---- transposes ----
 * When the destination runs along its innermost dimension and the source has stride 1 along
 * another one (contiguous() of a transposed or permuted view), a row-by-row copy reads the
 * source with a large stride and misses the cache on every element.  Instead, that source
 * dimension is moved next to the innermost one and the pair is copied in TILE x TILE blocks,
 * which stay in cache while they are read in one order and written in the other. */
enum { TILE = 32 };

#define TILE_COPY(T)                                                                     \
  do {                                                                                   \
    T *d = (T *)dst + od;                                                                \
    const T *s = (const T *)src + os;                                                    \
    for (int64_t r = r0; r < r1; r++)                                                    \
      for (int64_t c = c0; c < c1; c++) d[r * dR + c] = s[r + c * sC];                   \
  } while (0)

static int transpose_copy(const cpu_iter *it0, char *dst, const char *src, size_t sz) {
  int nd = it0->nd, last = nd - 1, k = -1;
  if (nd < 2 || it0->stride[0][last] != 1 || it0->stride[1][last] == 1) return 0;
  for (int d = 0; d < last; d++)
    if (it0->stride[1][d] == 1) k = d;
  if (k < 0) return 0;
  cpu_iter it = *it0; /* move dimension k just before the innermost one */
  for (int d = k; d < nd - 2; d++) {
    it.shape[d] = it0->shape[d + 1];
    it.stride[0][d] = it0->stride[0][d + 1];
    it.stride[1][d] = it0->stride[1][d + 1];
  }
  it.shape[nd - 2] = it0->shape[k];
  it.stride[0][nd - 2] = it0->stride[0][k];
  it.stride[1][nd - 2] = it0->stride[1][k];
  int64_t R = it.shape[nd - 2], C = it.shape[last], dR = it.stride[0][nd - 2], sC = it.stride[1][last];
  int64_t outer = 1;
  for (int d = 0; d < nd - 2; d++) outer *= it.shape[d];
  int64_t tr = (R + TILE - 1) / TILE, tc = (C + TILE - 1) / TILE, tiles = outer * tr * tc;
#pragma omp parallel for schedule(static) if (outer * R * C >= CPU_PAR_MIN)
  for (int64_t t = 0; t < tiles; t++) {
    int64_t o = t / (tr * tc), rest = t % (tr * tc);
    int64_t r0 = rest / tc * TILE, c0 = rest % tc * TILE;
    int64_t r1 = r0 + TILE < R ? r0 + TILE : R, c1 = c0 + TILE < C ? c0 + TILE : C;
    int64_t od = 0, os = 0;
    for (int d = nd - 3; d >= 0; d--) {
      int64_t i = o % it.shape[d];
      o /= it.shape[d];
      od += i * it.stride[0][d];
      os += i * it.stride[1][d];
    }
    switch (sz) {
    case 1: TILE_COPY(uint8_t); break;
    case 2: TILE_COPY(uint16_t); break;
    case 4: TILE_COPY(uint32_t); break;
    default: TILE_COPY(uint64_t); break;
    }
  }
  return 1;
}

static int check_dtype(const char *op, int dt) {
  if (dt < 0 || dt >= HUB_DTYPE_COUNT) return hub_err("%s: unknown dtype %d", op, dt);
  return 0;
}

int cpu_copy(hub_tensor *dst, const hub_tensor *src) {
  if (check_dtype("copy", dst->dtype) || check_dtype("copy", src->dtype)) return -1;
  if (dst->ndim != src->ndim || !hub_same_shape(dst, src)) {
    char s1[128], s2[128];
    return hub_err("copy: shapes %s and %s differ", hub_shape_str(dst, s1, sizeof s1),
                   hub_shape_str(src, s2, sizeof s2));
  }
  int64_t n = hub_tensor_numel(dst);
  if (n == 0) return 0;
  if (dst->data == src->data && dst->dtype == src->dtype &&
      !memcmp(dst->stride, src->stride, sizeof(int64_t) * (size_t)dst->ndim))
    return 0; /* copying a tensor onto itself */
  size_t dsz = hub_dtype_size(dst->dtype), ssz = hub_dtype_size(src->dtype);
  if (dst->dtype == src->dtype && hub_tensor_is_contiguous(dst) && hub_tensor_is_contiguous(src)) {
    char *d = dst->data;
    const char *s = src->data;
    size_t bytes = (size_t)n * dsz;
#pragma omp parallel if (n >= 4 * CPU_PAR_MIN)
    {
      int64_t b, e;
      cpu_thread_range((int64_t)bytes, &b, &e);
      if (e > b) memcpy(d + b, s + b, (size_t)(e - b));
    }
    return 0;
  }
  cpu_iter it;
  const int64_t *st[2] = {dst->stride, src->stride};
  cpu_iter_init(&it, dst->ndim, dst->shape, 2, st);
  if (dst->dtype == src->dtype && transpose_copy(&it, dst->data, src->data, dsz)) return 0;
  copy_ctx c = {&it, dst->data, src->data, dst->dtype, src->dtype, dsz, ssz};
  cpu_iter_run(&it, copy_run, &c);
  return 0;
}

/* ---- fill ---- */

typedef struct fill_ctx {
  const cpu_iter *it;
  char *dst;
  size_t sz;
  uint64_t bits; /* the value's bytes in the tensor's dtype */
} fill_ctx;

#define FILL(T)                                                      \
  do {                                                               \
    T *d = (T *)p, v;                                                \
    memcpy(&v, &c->bits, sizeof v);                                  \
    if (st == 1)                                                     \
      for (int64_t i = 0; i < n; i++) d[i] = v;                      \
    else                                                             \
      for (int64_t i = 0; i < n; i++) d[i * st] = v;                 \
  } while (0)

static void fill_run(void *vc, const int64_t *off, int64_t n) {
  fill_ctx *c = vc;
  int64_t st = c->it->stride[0][c->it->nd - 1];
  char *p = c->dst + off[0] * (int64_t)c->sz;
  switch (c->sz) {
  case 1: FILL(uint8_t); break;
  case 2: FILL(uint16_t); break;
  case 4: FILL(uint32_t); break;
  default: FILL(uint64_t); break;
  }
}

int cpu_fill(hub_tensor *t, double v) {
  if (check_dtype("fill", t->dtype)) return -1;
  if (hub_tensor_numel(t) == 0) return 0;
  fill_ctx c = {NULL, t->data, hub_dtype_size(t->dtype), 0};
  store(&c.bits, 1, &v, 1, t->dtype); /* the value's bytes, read back by FILL */
  cpu_iter it;
  const int64_t *st[1] = {t->stride};
  cpu_iter_init(&it, t->ndim, t->shape, 1, st);
  c.it = &it;
  cpu_iter_run(&it, fill_run, &c);
  return 0;
}
