/* rng.c - blocks of uniform numbers from the seeded counter-based stream (runtime/rng.c), for the
 * dropout kernels.
 *
 * u[j] = hub_rng_uniform(key, c0 + j) for j < n, given kh = cpu_rng_key(key).  The stream is a
 * splitmix64-style hash of the counter: three 64-bit multiplies per number.  Scalar code takes
 * about 1.9 ns a number here; with AVX-512DQ (vpmullq) eight numbers go through the hash at once
 * in about 1.0 ns a number (2-core AVX-512 Xeon, one thread, 16 M numbers), the same bits.  The
 * vector path is chosen at run time, so the build still targets baseline x86-64.
 */
#include "cpu.h"

static void fill_scalar(float *u, int64_t n, uint64_t kh, uint64_t c0) {
  for (int64_t j = 0; j < n; j++) u[j] = (float)(cpu_rng_u32(kh, c0 + (uint64_t)j) >> 8) * (1.0f / 16777216.0f);
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

void cpu_rng_uniform_block(float *u, int64_t n, uint64_t kh, uint64_t c0) {
  static int have = -1; /* benign race: every thread computes the same answer */
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  }
  if (have)
    fill_avx512(u, n, kh, c0);
  else
    fill_scalar(u, n, kh, c0);
}
#else
void cpu_rng_uniform_block(float *u, int64_t n, uint64_t kh, uint64_t c0) { fill_scalar(u, n, kh, c0); }
#endif
