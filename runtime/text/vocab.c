/* vocab.c - loads a BERT vocab.txt into the hashed trie of vocab.h.
 *
 * The file is read whole; line k (from 0) is the token of id k.  Trailing white space and "\r"
 * are trimmed (HF's Rust loader trims the same way), an empty line is an (unmatchable) token,
 * and a token written twice is an error naming both lines: HF would silently keep the later id,
 * leaving the earlier one unreachable, which always means a broken vocabulary.  Each
 * token is inserted with its id, then each of its proper prefixes (at UTF-8 character
 * boundaries) with id -1 unless already present.  Lines that are not valid UTF-8 are an error:
 * no text could ever match them and they mean the file is not a vocabulary.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "internal.h"
#include "hub_text.h"
#include "vocab.h"

/* The slot index of a hash: FNV's low bits are weak, so mix before masking. */
static uint64_t slot_of(uint64_t h, uint64_t mask) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h & mask;
}

static uint64_t key_hash(int ns, const char *s, uint32_t len) {
  uint64_t h = hub_vocab_seed(ns);
  for (uint32_t i = 0; i < len; i++) h = hub_vocab_step(h, (unsigned char)s[i]);
  return h ? h : 1; /* 0 marks an empty slot */
}

const hub_vocab_slot *hub_vocab_lookup(const hub_vocab *v, int ns, uint64_t h, const char *s, uint32_t len) {
  if (!h) h = 1;
  for (uint64_t i = slot_of(h, v->mask);; i = (i + 1) & v->mask) {
    const hub_vocab_slot *sl = &v->slots[i];
    if (!sl->hash) return NULL;
    if (sl->hash == h && sl->len == len && sl->ns == ns && memcmp(v->arena + sl->off, s, len) == 0) return sl;
  }
}

/* Splits a token as written into its namespace and key ("##lo" -> 1, "lo"). */
static int split_token(const char *tok, uint64_t len, const char **key) {
  if (len > 2 && tok[0] == '#' && tok[1] == '#') {
    *key = tok + 2;
    return 1;
  }
  *key = tok;
  return 0;
}

int64_t hub_vocab_id(const hub_vocab *v, const char *tok, uint64_t len) {
  const char *key;
  int ns = split_token(tok, len, &key);
  uint32_t klen = (uint32_t)(len - (uint64_t)(key - tok));
  if (len > UINT32_MAX) return -1;
  const hub_vocab_slot *sl = hub_vocab_lookup(v, ns, key_hash(ns, key, klen), key, klen);
  return sl ? sl->id : -1;
}

/* Inserts key arena[off..off+len) in ns; id >= 0 overwrites, id -1 only fills a new slot.  Returns the id the key had before (-1 for a new key or a prefix entry). */
static int32_t insert(hub_vocab *v, int ns, uint32_t off, uint32_t len, int32_t id) {
  uint64_t h = key_hash(ns, v->arena + off, len);
  for (uint64_t i = slot_of(h, v->mask);; i = (i + 1) & v->mask) {
    hub_vocab_slot *sl = &v->slots[i];
    if (!sl->hash) {
      *sl = (hub_vocab_slot){.hash = h, .off = off, .len = len, .id = id, .ns = ns};
      if (len > v->max_len[ns]) v->max_len[ns] = len;
      return -1;
    }
    if (sl->hash == h && sl->len == len && sl->ns == ns && memcmp(v->arena + sl->off, v->arena + off, len) == 0) {
      int32_t old = sl->id;
      if (id >= 0) sl->id = id; /* only empty lines may repeat: the later id wins, as in HF */
      return old;
    }
  }
}

static int read_file(const char *path, char **data, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return hub_err("wordpiece: cannot open vocab file '%s': %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap) break;
    char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf) return hub_err("wordpiece: out of memory reading vocab file '%s'", path);
  if (bad) {
    free(buf);
    return hub_err("wordpiece: cannot read vocab file '%s'", path);
  }
  *data = buf;
  *size = n;
  return 0;
}

static int is_trim(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

int hub_vocab_load(hub_vocab *v, const char *path) {
  memset(v, 0, sizeof *v);
  char *data = NULL;
  size_t size = 0;
  if (read_file(path, &data, &size) < 0) return -1;
  if (size == 0) {
    free(data);
    return hub_err("wordpiece: vocab file '%s' is empty", path);
  }
  if (size >= UINT32_MAX) {
    free(data);
    return hub_err("wordpiece: vocab file '%s' is too large (%zu bytes)", path, size);
  }
  /* Count lines: a final line without "\n" counts, a final "\n" opens no new line. */
  int64_t lines = 0;
  for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
  if (data[size - 1] != '\n') lines++;

  v->n = lines;
  v->arena = malloc(size + 1);
  v->tok_off = malloc((size_t)lines * sizeof *v->tok_off);
  uint64_t cap = 16;
  while (cap < 2 * (uint64_t)(size + lines)) cap <<= 1; /* keys <= bytes + one per token */
  v->slots = calloc(cap, sizeof *v->slots);
  v->mask = cap - 1;
  if (!v->arena || !v->tok_off || !v->slots) {
    free(data);
    hub_vocab_free(v);
    return hub_err("wordpiece: out of memory loading vocab file '%s'", path);
  }

  /* Copy tokens into the arena, trimmed and NUL-terminated, checking UTF-8. */
  size_t pos = 0, w = 0;
  for (int64_t id = 0; id < lines; id++) {
    size_t end = pos;
    while (end < size && data[end] != '\n') end++;
    size_t stop = end;
    while (stop > pos && is_trim(data[stop - 1])) stop--;
    for (size_t i = pos; i < stop;) {
      utf8proc_int32_t cp;
      utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)data + i, (utf8proc_ssize_t)(stop - i), &cp);
      if (k <= 0) {
        free(data);
        hub_vocab_free(v);
        return hub_err("wordpiece: vocab file '%s' line %lld is not valid UTF-8", path, (long long)id + 1);
      }
      i += (size_t)k;
    }
    v->tok_off[id] = (uint32_t)w;
    memcpy(v->arena + w, data + pos, stop - pos);
    w += stop - pos;
    v->arena[w++] = 0;
    pos = end + 1;
  }
  free(data);

  /* Tokens first (a duplicate is an error; empty lines may repeat), then the prefixes. */
  for (int64_t id = 0; id < lines; id++) {
    const char *tok = v->arena + v->tok_off[id], *key;
    uint64_t len = strlen(tok);
    int ns = split_token(tok, len, &key);
    int32_t old = insert(v, ns, (uint32_t)(key - v->arena), (uint32_t)(len - (uint64_t)(key - tok)), (int32_t)id);
    if (old >= 0 && len > 0) {
      int err = hub_err("wordpiece: vocab file '%s' line %lld: token '%s' is already on line %lld (a vocabulary "
                        "must not repeat a token)", path, (long long)id + 1, tok, (long long)old + 1);
      hub_vocab_free(v);
      return err;
    }
  }
  for (int64_t id = 0; id < lines; id++) {
    const char *tok = v->arena + v->tok_off[id], *key;
    uint64_t len = strlen(tok);
    int ns = split_token(tok, len, &key);
    uint32_t klen = (uint32_t)(len - (uint64_t)(key - tok));
    for (uint32_t p = 1; p < klen; p++)
      if (((unsigned char)key[p] & 0xC0) != 0x80) insert(v, ns, (uint32_t)(key - v->arena), p, -1);
  }
  return 0;
}

void hub_vocab_free(hub_vocab *v) {
  free(v->arena);
  free(v->tok_off);
  free(v->slots);
  memset(v, 0, sizeof *v);
}
