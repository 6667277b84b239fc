/* vocab.h - the WordPiece vocabulary as a hashed trie (private to vocab.c and wordpiece.c).
 *
 * Tokens live in two namespaces: word-initial tokens ("hello") and continuation tokens, stored
 * without their "##" ("##lo" is "lo" in namespace 1).  Besides every token, the table holds
 * every prefix of every token (cut at character boundaries) with id -1.  WordPiece's longest
 * match then runs forward: hash one more character, look the prefix up, remember the last one
 * that is a token, and stop at the first prefix that is in the table under no form.  The hash
 * is FNV-1a, extended a byte at a time, so the scan never rehashes.
 */
#ifndef HUB_VOCAB_H
#define HUB_VOCAB_H

#include <stdint.h>

typedef struct hub_vocab_slot {
  uint64_t hash; /* 0 = empty slot */
  uint32_t off;  /* key bytes: arena + off, len bytes */
  uint32_t len;
  int32_t id; /* token id, or -1 for a prefix that is no token */
  int32_t ns; /* 0 word-initial, 1 continuation */
} hub_vocab_slot;

typedef struct hub_vocab {
  int64_t n;             /* ids 0..n-1 */
  char *arena;           /* every token, NUL-terminated, in id order */
  uint32_t *tok_off;     /* n offsets into arena */
  hub_vocab_slot *slots; /* open addressing, power-of-two size */
  uint64_t mask;
  uint32_t max_len[2]; /* longest key of each namespace, in bytes */
} hub_vocab;

static inline uint64_t hub_vocab_seed(int ns) { return ns ? 0x84222325cbf29ce4ULL : 0xcbf29ce484222325ULL; }
static inline uint64_t hub_vocab_step(uint64_t h, unsigned char b) { return (h ^ b) * 0x100000001b3ULL; }

/* Reads `path`; 0, or -1 with an error naming the file. */
int hub_vocab_load(hub_vocab *v, const char *path);
void hub_vocab_free(hub_vocab *v);
/* The slot of key s[0..len) in namespace ns whose running hash is h, or NULL. */
const hub_vocab_slot *hub_vocab_lookup(const hub_vocab *v, int ns, uint64_t h, const char *s, uint32_t len);
/* Id of a whole token as written in the file ("##lo" included), or -1. */
int64_t hub_vocab_id(const hub_vocab *v, const char *tok, uint64_t len);

#endif
