/* test_cuda.c - the CUDA backend against the CPU: each case builds an op from random inputs, runs it
 * on the CPU and on cuda (inputs moved with hub_to_device), and compares the outputs and the
 * gradients of sum(out * w) with a per-case tolerance (f32; tests/c/test_op_parity.c does the same
 * for its cases against an f64 reference and finite differences).  The cases are the shapes the
 * CPU tests rarely meet: odd sizes, transposed (non-contiguous) inputs, broadcasting, empty
 * tensors.  Also checked: dtype round trips (f16, bf16, i64 ids bit for bit), the allocator's
 * statistics, errors for mixed devices and bad ids, AdamW, and the ops on other dtypes and the
 * index/mask ops on fixed inputs with ties, -0 and NaN (other_dtypes_and_indexing).
 *
 * Without a GPU (or without the CUDA backend in the build) it checks the clear error of
 * to("cuda"), prints "skipped: no GPU (...)", and runs the same cases on a stand-in "cuda" device
 * (tests/c/cuda_standin.h: the CPU's kernels behind the CUDA backend's coverage), which checks this
 * file's own logic and the device-independent code (autograd across devices), not the kernels.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "backend.h"
#include "check.h"
#include "cuda_standin.h"

#define MAXIN 4
typedef hub_tensor *(*op_fn)(hub_tensor **in);

typedef struct cu_case {
  const char *name;
  op_fn fn;
  int n_in;
  int ndim[MAXIN];
  int64_t shape[MAXIN][4];
  unsigned positive;  /* bit i: input i drawn from [0.5, 1.5) */
  unsigned transpose; /* bit i: input i is the transpose of its last two dims (non-contiguous) */
  double tol;
  int grad;
} cu_case;

static void release_all(int n, hub_tensor **ts) {
  for (int i = 0; i < n; i++) hub_tensor_release(ts[i]);
}

static hub_tensor *o_add(hub_tensor **x) { return hub_add(x[0], x[1]); }
static hub_tensor *o_sub(hub_tensor **x) { return hub_sub(x[0], x[1]); }
static hub_tensor *o_mul(hub_tensor **x) { return hub_mul(x[0], x[1]); }
static hub_tensor *o_div(hub_tensor **x) { return hub_div(x[0], x[1]); }
static hub_tensor *o_exp(hub_tensor **x) { return hub_exp(x[0]); }
static hub_tensor *o_log(hub_tensor **x) { return hub_log(x[0]); }
static hub_tensor *o_relu(hub_tensor **x) { return hub_relu(x[0]); }
static hub_tensor *o_tanh(hub_tensor **x) { return hub_tanh(x[0]); }
static hub_tensor *o_gelu(hub_tensor **x) { return hub_gelu(x[0], 0); }
static hub_tensor *o_gelu_tanh(hub_tensor **x) { return hub_gelu(x[0], 1); }
static hub_tensor *o_sigmoid(hub_tensor **x) { return hub_sigmoid(x[0]); }
static hub_tensor *o_sum_last(hub_tensor **x) { return hub_sum(x[0], 1, (int[]){-1}, 0); }
static hub_tensor *o_sum_mid(hub_tensor **x) { return hub_sum(x[0], 1, (int[]){1}, 1); }
static hub_tensor *o_mean0(hub_tensor **x) { return hub_mean(x[0], 1, (int[]){0}, 0); }
static hub_tensor *o_max(hub_tensor **x) { return hub_max(x[0], -1, 0); }
static hub_tensor *o_softmax(hub_tensor **x) { return hub_softmax(x[0], -1); }
static hub_tensor *o_softmax0(hub_tensor **x) { return hub_softmax(x[0], 0); }
static hub_tensor *o_log_softmax(hub_tensor **x) { return hub_log_softmax(x[0], -1); }
static hub_tensor *o_ln(hub_tensor **x) { return hub_layer_norm(x[0], 1, x[1], x[2], 1e-5); }
static hub_tensor *o_add_ln(hub_tensor **x) { return hub_add_layer_norm(x[0], x[1], 1, x[2], x[3], 1e-12); }
static hub_tensor *o_matmul(hub_tensor **x) { return hub_matmul(x[0], x[1]); }
static hub_tensor *o_linear(hub_tensor **x) { return hub_linear(x[0], x[1], x[2]); }
static hub_tensor *o_linear_relu(hub_tensor **x) { return hub_linear_act(x[0], x[1], x[2], "relu"); }
static hub_tensor *o_linear_gelu(hub_tensor **x) { return hub_linear_act(x[0], x[1], x[2], "gelu"); }
static hub_tensor *o_linear_gelu_tanh(hub_tensor **x) { return hub_linear_act(x[0], x[1], x[2], "gelu_tanh"); }
static hub_tensor *o_attention(hub_tensor **x) { return hub_attention(x[0], x[1], x[2], NULL, 0); }
static hub_tensor *o_attn_qkv_mask(hub_tensor **x) { return hub_attention_qkv(x[0], x[1], 4, 0, 0); }

static const cu_case cases[] = {
    {"add (broadcast row)", o_add, 2, {2, 1}, {{37, 129}, {129}}, 0, 0, 1e-6, 1},
    {"sub (transposed)", o_sub, 2, {2, 2}, {{17, 33}, {17, 33}}, 0, 1, 1e-6, 1},
    {"mul (broadcast column)", o_mul, 2, {3, 3}, {{3, 5, 7}, {3, 5, 1}}, 0, 0, 1e-6, 1},
    {"div", o_div, 2, {2, 2}, {{9, 11}, {9, 11}}, 2, 0, 1e-6, 1},
    {"add (empty)", o_add, 2, {2, 2}, {{0, 5}, {0, 5}}, 0, 0, 1e-6, 1},
    {"exp", o_exp, 1, {2}, {{13, 31}}, 0, 0, 1e-6, 1},
    {"log", o_log, 1, {2}, {{13, 31}}, 1, 0, 1e-6, 1},
    {"relu", o_relu, 1, {2}, {{13, 31}}, 0, 0, 1e-6, 1},
    {"tanh (transposed)", o_tanh, 1, {2}, {{13, 31}}, 0, 1, 1e-6, 1},
    {"gelu", o_gelu, 1, {2}, {{13, 31}}, 0, 0, 1e-5, 1},
    {"gelu tanh", o_gelu_tanh, 1, {2}, {{13, 31}}, 0, 0, 1e-5, 1},
    {"sigmoid", o_sigmoid, 1, {2}, {{13, 31}}, 0, 0, 1e-6, 1},
    {"sum (last dim)", o_sum_last, 1, {3}, {{3, 7, 1001}}, 0, 0, 1e-5, 1},
    {"sum (middle dim)", o_sum_mid, 1, {3}, {{3, 257, 5}}, 0, 0, 1e-5, 1},
    {"mean (dim 0, transposed)", o_mean0, 1, {2}, {{19, 23}}, 0, 1, 1e-6, 1},
    /* column sums over more than one 256-row chunk (nn.cu's tiled kernels, their second pass) */
    {"mean (dim 0, 1000 rows)", o_mean0, 1, {2}, {{1000, 37}}, 0, 0, 1e-6, 1},
    {"max", o_max, 1, {2}, {{7, 333}}, 0, 0, 0, 1}, /* backward: a scatter along the dim (index.cu) */
    {"softmax", o_softmax, 1, {2}, {{5, 1000}}, 0, 0, 1e-5, 1},
    {"softmax (dim 0)", o_softmax0, 1, {2}, {{77, 3}}, 0, 0, 1e-5, 1},
    {"log_softmax", o_log_softmax, 1, {3}, {{2, 3, 517}}, 0, 0, 1e-5, 1},
    {"layer_norm", o_ln, 3, {2, 1, 1}, {{33, 768}, {768}, {768}}, 0, 0, 1e-4, 1},
    {"layer_norm (600 rows)", o_ln, 3, {2, 1, 1}, {{600, 40}, {40}, {40}}, 0, 0, 1e-4, 1},
    /* the residual add fused into the kernel (k_ln_fwd's r and s) */
    {"add_layer_norm", o_add_ln, 4, {3, 3, 1, 1}, {{3, 11, 768}, {3, 11, 768}, {768}, {768}}, 0, 0, 1e-4, 1},
    {"add_layer_norm (transposed residual)", o_add_ln, 4, {2, 2, 1, 1}, {{40, 40}, {40, 40}, {40}, {40}}, 0, 2, 1e-4, 1},
    {"matmul (batched, odd)", o_matmul, 2, {3, 2}, {{3, 17, 33}, {33, 9}}, 0, 0, 1e-5, 1},
    {"matmul (transposed b)", o_matmul, 2, {2, 2}, {{31, 64}, {64, 47}}, 0, 2, 1e-5, 1},
    {"matmul (transposed a)", o_matmul, 2, {2, 2}, {{31, 64}, {64, 47}}, 0, 1, 1e-5, 1},
    {"matmul (empty K)", o_matmul, 2, {2, 2}, {{4, 0}, {0, 5}}, 0, 0, 1e-6, 0},
    {"linear (bias)", o_linear, 3, {3, 2, 1}, {{2, 5, 96}, {40, 96}, {40}}, 0, 0, 1e-5, 1},
    /* the bias (and relu / tanh gelu) in cuBLASLt's epilogue; erf gelu as a pass after it (no
     * gradients: then linear_act fuses the activation into the product) */
    {"linear + relu", o_linear_relu, 3, {2, 2, 1}, {{33, 64}, {48, 64}, {48}}, 0, 0, 1e-5, 0},
    {"linear + gelu (erf)", o_linear_gelu, 3, {3, 2, 1}, {{2, 7, 64}, {24, 64}, {24}}, 0, 0, 1e-5, 0},
    {"linear + gelu (tanh)", o_linear_gelu_tanh, 3, {2, 2, 1}, {{17, 32}, {40, 32}, {40}}, 0, 0, 1e-5, 0},
    {"linear (bias, odd sizes)", o_linear, 3, {2, 2, 1}, {{3, 7}, {5, 7}, {5}}, 0, 0, 1e-5, 1},
    {"attention", o_attention, 3, {4, 4, 4}, {{2, 3, 17, 16}, {2, 3, 29, 16}, {2, 3, 29, 8}}, 0, 0, 1e-5, 1},
    /* the tiled backward over 3 query tiles and 2 key chunks (5 key tiles) */
    {"attention (gradients, 2 chunks)", o_attention, 3, {4, 4, 4}, {{1, 2, 37, 24}, {1, 2, 70, 24}, {1, 2, 70, 40}}, 0, 0, 1e-5, 1},
    /* without gradients no probabilities are kept: the flash kernel on cuda (3 query tiles, 2 key
     * chunks; a padding-style additive mask) */
    {"attention (inference)", o_attention, 3, {4, 4, 4}, {{2, 3, 37, 24}, {2, 3, 70, 24}, {2, 3, 70, 40}}, 0, 0, 1e-5, 0},
    {"attention_qkv + mask (inference)", o_attn_qkv_mask, 2, {3, 4}, {{2, 45, 192}, {2, 1, 1, 45}}, 0, 0, 1e-5, 0},
};

static double *read_all(hub_tensor *t, int64_t *n) {
  hub_tensor *c = hub_to_device(t, HUB_CPU);
  *n = c ? hub_tensor_numel(c) : 0;
  double *v = c ? malloc(sizeof(double) * (size_t)(*n + 1)) : NULL;
  if (v && hub_tensor_read(c, v, -1)) {
    free(v);
    v = NULL;
  }
  hub_tensor_release(c);
  return v;
}

static double max_rel(const double *a, const double *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(a[i] - b[i]) / (1 + fabs(b[i]));
    if (!(d <= m)) m = d;
  }
  return m;
}

/* Runs the case on `device`: output and input gradients, host copies. */
static int run(const cu_case *c, int device, hub_tensor **x32, hub_tensor *w, double **out, int64_t *nout,
               double **grads) {
  hub_tensor *leaf[MAXIN] = {NULL}, *x[MAXIN] = {NULL};
  int ok = 1;
  for (int i = 0; i < c->n_in; i++) {
    leaf[i] = leaf_on(x32[i], device);
    if (!leaf[i]) ok = 0;
    else if (c->grad) hub_tensor_set_requires_grad(leaf[i], 1);
    x[i] = leaf[i] && (c->transpose >> i & 1) ? hub_transpose(leaf[i], -1, -2) : hub_tensor_retain(leaf[i]);
  }
  hub_tensor *o = ok ? c->fn(x) : NULL;
  hub_tensor *wd = o ? hub_to_device(w, device) : NULL;
  hub_tensor *p = wd ? hub_mul(o, wd) : NULL, *s = p ? hub_sum(p, 0, NULL, 0) : NULL;
  ok = s && (!c->grad || hub_backward(s, NULL) == 0);
  CHECK(ok, "%s on %s: %s", c->name, hub_device_name(device), hub_last_error());
  if (ok) {
    *out = read_all(o, nout);
    for (int i = 0; c->grad && i < c->n_in; i++) {
      hub_tensor *g = hub_tensor_grad(leaf[i]);
      int64_t ng;
      grads[i] = g ? read_all(g, &ng) : NULL;
      hub_tensor_release(g);
    }
  }
  release_all(4, (hub_tensor *[]){o, wd, p, s});
  release_all(MAXIN, leaf);
  release_all(MAXIN, x);
  return ok ? 0 : -1;
}

static void parity(void) {
  for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
    const cu_case *c = &cases[ci];
    hub_manual_seed(500 + ci);
    hub_tensor *x32[MAXIN] = {NULL};
    for (int i = 0; i < c->n_in; i++) {
      int64_t sh[4];
      memcpy(sh, c->shape[i], sizeof sh);
      if (c->transpose >> i & 1) { /* stored transposed, so that the op sees the listed shape */
        int64_t t = sh[c->ndim[i] - 1];
        sh[c->ndim[i] - 1] = sh[c->ndim[i] - 2];
        sh[c->ndim[i] - 2] = t;
      }
      hub_tensor *r = (c->positive >> i & 1) ? hub_rand(c->ndim[i], sh, HUB_F32) : hub_randn(c->ndim[i], sh, HUB_F32);
      x32[i] = (c->positive >> i & 1) ? hub_add_scalar(r, 0.5) : hub_tensor_retain(r);
      hub_tensor_release(r);
    }
    hub_tensor *xs[MAXIN] = {NULL};
    for (int i = 0; i < c->n_in; i++)
      xs[i] = (c->transpose >> i & 1) ? hub_transpose(x32[i], -1, -2) : hub_tensor_retain(x32[i]);
    hub_tensor *probe = c->fn(xs);
    release_all(MAXIN, xs);
    int64_t osh[8] = {0};
    for (int d = 0; probe && d < hub_tensor_ndim(probe); d++) osh[d] = hub_tensor_size(probe, d);
    hub_tensor *w = probe ? hub_randn(hub_tensor_ndim(probe), osh, HUB_F32) : NULL;
    hub_tensor_release(probe);
    double *ref = NULL, *got = NULL, *gref[MAXIN] = {NULL}, *ggot[MAXIN] = {NULL};
    int64_t nref = 0, ngot = 0;
    if (w && run(c, HUB_CPU, x32, w, &ref, &nref, gref) == 0 && run(c, HUB_CUDA, x32, w, &got, &ngot, ggot) == 0) {
      CHECK(nref == ngot, "%s: %lld elements on cuda, %lld on the cpu", c->name, (long long)ngot, (long long)nref);
      double e = ref && got && nref == ngot ? max_rel(got, ref, nref) : INFINITY;
      CHECK(e <= c->tol, "%s: cuda output differs from the cpu by %.3g (tolerance %.3g)", c->name, e, c->tol);
      for (int i = 0; c->grad && i < c->n_in; i++) {
        int64_t n = hub_tensor_numel(x32[i]);
        double eg = gref[i] && ggot[i] ? max_rel(ggot[i], gref[i], n) : INFINITY;
        CHECK(eg <= 10 * c->tol + 1e-6, "%s: gradient of input %d differs by %.3g", c->name, i + 1, eg);
      }
    } else {
      CHECK(w != NULL, "%s: could not build the case: %s", c->name, hub_last_error());
    }
    free(ref);
    free(got);
    for (int i = 0; i < MAXIN; i++) {
      free(gref[i]);
      free(ggot[i]);
    }
    hub_tensor_release(w);
    release_all(MAXIN, x32);
  }
}

/* attention_qkv in training with a key-padding mask and dropout on the probabilities: the same
 * seed gives the same masks on both devices, so output and gradient agree.  On cuda this goes
 * through the GEMM path (pointer arrays into the packed projection) unless HUB_CUDA_ATTN_GEMM=0,
 * and under autocast bf16 through its bf16 products (compared with a looser tolerance). */
static void attention_training(void) {
  hub_manual_seed(31);
  const int64_t B = 3, L = 37, H = 4, Dm = 64;
  hub_tensor *xv = hub_randn(3, (int64_t[]){B, L, 3 * Dm}, HUB_F32);
  float mk[3 * 37];
  for (int i = 0; i < B * L; i++) mk[i] = (i % L) >= L - 5 * (i / L) ? -10000.0f : 0.0f; /* 0, 5, 10 pads */
  hub_tensor *mask = hub_tensor_from_data(HUB_F32, 4, (int64_t[]){B, 1, 1, L}, mk, HUB_F32);
  hub_tensor *wv = hub_randn(3, (int64_t[]){B, L, Dm}, HUB_F32);
  for (int lowp = 0; lowp < 2; lowp++) {
    double *r[2] = {NULL}, *g[2] = {NULL};
    for (int d = 0; d < 2; d++) {
      int dev = d ? HUB_CUDA : HUB_CPU;
      hub_tensor *x = leaf_on(xv, dev), *m = hub_to_device(mask, dev), *w = hub_to_device(wv, dev);
      hub_tensor_set_requires_grad(x, 1);
      hub_manual_seed(99);
      int prev = hub_set_autocast(lowp && dev == HUB_CUDA ? HUB_BF16 : HUB_F32);
      hub_tensor *o = x && m ? hub_attention_qkv(x, m, H, 0, 0.1) : NULL;
      hub_set_autocast(prev);
      hub_tensor *ow = o && w ? hub_mul(o, w) : NULL, *s = ow ? hub_sum(ow, 0, NULL, 0) : NULL;
      CHECK(s && hub_backward(s, NULL) == 0, "attention_qkv training on %s: %s", hub_device_name(dev), hub_last_error());
      hub_tensor *gx = hub_tensor_grad(x);
      int64_t n;
      r[d] = o ? read_all(o, &n) : NULL;
      g[d] = gx ? read_all(gx, &n) : NULL;
      release_all(7, (hub_tensor *[]){x, m, w, o, ow, s, gx});
    }
    double tol = lowp ? 3e-2 : 1e-5;
    double eo = r[0] && r[1] ? max_rel(r[1], r[0], B * L * Dm) : INFINITY;
    double eg = g[0] && g[1] ? max_rel(g[1], g[0], B * L * 3 * Dm) : INFINITY;
    CHECK(eo <= tol, "attention_qkv training%s: cuda output differs from the cpu by %.3g", lowp ? " (bf16)" : "", eo);
    CHECK(eg <= 10 * tol, "attention_qkv training%s: gradient differs by %.3g", lowp ? " (bf16)" : "", eg);
    /* the autocast mode reached the products: checked on the emulator; on a GPU whose cuBLAS
     * refused the bf16 compute type (a stderr line; the device check lists it) f32 is right too */
    const char *ge = getenv("HUB_CUDA_ATTN_GEMM");
    if (lowp && hub_cuda_device_count() > 0 && !(ge && strcmp(ge, "0") == 0)) {
      if (strstr(hub_cuda_device_name(0), "hubemu"))
        CHECK(eo > 1e-6 || eg > 1e-6, "attention_qkv training (bf16): no difference from f32 at all");
      else if (!(eo > 1e-6 || eg > 1e-6))
        printf("note: attention_qkv training under bf16 autocast gave the f32 result (a cuBLAS fallback?)\n");
    }
    for (int k = 0; k < 2; k++) free(r[k]), free(g[k]);
  }
  release_all(3, (hub_tensor *[]){xv, mask, wv});
}

/* embedding (gather + scatter-add backward with repeated ids) and cross-entropy (ignore_index,
 * label smoothing), which take integer inputs */
static void indexed(void) {
  hub_manual_seed(7);
  hub_tensor *wt = hub_randn(2, (int64_t[]){50, 24}, HUB_F32);
  int64_t idv[] = {3, 49, 3, 0, 17, 3, 49};
  hub_tensor *ids = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){7}, idv, HUB_I64);
  hub_tensor *logits = hub_randn(2, (int64_t[]){6, 11}, HUB_F32);
  int64_t tv[] = {1, 10, -100, 0, 5, 10};
  hub_tensor *tg = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){6}, tv, HUB_I64);
  double *r[4] = {NULL}, *g[4] = {NULL};
  for (int d = 0; d < 2; d++) {
    int dev = d ? HUB_CUDA : HUB_CPU;
    hub_tensor *w = leaf_on(wt, dev), *i = hub_to_device(ids, dev), *l = leaf_on(logits, dev),
               *t = hub_to_device(tg, dev);
    hub_tensor_set_requires_grad(w, 1);
    hub_tensor_set_requires_grad(l, 1);
    hub_tensor *e = hub_embedding(w, i), *es = e ? hub_mul(e, e) : NULL, *s1 = es ? hub_sum(es, 0, NULL, 0) : NULL;
    hub_tensor *ce = hub_cross_entropy(l, t, -100, 0.1);
    CHECK(s1 && ce && hub_backward(s1, NULL) == 0 && hub_backward(ce, NULL) == 0, "embedding/cross_entropy on %s: %s",
          hub_device_name(dev), hub_last_error());
    int64_t n;
    hub_tensor *gw = hub_tensor_grad(w), *gl = hub_tensor_grad(l);
    r[d * 2] = e ? read_all(e, &n) : NULL;
    r[d * 2 + 1] = ce ? read_all(ce, &n) : NULL;
    g[d * 2] = gw ? read_all(gw, &n) : NULL;
    g[d * 2 + 1] = gl ? read_all(gl, &n) : NULL;
    release_all(10, (hub_tensor *[]){w, i, l, t, e, es, s1, ce, gw, gl});
  }
  CHECK(r[0] && r[2] && max_rel(r[2], r[0], 7 * 24) == 0, "embedding gathers the same rows");
  CHECK(g[0] && g[2] && max_rel(g[2], g[0], 50 * 24) < 1e-6, "embedding backward adds repeated ids");
  CHECK(r[1] && r[3] && max_rel(r[3], r[1], 1) < 1e-5, "cross_entropy: cuda %g cpu %g", r[3] ? r[3][0] : NAN,
        r[1] ? r[1][0] : NAN);
  CHECK(g[1] && g[3] && max_rel(g[3], g[1], 66) < 1e-5, "cross_entropy backward");
  for (int k = 0; k < 4; k++) free(r[k]), free(g[k]);

  /* a bad id is an error naming it, not a fault */
  hub_tensor *w = hub_to_device(wt, HUB_CUDA);
  hub_tensor *bad = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){2}, (int64_t[]){1, 50}, HUB_I64);
  hub_tensor *bd = hub_to_device(bad, HUB_CUDA), *e = bd ? hub_embedding(w, bd) : NULL;
  CHECK(!e && strstr(hub_last_error(), "50 out of range"), "bad id: %s", hub_last_error());
  /* mixing devices is an error */
  hub_tensor *mixed = hub_add(w, wt);
  CHECK(!mixed && strstr(hub_last_error(), "different devices"), "mixed devices: %s", hub_last_error());
  /* backward(): its implicit seed is made on the root's device; a given gradient on another is refused */
  {
    hub_tensor *wl = leaf_on(wt, HUB_CUDA), *sq = NULL, *gs = NULL, *g0 = NULL, *seed = NULL;
    hub_tensor_set_requires_grad(wl, 1);
    sq = wl ? hub_sum(wl, 0, NULL, 0) : NULL;
    CHECK(sq && hub_backward(sq, NULL) == 0 && (g0 = hub_tensor_grad(wl)) && hub_tensor_device(g0) == HUB_CUDA,
          "backward on cuda without a gradient: %s", hub_last_error());
    seed = hub_full(0, NULL, 1.0, HUB_F32);
    gs = sq ? hub_sum(wl, 0, NULL, 0) : NULL;
    CHECK(gs && hub_backward(gs, seed) != 0 && strstr(hub_last_error(), "the gradient is on cpu, the tensor on cuda"),
          "backward with a cpu gradient: %s", hub_last_error());
    release_all(5, (hub_tensor *[]){wl, sq, gs, g0, seed});
  }
  release_all(7, (hub_tensor *[]){w, bad, bd, e, mixed, wt, ids});
  release_all(2, (hub_tensor *[]){logits, tg});
}

/* ---- the ops on other dtypes and the index/mask ops (anydtype.cu, index.cu) ----
 * Each case runs on fixed inputs (f32 with ties, -0, NaN; small i64; f64) on the cpu and on cuda
 * and compares the outputs (dtype, shape and values; NaN equals NaN) and, for the differentiable
 * ones, the gradients of sum(out * w). */

#define XN 4
typedef hub_tensor *(*x_fn)(hub_tensor **in);
typedef struct x_case {
  const char *name;
  x_fn fn;
  int in[XN]; /* inputs by number in xin[], -1 ends */
  int grad;   /* bit i: input i gets a gradient */
  double tol;
} x_case;

static hub_tensor *xin[8]; /* 0 f32 [7,13] ties/NaN/-0, 1 f32 row [13], 2 i64 [7,13], 3 i64 row [13] (no 0),
                            * 4 f64 [5,9], 5 i64 index [7,5] in [0,13), 6 f32 [7,5], 7 f32 [3,3000] */

static hub_tensor *x_eq(hub_tensor **x) { return hub_eq(x[0], x[1]); }
static hub_tensor *x_lt(hub_tensor **x) { return hub_lt(x[0], x[1]); }
static hub_tensor *x_ge_int(hub_tensor **x) { return hub_ge(x[0], x[1]); }
static hub_tensor *x_and_or(hub_tensor **x) {
  hub_tensor *a = hub_gt(x[0], x[1]), *b = a ? hub_lt(x[2], x[3]) : NULL, *c = b ? hub_logical_and(a, b) : NULL;
  hub_tensor *d = c ? hub_logical_or(c, b) : NULL, *e = d ? hub_logical_not(d) : NULL;
  release_all(4, (hub_tensor *[]){a, b, c, d});
  return e;
}
static hub_tensor *x_iadd(hub_tensor **x) { return hub_add(x[0], x[1]); }
static hub_tensor *x_isub(hub_tensor **x) { return hub_sub(x[0], x[1]); }
static hub_tensor *x_imul(hub_tensor **x) { return hub_mul(x[0], x[1]); }
static hub_tensor *x_irem(hub_tensor **x) { return hub_remainder(x[0], x[1]); }
static hub_tensor *x_ifmod(hub_tensor **x) { return hub_fmod(x[0], x[1]); }
static hub_tensor *x_frem(hub_tensor **x) { return hub_remainder(x[0], x[1]); }
static hub_tensor *x_ipow(hub_tensor **x) {
  hub_tensor *e = hub_abs(x[1]), *r = e ? hub_pow_tensor(x[0], e) : NULL;
  hub_tensor_release(e);
  return r;
}
static hub_tensor *x_neg_i(hub_tensor **x) { return hub_neg(x[0]); }
static hub_tensor *x_abs_i(hub_tensor **x) { return hub_abs(x[0]); }
static hub_tensor *x_sign(hub_tensor **x) { return hub_sign(x[0]); }
static hub_tensor *x_floor(hub_tensor **x) { return hub_floor(x[0]); }
static hub_tensor *x_ceil(hub_tensor **x) { return hub_ceil(x[0]); }
static hub_tensor *x_round(hub_tensor **x) { return hub_round(x[0]); }
static hub_tensor *x_clamp_i(hub_tensor **x) { return hub_clamp(x[0], -3, 5); }
static hub_tensor *x_where_i(hub_tensor **x) {
  hub_tensor *c = hub_gt(x[0], x[1]), *r = c ? hub_where(c, x[2], x[3]) : NULL;
  hub_tensor_release(c);
  return r;
}
static hub_tensor *x_masked_select(hub_tensor **x) {
  hub_tensor *m = hub_gt(x[0], x[1]), *r = m ? hub_masked_select(x[0], m) : NULL;
  hub_tensor_release(m);
  return r;
}
static hub_tensor *x_masked_fill(hub_tensor **x) {
  hub_tensor *m = hub_lt(x[0], x[1]), *r = m ? hub_masked_fill(x[0], m, -7.5) : NULL;
  hub_tensor_release(m);
  return r;
}
static hub_tensor *x_gather(hub_tensor **x) { return hub_gather(x[0], 1, x[1]); }
static hub_tensor *x_scatter(hub_tensor **x) { return hub_scatter(x[0], 1, x[1], x[2]); }
static hub_tensor *x_scatter_add(hub_tensor **x) { return hub_scatter_add(x[0], 1, x[1], x[2]); }
static hub_tensor *x_scatter_add_i(hub_tensor **x) {
  hub_tensor *z = hub_mul_scalar(x[0], 0), *s = z ? hub_narrow(x[0], 1, 0, 5) : NULL, *sc = s ? hub_contiguous(s) : NULL;
  hub_tensor *r = sc ? hub_scatter_add(z, 1, x[1], sc) : NULL;
  release_all(3, (hub_tensor *[]){z, s, sc});
  return r;
}
static hub_tensor *x_sort_values(hub_tensor **x) {
  hub_tensor *v = NULL;
  return hub_sort(x[0], 1, 0, &v, NULL) == 0 ? v : NULL;
}
static hub_tensor *x_sort_desc_idx(hub_tensor **x) { return hub_argsort(x[0], 1, 1); }
static hub_tensor *x_sort_dim0(hub_tensor **x) { return hub_argsort(x[0], 0, 0); }
static hub_tensor *x_sort_int(hub_tensor **x) { return hub_argsort(x[0], 1, 1); }
static hub_tensor *x_topk(hub_tensor **x) {
  hub_tensor *v = NULL, *i = NULL;
  if (hub_topk(x[0], 4, -1, 1, &v, &i)) return NULL;
  hub_tensor *f = hub_to_dtype(i, HUB_F32), *r = f ? hub_add(v, f) : NULL; /* values and positions in one */
  release_all(3, (hub_tensor *[]){v, i, f});
  return r;
}
static hub_tensor *x_cumsum(hub_tensor **x) { return hub_cumsum(x[0], 1); }
static hub_tensor *x_cumsum0(hub_tensor **x) { return hub_cumsum(x[0], 0); }
static hub_tensor *x_exp64(hub_tensor **x) { return hub_exp(x[0]); }
static hub_tensor *x_tanh64(hub_tensor **x) { return hub_tanh(x[0]); }
static hub_tensor *x_gelu64(hub_tensor **x) { return hub_gelu(x[0], 0); }
static hub_tensor *x_sigmoid64(hub_tensor **x) { return hub_sigmoid(x[0]); }

static const x_case xcases[] = {
    {"eq (f32, broadcast)", x_eq, {0, 1, -1}, 0, 0},
    {"lt (f32, NaN)", x_lt, {0, 1, -1}, 0, 0},
    {"ge (i64)", x_ge_int, {2, 3, -1}, 0, 0},
    {"logical and / or / not", x_and_or, {0, 1, 2, 3}, 0, 0},
    {"add (i64, broadcast)", x_iadd, {2, 3, -1}, 0, 0},
    {"sub (i64)", x_isub, {2, 3, -1}, 0, 0},
    {"mul (i64)", x_imul, {2, 3, -1}, 0, 0},
    {"remainder (i64, signs)", x_irem, {2, 3, -1}, 0, 0},
    {"fmod (i64, signs)", x_ifmod, {2, 3, -1}, 0, 0},
    {"remainder (f32)", x_frem, {0, 1, -1}, 1, 1e-6},
    {"pow (i64)", x_ipow, {2, 3, -1}, 0, 0},
    {"neg (i64)", x_neg_i, {2, -1}, 0, 0},
    {"abs (i64)", x_abs_i, {2, -1}, 0, 0},
    {"sign (f32, -0, NaN)", x_sign, {0, -1}, 0, 0},
    {"floor (f32)", x_floor, {0, -1}, 0, 0},
    {"ceil (f32)", x_ceil, {0, -1}, 0, 0},
    {"round (f32, halves to even)", x_round, {0, -1}, 0, 0},
    {"clamp (i64)", x_clamp_i, {2, -1}, 0, 0},
    {"where (i64 values)", x_where_i, {0, 1, 2, 3}, 0, 0},
    {"masked_select", x_masked_select, {0, 1, -1}, 1, 0},
    {"masked_fill", x_masked_fill, {0, 1, -1}, 1, 0},
    {"gather (dim 1)", x_gather, {0, 5, -1}, 1, 0},
    {"scatter (duplicates: the last)", x_scatter, {0, 5, 6, -1}, 5, 0},
    {"scatter_add (duplicates add up)", x_scatter_add, {0, 5, 6, -1}, 5, 1e-6},
    {"scatter_add (i64)", x_scatter_add_i, {2, 5, -1}, 0, 0},
    {"sort (values, ties, NaN, -0)", x_sort_values, {0, -1}, 1, 0},
    {"argsort (descending)", x_sort_desc_idx, {0, -1}, 0, 0},
    {"argsort (dim 0)", x_sort_dim0, {0, -1}, 0, 0},
    {"argsort (i64, descending)", x_sort_int, {2, -1}, 0, 0},
    {"argsort (3,000 per line: device scratch)", x_sort_desc_idx, {7, -1}, 0, 0},
    {"topk", x_topk, {7, -1}, 0, 0},
    {"cumsum (f32) and its backward", x_cumsum, {6, -1}, 1, 1e-6},
    {"cumsum (i64, dim 0)", x_cumsum0, {2, -1}, 0, 0},
    {"exp (f64)", x_exp64, {4, -1}, 1, 1e-14},
    {"tanh (f64)", x_tanh64, {4, -1}, 1, 1e-14},
    {"gelu (f64)", x_gelu64, {4, -1}, 1, 1e-14},
    {"sigmoid (f64)", x_sigmoid64, {4, -1}, 1, 1e-14},
};

/* largest relative difference, NaN equal to NaN (and NaN against a number: infinite) */
static double diff_nan(const double *a, const double *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i])) {
      if (!(isnan(a[i]) && isnan(b[i]))) return INFINITY;
      continue;
    }
    double d = fabs(a[i] - b[i]) / (1 + fabs(b[i]));
    if (d > m) m = d;
  }
  return m;
}

static void xinputs(void) {
  hub_manual_seed(11);
  float f[7 * 13];
  for (int i = 0; i < 7 * 13; i++) f[i] = (float)((i * 37 % 23) - 11) * 0.5f; /* ties, halves */
  f[5] = NAN, f[40] = -0.0f, f[41] = 0.0f, f[77] = NAN;
  xin[0] = hub_tensor_from_data(HUB_F32, 2, (int64_t[]){7, 13}, f, HUB_F32);
  float r[13];
  for (int i = 0; i < 13; i++) r[i] = (float)(i % 5) - 2.0f + (i == 6 ? 0.25f : 0.0f);
  r[3] = 1.5f; /* never 0: remainder's divisor */
  r[8] = -2.5f;
  for (int i = 0; i < 13; i++)
    if (r[i] == 0) r[i] = 3;
  xin[1] = hub_tensor_from_data(HUB_F32, 1, (int64_t[]){13}, r, HUB_F32);
  int64_t iv[7 * 13], ir[13], ix[7 * 5];
  for (int i = 0; i < 7 * 13; i++) iv[i] = (i * 53 % 41) - 20;
  for (int i = 0; i < 13; i++) ir[i] = (i % 2 ? -1 : 1) * (1 + i % 5);
  for (int i = 0; i < 7 * 5; i++) ix[i] = (i * 7 + i / 5) % 13;
  ix[1] = ix[0], ix[7] = ix[5]; /* duplicates in a row */
  xin[2] = hub_tensor_from_data(HUB_I64, 2, (int64_t[]){7, 13}, iv, HUB_I64);
  xin[3] = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){13}, ir, HUB_I64);
  xin[4] = hub_randn(2, (int64_t[]){5, 9}, HUB_F64);
  xin[5] = hub_tensor_from_data(HUB_I64, 2, (int64_t[]){7, 5}, ix, HUB_I64);
  xin[6] = hub_randn(2, (int64_t[]){7, 5}, HUB_F32);
  hub_tensor *big = hub_randn(2, (int64_t[]){3, 3000}, HUB_F32), *big2 = big ? hub_round(big) : NULL;
  xin[7] = big2; /* many ties */
  hub_tensor_release(big);
}

static int xrun(const x_case *c, int device, hub_tensor *w, double **out, int64_t *nout, int *dtype, double **grads) {
  hub_tensor *leaf[XN] = {NULL};
  int n = 0, ok = 1;
  for (; n < XN && c->in[n] >= 0; n++) {
    leaf[n] = leaf_on(xin[c->in[n]], device);
    if (!leaf[n]) ok = 0;
    else if (c->grad >> n & 1) hub_tensor_set_requires_grad(leaf[n], 1);
  }
  hub_tensor *o = ok ? c->fn(leaf) : NULL, *wd = NULL, *p = NULL, *s = NULL;
  if (o && c->grad) {
    int64_t osh[HUB_MAX_DIMS];
    for (int d = 0; d < hub_tensor_ndim(o); d++) osh[d] = hub_tensor_size(o, d);
    hub_tensor *wc = hub_narrow(w, 0, 0, hub_tensor_numel(o)), *wr = wc ? hub_reshape(wc, hub_tensor_ndim(o), osh) : NULL;
    wd = wr ? hub_to_device(wr, device) : NULL;
    release_all(2, (hub_tensor *[]){wc, wr});
    p = wd ? hub_mul(o, wd) : NULL;
    s = p ? hub_sum(p, 0, NULL, 0) : NULL;
    ok = s && hub_backward(s, NULL) == 0;
  } else {
    ok = o != NULL;
  }
  CHECK(ok, "%s on %s: %s", c->name, hub_device_name(device), hub_last_error());
  if (ok) {
    *dtype = hub_tensor_dtype(o);
    CHECK(hub_tensor_device(o) == device, "%s: the result is on %s", c->name, hub_device_name(hub_tensor_device(o)));
    *out = read_all(o, nout);
    for (int i = 0; i < n; i++) {
      if (!(c->grad >> i & 1)) continue;
      hub_tensor *g = hub_tensor_grad(leaf[i]);
      int64_t ng;
      grads[i] = g ? read_all(g, &ng) : NULL;
      hub_tensor_release(g);
    }
  }
  release_all(4, (hub_tensor *[]){o, wd, p, s});
  release_all(XN, leaf);
  return ok ? 0 : -1;
}

static void other_dtypes_and_indexing(void) {
  xinputs();
  hub_tensor *w = hub_randn(1, (int64_t[]){9000}, HUB_F32);
  for (size_t ci = 0; ci < sizeof xcases / sizeof *xcases; ci++) {
    const x_case *c = &xcases[ci];
    double *ref = NULL, *got = NULL, *gref[XN] = {NULL}, *ggot[XN] = {NULL};
    int64_t nref = 0, ngot = 0;
    int dref = -1, dgot = -2;
    if (xrun(c, HUB_CPU, w, &ref, &nref, &dref, gref) == 0 && xrun(c, HUB_CUDA, w, &got, &ngot, &dgot, ggot) == 0) {
      CHECK(dref == dgot && nref == ngot, "%s: %s[%lld] on cuda, %s[%lld] on the cpu", c->name, hub_dtype_name(dgot),
            (long long)ngot, hub_dtype_name(dref), (long long)nref);
      double e = ref && got && nref == ngot ? diff_nan(got, ref, nref) : INFINITY;
      CHECK(e <= c->tol, "%s: cuda differs from the cpu by %.3g (tolerance %.3g)", c->name, e, c->tol);
      for (int i = 0; i < XN; i++) {
        if (!(c->grad >> i & 1)) continue;
        int64_t n = hub_tensor_numel(xin[c->in[i]]);
        double eg = gref[i] && ggot[i] ? diff_nan(ggot[i], gref[i], n) : INFINITY;
        CHECK(eg <= 10 * c->tol + 1e-12, "%s: gradient of input %d differs by %.3g", c->name, i + 1, eg);
      }
    }
    free(ref), free(got);
    for (int i = 0; i < XN; i++) free(gref[i]), free(ggot[i]);
  }
  /* errors on the device name what the cpu names */
  hub_tensor *a = hub_to_device(xin[2], HUB_CUDA), *z = hub_full(1, (int64_t[]){13}, 0, HUB_I64);
  hub_tensor *zd = z ? hub_to_device(z, HUB_CUDA) : NULL, *r = zd ? hub_remainder(a, zd) : NULL;
  CHECK(!r && strstr(hub_last_error(), "division by zero"), "i64 remainder by 0 on cuda: %s", hub_last_error());
  int64_t badv[2] = {1, 13};
  hub_tensor *bad = hub_tensor_from_data(HUB_I64, 2, (int64_t[]){1, 2}, badv, HUB_I64), *bd = hub_to_device(bad, HUB_CUDA);
  hub_tensor *sl = a ? hub_narrow(a, 0, 0, 1) : NULL, *g = sl && bd ? hub_gather(sl, 1, bd) : NULL;
  CHECK(!g && strstr(hub_last_error(), "13 out of range [0, 13)"), "gather with a bad index on cuda: %s", hub_last_error());
  release_all(8, (hub_tensor *[]){a, z, zd, r, bad, bd, sl, g});
  hub_tensor_release(w);
  release_all(8, xin);
}

/* ---- Paddle's GRU and the CRF (paddle.cu) ---- */
static void paddle_ops(void) {
  hub_manual_seed(21);
  const int64_t B = 3, T = 7, H = 20, C = 6, L = 9;
  hub_tensor *x = hub_randn(3, (int64_t[]){B, T, 3 * H}, HUB_F32), *w0 = hub_randn(2, (int64_t[]){H, 3 * H}, HUB_F32);
  hub_tensor *w = hub_mul_scalar(w0, 0.3), *bias = hub_randn(1, (int64_t[]){3 * H}, HUB_F32);
  hub_tensor *lens = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){B}, (int64_t[]){7, 0, 4}, HUB_I64);
  for (int mode = 0; mode < 4; mode++) { /* reverse x origin_mode */
    double *r[2] = {NULL};
    int64_t n = 0;
    for (int d = 0; d < 2; d++) {
      int dev = d ? HUB_CUDA : HUB_CPU;
      hub_tensor *xd = hub_to_device(x, dev), *wd = hub_to_device(w, dev), *bd = hub_to_device(bias, dev);
      hub_tensor *ld = hub_to_device(lens, dev);
      hub_tensor *o = xd && wd && bd && ld ? hub_paddle_gru(xd, wd, mode & 1 ? NULL : bd, ld, mode & 1, mode >> 1) : NULL;
      CHECK(o != NULL, "paddle_gru (reverse %d, origin_mode %d) on %s: %s", mode & 1, mode >> 1, hub_device_name(dev),
            hub_last_error());
      r[d] = o ? read_all(o, &n) : NULL;
      release_all(5, (hub_tensor *[]){xd, wd, bd, ld, o});
    }
    double e = r[0] && r[1] ? max_rel(r[1], r[0], n) : INFINITY;
    CHECK(e < 2e-5, "paddle_gru (reverse %d, origin_mode %d): cuda differs from the cpu by %.3g", mode & 1, mode >> 1, e);
    CHECK(r[1] && r[1][(1 * T + 3) * H] == 0 && r[1][(2 * T + 5) * H + 1] == 0, "paddle_gru: padded positions are 0");
    free(r[0]), free(r[1]);
  }
  release_all(5, (hub_tensor *[]){x, w0, w, bias, lens});

  /* CRF: emissions with ties and a forbidden transition */
  hub_tensor *em0 = hub_randn(3, (int64_t[]){B, L, C}, HUB_F32), *em = hub_round(em0);
  hub_tensor *tr = hub_randn(2, (int64_t[]){C, C}, HUB_F32), *st = hub_randn(1, (int64_t[]){C}, HUB_F32);
  hub_tensor *en = hub_randn(1, (int64_t[]){C}, HUB_F32);
  hub_tensor_set(tr, 2 * C + 3, -1e4);
  int64_t tg[3 * 9];
  for (int i = 0; i < 3 * 9; i++) tg[i] = (i * 5 + 1) % C;
  hub_tensor *tags = hub_tensor_from_data(HUB_I64, 2, (int64_t[]){B, L}, tg, HUB_I64);
  hub_tensor *cl = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){B}, (int64_t[]){9, 3, 0}, HUB_I64);
  hub_tensor *w2 = hub_randn(1, (int64_t[]){B}, HUB_F32);
  double *res[2][6] = {{NULL}};
  int64_t cnt[6] = {0};
  for (int d = 0; d < 2; d++) {
    int dev = d ? HUB_CUDA : HUB_CPU;
    hub_tensor *e = leaf_on(em, dev), *t = leaf_on(tr, dev), *s = leaf_on(st, dev), *n = leaf_on(en, dev);
    hub_tensor *y = hub_to_device(tags, dev), *l = hub_to_device(cl, dev), *wd = hub_to_device(w2, dev);
    for (int k = 0; k < 4; k++) hub_tensor_set_requires_grad((hub_tensor *[]){e, t, s, n}[k], 1);
    hub_tensor *nll = hub_crf_nll(e, y, l, NULL, t, s, n), *p = nll ? hub_mul(nll, wd) : NULL;
    hub_tensor *sum = p ? hub_sum(p, 0, NULL, 0) : NULL;
    hub_tensor *path = hub_crf_viterbi(e, l, NULL, t, s, n);
    CHECK(sum && path && hub_backward(sum, NULL) == 0, "crf on %s: %s", hub_device_name(dev), hub_last_error());
    hub_tensor *gs[4] = {hub_tensor_grad(e), hub_tensor_grad(t), hub_tensor_grad(s), hub_tensor_grad(n)};
    res[d][0] = nll ? read_all(nll, &cnt[0]) : NULL;
    res[d][1] = path ? read_all(path, &cnt[1]) : NULL;
    for (int k = 0; k < 4; k++) res[d][2 + k] = gs[k] ? read_all(gs[k], &cnt[2 + k]) : NULL;
    release_all(4, gs);
    release_all(11, (hub_tensor *[]){e, t, s, n, y, l, wd, nll, p, sum, path});
  }
  static const char *what[6] = {"crf_nll", "crf viterbi path", "emission gradient", "transition gradient",
                                "start gradient", "end gradient"};
  for (int k = 0; k < 6; k++) {
    double e = res[0][k] && res[1][k] ? diff_nan(res[1][k], res[0][k], cnt[k]) : INFINITY;
    CHECK(e <= (k == 1 ? 0 : 1e-5), "%s: cuda differs from the cpu by %.3g", what[k], e);
    free(res[0][k]), free(res[1][k]);
  }
  release_all(9, (hub_tensor *[]){em0, em, tr, st, en, tags, cl, w2, NULL});
}

static void dtypes_and_memory(void) {
  /* i64 beyond 2^53 survives the trip bit for bit; f16 / bf16 conversions on the device */
  int64_t big[3] = {(int64_t)1 << 62, -((int64_t)1 << 60) - 1, 12345};
  hub_tensor *b = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){3}, big, HUB_I64);
  hub_tensor *bd = hub_to_device(b, HUB_CUDA), *bb = bd ? hub_to_device(bd, HUB_CPU) : NULL;
  int64_t back[3] = {0};
  CHECK(bb && hub_tensor_read(bb, back, HUB_I64) == 0 && !memcmp(back, big, sizeof big), "i64 round trip");
  hub_tensor *x = hub_randn(2, (int64_t[]){5, 7}, HUB_F32);
  for (int dt = HUB_F16; dt <= HUB_BF16; dt++) {
    hub_tensor *ref = hub_to_dtype(x, dt), *xd = hub_to_device(x, HUB_CUDA);
    hub_tensor *hd = xd ? hub_to_dtype(xd, dt) : NULL, *h = hd ? hub_to_device(hd, HUB_CPU) : NULL;
    int64_t n;
    double *a = ref ? read_all(ref, &n) : NULL, *c = h ? read_all(h, &n) : NULL;
    CHECK(a && c && max_rel(c, a, 35) == 0, "%s conversion on cuda equals the cpu's", hub_dtype_name(dt));
    free(a), free(c);
    release_all(4, (hub_tensor *[]){ref, xd, hd, h});
  }
  hub_mem_stats s0, s1;
  hub_mem_get_stats(HUB_CUDA, &s0);
  hub_tensor *big_t = hub_tensor_new(HUB_F32, 1, (int64_t[]){1 << 20}, HUB_CUDA);
  hub_mem_get_stats(HUB_CUDA, &s1);
  CHECK(big_t && s1.live_bytes >= s0.live_bytes + (4 << 20) && s1.alloc_count > s0.alloc_count,
        "allocator statistics count the tensor (%lld -> %lld live)", (long long)s0.live_bytes,
        (long long)s1.live_bytes);
  hub_tensor_release(big_t);
  hub_mem_get_stats(HUB_CUDA, &s1);
  CHECK(s1.live_bytes == s0.live_bytes && s1.cached_bytes >= 4 << 20, "the freed block is cached");
  hub_mem_empty_cache(HUB_CUDA);
  hub_mem_get_stats(HUB_CUDA, &s1);
  CHECK(s1.cached_bytes == 0, "empty_cache gives it back");
  release_all(4, (hub_tensor *[]){b, bd, bb, x});
}

static void adamw(void) {
  hub_manual_seed(3);
  hub_tensor *p0 = hub_randn(1, (int64_t[]){1001}, HUB_F32), *g0 = hub_randn(1, (int64_t[]){1001}, HUB_F32);
  double *res[2] = {NULL};
  for (int d = 0; d < 2; d++) {
    int dev = d ? HUB_CUDA : HUB_CPU;
    hub_tensor *p = hub_to_device(p0, dev), *g = hub_to_device(g0, dev);
    hub_tensor *pc = p ? hub_clone(p) : NULL; /* its own storage: updated in place */
    hub_tensor *m = hub_tensor_new(HUB_F32, 1, (int64_t[]){1001}, dev), *v = hub_tensor_new(HUB_F32, 1, (int64_t[]){1001}, dev);
    int rc = 0;
    for (int step = 1; step <= 3 && rc == 0; step++) rc = hub_adam_step(pc, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.01, 1, step);
    CHECK(rc == 0, "adamw on %s: %s", hub_device_name(dev), hub_last_error());
    int64_t n;
    res[d] = rc == 0 ? read_all(pc, &n) : NULL;
    release_all(5, (hub_tensor *[]){p, g, pc, m, v});
  }
  CHECK(res[0] && res[1] && max_rel(res[1], res[0], 1001) < 1e-6, "adamw: cuda equals the cpu");
  free(res[0]), free(res[1]);
  release_all(2, (hub_tensor *[]){p0, g0});

  /* the multi-tensor forms (one launch for a whole group): sizes across chunk boundaries, an empty
   * tensor, different step counts; the sums of squares and the scaling of clip_grad_norm */
  enum { NT = 4 };
  const int64_t sizes[NT] = {5000, 0, 1, 9000};
  const int64_t steps[NT] = {1, 3, 2, 7};
  hub_tensor *P0[NT], *G0[NT];
  for (int k = 0; k < NT; k++) {
    P0[k] = hub_randn(1, &sizes[k], HUB_F32);
    G0[k] = hub_randn(1, &sizes[k], HUB_F32);
  }
  double *out[2][NT] = {{NULL}}, ss[2][NT] = {{0}};
  for (int d = 0; d < 2; d++) {
    int dev = d ? HUB_CUDA : HUB_CPU;
    hub_tensor *P[NT], *G[NT], *M[NT], *V[NT];
    for (int k = 0; k < NT; k++) {
      hub_tensor *pd = hub_to_device(P0[k], dev);
      P[k] = pd ? hub_clone(pd) : NULL;
      hub_tensor_release(pd);
      hub_tensor *gd = hub_to_device(G0[k], dev);
      G[k] = gd ? hub_clone(gd) : NULL; /* scaled in place below: never G0 itself */
      hub_tensor_release(gd);
      M[k] = hub_tensor_new(HUB_F32, 1, &sizes[k], dev);
      V[k] = hub_tensor_new(HUB_F32, 1, &sizes[k], dev);
    }
    int rc = hub_sum_squares_multi(NT, G, ss[d]);
    if (rc == 0) rc = hub_scale_multi_(NT, G, 0.5);
    if (rc == 0) rc = hub_adam_step_multi(NT, P, G, M, V, steps, 1e-2, 0.9, 0.999, 1e-8, 0.01, 1);
    CHECK(rc == 0, "adam/sum_squares/scale (multi) on %s: %s", hub_device_name(dev), hub_last_error());
    for (int k = 0; k < NT; k++) {
      int64_t n;
      out[d][k] = rc == 0 ? read_all(P[k], &n) : NULL;
    }
    for (int k = 0; k < NT; k++) release_all(4, (hub_tensor *[]){P[k], G[k], M[k], V[k]});
  }
  for (int k = 0; k < NT; k++) {
    double one = hub_sum_squares(G0[k]);
    CHECK(fabs(ss[0][k] - one) <= 1e-12 * (1 + one), "sum_squares_multi[%d] = sum_squares on the cpu", k);
    CHECK(fabs(ss[1][k] - ss[0][k]) <= 1e-9 * (1 + ss[0][k]), "sum_squares_multi[%d]: cuda %.17g, cpu %.17g", k,
          ss[1][k], ss[0][k]);
    CHECK(sizes[k] == 0 || (out[0][k] && out[1][k] && max_rel(out[1][k], out[0][k], sizes[k]) < 1e-6),
          "adamw (multi) tensor %d: cuda equals the cpu", k);
    free(out[0][k]), free(out[1][k]);
  }
  /* the multi update equals one update per tensor (each with its own step) */
  hub_tensor *a = hub_clone(P0[0]), *b = hub_clone(P0[0]);
  hub_tensor *m1 = hub_tensor_new(HUB_F32, 1, &sizes[0], HUB_CPU), *v1 = hub_tensor_new(HUB_F32, 1, &sizes[0], HUB_CPU);
  hub_tensor *m2 = hub_tensor_new(HUB_F32, 1, &sizes[0], HUB_CPU), *v2 = hub_tensor_new(HUB_F32, 1, &sizes[0], HUB_CPU);
  int64_t st4 = 4;
  int rc = hub_adam_step(a, G0[0], m1, v1, 1e-3, 0.9, 0.99, 1e-8, 0, 0, 4);
  if (rc == 0) rc = hub_adam_step_multi(1, &b, &G0[0], &m2, &v2, &st4, 1e-3, 0.9, 0.99, 1e-8, 0, 0);
  int64_t n1, n2;
  double *ra = rc == 0 ? read_all(a, &n1) : NULL, *rb = rc == 0 ? read_all(b, &n2) : NULL;
  CHECK(ra && rb && max_rel(ra, rb, n1) == 0, "adam_step_multi of one tensor = adam_step");
  free(ra), free(rb);
  release_all(6, (hub_tensor *[]){a, b, m1, v1, m2, v2});
  /* a bad tensor in the list: an error before anything is updated */
  hub_tensor *wrong = hub_tensor_new(HUB_F32, 1, (int64_t[]){3}, HUB_CPU), *pp = hub_clone(P0[0]);
  hub_tensor *mm = hub_tensor_new(HUB_F32, 1, &sizes[0], HUB_CPU);
  hub_tensor *PL[2] = {pp, pp}, *GL[2] = {G0[0], wrong}, *ML[2] = {mm, mm}, *VL[2] = {mm, mm};
  int64_t sl[2] = {1, 1};
  double before = hub_sum_squares(pp);
  CHECK(hub_adam_step_multi(2, PL, GL, ML, VL, sl, 1e-2, 0.9, 0.999, 1e-8, 0, 1) != 0 &&
            strstr(hub_last_error(), "gradient has shape [3]") && hub_sum_squares(pp) == before,
        "adam_step_multi: a bad gradient is named and nothing moves: %s", hub_last_error());
  release_all(3, (hub_tensor *[]){wrong, pp, mm});
  release_all(NT, P0);
  release_all(NT, G0);
}

int main(void) {
  if (!hub_device_available(HUB_CUDA)) {
    hub_tensor *x = hub_full(1, (int64_t[]){2}, 1.0, HUB_F32);
    hub_tensor *d = hub_to_device(x, HUB_CUDA);
    CHECK(!d && strstr(hub_last_error(), "no CUDA device"), "to(cuda) without a GPU: %s", hub_last_error());
    CHECK(hub_cuda_device_count() == 0 && strstr(hub_cuda_unavailable_reason(), "no CUDA device"), "reason: %s",
          hub_cuda_unavailable_reason());
    release_all(2, (hub_tensor *[]){x, d});
    printf("skipped: no GPU (%s); the cases run on a stand-in instead (the CPU's kernels behind the CUDA "
           "backend's coverage, tests/c/cuda_standin.h)\n", hub_cuda_unavailable_reason());
    cuda_standin_register();
    parity();
    attention_training();
    indexed();
    other_dtypes_and_indexing();
    paddle_ops();
    adamw();
    return check_summary();
  }
  printf("cuda: %d device(s), %s\n", hub_cuda_device_count(), hub_cuda_device_name(0));
  parity();
  attention_training();
  indexed();
  other_dtypes_and_indexing();
  paddle_ops();
  dtypes_and_memory();
  adamw();
  return check_summary();
}
