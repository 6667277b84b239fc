/* wordpiece.h - what wordpiece.c and encode.c share (private): the tokenizer object and the
 * growable buffer of (id, start, end) tokens that the tokenizer writes.
 */
#ifndef HUB_WORDPIECE_H
#define HUB_WORDPIECE_H

#include <stdint.h>

#include "hub_text.h"
#include "vocab.h"

struct hub_wordpiece {
  hub_vocab vocab;
  int lower, strip_accents;
  int64_t cls_id, sep_id, pad_id, unk_id, mask_id; /* mask_id -1 when absent */
  int nspecial;                                    /* special tokens present, matched in text */
  const char *special_str[5];
  int special_len[5];
  int64_t special_id[5];
};

typedef struct hub_tokbuf {
  int64_t *ids;
  int64_t *offs; /* 2 per token: start, end (characters) */
  int64_t n, cap;
} hub_tokbuf;

int hub_tokbuf_push(hub_tokbuf *b, int64_t id, int64_t start, int64_t end);
void hub_tokbuf_free(hub_tokbuf *b);

/* Appends the tokens of text[0..len) to out (no special tokens added).  0 or -1. */
int hub_wordpiece_run(const hub_wordpiece *w, const char *text, int64_t len, hub_tokbuf *out);

#endif
