/* hub_tensor.h - the tensor: shape, strides and offset over a refcounted storage.
 *
 * A tensor is a view: `data` points at its first element inside a storage that several tensors
 * may share (reshape of a contiguous tensor, transpose, permute, narrow, expand, squeeze and
 * unsqueeze never copy).  Strides are in elements; a stride of 0 is a broadcast dimension.
 * Reference counting is atomic, so read-only tensors (loaded weights) can be shared by runtimes
 * on several threads.  The fields are public for the FFI binding and for kernels; change them
 * only through these functions.
 *
 *   hub_tensor *x = hub_tensor_new(HUB_F32, 2, (int64_t[]){2, 3}, HUB_CPU);   // zero-filled
 *   hub_tensor *t = hub_transpose(x, 0, 1);         // a view, shape [3,2]
 *   hub_tensor *c = hub_contiguous(t);              // a copy with row-major strides
 *   hub_tensor_release(c); hub_tensor_release(t); hub_tensor_release(x);
 */
#ifndef HUB_TENSOR_H
#define HUB_TENSOR_H

#include "hub_base.h"

typedef struct hub_storage hub_storage;
typedef struct hub_node hub_node;

#ifndef HUB_CDEF
typedef struct hub_tensor {
  void *data;                      /* first element (storage base + offset * element size) */
  int64_t shape[HUB_MAX_DIMS];
  int64_t stride[HUB_MAX_DIMS];    /* in elements */
  int64_t offset;                  /* in elements, from the storage base */
  int32_t ndim;
  int32_t dtype;                   /* hub_dtype */
  int32_t device;                  /* hub_device */
  int32_t requires_grad;           /* 1 for leaves that collect .grad and for results of ops on them */
  int32_t refcount;
  int32_t out_index;               /* which output of grad_fn this tensor is */
  hub_storage *storage;
  struct hub_tensor *grad;         /* accumulated gradient (leaves), or NULL */
  hub_node *grad_fn;               /* the node that made this tensor, NULL for leaves */
} hub_tensor;
#else
/* The LuaJIT binding sees the tensor as opaque (its fields would shadow the Lua properties
 * t.shape, t.dtype, t.grad ...) and reads it through the accessors below. */
typedef struct hub_tensor hub_tensor;
#endif

/* ---- life cycle ---- */
/* A new zero-filled contiguous tensor. shape may be NULL when ndim is 0 (a scalar).
 * Every constructor and view checks its shape: sizes >= 0, at most HUB_MAX_DIMS dimensions and
 * at most 2^62 bytes in all (so numel and byte sizes never overflow); memory the allocator
 * cannot get is the error "out of memory: cannot allocate N bytes". */
HUB_API hub_tensor *hub_tensor_new(int dtype, int ndim, const int64_t *shape, int device);
/* Uninitialised contents (faster when every element is about to be written). */
HUB_API hub_tensor *hub_tensor_empty(int dtype, int ndim, const int64_t *shape, int device);
/* A tensor holding a copy of `n` elements of `src` (given in `src_dtype`, converted). */
HUB_API hub_tensor *hub_tensor_from_data(int dtype, int ndim, const int64_t *shape, const void *src,
                                 int src_dtype);
/* A tensor over caller-owned memory: `free_fn(ctx)` runs when the last view goes away
 * (used for memory-mapped weight files).  The memory must stay valid until then. */
HUB_API hub_tensor *hub_tensor_wrap(int dtype, int ndim, const int64_t *shape, const int64_t *stride,
                            void *data, void (*free_fn)(void *), void *ctx);
HUB_API hub_tensor *hub_tensor_retain(hub_tensor *t);
HUB_API void hub_tensor_release(hub_tensor *t);

/* ---- facts ---- */
HUB_API int hub_tensor_ndim(const hub_tensor *t);
HUB_API int hub_tensor_dtype(const hub_tensor *t);
HUB_API int hub_tensor_device(const hub_tensor *t);
HUB_API int hub_tensor_requires_grad(const hub_tensor *t);
/* Size of 0-based dimension d (negative counts from the end); -1 when out of range. */
HUB_API int64_t hub_tensor_size(const hub_tensor *t, int d);
HUB_API int64_t hub_tensor_numel(const hub_tensor *t);
HUB_API int hub_tensor_is_contiguous(const hub_tensor *t);
/* Writes "[2,3]" into buf (at most n bytes) and returns buf. */
HUB_API char *hub_shape_str(const hub_tensor *t, char *buf, size_t n);
/* Number of tensors alive (for leak tests). */
HUB_API int64_t hub_tensor_live_count(void);

/* ---- element access (slow; for printing, item() and tests) ---- */
/* Reads element `i` of the tensor in logical row-major order, converted to double; NaN with an
 * error when i is not in [0, numel) or the tensor is not on the cpu (hub_tensor_read copies). */
HUB_API double hub_tensor_get(const hub_tensor *t, int64_t i);
HUB_API int hub_tensor_set(hub_tensor *t, int64_t i, double v);
/* Copies all elements in row-major order into `dst` as `dtype` (f32, i64 or f64 = -1 for double);
 * a tensor on another device is copied to the cpu first. */
HUB_API int hub_tensor_read(const hub_tensor *t, void *dst, int dtype);

/* ---- constructors ---- */
HUB_API hub_tensor *hub_full(int ndim, const int64_t *shape, double value, int dtype);
HUB_API hub_tensor *hub_arange(double start, double end, double step, int dtype);
/* Standard normal / uniform [0,1) / integers in [low, high) from the seeded generator. */
HUB_API hub_tensor *hub_randn(int ndim, const int64_t *shape, int dtype);
HUB_API hub_tensor *hub_rand(int ndim, const int64_t *shape, int dtype);
/* In place, not recorded: t = the numbers hub_randn (times std plus mean) or hub_rand (scaled to
 * [a, b)) would draw for t's shape, converted to t's dtype.  Without temporaries for a contiguous
 * f32 tensor (the nn initialisers use these). */
HUB_API int hub_normal_(hub_tensor *t, double mean, double std);
HUB_API int hub_uniform_(hub_tensor *t, double a, double b);
HUB_API hub_tensor *hub_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, int dtype);

/* ---- views (share storage; differentiable) ---- */
/* One entry of shape may be -1 (inferred).  Copies only when the strides cannot express it. */
HUB_API hub_tensor *hub_reshape(hub_tensor *t, int ndim, const int64_t *shape);
/* Like reshape but fails instead of copying. */
HUB_API hub_tensor *hub_view(hub_tensor *t, int ndim, const int64_t *shape);
HUB_API hub_tensor *hub_transpose(hub_tensor *t, int d0, int d1);
HUB_API hub_tensor *hub_permute(hub_tensor *t, const int *perm);
/* Elements start..start+length-1 of dimension dim. */
HUB_API hub_tensor *hub_narrow(hub_tensor *t, int dim, int64_t start, int64_t length);
/* Broadcasts size-1 dimensions (and adds leading ones) to `shape`; -1 keeps a size. */
HUB_API hub_tensor *hub_expand(hub_tensor *t, int ndim, const int64_t *shape);
/* dim = -100 squeezes every size-1 dimension. */
HUB_API hub_tensor *hub_squeeze(hub_tensor *t, int dim);
HUB_API hub_tensor *hub_unsqueeze(hub_tensor *t, int dim);

/* ---- copies ---- */
/* The tensor itself (retained) when already contiguous, else a contiguous copy. Differentiable. */
HUB_API hub_tensor *hub_contiguous(hub_tensor *t);
/* A contiguous copy, always.  Differentiable. */
HUB_API hub_tensor *hub_clone(hub_tensor *t);
/* Converts dtype (a copy; the tensor itself retained when already of that dtype).
 * Differentiable between float dtypes. */
HUB_API hub_tensor *hub_to_dtype(hub_tensor *t, int dtype);
HUB_API hub_tensor *hub_to_device(hub_tensor *t, int device);
/* dst[...] = src (broadcast to dst's shape, dtype converted); in place, not recorded. */
HUB_API int hub_copy_(hub_tensor *dst, hub_tensor *src);
/* Every element set to value; in place, not recorded.  For an integer dtype the value must be an
 * integer in the dtype's range (else -1: "fill: value 300 is out of range for u8 (0 to 255)"). */
HUB_API int hub_fill_(hub_tensor *t, double value);

#endif
