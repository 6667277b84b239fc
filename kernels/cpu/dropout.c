/* dropout.c - inverted dropout on the CPU.
 *
 * Element i keeps its value (scaled by 1/(1-p)) when the i-th number of the reserved random
 * stream, hub_rng_uniform(key, counter + i), is >= p; the mask (u8, 1 = kept) is written for the
 * backward pass.  Because each element's number depends only on its index, the mask is the same
 * for any number of threads.  p == 1 drops everything (scale 0, no division by zero).
 * hub_rng_uniform is an out-of-line call that re-hashes the key for every number (~3x slower);
 * the loop below draws the same numbers in blocks (hub_rng_uniform_block: the key's hash hoisted,
 * vectorised; the test compares the mask with hub_rng_uniform element by element).
 */
#include "cpu.h"

int cpu_dropout(const hub_tensor *x, float p, uint64_t key, uint64_t counter, hub_tensor *y,
                hub_tensor *mask) {
  if (x->dtype != HUB_F32 || y->dtype != HUB_F32 || (mask && mask->dtype != HUB_U8))
    return hub_err("dropout: cpu kernel expects f32 data and a u8 mask");
  int64_t n = hub_tensor_numel(x);
  const float *xp = x->data;
  float *yp = y->data;
  uint8_t *mp = mask ? mask->data : NULL;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  enum { BLK = 1024 }; /* numbers drawn per block (a stack buffer) */
  const int64_t nblk = (n + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t b = 0; b < nblk; b++) {
    float u[BLK];
    const int64_t i0 = b * BLK, m = n - i0 < BLK ? n - i0 : BLK;
    hub_rng_uniform_block(u, m, key, counter + (uint64_t)i0);
    for (int64_t j = 0; j < m; j++) {
      uint8_t keep = u[j] >= p;
      if (mp) mp[i0 + j] = keep;
      yp[i0 + j] = xp[i0 + j] * ((float)keep * scale); /* branch-free: keep is random */
    }
  }
  return 0;
}

int cpu_dropout_backward(const hub_tensor *gy, const hub_tensor *mask, float p, hub_tensor *gx) {
  if (gy->dtype != HUB_F32 || gx->dtype != HUB_F32 || mask->dtype != HUB_U8)
    return hub_err("dropout: cpu kernel expects f32 data and a u8 mask");
  int64_t n = hub_tensor_numel(gy);
  const float *gp = gy->data;
  const uint8_t *mp = mask->data;
  float *xp = gx->data;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) xp[i] = gp[i] * ((float)mp[i] * scale);
  return 0;
}
