/* test_rng_state.c - hub_rng_get_state / hub_rng_set_state: the numbers drawn after restoring a
 * saved state are the numbers drawn after saving it (randn, rand, dropout), and set_state(s, 0)
 * is manual_seed(s). */
#include "check.h"

static int same(hub_tensor *a, hub_tensor *b) {
  int64_t n = hub_tensor_numel(a);
  if (n != hub_tensor_numel(b)) return 0;
  return memcmp(a->data, b->data, (size_t)n * sizeof(float)) == 0;
}

int main(void) {
  int64_t shape[1] = {1000};
  hub_manual_seed(7);
  hub_tensor *warm = hub_randn(1, shape, HUB_F32);
  uint64_t seed = 0, counter = 0;
  hub_rng_get_state(&seed, &counter);
  CHECK(seed == 7 && counter > 0, "state after a draw: seed %llu counter %llu", (unsigned long long)seed,
        (unsigned long long)counter);
  hub_tensor *a = hub_randn(1, shape, HUB_F32), *b = hub_rand(1, shape, HUB_F32);
  hub_tensor *ones = hub_full(1, shape, 1.0, HUB_F32);
  hub_tensor *d = hub_dropout(ones, 0.5f, 1);
  uint64_t s2, c2;
  hub_rng_get_state(&s2, &c2);
  CHECK(s2 == 7 && c2 > counter, "the counter moves with every draw");

  hub_rng_set_state(seed, counter);
  hub_tensor *a2 = hub_randn(1, shape, HUB_F32), *b2 = hub_rand(1, shape, HUB_F32);
  hub_tensor *d2 = hub_dropout(ones, 0.5f, 1);
  CHECK(same(a, a2), "randn after restoring");
  CHECK(same(b, b2), "rand after restoring");
  CHECK(same(d, d2), "dropout after restoring");

  hub_rng_set_state(7, 0);
  hub_tensor *w2 = hub_randn(1, shape, HUB_F32);
  CHECK(same(warm, w2), "set_state(seed, 0) equals manual_seed(seed)");
  hub_rng_get_state(NULL, NULL); /* NULL outputs are allowed */

  hub_tensor *all[] = {warm, a, b, ones, d, a2, b2, d2, w2};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) hub_tensor_release(all[i]);
  return check_summary();
}
