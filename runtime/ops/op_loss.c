/* op_loss.c - losses: cross_entropy (with ignore_index and label smoothing) and mse_loss.
 *
 * cross_entropy takes logits [N, C] (or [C] with a single target) and 0-based class ids
 * (i64/i32); the backend kernel computes the mean loss over rows whose target is not
 * ignore_index, keeps log-sum-exp per row for the backward, and rejects out-of-range targets.
 * The backward scales the kernel's per-row softmax gradient by (upstream gradient / count);
 * when every row was ignored there is nothing to learn from and the gradient is zero (the loss
 * itself is NaN, as in torch).  mse_loss is composed of sub, mul and mean, which carry their own
 * gradients.
 */
#include <math.h>

#include "backend.h"

/* logits [N, C] (contiguous f32), target (contiguous), the log-sum-exp of each row [N], and the
 * arguments; count: the rows whose target is not ignore_index. */
typedef struct cross_entropy_state {
  hub_tensor *logits, *target, *lse;
  int64_t ignore_index, count;
  double smoothing;
} cross_entropy_state;

static int cross_entropy_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!hub_node_needs(n, 0) || !gout[0]) return 0;
  const cross_entropy_state *s = HUB_NODE_STATE(n, cross_entropy_state);
  hub_tensor *logits = s->logits, *target = s->target, *lse = s->lse;
  const hub_backend *be = hub_dispatch("cross_entropy", HUB_K_CROSS_ENTROPY_BACKWARD, logits->device, -1);
  if (!be) return -1;
  const hub_edge *e = &n->edges[0];
  hub_tensor *g = hub_tensor_empty(HUB_F32, e->ndim, e->shape, logits->device);
  if (!g) return -1;
  int64_t count = s->count;
  if (count == 0) {
    if (HUB_K(be, FILL)(g, 0.0)) {
      hub_tensor_release(g);
      return -1;
    }
    gin[0] = g;
    return 0;
  }
  double up;
  if (hub_item("cross_entropy", gout[0], &up)) {
    hub_tensor_release(g);
    return -1;
  }
  hub_tensor *g2 = hub_tensor_alias(g, logits->ndim, logits->shape, logits->stride, g->offset);
  int rc = !g2 ? -1
               : HUB_K(be, CROSS_ENTROPY_BACKWARD)(logits, target, lse, s->ignore_index, (float)s->smoothing,
                                            (float)(up / (double)count), g2);
  hub_tensor_release(g2);
  if (rc) {
    hub_tensor_release(g);
    return -1;
  }
  gin[0] = g;
  return 0;
}

HUB_OP_DEF(cross_entropy, .name = "cross_entropy", .arity = 1, .dtypes = HUB_DT_ANY, .kernel = HUB_K_CROSS_ENTROPY,
           .backward = cross_entropy_backward, .state_size = sizeof(cross_entropy_state));

hub_tensor *hub_cross_entropy(hub_tensor *logits, hub_tensor *target, int64_t ignore_index,
                              double label_smoothing) {
  const char *op = "cross_entropy";
  if (hub_check_float(op, "logits", logits) || hub_check_index(op, "target", target)) return NULL;
  if (hub_check_same_device(op, logits, target)) return NULL;
  char s1[128], s2[128];
  int64_t N, C;
  if (logits->ndim == 2) {
    N = logits->shape[0];
    C = logits->shape[1];
    if (target->ndim != 1 || target->shape[0] != N)
      return hub_errp("%s: target of shape %s does not match logits %s (expected [%lld])", op,
                      hub_shape_str(target, s1, sizeof s1), hub_shape_str(logits, s2, sizeof s2),
                      (long long)N);
  } else if (logits->ndim == 1) {
    N = 1;
    C = logits->shape[0];
    if (hub_tensor_numel(target) != 1 || target->ndim > 1)
      return hub_errp("%s: logits %s need a single target, got shape %s", op,
                      hub_shape_str(logits, s2, sizeof s2), hub_shape_str(target, s1, sizeof s1));
  } else {
    return hub_errp("%s: logits must be [N, C] or [C], got %s", op,
                    hub_shape_str(logits, s2, sizeof s2));
  }
  if (!(label_smoothing >= 0.0 && label_smoothing < 1.0))
    return hub_errp("%s: label_smoothing %g is not in [0, 1)", op, label_smoothing);
  const hub_backend *be = hub_dispatch("cross_entropy", HUB_K_CROSS_ENTROPY, logits->device, -1);
  if (!be) return NULL;

  hub_tensor *lc = logits->dtype == HUB_F32 ? hub_contiguous(logits)
                                            : hub_to_dtype(logits, HUB_F32);
  if (lc && !hub_tensor_is_contiguous(lc)) {
    hub_tensor *c = hub_contiguous(lc);
    hub_tensor_release(lc);
    lc = c;
  }
  hub_tensor *tc = hub_contiguous(target);
  int64_t s2d[2] = {N, C}, st2d[2] = {C, 1};
  hub_tensor *l2 = lc ? hub_tensor_alias(lc, 2, s2d, st2d, lc->offset) : NULL;
  hub_tensor *loss = hub_tensor_empty(HUB_F32, 0, NULL, logits->device);
  hub_tensor *lse = hub_tensor_empty(HUB_F32, 1, &N, logits->device);
  int64_t count = 0;
  if (!lc || !tc || !l2 || !loss || !lse ||
      HUB_K(be, CROSS_ENTROPY)(l2, tc, ignore_index, (float)label_smoothing, loss, lse, &count)) {
    hub_tensor_release(lc);
    hub_tensor_release(tc);
    hub_tensor_release(l2);
    hub_tensor_release(loss);
    hub_tensor_release(lse);
    return NULL;
  }
  hub_node *n;
  int rrc = hub_record_op(&hub_op_cross_entropy, &lc, 1, &loss, &n);
  if (rrc == 0 && n) {
    cross_entropy_state *s = HUB_NODE_STATE(n, cross_entropy_state);
    s->ignore_index = ignore_index;
    s->count = count;
    s->smoothing = label_smoothing;
    rrc = hub_node_keep(n, &s->logits, l2) || hub_node_keep(n, &s->target, tc) || hub_node_keep(n, &s->lse, lse);
  }
  hub_fail_release(rrc, &loss);
  hub_tensor_release(lc);
  hub_tensor_release(tc);
  hub_tensor_release(l2);
  hub_tensor_release(lse);
  return loss;
}

hub_tensor *hub_mse_loss(hub_tensor *a, hub_tensor *b) {
  if (hub_check_float("mse_loss", "input", a) || hub_check_float("mse_loss", "target", b))
    return NULL;
  if (hub_check_same_device("mse_loss", a, b)) return NULL;
  if (!hub_same_shape(a, b)) {
    char s1[128], s2[128];
    return hub_errp("mse_loss: input %s and target %s have different shapes",
                    hub_shape_str(a, s1, sizeof s1), hub_shape_str(b, s2, sizeof s2));
  }
  hub_tensor *d = hub_sub(a, b);
  hub_tensor *sq = d ? hub_mul(d, d) : NULL;
  hub_tensor *m = sq ? hub_mean(sq, 0, NULL, 0) : NULL;
  hub_tensor_release(d);
  hub_tensor_release(sq);
  return m;
}
