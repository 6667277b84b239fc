/* test_crf.c - the linear-chain CRF ops of runtime/op_crf.c from C: hub_crf_nll and
 * hub_crf_viterbi.
 *
 * Values are worked out by hand on two tags and two positions (four paths): with every score 0
 * except transitions[0][0] = 1, the path (0, 0) scores 1 and the others 0, so Z = e + 3,
 * nll(0, 0) = log(e + 3) - 1, nll(1, 1) = log(e + 3), and the gradient of nll(1, 1) with respect
 * to transitions[0][0] is P(0, 0) = e / (e + 3), to transitions[1][1] P(1, 1) - 1 = 1/(e+3) - 1,
 * to emissions[0][0] P(y0 = 0) = (e + 1) / (e + 3).  Then every argument missing (NULL), bad
 * shapes and values must give NULL and a message naming the argument, and nothing may leak
 * (tensor and node counts come back).  The thorough value checks (brute force, finite
 * differences, PyTorch) are in tests/lua/test_crf.lua.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "check.h"

static hub_tensor *f32(int ndim, const int64_t *shape, const float *v) {
  return hub_tensor_from_data(HUB_F32, ndim, shape, v, HUB_F32);
}
static hub_tensor *i64(int ndim, const int64_t *shape, const int64_t *v) {
  return hub_tensor_from_data(HUB_I64, ndim, shape, v, HUB_I64);
}

static int near(double a, double b) { return fabs(a - b) <= 1e-6 * (1 + fabs(b)); }

int main(void) {
  int64_t live0 = hub_tensor_live_count(), nodes0 = hub_node_live_count();
  const double e = exp(1.0);
  {
    float emv[2 * 2 * 2] = {0}, trv[4] = {1, 0, 0, 0}, zv[2] = {0, 0};
    int64_t tagv[4] = {0, 0, 1, 1};
    hub_tensor *em = f32(3, (int64_t[]){2, 2, 2}, emv), *tr = f32(2, (int64_t[]){2, 2}, trv);
    hub_tensor *st = f32(1, (int64_t[]){2}, zv), *en = f32(1, (int64_t[]){2}, zv);
    hub_tensor *tags = i64(2, (int64_t[]){2, 2}, tagv);
    hub_tensor_set_requires_grad(em, 1);
    hub_tensor_set_requires_grad(tr, 1);
    hub_tensor *nll = hub_crf_nll(em, tags, NULL, NULL, tr, st, en);
    CHECK(nll && shape_is(nll, 1, (int64_t[]){2}), "crf_nll: %s", hub_last_error());
    if (nll) {
      double *v = values(nll);
      CHECK(near(v[0], log(e + 3) - 1) && near(v[1], log(e + 3)), "nll %g %g, expected %g %g", v[0], v[1],
            log(e + 3) - 1, log(e + 3));
      free(v);
      /* gradient of nll[1] alone */
      float gv[2] = {0, 1};
      hub_tensor *g = f32(1, (int64_t[]){2}, gv);
      CHECK(hub_backward(nll, g) == 0, "backward: %s", hub_last_error());
      hub_tensor *gt = hub_tensor_grad(tr), *ge = hub_tensor_grad(em);
      CHECK(gt && ge, "gradients present");
      if (gt && ge) {
        double *a = values(gt), *b = values(ge);
        CHECK(near(a[0], e / (e + 3)) && near(a[1], 1 / (e + 3)) && near(a[3], 1 / (e + 3) - 1),
              "d nll / d transitions: %g %g %g %g", a[0], a[1], a[2], a[3]);
        CHECK(near(b[4], (e + 1) / (e + 3)) && near(b[5], 2 / (e + 3) - 1) && b[0] == 0 && b[1] == 0,
              "d nll / d emissions: sequence 0 untouched, sequence 1 %g %g", b[4], b[5]);
        free(a);
        free(b);
      }
      release_n(4, (hub_tensor *[]){g, gt, ge, nll});
    }
    hub_tensor *path = hub_crf_viterbi(em, NULL, NULL, tr, st, en);
    CHECK(path, "crf_viterbi: %s", hub_last_error());
    if (path) {
      double *p = values(path);
      CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0, "best path (0, 0)");
      free(p);
      hub_tensor_release(path);
    }

    /* errors: every argument named, nothing crashes */
    int64_t lv[2] = {2, 3};
    hub_tensor *lens = i64(1, (int64_t[]){2}, lv), *mask = f32(2, (int64_t[]){2, 2}, (float[]){1, 0, 1, 1});
    hub_tensor *hole = f32(2, (int64_t[]){2, 2}, (float[]){0, 1, 1, 1});
    hub_tensor *bad_tags = i64(2, (int64_t[]){2, 2}, (int64_t[]){0, 2, 0, 0});
    hub_tensor *tr3 = f32(2, (int64_t[]){3, 3}, (float[]){0, 0, 0, 0, 0, 0, 0, 0, 0});
    /* each call must fail with a message naming the problem */
#define EXPECT_ERR(call, want)                                                                        \
  do {                                                                                                \
    hub_tensor *r_ = (call);                                                                          \
    CHECK(!r_ && has(hub_last_error(), want), "%s: expected NULL and '%s', got '%s'", #call, want,     \
          hub_last_error());                                                                          \
    hub_tensor_release(r_);                                                                           \
  } while (0)
    EXPECT_ERR(hub_crf_nll(NULL, tags, NULL, NULL, tr, st, en), "crf_nll: emissions is missing");
    EXPECT_ERR(hub_crf_nll(em, NULL, NULL, NULL, tr, st, en), "crf_nll: tags is missing");
    EXPECT_ERR(hub_crf_nll(em, tags, NULL, NULL, NULL, st, en), "crf_nll: transitions is missing");
    EXPECT_ERR(hub_crf_nll(em, tags, NULL, NULL, tr, NULL, en), "crf_nll: start is missing");
    EXPECT_ERR(hub_crf_nll(em, tags, NULL, NULL, tr, st, NULL), "crf_nll: end is missing");
    EXPECT_ERR(hub_crf_nll(em, tags, lens, NULL, tr, st, en), "lengths[1] = 3 is outside 0..2");
    EXPECT_ERR(hub_crf_nll(em, tags, lens, mask, tr, st, en), "pass lengths or mask, not both");
    EXPECT_ERR(hub_crf_nll(em, tags, NULL, hole, tr, st, en), "mask row 0 is not a prefix of ones");
    EXPECT_ERR(hub_crf_nll(em, bad_tags, NULL, NULL, tr, st, en), "tags[0, 1] = 2 is outside 0..1");
    EXPECT_ERR(hub_crf_nll(em, tags, NULL, NULL, tr3, st, en), "transitions must be [C, C] = [2, 2]");
    EXPECT_ERR(hub_crf_nll(tags, tags, NULL, NULL, tr, st, en), "expected emissions to be a float tensor");
    EXPECT_ERR(hub_crf_viterbi(NULL, NULL, NULL, tr, st, en), "crf_decode: emissions is missing");
    EXPECT_ERR(hub_crf_viterbi(em, NULL, hole, tr, st, en), "crf_decode: mask row 0 is not a prefix");
    EXPECT_ERR(hub_crf_viterbi(em, NULL, NULL, tr, NULL, en), "crf_decode: start is missing");
    /* a mask with ones first is accepted: sequence 0 has length 1 (its tag at position 1 ignored) */
    hub_tensor *m = hub_crf_nll(em, bad_tags, NULL, mask, tr, st, en);
    CHECK(m != NULL, "prefix mask and a bad tag at a padded position: %s", hub_last_error());
    if (m) {
      double *v = values(m);
      CHECK(near(v[0], log(2.0)), "length-1 sequence over 2 tags: nll log 2, got %g", v[0]);
      free(v);
    }
    release_n(11, (hub_tensor *[]){m, lens, mask, hole, bad_tags, tr3, em, tr, st, en, tags});
  }
  CHECK(hub_tensor_live_count() == live0, "tensors alive %lld, expected %lld", (long long)hub_tensor_live_count(),
        (long long)live0);
  CHECK(hub_node_live_count() == nodes0, "nodes alive %lld, expected %lld", (long long)hub_node_live_count(),
        (long long)nodes0);
  return check_summary();
}
