/* anydtype.cu - the CUDA kernels for elementwise ops on dtypes other than f32, with the semantics of
 * kernels/cpu/elementwise.c and kernels/cpu/f64.c:
 *   - binary_any: + - * / pow fmod remainder minimum maximum, comparisons and logical ops on f32,
 *     f64, i32, i64, u8 and bool operands of one dtype (comparisons, logical ops and bool operands
 *     give bool).  Integers wrap in two's complement (unsigned arithmetic), integer pow is
 *     repeated squaring, an integer fmod/remainder by zero or a negative integer power is an error
 *     (a flag on the device read back after the launch, only for those ops), remainder takes the
 *     divisor's sign (Python), fmod the dividend's (C), minimum/maximum propagate NaN.
 *   - map: neg abs sign floor ceil round (half to even) logical_not truth on the same dtypes.
 *   - unary_f64 and its backward: the functions of the f32 `unary` slot in double.
 * Operands are strided views walked with common.cuh's Geo, one thread per element.
 */
#include "common.cuh"

using namespace hubcu;

namespace {

template <class T> struct Unsigned { typedef T type; };
template <> struct Unsigned<int32_t> { typedef uint32_t type; };
template <> struct Unsigned<int64_t> { typedef uint64_t type; };

template <class T> struct IsFloat { enum { value = 0 }; };
template <> struct IsFloat<float> { enum { value = 1 }; };
template <> struct IsFloat<double> { enum { value = 1 }; };

template <class T> struct IsSigned { enum { value = 1 }; };
template <> struct IsSigned<uint8_t> { enum { value = 0 }; };

template <class T> __device__ __forceinline__ bool is_neg(T v) { return v < (T)0; }
template <> __device__ __forceinline__ bool is_neg<uint8_t>(uint8_t) { return false; }

/* div, pow, fmod, remainder of floats (float: the f32 functions, as the CPU's powf/fmodf). */
template <class T>
__device__ __forceinline__ T f_other(int op, T x, T y) {
  switch (op) {
  case HUB_BIN_DIV: return x / y;
  case HUB_BIN_POW: return pow(x, y);
  case HUB_BIN_FMOD: return fmod(x, y);
  default: {
    T r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
  }
  }
}

/* Integer pow / fmod / remainder; *err: 1 division by zero, 2 negative power. */
template <class T>
__device__ T int_other(int op, T x, T y, int *err) {
  typedef typename Unsigned<T>::type UT;
  const bool sgn = IsSigned<T>::value;
  if (op == HUB_BIN_POW) {
    if (is_neg(y)) {
      if (x == 1) return 1;
      if (sgn && x == (T)-1) return (T)((((UT)0 - (UT)y) & 1) ? -1 : 1);
      atomicExch(err, 2);
      return 0;
    }
    UT r = 1, base = (UT)x;
    for (uint64_t e = (uint64_t)y; e; e >>= 1) {
      if (e & 1) r = (UT)(r * base);
      base = (UT)(base * base);
    }
    return (T)r;
  }
  if (y == 0) {
    atomicExch(err, 1);
    return 0;
  }
  if (sgn && y == (T)-1) return 0; /* also INT_MIN % -1 */
  T r = (T)(x % y);
  if (op == HUB_BIN_REMAINDER && r != 0 && is_neg(r) != is_neg(y)) r = (T)(r + y);
  return r;
}

/* Arithmetic and the map functions: one struct for the floats, one for the integers. */
template <class T, int F = IsFloat<T>::value> struct Ops;

template <class T> struct Ops<T, 1> {
  static __device__ __forceinline__ T arith(int op, T x, T y, int *) {
    switch (op) {
    case HUB_BIN_ADD: return x + y;
    case HUB_BIN_SUB: return x - y;
    case HUB_BIN_MUL: return x * y;
    case HUB_BIN_MIN: return (x != x || y != y) ? (T)NAN : (x < y ? x : y);
    case HUB_BIN_MAX: return (x != x || y != y) ? (T)NAN : (x > y ? x : y);
    default: return f_other(op, x, y);
    }
  }
  static __device__ __forceinline__ T map(int op, T v) {
    switch (op) {
    case HUB_MAP_NEG: return -v;
    case HUB_MAP_ABS: return (T)fabs((double)v);
    case HUB_MAP_SIGN: return v > 0 ? (T)1 : v < 0 ? (T)-1 : v;
    case HUB_MAP_FLOOR: return (T)floor((double)v);
    case HUB_MAP_CEIL: return (T)ceil((double)v);
    default: return (T)rint((double)v); /* half to even */
    }
  }
};

template <class T> struct Ops<T, 0> {
  typedef typename Unsigned<T>::type UT;
  static __device__ __forceinline__ T arith(int op, T x, T y, int *err) {
    switch (op) {
    case HUB_BIN_ADD: return (T)((UT)x + (UT)y);
    case HUB_BIN_SUB: return (T)((UT)x - (UT)y);
    case HUB_BIN_MUL: return (T)((UT)x * (UT)y);
    case HUB_BIN_MIN: return x < y ? x : y;
    case HUB_BIN_MAX: return x > y ? x : y;
    default: return int_other(op, x, y, err);
    }
  }
  static __device__ __forceinline__ T map(int op, T v) {
    switch (op) {
    case HUB_MAP_NEG: return (T)((UT)0 - (UT)v);
    case HUB_MAP_ABS: return is_neg(v) ? (T)((UT)0 - (UT)v) : v;
    case HUB_MAP_SIGN: return (T)(is_neg(v) ? -1 : v != 0 ? 1 : 0);
    default: return v; /* floor, ceil, round of an integer */
    }
  }
};

__device__ __forceinline__ int bool_of(int op, bool x, bool y) {
  switch (op) {
  case HUB_BIN_ADD:
  case HUB_BIN_MAX: return x || y;
  case HUB_BIN_MUL:
  case HUB_BIN_MIN: return x && y;
  default: return x != y; /* sub and the rest: xor */
  }
}

template <class T>
__global__ void k_binary_any(Geo g, int64_t n, int op, int out_bool, void *out, const T *a, const T *b, int *err) {
  HUB_GRID_LOOP(i, n) {
    int64_t off[3];
    geo_offsets<3>(g, i, off);
    T x = a[off[1]], y = b[off[2]];
    if (out_bool) {
      int r;
      switch (op) {
      case HUB_BIN_EQ: r = x == y; break;
      case HUB_BIN_NE: r = x != y; break;
      case HUB_BIN_LT: r = x < y; break;
      case HUB_BIN_LE: r = x <= y; break;
      case HUB_BIN_GT: r = x > y; break;
      case HUB_BIN_GE: r = x >= y; break;
      case HUB_BIN_AND: r = x != 0 && y != 0; break;
      case HUB_BIN_OR: r = x != 0 || y != 0; break;
      default: r = bool_of(op, x != 0, y != 0); break;
      }
      ((uint8_t *)out)[off[0]] = (uint8_t)r;
    } else {
      ((T *)out)[off[0]] = Ops<T>::arith(op, x, y, err);
    }
  }
}

template <class T>
__global__ void k_map(Geo g, int64_t n, int op, void *y, const T *x) {
  HUB_GRID_LOOP(i, n) {
    int64_t off[2];
    geo_offsets<2>(g, i, off);
    T v = x[off[1]];
    if (op == HUB_MAP_NOT || op == HUB_MAP_TRUTH) ((uint8_t *)y)[off[0]] = (uint8_t)((v != 0) == (op == HUB_MAP_TRUTH));
    else ((T *)y)[off[0]] = Ops<T>::map(op, v);
  }
}

/* ---- f64 unary functions (kernels/cpu/f64.c's formulas) ---- */

__device__ __forceinline__ double gelu_tanh_e64(double v) {
  double u = 0.79788456080286535588 * (v + 0.044715 * v * v * v);
  u = fmin(fmax(u, -350.0), 350.0);
  return exp(-2 * u);
}

__device__ __forceinline__ double f64_fwd(int op, double v, double alpha, double beta) {
  switch (op) {
  case HUB_UN_NEG: return -v;
  case HUB_UN_EXP: return exp(v);
  case HUB_UN_LOG: return log(v);
  case HUB_UN_SQRT: return sqrt(v);
  case HUB_UN_RSQRT: return 1 / sqrt(v);
  case HUB_UN_ABS: return fabs(v);
  case HUB_UN_RELU: return v < 0 ? 0 : v;
  case HUB_UN_TANH: return tanh(v);
  case HUB_UN_SIGMOID: return 1 / (1 + exp(-v));
  case HUB_UN_GELU_ERF: return 0.5 * v * erfc(-v * 0.70710678118654752440);
  case HUB_UN_GELU_TANH: return v / (1 + gelu_tanh_e64(v));
  case HUB_UN_POW: return pow(v, alpha);
  case HUB_UN_LINEAR: return alpha * v + beta;
  default: return alpha / v; /* HUB_UN_RECIP */
  }
}

__device__ __forceinline__ double f64_deriv(int op, double v, double alpha) {
  switch (op) {
  case HUB_UN_NEG: return -1;
  case HUB_UN_EXP: return exp(v);
  case HUB_UN_LOG: return 1 / v;
  case HUB_UN_SQRT: return 0.5 / sqrt(v);
  case HUB_UN_RSQRT: {
    double r = 1 / sqrt(v);
    return -0.5 * r * r * r;
  }
  case HUB_UN_ABS: return v > 0 ? 1 : v < 0 ? -1 : 0;
  case HUB_UN_RELU: return v > 0 ? 1 : 0;
  case HUB_UN_TANH: {
    double c = cosh(v);
    return 1 / (c * c);
  }
  case HUB_UN_SIGMOID: {
    double e = exp(-fabs(v));
    return e / ((1 + e) * (1 + e));
  }
  case HUB_UN_GELU_ERF: return 0.5 * erfc(-v * 0.70710678118654752440) + v * 0.39894228040143267794 * exp(-0.5 * v * v);
  case HUB_UN_GELU_TANH: {
    double e = gelu_tanh_e64(v), s = 1 / (1 + e), sm = e / (1 + e);
    return s + 2 * v * s * sm * 0.79788456080286535588 * (1 + 3 * 0.044715 * v * v);
  }
  case HUB_UN_POW: return alpha == 0 ? 0 : alpha * pow(v, alpha - 1);
  case HUB_UN_LINEAR: return alpha;
  default: return -alpha / (v * v);
  }
}

__global__ void k_unary_f64(int64_t n, int op, const double *x, double *y, double alpha, double beta) {
  HUB_GRID_LOOP(i, n) y[i] = f64_fwd(op, x[i], alpha, beta);
}

__global__ void k_unary_f64_bw(int64_t n, int op, const double *x, const double *gy, double *gx, double alpha) {
  HUB_GRID_LOOP(i, n) gx[i] = gy[i] * f64_deriv(op, x[i], alpha);
}

bool supported(int dt) {
  return dt == HUB_F32 || dt == HUB_F64 || dt == HUB_I32 || dt == HUB_I64 || dt == HUB_U8 || dt == HUB_BOOL;
}

template <class T>
void launch_binary(const Geo &g, int64_t n, int op, int out_bool, hub_tensor *out, const hub_tensor *a,
                   const hub_tensor *b, int *err) {
  k_binary_any<T><<<blocks_for(n), THREADS, 0, stream()>>>(g, n, op, out_bool, out->data, (const T *)a->data,
                                                          (const T *)b->data, err);
}

template <class T>
void launch_map(const Geo &g, int64_t n, int op, hub_tensor *y, const hub_tensor *x) {
  k_map<T><<<blocks_for(n), THREADS, 0, stream()>>>(g, n, op, y->data, (const T *)x->data);
}

int check_f64(const char *op, const hub_tensor *t, const hub_tensor *like) {
  if (t->dtype != HUB_F64) return hub_err("%s: expected an f64 tensor, got %s", op, hub_dtype_name(t->dtype));
  if (on_device(op, t)) return -1;
  if (!hub_tensor_is_contiguous(t)) return hub_err("%s: expected a contiguous tensor", op);
  if (hub_tensor_numel(t) != hub_tensor_numel(like)) return hub_err("%s: sizes of the operands differ", op);
  return 0;
}

} // namespace

extern "C" {

int cuda_binary_any(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out) {
  if (op < HUB_BIN_ADD || op > HUB_BIN_OR) return hub_err("binary: unknown op %d", op);
  if (a->dtype != b->dtype || !supported(a->dtype))
    return hub_err("binary: operands of dtypes %s and %s (expected one of f32, f64, i32, i64, u8, bool)",
                   hub_dtype_name(a->dtype), hub_dtype_name(b->dtype));
  int out_bool = (op >= HUB_BIN_EQ && op <= HUB_BIN_OR) || a->dtype == HUB_BOOL;
  if (out->dtype != (out_bool ? HUB_BOOL : a->dtype))
    return hub_err("binary: output dtype %s does not fit the op", hub_dtype_name(out->dtype));
  if (!hub_same_shape(a, out) || !hub_same_shape(b, out) || a->ndim != out->ndim || b->ndim != out->ndim)
    return hub_err("binary: operands do not have the output's shape");
  if (on_device("binary", a) || on_device("binary", b) || on_device("binary", out)) return -1;
  int64_t n = hub_tensor_numel(out);
  if (n == 0) return 0;
  /* integer pow / fmod / remainder can fail: a flag on the device, read back after the launch */
  int checked = !out_bool && (a->dtype == HUB_I32 || a->dtype == HUB_I64 || a->dtype == HUB_U8) &&
                (op == HUB_BIN_POW || op == HUB_BIN_FMOD || op == HUB_BIN_REMAINDER);
  int *err = NULL;
  if (checked) {
    err = (int *)cuda_alloc(sizeof(int));
    if (!err || cuda_memset(err, 0, sizeof(int))) {
      if (err) cuda_free(err, sizeof(int));
      return -1;
    }
  }
  Geo g;
  const int64_t *st[3] = {out->stride, a->stride, b->stride};
  geo_init(&g, out->ndim, out->shape, 3, st);
  switch (a->dtype) {
  case HUB_F32: launch_binary<float>(g, n, op, out_bool, out, a, b, err); break;
  case HUB_F64: launch_binary<double>(g, n, op, out_bool, out, a, b, err); break;
  case HUB_I32: launch_binary<int32_t>(g, n, op, out_bool, out, a, b, err); break;
  case HUB_I64: launch_binary<int64_t>(g, n, op, out_bool, out, a, b, err); break;
  default: launch_binary<uint8_t>(g, n, op, out_bool, out, a, b, err); break;
  }
  int rc = cuda_check("binary"), flag = 0;
  if (err) {
    if (rc == 0) rc = cuda_copy_out(&flag, err, sizeof(int));
    cuda_free(err, sizeof(int));
  }
  if (rc) return -1;
  if (flag == 1) return hub_err("division by zero in an integer fmod/remainder");
  if (flag == 2) return hub_err("integers to negative integer powers are not allowed");
  return 0;
}

int cuda_map(int op, const hub_tensor *x, hub_tensor *y) {
  if (op < HUB_MAP_NEG || op > HUB_MAP_TRUTH) return hub_err("map: unknown op %d", op);
  if (!supported(x->dtype)) return hub_err("map: unsupported dtype %s", hub_dtype_name(x->dtype));
  int want = (op == HUB_MAP_NOT || op == HUB_MAP_TRUTH) ? HUB_BOOL : x->dtype;
  if (y->dtype != want) return hub_err("map: output dtype %s, expected %s", hub_dtype_name(y->dtype), hub_dtype_name(want));
  if (x->ndim != y->ndim || !hub_same_shape(x, y)) return hub_err("map: shapes differ");
  if (on_device("map", x) || on_device("map", y)) return -1;
  int64_t n = hub_tensor_numel(y);
  if (n == 0) return 0;
  Geo g;
  const int64_t *st[2] = {y->stride, x->stride};
  geo_init(&g, y->ndim, y->shape, 2, st);
  switch (x->dtype) {
  case HUB_F32: launch_map<float>(g, n, op, y, x); break;
  case HUB_F64: launch_map<double>(g, n, op, y, x); break;
  case HUB_I32: launch_map<int32_t>(g, n, op, y, x); break;
  case HUB_I64: launch_map<int64_t>(g, n, op, y, x); break;
  default: launch_map<uint8_t>(g, n, op, y, x); break;
  }
  return cuda_check("map");
}

int cuda_unary_f64(int op, const hub_tensor *x, hub_tensor *y, double alpha, double beta) {
  if (op < 0 || op >= HUB_UN_COUNT) return hub_err("unary: unknown op %d", op);
  if (check_f64("unary", x, y) || check_f64("unary", y, x)) return -1;
  int64_t n = hub_tensor_numel(x);
  if (n == 0) return 0;
  k_unary_f64<<<blocks_for(n), THREADS, 0, stream()>>>(n, op, (const double *)x->data, (double *)y->data, alpha, beta);
  return cuda_check("unary (f64)");
}

int cuda_unary_f64_backward(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx, double alpha) {
  if (op < 0 || op >= HUB_UN_COUNT) return hub_err("unary_backward: unknown op %d", op);
  if (check_f64("unary_backward", x, gx) || check_f64("unary_backward", gy, gx) || check_f64("unary_backward", gx, x))
    return -1;
  int64_t n = hub_tensor_numel(x);
  if (n == 0) return 0;
  k_unary_f64_bw<<<blocks_for(n), THREADS, 0, stream()>>>(n, op, (const double *)x->data, (const double *)gy->data,
                                                         (double *)gx->data, alpha);
  return cuda_check("unary_backward (f64)");
}

} // extern "C"
