/* fuzz_vocab.c - libFuzzer target: the vocab reader and the WordPiece tokenizer on it.
 *
 * Input: one flag byte (lower-casing, accent stripping), then the vocab file up to the first
 * 0xff byte (never valid UTF-8, so it cannot be part of a good vocab line), then a text to
 * tokenize, encode (with itself as the pair) and decode again.  The vocab is either refused with
 * an error or every id maps back to its token and the tokenizer's ids are all in range. */
#include <string.h>

#include "fuzz_common.h"
#include "hub_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t flags = data[0];
  data++, size--;
  const uint8_t *cut = memchr(data, 0xff, size);
  size_t vlen = cut ? (size_t)(cut - data) : size;
  const char *text = cut ? (const char *)cut + 1 : "";
  int64_t tlen = cut ? (int64_t)(size - vlen - 1) : 0;
  char path[64];
  int fd = fuzz_file(data, vlen, path, sizeof path);
  hub_clear_error();
  hub_wordpiece *w = hub_wordpiece_open(path, flags & 1, (flags >> 1) % 3 - 1);
  close(fd);
  if (!w) {
    fuzz_expect_error("hub_wordpiece_open");
    return 0;
  }
  int64_t nv = hub_wordpiece_vocab_size(w);
  if (nv <= 0 || hub_wordpiece_id_to_token(w, -1) || hub_wordpiece_id_to_token(w, nv)) abort();
  for (int64_t i = 0; i < nv && i < 256; i++) {
    const char *tok = hub_wordpiece_id_to_token(w, i);
    if (!tok) abort();
    int64_t id = hub_wordpiece_token_to_id(w, tok);
    if (id < 0 || id >= nv) abort(); /* a repeated token maps to its later id, still in range */
  }
  int64_t *ids = NULL, *offs = NULL, n = 0;
  if (hub_wordpiece_tokenize(w, text, tlen, &ids, &offs, &n) == 0) {
    for (int64_t i = 0; i < n; i++)
      if (ids[i] < 0 || ids[i] >= nv || offs[2 * i] < 0 || offs[2 * i] > offs[2 * i + 1]) abort();
    char *s = hub_wordpiece_decode(w, ids, n, flags & 4, flags & 8);
    hub_text_free(s);
  }
  hub_text_free(ids);
  hub_text_free(offs);
  hub_tensor *out[4] = {0};
  const char *texts[1] = {text}, *pairs[1] = {text};
  int64_t lens[1] = {tlen};
  hub_clear_error();
  if (hub_wordpiece_encode(w, 1, texts, lens, flags & 16 ? pairs : NULL, lens, (flags >> 5) * 3, flags & 3,
                           (flags >> 2) & 1, out) == 0) {
    for (int i = 0; i < 4; i++) {
      fuzz_touch(out[i]);
      hub_tensor_release(out[i]);
    }
  } else {
    fuzz_expect_error("hub_wordpiece_encode");
  }
  hub_wordpiece_close(w);
  return 0;
}
