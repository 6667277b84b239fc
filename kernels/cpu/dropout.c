/* dropout.c - inverted dropout on the CPU.
 *
 * Element i keeps its value (scaled by 1/(1-p)) when the i-th number of the reserved random
 * stream, hub_rng_uniform(key, counter + i), is >= p; the mask (u8, 1 = kept) is written for the
 * backward pass.  Because each element's number depends only on its index, the mask is the same
 * for any number of threads.  p == 1 drops everything (scale 0, no division by zero).
 * hub_rng_uniform is an out-of-line call that re-hashes the key for every number (~3x slower);
 * the loop below computes the same numbers with the key's hash hoisted.  rng_u32 must stay equal
 * to rng.c's hub_rng_u32: the test compares the mask with hub_rng_uniform element by element.
 */
#include "cpu.h"

static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* hub_rng_u32(key, counter), given kh = mix64(key * golden + constant). */
static inline uint32_t rng_u32(uint64_t kh, uint64_t counter) {
  return (uint32_t)(mix64(kh ^ (counter * 0x9e3779b97f4a7c15ULL)) >> 32);
}

int cpu_dropout(const hub_tensor *x, float p, uint64_t key, uint64_t counter, hub_tensor *y,
                hub_tensor *mask) {
  if (x->dtype != HUB_F32 || y->dtype != HUB_F32 || (mask && mask->dtype != HUB_U8))
    return hub_err("dropout: cpu kernel expects f32 data and a u8 mask");
  int64_t n = hub_tensor_numel(x);
  const float *xp = x->data;
  float *yp = y->data;
  uint8_t *mp = mask ? mask->data : NULL;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  uint64_t kh = mix64(key * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL);
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; i++) {
    float u = (float)(rng_u32(kh, counter + (uint64_t)i) >> 8) * (1.0f / 16777216.0f);
    uint8_t keep = u >= p;
    if (mp) mp[i] = keep;
    yp[i] = xp[i] * ((float)keep * scale); /* branch-free: keep is random */
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
