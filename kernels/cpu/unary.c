/* unary.c - the CPU kernels for elementwise functions of one f32 tensor and their derivatives:
 * y = op(x) and gx = gy * op'(x), for every hub_unop of backend.h.
 *
 * Large tensors go through oneDNN eltwise primitives (relu, tanh, logistic, gelu_erf,
 * gelu_tanh, exp, sqrt, abs, pow as 1 * x^alpha), forward and backward.  log is left to libm:
 * oneDNN 2.6's log is off by up to 4e-6 absolute near x = 1 (a relative error of 3% at
 * x = 1.0001), far from the 1e-4 the project promises.  alpha * x + beta (a + s, a * s, s - a)
 * is a loop too: it is memory-bound and vectorises as well as oneDNN's, and its scalars change
 * from call to call (learning-rate schedules, loss scales), which would JIT and cache a new
 * primitive for every value.  A primitive is made once per (direction, op, alpha, beta,
 * numel) over a 1-d memory descriptor (x and y are contiguous) and kept in the shared cache of
 * dnnl_cache.c.
 * Small tensors (under DNNL_MIN elements, where creating or even dispatching a primitive costs
 * more than the work) and the ops oneDNN has no algorithm for (neg, rsqrt, alpha / x) are plain
 * loops, split between OpenMP threads when large.  The loops use forms that stay accurate in
 * the tails (erfc for gelu, sigmoid(2u) for 1 + tanh(u), 1/cosh^2 for 1 - tanh^2) rather
 * than the textbook ones, which cancel to 0 there.  Should oneDNN refuse to create a primitive,
 * the loop is used instead, so the result never depends on which path ran beyond rounding.
 */
#include <math.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/strided.h"

enum { DNNL_MIN = 4096 };

static const float SQRT1_2 = 0.70710678118654752f;       /* 1 / sqrt(2) */
static const float INV_SQRT_2PI = 0.39894228040143268f;  /* 1 / sqrt(2 pi) */
static const float GELU_K = 0.79788456080286536f;        /* sqrt(2 / pi) */
static const float GELU_C = 0.044715f;

/* The oneDNN algorithm of an op, or -1 when the loop is used; *a and *b get its parameters. */
static int dnnl_alg(int op, float alpha, float *a, float *b) {
  *a = 0;
  *b = 0;
  switch (op) {
  case HUB_UN_EXP: return dnnl_eltwise_exp;
  case HUB_UN_SQRT: return dnnl_eltwise_sqrt;
  case HUB_UN_ABS: return dnnl_eltwise_abs;
  case HUB_UN_RELU: return dnnl_eltwise_relu; /* negative slope 0 */
  case HUB_UN_TANH: return dnnl_eltwise_tanh;
  case HUB_UN_SIGMOID: return dnnl_eltwise_logistic;
  case HUB_UN_GELU_ERF: return dnnl_eltwise_gelu_erf;
  case HUB_UN_GELU_TANH: return dnnl_eltwise_gelu_tanh;
  case HUB_UN_POW: *a = 1; *b = alpha; return dnnl_eltwise_pow;
  default: return -1;
  }
}

typedef struct eltwise_key {
  char tag[8]; /* "eltwise" */
  int32_t backward, alg;
  float alpha, beta;
  int64_t n;
} eltwise_key;

/* The cached primitive for the key, created on first use; NULL when oneDNN declines. */
static cpu_prim *eltwise_prim(int backward, int alg, float a, float b, int64_t n,
                                     const dnnl_memory_desc_t *md) {
  eltwise_key key;
  memset(&key, 0, sizeof key);
  memcpy(key.tag, "eltwise", 8);
  key.backward = backward;
  key.alg = alg;
  key.alpha = a;
  key.beta = b;
  key.n = n;
  cpu_prim *c = cpu_dnnl_cache_get(&key, sizeof key);
  if (c) return c;
  dnnl_primitive_t p;
  dnnl_engine_t eng = cpu_dnnl_engine();
  if (!eng) return NULL;
  dnnl_eltwise_desc_t fd, bd;
  dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
  if (dnnl_eltwise_forward_desc_init(&fd, backward ? dnnl_forward_training : dnnl_forward_inference,
                                     (dnnl_alg_kind_t)alg, md, a, b) != dnnl_success ||
      dnnl_primitive_desc_create(&fpd, &fd, cpu_dnnl_attr(), eng, NULL) != dnnl_success)
    return NULL;
  if (backward) {
    if (dnnl_eltwise_backward_desc_init(&bd, (dnnl_alg_kind_t)alg, md, md, a, b) != dnnl_success ||
        dnnl_primitive_desc_create(&bpd, &bd, cpu_dnnl_attr(), eng, fpd) != dnnl_success) {
      dnnl_primitive_desc_destroy(fpd);
      return NULL;
    }
  }
  dnnl_status_t st = dnnl_primitive_create(&p, backward ? bpd : fpd);
  dnnl_primitive_desc_destroy(fpd);
  if (bpd) dnnl_primitive_desc_destroy(bpd);
  if (st != dnnl_success) return NULL;
  /* When another thread cached the same primitive meanwhile, put destroys ours and returns the
   * cached one. */
  c = cpu_dnnl_cache_put(&key, sizeof key, p);
  if (!c) hub_clear_error(); /* out of memory: the loop runs instead */
  return c;
}

/* 1: done by oneDNN, 0: not applicable (use the loop), -1: failed while executing. */
static int try_dnnl(int op, const float *x, const float *gy, float *out, int64_t n, float alpha,
                    int backward) {
  float a, b;
  int alg = dnnl_alg(op, alpha, &a, &b);
  if (alg < 0 || n < DNNL_MIN) return 0;
  dnnl_memory_desc_t md;
  int64_t one = 1;
  if (cpu_dnnl_md(&md, 1, &n, &one) != 0) {
    hub_clear_error();
    return 0;
  }
  cpu_prim *p = eltwise_prim(backward, alg, a, b, n, &md);
  if (!p) return 0;
  if (!backward) {
    int args[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    dnnl_memory_desc_t mds[2] = {md, md};
    void *ptrs[2] = {(void *)x, out};
    return cpu_dnnl_exec("unary", p, 2, args, mds, ptrs) == 0 ? 1 : -1;
  }
  int args[3] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC};
  dnnl_memory_desc_t mds[3] = {md, md, md};
  void *ptrs[3] = {(void *)x, (void *)gy, out};
  return cpu_dnnl_exec("unary", p, 3, args, mds, ptrs) == 0 ? 1 : -1;
}

/* ---- loops ---- */

#define LOOP(EXPR)                                                        \
  do {                                                                    \
    _Pragma("omp parallel for if (n >= CPU_PAR_MIN)")                     \
    for (int64_t i = 0; i < n; i++) {                                     \
      float v = x[i]; (void)v;                                            \
      y[i] = (EXPR);                                                      \
    }                                                                     \
  } while (0)

/* 0.5 (1 + tanh(u)) = sigmoid(2u) = 1 / (1 + e) with e = exp(-2u); u is clamped so that e
 * stays finite (the result is already 0 or 1 in f32 there). */
static inline float gelu_tanh_e(float v) {
  float u = GELU_K * (v + GELU_C * v * v * v);
  if (u < -40.0f) u = -40.0f;
  if (u > 40.0f) u = 40.0f;
  return expf(-2.0f * u);
}

static inline float gelu_tanh_f(float v) { return v / (1.0f + gelu_tanh_e(v)); }

static void unary_loop(int op, const float *x, float *y, int64_t n, float alpha, float beta) {
  switch (op) {
  case HUB_UN_NEG: LOOP(-v); break;
  case HUB_UN_EXP: LOOP(expf(v)); break;
  case HUB_UN_LOG: LOOP(logf(v)); break;
  case HUB_UN_SQRT: LOOP(sqrtf(v)); break;
  case HUB_UN_RSQRT: LOOP(1.0f / sqrtf(v)); break;
  case HUB_UN_ABS: LOOP(fabsf(v)); break;
  case HUB_UN_RELU: LOOP(v < 0 ? 0.0f : v); break;
  case HUB_UN_TANH: LOOP(tanhf(v)); break;
  case HUB_UN_SIGMOID: LOOP(1.0f / (1.0f + expf(-v))); break;
  case HUB_UN_GELU_ERF: LOOP(0.5f * v * erfcf(-v * SQRT1_2)); break;
  case HUB_UN_GELU_TANH: LOOP(gelu_tanh_f(v)); break;
  case HUB_UN_POW: LOOP(powf(v, alpha)); break;
  case HUB_UN_LINEAR: LOOP(alpha * v + beta); break;
  case HUB_UN_RECIP: LOOP(alpha / v); break;
  }
}

/* Derivatives; the gradient multiplies them as y[i] = gy[i] * (EXPR) with v = x[i]. */
#define DLOOP(EXPR)                                                       \
  do {                                                                    \
    _Pragma("omp parallel for if (n >= CPU_PAR_MIN)")                     \
    for (int64_t i = 0; i < n; i++) {                                     \
      float v = x[i]; (void)v;                                            \
      y[i] = gy[i] * (EXPR);                                              \
    }                                                                     \
  } while (0)

/* s (1 - s) = e / (1 + e)^2 with e = exp(-|x|) (symmetric, no cancellation). */
static inline float dsigmoid(float v) {
  float e = expf(-fabsf(v));
  return e / ((1.0f + e) * (1.0f + e));
}

/* 1 - tanh^2 = 1 / cosh^2 (overflows to +inf, giving 0, where it should). */
static inline float dtanh(float v) {
  float c = coshf(v);
  return 1.0f / (c * c);
}

static inline float dgelu_erf(float v) {
  return 0.5f * erfcf(-v * SQRT1_2) + v * INV_SQRT_2PI * expf(-0.5f * v * v);
}

/* With s = sigmoid(2u) = 0.5 (1 + tanh u): 1 - tanh^2 u = 4 s (1 - s), so
 * d/dv = s + 2 v s (1 - s) u'(v). */
static inline float dgelu_tanh(float v) {
  float e = gelu_tanh_e(v), s = 1.0f / (1.0f + e), sm = e / (1.0f + e);
  return s + 2.0f * v * s * sm * GELU_K * (1.0f + 3.0f * GELU_C * v * v);
}

static inline float drsqrt(float v) {
  float r = 1.0f / sqrtf(v);
  return -0.5f * r * r * r;
}

static void backward_loop(int op, const float *x, const float *gy, float *y, int64_t n,
                          float alpha, float beta) {
  (void)beta;
  switch (op) {
  case HUB_UN_NEG: DLOOP(-1.0f); break;
  case HUB_UN_EXP: DLOOP(expf(v)); break;
  case HUB_UN_LOG: DLOOP(1.0f / v); break;
  case HUB_UN_SQRT: DLOOP(0.5f / sqrtf(v)); break;
  case HUB_UN_RSQRT: DLOOP(drsqrt(v)); break;
  case HUB_UN_ABS: DLOOP(v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f); break;
  case HUB_UN_RELU: DLOOP(v > 0 ? 1.0f : 0.0f); break;
  case HUB_UN_TANH: DLOOP(dtanh(v)); break;
  case HUB_UN_SIGMOID: DLOOP(dsigmoid(v)); break;
  case HUB_UN_GELU_ERF: DLOOP(dgelu_erf(v)); break;
  case HUB_UN_GELU_TANH: DLOOP(dgelu_tanh(v)); break;
  case HUB_UN_POW: DLOOP(alpha == 0 ? 0.0f : alpha * powf(v, alpha - 1.0f)); break;
  case HUB_UN_LINEAR: DLOOP(alpha); break;
  case HUB_UN_RECIP: DLOOP(-alpha / (v * v)); break;
  }
}

/* ---- entry points ---- */

static int check(const char *op, const hub_tensor *t, const hub_tensor *like) {
  if (t->dtype != HUB_F32) return hub_err("%s: expected an f32 tensor, got %s", op, hub_dtype_name(t->dtype));
  if (!hub_tensor_is_contiguous(t)) return hub_err("%s: expected a contiguous tensor", op);
  if (hub_tensor_numel(t) != hub_tensor_numel(like)) return hub_err("%s: sizes of the operands differ", op);
  return 0;
}

int cpu_unary(int op, const hub_tensor *x, hub_tensor *y, float alpha, float beta) {
  if (op < 0 || op >= HUB_UN_COUNT) return hub_err("unary: unknown op %d", op);
  if (check("unary", x, y) || check("unary", y, x)) return -1;
  int64_t n = hub_tensor_numel(x);
  if (n == 0) return 0;
  int rc = try_dnnl(op, x->data, NULL, y->data, n, alpha, 0);
  if (rc < 0) return -1;
  if (rc == 0) unary_loop(op, x->data, y->data, n, alpha, beta);
  return 0;
}

int cpu_unary_backward(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx,
                       float alpha, float beta) {
  if (op < 0 || op >= HUB_UN_COUNT) return hub_err("unary_backward: unknown op %d", op);
  if (check("unary_backward", x, gx) || check("unary_backward", gy, gx) ||
      check("unary_backward", gx, x))
    return -1;
  int64_t n = hub_tensor_numel(x);
  if (n == 0) return 0;
  int rc = try_dnnl(op, x->data, gy->data, gx->data, n, alpha, 1);
  if (rc < 0) return -1;
  if (rc == 0) backward_loop(op, x->data, gy->data, gx->data, n, alpha, beta);
  return 0;
}
