/* fuzz_json.c - libFuzzer target: the JSON reader (runtime/json.c) on arbitrary bytes.  A parse
 * either fails with a message or gives a tree that is walked in full (every key looked up again,
 * every string checked to be valid UTF-8 and written back with the JSON writer). */
#include <string.h>

#include "fuzz_common.h"
#include "json.h"

static void walk(const json_value *v, json_buf *out, int depth) {
  if (depth > 70) abort(); /* the reader promises at most 64 levels */
  switch (v->type) {
    case JSON_STRING:
      if (!json_utf8_valid(v->s, v->slen)) abort();
      json_buf_str(out, v->s);
      break;
    case JSON_NUMBER:
      json_buf_printf(out, "%.17g", v->d);
      break;
    case JSON_ARRAY:
      for (int i = 0; i < v->n; i++) walk(&v->items[i], out, depth + 1);
      break;
    case JSON_OBJECT:
      for (int i = 0; i < v->n; i++) {
        if (!json_utf8_valid(v->keys[i], v->key_lens[i])) abort();
        if (strlen(v->keys[i]) == v->key_lens[i] && !json_get(v, v->keys[i])) abort();
        json_buf_str(out, v->keys[i]);
        walk(&v->items[i], out, depth + 1);
      }
      break;
    default:
      json_buf_str(out, json_type_name(v->type));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[128] = "";
  json_value *v = json_parse((const char *)data, size, err, sizeof err);
  if (!v) {
    if (!err[0]) abort();
    return 0;
  }
  json_buf b = {0};
  walk(v, &b, 0);
  free(b.data);
  json_free(v);
  (void)json_utf8_valid((const char *)data, size);
  return 0;
}
