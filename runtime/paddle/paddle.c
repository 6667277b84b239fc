/* paddle.c - reading PaddlePaddle's LoDTensor parameter files (format in hub_paddle.h).
 *
 * The file is read sequentially with stdio: the size comes first from fstat, and every length
 * field is checked against the bytes that are left before it is used, so a truncated or corrupt
 * file gives a message naming the file and the field instead of a huge allocation or a read past
 * the end.  The TensorDesc is a two-field protobuf message, decoded here by hand (varints with
 * their 10-byte limit, packed and unpacked dims, unknown fields skipped by wire type) rather than
 * with a protobuf library.  The data is read straight into the new tensor; Paddle writes it
 * little-endian, so a big-endian host refuses the file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "hub_paddle.h"
#include "hub_io.h"

/* Largest TensorDesc accepted: 8 dims of 10-byte varints plus tags is ~100 bytes. */
#define PD_MAX_DESC 4096

/* Paddle's VarType.Type values that can be a tensor's data_type, for error messages. */
static const char *pd_type_name(uint64_t t) {
  switch (t) {
    case 0: return "BOOL";
    case 1: return "INT16";
    case 2: return "INT32";
    case 3: return "INT64";
    case 4: return "FP16";
    case 5: return "FP32";
    case 6: return "FP64";
    case 19: return "SIZE_T";
    case 20: return "UINT8";
    case 21: return "INT8";
    case 22: return "BF16";
    case 23: return "COMPLEX64";
    case 24: return "COMPLEX128";
    default: return "unknown";
  }
}

typedef struct pd_reader {
  FILE *f;
  const char *path;
  int64_t size, pos;
} pd_reader;

/* Reads n bytes of field `what`; fails naming the field when the file ends first. */
static int pd_read(pd_reader *r, void *dst, int64_t n, const char *what) {
  if (n > r->size - r->pos)
    return hub_err("paddle_load %s: file ends in %s (needs %lld bytes at offset %lld, the file has %lld)",
                   r->path, what, (long long)n, (long long)r->pos, (long long)r->size);
  if (n > 0 && fread(dst, 1, (size_t)n, r->f) != (size_t)n)
    return hub_err("paddle_load %s: read error in %s: %s", r->path, what, strerror(errno));
  r->pos += n;
  return 0;
}

static uint32_t le32(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t le64(const uint8_t *b) { return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32; }

/* One varint of d[*i..n); -1 when it runs past n or over 10 bytes. */
static int pd_varint(const uint8_t *d, int64_t n, int64_t *i, uint64_t *v) {
  uint64_t r = 0;
  for (int k = 0; k < 10; k++) {
    if (*i >= n) return -1;
    uint8_t c = d[(*i)++];
    r |= (uint64_t)(c & 0x7f) << (7 * k);
    if (!(c & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

/* Decodes the TensorDesc into *dtype and dims; 0 or -1 with an error naming the field. */
static int pd_parse_desc(const char *path, const uint8_t *d, int64_t n, uint64_t *dtype, int *ndim,
                         int64_t *dims) {
  int have_type = 0;
  int64_t i = 0;
  *ndim = 0;
  while (i < n) {
    uint64_t key, v;
    if (pd_varint(d, n, &i, &key)) return hub_err("paddle_load %s: TensorDesc: bad field key at byte %lld", path, (long long)i);
    uint64_t field = key >> 3, wire = key & 7;
    if (field == 1) {
      if (wire != 0) return hub_err("paddle_load %s: TensorDesc: data_type has wire type %llu (expected varint)", path, (unsigned long long)wire);
      if (pd_varint(d, n, &i, dtype)) return hub_err("paddle_load %s: TensorDesc: truncated data_type", path);
      have_type = 1;
    } else if (field == 2 && (wire == 0 || wire == 2)) {
      int64_t end = n;
      if (wire == 2) {
        uint64_t len;
        if (pd_varint(d, n, &i, &len) || len > (uint64_t)(n - i))
          return hub_err("paddle_load %s: TensorDesc: packed dims length runs past the %lld-byte message", path, (long long)n);
        end = i + (int64_t)len;
      }
      do {
        if (pd_varint(d, end, &i, &v)) return hub_err("paddle_load %s: TensorDesc: truncated dims", path);
        if (*ndim >= HUB_MAX_DIMS) return hub_err("paddle_load %s: TensorDesc: more than %d dims", path, HUB_MAX_DIMS);
        if ((int64_t)v < 0) return hub_err("paddle_load %s: TensorDesc: dim %d is negative (%lld)", path, *ndim, (long long)(int64_t)v);
        dims[(*ndim)++] = (int64_t)v;
      } while (wire == 2 && i < end);
    } else if (wire == 0) { /* unknown fields are skipped, as protobuf does */
      if (pd_varint(d, n, &i, &v)) return hub_err("paddle_load %s: TensorDesc: truncated field %llu", path, (unsigned long long)field);
    } else if (wire == 1 || wire == 5) {
      int64_t k = wire == 1 ? 8 : 4;
      if (k > n - i) return hub_err("paddle_load %s: TensorDesc: truncated field %llu", path, (unsigned long long)field);
      i += k;
    } else if (wire == 2) {
      if (pd_varint(d, n, &i, &v) || v > (uint64_t)(n - i))
        return hub_err("paddle_load %s: TensorDesc: field %llu runs past the message", path, (unsigned long long)field);
      i += (int64_t)v;
    } else {
      return hub_err("paddle_load %s: TensorDesc: field %llu has invalid wire type %llu", path,
                     (unsigned long long)field, (unsigned long long)wire);
    }
  }
  if (!have_type) return hub_err("paddle_load %s: TensorDesc has no data_type (field 1)", path);
  return 0;
}

static hub_tensor *pd_load(pd_reader *r) {
  const char *path = r->path;
  uint8_t b[8];
  if (pd_read(r, b, 4, "the LoDTensor version")) return NULL;
  if (le32(b)) return hub_errp("paddle_load %s: LoDTensor version %u (expected 0); not a Paddle parameter file?", path, le32(b));
  if (pd_read(r, b, 8, "lod_level")) return NULL;
  uint64_t levels = le64(b);
  if (levels > 64) return hub_errp("paddle_load %s: lod_level %llu is not plausible (at most 64)", path, (unsigned long long)levels);
  for (uint64_t l = 0; l < levels; l++) {
    if (pd_read(r, b, 8, "a LoD level size")) return NULL;
    uint64_t n = le64(b);
    if (n > (uint64_t)(r->size - r->pos))
      return hub_errp("paddle_load %s: LoD level %llu has %llu bytes, beyond the %lld bytes left in the file", path,
                      (unsigned long long)l, (unsigned long long)n, (long long)(r->size - r->pos));
    if (fseek(r->f, (long)n, SEEK_CUR)) return hub_errp("paddle_load %s: seek error: %s", path, strerror(errno));
    r->pos += (int64_t)n;
  }
  if (pd_read(r, b, 4, "the tensor version")) return NULL;
  if (le32(b)) return hub_errp("paddle_load %s: tensor version %u (expected 0)", path, le32(b));
  if (pd_read(r, b, 4, "desc_len")) return NULL;
  int32_t desc_len = (int32_t)le32(b);
  if (desc_len <= 0 || desc_len > PD_MAX_DESC)
    return hub_errp("paddle_load %s: desc_len %d is out of range (1..%d)", path, desc_len, PD_MAX_DESC);
  if (desc_len > r->size - r->pos)
    return hub_errp("paddle_load %s: desc_len %d is beyond the %lld bytes left in the file", path, desc_len,
                    (long long)(r->size - r->pos));
  uint8_t desc[PD_MAX_DESC];
  if (pd_read(r, desc, desc_len, "the TensorDesc")) return NULL;
  uint64_t dtype = 0;
  int ndim = 0;
  int64_t dims[HUB_MAX_DIMS];
  if (pd_parse_desc(path, desc, desc_len, &dtype, &ndim, dims)) return NULL;
  if (dtype != 5)
    return hub_errp("paddle_load %s: data_type %llu (%s) is not supported (only 5, FP32)", path,
                    (unsigned long long)dtype, pd_type_name(dtype));
  int64_t numel = 1;
  char shape[160];
  int k = snprintf(shape, sizeof shape, "[");
  for (int i = 0; i < ndim; i++) {
    k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (dims[i] && numel > INT64_MAX / 4 / dims[i])
      return hub_errp("paddle_load %s: dims %s... overflow", path, shape);
    numel *= dims[i];
  }
  snprintf(shape + k, sizeof shape - (size_t)k, "]");
  int64_t left = r->size - r->pos;
  if (numel * 4 != left)
    return hub_errp("paddle_load %s: dims %s FP32 need %lld data bytes, the file has %lld after the header", path,
                    shape, (long long)(numel * 4), (long long)left);
  hub_tensor *t = hub_tensor_empty(HUB_F32, ndim, dims, HUB_CPU);
  if (!t) return NULL;
  if (pd_read(r, t->data, left, "the data")) {
    hub_tensor_release(t);
    return NULL;
  }
  return t;
}

hub_tensor *hub_paddle_load(const char *path) {
  if (!path) return hub_errp("paddle_load: path is missing (NULL)");
  const uint16_t one = 1;
  if (*(const uint8_t *)&one != 1) return hub_errp("paddle_load %s: big-endian hosts are not supported", path);
  FILE *f = fopen(path, "rb");
  if (!f) return hub_errp("paddle_load %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
    fclose(f);
    return hub_errp("paddle_load %s: not a regular file", path);
  }
  pd_reader r = {f, path, (int64_t)st.st_size, 0};
  hub_tensor *t = pd_load(&r);
  fclose(f);
  return t;
}
