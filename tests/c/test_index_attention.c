/* test_index_attention.c - tests of embedding, index_select, concat, split (runtime/op_index.c,
 * kernels/cpu/index.c) and fused attention (runtime/op_attention.c, kernels/cpu/attention.c).
 *
 * Every forward result is compared with a naive double-precision computation written here:
 * embedding with repeated ids (i64 and i32), index_select on dims 0, 1 and -1 (also of a strided
 * view and of an integer tensor), concat and split along several dims (strided and empty parts),
 * attention with and without masks (a [N,1,1,Lk] key-padding mask, a [Lq,Lk] mask, a full mask,
 * one that needs the compact copy), D = 3, odd lengths, Dv != D, fully masked rows.  Gradients
 * are checked against central finite differences of loss = sum(out * W) for fixed random W.
 * Out-of-range ids and bad arguments must give NULL with the op's name in hub_last_error() and
 * leave the process running.  Finally no tensor or autograd node may be left alive.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "check.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static double urand(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Values in [lo, hi) rounded to multiples of 1/1024, so x +- 1/1024 is exact in f32. */
static hub_tensor *rand_tensor(int ndim, const int64_t *shape, double lo, double hi) {
  hub_tensor *t = hub_tensor_empty(HUB_F32, ndim, shape, HUB_CPU);
  float *p = t->data;
  for (int64_t i = 0; i < hub_tensor_numel(t); i++)
    p[i] = (float)(round((lo + (hi - lo) * urand()) * 1024.0) / 1024.0);
  return t;
}

static hub_tensor *ids_tensor(int dtype, int ndim, const int64_t *shape, const int64_t *vals) {
  return hub_tensor_from_data(dtype, ndim, shape, vals, HUB_I64);
}

/* Compares t (any strides) with ref; returns 1 when every element is within tolerance. */
static int compare(const char *what, const hub_tensor *t, const double *ref, int64_t n, double tol) {
  if (!t) {
    printf("  %s: NULL (%s)\n", what, hub_last_error());
    return 0;
  }
  if (hub_tensor_numel(t) != n) {
    printf("  %s: %lld elements, expected %lld\n", what, (long long)hub_tensor_numel(t), (long long)n);
    return 0;
  }
  double *v = values(t);
  int ok = 1;
  for (int64_t i = 0; i < n && ok; i++)
    if (!(fabs(v[i] - ref[i]) <= tol * (1 + fabs(ref[i])))) {
      printf("  %s[%lld] = %.9g, expected %.9g\n", what, (long long)i, v[i], ref[i]);
      ok = 0;
    }
  free(v);
  return ok;
}

/* ---- finite-difference gradient check ----
 * loss = sum(out * W), W fixed random.  The analytic gradient comes from hub_backward(out, W);
 * the numerical one from central differences with eps = 1/1024 (about 1e-3; exact on the inputs,
 * which are multiples of 1/1024).  The loss is accumulated in double from f32 outputs, whose
 * rounding (~6e-8 relative) over at most a few hundred terms of size ~1 gives an absolute error
 * of ~1e-6 in the loss, i.e. ~1e-3 after dividing by 2 eps; the truncation error is O(eps^2) ~ 1e-6
 * for these smooth functions.  Hence a tolerance of 5e-3 * (1 + |g|), a few times that bound, yet
 * far below the size of any real mistake (gradients here are O(0.1..1)). */
typedef hub_tensor *(*fwd_fn)(hub_tensor **in, void *ctx);

static double eval_loss(fwd_fn fn, void *ctx, hub_tensor **in, const double *w) {
  int prev = hub_set_grad_enabled(0);
  hub_tensor *out = fn(in, ctx);
  hub_set_grad_enabled(prev);
  if (!out) return NAN;
  double *v = values(out), s = 0;
  for (int64_t i = 0; i < hub_tensor_numel(out); i++) s += v[i] * w[i];
  free(v);
  hub_tensor_release(out);
  return s;
}

static void gradcheck(const char *name, fwd_fn fn, void *ctx, int nin, hub_tensor **in) {
  const double eps = 1.0 / 1024, tol = 5e-3;
  for (int i = 0; i < nin; i++) {
    hub_tensor_zero_grad(in[i]);
    hub_tensor_set_requires_grad(in[i], 1);
  }
  hub_tensor *out = fn(in, ctx);
  CHECK(out != NULL, "%s: forward failed: %s", name, hub_last_error());
  if (!out) return;
  CHECK(out->requires_grad, "%s: output does not require grad", name);
  hub_tensor *W = rand_tensor(out->ndim, out->shape, -1, 1);
  int rc = hub_backward(out, W);
  CHECK(rc == 0, "%s: backward failed: %s", name, hub_last_error());
  double *w = values(W);
  for (int i = 0; i < nin && rc == 0; i++) {
    hub_tensor *g = hub_tensor_grad(in[i]);
    CHECK(g != NULL && shape_is(g, in[i]->ndim, in[i]->shape), "%s: input %d has no gradient of its shape",
          name, i);
    if (!g) continue;
    double *ga = values(g);
    int64_t n = hub_tensor_numel(in[i]), step = n > 48 ? n / 48 : 1, bad = 0;
    float *p = in[i]->data;
    for (int64_t e = 0; e < n; e += step) {
      float old = p[e];
      p[e] = (float)(old + eps);
      double lp = eval_loss(fn, ctx, in, w);
      p[e] = (float)(old - eps);
      double lm = eval_loss(fn, ctx, in, w);
      p[e] = old;
      double num = (lp - lm) / (2 * eps);
      if (!(fabs(num - ga[e]) <= tol * (1 + fabs(num)))) {
        if (bad++ < 3)
          printf("  %s: d/d in%d[%lld]: analytic %.7g numeric %.7g\n", name, i, (long long)e, ga[e], num);
      }
    }
    CHECK(bad == 0, "%s: %lld gradient entries of input %d differ", name, (long long)bad, i);
    free(ga);
    hub_tensor_release(g);
  }
  free(w);
  hub_tensor_release(W);
  hub_tensor_release(out);
  for (int i = 0; i < nin; i++) {
    hub_tensor_zero_grad(in[i]);
    hub_tensor_set_requires_grad(in[i], 0);
  }
}

/* ---- embedding ---- */

static hub_tensor *fwd_embedding(hub_tensor **in, void *ctx) { return hub_embedding(in[0], ctx); }

static void test_embedding(void) {
  const int64_t V = 7, D = 5, ish[2] = {2, 3}, idv[6] = {1, 3, 1, 6, 0, 1};
  hub_tensor *w = rand_tensor(2, (int64_t[]){V, D}, -1, 1);
  for (int dt = 0; dt < 2; dt++) {
    hub_tensor *ids = ids_tensor(dt ? HUB_I32 : HUB_I64, 2, ish, idv);
    hub_tensor *out = hub_embedding(w, ids);
    double ref[30];
    const float *wp = w->data;
    for (int j = 0; j < 6; j++)
      for (int d = 0; d < D; d++) ref[j * D + d] = wp[idv[j] * D + d];
    CHECK(shape_is(out, 3, (int64_t[]){2, 3, D}), "embedding: output shape");
    CHECK(compare("embedding", out, ref, 30, 0), "embedding values (%s ids)", dt ? "i32" : "i64");
    hub_tensor_release(out);
    gradcheck(dt ? "embedding i32" : "embedding i64", fwd_embedding, ids, 1, &w);
    hub_tensor_release(ids);
  }
  hub_tensor_release(w);

  /* a wide table and many repeated ids: the scatter splits columns between threads; the
   * gradient must equal the naive sum and be bitwise reproducible */
  const int64_t V2 = 50, D2 = 300, K = 1000;
  int64_t *iv = malloc(sizeof(int64_t) * K);
  for (int64_t j = 0; j < K; j++) iv[j] = (int64_t)(urand() * V2);
  hub_tensor *w2 = rand_tensor(2, (int64_t[]){V2, D2}, -1, 1), *ids2 = ids_tensor(HUB_I64, 1, &K, iv);
  hub_tensor *gy = rand_tensor(2, (int64_t[]){K, D2}, -1, 1);
  double *ref = calloc((size_t)(V2 * D2), sizeof(double));
  const float *gp = gy->data;
  for (int64_t j = 0; j < K; j++)
    for (int64_t d = 0; d < D2; d++) ref[iv[j] * D2 + d] += gp[j * D2 + d];
  float *first = malloc(sizeof(float) * (size_t)(V2 * D2));
  for (int rep = 0; rep < 2; rep++) {
    hub_tensor_set_requires_grad(w2, 1);
    hub_tensor *o = hub_embedding(w2, ids2);
    CHECK(o && hub_backward(o, gy) == 0, "embedding large backward: %s", hub_last_error());
    hub_tensor *g = hub_tensor_grad(w2);
    CHECK(compare("embedding large grad", g, ref, V2 * D2, 1e-5), "embedding large gradient");
    if (g && rep == 0) memcpy(first, g->data, sizeof(float) * (size_t)(V2 * D2));
    if (g && rep == 1)
      CHECK(memcmp(first, g->data, sizeof(float) * (size_t)(V2 * D2)) == 0, "embedding gradient not reproducible");
    hub_tensor_release(g);
    hub_tensor_release(o);
    hub_tensor_zero_grad(w2);
    hub_tensor_set_requires_grad(w2, 0);
  }
  free(first);
  free(ref);
  free(iv);
  hub_tensor_release(gy);
  hub_tensor_release(ids2);
  hub_tensor_release(w2);
}

/* ---- index_select ---- */

typedef struct sel_ctx {
  int dim;
  hub_tensor *index;
  int transpose; /* select from in[0] transposed (dims 0 and 2) */
} sel_ctx;

static hub_tensor *fwd_index_select(hub_tensor **in, void *ctx) {
  sel_ctx *c = ctx;
  if (!c->transpose) return hub_index_select(in[0], c->dim, c->index);
  hub_tensor *t = hub_transpose(in[0], 0, 2);
  hub_tensor *r = hub_index_select(t, c->dim, c->index);
  hub_tensor_release(t);
  return r;
}

/* Naive index_select of a [s0,s1,s2] row-major double array along dim. */
static void ref_select(const double *x, const int64_t *s, int dim, const int64_t *idx, int64_t k, double *out) {
  int64_t os[3] = {s[0], s[1], s[2]};
  os[dim] = k;
  for (int64_t a = 0; a < os[0]; a++)
    for (int64_t b = 0; b < os[1]; b++)
      for (int64_t c = 0; c < os[2]; c++) {
        int64_t ia = dim == 0 ? idx[a] : a, ib = dim == 1 ? idx[b] : b, ic = dim == 2 ? idx[c] : c;
        out[(a * os[1] + b) * os[2] + c] = x[(ia * s[1] + ib) * s[2] + ic];
      }
}

static void test_index_select(void) {
  const int64_t sh[3] = {4, 5, 3};
  const int64_t idv[4] = {2, 0, 2, 1};
  hub_tensor *x = rand_tensor(3, sh, -1, 1);
  double *xv = values(x), ref[4 * 5 * 4];
  for (int dim = -1; dim < 3; dim++) {
    int d = dim < 0 ? 2 : dim;
    for (int dt = 0; dt < 2; dt++) {
      hub_tensor *idx = ids_tensor(dt ? HUB_I32 : HUB_I64, 1, (int64_t[]){4}, idv);
      hub_tensor *out = hub_index_select(x, dim, idx);
      int64_t os[3] = {sh[0], sh[1], sh[2]};
      os[d] = 4;
      ref_select(xv, sh, d, idv, 4, ref);
      CHECK(shape_is(out, 3, os), "index_select dim %d: shape", dim);
      CHECK(compare("index_select", out, ref, os[0] * os[1] * os[2], 0), "index_select dim %d values", dim);
      hub_tensor_release(out);
      if (dt == 0 && dim >= 0 && dim <= 1) {
        sel_ctx c = {dim, idx, 0};
        gradcheck(dim ? "index_select dim 1" : "index_select dim 0", fwd_index_select, &c, 1, &x);
      }
      hub_tensor_release(idx);
    }
  }
  /* of a strided view: x^T [3,5,4] along dim 1 */
  {
    hub_tensor *idx = ids_tensor(HUB_I64, 1, (int64_t[]){4}, idv);
    hub_tensor *t = hub_transpose(x, 0, 2);
    double *tv = values(t);
    const int64_t ts[3] = {3, 5, 4};
    ref_select(tv, ts, 1, idv, 4, ref);
    hub_tensor *out = hub_index_select(t, 1, idx);
    CHECK(compare("index_select strided", out, ref, 3 * 4 * 4, 0), "index_select of a transposed view");
    hub_tensor_release(out);
    sel_ctx c = {1, idx, 1};
    gradcheck("index_select of a transposed view", fwd_index_select, &c, 1, &x);
    free(tv);
    hub_tensor_release(t);
    hub_tensor_release(idx);
  }
  /* an integer tensor, 0-d index */
  {
    const int64_t iv[6] = {10, 11, 12, 13, 14, 15}, one = 2;
    hub_tensor *xi = ids_tensor(HUB_I64, 2, (int64_t[]){3, 2}, iv);
    hub_tensor *idx = ids_tensor(HUB_I32, 0, NULL, &one);
    hub_tensor *out = hub_index_select(xi, 0, idx);
    double r[2] = {14, 15};
    CHECK(out && out->dtype == HUB_I64 && shape_is(out, 2, (int64_t[]){1, 2}), "index_select of i64 by a 0-d index");
    CHECK(compare("index_select i64", out, r, 2, 0), "index_select i64 values");
    hub_tensor_release(out);
    hub_tensor_release(idx);
    hub_tensor_release(xi);
  }
  free(xv);
  hub_tensor_release(x);
}

/* ---- concat and split ---- */

typedef struct cat_ctx {
  int n, dim, transpose1; /* transpose1: in[1] is used transposed (dims 0 and 1) */
} cat_ctx;

static hub_tensor *fwd_concat(hub_tensor **in, void *ctx) {
  cat_ctx *c = ctx;
  hub_tensor *ts[4];
  for (int i = 0; i < c->n; i++) ts[i] = in[i];
  hub_tensor *t = c->transpose1 ? hub_transpose(in[1], 0, 1) : NULL;
  if (t) ts[1] = t;
  hub_tensor *r = hub_concat(c->n, ts, c->dim);
  hub_tensor_release(t);
  return r;
}

/* Naive concat of row-major arrays: n parts with shapes sh[i] (3-d) along dim. */
static void ref_concat(int n, double **parts, int64_t (*sh)[3], int dim, double *out) {
  int64_t os[3] = {sh[0][0], sh[0][1], sh[0][2]};
  os[dim] = 0;
  for (int i = 0; i < n; i++) os[dim] += sh[i][dim];
  int64_t pos = 0;
  for (int i = 0; i < n; i++) {
    for (int64_t a = 0; a < sh[i][0]; a++)
      for (int64_t b = 0; b < sh[i][1]; b++)
        for (int64_t c = 0; c < sh[i][2]; c++) {
          int64_t o[3] = {a, b, c};
          o[dim] += pos;
          out[(o[0] * os[1] + o[1]) * os[2] + o[2]] = parts[i][(a * sh[i][1] + b) * sh[i][2] + c];
        }
    pos += sh[i][dim];
  }
}

static void test_concat(void) {
  for (int dim = 0; dim < 3; dim++) {
    int64_t sh[3][3] = {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}};
    sh[1][dim] = 1;
    sh[2][dim] = dim == 2 ? 0 : 2; /* an empty part along the last dim */
    hub_tensor *in[3];
    double *parts[3];
    for (int i = 0; i < 3; i++) {
      in[i] = rand_tensor(3, sh[i], -1, 1);
      parts[i] = values(in[i]);
    }
    double ref[2 * 3 * 4 * 3];
    ref_concat(3, parts, sh, dim, ref);
    hub_tensor *out = hub_concat(3, in, dim == 2 ? -1 : dim);
    int64_t os[3] = {2, 3, 4};
    os[dim] = sh[0][dim] + sh[1][dim] + sh[2][dim];
    CHECK(shape_is(out, 3, os), "concat dim %d: shape", dim);
    CHECK(compare("concat", out, ref, os[0] * os[1] * os[2], 0), "concat dim %d values", dim);
    hub_tensor_release(out);
    cat_ctx c = {3, dim, 0};
    char name[64];
    snprintf(name, sizeof name, "concat dim %d", dim);
    gradcheck(name, fwd_concat, &c, sh[2][dim] ? 3 : 2, in);
    for (int i = 0; i < 3; i++) {
      free(parts[i]);
      hub_tensor_release(in[i]);
    }
  }
  /* a strided input: [2,3] ++ transpose([4,2]) along dim 1 -> [2,7] */
  {
    hub_tensor *in[2] = {rand_tensor(2, (int64_t[]){2, 3}, -1, 1), rand_tensor(2, (int64_t[]){4, 2}, -1, 1)};
    double *a = values(in[0]), *b = values(in[1]), ref[14];
    for (int r = 0; r < 2; r++) {
      for (int c = 0; c < 3; c++) ref[r * 7 + c] = a[r * 3 + c];
      for (int c = 0; c < 4; c++) ref[r * 7 + 3 + c] = b[c * 2 + r];
    }
    cat_ctx c = {2, 1, 1};
    hub_tensor *out = fwd_concat(in, &c);
    CHECK(shape_is(out, 2, (int64_t[]){2, 7}) && compare("concat strided", out, ref, 14, 0),
          "concat of a transposed view");
    hub_tensor_release(out);
    gradcheck("concat of a transposed view", fwd_concat, &c, 2, in);
    free(a);
    free(b);
    release_n(2, in);
  }
}

typedef struct split_ctx {
  int dim, n;
  int64_t sizes[4];
  int keep[4]; /* pieces that go into the loss (the others get no gradient) */
} split_ctx;

/* Splits in[0] and concatenates the kept pieces along the same dim. */
static hub_tensor *fwd_split(hub_tensor **in, void *ctx) {
  split_ctx *c = ctx;
  hub_tensor *pieces[4] = {NULL}, *kept[4];
  if (hub_split(in[0], c->dim, c->n, c->sizes, pieces)) return NULL;
  int m = 0;
  for (int j = 0; j < c->n; j++)
    if (c->keep[j]) kept[m++] = pieces[j];
  hub_tensor *r = hub_concat(m, kept, c->dim);
  release_n(c->n, pieces);
  return r;
}

static void test_split(void) {
  const int64_t sh[3] = {5, 6, 4};
  hub_tensor *x = rand_tensor(3, sh, -1, 1);
  double *xv = values(x);
  for (int dim = 0; dim < 3; dim++) {
    split_ctx c = {dim, 3, {0}, {1, 0, 1, 0}};
    int64_t n = sh[dim];
    c.sizes[0] = 1, c.sizes[1] = n - 3, c.sizes[2] = 2;
    hub_tensor *pieces[3];
    CHECK(hub_split(x, dim - (dim == 2 ? 3 : 0), 3, c.sizes, pieces) == 0, "split dim %d: %s", dim, hub_last_error());
    int64_t pos = 0;
    for (int j = 0; j < 3; j++) {
      int64_t ps[3] = {sh[0], sh[1], sh[2]};
      ps[dim] = c.sizes[j];
      double *ref = malloc(sizeof(double) * (size_t)(ps[0] * ps[1] * ps[2]));
      for (int64_t a = 0; a < ps[0]; a++)
        for (int64_t b = 0; b < ps[1]; b++)
          for (int64_t cc = 0; cc < ps[2]; cc++) {
            int64_t o[3] = {a, b, cc};
            o[dim] += pos;
            ref[(a * ps[1] + b) * ps[2] + cc] = xv[(o[0] * sh[1] + o[1]) * sh[2] + o[2]];
          }
      CHECK(shape_is(pieces[j], 3, ps), "split dim %d piece %d: shape", dim, j);
      CHECK(compare("split", pieces[j], ref, ps[0] * ps[1] * ps[2], 0), "split dim %d piece %d values", dim, j);
      CHECK(pieces[j]->storage == x->storage, "split pieces should be views");
      free(ref);
      pos += c.sizes[j];
    }
    release_n(3, pieces);
    char name[64];
    snprintf(name, sizeof name, "split dim %d (piece 2 unused)", dim);
    gradcheck(name, fwd_split, &c, 1, &x);
  }
  /* the gradient of an unused piece is exactly zero; a piece alone can be the root */
  {
    hub_tensor *pieces[2];
    hub_tensor_set_requires_grad(x, 1);
    CHECK(hub_split(x, 1, 2, (int64_t[]){4, 2}, pieces) == 0, "split for root test");
    CHECK(hub_tensor_grad_fn_name(pieces[1]) && strcmp(hub_tensor_grad_fn_name(pieces[1]), "split") == 0,
          "split pieces record a split node");
    hub_tensor *ones = hub_full(3, pieces[1]->shape, 1.0, HUB_F32);
    CHECK(hub_backward(pieces[1], ones) == 0, "backward from one piece: %s", hub_last_error());
    hub_tensor *g = hub_tensor_grad(x);
    double *gv = g ? values(g) : NULL;
    int ok = gv != NULL;
    for (int64_t i = 0; gv && i < 5 * 6 * 4; i++) ok &= gv[i] == (((i / 4) % 6) >= 4 ? 1.0 : 0.0);
    CHECK(ok, "split: gradient of a single piece");
    free(gv);
    hub_tensor_release(g);
    hub_tensor_release(ones);
    release_n(2, pieces);
    hub_tensor_zero_grad(x);
    hub_tensor_set_requires_grad(x, 0);
  }
  free(xv);
  hub_tensor_release(x);
}

/* ---- attention ---- */

/* Naive attention in double: q [B,Lq,D], k [B,Lk,D], v [B,Lk,Dv] row-major, mask [B,Lq,Lk] or NULL. */
static void ref_attention(const double *q, const double *k, const double *v, const double *mask,
                          int64_t B, int64_t Lq, int64_t Lk, int64_t D, int64_t Dv, double scale,
                          double *out) {
  double *s = malloc(sizeof(double) * (size_t)Lk);
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i < Lq; i++) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < Lk; j++) {
        double d = 0;
        for (int64_t e = 0; e < D; e++) d += q[(b * Lq + i) * D + e] * k[(b * Lk + j) * D + e];
        s[j] = d * scale + (mask ? mask[(b * Lq + i) * Lk + j] : 0);
        if (s[j] > mx) mx = s[j];
      }
      for (int64_t j = 0; j < Lk; j++) sum += (s[j] = mx == -INFINITY ? 0 : exp(s[j] - mx));
      for (int64_t e = 0; e < Dv; e++) {
        double o = 0;
        for (int64_t j = 0; j < Lk; j++) o += (sum > 0 ? s[j] / sum : 0) * v[(b * Lk + j) * Dv + e];
        out[(b * Lq + i) * Dv + e] = o;
      }
    }
  free(s);
}

typedef struct att_ctx {
  hub_tensor *mask;
  double scale;
} att_ctx;

static hub_tensor *fwd_attention(hub_tensor **in, void *ctx) {
  att_ctx *c = ctx;
  return hub_attention(in[0], in[1], in[2], c->mask, c->scale);
}

/* Runs one attention case: lead dims (nl of them), lengths, mask of mask_nd dims (NULL shape:
 * no mask) whose entries are -1e9 with probability p_mask; checks values and (if grad) grads. */
static void attention_case(const char *name, int nl, const int64_t *lead, int64_t Lq, int64_t Lk,
                           int64_t D, int64_t Dv, int mask_nd, const int64_t *mask_shape,
                           double p_mask, double scale, int grad) {
  int64_t qs[8], ks[8], vs[8], fs[8], B = 1;
  for (int i = 0; i < nl; i++) qs[i] = ks[i] = vs[i] = fs[i] = lead[i], B *= lead[i];
  qs[nl] = Lq, qs[nl + 1] = D;
  ks[nl] = Lk, ks[nl + 1] = D;
  vs[nl] = Lk, vs[nl + 1] = Dv;
  fs[nl] = Lq, fs[nl + 1] = Lk;
  hub_tensor *in[3] = {rand_tensor(nl + 2, qs, -1, 1), rand_tensor(nl + 2, ks, -1, 1), rand_tensor(nl + 2, vs, -1, 1)};
  hub_tensor *mask = NULL;
  double *mfull = NULL;
  if (mask_shape) {
    mask = hub_tensor_empty(HUB_F32, mask_nd, mask_shape, HUB_CPU);
    float *mp = mask->data;
    for (int64_t i = 0; i < hub_tensor_numel(mask); i++) mp[i] = urand() < p_mask ? -1e9f : (float)(urand() - 0.5);
    hub_tensor *e = hub_expand(mask, nl + 2, fs);
    mfull = values(e);
    hub_tensor_release(e);
  }
  double *q = values(in[0]), *k = values(in[1]), *v = values(in[2]);
  double *ref = malloc(sizeof(double) * (size_t)(B * Lq * Dv));
  double sc = scale > 0 ? scale : 1 / sqrt((double)D);
  ref_attention(q, k, v, mfull, B, Lq, Lk, D, Dv, sc, ref);
  att_ctx c = {mask, scale};
  hub_tensor *out = fwd_attention(in, &c);
  int64_t os[8];
  memcpy(os, qs, sizeof os);
  os[nl + 1] = Dv;
  CHECK(shape_is(out, nl + 2, os), "%s: output shape (%s)", name, hub_last_error());
  /* f32 products over D <= 64 terms and a polynomial exp (2e-7): 1e-5 relative is ample */
  CHECK(compare(name, out, ref, B * Lq * Dv, 1e-5), "%s: values", name);
  hub_tensor_release(out);
  if (grad) gradcheck(name, fwd_attention, &c, 3, in);
  free(q), free(k), free(v), free(ref), free(mfull);
  hub_tensor_release(mask);
  release_n(3, in);
}

static hub_tensor *fwd_attention_transposed(hub_tensor **in, void *ctx) {
  /* q, k, v stored as [N, L, H, D] and used as [N, H, L, D] (the usual head split) */
  hub_tensor *t[3];
  for (int i = 0; i < 3; i++) t[i] = hub_transpose(in[i], 1, 2);
  hub_tensor *r = hub_attention(t[0], t[1], t[2], ((att_ctx *)ctx)->mask, 0);
  release_n(3, t);
  return r;
}

static void test_attention(void) {
  /* no mask, two lead dims, odd lengths */
  attention_case("attention [2,3] Lq5 Lk7 D4", 2, (int64_t[]){2, 3}, 5, 7, 4, 4, 0, NULL, 0, 0, 1);
  /* D = 3, odd lengths, key-padding mask [N,1,1,Lk] (leading dims need the compact copy) */
  attention_case("attention D3 padding mask", 2, (int64_t[]){2, 2}, 3, 5, 3, 3, 4, (int64_t[]){2, 1, 1, 5}, 0.3,
                 0, 1);
  /* a [Lq, Lk] mask for everything (merged with stride 0), explicit scale */
  attention_case("attention [Lq,Lk] mask", 2, (int64_t[]){2, 3}, 4, 6, 5, 5, 2, (int64_t[]){4, 6}, 0.2, 0.3, 1);
  /* a full mask and Dv != D, no lead dims beyond one */
  attention_case("attention full mask Dv6", 1, (int64_t[]){3}, 5, 7, 4, 6, 3, (int64_t[]){3, 5, 7}, 0.2, 0, 1);
  /* [H,1,Lk] against [N,H,Lq,Lk]: strides [0, Lk] cannot merge */
  attention_case("attention [H,1,Lk] mask", 2, (int64_t[]){2, 3}, 4, 5, 4, 4, 3, (int64_t[]){3, 1, 5}, 0.3, 0, 1);
  /* [H,Lq,Lk] against [N,H,Lq,Lk]: compact copy that keeps Lq; and a full 4-d mask that merges */
  attention_case("attention [H,Lq,Lk] mask", 2, (int64_t[]){2, 3}, 4, 5, 4, 4, 3, (int64_t[]){3, 4, 5}, 0.3, 0, 1);
  attention_case("attention [N,H,Lq,Lk] mask", 2, (int64_t[]){2, 3}, 4, 5, 4, 4, 4, (int64_t[]){2, 3, 4, 5}, 0.3, 0,
                 0);
  /* no lead dims at all: 2-d q, k, v */
  attention_case("attention 2-d", 0, NULL, 3, 4, 2, 3, 0, NULL, 0, 0, 1);
  /* larger: B = 8 (parallel over batches) and B = 1 (threaded sgemm) */
  attention_case("attention B8 L37 D16", 2, (int64_t[]){2, 4}, 37, 41, 16, 16, 4, (int64_t[]){2, 1, 1, 41}, 0.2, 0,
                 0);
  attention_case("attention B1 L70 D32", 1, (int64_t[]){1}, 70, 65, 32, 32, 3, (int64_t[]){1, 1, 65}, 0.2, 0, 0);

  /* strided (transposed) q, k, v with their gradients */
  {
    int64_t s[4] = {2, 5, 3, 4};
    hub_tensor *in[3] = {rand_tensor(4, s, -1, 1), rand_tensor(4, s, -1, 1), rand_tensor(4, s, -1, 1)};
    att_ctx c = {NULL, 0};
    gradcheck("attention of transposed views", fwd_attention_transposed, &c, 3, in);
    release_n(3, in);
  }
  /* rows whose keys are all masked: -1e9 gives the mean of v, -inf gives zeros (no NaN) */
  {
    int64_t s[3] = {1, 2, 3};
    hub_tensor *q = rand_tensor(3, s, -1, 1), *k = rand_tensor(3, (int64_t[]){1, 4, 3}, -1, 1),
               *v = rand_tensor(3, (int64_t[]){1, 4, 3}, -1, 1);
    hub_tensor *m = hub_full(3, (int64_t[]){1, 2, 4}, -1e9, HUB_F32);
    hub_tensor *o = hub_attention(q, k, v, m, 0);
    double *vv = values(v), ref[6];
    for (int i = 0; i < 2; i++)
      for (int e = 0; e < 3; e++) ref[i * 3 + e] = (vv[e] + vv[3 + e] + vv[6 + e] + vv[9 + e]) / 4;
    CHECK(compare("all -1e9", o, ref, 6, 1e-5), "attention: a row masked with -1e9 averages v");
    hub_tensor_release(o);
    hub_fill_(m, -INFINITY);
    hub_tensor_set_requires_grad(q, 1);
    o = hub_attention(q, k, v, m, 0);
    double zeros[6] = {0};
    CHECK(compare("all -inf", o, zeros, 6, 0), "attention: a row masked with -inf gives zeros");
    hub_tensor *g = hub_full(3, s, 1.0, HUB_F32);
    CHECK(o && hub_backward(o, g) == 0, "attention -inf backward");
    hub_tensor *gq = hub_tensor_grad(q);
    CHECK(compare("all -inf grad", gq, zeros, 6, 0), "attention: no gradient through a fully masked row");
    hub_tensor_release(gq);
    hub_tensor_release(g);
    hub_tensor_release(o);
    free(vv);
    hub_tensor_release(m);
    release_n(3, (hub_tensor *[]){q, k, v});
  }
}

/* ---- errors ---- */

static void test_errors(void) {
  hub_tensor *w = hub_tensor_new(HUB_F32, 2, (int64_t[]){8000, 4}, HUB_CPU);
  const int64_t bad[3] = {1, 9000, 2}, neg[2] = {3, -1};
  hub_tensor *ids = ids_tensor(HUB_I64, 1, (int64_t[]){3}, bad);
  hub_clear_error();
  hub_tensor *o = hub_embedding(w, ids);
  CHECK(o == NULL && has(hub_last_error(), "embedding: id 9000 out of range [0, 8000)"), "embedding range error: '%s'",
        hub_last_error());
  hub_tensor_release(ids);
  ids = ids_tensor(HUB_I32, 1, (int64_t[]){2}, neg);
  o = hub_embedding(w, ids);
  CHECK(o == NULL && has(hub_last_error(), "embedding: id -1 out of range"), "embedding negative id: '%s'",
        hub_last_error());
  hub_tensor *x = hub_tensor_new(HUB_F32, 2, (int64_t[]){4, 3}, HUB_CPU);
  o = hub_index_select(x, 0, ids);
  CHECK(o == NULL && has(hub_last_error(), "index_select: id -1 out of range [0, 4)"), "index_select range: '%s'",
        hub_last_error());
  o = hub_index_select(x, 0, x);
  CHECK(o == NULL && has(hub_last_error(), "index_select: index must be i64 or i32, got f32"), "index dtype: '%s'",
        hub_last_error());
  o = hub_embedding(w, w);
  CHECK(o == NULL && has(hub_last_error(), "embedding: ids must be i64 or i32, got f32"), "ids dtype: '%s'",
        hub_last_error());
  o = hub_index_select(x, 2, ids);
  CHECK(o == NULL && has(hub_last_error(), "index_select:"), "index_select dim: '%s'", hub_last_error());
  hub_tensor *y = hub_tensor_new(HUB_F32, 2, (int64_t[]){2, 4}, HUB_CPU), *z = hub_tensor_new(HUB_F32, 2, (int64_t[]){2, 3}, HUB_CPU);
  o = hub_concat(2, (hub_tensor *[]){z, y}, 0);
  CHECK(o == NULL && has(hub_last_error(), "concat: shapes [2,3] and [2,4] differ in dimension 2 (concatenating along dimension 1)"), "concat shapes: '%s'",
        hub_last_error());
  hub_tensor *pieces[2];
  CHECK(hub_split(x, 0, 2, (int64_t[]){1, 2}, pieces) == -1 && has(hub_last_error(), "split: sizes sum to 3"),
        "split sizes: '%s'", hub_last_error());
  hub_tensor *b = hub_tensor_new(HUB_BOOL, 2, (int64_t[]){4, 4}, HUB_CPU);
  o = hub_attention(x, x, x, b, 0);
  CHECK(o == NULL && has(hub_last_error(), "attention: mask must be an additive float"), "attention bool mask: '%s'",
        hub_last_error());
  o = hub_attention(x, y, y, NULL, 0);
  CHECK(o == NULL && has(hub_last_error(), "attention:"), "attention D mismatch: '%s'", hub_last_error());
  hub_tensor *m = hub_tensor_new(HUB_F32, 2, (int64_t[]){3, 4}, HUB_CPU);
  o = hub_attention(x, x, x, m, 0);
  CHECK(o == NULL && has(hub_last_error(), "attention: mask [3,4] does not broadcast to the scores [4,4]"),
        "attention mask shape: '%s'", hub_last_error());
  /* the process goes on: a good call after the failures */
  const int64_t good[2] = {7999, 0};
  hub_tensor *ids2 = ids_tensor(HUB_I64, 1, (int64_t[]){2}, good);
  o = hub_embedding(w, ids2);
  CHECK(o != NULL && shape_is(o, 2, (int64_t[]){2, 4}), "embedding after errors");
  hub_tensor_release(o);
  release_n(9, (hub_tensor *[]){w, ids, x, y, z, b, m, ids2, NULL});
}

int main(void) {
  hub_manual_seed(11);
  test_embedding();
  test_index_select();
  test_concat();
  test_split();
  test_attention();
  test_errors();
  CHECK(hub_tensor_live_count() == 0, "%lld tensors still alive", (long long)hub_tensor_live_count());
  CHECK(hub_node_live_count() == 0, "%lld autograd nodes still alive", (long long)hub_node_live_count());
  return check_summary();
}
