/* fuzz_safetensors.c - libFuzzer target: hub_st_open on arbitrary bytes, then every tensor read
 * with its own dtype and as f32, the metadata and the accessors with out-of-range indices.  A
 * file is either refused with an error or every tensor in it can be read in full. */
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fuzz_file(data, size, path, sizeof path);
  hub_clear_error();
  hub_st_file *f = hub_st_open(path);
  if (!f) {
    fuzz_expect_error("hub_st_open");
    close(fd);
    return 0;
  }
  int n = hub_st_count(f);
  for (int i = -1; i <= n; i++) {
    int64_t shape[HUB_MAX_DIMS];
    const char *name = hub_st_name(f, i);
    int nd = hub_st_shape(f, i, shape);
    (void)hub_st_dtype(f, i);
    (void)hub_st_file_dtype(f, i);
    if (i < 0 || i == n) {
      if (name || nd != -1) abort(); /* out of range must say so */
      continue;
    }
    if (!name || nd < 0 || nd > HUB_MAX_DIMS || hub_st_find(f, name) != i) abort();
    for (int k = 0; k < 2; k++) {
      hub_clear_error();
      hub_tensor *t = hub_st_get_index(f, i, k ? HUB_F32 : -1);
      if (!t) {
        fuzz_expect_error("hub_st_get_index");
        continue;
      }
      if (hub_tensor_ndim(t) != nd) abort();
      fuzz_touch(t);
      hub_tensor_release(t);
    }
  }
  for (int i = 0; i < hub_st_meta_count(f); i++) {
    const char *k = hub_st_meta_key(f, i);
    if (!k || !hub_st_metadata(f, k)) abort();
  }
  hub_st_close(f);
  close(fd);
  return 0;
}
