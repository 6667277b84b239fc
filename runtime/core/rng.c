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

/* The whole state is two numbers (the stream's key and how many numbers it has handed out), so
 * a checkpoint saves them and a resumed run draws exactly the numbers the first run would have. */
void hub_rng_get_state(uint64_t *seed, uint64_t *counter) {
  pthread_mutex_lock(&g_lock);
  if (seed) *seed = g_seed;
  if (counter) *counter = g_counter;
  pthread_mutex_unlock(&g_lock);
}

void hub_rng_set_state(uint64_t seed, uint64_t counter) {
  pthread_mutex_lock(&g_lock);
  g_seed = seed;
  g_counter = counter;
  pthread_mutex_unlock(&g_lock);
}

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

/* ---- blocks of uniforms ----
 * Scalar code takes about 1.9 ns a number here (2-core AVX-512 Xeon, one thread, 16 M numbers);
 * with AVX-512DQ (vpmullq) eight numbers go through the hash at once in about 1.0 ns a number,
 * the same bits.  The vector path is chosen at run time, so the build still targets baseline
 * x86-64. */
static void fill_scalar(float *u, int64_t n, uint64_t kh, uint64_t c0) {
  for (int64_t j = 0; j < n; j++) u[j] = (float)((uint32_t)(mix64(kh ^ ((c0 + (uint64_t)j) * 0x9e3779b97f4a7c15ULL)) >> 32) >> 8) * (1.0f / 16777216.0f);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512dq"))) static void fill_avx512(float *u, int64_t n, uint64_t kh, uint64_t c0) {
  const __m512i g = _mm512_set1_epi64((long long)0x9e3779b97f4a7c15ULL);
  const __m512i m1 = _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL);
  const __m512i m2 = _mm512_set1_epi64((long long)0x94d049bb133111ebULL);
  const __m512i k = _mm512_set1_epi64((long long)kh), eight = _mm512_set1_epi64(8);
  const __m512 unit = _mm512_set1_ps(1.0f / 16777216.0f);
  __m512i c = _mm512_add_epi64(_mm512_set1_epi64((long long)c0), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m256i half[2];
    for (int h = 0; h < 2; h++) {
      __m512i x = _mm512_xor_si512(k, _mm512_mullo_epi64(c, g));
      c = _mm512_add_epi64(c, eight);
      x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 30)), m1);
      x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 27)), m2);
      x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
      half[h] = _mm512_cvtepi64_epi32(_mm512_srli_epi64(x, 40)); /* the top 24 bits */
    }
    __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(half[0]), half[1], 1);
    _mm512_storeu_ps(u + j, _mm512_mul_ps(_mm512_cvtepi32_ps(w), unit));
  }
  fill_scalar(u + j, n - j, kh, c0 + (uint64_t)j);
}

void hub_rng_uniform_block(float *u, int64_t n, uint64_t key, uint64_t c0) {
  const uint64_t kh = mix64(key * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL);
  static int have_avx512 = -1; /* every thread computes the same answer; relaxed atomics */
  int have = __atomic_load_n(&have_avx512, __ATOMIC_RELAXED);
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    __atomic_store_n(&have_avx512, have, __ATOMIC_RELAXED);
  }
  if (have)
    fill_avx512(u, n, kh, c0);
  else
    fill_scalar(u, n, kh, c0);
}
#else
void hub_rng_uniform_block(float *u, int64_t n, uint64_t key, uint64_t c0) {
  fill_scalar(u, n, mix64(key * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL), c0);
}
#endif
