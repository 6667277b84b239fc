/* json.h - a small JSON reader (into a tree) and writer (into a growing buffer), for the file
 * headers the runtime parses itself (safetensors).  Internal: not part of the public API.
 *
 *   char err[128];
 *   json_value *v = json_parse(text, len, err, sizeof err);   // NULL: err says where and what
 *   const json_value *d = json_get(v, "dtype");               // NULL when absent
 *   if (d && d->type == JSON_STRING) puts(d->s);
 *   json_free(v);
 *
 *   json_buf b = {0};
 *   json_buf_str(&b, "name\n");  json_buf_putc(&b, ':');  json_buf_printf(&b, "%d", 3);
 *   if (b.failed) ...;  use b.data, b.len;  free(b.data);
 */
#ifndef HUB_JSON_H
#define HUB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef enum json_type {
  JSON_NULL,
  JSON_BOOL,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT
} json_type;

typedef struct json_value json_value;
struct json_value {
  json_type type;
  int is_int;         /* JSON_NUMBER written as an integer that fits int64 (then i is exact) */
  int64_t i;          /* integer value (is_int) */
  double d;           /* number value; bool: 0 or 1 */
  char *s;            /* JSON_STRING: UTF-8, NUL-terminated */
  size_t slen;        /* its length in bytes (may contain NUL from \u0000) */
  int n;              /* JSON_ARRAY / JSON_OBJECT: number of items */
  json_value *items;  /* the elements, or the object's values */
  char **keys;        /* JSON_OBJECT: keys, NUL-terminated, in document order */
  size_t *key_lens;
  size_t pos;         /* byte offset of the value in the text (for error messages) */
};

/* Parses exactly one JSON value (RFC 8259; surrounding whitespace allowed; strings must be valid
 * UTF-8; nesting at most 64 deep).  NULL on failure with "byte 17: expected ':'" in err. */
json_value *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(json_value *v);
/* The value of `key` in an object (the last one when repeated), or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
/* 1 when s[0..n) is well-formed UTF-8 (what a strict reader of the written file demands). */
int json_utf8_valid(const char *s, size_t n);
/* "object", "array", "string", "number", "true/false" or "null", for messages. */
const char *json_type_name(json_type t);

typedef struct json_buf {
  char *data;   /* always NUL-terminated once anything was written */
  size_t len, cap;
  int failed;   /* set when an allocation failed; later writes are ignored */
} json_buf;
void json_buf_putc(json_buf *b, char c);
void json_buf_write(json_buf *b, const char *s, size_t n);
void json_buf_printf(json_buf *b, const char *fmt, ...) HUB_PRINTF(2, 3);
/* A JSON string literal: quotes, and escapes for '"', '\\' and control characters. */
void json_buf_str(json_buf *b, const char *s);

#endif
