/* embed_predict.c - the C embedding API in one small program: open a runtime, load a module,
 * send it a JSON request, print the answer.  ctest builds and runs it (docs/c-api.md).
 *
 *   cc embed_predict.c -I<prefix>/include/hubrun -lhub_lua -lhub -o embed_predict
 *   ./embed_predict lac '{"text": ["百度是一家高科技公司"]}'
 *
 * The module is a name in the store (`hubrun install lac`) or a module directory.  Every call
 * returns NULL (or -1) on failure and leaves the reason in hub_last_error(); nothing aborts.
 */
#include <stdio.h>
#include <stdlib.h>

#include "hub.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODULE JSON\n", argv[0]);
    return 2;
  }
  hub_runtime *rt = hub_runtime_open(&(hub_options){.home = NULL, .threads = 0});
  if (!rt) {
    fprintf(stderr, "runtime: %s\n", hub_last_error());
    return 1;
  }
  hub_module *m = hub_module_load(rt, argv[1]);
  if (!m) {
    fprintf(stderr, "load %s: %s\n", argv[1], hub_last_error());
    hub_runtime_close(rt);
    return 1;
  }
  char *out = hub_module_predict_json(m, argv[2]);
  if (out) printf("%s\n", out);
  else fprintf(stderr, "predict: %s\n", hub_last_error());
  int rc = out ? 0 : 1;
  hub_free(out);
  hub_module_release(m);
  hub_runtime_close(rt);
  return rc;
}
