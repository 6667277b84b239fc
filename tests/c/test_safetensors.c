/* test_safetensors.c - unit tests of the C side of safetensors: the JSON reader and writer of
 * runtime/json.c (escapes, surrogates, numbers, strictness), and what the Lua tests cannot
 * reach through hub.save / hub.load: the file object's reference count (tensors used after
 * hub_st_close), lookups, shape queries, dtype conversion in hub_st_get, and hub_st_save's own
 * argument checks (duplicate names, NULL tensors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub.h"
#include "json.h"
#include "check.h"

static json_value *parse(const char *s, char *err) { return json_parse(s, strlen(s), err, 128); }

static void test_json_reader(void) {
  char err[128];
  json_value *v = parse(" {\"a\\\"b\": [1, -2, 3.5, 1e2, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"]} ", err);
  CHECK(v && v->type == JSON_OBJECT && v->n == 1, "object parsed: %s", err);
  const json_value *a = json_get(v, "a\"b");
  CHECK(a && a->type == JSON_ARRAY && a->n == 8, "escaped key and array");
  if (a && a->n == 8) {
    CHECK(a->items[0].is_int && a->items[0].i == 1 && a->items[1].i == -2, "integers");
    CHECK(!a->items[2].is_int && a->items[2].d == 3.5 && !a->items[3].is_int && a->items[3].d == 100, "non-integers");
    CHECK(a->items[4].type == JSON_BOOL && a->items[4].d == 1 && a->items[5].d == 0 && a->items[6].type == JSON_NULL, "literals");
    CHECK(a->items[7].type == JSON_STRING && !strcmp(a->items[7].s, "x\xc3\xa9\xf0\x9f\x98\x80\n"), "\\u escapes and surrogate pairs");
  }
  json_free(v);
  v = parse("9223372036854775807", err);
  CHECK(v && v->is_int && v->i == INT64_MAX, "int64 max exact");
  json_free(v);
  v = parse("9223372036854775808", err);
  CHECK(v && !v->is_int, "beyond int64 is a double");
  json_free(v);
  const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"abc", "\"\\x\"", "\"\\ud800\"",
                       "\"\\udc00\"", "\"a\tb\"", "tru", "{} {}", "\"\xff\"", "[1 2]", "{1:2}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v = parse(bad[i], err);
    CHECK(!v && !strncmp(err, "byte ", 5), "rejects %s (%s)", bad[i], err);
    json_free(v);
  }
  /* not NUL-terminated: only len bytes are read */
  v = json_parse("[7]garbage", 3, err, sizeof err);
  CHECK(v && v->n == 1 && v->items[0].i == 7, "length-bounded input");
  json_free(v);
}

static void test_json_writer(void) {
  json_buf b = {0};
  json_buf_str(&b, "q\"b\\n\n\x01\xc3\xa9");
  json_buf_printf(&b, ",%d", 42);
  CHECK(!b.failed && !strcmp(b.data, "\"q\\\"b\\\\n\\n\\u0001\xc3\xa9\",42"), "escaping: %s", b.data);
  char err[128];
  json_value *v = json_parse(b.data, b.len - 3, err, sizeof err);
  CHECK(v && !strcmp(v->s, "q\"b\\n\n\x01\xc3\xa9"), "written string reads back");
  json_free(v);
  free(b.data);
  CHECK(json_utf8_valid("\xc3\xa9", 2) && !json_utf8_valid("\xc3", 1) && !json_utf8_valid("\xed\xa0\x80", 3),
        "utf8 validation");
}

static void test_file_api(const char *path) {
  hub_tensor *w = hub_arange(0, 6, 1, HUB_F32);
  hub_tensor *w2 = hub_reshape(w, 2, (int64_t[]){2, 3});
  hub_tensor *wt = hub_transpose(w2, 0, 1);
  hub_tensor *h = hub_full(1, (int64_t[]){3}, 0.5, HUB_F16);
  const char *names[] = {"w", "wt", "h"};
  hub_tensor *ts[] = {w2, wt, h};
  const char *mk[] = {"format"}, *mv[] = {"pt"};
  CHECK(hub_st_save(path, 3, names, ts, 1, mk, mv) == 0, "save: %s", hub_last_error());

  hub_st_file *f = hub_st_open(path);
  CHECK(f != NULL, "open: %s", hub_last_error());
  if (!f) return;
  CHECK(hub_st_count(f) == 3 && !strcmp(hub_st_name(f, 0), "h") && !strcmp(hub_st_name(f, 2), "wt"), "sorted names");
  CHECK(hub_st_name(f, 3) == NULL && hub_st_dtype(f, -1) == -1, "out-of-range queries");
  int64_t shape[HUB_MAX_DIMS];
  int i = hub_st_find(f, "wt");
  CHECK(i == 2 && hub_st_shape(f, i, shape) == 2 && shape[0] == 3 && shape[1] == 2, "shape query");
  CHECK(!strcmp(hub_st_file_dtype(f, 0), "F16") && hub_st_dtype(f, 0) == HUB_F16, "dtype query");
  CHECK(hub_st_find(f, "nope") == -1 && strstr(hub_last_error(), "no tensor named 'nope'") &&
            strstr(hub_last_error(), path), "find error: %s", hub_last_error());
  CHECK(!strcmp(hub_st_metadata(f, "format"), "pt") && hub_st_metadata(f, "x") == NULL && hub_st_meta_count(f) == 1,
        "metadata");
  hub_tensor *lt = hub_st_get(f, "wt", -1);
  hub_tensor *lh = hub_st_get(f, "h", HUB_F32);
  hub_tensor *li = hub_st_get(f, "w", HUB_I64);
  CHECK(hub_st_get_index(f, 0, 99) == NULL && strstr(hub_last_error(), "unknown dtype"), "bad dtype argument");
  hub_st_close(f); /* the tensors keep the mapping */
  CHECK(lt && hub_tensor_get(lt, 1) == 3 && hub_tensor_get(lt, 2) == 1, "transposed values after close");
  CHECK(lh && hub_tensor_dtype(lh) == HUB_F32 && hub_tensor_get(lh, 2) == 0.5, "f16 widened to f32");
  CHECK(li && hub_tensor_dtype(li) == HUB_I64 && hub_tensor_get(li, 5) == 5, "converted to i64");
  hub_tensor_release(lt);
  hub_tensor_release(lh);
  hub_tensor_release(li);

  /* argument checks that Lua tables cannot produce */
  const char *dup[] = {"a", "a"};
  hub_tensor *two[] = {h, h};
  CHECK(hub_st_save(path, 2, dup, two, 0, NULL, NULL) == -1 && strstr(hub_last_error(), "given twice"),
        "duplicate names: %s", hub_last_error());
  hub_tensor *null1[] = {NULL};
  CHECK(hub_st_save(path, 1, dup, null1, 0, NULL, NULL) == -1 && strstr(hub_last_error(), "'a' is NULL"),
        "NULL tensor: %s", hub_last_error());
  const char *k2[] = {"k", "k"}, *v2[] = {"1", "2"};
  CHECK(hub_st_save(path, 0, NULL, NULL, 2, k2, v2) == -1 && strstr(hub_last_error(), "metadata key 'k'"),
        "duplicate metadata: %s", hub_last_error());
  CHECK(hub_st_open(NULL) == NULL && hub_st_save(NULL, 0, NULL, NULL, 0, NULL, NULL) == -1, "NULL paths");
  /* the file is still the first one */
  f = hub_st_open(path);
  CHECK(f && hub_st_count(f) == 3, "failed saves left the file alone");
  hub_st_close(f);
  hub_st_close(NULL);
  hub_tensor_release(h);
  hub_tensor_release(wt);
  hub_tensor_release(w2);
  hub_tensor_release(w);
}

int main(void) {
  int64_t live = hub_tensor_live_count();
  char path[64];
  snprintf(path, sizeof path, "/tmp/hub_test_st_%ld.safetensors", (long)getpid());
  test_json_reader();
  test_json_writer();
  test_file_api(path);
  unlink(path);
  CHECK(hub_tensor_live_count() == live, "no tensors leak (%lld)", (long long)(hub_tensor_live_count() - live));
  return check_summary();
}
