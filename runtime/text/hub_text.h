/* hub_text.h - BERT WordPiece tokenization: basic tokenizer, WordPiece, pairs, truncation,
 * padding, character offsets and decoding, on utf8proc.
 *
 * The behaviour is that of Hugging Face's BertTokenizerFast (the Rust `tokenizers` library:
 * BertNormalizer, BertPreTokenizer, WordPiece, the BERT template and the WordPiece decoder),
 * checked token for token on real Chinese and English text by tests/lua/test_tokenizer.lua.
 * A text goes through these steps:
 *
 *   1. special tokens: exact occurrences of [CLS] [SEP] [PAD] [UNK] [MASK] (those in the
 *      vocabulary) anywhere in the raw text, even inside a word ("a[MASK]b" -> a [MASK] b), are
 *      kept whole and never normalized; "[mask]" is ordinary text.
 *   2. cleaning: U+0000, U+FFFD and format/control/private-use characters (categories Cc, Cf,
 *      Co, Cs, except tab, newline and carriage return) are dropped; white space (tab, newline,
 *      CR, space, Zs, U+2028, U+2029) separates words.
 *   3. CJK: every CJK ideograph (U+4E00-9FFF, 3400-4DBF, 20000-2A6DF, 2A700-2B81F,
 *      2B920-2CEAF, F900-FAFF, 2F800-2FA1F; the 2B920 is HF's) is a word of its own.
 *   4. when strip_accents: canonical decomposition (NFD) and removal of non-spacing marks (Mn);
 *      when lower: lower-casing (U+0130 gives "i" + U+0307, as Rust's to_lowercase).
 *   5. punctuation (ASCII !-/ :-@ [-` {-~ and every P* category) is a word of its own.
 *   6. WordPiece: greedy longest match from the start of each word; pieces after the first carry
 *      "##"; a word with no match at some position, or over 100 characters, is one [UNK].
 *
 * Offsets are (start, end) code-point positions into the original text (end exclusive, as
 * Python string slices and BertTokenizerFast's offset_mapping): a token made of normalized
 * characters maps to the span of the original characters they came from ("Café" -> "ca"
 * (0,2), "##fe" (2,4)); special tokens added by encode and padding get (0,0).  Bytes that are
 * not valid UTF-8 count as one character each and are dropped like U+FFFD.
 *
 * Unicode categories come from utf8proc (Unicode 15); HF's Rust tables are older, so a
 * character assigned in recent Unicode versions may be split differently (HF keeps such
 * characters as letters).  Unassigned code points (Cn) are kept as letters, as HF does.
 *
 *   hub_wordpiece *w = hub_wordpiece_open("vocab.txt", 1, -1);    // NULL + hub_last_error()
 *   const char *texts[] = {"Hello, 世界!"};
 *   hub_tensor *out[4];                                          // ids, types, mask, offsets
 *   hub_wordpiece_encode(w, 1, texts, NULL, NULL, NULL, 16, HUB_TRUNCATE_LONGEST_FIRST,
 *                        HUB_PAD_MAX_LENGTH, out);              // [1,16] x3 and [1,16,2]
 *   ... hub_tensor_release(out[0..3]); hub_wordpiece_close(w);
 *
 * A hub_wordpiece is read-only after hub_wordpiece_open: any number of threads may use one.
 */
#ifndef HUB_TEXT_H
#define HUB_TEXT_H

#include "hub_tensor.h"

typedef struct hub_wordpiece hub_wordpiece;

typedef enum hub_truncation {
  HUB_TRUNCATE_NONE = 0,          /* keep every token (rows may be longer than max_seq_len) */
  HUB_TRUNCATE_LONGEST_FIRST = 1, /* cut the longer text first, as HF's "longest_first" */
  HUB_TRUNCATE_ONLY_FIRST = 2,    /* cut only the first text (error if it is too short) */
  HUB_TRUNCATE_ONLY_SECOND = 3,   /* cut only the second text (error without a pair) */
  HUB_TRUNCATE_HEAD_TAIL = 4      /* as longest_first, but a cut text keeps its first quarter and
                                     last three quarters of the tokens it may keep (its middle
                                     goes), as Sun et al. 2019 found best for classification */
} hub_truncation;

typedef enum hub_padding {
  HUB_PAD_LONGEST = 0,   /* pad every row to the longest row of the batch */
  HUB_PAD_MAX_LENGTH = 1 /* pad every row to max_seq_len (or to the longest row, if longer) */
} hub_padding;

/* Loads a BERT vocab.txt: one token per line, the id is the line number from 0; trailing white
 * space (and "\r") is trimmed; a token that appears twice is an error naming the file and both
 * lines (HF silently keeps the later id; empty lines may repeat).
 * The vocabulary must hold [UNK], [CLS], [SEP] and [PAD]; [MASK] is optional.  lower: 1 to
 * lower-case; strip_accents: 1 or 0, or -1 to follow lower (HF's default).  NULL + an error
 * naming the file (missing, empty, not UTF-8, a duplicate token, or without a required token). */
HUB_API hub_wordpiece *hub_wordpiece_open(const char *vocab_path, int lower, int strip_accents);
HUB_API void hub_wordpiece_close(hub_wordpiece *w);

/* Number of ids (lines of the vocab file). */
HUB_API int64_t hub_wordpiece_vocab_size(const hub_wordpiece *w);
/* Id of a token ("##ing" for a continuation piece), or -1 when it is not in the vocabulary (no
 * error is set). */
HUB_API int64_t hub_wordpiece_token_to_id(const hub_wordpiece *w, const char *token);
/* The token of an id (owned by w), or NULL when the id is out of range (no error is set). */
HUB_API const char *hub_wordpiece_id_to_token(const hub_wordpiece *w, int64_t id);
/* 1 when the id is one of the special tokens [PAD] [UNK] [CLS] [SEP] [MASK]. */
HUB_API int hub_wordpiece_is_special(const hub_wordpiece *w, int64_t id);

/* Tokenizes `len` bytes of text (len < 0: up to the NUL) without adding special tokens.  On
 * success *ids (n ids) and *offsets (2n: start, end of each token) are new arrays to free with
 * hub_text_free (NULL when n is 0).  0 or -1 (out of memory). */
HUB_API int hub_wordpiece_tokenize(const hub_wordpiece *w, const char *text, int64_t len, int64_t **ids, int64_t **offsets,
                           int64_t *n);

/* Encodes n texts, each alone or with a second text of a pair, as BERT inputs:
 *   [CLS] A [SEP]  or  [CLS] A [SEP] B [SEP]
 * texts[i] with lens[i] bytes (lens NULL or lens[i] < 0: NUL-terminated); pairs NULL for no
 * pairs, or pairs[i] NULL for a text without a pair.  Each row is truncated to max_seq_len
 * tokens (specials included) by `truncation` (hub_truncation), then padded by `padding`
 * (hub_padding) with [PAD]; max_seq_len 0 means no limit (no truncation, pad to the longest).
 * On success out[0..3] are new i64 tensors: input_ids [n,L], token_type_ids [n,L] (0 for
 * [CLS] A [SEP], 1 for B [SEP], 0 for padding), attention_mask [n,L] (1 for tokens, 0 for
 * padding) and offsets [n,L,2] (character offsets into the row's own text; (0,0) for the added
 * specials and padding).  -1 with an error when max_seq_len cannot hold the specials, or the
 * only_first / only_second text is too short to cut. */
HUB_API int hub_wordpiece_encode(const hub_wordpiece *w, int64_t n, const char *const *texts, const int64_t *lens,
                         const char *const *pairs, const int64_t *pair_lens, int64_t max_seq_len, int truncation,
                         int padding, hub_tensor **out);

/* Turns ids back into text as HF's WordPiece decoder: tokens joined by spaces, a "##" piece
 * glued to the one before it; skip_special drops [PAD] [UNK] [CLS] [SEP] [MASK]; cleanup
 * removes the space before . ? ! , and 's 've 're 'm n't (HF's default).  A new string to free
 * with hub_text_free, or NULL with an error for an id out of range. */
HUB_API char *hub_wordpiece_decode(const hub_wordpiece *w, const int64_t *ids, int64_t n, int skip_special, int cleanup);

/* Frees what the functions above return. */
HUB_API void hub_text_free(void *p);

#endif
