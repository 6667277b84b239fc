/* optim.c - fused optimiser updates on the CPU: one OpenMP pass over p, g and the state
 * tensors per parameter (see runtime/hub_optim.h for the formulas). */
#include <math.h>

#include "cpu.h"

int cpu_sgd_step(hub_tensor *pt, const hub_tensor *gt, hub_tensor *bt, float lr, float mu,
                 float damp, float wd, int nesterov, int first) {
  float *p = pt->data, *buf = bt ? bt->data : NULL;
  const float *g = gt->data;
  int64_t n = hub_tensor_numel(pt);
#pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    if (buf) {
      float b = first ? d : mu * buf[i] + (1.0f - damp) * d;
      buf[i] = b;
      d = nesterov ? d + mu * b : b;
    }
    p[i] -= lr * d;
  }
  return 0;
}

/* One Adam/AdamW update of one tensor (the formulas of runtime/core/hub_optim.h). */
static void adam_one(hub_tensor *pt, const hub_tensor *gt, hub_tensor *mt, hub_tensor *vt, float lr, float b1,
                     float b2, float eps, float wd, int decoupled, int64_t step) {
  float *p = pt->data, *m = mt->data, *v = vt->data;
  const float *g = gt->data;
  int64_t n = hub_tensor_numel(pt);
  double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
  float step_size = (float)(lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
  float decay = decoupled ? 1.0f - lr * wd : 1.0f, l2 = decoupled ? 0.0f : wd;
#pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i] + l2 * p[i];
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}

int cpu_adam_step(int n, hub_tensor *const *p, const hub_tensor *const *g, hub_tensor *const *m, hub_tensor *const *v,
                  const int64_t *steps, float lr, float b1, float b2, float eps, float wd, int decoupled) {
  for (int i = 0; i < n; i++) adam_one(p[i], g[i], m[i], v[i], lr, b1, b2, eps, wd, decoupled, steps[i]);
  return 0;
}

int cpu_sum_squares(int nt, const hub_tensor *const *ts, double *out) {
  for (int k = 0; k < nt; k++) {
    const float *x = ts[k]->data;
    int64_t n = hub_tensor_numel(ts[k]);
    double s = 0;
#pragma omp parallel for if (n > 32768) reduction(+ : s) schedule(static)
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    out[k] = s;
  }
  return 0;
}

int cpu_scale(int nt, hub_tensor *const *ts, float s) {
  for (int k = 0; k < nt; k++) {
    float *x = ts[k]->data;
    int64_t n = hub_tensor_numel(ts[k]);
#pragma omp parallel for if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] *= s;
  }
  return 0;
}
