/* hub_io.h - safetensors files: read by memory-mapping, written atomically.
 *
 * safetensors is hubrun's native weight format and the one Hugging Face uses.  A file is
 *
 *   bytes 0..7      N, the length of the header, a little-endian unsigned 64-bit integer
 *   bytes 8..8+N    the header: a UTF-8 JSON object (hubrun pads it with spaces to a multiple
 *                   of 8 bytes, as the reference Rust implementation does)
 *   bytes 8+N..     the data section: every tensor's bytes, row-major, little-endian
 *
 * The header maps each tensor name to {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}
 * where b..e (end exclusive) is the tensor's byte range within the data section, and may hold
 * "__metadata__": an object of string keys to string values (e.g. {"format": "pt"}).
 *
 * dtypes: F32, F16, BF16, I32, I64, U8 and BOOL are hubrun dtypes and are read as they are
 * (zero-copy when aligned); F64 is read as f32, I8, I16 and U16 as i32, U32 as i64 (converted
 * copies).  Any other dtype (U64, F8_*, complex ...) makes hub_st_open fail with a message
 * naming the tensor and the dtype.
 *
 * Reading:
 *
 *   hub_st_file *f = hub_st_open("model.safetensors");   // NULL + hub_last_error()
 *   hub_tensor *w = hub_st_get(f, "encoder.w", -1);       // dtype kept; zero-copy
 *   hub_tensor *b = hub_st_get(f, "encoder.b", HUB_F32);  // widened to f32 (a copy if it was f16)
 *   hub_st_close(f);              // w and b stay valid: they keep the mapping alive
 *   hub_tensor_release(w); hub_tensor_release(b);         // the file is unmapped here
 *
 * The file is mapped privately and writable: writing into a loaded tensor (an optimiser step)
 * copies the touched pages and never changes the file.  Replacing the file with hub_st_save
 * while it is mapped is safe (the rename leaves the old inode to the mapping); truncating it in
 * place by other means is not (the process would get SIGBUS on the lost pages).
 *
 * Every error names the file and what is wrong, e.g. "load m.safetensors: tensor 'encoder.w'
 * data_offsets [0,100] do not match shape [5,6] F32 (120 bytes)".
 */
#ifndef HUB_IO_H
#define HUB_IO_H

#include "hub_tensor.h"

typedef struct hub_st_file hub_st_file;

/* Maps the file and validates its whole header: the header length against the file size, the
 * JSON, every entry's dtype, shape and offsets (in bounds, size == numel * itemsize, no two
 * tensors overlapping) and the metadata.  NULL + error on any problem. */
HUB_API hub_st_file *hub_st_open(const char *path);
/* Drops the caller's reference; the mapping goes when no tensor from it is alive either. */
HUB_API void hub_st_close(hub_st_file *f);

/* Tensors, sorted by name: i in 0..count-1. */
HUB_API int hub_st_count(const hub_st_file *f);
/* The i-th name (owned by f), or NULL when i is out of range. */
HUB_API const char *hub_st_name(const hub_st_file *f, int i);
/* Index of `name`, or -1 (with an error) when the file has no such tensor. */
HUB_API int hub_st_find(const hub_st_file *f, const char *name);
/* hub dtype the i-th tensor comes out as when kept (F64 -> f32 ...), or -1 when out of range. */
HUB_API int hub_st_dtype(const hub_st_file *f, int i);
/* The dtype as written in the file ("F16", "F64" ...), or NULL when out of range. */
HUB_API const char *hub_st_file_dtype(const hub_st_file *f, int i);
/* Number of dimensions of the i-th tensor and its sizes into shape (HUB_MAX_DIMS entries, may be
 * NULL); -1 when out of range. */
HUB_API int hub_st_shape(const hub_st_file *f, int i, int64_t *shape);

/* A new tensor for the i-th entry / the entry called `name`.  dtype -1 keeps the stored dtype,
 * else the tensor is converted to it.  When the dtype is kept, the file's dtype is a hubrun dtype
 * and the data is aligned, the tensor points into the mapping (no copy); otherwise it is a copy. */
HUB_API hub_tensor *hub_st_get_index(hub_st_file *f, int i, int dtype);
HUB_API hub_tensor *hub_st_get(hub_st_file *f, const char *name, int dtype);

/* "__metadata__": count, i-th key (in file order), and value by key (NULL when absent; no error
 * is set).  Strings are owned by f. */
HUB_API int hub_st_meta_count(const hub_st_file *f);
HUB_API const char *hub_st_meta_key(const hub_st_file *f, int i);
HUB_API const char *hub_st_metadata(const hub_st_file *f, const char *key);

/* Writes n tensors and n_meta metadata pairs to `path` atomically: the file is written as
 * "<path>.tmp.<pid>.<k>", flushed to disk (fsync), then renamed over `path`, so `path` is
 * either the old file or the complete new one, never a partial file; on failure the temporary
 * file is removed and an existing `path` is untouched.  Tensors may be views of any strides and
 * on any device; they are written in logical row-major order.  In the data section tensors are
 * ordered by element size (largest first), then by name, so that every tensor is aligned to its
 * element size.  Names must be unique, and not "__metadata__".  0 or -1 with an error. */
HUB_API int hub_st_save(const char *path, int n, const char *const *names, hub_tensor *const *tensors,
                int n_meta, const char *const *meta_keys, const char *const *meta_values);

/* The process-wide cache of safetensors files (thread-safe).  hub_shared_open returns the file
 * mapped for `path`, mapping it if no runtime has it open, and counts one more user of it;
 * tensors from hub_st_get on it point into the one mapping.  NULL + error on failure. */
HUB_API hub_st_file *hub_shared_open(const char *path);
/* One more user of a file returned by hub_shared_open (one per tensor handed out, say). */
HUB_API void hub_shared_retain(hub_st_file *f);
/* One user fewer; with none left the file leaves the cache (its tensors stay valid). */
HUB_API void hub_shared_close(hub_st_file *f);
/* Number of files in the cache. */
HUB_API int hub_shared_count(void);

#endif
