/* internal.h - what the runtime's own files share and the public API does not show:
 * error helpers, the storage, the caching allocator, the autograd node and the recording helpers
 * that ops use.  Not installed; kernels/ include it too.  It includes only the core's
 * public headers, so an op or a kernel does not see the store, the file formats or the Lua runtime.
 */
#ifndef HUB_INTERNAL_H
#define HUB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* only the core's public headers: each layer's files include what else they use */
#include "hub_autograd.h"
#include "hub_base.h"
#include "hub_ops.h"
#include "hub_optim.h"
#include "hub_tensor.h"

#if defined(__GNUC__)
#define HUB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HUB_PRINTF(a, b)
#endif

/* ---- errors (error.c) ---- */
/* Sets the thread's message; returns -1 / NULL so callers can `return hub_err(...)`. */
/* Exported (hub_*) for libhub_lua, the embedding runtime built on top of libhub. */
HUB_API int hub_err(const char *fmt, ...) HUB_PRINTF(1, 2);
HUB_API void *hub_errp(const char *fmt, ...) HUB_PRINTF(1, 2);

/* ---- storage and allocator (alloc.c) ---- */
struct hub_storage {
  void *base;
  size_t nbytes;
  int32_t refcount;
  int32_t device;
  void (*free_fn)(void *); /* set for wrapped memory; NULL for allocator memory */
  void *ctx;
};
/* 64-byte aligned, through the device's buffer interface (for the CPU: the caching allocator,
 * hub_cpu_alloc).  NULL + error when out of memory. */
void *hub_mem_alloc(int device, size_t nbytes);
void *hub_cpu_alloc(size_t nbytes);
void hub_cpu_free(void *p, size_t nbytes);
void hub_mem_free(int device, void *p, size_t nbytes);
hub_storage *hub_storage_new(int device, size_t nbytes);
void hub_storage_retain(hub_storage *s);
void hub_storage_release(hub_storage *s);

/* ---- tensors (tensor.c) ---- */
/* The largest tensor, in bytes, any constructor or view accepts: sizes are int64_t and byte
 * offsets must stay representable after multiplying by the element size. */
#define HUB_MAX_TENSOR_BYTES ((int64_t)1 << 62)
/* Checked size arithmetic, the one place every constructor, view and expand goes through:
 * ndim in [0, HUB_MAX_DIMS], every size >= 0 and the product of the non-zero sizes at most
 * HUB_MAX_TENSOR_BYTES / element size (so numel * element size and every row-major stride fit
 * in int64_t).  Returns numel, or -1 with an error naming `op`, the dimension and the size. */
int64_t hub_check_shape(const char *op, int ndim, const int64_t *shape, int dtype);
/* Checks that a strided view of numel > 0 elements (element offsets offset + sum i_d * stride_d)
 * stays inside [0, limit) without overflowing; limit < 0 skips the upper bound.  Empty views are
 * always valid.  Returns 0, or -1 with an error naming `op`; *hi gets the largest offset + 1. */
int hub_check_extent(const char *op, int ndim, const int64_t *shape, const int64_t *stride,
                     int64_t offset, int64_t limit, int64_t *hi);
/* A contiguous tensor of the given shape, uninitialised; copies shape from `like` when ndim < 0. */
hub_tensor *hub_tensor_empty_like(const hub_tensor *like, int dtype);
/* A new view header over t's storage with the given geometry (no autograd). */
hub_tensor *hub_tensor_alias(const hub_tensor *t, int ndim, const int64_t *shape,
                             const int64_t *stride, int64_t offset);
/* Normalises a possibly negative dim; sets an error naming `op` when out of range. */
int hub_norm_dim(const char *op, int dim, int ndim);
/* 0, or -1 with an error naming op, value and dtype when v is not an integer that the integer
 * dtype holds (NaN, inf, 2.5, 300 for u8, 2^63 for i64); float and bool dtypes take anything. */
int hub_check_int_value(const char *op, double v, int dtype);
/* Broadcast shape of a and b into out (returns ndim or -1 with an error naming op). */
int hub_broadcast_shape(const char *op, const hub_tensor *a, const hub_tensor *b, int64_t *out);
bool hub_same_shape(const hub_tensor *a, const hub_tensor *b);
/* Checks that t is a float tensor on a known device; names op and argument in the error. */
int hub_check_float(const char *op, const char *arg, const hub_tensor *t);
int hub_check_index(const char *op, const char *arg, const hub_tensor *t);
int hub_check_same_device(const char *op, const hub_tensor *a, const hub_tensor *b);
/* Views with autograd off, for kernels and backward functions. */
hub_tensor *hub_expand_raw(const hub_tensor *t, int ndim, const int64_t *shape);

/* ---- f16 / bf16 (dtype.c) ---- */
float hub_half_to_float(uint16_t h);
uint16_t hub_float_to_half(float f);
float hub_bf16_to_float(uint16_t h);
uint16_t hub_float_to_bf16(float f);

/* ---- RNG (rng.c) ---- */
/* Reserves `n` numbers of the global counter-based stream; returns the key and first counter so
 * that kernels can generate them in parallel and still deterministically. */
void hub_rng_reserve(uint64_t n, uint64_t *key, uint64_t *counter);
/* The i-th 32-bit random number of stream (key, counter + i). */
uint32_t hub_rng_u32(uint64_t key, uint64_t counter);
/* Uniform in [0,1) from counter c. */
float hub_rng_uniform(uint64_t key, uint64_t counter);
/* u[j] = hub_rng_uniform(key, c0 + j) for j < n, the key hashed once and the hash vectorised
 * (AVX-512DQ when the CPU has it): what kernels that draw many numbers use. */
void hub_rng_uniform_block(float *u, int64_t n, uint64_t key, uint64_t c0);

/* ---- autograd (autograd.c) ---- */
typedef struct hub_edge {
  hub_node *fn;        /* node that produced the input (retained), or NULL */
  int32_t out_index;   /* which output of fn */
  hub_tensor *leaf;    /* leaf that requires grad (retained), or NULL */
  int32_t ndim, dtype; /* the input's geometry, for shaping its gradient */
  int32_t device;      /* and its device, for a zero gradient made from nothing */
  int64_t shape[HUB_MAX_DIMS];
} hub_edge;

/* Computes gradients of the inputs from those of the outputs.  gout[j] may be NULL (no gradient
 * reached output j: treat as zeros).  Fill gin[i] with a new reference for each input with
 * hub_node_needs(n, i) true; leave the others NULL.  Return 0 or -1 with an error. */
typedef int (*hub_backward_fn)(hub_node *n, hub_tensor **gout, hub_tensor **gin);

struct hub_node {
  int32_t refcount;
  int32_t n_in, n_out;
  uint64_t seq;                         /* creation order */
  const char *name;
  hub_backward_fn backward;
  hub_edge *edges;                      /* n_in */
  void *state;                          /* the op's typed backward state (hub_op_def.state_size
                                         * bytes + any tail, zeroed, in the node's own
                                         * allocation) or NULL */
  size_t state_size;
  uint64_t kept;                        /* bit k: the pointer at state + k * sizeof(void *) is a
                                         * tensor kept by hub_node_keep (released after backward) */
  hub_tensor **grads;                   /* n_out gradient slots, used during backward */
  int32_t mark;
  int32_t consumed;                     /* backward already ran through it */
};

#if defined(__GNUC__)
#define HUB_MUST_CHECK __attribute__((warn_unused_result))
#else
#define HUB_MUST_CHECK
#endif

/* One entry of the op table: what the recording and the dispatch of an op need, declared once
 * beside the op (HUB_OP_DEF) and listed in ops/op_table.c (hub_op_count / hub_op_name). */
typedef struct hub_op_def {
  const char *id;           /* the table's name, unique (HUB_OP_DEF's first argument) */
  const char *name;         /* in errors and in grad_fn names (pow_scalar's is "pow") */
  int arity;                /* tensor inputs the node has edges to; HUB_ARITY_VAR: given per call */
  unsigned dtypes;          /* the dtypes its inputs may have (HUB_DT masks of backend.h) */
  int kernel;               /* the forward's main kernel id (hub_kernel_id), -1 when composed of
                             * ops or a view */
  hub_backward_fn backward; /* computes the inputs' gradients from the typed state */
  size_t state_size;        /* sizeof its typed backward state (0: none) */
} hub_op_def;
#define HUB_ARITY_VAR (-1)
#define HUB_OP_DEF(ident, ...) const hub_op_def hub_op_##ident = {.id = #ident, __VA_ARGS__}

/* Recording.  When grad mode is on and an input requires grad, makes a node attached to the
 * outputs (out->grad_fn, requires_grad) with the table's name, arity and backward and a zeroed
 * typed state of op->state_size bytes (HUB_NODE_STATE), and sets *node (borrowed: the outputs
 * own it); else sets *node NULL.  inputs[i] may be NULL for optional arguments.  Returns 0, or -1
 * with an error when memory runs out - never a result that silently carries no gradient.
 * hub_record_op_n is the same for an op of variable arity (n_in inputs) or with `extra` more
 * bytes of state after state_size (a flexible array member). */
int hub_record_op(const hub_op_def *op, hub_tensor *const *inputs, int n_out,
                  hub_tensor *const *outs, hub_node **node) HUB_MUST_CHECK;
int hub_record_op_n(const hub_op_def *op, int n_in, hub_tensor *const *inputs, int n_out,
                    hub_tensor *const *outs, size_t extra, hub_node **node) HUB_MUST_CHECK;
#define HUB_NODE_STATE(n, type) ((type *)(n)->state)
/* 1 when recording an op over these inputs (any may be NULL) would make a node: grad mode is on
 * and an input requires a gradient - the test hub_record_op makes, for ops that do less work
 * when nothing will be recorded (no attention probabilities, no autocast cast of bf16 weights). */
int hub_will_record(int n_in, hub_tensor *const *inputs);
/* For tests of the failure paths: the n-th recording from now on this thread (one that would
 * make a node) fails as if memory ran out; n <= 0 turns that off.  Returns how many recordings
 * were left to go before the call (n minus the recordings made since the last call, while on). */
int hub_record_fail_nth(int n);
/* Keeps t for the backward in a tensor field of the node's typed state: *field = t (retained,
 * released after the backward ran or with the node).  0, or -1 with an error when field is not
 * a pointer-aligned field of the state. */
int hub_node_keep(hub_node *n, hub_tensor **field, hub_tensor *t) HUB_MUST_CHECK;
bool hub_node_needs(const hub_node *n, int input);
/* Releases *out and sets it NULL when rc != 0 (an op whose recording failed returns NULL). */
static inline void hub_fail_release(int rc, hub_tensor **out) {
  if (rc && *out) {
    hub_tensor_release(*out);
    *out = NULL;
  }
}
void hub_node_retain(hub_node *n);
void hub_node_release(hub_node *n);
/* Runs fn with grad mode off and restores it. Used by backward functions composed of ops. */
#define HUB_NO_GRAD_BEGIN int hub__prev_grad = hub_set_grad_enabled(0)
#define HUB_NO_GRAD_END hub_set_grad_enabled(hub__prev_grad)

/* The first element of t as a double, on any device (copied to the host through the buffer
 * interface when t is elsewhere): what an op that needs a count or an upstream scalar on the
 * host calls instead of reading t->data.  0, or -1 with an error naming op. */
int hub_item(const char *op, hub_tensor *t, double *v);

/* t as a contiguous f32 tensor (new reference; t itself retained when it already is one).
 * Recorded like hub_to_dtype and hub_contiguous, so gradients flow through it. */
hub_tensor *hub_contiguous_f32(hub_tensor *t);

/* ---- ops on any dtype (op_compare.c), not recorded ---- */
/* a op b (a hub_binop) with both converted to dtype ct (f16/bf16 computed in f32), broadcast;
 * bool for comparisons, logical ops and ct bool, else ct.  Errors are prefixed with name. */
hub_tensor *hub_binary_any(const char *name, int op, hub_tensor *a, hub_tensor *b, int ct);
/* op(x) for a hub_mapop; same dtype as x (bool for NOT / TRUTH). */
hub_tensor *hub_map(const char *name, int op, hub_tensor *x);

/* ---- small helpers ---- */
/* numel of a shape that hub_check_shape accepted (tensor shapes always are). */
static inline int64_t hub_numel_of(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}
/* Releases several tensors (NULL allowed). */
void hub_release_all(int n, hub_tensor **ts);

#endif
