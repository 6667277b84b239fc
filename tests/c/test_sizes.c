/* test_sizes.c - the C API with sizes that overflow (issue 9's crash inputs): every constructor,
 * view and expand refuses a shape whose element or byte count does not fit (hub_check_shape),
 * views that would reach outside their storage are refused, integer fill values are checked,
 * and the allocator answers "out of memory: cannot allocate N bytes" instead of crashing.  Each
 * case checks the NULL/-1 result, the message and that nothing leaked; the valid edge cases
 * (0-size dimensions beside huge ones, the largest shapes accepted) check their values. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hub.h"
#include "check.h"

#define P62 ((int64_t)1 << 62)
#define P31 ((int64_t)1 << 31)
#define P40 ((int64_t)1 << 40)

static void test_constructors(void) {
  int64_t live = hub_tensor_live_count();
  /* zeros{2^62}: was a SIGSEGV in fill_run (numel * 4 bytes wrapped to 0) */
  CHECK(hub_full(1, (int64_t[]){P62}, 0, HUB_F32) == NULL && has(hub_last_error(), "too large") &&
            has(hub_last_error(), "[4611686018427387904]"),
        "full 2^62: %s", hub_last_error());
  CHECK(hub_randn(1, (int64_t[]){P62}, HUB_F32) == NULL && has(hub_last_error(), "too large"), "randn 2^62");
  CHECK(hub_rand(1, (int64_t[]){P62}, HUB_F32) == NULL && has(hub_last_error(), "too large"), "rand 2^62");
  CHECK(hub_randint(0, 10, 1, (int64_t[]){P62}, HUB_I64) == NULL && has(hub_last_error(), "too large"),
        "randint 2^62");
  CHECK(hub_tensor_empty(HUB_F32, 1, (int64_t[]){P62}, HUB_CPU) == NULL, "empty 2^62");
  /* zeros{2^31, 2^31}: was a SIGFPE in cpu_iter_run */
  CHECK(hub_tensor_new(HUB_F32, 2, (int64_t[]){P31, P31}, HUB_CPU) == NULL && has(hub_last_error(), "too large"),
        "zeros 2^31 x 2^31: %s", hub_last_error());
  /* zeros{2^40, 2^40}: numel wrapped to 0, then print() hung */
  CHECK(hub_full(2, (int64_t[]){P40, P40}, 1, HUB_F32) == NULL && has(hub_last_error(), "too large"), "2^40 x 2^40");
  /* zeros{3, 2^62}: numel was negative */
  CHECK(hub_full(2, (int64_t[]){3, P62}, 0, HUB_U8) == NULL && has(hub_last_error(), "too large"), "3 x 2^62 u8");
  /* a zero size cannot hide an overflowing product */
  CHECK(hub_full(3, (int64_t[]){0, P40, P40}, 0, HUB_F32) == NULL && has(hub_last_error(), "too large"),
        "0 x 2^40 x 2^40");
  CHECK(hub_full(2, (int64_t[]){-3, 2}, 0, HUB_F32) == NULL && has(hub_last_error(), "negative size -3 in dimension 1"),
        "negative size: %s", hub_last_error());
  CHECK(hub_full(9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, HUB_F32) == NULL &&
            has(hub_last_error(), "9 dimensions"),
        "9 dims");
  CHECK(hub_full(-1, NULL, 0, HUB_F32) == NULL && has(hub_last_error(), "-1 dimensions"), "ndim -1");
  CHECK(hub_full(2, NULL, 0, HUB_F32) == NULL && has(hub_last_error(), "shape is missing"), "shape NULL");
  CHECK(hub_full(1, (int64_t[]){2}, 0, 99) == NULL && has(hub_last_error(), "unknown dtype 99"), "dtype 99");
  /* valid: a 0-size dimension beside a large one is an empty tensor of the right shape */
  hub_tensor *e = hub_full(2, (int64_t[]){0, P40}, 1, HUB_F32);
  CHECK(e && hub_tensor_numel(e) == 0 && e->shape[1] == P40, "[0, 2^40] is an empty tensor");
  hub_tensor_release(e);
  /* accepted by the shape check but more than the machine has: the allocator's error */
  hub_clear_error();
  hub_tensor *big = hub_tensor_empty(HUB_U8, 1, (int64_t[]){P62 - 1}, HUB_CPU);
  CHECK(big == NULL && has(hub_last_error(), "out of memory: cannot allocate 4611686018427387903 bytes"),
        "allocator refuses 2^62-1 bytes: %s", hub_last_error());
  CHECK(hub_tensor_live_count() == live, "no tensor leaked (%lld live, %lld before)",
        (long long)hub_tensor_live_count(), (long long)live);
}

static void test_views(void) {
  int64_t live = hub_tensor_live_count();
  hub_tensor *one = hub_full(2, (int64_t[]){1, 1}, 1, HUB_F32);
  /* ones(1, 1):expand{2^31, 2^31}:sum(): was a SIGSEGV in copy_run */
  CHECK(hub_expand(one, 2, (int64_t[]){P31, P31}) == NULL && has(hub_last_error(), "expand: shape") &&
            has(hub_last_error(), "too large"),
        "expand 2^31 x 2^31: %s", hub_last_error());
  CHECK(hub_expand(one, 3, (int64_t[]){4, P40, P40}) == NULL, "expand 3-d overflow");
  CHECK(hub_expand(one, 2, NULL) == NULL && has(hub_last_error(), "shape is missing"), "expand NULL shape");
  CHECK(hub_expand(one, -2, (int64_t[]){1}) == NULL, "expand ndim -2");
  /* a large expand that fits is still a view and sums right */
  hub_tensor *x = hub_expand(one, 2, (int64_t[]){1 << 12, 1 << 12});
  hub_tensor *s = x ? hub_sum(x, 0, NULL, 0) : NULL;
  CHECK(s && hub_tensor_get(s, 0) == (double)(1 << 24), "sum of a 4096 x 4096 expand = 2^24 (%g)",
        s ? hub_tensor_get(s, 0) : -1.0);
  hub_tensor_release(s);
  hub_tensor_release(x);
  /* reshape: a product that wraps around must not match numel */
  hub_tensor *z = hub_full(1, (int64_t[]){0}, 0, HUB_F32);
  CHECK(hub_reshape(z, 3, (int64_t[]){0, P40, P40}) == NULL && has(hub_last_error(), "reshape: shape") &&
            has(hub_last_error(), "too large"),
        "reshape of an empty tensor to an overflowing shape: %s", hub_last_error());
  CHECK(hub_reshape(one, 3, (int64_t[]){P62, 4, 0}) == NULL, "reshape whose product overflows to 0");
  CHECK(hub_reshape(one, 2, (int64_t[]){P62, P62}) == NULL, "reshape whose product overflows");
  hub_tensor *r = hub_reshape(z, 2, (int64_t[]){0, P40});
  CHECK(r && r->shape[1] == P40 && hub_tensor_numel(r) == 0, "reshape [0] to [0, 2^40]");
  hub_tensor_release(r);
  CHECK(hub_reshape(one, 2, NULL) == NULL && has(hub_last_error(), "shape is missing"), "reshape NULL shape");
  /* narrow with a length that overflows start + length */
  hub_tensor *v = hub_full(1, (int64_t[]){4}, 2, HUB_F32);
  CHECK(hub_narrow(v, 0, 2, INT64_MAX) == NULL && has(hub_last_error(), "out of bounds"), "narrow start+length overflow: %s",
        hub_last_error());
  CHECK(hub_narrow(v, 0, INT64_MAX, 1) == NULL, "narrow start INT64_MAX");
  /* get outside [0, numel) is NaN with an error, not a division by zero */
  CHECK(isnan(hub_tensor_get(z, 0)) && has(hub_last_error(), "out of range"), "get on an empty tensor");
  CHECK(isnan(hub_tensor_get(v, 4)) && isnan(hub_tensor_get(v, -1)), "get out of range");
  /* wrap: strides whose extent overflows, or that reach before the data */
  float buf[4] = {1, 2, 3, 4};
  CHECK(hub_tensor_wrap(HUB_F32, 2, (int64_t[]){3, 2}, (int64_t[]){INT64_MAX, 1}, buf, NULL, NULL) == NULL &&
            has(hub_last_error(), "overflows"),
        "wrap with a stride whose extent overflows int64: %s", hub_last_error());
  CHECK(hub_tensor_wrap(HUB_F32, 2, (int64_t[]){2, 2}, (int64_t[]){P62, 1}, buf, NULL, NULL) == NULL &&
            has(hub_last_error(), "wrap: the strides reach"),
        "wrap with an overflowing extent: %s", hub_last_error());
  CHECK(hub_tensor_wrap(HUB_F32, 1, (int64_t[]){2}, (int64_t[]){-1}, buf, NULL, NULL) == NULL &&
            has(hub_last_error(), "outside"),
        "wrap with a negative stride: %s", hub_last_error());
  CHECK(hub_tensor_wrap(HUB_F32, 1, (int64_t[]){2}, NULL, NULL, NULL, NULL) == NULL && has(hub_last_error(), "NULL"),
        "wrap of NULL data");
  hub_tensor *w = hub_tensor_wrap(HUB_F32, 2, (int64_t[]){2, 2}, (int64_t[]){1, 2}, buf, NULL, NULL);
  CHECK(w && hub_tensor_get(w, 1) == 3 && hub_tensor_get(w, 2) == 2, "wrap column-major");
  hub_tensor_release(w);
  release_n(3, (hub_tensor *[]){one, z, v});
  CHECK(hub_tensor_live_count() == live, "no tensor leaked");
}

static void test_int_values(void) {
  CHECK(hub_full(1, (int64_t[]){2}, 300, HUB_U8) == NULL && has(hub_last_error(), "300 is out of range for u8"),
        "full 300 u8: %s", hub_last_error());
  CHECK(hub_full(1, (int64_t[]){2}, -1, HUB_U8) == NULL, "full -1 u8");
  CHECK(hub_full(1, (int64_t[]){2}, 9223372036854775808.0, HUB_I64) == NULL && has(hub_last_error(), "i64"),
        "full 2^63 i64: %s", hub_last_error());
  CHECK(hub_full(1, (int64_t[]){2}, 2.5, HUB_I32) == NULL && has(hub_last_error(), "2.5 is not an integer (dtype i32)"),
        "full 2.5 i32: %s", hub_last_error());
  CHECK(hub_full(1, (int64_t[]){2}, NAN, HUB_I64) == NULL && has(hub_last_error(), "not a finite number"), "full nan i64");
  CHECK(hub_full(1, (int64_t[]){2}, 2147483648.0, HUB_I32) == NULL, "full 2^31 i32");
  hub_tensor *a = hub_full(1, (int64_t[]){2}, -9223372036854775808.0, HUB_I64);
  CHECK(a && ((int64_t *)a->data)[1] == INT64_MIN, "full -2^63 i64 is exact");
  hub_tensor *b = hub_full(1, (int64_t[]){2}, 255, HUB_U8);
  CHECK(b && ((uint8_t *)b->data)[0] == 255, "full 255 u8");
  hub_tensor *c = hub_full(1, (int64_t[]){2}, 2.5, HUB_F32);
  CHECK(c && hub_tensor_get(c, 0) == 2.5, "float dtypes take any value");
  CHECK(c && hub_fill_(c, NAN) == 0 && isnan(hub_tensor_get(c, 1)), "fill_ NaN into f32");
  CHECK(b && hub_fill_(b, 256) == -1 && ((uint8_t *)b->data)[0] == 255, "fill_ 256 into u8 refused, tensor unchanged");
  release_n(3, (hub_tensor *[]){a, b, c});
  CHECK(hub_arange(0, 300, 1, HUB_U8) == NULL && has(hub_last_error(), "arange: value 299 is out of range for u8"),
        "arange to 300 as u8: %s", hub_last_error());
  CHECK(hub_arange(-1, 3, 1, HUB_U8) == NULL, "arange from -1 as u8");
  hub_tensor *r = hub_arange(250, 256, 1, HUB_U8);
  CHECK(r && hub_tensor_numel(r) == 6 && hub_tensor_get(r, 5) == 255, "arange 250..255 as u8");
  hub_tensor_release(r);
  CHECK(hub_arange(0, NAN, 1, HUB_F32) == NULL && has(hub_last_error(), "bad range"), "arange to NaN");
  CHECK(hub_arange(0, INFINITY, 1, HUB_F32) == NULL, "arange to inf");
}

/* found by fuzz_ops: split summed its sizes without an overflow check */
static void test_split_overflow(void) {
  hub_tensor *a = hub_full(1, (int64_t[]){4}, 1, HUB_F32), *out[2] = {0};
  CHECK(hub_split(a, 0, 2, (int64_t[]){INT64_MAX, INT64_MAX}, out) == -1 && has(hub_last_error(), "sum to more") &&
            !out[0] && !out[1],
        "split with sizes summing past INT64_MAX: %s", hub_last_error());
  CHECK(hub_split(a, 0, 2, (int64_t[]){1, 3}, out) == 0 && out[1]->shape[0] == 3, "split [1, 3]");
  release_n(2, out);
  hub_tensor_release(a);
}

/* found by fuzz_ops: attention_qkv computed 3 * heads without an overflow check */
static void test_attention_heads(void) {
  hub_tensor *q = hub_full(3, (int64_t[]){1, 2, 6}, 0.5, HUB_F32);
  CHECK(hub_attention_qkv(q, NULL, INT64_MAX, 0, 0) == NULL && has(hub_last_error(), "heads"),
        "attention_qkv with INT64_MAX heads: %s", hub_last_error());
  CHECK(hub_attention_qkv(q, NULL, 4, 0, 0) == NULL && has(hub_last_error(), "with 4 heads"), "more heads than features");
  hub_tensor *o = hub_attention_qkv(q, NULL, 2, 0, 0);
  CHECK(o && o->shape[2] == 2 && fabs(hub_tensor_get(o, 0) - 0.5) < 1e-6, "2 heads of 1: output = v = 0.5");
  hub_tensor_release(o);
  hub_tensor_release(q);
}

/* found by fuzz_ops: matmul of a batched [.., M, 0] by a [0, N] divided numel by K = 0 */
static void test_matmul_empty_inner(void) {
  hub_tensor *a = hub_full(3, (int64_t[]){2, 3, 0}, 0, HUB_F32), *b = hub_full(2, (int64_t[]){0, 4}, 0, HUB_F32);
  hub_tensor *o = hub_matmul(a, b);
  int zeros = o != NULL;
  for (int64_t i = 0; o && i < hub_tensor_numel(o); i++) zeros &= hub_tensor_get(o, i) == 0;
  CHECK(o && o->ndim == 3 && o->shape[0] == 2 && o->shape[1] == 3 && o->shape[2] == 4 && zeros,
        "[2,3,0] x [0,4] = zeros [2,3,4]: %s", o ? "" : hub_last_error());
  release_n(3, (hub_tensor *[]){a, b, o});
}

/* found by fuzz_ops (a timeout): attention over empty tensors looped over B * Lq entries */
static void test_attention_empty(void) {
  long t0 = now_ms();
  hub_tensor *q = hub_full(4, (int64_t[]){1 << 20, 1 << 20, 4, 0}, 0, HUB_F32);
  hub_tensor *k = hub_full(4, (int64_t[]){1 << 20, 1 << 20, 0, 0}, 0, HUB_F32);
  hub_tensor *v = hub_full(4, (int64_t[]){1 << 20, 1 << 20, 0, 0}, 0, HUB_F32);
  hub_tensor *o = q && k && v ? hub_attention(q, k, v, NULL, 0) : NULL;
  CHECK(o && hub_tensor_numel(o) == 0 && o->shape[2] == 4 && o->shape[3] == 0 && now_ms() - t0 < 5000,
        "attention of [2^20, 2^20, 4, 0] tensors is empty and quick (%ld ms): %s", now_ms() - t0,
        o ? "" : hub_last_error());
  release_n(4, (hub_tensor *[]){q, k, v, o});
}

/* found by fuzz_ops: high - low overflowed int64_t for low = INT64_MIN */
static void test_randint_range(void) {
  hub_manual_seed(3);
  hub_tensor *t = hub_randint(INT64_MIN, 4, 1, (int64_t[]){64}, HUB_I64);
  int ok = t != NULL, neg = 0;
  for (int i = 0; ok && i < 64; i++) {
    int64_t v = ((int64_t *)t->data)[i];
    ok = v < 4;
    neg += v < 0;
  }
  CHECK(ok && neg > 48, "randint(INT64_MIN, 4): all below 4, almost all negative (%d of 64)", neg);
  hub_tensor_release(t);
  t = hub_randint(INT64_MAX - 2, INT64_MAX, 1, (int64_t[]){16}, HUB_I64);
  ok = t != NULL;
  for (int i = 0; ok && i < 16; i++) ok = ((int64_t *)t->data)[i] >= INT64_MAX - 2 && ((int64_t *)t->data)[i] < INT64_MAX;
  CHECK(ok, "randint(INT64_MAX - 2, INT64_MAX) in range");
  hub_tensor_release(t);
}

int main(void) {
  test_randint_range();
  test_attention_empty();
  test_matmul_empty_inner();
  test_attention_heads();
  test_split_overflow();
  test_constructors();
  test_views();
  test_int_values();
  return check_summary();
}
