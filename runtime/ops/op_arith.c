/* op_arith.c - elementwise arithmetic ops and their gradients: add, sub, mul, div (with
 * broadcasting), the in-place add_, the scalar forms (a + s, a * s, s - a, s / a, a ^ p), the
 * unary functions (neg, exp, log, sqrt, rsqrt, abs, relu, tanh, sigmoid, gelu) and where /
 * masked_fill.
 *
 * Each op checks its arguments and names itself in the error ("add: shapes [2,3] and [4,5]
 * cannot be broadcast together"), converts f16/bf16 inputs to f32 with hub_to_dtype (which is
 * differentiable, so gradients flow back through the cast), computes through the backend table
 * of the inputs' device, and records an autograd node.
 *
 * Binary ops expand both inputs to the broadcast shape as raw views (strides of 0, no copy) and
 * the kernel walks the strides.  Their backward functions are written with the ops themselves
 * (grad mode is off during backward) and reduce each gradient to its input's shape with
 * hub_sum_to.  mul and div save their two inputs, never the output, so no reference cycle
 * forms between a tensor and its own node.
 *
 * Unary ops need a contiguous f32 input (oneDNN eltwise works on dense memory): a strided view
 * is copied under no-grad, and the autograd edge still points at the original tensor.  The
 * copy is what the node saves; the backward calls the backend's unary_backward with it.  Ops
 * that are affine in x (neg, a + s, a * s, s - a) save nothing and differentiate with ops.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"

/* ---- helpers ---- */

/* Gradient for input i: g (borrowed) summed down to the input's shape. */
static int give(hub_node *n, int i, hub_tensor *g, hub_tensor **gi) {
  if (!hub_node_needs(n, i)) return 0;
  if (!g) return -1;
  gi[i] = hub_sum_to(g, n->edges[i].ndim, n->edges[i].shape);
  return gi[i] ? 0 : -1;
}

/* The same, taking ownership of g (NULL: a failed computation, the error is already set). */
static int give_owned(hub_node *n, int i, hub_tensor *g, hub_tensor **gi) {
  int rc = give(n, i, g, gi);
  hub_tensor_release(g);
  return rc;
}


/* ---- binary ops ---- */

/* The typed backward state of mul and div: their two operands (never the output, so no
 * reference cycle forms between a tensor and its own node). */
typedef struct binary_state {
  hub_tensor *a, *b;
} binary_state;

static int add_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  if (give(n, 0, go[0], gi)) return -1;
  return give(n, 1, go[0], gi);
}

static int sub_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  if (give(n, 0, go[0], gi)) return -1;
  if (!hub_node_needs(n, 1)) return 0;
  return give_owned(n, 1, hub_neg(go[0]), gi);
}

static int mul_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const binary_state *s = HUB_NODE_STATE(n, binary_state);
  hub_tensor *a = s->a, *b = s->b;
  if (hub_node_needs(n, 0) && give_owned(n, 0, hub_mul(go[0], b), gi)) return -1;
  if (hub_node_needs(n, 1) && give_owned(n, 1, hub_mul(go[0], a), gi)) return -1;
  return 0;
}

/* d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -(g/b) * a / b. */
static int div_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const binary_state *s = HUB_NODE_STATE(n, binary_state);
  hub_tensor *a = s->a, *b = s->b;
  hub_tensor *ga = hub_div(go[0], b);
  if (!ga) return -1;
  int rc = give(n, 0, ga, gi);
  if (rc == 0 && hub_node_needs(n, 1)) {
    hub_tensor *t = hub_mul(ga, a);
    hub_tensor *u = t ? hub_div(t, b) : NULL;
    rc = give_owned(n, 1, u ? hub_neg(u) : NULL, gi);
    hub_tensor_release(u);
    hub_tensor_release(t);
  }
  hub_tensor_release(ga);
  return rc;
}

#define HUB_DT_FLOATS (HUB_DT(HUB_F32) | HUB_DT(HUB_F16) | HUB_DT(HUB_BF16) | HUB_DT(HUB_F64))
HUB_OP_DEF(add, .name = "add", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_BINARY, .backward = add_bw);
HUB_OP_DEF(sub, .name = "sub", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_BINARY, .backward = sub_bw);
HUB_OP_DEF(mul, .name = "mul", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_BINARY, .backward = mul_bw,
           .state_size = sizeof(binary_state));
HUB_OP_DEF(div, .name = "div", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_BINARY, .backward = div_bw,
           .state_size = sizeof(binary_state));

/* Records a binary op on out; mul and div keep their operands.  0 or -1 (out of memory). */
static int record_binary(const hub_op_def *def, hub_tensor *a, hub_tensor *b, hub_tensor *out) {
  hub_node *node;
  hub_tensor *ins[2] = {a, b};
  if (hub_record_op(def, ins, 1, &out, &node)) return -1;
  if (!node || !def->state_size) return 0;
  binary_state *s = HUB_NODE_STATE(node, binary_state);
  return hub_node_keep(node, &s->a, a) || hub_node_keep(node, &s->b, b) ? -1 : 0;
}

/* The result of a float op computed in f32, returned in dtype rt (f16 / bf16 when both operands
 * were; the cast is recorded, so gradients flow through it).  Consumes out. */
static hub_tensor *to_result(hub_tensor *out, int rt) {
  if (!out || rt == HUB_F32 || !hub_dtype_is_float(rt)) return out;
  hub_tensor *c = hub_to_dtype(out, rt);
  hub_tensor_release(out);
  return c;
}

static int check_operand(const char *op, const char *arg, const hub_tensor *t) {
  if (!t) return hub_err("%s: %s is missing (nil)", op, arg);
  return 0;
}

/* f64 results: computed in double by binary_any, recorded with the same backward functions. */
static hub_tensor *binary_f64(const hub_op_def *def, int op, hub_tensor *a, hub_tensor *b) {
  hub_tensor *a64 = hub_to_dtype(a, HUB_F64);
  hub_tensor *b64 = a64 ? hub_to_dtype(b, HUB_F64) : NULL;
  hub_tensor *out = b64 ? hub_binary_any(def->name, op, a64, b64, HUB_F64) : NULL;
  if (out) hub_fail_release(record_binary(def, a64, b64, out), &out);
  hub_tensor_release(a64);
  hub_tensor_release(b64);
  return out;
}

static hub_tensor *binary(const hub_op_def *def, int op, hub_tensor *a, hub_tensor *b) {
  const char *name = def->name;
  if (check_operand(name, "input", a) || check_operand(name, "other", b) ||
      hub_check_same_device(name, a, b))
    return NULL;
  int rt = hub_promote_types(a->dtype, b->dtype);
  if (rt < 0) return NULL;
  if (op == HUB_BIN_DIV && !hub_dtype_is_float(rt)) rt = HUB_F32; /* true division */
  if (!hub_dtype_is_float(rt)) return hub_binary_any(name, op, a, b, rt);
  if (rt == HUB_F64) return binary_f64(def, op, a, b);
  int64_t shape[HUB_MAX_DIMS];
  int nd = hub_broadcast_shape(name, a, b, shape);
  if (nd < 0) return NULL;
  const hub_backend *be = hub_dispatch(name, def->kernel, a->device, HUB_F32);
  if (!be) return NULL;
  hub_tensor *a32 = hub_to_dtype(a, HUB_F32);
  hub_tensor *b32 = a32 ? hub_to_dtype(b, HUB_F32) : NULL;
  hub_tensor *ea = b32 ? hub_expand_raw(a32, nd, shape) : NULL;
  hub_tensor *eb = ea ? hub_expand_raw(b32, nd, shape) : NULL;
  hub_tensor *out = eb ? hub_tensor_empty(HUB_F32, nd, shape, a->device) : NULL;
  if (out && HUB_K(be, BINARY)(op, ea, eb, out) != 0) {
    hub_tensor_release(out);
    out = NULL;
  }
  hub_tensor_release(ea);
  hub_tensor_release(eb);
  if (out) hub_fail_release(record_binary(def, a32, b32, out), &out);
  hub_tensor_release(a32);
  hub_tensor_release(b32);
  return to_result(out, rt);
}

hub_tensor *hub_add(hub_tensor *a, hub_tensor *b) { return binary(&hub_op_add, HUB_BIN_ADD, a, b); }
hub_tensor *hub_sub(hub_tensor *a, hub_tensor *b) { return binary(&hub_op_sub, HUB_BIN_SUB, a, b); }
hub_tensor *hub_mul(hub_tensor *a, hub_tensor *b) { return binary(&hub_op_mul, HUB_BIN_MUL, a, b); }
hub_tensor *hub_div(hub_tensor *a, hub_tensor *b) { return binary(&hub_op_div, HUB_BIN_DIV, a, b); }

/* a += alpha * b, not recorded.  b broadcasts to a's shape.  An f16/bf16 `a` is updated through
 * an f32 temporary (the kernel computes in f32). */
int hub_add_(hub_tensor *a, hub_tensor *b, double alpha) {
  if (hub_check_float("add_", "input", a) || hub_check_float("add_", "other", b) ||
      hub_check_same_device("add_", a, b))
    return -1;
  int64_t shape[HUB_MAX_DIMS];
  int nd = hub_broadcast_shape("add_", a, b, shape);
  if (nd < 0) return -1;
  if (nd != a->ndim || memcmp(shape, a->shape, sizeof(int64_t) * (size_t)nd) != 0) {
    char s1[128], s2[128];
    return hub_err("add_: shape %s cannot be broadcast to the shape %s of the tensor updated in place",
                   hub_shape_str(b, s1, sizeof s1), hub_shape_str(a, s2, sizeof s2));
  }
  for (int d = 0; d < a->ndim; d++)
    if (a->stride[d] == 0 && a->shape[d] > 1)
      return hub_err("add_: cannot update a broadcast (expanded) tensor in place");
  const hub_backend *be = hub_dispatch("add_", HUB_K_AXPY, a->device, -1);
  if (!be) return -1;
  if (a->dtype == HUB_F64) { /* in double: a = a + alpha * b */
    HUB_NO_GRAD_BEGIN;
    hub_tensor *b64 = hub_to_dtype(b, HUB_F64);
    hub_tensor *s = !b64 ? NULL : alpha == 1.0 ? hub_tensor_retain(b64) : hub_mul_scalar(b64, alpha);
    hub_tensor *r = s ? hub_binary_any("add_", HUB_BIN_ADD, a, s, HUB_F64) : NULL;
    int rc64 = r ? HUB_K(be, COPY)(a, r) : -1;
    HUB_NO_GRAD_END;
    hub_tensor *tmp[3] = {b64, s, r};
    hub_release_all(3, tmp);
    return rc64;
  }
  HUB_NO_GRAD_BEGIN;
  int rc = -1;
  hub_tensor *b32 = hub_to_dtype(b, HUB_F32);
  hub_tensor *eb = b32 ? hub_expand_raw(b32, a->ndim, a->shape) : NULL;
  hub_tensor *tmp = NULL;
  if (eb) {
    if (a->dtype == HUB_F32) {
      rc = HUB_K(be, AXPY)(a, eb, (float)alpha);
    } else {
      tmp = hub_tensor_empty(HUB_F32, a->ndim, a->shape, a->device);
      if (tmp && HUB_K(be, COPY)(tmp, a) == 0 && HUB_K(be, AXPY)(tmp, eb, (float)alpha) == 0)
        rc = HUB_K(be, COPY)(a, tmp);
    }
  }
  hub_tensor_release(tmp);
  hub_tensor_release(eb);
  hub_tensor_release(b32);
  HUB_NO_GRAD_END;
  return rc;
}

/* ---- unary ops ---- */

/* The typed backward state of the unary functions: which function, its parameters, and (for
 * those not affine in x) the contiguous input. */
typedef struct unary_state {
  hub_tensor *x;
  int op;
  double alpha, beta; /* affine ops: alpha is the derivative (-1 for neg) */
} unary_state;

/* gx = gy * op'(x) by the backend, with x the saved contiguous f32 input. */
static int unary_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  const unary_state *s = HUB_NODE_STATE(n, unary_state);
  hub_tensor *x = s->x;
  const hub_backend *be = hub_dispatch(n->name, x->dtype == HUB_F64 ? HUB_K_UNARY_F64_BACKWARD : HUB_K_UNARY_BACKWARD,
                                       x->device, x->dtype);
  if (!be) return -1;
  hub_tensor *g32 = hub_to_dtype(go[0], x->dtype);
  hub_tensor *g = g32 ? hub_contiguous(g32) : NULL;
  hub_tensor *gx = g ? hub_tensor_empty(x->dtype, x->ndim, x->shape, x->device) : NULL;
  int rc = -1;
  if (gx && x->dtype == HUB_F64) rc = HUB_K(be, UNARY_F64_BACKWARD)(s->op, x, g, gx, s->alpha);
  else if (gx) rc = HUB_K(be, UNARY_BACKWARD)(s->op, x, g, gx, (float)s->alpha, (float)s->beta);
  hub_tensor_release(g);
  hub_tensor_release(g32);
  if (rc) {
    hub_tensor_release(gx);
    return -1;
  }
  gi[0] = gx;
  return 0;
}

/* For ops affine in x: the gradient is alpha * g. */
static int affine_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  double alpha = HUB_NODE_STATE(n, unary_state)->alpha;
  if (alpha == 1.0) return give(n, 0, go[0], gi);
  if (alpha == -1.0) return give_owned(n, 0, hub_neg(go[0]), gi);
  return give_owned(n, 0, hub_mul_scalar(go[0], alpha), gi);
}

/* One entry per function; those affine in x (affine_bw) keep no tensor. */
#define UNARY_DEF(id, nm, bw)                                                                              \
  HUB_OP_DEF(id, .name = nm, .arity = 1, .dtypes = HUB_DT_FLOATS, .kernel = HUB_K_UNARY, .backward = bw, \
             .state_size = sizeof(unary_state))
UNARY_DEF(neg, "neg", affine_bw);
UNARY_DEF(add_scalar, "add_scalar", affine_bw);
UNARY_DEF(mul_scalar, "mul_scalar", affine_bw);
UNARY_DEF(rsub_scalar, "rsub_scalar", affine_bw);
UNARY_DEF(rdiv_scalar, "rdiv_scalar", unary_bw);
UNARY_DEF(pow_scalar, "pow", unary_bw);
UNARY_DEF(exp, "exp", unary_bw);
UNARY_DEF(log, "log", unary_bw);
UNARY_DEF(sqrt, "sqrt", unary_bw);
UNARY_DEF(rsqrt, "rsqrt", unary_bw);
UNARY_DEF(abs, "abs", unary_bw);
UNARY_DEF(relu, "relu", unary_bw);
UNARY_DEF(tanh, "tanh", unary_bw);
UNARY_DEF(sigmoid, "sigmoid", unary_bw);
UNARY_DEF(gelu, "gelu", unary_bw);

static hub_tensor *unary(const hub_op_def *def, int op, double alpha, double beta, hub_tensor *a) {
  const char *name = def->name;
  if (hub_check_float(name, "input", a)) return NULL;
  const hub_backend *be = hub_dispatch(name, a->dtype == HUB_F64 ? HUB_K_UNARY_F64 : HUB_K_UNARY, a->device, -1);
  if (!be) return NULL;
  int ct = a->dtype == HUB_F64 ? HUB_F64 : HUB_F32; /* f16 / bf16 are computed in f32 */
  hub_tensor *a32 = hub_to_dtype(a, ct), *x = NULL, *out = NULL;
  if (a32) {
    HUB_NO_GRAD_BEGIN;
    x = hub_contiguous(a32);
    HUB_NO_GRAD_END;
  }
  if (x) out = hub_tensor_empty(ct, x->ndim, x->shape, x->device);
  if (out && (ct == HUB_F64 ? HUB_K(be, UNARY_F64)(op, x, out, alpha, beta)
                            : HUB_K(be, UNARY)(op, x, out, (float)alpha, (float)beta)) != 0) {
    hub_tensor_release(out);
    out = NULL;
  }
  if (out) {
    bool affine = def->backward == affine_bw;
    hub_node *node;
    int rc = hub_record_op(def, &a32, 1, &out, &node);
    if (rc == 0 && node) {
      unary_state *s = HUB_NODE_STATE(node, unary_state);
      s->op = op;
      s->alpha = op == HUB_UN_NEG ? -1.0 : alpha;
      s->beta = beta;
      if (!affine) rc = hub_node_keep(node, &s->x, x);
    }
    hub_fail_release(rc, &out);
  }
  hub_tensor_release(x);
  hub_tensor_release(a32);
  return out;
}

/* A number next to a non-float tensor: an integer result is computed exactly (the number as a
 * 0-d tensor of the result dtype, through binary_any); a float one by converting the tensor to
 * f32 first (hub_result_type_scalar).  swap: the number is the left operand. */
static hub_tensor *int_scalar(const char *name, int op, hub_tensor *a, double s, int swap) {
  hub_tensor *st = hub_scalar_for(a, s);
  if (!st) return NULL;
  hub_tensor *out = swap ? hub_binary_any(name, op, st, a, st->dtype) : hub_binary_any(name, op, a, st, st->dtype);
  hub_tensor_release(st);
  return out;
}

/* The unary op on a (f32 result cast back to a's dtype when a is f16 / bf16); an integer or bool
 * a is converted to f32 first (the number or the op makes the result float). */
static hub_tensor *float_unary(const hub_op_def *def, int op, double alpha, double beta, hub_tensor *a) {
  if (check_operand(def->name, "input", a)) return NULL;
  if (hub_dtype_is_float(a->dtype)) return to_result(unary(def, op, alpha, beta, a), a->dtype);
  hub_tensor *f = hub_to_dtype(a, HUB_F32);
  hub_tensor *out = f ? unary(def, op, alpha, beta, f) : NULL;
  hub_tensor_release(f);
  return out;
}

static int int_result(const hub_tensor *a, double s) {
  return a && !hub_dtype_is_float(a->dtype) && !hub_dtype_is_float(hub_result_type_scalar(a->dtype, s));
}

hub_tensor *hub_add_scalar(hub_tensor *a, double s) {
  if (int_result(a, s)) return int_scalar("add_scalar", HUB_BIN_ADD, a, s, 0);
  return float_unary(&hub_op_add_scalar, HUB_UN_LINEAR, 1.0, s, a);
}
hub_tensor *hub_mul_scalar(hub_tensor *a, double s) {
  if (int_result(a, s)) return int_scalar("mul_scalar", HUB_BIN_MUL, a, s, 0);
  return float_unary(&hub_op_mul_scalar, HUB_UN_LINEAR, s, 0.0, a);
}
hub_tensor *hub_rsub_scalar(hub_tensor *a, double s) {
  if (int_result(a, s)) return int_scalar("rsub_scalar", HUB_BIN_SUB, a, s, 1);
  return float_unary(&hub_op_rsub_scalar, HUB_UN_LINEAR, -1.0, s, a);
}
hub_tensor *hub_rdiv_scalar(hub_tensor *a, double s) { return float_unary(&hub_op_rdiv_scalar, HUB_UN_RECIP, s, 0.0, a); }
hub_tensor *hub_pow(hub_tensor *a, double p) {
  if (int_result(a, p)) {
    if (p < 0) return hub_errp("pow: integers to negative integer powers are not allowed");
    return int_scalar("pow", HUB_BIN_POW, a, p, 0);
  }
  return float_unary(&hub_op_pow_scalar, HUB_UN_POW, p, 0.0, a);
}

hub_tensor *hub_neg(hub_tensor *a) {
  if (a && !hub_dtype_is_float(a->dtype)) return hub_map("neg", HUB_MAP_NEG, a);
  return float_unary(&hub_op_neg, HUB_UN_NEG, 0, 0, a);
}
hub_tensor *hub_exp(hub_tensor *a) { return float_unary(&hub_op_exp, HUB_UN_EXP, 0, 0, a); }
hub_tensor *hub_log(hub_tensor *a) { return float_unary(&hub_op_log, HUB_UN_LOG, 0, 0, a); }
hub_tensor *hub_sqrt(hub_tensor *a) { return float_unary(&hub_op_sqrt, HUB_UN_SQRT, 0, 0, a); }
hub_tensor *hub_rsqrt(hub_tensor *a) { return float_unary(&hub_op_rsqrt, HUB_UN_RSQRT, 0, 0, a); }
hub_tensor *hub_abs(hub_tensor *a) {
  if (a && !hub_dtype_is_float(a->dtype)) return hub_map("abs", HUB_MAP_ABS, a);
  return float_unary(&hub_op_abs, HUB_UN_ABS, 0, 0, a);
}
hub_tensor *hub_relu(hub_tensor *a) { return unary(&hub_op_relu, HUB_UN_RELU, 0, 0, a); }
hub_tensor *hub_tanh(hub_tensor *a) { return float_unary(&hub_op_tanh, HUB_UN_TANH, 0, 0, a); }
hub_tensor *hub_sigmoid(hub_tensor *a) { return float_unary(&hub_op_sigmoid, HUB_UN_SIGMOID, 0, 0, a); }
hub_tensor *hub_gelu(hub_tensor *a, int approximate) {
  return unary(&hub_op_gelu, approximate ? HUB_UN_GELU_TANH : HUB_UN_GELU_ERF, 0, 0, a);
}

/* ---- where / masked_fill ---- */

/* Broadcast shape of n tensors, or -1 with an error naming op and listing the shapes. */
static int broadcast_n(const char *op, int n, hub_tensor *const *ts, int64_t *out) {
  int nd = 0;
  for (int k = 0; k < n; k++)
    if (ts[k]->ndim > nd) nd = ts[k]->ndim;
  for (int i = 0; i < nd; i++) {
    int64_t size = 1;
    for (int k = 0; k < n; k++) {
      int j = ts[k]->ndim - nd + i;
      int64_t s = j >= 0 ? ts[k]->shape[j] : 1;
      if (s == 1) continue;
      if (size != 1 && size != s) {
        char buf[3][128];
        for (int m = 0; m < n && m < 3; m++) hub_shape_str(ts[m], buf[m], sizeof buf[m]);
        return hub_err("%s: shapes %s, %s and %s cannot be broadcast together", op, buf[0], buf[1],
                       buf[2]);
      }
      size = s;
    }
    out[i] = size;
  }
  return nd;
}

/* Inputs: 0 = a, 1 = b; the state keeps the condition. */
typedef struct where_state {
  hub_tensor *cond;
} where_state;

static int where_bw(hub_node *n, hub_tensor **go, hub_tensor **gi) {
  hub_tensor *cond = HUB_NODE_STATE(n, where_state)->cond;
  hub_tensor *zero = hub_tensor_new(HUB_F32, 0, NULL, go[0]->device);
  if (!zero) return -1;
  int rc = 0;
  if (hub_node_needs(n, 0)) rc = give_owned(n, 0, hub_where(cond, go[0], zero), gi);
  if (rc == 0 && hub_node_needs(n, 1)) rc = give_owned(n, 1, hub_where(cond, zero, go[0]), gi);
  hub_tensor_release(zero);
  return rc;
}

HUB_OP_DEF(where, .name = "where", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_WHERE, .backward = where_bw,
           .state_size = sizeof(where_state));
HUB_OP_DEF(masked_fill, .name = "masked_fill", .arity = 2, .dtypes = HUB_DT_ANY, .kernel = HUB_K_WHERE,
           .backward = where_bw, .state_size = sizeof(where_state));

/* Records where / masked_fill on out (consumed on failure). */
static hub_tensor *record_where(const hub_op_def *def, hub_tensor *cond, hub_tensor *a, hub_tensor *b, hub_tensor *out) {
  hub_tensor *ins[2] = {a, b};
  hub_node *node;
  int rc = hub_record_op(def, ins, 1, &out, &node);
  if (rc == 0 && node) rc = hub_node_keep(node, &HUB_NODE_STATE(node, where_state)->cond, cond);
  hub_fail_release(rc, &out);
  return out;
}

/* cond ? a : b for an integer or bool result dtype rt (not differentiable): b broadcast into the
 * output, then the elements of a where cond is set scattered over it. */
static hub_tensor *where_int(const hub_backend *be, hub_tensor *cond, hub_tensor *a, hub_tensor *b,
                             int nd, const int64_t *shape, int rt) {
  HUB_NO_GRAD_BEGIN;
  hub_tensor *ca = hub_to_dtype(a, rt), *cb = ca ? hub_to_dtype(b, rt) : NULL;
  hub_tensor *ea = cb ? hub_expand_raw(ca, nd, shape) : NULL;
  hub_tensor *eb = ea ? hub_expand_raw(cb, nd, shape) : NULL;
  hub_tensor *ec = eb ? hub_expand_raw(cond, nd, shape) : NULL;
  hub_tensor *xa = ec ? hub_contiguous(ea) : NULL;
  hub_tensor *mc = xa ? hub_map("where", HUB_MAP_TRUTH, ec) : NULL;
  hub_tensor *cnt = mc ? hub_sum(mc, 0, NULL, 0) : NULL;
  hub_tensor *out = cnt ? hub_tensor_empty(rt, nd, shape, a->device) : NULL, *sel = NULL;
  int rc = out ? HUB_K(be, COPY)(out, eb) : -1;
  double count = 0;
  if (rc == 0) rc = hub_item("where", cnt, &count);
  if (rc == 0) {
    int64_t k = (int64_t)count;
    sel = hub_tensor_empty(rt, 1, &k, a->device);
    rc = sel ? HUB_K(be, MASKED_SELECT)(xa, mc, sel) : -1;
    if (rc == 0) rc = HUB_K(be, MASKED_SCATTER)(out, mc, sel);
  }
  HUB_NO_GRAD_END;
  hub_tensor *tmp[8] = {ca, cb, ea, eb, ec, xa, mc, cnt};
  hub_release_all(8, tmp);
  hub_tensor_release(sel);
  if (rc) {
    hub_tensor_release(out);
    return NULL;
  }
  return out;
}

/* out = cond ? a : b.  When `like` is given, the result must have its shape (masked_fill). */
static hub_tensor *where_op(const hub_op_def *def, const char *cond_arg, hub_tensor *cond, hub_tensor *a,
                            hub_tensor *b, const hub_tensor *like) {
  const char *name = def->name;
  if (!cond) return hub_errp("%s: %s is missing (nil)", name, cond_arg);
  if (cond->dtype != HUB_BOOL && cond->dtype != HUB_U8)
    return hub_errp("%s: expected %s to be a bool or u8 tensor, got %s", name, cond_arg,
                    hub_dtype_name(cond->dtype));
  if (check_operand(name, "input", a) || check_operand(name, "other", b) ||
      hub_check_same_device(name, cond, a) || hub_check_same_device(name, a, b))
    return NULL;
  int rt = hub_promote_types(a->dtype, b->dtype);
  if (rt < 0) return NULL;
  int64_t shape[HUB_MAX_DIMS];
  hub_tensor *ts[3] = {cond, a, b};
  int nd = broadcast_n(name, 3, ts, shape);
  if (nd < 0) return NULL;
  if (like && (nd != like->ndim || memcmp(shape, like->shape, sizeof(int64_t) * (size_t)nd))) {
    char s1[128], s2[128];
    return hub_errp("%s: %s of shape %s cannot be broadcast to the input's shape %s", name, cond_arg,
                    hub_shape_str(cond, s1, sizeof s1), hub_shape_str(like, s2, sizeof s2));
  }
  const hub_backend *be = hub_dispatch(name, HUB_K_WHERE, a->device, -1);
  if (!be) return NULL;
  if (!hub_dtype_is_float(rt)) return where_int(be, cond, a, b, nd, shape, rt);
  if (rt == HUB_F64) { /* in double, through the any-dtype path, with where's gradient */
    hub_tensor *a64 = hub_to_dtype(a, HUB_F64), *b64 = a64 ? hub_to_dtype(b, HUB_F64) : NULL;
    hub_tensor *out = b64 ? where_int(be, cond, a64, b64, nd, shape, HUB_F64) : NULL;
    if (out) out = record_where(def, cond, a64, b64, out);
    hub_tensor_release(a64);
    hub_tensor_release(b64);
    return out;
  }
  hub_tensor *a32 = hub_to_dtype(a, HUB_F32);
  hub_tensor *b32 = a32 ? hub_to_dtype(b, HUB_F32) : NULL;
  hub_tensor *ec = b32 ? hub_expand_raw(cond, nd, shape) : NULL;
  hub_tensor *ea = ec ? hub_expand_raw(a32, nd, shape) : NULL;
  hub_tensor *eb = ea ? hub_expand_raw(b32, nd, shape) : NULL;
  hub_tensor *out = eb ? hub_tensor_empty(HUB_F32, nd, shape, a->device) : NULL;
  if (out && HUB_K(be, WHERE)(ec, ea, eb, out) != 0) {
    hub_tensor_release(out);
    out = NULL;
  }
  if (out) out = record_where(def, cond, a32, b32, out);
  hub_tensor *tmp[5] = {ec, ea, eb, a32, b32};
  hub_release_all(5, tmp);
  return to_result(out, rt);
}

hub_tensor *hub_where(hub_tensor *cond, hub_tensor *a, hub_tensor *b) {
  return where_op(&hub_op_where, "condition", cond, a, b, NULL);
}

hub_tensor *hub_masked_fill(hub_tensor *a, hub_tensor *mask, double value) {
  if (check_operand("masked_fill", "input", a)) return NULL;
  hub_tensor *v = hub_tensor_empty(hub_dtype_is_float(a->dtype) ? HUB_F32 : a->dtype, 0, NULL, a->device);
  if (!v) return NULL;
  hub_tensor *out = NULL;
  if (hub_fill_(v, value) == 0) out = where_op(&hub_op_masked_fill, "mask", mask, v, a, a);
  hub_tensor_release(v);
  return out;
}
