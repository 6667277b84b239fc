/* cuda_fp16.h (hubemu): __half as 16 bits, converted with runtime/core/dtype.c's functions. */
#ifndef HUBEMU_CUDA_FP16_H
#define HUBEMU_CUDA_FP16_H
#include <stdint.h>
extern "C" float hub_half_to_float(uint16_t h);
extern "C" uint16_t hub_float_to_half(float f);
struct __half {
  uint16_t x;
};
inline float __half2float(__half h) { return hub_half_to_float(h.x); }
inline __half __float2half_rn(float f) { return __half{hub_float_to_half(f)}; }
inline __half __float2half(float f) { return __float2half_rn(f); }
#endif
