/* op_reduce.c - reductions: sum, mean, max, argmax and sum_to (the inverse of broadcasting).
 *
 * The input is made contiguous f32 (through the differentiable hub_contiguous / hub_to_dtype,
 * so autograd sees those steps), then the reduced dimensions are handled one group at a time:
 * adjacent reduced dimensions are merged, and each group is one call of the backend's reduce
 * slot on a [outer, n, inner] view.  The result always has the keepdim shape first; without
 * keepdim it is a view that drops the reduced dimensions.  Integer and bool inputs are summed in
 * f32 and returned as i64 (exact up to 2^24); max of integers returns the input's dtype.
 *
 * Backward: sum and mean expand the gradient back to the input's shape (mean scales by
 * 1/count); max sends each gradient to the first maximum, whose position the forward kept.
 * sum_to is composed of sum (keepdim) and a reshape, so its backward is an expand.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"

static void contig_strides(int ndim, const int64_t *shape, int64_t *stride) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
}

/* Fills red[] from (ndims, dims); ndims == 0 means every dimension. */
static int parse_dims(const char *op, const hub_tensor *a, int ndims, const int *dims, bool *red) {
  for (int i = 0; i < HUB_MAX_DIMS; i++) red[i] = false;
  if (ndims < 0 || (ndims > 0 && !dims)) return hub_err("%s: bad dimension list", op);
  if (ndims == 0) {
    for (int i = 0; i < a->ndim; i++) red[i] = true;
    return 0;
  }
  for (int k = 0; k < ndims; k++) {
    if (a->ndim == 0 && (dims[k] == 0 || dims[k] == -1)) continue; /* a scalar's only "dim" */
    int d = hub_norm_dim(op, dims[k], a->ndim);
    if (d < 0) return -1;
    if (red[d]) return hub_err("%s: dim %d repeated in the dimension list", op, dims[k]);
    red[d] = true;
  }
  return 0;
}

/* Reduces x (contiguous f32) over the dims marked in red, keeping them as size 1.
 * For HUB_RED_MAX exactly one dim is marked and *idx receives the positions (i64). */
static hub_tensor *reduce_raw(int op, hub_tensor *x, const bool *red, hub_tensor **idx) {
  const hub_backend *be = hub_dispatch(NULL, HUB_K_REDUCE, x->device, -1);
  if (!be) return NULL;
  /* merge adjacent dims of the same kind */
  int ng = 0;
  int64_t gs[HUB_MAX_DIMS];
  bool gr[HUB_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) {
    if (ng > 0 && gr[ng - 1] == red[i]) {
      gs[ng - 1] *= x->shape[i];
    } else {
      gs[ng] = x->shape[i];
      gr[ng] = red[i];
      ng++;
    }
  }
  int64_t kshape[HUB_MAX_DIMS], kstride[HUB_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) kshape[i] = red[i] ? 1 : x->shape[i];
  contig_strides(x->ndim, kshape, kstride);

  hub_tensor *cur = hub_tensor_retain(x);
  bool reduced = false;
  for (int g = ng - 1; g >= 0; g--) {
    if (!gr[g] || (gs[g] == 1 && op != HUB_RED_MAX)) continue;
    int64_t outer = 1, inner = 1;
    for (int j = 0; j < g; j++) outer *= gs[j];
    for (int j = g + 1; j < ng; j++) inner *= gs[j];
    int64_t v3[3] = {outer, gs[g], inner}, s3[3] = {gs[g] * inner, inner, 1};
    int64_t o3[3] = {outer, 1, inner};
    hub_tensor *view = hub_tensor_alias(cur, 3, v3, s3, cur->offset);
    hub_tensor *res = hub_tensor_empty(x->dtype, 3, o3, x->device);
    hub_tensor *ix = (op == HUB_RED_MAX && idx) ? hub_tensor_empty(HUB_I64, 3, o3, x->device) : NULL;
    int rc = (!view || !res || (op == HUB_RED_MAX && idx && !ix)) ? -1
                                                                  : HUB_K(be, REDUCE)(op, view, 1, res, ix);
    hub_tensor_release(view);
    hub_tensor_release(cur);
    if (rc) {
      hub_tensor_release(res);
      hub_tensor_release(ix);
      return NULL;
    }
    if (ix) {
      *idx = hub_tensor_alias(ix, x->ndim, kshape, kstride, ix->offset);
      hub_tensor_release(ix);
      if (!*idx) {
        hub_tensor_release(res);
        return NULL;
      }
    }
    cur = res;
    gs[g] = 1;
    reduced = true;
  }
  if (!reduced) { /* only size-1 dims were reduced: a copy */
    hub_tensor *res = hub_tensor_empty(x->dtype, x->ndim, x->shape, x->device);
    if (!res || HUB_K(be, COPY)(res, cur)) {
      hub_tensor_release(res);
      hub_tensor_release(cur);
      return NULL;
    }
    hub_tensor_release(cur);
    cur = res;
  }
  hub_tensor *out = hub_tensor_alias(cur, x->ndim, kshape, kstride, cur->offset);
  hub_tensor_release(cur);
  return out;
}

/* The keepdim result r viewed without the reduced dims (consumes r). */
static hub_tensor *drop_dims(hub_tensor *r, const bool *red) {
  int64_t shape[HUB_MAX_DIMS], stride[HUB_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < r->ndim; i++)
    if (!red[i]) shape[nd++] = r->shape[i];
  contig_strides(nd, shape, stride);
  hub_tensor *out = hub_tensor_alias(r, nd, shape, stride, r->offset);
  hub_tensor_release(r);
  return out;
}

/* ---- sum / mean ---- */

/* The typed state of sum and mean: which dims were reduced (bit i: dim i) and the scale of the
 * gradient (1 / count for mean). */
typedef struct reduce_state {
  uint64_t mask;
  double scale;
} reduce_state;

/* gout expanded back to the input's shape (edge 0), times scale. */
static int expand_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!hub_node_needs(n, 0)) return 0;
  const reduce_state *s = HUB_NODE_STATE(n, reduce_state);
  const hub_edge *e = &n->edges[0];
  if (!gout[0]) {
    gin[0] = hub_tensor_new(e->dtype == HUB_F64 ? HUB_F64 : HUB_F32, e->ndim, e->shape, e->device);
    return gin[0] ? 0 : -1;
  }
  int64_t kshape[HUB_MAX_DIMS];
  for (int i = 0; i < e->ndim; i++) kshape[i] = (s->mask >> i) & 1 ? 1 : e->shape[i];
  hub_tensor *g = hub_reshape(gout[0], e->ndim, kshape);
  hub_tensor *ge = g ? hub_expand(g, e->ndim, e->shape) : NULL;
  hub_tensor *gc = ge ? hub_contiguous(ge) : NULL;
  hub_tensor_release(g);
  hub_tensor_release(ge);
  if (!gc) return -1;
  if (s->scale != 1.0) {
    hub_tensor *m = hub_mul_scalar(gc, s->scale);
    hub_tensor_release(gc);
    gc = m;
    if (!gc) return -1;
  }
  gin[0] = gc;
  return 0;
}

HUB_OP_DEF(sum, .name = "sum", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_REDUCE, .backward = expand_backward,
           .state_size = sizeof(reduce_state));
HUB_OP_DEF(mean, .name = "mean", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_REDUCE, .backward = expand_backward,
           .state_size = sizeof(reduce_state));

static hub_tensor *sum_mean(const hub_op_def *def, int redop, hub_tensor *a, int ndims, const int *dims,
                            int keepdim) {
  const char *op = def->name;
  if (!a) return hub_errp("%s: tensor is NULL", op);
  bool red[HUB_MAX_DIMS];
  if (parse_dims(op, a, ndims, dims, red)) return NULL;
  hub_tensor *x = a->dtype == HUB_F64 ? hub_contiguous(a) : hub_contiguous_f32(a);
  if (!x) return NULL;
  hub_tensor *r = reduce_raw(redop, x, red, NULL);
  if (!r) {
    hub_tensor_release(x);
    return NULL;
  }
  int64_t count = 1;
  uint64_t mask = 0;
  for (int i = 0; i < a->ndim; i++)
    if (red[i]) {
      count *= a->shape[i];
      mask |= (uint64_t)1 << i;
    }
  hub_tensor *out = keepdim ? r : drop_dims(r, red);
  if (!out) {
    hub_tensor_release(x);
    return NULL;
  }
  hub_node *n;
  if (hub_record_op(def, &x, 1, &out, &n)) {
    hub_tensor_release(x);
    hub_tensor_release(out);
    return NULL;
  }
  if (n) {
    reduce_state *s = HUB_NODE_STATE(n, reduce_state);
    s->mask = mask;
    s->scale = redop == HUB_RED_MEAN ? (count ? 1.0 / (double)count : 0.0) : 1.0;
  }
  hub_tensor_release(x);
  if (redop == HUB_RED_SUM && !hub_dtype_is_float(a->dtype)) {
    hub_tensor *o = hub_to_dtype(out, HUB_I64);
    hub_tensor_release(out);
    out = o;
  }
  return out;
}

hub_tensor *hub_sum(hub_tensor *a, int ndims, const int *dims, int keepdim) {
  return sum_mean(&hub_op_sum, HUB_RED_SUM, a, ndims, dims, keepdim);
}

hub_tensor *hub_mean(hub_tensor *a, int ndims, const int *dims, int keepdim) {
  return sum_mean(&hub_op_mean, HUB_RED_MEAN, a, ndims, dims, keepdim);
}

/* ---- max / argmax ---- */

/* The typed state of max: the reduced dim and the positions of the maxima (i64, keepdim shape). */
typedef struct max_state {
  hub_tensor *idx;
  int dim;
} max_state;

/* Each gradient goes to the first maximum: gx = scatter_add(zeros, dim, idx, g). */
static int max_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!hub_node_needs(n, 0)) return 0;
  const max_state *s = HUB_NODE_STATE(n, max_state);
  const hub_edge *e = &n->edges[0];
  hub_tensor *gx = hub_tensor_new(e->dtype == HUB_F64 ? HUB_F64 : HUB_F32, e->ndim, e->shape, e->device);
  if (!gx || !gout[0] || e->ndim == 0) { /* a 0-d input: its own maximum */
    gin[0] = gx && gout[0] ? hub_reshape(gout[0], 0, NULL) : gx;
    if (gx && gout[0]) hub_tensor_release(gx);
    return gin[0] ? 0 : -1;
  }
  hub_tensor *g = hub_reshape(gout[0], s->idx->ndim, s->idx->shape);
  gin[0] = g ? hub_scatter_add(gx, s->dim, s->idx, g) : NULL;
  hub_tensor_release(g);
  hub_tensor_release(gx);
  return gin[0] ? 0 : -1;
}

HUB_OP_DEF(max, .name = "max", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_REDUCE, .backward = max_backward,
           .state_size = sizeof(max_state));

/* values and/or positions of the max over dim. */
static int max_impl(const char *op, hub_tensor *a, int dim, int keepdim, hub_tensor **values,
                    hub_tensor **indices) {
  if (!a) return hub_err("%s: tensor is NULL", op);
  bool red[HUB_MAX_DIMS] = {false};
  int d = 0;
  if (a->ndim > 0) {
    d = hub_norm_dim(op, dim, a->ndim);
    if (d < 0) return -1;
    if (a->shape[d] == 0) return hub_err("%s: cannot reduce over an empty dimension %d", op, dim);
    red[d] = true;
  } else if (dim != 0 && dim != -1) {
    return hub_err("%s: dim %d out of range for 0-d tensor", op, dim);
  }
  hub_tensor *x = a->dtype == HUB_F64 ? hub_contiguous(a) : hub_contiguous_f32(a);
  if (!x) return -1;
  hub_tensor *idx = NULL, *r;
  if (a->ndim == 0) { /* a scalar: itself, at position 0 */
    r = reduce_raw(HUB_RED_SUM, x, red, NULL);
    idx = r ? hub_tensor_new(HUB_I64, 0, NULL, a->device) : NULL;
  } else {
    r = reduce_raw(HUB_RED_MAX, x, red, &idx);
  }
  if (!r || !idx) {
    hub_tensor_release(r);
    hub_tensor_release(idx);
    hub_tensor_release(x);
    return -1;
  }
  if (values) {
    hub_tensor *out = keepdim ? hub_tensor_retain(r) : drop_dims(hub_tensor_retain(r), red);
    if (out) {
      hub_node *n;
      int rc = hub_record_op(&hub_op_max, &x, 1, &out, &n);
      if (rc == 0 && n) {
        max_state *s = HUB_NODE_STATE(n, max_state);
        s->dim = d;
        rc = hub_node_keep(n, &s->idx, idx);
      }
      hub_fail_release(rc, &out);
      if (!hub_dtype_is_float(a->dtype)) {
        hub_tensor *o = hub_to_dtype(out, a->dtype);
        hub_tensor_release(out);
        out = o;
      }
    }
    *values = out;
  }
  if (indices) *indices = keepdim ? hub_tensor_retain(idx) : drop_dims(hub_tensor_retain(idx), red);
  hub_tensor_release(r);
  hub_tensor_release(idx);
  hub_tensor_release(x);
  if ((values && !*values) || (indices && !*indices)) {
    if (values) hub_tensor_release(*values);
    if (indices) hub_tensor_release(*indices);
    return -1;
  }
  return 0;
}

hub_tensor *hub_max(hub_tensor *a, int dim, int keepdim) {
  hub_tensor *v = NULL;
  return max_impl("max", a, dim, keepdim, &v, NULL) ? NULL : v;
}

hub_tensor *hub_argmax(hub_tensor *a, int dim, int keepdim) {
  hub_tensor *i = NULL;
  return max_impl("argmax", a, dim, keepdim, NULL, &i) ? NULL : i;
}

/* ---- expand and sum_to (each the other's backward) ---- */

static int expand_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  gi[0] = hub_sum_to(go[0], n->edges[0].ndim, n->edges[0].shape);
  return gi[0] ? 0 : -1;
}

/* expand is a view (core's hub_expand_raw); it is recorded here because its backward is a sum. */
HUB_OP_DEF(expand, .name = "expand", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = -1, .backward = expand_bw);

hub_tensor *hub_expand(hub_tensor *t, int ndim, const int64_t *shape) {
  if (!t) return hub_errp("expand: tensor is nil");
  if (ndim < 0 || ndim > HUB_MAX_DIMS) return hub_errp("expand: %d dimensions (at most %d)", ndim, HUB_MAX_DIMS);
  if (ndim > 0 && !shape) return hub_errp("expand: shape is missing (NULL)");
  int64_t sh[HUB_MAX_DIMS];
  for (int i = 0; i < ndim; i++) {
    int j = t->ndim - ndim + i;
    sh[i] = shape[i] == -1 && j >= 0 ? t->shape[j] : shape[i];
  }
  hub_tensor *out = hub_expand_raw(t, ndim, sh);
  hub_node *n;
  if (out) hub_fail_release(hub_record_op(&hub_op_expand, &t, 1, &out, &n), &out);
  return out;
}

hub_tensor *hub_sum_to(hub_tensor *a, int ndim, const int64_t *shape) {
  if (!a) return hub_errp("sum_to: tensor is NULL");
  if (ndim < 0 || ndim > a->ndim || (ndim > 0 && !shape)) {
    char sa[128];
    return hub_errp("sum_to: cannot sum %s down to %d dimensions", hub_shape_str(a, sa, sizeof sa),
                    ndim);
  }
  int lead = a->ndim - ndim;
  int dims[HUB_MAX_DIMS], nd = 0;
  bool trivial = true; /* every summed dim has size 1: a reshape is enough */
  for (int i = 0; i < a->ndim; i++) {
    bool sum_it;
    if (i < lead) {
      sum_it = true;
    } else if (shape[i - lead] == a->shape[i]) {
      sum_it = false;
    } else if (shape[i - lead] == 1) {
      sum_it = true;
    } else {
      char sa[128], st[128];
      int p = 0;
      st[p++] = '[';
      for (int k = 0; k < ndim && p < 100; k++)
        p += snprintf(st + p, sizeof st - (size_t)p, k ? ",%lld" : "%lld", (long long)shape[k]);
      snprintf(st + p, sizeof st - (size_t)p, "]");
      return hub_errp("sum_to: cannot sum %s down to %s", hub_shape_str(a, sa, sizeof sa), st);
    }
    if (sum_it) {
      dims[nd++] = i;
      if (a->shape[i] != 1) trivial = false;
    }
  }
  if (nd == 0) return hub_tensor_retain(a);
  if (trivial) return hub_reshape(a, ndim, shape);
  hub_tensor *s = hub_sum(a, nd, dims, 1);
  if (!s) return NULL;
  hub_tensor *out = hub_reshape(s, ndim, shape);
  hub_tensor_release(s);
  return out;
}
