/* rng.c - the seeded random number generator.
 *
 * A counter-based generator (a splitmix64-style hash of key and counter): number i of a request
 * depends only on the seed and on how many numbers were drawn before, never on thread
 * scheduling, so the same seed gives the same tensors on every run and thread count.  Each
 * request reserves a block of counters under a lock; kernels then fill the block in parallel.
 * randn uses Box-Muller on pairs of uniforms.
 */
#include <math.h>
#include <pthread.h>

#include "internal.h"

static uint64_t g_seed = 5489, g_counter = 0;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void hub_manual_seed(uint64_t seed) {
  pthread_mutex_lock(&g_lock);
  g_seed = seed;
  g_counter = 0;
  pthread_mutex_unlock(&g_lock);
}

uint64_t hub_initial_seed(void) { return g_seed; }

void hub_rng_reserve(uint64_t n, uint64_t *key, uint64_t *counter) {
  pthread_mutex_lock(&g_lock);
  *key = g_seed;
  *counter = g_counter;
  g_counter += n;
  pthread_mutex_unlock(&g_lock);
}

static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint32_t hub_rng_u32(uint64_t key, uint64_t counter) {
  return (uint32_t)(mix64(mix64(key * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL) ^
                          (counter * 0x9e3779b97f4a7c15ULL)) >> 32);
}

float hub_rng_uniform(uint64_t key, uint64_t counter) {
  return (float)(hub_rng_u32(key, counter) >> 8) * (1.0f / 16777216.0f);
}
