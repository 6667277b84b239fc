/* test_tensor_core.c - unit tests of the C core: views and strides, broadcasting, reference
 * counts, the caching allocator, dtype conversions, the RNG and the autograd engine's
 * bookkeeping.  Values are checked against numbers worked out by hand in the comments. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hub.h"
#include "check.h"

static hub_tensor *iota(int ndim, const int64_t *shape) {
  hub_tensor *t = hub_tensor_new(HUB_F32, ndim, shape, HUB_CPU);
  int64_t n = hub_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) hub_tensor_set(t, i, (double)i);
  return t;
}

static void test_views(void) {
  hub_tensor *x = iota(2, (int64_t[]){2, 3}); /* [[0,1,2],[3,4,5]] */
  hub_tensor *t = hub_transpose(x, 0, 1);     /* [[0,3],[1,4],[2,5]] */
  CHECK(t->shape[0] == 3 && t->shape[1] == 2 && t->stride[0] == 1 && t->stride[1] == 3, "transpose geometry");
  CHECK(t->storage == x->storage && t->data == x->data, "transpose shares storage");
  CHECK(hub_tensor_get(t, 1) == 3 && hub_tensor_get(t, 2) == 1, "transpose values");
  CHECK(!hub_tensor_is_contiguous(t), "transpose is not contiguous");
  hub_tensor *c = hub_contiguous(t);
  CHECK(c->storage != x->storage && hub_tensor_is_contiguous(c) && hub_tensor_get(c, 1) == 3, "contiguous copies");
  hub_tensor *c2 = hub_contiguous(x);
  CHECK(c2 == x, "contiguous of contiguous is the same tensor");
  hub_tensor_release(c2);
  /* reshape of a transposed tensor must copy, of a contiguous one must not */
  hub_tensor *r1 = hub_reshape(x, 1, (int64_t[]){-1});
  CHECK(r1->storage == x->storage && r1->shape[0] == 6, "reshape contiguous is a view");
  hub_tensor *r2 = hub_reshape(t, 1, (int64_t[]){6});
  CHECK(r2->storage != x->storage && hub_tensor_get(r2, 1) == 3, "reshape of a transpose copies");
  CHECK(hub_view(t, 1, (int64_t[]){6}) == NULL && strstr(hub_last_error(), "view"), "view refuses to copy");
  CHECK(hub_reshape(x, 2, (int64_t[]){4, -1}) == NULL && strstr(hub_last_error(), "reshape"), "bad reshape: %s",
        hub_last_error());
  /* narrow: column 2..3 of x = [[1,2],[4,5]] */
  hub_tensor *nw = hub_narrow(x, 1, 1, 2);
  CHECK(nw->offset == 1 && hub_tensor_get(nw, 0) == 1 && hub_tensor_get(nw, 3) == 5, "narrow values");
  hub_fill_(nw, -1);
  CHECK(hub_tensor_get(x, 1) == -1 && hub_tensor_get(x, 0) == 0 && hub_tensor_get(x, 5) == -1, "write through narrow");
  CHECK(hub_narrow(x, 1, 2, 2) == NULL, "narrow out of range fails");
  /* permute [2,3,4] -> [4,2,3] */
  hub_tensor *y = iota(3, (int64_t[]){2, 3, 4});
  hub_tensor *p = hub_permute(y, (int[]){2, 0, 1});
  CHECK(p->shape[0] == 4 && p->shape[1] == 2 && p->shape[2] == 3, "permute shape");
  /* p[1][1][2] = y[1][2][1] = 1*12 + 2*4 + 1 = 21; linear index in p = 1*6 + 1*3 + 2 = 11 */
  CHECK(hub_tensor_get(p, 11) == 21, "permute value %g", hub_tensor_get(p, 11));
  CHECK(hub_permute(y, (int[]){0, 0, 1}) == NULL, "permute with a repeated dim fails");
  /* squeeze / unsqueeze */
  hub_tensor *u = hub_unsqueeze(y, 1);
  CHECK(u->ndim == 4 && u->shape[1] == 1 && u->shape[2] == 3, "unsqueeze");
  hub_tensor *s = hub_squeeze(u, -100);
  CHECK(s->ndim == 3 && s->shape[1] == 3, "squeeze all");
  hub_tensor *u2 = hub_unsqueeze(y, -1);
  CHECK(u2->ndim == 4 && u2->shape[3] == 1, "unsqueeze at end");
  /* expand: [3,1] -> [3,4] stride 0 */
  hub_tensor *col = iota(2, (int64_t[]){3, 1});
  hub_tensor *e = hub_expand(col, 2, (int64_t[]){3, 4});
  CHECK(e->stride[1] == 0 && hub_tensor_get(e, 7) == 1 && hub_tensor_get(e, 8) == 2, "expand");
  CHECK(hub_expand(col, 2, (int64_t[]){2, 4}) == NULL, "expand a non-1 size fails");
  hub_tensor *all[] = {x, t, c, r1, r2, nw, y, p, u, s, u2, col, e};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);
}

static void test_broadcast(void) {
  hub_tensor *a = iota(3, (int64_t[]){2, 1, 3}), *b = iota(2, (int64_t[]){4, 3});
  hub_tensor *c = hub_add(a, b);
  CHECK(c && c->ndim == 3 && c->shape[0] == 2 && c->shape[1] == 4 && c->shape[2] == 3, "broadcast shape");
  /* c[1][2][1] = a[1][0][1] + b[2][1] = 4 + 7 = 11; index 1*12 + 2*3 + 1 = 19 */
  CHECK(c && hub_tensor_get(c, 19) == 11, "broadcast value");
  hub_tensor *d = iota(1, (int64_t[]){5});
  CHECK(hub_add(b, d) == NULL && strstr(hub_last_error(), "add") && strstr(hub_last_error(), "[4,3]"),
        "broadcast error: %s", hub_last_error());
  hub_tensor_release(a);
  hub_tensor_release(b);
  hub_tensor_release(c);
  hub_tensor_release(d);
}

static void test_refcounts(void) {
  int64_t base = hub_tensor_live_count(), nodes = hub_node_live_count();
  hub_tensor *x = iota(2, (int64_t[]){3, 3});
  hub_tensor *v = hub_transpose(x, 0, 1);
  hub_tensor_release(x); /* the view keeps the storage alive */
  CHECK(hub_tensor_get(v, 1) == 3, "storage outlives its first tensor");
  hub_tensor_release(v);
  CHECK(hub_tensor_live_count() == base, "tensors freed (%lld live)", (long long)(hub_tensor_live_count() - base));
  /* a graph is freed with its last output */
  hub_tensor *w = iota(2, (int64_t[]){3, 3});
  hub_tensor_set_requires_grad(w, 1);
  hub_tensor *y = hub_matmul(w, w), *z = hub_exp(y), *l = hub_sum(z, 0, NULL, 0);
  CHECK(hub_node_live_count() - nodes == 3, "three nodes recorded");
  hub_tensor_release(y);
  hub_tensor_release(z);
  CHECK(hub_node_live_count() - nodes == 3, "nodes kept by the loss");
  hub_tensor_release(l);
  CHECK(hub_node_live_count() == nodes, "graph freed with its output");
  hub_tensor_release(w);
  CHECK(hub_tensor_live_count() == base, "all freed");
}

static void test_allocator(void) {
  hub_mem_stats s0, s1;
  hub_mem_get_stats(HUB_CPU, &s0);
  hub_tensor *t = hub_tensor_empty(HUB_F32, 1, (int64_t[]){1000}, HUB_CPU);
  CHECK(((uintptr_t)t->data & 63) == 0, "64-byte aligned");
  void *first = t->data;
  hub_tensor_release(t);
  t = hub_tensor_empty(HUB_F32, 1, (int64_t[]){1000}, HUB_CPU);
  CHECK(t->data == first, "same-size block reused from the cache");
  hub_tensor_release(t);
  for (int i = 0; i < 100; i++) {
    hub_tensor *u = hub_tensor_empty(HUB_U8, 1, (int64_t[]){(int64_t)(1 << 20) + i * 4096}, HUB_CPU);
    CHECK(((uintptr_t)u->data & 63) == 0, "big block aligned");
    hub_tensor_release(u);
  }
  hub_mem_get_stats(HUB_CPU, &s1);
  CHECK(s1.live_bytes == s0.live_bytes, "live bytes back to start (%lld)", (long long)(s1.live_bytes - s0.live_bytes));
  CHECK(s1.os_alloc_count - s0.os_alloc_count < 20, "cache serves repeated sizes (%lld os allocations)",
        (long long)(s1.os_alloc_count - s0.os_alloc_count));
  /* a large request takes a cached block up to twice its size (dynamic padding's varying
   * sizes); a block more than twice the size is left for a request of its own */
  hub_mem_empty_cache(HUB_CPU);
  hub_tensor *a = hub_tensor_empty(HUB_U8, 1, (int64_t[]){(int64_t)1 << 20}, HUB_CPU);
  void *pa = a->data;
  hub_tensor_release(a);
  hub_mem_get_stats(HUB_CPU, &s0);
  CHECK(s0.cached_bytes == (int64_t)1 << 20, "a 1 MiB block cached (%lld)", (long long)s0.cached_bytes);
  a = hub_tensor_empty(HUB_U8, 1, (int64_t[]){700 << 10}, HUB_CPU);
  hub_mem_get_stats(HUB_CPU, &s1);
  CHECK(a->data == pa && s1.os_alloc_count == s0.os_alloc_count, "a 700 KiB request reuses the cached 1 MiB block");
  CHECK(s1.cached_bytes == 0 && s1.live_bytes - s0.live_bytes == (int64_t)1 << 20, "the block counts its real size");
  hub_tensor_release(a);
  hub_mem_get_stats(HUB_CPU, &s1);
  CHECK(s1.cached_bytes == (int64_t)1 << 20 && s1.live_bytes == s0.live_bytes, "freed back under its own class");
  a = hub_tensor_empty(HUB_U8, 1, (int64_t[]){400 << 10}, HUB_CPU);
  hub_mem_get_stats(HUB_CPU, &s1);
  CHECK(a->data != pa && s1.os_alloc_count == s0.os_alloc_count + 1 && s1.cached_bytes == (int64_t)1 << 20,
        "a 400 KiB request does not take a 1 MiB block");
  hub_tensor_release(a);
  a = hub_tensor_empty(HUB_U8, 1, (int64_t[]){1000}, HUB_CPU);
  hub_tensor *b1 = hub_tensor_empty(HUB_U8, 1, (int64_t[]){900}, HUB_CPU);
  CHECK(a->data != pa && b1->data != pa, "small requests take exact classes only");
  hub_tensor_release(a);
  hub_tensor_release(b1);
  hub_mem_set_cache_limit(HUB_CPU, 0);
  hub_mem_get_stats(HUB_CPU, &s1);
  CHECK(s1.cached_bytes == 0, "cache limit 0 empties the cache");
  /* a fixed bound is obeyed: a 4 MiB block goes back to the OS under a 1 MiB bound */
  hub_mem_set_cache_limit(HUB_CPU, (int64_t)1 << 20);
  hub_tensor_release(hub_tensor_empty(HUB_U8, 1, (int64_t[]){(int64_t)4 << 20}, HUB_CPU));
  hub_mem_get_stats(HUB_CPU, &s1);
  CHECK(s1.cached_bytes == 0, "fixed bound: a block over it is not cached (%lld cached)", (long long)s1.cached_bytes);
  /* the default bound: max(1 GiB, peak - live), so a step's 1.5 GiB of freed blocks stay cached
   * (never written, so never resident) */
  hub_mem_set_cache_limit(HUB_CPU, -1);
  hub_tensor *big[3];
  for (int i = 0; i < 3; i++) big[i] = hub_tensor_empty(HUB_U8, 1, (int64_t[]){(int64_t)512 << 20}, HUB_CPU);
  for (int i = 0; i < 3; i++) hub_tensor_release(big[i]);
  hub_mem_get_stats(HUB_CPU, &s1);
  CHECK(s1.cached_bytes >= (int64_t)3 * (512 << 20), "default bound follows the peak (%lld MiB cached)",
        (long long)(s1.cached_bytes >> 20));
  hub_mem_empty_cache(HUB_CPU);
  hub_mem_get_stats(HUB_CPU, &s1);
  CHECK(s1.cached_bytes == 0, "empty_cache");
}

static void test_dtypes(void) {
  hub_tensor *x = hub_tensor_from_data(HUB_F32, 1, (int64_t[]){5}, (float[]){1.0f, -2.5f, 65504.0f, 1e-7f, 0.1f}, HUB_F32);
  hub_tensor *h = hub_to_dtype(x, HUB_F16), *bf = hub_to_dtype(x, HUB_BF16), *i = hub_to_dtype(x, HUB_I64);
  CHECK(((uint16_t *)h->data)[0] == 0x3c00 && ((uint16_t *)h->data)[1] == 0xc100 && ((uint16_t *)h->data)[2] == 0x7bff,
        "f16 encodings");
  /* 1e-7 is a half subnormal: 1e-7 / 2^-24 = 1.68 -> rounds to 2 */
  CHECK(((uint16_t *)h->data)[3] == 0x0002, "f16 subnormal %04x", ((uint16_t *)h->data)[3]);
  /* 0.1 in bf16 = 0x3dcd (0.10009765625) */
  CHECK(((uint16_t *)bf->data)[4] == 0x3dcd, "bf16 rounding %04x", ((uint16_t *)bf->data)[4]);
  CHECK(fabs(hub_tensor_get(h, 4) - 0.0999755859375) < 1e-12, "f16 back to float");
  CHECK(hub_tensor_get(i, 1) == -2, "f32 -> i64 truncates");
  CHECK(hub_dtype_from_name("f128") < 0 && strstr(hub_last_error(), "f128"), "unknown dtype named");
  CHECK(hub_dtype_from_name("f64") == HUB_F64 && hub_dtype_from_name("double") == HUB_F64, "f64 and its alias");
  hub_tensor *all[] = {x, h, bf, i};
  for (int k = 0; k < 4; k++) hub_tensor_release(all[k]);
}

static void test_rng(void) {
  hub_manual_seed(7);
  hub_tensor *a = hub_randn(1, (int64_t[]){1000}, HUB_F32);
  hub_manual_seed(7);
  hub_tensor *b = hub_randn(1, (int64_t[]){1000}, HUB_F32);
  CHECK(!memcmp(a->data, b->data, 4000), "same seed, same numbers");
  double mean = 0, var = 0;
  for (int i = 0; i < 1000; i++) mean += hub_tensor_get(a, i) / 1000;
  for (int i = 0; i < 1000; i++) var += pow(hub_tensor_get(a, i) - mean, 2) / 999;
  /* 1000 samples: mean within 4 standard errors (4/sqrt(1000) = 0.13), variance within 0.2 */
  CHECK(fabs(mean) < 0.13 && fabs(var - 1) < 0.2, "randn moments mean %g var %g", mean, var);
  hub_tensor *r = hub_randint(3, 7, 1, (int64_t[]){500}, HUB_I64);
  int seen[4] = {0}, ok = 1;
  for (int i = 0; i < 500; i++) {
    int64_t v = ((int64_t *)r->data)[i];
    if (v < 3 || v >= 7) ok = 0; else seen[v - 3] = 1;
  }
  CHECK(ok && seen[0] && seen[1] && seen[2] && seen[3], "randint range [3,7)");
  hub_tensor_release(a);
  hub_tensor_release(b);
  hub_tensor_release(r);
}

static void test_autograd(void) {
  /* d/dw sum(w*w) = 2w; twice accumulates to 4w */
  hub_tensor *w = iota(1, (int64_t[]){3});
  hub_tensor_set_requires_grad(w, 1);
  for (int k = 0; k < 2; k++) {
    hub_tensor *y = hub_mul(w, w), *l = hub_sum(y, 0, NULL, 0);
    CHECK(hub_backward(l, NULL) == 0, "backward ok");
    hub_tensor_release(y);
    hub_tensor_release(l);
  }
  CHECK(w->grad && hub_tensor_get(w->grad, 2) == 8, "accumulated gradient %g", w->grad ? hub_tensor_get(w->grad, 2) : -1);
  /* backward twice through one graph is refused */
  hub_tensor *y = hub_exp(w), *l = hub_sum(y, 0, NULL, 0);
  CHECK(hub_backward(l, NULL) == 0, "first backward");
  CHECK(hub_backward(l, NULL) != 0 && strstr(hub_last_error(), "already"), "second backward refused: %s", hub_last_error());
  hub_tensor_release(y);
  hub_tensor_release(l);
  /* non-scalar root needs a gradient */
  hub_tensor *y2 = hub_exp(w);
  CHECK(hub_backward(y2, NULL) != 0 && strstr(hub_last_error(), "single element"), "non-scalar backward refused");
  hub_tensor_release(y2);
  /* no_grad records nothing */
  int prev = hub_set_grad_enabled(0);
  hub_tensor *z = hub_mul(w, w);
  CHECK(z->grad_fn == NULL && !z->requires_grad, "no_grad records nothing");
  hub_set_grad_enabled(prev);
  hub_tensor_release(z);
  /* detach cuts the graph; a view's gradient flows back to the base */
  hub_tensor *d = hub_detach(w);
  CHECK(d->grad_fn == NULL && !d->requires_grad && d->storage == w->storage, "detach");
  hub_tensor_release(d);
  hub_tensor_zero_grad(w);
  hub_tensor *n = hub_narrow(w, 0, 1, 2), *s = hub_sum(n, 0, NULL, 0);
  hub_backward(s, NULL);
  CHECK(w->grad && hub_tensor_get(w->grad, 0) == 0 && hub_tensor_get(w->grad, 1) == 1 && hub_tensor_get(w->grad, 2) == 1,
        "gradient through narrow");
  hub_tensor_release(n);
  hub_tensor_release(s);
  hub_tensor *it = hub_tensor_new(HUB_I64, 0, NULL, HUB_CPU);
  CHECK(hub_tensor_set_requires_grad(it, 1) != 0, "int tensors cannot require grad");
  hub_tensor_release(it);
  hub_tensor_release(w);
}

int main(void) {
  hub_set_num_threads(2);
  test_views();
  test_broadcast();
  test_refcounts();
  test_allocator();
  test_dtypes();
  test_rng();
  test_autograd();
  return check_summary();
}
