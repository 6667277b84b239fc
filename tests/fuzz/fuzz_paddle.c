/* fuzz_paddle.c - libFuzzer target: hub_paddle_load (PaddlePaddle LoDTensor parameter files) on
 * arbitrary bytes: refused with an error, or a tensor whose every element can be read. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fuzz_file(data, size, path, sizeof path);
  hub_clear_error();
  hub_tensor *t = hub_paddle_load(path);
  if (!t) {
    fuzz_expect_error("hub_paddle_load");
  } else {
    fuzz_touch(t);
    hub_tensor_release(t);
  }
  close(fd);
  return 0;
}
