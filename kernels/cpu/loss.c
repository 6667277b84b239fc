/* loss.c - cross-entropy over the rows of [N, C] logits (CPU), as
 * torch.nn.functional.cross_entropy(logits, target, ignore_index=, label_smoothing=eps):
 *   lse_i  = log sum_c exp(x_ic)                       (max-shifted, accumulated in double)
 *   loss_i = (1 - eps) * (lse_i - x_i,t_i) + eps * (lse_i - mean_c x_ic)
 *   loss   = sum over rows whose target is not ignore_index, divided by their count
 *            (NaN when every row is ignored, as torch).
 * The backward is d loss_i / d x_ic = softmax_ic - (1 - eps) [c == t_i] - eps / C, times the
 * upstream gradient divided by the count (gscale); ignored rows get zeros.  Targets are checked
 * before any work: one outside [0, C) that is not ignore_index is an error naming the value.
 * Row losses go to a buffer and are summed in order, so the result does not depend on threads.
 */
#include <math.h>
#include <stdlib.h>

#include "cpu.h"

static int64_t target_at(const hub_tensor *t, int64_t i) {
  return t->dtype == HUB_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
}

int cpu_cross_entropy(const hub_tensor *logits, const hub_tensor *target, int64_t ignore_index,
                      float smoothing, hub_tensor *loss, hub_tensor *lse, int64_t *count) {
  if (logits->dtype != HUB_F32 || loss->dtype != HUB_F32 || (lse && lse->dtype != HUB_F32))
    return hub_err("cross_entropy: cpu kernel expects f32 logits");
  if (target->dtype != HUB_I64 && target->dtype != HUB_I32)
    return hub_err("cross_entropy: target must be i64 or i32");
  int64_t N = hub_tensor_numel(target);
  int64_t C = N ? hub_tensor_numel(logits) / N : 0;
  int64_t cnt = 0;
  for (int64_t i = 0; i < N; i++) {
    int64_t t = target_at(target, i);
    if (t == ignore_index) continue;
    if (t < 0 || t >= C)
      return hub_err("cross_entropy: target %lld out of range for %lld classes", (long long)t,
                     (long long)C);
    cnt++;
  }
  double *row = malloc(sizeof(double) * (size_t)(N ? N : 1));
  if (!row) return hub_err("cross_entropy: out of memory");
  const float *x = logits->data;
  float *lp = lse ? lse->data : NULL;
  double eps = smoothing;
#pragma omp parallel for schedule(static) if (N * C > 16384)
  for (int64_t i = 0; i < N; i++) {
    const float *xr = x + i * C;
    float m = -INFINITY;
    for (int64_t c = 0; c < C; c++) m = xr[c] > m ? xr[c] : m;
    double s = 0, sx = 0;
    for (int64_t c = 0; c < C; c++) {
      s += exp((double)(xr[c] - m));
      sx += xr[c];
    }
    double l = (double)m + log(s);
    if (isinf(m)) l = m; /* all -inf (or +inf) logits */
    if (lp) lp[i] = (float)l;
    int64_t t = target_at(target, i);
    if (t == ignore_index) {
      row[i] = 0;
    } else {
      row[i] = (1.0 - eps) * (l - xr[t]) + (eps > 0 ? eps * (l - sx / (double)C) : 0.0);
    }
  }
  double total = 0;
  for (int64_t i = 0; i < N; i++) total += row[i];
  free(row);
  *(float *)loss->data = cnt ? (float)(total / (double)cnt) : NAN;
  if (count) *count = cnt;
  return 0;
}

int cpu_cross_entropy_backward(const hub_tensor *logits, const hub_tensor *target,
                               const hub_tensor *lse, int64_t ignore_index, float smoothing,
                               float gscale, hub_tensor *glogits) {
  if (logits->dtype != HUB_F32 || lse->dtype != HUB_F32 || glogits->dtype != HUB_F32)
    return hub_err("cross_entropy: cpu kernel expects f32 logits");
  int64_t N = hub_tensor_numel(target);
  int64_t C = N ? hub_tensor_numel(logits) / N : 0;
  const float *x = logits->data, *lp = lse->data;
  float *g = glogits->data;
  float on = (1.0f - smoothing), off = C ? smoothing / (float)C : 0.0f;
#pragma omp parallel for schedule(static) if (N * C > 16384)
  for (int64_t i = 0; i < N; i++) {
    const float *xr = x + i * C;
    float *gr = g + i * C;
    int64_t t = target_at(target, i);
    if (t == ignore_index || t < 0 || t >= C) {
      for (int64_t c = 0; c < C; c++) gr[c] = 0.0f;
      continue;
    }
    float l = lp[i];
    for (int64_t c = 0; c < C; c++) gr[c] = gscale * (expf(xr[c] - l) - off);
    gr[t] -= gscale * on;
  }
  return 0;
}
