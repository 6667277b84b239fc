/* test_embed_lac.c - the real lac module through the embedding API, as an application would
 * use it: open a runtime, load "lac", send PaddleHub's JSON request, print the answer.
 *
 * The module is taken from the store (an installed "lac"), else from the module directory that
 * `make registry` builds (<repo>/build/registry/lac/1.0.0, or $HUB_REGISTRY_DIR/lac/1.0.0).
 * When neither exists the test prints "skipped: ..." and "0 passed, 0 failed", unless
 * HUB_REQUIRE_DATA is set, in which case that is a failure.  It prints the answer for
 * 今天是个好日子, checks the known answer for 百度是一家高科技公司 (shared/DATA.md), then runs
 * lac in two runtimes on two threads at once and checks that they share one copy of the weights.
 */
#define _DEFAULT_SOURCE

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub.h"
#include "check.h"

static const char baidu_req[] = "{\"text\": [\"百度是一家高科技公司\"]}";
static const char baidu_ans[] = "[{\"word\": [\"百度\", \"是\", \"一家\", \"高科技\", \"公司\"], "
                                "\"tag\": [\"ORG\", \"v\", \"m\", \"n\", \"n\"]}]";
static const char huawei_ans[] = "{\"word\": [\"2019年国庆节\", \"我\", \"在\", \"上海\", \"参加\", \"了\", \"华为\", \"发布会\"], "
                                 "\"tag\": [\"TIME\", \"r\", \"p\", \"LOC\", \"v\", \"u\", \"ORG\", \"n\"]}";

static char module_spec[1024];

/* "lac" when the store has it, else the built module directory, else "" (not available). */
static void find_module(void) {
  hub_runtime *rt = hub_runtime_open(NULL);
  hub_module *m = rt ? hub_module_load(rt, "lac") : NULL;
  if (m) {
    snprintf(module_spec, sizeof module_spec, "lac");
  } else {
    const char *reg = getenv("HUB_REGISTRY_DIR");
    char dir[1024];
    if (reg && *reg) snprintf(dir, sizeof dir, "%s/lac/1.0.0", reg);
    else snprintf(dir, sizeof dir, "../build/registry/lac/1.0.0"); /* ctest runs in tests/ */
    char json[1100];
    snprintf(json, sizeof json, "%s/module.json", dir);
    if (access(json, R_OK) == 0) snprintf(module_spec, sizeof module_spec, "%s", dir);
  }
  hub_module_release(m);
  hub_runtime_close(rt);
}

static pthread_barrier_t lac_barrier;
static int shared_seen;

struct worker {
  int ok, bad;
  char err[512];
};

static void *work(void *arg) {
  struct worker *w = arg;
  hub_runtime *rt = hub_runtime_open(NULL);
  hub_module *m = rt ? hub_module_load(rt, module_spec) : NULL;
  if (!m) snprintf(w->err, sizeof w->err, "%s", hub_last_error());
  for (int i = 0; m && i < 20; i++) {
    char *out = hub_module_predict_json(m, i % 2 ? baidu_req : "{\"text\": [\"2019年国庆节我在上海参加了华为发布会\", \"百度是一家高科技公司\"]}");
    int good = out && (i % 2 ? strcmp(out, baidu_ans) == 0 : strncmp(out + 1, huawei_ans, strlen(huawei_ans)) == 0);
    if (good) w->ok++;
    else {
      w->bad++;
      snprintf(w->err, sizeof w->err, "%s", out ? out : hub_last_error());
    }
    hub_free(out);
  }
  /* Both runtimes hold lac here: its weights must be in the cache once. */
  pthread_barrier_wait(&lac_barrier);
  if (hub_shared_count() == 1) __atomic_fetch_add(&shared_seen, 1, __ATOMIC_RELAXED);
  pthread_barrier_wait(&lac_barrier);
  if (__atomic_load_n(&shared_seen, __ATOMIC_RELAXED) != 2) snprintf(w->err, sizeof w->err, "shared count %d", hub_shared_count());
  else w->ok++;
  hub_module_release(m);
  hub_runtime_close(rt);
  return NULL;
}

int main(void) {
  find_module();
  if (!module_spec[0]) {
    if (getenv("HUB_REQUIRE_DATA")) {
      printf("FAIL: HUB_REQUIRE_DATA is set but the lac module is neither installed nor built (make registry)\n");
      check_failed++;
      return check_summary();
    }
    printf("skipped: the lac module is neither installed nor built (run make registry)\n");
    return check_summary();
  }
  printf("lac module: %s\n", module_spec);

  hub_runtime *rt = hub_runtime_open(&(hub_options){.home = NULL, .threads = 0});
  CHECK(rt != NULL, "open: %s", hub_last_error());
  hub_module *m = rt ? hub_module_load(rt, module_spec) : NULL;
  CHECK(m != NULL, "load %s: %s", module_spec, hub_last_error());
  char *out = m ? hub_module_predict_json(m, "{\"text\": [\"今天是个好日子\"]}") : NULL;
  CHECK(out != NULL, "predict: %s", hub_last_error());
  if (out) printf("%s\n", out);
  CHECK(out && strstr(out, "\"今天\"") && strstr(out, "\"好日子\""), "今天是个好日子: %s", out ? out : "");
  hub_free(out);
  out = m ? hub_module_predict_json(m, baidu_req) : NULL;
  CHECK(out && strcmp(out, baidu_ans) == 0, "百度是一家高科技公司: %s", out ? out : hub_last_error());
  hub_free(out);
  out = m ? hub_module_predict_json(m, "{\"text\": [\"\", \"百度\"], \"batch_size\": 1}") : NULL;
  CHECK(out && strncmp(out, "[{\"word\": [\"\"], \"tag\": [\"\"]}, {\"word\": [\"百度\"]", 43) == 0,
        "empty text and batch_size: %s", out ? out : hub_last_error());
  hub_free(out);
  out = m ? hub_module_predict_json(m, "{\"text\": \"百度是一家高科技公司\"}") : NULL;
  CHECK(out && strcmp(out, baidu_ans) == 0, "one string as text: %s", out ? out : hub_last_error());
  hub_free(out);
  CHECK(m && !hub_module_predict_json(m, "{\"text\": [\"x\"]") && strstr(hub_last_error(), "invalid JSON"),
        "bad JSON: %s", hub_last_error());
  hub_module_release(m);
  hub_runtime_close(rt);

  pthread_barrier_init(&lac_barrier, NULL, 2);
  struct worker w[2] = {{0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, work, &w[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&lac_barrier);
  for (int i = 0; i < 2; i++)
    CHECK(w[i].ok == 21 && w[i].bad == 0, "thread %d: %d right, %d wrong: %s", i + 1, w[i].ok, w[i].bad, w[i].err);
  CHECK(hub_shared_count() == 0, "weights leave the cache with the last runtime (%d)", hub_shared_count());
  return check_summary();
}
