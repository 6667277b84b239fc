/* encode.c - BERT model inputs from tokenized text: [CLS] A [SEP] (B [SEP]), truncation,
 * padding and batching into i64 tensors; and decoding ids back to text.
 *
 * Truncation follows the Rust `tokenizers` crate (BertTokenizerFast), which for pairs differs
 * from the slow Python tokenizer: with longest_first, when the two texts do not fit the budget
 * (max_seq_len minus the three specials), the shorter keeps its length if it fits in half the
 * budget and the longer gets the rest; otherwise both are cut to half, the longer one taking
 * the odd token.  (The Python one removes a token at a time from the longer, the second on a
 * tie, which can end one token apart.)  When max_seq_len leaves no room beyond the specials,
 * every strategy keeps none of either text, as HF does.  head_tail (not in HF) splits the budget
 * as longest_first does, but a text that is cut keeps its first quarter and its last three
 * quarters of the tokens it may keep and loses its middle ("How to Fine-Tune BERT for Text
 * Classification?", Sun et al. 2019: head 128 + tail 382 of 510 was best; the end of a review
 * tends to say what the writer thought).  Padding goes on the right with [PAD],
 * type 0, mask 0 and offsets (0,0).
 *
 * Decoding is HF's WordPiece decoder: a "##" piece joins the previous token, other tokens are
 * preceded by a space, and with cleanup each token then goes through the same string
 * replacements as HF's `cleanup` (" ." -> "." and so on).  An id whose token appears again
 * later in the vocabulary (since vocab.c refuses duplicates, only an empty line can) is
 * skipped, as HF skips it (its token maps to the later id).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "hub_text.h"
#include "wordpiece.h"

static const char *const trunc_names[] = {"none", "longest_first", "only_first", "only_second", "head_tail"};

/* Cuts the token counts *n1 (and *n2 for a pair) to fit `budget`; 0 or -1 with an error. */
static int truncate_pair(int strategy, int64_t budget, int pair, int64_t *n1, int64_t *n2, int64_t row,
                         int64_t max_seq_len) {
  int64_t total = *n1 + (pair ? *n2 : 0);
  if (strategy == HUB_TRUNCATE_NONE || total <= budget) return 0;
  if (budget == 0) { /* HF empties both texts whatever the strategy */
    *n1 = *n2 = 0;
    return 0;
  }
  int64_t remove = total - budget;
  if (strategy == HUB_TRUNCATE_LONGEST_FIRST || strategy == HUB_TRUNCATE_HEAD_TAIL) {
    if (!pair) {
      *n1 = budget;
      return 0;
    }
    int64_t a = *n1, b = *n2, t;
    int swap = a > b;
    if (swap) {
      t = a;
      a = b;
      b = t;
    }
    b = a > budget ? a : (a > budget - a ? a : budget - a);
    if (a + b > budget) {
      a = budget / 2;
      b = a + budget % 2;
    }
    if (swap) {
      t = a;
      a = b;
      b = t;
    }
    if (a < *n1) *n1 = a;
    if (b < *n2) *n2 = b;
    return 0;
  }
  if (strategy == HUB_TRUNCATE_ONLY_SECOND && !pair)
    return hub_err("encode: row %lld has no second text to truncate (truncation only_second)", (long long)row + 1);
  int64_t *target = strategy == HUB_TRUNCATE_ONLY_FIRST ? n1 : n2;
  if (*target <= remove)
    return hub_err(
        "encode: row %lld: the %s text has %lld tokens, too few to remove %lld and "
        "fit max_seq_len %lld (truncation %s)",
        (long long)row + 1, strategy == HUB_TRUNCATE_ONLY_FIRST ? "first" : "second", (long long)*target,
        (long long)remove, (long long)max_seq_len, trunc_names[strategy]);
  *target -= remove;
  return 0;
}

/* Copies `keep` of the `t->n` tokens (ids and offsets) to ri/ro at position p: the first
 * `keep`, or with head_tail the first keep/4 and the last keep - keep/4. */
static void put_tokens(const hub_tokbuf *t, int64_t keep, int head_tail, int64_t *ri, int64_t *ro, int64_t p) {
  if (keep <= 0) return;
  int64_t head = head_tail && keep < t->n ? keep / 4 : keep;
  memcpy(ri + p, t->ids, (size_t)head * sizeof *ri);
  memcpy(ro + 2 * p, t->offs, (size_t)head * 2 * sizeof *ro);
  int64_t tail = keep - head;
  if (tail > 0) {
    memcpy(ri + p + head, t->ids + (t->n - tail), (size_t)tail * sizeof *ri);
    memcpy(ro + 2 * (p + head), t->offs + 2 * (t->n - tail), (size_t)tail * 2 * sizeof *ro);
  }
}

int hub_wordpiece_encode(const hub_wordpiece *w, int64_t n, const char *const *texts, const int64_t *lens,
                         const char *const *pairs, const int64_t *pair_lens, int64_t max_seq_len, int truncation,
                         int padding, hub_tensor **out) {
  for (int k = 0; k < 4; k++) out[k] = NULL;
  if (n < 0) return hub_err("encode: negative number of texts (%lld)", (long long)n);
  if (n > 0 && !texts) return hub_err("encode: texts is NULL");
  if (truncation < HUB_TRUNCATE_NONE || truncation > HUB_TRUNCATE_HEAD_TAIL)
    return hub_err("encode: unknown truncation %d", truncation);
  if (padding != HUB_PAD_LONGEST && padding != HUB_PAD_MAX_LENGTH)
    return hub_err("encode: unknown padding %d", padding);
  if (max_seq_len < 0) return hub_err("encode: negative max_seq_len %lld", (long long)max_seq_len);
  if (max_seq_len == 0) {
    truncation = HUB_TRUNCATE_NONE;
    padding = HUB_PAD_LONGEST;
  }
  for (int64_t i = 0; i < n; i++)
    if (!texts[i]) return hub_err("encode: text %lld is NULL", (long long)i + 1);

  int rc = -1;
  hub_tokbuf *a = calloc((size_t)(n ? n : 1), sizeof *a);
  hub_tokbuf *b = calloc((size_t)(n ? n : 1), sizeof *b);
  int64_t *n1 = malloc((size_t)(n ? n : 1) * sizeof *n1);
  int64_t *n2 = malloc((size_t)(n ? n : 1) * sizeof *n2);
  int64_t *ids = NULL, *types = NULL, *mask = NULL, *offs = NULL;
  if (!a || !b || !n1 || !n2) {
    hub_err("encode: out of memory");
    goto done;
  }

  int64_t L = 0;
  for (int64_t i = 0; i < n; i++) {
    int pair = pairs && pairs[i];
    int64_t la = lens && lens[i] >= 0 ? lens[i] : (int64_t)strlen(texts[i]);
    if (hub_wordpiece_run(w, texts[i], la, &a[i]) < 0) goto done;
    if (pair) {
      int64_t lb = pair_lens && pair_lens[i] >= 0 ? pair_lens[i] : (int64_t)strlen(pairs[i]);
      if (hub_wordpiece_run(w, pairs[i], lb, &b[i]) < 0) goto done;
    }
    int64_t specials = pair ? 3 : 2;
    if (truncation != HUB_TRUNCATE_NONE && max_seq_len < specials) {
      hub_err("encode: max_seq_len %lld cannot hold %s (needs at least %lld)", (long long)max_seq_len,
              pair ? "[CLS] A [SEP] B [SEP]" : "[CLS] A [SEP]", (long long)specials);
      goto done;
    }
    n1[i] = a[i].n;
    n2[i] = b[i].n;
    if (truncate_pair(truncation, max_seq_len - specials, pair, &n1[i], &n2[i], i, max_seq_len) < 0) goto done;
    int64_t len = specials + n1[i] + (pair ? n2[i] : 0);
    if (len > L) L = len;
  }
  if (padding == HUB_PAD_MAX_LENGTH && max_seq_len > L) L = max_seq_len;

  size_t cells = n > 0 && L > 0 ? (size_t)(n * L) : 1;
  ids = malloc(cells * sizeof *ids);
  types = calloc(cells, sizeof *types);
  mask = calloc(cells, sizeof *mask);
  offs = calloc(2 * cells, sizeof *offs);
  if (!ids || !types || !mask || !offs) {
    hub_err("encode: out of memory for %lld x %lld tokens", (long long)n, (long long)L);
    goto done;
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t *ri = ids + i * L, *rt = types + i * L, *rm = mask + i * L, *ro = offs + 2 * i * L;
    int64_t p = 0;
    ri[p++] = w->cls_id;
    int ht = truncation == HUB_TRUNCATE_HEAD_TAIL;
    put_tokens(&a[i], n1[i], ht, ri, ro, p);
    p += n1[i];
    ri[p++] = w->sep_id;
    if (pairs && pairs[i]) {
      put_tokens(&b[i], n2[i], ht, ri, ro, p);
      for (int64_t j = p; j < p + n2[i] + 1; j++) rt[j] = 1;
      p += n2[i];
      ri[p++] = w->sep_id;
    }
    for (int64_t j = 0; j < p; j++) rm[j] = 1;
    for (int64_t j = p; j < L; j++) ri[j] = w->pad_id;
  }
  int64_t shape[3] = {n, L, 2};
  out[0] = hub_tensor_from_data(HUB_I64, 2, shape, ids, HUB_I64);
  out[1] = hub_tensor_from_data(HUB_I64, 2, shape, types, HUB_I64);
  out[2] = hub_tensor_from_data(HUB_I64, 2, shape, mask, HUB_I64);
  out[3] = hub_tensor_from_data(HUB_I64, 3, shape, offs, HUB_I64);
  if (!out[0] || !out[1] || !out[2] || !out[3]) {
    for (int k = 0; k < 4; k++) {
      if (out[k]) hub_tensor_release(out[k]);
      out[k] = NULL;
    }
    goto done;
  }
  rc = 0;

done:
  if (a && b)
    for (int64_t i = 0; i < n; i++) {
      hub_tokbuf_free(&a[i]);
      hub_tokbuf_free(&b[i]);
    }
  free(a);
  free(b);
  free(n1);
  free(n2);
  free(ids);
  free(types);
  free(mask);
  free(offs);
  return rc;
}

/* ---- decoding ---- */

typedef struct strbuf {
  char *s;
  size_t n, cap;
} strbuf;

static int sb_put(strbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) return hub_err("decode: out of memory");
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
  return 0;
}

/* Replaces every `from` by `to` (no longer than from) in the NUL-terminated s, in place. */
static void replace_all(char *s, const char *from, const char *to) {
  size_t fl = strlen(from), tl = strlen(to);
  char *r = s, *wp = s;
  while (*r) {
    if (strncmp(r, from, fl) == 0) {
      memcpy(wp, to, tl);
      wp += tl;
      r += fl;
    } else {
      *wp++ = *r++;
    }
  }
  *wp = 0;
}

/* HF's tokenizers::decoders::wordpiece::cleanup, applied to one token. */
static void cleanup_token(char *s) {
  static const char *const pairs[][2] = {{" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
                                         {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
                                         {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
    if (strstr(s, pairs[k][0])) replace_all(s, pairs[k][0], pairs[k][1]);
}

char *hub_wordpiece_decode(const hub_wordpiece *w, const int64_t *ids, int64_t n, int skip_special, int cleanup) {
  if (n < 0) return hub_errp("decode: negative number of ids (%lld)", (long long)n);
  if (n > 0 && !ids) return hub_errp("decode: ids is NULL");
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= w->vocab.n)
      return hub_errp("decode: id %lld (position %lld) is out of range [0, %lld)", (long long)ids[i], (long long)i + 1,
                      (long long)w->vocab.n);
  strbuf out = {0}, tok = {0};
  if (sb_put(&out, "", 0) < 0) return NULL;
  int64_t kept = 0;
  for (int64_t i = 0; i < n; i++) {
    if (skip_special && hub_wordpiece_is_special(w, ids[i])) continue;
    const char *t = hub_wordpiece_id_to_token(w, ids[i]);
    size_t tl = strlen(t);
    if (hub_vocab_id(&w->vocab, t, tl) != ids[i]) continue; /* shadowed by a later duplicate */
    int glue = kept > 0 && tl >= 2 && t[0] == '#' && t[1] == '#';
    tok.n = 0;
    if ((kept > 0 && !glue && sb_put(&tok, " ", 1) < 0) || sb_put(&tok, glue ? t + 2 : t, glue ? tl - 2 : tl) < 0) {
      free(tok.s);
      free(out.s);
      return NULL;
    }
    if (cleanup) cleanup_token(tok.s);
    if (sb_put(&out, tok.s, strlen(tok.s)) < 0) {
      free(tok.s);
      free(out.s);
      return NULL;
    }
    kept++;
  }
  free(tok.s);
  return out.s;
}
