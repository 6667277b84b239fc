/* op_index.c - indexing ops: embedding, index_select, concat and split, with autograd.
 *
 * embedding and index_select are one gather along a dimension: the input is made contiguous and
 * viewed as [outer, n, inner] (embedding: [1, V, D]), the ids (any shape, i64 or i32, 0-based)
 * are made contiguous, and the backend's gather copies the selected rows into [outer, k, inner].
 * The kernel checks every id before writing; its message ("id 9000 out of range [0, 8000)") is
 * prefixed here with the op's name.  The backward scatter-adds the output gradient into a zero
 * gradient of the input's shape (duplicate ids accumulate; the kernel is deterministic).
 *
 * concat allocates the output once and copies each input into its narrowed slice through the
 * backend's copy (strided inputs are fine); its backward hands each input the matching narrow
 * view of the output gradient (no copy).  split returns views of its input (no copy), recorded as
 * one node with n outputs; its backward writes the gradients that reached the pieces into a zero
 * gradient of the input, so pieces that got none (NULL) count as zeros.
 *
 * Dimensions named in messages are 1-based, like everything the Lua user sees (DESIGN.md).
 *
 * Inputs that autograd must see are converted with hub_contiguous / hub_to_dtype, which record
 * their own nodes, so the nodes made here always work on contiguous tensors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* Re-raises the current error with the op's name in front. */
static int fail_with(const char *op) {
  char buf[768];
  snprintf(buf, sizeof buf, "%s", hub_last_error());
  return hub_err("%s: %s", op, buf[0] ? buf : "failed");
}

static int check_ids(const char *op, const char *arg, const hub_tensor *ids) {
  if (!ids) return hub_err("%s: %s is missing (nil)", op, arg);
  if (ids->dtype != HUB_I64 && ids->dtype != HUB_I32)
    return hub_err("%s: %s must be i64 or i32, got %s", op, arg, hub_dtype_name(ids->dtype));
  return 0;
}

/* A header over contiguous t seen as [a, b, c] (no autograd). */
static hub_tensor *view3(const hub_tensor *t, int64_t a, int64_t b, int64_t c) {
  int64_t sh[3] = {a, b, c}, st[3] = {b * c, c, 1};
  return hub_tensor_alias(t, 3, sh, st, t->offset);
}

/* Converts a gradient computed in f32 to the dtype of input i of n (consumes g). */
static hub_tensor *grad_to_edge(hub_node *n, int i, hub_tensor *g) {
  if (!g || g->dtype == n->edges[i].dtype) return g;
  hub_tensor *c = hub_to_dtype(g, n->edges[i].dtype);
  hub_tensor_release(g);
  return c;
}

/* ---- gather along one dimension (embedding and index_select) ---- */

/* The ids (contiguous), the input seen as [outer, rows, inner], k ids, and the padding row that
 * gets no gradient (-1: none). */
typedef struct gather_state {
  hub_tensor *ids;
  int64_t outer, rows, inner, k, padding;
} gather_state;

static int gather_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!hub_node_needs(n, 0)) return 0;
  const gather_state *s = HUB_NODE_STATE(n, gather_state);
  const hub_edge *e = &n->edges[0];
  hub_tensor *ids = s->ids;
  int64_t outer = s->outer, rows = s->rows, inner = s->inner, k = s->k;
  hub_tensor *gx = hub_tensor_new(HUB_F32, e->ndim, e->shape, ids->device);
  if (!gx) return -1;
  if (gout[0] && outer * k * inner > 0) {
    const hub_backend *be = hub_dispatch(n->name, HUB_K_SCATTER_ADD, ids->device, HUB_F32);
    hub_tensor *gy = be ? hub_contiguous_f32(gout[0]) : NULL;
    hub_tensor *gx3 = view3(gx, outer, rows, inner), *gy3 = gy ? view3(gy, outer, k, inner) : NULL;
    int rc = gx3 && gy3 ? HUB_K(be, SCATTER_ADD)(gx3, ids, gy3) : -1;
    if (rc == 0 && s->padding >= 0) { /* the padding row gets no gradient */
      int64_t sh[3] = {outer, 1, inner};
      hub_tensor *row = hub_tensor_alias(gx3, 3, sh, gx3->stride, gx3->offset + s->padding * inner);
      rc = row ? hub_fill_(row, 0) : -1;
      hub_tensor_release(row);
    }
    hub_tensor_release(gx3);
    hub_tensor_release(gy3);
    hub_tensor_release(gy);
    if (rc) {
      fail_with(n->name);
      hub_tensor_release(gx);
      return -1;
    }
  }
  gin[0] = grad_to_edge(n, 0, gx);
  return gin[0] ? 0 : -1;
}

HUB_OP_DEF(embedding, .name = "embedding", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_GATHER,
           .backward = gather_backward, .state_size = sizeof(gather_state));
HUB_OP_DEF(index_select, .name = "index_select", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_GATHER,
           .backward = gather_backward, .state_size = sizeof(gather_state));

/* out[o, j, i] = x[o, ids[j], i] for x seen as [outer, rows, inner]; the output has x's shape with
 * dimension d replaced by ids' shape (idnd dims, sizes idshape). */
static hub_tensor *gather_op(const hub_op_def *def, hub_tensor *x, int d, hub_tensor *ids_in, int idnd,
                             const int64_t *idshape, int64_t padding_idx) {
  const char *op = def->name;
  const hub_backend *be = hub_dispatch(op, HUB_K_GATHER, x->device, x->dtype);
  if (!be) return NULL;
  if (x->ndim - 1 + idnd > HUB_MAX_DIMS)
    return hub_errp("%s: the result would have %d dimensions (at most %d)", op, x->ndim - 1 + idnd,
                    HUB_MAX_DIMS);
  int64_t outer = 1, inner = 1, rows = x->shape[d], k = hub_tensor_numel(ids_in);
  for (int i = 0; i < d; i++) outer *= x->shape[i];
  for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
  int64_t sh[HUB_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < d; i++) sh[nd++] = x->shape[i];
  for (int i = 0; i < idnd; i++) sh[nd++] = idshape[i];
  for (int i = d + 1; i < x->ndim; i++) sh[nd++] = x->shape[i];

  hub_tensor *xc = hub_contiguous(x), *ids = hub_contiguous(ids_in);
  hub_tensor *out = xc && ids ? hub_tensor_empty(x->dtype, nd, sh, x->device) : NULL;
  hub_tensor *x3 = out ? view3(xc, outer, rows, inner) : NULL;
  hub_tensor *o3 = x3 ? view3(out, outer, k, inner) : NULL;
  int rc = -1;
  if (o3) {
    rc = HUB_K(be, GATHER)(x3, ids, o3);
    if (rc) fail_with(op);
  }
  hub_tensor_release(x3);
  hub_tensor_release(o3);
  if (rc) {
    hub_release_all(1, &out);
    out = NULL;
  } else {
    hub_node *n;
    int rc = hub_record_op(def, &xc, 1, &out, &n);
    if (rc == 0 && n) {
      gather_state *s = HUB_NODE_STATE(n, gather_state);
      s->outer = outer, s->rows = rows, s->inner = inner, s->k = k;
      s->padding = padding_idx >= 0 ? padding_idx : -1;
      rc = hub_node_keep(n, &s->ids, ids);
    }
    hub_fail_release(rc, &out);
  }
  hub_tensor_release(xc);
  hub_tensor_release(ids);
  return out;
}

hub_tensor *hub_embedding(hub_tensor *weight, hub_tensor *ids) { return hub_embedding_padded(weight, ids, -1); }

hub_tensor *hub_embedding_padded(hub_tensor *weight, hub_tensor *ids, int64_t padding_idx) {
  if (hub_check_float("embedding", "weight", weight)) return NULL;
  if (check_ids("embedding", "ids", ids)) return NULL;
  if (hub_check_same_device("embedding", weight, ids)) return NULL;
  if (weight->ndim != 2) {
    char s[128];
    return hub_errp("embedding: weight must be 2-d [V, D], got %s", hub_shape_str(weight, s, sizeof s));
  }
  if (padding_idx >= weight->shape[0])
    return hub_errp("embedding: padding_idx %lld out of range [0, %lld)", (long long)padding_idx,
                    (long long)weight->shape[0]);
  return gather_op(&hub_op_embedding, weight, 0, ids, ids->ndim, ids->shape, padding_idx);
}

hub_tensor *hub_index_select(hub_tensor *a, int dim, hub_tensor *index) {
  if (!a) return hub_errp("index_select: input is missing (nil)");
  if (check_ids("index_select", "index", index)) return NULL;
  if (hub_check_same_device("index_select", a, index)) return NULL;
  if (a->ndim == 0) return hub_errp("index_select: input must have at least 1 dimension, got a 0-d tensor");
  if (index->ndim > 1) {
    char s[128];
    return hub_errp("index_select: index must be 0-d or 1-d, got %s", hub_shape_str(index, s, sizeof s));
  }
  int d = hub_norm_dim("index_select", dim, a->ndim);
  if (d < 0) return NULL;
  int64_t k = hub_tensor_numel(index);
  return gather_op(&hub_op_index_select, a, d, index, 1, &k, -1);
}

/* ---- concat ---- */

typedef struct concat_state {
  int dim;
} concat_state;

static int concat_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  int d = HUB_NODE_STATE(n, concat_state)->dim;
  int64_t pos = 0;
  for (int i = 0; i < n->n_in; i++) {
    const hub_edge *e = &n->edges[i];
    int64_t len = e->shape[d];
    if (hub_node_needs(n, i)) {
      gin[i] = gout[0] ? hub_narrow(gout[0], d, pos, len)
                       : hub_tensor_new(e->dtype, e->ndim, e->shape, e->device);
      if (!gin[i]) return -1;
    }
    pos += len;
  }
  return 0;
}

HUB_OP_DEF(concat, .name = "concat", .arity = HUB_ARITY_VAR, .dtypes = HUB_DT_ANY, .kernel = HUB_K_COPY,
           .backward = concat_backward, .state_size = sizeof(concat_state));

hub_tensor *hub_concat(int n, hub_tensor **ts, int dim) {
  if (n < 1 || !ts) return hub_errp("concat: needs at least one tensor");
  for (int i = 0; i < n; i++)
    if (!ts[i]) return hub_errp("concat: tensor %d is missing (nil)", i + 1);
  const hub_tensor *t0 = ts[0];
  if (t0->ndim == 0) return hub_errp("concat: cannot concatenate 0-d tensors");
  int d = hub_norm_dim("concat", dim, t0->ndim);
  if (d < 0) return NULL;
  int64_t sh[HUB_MAX_DIMS];
  memcpy(sh, t0->shape, sizeof sh);
  sh[d] = 0;
  for (int i = 0; i < n; i++) {
    const hub_tensor *t = ts[i];
    char s1[128], s2[128];
    if (t->ndim != t0->ndim)
      return hub_errp("concat: tensors %s and %s have different numbers of dimensions",
                      hub_shape_str(t0, s1, sizeof s1), hub_shape_str(t, s2, sizeof s2));
    if (t->dtype != t0->dtype)
      return hub_errp("concat: dtypes %s and %s differ (convert with to() first)",
                      hub_dtype_name(t0->dtype), hub_dtype_name(t->dtype));
    if (hub_check_same_device("concat", t0, t)) return NULL;
    for (int j = 0; j < t0->ndim; j++)
      if (j != d && t->shape[j] != t0->shape[j])
        return hub_errp("concat: shapes %s and %s differ in dimension %d (concatenating along dimension %d)",
                        hub_shape_str(t0, s1, sizeof s1), hub_shape_str(t, s2, sizeof s2), j + 1, d + 1);
    sh[d] += t->shape[d];
  }
  const hub_backend *be = hub_dispatch("concat", HUB_K_COPY, t0->device, t0->dtype);
  if (!be) return NULL;
  hub_tensor *out = hub_tensor_empty(t0->dtype, t0->ndim, sh, t0->device);
  if (!out) return NULL;
  int64_t pos = 0;
  for (int i = 0; i < n; i++) {
    int64_t part[HUB_MAX_DIMS];
    memcpy(part, sh, sizeof part);
    part[d] = ts[i]->shape[d];
    if (hub_tensor_numel(ts[i]) > 0) {
      hub_tensor *slice = hub_tensor_alias(out, out->ndim, part, out->stride, out->offset + pos * out->stride[d]);
      int rc = slice ? HUB_K(be, COPY)(slice, ts[i]) : -1;
      hub_tensor_release(slice);
      if (rc) {
        fail_with("concat");
        hub_tensor_release(out);
        return NULL;
      }
    }
    pos += part[d];
  }
  hub_node *node;
  if (hub_record_op_n(&hub_op_concat, n, ts, 1, &out, 0, &node)) {
    hub_tensor_release(out);
    return NULL;
  }
  if (node) HUB_NODE_STATE(node, concat_state)->dim = d;
  return out;
}

/* ---- split ---- */

/* The dim and the n sizes of the pieces (a flexible tail of the state). */
typedef struct split_state {
  int dim, n;
  int64_t sizes[];
} split_state;

static int split_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!hub_node_needs(n, 0)) return 0;
  const hub_edge *e = &n->edges[0];
  const split_state *c = HUB_NODE_STATE(n, split_state);
  int d = c->dim, device = e->device;
  const hub_backend *be = hub_dispatch("split", HUB_K_COPY, device, e->dtype);
  if (!be) return -1;
  hub_tensor *gx = hub_tensor_new(e->dtype, e->ndim, e->shape, device);
  if (!gx) return -1;
  int64_t pos = 0;
  for (int j = 0; j < c->n; j++) {
    if (gout[j] && c->sizes[j] > 0) {
      int64_t part[HUB_MAX_DIMS];
      memcpy(part, gx->shape, sizeof part);
      part[d] = c->sizes[j];
      hub_tensor *slice = hub_tensor_alias(gx, gx->ndim, part, gx->stride, gx->offset + pos * gx->stride[d]);
      int rc = slice ? HUB_K(be, COPY)(slice, gout[j]) : -1;
      hub_tensor_release(slice);
      if (rc) {
        hub_tensor_release(gx);
        return fail_with("split");
      }
    }
    pos += c->sizes[j];
  }
  gin[0] = gx;
  return 0;
}

HUB_OP_DEF(split, .name = "split", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = -1, .backward = split_backward,
           .state_size = sizeof(split_state));

int hub_split(hub_tensor *a, int dim, int n, const int64_t *sizes, hub_tensor **out) {
  if (!a) return hub_err("split: input is missing (nil)");
  if (!out || !sizes || n < 1) return hub_err("split: needs at least one piece (n = %d)", n);
  for (int j = 0; j < n; j++) out[j] = NULL;
  if (a->ndim == 0) return hub_err("split: cannot split a 0-d tensor");
  int d = hub_norm_dim("split", dim, a->ndim);
  if (d < 0) return -1;
  int64_t total = 0;
  for (int j = 0; j < n; j++) {
    if (sizes[j] < 0) return hub_err("split: size %d is negative (%lld)", j + 1, (long long)sizes[j]);
    if (sizes[j] > a->shape[d] - total) /* also keeps the sum from overflowing */
      return hub_err("split: sizes sum to more than dimension %d's size %lld", d + 1, (long long)a->shape[d]);
    total += sizes[j];
  }
  if (total != a->shape[d]) {
    char s[128];
    return hub_err("split: sizes sum to %lld but dimension %d of %s has size %lld", (long long)total, d + 1,
                   hub_shape_str(a, s, sizeof s), (long long)a->shape[d]);
  }
  int64_t pos = 0;
  for (int j = 0; j < n; j++) {
    int64_t part[HUB_MAX_DIMS];
    memcpy(part, a->shape, sizeof part);
    part[d] = sizes[j];
    out[j] = hub_tensor_alias(a, a->ndim, part, a->stride, a->offset + pos * a->stride[d]);
    if (!out[j]) {
      hub_release_all(j, out);
      for (int i = 0; i < j; i++) out[i] = NULL;
      return -1;
    }
    pos += sizes[j];
  }
  hub_node *node;
  if (hub_record_op_n(&hub_op_split, 1, &a, n, out, sizeof(int64_t) * (size_t)n, &node)) {
    hub_release_all(n, out);
    for (int j = 0; j < n; j++) out[j] = NULL;
    return -1;
  }
  if (node) {
    split_state *c = HUB_NODE_STATE(node, split_state);
    c->dim = d;
    c->n = n;
    memcpy(c->sizes, sizes, sizeof(int64_t) * (size_t)n);
  }
  return 0;
}
