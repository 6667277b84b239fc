/* view.c - views and copies, with their gradients.
 *
 * Views (reshape/view, transpose, permute, narrow, expand, squeeze, unsqueeze) build a new header
 * over the same storage and never copy; reshape copies only when the strides cannot express the
 * new shape.  Each records an autograd node whose backward undoes the geometry: reshape back,
 * transpose back, inverse permutation, narrow -> write into a zero tensor, expand -> sum_to.
 * Copies (contiguous, clone, dtype casts, copy_, fill_) go through the backend's copy/fill.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

/* ---- backward functions and the op table's entries ---- */

static int reshape_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  gi[0] = hub_reshape(go[0], n->edges[0].ndim, n->edges[0].shape);
  return gi[0] ? 0 : -1;
}

typedef struct transpose_state {
  int d0, d1;
} transpose_state;

static int transpose_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const transpose_state *s = HUB_NODE_STATE(n, transpose_state);
  gi[0] = go[0]->ndim == 0 ? hub_tensor_retain(go[0]) : hub_transpose(go[0], s->d0, s->d1);
  return gi[0] ? 0 : -1;
}

typedef struct permute_state {
  int perm[HUB_MAX_DIMS];
} permute_state;

static int permute_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const permute_state *s = HUB_NODE_STATE(n, permute_state);
  int inv[HUB_MAX_DIMS];
  for (int d = 0; d < n->edges[0].ndim; d++) inv[s->perm[d]] = d;
  gi[0] = hub_permute(go[0], inv);
  return gi[0] ? 0 : -1;
}

typedef struct narrow_state {
  int dim;
  int64_t start, length;
} narrow_state;

static int narrow_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const narrow_state *s = HUB_NODE_STATE(n, narrow_state);
  hub_edge *e = &n->edges[0];
  hub_tensor *g = hub_tensor_new(go[0]->dtype, e->ndim, e->shape, go[0]->device);
  if (!g) return -1;
  hub_tensor *part = hub_narrow(g, s->dim, s->start, s->length);
  int rc = part ? hub_copy_(part, go[0]) : -1;
  hub_tensor_release(part);
  if (rc) {
    hub_tensor_release(g);
    return -1;
  }
  gi[0] = g;
  return 0;
}

static int identity_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  (void)n;
  gi[0] = hub_tensor_retain(go[0]);
  return 0;
}

static int cast_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  gi[0] = hub_to_dtype(go[0], n->edges[0].dtype);
  return gi[0] ? 0 : -1;
}

/* gradients go back to the source device */
static int to_device_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  gi[0] = hub_to_device(go[0], n->edges[0].device);
  return gi[0] ? 0 : -1;
}

#define VIEW_DEF(id, bw, size) \
  HUB_OP_DEF(id, .name = #id, .arity = 1, .dtypes = HUB_DT_ANY, .kernel = -1, .backward = bw, .state_size = size)
VIEW_DEF(reshape, reshape_bw, 0);
VIEW_DEF(view, reshape_bw, 0);
VIEW_DEF(squeeze, reshape_bw, 0);
VIEW_DEF(unsqueeze, reshape_bw, 0);
VIEW_DEF(transpose, transpose_bw, sizeof(transpose_state));
VIEW_DEF(permute, permute_bw, sizeof(permute_state));
VIEW_DEF(narrow, narrow_bw, sizeof(narrow_state));
HUB_OP_DEF(clone, .name = "clone", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_COPY, .backward = identity_bw);
HUB_OP_DEF(to_dtype, .name = "to", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_COPY, .backward = cast_bw);
HUB_OP_DEF(to_device, .name = "to_device", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = -1, .backward = to_device_bw);

/* Records a one-input op on out (consumed: NULL on failure); *state gets the node's typed state,
 * NULL when nothing was recorded. */
static hub_tensor *record1(const hub_op_def *op, hub_tensor *in, hub_tensor *out, void **state) {
  if (state) *state = NULL;
  if (!out) return NULL;
  hub_node *n;
  if (hub_record_op(op, &in, 1, &out, &n)) {
    hub_tensor_release(out);
    return NULL;
  }
  if (n && state) *state = n->state;
  return out;
}

/* ---- views ---- */

/* Strides for viewing t as `shape` without copying, or false (torch's computeStride rule). */
static bool view_strides(const hub_tensor *t, int ndim, const int64_t *shape, int64_t *st) {
  int64_t numel = hub_tensor_numel(t);
  if (numel == 0 || hub_tensor_is_contiguous(t)) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
      st[i] = s;
      s *= shape[i];
    }
    return true;
  }
  int view_d = ndim - 1;
  int64_t chunk_base = t->stride[t->ndim - 1], tensor_numel = 1, view_numel = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    tensor_numel *= t->shape[d];
    if (d == 0 || (t->shape[d - 1] != 1 && t->stride[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        st[view_d] = view_numel * chunk_base;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base = t->stride[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

static int infer_shape(const char *op, const hub_tensor *t, int ndim, const int64_t *shape, int64_t *out) {
  if (ndim < 0 || ndim > HUB_MAX_DIMS) return hub_err("%s: %d dimensions (at most %d)", op, ndim, HUB_MAX_DIMS);
  if (ndim > 0 && !shape) return hub_err("%s: shape is missing (NULL)", op);
  int infer = -1;
  bool overflow = false;
  int64_t prod = 1;
  for (int i = 0; i < ndim; i++) {
    out[i] = shape[i];
    if (shape[i] == -1) {
      if (infer >= 0) return hub_err("%s: only one dimension can be -1", op);
      infer = i;
    } else if (shape[i] < 0) {
      return hub_err("%s: negative size %lld", op, (long long)shape[i]);
    } else if (__builtin_mul_overflow(prod, shape[i], &prod)) {
      overflow = true; /* cannot match any tensor's numel */
    }
  }
  int64_t numel = hub_tensor_numel(t);
  if (overflow) goto bad;
  if (infer >= 0) {
    if (prod == 0 || numel % prod) goto bad;
    out[infer] = numel / prod;
  } else if (prod != numel) {
    goto bad;
  }
  return hub_check_shape(op, ndim, out, t->dtype) < 0 ? -1 : 0;
bad:;
  char s1[128], s2[256];
  size_t k = 0;
  k += (size_t)snprintf(s2, sizeof s2, "[");
  for (int i = 0; i < ndim && k < sizeof s2; i++) k += (size_t)snprintf(s2 + k, sizeof s2 - k, i ? ",%lld" : "%lld", (long long)shape[i]);
  if (k < sizeof s2) snprintf(s2 + k, sizeof s2 - k, "]");
  return hub_err("%s: cannot reshape %s (%lld elements) to %s", op, hub_shape_str(t, s1, sizeof s1),
                 (long long)numel, s2);
}

static hub_tensor *reshape_impl(const char *op, hub_tensor *t, int ndim, const int64_t *shape, bool may_copy) {
  if (!t) return hub_errp("%s: tensor is nil", op);
  int64_t sh[HUB_MAX_DIMS], st[HUB_MAX_DIMS];
  if (infer_shape(op, t, ndim, shape, sh)) return NULL;
  hub_tensor *out;
  if (view_strides(t, ndim, sh, st)) {
    out = hub_tensor_alias(t, ndim, sh, st, t->offset);
  } else if (may_copy) {
    int prev = hub_set_grad_enabled(0);
    hub_tensor *c = hub_contiguous(t);
    hub_set_grad_enabled(prev);
    if (!c) return NULL;
    view_strides(c, ndim, sh, st);
    out = hub_tensor_alias(c, ndim, sh, st, c->offset);
    hub_tensor_release(c);
  } else {
    return hub_errp("%s: the strides of this tensor cannot be viewed as the new shape; use reshape", op);
  }
  return record1(may_copy ? &hub_op_reshape : &hub_op_view, t, out, NULL);
}

hub_tensor *hub_reshape(hub_tensor *t, int ndim, const int64_t *shape) {
  return reshape_impl("reshape", t, ndim, shape, true);
}

hub_tensor *hub_view(hub_tensor *t, int ndim, const int64_t *shape) {
  return reshape_impl("view", t, ndim, shape, false);
}

hub_tensor *hub_transpose(hub_tensor *t, int d0, int d1) {
  if (!t) return hub_errp("transpose: tensor is nil");
  if ((d0 = hub_norm_dim("transpose", d0, t->ndim)) < 0 || (d1 = hub_norm_dim("transpose", d1, t->ndim)) < 0)
    return NULL;
  if (t->ndim == 0) return record1(&hub_op_transpose, t, hub_tensor_alias(t, 0, NULL, NULL, t->offset), NULL);
  int64_t sh[HUB_MAX_DIMS], st[HUB_MAX_DIMS];
  memcpy(sh, t->shape, sizeof sh);
  memcpy(st, t->stride, sizeof st);
  sh[d0] = t->shape[d1], sh[d1] = t->shape[d0];
  st[d0] = t->stride[d1], st[d1] = t->stride[d0];
  transpose_state *s;
  hub_tensor *out = record1(&hub_op_transpose, t, hub_tensor_alias(t, t->ndim, sh, st, t->offset), (void **)&s);
  if (s) s->d0 = d0, s->d1 = d1;
  return out;
}

hub_tensor *hub_permute(hub_tensor *t, const int *perm) {
  if (!t) return hub_errp("permute: tensor is nil");
  int64_t sh[HUB_MAX_DIMS], st[HUB_MAX_DIMS];
  int args[HUB_MAX_DIMS], seen[HUB_MAX_DIMS] = {0};
  for (int i = 0; i < t->ndim; i++) {
    int p = hub_norm_dim("permute", perm[i], t->ndim);
    if (p < 0) return NULL;
    if (seen[p]++) return hub_errp("permute: dimension %d appears twice", p + 1);
    sh[i] = t->shape[p];
    st[i] = t->stride[p];
    args[i] = p;
  }
  permute_state *s;
  hub_tensor *out = record1(&hub_op_permute, t, hub_tensor_alias(t, t->ndim, sh, st, t->offset), (void **)&s);
  if (s) memcpy(s->perm, args, sizeof(int) * (size_t)t->ndim);
  return out;
}

hub_tensor *hub_narrow(hub_tensor *t, int dim, int64_t start, int64_t length) {
  if (!t) return hub_errp("narrow: tensor is nil");
  if ((dim = hub_norm_dim("narrow", dim, t->ndim)) < 0) return NULL;
  if (t->ndim == 0) return hub_errp("narrow: cannot narrow a 0-d tensor");
  if (start < 0 || length < 0 || start > t->shape[dim] || length > t->shape[dim] - start)
    return hub_errp("narrow: start %lld and length %lld out of bounds for dimension %d of size %lld",
                    (long long)(start < INT64_MAX ? start + 1 : start), (long long)length, dim + 1,
                    (long long)t->shape[dim]);
  int64_t sh[HUB_MAX_DIMS];
  memcpy(sh, t->shape, sizeof sh);
  sh[dim] = length;
  narrow_state *s;
  hub_tensor *out = record1(&hub_op_narrow, t,
                            hub_tensor_alias(t, t->ndim, sh, t->stride, t->offset + start * t->stride[dim]), (void **)&s);
  if (s) s->dim = dim, s->start = start, s->length = length;
  return out;
}

hub_tensor *hub_squeeze(hub_tensor *t, int dim) {
  if (!t) return hub_errp("squeeze: tensor is nil");
  int64_t sh[HUB_MAX_DIMS], st[HUB_MAX_DIMS];
  int n = 0;
  if (dim != -100 && (dim = hub_norm_dim("squeeze", dim, t->ndim)) < 0) return NULL;
  for (int i = 0; i < t->ndim; i++) {
    if (t->shape[i] == 1 && (dim == -100 || dim == i)) continue;
    sh[n] = t->shape[i];
    st[n++] = t->stride[i];
  }
  return record1(&hub_op_squeeze, t, hub_tensor_alias(t, n, sh, st, t->offset), NULL);
}

hub_tensor *hub_unsqueeze(hub_tensor *t, int dim) {
  if (!t) return hub_errp("unsqueeze: tensor is nil");
  if (t->ndim >= HUB_MAX_DIMS) return hub_errp("unsqueeze: tensor already has %d dimensions", HUB_MAX_DIMS);
  if ((dim = hub_norm_dim("unsqueeze", dim, t->ndim + 1)) < 0) return NULL;
  int64_t sh[HUB_MAX_DIMS], st[HUB_MAX_DIMS];
  for (int i = 0, j = 0; i <= t->ndim; i++) {
    if (i == dim) {
      sh[i] = 1;
      st[i] = j < t->ndim ? t->stride[j] * t->shape[j] : 1;
    } else {
      sh[i] = t->shape[j];
      st[i] = t->stride[j++];
    }
  }
  return record1(&hub_op_unsqueeze, t, hub_tensor_alias(t, t->ndim + 1, sh, st, t->offset), NULL);
}

/* ---- copies ---- */

int hub_copy_(hub_tensor *dst, hub_tensor *src) {
  if (!dst || !src) return hub_err("copy: tensor is nil");
  if (hub_check_same_device("copy", dst, src)) return -1;
  hub_tensor *s = src;
  if (!hub_same_shape(dst, src)) {
    s = hub_expand_raw(src, dst->ndim, dst->shape);
    if (!s) return -1;
  }
  const hub_backend *b = hub_dispatch(NULL, HUB_K_COPY, dst->device, -1);
  int rc = b ? HUB_K(b, COPY)(dst, s) : -1;
  if (s != src) hub_tensor_release(s);
  return rc;
}

/* A value for an integer dtype must be an integer that the dtype holds: converting anything
 * else silently (300 -> 44 in u8, 2^63 -> INT64_MIN) gives wrong numbers without a word. */
int hub_check_int_value(const char *op, double v, int dtype) {
  double lo, hi; /* [lo, hi): exact powers of two, so the comparisons are exact */
  long long max;
  switch (dtype) {
    case HUB_I32: lo = -2147483648.0, hi = 2147483648.0, max = INT32_MAX; break;
    case HUB_I64: lo = -9223372036854775808.0, hi = 9223372036854775808.0, max = INT64_MAX; break;
    case HUB_U8: lo = 0, hi = 256, max = 255; break;
    default: return 0;
  }
  if (!isfinite(v)) return hub_err("%s: value %g is not a finite number (dtype %s)", op, v, hub_dtype_name(dtype));
  if (v != floor(v)) return hub_err("%s: value %.17g is not an integer (dtype %s)", op, v, hub_dtype_name(dtype));
  if (v < lo || v >= hi)
    return hub_err("%s: value %.17g is out of range for %s (%.0f to %lld)", op, v, hub_dtype_name(dtype), lo, max);
  return 0;
}

int hub_fill_(hub_tensor *t, double value) {
  if (!t) return hub_err("fill: tensor is nil");
  if (hub_check_int_value("fill", value, t->dtype)) return -1;
  const hub_backend *b = hub_backend_for(t->device);
  if (!b) return -1;
  /* a backend without a fill kernel still zeroes its fresh (contiguous) tensors */
  if (value == 0 && !hub_backend_supports(b, HUB_K_FILL, t->dtype) && hub_tensor_is_contiguous(t))
    return b->buffer.memset_bytes(t->data, 0, (size_t)hub_tensor_numel(t) * hub_dtype_size(t->dtype));
  if (!hub_dispatch("fill", HUB_K_FILL, t->device, t->dtype)) return -1;
  return HUB_K(b, FILL)(t, value);
}

static hub_tensor *copy_as(const char *op, hub_tensor *t, int dtype) {
  hub_tensor *c = hub_tensor_empty(dtype, t->ndim, t->shape, t->device);
  if (c && hub_copy_(c, t)) {
    hub_tensor_release(c);
    return NULL;
  }
  return c;
}

hub_tensor *hub_contiguous(hub_tensor *t) {
  if (!t) return hub_errp("contiguous: tensor is nil");
  if (hub_tensor_is_contiguous(t)) return hub_tensor_retain(t);
  return hub_clone(t);
}

hub_tensor *hub_clone(hub_tensor *t) {
  if (!t) return hub_errp("clone: tensor is nil");
  return record1(&hub_op_clone, t, copy_as("clone", t, t->dtype), NULL);
}

hub_tensor *hub_to_dtype(hub_tensor *t, int dtype) {
  if (!t) return hub_errp("to: tensor is nil");
  if (dtype < 0 || dtype >= HUB_DTYPE_COUNT) return hub_errp("to: unknown dtype %d", dtype);
  if (t->dtype == dtype) return hub_tensor_retain(t);
  hub_tensor *c = copy_as("to", t, dtype);
  if (c && hub_dtype_is_float(dtype) && hub_dtype_is_float(t->dtype)) return record1(&hub_op_to_dtype, t, c, NULL);
  return c;
}

/* Copies the bytes of a contiguous tensor between devices through their buffer interfaces: host
 * to device and device to host directly, device to device within one backend with copy_d2d,
 * between two non-CPU backends through a host buffer. */
static int copy_between(hub_tensor *dst, const hub_tensor *src) {
  const hub_backend *from = hub_backend_for(src->device), *to = hub_backend_for(dst->device);
  if (!from || !to) return -1;
  size_t n = (size_t)hub_tensor_numel(src) * hub_dtype_size(src->dtype);
  if (src->device == HUB_CPU) return to->buffer.copy_in(dst->data, src->data, n);
  if (dst->device == HUB_CPU) return from->buffer.copy_out(dst->data, src->data, n);
  if (from == to) return from->buffer.copy_d2d(dst->data, src->data, n);
  void *host = hub_cpu_alloc(n ? n : 1);
  if (!host) return -1;
  int rc = from->buffer.copy_out(host, src->data, n);
  if (rc == 0) rc = to->buffer.copy_in(dst->data, host, n);
  hub_cpu_free(host, n ? n : 1);
  return rc;
}

hub_tensor *hub_to_device(hub_tensor *t, int device) {
  if (!t) return hub_errp("to: tensor is nil");
  if (t->device == device) return hub_tensor_retain(t);
  const hub_backend *to = hub_backend_for(device);
  if (!to || !hub_backend_for(t->device)) return NULL;
  if (!to->buffer.copy_in) return hub_errp("to: the %s backend cannot copy memory", to->name);
  HUB_NO_GRAD_BEGIN;
  hub_tensor *c = hub_contiguous(t); /* on t's device */
  HUB_NO_GRAD_END;
  hub_tensor *out = c ? hub_tensor_empty(t->dtype, t->ndim, t->shape, device) : NULL;
  if (out && copy_between(out, c)) {
    hub_tensor_release(out);
    out = NULL;
  }
  hub_tensor_release(c);
  return record1(&hub_op_to_device, t, out, NULL);
}

int hub_item(const char *op, hub_tensor *t, double *v) {
  if (!t || hub_tensor_numel(t) < 1) return hub_err("%s: expected a tensor with at least one element", op);
  if (t->device == HUB_CPU) {
    *v = hub_tensor_get(t, 0);
    return 0;
  }
  hub_tensor *first = hub_tensor_alias(t, 0, NULL, NULL, t->offset); /* element 0, any strides */
  HUB_NO_GRAD_BEGIN;
  hub_tensor *host = first ? hub_to_device(first, HUB_CPU) : NULL;
  HUB_NO_GRAD_END;
  if (host) *v = hub_tensor_get(host, 0);
  hub_tensor_release(host);
  hub_tensor_release(first);
  return host ? 0 : -1;
}

hub_tensor *hub_contiguous_f32(hub_tensor *t) {
  hub_tensor *f = hub_to_dtype(t, HUB_F32);
  if (!f) return NULL;
  hub_tensor *c = hub_contiguous(f);
  hub_tensor_release(f);
  return c;
}
