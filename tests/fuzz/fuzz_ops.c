/* fuzz_ops.c - libFuzzer target over the C API's constructors, views and ops.
 *
 * The input is a little program: each step reads an opcode byte and its arguments (dtypes,
 * shapes, strides, dims, values) from the rest of the input and applies it to a pool of up to
 * eight tensors (results replace a slot).  Shapes are mostly small, but a size byte can also
 * pick a huge or negative size, so the overflow checks are exercised as well as real kernels.
 * The contract checked on every call: a tensor result is either a sane tensor (ndim in [0, 8],
 * sizes >= 0, numel = the product of the sizes, every element readable) or NULL with
 * hub_last_error() set; an int result is 0 or -1 with the error set.  Anything else aborts, as
 * do the sanitizers on a bad access.  Compute ops run only when their operands are small (a huge
 * expanded view is legal, but summing 2^60 elements is a hang, not a bug).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

typedef struct reader {
  const uint8_t *p;
  size_t n;
} reader;

static uint8_t u8(reader *r) {
  if (!r->n) return 0;
  r->n--;
  return *r->p++;
}

static int64_t i64(reader *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | u8(r);
  return (int64_t)v;
}

/* A size: usually 0..5, sometimes a large or hostile one. */
static int64_t size_arg(reader *r) {
  uint8_t b = u8(r);
  if (b < 200) return b % 6;
  switch (b % 8) {
    case 0: return -1;
    case 1: return (int64_t)1 << (30 + u8(r) % 33);
    case 2: return INT64_MAX;
    case 3: return INT64_MIN;
    case 4: return i64(r);
    case 5: return 17 + u8(r) % 64;
    case 6: return -(int64_t)(u8(r) % 4) - 1;
    default: return ((int64_t)1 << 31) + (u8(r) % 3) - 1;
  }
}

static double value_arg(reader *r) {
  uint8_t b = u8(r);
  switch (b % 10) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return 300;
    case 4: return 9223372036854775808.0;
    case 5: return (double)(int8_t)u8(r) / 4;
    case 6: {
      int64_t v = i64(r);
      double d;
      memcpy(&d, &v, sizeof d);
      return d;
    }
    default: return (double)(int8_t)u8(r);
  }
}

static int dim_arg(reader *r) { return (int)(int8_t)u8(r) % 10; }

/* dtype: mostly valid, sometimes not */
static int dtype_arg(reader *r) {
  uint8_t b = u8(r);
  return b < 250 ? b % HUB_DTYPE_COUNT : (int)(b - 252);
}

enum { POOL = 8, SMALL = 1 << 12 };
static hub_tensor *pool[POOL];

static void die(const char *what) {
  fprintf(stderr, "fuzz_ops: contract broken: %s (error: '%s')\n", what, hub_last_error());
  abort();
}

static int64_t numel_checked(const hub_tensor *t) {
  int nd = hub_tensor_ndim(t);
  if (nd < 0 || nd > HUB_MAX_DIMS) die("ndim out of range");
  int64_t n = 1;
  for (int d = 0; d < nd; d++) {
    int64_t s = hub_tensor_size(t, d);
    if (s < 0) die("negative size");
    if (__builtin_mul_overflow(n, s, &n)) die("numel overflows");
  }
  if (n != hub_tensor_numel(t)) die("numel differs from the product of the sizes");
  return n;
}

/* Checks a result; small ones are read element by element (ASan sees every access). */
static hub_tensor *tensor_result(hub_tensor *t) {
  if (!t) {
    if (!hub_last_error()[0]) die("NULL without an error");
    return NULL;
  }
  int64_t n = numel_checked(t);
  if (n <= SMALL && hub_tensor_device(t) == HUB_CPU) {
    double *buf = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (hub_tensor_read(t, buf, -1) != 0) die("reading a result failed");
    free(buf);
  }
  return t;
}

static void int_result(int rc) {
  if (rc != 0 && rc != -1) die("int result not 0 or -1");
  if (rc == -1 && !hub_last_error()[0]) die("-1 without an error");
}

static void put(int slot, hub_tensor *t) {
  t = tensor_result(t);
  if (!t) return;
  hub_tensor_release(pool[slot]);
  pool[slot] = t;
}

static int small(const hub_tensor *t) { return t && hub_tensor_numel(t) <= SMALL; }

static int shape_args(reader *r, int64_t *shape) {
  int nd = u8(r) % 10; /* 9 and up: refused */
  for (int i = 0; i < nd && i < 9; i++) shape[i] = size_arg(r);
  return nd;
}

static void step(reader *r) {
  uint8_t op = u8(r);
  int s0 = u8(r) % POOL, s1 = u8(r) % POOL, dst = u8(r) % POOL;
  hub_tensor *a = pool[s0], *b = pool[s1];
  int64_t shape[10] = {0};
  hub_clear_error();
  switch (op % 42) {
    case 0: { /* constructors */
      int dt = dtype_arg(r), nd = shape_args(r, shape);
      switch (u8(r) % 7) {
        case 0: put(dst, hub_full(nd, shape, value_arg(r), dt)); break;
        case 1: put(dst, hub_tensor_new(dt, nd, shape, HUB_CPU)); break;
        case 2: put(dst, hub_randn(nd, shape, dt)); break;
        case 3: put(dst, hub_rand(nd, shape, dt)); break;
        case 4: put(dst, hub_randint(size_arg(r), size_arg(r), nd, shape, dt)); break;
        case 5: { /* long ranges are legal and only slow (element by element under ASan): skip them */
          double a0 = value_arg(r), a1 = value_arg(r), st = value_arg(r);
          if (!(fabs((a1 - a0) / st) > 1 << 16)) put(dst, hub_arange(a0, a1, st, dt));
        } break;
        default: {
          hub_tensor *t = hub_tensor_empty(dt, nd, shape, HUB_CPU);
          if (t && hub_tensor_numel(t) <= SMALL) int_result(hub_fill_(t, value_arg(r)));
          put(dst, t);
        }
      }
      break;
    }
    case 1: if (a) put(dst, hub_reshape(a, shape_args(r, shape), shape)); break;
    case 2: if (a) put(dst, hub_view(a, shape_args(r, shape), shape)); break;
    case 3: if (a) put(dst, hub_transpose(a, dim_arg(r), dim_arg(r))); break;
    case 4: if (a) {
      int perm[HUB_MAX_DIMS];
      for (int i = 0; i < HUB_MAX_DIMS; i++) perm[i] = dim_arg(r);
      put(dst, hub_permute(a, perm));
    } break;
    case 5: if (a) put(dst, hub_narrow(a, dim_arg(r), size_arg(r), size_arg(r))); break;
    case 6: if (a) put(dst, hub_expand(a, shape_args(r, shape), shape)); break;
    case 7: if (a) put(dst, hub_squeeze(a, u8(r) % 3 ? dim_arg(r) : -100)); break;
    case 8: if (a) put(dst, hub_unsqueeze(a, dim_arg(r))); break;
    case 9: if (small(a)) put(dst, hub_contiguous(a)); break;
    case 10: if (small(a)) put(dst, hub_clone(a)); break;
    case 11: if (small(a)) put(dst, hub_to_dtype(a, dtype_arg(r))); break;
    case 12: if (small(a)) int_result(hub_fill_(a, value_arg(r))); break;
    case 13: if (small(a) && small(b)) int_result(hub_copy_(a, b)); break;
    case 14: if (small(a) && small(b)) put(dst, hub_add(a, b)); break;
    case 15: if (small(a) && small(b)) put(dst, hub_sub(a, b)); break;
    case 16: if (small(a) && small(b)) put(dst, hub_mul(a, b)); break;
    case 17: if (small(a) && small(b)) put(dst, hub_div(a, b)); break;
    case 18: if (small(a) && small(b)) int_result(hub_add_(a, b, value_arg(r))); break;
    case 19: if (small(a)) {
      double v = value_arg(r);
      switch (u8(r) % 5) {
        case 0: put(dst, hub_add_scalar(a, v)); break;
        case 1: put(dst, hub_mul_scalar(a, v)); break;
        case 2: put(dst, hub_rsub_scalar(a, v)); break;
        case 3: put(dst, hub_rdiv_scalar(a, v)); break;
        default: put(dst, hub_pow(a, v));
      }
    } break;
    case 20: if (small(a)) {
      hub_tensor *(*un[])(hub_tensor *) = {hub_neg, hub_exp, hub_log, hub_sqrt, hub_rsqrt,
                                           hub_abs, hub_relu, hub_tanh, hub_sigmoid};
      uint8_t k = u8(r) % 10;
      put(dst, k < 9 ? un[k](a) : hub_gelu(a, u8(r) & 1));
    } break;
    case 21: if (small(a) && small(b)) put(dst, hub_matmul(a, b)); break;
    case 22: if (small(a) && small(b)) put(dst, hub_linear(a, b, u8(r) & 1 ? pool[u8(r) % POOL] : NULL)); break;
    case 23: if (small(a)) {
      int dims[HUB_MAX_DIMS + 1], nd = u8(r) % 10;
      for (int i = 0; i < nd; i++) dims[i] = dim_arg(r);
      put(dst, u8(r) & 1 ? hub_sum(a, nd, dims, u8(r) & 1) : hub_mean(a, nd, dims, u8(r) & 1));
    } break;
    case 24: if (small(a)) put(dst, u8(r) & 1 ? hub_max(a, dim_arg(r), u8(r) & 1) : hub_argmax(a, dim_arg(r), u8(r) & 1)); break;
    case 25: if (small(a)) put(dst, hub_sum_to(a, shape_args(r, shape), shape)); break;
    case 26: if (small(a)) put(dst, u8(r) & 1 ? hub_softmax(a, dim_arg(r)) : hub_log_softmax(a, dim_arg(r))); break;
    case 27: if (small(a)) {
      hub_tensor *w = u8(r) & 1 ? pool[u8(r) % POOL] : NULL, *bb = u8(r) & 1 ? pool[u8(r) % POOL] : NULL;
      if ((!w || small(w)) && (!bb || small(bb))) {
        int nd = (int)(int8_t)u8(r) % 4;
        double eps = value_arg(r);
        put(dst, u8(r) & 1 && small(b) ? hub_add_layer_norm(a, b, nd, w, bb, eps) : hub_layer_norm(a, nd, w, bb, eps));
      }
    } break;
    case 28: if (small(a)) put(dst, hub_dropout(a, value_arg(r), u8(r) & 1)); break;
    case 29: if (small(a) && small(b)) put(dst, u8(r) & 1 ? hub_embedding(a, b) : hub_embedding_padded(a, b, size_arg(r))); break;
    case 30: if (small(a) && small(b)) put(dst, hub_index_select(a, dim_arg(r), b)); break;
    case 31: if (small(a) && small(b)) put(dst, hub_masked_fill(a, b, value_arg(r))); break;
    case 32: if (small(a) && small(b)) {
      hub_tensor *c = pool[u8(r) % POOL];
      if (small(c)) put(dst, hub_where(a, b, c));
    } break;
    case 33: {
      hub_tensor *ts[4];
      int n = u8(r) % 5, ok = 1;
      for (int i = 0; i < n; i++) ok &= small(ts[i] = pool[u8(r) % POOL]);
      if (ok) put(dst, hub_concat(n, ts, dim_arg(r)));
    } break;
    case 34: if (small(a)) {
      int n = u8(r) % 5;
      int64_t sizes[4];
      hub_tensor *out[4] = {0};
      for (int i = 0; i < n; i++) sizes[i] = size_arg(r);
      int rc = hub_split(a, dim_arg(r), n, sizes, out);
      int_result(rc);
      for (int i = 0; i < n; i++) {
        if (rc == 0) tensor_result(out[i]);
        if (rc == 0 && i == 0) put(dst, hub_tensor_retain(out[0]));
        hub_tensor_release(out[i]);
      }
    } break;
    case 35: if (small(a) && small(b)) put(dst, u8(r) & 1 ? hub_cross_entropy(a, b, size_arg(r), value_arg(r)) : hub_mse_loss(a, b)); break;
    case 36: if (small(a) && small(b)) {
      hub_tensor *c = pool[u8(r) % POOL], *m = u8(r) & 1 ? pool[u8(r) % POOL] : NULL;
      if (small(c) && (!m || small(m))) put(dst, hub_attention(a, b, c, m, value_arg(r)));
    } break;
    case 37: if (small(a)) {
      hub_tensor *m = u8(r) & 1 ? b : NULL;
      if (!m || small(m)) put(dst, hub_attention_qkv(a, m, size_arg(r), value_arg(r), u8(r) % 2 ? 0.0 : value_arg(r)));
    } break;
    case 38: if (a) { /* autograd: requires_grad, then backward through whatever was recorded */
      int_result(hub_tensor_set_requires_grad(a, u8(r) & 1));
      if (small(a) && hub_tensor_numel(a) == 1) int_result(hub_backward(a, NULL));
      else if (small(a) && small(b)) int_result(hub_backward(a, b));
    } break;
    case 39: { /* from raw bytes of the input, in any dtype: NaN/inf/denormal bit patterns */
      int dt = dtype_arg(r), sdt = dtype_arg(r), nd = shape_args(r, shape);
      hub_tensor *probe = hub_tensor_empty(HUB_U8, nd, shape, HUB_CPU); /* the shape check alone */
      int64_t n = probe ? hub_tensor_numel(probe) : -1;
      hub_tensor_release(probe);
      hub_clear_error();
      if (n >= 0 && n <= SMALL && sdt >= 0 && sdt < HUB_DTYPE_COUNT) {
        size_t bytes = (size_t)n * hub_dtype_size(sdt);
        uint8_t *src = calloc(1, bytes ? bytes : 1);
        for (size_t i = 0; i < bytes && r->n; i++) src[i] = u8(r);
        put(dst, hub_tensor_from_data(dt, nd, shape, src, sdt));
        free(src);
      } else {
        put(dst, hub_tensor_from_data(dt, nd, shape, NULL, sdt));
      }
    } break;
    case 40: { /* an as_strided-like tensor over caller memory: random strides, some 0 */
      int nd = u8(r) % 5;
      int64_t st[4], extent = 1;
      int ok = 1;
      for (int i = 0; i < nd; i++) {
        shape[i] = u8(r) % 5;
        st[i] = u8(r) % 7;
        int64_t e;
        if (__builtin_mul_overflow(shape[i] ? shape[i] - 1 : 0, st[i], &e) || __builtin_add_overflow(extent, e, &extent)) ok = 0;
      }
      if (ok && extent <= SMALL) {
        float *buf = malloc(sizeof(float) * (size_t)extent);
        for (int64_t i = 0; i < extent; i++) buf[i] = (float)(int8_t)u8(r);
        hub_tensor *t = hub_tensor_wrap(HUB_F32, nd, shape, st, buf, free, buf);
        if (!t) free(buf);
        put(dst, t);
      }
    } break;
    case 41: if (small(a)) int_result(u8(r) & 1 ? hub_normal_(a, value_arg(r), value_arg(r)) : hub_uniform_(a, value_arg(r), value_arg(r))); break;
    default: if (a) { /* element access and detach */
      int64_t i = size_arg(r);
      double v = hub_tensor_get(a, i);
      (void)v;
      if (small(a)) int_result(hub_tensor_set(a, i, value_arg(r)));
      put(dst, hub_detach(a));
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    hub_set_num_threads(1);
    hub_mem_set_cache_limit(HUB_CPU, 64 << 20); /* keep the fuzzer's RSS low */
    init = 1;
  }
  hub_manual_seed(1);
  int64_t live = hub_tensor_live_count();
  reader r = {data, size};
  for (int i = 0; i < 64 && r.n; i++) step(&r);
  for (int i = 0; i < POOL; i++) {
    hub_tensor_release(pool[i]);
    pool[i] = NULL;
  }
  if (hub_tensor_live_count() != live) die("tensors leaked");
  return 0;
}
