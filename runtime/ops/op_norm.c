/* op_norm.c - softmax, log_softmax, layer_norm, add_layer_norm and dropout: argument checks, dispatch to the
 * backend and autograd.
 *
 * Inputs are made contiguous f32 first (hub_contiguous / hub_to_dtype, which autograd records),
 * so kernels see dense f32 memory.  What the backward needs is saved on the node:
 *   softmax / log_softmax  the output y (as an alias header, so the output does not own itself
 *                          through its own node) and the dim;
 *   layer_norm             the input, the weight, and the per-row mean and rstd of the forward
 *                          (add_layer_norm: the sum x + r in place of the input);
 *   dropout                the u8 mask and p.
 * layer_norm works on the input viewed as [rows, n], n the product of the last normalized_ndim
 * dims.  dropout draws its numbers from the seeded counter-based stream (hub_rng_reserve), so a
 * seed fixes the mask whatever the thread count; when !train or p == 0 it returns its input.
 */
#include <math.h>
#include <stdio.h>

#include "backend.h"

static void contig_strides(int ndim, const int64_t *shape, int64_t *stride) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
}

/* A contiguous 2-d [rows, n] header over a contiguous tensor (no autograd). */
static hub_tensor *view2(const hub_tensor *t, int64_t rows, int64_t n) {
  int64_t s[2] = {rows, n}, st[2] = {n, 1};
  return hub_tensor_alias(t, 2, s, st, t->offset);
}

/* A contiguous header of t with the same shape and no autograd (saving an op's output). */
static hub_tensor *plain_alias(const hub_tensor *t) {
  int64_t st[HUB_MAX_DIMS];
  contig_strides(t->ndim, t->shape, st);
  return hub_tensor_alias(t, t->ndim, t->shape, st, t->offset);
}

/* ---- softmax / log_softmax ---- */

/* The output (a plain contiguous header of it: no reference cycle through its grad_fn), the dim
 * and whether it is log_softmax. */
typedef struct softmax_state {
  hub_tensor *y;
  int dim, log;
} softmax_state;

static int softmax_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!hub_node_needs(n, 0) || !gout[0]) return 0;
  const softmax_state *s = HUB_NODE_STATE(n, softmax_state);
  hub_tensor *y = s->y;
  const hub_backend *be = hub_dispatch(n->name, HUB_K_SOFTMAX_BACKWARD, y->device, -1);
  hub_tensor *gy = be ? hub_contiguous_f32(gout[0]) : NULL;
  hub_tensor *gx = gy ? hub_tensor_empty(HUB_F32, y->ndim, y->shape, y->device) : NULL;
  if (!gx || HUB_K(be, SOFTMAX_BACKWARD)(y, gy, s->dim, s->log, gx)) {
    hub_tensor_release(gy);
    hub_tensor_release(gx);
    return -1;
  }
  hub_tensor_release(gy);
  gin[0] = gx;
  return 0;
}

HUB_OP_DEF(softmax, .name = "softmax", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_SOFTMAX,
           .backward = softmax_backward, .state_size = sizeof(softmax_state));
HUB_OP_DEF(log_softmax, .name = "log_softmax", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_SOFTMAX,
           .backward = softmax_backward, .state_size = sizeof(softmax_state));

static hub_tensor *softmax_impl(const hub_op_def *def, hub_tensor *a, int dim, int log) {
  const char *op = def->name;
  if (hub_check_float(op, "input", a)) return NULL;
  int d = hub_norm_dim(op, dim, a->ndim);
  if (d < 0) return NULL;
  const hub_backend *be = hub_dispatch(op, HUB_K_SOFTMAX, a->device, -1);
  if (!be) return NULL;
  hub_tensor *x = hub_contiguous_f32(a);
  if (!x) return NULL;
  hub_tensor *y = hub_tensor_empty(HUB_F32, x->ndim, x->shape, x->device);
  if (!y || HUB_K(be, SOFTMAX)(x, d, log, y)) {
    hub_tensor_release(x);
    hub_tensor_release(y);
    return NULL;
  }
  hub_node *n;
  int rc = hub_record_op(def, &x, 1, &y, &n);
  if (rc == 0 && n) {
    softmax_state *s = HUB_NODE_STATE(n, softmax_state);
    s->dim = d;
    s->log = log;
    hub_tensor *ys = plain_alias(y);
    rc = !ys || hub_node_keep(n, &s->y, ys);
    hub_tensor_release(ys);
  }
  if (rc) {
    hub_tensor_release(x);
    hub_tensor_release(y);
    return NULL;
  }
  hub_tensor_release(x);
  return y;
}

hub_tensor *hub_softmax(hub_tensor *a, int dim) { return softmax_impl(&hub_op_softmax, a, dim, 0); }

hub_tensor *hub_log_softmax(hub_tensor *a, int dim) {
  return softmax_impl(&hub_op_log_softmax, a, dim, 1);
}

/* ---- layer_norm and add_layer_norm ---- */

/* The typed backward state of both: the normalised input (x, or the sum x + r of add_layer_norm;
 * contiguous f32), the weight viewed as [n] (NULL without one), the statistics of the forward,
 * the [rows, n] geometry, and where the weight sits among the inputs (1 for layer_norm, 2 for
 * add_layer_norm, whose x and r get the same gradient). */
typedef struct layer_norm_state {
  hub_tensor *x, *w, *mean, *rstd;
  int64_t rows, cols;
  int wi;
} layer_norm_state;

static int layer_norm_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!gout[0]) return 0;
  const layer_norm_state *st = HUB_NODE_STATE(n, layer_norm_state);
  hub_tensor *x = st->x, *w = st->w, *mean = st->mean, *rstd = st->rstd;
  int64_t rows = st->rows, cols = st->cols;
  int wi = st->wi, want_x = hub_node_needs(n, 0) || (wi == 2 && hub_node_needs(n, 1));
  const hub_backend *be = hub_dispatch("layer_norm", HUB_K_LAYER_NORM_BACKWARD, x->device, -1);
  if (!be) return -1;
  hub_tensor *gy = hub_contiguous_f32(gout[0]);
  hub_tensor *gx = hub_tensor_empty(HUB_F32, x->ndim, x->shape, x->device);
  hub_tensor *gw = NULL, *gb = NULL;
  if (hub_node_needs(n, wi))
    gw = hub_tensor_empty(HUB_F32, n->edges[wi].ndim, n->edges[wi].shape, x->device);
  if (hub_node_needs(n, wi + 1))
    gb = hub_tensor_empty(HUB_F32, n->edges[wi + 1].ndim, n->edges[wi + 1].shape, x->device);
  hub_tensor *x2 = x ? view2(x, rows, cols) : NULL;
  hub_tensor *gy2 = gy ? view2(gy, rows, cols) : NULL;
  hub_tensor *gx2 = gx ? view2(gx, rows, cols) : NULL;
  int rc = -1;
  if (x2 && gy2 && gx2 && (gw || !hub_node_needs(n, wi)) && (gb || !hub_node_needs(n, wi + 1)))
    rc = HUB_K(be, LAYER_NORM_BACKWARD)(x2, w, mean, rstd, gy2, gx2, gw, gb);
  hub_tensor_release(x2);
  hub_tensor_release(gy2);
  hub_tensor_release(gx2);
  hub_tensor_release(gy);
  if (rc) {
    hub_tensor_release(gx);
    hub_tensor_release(gw);
    hub_tensor_release(gb);
    return -1;
  }
  if (!want_x) {
    hub_tensor_release(gx);
    gx = NULL;
  }
  if (hub_node_needs(n, 0)) gin[0] = gx ? hub_tensor_retain(gx) : NULL;
  if (wi == 2 && hub_node_needs(n, 1)) gin[1] = gx ? hub_tensor_retain(gx) : NULL;
  hub_tensor_release(gx);
  gin[wi] = gw;
  gin[wi + 1] = gb;
  return 0;
}

/* Checks that a parameter matches the normalized shape (or is 1-d with n elements). */
static int check_param(const char *op, const char *arg, const hub_tensor *p, const hub_tensor *x,
                       int nd, int64_t n) {
  if (hub_check_float(op, arg, p)) return -1;
  if (hub_check_same_device(op, x, p)) return -1;
  bool ok = hub_tensor_numel(p) == n && (p->ndim == 1 || p->ndim == nd);
  for (int i = 0; ok && p->ndim == nd && i < nd; i++)
    ok = p->shape[i] == x->shape[x->ndim - nd + i];
  if (!ok) {
    char sp[128], sx[128];
    return hub_err("%s: %s of shape %s does not match the last %d dimension%s of input %s", op,
                   arg, hub_shape_str(p, sp, sizeof sp), nd, nd == 1 ? "" : "s",
                   hub_shape_str(x, sx, sizeof sx));
  }
  return 0;
}

HUB_OP_DEF(layer_norm, .name = "layer_norm", .arity = 3, .dtypes = HUB_DT_ANY, .kernel = HUB_K_LAYER_NORM,
           .backward = layer_norm_backward, .state_size = sizeof(layer_norm_state));
HUB_OP_DEF(add_layer_norm, .name = "add_layer_norm", .arity = 4, .dtypes = HUB_DT_ANY,
           .kernel = HUB_K_LAYER_NORM, .backward = layer_norm_backward,
           .state_size = sizeof(layer_norm_state));

/* layer_norm(x) when r is NULL, layer_norm(x + r) otherwise (r of x's shape: the caller checked). */
static hub_tensor *layer_norm_impl(const char *op, hub_tensor *x, hub_tensor *r,
                                   int normalized_ndim, hub_tensor *weight, hub_tensor *bias,
                                   double eps) {
  if (normalized_ndim < 1 || normalized_ndim > x->ndim)
    return hub_errp("%s: normalized_ndim %d out of range for a %d-d input", op, normalized_ndim,
                    x->ndim);
  if (!(eps >= 0) || isinf(eps)) return hub_errp("%s: eps must be >= 0, got %g", op, eps);
  int64_t cols = 1;
  for (int i = x->ndim - normalized_ndim; i < x->ndim; i++) cols *= x->shape[i];
  if (weight && check_param(op, "weight", weight, x, normalized_ndim, cols)) return NULL;
  if (bias && check_param(op, "bias", bias, x, normalized_ndim, cols)) return NULL;
  const hub_backend *be = hub_dispatch(op, HUB_K_LAYER_NORM, x->device, -1);
  if (!be) return NULL;
  int64_t rows = cols ? hub_tensor_numel(x) / cols : 0;

  /* in: x, [r,] weight, bias - the recorded op's inputs in order */
  int k = r ? 1 : 0, nin = 3 + k;
  hub_tensor *in[4] = {hub_contiguous_f32(x), NULL, NULL, NULL};
  if (r) in[1] = hub_contiguous_f32(r);
  in[1 + k] = weight ? hub_contiguous_f32(weight) : NULL;
  in[2 + k] = bias ? hub_contiguous_f32(bias) : NULL;
  hub_tensor *y = NULL, *sum = NULL, *mean = NULL, *rstd = NULL, *x2 = NULL, *r2 = NULL,
             *y2 = NULL, *s2 = NULL, *w1 = NULL, *b1 = NULL;
  int64_t st1 = 1;
  bool record = false;
  int rc = -1;
  if (!in[0] || (r && !in[1]) || (weight && !in[1 + k]) || (bias && !in[2 + k])) goto done;
  record = hub_will_record(nin, in);
  y = hub_tensor_empty(HUB_F32, x->ndim, x->shape, x->device);
  if (record) {
    mean = hub_tensor_empty(HUB_F32, 1, &rows, x->device);
    rstd = hub_tensor_empty(HUB_F32, 1, &rows, x->device);
    if (r) sum = hub_tensor_empty(HUB_F32, x->ndim, x->shape, x->device);
    if (!mean || !rstd || (r && !sum)) goto done;
  }
  x2 = view2(in[0], rows, cols);
  r2 = r ? view2(in[1], rows, cols) : NULL;
  y2 = y ? view2(y, rows, cols) : NULL;
  s2 = sum ? view2(sum, rows, cols) : NULL;
  w1 = in[1 + k] ? hub_tensor_alias(in[1 + k], 1, &cols, &st1, in[1 + k]->offset) : NULL;
  b1 = in[2 + k] ? hub_tensor_alias(in[2 + k], 1, &cols, &st1, in[2 + k]->offset) : NULL;
  if (!x2 || (r && !r2) || !y2 || (sum && !s2) || (in[1 + k] && !w1) || (in[2 + k] && !b1))
    goto done;
  if (HUB_K(be, LAYER_NORM)(x2, r2, w1, b1, (float)eps, y2, s2, mean, rstd)) goto done;
  if (record) {
    hub_node *n;
    if (hub_record_op(r ? &hub_op_add_layer_norm : &hub_op_layer_norm, in, 1, &y, &n)) goto done;
    if (n) {
      layer_norm_state *st = HUB_NODE_STATE(n, layer_norm_state);
      st->rows = rows;
      st->cols = cols;
      st->wi = 1 + k;
      if (hub_node_keep(n, &st->x, r ? sum : in[0]) || (w1 && hub_node_keep(n, &st->w, w1)) ||
          hub_node_keep(n, &st->mean, mean) || hub_node_keep(n, &st->rstd, rstd))
        goto done;
    }
  }
  rc = 0;
done:
  hub_release_all(4, in);
  hub_release_all(8, (hub_tensor *[]){sum, mean, rstd, x2, r2, y2, s2, w1});
  hub_tensor_release(b1);
  if (rc) {
    hub_tensor_release(y);
    return NULL;
  }
  return y;
}

hub_tensor *hub_layer_norm(hub_tensor *x, int normalized_ndim, hub_tensor *weight,
                           hub_tensor *bias, double eps) {
  if (hub_check_float("layer_norm", "input", x)) return NULL;
  return layer_norm_impl("layer_norm", x, NULL, normalized_ndim, weight, bias, eps);
}

/* layer_norm(x + r) in one kernel.  r of another shape (broadcast) or dtype, or x and r on
 * different devices, take the composed path (hub_add, then hub_layer_norm), whose result and
 * errors are the same. */
hub_tensor *hub_add_layer_norm(hub_tensor *x, hub_tensor *r, int normalized_ndim,
                               hub_tensor *weight, hub_tensor *bias, double eps) {
  if (hub_check_float("add_layer_norm", "input", x)) return NULL;
  if (!r) return hub_errp("add_layer_norm: residual is NULL");
  if (hub_check_float("add_layer_norm", "residual", r)) return NULL;
  if (x->dtype == HUB_F32 && r->dtype == HUB_F32 && x->device == r->device && hub_same_shape(x, r))
    return layer_norm_impl("add_layer_norm", x, r, normalized_ndim, weight, bias, eps);
  hub_tensor *s = hub_add(x, r);
  if (!s) { /* "add: ..." said of the residual */
    char why[256];
    snprintf(why, sizeof why, "%s", hub_last_error());
    return hub_errp("add_layer_norm: the residual: %s", why);
  }
  hub_tensor *y = hub_layer_norm(s, normalized_ndim, weight, bias, eps);
  hub_tensor_release(s);
  return y;
}

/* ---- dropout ---- */

/* The kept positions (u8) and the probability. */
typedef struct dropout_state {
  hub_tensor *mask;
  double p;
} dropout_state;

static int dropout_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!hub_node_needs(n, 0) || !gout[0]) return 0;
  const dropout_state *s = HUB_NODE_STATE(n, dropout_state);
  hub_tensor *mask = s->mask;
  const hub_backend *be = hub_dispatch("dropout", HUB_K_DROPOUT_BACKWARD, mask->device, -1);
  hub_tensor *gy = be ? hub_contiguous_f32(gout[0]) : NULL;
  hub_tensor *gx = gy ? hub_tensor_empty(HUB_F32, gy->ndim, gy->shape, gy->device) : NULL;
  if (!gx || HUB_K(be, DROPOUT_BACKWARD)(gy, mask, (float)s->p, gx)) {
    hub_tensor_release(gy);
    hub_tensor_release(gx);
    return -1;
  }
  hub_tensor_release(gy);
  gin[0] = gx;
  return 0;
}

HUB_OP_DEF(dropout, .name = "dropout", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_DROPOUT,
           .backward = dropout_backward, .state_size = sizeof(dropout_state));

hub_tensor *hub_dropout(hub_tensor *x, double p, int train) {
  if (hub_check_float("dropout", "input", x)) return NULL;
  if (!(p >= 0.0 && p <= 1.0)) return hub_errp("dropout: probability %g is not in [0, 1]", p);
  if (!train || p == 0.0) return hub_tensor_retain(x);
  const hub_backend *be = hub_dispatch("dropout", HUB_K_DROPOUT, x->device, -1);
  if (!be) return NULL;
  hub_tensor *xc = hub_contiguous_f32(x);
  if (!xc) return NULL;
  hub_tensor *y = hub_tensor_empty(HUB_F32, xc->ndim, xc->shape, xc->device);
  hub_tensor *mask = hub_tensor_empty(HUB_U8, xc->ndim, xc->shape, xc->device);
  uint64_t key, counter;
  hub_rng_reserve((uint64_t)hub_tensor_numel(xc), &key, &counter);
  if (!y || !mask || HUB_K(be, DROPOUT)(xc, (float)p, key, counter, y, mask)) {
    hub_tensor_release(xc);
    hub_tensor_release(y);
    hub_tensor_release(mask);
    return NULL;
  }
  hub_node *n;
  int rc = hub_record_op(&hub_op_dropout, &xc, 1, &y, &n);
  if (rc == 0 && n) {
    dropout_state *s = HUB_NODE_STATE(n, dropout_state);
    s->p = p;
    rc = hub_node_keep(n, &s->mask, mask);
  }
  hub_fail_release(rc, &y);
  hub_tensor_release(mask);
  hub_tensor_release(xc);
  return y;
}
