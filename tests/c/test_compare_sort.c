/* test_compare_sort.c - the C API of issue 9's ops for embedders: type promotion, integer
 * arithmetic, comparisons and logic, masked_select, clamp, sort / topk / gather / scatter /
 * cumsum / stack, and f64 - on values written out here by hand, and the error paths (a message
 * naming the op and the bad value, never a signal).  The same ops are golden-tested against
 * PyTorch from Lua (tests/lua/test_ops_golden.lua); this test pins the edge cases in C: integer
 * wrap-around at INT64_MAX, INT64_MIN % -1, division by zero, stable sorting of ties, NaN order,
 * indices out of range leaving the destination untouched, f64 exactness.  At the end no tensor
 * or autograd node may be left alive.
 * Prints "N passed, N failed"; returns nonzero on failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

#define CHECK_FAIL_END() printf("  [last error: %s]\n", hub_last_error())
#include "check.h"

static hub_tensor *i64s(int n, const int64_t *v) {
  return hub_tensor_from_data(HUB_I64, 1, (int64_t[]){n}, v, HUB_I64);
}
static hub_tensor *f32s(int n, const float *v) {
  return hub_tensor_from_data(HUB_F32, 1, (int64_t[]){n}, v, HUB_F32);
}
/* Element i read back through the exact path (i64 values beyond 2^53 included). */
static int64_t geti(const hub_tensor *t, int64_t i) {
  int64_t n = hub_tensor_numel(t), *buf = malloc(sizeof(int64_t) * (size_t)(n ? n : 1)), v;
  if (hub_tensor_read(t, buf, HUB_I64)) v = -999;
  else v = buf[i];
  free(buf);
  return v;
}

static void test_promotion(void) {
  CHECK(hub_promote_types(HUB_F32, HUB_I64) == HUB_F32, "f32 with i64");
  CHECK(hub_promote_types(HUB_BOOL, HUB_U8) == HUB_U8, "bool with u8");
  CHECK(hub_promote_types(HUB_U8, HUB_I32) == HUB_I32, "u8 with i32");
  CHECK(hub_promote_types(HUB_F16, HUB_BF16) == HUB_F32, "f16 with bf16");
  CHECK(hub_promote_types(HUB_F64, HUB_F16) == HUB_F64, "f64 with f16");
  CHECK(hub_promote_types(HUB_I64, 99) < 0 && has(hub_last_error(), "99"), "unknown dtype");
  CHECK(hub_result_type_scalar(HUB_I64, 2) == HUB_I64 && hub_result_type_scalar(HUB_I64, 2.5) == HUB_F32 &&
            hub_result_type_scalar(HUB_BOOL, 1) == HUB_I64 && hub_result_type_scalar(HUB_F16, 2.5) == HUB_F16 &&
            hub_result_type_scalar(HUB_I32, NAN) == HUB_F32 && hub_result_type_scalar(HUB_I32, 1e300) == HUB_F32,
        "scalar rules");
}

static void test_integers(void) {
  hub_tensor *a = i64s(3, (int64_t[]){INT64_MAX, INT64_MIN, -7});
  hub_tensor *one = i64s(1, (int64_t[]){1}), *m1 = i64s(1, (int64_t[]){-1});
  hub_tensor *s = hub_add(a, one);
  CHECK(s && s->dtype == HUB_I64 && geti(s, 0) == INT64_MIN && geti(s, 2) == -6, "i64 + 1 wraps like two's complement");
  hub_tensor *r = hub_remainder(a, m1);
  CHECK(r && geti(r, 1) == 0 && geti(r, 2) == 0, "INT64_MIN %% -1 is 0, not a SIGFPE");
  hub_tensor *z = i64s(1, (int64_t[]){0});
  hub_clear_error();
  hub_tensor *bad = hub_fmod(a, z);
  CHECK(!bad && has(hub_last_error(), "fmod") && has(hub_last_error(), "division by zero"), "fmod by 0: an error");
  hub_tensor *seven = i64s(2, (int64_t[]){7, -7}), *three = i64s(2, (int64_t[]){-3, 3});
  hub_tensor *rm = hub_remainder(seven, three), *fm = hub_fmod(seven, three);
  CHECK(rm && fm && geti(rm, 0) == -2 && geti(rm, 1) == 2 && geti(fm, 0) == 1 && geti(fm, 1) == -1,
        "remainder has the divisor's sign, fmod the dividend's");
  hub_tensor *p = hub_pow(seven, 2);
  CHECK(p && p->dtype == HUB_I64 && geti(p, 1) == 49, "i64 ^ 2 in i64");
  hub_clear_error();
  hub_tensor *pn = hub_pow(seven, -1);
  CHECK(!pn && has(hub_last_error(), "negative"), "i64 ^ -1: an error");
  hub_tensor *d = hub_div(seven, three);
  CHECK(d && d->dtype == HUB_F32 && fabs(hub_tensor_get(d, 0) + 7.0 / 3) < 1e-6, "i64 / i64 is true division");
  hub_tensor *all[] = {a, one, m1, s, r, z, seven, three, rm, fm, p, d};
  for (size_t k = 0; k < sizeof all / sizeof *all; k++) hub_tensor_release(all[k]);
}

static void test_compare(void) {
  hub_tensor *a = f32s(4, (float[]){1, 2, NAN, 4}), *b = i64s(4, (int64_t[]){1, 3, 0, 4});
  hub_tensor *eq = hub_eq(a, b), *lt = hub_lt(a, b);
  CHECK(eq && eq->dtype == HUB_BOOL && hub_tensor_get(eq, 0) == 1 && hub_tensor_get(eq, 1) == 0 &&
            hub_tensor_get(eq, 2) == 0 && hub_tensor_get(eq, 3) == 1,
        "eq f32 with i64 (NaN equals nothing)");
  CHECK(lt && hub_tensor_get(lt, 1) == 1 && hub_tensor_get(lt, 2) == 0, "lt");
  hub_tensor *any = hub_any(lt, 0, NULL, 0), *all = hub_all(eq, 0, NULL, 0);
  CHECK(any && all && hub_tensor_get(any, 0) == 1 && hub_tensor_get(all, 0) == 0, "any / all");
  hub_tensor *m = hub_logical_not(eq);
  hub_tensor *sel = m ? hub_masked_select(b, m) : NULL;
  CHECK(sel && sel->dtype == HUB_I64 && hub_tensor_numel(sel) == 2 && geti(sel, 0) == 3 && geti(sel, 1) == 0,
        "masked_select keeps order and dtype");
  hub_tensor *c = hub_clamp(b, 1, 3);
  CHECK(c && c->dtype == HUB_I64 && geti(c, 2) == 1 && geti(c, 3) == 3, "clamp of i64 stays i64");
  hub_clear_error();
  hub_tensor *w = hub_where(a, a, b);
  CHECK(!w && has(hub_last_error(), "where") && has(hub_last_error(), "bool"), "where needs a bool condition");
  hub_tensor *all_[] = {a, b, eq, lt, any, all, m, sel, c};
  for (size_t k = 0; k < sizeof all_ / sizeof *all_; k++) hub_tensor_release(all_[k]);
}

static void test_sort(void) {
  hub_tensor *x = f32s(6, (float[]){3, 1, NAN, 1, -2, 3}), *v = NULL, *i = NULL;
  CHECK(hub_sort(x, 0, 0, &v, &i) == 0, "sort");
  int64_t want[6] = {4, 1, 3, 0, 5, 2}; /* ties keep their order; NaN last */
  int ok = v && i;
  for (int k = 0; ok && k < 6; k++) ok = geti(i, k) == want[k];
  CHECK(ok && isnan(hub_tensor_get(v, 5)) && hub_tensor_get(v, 0) == -2, "stable ascending order, NaN largest");
  hub_tensor_release(v);
  hub_tensor_release(i);
  v = i = NULL;
  CHECK(hub_topk(x, 2, 0, 1, &v, &i) == 0 && isnan(hub_tensor_get(v, 0)) && geti(i, 1) == 0, "topk 2 (NaN first)");
  hub_tensor_release(v);
  hub_tensor_release(i);
  hub_clear_error();
  CHECK(hub_topk(x, 7, 0, 1, &v, &i) != 0 && has(hub_last_error(), "topk") && has(hub_last_error(), "k = 7"),
        "k larger than the dimension");
  hub_tensor *ids = i64s(2, (int64_t[]){1, 6});
  hub_clear_error();
  hub_tensor *g = hub_gather(x, 0, ids);
  CHECK(!g && has(hub_last_error(), "gather") && has(hub_last_error(), "index 6 out of range [0, 6)"),
        "gather names the bad index");
  hub_tensor *src = f32s(2, (float[]){9, 9});
  hub_clear_error();
  hub_tensor *sc = hub_scatter(x, 0, ids, src);
  CHECK(!sc && has(hub_last_error(), "scatter") && hub_tensor_get(x, 1) == 1, "scatter out of range changes nothing");
  hub_tensor *cs_in = i64s(3, (int64_t[]){INT64_MAX, 1, 5});
  hub_tensor *cs = hub_cumsum(cs_in, 0);
  CHECK(cs && cs->dtype == HUB_I64 && geti(cs, 1) == INT64_MIN && geti(cs, 2) == INT64_MIN + 5, "cumsum in i64");
  hub_tensor *st = hub_stack(2, (hub_tensor *[]){ids, ids}, -1);
  CHECK(st && st->ndim == 2 && st->shape[0] == 2 && st->shape[1] == 2 && geti(st, 1) == 1 && geti(st, 2) == 6,
        "stack along a new last dimension");
  hub_tensor *all[] = {x, ids, src, cs_in, cs, st};
  for (size_t k = 0; k < sizeof all / sizeof *all; k++) hub_tensor_release(all[k]);
}

static void test_f64(void) {
  double av[4] = {0.1, 0.2, 1.0 / 3, 1e-17};
  hub_tensor *a = hub_tensor_from_data(HUB_F64, 2, (int64_t[]){2, 2}, av, HUB_F64);
  hub_tensor_set_requires_grad(a, 1);
  hub_tensor *s = hub_add_scalar(a, 1.0);
  CHECK(s && s->dtype == HUB_F64 && hub_tensor_get(s, 3) == 1.0 + 1e-17 && hub_tensor_get(s, 0) == 1.1,
        "f64 + 1 in double");
  hub_tensor *mm = hub_matmul(a, a);
  CHECK(mm && mm->dtype == HUB_F64 && hub_tensor_get(mm, 0) == 0.1 * 0.1 + 0.2 * (1.0 / 3), "f64 matmul in double");
  hub_tensor *sum = mm ? hub_sum(mm, 0, NULL, 0) : NULL;
  CHECK(sum && hub_backward(sum, NULL) == 0, "f64 backward: %s", hub_last_error());
  hub_tensor *g = hub_tensor_grad(a);
  /* d sum(A A) / dA = 1 A^T + A^T 1: element (0, 0) = (a00 + a01) + (a00 + a10) */
  CHECK(g && g->dtype == HUB_F64 && hub_tensor_get(g, 0) == (0.1 + 0.2) + (0.1 + 1.0 / 3), "f64 gradient in double");
  hub_tensor *all[] = {a, s, mm, sum, g};
  for (size_t k = 0; k < sizeof all / sizeof *all; k++) hub_tensor_release(all[k]);
}

int main(void) {
  int64_t live = hub_tensor_live_count();
  test_promotion();
  test_integers();
  test_compare();
  test_sort();
  test_f64();
  CHECK(hub_tensor_live_count() == live, "no tensor left alive (%lld)", (long long)(hub_tensor_live_count() - live));
  return check_summary();
}
