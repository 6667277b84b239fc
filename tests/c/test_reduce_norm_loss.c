/* test_reduce_norm_loss.c - reductions, softmax, layer_norm, dropout and the losses.
 *
 * Every op is compared with a naive double-precision reference written here, every
 * differentiable op's gradient with central finite differences, dropout is checked for
 * determinism and for the fraction it keeps, and the error paths must return NULL with a message
 * naming the op.  At the end no tensor or autograd node may be left alive.
 * Prints "N passed, N failed"; returns nonzero on failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "internal.h" /* hub_rng_uniform, to check dropout's mask against the stream */

/* A failed check also shows the last error. */
#define CHECK_FAIL_END() printf("  [last error: %s]\n", hub_last_error())
#include "check.h"

/* ---- helpers ---- */

static uint64_t g_lcg = 12345;
static double urand(void) { /* uniform in [-1, 1) */
  g_lcg = g_lcg * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(g_lcg >> 11) / (double)(1ULL << 53) * 2.0 - 1.0;
}

/* A new f32 tensor filled from doubles (values rounded to f32; refs read them back). */
static hub_tensor *make(int ndim, const int64_t *shape, const double *v) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
  hub_tensor *t = hub_tensor_from_data(HUB_F32, ndim, shape, f, HUB_F32);
  free(f);
  return t;
}

static hub_tensor *make_rand(int ndim, const int64_t *shape, double scale) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) v[i] = urand() * scale;
  hub_tensor *t = make(ndim, shape, v);
  free(v);
  return t;
}

static double max_abs_diff(const hub_tensor *t, const double *ref, int64_t n) {
  if (!t || hub_tensor_numel(t) != n) return INFINITY;
  double *v = values(t), m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(v[i] - ref[i]);
    if (!(d <= m)) m = d; /* NaN propagates */
  }
  free(v);
  return m;
}

static int error_names(const char *op) {
  return strstr(hub_last_error(), op) != NULL;
}

/* Row-major coordinates of flat index i. */
static void unravel(int64_t i, int ndim, const int64_t *shape, int64_t *c) {
  for (int d = ndim - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i /= shape[d];
  }
}

/* ---- finite-difference gradient check ----
 * loss = sum(out * W) with W fixed random, analytical gradients from hub_backward(out, W).
 * Tolerance: out is f32, so each evaluation of loss carries a rounding error of about
 * sum|out_j W_j| * 6e-8 (<= 1e-5 for the ~100-element outputs used here); the central
 * difference divides that by 2*eps = 2e-3, giving up to ~5e-3 of noise, while its truncation
 * error (eps^2 * f''' ~ 1e-6) is negligible.  Hence |num - ana| <= 1e-2 + 1e-2 * |ana|. */
typedef hub_tensor *(*fn_t)(hub_tensor **in, void *ctx);

static void gradcheck(const char *name, fn_t f, int nin, hub_tensor **in, const int *check,
                      void *ctx) {
  const double eps = 1e-3;
  for (int k = 0; k < nin; k++)
    if (check[k]) hub_tensor_set_requires_grad(in[k], 1);
  hub_tensor *out = f(in, ctx);
  CHECK(out != NULL, "%s: forward failed", name);
  if (!out) return;
  hub_tensor *W = make_rand(out->ndim, out->shape, 1.0);
  double *w = values(W);
  int64_t nout = hub_tensor_numel(out);
  int rc = hub_backward(out, W);
  CHECK(rc == 0, "%s: backward failed", name);
  hub_tensor_release(out);
  int prev = hub_set_grad_enabled(0);
  for (int k = 0; k < nin && rc == 0; k++) {
    if (!check[k]) continue;
    hub_tensor *g = hub_tensor_grad(in[k]);
    CHECK(g && hub_tensor_numel(g) == hub_tensor_numel(in[k]), "%s: no gradient for input %d",
          name, k);
    if (!g) continue;
    double *ga = values(g), worst = 0;
    int64_t wi = -1;
    for (int64_t i = 0; i < hub_tensor_numel(in[k]); i++) {
      double orig = hub_tensor_get(in[k], i), L[2];
      for (int s = 0; s < 2; s++) {
        hub_tensor_set(in[k], i, orig + (s ? -eps : eps));
        hub_tensor *o = f(in, ctx);
        double *ov = o ? values(o) : NULL, acc = 0;
        for (int64_t j = 0; ov && j < nout; j++) acc += ov[j] * w[j];
        L[s] = ov ? acc : NAN;
        free(ov);
        hub_tensor_release(o);
      }
      hub_tensor_set(in[k], i, orig);
      double num = (L[0] - L[1]) / (2 * eps);
      double err = fabs(num - ga[i]) / (1.0 + fabs(ga[i]));
      if (!(err <= worst)) {
        worst = err;
        wi = i;
      }
    }
    CHECK(worst <= 1e-2, "%s: gradient of input %d off by %g (relative) at element %lld", name, k,
          worst, (long long)wi);
    free(ga);
    hub_tensor_release(g);
    hub_tensor_zero_grad(in[k]);
    hub_tensor_set_requires_grad(in[k], 0);
  }
  hub_set_grad_enabled(prev);
  free(w);
  hub_tensor_release(W);
}

/* ---- reductions ---- */

/* Reference: reduce a [3,4,5]-like tensor over the dims in mask (bit d), keepdim shape order. */
static void ref_reduce(const double *x, int ndim, const int64_t *shape, unsigned mask, int mean,
                       double *out, int64_t *nout) {
  int64_t oshape[8], n = 1, cnt = 1;
  for (int d = 0; d < ndim; d++) {
    oshape[d] = (mask >> d) & 1 ? 1 : shape[d];
    n *= shape[d];
    if ((mask >> d) & 1) cnt *= shape[d];
  }
  int64_t no = n / cnt;
  for (int64_t i = 0; i < no; i++) out[i] = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t c[8], o = 0;
    unravel(i, ndim, shape, c);
    for (int d = 0; d < ndim; d++) o = o * oshape[d] + ((mask >> d) & 1 ? 0 : c[d]);
    out[o] += x[i];
  }
  if (mean)
    for (int64_t i = 0; i < no; i++) out[i] /= (double)cnt;
  *nout = no;
}

static void test_sum_mean(void) {
  int64_t sh[3] = {3, 4, 5};
  hub_tensor *x = make_rand(3, sh, 2.0);
  double *xv = values(x), ref[60];
  int64_t nref;
  struct { int nd; int dims[3]; unsigned mask; } cases[] = {
      {1, {1}, 2}, {1, {-1}, 4}, {2, {0, 2}, 5}, {2, {2, 0}, 5}, {0, {0}, 7}, {3, {0, 1, 2}, 7}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int mean = 0; mean < 2; mean++) {
      for (int keep = 0; keep < 2; keep++) {
        hub_tensor *s = mean ? hub_mean(x, cases[c].nd, cases[c].dims, keep)
                             : hub_sum(x, cases[c].nd, cases[c].dims, keep);
        ref_reduce(xv, 3, sh, cases[c].mask, mean, ref, &nref);
        int expect_nd = 0;
        for (int d = 0; d < 3; d++) expect_nd += keep || !((cases[c].mask >> d) & 1);
        CHECK(s && s->ndim == expect_nd && max_abs_diff(s, ref, nref) < 1e-5,
              "%s case %zu keepdim %d", mean ? "mean" : "sum", c, keep);
        hub_tensor_release(s);
      }
    }
  }
  /* precision of a long sum: 2^21 copies of 0.1f, exact value known in double */
  int64_t big = 1 << 21;
  hub_tensor *b = hub_full(1, &big, 0.1, HUB_F32);
  hub_tensor *bs = hub_sum(b, 0, NULL, 0);
  double exact = (double)big * (double)0.1f;
  CHECK(bs && fabs(hub_tensor_get(bs, 0) - exact) <= 1e-6 * exact, "long sum: %.9g vs %.9g",
        bs ? hub_tensor_get(bs, 0) : NAN, exact);
  hub_tensor_release(bs);
  hub_tensor_release(b);
  /* a column sum (inner > 1 path) on a non-contiguous (transposed) input */
  int64_t s2[2] = {37, 300};
  hub_tensor *m = make_rand(2, s2, 1.0), *mt = hub_transpose(m, 0, 1); /* [300, 37] */
  double *mv = values(m), colref[37];
  for (int i = 0; i < 37; i++) {
    colref[i] = 0;
    for (int j = 0; j < 300; j++) colref[i] += mv[i * 300 + j];
  }
  hub_tensor *ms = hub_sum(mt, 1, (int[]){0}, 0);
  CHECK(ms && ms->ndim == 1 && ms->shape[0] == 37 && max_abs_diff(ms, colref, 37) < 1e-4,
        "sum over dim 0 of a transposed tensor");
  hub_tensor_release(ms);
  hub_tensor_release(mt);
  hub_tensor_release(m);
  free(mv);
  /* long reductions with inner > 1 are cut in row chunks: [3, 1100, 5] over dim 1 and 0-2 */
  int64_t s3[3] = {3, 1100, 5};
  hub_tensor *l = make_rand(3, s3, 1.0);
  double *lv = values(l), lref[3 * 1100 * 5];
  int64_t nl;
  unsigned lmasks[3] = {2, 1, 5};
  for (int k = 0; k < 3; k++) {
    int dl[2], nd = 0;
    for (int d = 0; d < 3; d++)
      if ((lmasks[k] >> d) & 1) dl[nd++] = d;
    hub_tensor *ls = hub_mean(l, nd, dl, 1);
    ref_reduce(lv, 3, s3, lmasks[k], 1, lref, &nl);
    CHECK(ls && max_abs_diff(ls, lref, nl) < 1e-6, "long mean, dims mask %u", lmasks[k]);
    hub_tensor_release(ls);
  }
  free(lv);
  hub_tensor_release(l);
  /* integer input sums to i64 */
  hub_tensor *iv = hub_arange(0, 10, 1, HUB_I64), *is = hub_sum(iv, 0, NULL, 0);
  CHECK(is && is->dtype == HUB_I64 && hub_tensor_get(is, 0) == 45, "sum of i64 arange");
  hub_tensor_release(is);
  hub_tensor_release(iv);
  free(xv);
  hub_tensor_release(x);
}

static void test_max_argmax(void) {
  /* [2,3,4] with ties: the first position of the maximum wins */
  double v[24];
  for (int i = 0; i < 24; i++) v[i] = (double)((i * 7) % 5);
  int64_t sh[3] = {2, 3, 4};
  hub_tensor *x = make(3, sh, v);
  for (int dim = 0; dim < 3; dim++) {
    int64_t oshape[3] = {2, 3, 4};
    oshape[dim] = 1;
    double refv[24], refi[24];
    int64_t no = 24 / sh[dim];
    for (int64_t o = 0; o < no; o++) {
      int64_t c[3];
      unravel(o, 3, oshape, c);
      double best = -INFINITY;
      int64_t bi = 0;
      for (int64_t k = 0; k < sh[dim]; k++) {
        c[dim] = k;
        double e = v[(c[0] * 3 + c[1]) * 4 + c[2]];
        if (e > best) {
          best = e;
          bi = k;
        }
      }
      refv[o] = best;
      refi[o] = (double)bi;
    }
    hub_tensor *m = hub_max(x, dim, 1), *a = hub_argmax(x, dim, 0);
    CHECK(shape_is(m, 3, oshape) && max_abs_diff(m, refv, no) == 0, "max over dim %d", dim);
    CHECK(a && a->dtype == HUB_I64 && a->ndim == 2 && max_abs_diff(a, refi, no) == 0,
          "argmax over dim %d", dim);
    hub_tensor_release(m);
    hub_tensor_release(a);
  }
  hub_tensor *a = hub_argmax(x, -1, 1);
  CHECK(a && a->ndim == 3 && a->shape[2] == 1, "argmax keepdim shape");
  hub_tensor_release(a);
  hub_tensor_release(x);
}

static void test_sum_to(void) {
  int64_t sh[3] = {2, 3, 4};
  hub_tensor *x = make_rand(3, sh, 1.0);
  double *xv = values(x), ref[24];
  int64_t nref;
  hub_tensor *s = hub_sum_to(x, 2, (int64_t[]){3, 1});
  ref_reduce(xv, 3, sh, 1 | 4, 0, ref, &nref);
  CHECK(shape_is(s, 2, (int64_t[]){3, 1}) && max_abs_diff(s, ref, nref) < 1e-5,
        "sum_to [2,3,4] -> [3,1]");
  hub_tensor_release(s);
  s = hub_sum_to(x, 3, sh);
  CHECK(shape_is(s, 3, sh) && max_abs_diff(s, xv, 24) == 0, "sum_to same shape");
  hub_tensor_release(s);
  s = hub_sum_to(x, 0, NULL);
  ref_reduce(xv, 3, sh, 7, 0, ref, &nref);
  CHECK(s && s->ndim == 0 && max_abs_diff(s, ref, 1) < 1e-5, "sum_to scalar");
  hub_tensor_release(s);
  s = hub_sum_to(x, 1, (int64_t[]){5});
  CHECK(!s && error_names("sum_to"), "sum_to to an incompatible shape fails");
  free(xv);
  hub_tensor_release(x);
}

/* ---- softmax ---- */

static void ref_softmax(const double *x, const int64_t *sh, int dim, int log, double *y) {
  int64_t outer = 1, inner = 1, n = sh[dim];
  for (int i = 0; i < dim; i++) outer *= sh[i];
  for (int i = dim + 1; i < 3; i++) inner *= sh[i];
  for (int64_t a = 0; a < outer; a++)
    for (int64_t j = 0; j < inner; j++) {
      double m = -INFINITY, s = 0;
      for (int64_t k = 0; k < n; k++) m = fmax(m, x[(a * n + k) * inner + j]);
      for (int64_t k = 0; k < n; k++) s += exp(x[(a * n + k) * inner + j] - m);
      for (int64_t k = 0; k < n; k++) {
        double e = x[(a * n + k) * inner + j] - m;
        y[(a * n + k) * inner + j] = log ? e - (double)logl(s) : exp(e) / s;
      }
    }
}

static void test_softmax(void) {
  int64_t sh[3] = {3, 4, 5};
  hub_tensor *x = make_rand(3, sh, 3.0);
  double *xv = values(x), ref[60];
  int dims[3] = {0, 1, -1};
  for (int k = 0; k < 3; k++)
    for (int log = 0; log < 2; log++) {
      hub_tensor *y = log ? hub_log_softmax(x, dims[k]) : hub_softmax(x, dims[k]);
      ref_softmax(xv, sh, dims[k] < 0 ? 2 : dims[k], log, ref);
      /* log_softmax values reach ~8 in magnitude: f32 spacing there is 1e-6 */
      CHECK(shape_is(y, 3, sh) && max_abs_diff(y, ref, 60) < 4e-6, "%s over dim %d (%g)",
            log ? "log_softmax" : "softmax", dims[k], max_abs_diff(y, ref, 60));
      hub_tensor_release(y);
    }
  /* large logits do not overflow */
  double big[3] = {1000, 1001, 1002}, bref[3];
  hub_tensor *b = make(1, (int64_t[]){3}, big), *bs = hub_softmax(b, 0);
  double s = exp(-2.0) + exp(-1.0) + 1;
  bref[0] = exp(-2.0) / s, bref[1] = exp(-1.0) / s, bref[2] = 1 / s;
  CHECK(max_abs_diff(bs, bref, 3) < 1e-6, "softmax of large logits");
  hub_tensor_release(bs);
  hub_tensor_release(b);
  /* a transposed (non-contiguous) f16 input is converted and made contiguous */
  hub_tensor *h = hub_to_dtype(x, HUB_F16), *ht = hub_transpose(h, 0, 2), *hs = hub_softmax(ht, 0);
  CHECK(hs && hs->dtype == HUB_F32 && hs->shape[0] == 5, "softmax of a transposed f16 tensor");
  if (hs) { /* hs[k, j, i] = softmax over dim 2 of x[i, j, :] */
    ref_softmax(xv, sh, 2, 0, ref);
    double worst = 0;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 4; j++)
        for (int kk = 0; kk < 5; kk++)
          worst = fmax(worst, fabs(hub_tensor_get(hs, (kk * 4 + j) * 3 + i) - ref[(i * 4 + j) * 5 + kk]));
    CHECK(worst < 5e-3, "softmax of f16 values within f16 precision (%g)", worst);
  }
  hub_tensor_release(hs);
  hub_tensor_release(ht);
  hub_tensor_release(h);
  free(xv);
  hub_tensor_release(x);
}

/* ---- layer_norm ---- */

static void test_layer_norm_once(void);

static void ref_layer_norm(const double *x, int64_t rows, int64_t n, const double *w,
                           const double *b, double eps, double *y) {
  for (int64_t r = 0; r < rows; r++) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < n; j++) m += x[r * n + j];
    m /= (double)n;
    for (int64_t j = 0; j < n; j++) v += (x[r * n + j] - m) * (x[r * n + j] - m);
    v /= (double)n;
    for (int64_t j = 0; j < n; j++) {
      double t = (x[r * n + j] - m) / sqrt(v + eps);
      y[r * n + j] = t * (w ? w[j] : 1) + (b ? b[j] : 0);
    }
  }
}

static void test_layer_norm(void) {
  for (int loops = 0; loops < 2; loops++) {
    if (loops) setenv("HUB_LAYER_NORM_LOOPS", "1", 1); /* the OpenMP fallback */
    test_layer_norm_once();
    unsetenv("HUB_LAYER_NORM_LOOPS");
  }
}

static void test_layer_norm_once(void) {
  int64_t sh[3] = {2, 3, 8};
  hub_tensor *x = make_rand(3, sh, 2.0);
  hub_tensor *w = make_rand(1, (int64_t[]){8}, 1.0), *b = make_rand(1, (int64_t[]){8}, 1.0);
  double *xv = values(x), *wv = values(w), *bv = values(b), ref[48];
  for (int withw = 0; withw < 2; withw++) {
    hub_tensor *y = hub_layer_norm(x, 1, withw ? w : NULL, withw ? b : NULL, 1e-5);
    ref_layer_norm(xv, 6, 8, withw ? wv : NULL, withw ? bv : NULL, 1e-5, ref);
    CHECK(shape_is(y, 3, sh) && max_abs_diff(y, ref, 48) < 1e-5, "layer_norm last dim, weight %d",
          withw);
    hub_tensor_release(y);
  }
  /* over the last two dims, weight only, large eps */
  hub_tensor *w2 = make_rand(2, (int64_t[]){3, 8}, 1.0);
  double *w2v = values(w2);
  hub_tensor *y = hub_layer_norm(x, 2, w2, NULL, 0.5);
  ref_layer_norm(xv, 2, 24, w2v, NULL, 0.5, ref);
  CHECK(shape_is(y, 3, sh) && max_abs_diff(y, ref, 48) < 1e-5, "layer_norm last two dims");
  hub_tensor_release(y);
  /* a BERT-sized row with an offset: variance small relative to the mean */
  int64_t sb[2] = {4, 768};
  double *bx = malloc(sizeof(double) * 4 * 768), *by = malloc(sizeof(double) * 4 * 768);
  for (int i = 0; i < 4 * 768; i++) bx[i] = 100.0 + urand() * 0.5;
  hub_tensor *bt = make(2, sb, bx);
  free(bx);
  bx = values(bt);
  ref_layer_norm(bx, 4, 768, NULL, NULL, 1e-12, by);
  y = hub_layer_norm(bt, 1, NULL, NULL, 1e-12);
  CHECK(max_abs_diff(y, by, 4 * 768) < 2e-4, "layer_norm of offset rows (%g)",
        max_abs_diff(y, by, 4 * 768));
  hub_tensor_release(y);
  hub_tensor_release(bt);
  free(bx);
  free(by);
  free(w2v);
  hub_tensor_release(w2);
  free(xv);
  free(wv);
  free(bv);
  hub_tensor_release(x);
  hub_tensor_release(w);
  hub_tensor_release(b);
}

/* ---- dropout ---- */

static void test_dropout(void) {
  int64_t n = 1 << 20;
  double p = 0.3;
  hub_tensor *x = hub_full(1, &n, 2.0, HUB_F32);
  hub_manual_seed(7);
  hub_tensor *y1 = hub_dropout(x, p, 1);
  hub_manual_seed(7);
  int threads = hub_get_num_threads();
  hub_set_num_threads(1);
  hub_tensor *y2 = hub_dropout(x, p, 1);
  hub_set_num_threads(threads);
  hub_tensor *y3 = hub_dropout(x, p, 1); /* the stream moved on: another mask */
  CHECK(y1 && y2 && y3, "dropout forward");
  if (y1 && y2 && y3) {
    double *a = values(y1), *b = values(y2), *c = values(y3);
    int64_t kept = 0, same = 1, diff = 0, scaled = 1;
    for (int64_t i = 0; i < n; i++) {
      kept += a[i] != 0;
      same &= a[i] == b[i];
      diff += a[i] != c[i];
      if (a[i] != 0 && fabs(a[i] - 2.0 / (1 - p)) > 1e-6) scaled = 0;
    }
    /* the kept fraction is binomial: sd = sqrt(p(1-p)/n) = 4.5e-4; allow 6 sd */
    double frac = (double)kept / (double)n;
    CHECK(fabs(frac - (1 - p)) < 6 * sqrt(p * (1 - p) / (double)n), "kept fraction %g", frac);
    CHECK(same, "same seed gives the same mask on 1 and %d threads", threads);
    CHECK(diff > n / 10, "the next call draws a different mask");
    CHECK(scaled, "kept values are scaled by 1/(1-p)");
    /* the mask is the reserved stream's numbers: after seeding, key = seed and counters 0.. */
    int64_t agree = 0;
    for (int64_t i = 0; i < n; i++) agree += (a[i] != 0) == (hub_rng_uniform(7, (uint64_t)i) >= (float)p);
    CHECK(agree == n, "mask equals hub_rng_uniform(key, counter + i) >= p (%lld of %lld)",
          (long long)agree, (long long)n);
    /* the third call starts at counter n (an odd offset into the vectorised blocks) */
    agree = 0;
    for (int64_t i = 0; i < n; i++) agree += (c[i] != 0) == (hub_rng_uniform(7, (uint64_t)(n + i)) >= (float)p);
    CHECK(agree == n, "next mask equals hub_rng_uniform(key, n + i) >= p (%lld of %lld)",
          (long long)agree, (long long)n);
    free(a);
    free(b);
    free(c);
  }
  hub_tensor_release(y1);
  hub_tensor_release(y2);
  hub_tensor_release(y3);
  hub_tensor *e = hub_dropout(x, p, 0);
  CHECK(e && e->data == x->data, "dropout in eval mode is the identity");
  hub_tensor_release(e);
  e = hub_dropout(x, 0.0, 1);
  CHECK(e && e->data == x->data, "dropout with p = 0 is the identity");
  hub_tensor_release(e);
  e = hub_dropout(x, 1.0, 1);
  hub_tensor *es = e ? hub_sum(e, 0, NULL, 0) : NULL;
  CHECK(es && hub_tensor_get(es, 0) == 0, "dropout with p = 1 gives zeros");
  hub_tensor_release(es);
  hub_tensor_release(e);
  hub_tensor_release(x);
}

/* ---- losses ---- */

static double ref_ce(const double *x, const int64_t *t, int64_t N, int64_t C, int64_t ignore,
                     double eps) {
  double total = 0;
  int64_t cnt = 0;
  for (int64_t i = 0; i < N; i++) {
    if (t[i] == ignore) continue;
    double m = -INFINITY, s = 0, mean_neg_logp = 0;
    for (int64_t c = 0; c < C; c++) m = fmax(m, x[i * C + c]);
    for (int64_t c = 0; c < C; c++) s += exp(x[i * C + c] - m);
    double lse = m + log(s);
    for (int64_t c = 0; c < C; c++) mean_neg_logp += (lse - x[i * C + c]) / (double)C;
    total += (1 - eps) * (lse - x[i * C + t[i]]) + eps * mean_neg_logp;
    cnt++;
  }
  return total / (double)cnt;
}

static void test_losses(void) {
  int64_t N = 6, C = 5;
  hub_tensor *x = make_rand(2, (int64_t[]){N, C}, 3.0);
  double *xv = values(x);
  int64_t tv[6] = {0, 4, -100, 2, 2, 1};
  hub_tensor *t = hub_tensor_from_data(HUB_I64, 1, &N, tv, HUB_I64);
  hub_tensor *t32 = hub_to_dtype(t, HUB_I32);
  for (int k = 0; k < 2; k++) {
    double eps = k ? 0.1 : 0.0;
    hub_tensor *l = hub_cross_entropy(x, k ? t32 : t, -100, eps);
    double ref = ref_ce(xv, tv, N, C, -100, eps);
    CHECK(l && l->ndim == 0 && fabs(hub_tensor_get(l, 0) - ref) < 1e-5,
          "cross_entropy smoothing %g: %.7g vs %.7g", eps, l ? hub_tensor_get(l, 0) : NAN, ref);
    hub_tensor_release(l);
  }
  /* ignore_index that is a valid class (-100 is then an ordinary, out-of-range target) */
  int64_t tv2[6] = {0, 4, 3, 2, 2, 1};
  hub_tensor *tt2 = hub_tensor_from_data(HUB_I64, 1, &N, tv2, HUB_I64);
  hub_tensor *l = hub_cross_entropy(x, tt2, 2, 0.0);
  double ref = ref_ce(xv, tv2, N, C, 2, 0.0);
  hub_tensor_release(tt2);
  CHECK(l && fabs(hub_tensor_get(l, 0) - ref) < 1e-5, "cross_entropy ignore_index 2");
  hub_tensor_release(l);
  /* 1-d logits with a 0-d target */
  hub_tensor *row = hub_narrow(x, 0, 1, 1), *row1 = hub_squeeze(row, 0);
  int64_t one = 4;
  hub_tensor *t0 = hub_tensor_from_data(HUB_I64, 0, NULL, &one, HUB_I64);
  l = hub_cross_entropy(row1, t0, -100, 0.0);
  ref = ref_ce(xv + C, &one, 1, C, -100, 0.0);
  CHECK(l && fabs(hub_tensor_get(l, 0) - ref) < 1e-5, "cross_entropy of [C] logits");
  hub_tensor_release(l);
  /* many classes and wide logits (the kernel's vectorised exp over its whole range) */
  int64_t N3 = 3, C3 = 1000, t3[3] = {0, 999, 500};
  hub_tensor *x3 = make_rand(2, (int64_t[]){N3, C3}, 40.0);
  double *x3v = values(x3);
  hub_tensor *tt3 = hub_tensor_from_data(HUB_I64, 1, &N3, t3, HUB_I64);
  l = hub_cross_entropy(x3, tt3, -100, 0.2);
  ref = ref_ce(x3v, t3, N3, C3, -100, 0.2);
  CHECK(l && fabs(hub_tensor_get(l, 0) - ref) < 1e-5 * fabs(ref), "cross_entropy, 1000 classes");
  hub_tensor_release(l);
  hub_tensor_set(x3, 7, NAN);
  l = hub_cross_entropy(x3, tt3, -100, 0.0);
  CHECK(l && isnan(hub_tensor_get(l, 0)), "a NaN logit gives a NaN loss");
  hub_tensor_release(l);
  hub_tensor_release(tt3);
  hub_tensor_release(x3);
  free(x3v);
  /* every target ignored: NaN, as torch */
  int64_t allign[6] = {-100, -100, -100, -100, -100, -100};
  hub_tensor *ti = hub_tensor_from_data(HUB_I64, 1, &N, allign, HUB_I64);
  l = hub_cross_entropy(x, ti, -100, 0.0);
  CHECK(l && isnan(hub_tensor_get(l, 0)), "cross_entropy with every target ignored is NaN");
  hub_tensor_release(l);
  /* out-of-range target */
  int64_t bad[6] = {0, 1, 7, 0, 0, 0};
  hub_tensor *tb = hub_tensor_from_data(HUB_I64, 1, &N, bad, HUB_I64);
  l = hub_cross_entropy(x, tb, -100, 0.0);
  CHECK(!l && error_names("cross_entropy") && strstr(hub_last_error(), "7") &&
            strstr(hub_last_error(), "5 classes"),
        "cross_entropy rejects target 7 of 5 classes");
  /* mse */
  hub_tensor *a = make_rand(2, (int64_t[]){3, 4}, 1.0), *b = make_rand(2, (int64_t[]){3, 4}, 1.0);
  double *av = values(a), *bv = values(b), m = 0;
  for (int i = 0; i < 12; i++) m += (av[i] - bv[i]) * (av[i] - bv[i]) / 12;
  hub_tensor *ms = hub_mse_loss(a, b);
  CHECK(ms && ms->ndim == 0 && fabs(hub_tensor_get(ms, 0) - m) < 1e-6, "mse_loss");
  hub_tensor_release(ms);
  free(av);
  free(bv);
  hub_tensor_release(a);
  hub_tensor_release(b);
  hub_tensor_release(tb);
  hub_tensor_release(ti);
  hub_tensor_release(t0);
  hub_tensor_release(row1);
  hub_tensor_release(row);
  hub_tensor_release(t32);
  hub_tensor_release(t);
  free(xv);
  hub_tensor_release(x);
}

/* ---- gradients ---- */

static hub_tensor *f_sum02(hub_tensor **in, void *c) { return hub_sum(in[0], 2, (int[]){0, 2}, 0); }
static hub_tensor *f_mean1(hub_tensor **in, void *c) { return hub_mean(in[0], 1, (int[]){1}, 1); }
static hub_tensor *f_meanall(hub_tensor **in, void *c) { return hub_mean(in[0], 0, NULL, 0); }
static hub_tensor *f_max1(hub_tensor **in, void *c) { return hub_max(in[0], 1, 0); }
static hub_tensor *f_sumto(hub_tensor **in, void *c) {
  return hub_sum_to(in[0], 2, (int64_t[]){3, 1});
}
static hub_tensor *f_softmax(hub_tensor **in, void *c) { return hub_softmax(in[0], *(int *)c); }
static hub_tensor *f_logsoftmax(hub_tensor **in, void *c) {
  return hub_log_softmax(in[0], *(int *)c);
}
static hub_tensor *f_ln(hub_tensor **in, void *c) {
  return hub_layer_norm(in[0], 1, in[1], in[2], 1e-5);
}
static hub_tensor *f_ln2(hub_tensor **in, void *c) {
  return hub_layer_norm(in[0], 2, NULL, NULL, 1e-5);
}
static hub_tensor *f_dropout(hub_tensor **in, void *c) {
  hub_manual_seed(99); /* the same mask at every evaluation */
  return hub_dropout(in[0], 0.4, 1);
}
static hub_tensor *f_ce(hub_tensor **in, void *c) {
  return hub_cross_entropy(in[0], in[1], -100, *(double *)c);
}
static hub_tensor *f_mse(hub_tensor **in, void *c) { return hub_mse_loss(in[0], in[1]); }

static void test_gradients(void) {
  int64_t sh[3] = {3, 4, 5};
  hub_tensor *x = make_rand(3, sh, 1.0);
  int yes[3] = {1, 1, 1};
  gradcheck("sum", f_sum02, 1, &x, yes, NULL);
  gradcheck("mean", f_mean1, 1, &x, yes, NULL);
  gradcheck("mean all", f_meanall, 1, &x, yes, NULL);
  hub_tensor *xs = make_rand(3, (int64_t[]){2, 3, 4}, 1.0);
  gradcheck("sum_to", f_sumto, 1, &xs, yes, NULL);
  hub_tensor_release(xs);
  /* max: distinct values at least 0.05 apart so +-eps never changes the winner */
  double mv[60];
  for (int i = 0; i < 60; i++) mv[i] = ((i * 37) % 60) * 0.05;
  hub_tensor *xm = make(3, sh, mv);
  gradcheck("max", f_max1, 1, &xm, yes, NULL);
  int dims[3] = {0, 1, -1};
  for (int k = 0; k < 3; k++) {
    gradcheck("softmax", f_softmax, 1, &x, yes, &dims[k]);
    gradcheck("log_softmax", f_logsoftmax, 1, &x, yes, &dims[k]);
  }
  hub_tensor *lx = make_rand(2, (int64_t[]){4, 6}, 2.0);
  hub_tensor *ln[3] = {lx, make_rand(1, (int64_t[]){6}, 1.0), make_rand(1, (int64_t[]){6}, 1.0)};
  gradcheck("layer_norm", f_ln, 3, ln, yes, NULL);
  gradcheck("layer_norm x only", f_ln, 3, ln, (int[]){1, 0, 0}, NULL);
  gradcheck("layer_norm w only", f_ln, 3, ln, (int[]){0, 1, 0}, NULL);
  hub_tensor *ln_nowb[3] = {lx, NULL, NULL};
  gradcheck("layer_norm no weight", f_ln, 3, ln_nowb, (int[]){1, 0, 0}, NULL);
  gradcheck("layer_norm 2 dims", f_ln2, 1, &x, yes, NULL);
  setenv("HUB_LAYER_NORM_LOOPS", "1", 1); /* the OpenMP fallback of the oneDNN kernel */
  gradcheck("layer_norm (loops)", f_ln, 3, ln, yes, NULL);
  gradcheck("layer_norm w only (loops)", f_ln, 3, ln, (int[]){0, 1, 0}, NULL);
  gradcheck("layer_norm no weight (loops)", f_ln, 3, ln_nowb, (int[]){1, 0, 0}, NULL);
  unsetenv("HUB_LAYER_NORM_LOOPS");
  gradcheck("dropout", f_dropout, 1, &x, yes, NULL);
  int64_t N = 6, C = 5;
  hub_tensor *logits = make_rand(2, (int64_t[]){N, C}, 2.0);
  int64_t tv[6] = {0, 4, -100, 2, 2, 1};
  hub_tensor *ce[2] = {logits, hub_tensor_from_data(HUB_I64, 1, &N, tv, HUB_I64)};
  double eps0 = 0.0, eps1 = 0.1;
  gradcheck("cross_entropy", f_ce, 2, ce, (int[]){1, 0}, &eps0);
  gradcheck("cross_entropy smoothed", f_ce, 2, ce, (int[]){1, 0}, &eps1);
  hub_tensor *mse[2] = {make_rand(2, (int64_t[]){3, 4}, 1.0), make_rand(2, (int64_t[]){3, 4}, 1.0)};
  gradcheck("mse_loss", f_mse, 2, mse, yes, NULL);

  /* a chain: cross_entropy(layer_norm(x) W-free) through softmax dims, one backward */
  hub_tensor_set_requires_grad(lx, 1);
  hub_tensor *h = hub_layer_norm(lx, 1, NULL, NULL, 1e-5);
  hub_tensor *hd = hub_dropout(h, 0.1, 1);
  int64_t tv4[4] = {1, 2, 3, 0}, four = 4;
  hub_tensor *t4 = hub_tensor_from_data(HUB_I64, 1, &four, tv4, HUB_I64);
  hub_tensor *loss = hub_cross_entropy(hd, t4, -100, 0.1);
  CHECK(loss && hub_backward(loss, NULL) == 0 && lx->grad, "chained backward");
  hub_tensor_release(loss);
  hub_tensor_release(t4);
  hub_tensor_release(hd);
  hub_tensor_release(h);
  hub_tensor_zero_grad(lx);
  hub_tensor_set_requires_grad(lx, 0);

  release_n(2, mse);
  release_n(2, ce);
  release_n(3, ln);
  hub_tensor_release(xm);
  hub_tensor_release(x);
}

/* ---- error paths ---- */

static void test_errors(void) {
  int64_t sh[2] = {2, 3};
  hub_tensor *x = make_rand(2, sh, 1.0);
  hub_tensor *r;
#define EXPECT_FAIL(expr, op)                                                         \
  do {                                                                                \
    hub_clear_error();                                                                \
    r = (expr);                                                                       \
    CHECK(r == NULL && error_names(op), "%s should fail naming %s", #expr, op);      \
    hub_tensor_release(r);                                                            \
  } while (0)
  EXPECT_FAIL(hub_sum(NULL, 0, NULL, 0), "sum");
  EXPECT_FAIL(hub_sum(x, 1, (int[]){2}, 0), "sum");
  EXPECT_FAIL(hub_sum(x, 2, (int[]){1, -1}, 0), "sum");
  EXPECT_FAIL(hub_mean(x, 1, (int[]){-3}, 0), "mean");
  EXPECT_FAIL(hub_max(NULL, 0, 0), "max");
  EXPECT_FAIL(hub_max(x, 5, 0), "max");
  EXPECT_FAIL(hub_argmax(x, -3, 0), "argmax");
  EXPECT_FAIL(hub_sum_to(NULL, 0, NULL), "sum_to");
  EXPECT_FAIL(hub_sum_to(x, 3, (int64_t[]){1, 2, 3}), "sum_to");
  EXPECT_FAIL(hub_softmax(NULL, 0), "softmax");
  EXPECT_FAIL(hub_softmax(x, 3), "softmax");
  EXPECT_FAIL(hub_log_softmax(x, -3), "log_softmax");
  EXPECT_FAIL(hub_layer_norm(NULL, 1, NULL, NULL, 1e-5), "layer_norm");
  EXPECT_FAIL(hub_layer_norm(x, 3, NULL, NULL, 1e-5), "layer_norm");
  EXPECT_FAIL(hub_layer_norm(x, 1, x, NULL, 1e-5), "layer_norm");
  EXPECT_FAIL(hub_layer_norm(x, 1, NULL, NULL, -1.0), "layer_norm");
  EXPECT_FAIL(hub_dropout(NULL, 0.1, 1), "dropout");
  EXPECT_FAIL(hub_dropout(x, 1.5, 1), "dropout");
  EXPECT_FAIL(hub_dropout(x, NAN, 1), "dropout");
  int64_t two = 2, tv[2] = {0, 1};
  hub_tensor *t = hub_tensor_from_data(HUB_I64, 1, &two, tv, HUB_I64);
  hub_tensor *tf = hub_to_dtype(t, HUB_F32);
  EXPECT_FAIL(hub_cross_entropy(NULL, t, -100, 0), "cross_entropy");
  EXPECT_FAIL(hub_cross_entropy(x, NULL, -100, 0), "cross_entropy");
  EXPECT_FAIL(hub_cross_entropy(x, tf, -100, 0), "cross_entropy");
  EXPECT_FAIL(hub_cross_entropy(x, t, -100, 1.0), "cross_entropy");
  EXPECT_FAIL(hub_cross_entropy(tf, t, -100, 0), "cross_entropy"); /* [2] logits, 2 targets */
  EXPECT_FAIL(hub_mse_loss(x, tf), "mse_loss");
  EXPECT_FAIL(hub_mse_loss(NULL, x), "mse_loss");
  /* a failed op leaves no error behind for the next good one to inherit */
  hub_clear_error();
  r = hub_softmax(x, 1);
  CHECK(r && hub_last_error()[0] == 0, "a good call after failures");
  hub_tensor_release(r);
  hub_tensor_release(tf);
  hub_tensor_release(t);
  hub_tensor_release(x);
}

int main(void) {
  int64_t live0 = hub_tensor_live_count();
  hub_manual_seed(1);
  test_sum_mean();
  test_max_argmax();
  test_sum_to();
  test_softmax();
  test_layer_norm();
  test_dropout();
  test_losses();
  test_gradients();
  test_errors();
  CHECK(hub_tensor_live_count() == live0, "no tensor leaked (%lld alive, %lld at start)",
        (long long)hub_tensor_live_count(), (long long)live0);
  CHECK(hub_node_live_count() == 0, "no autograd node leaked (%lld alive)",
        (long long)hub_node_live_count());
  return check_summary();
}
