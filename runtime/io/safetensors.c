/* safetensors.c - reading safetensors files by mmap and writing them atomically.
 *
 * Reading (hub_st_open): the whole file is mapped privately (pages come from the page cache and
 * are copied only if a tensor is written to), the 8-byte header length and the JSON header are
 * checked, and every entry is validated before any tensor is handed out, so a truncated or
 * corrupt file fails at open with a message naming the file and the field rather than later
 * with a crash.  The entries are kept sorted by name.  hub_st_get wraps the bytes of an entry
 * in a tensor with hub_tensor_wrap when it can (a hubrun dtype, kept, at an address aligned to
 * the element size), so loading a model costs no copy; the file object is reference counted,
 * one reference per such tensor plus the caller's, and the last one to go unmaps the file.
 * Other dtypes (F64, I8, I16, U16, U32) are converted into new tensors.
 *
 * Writing (hub_st_save): the header is built with json_buf and padded with spaces to a multiple
 * of 8 bytes (as the reference Rust implementation does, so the data section starts 8-aligned);
 * tensors follow, ordered by element size then name so that each is aligned to its element
 * size.  Everything goes to a temporary file next to the target, which is fsync'ed and renamed
 * over the target; the directory is then fsync'ed so the rename itself survives a crash.
 *
 * The format assumes a little-endian host (x86-64, AArch64); a big-endian build refuses files.
 */
#define _GNU_SOURCE /* strndup, O_DIRECTORY, fchmod */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "hub_io.h"
#include "hub_util.h"
#include "json.h"

/* The reference implementation refuses headers above 100 MB; a larger one is not a real file. */
#define ST_MAX_HEADER (100ull * 1000 * 1000)

typedef struct st_dtype {
  const char *name; /* as in the file */
  int size;         /* bytes per element */
  int hub;          /* the hubrun dtype it is read as */
  int native;       /* 1 when the bytes are that hubrun dtype as they are */
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 4, HUB_F32, 1},  {"F16", 2, HUB_F16, 1}, {"BF16", 2, HUB_BF16, 1},
    {"I32", 4, HUB_I32, 1},  {"I64", 8, HUB_I64, 1}, {"U8", 1, HUB_U8, 1},
    {"BOOL", 1, HUB_BOOL, 1}, {"F64", 8, HUB_F32, 0}, {"I8", 1, HUB_I32, 0},
    {"I16", 2, HUB_I32, 0},  {"U16", 2, HUB_I32, 0}, {"U32", 4, HUB_I64, 0},
};
enum { ST_NDTYPES = sizeof st_dtypes / sizeof st_dtypes[0] };

/* dtypes of the format that hubrun knows of but cannot represent. */
static const char *const st_unreadable[] = {"U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3",
                                            "F6_E3M2", "F4", "E8M0", "C64", "C128"};

typedef struct st_entry {
  char *name;
  const st_dtype *dt;
  int ndim;
  int64_t shape[HUB_MAX_DIMS];
  uint64_t begin, end; /* within the data section */
} st_entry;

struct hub_st_file {
  int32_t refcount; /* the caller's reference (until hub_st_close) + one per mapped tensor */
  char *path;
  unsigned char *map;
  size_t map_len;
  const unsigned char *data; /* the data section */
  uint64_t data_len;
  int n;
  st_entry *e; /* sorted by name */
  int n_meta;
  char **meta_keys, **meta_values;
};

/* ---- errors ---- */

static void *load_err(const char *path, const char *fmt, ...) HUB_PRINTF(2, 3);
static void *load_err(const char *path, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return hub_errp("load %s: %s", path, msg);
}

static int save_err(const char *path, const char *fmt, ...) HUB_PRINTF(2, 3);
static int save_err(const char *path, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return hub_err("save %s: %s", path, msg);
}

static void shape_text(char *buf, size_t n, int ndim, const int64_t *shape) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
}

/* ---- the file object ---- */

static void st_destroy(hub_st_file *f) {
  if (f->map) munmap(f->map, f->map_len);
  for (int i = 0; i < f->n; i++) free(f->e[i].name);
  for (int i = 0; i < f->n_meta; i++) {
    free(f->meta_keys[i]);
    free(f->meta_values[i]);
  }
  free(f->e);
  free(f->meta_keys);
  free(f->meta_values);
  free(f->path);
  free(f);
}

static void st_unref(void *ctx) {
  hub_st_file *f = ctx;
  if (__atomic_sub_fetch(&f->refcount, 1, __ATOMIC_ACQ_REL) == 0) st_destroy(f);
}

void hub_st_close(hub_st_file *f) {
  if (f) st_unref(f);
}

/* ---- header validation ---- */

static const st_dtype *find_dtype(const char *name) {
  for (int i = 0; i < ST_NDTYPES; i++)
    if (!strcmp(st_dtypes[i].name, name)) return &st_dtypes[i];
  return NULL;
}

static int is_unreadable(const char *name) {
  for (size_t i = 0; i < sizeof st_unreadable / sizeof st_unreadable[0]; i++)
    if (!strcmp(st_unreadable[i], name)) return 1;
  return 0;
}

static int nonneg_int(const json_value *v) { return v->type == JSON_NUMBER && v->is_int && v->i >= 0; }

/* Fills e from the header entry v; returns 0 or -1 with the error set. */
static int parse_entry(const hub_st_file *f, const char *name, const json_value *v, st_entry *e) {
  const char *p = f->path;
  if (v->type != JSON_OBJECT)
    return load_err(p, "tensor '%s' is a JSON %s, expected an object with dtype, shape and data_offsets",
                    name, json_type_name(v->type)), -1;
  const json_value *dt = json_get(v, "dtype"), *sh = json_get(v, "shape"),
                   *off = json_get(v, "data_offsets");
  if (!dt) return load_err(p, "tensor '%s' has no dtype", name), -1;
  if (dt->type != JSON_STRING)
    return load_err(p, "tensor '%s' dtype is a JSON %s, expected a string such as \"F32\"", name,
                    json_type_name(dt->type)), -1;
  e->dt = find_dtype(dt->s);
  if (!e->dt && is_unreadable(dt->s))
    return load_err(p, "tensor '%s' has dtype %s, which hubrun cannot read (it reads F32, F16, "
                    "BF16, I32, I64, U8, BOOL, and F64, I8, I16, U16, U32 by conversion)",
                    name, dt->s), -1;
  if (!e->dt) return load_err(p, "tensor '%s' has unknown dtype '%.40s'", name, dt->s), -1;
  if (!sh) return load_err(p, "tensor '%s' has no shape", name), -1;
  if (sh->type != JSON_ARRAY)
    return load_err(p, "tensor '%s' shape is a JSON %s, expected an array of sizes", name,
                    json_type_name(sh->type)), -1;
  if (sh->n > HUB_MAX_DIMS)
    return load_err(p, "tensor '%s' shape has %d dimensions (at most %d are supported)", name,
                    sh->n, HUB_MAX_DIMS), -1;
  e->ndim = sh->n;
  uint64_t numel = 1;
  int overflow = 0;
  for (int i = 0; i < sh->n; i++) {
    if (!nonneg_int(&sh->items[i]))
      return load_err(p, "tensor '%s' shape entry %d is not a non-negative integer", name, i + 1), -1;
    e->shape[i] = sh->items[i].i;
    overflow |= __builtin_mul_overflow(numel, (uint64_t)e->shape[i], &numel);
  }
  if (!off) return load_err(p, "tensor '%s' has no data_offsets", name), -1;
  if (off->type != JSON_ARRAY || off->n != 2 || !nonneg_int(&off->items[0]) ||
      !nonneg_int(&off->items[1]))
    return load_err(p, "tensor '%s' data_offsets must be [begin, end], two non-negative integers",
                    name), -1;
  e->begin = (uint64_t)off->items[0].i;
  e->end = (uint64_t)off->items[1].i;
  if (e->begin > e->end)
    return load_err(p, "tensor '%s' data_offsets [%llu,%llu] end before they begin", name,
                    (unsigned long long)e->begin, (unsigned long long)e->end), -1;
  if (e->end > f->data_len)
    return load_err(p, "tensor '%s' data_offsets [%llu,%llu] are out of range: the data section "
                    "has %llu bytes (truncated file?)", name, (unsigned long long)e->begin,
                    (unsigned long long)e->end, (unsigned long long)f->data_len), -1;
  uint64_t nbytes;
  overflow |= __builtin_mul_overflow(numel, (uint64_t)e->dt->size, &nbytes);
  if (overflow || nbytes != e->end - e->begin) {
    char s[160];
    shape_text(s, sizeof s, e->ndim, e->shape);
    if (overflow)
      return load_err(p, "tensor '%s' shape %s %s is too large", name, s, e->dt->name), -1;
    return load_err(p, "tensor '%s' data_offsets [%llu,%llu] do not match shape %s %s (%llu bytes)",
                    name, (unsigned long long)e->begin, (unsigned long long)e->end, s,
                    e->dt->name, (unsigned long long)nbytes), -1;
  }
  return 0;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
  const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* Rejects two non-empty tensors sharing bytes (a writer bug or a crafted file). */
static int check_overlap(hub_st_file *f) {
  if (f->n < 2) return 0;
  st_entry **by = malloc(sizeof *by * (size_t)f->n);
  if (!by) return load_err(f->path, "out of memory"), -1;
  for (int i = 0; i < f->n; i++) by[i] = &f->e[i];
  qsort(by, (size_t)f->n, sizeof *by, cmp_begin);
  const st_entry *prev = NULL;
  int rc = 0;
  for (int i = 0; i < f->n && !rc; i++) {
    if (by[i]->begin == by[i]->end) continue;
    if (prev && by[i]->begin < prev->end) {
      load_err(f->path, "tensors '%s' [%llu,%llu] and '%s' [%llu,%llu] overlap in the data section",
               prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end,
               by[i]->name, (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end);
      rc = -1;
    }
    prev = by[i];
  }
  free(by);
  return rc;
}

static int parse_metadata(hub_st_file *f, const json_value *m) {
  if (m->type != JSON_OBJECT)
    return load_err(f->path, "__metadata__ is a JSON %s, expected an object of strings",
                    json_type_name(m->type)), -1;
  f->meta_keys = calloc((size_t)m->n + 1, sizeof(char *));
  f->meta_values = calloc((size_t)m->n + 1, sizeof(char *));
  if (!f->meta_keys || !f->meta_values) return load_err(f->path, "out of memory"), -1;
  for (int i = 0; i < m->n; i++) {
    const json_value *v = &m->items[i];
    if (v->type != JSON_STRING)
      return load_err(f->path, "__metadata__ value of '%s' is a JSON %s, expected a string",
                      m->keys[i], json_type_name(v->type)), -1;
    if (strlen(m->keys[i]) != m->key_lens[i] || strlen(v->s) != v->slen)
      return load_err(f->path, "__metadata__ entry '%s' contains a NUL character", m->keys[i]), -1;
    f->meta_keys[i] = strdup(m->keys[i]);
    f->meta_values[i] = strdup(v->s);
    f->n_meta = i + 1;
    if (!f->meta_keys[i] || !f->meta_values[i]) return load_err(f->path, "out of memory"), -1;
  }
  return 0;
}

static int parse_header(hub_st_file *f, const json_value *h) {
  if (h->type != JSON_OBJECT)
    return load_err(f->path, "the header is a JSON %s, expected an object", json_type_name(h->type)), -1;
  f->e = calloc((size_t)h->n + 1, sizeof *f->e);
  if (!f->e) return load_err(f->path, "out of memory"), -1;
  int seen_meta = 0;
  for (int i = 0; i < h->n; i++) {
    const char *key = h->keys[i];
    if (strlen(key) != h->key_lens[i])
      return load_err(f->path, "tensor name '%s...' contains a NUL character", key), -1;
    if (!strcmp(key, "__metadata__")) {
      if (seen_meta++) return load_err(f->path, "__metadata__ appears twice in the header"), -1;
      if (parse_metadata(f, &h->items[i])) return -1;
      continue;
    }
    st_entry *e = &f->e[f->n];
    e->name = strdup(key);
    if (!e->name) return load_err(f->path, "out of memory"), -1;
    f->n++;
    if (parse_entry(f, key, &h->items[i], e)) return -1;
  }
  qsort(f->e, (size_t)f->n, sizeof *f->e, cmp_name);
  for (int i = 1; i < f->n; i++)
    if (!strcmp(f->e[i - 1].name, f->e[i].name))
      return load_err(f->path, "tensor '%s' appears twice in the header", f->e[i].name), -1;
  return check_overlap(f);
}

hub_st_file *hub_st_open(const char *path) {
  if (!path) return hub_errp("load: path is NULL");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return load_err(path, "safetensors files are little-endian and this host is big-endian");
#endif
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return load_err(path, "%s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return load_err(path, "%s", strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return load_err(path, "not a regular file");
  }
  if (st.st_size < 8) {
    close(fd);
    return load_err(path, "the file has %lld bytes, too short for the 8-byte header length "
                    "(truncated or not a safetensors file)", (long long)st.st_size);
  }
  hub_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    close(fd);
    return load_err(path, "out of memory");
  }
  f->refcount = 1;
  f->map_len = (size_t)st.st_size;
  /* Private and writable: in-place updates of loaded weights copy pages, never touch the file. */
  void *m = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  close(fd);
  if (m == MAP_FAILED) {
    st_destroy(f);
    return load_err(path, "cannot map the file: %s", strerror(map_errno));
  }
  f->map = m;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->map[i];
  uint64_t room = (uint64_t)st.st_size - 8;
  const char *why = NULL;
  if (hlen > room) why = "exceeds the file";
  else if (hlen > ST_MAX_HEADER) why = "is over the 100 MB limit";
  if (why) {
    load_err(path, "header length %llu %s (%lld bytes): truncated or not a safetensors file",
             (unsigned long long)hlen, why, (long long)st.st_size);
    st_destroy(f);
    return NULL;
  }
  f->data = f->map + 8 + hlen;
  f->data_len = room - hlen;
  char jerr[160];
  json_value *h = json_parse((const char *)f->map + 8, (size_t)hlen, jerr, sizeof jerr);
  if (!h) {
    load_err(path, "invalid JSON in the header (%s)", jerr);
    st_destroy(f);
    return NULL;
  }
  int rc = parse_header(f, h);
  json_free(h);
  if (rc) {
    st_destroy(f);
    return NULL;
  }
  return f;
}

/* ---- queries ---- */

int hub_st_count(const hub_st_file *f) { return f ? f->n : 0; }

const char *hub_st_name(const hub_st_file *f, int i) {
  return f && i >= 0 && i < f->n ? f->e[i].name : NULL;
}

int hub_st_find(const hub_st_file *f, const char *name) {
  if (!f || !name) return hub_err("load: file or name is NULL");
  st_entry key = {.name = (char *)name};
  const st_entry *e = bsearch(&key, f->e, (size_t)f->n, sizeof *f->e, cmp_name);
  if (!e) return load_err(f->path, "no tensor named '%s' in the file", name), -1;
  return (int)(e - f->e);
}

int hub_st_dtype(const hub_st_file *f, int i) {
  return f && i >= 0 && i < f->n ? f->e[i].dt->hub : -1;
}

const char *hub_st_file_dtype(const hub_st_file *f, int i) {
  return f && i >= 0 && i < f->n ? f->e[i].dt->name : NULL;
}

int hub_st_shape(const hub_st_file *f, int i, int64_t *shape) {
  if (!f || i < 0 || i >= f->n) return -1;
  if (shape) memcpy(shape, f->e[i].shape, sizeof(int64_t) * (size_t)f->e[i].ndim);
  return f->e[i].ndim;
}

int hub_st_meta_count(const hub_st_file *f) { return f ? f->n_meta : 0; }

const char *hub_st_meta_key(const hub_st_file *f, int i) {
  return f && i >= 0 && i < f->n_meta ? f->meta_keys[i] : NULL;
}

const char *hub_st_metadata(const hub_st_file *f, const char *key) {
  if (!f || !key) return NULL;
  for (int i = f->n_meta - 1; i >= 0; i--)
    if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
  return NULL;
}

/* ---- tensors ---- */

/* A new tensor with the entry's values converted from a dtype hubrun does not have. */
static hub_tensor *convert_entry(const st_entry *e, const unsigned char *src) {
  hub_tensor *t = hub_tensor_empty(e->dt->hub, e->ndim, e->shape, HUB_CPU);
  if (!t) return NULL;
  int64_t n = hub_tensor_numel(t);
  const char *k = e->dt->name;
  for (int64_t i = 0; i < n; i++) {
    const unsigned char *s = src + i * e->dt->size;
    if (!strcmp(k, "F64")) {
      double d;
      memcpy(&d, s, 8);
      ((float *)t->data)[i] = (float)d;
    } else if (!strcmp(k, "I8")) {
      ((int32_t *)t->data)[i] = (int8_t)s[0];
    } else if (!strcmp(k, "I16")) {
      int16_t v;
      memcpy(&v, s, 2);
      ((int32_t *)t->data)[i] = v;
    } else if (!strcmp(k, "U16")) {
      uint16_t v;
      memcpy(&v, s, 2);
      ((int32_t *)t->data)[i] = v;
    } else { /* U32 */
      uint32_t v;
      memcpy(&v, s, 4);
      ((int64_t *)t->data)[i] = v;
    }
  }
  return t;
}

hub_tensor *hub_st_get_index(hub_st_file *f, int i, int dtype) {
  if (!f) return hub_errp("load: file is NULL");
  if (i < 0 || i >= f->n)
    return load_err(f->path, "tensor index %d out of range (the file has %d tensors)", i, f->n);
  if (dtype < -1 || dtype >= HUB_DTYPE_COUNT) return load_err(f->path, "unknown dtype %d", dtype);
  const st_entry *e = &f->e[i];
  const unsigned char *src = f->data + e->begin;
  int keep = e->dt->hub;
  hub_tensor *t;
  if (!e->dt->native) {
    t = convert_entry(e, src);
  } else if ((uintptr_t)src % (uintptr_t)e->dt->size == 0) {
    __atomic_fetch_add(&f->refcount, 1, __ATOMIC_RELAXED);
    t = hub_tensor_wrap(keep, e->ndim, e->shape, NULL, (void *)src, st_unref, f);
    if (!t) st_unref(f); /* never the last reference: the caller holds one */
  } else {
    /* Written by a tool that does not align tensors: copy out of the mapping. */
    t = hub_tensor_empty(keep, e->ndim, e->shape, HUB_CPU);
    if (t) memcpy(t->data, src, (size_t)(e->end - e->begin));
  }
  if (!t) return load_err(f->path, "tensor '%s': %s", e->name, hub_last_error());
  if (dtype >= 0 && dtype != keep) {
    hub_tensor *c = hub_to_dtype(t, dtype);
    hub_tensor_release(t);
    if (!c) return load_err(f->path, "tensor '%s': %s", e->name, hub_last_error());
    t = c;
  }
  return t;
}

hub_tensor *hub_st_get(hub_st_file *f, const char *name, int dtype) {
  int i = hub_st_find(f, name);
  return i < 0 ? NULL : hub_st_get_index(f, i, dtype);
}

/* ---- writing ---- */

static const char *file_dtype_name(int dtype) {
  if (dtype == HUB_F64) return "F64"; /* written as it is; read back as f32, like every F64 file */
  for (int i = 0; i < ST_NDTYPES; i++)
    if (st_dtypes[i].native && st_dtypes[i].hub == dtype) return st_dtypes[i].name;
  return NULL;
}

typedef struct save_ctx {
  const char *path;
  const char *const *names;
  hub_tensor *const *tensors;
} save_ctx;

static _Thread_local const save_ctx *g_sort_ctx; /* qsort has no context argument in C11 */

static int cmp_by_name(const void *a, const void *b) {
  const save_ctx *c = g_sort_ctx;
  return strcmp(c->names[*(const int *)a], c->names[*(const int *)b]);
}

/* Larger elements first (keeps every tensor aligned), then by name. */
static int cmp_layout(const void *a, const void *b) {
  const save_ctx *c = g_sort_ctx;
  int x = *(const int *)a, y = *(const int *)b;
  size_t sx = hub_dtype_size(c->tensors[x]->dtype), sy = hub_dtype_size(c->tensors[y]->dtype);
  if (sx != sy) return sx > sy ? -1 : 1;
  return strcmp(c->names[x], c->names[y]);
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t k = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Checks the arguments; returns 0 or -1 with the error set. */
static int check_save_args(const char *path, int n, const char *const *names,
                           hub_tensor *const *tensors, int n_meta, const char *const *keys,
                           const char *const *values, int *order) {
  if (n < 0 || n_meta < 0) return save_err(path, "negative count");
  if ((n && (!names || !tensors)) || (n_meta && (!keys || !values)))
    return save_err(path, "names, tensors or metadata arrays are NULL");
  for (int i = 0; i < n; i++) {
    if (!names[i]) return save_err(path, "tensor %d has no name", i + 1);
    if (!json_utf8_valid(names[i], strlen(names[i])))
      return save_err(path, "tensor name '%s' is not valid UTF-8", names[i]);
    if (!strcmp(names[i], "__metadata__"))
      return save_err(path, "'__metadata__' is reserved and cannot name a tensor");
    if (!tensors[i]) return save_err(path, "tensor '%s' is NULL", names[i]);
    if (!file_dtype_name(tensors[i]->dtype))
      return save_err(path, "tensor '%s' has an unknown dtype %d", names[i], tensors[i]->dtype);
    order[i] = i;
  }
  save_ctx c = {path, names, tensors};
  g_sort_ctx = &c;
  qsort(order, (size_t)n, sizeof *order, cmp_by_name);
  for (int i = 1; i < n; i++)
    if (!strcmp(names[order[i - 1]], names[order[i]]))
      return save_err(path, "tensor name '%s' is given twice", names[order[i]]);
  qsort(order, (size_t)n, sizeof *order, cmp_layout);
  g_sort_ctx = NULL;
  for (int i = 0; i < n_meta; i++) {
    if (!keys[i] || !values[i]) return save_err(path, "metadata entry %d is NULL", i + 1);
    if (!json_utf8_valid(keys[i], strlen(keys[i])) || !json_utf8_valid(values[i], strlen(values[i])))
      return save_err(path, "metadata entry '%s' is not valid UTF-8", keys[i]);
    for (int j = 0; j < i; j++)
      if (!strcmp(keys[i], keys[j])) return save_err(path, "metadata key '%s' is given twice", keys[i]);
  }
  return 0;
}

/* The header text, padded with spaces to a multiple of 8 bytes; NULL on failure. */
static char *build_header(const char *path, int n, const char *const *names,
                          hub_tensor *const *tensors, int n_meta, const char *const *keys,
                          const char *const *values, const int *order, size_t *len) {
  json_buf b = {0};
  json_buf_putc(&b, '{');
  if (n_meta) {
    json_buf_str(&b, "__metadata__");
    json_buf_write(&b, ":{", 2);
    for (int i = 0; i < n_meta; i++) {
      if (i) json_buf_putc(&b, ',');
      json_buf_str(&b, keys[i]);
      json_buf_putc(&b, ':');
      json_buf_str(&b, values[i]);
    }
    json_buf_putc(&b, '}');
  }
  uint64_t off = 0;
  for (int k = 0; k < n; k++) {
    const hub_tensor *t = tensors[order[k]];
    uint64_t nbytes = (uint64_t)hub_tensor_numel(t) * hub_dtype_size(t->dtype);
    if (k || n_meta) json_buf_putc(&b, ',');
    json_buf_str(&b, names[order[k]]);
    json_buf_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", file_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) json_buf_printf(&b, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    json_buf_printf(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                    (unsigned long long)(off + nbytes));
    off += nbytes;
  }
  json_buf_putc(&b, '}');
  while (b.len % 8) json_buf_putc(&b, ' ');
  if (b.failed) {
    free(b.data);
    save_err(path, "out of memory building the header");
    return NULL;
  }
  *len = b.len;
  return b.data;
}

/* Writes the tensor's elements in logical row-major order. */
static int write_tensor(int fd, hub_tensor *t) {
  hub_tensor *c = hub_tensor_retain(t);
  HUB_NO_GRAD_BEGIN;
  if (c->device != HUB_CPU) {
    hub_tensor *h = hub_to_device(c, HUB_CPU);
    hub_tensor_release(c);
    c = h;
  }
  if (c && !hub_tensor_is_contiguous(c)) {
    hub_tensor *h = hub_contiguous(c);
    hub_tensor_release(c);
    c = h;
  }
  HUB_NO_GRAD_END;
  if (!c) return -1;
  size_t nbytes = (size_t)hub_tensor_numel(c) * hub_dtype_size(c->dtype);
  int rc = 0;
  if (write_all(fd, c->data, nbytes)) rc = hub_err("%s", strerror(errno));
  hub_tensor_release(c);
  return rc;
}

/* fsync of the directory holding path, so that a rename survives a crash (best effort). */
static void sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir) return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

int hub_st_save(const char *path, int n, const char *const *names, hub_tensor *const *tensors,
                int n_meta, const char *const *meta_keys, const char *const *meta_values) {
  if (!path || !*path) return hub_err("save: no file path given");
  int *order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
  if (!order) return save_err(path, "out of memory");
  if (check_save_args(path, n, names, tensors, n_meta, meta_keys, meta_values, order)) {
    free(order);
    return -1;
  }
  size_t hlen = 0;
  char *header = build_header(path, n, names, tensors, n_meta, meta_keys, meta_values, order, &hlen);
  if (!header) {
    free(order);
    return -1;
  }
  static unsigned counter;
  size_t tlen = strlen(path) + 64;
  char *tmp = malloc(tlen);
  if (!tmp) {
    free(header);
    free(order);
    return save_err(path, "out of memory");
  }
  snprintf(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(),
           __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
  int rc = -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    save_err(path, "cannot create the temporary file %s: %s", tmp, strerror(errno));
    goto done;
  }
  struct stat st;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) fchmod(fd, st.st_mode & 07777); /* keep the mode */
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  if (write_all(fd, len8, 8) || write_all(fd, header, hlen)) {
    save_err(path, "writing %s: %s", tmp, strerror(errno));
    goto fail;
  }
  for (int k = 0; k < n; k++) {
    if (write_tensor(fd, tensors[order[k]])) {
      save_err(path, "writing tensor '%s': %s", names[order[k]], hub_last_error());
      goto fail;
    }
  }
  if (fsync(fd) != 0) {
    save_err(path, "flushing %s to disk: %s", tmp, strerror(errno));
    goto fail;
  }
  int cfd = fd;
  fd = -1;
  if (close(cfd) != 0) {
    save_err(path, "closing %s: %s", tmp, strerror(errno));
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    save_err(path, "renaming %s to the file: %s", tmp, strerror(errno));
    goto fail;
  }
  sync_dir(path);
  rc = 0;
  goto done;
fail:
  if (fd >= 0) close(fd);
  unlink(tmp);
done:
  free(tmp);
  free(header);
  free(order);
  return rc;
}
