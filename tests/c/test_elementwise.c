/* test_elementwise.c - tests of the elementwise ops (op_arith.c) and their CPU kernels
 * (copy.c, binary.c, unary.c).
 *
 * Forward results are compared with naive double-precision computations written here, on
 * small tensors (the plain loops) and on tensors of 5000 elements (the oneDNN eltwise path and
 * the OpenMP split), with broadcasting ([2,1,3] + [4,3], scalars, rows), transposed views and
 * f16/bf16 inputs.  Gradients are checked against central finite differences of
 * loss = sum(out * W) for fixed random W, and for large tensors against the closed-form
 * derivatives.  Error paths must return NULL / -1 with the op's name in hub_last_error().
 * Finally no tensor or autograd node may be left alive.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "check.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static double urand(void) { /* uniform [0, 1) */
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Values in [lo, hi) that are multiples of 1/1024, so that x +- 1/1024 is exact in f32; with
 * `gap`, values with |x| < gap are pushed away from 0 (kinks of relu and abs). */
static hub_tensor *rand_tensor(int ndim, const int64_t *shape, double lo, double hi, double gap) {
  hub_tensor *t = hub_tensor_empty(HUB_F32, ndim, shape, HUB_CPU);
  int64_t n = hub_tensor_numel(t);
  float *p = t->data;
  for (int64_t i = 0; i < n; i++) {
    double v = lo + (hi - lo) * urand();
    if (gap > 0 && fabs(v) < gap) v = v < 0 ? -gap : gap;
    p[i] = (float)(round(v * 1024.0) / 1024.0);
  }
  return t;
}

static int close_to(double got, double ref, double rel, double abs_tol) {
  if (isnan(ref)) return isnan(got);
  return fabs(got - ref) <= rel * fabs(ref) + abs_tol;
}

/* Maximum violation of the tolerance between a tensor and reference values; prints the first. */
static int compare(const char *what, const hub_tensor *t, const double *ref, int64_t n, double rel,
                   double abs_tol) {
  if (!t) {
    printf("FAIL %s: no result (%s)\n", what, hub_last_error());
    return 0;
  }
  if (hub_tensor_numel(t) != n) {
    printf("FAIL %s: %lld elements, expected %lld\n", what, (long long)hub_tensor_numel(t), (long long)n);
    return 0;
  }
  double *v = values(t);
  int ok = 1;
  for (int64_t i = 0; i < n && ok; i++)
    if (!close_to(v[i], ref[i], rel, abs_tol)) {
      printf("  %s: element %lld is %.9g, expected %.9g\n", what, (long long)i, v[i], ref[i]);
      ok = 0;
    }
  free(v);
  return ok;
}

static int64_t numel_of(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

static int same_shape(const hub_tensor *a, const hub_tensor *b) {
  return a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim);
}

/* Index of the element of a (broadcast to the out shape) for output position i. */
static int64_t bidx(int and, const int64_t *ash, int ond, const int64_t *osh, int64_t i) {
  int64_t idx = 0, mul = 1;
  for (int d = ond - 1; d >= 0; d--) {
    int64_t c = i % osh[d];
    i /= osh[d];
    int ad = and - ond + d;
    if (ad < 0) continue;
    if (ash[ad] != 1) idx += c * mul;
    mul *= ash[ad];
  }
  return idx;
}

/* ---- binary ops ---- */

enum { B_ADD, B_SUB, B_MUL, B_DIV };
static const char *bnames[] = {"add", "sub", "mul", "div"};

static hub_tensor *bin_apply(int op, hub_tensor *a, hub_tensor *b) {
  switch (op) {
  case B_ADD: return hub_add(a, b);
  case B_SUB: return hub_sub(a, b);
  case B_MUL: return hub_mul(a, b);
  default: return hub_div(a, b);
  }
}

static double bin_ref(int op, double x, double y) {
  switch (op) {
  case B_ADD: return x + y;
  case B_SUB: return x - y;
  case B_MUL: return x * y;
  default: return x / y;
  }
}

/* out = a op b against the naive broadcast; a and b may be any views / dtypes. */
static void check_binary(const char *what, int op, hub_tensor *a, hub_tensor *b, int ond,
                         const int64_t *osh) {
  hub_tensor *out = bin_apply(op, a, b);
  int64_t n = numel_of(ond, osh);
  char label[160];
  snprintf(label, sizeof label, "%s %s", bnames[op], what);
  CHECK(out && out->ndim == ond && !memcmp(out->shape, osh, sizeof(int64_t) * (size_t)ond),
        "%s: wrong result shape (%s)", label, out ? "" : hub_last_error());
  double *av = values(a), *bv = values(b), *ref = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++)
    ref[i] = bin_ref(op, av[bidx(a->ndim, a->shape, ond, osh, i)], bv[bidx(b->ndim, b->shape, ond, osh, i)]);
  /* f32 arithmetic on exact f32 inputs: one rounding, 2^-24 relative */
  CHECK(compare(label, out, ref, n, 1e-6, 1e-30), "%s values", label);
  CHECK(!out || out->dtype == HUB_F32, "%s: result is not f32", label);
  free(av);
  free(bv);
  free(ref);
  hub_tensor_release(out);
}

static void test_binary_forward(void) {
  for (int op = 0; op < 4; op++) {
    double lo = op == B_DIV ? 0.5 : -2;
    hub_tensor *a = rand_tensor(2, (int64_t[]){2, 3}, -2, 2, 0), *b = rand_tensor(2, (int64_t[]){2, 3}, lo, 2, 0);
    check_binary("[2,3] [2,3]", op, a, b, 2, (int64_t[]){2, 3});
    hub_tensor *c = rand_tensor(3, (int64_t[]){2, 1, 3}, -2, 2, 0), *d = rand_tensor(2, (int64_t[]){4, 3}, lo, 2, 0);
    check_binary("[2,1,3] [4,3]", op, c, d, 3, (int64_t[]){2, 4, 3});
    check_binary("[4,3] [2,1,3]", op, d, c, 3, (int64_t[]){2, 4, 3});
    hub_tensor *s = hub_full(0, NULL, 1.75, HUB_F32);
    check_binary("[2,3] []", op, a, s, 2, (int64_t[]){2, 3});
    check_binary("[] [2,3]", op, s, b, 2, (int64_t[]){2, 3});
    hub_tensor *col = rand_tensor(2, (int64_t[]){3, 1}, lo, 2, 0), *row = rand_tensor(2, (int64_t[]){1, 4}, lo, 2, 0);
    check_binary("[3,1] [1,4]", op, col, row, 2, (int64_t[]){3, 4});
    /* transposed (non-contiguous) operands */
    hub_tensor *at = rand_tensor(2, (int64_t[]){3, 2}, -2, 2, 0), *bt = rand_tensor(2, (int64_t[]){3, 2}, lo, 2, 0);
    hub_tensor *atv = hub_transpose(at, 0, 1), *btv = hub_transpose(bt, 0, 1);
    check_binary("transposed [2,3] [2,3]", op, atv, b, 2, (int64_t[]){2, 3});
    check_binary("[2,3] transposed [2,3]", op, a, btv, 2, (int64_t[]){2, 3});
    hub_tensor *row3 = hub_narrow(row, 1, 0, 3); /* [1,3] view with a stride of 1 */
    check_binary("transposed [2,3] row [1,3]", op, atv, row3, 2, (int64_t[]){2, 3});
    /* large: the OpenMP split, row broadcast and column broadcast */
    hub_tensor *big = rand_tensor(2, (int64_t[]){300, 200}, -2, 2, 0), *brow = rand_tensor(1, (int64_t[]){200}, lo, 2, 0);
    hub_tensor *bcol = rand_tensor(2, (int64_t[]){300, 1}, lo, 2, 0), *big2 = rand_tensor(2, (int64_t[]){300, 200}, lo, 2, 0);
    check_binary("[300,200] [200]", op, big, brow, 2, (int64_t[]){300, 200});
    check_binary("[300,200] [300,1]", op, big, bcol, 2, (int64_t[]){300, 200});
    check_binary("[300,200] [300,200]", op, big, big2, 2, (int64_t[]){300, 200});
    hub_tensor *bigt = hub_transpose(big2, 0, 1); /* [200,300] strided */
    hub_tensor *r300 = rand_tensor(1, (int64_t[]){300}, lo, 2, 0), *c200 = rand_tensor(2, (int64_t[]){200, 1}, lo, 2, 0);
    check_binary("[300,200]^T-view [300]", op, bigt, r300, 2, (int64_t[]){200, 300});
    check_binary("[200,1] [300,200]^T-view", op, c200, bigt, 2, (int64_t[]){200, 300});
    /* f16 and bf16 inputs are converted to f32 */
    hub_tensor *a16 = hub_to_dtype(a, HUB_F16), *b16 = hub_to_dtype(d, HUB_BF16);
    check_binary("f16 [2,3] f32 [2,3]", op, a16, b, 2, (int64_t[]){2, 3});
    check_binary("f32 [2,1,3] bf16 [4,3]", op, c, b16, 3, (int64_t[]){2, 4, 3});
    hub_tensor *all[] = {a, b, c, d, s, col, row, row3, at, bt, atv, btv, big, brow, bcol, big2, bigt, r300, c200, a16, b16};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);
  }
}

/* ---- unary ops ---- */

enum {
  U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_ABS, U_RELU, U_TANH, U_SIGMOID, U_GELU, U_GELU_TANH,
  U_ADDS, U_MULS, U_RSUBS, U_RDIVS, U_POW, U_COUNT
};

typedef struct utest {
  const char *name;
  int kind;
  double p;        /* scalar argument */
  double lo, hi;   /* input range */
  double gap;      /* keep |x| >= gap (kinks) */
} utest;

static const utest UTESTS[] = {
    {"neg", U_NEG, 0, -3, 3, 0},          {"exp", U_EXP, 0, -1.5, 1.5, 0},
    {"log", U_LOG, 0, 0.25, 3, 0},        {"sqrt", U_SQRT, 0, 0.25, 3, 0},
    {"rsqrt", U_RSQRT, 0, 0.25, 3, 0},    {"abs", U_ABS, 0, -3, 3, 0.05},
    {"relu", U_RELU, 0, -3, 3, 0.05},     {"tanh", U_TANH, 0, -3, 3, 0},
    {"sigmoid", U_SIGMOID, 0, -4, 4, 0},  {"gelu", U_GELU, 0, -3, 3, 0},
    {"gelu_tanh", U_GELU_TANH, 0, -3, 3, 0},
    {"add_scalar", U_ADDS, 1.5, -3, 3, 0}, {"mul_scalar", U_MULS, -0.75, -3, 3, 0},
    {"rsub_scalar", U_RSUBS, 2.5, -3, 3, 0}, {"rdiv_scalar", U_RDIVS, 1.5, 0.3, 2, 0},
    {"rdiv_scalar neg", U_RDIVS, -2, -2, -0.3, 0},
    {"pow 2", U_POW, 2, -2, 2, 0},        {"pow 3", U_POW, 3, -2, 2, 0},
    {"pow 0.5", U_POW, 0.5, 0.25, 3, 0},  {"pow -1.5", U_POW, -1.5, 0.25, 3, 0},
    {"pow 0", U_POW, 0, -2, 2, 0},        {"pow 1", U_POW, 1, -2, 2, 0},
};
enum { NUTESTS = sizeof UTESTS / sizeof *UTESTS };

static hub_tensor *un_apply(int kind, double p, hub_tensor *x) {
  switch (kind) {
  case U_NEG: return hub_neg(x);
  case U_EXP: return hub_exp(x);
  case U_LOG: return hub_log(x);
  case U_SQRT: return hub_sqrt(x);
  case U_RSQRT: return hub_rsqrt(x);
  case U_ABS: return hub_abs(x);
  case U_RELU: return hub_relu(x);
  case U_TANH: return hub_tanh(x);
  case U_SIGMOID: return hub_sigmoid(x);
  case U_GELU: return hub_gelu(x, 0);
  case U_GELU_TANH: return hub_gelu(x, 1);
  case U_ADDS: return hub_add_scalar(x, p);
  case U_MULS: return hub_mul_scalar(x, p);
  case U_RSUBS: return hub_rsub_scalar(x, p);
  case U_RDIVS: return hub_rdiv_scalar(x, p);
  default: return hub_pow(x, p);
  }
}

static const double K = 0.7978845608028654; /* sqrt(2/pi) */

static double un_ref(int kind, double p, double x) {
  switch (kind) {
  case U_NEG: return -x;
  case U_EXP: return exp(x);
  case U_LOG: return log(x);
  case U_SQRT: return sqrt(x);
  case U_RSQRT: return 1 / sqrt(x);
  case U_ABS: return fabs(x);
  case U_RELU: return x > 0 ? x : 0;
  case U_TANH: return tanh(x);
  case U_SIGMOID: return 1 / (1 + exp(-x));
  case U_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
  case U_GELU_TANH: return 0.5 * x * (1 + tanh(K * (x + 0.044715 * x * x * x)));
  case U_ADDS: return x + p;
  case U_MULS: return x * p;
  case U_RSUBS: return p - x;
  case U_RDIVS: return p / x;
  default: return pow(x, p);
  }
}

static double un_dref(int kind, double p, double x) {
  switch (kind) {
  case U_NEG: return -1;
  case U_EXP: return exp(x);
  case U_LOG: return 1 / x;
  case U_SQRT: return 0.5 / sqrt(x);
  case U_RSQRT: return -0.5 * pow(x, -1.5);
  case U_ABS: return x > 0 ? 1 : x < 0 ? -1 : 0;
  case U_RELU: return x > 0 ? 1 : 0;
  case U_TANH: return 1 - tanh(x) * tanh(x);
  case U_SIGMOID: { double s = 1 / (1 + exp(-x)); return s * (1 - s); }
  case U_GELU: return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / 2.5066282746310002 /* sqrt(2 pi) */;
  case U_GELU_TANH: {
    double t = tanh(K * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x);
  }
  case U_ADDS: return 1;
  case U_MULS: return p;
  case U_RSUBS: return -1;
  case U_RDIVS: return -p / (x * x);
  default: return p == 0 ? 0 : p * pow(x, p - 1);
  }
}

/* Forward and derivative of every unary op on n elements (n >= 4096 takes oneDNN).  The
 * tolerance, 1e-5 relative + 2e-6 absolute, covers f32 rounding of the loops (a few ulps) and
 * the polynomial approximations oneDNN uses for exp, log, tanh, erf (documented to a few ulps). */
static void test_unary_values(int64_t n) {
  for (int k = 0; k < NUTESTS; k++) {
    const utest *u = &UTESTS[k];
    hub_tensor *x = rand_tensor(1, &n, u->lo, u->hi, u->gap);
    hub_tensor *w = rand_tensor(1, &n, -1, 1, 0);
    hub_tensor_set_requires_grad(x, 1);
    hub_tensor *y = un_apply(u->kind, u->p, x);
    double *xv = values(x), *wv = values(w), *ref = malloc(sizeof(double) * (size_t)n);
    char label[96];
    snprintf(label, sizeof label, "%s (n=%lld)", u->name, (long long)n);
    for (int64_t i = 0; i < n; i++) ref[i] = un_ref(u->kind, u->p, xv[i]);
    CHECK(compare(label, y, ref, n, 1e-5, 2e-6), "%s forward", label);
    CHECK(y && y->requires_grad, "%s: result does not require grad", label);
    int rc = y ? hub_backward(y, w) : -1;
    CHECK(rc == 0, "%s: backward failed: %s", label, hub_last_error());
    for (int64_t i = 0; i < n; i++) ref[i] = wv[i] * un_dref(u->kind, u->p, xv[i]);
    hub_tensor *g = hub_tensor_grad(x);
    CHECK(compare(label, g, ref, n, 1e-5, 2e-6), "%s derivative", label);
    free(xv);
    free(wv);
    free(ref);
    hub_tensor_release(g);
    hub_tensor_release(y);
    hub_tensor_release(w);
    hub_tensor_release(x);
  }
}

/* Strided, f16 and bf16 inputs of unary ops. */
static void test_unary_inputs(void) {
  hub_tensor *x = rand_tensor(2, (int64_t[]){3, 4}, -2, 2, 0);
  hub_tensor *xt = hub_transpose(x, 0, 1); /* [4,3], strided */
  hub_tensor *y = hub_exp(xt);
  double *xv = values(xt), ref[12];
  for (int i = 0; i < 12; i++) ref[i] = exp(xv[i]);
  CHECK(y && y->ndim == 2 && y->shape[0] == 4 && y->shape[1] == 3, "exp of a transposed view: shape");
  CHECK(compare("exp transposed", y, ref, 12, 1e-6, 0), "exp of a transposed view: values");
  hub_tensor_release(y);
  free(xv);

  /* f16 input: computed in f32, gradient flows back into the f16 leaf (in f16) */
  hub_tensor *h = hub_to_dtype(x, HUB_F16);
  hub_tensor_set_requires_grad(h, 1);
  y = hub_tanh(h);
  double *hv = values(h), dref[12];
  for (int i = 0; i < 12; i++) {
    ref[i] = tanh(hv[i]);
    dref[i] = 1 - ref[i] * ref[i];
  }
  /* computed in f32, returned in f16 as torch does: within f16 rounding (2^-11 relative) */
  CHECK(compare("tanh f16", y, ref, 12, 1e-3, 1e-4) && y->dtype == HUB_F16, "tanh of f16 input");
  hub_tensor *ones = hub_full(2, (int64_t[]){3, 4}, 1.0, HUB_F32);
  CHECK(y && hub_backward(y, ones) == 0, "tanh f16 backward: %s", hub_last_error());
  hub_tensor *g = hub_tensor_grad(h);
  /* the gradient is stored in f16: 2^-11 relative */
  CHECK(g && g->dtype == HUB_F16 && compare("tanh f16 grad", g, dref, 12, 1e-3, 1e-4), "tanh f16 gradient");
  hub_tensor_release(g);
  hub_tensor_release(y);
  hub_tensor_release(ones);
  free(hv);

  hub_tensor *bf = hub_to_dtype(x, HUB_BF16);
  y = hub_sigmoid(bf);
  double *bv = values(bf);
  for (int i = 0; i < 12; i++) ref[i] = 1 / (1 + exp(-bv[i]));
  CHECK(compare("sigmoid bf16", y, ref, 12, 8e-3, 1e-4) && y->dtype == HUB_BF16, "sigmoid of bf16 input");
  free(bv);
  hub_tensor_release(y);
  hub_tensor_release(bf);
  hub_tensor_release(h);
  hub_tensor_release(xt);
  hub_tensor_release(x);
}

/* ---- finite-difference gradient checks ----
 *
 * loss = sum(out * W).  Inputs are multiples of 2^-10 and eps = 2^-10 (~1e-3), so x +- eps is
 * exact in f32 and the only error of the difference quotient (besides the O(eps^2) truncation
 * term, < 1e-6 here) is the rounding of the k outputs that depend on x: about
 * k * |W| * |out| * 2^-24 / (2 eps) = 3e-5 * k * |out|, with k <= 4 and |out| <= 4 below, so
 * < 5e-4.  Tolerance: 2e-3 relative + 5e-4 absolute. */

typedef hub_tensor *(*gfn)(hub_tensor **in, const void *arg);
static const double EPS = 1.0 / 1024;

static double loss_of(gfn f, hub_tensor **in, const void *arg, const double *w) {
  int prev = hub_set_grad_enabled(0);
  hub_tensor *out = f(in, arg);
  hub_set_grad_enabled(prev);
  if (!out) return NAN;
  double *v = values(out), s = 0;
  for (int64_t i = 0; i < hub_tensor_numel(out); i++) s += v[i] * w[i];
  free(v);
  hub_tensor_release(out);
  return s;
}

static void gradcheck(const char *name, gfn f, int nin, hub_tensor **in, const void *arg) {
  for (int i = 0; i < nin; i++) hub_tensor_set_requires_grad(in[i], 1);
  hub_tensor *out = f(in, arg);
  if (!out) {
    CHECK(0, "gradcheck %s: forward failed: %s", name, hub_last_error());
    return;
  }
  hub_tensor *w = rand_tensor(out->ndim, out->shape, -1, 1, 0);
  double *wv = values(w);
  hub_tensor *prod = hub_mul(out, w);
  hub_tensor *loss = prod ? hub_sum(prod, 0, NULL, 0) : NULL;
  int rc = loss ? hub_backward(loss, NULL) : -1;
  CHECK(rc == 0, "gradcheck %s: backward failed: %s", name, hub_last_error());
  for (int i = 0; i < nin && rc == 0; i++) {
    hub_tensor *g = hub_tensor_grad(in[i]);
    CHECK(g && same_shape(g, in[i]), "gradcheck %s: input %d has no gradient of its shape", name, i);
    if (!g) continue;
    double *gv = values(g);
    int64_t n = hub_tensor_numel(in[i]);
    int ok = 1;
    for (int64_t j = 0; j < n && ok; j++) {
      double x0 = hub_tensor_get(in[i], j);
      hub_tensor_set(in[i], j, x0 + EPS);
      double lp = loss_of(f, in, arg, wv);
      hub_tensor_set(in[i], j, x0 - EPS);
      double lm = loss_of(f, in, arg, wv);
      hub_tensor_set(in[i], j, x0);
      double fd = (lp - lm) / (2 * EPS);
      if (!close_to(gv[j], fd, 2e-3, 5e-4)) {
        printf("  gradcheck %s: d/d input %d [%lld] = %.7g, finite difference %.7g\n", name, i,
               (long long)j, gv[j], fd);
        ok = 0;
      }
    }
    CHECK(ok, "gradcheck %s input %d", name, i);
    free(gv);
    hub_tensor_release(g);
  }
  free(wv);
  hub_tensor_release(loss);
  hub_tensor_release(prod);
  hub_tensor_release(w);
  hub_tensor_release(out);
}

static hub_tensor *g_unary(hub_tensor **in, const void *arg) {
  const utest *u = arg;
  return un_apply(u->kind, u->p, in[0]);
}
static hub_tensor *g_unary_t(hub_tensor **in, const void *arg) { /* on a transposed view */
  const utest *u = arg;
  hub_tensor *t = hub_transpose(in[0], 0, 1);
  hub_tensor *y = un_apply(u->kind, u->p, t);
  hub_tensor_release(t);
  return y;
}
static hub_tensor *g_binary(hub_tensor **in, const void *arg) { return bin_apply(*(const int *)arg, in[0], in[1]); }
static hub_tensor *g_binary_t(hub_tensor **in, const void *arg) { /* transpose(a) op b */
  hub_tensor *t = hub_transpose(in[0], 0, 1);
  hub_tensor *y = bin_apply(*(const int *)arg, t, in[1]);
  hub_tensor_release(t);
  return y;
}
static hub_tensor *g_square(hub_tensor **in, const void *arg) { return hub_mul(in[0], in[0]); }
static hub_tensor *g_where(hub_tensor **in, const void *arg) {
  return hub_where((hub_tensor *)arg, in[0], in[1]);
}
static hub_tensor *g_masked_fill(hub_tensor **in, const void *arg) {
  return hub_masked_fill(in[0], (hub_tensor *)arg, -0.5);
}

static void test_gradients(void) {
  for (int k = 0; k < NUTESTS; k++) {
    const utest *u = &UTESTS[k];
    hub_tensor *x = rand_tensor(2, (int64_t[]){3, 4}, u->lo, u->hi, u->gap > 0 ? u->gap : 0);
    gradcheck(u->name, g_unary, 1, &x, u);
    hub_tensor_zero_grad(x);
    char label[64];
    snprintf(label, sizeof label, "%s (transposed)", u->name);
    gradcheck(label, g_unary_t, 1, &x, u);
    hub_tensor_release(x);
  }
  static const int ops[4] = {B_ADD, B_SUB, B_MUL, B_DIV};
  static const int64_t shapes[][2][4] = {
      /* ndim a, shape a..., ndim b, shape b... packed as {nd, d0, d1, d2} */
      {{2, 2, 3, 0}, {2, 2, 3, 0}}, {{3, 2, 1, 3}, {2, 4, 3, 0}}, {{2, 4, 3, 0}, {3, 2, 1, 3}},
      {{2, 3, 1, 0}, {2, 1, 4, 0}}, {{2, 2, 3, 0}, {0, 0, 0, 0}}, {{1, 3, 0, 0}, {2, 2, 3, 0}}};
  for (int o = 0; o < 4; o++) {
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
      double lo = ops[o] == B_DIV ? 0.5 : -2;
      hub_tensor *in[2] = {rand_tensor((int)shapes[s][0][0], &shapes[s][0][1], -2, 2, 0),
                           rand_tensor((int)shapes[s][1][0], &shapes[s][1][1], lo, 2, 0)};
      char label[64];
      snprintf(label, sizeof label, "%s case %zu", bnames[ops[o]], s);
      gradcheck(label, g_binary, 2, in, &ops[o]);
      hub_tensor_release(in[0]);
      hub_tensor_release(in[1]);
    }
    hub_tensor *in[2] = {rand_tensor(2, (int64_t[]){3, 2}, -2, 2, 0),
                         rand_tensor(1, (int64_t[]){3}, ops[o] == B_DIV ? 0.5 : -2, 2, 0)};
    char label[64];
    snprintf(label, sizeof label, "%s transposed [3,2]^T op [3]", bnames[ops[o]]);
    gradcheck(label, g_binary_t, 2, in, &ops[o]);
    hub_tensor_release(in[0]);
    hub_tensor_release(in[1]);
  }
  hub_tensor *x = rand_tensor(2, (int64_t[]){2, 3}, -2, 2, 0);
  gradcheck("x * x", g_square, 1, &x, NULL);
  hub_tensor_release(x);

  /* where: cond [2,1,3] with a [4,3] and b [] ; masked_fill: mask [1,3] on [2,3] */
  uint8_t cv[6] = {1, 0, 1, 0, 0, 1}, mv[3] = {0, 1, 1};
  hub_tensor *cond = hub_tensor_from_data(HUB_BOOL, 3, (int64_t[]){2, 1, 3}, cv, HUB_U8);
  hub_tensor *in[2] = {rand_tensor(2, (int64_t[]){4, 3}, -2, 2, 0), rand_tensor(0, NULL, -2, 2, 0)};
  gradcheck("where", g_where, 2, in, cond);
  hub_tensor *mask = hub_tensor_from_data(HUB_U8, 2, (int64_t[]){1, 3}, mv, HUB_U8);
  hub_tensor *a = rand_tensor(2, (int64_t[]){2, 3}, -2, 2, 0);
  gradcheck("masked_fill", g_masked_fill, 1, &a, mask);
  hub_tensor *all[] = {cond, in[0], in[1], mask, a};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);
}

/* ---- where, masked_fill, add_ values ---- */

static void test_where_values(void) {
  uint8_t cv[6] = {1, 0, 1, 0, 0, 1};
  hub_tensor *cond = hub_tensor_from_data(HUB_BOOL, 3, (int64_t[]){2, 1, 3}, cv, HUB_U8);
  hub_tensor *a = rand_tensor(2, (int64_t[]){4, 3}, -2, 2, 0), *b = hub_full(0, NULL, 9.0, HUB_F32);
  hub_tensor *y = hub_where(cond, a, b);
  double *av = values(a), ref[24];
  for (int i = 0; i < 24; i++) ref[i] = cv[(i / 12) * 3 + i % 3] ? av[i % 12] : 9.0;
  CHECK(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 4 && y->shape[2] == 3, "where shape");
  CHECK(compare("where", y, ref, 24, 0, 0), "where values");
  hub_tensor_release(y);

  uint8_t mv[4] = {1, 0, 0, 1};
  hub_tensor *mask = hub_tensor_from_data(HUB_U8, 2, (int64_t[]){4, 1}, mv, HUB_U8);
  y = hub_masked_fill(a, mask, -1e9);
  for (int i = 0; i < 12; i++) ref[i] = mv[i / 3] ? -1e9 : av[i];
  CHECK(compare("masked_fill", y, ref, 12, 1e-7, 0), "masked_fill values");
  hub_tensor_release(y);

  /* large where through a transposed condition (strided 1-byte operand) */
  int64_t n = 256;
  hub_tensor *big = rand_tensor(2, (int64_t[]){n, n}, -1, 1, 0), *cb = hub_tensor_empty(HUB_BOOL, 2, (int64_t[]){n, n}, HUB_CPU);
  for (int64_t i = 0; i < n * n; i++) ((uint8_t *)cb->data)[i] = (uint8_t)((i * 7) % 3 == 0);
  hub_tensor *cbt = hub_transpose(cb, 0, 1);
  y = hub_where(cbt, big, b);
  double *bv = values(big), *r = malloc(sizeof(double) * (size_t)(n * n));
  for (int64_t i = 0; i < n * n; i++) {
    int64_t row = i / n, col = i % n;
    r[i] = ((uint8_t *)cb->data)[col * n + row] ? bv[i] : 9.0;
  }
  CHECK(compare("where large", y, r, n * n, 0, 0), "where large transposed condition");
  free(r);
  free(bv);
  hub_tensor *all[] = {y, cbt, cb, big, mask, cond, a, b};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);
  free(av);
}

static void test_add_inplace(void) {
  hub_tensor *a = rand_tensor(2, (int64_t[]){2, 3}, -2, 2, 0), *b = rand_tensor(1, (int64_t[]){3}, -2, 2, 0);
  double *av = values(a), *bv = values(b), ref[6];
  for (int i = 0; i < 6; i++) ref[i] = av[i] + 0.5 * bv[i % 3];
  CHECK(hub_add_(a, b, 0.5) == 0, "add_: %s", hub_last_error());
  CHECK(compare("add_", a, ref, 6, 1e-6, 0), "add_ values");
  /* into a transposed view (strided destination) */
  hub_tensor *at = hub_transpose(a, 0, 1), *c = rand_tensor(2, (int64_t[]){3, 2}, -2, 2, 0);
  double *cv = values(c), *atv = values(at), r2[6];
  for (int i = 0; i < 6; i++) r2[i] = atv[i] - 2 * cv[i];
  CHECK(hub_add_(at, c, -2) == 0, "add_ into a view: %s", hub_last_error());
  CHECK(compare("add_ view", at, r2, 6, 1e-6, 0), "add_ into a transposed view");
  /* f16 destination */
  hub_tensor *h = hub_to_dtype(c, HUB_F16);
  double *hv = values(h);
  for (int i = 0; i < 6; i++) r2[i] = hv[i] + 1.0;
  hub_tensor *one = hub_full(0, NULL, 1.0, HUB_F32);
  CHECK(hub_add_(h, one, 1.0) == 0 && h->dtype == HUB_F16, "add_ into f16: %s", hub_last_error());
  CHECK(compare("add_ f16", h, r2, 6, 1e-3, 0), "add_ into f16 values");
  /* errors: b larger than a; broadcast destination */
  hub_tensor *big = hub_full(2, (int64_t[]){4, 3}, 1.0, HUB_F32);
  hub_clear_error();
  CHECK(hub_add_(b, big, 1.0) == -1 && has(hub_last_error(), "add_"), "add_ with a larger b: '%s'", hub_last_error());
  hub_tensor *ex = hub_expand(b, 2, (int64_t[]){4, 3});
  hub_clear_error();
  CHECK(ex && hub_add_(ex, big, 1.0) == -1 && has(hub_last_error(), "add_"), "add_ into an expanded view: '%s'",
        hub_last_error());
  hub_tensor *all[] = {a, b, at, c, h, one, big, ex};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);
  free(av);
  free(bv);
  free(cv);
  free(atv);
  free(hv);
}

/* ---- copy and fill ---- */

static void test_copy(void) {
  float src[8] = {-2.7f, -0.5f, 0.0f, 0.5f, 1.5f, 300.0f, 65504.0f, 1e-3f};
  hub_tensor *f = hub_tensor_from_data(HUB_F32, 1, (int64_t[]){8}, src, HUB_F32);
  double r_i[8] = {-2, 0, 0, 0, 1, 300, 65504, 0}, r_u8[8] = {254, 0, 0, 0, 1, 44, 224, 0};
  double r_b[8] = {1, 1, 0, 1, 1, 1, 1, 1}, r_f[8];
  for (int i = 0; i < 8; i++) r_f[i] = src[i];
  hub_tensor *i32 = hub_to_dtype(f, HUB_I32), *i64 = hub_to_dtype(f, HUB_I64), *u8 = hub_to_dtype(f, HUB_U8);
  hub_tensor *bo = hub_to_dtype(f, HUB_BOOL), *h = hub_to_dtype(f, HUB_F16), *bf = hub_to_dtype(f, HUB_BF16);
  CHECK(compare("f32->i32", i32, r_i, 8, 0, 0), "f32 to i32 truncates");
  CHECK(compare("f32->i64", i64, r_i, 8, 0, 0), "f32 to i64 truncates");
  CHECK(compare("f32->u8", u8, r_u8, 8, 0, 0), "f32 to u8 wraps");
  CHECK(compare("f32->bool", bo, r_b, 8, 0, 0), "f32 to bool");
  CHECK(compare("f32->f16", h, r_f, 8, 1e-3, 0), "f32 to f16");
  CHECK(compare("f32->bf16", bf, r_f, 8, 4e-3, 0), "f32 to bf16");
  hub_tensor *back = hub_to_dtype(i64, HUB_F32), *hb = hub_to_dtype(h, HUB_BF16), *bb = hub_to_dtype(bo, HUB_I32);
  CHECK(compare("i64->f32", back, r_i, 8, 0, 0), "i64 to f32");
  CHECK(compare("f16->bf16", hb, r_f, 8, 5e-3, 0), "f16 to bf16");
  CHECK(compare("bool->i32", bb, r_b, 8, 0, 0), "bool to i32");
  hub_tensor *all[] = {f, i32, i64, u8, bo, h, bf, back, hb, bb};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);

  /* strided sources: a transposed matrix (parallel path), an expanded row, a narrowed column */
  int64_t R = 300, C = 257;
  hub_tensor *m = rand_tensor(2, (int64_t[]){R, C}, -4, 4, 0), *mt = hub_transpose(m, 0, 1);
  hub_tensor *d = hub_tensor_empty(HUB_F32, 2, (int64_t[]){C, R}, HUB_CPU);
  hub_tensor *d16 = hub_tensor_empty(HUB_BF16, 2, (int64_t[]){C, R}, HUB_CPU);
  double *mv = values(m), *ref = malloc(sizeof(double) * (size_t)(R * C));
  for (int64_t i = 0; i < C; i++)
    for (int64_t j = 0; j < R; j++) ref[i * R + j] = mv[j * C + i];
  CHECK(hub_copy_(d, mt) == 0 && compare("copy transposed", d, ref, R * C, 0, 0), "copy of a transposed view");
  CHECK(hub_copy_(d16, mt) == 0 && compare("copy transposed bf16", d16, ref, R * C, 4e-3, 0),
        "copy of a transposed view into bf16");
  hub_tensor *row = hub_narrow(m, 0, 5, 1); /* [1, C] */
  hub_tensor *e = hub_tensor_empty(HUB_F32, 2, (int64_t[]){R, C}, HUB_CPU);
  for (int64_t i = 0; i < R * C; i++) ref[i] = mv[5 * C + i % C];
  CHECK(hub_copy_(e, row) == 0 && compare("copy expanded row", e, ref, R * C, 0, 0), "copy of a broadcast row");
  hub_tensor *colv = hub_narrow(m, 1, 3, 1); /* [R, 1], stride C */
  hub_tensor *ci = hub_tensor_empty(HUB_I64, 2, (int64_t[]){R, 1}, HUB_CPU);
  for (int64_t i = 0; i < R; i++) ref[i] = trunc(mv[i * C + 3]);
  CHECK(hub_copy_(ci, colv) == 0 && compare("copy column to i64", ci, ref, R, 0, 0), "copy of a strided column to i64");

  /* fill: whole tensor, a strided view, each dtype */
  CHECK(hub_fill_(mt, 0.25) == 0, "fill of a view");
  for (int64_t i = 0; i < R * C; i++) ref[i] = 0.25;
  CHECK(compare("fill", m, ref, R * C, 0, 0), "fill values");
  hub_tensor *sub = hub_narrow(m, 1, 10, 5);
  CHECK(hub_fill_(sub, -3) == 0, "fill of a narrowed view");
  double *after = values(m);
  int ok = 1;
  for (int64_t i = 0; i < R * C; i++) ok &= after[i] == ((i % C >= 10 && i % C < 15) ? -3 : 0.25);
  CHECK(ok, "fill of a narrowed view touches exactly its elements");
  free(after);
  for (int dt = 0; dt < HUB_DTYPE_COUNT; dt++) {
    hub_tensor *t = hub_tensor_empty(dt, 2, (int64_t[]){3, 5}, HUB_CPU);
    double v = dt == HUB_BOOL ? 1 : 7;
    double r[15];
    for (int i = 0; i < 15; i++) r[i] = v;
    CHECK(t && hub_fill_(t, v) == 0 && compare(hub_dtype_name(dt), t, r, 15, 0, 0), "fill %s", hub_dtype_name(dt));
    hub_tensor_release(t);
  }
  hub_tensor *all2[] = {m, mt, d, d16, row, e, colv, ci, sub};
  for (size_t i = 0; i < sizeof all2 / sizeof *all2; i++) hub_tensor_release(all2[i]);
  free(mv);
  free(ref);
}

/* f32 <-> f16 of contiguous runs (F16C instructions where available) must give the same bits
 * as the strided path (the portable conversions of dtype.c): every half, and 2^18 floats whose
 * exponents cover the half range, its subnormals and overflow. */
static void test_half_conversions(void) {
  int64_t n = 65536;
  hub_tensor *h2 = hub_tensor_empty(HUB_F16, 2, (int64_t[]){n, 2}, HUB_CPU), *h = hub_tensor_empty(HUB_F16, 1, &n, HUB_CPU);
  for (int64_t i = 0; i < n; i++) {
    ((uint16_t *)h->data)[i] = (uint16_t)i;
    ((uint16_t *)h2->data)[2 * i] = ((uint16_t *)h2->data)[2 * i + 1] = (uint16_t)i;
  }
  hub_tensor *hv = hub_narrow(h2, 1, 0, 1), *fa = hub_to_dtype(h, HUB_F32), *fb = hub_tensor_empty(HUB_F32, 2, (int64_t[]){n, 1}, HUB_CPU);
  int ok = fa && hub_copy_(fb, hv) == 0;
  for (int64_t i = 0; ok && i < n; i++) {
    float x = ((float *)fa->data)[i], y = ((float *)fb->data)[i];
    if (!(x == y || (isnan(x) && isnan(y)))) {
      printf("  half %04llx: %g (contiguous) vs %g (strided)\n", (long long)i, x, y);
      ok = 0;
    }
  }
  CHECK(ok, "f16 -> f32: contiguous and strided conversions agree on every half");
  int64_t m = 1 << 18;
  hub_tensor *f2 = hub_tensor_empty(HUB_F32, 2, (int64_t[]){m, 2}, HUB_CPU), *f = hub_tensor_empty(HUB_F32, 1, &m, HUB_CPU);
  for (int64_t i = 0; i < m; i++) {
    uint32_t sign = urand() < 0.5 ? 0x80000000u : 0, e = 127 - 30 + (uint32_t)(urand() * 50);
    uint32_t bits = sign | (e << 23) | ((uint32_t)(urand() * 8388608.0) & 0x7fffff);
    if (i % 1024 == 0) bits = (uint32_t)(rng_state >> 32); /* anything, NaN and inf included */
    float x;
    memcpy(&x, &bits, 4);
    ((float *)f->data)[i] = ((float *)f2->data)[2 * i] = ((float *)f2->data)[2 * i + 1] = x;
  }
  hub_tensor *fv = hub_narrow(f2, 1, 0, 1), *ha = hub_to_dtype(f, HUB_F16), *hb = hub_tensor_empty(HUB_F16, 2, (int64_t[]){m, 1}, HUB_CPU);
  ok = ha && hub_copy_(hb, fv) == 0;
  for (int64_t i = 0; ok && i < m; i++) {
    uint16_t x = ((uint16_t *)ha->data)[i], y = ((uint16_t *)hb->data)[i];
    int nan = (x & 0x7c00) == 0x7c00 && (x & 0x3ff) && (y & 0x7c00) == 0x7c00 && (y & 0x3ff);
    if (x != y && !nan) {
      printf("  float %.9g: %04x (contiguous) vs %04x (strided)\n", ((float *)f->data)[i], x, y);
      ok = 0;
    }
  }
  CHECK(ok, "f32 -> f16: contiguous and strided conversions agree");
  hub_tensor *all[] = {h2, h, hv, fa, fb, f2, f, fv, ha, hb};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);
}

/* ---- error paths ---- */

static void test_errors(void) {
  hub_tensor *a = hub_full(2, (int64_t[]){2, 3}, 1.0, HUB_F32), *b = hub_full(2, (int64_t[]){4, 5}, 1.0, HUB_F32);
  hub_tensor *ids = hub_full(1, (int64_t[]){3}, 1.0, HUB_I64), *y;
  const char *names[4] = {"add", "sub", "mul", "div"};
  for (int op = 0; op < 4; op++) {
    hub_clear_error();
    y = bin_apply(op, a, b);
    CHECK(!y && has(hub_last_error(), names[op]) && has(hub_last_error(), "[2,3]") &&
              has(hub_last_error(), "[4,5]") && has(hub_last_error(), "broadcast"),
          "%s broadcast error: '%s'", names[op], hub_last_error());
    hub_tensor_release(y);
    hub_clear_error();
    /* f32 [2,3] with i64 [3] is promoted to f32: 1 op 1 everywhere */
    y = bin_apply(op, a, ids);
    double one = bin_ref(op, 1.0, 1.0);
    int okv = y && y->dtype == HUB_F32 && y->ndim == 2;
    for (int i = 0; okv && i < 6; i++) okv = hub_tensor_get(y, i) == one;
    CHECK(okv, "%s f32 with i64 promotes to f32: '%s'", names[op], hub_last_error());
    hub_tensor_release(y);
  }
  static const struct { const char *name; int kind; } un[] = {
      {"neg", U_NEG}, {"exp", U_EXP}, {"log", U_LOG}, {"sqrt", U_SQRT}, {"rsqrt", U_RSQRT}, {"abs", U_ABS},
      {"relu", U_RELU}, {"tanh", U_TANH}, {"sigmoid", U_SIGMOID}, {"gelu", U_GELU}, {"add_scalar", U_ADDS},
      {"mul_scalar", U_MULS}, {"rsub_scalar", U_RSUBS}, {"rdiv_scalar", U_RDIVS}, {"pow", U_POW}};
  for (size_t k = 0; k < sizeof un / sizeof *un; k++) {
    hub_clear_error();
    /* relu and gelu need floats; neg, abs and the scalar forms with an integral number keep
     * i64 (torch's rule for Python scalars); the others compute in f32 */
    y = un_apply(un[k].kind, 2, ids);
    int kind = un[k].kind;
    if (kind == U_RELU || kind == U_GELU) {
      CHECK(!y && has(hub_last_error(), un[k].name) && has(hub_last_error(), "float") && has(hub_last_error(), "i64"),
            "%s dtype error: '%s'", un[k].name, hub_last_error());
    } else {
      int want = (kind == U_NEG || kind == U_ABS || kind == U_ADDS || kind == U_MULS || kind == U_RSUBS ||
                  kind == U_POW) ? HUB_I64 : HUB_F32;
      CHECK(y && y->dtype == want, "%s of i64 gives %s: '%s'", un[k].name, hub_dtype_name(want), hub_last_error());
    }
    hub_tensor_release(y);
    hub_clear_error();
    y = un_apply(un[k].kind, 2, NULL);
    CHECK(!y && has(hub_last_error(), un[k].name), "%s nil error: '%s'", un[k].name, hub_last_error());
  }
  hub_clear_error();
  CHECK(!hub_add(NULL, a) && has(hub_last_error(), "add"), "add nil: '%s'", hub_last_error());
  /* where: float condition, unbroadcastable shapes; masked_fill: mask larger than input */
  hub_clear_error();
  y = hub_where(a, a, a);
  CHECK(!y && has(hub_last_error(), "where") && has(hub_last_error(), "bool"), "where cond dtype: '%s'",
        hub_last_error());
  hub_tensor *cond = hub_full(1, (int64_t[]){5}, 1.0, HUB_BOOL);
  hub_clear_error();
  y = hub_where(cond, a, a);
  CHECK(!y && has(hub_last_error(), "where") && has(hub_last_error(), "broadcast"), "where shapes: '%s'",
        hub_last_error());
  hub_tensor *mask = hub_full(2, (int64_t[]){4, 3}, 1.0, HUB_BOOL);
  hub_clear_error();
  y = hub_masked_fill(a, mask, 0);
  CHECK(!y && has(hub_last_error(), "masked_fill"), "masked_fill mask shape: '%s'", hub_last_error());
  hub_clear_error();
  y = hub_masked_fill(a, a, 0);
  CHECK(!y && has(hub_last_error(), "masked_fill") && has(hub_last_error(), "mask"), "masked_fill mask dtype: '%s'",
        hub_last_error());
  hub_clear_error();
  y = hub_where(cond, ids, ids);
  CHECK(!y && has(hub_last_error(), "where"), "where i64 values: '%s'", hub_last_error());
  hub_tensor *all[] = {a, b, ids, cond, mask};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);
}

/* No graph is recorded with grad mode off, and results of ops on leaves carry grad_fn names. */
static void test_recording(void) {
  hub_tensor *x = rand_tensor(1, (int64_t[]){4}, 0.5, 2, 0);
  hub_tensor_set_requires_grad(x, 1);
  hub_tensor *y = hub_div(x, x), *z = hub_exp(x);
  CHECK(y && hub_tensor_grad_fn_name(y) && !strcmp(hub_tensor_grad_fn_name(y), "div"), "div grad_fn name");
  CHECK(z && hub_tensor_grad_fn_name(z) && !strcmp(hub_tensor_grad_fn_name(z), "exp"), "exp grad_fn name");
  hub_tensor_release(y);
  hub_tensor_release(z);
  int prev = hub_set_grad_enabled(0);
  y = hub_gelu(x, 0);
  CHECK(y && !y->requires_grad && !y->grad_fn, "no recording under no-grad");
  hub_set_grad_enabled(prev);
  hub_tensor_release(y);
  hub_tensor_release(x);
}

int main(void) {
  hub_manual_seed(7);
  test_copy();
  test_half_conversions();
  test_binary_forward();
  test_unary_values(37);
  test_unary_values(5000);
  test_unary_inputs();
  test_where_values();
  test_add_inplace();
  test_gradients();
  test_errors();
  test_recording();
  CHECK(hub_tensor_live_count() == 0, "%lld tensors still alive", (long long)hub_tensor_live_count());
  CHECK(hub_node_live_count() == 0, "%lld autograd nodes still alive", (long long)hub_node_live_count());
  return check_summary();
}
