/* test_backend.c - the backend interface without a GPU: a stand-in "cuda" backend whose buffer
 * interface is host memory (counted) and whose kernel table is empty.  Checks that tensors move
 * to it and back through the buffer interface (values and gradients), that fresh tensors are
 * zeroed with its memset, and that every op asks before it dispatches: "paddle_gru is not
 * implemented for cuda", never a call through an empty slot.  Uses runtime/backend.h, so it links
 * the static library (the shared one exports only hub_*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"

static int n_alloc, n_free, n_in, n_out, n_memset;

static void *fake_alloc(size_t n) {
  n_alloc++;
  return aligned_alloc(64, (n + 63) / 64 * 64);
}
static void fake_free(void *p, size_t n) {
  n_free++;
  free(p);
}
static int fake_in(void *d, const void *s, size_t n) {
  n_in++;
  memcpy(d, s, n);
  return 0;
}
static int fake_out(void *d, const void *s, size_t n) {
  n_out++;
  memcpy(d, s, n);
  return 0;
}
static int fake_d2d(void *d, const void *s, size_t n) {
  memcpy(d, s, n);
  return 0;
}
static int fake_memset(void *d, int b, size_t n) {
  n_memset++;
  memset(d, b, n);
  return 0;
}
static int fake_sync(void) { return 0; }

static const hub_backend fake = {
    .name = "cuda",
    .device = HUB_CUDA,
    .buffer = {fake_alloc, fake_free, fake_in, fake_out, fake_d2d, fake_memset, fake_sync},
};

static int contains(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

int main(void) {
  /* before registration: a clear error, not a crash */
  hub_tensor *x = hub_tensor_from_data(HUB_F32, 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6}, HUB_F32);
  if (hub_device_available(HUB_CUDA)) { /* a real GPU registered itself: the stand-in replaces it below */
    printf("a CUDA device is present: the before-registration checks are skipped\n");
  } else {
    CHECK(hub_to_device(x, HUB_CUDA) == NULL && contains(hub_last_error(), "not available"), "to(cuda) fails: %s",
          hub_last_error());
  }

  hub_backend_register(HUB_CUDA, &fake);
  CHECK(hub_device_available(HUB_CUDA), "the stand-in backend is registered");
  const hub_backend *b = hub_backend_for(HUB_CUDA);
  CHECK(b && !hub_backend_supports(b, HUB_K_GRU, HUB_F32), "an empty slot is not supported");
  CHECK(hub_backend_supports(hub_backend_for(HUB_CPU), HUB_K_GRU, HUB_F32), "the cpu has gru");
  CHECK(!hub_backend_supports(hub_backend_for(HUB_CPU), HUB_K_SOFTMAX, HUB_I64), "softmax is f32 only");
  CHECK(hub_dispatch("softmax", HUB_K_SOFTMAX, HUB_CPU, HUB_I64) == NULL &&
            contains(hub_last_error(), "softmax: dtype i64 is not supported by the cpu backend"),
        "dtype refused: %s", hub_last_error());

  /* cpu -> cuda -> cpu through the buffer interface */
  hub_tensor *d = hub_to_device(x, HUB_CUDA);
  CHECK(d && hub_tensor_device(d) == HUB_CUDA && n_alloc >= 1 && n_in == 1, "to(cuda): %s", hub_last_error());
  hub_tensor *back = d ? hub_to_device(d, HUB_CPU) : NULL;
  float v[6] = {0};
  CHECK(back && n_out == 1 && hub_tensor_read(back, v, HUB_F32) == 0 && v[0] == 1 && v[5] == 6,
        "to(cpu) gives the values back: %s", hub_last_error());
  /* a strided view is made contiguous on its own device first */
  hub_tensor *tr = hub_transpose(x, 0, 1);
  hub_tensor *dt = tr ? hub_to_device(tr, HUB_CUDA) : NULL, *bt = dt ? hub_to_device(dt, HUB_CPU) : NULL;
  CHECK(bt && hub_tensor_read(bt, v, HUB_F32) == 0 && v[1] == 4 && v[2] == 2, "transposed round trip");
  hub_release_all(3, (hub_tensor *[]){tr, dt, bt});

  /* fresh tensors on the device are zeroed with its memset (it has no fill kernel) */
  int before = n_memset;
  hub_tensor *z = hub_full(1, (int64_t[]){4}, 0.0, HUB_F32);
  hub_tensor *zd = z ? hub_tensor_new(HUB_F32, 1, (int64_t[]){4}, HUB_CUDA) : NULL;
  CHECK(zd && n_memset == before + 1, "zeros on cuda use memset: %s", hub_last_error());
  hub_tensor_release(z);

  /* ops ask before they dispatch */
  hub_tensor *w = hub_tensor_new(HUB_F32, 2, (int64_t[]){1, 3}, HUB_CUDA);
  hub_tensor *gx = hub_tensor_new(HUB_F32, 3, (int64_t[]){1, 2, 3}, HUB_CUDA);
  CHECK(w && gx && hub_paddle_gru(gx, w, NULL, NULL, 0, 0) == NULL &&
            contains(hub_last_error(), "paddle_gru is not implemented for cuda"),
        "gru: %s", hub_last_error());
  CHECK(hub_add(d, d) == NULL && contains(hub_last_error(), "is not implemented for cuda"), "add: %s", hub_last_error());
  CHECK(hub_softmax(d, -1) == NULL && contains(hub_last_error(), "is not implemented for cuda"), "softmax: %s",
        hub_last_error());
  CHECK(hub_fill_(d, 2.0) != 0 && contains(hub_last_error(), "fill is not implemented for cuda"), "fill: %s",
        hub_last_error());
  /* every op on the stand-in device: the error names the missing kernel, memory is never read */
  {
    hub_tensor *ids = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){2}, (int64_t[]){1, 0}, HUB_I64);
    hub_tensor *ix = hub_to_device(ids, HUB_CUDA);
    hub_tensor *m = hub_tensor_new(HUB_BOOL, 2, (int64_t[]){2, 3}, HUB_CUDA);
    hub_tensor *dt = hub_tensor_new(HUB_F32, 2, (int64_t[]){3, 2}, HUB_CUDA);
    hub_tensor *em = hub_tensor_new(HUB_F32, 3, (int64_t[]){1, 2, 3}, HUB_CUDA);
    hub_tensor *tr = hub_tensor_new(HUB_F32, 2, (int64_t[]){5, 3}, HUB_CUDA);
    hub_tensor *gi = hub_tensor_new(HUB_I64, 2, (int64_t[]){2, 1}, HUB_CUDA);
    CHECK(ix && m && dt && em && tr && gi, "operands on cuda: %s", hub_last_error());
#define ON_CUDA(name, expr)                                                                        \
  do {                                                                                             \
    hub_tensor *r_ = (expr);                                                                       \
    CHECK(!r_ && contains(hub_last_error(), "not implemented for cuda"), "%s on cuda: %s", name,   \
          r_ ? "gave a result" : hub_last_error());                                                \
    hub_tensor_release(r_);                                                                        \
  } while (0)
    ON_CUDA("matmul", hub_matmul(d, dt));
    ON_CUDA("linear", hub_linear(d, d, NULL));
    ON_CUDA("sum", hub_sum(d, 0, NULL, 0));
    ON_CUDA("max", hub_max(d, 1, 0));
    ON_CUDA("exp", hub_exp(d));
    ON_CUDA("clamp", hub_clamp(d, 0, 1));
    ON_CUDA("pow", hub_pow_tensor(d, d));
    ON_CUDA("where", hub_where(m, d, d));
    ON_CUDA("masked_select", hub_masked_select(d, m));
    ON_CUDA("layer_norm", hub_layer_norm(d, 1, NULL, NULL, 1e-5));
    ON_CUDA("dropout", hub_dropout(d, 0.5, 1));
    ON_CUDA("attention", hub_attention(em, em, em, NULL, 0));
    ON_CUDA("cross_entropy", hub_cross_entropy(d, ix, -100, 0));
    ON_CUDA("embedding", hub_embedding(dt, ix));
    ON_CUDA("index_select", hub_index_select(d, 1, ix));
    ON_CUDA("gather", hub_gather(d, 1, gi));
    ON_CUDA("cumsum", hub_cumsum(d, 1));
    ON_CUDA("concat", hub_concat(2, (hub_tensor *[]){d, d}, 0));
    ON_CUDA("to", hub_to_dtype(d, HUB_F64));
    ON_CUDA("crf_decode", hub_crf_decode(em, tr, NULL));
    hub_release_all(8, (hub_tensor *[]){ids, ix, m, dt, em, tr, gi, NULL});
  }

  /* a kernel called without asking is a stub's error, not a crash */
  CHECK(HUB_K(b, GRU)(NULL, NULL, NULL, NULL, 0, 0, NULL) == -1 && contains(hub_last_error(), "not implemented"),
        "stub: %s", hub_last_error());

  /* gradients flow back across devices */
  hub_tensor *leaf = hub_tensor_from_data(HUB_F32, 1, (int64_t[]){3}, (float[]){1, 2, 3}, HUB_F32);
  hub_tensor_set_requires_grad(leaf, 1);
  hub_tensor *up = hub_to_device(leaf, HUB_CUDA), *down = up ? hub_to_device(up, HUB_CPU) : NULL;
  hub_tensor *sq = down ? hub_mul(down, down) : NULL;
  hub_tensor *s = sq ? hub_sum(sq, 0, NULL, 0) : NULL;
  CHECK(s && hub_backward(s, NULL) == 0, "backward through to(): %s", hub_last_error());
  hub_tensor *g = hub_tensor_grad(leaf);
  CHECK(g && hub_tensor_read(g, v, HUB_F32) == 0 && v[0] == 2 && v[1] == 4 && v[2] == 6, "grad = 2x");
  hub_release_all(6, (hub_tensor *[]){leaf, up, down, sq, s, g});

  hub_release_all(6, (hub_tensor *[]){x, d, back, zd, w, gx});
  CHECK(n_free == n_alloc, "every device block freed (%d of %d)", n_free, n_alloc);
  return check_summary();
}
