/* wordpiece.c - the BERT basic tokenizer and WordPiece, in one pass over the text.
 *
 * The text is read a code point at a time.  Special tokens are matched at '[' bytes.  Every
 * other character is cleaned, normalized (NFD + mark removal, lower-casing) and appended to the
 * current word, with the index of the original character it came from; white space,
 * punctuation and CJK ideographs end the word (the last two also form a word of their own).
 * Each finished word goes straight to WordPiece, which walks the vocabulary's hashed trie
 * (vocab.h) for the longest piece at each position.  ASCII takes a table-driven path; other
 * characters ask utf8proc for their category, decomposition and lower case.
 *
 * The rules, and where they follow Hugging Face's BertTokenizerFast, are in hub_text.h.
 * Encoding, truncation, padding and decoding are in encode.c.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "internal.h"
#include "wordpiece.h"

enum { C_WORD = 0, C_SPACE = 1, C_DROP = 2, C_PUNCT = 3 };
enum { MAX_WORD_CHARS = 100 };

/* Class of each ASCII byte: tab, newline, CR and space separate (1); other C0 controls, DEL and
 * NUL are dropped (2); !-/ :-@ [-` {-~ are punctuation (3; HF's rule, broader than category P);
 * the rest are letters (0). */
/* clang-format off */
static const unsigned char ascii_class[128] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2, 1, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 2,
};
/* clang-format on */

static int is_chinese(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* White_Space characters that are not controls (the controls among them are dropped first). */
static int is_space(int32_t c) {
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

static int is_punct(int32_t c) {
  if (c < 128) return ascii_class[c] == C_PUNCT;
  int cat = utf8proc_get_property(c)->category;
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* ---- growable buffers ---- */

int hub_tokbuf_push(hub_tokbuf *b, int64_t id, int64_t start, int64_t end) {
  if (b->n == b->cap) {
    int64_t cap = b->cap ? 2 * b->cap : 64;
    int64_t *ids = realloc(b->ids, (size_t)cap * sizeof *ids);
    if (!ids) return hub_err("tokenize: out of memory");
    b->ids = ids;
    int64_t *offs = realloc(b->offs, (size_t)cap * 2 * sizeof *offs);
    if (!offs) return hub_err("tokenize: out of memory");
    b->offs = offs;
    b->cap = cap;
  }
  b->ids[b->n] = id;
  b->offs[2 * b->n] = start;
  b->offs[2 * b->n + 1] = end;
  b->n++;
  return 0;
}

void hub_tokbuf_free(hub_tokbuf *b) {
  free(b->ids);
  free(b->offs);
  memset(b, 0, sizeof *b);
}

/* The word being built: UTF-8 bytes, and per character its first byte and original index. */
typedef struct word {
  char *bytes;
  int64_t nbytes, capb;
  int64_t *ci; /* original character index of each character */
  int32_t *cb; /* first byte of each character; cb[nchars] = nbytes at flush */
  int64_t nchars, capc;
} word;

static int word_push(word *wd, int32_t cp, int64_t ci) {
  if (wd->nbytes + 4 > wd->capb) {
    int64_t cap = wd->capb ? 2 * wd->capb : 256;
    char *b = realloc(wd->bytes, (size_t)cap);
    if (!b) return hub_err("tokenize: out of memory");
    wd->bytes = b;
    wd->capb = cap;
  }
  if (wd->nchars + 2 > wd->capc) {
    int64_t cap = wd->capc ? 2 * wd->capc : 128;
    int64_t *c = realloc(wd->ci, (size_t)cap * sizeof *c);
    if (!c) return hub_err("tokenize: out of memory");
    wd->ci = c;
    int32_t *p = realloc(wd->cb, (size_t)cap * sizeof *p);
    if (!p) return hub_err("tokenize: out of memory");
    wd->cb = p;
    wd->capc = cap;
  }
  if (wd->nbytes > INT32_MAX - 8) return hub_err("tokenize: word longer than 2 GiB");
  wd->ci[wd->nchars] = ci;
  wd->cb[wd->nchars++] = (int32_t)wd->nbytes;
  if (cp < 0x80)
    wd->bytes[wd->nbytes++] = (char)cp;
  else
    wd->nbytes += utf8proc_encode_char(cp, (utf8proc_uint8_t *)wd->bytes + wd->nbytes);
  return 0;
}

/* WordPiece on the finished word; empties it. */
static int word_flush(const hub_wordpiece *w, word *wd, hub_tokbuf *out) {
  int64_t n = wd->nchars;
  if (n == 0) return 0;
  wd->nchars = 0;
  const int64_t *ci = wd->ci;
  int64_t wstart = ci[0], wend = ci[n - 1] + 1;
  if (n > MAX_WORD_CHARS) {
    wd->nbytes = 0;
    return hub_tokbuf_push(out, w->unk_id, wstart, wend);
  }
  wd->cb[n] = (int32_t)wd->nbytes;
  wd->nbytes = 0;
  const hub_vocab *v = &w->vocab;
  const unsigned char *bytes = (const unsigned char *)wd->bytes;
  const int32_t *cb = wd->cb;
  int64_t first = out->n;
  for (int64_t s = 0; s < n;) {
    int ns = s > 0;
    uint64_t h = hub_vocab_seed(ns);
    int64_t best = -1;
    int32_t best_id = 0;
    for (int64_t c = s; c < n; c++) {
      for (int32_t b = cb[c]; b < cb[c + 1]; b++) h = hub_vocab_step(h, bytes[b]);
      uint32_t len = (uint32_t)(cb[c + 1] - cb[s]);
      if (len > v->max_len[ns]) break;
      const hub_vocab_slot *sl = hub_vocab_lookup(v, ns, h, (const char *)bytes + cb[s], len);
      if (!sl) break;
      if (sl->id >= 0) {
        best = c + 1;
        best_id = sl->id;
      }
    }
    if (best < 0) { /* no piece fits here: the whole word is [UNK] */
      out->n = first;
      return hub_tokbuf_push(out, w->unk_id, wstart, wend);
    }
    if (hub_tokbuf_push(out, best_id, ci[s], ci[best - 1] + 1) < 0) return -1;
    s = best;
  }
  return 0;
}

/* One normalized character: punctuation is a word of its own, the rest joins the word. */
static int emit(const hub_wordpiece *w, word *wd, hub_tokbuf *out, int32_t c, int64_t ci) {
  if (is_punct(c)) {
    if (word_flush(w, wd, out) < 0 || word_push(wd, c, ci) < 0) return -1;
    return word_flush(w, wd, out);
  }
  return word_push(wd, c, ci);
}

/* A non-ASCII character of the original text at character index ci. */
static int add_char(const hub_wordpiece *w, word *wd, hub_tokbuf *out, int32_t cp, int64_t ci) {
  if (cp == 0xFFFD) return 0;
  int cat = utf8proc_get_property(cp)->category;
  if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
      cat == UTF8PROC_CATEGORY_CS)
    return 0;
  if (is_space(cp)) return word_flush(w, wd, out);
  int cjk = is_chinese(cp);
  if (cjk && word_flush(w, wd, out) < 0) return -1;
  if (w->strip_accents) {
    utf8proc_int32_t dec[32];
    int last = 0;
    utf8proc_ssize_t k = utf8proc_decompose_char(cp, dec, 32, UTF8PROC_DECOMPOSE, &last);
    if (k < 1 || k > 32) {
      dec[0] = cp;
      k = 1;
    }
    for (utf8proc_ssize_t i = 0; i < k; i++) {
      if (utf8proc_get_property(dec[i])->category == UTF8PROC_CATEGORY_MN) continue;
      int32_t c = w->lower ? utf8proc_tolower(dec[i]) : dec[i];
      if (emit(w, wd, out, c, ci) < 0) return -1;
    }
  } else if (w->lower && cp == 0x130) { /* İ lower-cases to i + combining dot above */
    if (emit(w, wd, out, 'i', ci) < 0 || emit(w, wd, out, 0x307, ci) < 0) return -1;
  } else {
    if (emit(w, wd, out, w->lower ? utf8proc_tolower(cp) : cp, ci) < 0) return -1;
  }
  return cjk ? word_flush(w, wd, out) : 0;
}

/* The length of the special token that starts at text[i] ('['), and its id. */
static int match_special(const hub_wordpiece *w, const char *text, int64_t left, int64_t *id) {
  for (int k = 0; k < w->nspecial; k++) {
    int len = w->special_len[k];
    if (len <= left && memcmp(text, w->special_str[k], (size_t)len) == 0) {
      *id = w->special_id[k];
      return len;
    }
  }
  return 0;
}

int hub_wordpiece_run(const hub_wordpiece *w, const char *text, int64_t len, hub_tokbuf *out) {
  word wd = {0};
  int64_t i = 0, ci = 0;
  int rc = 0;
  const int lower = w->lower;
  while (i < len && rc == 0) {
    unsigned char b = (unsigned char)text[i];
    if (b < 0x80) {
      switch (ascii_class[b]) {
        case C_WORD:
          rc = word_push(&wd, lower && b >= 'A' && b <= 'Z' ? b + 32 : b, ci);
          break;
        case C_SPACE:
          rc = word_flush(w, &wd, out);
          break;
        case C_PUNCT:
          if (b == '[') {
            int64_t id;
            int k = match_special(w, text + i, len - i, &id);
            if (k) {
              rc = word_flush(w, &wd, out);
              if (rc == 0) rc = hub_tokbuf_push(out, id, ci, ci + k);
              i += k;
              ci += k;
              continue;
            }
          }
          rc = word_flush(w, &wd, out);
          if (rc == 0) rc = word_push(&wd, b, ci);
          if (rc == 0) rc = word_flush(w, &wd, out);
          break;
        default:
          break; /* dropped */
      }
      i++;
      ci++;
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, len - i, &cp);
    if (k <= 0) { /* not UTF-8: one byte, one character, dropped like U+FFFD */
      k = 1;
      cp = 0xFFFD;
    }
    rc = add_char(w, &wd, out, cp, ci);
    i += k;
    ci++;
  }
  if (rc == 0) rc = word_flush(w, &wd, out);
  free(wd.bytes);
  free(wd.ci);
  free(wd.cb);
  return rc;
}

/* ---- the public object ---- */

static const char *const special_names[] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};

hub_wordpiece *hub_wordpiece_open(const char *vocab_path, int lower, int strip_accents) {
  if (!vocab_path) return hub_errp("wordpiece: no vocab file given");
  hub_wordpiece *w = calloc(1, sizeof *w);
  if (!w) return hub_errp("wordpiece: out of memory");
  if (hub_vocab_load(&w->vocab, vocab_path) < 0) {
    free(w);
    return NULL;
  }
  w->lower = lower != 0;
  w->strip_accents = strip_accents < 0 ? w->lower : strip_accents != 0;
  int64_t ids[5];
  for (int k = 0; k < 5; k++) {
    const char *s = special_names[k];
    ids[k] = hub_vocab_id(&w->vocab, s, strlen(s));
    if (ids[k] < 0 && k < 4) {
      hub_wordpiece_close(w);
      return hub_errp(
          "wordpiece: vocab file '%s' has no %s token (a BERT vocab needs [UNK], "
          "[CLS], [SEP] and [PAD])",
          vocab_path, s);
    }
    if (ids[k] >= 0) {
      w->special_str[w->nspecial] = s;
      w->special_len[w->nspecial] = (int)strlen(s);
      w->special_id[w->nspecial++] = ids[k];
    }
  }
  w->cls_id = ids[0];
  w->sep_id = ids[1];
  w->pad_id = ids[2];
  w->unk_id = ids[3];
  w->mask_id = ids[4];
  return w;
}

void hub_wordpiece_close(hub_wordpiece *w) {
  if (!w) return;
  hub_vocab_free(&w->vocab);
  free(w);
}

int64_t hub_wordpiece_vocab_size(const hub_wordpiece *w) { return w->vocab.n; }

int64_t hub_wordpiece_token_to_id(const hub_wordpiece *w, const char *token) {
  return token ? hub_vocab_id(&w->vocab, token, strlen(token)) : -1;
}

const char *hub_wordpiece_id_to_token(const hub_wordpiece *w, int64_t id) {
  if (id < 0 || id >= w->vocab.n) return NULL;
  return w->vocab.arena + w->vocab.tok_off[id];
}

int hub_wordpiece_is_special(const hub_wordpiece *w, int64_t id) {
  for (int k = 0; k < w->nspecial; k++)
    if (w->special_id[k] == id) return 1;
  return 0;
}

int hub_wordpiece_tokenize(const hub_wordpiece *w, const char *text, int64_t len, int64_t **ids, int64_t **offsets,
                           int64_t *n) {
  *ids = NULL;
  *offsets = NULL;
  *n = 0;
  if (!text) return hub_err("tokenize: text is NULL");
  if (len < 0) len = (int64_t)strlen(text);
  hub_tokbuf b = {0};
  if (hub_wordpiece_run(w, text, len, &b) < 0) {
    hub_tokbuf_free(&b);
    return -1;
  }
  *ids = b.ids;
  *offsets = b.offs;
  *n = b.n;
  return 0;
}

void hub_text_free(void *p) { free(p); }
