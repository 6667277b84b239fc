/* test_op_parity.c - every op case written once, run on every backend that is built (ggml's
 * test-backend-ops idea, our code).
 *
 * A case says how to build the op from its inputs (shapes, which inputs must be positive), the
 * tolerance of the backend's f32 result against the reference, and whether its gradients are
 * checked.  The reference is the op on the CPU in f64 (the naive double loops of
 * kernels/cpu/f64.c where the op has them; ops without an f64 path compute in f32 from the same
 * inputs).  For every available device (hub_device_available: today the CPU; the CUDA issue
 * fills in that column) the inputs are moved there with hub_to_device, the op runs in f32, and
 * its output and the gradients of sum(out * w) (w fixed random weights) come back to be
 * compared.  With `grad` set, the reference gradients are themselves checked against central
 * finite differences in f64, so a wrong backward cannot hide behind a matching one.
 *
 * Adding an op: one line in `cases` (and a tiny function when it takes options).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "check.h"

#define MAXIN 3

typedef hub_tensor *(*op_fn)(hub_tensor **in);

typedef struct op_case {
  const char *name;
  op_fn fn;
  int n_in;
  int ndim[MAXIN];
  int64_t shape[MAXIN][4];
  unsigned positive; /* bit i: input i is drawn from [0.5, 1.5) (log, div, sqrt) */
  double tol;        /* max |backend - reference| / (1 + |reference|) */
  int grad;          /* check gradients (and the reference's against finite differences) */
} op_case;

static void release_all(int n, hub_tensor **ts) {
  for (int i = 0; i < n; i++) hub_tensor_release(ts[i]);
}

static hub_tensor *op_add(hub_tensor **x) { return hub_add(x[0], x[1]); }
static hub_tensor *op_mul(hub_tensor **x) { return hub_mul(x[0], x[1]); }
static hub_tensor *op_div(hub_tensor **x) { return hub_div(x[0], x[1]); }
static hub_tensor *op_matmul(hub_tensor **x) { return hub_matmul(x[0], x[1]); }
static hub_tensor *op_exp(hub_tensor **x) { return hub_exp(x[0]); }
static hub_tensor *op_tanh(hub_tensor **x) { return hub_tanh(x[0]); }
static hub_tensor *op_sigmoid(hub_tensor **x) { return hub_sigmoid(x[0]); }
static hub_tensor *op_gelu(hub_tensor **x) { return hub_gelu(x[0], 0); }
static hub_tensor *op_sum(hub_tensor **x) { return hub_sum(x[0], 1, (int[]){-1}, 0); }
static hub_tensor *op_mean(hub_tensor **x) { return hub_mean(x[0], 1, (int[]){0}, 1); }
static hub_tensor *op_softmax(hub_tensor **x) { return hub_softmax(x[0], -1); }
static hub_tensor *op_log_softmax(hub_tensor **x) { return hub_log_softmax(x[0], -1); }
static hub_tensor *op_layer_norm(hub_tensor **x) { return hub_layer_norm(x[0], 1, x[1], x[2], 1e-5); }
static hub_tensor *op_attention(hub_tensor **x) { return hub_attention(x[0], x[1], x[2], NULL, 0); }

static const op_case cases[] = {
    {"add (broadcast)", op_add, 2, {2, 1}, {{3, 4}, {4}}, 0, 1e-6, 1},
    {"mul", op_mul, 2, {2, 2}, {{3, 4}, {3, 4}}, 0, 1e-6, 1},
    {"div", op_div, 2, {2, 2}, {{3, 4}, {3, 4}}, 2, 1e-6, 1},
    {"matmul (batched)", op_matmul, 2, {3, 2}, {{2, 3, 5}, {5, 4}}, 0, 1e-5, 1},
    {"exp", op_exp, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"tanh", op_tanh, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"sigmoid", op_sigmoid, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"gelu", op_gelu, 1, {2}, {{3, 4}}, 0, 1e-5, 1},
    {"sum", op_sum, 1, {3}, {{2, 3, 4}}, 0, 1e-6, 1},
    {"mean", op_mean, 1, {2}, {{5, 3}}, 0, 1e-6, 1},
    {"softmax", op_softmax, 1, {2}, {{3, 6}}, 0, 1e-5, 1},
    {"log_softmax", op_log_softmax, 1, {2}, {{3, 6}}, 0, 1e-5, 1},
    {"layer_norm", op_layer_norm, 3, {2, 1, 1}, {{4, 8}, {8}, {8}}, 0, 1e-4, 1},
    {"attention", op_attention, 3, {3, 3, 3}, {{2, 3, 4}, {2, 5, 4}, {2, 5, 3}}, 0, 1e-5, 1},
};

static double *read_all(hub_tensor *t) {
  hub_tensor *c = hub_to_device(t, HUB_CPU);
  double *v = c ? malloc(sizeof(double) * (size_t)(hub_tensor_numel(c) + 1)) : NULL;
  if (v && hub_tensor_read(c, v, -1)) {
    free(v);
    v = NULL;
  }
  hub_tensor_release(c);
  return v;
}

/* sum(fn(inputs) * w): the scalar whose gradients are compared. */
static hub_tensor *objective(const op_case *c, hub_tensor **in, hub_tensor *w, hub_tensor **out) {
  *out = c->fn(in);
  if (!*out) return NULL;
  hub_tensor *wd = hub_to_dtype(w, hub_tensor_dtype(*out));
  hub_tensor *wdev = wd ? hub_to_device(wd, hub_tensor_device(*out)) : NULL;
  hub_tensor *p = wdev ? hub_mul(*out, wdev) : NULL;
  hub_tensor *s = p ? hub_sum(p, 0, NULL, 0) : NULL;
  release_all(3, (hub_tensor *[]){wd, wdev, p});
  return s;
}

static double max_rel(const double *a, const double *ref, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(a[i] - ref[i]) / (1 + fabs(ref[i]));
    if (!(d <= m)) m = d; /* NaN counts as the worst */
  }
  return m;
}

/* The reference run in f64 on the CPU: output, objective and input gradients; with grad set,
 * the gradients are checked against central differences. */
static int reference(const op_case *c, hub_tensor **x32, hub_tensor *w, double **out, int64_t *nout,
                     double **grads) {
  hub_tensor *x[MAXIN] = {NULL}, *o = NULL;
  for (int i = 0; i < c->n_in; i++) {
    x[i] = hub_to_dtype(x32[i], HUB_F64);
    hub_tensor_set_requires_grad(x[i], 1);
  }
  hub_tensor *s = objective(c, x, w, &o);
  int ok = s && hub_backward(s, NULL) == 0;
  /* ops without an f64 path compute the reference in f32: coarser differences, looser bound */
  const int in_f64 = o && hub_tensor_dtype(o) == HUB_F64;
  CHECK(ok, "%s: reference (cpu, f64): %s", c->name, hub_last_error());
  if (ok) {
    *out = read_all(o);
    *nout = hub_tensor_numel(o);
    for (int i = 0; i < c->n_in; i++) {
      hub_tensor *g = hub_tensor_grad(x[i]);
      grads[i] = g ? read_all(g) : NULL;
      hub_tensor_release(g);
    }
  }
  hub_tensor_release(s);
  hub_tensor_release(o);
  if (ok && c->grad) { /* finite differences of the objective, in f64 */
    int prev = hub_set_grad_enabled(0);
    const double h = in_f64 ? 1e-6 : 1e-2, bound = in_f64 ? 1e-5 : 2e-3;
    double worst = 0;
    for (int i = 0; i < c->n_in && ok; i++) {
      int64_t n = hub_tensor_numel(x[i]);
      hub_tensor *xi = x[i];
      for (int64_t k = 0; k < n; k++) {
        double v = hub_tensor_get(xi, k), f[2];
        for (int sgn = 0; sgn < 2; sgn++) {
          if (hub_tensor_set(xi, k, v + (sgn ? -h : h))) ok = 0;
          hub_tensor *oo = NULL, *ss = objective(c, x, w, &oo);
          f[sgn] = ss ? hub_tensor_get(ss, 0) : NAN;
          release_all(2, (hub_tensor *[]){ss, oo});
        }
        if (hub_tensor_set(xi, k, v)) ok = 0;
        double num = (f[0] - f[1]) / (2 * h), an = grads[i] ? grads[i][k] : NAN;
        double d = fabs(num - an) / (1 + fabs(num));
        if (!(d <= worst)) worst = d;
      }
    }
    hub_set_grad_enabled(prev);
    CHECK(worst < bound, "%s: reference gradient (%s) vs finite differences: %.3g", c->name,
          in_f64 ? "f64" : "f32", worst);
  }
  release_all(MAXIN, x);
  return ok ? 0 : -1;
}

static void run_on(const op_case *c, int device, hub_tensor **x32, hub_tensor *w, const double *ref,
                   int64_t nref, double *const *gref) {
  const char *dev = hub_device_name(device);
  hub_tensor *x[MAXIN] = {NULL}, *o = NULL;
  for (int i = 0; i < c->n_in; i++) {
    x[i] = hub_to_device(x32[i], device);
    if (x[i] && c->grad) hub_tensor_set_requires_grad(x[i], 1);
  }
  hub_tensor *s = objective(c, x, w, &o);
  CHECK(s && (!c->grad || hub_backward(s, NULL) == 0), "%s on %s: %s", c->name, dev, hub_last_error());
  double *v = o ? read_all(o) : NULL;
  if (v) {
    CHECK(hub_tensor_numel(o) == nref, "%s on %s: %lld elements, reference %lld", c->name, dev,
          (long long)hub_tensor_numel(o), (long long)nref);
    double e = max_rel(v, ref, nref);
    CHECK(e <= c->tol, "%s on %s: output differs from the reference by %.3g (tolerance %.3g)", c->name, dev, e,
          c->tol);
  }
  free(v);
  for (int i = 0; c->grad && i < c->n_in; i++) {
    hub_tensor *g = hub_tensor_grad(x[i]);
    double *gv = g ? read_all(g) : NULL;
    double e = gv && gref[i] ? max_rel(gv, gref[i], hub_tensor_numel(x[i])) : INFINITY;
    CHECK(e <= 10 * c->tol, "%s on %s: gradient of input %d differs by %.3g", c->name, dev, i + 1, e);
    free(gv);
    hub_tensor_release(g);
  }
  release_all(2, (hub_tensor *[]){s, o});
  release_all(MAXIN, x);
}

int main(void) {
  int devices = 0;
  for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
    const op_case *c = &cases[ci];
    hub_manual_seed(1000 + ci);
    hub_tensor *x32[MAXIN] = {NULL};
    for (int i = 0; i < c->n_in; i++) {
      hub_tensor *r = (c->positive >> i & 1) ? hub_rand(c->ndim[i], c->shape[i], HUB_F32)
                                             : hub_randn(c->ndim[i], c->shape[i], HUB_F32);
      x32[i] = (c->positive >> i & 1) ? hub_add_scalar(r, 0.5) : hub_tensor_retain(r);
      hub_tensor_release(r);
    }
    /* the weights of the objective take the output's shape: run the op once to learn it */
    hub_tensor *probe = c->fn(x32);
    int64_t osh[8] = {0};
    for (int d = 0; probe && d < hub_tensor_ndim(probe); d++) osh[d] = hub_tensor_size(probe, d);
    hub_tensor *w = probe ? hub_randn(hub_tensor_ndim(probe), osh, HUB_F32) : NULL;
    hub_tensor_release(probe);
    double *ref = NULL, *gref[MAXIN] = {NULL};
    int64_t nref = 0;
    if (w && reference(c, x32, w, &ref, &nref, gref) == 0) {
      for (int d = 0; d < HUB_DEVICE_COUNT; d++) {
        if (!hub_device_available(d)) continue;
        run_on(c, d, x32, w, ref, nref, gref);
        if (ci == 0) devices++;
      }
    } else {
      CHECK(0, "%s: could not build the case: %s", c->name, hub_last_error());
    }
    free(ref);
    for (int i = 0; i < MAXIN; i++) free(gref[i]);
    hub_tensor_release(w);
    release_all(MAXIN, x32);
  }
  printf("%zu op cases on %d backend(s)\n", sizeof cases / sizeof *cases, devices);
  return check_summary();
}
