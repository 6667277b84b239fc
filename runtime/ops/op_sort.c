/* op_sort.c - ops along one dimension with a per-element index: gather, scatter, scatter_add,
 * sort, argsort, topk and cumsum; and stack.
 *
 * The operands are made contiguous and viewed as [outer, n, inner] around the dimension, so the
 * backend's gather_dim / scatter_dim / sort / cumsum slots see one layout.  Index tensors hold
 * 0-based positions (i64; i32 is converted), as everywhere in hub.
 *
 * Gradients:
 *   gather      the gradient scatter-added back to the gathered positions (duplicates add);
 *   scatter     to the input: the gradient with the overwritten positions zeroed; to the source:
 *               the gradient gathered at the index;  scatter_add: the gradient itself, and the
 *               same gather for the source;
 *   sort, topk  values are gather(input, dim, indices), so they inherit gather's gradient;
 *   cumsum      the reverse running sum of the gradient;
 *   stack       unsqueeze + concat, each with its own gradient.
 * gather's index may be smaller than the input in the other dimensions (as torch.gather): the
 * input is narrowed to the index's extent first (a recorded view).  scatter's index must match
 * the input outside the dimension, and its source is narrowed to the index's shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* [outer, n, inner] header over contiguous t around dimension d (no autograd). */
static hub_tensor *view3(const hub_tensor *t, int d) {
  int64_t o = 1, in = 1, n = t->ndim ? t->shape[d] : 1;
  for (int i = 0; i < d; i++) o *= t->shape[i];
  for (int i = d + 1; i < t->ndim; i++) in *= t->shape[i];
  int64_t sh[3] = {o, n, in}, st[3] = {n * in, in, 1};
  return hub_tensor_alias(t, 3, sh, st, t->offset);
}

static int fail_with(const char *op) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", hub_last_error());
  return hub_err("%s: %s", op, buf[0] ? buf : "failed");
}

/* index as a contiguous i64 tensor (new reference), or NULL with an error naming op. */
static hub_tensor *index_i64(const char *op, hub_tensor *index, const hub_tensor *a) {
  if (!index) return hub_errp("%s: index is missing (nil)", op);
  if (index->dtype != HUB_I64 && index->dtype != HUB_I32)
    return hub_errp("%s: index must be i64 or i32, got %s", op, hub_dtype_name(index->dtype));
  if (index->ndim != a->ndim)
    return hub_errp("%s: index has %d dimensions, the input %d (they must match)", op, index->ndim, a->ndim);
  if (hub_check_same_device(op, a, index)) return NULL;
  HUB_NO_GRAD_BEGIN;
  hub_tensor *i = hub_to_dtype(index, HUB_I64), *c = i ? hub_contiguous(i) : NULL;
  HUB_NO_GRAD_END;
  hub_tensor_release(i);
  return c;
}

/* t narrowed (recorded) to the first sizes[k] elements of every dimension k. */
static hub_tensor *narrow_to(hub_tensor *t, const int64_t *sizes) {
  hub_tensor *cur = hub_tensor_retain(t);
  for (int k = 0; k < t->ndim && cur; k++) {
    if (sizes[k] == cur->shape[k]) continue;
    hub_tensor *n = hub_narrow(cur, k, 0, sizes[k]);
    hub_tensor_release(cur);
    cur = n;
  }
  return cur;
}

/* ---- gather ---- */

/* The index (contiguous i64) and the dim of gather, scatter and scatter_add; add: scatter_add.
 * gather's input 0 is the (narrowed, contiguous) input; scatter's are the input and the
 * (narrowed) source. */
typedef struct index_state {
  hub_tensor *idx;
  int dim, add;
} index_state;

static int gather_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  if (!hub_node_needs(n, 0)) return 0;
  const index_state *s = HUB_NODE_STATE(n, index_state);
  const hub_edge *e = &n->edges[0];
  hub_tensor *idx = s->idx;
  const hub_backend *be = hub_dispatch(n->name, HUB_K_SCATTER_DIM, idx->device, -1);
  int gdt = e->dtype == HUB_F64 ? HUB_F64 : HUB_F32;
  hub_tensor *gx = be ? hub_tensor_new(gdt, e->ndim, e->shape, idx->device) : NULL;
  if (!gx) return -1;
  if (go[0] && hub_tensor_numel(idx) > 0) {
    hub_tensor *gc = hub_to_dtype(go[0], gdt), *g = gc ? hub_contiguous(gc) : NULL;
    hub_tensor_release(gc);
    int d = s->dim;
    hub_tensor *gx3 = g ? view3(gx, d) : NULL, *i3 = gx3 ? view3(idx, d) : NULL;
    hub_tensor *g3 = i3 ? view3(g, d) : NULL;
    int rc = g3 ? HUB_K(be, SCATTER_DIM)(gx3, i3, g3, 1) : -1;
    hub_tensor *tmp[4] = {g, gx3, i3, g3};
    hub_release_all(4, tmp);
    if (rc) {
      hub_tensor_release(gx);
      return fail_with(n->name);
    }
  }
  if (e->dtype != gdt) {
    hub_tensor *c = hub_to_dtype(gx, e->dtype);
    hub_tensor_release(gx);
    gx = c;
  }
  gi[0] = gx;
  return gx ? 0 : -1;
}

HUB_OP_DEF(gather, .name = "gather", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_GATHER_DIM, .backward = gather_bw,
           .state_size = sizeof(index_state));

hub_tensor *hub_gather(hub_tensor *a, int dim, hub_tensor *index) {
  if (!a) return hub_errp("gather: input is missing (nil)");
  if (a->ndim == 0) return hub_errp("gather: cannot gather from a 0-d tensor");
  int d = hub_norm_dim("gather", dim, a->ndim);
  if (d < 0) return NULL;
  hub_tensor *idx = index_i64("gather", index, a);
  if (!idx) return NULL;
  int64_t sizes[HUB_MAX_DIMS];
  for (int k = 0; k < a->ndim; k++) {
    sizes[k] = k == d ? a->shape[k] : idx->shape[k];
    if (k != d && idx->shape[k] > a->shape[k]) {
      char s1[128], s2[128];
      hub_tensor_release(idx);
      return hub_errp("gather: index of shape %s is larger than the input %s in dimension %d", hub_shape_str(index, s1, sizeof s1),
                      hub_shape_str(a, s2, sizeof s2), k + 1);
    }
  }
  const hub_backend *be = hub_dispatch("gather", HUB_K_GATHER_DIM, a->device, a->dtype);
  hub_tensor *an = be ? narrow_to(a, sizes) : NULL;
  hub_tensor *x = an ? hub_contiguous(an) : NULL;
  hub_tensor *out = x ? hub_tensor_empty(a->dtype, idx->ndim, idx->shape, a->device) : NULL;
  hub_tensor *x3 = out ? view3(x, d) : NULL, *i3 = x3 ? view3(idx, d) : NULL, *o3 = i3 ? view3(out, d) : NULL;
  if (out && (!o3 || HUB_K(be, GATHER_DIM)(x3, i3, o3) != 0)) {
    fail_with("gather");
    hub_tensor_release(out);
    out = NULL;
  }
  if (out) {
    hub_node *node;
    int rc = hub_record_op(&hub_op_gather, &x, 1, &out, &node);
    if (rc == 0 && node) {
      index_state *s = HUB_NODE_STATE(node, index_state);
      s->dim = d;
      rc = hub_node_keep(node, &s->idx, idx);
    }
    hub_fail_release(rc, &out);
  }
  hub_tensor *tmp[6] = {idx, an, x, x3, i3, o3};
  hub_release_all(6, tmp);
  return out;
}

/* ---- scatter / scatter_add ---- */

static int scatter_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  if (!go[0]) return 0;
  const index_state *s = HUB_NODE_STATE(n, index_state);
  hub_tensor *idx = s->idx;
  int d = s->dim;
  if (hub_node_needs(n, 1)) {
    gi[1] = hub_gather(go[0], d, idx);
    if (!gi[1]) return -1;
  }
  if (hub_node_needs(n, 0)) {
    if (s->add) {
      gi[0] = hub_tensor_retain(go[0]);
    } else {
      hub_tensor *zero = hub_tensor_new(go[0]->dtype, idx->ndim, idx->shape, idx->device);
      gi[0] = zero ? hub_scatter(go[0], d, idx, zero) : NULL;
      hub_tensor_release(zero);
      if (!gi[0]) return -1;
    }
  }
  return 0;
}

HUB_OP_DEF(scatter, .name = "scatter", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_SCATTER_DIM,
           .backward = scatter_bw, .state_size = sizeof(index_state));
HUB_OP_DEF(scatter_add, .name = "scatter_add", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_SCATTER_DIM,
           .backward = scatter_bw, .state_size = sizeof(index_state));

static hub_tensor *scatter_op(const hub_op_def *def, hub_tensor *a, int dim, hub_tensor *index,
                              hub_tensor *src, int add) {
  const char *op = def->name;
  if (!a) return hub_errp("%s: input is missing (nil)", op);
  if (!src) return hub_errp("%s: source is missing (nil)", op);
  if (a->ndim == 0) return hub_errp("%s: cannot scatter into a 0-d tensor", op);
  int d = hub_norm_dim(op, dim, a->ndim);
  if (d < 0) return NULL;
  if (src->ndim != a->ndim)
    return hub_errp("%s: source has %d dimensions, the input %d (they must match)", op, src->ndim, a->ndim);
  hub_tensor *idx = index_i64(op, index, a);
  if (!idx) return NULL;
  char s1[128], s2[128];
  for (int k = 0; k < a->ndim; k++) {
    if ((k != d && idx->shape[k] != a->shape[k]) || idx->shape[k] > src->shape[k]) {
      hub_tensor_release(idx);
      return hub_errp("%s: index of shape %s must match the input %s outside dimension %d and fit in the source", op,
                      hub_shape_str(index, s1, sizeof s1), hub_shape_str(a, s2, sizeof s2), d + 1);
    }
  }
  int ct = a->dtype == HUB_F64 ? HUB_F64 : hub_dtype_is_float(a->dtype) ? HUB_F32 : a->dtype;
  if (add && ct != HUB_F32 && ct != HUB_F64 && ct != HUB_I64 && ct != HUB_I32) {
    hub_tensor_release(idx);
    return hub_errp("%s: %s tensors are not supported (f32, f16, bf16, i64, i32)", op, hub_dtype_name(a->dtype));
  }
  const hub_backend *be = hub_dispatch(op, HUB_K_SCATTER_DIM, a->device, ct);
  hub_tensor *sn = be ? narrow_to(src, idx->shape) : NULL;
  hub_tensor *sc = sn ? hub_to_dtype(sn, ct) : NULL, *s = sc ? hub_contiguous(sc) : NULL;
  hub_tensor *ac = s ? hub_to_dtype(a, ct) : NULL;
  hub_tensor *out = ac ? hub_tensor_empty(ct, a->ndim, a->shape, a->device) : NULL;
  int rc = out ? HUB_K(be, COPY)(out, ac) : -1;
  hub_tensor *o3 = rc == 0 ? view3(out, d) : NULL, *i3 = o3 ? view3(idx, d) : NULL, *s3 = i3 ? view3(s, d) : NULL;
  if (out && (!s3 || HUB_K(be, SCATTER_DIM)(o3, i3, s3, add) != 0)) {
    fail_with(op);
    hub_tensor_release(out);
    out = NULL;
  }
  if (out && hub_dtype_is_float(a->dtype)) {
    hub_tensor *ins[2] = {ac, s};
    hub_node *node;
    int rc = hub_record_op(def, ins, 1, &out, &node);
    if (rc == 0 && node) {
      index_state *s = HUB_NODE_STATE(node, index_state);
      s->dim = d;
      s->add = add;
      rc = hub_node_keep(node, &s->idx, idx);
    }
    hub_fail_release(rc, &out);
  }
  hub_tensor *tmp[9] = {idx, sn, sc, s, ac, o3, i3, s3, NULL};
  hub_release_all(9, tmp);
  if (out && out->dtype != a->dtype) {
    hub_tensor *c = hub_to_dtype(out, a->dtype);
    hub_tensor_release(out);
    out = c;
  }
  return out;
}

hub_tensor *hub_scatter(hub_tensor *a, int dim, hub_tensor *index, hub_tensor *src) {
  return scatter_op(&hub_op_scatter, a, dim, index, src, 0);
}
hub_tensor *hub_scatter_add(hub_tensor *a, int dim, hub_tensor *index, hub_tensor *src) {
  return scatter_op(&hub_op_scatter_add, a, dim, index, src, 1);
}

/* ---- sort / argsort / topk ---- */

/* Positions (i64) that sort a along d; not recorded. */
static hub_tensor *sort_positions(const char *op, hub_tensor *a, int d, int descending) {
  const hub_backend *be = hub_dispatch(op, HUB_K_SORT, a->device, -1);
  if (!be) return NULL;
  HUB_NO_GRAD_BEGIN;
  hub_tensor *c = hub_to_dtype(a, a->dtype == HUB_F64 ? HUB_F64 : hub_dtype_is_float(a->dtype) ? HUB_F32 : HUB_I64);
  hub_tensor *x = c ? hub_contiguous(c) : NULL;
  HUB_NO_GRAD_END;
  hub_tensor *vals = x ? hub_tensor_empty(x->dtype, x->ndim, x->shape, x->device) : NULL;
  hub_tensor *pos = vals ? hub_tensor_empty(HUB_I64, x->ndim, x->shape, x->device) : NULL;
  hub_tensor *x3 = pos ? view3(x, d) : NULL, *v3 = x3 ? view3(vals, d) : NULL, *p3 = v3 ? view3(pos, d) : NULL;
  if (pos && (!p3 || HUB_K(be, SORT)(x3, descending, v3, p3) != 0)) {
    fail_with(op);
    hub_tensor_release(pos);
    pos = NULL;
  }
  hub_tensor *tmp[6] = {c, x, vals, x3, v3, p3};
  hub_release_all(6, tmp);
  return pos;
}

int hub_topk(hub_tensor *a, int64_t k, int dim, int largest, hub_tensor **values, hub_tensor **indices) {
  const char *op = k < 0 ? "sort" : "topk";
  if (!a) return hub_err("%s: input is missing (nil)", op);
  if (!values && !indices) return hub_err("%s: no output asked for", op);
  hub_tensor *in = a->ndim == 0 ? hub_reshape(a, 1, (int64_t[]){1}) : hub_tensor_retain(a);
  if (!in) return -1;
  int d = hub_norm_dim(op, dim, in->ndim);
  if (d >= 0 && k > in->shape[d]) {
    hub_err("topk: k = %lld is larger than dimension %d of size %lld", (long long)k, d + 1, (long long)in->shape[d]);
    d = -1;
  }
  hub_tensor *pos = d >= 0 ? sort_positions(op, in, d, largest) : NULL;
  hub_tensor *sel = pos && k >= 0 ? hub_narrow(pos, d, 0, k) : (pos ? hub_tensor_retain(pos) : NULL);
  hub_tensor *idx = sel ? hub_contiguous(sel) : NULL;
  hub_tensor *v = idx && values ? hub_gather(in, d, idx) : NULL;
  int rc = idx && (!values || v) ? 0 : -1;
  if (rc == 0 && a->ndim == 0) { /* back to 0-d */
    hub_tensor *v0 = v ? hub_reshape(v, 0, NULL) : NULL, *i0 = hub_reshape(idx, 0, NULL);
    hub_tensor_release(v);
    hub_tensor_release(idx);
    v = v0, idx = i0;
    if ((values && !v) || !idx) rc = -1;
  }
  hub_tensor *tmp[3] = {in, pos, sel};
  hub_release_all(3, tmp);
  if (rc) {
    hub_tensor_release(v);
    hub_tensor_release(idx);
    return -1;
  }
  if (values) *values = v;
  if (indices) *indices = idx;
  else hub_tensor_release(idx);
  return 0;
}

int hub_sort(hub_tensor *a, int dim, int descending, hub_tensor **values, hub_tensor **indices) {
  return hub_topk(a, -1, dim, descending, values, indices);
}

hub_tensor *hub_argsort(hub_tensor *a, int dim, int descending) {
  hub_tensor *i = NULL;
  return hub_topk(a, -1, dim, descending, NULL, &i) ? NULL : i;
}

/* ---- cumsum ---- */

typedef struct cumsum_state {
  int dim;
} cumsum_state;

static int cumsum_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  if (!hub_node_needs(n, 0) || !go[0]) return 0;
  const hub_backend *be = hub_dispatch("cumsum", HUB_K_CUMSUM, go[0]->device, -1);
  int gdt = n->edges[0].dtype == HUB_F64 ? HUB_F64 : HUB_F32;
  hub_tensor *gc = be ? hub_to_dtype(go[0], gdt) : NULL, *g = gc ? hub_contiguous(gc) : NULL;
  hub_tensor_release(gc);
  hub_tensor *gx = g ? hub_tensor_empty(gdt, g->ndim, g->shape, g->device) : NULL;
  int d = HUB_NODE_STATE(n, cumsum_state)->dim;
  hub_tensor *g3 = gx ? view3(g, d) : NULL, *x3 = g3 ? view3(gx, d) : NULL;
  int rc = x3 ? HUB_K(be, CUMSUM)(g3, 1, x3) : -1;
  hub_tensor *tmp[3] = {g, g3, x3};
  hub_release_all(3, tmp);
  if (rc) {
    hub_tensor_release(gx);
    return -1;
  }
  gi[0] = gx;
  return 0;
}

HUB_OP_DEF(cumsum, .name = "cumsum", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_CUMSUM, .backward = cumsum_bw,
           .state_size = sizeof(cumsum_state));

hub_tensor *hub_cumsum(hub_tensor *a, int dim) {
  if (!a) return hub_errp("cumsum: input is missing (nil)");
  hub_tensor *in = a->ndim == 0 ? hub_reshape(a, 1, (int64_t[]){1}) : hub_tensor_retain(a);
  if (!in) return NULL;
  int d = hub_norm_dim("cumsum", dim, in->ndim);
  const hub_backend *be = d >= 0 ? hub_dispatch("cumsum", HUB_K_CUMSUM, a->device, -1) : NULL;
  int isf = hub_dtype_is_float(a->dtype);
  hub_tensor *x = NULL;
  if (be) {
    if (a->dtype == HUB_F64) {
      x = hub_contiguous(in);
    } else if (isf) {
      x = hub_contiguous_f32(in);
    } else {
      HUB_NO_GRAD_BEGIN;
      hub_tensor *c = hub_to_dtype(in, HUB_I64);
      x = c ? hub_contiguous(c) : NULL;
      hub_tensor_release(c);
      HUB_NO_GRAD_END;
    }
  }
  hub_tensor *out = x ? hub_tensor_empty(x->dtype, x->ndim, x->shape, x->device) : NULL;
  hub_tensor *x3 = out ? view3(x, d) : NULL, *o3 = x3 ? view3(out, d) : NULL;
  if (out && (!o3 || HUB_K(be, CUMSUM)(x3, 0, o3) != 0)) {
    fail_with("cumsum");
    hub_tensor_release(out);
    out = NULL;
  }
  if (out && isf) {
    hub_node *node;
    int rc = hub_record_op(&hub_op_cumsum, &x, 1, &out, &node);
    if (rc == 0 && node) HUB_NODE_STATE(node, cumsum_state)->dim = d;
    hub_fail_release(rc, &out);
  }
  hub_tensor *tmp[4] = {in, x, x3, o3};
  hub_release_all(4, tmp);
  if (out && a->ndim == 0) {
    hub_tensor *r = hub_reshape(out, 0, NULL);
    hub_tensor_release(out);
    out = r;
  }
  if (out && isf && a->dtype != out->dtype) {
    hub_tensor *c = hub_to_dtype(out, a->dtype);
    hub_tensor_release(out);
    out = c;
  }
  return out;
}

/* ---- stack ---- */

hub_tensor *hub_stack(int n, hub_tensor **ts, int dim) {
  if (n < 1 || !ts) return hub_errp("stack: needs at least one tensor");
  for (int i = 0; i < n; i++)
    if (!ts[i]) return hub_errp("stack: tensor %d is missing (nil)", i + 1);
  int nd = ts[0]->ndim;
  if (dim < -(nd + 1) || dim > nd)
    return hub_errp("stack: dimension %d out of range for stacking %d-d tensors (1..%d or -%d..-1)",
                    dim >= 0 ? dim + 1 : dim, nd, nd + 1, nd + 1);
  int d = dim < 0 ? dim + nd + 1 : dim;
  for (int i = 1; i < n; i++)
    if (ts[i]->ndim != nd || !hub_same_shape(ts[i], ts[0])) {
      char s1[128], s2[128];
      return hub_errp("stack: tensors 1 and %d have different shapes %s and %s", i + 1,
                      hub_shape_str(ts[0], s1, sizeof s1), hub_shape_str(ts[i], s2, sizeof s2));
    }
  hub_tensor *small[16], **us = n <= 16 ? small : calloc((size_t)n, sizeof *us);
  if (!us) return hub_errp("stack: out of memory");
  int made = 0;
  for (; made < n; made++) {
    us[made] = hub_unsqueeze(ts[made], d);
    if (!us[made]) break;
  }
  hub_tensor *out = made == n ? hub_concat(n, us, d) : NULL;
  if (!out && made == n) fail_with("stack");
  hub_release_all(made, us);
  if (us != small) free(us);
  return out;
}
