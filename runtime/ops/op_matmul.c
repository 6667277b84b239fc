/* op_matmul.c - matmul (torch.matmul semantics) and linear, with their gradients.
 *
 * matmul promotes 1-d operands (a vector on the left is a row, on the right a column) and
 * removes the added dimension afterwards through differentiable views, so the core product
 * always sees >= 2-d operands with broadcast batch dimensions.  When the right operand is a
 * plain matrix the batch is folded into the rows (one large GEMM instead of many small ones),
 * forward and backward.  linear(x, w, b) = x w^T + b uses w in place (a transposed view).
 *
 * Autocast (hub_set_autocast, core/hub_autograd.h): f32 operands are rounded to bf16/f16 (keeping
 * their row- or column-major layout, so a linear layer's w^T is still read in place) and the
 * backend multiplies them with f32 accumulation into the f32 output.  The mode is kept in the
 * recorded node, and its backward products use it too.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"

static hub_tensor *mm_raw(const char *op, hub_tensor *a, hub_tensor *b, hub_tensor *bias, int act);

/* Gradient of a product, shaped like the input of edge `i`. */
static hub_tensor *shaped(hub_tensor *g, const hub_edge *e) {
  if (g && (g->ndim != e->ndim || memcmp(g->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim))) {
    hub_tensor *s = hub_sum_to(g, e->ndim, e->shape);
    hub_tensor_release(g);
    return s;
  }
  return g;
}

/* The typed state of matmul and linear: the two operands (linear: x contiguous, w). */
typedef struct product_state {
  hub_tensor *a, *b;
  int autocast; /* the autocast mode of the forward product */
} product_state;

static int matmul_bw_(hub_node *n, hub_tensor **go, hub_tensor **gi);
static int linear_bw_(hub_node *n, hub_tensor **go, hub_tensor **gi);

/* The backward products in the forward's autocast mode. */
static int matmul_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  int prev = hub_set_autocast(HUB_NODE_STATE(n, product_state)->autocast);
  int rc = matmul_bw_(n, go, gi);
  hub_set_autocast(prev);
  return rc;
}
static int linear_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  int prev = hub_set_autocast(HUB_NODE_STATE(n, product_state)->autocast);
  int rc = linear_bw_(n, go, gi);
  hub_set_autocast(prev);
  return rc;
}

static int matmul_bw_(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const product_state *s = HUB_NODE_STATE(n, product_state);
  hub_tensor *a = s->a, *b = s->b, *g = go[0];
  if (hub_node_needs(n, 0)) {
    hub_tensor *bt = hub_transpose(b, -1, -2);
    gi[0] = bt ? shaped(hub_matmul(g, bt), &n->edges[0]) : NULL;
    hub_tensor_release(bt);
    if (!gi[0]) return -1;
  }
  if (hub_node_needs(n, 1)) {
    if (b->ndim == 2 && a->ndim > 2) { /* fold the batch: a^T g over all rows at once */
      int64_t K = a->shape[a->ndim - 1], N = g->shape[g->ndim - 1];
      hub_tensor *a2 = hub_reshape(a, 2, (int64_t[]){-1, K}), *g2 = hub_reshape(g, 2, (int64_t[]){-1, N});
      hub_tensor *a2t = a2 ? hub_transpose(a2, 0, 1) : NULL;
      gi[1] = a2t && g2 ? hub_matmul(a2t, g2) : NULL;
      hub_release_all(3, (hub_tensor *[]){a2, g2, a2t});
    } else {
      hub_tensor *at = hub_transpose(a, -1, -2);
      gi[1] = at ? shaped(hub_matmul(at, g), &n->edges[1]) : NULL;
      hub_tensor_release(at);
    }
    if (!gi[1]) return -1;
  }
  return 0;
}

HUB_OP_DEF(matmul, .name = "matmul", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_MATMUL, .backward = matmul_bw,
           .state_size = sizeof(product_state));

/* Records matmul or linear on out (consumed on failure), keeping the operands a and b. */
static hub_tensor *record_product(const hub_op_def *def, hub_tensor *const *ins, hub_tensor *a, hub_tensor *b,
                                  hub_tensor *out) {
  hub_node *n;
  int rc = hub_record_op(def, ins, 1, &out, &n);
  if (rc == 0 && n) {
    product_state *s = HUB_NODE_STATE(n, product_state);
    s->autocast = hub_autocast();
    rc = hub_node_keep(n, &s->a, a) || hub_node_keep(n, &s->b, b);
  }
  hub_fail_release(rc, &out);
  return out;
}

/* a [.., M, K] x b [.., K, N] (both >= 2-d), recorded as "matmul". */
static hub_tensor *mm_core(hub_tensor *a, hub_tensor *b) {
  char s1[128], s2[128];
  int64_t K = a->shape[a->ndim - 1];
  if (b->shape[b->ndim - 2] != K)
    return hub_errp("matmul: shapes %s and %s do not match (inner sizes %lld and %lld)", hub_shape_str(a, s1, sizeof s1),
                    hub_shape_str(b, s2, sizeof s2), (long long)K, (long long)b->shape[b->ndim - 2]);
  hub_tensor *out;
  if (b->ndim == 2 && a->ndim > 2 && hub_tensor_is_contiguous(a)) {
    /* Fold batch into rows: [B.., M, K] -> [B..*M, K]. */
    int64_t sh[HUB_MAX_DIMS];
    memcpy(sh, a->shape, sizeof sh);
    int64_t rows = 1; /* not numel / K: K may be 0 */
    for (int d = 0; d < a->ndim - 1; d++) rows *= a->shape[d];
    hub_tensor *a2 = hub_tensor_alias(a, 2, (int64_t[]){rows, K}, NULL, a->offset);
    hub_tensor *o2 = a2 ? mm_raw("matmul", a2, b, NULL, -1) : NULL;
    hub_tensor_release(a2);
    if (!o2) return NULL;
    sh[a->ndim - 1] = b->shape[1];
    out = hub_tensor_alias(o2, a->ndim, sh, NULL, o2->offset);
    hub_tensor_release(o2);
  } else {
    out = mm_raw("matmul", a, b, NULL, -1);
  }
  if (!out) return NULL;
  return record_product(&hub_op_matmul, (hub_tensor *[]){a, b}, a, b, out);
}

/* t (f32) rounded to dtype, not recorded, keeping a column-major matrix column-major (a linear
 * layer's w^T view stays the transpose of a row-major weight). */
static hub_tensor *cast_lowp(const hub_tensor *t, int dtype) {
  int n = t->ndim;
  int64_t sh[HUB_MAX_DIMS], st[HUB_MAX_DIMS];
  memcpy(sh, t->shape, sizeof(int64_t) * (size_t)n);
  memcpy(st, t->stride, sizeof(int64_t) * (size_t)n);
  int col = n >= 2 && sh[n - 2] > 1 && sh[n - 1] > 1 && st[n - 2] == 1;
  if (col) { /* copy the transpose (dense in memory order), then view it transposed back */
    int64_t t1 = sh[n - 2], t2 = st[n - 2];
    sh[n - 2] = sh[n - 1], st[n - 2] = st[n - 1];
    sh[n - 1] = t1, st[n - 1] = t2;
  }
  hub_tensor *src = hub_tensor_alias(t, n, sh, st, t->offset);
  hub_tensor *c = src ? hub_tensor_empty(dtype, n, sh, t->device) : NULL;
  const hub_backend *be = c ? hub_dispatch("autocast", HUB_K_COPY, t->device, dtype) : NULL;
  int rc = be ? HUB_K(be, COPY)(c, src) : -1;
  hub_tensor_release(src);
  if (rc) {
    hub_tensor_release(c);
    return NULL;
  }
  if (!col) return c;
  int64_t cs[HUB_MAX_DIMS];
  memcpy(cs, c->stride, sizeof(int64_t) * (size_t)n);
  int64_t t1 = cs[n - 2];
  cs[n - 2] = cs[n - 1], cs[n - 1] = t1;
  hub_tensor *v = hub_tensor_alias(c, n, t->shape, cs, c->offset);
  hub_tensor_release(c);
  return v;
}

/* Once per process and dtype: the backend has no low-precision product, f32 it is. */
static void lowp_unavailable(int dtype, int device) {
  static int said[HUB_DTYPE_COUNT];
  if (__atomic_exchange_n(&said[dtype], 1, __ATOMIC_RELAXED)) return;
  fprintf(stderr, "hubrun: autocast: no %s matmul on %s here (%s); those products are computed in f32\n",
          hub_dtype_name(dtype), hub_device_name(device), hub_last_error());
}

static hub_tensor *mm_raw_(const char *op, hub_tensor *a, hub_tensor *b, hub_tensor *bias, int act);
static hub_tensor *as_f32(hub_tensor *t);

static int off[HUB_DTYPE_COUNT][HUB_DEVICE_COUNT]; /* the backend said no to a dtype's product once */

/* Whether products in the autocast dtype ac may be tried on device (not known to be missing). */
static int lowp_possible(int ac, int device) {
  return ac != HUB_F32 && ac != HUB_F64 && !__atomic_load_n(&off[ac][device], __ATOMIC_RELAXED);
}

/* Computes a x b (+ bias) without recording; a, b >= 2-d with matching inner sizes.  Under
 * autocast, f32 operands are rounded first (above). */
static hub_tensor *mm_raw(const char *op, hub_tensor *a, hub_tensor *b, hub_tensor *bias, int act) {
  int ac = hub_autocast();
  if (ac == HUB_F32 || (a->dtype != HUB_F32 && a->dtype != ac) || (b->dtype != HUB_F32 && b->dtype != ac) ||
      (a->dtype == HUB_F32 && b->dtype == HUB_F32 && (hub_tensor_numel(a) == 0 || hub_tensor_numel(b) == 0)) ||
      __atomic_load_n(&off[ac][a->device], __ATOMIC_RELAXED)) {
    if (ac == HUB_F32 || (a->dtype == b->dtype && (a->dtype == HUB_F32 || a->dtype == HUB_F64)))
      return mm_raw_(op, a, b, bias, act);
    hub_tensor *a32 = as_f32(a), *b32 = a32 ? as_f32(b) : NULL; /* (after a fallback) */
    hub_tensor *o = b32 ? mm_raw_(op, a32, b32, bias, act) : NULL;
    hub_release_all(2, (hub_tensor *[]){a32, b32});
    return o;
  }
  /* the f32 operand(s) rounded; one already of the autocast dtype (bf16 weights) as it is */
  hub_tensor *al = a->dtype == ac ? hub_tensor_retain(a) : cast_lowp(a, ac);
  hub_tensor *bl = al ? (b->dtype == ac ? hub_tensor_retain(b) : cast_lowp(b, ac)) : NULL;
  hub_tensor *out = bl ? mm_raw_(op, al, bl, bias, act) : NULL;
  hub_release_all(2, (hub_tensor *[]){al, bl});
  if (out || !bl || (!strstr(hub_last_error(), "implementation") && !strstr(hub_last_error(), "not supported")))
    return out;
  /* the kernel has no product of these operands: f32 from now on */
  __atomic_store_n(&off[ac][a->device], 1, __ATOMIC_RELAXED);
  lowp_unavailable(ac, a->device);
  return mm_raw(op, a, b, bias, act);
}

static hub_tensor *mm_raw_(const char *op, hub_tensor *a, hub_tensor *b, hub_tensor *bias, int act) {
  int64_t batch[HUB_MAX_DIMS];
  int nb = 0;
  hub_tensor ah = *a, bh = *b; /* batch-only headers for broadcasting */
  ah.ndim -= 2;
  bh.ndim -= 2;
  if ((nb = hub_broadcast_shape(op, &ah, &bh, batch)) < 0) {
    char s1[128], s2[128];
    return hub_errp("%s: batch dimensions of %s and %s cannot be broadcast", op, hub_shape_str(a, s1, sizeof s1),
                    hub_shape_str(b, s2, sizeof s2));
  }
  int64_t osh[HUB_MAX_DIMS], ash[HUB_MAX_DIMS], bsh[HUB_MAX_DIMS];
  if (nb + 2 > HUB_MAX_DIMS) return hub_errp("%s: too many dimensions", op);
  memcpy(osh, batch, sizeof(int64_t) * (size_t)nb);
  memcpy(ash, batch, sizeof(int64_t) * (size_t)nb);
  memcpy(bsh, batch, sizeof(int64_t) * (size_t)nb);
  osh[nb] = a->shape[a->ndim - 2];
  osh[nb + 1] = b->shape[b->ndim - 1];
  ash[nb] = a->shape[a->ndim - 2], ash[nb + 1] = a->shape[a->ndim - 1];
  bsh[nb] = b->shape[b->ndim - 2], bsh[nb + 1] = b->shape[b->ndim - 1];
  hub_tensor *ae = hub_expand_raw(a, nb + 2, ash), *be = hub_expand_raw(b, nb + 2, bsh);
  hub_tensor *out = ae && be ? hub_tensor_empty(a->dtype == HUB_F64 ? HUB_F64 : HUB_F32, nb + 2, osh, a->device) : NULL;
  const hub_backend *be_ = out ? hub_dispatch(op, HUB_K_MATMUL, a->device, out->dtype) : NULL;
  if (out && (!be_ || HUB_K(be_, MATMUL)(ae, be, bias, act, out) != 0)) {
    hub_tensor_release(out);
    out = NULL;
  }
  hub_release_all(2, (hub_tensor *[]){ae, be});
  return out;
}

/* Converts f16/bf16 operands to f32 (recorded casts keep gradients flowing). */
static hub_tensor *as_f32(hub_tensor *t) { return t->dtype == HUB_F32 ? hub_tensor_retain(t) : hub_to_dtype(t, HUB_F32); }

/* An operand as the product takes it: f32 (as_f32), except under autocast when nothing is recorded
 * and the operand already is of the autocast dtype (weights stored in bf16 for inference): then
 * as it is, with no cast at all.  `rec`: a gradient will be recorded. */
static hub_tensor *operand(hub_tensor *t, int rec) {
  int ac = hub_autocast();
  if (ac != HUB_F32 && !rec && t->dtype == ac) return hub_tensor_retain(t);
  return as_f32(t);
}



hub_tensor *hub_matmul(hub_tensor *a0, hub_tensor *b0) {
  if (hub_check_float("matmul", "first operand", a0) || hub_check_float("matmul", "second operand", b0) ||
      hub_check_same_device("matmul", a0, b0))
    return NULL;
  if (a0->ndim == 0 || b0->ndim == 0) return hub_errp("matmul: both operands need at least one dimension (got a 0-d tensor); use mul for scalars");
  hub_tensor *a, *b, *out = NULL;
  if (a0->dtype == HUB_F64 || b0->dtype == HUB_F64) { /* f64: computed in double (f64.c) */
    a = hub_to_dtype(a0, HUB_F64), b = hub_to_dtype(b0, HUB_F64);
  } else {
    int rec = hub_will_record(2, (hub_tensor *[]){a0, b0});
    a = operand(a0, rec), b = operand(b0, rec);
  }
  if (!a || !b) goto done;
  if (a->ndim >= 2 && b->ndim >= 2) {
    out = mm_core(a, b);
  } else {
    hub_tensor *a2 = a->ndim == 1 ? hub_unsqueeze(a, 0) : hub_tensor_retain(a);
    hub_tensor *b2 = b->ndim == 1 ? hub_unsqueeze(b, -1) : hub_tensor_retain(b);
    hub_tensor *o = a2 && b2 ? mm_core(a2, b2) : NULL;
    if (!o && a2 && b2 && strstr(hub_last_error(), "do not match")) {
      char s1[128], s2[128];
      hub_err("matmul: shapes %s and %s do not match", hub_shape_str(a0, s1, sizeof s1), hub_shape_str(b0, s2, sizeof s2));
    }
    hub_tensor *o2 = o && b->ndim == 1 ? hub_squeeze(o, -1) : hub_tensor_retain(o);
    out = o2 && a->ndim == 1 ? hub_squeeze(o2, -2 + (b->ndim == 1)) : hub_tensor_retain(o2);
    hub_release_all(4, (hub_tensor *[]){a2, b2, o, o2});
  }
done:
  hub_release_all(2, (hub_tensor *[]){a, b});
  return out;
}

static int linear_bw_(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const product_state *s = HUB_NODE_STATE(n, product_state);
  hub_tensor *x = s->a, *w = s->b, *g = go[0];
  int64_t in = w->shape[1], outf = w->shape[0], rows = 1; /* rows explicit: -1 is ambiguous at size 0 */
  for (int i = 0; i < x->ndim - 1; i++) rows *= x->shape[i];
  hub_tensor *g2 = hub_reshape(g, 2, (int64_t[]){rows, outf});
  if (!g2) return -1;
  /* Under autocast the forward kept x and w already rounded (linear_core): g is rounded once here
   * for both products instead of once in each. */
  int ac = s->autocast;
  hub_tensor *gl = ac != HUB_F32 && x->dtype == ac && w->dtype == ac && g2->dtype == HUB_F32 ? cast_lowp(g2, ac)
                                                                                             : hub_tensor_retain(g2);
  if (!gl) {
    hub_tensor_release(g2);
    return -1;
  }
  int rc = 0;
  if (hub_node_needs(n, 0)) {
    hub_tensor *gx = hub_matmul(gl, w);
    gi[0] = gx ? hub_reshape(gx, x->ndim, x->shape) : NULL;
    hub_tensor_release(gx);
    if (!gi[0]) rc = -1;
  }
  if (rc == 0 && hub_node_needs(n, 1)) {
    hub_tensor *x2 = hub_reshape(x, 2, (int64_t[]){rows, in});
    hub_tensor *gt = hub_transpose(gl, 0, 1);
    gi[1] = x2 && gt ? hub_matmul(gt, x2) : NULL;
    hub_release_all(2, (hub_tensor *[]){x2, gt});
    if (!gi[1]) rc = -1;
  }
  if (rc == 0 && hub_node_needs(n, 2)) {
    gi[2] = hub_sum(g2, 1, (int[]){0}, 0);
    if (!gi[2]) rc = -1;
  }
  hub_tensor_release(gl);
  hub_tensor_release(g2);
  return rc;
}

/* inputs x, w and the bias (NULL: none) */
HUB_OP_DEF(linear, .name = "linear", .arity = 3, .dtypes = HUB_DT_ANY, .kernel = HUB_K_MATMUL, .backward = linear_bw,
           .state_size = sizeof(product_state));

/* x w^T + b, then act fused into the product (act >= 0: only when nothing is recorded). */
static hub_tensor *linear_core(const char *op, hub_tensor *x0, hub_tensor *w0, hub_tensor *b0, int act) {
  char s1[128], s2[128];
  if (hub_check_float(op, "input", x0) || hub_check_float(op, "weight", w0) ||
      hub_check_same_device(op, x0, w0) || (b0 && (hub_check_float(op, "bias", b0) || hub_check_same_device(op, x0, b0))))
    return NULL;
  if (w0->ndim != 2) return hub_errp("%s: weight must be 2-d [out, in], got %s", op, hub_shape_str(w0, s1, sizeof s1));
  if (x0->ndim < 1 || x0->shape[x0->ndim - 1] != w0->shape[1])
    return hub_errp("%s: input %s does not match weight %s (expected last size %lld)", op, hub_shape_str(x0, s1, sizeof s1),
                    hub_shape_str(w0, s2, sizeof s2), (long long)w0->shape[1]);
  if (b0 && (b0->ndim != 1 || b0->shape[0] != w0->shape[0]))
    return hub_errp("%s: bias %s does not match weight %s (expected [%lld])", op, hub_shape_str(b0, s1, sizeof s1),
                    hub_shape_str(w0, s2, sizeof s2), (long long)w0->shape[0]);
  if (x0->dtype == HUB_F64 || w0->dtype == HUB_F64 || (b0 && b0->dtype == HUB_F64)) {
    /* f64: x w^T (+ b) composed of the f64 ops, each with its gradient */
    hub_tensor *t = hub_transpose(w0, 0, 1), *p = t ? hub_matmul(x0, t) : NULL;
    hub_tensor *r = p && b0 ? hub_add(p, b0) : (p ? hub_tensor_retain(p) : NULL);
    hub_tensor *res = NULL;
    if (r && act >= 0) {
      res = act == HUB_UN_RELU ? hub_relu(r) : act == HUB_UN_TANH ? hub_tanh(r) : hub_gelu(r, act == HUB_UN_GELU_TANH);
    } else if (r) {
      res = hub_tensor_retain(r);
    }
    hub_tensor *tmp[3] = {t, p, r};
    hub_release_all(3, tmp);
    return res;
  }
  int rec = hub_will_record(3, (hub_tensor *[]){x0, w0, b0});
  hub_tensor *x = operand(x0, rec), *w = operand(w0, rec), *b = b0 ? as_f32(b0) : NULL, *out = NULL;
  hub_tensor *x2 = NULL, *wt = NULL, *o2 = NULL, *xc = NULL, *xl = NULL, *wl = NULL;
  if (!x || !w || (b0 && !b)) goto done;
  int64_t in = w->shape[1], outf = w->shape[0];
  xc = hub_tensor_is_contiguous(x) ? hub_tensor_retain(x) : hub_tensor_empty_like(x, HUB_F32);
  if (!xc || (xc != x && hub_copy_(xc, x))) goto done;
  int64_t rows = 1; /* the leading dims (numel / in would lose them when in == 0) */
  for (int i = 0; i < xc->ndim - 1; i++) rows *= xc->shape[i];
  x2 = hub_tensor_alias(xc, 2, (int64_t[]){rows, in}, NULL, xc->offset);
  wt = hub_tensor_alias(w, 2, (int64_t[]){in, outf}, (int64_t[]){w->stride[1], w->stride[0]}, w->offset);
  if (!x2 || !wt) goto done;
  /* Recording under autocast: x and w are rounded here once, and the node keeps the rounded
   * copies (half the bytes), which the backward's two products use as they are; otherwise each
   * product would round its operands again.  A backend found to lack the product the first time
   * gives the f32 product of the unrounded operands, as before. */
  int ac = hub_autocast();
  if (rec && lowp_possible(ac, x->device) && x->dtype == HUB_F32 && w->dtype == HUB_F32 && rows > 0 && in > 0 &&
      outf > 0) {
    xl = cast_lowp(xc, ac);
    wl = xl ? cast_lowp(w, ac) : NULL;
    hub_tensor *xl2 = wl ? hub_tensor_alias(xl, 2, (int64_t[]){rows, in}, NULL, xl->offset) : NULL;
    hub_tensor *wlt = xl2 ? hub_tensor_alias(wl, 2, (int64_t[]){in, outf}, (int64_t[]){wl->stride[1], wl->stride[0]},
                                             wl->offset)
                          : NULL;
    o2 = wlt ? mm_raw(op, xl2, wlt, b, act) : NULL;
    hub_release_all(2, (hub_tensor *[]){xl2, wlt});
    if (!o2 || !lowp_possible(ac, x->device)) { /* failed, or the backend said no just now */
      hub_release_all(3, (hub_tensor *[]){o2, xl, wl});
      o2 = xl = wl = NULL;
      hub_clear_error();
    }
  }
  if (!o2) o2 = mm_raw(op, x2, wt, b, act);
  if (!o2) goto done;
  int64_t sh[HUB_MAX_DIMS];
  memcpy(sh, x->shape, sizeof sh);
  sh[x->ndim - 1] = outf;
  out = hub_tensor_alias(o2, x->ndim, sh, NULL, o2->offset);
  if (out && act < 0)
    out = record_product(&hub_op_linear, (hub_tensor *[]){x, w, b}, xl ? xl : xc, wl ? wl : w, out);
done:
  hub_release_all(8, (hub_tensor *[]){x, w, b, x2, wt, o2, xc, xl});
  hub_tensor_release(wl);
  return out;
}

hub_tensor *hub_linear(hub_tensor *x, hub_tensor *w, hub_tensor *b) { return linear_core("linear", x, w, b, -1); }

/* The activation applied by an op (recorded), for the unfused path. */
static hub_tensor *apply_act(hub_tensor *y, int act) {
  switch (act) {
  case HUB_UN_RELU: return hub_relu(y);
  case HUB_UN_TANH: return hub_tanh(y);
  case HUB_UN_GELU_ERF: return hub_gelu(y, 0);
  default: return hub_gelu(y, 1);
  }
}

hub_tensor *hub_linear_act(hub_tensor *x, hub_tensor *w, hub_tensor *b, const char *act) {
  int a;
  if (!act) return hub_errp("linear_act: the activation is missing (relu, tanh, gelu or gelu_tanh)");
  if (!strcmp(act, "relu")) a = HUB_UN_RELU;
  else if (!strcmp(act, "tanh")) a = HUB_UN_TANH;
  else if (!strcmp(act, "gelu")) a = HUB_UN_GELU_ERF;
  else if (!strcmp(act, "gelu_tanh")) a = HUB_UN_GELU_TANH;
  else return hub_errp("linear_act: unknown activation '%s' (relu, tanh, gelu or gelu_tanh)", act);
  int record = hub_will_record(3, (hub_tensor *[]){x, w, b});
  if (!record) return linear_core("linear_act", x, w, b, a);
  hub_tensor *y = linear_core("linear_act", x, w, b, -1);
  hub_tensor *z = y ? apply_act(y, a) : NULL;
  hub_tensor_release(y);
  return z;
}
