/* optim.c - argument checks and dispatch for the fused optimiser updates (hub_optim.h). */
#include <stdlib.h>

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

int hub_adam_step_multi(int n, hub_tensor **p, hub_tensor **g, hub_tensor **m, hub_tensor **v, const int64_t *steps,
                        double lr, double beta1, double beta2, double eps, double weight_decay, int decoupled) {
  const char *op = decoupled ? "adamw" : "adam";
  if (n < 0 || (n > 0 && (!p || !g || !m || !v || !steps))) return hub_err("%s: bad tensor lists", op);
  if (n == 0) return 0;
  for (int i = 0; i < n; i++) {
    if (check_state(op, "parameter", p[i], p[i]) || check_state(op, "gradient", p[i], g[i]) ||
        check_state(op, "exp_avg", p[i], m[i]) || check_state(op, "exp_avg_sq", p[i], v[i]))
      return -1;
    if (p[i]->device != p[0]->device) return hub_err("%s: parameters on different devices in one update", op);
    if (steps[i] < 1) return hub_err("%s: step must be >= 1, got %lld", op, (long long)steps[i]);
  }
  const hub_backend *b = hub_dispatch(op, HUB_K_ADAM_STEP, p[0]->device, HUB_F32);
  if (!b) return -1;
  return HUB_K(b, ADAM_STEP)(n, p, (const hub_tensor *const *)g, m, v, steps, (float)lr, (float)beta1, (float)beta2,
                             (float)eps, (float)weight_decay, decoupled);
}

int hub_adam_step(hub_tensor *p, hub_tensor *g, hub_tensor *m, hub_tensor *v, double lr,
                  double beta1, double beta2, double eps, double weight_decay, int decoupled,
                  int64_t step) {
  return hub_adam_step_multi(1, &p, &g, &m, &v, &step, lr, beta1, beta2, eps, weight_decay, decoupled);
}

int hub_sum_squares_multi(int n, hub_tensor **ts, double *out) {
  if (n < 0 || (n > 0 && (!ts || !out))) return hub_err("sum_squares: bad tensor list");
  if (n == 0) return 0;
  hub_tensor **c = calloc((size_t)n, sizeof *c);
  if (!c) return hub_err("sum_squares: out of memory");
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    hub_tensor *t = ts[i];
    if (!t) rc = hub_err("sum_squares: tensor %d is nil", i + 1);
    else if (t->device != ts[0]->device) rc = hub_err("sum_squares: tensors on different devices in one call");
    else if (t->dtype != HUB_F32 || !hub_tensor_is_contiguous(t)) {
      c[i] = hub_tensor_empty(HUB_F32, t->ndim, t->shape, t->device);
      if (!c[i] || hub_copy_(c[i], t)) rc = -1;
    }
  }
  const hub_backend *b = rc == 0 ? hub_dispatch("sum_squares", HUB_K_SUM_SQUARES, ts[0]->device, HUB_F32) : NULL;
  if (rc == 0 && !b) rc = -1;
  if (rc == 0) {
    const hub_tensor **use = malloc(sizeof *use * (size_t)n);
    if (!use) rc = hub_err("sum_squares: out of memory");
    for (int i = 0; use && i < n; i++) use[i] = c[i] ? c[i] : ts[i];
    if (use) rc = HUB_K(b, SUM_SQUARES)(n, use, out);
    free(use);
  }
  for (int i = 0; i < n; i++) hub_tensor_release(c[i]);
  free(c);
  return rc;
}

double hub_sum_squares(hub_tensor *t) {
  if (!t) return hub_err("sum_squares: tensor is nil");
  double s = -1;
  return hub_sum_squares_multi(1, &t, &s) == 0 ? s : -1;
}

int hub_scale_multi_(int n, hub_tensor **ts, double s) {
  if (n < 0 || (n > 0 && !ts)) return hub_err("scale_: bad tensor list");
  if (n == 0) return 0;
  for (int i = 0; i < n; i++) {
    if (check_state("scale_", "tensor", ts[i], ts[i])) return -1;
    if (ts[i]->device != ts[0]->device) return hub_err("scale_: tensors on different devices in one call");
  }
  const hub_backend *b = hub_dispatch("scale_", HUB_K_SCALE, ts[0]->device, HUB_F32);
  return b ? HUB_K(b, SCALE)(n, ts, (float)s) : -1;
}

int hub_scale_(hub_tensor *t, double s) { return hub_scale_multi_(1, &t, s); }
