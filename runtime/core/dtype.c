/* dtype.c - dtype and device names, sizes, and the f16/bf16 <-> f32 conversions.
 *
 * Half and bfloat16 are storage formats: ops compute in f32 and weights stored as f16/bf16 are
 * widened on load.  Conversions round to nearest even, handle subnormals, inf and NaN.
 */
#include <string.h>

#include "internal.h"

static const char *dtype_names[HUB_DTYPE_COUNT] = {"f32", "f16", "bf16", "i32", "i64", "u8", "bool", "f64"};
static const size_t dtype_sizes[HUB_DTYPE_COUNT] = {4, 2, 2, 4, 8, 1, 1, 8};
static const char *device_names[HUB_DEVICE_COUNT] = {"cpu", "cuda"};

const char *hub_dtype_name(int d) {
  return (d >= 0 && d < HUB_DTYPE_COUNT) ? dtype_names[d] : "?";
}

int hub_dtype_from_name(const char *name) {
  if (!name) return hub_err("dtype: missing name");
  for (int i = 0; i < HUB_DTYPE_COUNT; i++)
    if (!strcmp(name, dtype_names[i])) return i;
  if (!strcmp(name, "float32") || !strcmp(name, "float")) return HUB_F32;
  if (!strcmp(name, "float16") || !strcmp(name, "half")) return HUB_F16;
  if (!strcmp(name, "bfloat16")) return HUB_BF16;
  if (!strcmp(name, "int32")) return HUB_I32;
  if (!strcmp(name, "int64") || !strcmp(name, "long")) return HUB_I64;
  if (!strcmp(name, "uint8")) return HUB_U8;
  if (!strcmp(name, "float64") || !strcmp(name, "double")) return HUB_F64;
  return hub_err("unknown dtype '%s' (expected f32, f16, bf16, i32, i64, u8, bool or f64)", name);
}

size_t hub_dtype_size(int d) { return (d >= 0 && d < HUB_DTYPE_COUNT) ? dtype_sizes[d] : 0; }
int hub_dtype_is_float(int d) { return d == HUB_F32 || d == HUB_F16 || d == HUB_BF16 || d == HUB_F64; }

/* 0: bool, 1: integer, 2: float. */
static int category(int d) { return d == HUB_BOOL ? 0 : hub_dtype_is_float(d) ? 2 : 1; }
/* Order within a category (bigger wins). */
static int rank(int d) {
  switch (d) {
  case HUB_U8: return 1;
  case HUB_I32: return 2;
  case HUB_I64: return 3;
  case HUB_F16: case HUB_BF16: return 1;
  case HUB_F32: return 3;
  case HUB_F64: return 4;
  default: return 0;
  }
}

int hub_promote_types(int a, int b) {
  if (a < 0 || a >= HUB_DTYPE_COUNT || b < 0 || b >= HUB_DTYPE_COUNT)
    return hub_err("promote_types: unknown dtype %d", a < 0 || a >= HUB_DTYPE_COUNT ? a : b);
  if (a == b) return a;
  int ca = category(a), cb = category(b);
  if (ca != cb) return ca > cb ? a : b;
  if ((a == HUB_F16 && b == HUB_BF16) || (a == HUB_BF16 && b == HUB_F16)) return HUB_F32;
  return rank(a) >= rank(b) ? a : b;
}

int hub_result_type_scalar(int t, double s) {
  if (t < 0 || t >= HUB_DTYPE_COUNT) return hub_err("result_type: unknown dtype %d", t);
  if (hub_dtype_is_float(t)) return t;
  int integral = s == s && s >= -9.2e18 && s <= 9.2e18 && s == (double)(int64_t)s;
  if (!integral) return HUB_F32;
  return t == HUB_BOOL ? HUB_I64 : t;
}

const char *hub_device_name(int d) {
  return (d >= 0 && d < HUB_DEVICE_COUNT) ? device_names[d] : "?";
}

int hub_device_from_name(const char *name) {
  if (!name) return hub_err("device: missing name");
  for (int i = 0; i < HUB_DEVICE_COUNT; i++)
    if (!strcmp(name, device_names[i])) return i;
  return hub_err("unknown device '%s' (expected cpu or cuda)", name);
}

float hub_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal: normalise */
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) { man <<= 1; exp--; }
      man &= 0x3ff;
      bits = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t hub_float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = (int32_t)((x >> 23) & 0xff);
  uint32_t man = x & 0x7fffff;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
  int32_t e = exp - 127 + 15;
  if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into exponent: fine */
  return (uint16_t)half;
}

float hub_bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t hub_float_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}
