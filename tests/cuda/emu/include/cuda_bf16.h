/* cuda_bf16.h (hubemu): __nv_bfloat16 as 16 bits, converted with runtime/core/dtype.c's functions. */
#ifndef HUBEMU_CUDA_BF16_H
#define HUBEMU_CUDA_BF16_H
#include <stdint.h>
extern "C" float hub_bf16_to_float(uint16_t h);
extern "C" uint16_t hub_float_to_bf16(float f);
struct __nv_bfloat16 {
  uint16_t x;
};
inline float __bfloat162float(__nv_bfloat16 h) { return hub_bf16_to_float(h.x); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{hub_float_to_bf16(f)}; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
#endif
