/* tensor.c - tensor headers: creation, reference counting, facts, element access, constructors
 * and the argument-checking helpers every op uses.
 *
 * A tensor header is small (malloc'ed) and points into a refcounted storage from alloc.c.  A
 * tensor is freed when its refcount drops to zero; that releases its storage, its accumulated
 * gradient and its grad_fn node (and through it, the part of the graph only it kept alive).
 * Views and copies with autograd are in view.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static int64_t g_live_tensors;

int64_t hub_tensor_live_count(void) { return __atomic_load_n(&g_live_tensors, __ATOMIC_RELAXED); }

/* ---- checked sizes ---- */

int64_t hub_check_shape(const char *op, int ndim, const int64_t *shape, int dtype) {
  if (dtype < 0 || dtype >= HUB_DTYPE_COUNT) return hub_err("%s: unknown dtype %d", op, dtype);
  if (ndim < 0 || ndim > HUB_MAX_DIMS)
    return hub_err("%s: %d dimensions (at most %d are supported)", op, ndim, HUB_MAX_DIMS);
  if (ndim > 0 && !shape) return hub_err("%s: shape is missing (NULL) for %d dimensions", op, ndim);
  const int64_t limit = HUB_MAX_TENSOR_BYTES / (int64_t)hub_dtype_size(dtype);
  int64_t prod = 1, numel = 1; /* prod: of the non-zero sizes, so a 0 cannot hide an overflow */
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return hub_err("%s: negative size %lld in dimension %d", op, (long long)shape[i], i + 1);
    if (shape[i] == 0) {
      numel = 0;
      continue;
    }
    if (__builtin_mul_overflow(prod, shape[i], &prod) || prod > limit) {
      char buf[256];
      size_t k = (size_t)snprintf(buf, sizeof buf, "[");
      for (int j = 0; j < ndim && k < sizeof buf; j++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, j ? ",%lld" : "%lld", (long long)shape[j]);
      if (k < sizeof buf) snprintf(buf + k, sizeof buf - k, "]");
      return hub_err("%s: shape %s is too large (at most %lld elements of %s: 2^62 bytes)", op, buf,
                     (long long)limit, hub_dtype_name(dtype));
    }
  }
  return numel ? prod : 0;
}

int hub_check_extent(const char *op, int ndim, const int64_t *shape, const int64_t *stride,
                     int64_t offset, int64_t limit, int64_t *hi_out) {
  int64_t lo = offset, hi = offset;
  if (hi_out) *hi_out = 0;
  for (int i = 0; i < ndim; i++)
    if (shape[i] == 0) { /* an empty view touches nothing; its offset must still be sane */
      if (offset < 0 || offset > HUB_MAX_TENSOR_BYTES / 8)
        return hub_err("%s: offset %lld out of range", op, (long long)offset);
      return 0;
    }
  for (int i = 0; i < ndim; i++) {
    int64_t ext;
    if (__builtin_mul_overflow(shape[i] - 1, stride[i], &ext) ||
        (ext >= 0 ? __builtin_add_overflow(hi, ext, &hi) : __builtin_add_overflow(lo, ext, &lo)))
      return hub_err("%s: the view's extent overflows (size %lld, stride %lld in dimension %d)", op,
                     (long long)shape[i], (long long)stride[i], i + 1);
  }
  if (lo < 0 || (limit >= 0 && hi >= limit))
    return hub_err("%s: the view reaches elements [%lld, %lld] outside its storage of %lld elements", op,
                   (long long)lo, (long long)hi, (long long)limit);
  if (hi_out) *hi_out = hi + 1;
  return 0;
}

/* Frees a header that never got (or no longer holds) a storage. */
static void header_drop(hub_tensor *t) {
  free(t);
  __atomic_fetch_sub(&g_live_tensors, 1, __ATOMIC_RELAXED);
}

static hub_tensor *header_new(const char *op, int dtype, int ndim, const int64_t *shape, int device) {
  if (hub_check_shape(op, ndim, shape, dtype) < 0) return NULL;
  hub_tensor *t = calloc(1, sizeof *t);
  if (!t) return hub_errp("%s: out of memory", op);
  t->dtype = dtype;
  t->ndim = ndim;
  t->device = device;
  t->refcount = 1;
  int64_t st = 1; /* cannot overflow: hub_check_shape bounded the product */
  for (int i = ndim - 1; i >= 0; i--) {
    t->shape[i] = shape[i];
    t->stride[i] = st;
    st *= shape[i];
  }
  __atomic_fetch_add(&g_live_tensors, 1, __ATOMIC_RELAXED);
  return t;
}

hub_tensor *hub_tensor_empty(int dtype, int ndim, const int64_t *shape, int device) {
  if (device != HUB_CPU && !hub_backend_for(device)) return NULL;
  hub_tensor *t = header_new("tensor", dtype, ndim, shape, device);
  if (!t) return NULL;
  size_t nbytes = (size_t)hub_tensor_numel(t) * hub_dtype_size(dtype);
  t->storage = hub_storage_new(device, nbytes);
  if (!t->storage) {
    header_drop(t);
    return NULL;
  }
  t->data = t->storage->base;
  return t;
}

hub_tensor *hub_tensor_new(int dtype, int ndim, const int64_t *shape, int device) {
  hub_tensor *t = hub_tensor_empty(dtype, ndim, shape, device);
  if (t && hub_fill_(t, 0) != 0) {
    hub_tensor_release(t);
    return NULL;
  }
  return t;
}

hub_tensor *hub_tensor_empty_like(const hub_tensor *like, int dtype) {
  return hub_tensor_empty(dtype < 0 ? like->dtype : dtype, like->ndim, like->shape, like->device);
}

hub_tensor *hub_tensor_from_data(int dtype, int ndim, const int64_t *shape, const void *src,
                                 int src_dtype) {
  hub_tensor *t = hub_tensor_empty(dtype, ndim, shape, HUB_CPU);
  if (!t) return NULL;
  if (!src) return t;
  if (src_dtype < 0 || src_dtype >= HUB_DTYPE_COUNT) {
    hub_tensor_release(t);
    return hub_errp("tensor: unknown source dtype %d", src_dtype);
  }
  hub_tensor *s = hub_tensor_wrap(src_dtype, ndim, shape, NULL, (void *)src, NULL, NULL);
  int rc = s ? hub_copy_(t, s) : -1;
  hub_tensor_release(s);
  if (rc) {
    hub_tensor_release(t);
    return NULL;
  }
  return t;
}

static void no_free(void *ctx) { (void)ctx; }

hub_tensor *hub_tensor_wrap(int dtype, int ndim, const int64_t *shape, const int64_t *stride,
                            void *data, void (*free_fn)(void *), void *ctx) {
  hub_tensor *t = header_new("wrap", dtype, ndim, shape, HUB_CPU);
  if (!t) return NULL;
  int64_t extent = hub_tensor_numel(t);
  if (stride) {
    memcpy(t->stride, stride, sizeof(int64_t) * (size_t)ndim);
    if (hub_check_extent("wrap", ndim, t->shape, t->stride, 0, -1, &extent) ||
        (extent > HUB_MAX_TENSOR_BYTES / (int64_t)hub_dtype_size(dtype) &&
         hub_err("wrap: the strides reach %lld elements (at most %lld)", (long long)extent,
                 (long long)(HUB_MAX_TENSOR_BYTES / (int64_t)hub_dtype_size(dtype))))) {
      header_drop(t);
      return NULL;
    }
  }
  if (!data && extent > 0) {
    header_drop(t);
    return hub_errp("wrap: data is NULL for a tensor of %lld elements", (long long)extent);
  }
  t->storage = calloc(1, sizeof *t->storage);
  if (!t->storage) {
    header_drop(t);
    return hub_errp("wrap: out of memory");
  }
  t->storage->base = data;
  t->storage->nbytes = (size_t)extent * hub_dtype_size(dtype);
  t->storage->refcount = 1;
  t->storage->device = HUB_CPU;
  t->storage->free_fn = free_fn ? free_fn : no_free;
  t->storage->ctx = ctx;
  t->data = data;
  return t;
}

hub_tensor *hub_tensor_alias(const hub_tensor *t, int ndim, const int64_t *shape,
                             const int64_t *stride, int64_t offset) {
  hub_tensor *v = header_new("view", t->dtype, ndim, shape, t->device);
  if (!v) return NULL;
  if (stride) memcpy(v->stride, stride, sizeof(int64_t) * (size_t)ndim);
  /* the last line of defence for every view: it must lie inside the storage it aliases */
  if (hub_check_extent("view", ndim, v->shape, v->stride, offset,
                       (int64_t)(t->storage->nbytes / hub_dtype_size(t->dtype)), NULL)) {
    header_drop(v);
    return NULL;
  }
  v->storage = t->storage;
  hub_storage_retain(t->storage);
  v->offset = offset;
  v->data = (char *)t->storage->base + offset * (int64_t)hub_dtype_size(t->dtype);
  return v;
}

hub_tensor *hub_tensor_retain(hub_tensor *t) {
  if (t) __atomic_fetch_add(&t->refcount, 1, __ATOMIC_RELAXED);
  return t;
}

void hub_tensor_release(hub_tensor *t) {
  if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
  hub_storage_release(t->storage);
  if (t->grad) hub_tensor_release(t->grad);
  if (t->grad_fn) hub_node_release(t->grad_fn);
  free(t);
  __atomic_fetch_sub(&g_live_tensors, 1, __ATOMIC_RELAXED);
}

/* ---- facts ---- */

int hub_tensor_ndim(const hub_tensor *t) { return t->ndim; }
int hub_tensor_dtype(const hub_tensor *t) { return t->dtype; }
int hub_tensor_device(const hub_tensor *t) { return t->device; }
int hub_tensor_requires_grad(const hub_tensor *t) { return t->requires_grad; }
int64_t hub_tensor_size(const hub_tensor *t, int d) {
  if (d < 0) d += t->ndim;
  return d >= 0 && d < t->ndim ? t->shape[d] : -1;
}

int64_t hub_tensor_numel(const hub_tensor *t) { return hub_numel_of(t->ndim, t->shape); }

int hub_tensor_is_contiguous(const hub_tensor *t) {
  int64_t st = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->stride[i] != st) return 0;
    st *= t->shape[i];
  }
  return 1;
}

char *hub_shape_str(const hub_tensor *t, char *buf, size_t n) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, n - k, "[");
  for (int i = 0; i < t->ndim && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)t->shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}

bool hub_same_shape(const hub_tensor *a, const hub_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

int hub_norm_dim(const char *op, int dim, int ndim) {
  int n = ndim == 0 ? 1 : ndim;
  if (dim < -n || dim >= n)
    return hub_err("%s: dimension %d out of range for a %d-d tensor", op, dim < 0 ? dim : dim + 1, ndim);
  return dim < 0 ? dim + n : dim;
}

int hub_broadcast_shape(const char *op, const hub_tensor *a, const hub_tensor *b, int64_t *out) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < n; i++) {
    int ia = a->ndim - n + i, ib = b->ndim - n + i;
    int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      char s1[128], s2[128];
      return hub_err("%s: shapes %s and %s cannot be broadcast together", op,
                     hub_shape_str(a, s1, sizeof s1), hub_shape_str(b, s2, sizeof s2));
    }
    out[i] = sa == 1 ? sb : sa;
  }
  return n;
}

int hub_check_float(const char *op, const char *arg, const hub_tensor *t) {
  if (!t) return hub_err("%s: %s is missing (nil)", op, arg);
  if (!hub_dtype_is_float(t->dtype))
    return hub_err("%s: expected %s to be a float tensor, got %s", op, arg, hub_dtype_name(t->dtype));
  return 0;
}

int hub_check_index(const char *op, const char *arg, const hub_tensor *t) {
  if (!t) return hub_err("%s: %s is missing (nil)", op, arg);
  if (t->dtype != HUB_I64 && t->dtype != HUB_I32)
    return hub_err("%s: expected %s to be an i64 or i32 tensor, got %s", op, arg, hub_dtype_name(t->dtype));
  return 0;
}

int hub_check_same_device(const char *op, const hub_tensor *a, const hub_tensor *b) {
  if (a && b && a->device != b->device)
    return hub_err("%s: tensors on different devices (%s and %s)", op, hub_device_name(a->device),
                   hub_device_name(b->device));
  return 0;
}

hub_tensor *hub_expand_raw(const hub_tensor *t, int ndim, const int64_t *shape) {
  if (ndim < t->ndim) return hub_errp("expand: cannot expand a %d-d tensor to %d dimensions", t->ndim, ndim);
  if (hub_check_shape("expand", ndim, shape, t->dtype) < 0) return NULL;
  int64_t st[HUB_MAX_DIMS];
  for (int i = 0; i < ndim; i++) {
    int j = t->ndim - ndim + i;
    if (j < 0) {
      st[i] = 0;
    } else if (t->shape[j] == shape[i]) {
      st[i] = t->stride[j];
    } else if (t->shape[j] == 1) {
      st[i] = 0;
    } else {
      char s1[128];
      return hub_errp("expand: size %lld of dimension %d of %s cannot grow to %lld",
                      (long long)t->shape[j], j + 1, hub_shape_str(t, s1, sizeof s1), (long long)shape[i]);
    }
  }
  return hub_tensor_alias(t, ndim, shape, st, t->offset);
}

/* ---- element access ---- */

static int64_t elem_offset(const hub_tensor *t, int64_t i) {
  int64_t off = 0;
  for (int d = t->ndim - 1; d >= 0; d--) {
    int64_t s = t->shape[d];
    off += (i % s) * t->stride[d];
    i /= s;
  }
  return off;
}

static double load(const void *base, int dtype, int64_t k) {
  switch (dtype) {
    case HUB_F32: return ((const float *)base)[k];
    case HUB_F16: return hub_half_to_float(((const uint16_t *)base)[k]);
    case HUB_BF16: return hub_bf16_to_float(((const uint16_t *)base)[k]);
    case HUB_I32: return ((const int32_t *)base)[k];
    case HUB_I64: return (double)((const int64_t *)base)[k];
    case HUB_U8: return ((const uint8_t *)base)[k];
    case HUB_BOOL: return ((const uint8_t *)base)[k] != 0;
    case HUB_F64: return ((const double *)base)[k];
  }
  return 0;
}

double hub_tensor_get(const hub_tensor *t, int64_t i) {
  if (t->device != HUB_CPU) {
    hub_err("get: tensor is on %s, not the cpu (read it with hub_tensor_read or copy it with hub_to_device)",
            hub_device_name(t->device));
    return NAN;
  }
  if (i < 0 || i >= hub_tensor_numel(t)) {
    hub_err("get: index %lld out of range for %lld elements", (long long)i, (long long)hub_tensor_numel(t));
    return NAN;
  }
  return load(t->data, t->dtype, elem_offset(t, i));
}

int hub_tensor_set(hub_tensor *t, int64_t i, double v) {
  if (t->device != HUB_CPU) return hub_err("set: tensor is not on the cpu");
  if (i < 0 || i >= hub_tensor_numel(t)) return hub_err("set: index %lld out of range", (long long)i);
  int64_t k = elem_offset(t, i);
  if (!hub_dtype_is_float(t->dtype)) { /* clamp: converting an out-of-range double is undefined */
    double lo = t->dtype == HUB_I32 ? -2147483648.0 : t->dtype == HUB_I64 ? -9.2233720368547758e18 : 0;
    double hi = t->dtype == HUB_I32 ? 2147483647.0 : t->dtype == HUB_I64 ? 9.2233720368547748e18 : 255;
    v = v != v ? 0 : v < lo ? lo : v > hi ? hi : v;
  }
  switch (t->dtype) {
    case HUB_F32: ((float *)t->data)[k] = (float)v; break;
    case HUB_F16: ((uint16_t *)t->data)[k] = hub_float_to_half((float)v); break;
    case HUB_BF16: ((uint16_t *)t->data)[k] = hub_float_to_bf16((float)v); break;
    case HUB_I32: ((int32_t *)t->data)[k] = (int32_t)v; break;
    case HUB_I64: ((int64_t *)t->data)[k] = (int64_t)v; break;
    case HUB_U8: ((uint8_t *)t->data)[k] = (uint8_t)v; break;
    case HUB_BOOL: ((uint8_t *)t->data)[k] = v != 0; break;
    case HUB_F64: ((double *)t->data)[k] = v; break;
  }
  return 0;
}

int hub_tensor_read(const hub_tensor *t, void *dst, int dtype) {
  if (t->device != HUB_CPU) { /* through a host copy, as torch's .tolist() */
    HUB_NO_GRAD_BEGIN;
    hub_tensor *host = hub_to_device((hub_tensor *)t, HUB_CPU);
    HUB_NO_GRAD_END;
    if (!host) return -1;
    int rc = host->device == HUB_CPU ? hub_tensor_read(host, dst, dtype) : hub_err("read: the copy to the cpu failed");
    hub_tensor_release(host);
    return rc;
  }
  int64_t n = hub_tensor_numel(t);
  if (dtype == -1) {
    for (int64_t i = 0; i < n; i++) ((double *)dst)[i] = hub_tensor_get(t, i);
    return 0;
  }
  hub_tensor *d = hub_tensor_wrap(dtype, t->ndim, t->shape, NULL, dst, NULL, NULL);
  if (!d) return -1;
  int rc = hub_copy_(d, (hub_tensor *)t);
  hub_tensor_release(d);
  return rc;
}

/* ---- constructors ---- */

hub_tensor *hub_full(int ndim, const int64_t *shape, double value, int dtype) {
  hub_tensor *t = hub_tensor_empty(dtype, ndim, shape, HUB_CPU);
  if (t && hub_fill_(t, value) != 0) {
    hub_tensor_release(t);
    return NULL;
  }
  return t;
}

hub_tensor *hub_arange(double start, double end, double step, int dtype) {
  if (step == 0) return hub_errp("arange: step must not be zero");
  double nf = ceil((end - start) / step);
  if (!(nf >= 0) || nf > 1e12) return hub_errp("arange: bad range [%g, %g) with step %g", start, end, step);
  int64_t n = (int64_t)nf;
  /* the first and last values must fit an integer dtype (set() would clamp them silently) */
  if (n > 0 && (hub_check_int_value("arange", trunc(start), dtype) ||
                hub_check_int_value("arange", trunc(start + (double)(n - 1) * step), dtype)))
    return NULL;
  hub_tensor *t = hub_tensor_empty(dtype, 1, &n, HUB_CPU);
  if (!t) return NULL;
  for (int64_t i = 0; i < n; i++) hub_tensor_set(t, i, start + (double)i * step);
  return t;
}

/* p[0..n) = the next n numbers of the stream, N(0, 1) (normal) or U[0, 1), times scale plus
 * shift (in f32: the values hub_randn/hub_rand followed by mul and add would give). */
static void fill_random(float *p, int64_t n, int normal, float scale, float shift) {
  uint64_t key, ctr;
  hub_rng_reserve((uint64_t)(normal ? 2 * n : n), &key, &ctr);
  /* number i uses counters 2i and 2i+1 (normal, Box-Muller) or i (uniform), drawn in blocks */
  enum { BLK = 512 };
  const int64_t nblk = (n + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t b = 0; b < nblk; b++) {
    const int64_t i0 = b * BLK, m = n - i0 < BLK ? n - i0 : BLK;
    if (normal) {
      float u[2 * BLK];
      hub_rng_uniform_block(u, 2 * m, key, ctr + 2 * (uint64_t)i0);
      for (int64_t j = 0; j < m; j++)
        p[i0 + j] = sqrtf(-2.0f * logf(1.0f - u[2 * j])) * cosf(6.283185307179586f * u[2 * j + 1]);
    } else {
      hub_rng_uniform_block(p + i0, m, key, ctr + (uint64_t)i0);
    }
    if (scale != 1.0f || shift != 0.0f)
      for (int64_t j = 0; j < m; j++) {
        float v = p[i0 + j] * scale;
        p[i0 + j] = v + shift;
      }
  }
}

static hub_tensor *random_f32(int ndim, const int64_t *shape, int dtype, int normal) {
  if (!hub_dtype_is_float(dtype))
    return hub_errp("%s: dtype must be a float type, got %s", normal ? "randn" : "rand", hub_dtype_name(dtype));
  hub_tensor *t = hub_tensor_empty(HUB_F32, ndim, shape, HUB_CPU);
  if (!t) return NULL;
  fill_random(t->data, hub_tensor_numel(t), normal, 1.0f, 0.0f);
  if (dtype != HUB_F32) {
    hub_tensor *c = hub_to_dtype(t, dtype);
    hub_tensor_release(t);
    return c;
  }
  return t;
}

hub_tensor *hub_randn(int ndim, const int64_t *shape, int dtype) { return random_f32(ndim, shape, dtype, 1); }
hub_tensor *hub_rand(int ndim, const int64_t *shape, int dtype) { return random_f32(ndim, shape, dtype, 0); }

/* In place: straight into a contiguous f32 CPU tensor (no temporaries: initialising a large
 * model leaves nothing in the allocator's cache), else through an f32 copy. */
static int random_(const char *op, hub_tensor *t, int normal, double scale, double shift) {
  if (!t) return hub_err("%s: tensor is missing (nil)", op);
  if (!hub_dtype_is_float(t->dtype))
    return hub_err("%s: the tensor must have a float dtype, got %s", op, hub_dtype_name(t->dtype));
  if (t->dtype == HUB_F32 && t->device == HUB_CPU && hub_tensor_is_contiguous(t)) {
    fill_random(t->data, hub_tensor_numel(t), normal, (float)scale, (float)shift);
    return 0;
  }
  hub_tensor *v = hub_tensor_empty(HUB_F32, t->ndim, t->shape, HUB_CPU);
  if (!v) return -1;
  fill_random(v->data, hub_tensor_numel(v), normal, (float)scale, (float)shift);
  int rc = hub_copy_(t, v);
  hub_tensor_release(v);
  return rc;
}

int hub_normal_(hub_tensor *t, double mean, double std) { return random_("normal_", t, 1, std, mean); }
int hub_uniform_(hub_tensor *t, double a, double b) { return random_("uniform_", t, 0, b - a, a); }

hub_tensor *hub_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, int dtype) {
  if (high <= low) return hub_errp("randint: high (%lld) must be greater than low (%lld)", (long long)high, (long long)low);
  hub_tensor *t = hub_tensor_empty(HUB_I64, ndim, shape, HUB_CPU);
  if (!t) return NULL;
  int64_t n = hub_tensor_numel(t);
  uint64_t key, ctr, range = (uint64_t)high - (uint64_t)low; /* in unsigned: high - low may exceed INT64_MAX */
  hub_rng_reserve((uint64_t)n * 2, &key, &ctr);
  int64_t *p = t->data;
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = ((uint64_t)hub_rng_u32(key, ctr + 2 * (uint64_t)i) << 32) | hub_rng_u32(key, ctr + 2 * (uint64_t)i + 1);
    p[i] = (int64_t)((uint64_t)low + r % range);
  }
  if (dtype != HUB_I64) {
    hub_tensor *c = hub_to_dtype(t, dtype);
    hub_tensor_release(t);
    return c;
  }
  return t;
}
