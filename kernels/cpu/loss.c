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
 * The exponentials use a vectorisable expf (below); sums run in double.
 */
#include <math.h>
#include <stdlib.h>

#include "cpu.h"

/* exp(x) within 2 ulp for x in [-87.3, 88.3] (x is clamped to that range, so very negative x
 * gives ~1e-38 rather than 0; NaN stays NaN): Cephes' expf with the rounding done by a
 * magic-number add, the clamp by bit masks and the power of two built in the exponent bits, so
 * that loops over it vectorise at -O2 with plain SSE2 (libm's expf is a call per element, and a
 * ?: on floats is not if-converted). */
typedef union { float f; int32_t i; uint32_t u; } f32bits;

static inline float exp_fast(float x) {
  f32bits v = {x}, lo = {-87.3f}, hi = {88.3f};
  int32_t ml = -(int32_t)(x < -87.3f), mh = -(int32_t)(x > 88.3f);
  v.i = (v.i & ~(ml | mh)) | (lo.i & ml) | (hi.i & mh);
  x = v.f;
  f32bits t = {x * 1.44269504088896341f + 12582912.0f}; /* 1.5 * 2^23: rounds to an integer */
  float n = t.f - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  f32bits scale;
  scale.u = (uint32_t)(t.i - 0x4B400000 + 127) << 23; /* 2^n from n in t's low mantissa bits */
  return y * scale.f;
}

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
#pragma omp simd reduction(max : m)
    for (int64_t c = 0; c < C; c++) m = xr[c] > m ? xr[c] : m;
    double s = 0, sx = 0;
#pragma omp simd reduction(+ : s, sx)
    for (int64_t c = 0; c < C; c++) {
      s += (double)exp_fast(xr[c] - m);
      sx += (double)xr[c];
    }
    double l = (double)m + log(s);
    if (isinf(m)) l = m;      /* all -inf (or +inf) logits */
    if (isnan(sx)) l = NAN;   /* a NaN logit: the max and exp above skip it */
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
#pragma omp simd
    for (int64_t c = 0; c < C; c++) gr[c] = gscale * (exp_fast(xr[c] - l) - off);
    gr[t] -= gscale * on;
  }
  return 0;
}
