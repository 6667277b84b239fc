/* f64.c - the CPU kernels for f64 tensors, plain C loops (oneDNN's primitives here are f32):
 *  - the elementwise functions of the `unary` slot (exp, log, tanh, gelu, x^p, ...) and their
 *    derivatives, with the formulas of unary.c in double; alpha and beta stay doubles, so x * 0.1
 *    in f64 multiplies by the double 0.1 (the unary_f64 slots);
 *  - matmul (cpu_matmul hands f64 outputs here): out[.., M, N] = a[.., M, K] b[.., K, N] on
 *    strided views (batch dimensions broadcast with 0 strides), one dot product per element,
 *    accumulated in order (plus the bias and the activation when given);
 *  - sum / mean / max over the middle dimension of [outer, n, inner] (cpu_reduce hands f64
 *    inputs here), summed in order, the max's first position kept.
 * Loops are split between OpenMP threads when large.  Fine for checking gradients in f64 and
 * for small exact work; not tuned for speed.
 */
#include <math.h>

#include "cpu/cpu.h"
#include "cpu/strided.h"

static const double SQRT1_2 = 0.70710678118654752440;
static const double INV_SQRT_2PI = 0.39894228040143267794;
static const double GELU_K = 0.79788456080286535588; /* sqrt(2 / pi) */
static const double GELU_C = 0.044715;

static inline double gelu_tanh_e(double v) {
  double u = GELU_K * (v + GELU_C * v * v * v);
  if (u < -350) u = -350;
  if (u > 350) u = 350;
  return exp(-2 * u);
}

static inline double fwd(int op, double v, double alpha, double beta) {
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
  case HUB_UN_GELU_ERF: return 0.5 * v * erfc(-v * SQRT1_2);
  case HUB_UN_GELU_TANH: return v / (1 + gelu_tanh_e(v));
  case HUB_UN_POW: return pow(v, alpha);
  case HUB_UN_LINEAR: return alpha * v + beta;
  default: return alpha / v; /* HUB_UN_RECIP */
  }
}

static inline double deriv(int op, double v, double alpha) {
  switch (op) {
  case HUB_UN_NEG: return -1;
  case HUB_UN_EXP: return exp(v);
  case HUB_UN_LOG: return 1 / v;
  case HUB_UN_SQRT: return 0.5 / sqrt(v);
  case HUB_UN_RSQRT: { double r = 1 / sqrt(v); return -0.5 * r * r * r; }
  case HUB_UN_ABS: return v > 0 ? 1 : v < 0 ? -1 : 0;
  case HUB_UN_RELU: return v > 0 ? 1 : 0;
  case HUB_UN_TANH: { double c = cosh(v); return 1 / (c * c); }
  case HUB_UN_SIGMOID: { double e = exp(-fabs(v)); return e / ((1 + e) * (1 + e)); }
  case HUB_UN_GELU_ERF: return 0.5 * erfc(-v * SQRT1_2) + v * INV_SQRT_2PI * exp(-0.5 * v * v);
  case HUB_UN_GELU_TANH: {
    double e = gelu_tanh_e(v), s = 1 / (1 + e), sm = e / (1 + e);
    return s + 2 * v * s * sm * GELU_K * (1 + 3 * GELU_C * v * v);
  }
  case HUB_UN_POW: return alpha == 0 ? 0 : alpha * pow(v, alpha - 1);
  case HUB_UN_LINEAR: return alpha;
  default: return -alpha / (v * v); /* HUB_UN_RECIP */
  }
}

static int check(const char *op, const hub_tensor *t, const hub_tensor *like) {
  if (t->dtype != HUB_F64) return hub_err("%s: expected an f64 tensor, got %s", op, hub_dtype_name(t->dtype));
  if (!hub_tensor_is_contiguous(t)) return hub_err("%s: expected a contiguous tensor", op);
  if (hub_tensor_numel(t) != hub_tensor_numel(like)) return hub_err("%s: sizes of the operands differ", op);
  return 0;
}

int cpu_unary_f64(int op, const hub_tensor *x, hub_tensor *y, double alpha, double beta) {
  if (op < 0 || op >= HUB_UN_COUNT) return hub_err("unary: unknown op %d", op);
  if (check("unary", x, y) || check("unary", y, x)) return -1;
  int64_t n = hub_tensor_numel(x);
  const double *xp = x->data;
  double *yp = y->data;
#pragma omp parallel for if (n >= CPU_PAR_MIN)
  for (int64_t i = 0; i < n; i++) yp[i] = fwd(op, xp[i], alpha, beta);
  return 0;
}

int cpu_unary_f64_backward(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx,
                           double alpha) {
  if (op < 0 || op >= HUB_UN_COUNT) return hub_err("unary_backward: unknown op %d", op);
  if (check("unary_backward", x, gx) || check("unary_backward", gy, gx) || check("unary_backward", gx, x))
    return -1;
  int64_t n = hub_tensor_numel(x);
  const double *xp = x->data, *gp = gy->data;
  double *op_ = gx->data;
#pragma omp parallel for if (n >= CPU_PAR_MIN)
  for (int64_t i = 0; i < n; i++) op_[i] = gp[i] * deriv(op, xp[i], alpha);
  return 0;
}

/* ---- matmul ---- */

int cpu_matmul_f64(const hub_tensor *a, const hub_tensor *b, const hub_tensor *bias, int act,
                   hub_tensor *out) {
  if (a->dtype != HUB_F64 || b->dtype != HUB_F64 || out->dtype != HUB_F64 || (bias && bias->dtype != HUB_F64))
    return hub_err("matmul: f64 operands expected");
  if (!hub_tensor_is_contiguous(out)) return hub_err("matmul: the output must be contiguous");
  int nd = out->ndim;
  int64_t M = out->shape[nd - 2], N = out->shape[nd - 1], K = a->shape[nd - 1];
  int64_t nbatch = 1;
  for (int d = 0; d < nd - 2; d++) nbatch *= out->shape[d];
  const double *ap = a->data, *bp = b->data, *biasp = bias ? bias->data : NULL;
  double *op = out->data;
  int64_t total = nbatch * M * N;
#pragma omp parallel for if (total * K >= CPU_PAR_MIN)
  for (int64_t e = 0; e < total; e++) {
    int64_t j = e % N, i = (e / N) % M, bt = e / (N * M), aoff = 0, boff = 0, rem = bt;
    for (int d = nd - 3; d >= 0; d--) {
      int64_t id = rem % out->shape[d];
      rem /= out->shape[d];
      aoff += id * a->stride[d];
      boff += id * b->stride[d];
    }
    const double *ar = ap + aoff + i * a->stride[nd - 2], *bc = bp + boff + j * b->stride[nd - 1];
    double acc = 0;
    for (int64_t k = 0; k < K; k++) acc += ar[k * a->stride[nd - 1]] * bc[k * b->stride[nd - 2]];
    if (biasp) acc += biasp[j * bias->stride[bias->ndim - 1]];
    op[e] = act >= 0 ? fwd(act, acc, 0, 0) : acc;
  }
  return 0;
}

/* ---- reductions over the middle of [outer, n, inner] (x contiguous) ---- */

int cpu_reduce_f64(int op, const hub_tensor *x, int dim, hub_tensor *out, hub_tensor *idx) {
  if (x->dtype != HUB_F64 || out->dtype != HUB_F64) return hub_err("reduce: f64 operands expected");
  int64_t outer = 1, inner = 1, n = x->ndim ? x->shape[dim] : 1;
  for (int i = 0; i < dim; i++) outer *= x->shape[i];
  for (int i = dim + 1; i < x->ndim; i++) inner *= x->shape[i];
  const double *xp = x->data;
  double *op_ = out->data;
  int64_t *ip = idx ? idx->data : NULL;
  if (n == 0 && op == HUB_RED_MAX) return hub_err("max: cannot reduce over an empty dimension");
#pragma omp parallel for if (outer * inner * n >= CPU_PAR_MIN)
  for (int64_t o = 0; o < outer * inner; o++) {
    const double *p = xp + (o / inner) * n * inner + o % inner;
    if (op == HUB_RED_MAX) {
      double best = p[0];
      int64_t arg = 0;
      for (int64_t k = 1; k < n; k++) {
        double v = p[k * inner];
        if (v > best || (v != v && best == best)) best = v, arg = k;
      }
      op_[o] = best;
      if (ip) ip[o] = arg;
    } else {
      double acc = 0;
      for (int64_t k = 0; k < n; k++) acc += p[k * inner];
      op_[o] = op == HUB_RED_MEAN ? (n ? acc / (double)n : NAN) : acc;
    }
  }
  return 0;
}
