/* optim.c - argument checks and dispatch for the fused optimiser updates (hub_optim.h). */
#include "backend.h"

static int check_state(const char *op, const char *arg, const hub_tensor *p, const hub_tensor *t) {
  char s1[128], s2[128];
  if (!t) return hub_err("%s: %s is missing", op, arg);
  if (t->dtype != HUB_F32) return hub_err("%s: %s must be f32, got %s", op, arg, hub_dtype_name(t->dtype));
  if (!hub_tensor_is_contiguous(t)) return hub_err("%s: %s must be contiguous", op, arg);
  if (!hub_same_shape(p, t))
    return hub_err("%s: %s has shape %s but the parameter has %s", op, arg, hub_shape_str(t, s1, sizeof s1),
                   hub_shape_str(p, s2, sizeof s2));
  if (t->device != p->device) return hub_err("%s: %s is on another device than the parameter", op, arg);
  return 0;
}

int hub_sgd_step(hub_tensor *p, hub_tensor *g, hub_tensor *buf, double lr, double momentum,
                 double dampening, double weight_decay, int nesterov, int first) {
  if (check_state("sgd", "parameter", p, p) || check_state("sgd", "gradient", p, g) ||
      (momentum != 0 && check_state("sgd", "momentum buffer", p, buf)))
    return -1;
  const hub_backend *b = hub_dispatch("sgd", HUB_K_SGD_STEP, p->device, HUB_F32);
  if (!b) return -1;
  return HUB_K(b, SGD_STEP)(p, g, momentum != 0 ? buf : NULL, (float)lr, (float)momentum, (float)dampening,
                     (float)weight_decay, nesterov, first);
}

int hub_adam_step(hub_tensor *p, hub_tensor *g, hub_tensor *m, hub_tensor *v, double lr,
                  double beta1, double beta2, double eps, double weight_decay, int decoupled,
                  int64_t step) {
  const char *op = decoupled ? "adamw" : "adam";
  if (check_state(op, "parameter", p, p) || check_state(op, "gradient", p, g) || check_state(op, "exp_avg", p, m) ||
      check_state(op, "exp_avg_sq", p, v))
    return -1;
  if (step < 1) return hub_err("%s: step must be >= 1, got %lld", op, (long long)step);
  const hub_backend *b = hub_dispatch(op, HUB_K_ADAM_STEP, p->device, HUB_F32);
  if (!b) return -1;
  return HUB_K(b, ADAM_STEP)(p, g, m, v, (float)lr, (float)beta1, (float)beta2, (float)eps, (float)weight_decay, decoupled,
                      step);
}

double hub_sum_squares(hub_tensor *t) {
  if (!t) return hub_err("sum_squares: tensor is nil");
  hub_tensor *c = t;
  if (t->dtype != HUB_F32 || !hub_tensor_is_contiguous(t)) {
    c = hub_tensor_empty(HUB_F32, t->ndim, t->shape, t->device);
    if (!c || hub_copy_(c, t)) {
      hub_tensor_release(c);
      return -1;
    }
  }
  const hub_backend *b = hub_dispatch("sum_squares", HUB_K_SUM_SQUARES, t->device, HUB_F32);
  double s = b ? HUB_K(b, SUM_SQUARES)(c) : -1;
  if (c != t) hub_tensor_release(c);
  return s;
}

int hub_scale_(hub_tensor *t, double s) {
  if (check_state("scale_", "tensor", t, t)) return -1;
  const hub_backend *b = hub_dispatch("scale_", HUB_K_SCALE, t->device, HUB_F32);
  return b ? HUB_K(b, SCALE)(t, (float)s) : -1;
}
