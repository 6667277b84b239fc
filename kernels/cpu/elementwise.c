/* elementwise.c - the CPU kernels for elementwise ops on any dtype: arithmetic on integers
 * (i + 1 on i64 stays i64), pow / fmod / remainder / minimum / maximum, comparisons and logical
 * ops (bool results), and the "map" functions neg, abs, sign, floor, ceil, round, logical_not;
 * plus masked_select and its backward, masked_scatter.
 *
 * The binary kernel receives a and b of one compute dtype (the op layer has promoted and
 * converted them, see hub_promote_types) already expanded to the output's shape, and walks the
 * strides with the iterator of strided.h.  Each compute dtype has its own loop (a macro
 * instantiated for float, double, int32, int64 and uint8 - u8 and bool share it), so integers are
 * computed exactly in their own width: + - * wrap around as in two's complement (done in unsigned
 * arithmetic, so there is no undefined behaviour), pow of integers is repeated squaring, fmod and
 * remainder of integers refuse a zero divisor with an error instead of a SIGFPE.  Comparisons
 * and logical ops write bool (0/1) bytes; arithmetic on bool operands writes (v != 0).
 * remainder follows Python / PyTorch (the sign of the divisor), fmod C (the sign of the dividend).
 * minimum / maximum propagate NaN as PyTorch does.  round is half to even (rint), as torch.round.
 */
#include <math.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/strided.h"

static int is_cmp(int op) { return op >= HUB_BIN_EQ && op <= HUB_BIN_OR; }

typedef struct any_ctx {
  const cpu_iter *it;
  int op, ct, out_bool;
  char *o;
  const char *a, *b;
  int err; /* 1: integer division by zero, 2: negative integer power */
} any_ctx;

/* Arithmetic for floats. */
static inline float f_pow(float x, float y) { return powf(x, y); }
static inline float f_rem(float x, float y) {
  float r = fmodf(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
static inline float f_min(float x, float y) { return (x != x || y != y) ? NAN : (x < y ? x : y); }
static inline float f_max(float x, float y) { return (x != x || y != y) ? NAN : (x > y ? x : y); }
/* The same for doubles (f64). */
static inline double d_rem(double x, double y) {
  double r = fmod(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
static inline double d_min(double x, double y) { return (x != x || y != y) ? NAN : (x < y ? x : y); }
static inline double d_max(double x, double y) { return (x != x || y != y) ? NAN : (x > y ? x : y); }
static inline double double_other(int op, double x, double y) {
  switch (op) {
  case HUB_BIN_DIV: return x / y;
  case HUB_BIN_POW: return pow(x, y);
  case HUB_BIN_FMOD: return fmod(x, y);
  default: return d_rem(x, y);
  }
}

/* One run for compute type T (UT: its unsigned twin for wrapping arithmetic). */
#define ANY_RUN(T, UT, ISF)                                                                       \
  static void run_##T(any_ctx *c, const int64_t *off, int64_t n) {                                \
    int last = c->it->nd - 1;                                                                     \
    int64_t so = c->it->stride[0][last], sa = c->it->stride[1][last], sb = c->it->stride[2][last]; \
    const T *a = (const T *)c->a + off[1], *b = (const T *)c->b + off[2];                        \
    if (is_cmp(c->op) || c->out_bool) {                                                           \
      uint8_t *o = (uint8_t *)c->o + off[0];                                                      \
      for (int64_t i = 0; i < n; i++) {                                                           \
        T x = a[i * sa], y = b[i * sb];                                                           \
        int r;                                                                                    \
        switch (c->op) {                                                                          \
        case HUB_BIN_EQ: r = x == y; break;                                                       \
        case HUB_BIN_NE: r = x != y; break;                                                       \
        case HUB_BIN_LT: r = x < y; break;                                                        \
        case HUB_BIN_LE: r = x <= y; break;                                                       \
        case HUB_BIN_GT: r = x > y; break;                                                        \
        case HUB_BIN_GE: r = x >= y; break;                                                       \
        case HUB_BIN_AND: r = x != 0 && y != 0; break;                                            \
        case HUB_BIN_OR: r = x != 0 || y != 0; break;                                             \
        case HUB_BIN_ADD: r = (x != 0) || (y != 0); break; /* bool + bool */                    \
        case HUB_BIN_MUL: r = (x != 0) && (y != 0); break;                                      \
        case HUB_BIN_MIN: r = (x != 0) && (y != 0); break;                                      \
        case HUB_BIN_MAX: r = (x != 0) || (y != 0); break;                                      \
        default: r = (x != 0) != (y != 0); break; /* sub and the rest: xor */                   \
        }                                                                                         \
        o[i * so] = (uint8_t)r;                                                                   \
      }                                                                                           \
      return;                                                                                     \
    }                                                                                             \
    T *o = (T *)c->o + off[0];                                                                    \
    for (int64_t i = 0; i < n; i++) {                                                             \
      T x = a[i * sa], y = b[i * sb], r;                                                          \
      switch (c->op) {                                                                            \
      case HUB_BIN_ADD: r = ISF ? (T)(x + y) : (T)((UT)x + (UT)y); break;                         \
      case HUB_BIN_SUB: r = ISF ? (T)(x - y) : (T)((UT)x - (UT)y); break;                         \
      case HUB_BIN_MUL: r = ISF ? (T)(x * y) : (T)((UT)x * (UT)y); break;                         \
      case HUB_BIN_MIN: r = ANY_MIN_##ISF(x, y); break;                                           \
      case HUB_BIN_MAX: r = ANY_MAX_##ISF(x, y); break;                                           \
      default: r = ANY_OTHER_##ISF(T, UT, c, x, y); break;                                        \
      }                                                                                           \
      o[i * so] = r;                                                                              \
    }                                                                                             \
  }

#define ANY_MIN_1(x, y) f_min(x, y)
#define ANY_MAX_1(x, y) f_max(x, y)
#define ANY_MIN_0(x, y) ((x) < (y) ? (x) : (y))
#define ANY_MAX_0(x, y) ((x) > (y) ? (x) : (y))
#define ANY_OTHER_1(T, UT, c, x, y) float_other((c)->op, x, y)
#define ANY_MIN_2(x, y) d_min(x, y)
#define ANY_MAX_2(x, y) d_max(x, y)
#define ANY_OTHER_2(T, UT, c, x, y) double_other((c)->op, x, y)
#define ANY_OTHER_0(T, UT, c, x, y) int_other_##T(c, x, y)

static inline float float_other(int op, float x, float y) {
  switch (op) {
  case HUB_BIN_DIV: return x / y;
  case HUB_BIN_POW: return f_pow(x, y);
  case HUB_BIN_FMOD: return fmodf(x, y);
  default: return f_rem(x, y);
  }
}

#define NEG_1(v) ((v) < 0)
#define NEG_0(v) 0

/* div (never reached: true division of integers is done in f32), pow, fmod, remainder. */
#define INT_OTHER(T, UT, SIGNED)                                                                  \
  static inline T int_other_##T(any_ctx *c, T x, T y) {                                           \
    switch (c->op) {                                                                              \
    case HUB_BIN_POW: {                                                                           \
      if (NEG_##SIGNED(y)) {                                                                      \
        if (x == 1) return 1;                                                                     \
        if (SIGNED && x == (T)-1) return (T)(((UT)-y & 1) ? -1 : 1);                              \
        __atomic_store_n(&c->err, 2, __ATOMIC_RELAXED);                                           \
        return 0;                                                                                 \
      }                                                                                           \
      UT r = 1, base = (UT)x;                                                                     \
      for (uint64_t e = (uint64_t)y; e; e >>= 1) {                                                \
        if (e & 1) r = (UT)(r * base);                                                            \
        base = (UT)(base * base);                                                                 \
      }                                                                                           \
      return (T)r;                                                                                \
    }                                                                                             \
    default: {                                                                                    \
      if (y == 0) {                                                                               \
        __atomic_store_n(&c->err, 1, __ATOMIC_RELAXED);                                           \
        return 0;                                                                                 \
      }                                                                                           \
      if (SIGNED && y == (T)-1) return 0; /* also avoids INT_MIN % -1 */                         \
      T r = (T)(x % y);                                                                           \
      if (c->op == HUB_BIN_REMAINDER && r != 0 && (NEG_##SIGNED(r) != NEG_##SIGNED(y))) r = (T)(r + y);          \
      return r;                                                                                   \
    }                                                                                             \
    }                                                                                             \
  }

INT_OTHER(int32_t, uint32_t, 1)
INT_OTHER(int64_t, uint64_t, 1)
INT_OTHER(uint8_t, uint8_t, 0)

ANY_RUN(float, float, 1)
ANY_RUN(double, double, 2)
ANY_RUN(int32_t, uint32_t, 0)
ANY_RUN(int64_t, uint64_t, 0)
ANY_RUN(uint8_t, uint8_t, 0)

static void any_run(void *vc, const int64_t *off, int64_t n) {
  any_ctx *c = vc;
  switch (c->ct) {
  case HUB_F32: run_float(c, off, n); break;
  case HUB_F64: run_double(c, off, n); break;
  case HUB_I32: run_int32_t(c, off, n); break;
  case HUB_I64: run_int64_t(c, off, n); break;
  default: run_uint8_t(c, off, n); break;
  }
}

static int supported(int dt) {
  return dt == HUB_F32 || dt == HUB_F64 || dt == HUB_I32 || dt == HUB_I64 || dt == HUB_U8 || dt == HUB_BOOL;
}

int cpu_binary_any(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out) {
  if (op < HUB_BIN_ADD || op > HUB_BIN_OR) return hub_err("binary: unknown op %d", op);
  if (a->dtype != b->dtype || !supported(a->dtype))
    return hub_err("binary: operands of dtypes %s and %s (expected one of f32, f64, i32, i64, u8, bool)",
                   hub_dtype_name(a->dtype), hub_dtype_name(b->dtype));
  int out_bool = is_cmp(op) || a->dtype == HUB_BOOL;
  if (out->dtype != (out_bool ? HUB_BOOL : a->dtype))
    return hub_err("binary: output dtype %s does not fit the op", hub_dtype_name(out->dtype));
  if (!hub_same_shape(a, out) || !hub_same_shape(b, out) || a->ndim != out->ndim || b->ndim != out->ndim)
    return hub_err("binary: operands do not have the output's shape");
  if (hub_tensor_numel(out) == 0) return 0;
  cpu_iter it;
  const int64_t *st[3] = {out->stride, a->stride, b->stride};
  cpu_iter_init(&it, out->ndim, out->shape, 3, st);
  any_ctx c = {&it, op, a->dtype, out_bool, out->data, a->data, b->data, 0};
  cpu_iter_run(&it, any_run, &c);
  if (c.err == 1) return hub_err("division by zero in an integer fmod/remainder");
  if (c.err == 2) return hub_err("integers to negative integer powers are not allowed");
  return 0;
}

/* ---- y = f(x) ---- */

typedef struct map_ctx {
  const cpu_iter *it;
  int op;
  char *y;
  const char *x;
} map_ctx;

static inline float f_sign(float v) { return v > 0 ? 1.0f : v < 0 ? -1.0f : v; }

#define MAP_RUN(T, ISF, SIGNED)                                                                   \
  static void map_##T(map_ctx *c, const int64_t *off, int64_t n) {                                \
    int last = c->it->nd - 1;                                                                     \
    int64_t sy = c->it->stride[0][last], sx = c->it->stride[1][last];                             \
    const T *x = (const T *)c->x + off[1];                                                        \
    if (c->op == HUB_MAP_NOT || c->op == HUB_MAP_TRUTH) {                                         \
      uint8_t *y = (uint8_t *)c->y + off[0];                                                      \
      int want = c->op == HUB_MAP_TRUTH;                                                          \
      for (int64_t i = 0; i < n; i++) y[i * sy] = (uint8_t)((x[i * sx] != 0) == want);           \
      return;                                                                                     \
    }                                                                                             \
    T *y = (T *)c->y + off[0];                                                                    \
    for (int64_t i = 0; i < n; i++) {                                                             \
      T v = x[i * sx], r;                                                                         \
      switch (c->op) {                                                                            \
      case HUB_MAP_NEG: r = ISF ? (T)-v : (T)(0 - (uint64_t)v); break;                            \
      case HUB_MAP_ABS: r = ISF ? (T)fabsf((float)v) : NEG_##SIGNED(v) ? (T)(0 - (uint64_t)v) : v; break; \
      case HUB_MAP_SIGN: r = ISF ? (T)f_sign((float)v) : (T)(v > 0 ? 1 : NEG_##SIGNED(v) ? -1 : 0); break; \
      case HUB_MAP_FLOOR: r = ISF ? (T)floorf((float)v) : v; break;                               \
      case HUB_MAP_CEIL: r = ISF ? (T)ceilf((float)v) : v; break;                                 \
      default: r = ISF ? (T)rintf((float)v) : v; break; /* round: half to even */                \
      }                                                                                           \
      y[i * sy] = r;                                                                              \
    }                                                                                             \
  }

MAP_RUN(float, 1, 1)

static void map_double(map_ctx *c, const int64_t *off, int64_t n) {
  int last = c->it->nd - 1;
  int64_t sy = c->it->stride[0][last], sx = c->it->stride[1][last];
  const double *x = (const double *)c->x + off[1];
  if (c->op == HUB_MAP_NOT || c->op == HUB_MAP_TRUTH) {
    uint8_t *y = (uint8_t *)c->y + off[0];
    int want = c->op == HUB_MAP_TRUTH;
    for (int64_t i = 0; i < n; i++) y[i * sy] = (uint8_t)((x[i * sx] != 0) == want);
    return;
  }
  double *y = (double *)c->y + off[0];
  for (int64_t i = 0; i < n; i++) {
    double v = x[i * sx];
    switch (c->op) {
    case HUB_MAP_NEG: v = -v; break;
    case HUB_MAP_ABS: v = fabs(v); break;
    case HUB_MAP_SIGN: v = v > 0 ? 1.0 : v < 0 ? -1.0 : v; break;
    case HUB_MAP_FLOOR: v = floor(v); break;
    case HUB_MAP_CEIL: v = ceil(v); break;
    default: v = rint(v); break;
    }
    y[i * sy] = v;
  }
}
MAP_RUN(int32_t, 0, 1)
MAP_RUN(int64_t, 0, 1)
MAP_RUN(uint8_t, 0, 0)

typedef struct map_outer {
  map_ctx m;
  int dt;
} map_outer;

static void map_dispatch(void *vc, const int64_t *off, int64_t n) {
  map_outer *c = vc;
  switch (c->dt) {
  case HUB_F32: map_float(&c->m, off, n); break;
  case HUB_F64: map_double(&c->m, off, n); break;
  case HUB_I32: map_int32_t(&c->m, off, n); break;
  case HUB_I64: map_int64_t(&c->m, off, n); break;
  default: map_uint8_t(&c->m, off, n); break;
  }
}

int cpu_map(int op, const hub_tensor *x, hub_tensor *y) {
  if (op < HUB_MAP_NEG || op > HUB_MAP_TRUTH) return hub_err("map: unknown op %d", op);
  if (!supported(x->dtype)) return hub_err("map: unsupported dtype %s", hub_dtype_name(x->dtype));
  int want = (op == HUB_MAP_NOT || op == HUB_MAP_TRUTH) ? HUB_BOOL : x->dtype;
  if (y->dtype != want) return hub_err("map: output dtype %s, expected %s", hub_dtype_name(y->dtype), hub_dtype_name(want));
  if (x->ndim != y->ndim || !hub_same_shape(x, y)) return hub_err("map: shapes differ");
  if (hub_tensor_numel(y) == 0) return 0;
  cpu_iter it;
  const int64_t *st[2] = {y->stride, x->stride};
  cpu_iter_init(&it, y->ndim, y->shape, 2, st);
  map_outer c = {{&it, op, y->data, x->data}, x->dtype};
  cpu_iter_run(&it, map_dispatch, &c);
  return 0;
}

/* ---- masked_select / masked_scatter (contiguous operands, one pass in order) ---- */

int cpu_masked_select(const hub_tensor *x, const hub_tensor *mask, hub_tensor *out) {
  int64_t n = hub_tensor_numel(x), k = 0, cap = hub_tensor_numel(out);
  size_t sz = hub_dtype_size(x->dtype);
  const uint8_t *m = mask->data;
  const char *xp = x->data;
  char *op = out->data;
  for (int64_t i = 0; i < n; i++)
    if (m[i]) {
      if (k >= cap) return hub_err("masked_select: output too small");
      memcpy(op + (size_t)k * sz, xp + (size_t)i * sz, sz);
      k++;
    }
  return 0;
}

int cpu_masked_scatter(hub_tensor *dst, const hub_tensor *mask, const hub_tensor *src) {
  int64_t n = hub_tensor_numel(dst), k = 0, cap = hub_tensor_numel(src);
  size_t sz = hub_dtype_size(dst->dtype);
  if (src->dtype != dst->dtype) return hub_err("masked_scatter: dtypes differ");
  const uint8_t *m = mask->data;
  char *dp = dst->data;
  const char *sp = src->data;
  for (int64_t i = 0; i < n; i++)
    if (m[i]) {
      if (k >= cap) return hub_err("masked_scatter: source too small");
      memcpy(dp + (size_t)i * sz, sp + (size_t)k * sz, sz);
      k++;
    }
  return 0;
}
