/* op_pow.c - elementwise ops between two tensors beyond + - * /: pow (tensor ^ tensor and
 * number ^ tensor), fmod and remainder, with broadcasting, promotion and gradients.
 *
 * Integer results are computed exactly by the backend's binary_any in their own dtype (no
 * autograd).  Float results are computed in f32: both operands go through the recorded
 * hub_to_dtype, binary_any computes, and a node is recorded whose backward is written with the
 * ops themselves (grad mode is off during backward) and sums each gradient down to its input's
 * shape.  The node saves the two inputs, never the output (no reference cycle):
 *   pow:        d/da = b a^(b-1);   d/db = a^b log(a), taken as 0 where a == 0 (as torch)
 *   fmod:       d/da = 1;           d/db = -trunc(a / b)
 *   remainder:  d/da = 1;           d/db = -floor(a / b)
 */
#include <math.h>

#include "backend.h"

static int give_owned(hub_node *n, int i, hub_tensor *g, hub_tensor **gi) {
  if (!g) return -1;
  gi[i] = hub_sum_to(g, n->edges[i].ndim, n->edges[i].shape);
  hub_tensor_release(g);
  return gi[i] ? 0 : -1;
}

static hub_tensor *to_result(hub_tensor *out, int rt) {
  if (!out || rt == HUB_F32 || !hub_dtype_is_float(rt)) return out;
  hub_tensor *c = hub_to_dtype(out, rt);
  hub_tensor_release(out);
  return c;
}

/* The two operands (f32 or f64); floor: remainder (the quotient rounded down), else fmod
 * (towards zero). */
typedef struct pow_state {
  hub_tensor *a, *b;
  int floor;
} pow_state;

static int pow_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const pow_state *s = HUB_NODE_STATE(n, pow_state);
  hub_tensor *a = s->a, *b = s->b, *g = go[0];
  if (!g) return 0;
  if (hub_node_needs(n, 0)) {
    hub_tensor *bm1 = hub_add_scalar(b, -1.0);
    hub_tensor *p = bm1 ? hub_pow_tensor(a, bm1) : NULL;
    hub_tensor *bp = p ? hub_mul(b, p) : NULL;
    int rc = give_owned(n, 0, bp ? hub_mul(g, bp) : NULL, gi);
    hub_tensor *tmp[3] = {bm1, p, bp};
    hub_release_all(3, tmp);
    if (rc) return -1;
  }
  if (hub_node_needs(n, 1)) {
    hub_tensor *p = hub_pow_tensor(a, b);
    hub_tensor *la = p ? hub_log(a) : NULL;
    hub_tensor *t = la ? hub_mul(p, la) : NULL;
    hub_tensor *zero = t ? hub_tensor_new(HUB_F32, 0, NULL, a->device) : NULL;
    hub_tensor *z = zero ? hub_eq(a, zero) : NULL;
    hub_tensor *w = z ? hub_where(z, zero, t) : NULL;
    int rc = give_owned(n, 1, w ? hub_mul(g, w) : NULL, gi);
    hub_tensor *tmp[6] = {p, la, t, zero, z, w};
    hub_release_all(6, tmp);
    if (rc) return -1;
  }
  return 0;
}

static int mod_bw(hub_node *n, hub_tensor **go, hub_tensor **gi);
HUB_OP_DEF(pow, .name = "pow", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_BINARY_ANY, .backward = pow_bw,
           .state_size = sizeof(pow_state));
HUB_OP_DEF(fmod, .name = "fmod", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_BINARY_ANY, .backward = mod_bw,
           .state_size = sizeof(pow_state));
HUB_OP_DEF(remainder, .name = "remainder", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_BINARY_ANY,
           .backward = mod_bw, .state_size = sizeof(pow_state));

static int mod_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const pow_state *s = HUB_NODE_STATE(n, pow_state);
  hub_tensor *a = s->a, *b = s->b, *g = go[0];
  if (!g) return 0;
  if (hub_node_needs(n, 0) && give_owned(n, 0, hub_tensor_retain(g), gi)) return -1;
  if (hub_node_needs(n, 1)) {
    hub_tensor *q = hub_div(a, b);
    hub_tensor *r = NULL;
    if (q && s->floor) {
      r = hub_floor(q);
    } else if (q) { /* trunc(q) = q - fmod(q, 1) */
      hub_tensor *one = hub_tensor_new(HUB_F32, 0, NULL, a->device);
      hub_tensor *f = one && hub_fill_(one, 1.0) == 0 ? hub_fmod(q, one) : NULL;
      r = f ? hub_sub(q, f) : NULL;
      hub_tensor_release(f);
      hub_tensor_release(one);
    }
    hub_tensor *gr = r ? hub_mul(g, r) : NULL;
    int rc = give_owned(n, 1, gr ? hub_neg(gr) : NULL, gi);
    hub_tensor_release(gr);
    hub_tensor_release(r);
    hub_tensor_release(q);
    if (rc) return -1;
  }
  return 0;
}

static hub_tensor *float_binary(const hub_op_def *def, int op, hub_tensor *a, hub_tensor *b) {
  const char *name = def->name;
  if (!a) return hub_errp("%s: input is missing (nil)", name);
  if (!b) return hub_errp("%s: other is missing (nil)", name);
  int rt = hub_promote_types(a->dtype, b->dtype);
  if (rt < 0) return NULL;
  if (!hub_dtype_is_float(rt)) return hub_binary_any(name, op, a, b, rt);
  int ct = rt == HUB_F64 ? HUB_F64 : HUB_F32;
  hub_tensor *a32 = hub_to_dtype(a, ct);
  hub_tensor *b32 = a32 ? hub_to_dtype(b, ct) : NULL;
  hub_tensor *out = b32 ? hub_binary_any(name, op, a32, b32, ct) : NULL;
  if (out) {
    hub_tensor *ins[2] = {a32, b32};
    hub_node *node;
    int rc = hub_record_op(def, ins, 1, &out, &node);
    if (rc == 0 && node) {
      pow_state *s = HUB_NODE_STATE(node, pow_state);
      s->floor = op == HUB_BIN_REMAINDER;
      rc = hub_node_keep(node, &s->a, a32) || hub_node_keep(node, &s->b, b32);
    }
    hub_fail_release(rc, &out);
  }
  hub_tensor_release(a32);
  hub_tensor_release(b32);
  return to_result(out, rt);
}

hub_tensor *hub_pow_tensor(hub_tensor *a, hub_tensor *b) {
  return float_binary(&hub_op_pow, HUB_BIN_POW, a, b);
}
hub_tensor *hub_fmod(hub_tensor *a, hub_tensor *b) {
  return float_binary(&hub_op_fmod, HUB_BIN_FMOD, a, b);
}
hub_tensor *hub_remainder(hub_tensor *a, hub_tensor *b) {
  return float_binary(&hub_op_remainder, HUB_BIN_REMAINDER, a, b);
}

hub_tensor *hub_rpow_scalar(hub_tensor *a, double s) {
  if (!a) return hub_errp("pow: exponent is missing (nil)");
  hub_tensor *st = hub_scalar_for(a, s);
  if (!st) return NULL;
  hub_tensor *out = hub_pow_tensor(st, a);
  hub_tensor_release(st);
  if (out && hub_dtype_is_float(a->dtype)) out = to_result(out, a->dtype);
  return out;
}
