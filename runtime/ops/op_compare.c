/* op_compare.c - comparisons, logic and the other ops on any dtype: eq, ne, lt, le, gt, ge,
 * logical_and / or / not, any / all, masked_select, clamp, sign / floor / ceil / round, min /
 * argmin, and the helpers that the arithmetic of op_arith.c uses for integer tensors.
 *
 * Both operands are promoted to one compute dtype (hub_promote_types: PyTorch's rules; f16 and
 * bf16 are computed in f32, which holds them exactly), converted with hub_to_dtype under no-grad,
 * expanded to the broadcast shape as raw views (strides of 0) and handed to the backend's
 * binary_any slot, which writes a bool tensor for comparisons and logical ops.  These results
 * are not differentiable and nothing is recorded.
 *
 * A number operand becomes a 0-d tensor of the dtype PyTorch gives a Python scalar next to that
 * tensor (hub_scalar_for): x:gt(0) on an i64 x compares in i64, x:gt(0.5) in f32.
 *
 * clamp records a node whose backward passes the gradient where lo <= x <= hi (as torch);
 * sign, floor, ceil and round record a node whose gradient is zero (torch gives zeros, not
 * nothing); masked_select records one whose backward scatters the gradient back to the selected
 * positions of a zero tensor (and the broadcast of the input is an expand, so its own node sums
 * the gradient down to the input's shape).  any / all are a truth map, a sum and a comparison.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

static int check_any(const char *op, const char *arg, const hub_tensor *t) {
  if (!t) return hub_err("%s: %s is missing (nil)", op, arg);
  if (t->dtype < 0 || t->dtype >= HUB_DTYPE_COUNT) return hub_err("%s: %s has an unknown dtype", op, arg);
  return 0;
}

/* t converted to dtype dt with autograd off (a new reference). */
static hub_tensor *cast_raw(hub_tensor *t, int dt) {
  HUB_NO_GRAD_BEGIN;
  hub_tensor *r = hub_to_dtype(t, dt);
  HUB_NO_GRAD_END;
  return r;
}

hub_tensor *hub_binary_any(const char *name, int op, hub_tensor *a, hub_tensor *b, int ct) {
  if (check_any(name, "input", a) || check_any(name, "other", b) || hub_check_same_device(name, a, b))
    return NULL;
  if (ct == HUB_F16 || ct == HUB_BF16) ct = HUB_F32;
  int64_t shape[HUB_MAX_DIMS];
  int nd = hub_broadcast_shape(name, a, b, shape);
  if (nd < 0) return NULL;
  const hub_backend *be = hub_dispatch(name, HUB_K_BINARY_ANY, a->device, -1);
  if (!be) return NULL;
  int out_dt = (op >= HUB_BIN_EQ || ct == HUB_BOOL) ? HUB_BOOL : ct;
  hub_tensor *ca = cast_raw(a, ct);
  hub_tensor *cb = ca ? cast_raw(b, ct) : NULL;
  hub_tensor *ea = cb ? hub_expand_raw(ca, nd, shape) : NULL;
  hub_tensor *eb = ea ? hub_expand_raw(cb, nd, shape) : NULL;
  hub_tensor *out = eb ? hub_tensor_empty(out_dt, nd, shape, a->device) : NULL;
  if (out && HUB_K(be, BINARY_ANY)(op, ea, eb, out) != 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", hub_last_error());
    hub_err("%s: %s", name, msg);
    hub_tensor_release(out);
    out = NULL;
  }
  hub_tensor *tmp[4] = {ca, cb, ea, eb};
  hub_release_all(4, tmp);
  return out;
}

hub_tensor *hub_map(const char *name, int op, hub_tensor *x) {
  if (check_any(name, "input", x)) return NULL;
  const hub_backend *be = hub_dispatch(name, HUB_K_MAP, x->device, -1);
  if (!be) return NULL;
  int ct = (x->dtype == HUB_F16 || x->dtype == HUB_BF16) ? HUB_F32 : x->dtype;
  hub_tensor *cx = cast_raw(x, ct);
  int out_dt = (op == HUB_MAP_NOT || op == HUB_MAP_TRUTH) ? HUB_BOOL : ct;
  hub_tensor *out = cx ? hub_tensor_empty(out_dt, cx->ndim, cx->shape, x->device) : NULL;
  if (out && HUB_K(be, MAP)(op, cx, out) != 0) {
    hub_tensor_release(out);
    out = NULL;
  }
  hub_tensor_release(cx);
  if (out && out_dt != HUB_BOOL && out_dt != x->dtype) { /* back to f16 / bf16 */
    hub_tensor *r = cast_raw(out, x->dtype);
    hub_tensor_release(out);
    out = r;
  }
  return out;
}

hub_tensor *hub_scalar_for(const hub_tensor *t, double s) {
  if (!t) return hub_errp("scalar: tensor is NULL");
  int dt = t->dtype == HUB_F64 ? HUB_F64
           : hub_dtype_is_float(t->dtype) ? HUB_F32 : hub_result_type_scalar(t->dtype, s);
  if (dt < 0) return NULL;
  /* an integral number outside an integer dtype's range wraps as in PyTorch (u8 + -3 = u8 + 253);
   * fill_ itself refuses such values, so the value is brought into range first */
  if (!hub_dtype_is_float(dt) && dt != HUB_BOOL && s >= -9223372036854775808.0 && s < 9223372036854775808.0) {
    int64_t iv = (int64_t)s;
    if (dt == HUB_U8) s = (double)(uint8_t)(uint64_t)iv;
    else if (dt == HUB_I32) s = (double)(int32_t)(uint32_t)(uint64_t)iv;
  }
  hub_tensor *r = hub_tensor_empty(dt, 0, NULL, t->device);
  if (r && hub_fill_(r, s) != 0) {
    hub_tensor_release(r);
    return NULL;
  }
  return r;
}

/* ---- comparisons and logic ---- */

static hub_tensor *compare(const char *name, int op, hub_tensor *a, hub_tensor *b) {
  if (check_any(name, "input", a) || check_any(name, "other", b)) return NULL;
  int ct = hub_promote_types(a->dtype, b->dtype);
  if (ct < 0) return NULL;
  return hub_binary_any(name, op, a, b, ct);
}

hub_tensor *hub_eq(hub_tensor *a, hub_tensor *b) { return compare("eq", HUB_BIN_EQ, a, b); }
hub_tensor *hub_ne(hub_tensor *a, hub_tensor *b) { return compare("ne", HUB_BIN_NE, a, b); }
hub_tensor *hub_lt(hub_tensor *a, hub_tensor *b) { return compare("lt", HUB_BIN_LT, a, b); }
hub_tensor *hub_le(hub_tensor *a, hub_tensor *b) { return compare("le", HUB_BIN_LE, a, b); }
hub_tensor *hub_gt(hub_tensor *a, hub_tensor *b) { return compare("gt", HUB_BIN_GT, a, b); }
hub_tensor *hub_ge(hub_tensor *a, hub_tensor *b) { return compare("ge", HUB_BIN_GE, a, b); }
hub_tensor *hub_logical_and(hub_tensor *a, hub_tensor *b) { return compare("logical_and", HUB_BIN_AND, a, b); }
hub_tensor *hub_logical_or(hub_tensor *a, hub_tensor *b) { return compare("logical_or", HUB_BIN_OR, a, b); }
hub_tensor *hub_logical_not(hub_tensor *a) { return hub_map("logical_not", HUB_MAP_NOT, a); }

/* any: sum(x != 0) > 0; all: sum(x == 0) == 0. */
static hub_tensor *any_all(const char *name, int all, hub_tensor *a, int ndims, const int *dims,
                           int keepdim) {
  if (check_any(name, "input", a)) return NULL;
  HUB_NO_GRAD_BEGIN;
  hub_tensor *t = hub_map(name, all ? HUB_MAP_NOT : HUB_MAP_TRUTH, a);
  hub_tensor *s = t ? hub_sum(t, ndims, dims, keepdim) : NULL;
  hub_tensor *zero = s ? hub_tensor_new(HUB_I64, 0, NULL, a->device) : NULL;
  hub_tensor *out = zero ? hub_binary_any(name, all ? HUB_BIN_EQ : HUB_BIN_GT, s, zero, HUB_I64) : NULL;
  HUB_NO_GRAD_END;
  hub_tensor *tmp[3] = {t, s, zero};
  hub_release_all(3, tmp);
  return out;
}

hub_tensor *hub_any(hub_tensor *a, int ndims, const int *dims, int keepdim) {
  return any_all("any", 0, a, ndims, dims, keepdim);
}
hub_tensor *hub_all(hub_tensor *a, int ndims, const int *dims, int keepdim) {
  return any_all("all", 1, a, ndims, dims, keepdim);
}

/* ---- masked_select ---- */

/* The mask, contiguous of the broadcast shape. */
typedef struct masked_select_state {
  hub_tensor *mask;
} masked_select_state;

static int masked_select_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  if (!hub_node_needs(n, 0)) return 0;
  const hub_edge *e = &n->edges[0];
  hub_tensor *mask = HUB_NODE_STATE(n, masked_select_state)->mask;
  const hub_backend *be = hub_dispatch(n->name, HUB_K_MASKED_SCATTER, mask->device, -1);
  int gdt = e->dtype == HUB_F64 ? HUB_F64 : HUB_F32;
  hub_tensor *gx = be ? hub_tensor_new(gdt, e->ndim, e->shape, mask->device) : NULL;
  if (!gx) return -1;
  if (go[0]) {
    hub_tensor *gc = hub_to_dtype(go[0], gdt), *g = gc ? hub_contiguous(gc) : NULL;
    hub_tensor_release(gc);
    int rc = g ? HUB_K(be, MASKED_SCATTER)(gx, mask, g) : -1;
    hub_tensor_release(g);
    if (rc) {
      hub_tensor_release(gx);
      return -1;
    }
  }
  if (e->dtype != gdt) {
    hub_tensor *c = hub_to_dtype(gx, e->dtype);
    hub_tensor_release(gx);
    gx = c;
    if (!gx) return -1;
  }
  gi[0] = gx;
  return 0;
}

HUB_OP_DEF(masked_select, .name = "masked_select", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_MASKED_SELECT,
           .backward = masked_select_bw, .state_size = sizeof(masked_select_state));

hub_tensor *hub_masked_select(hub_tensor *a, hub_tensor *mask) {
  if (check_any("masked_select", "input", a)) return NULL;
  if (!mask) return hub_errp("masked_select: mask is missing (nil)");
  if (mask->dtype != HUB_BOOL && mask->dtype != HUB_U8)
    return hub_errp("masked_select: expected mask to be a bool or u8 tensor, got %s",
                    hub_dtype_name(mask->dtype));
  if (hub_check_same_device("masked_select", a, mask)) return NULL;
  int64_t shape[HUB_MAX_DIMS];
  int nd = hub_broadcast_shape("masked_select", a, mask, shape);
  if (nd < 0) return NULL;
  const hub_backend *be = hub_dispatch("masked_select", HUB_K_MASKED_SELECT, a->device, -1);
  if (!be) return NULL;
  hub_tensor *ea = hub_expand(a, nd, shape); /* recorded: its backward sums back to a's shape */
  hub_tensor *xa = ea ? hub_contiguous(ea) : NULL;
  hub_tensor *em = xa ? hub_expand_raw(mask, nd, shape) : NULL;
  hub_tensor *mb = NULL, *cnt = NULL, *out = NULL;
  if (em) {
    HUB_NO_GRAD_BEGIN;
    mb = hub_map("masked_select", HUB_MAP_TRUTH, em); /* contiguous bool 0/1 */
    cnt = mb ? hub_sum(mb, 0, NULL, 0) : NULL;
    HUB_NO_GRAD_END;
  }
  double count;
  if (cnt && hub_item("masked_select", cnt, &count) == 0) {
    int64_t k = (int64_t)count;
    out = hub_tensor_empty(a->dtype, 1, &k, a->device);
    if (out && HUB_K(be, MASKED_SELECT)(xa, mb, out) != 0) {
      hub_tensor_release(out);
      out = NULL;
    }
  }
  if (out) {
    hub_node *node;
    int rc = hub_record_op(&hub_op_masked_select, &xa, 1, &out, &node);
    if (rc == 0 && node) rc = hub_node_keep(node, &HUB_NODE_STATE(node, masked_select_state)->mask, mb);
    hub_fail_release(rc, &out);
  }
  hub_tensor *tmp[5] = {ea, xa, em, mb, cnt};
  hub_release_all(5, tmp);
  return out;
}

/* ---- clamp ---- */

/* The input (f32 or f64) and the bounds. */
typedef struct clamp_state {
  hub_tensor *x;
  double lo, hi;
} clamp_state;

static int clamp_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  if (!hub_node_needs(n, 0) || !go[0]) return 0;
  const clamp_state *s = HUB_NODE_STATE(n, clamp_state);
  hub_tensor *x = s->x;
  hub_tensor *lo = hub_scalar_for(x, s->lo), *hi = lo ? hub_scalar_for(x, s->hi) : NULL;
  hub_tensor *m1 = hi ? hub_ge(x, lo) : NULL, *m2 = m1 ? hub_le(x, hi) : NULL;
  hub_tensor *m = m2 ? hub_logical_and(m1, m2) : NULL;
  hub_tensor *mf = m ? hub_to_dtype(m, HUB_F32) : NULL;
  gi[0] = mf ? hub_mul(go[0], mf) : NULL;
  hub_tensor *tmp[6] = {lo, hi, m1, m2, m, mf};
  hub_release_all(6, tmp);
  return gi[0] ? 0 : -1;
}

HUB_OP_DEF(clamp, .name = "clamp", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_BINARY_ANY, .backward = clamp_bw,
           .state_size = sizeof(clamp_state));

hub_tensor *hub_clamp(hub_tensor *a, double lo, double hi) {
  if (check_any("clamp", "input", a)) return NULL;
  if (lo != lo || hi != hi) return hub_errp("clamp: a bound is NaN");
  int rt = a->dtype;
  if (!hub_dtype_is_float(rt)) {
    if ((isfinite(lo) && hub_result_type_scalar(rt, lo) == HUB_F32) ||
        (isfinite(hi) && hub_result_type_scalar(rt, hi) == HUB_F32))
      rt = HUB_F32;
  }
  int ct = rt == HUB_F64 ? HUB_F64 : hub_dtype_is_float(rt) ? HUB_F32 : rt;
  hub_tensor *x = hub_dtype_is_float(a->dtype) ? hub_to_dtype(a, ct) : cast_raw(a, ct);
  if (!x) return NULL;
  /* bounds outside an integer dtype's range (inf included) clamp nothing */
  double big = ct == HUB_I32 ? 2147483647.0 : ct == HUB_U8 || ct == HUB_BOOL ? 255.0 : 9.2e18;
  int fl = hub_dtype_is_float(ct);
  double l = fl ? lo : (lo < -big ? -big : lo > big ? big : lo);
  double h = fl ? hi : (hi < -big ? -big : hi > big ? big : hi);
  if (ct == HUB_U8 && l < 0) l = 0;
  hub_tensor *tl = hub_tensor_empty(ct, 0, NULL, a->device), *th = hub_tensor_empty(ct, 0, NULL, a->device);
  hub_tensor *r1 = NULL, *out = NULL;
  if (tl && th && hub_fill_(tl, l) == 0 && hub_fill_(th, h) == 0) {
    r1 = hub_binary_any("clamp", HUB_BIN_MAX, x, tl, ct);
    out = r1 ? hub_binary_any("clamp", HUB_BIN_MIN, r1, th, ct) : NULL;
  }
  if (out && hub_dtype_is_float(a->dtype)) {
    hub_node *node;
    int rc = hub_record_op(&hub_op_clamp, &x, 1, &out, &node);
    if (rc == 0 && node) {
      clamp_state *s = HUB_NODE_STATE(node, clamp_state);
      s->lo = lo;
      s->hi = hi;
      rc = hub_node_keep(node, &s->x, x);
    }
    hub_fail_release(rc, &out);
  }
  hub_tensor *tmp[4] = {x, tl, th, r1};
  hub_release_all(4, tmp);
  if (out && out->dtype != rt) {
    hub_tensor *c = hub_to_dtype(out, rt);
    hub_tensor_release(out);
    out = c;
  }
  return out;
}

/* ---- sign, floor, ceil, round: piecewise constant, zero gradient ---- */

static int zero_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  (void)go;
  if (!hub_node_needs(n, 0)) return 0;
  const hub_edge *e = &n->edges[0];
  gi[0] = hub_tensor_new(e->dtype, e->ndim, e->shape, e->device);
  return gi[0] ? 0 : -1;
}

#define PIECEWISE_DEF(id) \
  HUB_OP_DEF(id, .name = #id, .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_MAP, .backward = zero_bw)
PIECEWISE_DEF(sign);
PIECEWISE_DEF(floor);
PIECEWISE_DEF(ceil);
PIECEWISE_DEF(round);

static hub_tensor *piecewise(const hub_op_def *def, int op, hub_tensor *a) {
  hub_tensor *out = hub_map(def->name, op, a);
  hub_node *node;
  if (out && hub_dtype_is_float(a->dtype)) hub_fail_release(hub_record_op(def, &a, 1, &out, &node), &out);
  return out;
}

hub_tensor *hub_sign(hub_tensor *a) { return piecewise(&hub_op_sign, HUB_MAP_SIGN, a); }
hub_tensor *hub_floor(hub_tensor *a) { return piecewise(&hub_op_floor, HUB_MAP_FLOOR, a); }
hub_tensor *hub_ceil(hub_tensor *a) { return piecewise(&hub_op_ceil, HUB_MAP_CEIL, a); }
hub_tensor *hub_round(hub_tensor *a) { return piecewise(&hub_op_round, HUB_MAP_ROUND, a); }

/* ---- min / argmin: the max of the negation ---- */

static int min_impl(const char *op, hub_tensor *a, int dim, int keepdim, hub_tensor **values,
                    hub_tensor **indices) {
  if (check_any(op, "input", a)) return -1;
  int isf = hub_dtype_is_float(a->dtype);
  hub_tensor *x = isf ? hub_tensor_retain(a) : cast_raw(a, HUB_F32);
  hub_tensor *nx = x ? hub_neg(x) : NULL;
  hub_tensor_release(x);
  if (!nx) return -1;
  int rc = 0;
  if (indices) {
    *indices = hub_argmax(nx, dim, keepdim);
    if (!*indices) rc = -1;
  }
  if (rc == 0 && values) {
    hub_tensor *m = hub_max(nx, dim, keepdim);
    hub_tensor *v = m ? hub_neg(m) : NULL;
    hub_tensor_release(m);
    if (v && !isf) {
      hub_tensor *c = cast_raw(v, a->dtype);
      hub_tensor_release(v);
      v = c;
    }
    *values = v;
    if (!v) {
      rc = -1;
      if (indices) hub_tensor_release(*indices);
    }
  }
  hub_tensor_release(nx);
  if (rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", hub_last_error());
    if (!strncmp(msg, "max: ", 5) || !strncmp(msg, "argmax: ", 8))
      hub_err("%s: %s", op, strchr(msg, ' ') + 1);
  }
  return rc;
}

hub_tensor *hub_min(hub_tensor *a, int dim, int keepdim) {
  hub_tensor *v = NULL;
  return min_impl("min", a, dim, keepdim, &v, NULL) ? NULL : v;
}

hub_tensor *hub_argmin(hub_tensor *a, int dim, int keepdim) {
  hub_tensor *i = NULL;
  return min_impl("argmin", a, dim, keepdim, NULL, &i) ? NULL : i;
}
