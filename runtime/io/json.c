/* json.c - a compact JSON reader and writer for the headers of weight files.
 *
 * The reader is recursive descent over a byte range that need not be NUL-terminated (a header
 * inside a memory-mapped file).  It builds a tree of json_value nodes; arrays and objects grow
 * their item arrays by doubling.  It is strict where a lenient parser would hide a corrupt file:
 * no trailing commas, no comments, no leading zeros, control characters and invalid UTF-8 are
 * rejected, and the text must hold exactly one value.  Nesting is limited to 64 levels so that a
 * hostile "[[[[..." cannot exhaust the stack.  Integers are kept exact in int64 (offsets of
 * multi-gigabyte files do not survive a trip through double); other numbers are doubles.
 *
 * The writer appends to a growing buffer and remembers an allocation failure instead of
 * returning it from every call, so a caller checks once at the end.
 */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JSON_MAX_DEPTH = 64 };

typedef struct parser {
  const unsigned char *p, *end, *start;
  char *err;
  size_t errlen;
  int failed;
} parser;

static int fail(parser *ps, const unsigned char *at, const char *fmt, ...) HUB_PRINTF(3, 4);
static int fail(parser *ps, const unsigned char *at, const char *fmt, ...) {
  if (ps->failed) return -1;
  ps->failed = 1;
  int k = snprintf(ps->err, ps->errlen, "byte %zu: ", (size_t)(at - ps->start));
  if (k < 0 || (size_t)k >= ps->errlen) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ps->err + k, ps->errlen - (size_t)k, fmt, ap);
  va_end(ap);
  return -1;
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

/* What the parser found, for "expected X, found Y" messages. */
static const char *found(parser *ps) {
  static _Thread_local char buf[32];
  if (ps->p >= ps->end) return "the end of the text";
  unsigned char c = *ps->p;
  if (c >= 0x20 && c < 0x7f)
    snprintf(buf, sizeof buf, "'%c'", c);
  else
    snprintf(buf, sizeof buf, "byte 0x%02x", c);
  return buf;
}

static int parse_value(parser *ps, json_value *v, int depth);

/* Appends the UTF-8 encoding of code point cp. */
static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f)); return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); return 4;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not valid. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  int n;
  uint32_t min, cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) { n = 2; min = 0x80; cp = c & 0x1f; }
  else if ((c & 0xf0) == 0xe0) { n = 3; min = 0x800; cp = c & 0x0f; }
  else if ((c & 0xf8) == 0xf0) { n = 4; min = 0x10000; cp = c & 0x07; }
  else return 0;
  if (end - p < n) return 0;
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

static int hex4(parser *ps, uint32_t *out) {
  if (ps->end - ps->p < 4) return fail(ps, ps->p, "truncated \\u escape");
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = ps->p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return fail(ps, ps->p + i, "bad hex digit in \\u escape");
    v = v << 4 | (uint32_t)d;
  }
  ps->p += 4;
  *out = v;
  return 0;
}

/* Parses a string at ps->p (on the opening quote) into a malloc'ed NUL-terminated buffer.  The
 * decoded text is never longer than the source, so one allocation of the source length does. */
static int parse_string(parser *ps, char **out, size_t *outlen) {
  const unsigned char *open = ps->p++;
  const unsigned char *q = ps->p;
  while (q < ps->end && *q != '"') q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
  if (q >= ps->end) return fail(ps, open, "unterminated string");
  char *s = malloc((size_t)(q - ps->p) + 1), *o = s;
  if (!s) return fail(ps, open, "out of memory");
  while (*ps->p != '"') {
    unsigned char c = *ps->p;
    if (c < 0x20) { free(s); return fail(ps, ps->p, "control character 0x%02x in a string", c); }
    if (c != '\\') {
      int n = utf8_len(ps->p, ps->end);
      if (!n) { free(s); return fail(ps, ps->p, "invalid UTF-8 in a string"); }
      memcpy(o, ps->p, (size_t)n);
      o += n;
      ps->p += n;
      continue;
    }
    ps->p++;
    c = *ps->p++;
    switch (c) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        uint32_t cp, lo;
        if (hex4(ps, &cp)) { free(s); return -1; }
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
            free(s);
            return fail(ps, ps->p, "unpaired surrogate in \\u escape");
          }
          ps->p += 2;
          if (hex4(ps, &lo)) { free(s); return -1; }
          if (lo < 0xdc00 || lo > 0xdfff) { free(s); return fail(ps, ps->p - 6, "unpaired surrogate in \\u escape"); }
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          free(s);
          return fail(ps, ps->p - 6, "unpaired surrogate in \\u escape");
        }
        o += put_utf8(o, cp);
        break;
      }
      default: free(s); return fail(ps, ps->p - 2, "unknown escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
    }
  }
  ps->p++; /* closing quote */
  *o = 0;
  *out = s;
  *outlen = (size_t)(o - s);
  return 0;
}

static int parse_number(parser *ps, json_value *v) {
  const unsigned char *s = ps->p, *q = s;
  int is_int = 1;
  if (q < ps->end && *q == '-') q++;
  if (q >= ps->end || *q < '0' || *q > '9') return fail(ps, s, "invalid number");
  if (*q == '0' && q + 1 < ps->end && q[1] >= '0' && q[1] <= '9')
    return fail(ps, s, "invalid number (leading zero)");
  while (q < ps->end && *q >= '0' && *q <= '9') q++;
  if (q < ps->end && *q == '.') {
    is_int = 0;
    q++;
    if (q >= ps->end || *q < '0' || *q > '9') return fail(ps, s, "invalid number (digit expected after '.')");
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    is_int = 0;
    q++;
    if (q < ps->end && (*q == '+' || *q == '-')) q++;
    if (q >= ps->end || *q < '0' || *q > '9') return fail(ps, s, "invalid number (digit expected in exponent)");
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  char buf[64];
  size_t n = (size_t)(q - s);
  if (n >= sizeof buf) {
    /* Only absurd precision gets here; integers that long do not fit int64 anyway. */
    is_int = 0;
    n = sizeof buf - 1;
  }
  memcpy(buf, s, n);
  buf[n] = 0;
  v->type = JSON_NUMBER;
  v->d = strtod(buf, NULL);
  if (is_int) {
    errno = 0;
    long long ll = strtoll(buf, NULL, 10);
    if (errno == 0) {
      v->is_int = 1;
      v->i = ll;
    }
  }
  ps->p = q;
  return 0;
}

static int literal(parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return fail(ps, ps->p, "unexpected %s", found(ps));
  ps->p += n;
  return 0;
}

/* Grows an item array (and the key arrays for objects) to hold at least n+1 items. */
static int grow(json_value *v, int *cap, int object) {
  if (v->n < *cap) return 0;
  int nc = *cap ? *cap * 2 : 4;
  json_value *items = realloc(v->items, sizeof *items * (size_t)nc);
  if (!items) return -1;
  v->items = items;
  if (object) {
    char **keys = realloc(v->keys, sizeof *keys * (size_t)nc);
    if (!keys) return -1;
    v->keys = keys;
    size_t *kl = realloc(v->key_lens, sizeof *kl * (size_t)nc);
    if (!kl) return -1;
    v->key_lens = kl;
  }
  *cap = nc;
  return 0;
}

static int parse_container(parser *ps, json_value *v, int depth, int object) {
  const unsigned char *open = ps->p++;
  char close = object ? '}' : ']';
  int cap = 0;
  v->type = object ? JSON_OBJECT : JSON_ARRAY;
  if (depth >= JSON_MAX_DEPTH) return fail(ps, open, "nesting deeper than %d levels", JSON_MAX_DEPTH);
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return 0;
  }
  for (;;) {
    if (grow(v, &cap, object)) return fail(ps, ps->p, "out of memory");
    json_value *item = &v->items[v->n];
    memset(item, 0, sizeof *item);
    if (object) {
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != '"') return fail(ps, ps->p, "expected a string key, found %s", found(ps));
      v->keys[v->n] = NULL;
      if (parse_string(ps, &v->keys[v->n], &v->key_lens[v->n])) return -1;
      v->n++; /* counted now so that json_free frees the key even if the value fails */
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') return fail(ps, ps->p, "expected ':', found %s", found(ps));
      ps->p++;
      if (parse_value(ps, item, depth + 1)) return -1;
    } else {
      v->n++;
      if (parse_value(ps, item, depth + 1)) return -1;
    }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      return 0;
    }
    return fail(ps, ps->p, "expected ',' or '%c', found %s", close, found(ps));
  }
}

static int parse_value(parser *ps, json_value *v, int depth) {
  skip_ws(ps);
  v->pos = (size_t)(ps->p - ps->start);
  if (ps->p >= ps->end) return fail(ps, ps->p, "expected a value, found the end of the text");
  switch (*ps->p) {
    case '{': return parse_container(ps, v, depth, 1);
    case '[': return parse_container(ps, v, depth, 0);
    case '"': v->type = JSON_STRING; return parse_string(ps, &v->s, &v->slen);
    case 't': v->type = JSON_BOOL; v->d = 1; return literal(ps, "true");
    case 'f': v->type = JSON_BOOL; return literal(ps, "false");
    case 'n': v->type = JSON_NULL; return literal(ps, "null");
    default:
      if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps, v);
      return fail(ps, ps->p, "expected a value, found %s", found(ps));
  }
}

static void free_contents(json_value *v) {
  if (v->type == JSON_STRING) free(v->s);
  if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
    for (int i = 0; i < v->n; i++) {
      free_contents(&v->items[i]);
      if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
  }
}

json_value *json_parse(const char *text, size_t len, char *err, size_t errlen) {
  char dummy[8];
  if (!err || !errlen) {
    err = dummy;
    errlen = sizeof dummy;
  }
  err[0] = 0;
  parser ps = {(const unsigned char *)text, (const unsigned char *)text + len,
               (const unsigned char *)text, err, errlen, 0};
  json_value *v = calloc(1, sizeof *v);
  if (!v) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (parse_value(&ps, v, 0) == 0) {
    skip_ws(&ps);
    if (ps.p == ps.end) return v;
    fail(&ps, ps.p, "unexpected %s after the value", found(&ps));
  }
  json_free(v);
  return NULL;
}

void json_free(json_value *v) {
  if (!v) return;
  free_contents(v);
  free(v);
}

const json_value *json_get(const json_value *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  size_t n = strlen(key);
  for (int i = obj->n - 1; i >= 0; i--)
    if (obj->key_lens[i] == n && memcmp(obj->keys[i], key, n) == 0) return &obj->items[i];
  return NULL;
}

int json_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    int k = utf8_len(p, end);
    if (!k) return 0;
    p += k;
  }
  return 1;
}

const char *json_type_name(json_type t) {
  switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "true/false";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
  }
  return "?";
}

/* ---- writer ---- */

static int reserve(json_buf *b, size_t extra) {
  if (b->failed) return -1;
  if (b->len + extra + 1 <= b->cap) return 0;
  size_t nc = b->cap ? b->cap : 256;
  while (nc < b->len + extra + 1) nc *= 2;
  char *d = realloc(b->data, nc);
  if (!d) {
    b->failed = 1;
    return -1;
  }
  b->data = d;
  b->cap = nc;
  return 0;
}

void json_buf_write(json_buf *b, const char *s, size_t n) {
  if (reserve(b, n)) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

void json_buf_putc(json_buf *b, char c) { json_buf_write(b, &c, 1); }

void json_buf_printf(json_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if (reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void json_buf_str(json_buf *b, const char *s) {
  json_buf_putc(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': json_buf_write(b, "\\\"", 2); break;
      case '\\': json_buf_write(b, "\\\\", 2); break;
      case '\n': json_buf_write(b, "\\n", 2); break;
      case '\r': json_buf_write(b, "\\r", 2); break;
      case '\t': json_buf_write(b, "\\t", 2); break;
      case '\b': json_buf_write(b, "\\b", 2); break;
      case '\f': json_buf_write(b, "\\f", 2); break;
      default:
        if (*p < 0x20)
          json_buf_printf(b, "\\u%04x", *p);
        else
          json_buf_putc(b, (char)*p);
    }
  }
  json_buf_putc(b, '"');
}
