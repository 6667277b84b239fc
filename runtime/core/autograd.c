/* autograd.c - recording nodes and running backpropagation.
 *
 * hub_record_op() is called by an op after it computed its output, with the op's table entry
 * (HUB_OP_DEF): when grad mode is on and an input requires gradients, it makes a node holding
 * edges to the inputs' producers (their grad_fn, or the leaf tensor itself) and the op's typed
 * backward state (hub_node_keep marks the tensors kept in it), and attaches it to the output.
 * Nodes are refcounted: outputs own their grad_fn and nodes own their producers, so dropping the
 * last tensor of a forward pass frees its whole graph.
 *
 * hub_backward() collects the nodes reachable from the root, sorts them newest first (every node
 * is newer than the nodes of its inputs, so this is a topological order), and runs each backward
 * function once with the summed gradients of its outputs.  Gradients of leaves accumulate into
 * leaf->grad.  After a node ran, its kept tensors and gradient slots are released, so memory
 * falls as the backward pass proceeds.  Gradients are summed with the backend's kernels (not
 * with hub_add), so the core does not call the op layer above it.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static _Thread_local int t_grad_disabled;
static uint64_t g_seq;
static int64_t g_live_nodes;

int hub_grad_enabled(void) { return !t_grad_disabled; }

int hub_set_grad_enabled(int on) {
  int prev = !t_grad_disabled;
  t_grad_disabled = !on;
  return prev;
}

static _Thread_local int t_autocast; /* 0 = HUB_F32: off */

int hub_autocast(void) { return t_autocast; }

int hub_set_autocast(int dtype) {
  if (dtype != HUB_F32 && dtype != HUB_BF16 && dtype != HUB_F16)
    return hub_err("autocast: dtype %s is not f32 (off), bf16 or f16",
                   dtype >= 0 && dtype < HUB_DTYPE_COUNT ? hub_dtype_name(dtype) : "?");
  int prev = t_autocast;
  t_autocast = dtype;
  return prev;
}

int64_t hub_node_live_count(void) { return __atomic_load_n(&g_live_nodes, __ATOMIC_RELAXED); }

int hub_tensor_set_requires_grad(hub_tensor *t, int on) {
  if (!t) return hub_err("requires_grad: tensor is nil");
  if (on && !hub_dtype_is_float(t->dtype))
    return hub_err("requires_grad: only float tensors can require gradients (this one is %s)",
                   hub_dtype_name(t->dtype));
  if (!on && t->grad_fn) return hub_err("requires_grad: cannot turn off gradients of a non-leaf tensor; use detach()");
  t->requires_grad = on ? 1 : 0;
  return 0;
}

void hub_node_retain(hub_node *n) { __atomic_fetch_add(&n->refcount, 1, __ATOMIC_RELAXED); }

/* Releases the tensors kept in the typed state and zeroes it (after the backward ran, or with
 * the node). */
static void node_free_saved(hub_node *n) {
  hub_tensor **slots = n->state;
  for (uint64_t m = n->kept; m; m &= m - 1) hub_tensor_release(slots[__builtin_ctzll(m)]);
  n->kept = 0;
  if (n->state_size) memset(n->state, 0, n->state_size);
}

void hub_node_release(hub_node *n) {
  /* Iterative to avoid deep recursion when a long chain of nodes goes at once. */
  hub_node *stack_local[64], **stack = stack_local;
  int sp = 0, cap = 64;
  stack[sp++] = n;
  while (sp > 0) {
    hub_node *x = stack[--sp];
    if (__atomic_sub_fetch(&x->refcount, 1, __ATOMIC_ACQ_REL) != 0) continue;
    node_free_saved(x);
    for (int i = 0; i < x->n_in; i++) {
      if (x->edges[i].leaf) hub_tensor_release(x->edges[i].leaf);
      if (x->edges[i].fn) {
        if (sp == cap) {
          hub_node **bigger = malloc(sizeof *bigger * (size_t)cap * 2);
          if (!bigger) { /* cannot grow: leak rather than crash */
            continue;
          }
          memcpy(bigger, stack, sizeof *stack * (size_t)sp);
          if (stack != stack_local) free(stack);
          stack = bigger;
          cap *= 2;
        }
        stack[sp++] = x->edges[i].fn;
      }
    }
    if (x->grads) {
      for (int j = 0; j < x->n_out; j++) hub_tensor_release(x->grads[j]);
      free(x->grads);
    }
    free(x->edges);
    free(x);
    __atomic_fetch_sub(&g_live_nodes, 1, __ATOMIC_RELAXED);
  }
  if (stack != stack_local) free(stack);
}

/* The node's typed state sits in the same allocation, after the node (16-byte aligned). */
enum { STATE_OFFSET = (sizeof(hub_node) + 15) / 16 * 16 };

/* Tests: the countdown of hub_record_fail_nth (0: off). */
static _Thread_local int t_fail_record;

int hub_record_fail_nth(int n) {
  int left = t_fail_record;
  t_fail_record = n > 0 ? n : 0;
  return left;
}

int hub_will_record(int n_in, hub_tensor *const *inputs) {
  if (t_grad_disabled) return 0;
  for (int i = 0; i < n_in; i++)
    if (inputs[i] && inputs[i]->requires_grad) return 1;
  return 0;
}

static int record(const char *name, hub_backward_fn bw, size_t state_size, int n_in,
                  hub_tensor *const *inputs, int n_out, hub_tensor *const *outs, hub_node **node) {
  *node = NULL;
  if (n_in < 0 || n_out < 1) return hub_err("%s: recording with %d inputs and %d outputs", name, n_in, n_out);
  if (!hub_will_record(n_in, inputs)) return 0;
  bool fail = t_fail_record && --t_fail_record == 0; /* as if calloc failed */
  hub_node *n = fail ? NULL : calloc(1, STATE_OFFSET + state_size);
  hub_edge *edges = fail ? NULL : calloc((size_t)(n_in ? n_in : 1), sizeof *edges);
  if (!n || !edges) {
    free(n);
    free(edges);
    return hub_err("%s: out of memory recording the autograd node", name);
  }
  n->refcount = 0;
  n->n_in = n_in;
  n->n_out = n_out;
  n->name = name;
  n->backward = bw;
  n->edges = edges;
  n->state = state_size ? (char *)n + STATE_OFFSET : NULL;
  n->state_size = state_size;
  n->seq = __atomic_add_fetch(&g_seq, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&g_live_nodes, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < n_in; i++) {
    hub_tensor *t = inputs[i];
    if (!t) continue;
    hub_edge *e = &edges[i];
    e->ndim = t->ndim;
    e->dtype = t->dtype;
    e->device = t->device;
    memcpy(e->shape, t->shape, sizeof e->shape);
    e->out_index = t->out_index;
    if (!t->requires_grad) continue;
    if (t->grad_fn) {
      e->fn = t->grad_fn;
      hub_node_retain(e->fn);
    } else {
      e->leaf = hub_tensor_retain(t);
    }
  }
  for (int j = 0; j < n_out; j++) {
    hub_tensor *o = outs[j];
    if (!o) continue;
    if (o->grad_fn) hub_node_release(o->grad_fn);
    o->grad_fn = n;
    o->out_index = j;
    o->requires_grad = 1;
    hub_node_retain(n);
  }
  *node = n;
  return 0;
}

int hub_record_op(const hub_op_def *op, hub_tensor *const *inputs, int n_out, hub_tensor *const *outs,
                  hub_node **node) {
  if (op->arity < 0) {
    *node = NULL;
    return hub_err("%s: an op of variable arity records with hub_record_op_n", op->name);
  }
  return record(op->name, op->backward, op->state_size, op->arity, inputs, n_out, outs, node);
}

int hub_record_op_n(const hub_op_def *op, int n_in, hub_tensor *const *inputs, int n_out,
                    hub_tensor *const *outs, size_t extra, hub_node **node) {
  if (op->arity >= 0 && n_in != op->arity) {
    *node = NULL;
    return hub_err("%s: recorded with %d inputs, the op table says %d", op->name, n_in, op->arity);
  }
  return record(op->name, op->backward, op->state_size + extra, n_in, inputs, n_out, outs, node);
}

int hub_node_keep(hub_node *n, hub_tensor **field, hub_tensor *t) {
  char *base = n->state, *f = (char *)field;
  size_t off = (size_t)(f - base), k = off / sizeof(void *);
  if (!base || f < base || off + sizeof(void *) > n->state_size || off % sizeof(void *) || k >= 64)
    return hub_err("autograd: %s keeps a tensor outside its typed state", n->name);
  if (n->kept >> k & 1) hub_tensor_release(*field);
  *field = t ? hub_tensor_retain(t) : NULL;
  if (t) n->kept |= (uint64_t)1 << k;
  else n->kept &= ~((uint64_t)1 << k);
  return 0;
}

bool hub_node_needs(const hub_node *n, int i) {
  return i < n->n_in && (n->edges[i].fn != NULL || n->edges[i].leaf != NULL);
}

const char *hub_tensor_grad_fn_name(const hub_tensor *t) { return t && t->grad_fn ? t->grad_fn->name : NULL; }

hub_tensor *hub_tensor_grad(hub_tensor *t) { return t && t->grad ? hub_tensor_retain(t->grad) : NULL; }

void hub_tensor_zero_grad(hub_tensor *t) {
  if (t && t->grad) {
    hub_tensor_release(t->grad);
    t->grad = NULL;
  }
}

hub_tensor *hub_detach(hub_tensor *t) {
  if (!t) return hub_errp("detach: tensor is nil");
  return hub_tensor_alias(t, t->ndim, t->shape, t->stride, t->offset);
}

/* ---- backward ---- */

static int cmp_seq_desc(const void *a, const void *b) {
  uint64_t x = (*(hub_node *const *)a)->seq, y = (*(hub_node *const *)b)->seq;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Gradient sums use the backend's kernels directly (not the ops of ops/), so that the core does
 * not depend on the layer above it.  The arithmetic is the one hub_add / hub_add_ did before:
 * f32 through BINARY / AXPY, f64 through BINARY_ANY, f16 / bf16 in f32 and rounded back, and the
 * result dtype of hub_add (promoted) or of the tensor updated in place (hub_add_). */

static int check_grad_shape(const hub_tensor *into, const hub_tensor *g) {
  if (hub_same_shape(into, g)) return 0;
  char s1[128], s2[128];
  return hub_err("backward: gradient of shape %s for a tensor of shape %s", hub_shape_str(g, s1, sizeof s1),
                 hub_shape_str(into, s2, sizeof s2));
}

/* t converted to dtype (t itself retained when it has it: the kernels take strided operands). */
static hub_tensor *as_dtype(const hub_backend *be, hub_tensor *t, int dtype) {
  if (t->dtype == dtype) return hub_tensor_retain(t);
  hub_tensor *c = hub_tensor_empty(dtype, t->ndim, t->shape, t->device);
  if (c && HUB_K(be, COPY)(c, t)) {
    hub_tensor_release(c);
    return NULL;
  }
  return c;
}

/* a + b (the same shape, float dtypes) as a new tensor of dtype rt, computed in f64 when rt is
 * f64 and in f32 otherwise. */
static hub_tensor *grad_sum(hub_tensor *a, hub_tensor *b, int rt) {
  if (check_grad_shape(a, b) || hub_check_same_device("backward", a, b)) return NULL;
  int f64 = rt == HUB_F64, ct = f64 ? HUB_F64 : HUB_F32;
  const hub_backend *be = hub_dispatch("backward", f64 ? HUB_K_BINARY_ANY : HUB_K_BINARY, a->device, ct);
  if (!be) return NULL;
  hub_tensor *x = as_dtype(be, a, ct), *y = x ? as_dtype(be, b, ct) : NULL;
  hub_tensor *s = y ? hub_tensor_empty(ct, a->ndim, a->shape, a->device) : NULL, *out = NULL;
  if (s && (f64 ? HUB_K(be, BINARY_ANY)(HUB_BIN_ADD, x, y, s) : HUB_K(be, BINARY)(HUB_BIN_ADD, x, y, s)) == 0)
    out = as_dtype(be, s, rt);
  hub_release_all(3, (hub_tensor *[]){x, y, s});
  return out;
}

/* slot += g (g borrowed).  The first gradient is kept as is (retained); later ones make a new sum
 * so no tensor shared with another slot is ever written in place. */
static int accumulate(hub_tensor **slot, hub_tensor *g) {
  if (!*slot) {
    *slot = hub_tensor_retain(g);
    return 0;
  }
  int rt = hub_promote_types((*slot)->dtype, g->dtype); /* hub_add's result dtype */
  hub_tensor *s = rt < 0 ? NULL : grad_sum(*slot, g, rt);
  if (!s) return -1;
  hub_tensor_release(*slot);
  *slot = s;
  return 0;
}

static int accumulate_leaf(hub_tensor *leaf, hub_tensor *g) {
  if (check_grad_shape(leaf, g)) return -1;
  if (leaf->grad) {
    hub_tensor *acc = leaf->grad;
    if (acc->dtype == HUB_F32 && g->dtype == HUB_F32) { /* in place, as hub_add_ */
      const hub_backend *be = hub_dispatch("backward", HUB_K_AXPY, acc->device, HUB_F32);
      return !be || hub_check_same_device("backward", acc, g) ? -1 : HUB_K(be, AXPY)(acc, g, 1.0f);
    }
    hub_tensor *s = grad_sum(acc, g, acc->dtype);
    int rc = s ? hub_copy_(acc, s) : -1;
    hub_tensor_release(s);
    return rc;
  }
  /* Own a fresh contiguous copy in the leaf's dtype: g may be shared with other slots. */
  hub_tensor *c = hub_tensor_empty(leaf->dtype, leaf->ndim, leaf->shape, leaf->device);
  if (!c || hub_copy_(c, g)) {
    hub_tensor_release(c);
    return -1;
  }
  leaf->grad = c;
  return 0;
}

int hub_backward(hub_tensor *root, hub_tensor *grad) {
  if (!root) return hub_err("backward: tensor is nil");
  if (!root->requires_grad)
    return hub_err("backward: the tensor does not require gradients (no input of the computation had requires_grad)");
  int rc = -1;
  hub_tensor *seed = NULL;
  if (grad) {
    if (!hub_same_shape(grad, root)) {
      char s1[128], s2[128];
      return hub_err("backward: gradient shape %s does not match tensor shape %s", hub_shape_str(grad, s1, sizeof s1),
                     hub_shape_str(root, s2, sizeof s2));
    }
    if (grad->device != root->device)
      return hub_err("backward: the gradient is on %s, the tensor on %s (move it with to())", hub_device_name(grad->device),
                     hub_device_name(root->device));
    /* the gradient of a float tensor is taken in that tensor's dtype (as torch casts it) */
    if (hub_dtype_is_float(root->dtype) && hub_dtype_is_float(grad->dtype) && grad->dtype != root->dtype) {
      int prev_grad = hub_set_grad_enabled(0);
      seed = hub_to_dtype(grad, root->dtype);
      hub_set_grad_enabled(prev_grad);
      if (!seed) return -1;
    } else {
      seed = hub_tensor_retain(grad);
    }
  } else {
    if (hub_tensor_numel(root) != 1) {
      char s1[128];
      return hub_err("backward: the tensor has shape %s; backward() without a gradient needs a single element (use sum() or mean())",
                     hub_shape_str(root, s1, sizeof s1));
    }
    /* on the root's device: a CPU seed would meet the root's device in the first backward op */
    seed = hub_tensor_new(root->dtype == HUB_F64 ? HUB_F64 : HUB_F32, root->ndim, root->shape, root->device);
    if (seed && hub_fill_(seed, 1.0)) {
      hub_tensor_release(seed);
      seed = NULL;
    }
    if (!seed) return -1;
  }
  int prev = hub_set_grad_enabled(0);
  if (!root->grad_fn) { /* a leaf */
    rc = accumulate_leaf(root, seed);
    hub_tensor_release(seed);
    hub_set_grad_enabled(prev);
    return rc;
  }

  /* Collect the reachable nodes (iterative DFS, mark with a per-call stamp). */
  static _Thread_local int32_t stamp;
  int32_t mark = ++stamp;
  size_t cap = 256, count = 0, sp = 0;
  hub_node **nodes = malloc(cap * sizeof *nodes), **stack = malloc(cap * sizeof *stack);
  if (!nodes || !stack) goto oom;
  stack[sp++] = root->grad_fn;
  root->grad_fn->mark = mark;
  while (sp) {
    hub_node *x = stack[--sp];
    if (count == cap || sp + (size_t)x->n_in >= cap) {
      cap = cap * 2 + (size_t)x->n_in;
      hub_node **a = realloc(nodes, cap * sizeof *nodes), **b;
      if (!a) goto oom;
      nodes = a;
      b = realloc(stack, cap * sizeof *stack);
      if (!b) goto oom;
      stack = b;
    }
    nodes[count++] = x;
    for (int i = 0; i < x->n_in; i++) {
      hub_node *y = x->edges[i].fn;
      if (y && y->mark != mark) {
        y->mark = mark;
        stack[sp++] = y;
      }
    }
  }
  qsort(nodes, count, sizeof *nodes, cmp_seq_desc);
  for (size_t k = 0; k < count; k++) {
    hub_node_retain(nodes[k]); /* keep alive while we run, even if outputs die */
    if (!nodes[k]->grads) nodes[k]->grads = calloc((size_t)nodes[k]->n_out, sizeof(hub_tensor *));
    if (!nodes[k]->grads) goto oom;
  }
  root->grad_fn->grads[root->out_index] = seed;
  seed = NULL;

  rc = 0;
  for (size_t k = 0; k < count && rc == 0; k++) {
    hub_node *x = nodes[k];
    if (x->consumed) {
      rc = hub_err("backward: the graph through %s was already used by an earlier backward(); run the forward pass again",
                   x->name);
      break;
    }
    bool any = false;
    for (int j = 0; j < x->n_out; j++) any |= x->grads[j] != NULL;
    if (any && x->backward) {
      hub_tensor *gin_local[8], **gin = x->n_in <= 8 ? gin_local : calloc((size_t)x->n_in, sizeof *gin);
      if (!gin) goto oom;
      memset(gin, 0, sizeof(hub_tensor *) * (size_t)(x->n_in < 8 ? 8 : x->n_in));
      if (x->backward(x, x->grads, gin) != 0) {
        if (!hub_last_error()[0]) hub_err("backward: %s failed", x->name);
        rc = -1;
      }
      for (int i = 0; i < x->n_in && rc == 0; i++) {
        if (!gin[i]) continue;
        hub_edge *e = &x->edges[i];
        if (e->fn)
          rc = accumulate(&e->fn->grads[e->out_index], gin[i]);
        else if (e->leaf)
          rc = accumulate_leaf(e->leaf, gin[i]);
      }
      hub_release_all(x->n_in, gin);
      if (gin != gin_local) free(gin);
    }
    for (int j = 0; j < x->n_out; j++) {
      hub_tensor_release(x->grads[j]);
      x->grads[j] = NULL;
    }
    node_free_saved(x); /* the graph is traversed once */
    x->consumed = 1;
  }
  for (size_t k = 0; k < count; k++) {
    hub_node *x = nodes[k];
    for (int j = 0; j < x->n_out; j++) {
      hub_tensor_release(x->grads[j]);
      x->grads[j] = NULL;
    }
    hub_node_release(x);
  }
  free(nodes);
  free(stack);
  hub_set_grad_enabled(prev);
  return rc;
oom:
  /* Releases what was retained so far is not tracked precisely here; report and leak. */
  free(nodes);
  free(stack);
  hub_tensor_release(seed);
  hub_set_grad_enabled(prev);
  return hub_err("backward: out of memory");
}
