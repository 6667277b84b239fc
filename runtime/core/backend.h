/* backend.h - the interface every device implements (ggml-backend's split, our names).
 *
 * A backend is three things, none of which grows when an op is added:
 *   - a buffer interface that owns the device's memory: alloc/free, copies host -> device,
 *     device -> host and device -> device, memset, synchronize.  The caching allocator
 *     (alloc.c) keeps the CPU's free lists; other devices keep their own.  hub_to_device
 *     copies through it.
 *   - a `supports(kernel, dtype)` answer.  The op layer asks it (hub_dispatch) before it
 *     calls a kernel and fails with "gru is not implemented for cuda" instead of calling an
 *     empty slot.
 *   - a table of kernels indexed by kernel id.  Kernels take tensors (never raw pointers) whose
 *     shapes are already checked and whose outputs are allocated (contiguous unless stated),
 *     and return 0 or -1 with hub_err().  Inputs may be strided views unless the contract says
 *     "contiguous"; the op layer makes them so where the kernel requires it.
 *
 * The kernel ids, their C signatures and the dtypes each accepts are listed once, in
 * HUB_KERNELS below; an id, a typedef hub_kfn_<ID> and a dtype mask come out of it.  Paddle's
 * GRU and CRF and the optimiser updates are kernels of the same table (the "extension" part
 * of the list): adding one is a line here and a line in each backend's table, not a field of
 * the interface.  The CPU table is kernels/cpu/backend_cpu.c; a CUDA one goes in kernels/cuda/.
 */
#ifndef HUB_BACKEND_H
#define HUB_BACKEND_H

#include "internal.h"

/* ADD..DIV: the f32 `BINARY` kernel; all of them: `BINARY_ANY` (EQ..OR give bool results). */
typedef enum hub_binop {
  HUB_BIN_ADD, HUB_BIN_SUB, HUB_BIN_MUL, HUB_BIN_DIV,
  HUB_BIN_POW, HUB_BIN_FMOD, HUB_BIN_REMAINDER, HUB_BIN_MIN, HUB_BIN_MAX,
  HUB_BIN_EQ, HUB_BIN_NE, HUB_BIN_LT, HUB_BIN_LE, HUB_BIN_GT, HUB_BIN_GE, HUB_BIN_AND, HUB_BIN_OR
} hub_binop;

/* Elementwise functions on any dtype (the `MAP` kernel); NOT and TRUTH give bool (x == 0, x != 0). */
typedef enum hub_mapop {
  HUB_MAP_NEG, HUB_MAP_ABS, HUB_MAP_SIGN, HUB_MAP_FLOOR, HUB_MAP_CEIL, HUB_MAP_ROUND,
  HUB_MAP_NOT, HUB_MAP_TRUTH
} hub_mapop;

typedef enum hub_unop {
  HUB_UN_NEG, HUB_UN_EXP, HUB_UN_LOG, HUB_UN_SQRT, HUB_UN_RSQRT, HUB_UN_ABS,
  HUB_UN_RELU, HUB_UN_TANH, HUB_UN_SIGMOID, HUB_UN_GELU_ERF, HUB_UN_GELU_TANH,
  HUB_UN_POW,    /* x ^ alpha */
  HUB_UN_LINEAR, /* alpha * x + beta */
  HUB_UN_RECIP,  /* alpha / x */
  HUB_UN_COUNT
} hub_unop;

typedef enum hub_redop { HUB_RED_SUM, HUB_RED_MEAN, HUB_RED_MAX } hub_redop;

/* The parameters of a fused attention call (runtime/op_attention.c builds them).  The operands
 * are 4-d strided views: q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv] and out [B, H, Lq,
 * Dv], each with unit stride in its last dimension (any strides elsewhere: attention_qkv reads
 * q, k and v out of one packed projection).  In the backward, gq, gk and gv are views of q's, k's
 * and v's geometry and gout of out's; every element of gq, gk and gv is written (any may be NULL:
 * not wanted).  mask: an additive f32 [B*H, Lq, Lk] view (0 strides broadcast) or NULL.  probs:
 * contiguous f32 [B*H, Lq, Lk], the softmax before dropout, written by the forward and read by
 * the backward.  Dropout with probability p (0: none) on the probabilities, scaled by 1/(1-p):
 * element (e, i, j) with e = b*H + h is kept when hub_rng_uniform(key, counter + (e*Lq + i)*Lk +
 * j) >= p - the stream hub_dropout would use on a [B, H, Lq, Lk] tensor - so the backward
 * regenerates the mask instead of storing it. */
typedef struct hub_attn {
  const hub_tensor *mask;
  float scale, p;
  uint64_t key, counter;
  int lowp; /* the autocast mode of the forward (0, HUB_BF16, HUB_F16): a backend may compute the
             * two products with operands rounded to it (f32 accumulation); the CPU ignores it */
  int recorded; /* the call is recorded for a backward: with probs NULL, one that recomputes them
                 * (ATTENTION_BACKWARD_RECOMPUTE), so the forward should compute as that will */
} hub_attn;

/* dtype masks for the kernel list */
#define HUB_DT(d) (1u << (d))
#define HUB_DT_F32 HUB_DT(HUB_F32)
#define HUB_DT_F32_F64 (HUB_DT(HUB_F32) | HUB_DT(HUB_F64))
#define HUB_DT_ANY ((1u << HUB_DTYPE_COUNT) - 1u)

/* X(ID, return type, parameters, dtypes accepted by its main operand): the kernels a backend may
 * implement, with their contracts. */
#define HUB_KERNELS(X)                                                                            \
  /* dst = src elementwise with dtype conversion; same shape (src may have 0 strides). */        \
  X(COPY, int, (hub_tensor *dst, const hub_tensor *src), HUB_DT_ANY)                              \
  X(FILL, int, (hub_tensor *t, double v), HUB_DT_ANY)                                             \
  /* out = a op b (ADD..DIV); a and b already expanded to out's shape (0 strides); f32. */       \
  X(BINARY, int, (int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out), HUB_DT_F32) \
  /* out = a op b for any hub_binop; a and b of one dtype expanded to out's shape; out bool for   \
   * comparisons, logical ops and bool operands, else a's dtype.  Integer arithmetic wraps; an    \
   * integer fmod/remainder by zero or a negative integer power is an error (not a signal). */    \
  X(BINARY_ANY, int, (int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out), HUB_DT_ANY) \
  /* y = op(x) for a hub_mapop; x strided, y of x's shape and dtype (bool for NOT and TRUTH). */ \
  X(MAP, int, (int op, const hub_tensor *x, hub_tensor *y), HUB_DT_ANY)                          \
  /* out[k] = the k-th element of x (contiguous) where mask (contiguous bool/u8, x's shape) is    \
   * set; masked_scatter is the reverse: dst[i] = src[k] at the k-th set position. */             \
  X(MASKED_SELECT, int, (const hub_tensor *x, const hub_tensor *mask, hub_tensor *out), HUB_DT_ANY) \
  X(MASKED_SCATTER, int, (hub_tensor *dst, const hub_tensor *mask, const hub_tensor *src), HUB_DT_ANY) \
  /* Along the middle dimension of contiguous [outer, n, inner] operands with an i64 index        \
   * [outer, k, inner] (each in [0, n), checked before anything is written): gather: out[o, j, i] \
   * = x[o, index[o, j, i], i] (any dtype); scatter: dst[o, index[o, j, i], i] = src[o, j, i], or \
   * += when add (f32, i64, i32); serial, in index order. */                                      \
  X(GATHER_DIM, int, (const hub_tensor *x, const hub_tensor *index, hub_tensor *out), HUB_DT_ANY) \
  X(SCATTER_DIM, int, (hub_tensor *dst, const hub_tensor *index, const hub_tensor *src, int add), HUB_DT_ANY) \
  /* Stable sort of each line of x [outer, n, inner] (f32 or i64, contiguous) along the middle    \
   * dimension: values (x's dtype) and positions (i64); NaN is the largest. */                    \
  X(SORT, int, (const hub_tensor *x, int descending, hub_tensor *values, hub_tensor *indices), HUB_DT_ANY) \
  /* Running sum along the middle dimension (from the end when reverse); f32 or i64. */          \
  X(CUMSUM, int, (const hub_tensor *x, int reverse, hub_tensor *out), HUB_DT_ANY)                \
  /* The unary functions and their derivatives for f64 tensors (contiguous), alpha and beta in    \
   * double.  MATMUL and REDUCE take f64 operands too (out of the same dtype). */                 \
  X(UNARY_F64, int, (int op, const hub_tensor *x, hub_tensor *y, double alpha, double beta), HUB_DT(HUB_F64)) \
  X(UNARY_F64_BACKWARD, int, (int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx, double alpha), HUB_DT(HUB_F64)) \
  /* a += alpha * b in place; b expanded to a's shape; f32. */                                    \
  X(AXPY, int, (hub_tensor *a, const hub_tensor *b, float alpha), HUB_DT_F32)                     \
  /* y = op(x) (x contiguous f32, y contiguous f32); gx = gy * op'(x) likewise. */               \
  X(UNARY, int, (int op, const hub_tensor *x, hub_tensor *y, float alpha, float beta), HUB_DT_F32) \
  X(UNARY_BACKWARD, int, (int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx, float alpha, float beta), HUB_DT_F32) \
  /* out[..., M, N] = act(a[..., M, K] b[..., K, N] (+ bias[N])); a and b strided views with      \
   * batch dimensions already expanded to out's (0 strides allowed); out contiguous.  act is -1   \
   * (none) or HUB_UN_RELU, HUB_UN_TANH, HUB_UN_GELU_ERF or HUB_UN_GELU_TANH. */                   \
  X(MATMUL, int, (const hub_tensor *a, const hub_tensor *b, const hub_tensor *bias, int act, hub_tensor *out), HUB_DT_F32_F64) \
  /* Reduces x (contiguous) over dim into out (same ndim, size 1 at dim, contiguous).  For MAX,   \
   * idx (i64, like out) receives the first position of the maximum (may be NULL). */             \
  X(REDUCE, int, (int op, const hub_tensor *x, int dim, hub_tensor *out, hub_tensor *idx), HUB_DT_F32_F64) \
  /* y = softmax or log_softmax of x over dim (contiguous f32). */                                \
  X(SOFTMAX, int, (const hub_tensor *x, int dim, int log, hub_tensor *y), HUB_DT_F32)             \
  X(SOFTMAX_BACKWARD, int, (const hub_tensor *y, const hub_tensor *gy, int dim, int log, hub_tensor *gx), HUB_DT_F32) \
  /* x viewed as [rows, n] (contiguous); w, b [n] or NULL; mean, rstd [rows] f32 outputs or NULL  \
   * (inference).  r: NULL, or a residual of x's geometry (contiguous): the kernel normalises      \
   * x + r (one pass: the fused residual add of a post-LN transformer) and writes x + r to s when  \
   * s is not NULL (the backward's input; the op passes it when it records).  In the backward     \
   * gw, gb may be NULL (not wanted). */                                                          \
  X(LAYER_NORM, int, (const hub_tensor *x, const hub_tensor *r, const hub_tensor *w, const hub_tensor *b, float eps, hub_tensor *y, hub_tensor *s, hub_tensor *mean, hub_tensor *rstd), HUB_DT_F32) \
  X(LAYER_NORM_BACKWARD, int, (const hub_tensor *x, const hub_tensor *w, const hub_tensor *mean, const hub_tensor *rstd, const hub_tensor *gy, hub_tensor *gx, hub_tensor *gw, hub_tensor *gb), HUB_DT_F32) \
  /* mask (u8, contiguous) = uniform >= p from the reserved stream; y = x * mask / (1 - p);       \
   * backward: gx = gy * mask / (1 - p). */                                                        \
  X(DROPOUT, int, (const hub_tensor *x, float p, uint64_t key, uint64_t counter, hub_tensor *y, hub_tensor *mask), HUB_DT_F32) \
  X(DROPOUT_BACKWARD, int, (const hub_tensor *gy, const hub_tensor *mask, float p, hub_tensor *gx), HUB_DT_F32) \
  /* x viewed as [outer, n, inner] (contiguous); ids [k] i64/i32 in [0, n) (checked here); out    \
   * [outer, k, inner].  scatter_add: gx [outer, n, inner] += gy [outer, k, inner] at ids. */     \
  X(GATHER, int, (const hub_tensor *x, const hub_tensor *ids, hub_tensor *out), HUB_DT_ANY)       \
  X(SCATTER_ADD, int, (hub_tensor *gx, const hub_tensor *ids, const hub_tensor *gy), HUB_DT_F32)  \
  /* out = cond ? a : b; all expanded to out's shape; cond bool/u8. */                            \
  X(WHERE, int, (const hub_tensor *cond, const hub_tensor *a, const hub_tensor *b, hub_tensor *out), HUB_DT_F32) \
  /* logits [N, C] contiguous; target [N]; loss scalar out; lse [N] saved for backward; count of  \
   * targets that are not ignore_index written to *count. */                                      \
  X(CROSS_ENTROPY, int, (const hub_tensor *logits, const hub_tensor *target, int64_t ignore_index, float smoothing, hub_tensor *loss, hub_tensor *lse, int64_t *count), HUB_DT_F32) \
  X(CROSS_ENTROPY_BACKWARD, int, (const hub_tensor *logits, const hub_tensor *target, const hub_tensor *lse, int64_t ignore_index, float smoothing, float gscale, hub_tensor *glogits), HUB_DT_F32) \
  /* Fused scaled-dot-product attention over the B*H entries; see hub_attn above.  probs may be   \
   * NULL when no backward will need it (inference): the backend then keeps no probabilities.  */ \
  X(ATTENTION, int, (const hub_attn *a, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v, hub_tensor *out, hub_tensor *probs), HUB_DT_F32) \
  X(ATTENTION_BACKWARD, int, (const hub_attn *a, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v, const hub_tensor *probs, const hub_tensor *gout, hub_tensor *gq, hub_tensor *gk, hub_tensor *gv), HUB_DT_F32) \
  /* The backward of a forward that kept no probabilities (probs NULL in its ATTENTION call): the \
   * backend recomputes them from q, k, a->mask and the dropout stream, one call at a time, so a  \
   * training step holds no [B*H, Lq, Lk] matrix per layer.  Optional (cuda has it); the op layer \
   * uses it where the probabilities would be large (runtime/ops/op_attention.c). */              \
  X(ATTENTION_BACKWARD_RECOMPUTE, int, (const hub_attn *a, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v, const hub_tensor *gout, hub_tensor *gq, hub_tensor *gk, hub_tensor *gv), HUB_DT_F32) \
  /* ---- extensions: the optimiser updates (hub_optim.h), all tensors contiguous f32, each     \
   * parameter's gradient and state of its shape.  The Adam update, the sums of squares         \
   * (double accumulation, out[i] for tensor i, host memory) and t *= s take n tensors at once:  \
   * one pass each, and on a GPU one launch (and for the sums one read back) for all of them;   \
   * steps[i] is tensor i's own step count (from 1). ---- */                                     \
  X(SGD_STEP, int, (hub_tensor *p, const hub_tensor *g, hub_tensor *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first), HUB_DT_F32) \
  X(ADAM_STEP, int, (int n, hub_tensor *const *p, const hub_tensor *const *g, hub_tensor *const *m, hub_tensor *const *v, const int64_t *steps, float lr, float beta1, float beta2, float eps, float weight_decay, int decoupled), HUB_DT_F32) \
  X(SUM_SQUARES, int, (int n, const hub_tensor *const *ts, double *out), HUB_DT_F32)             \
  X(SCALE, int, (int n, hub_tensor *const *ts, float s), HUB_DT_F32)                              \
  /* ---- extensions: Paddle's models (hub_paddle.h) ----                                         \
   * GRU: x [B, T, 3H], w [H, 3H] (Wg [H, 2H] then Wc [H, H]), b [3H] or NULL, out [B, T, H], all \
   * contiguous f32; lengths [B] in host memory, each in 0..T (checked by the op).  Padded        \
   * positions of out are written 0. */                                                           \
  X(GRU, int, (const hub_tensor *x, const hub_tensor *w, const hub_tensor *b, const int64_t *lengths, int reverse, int origin_mode, hub_tensor *out), HUB_DT_F32) \
  /* Viterbi: emission [B, T, C], transition [C+2, C] contiguous f32; lengths [B] host memory;    \
   * path [B, T] i64 (-1 at padded positions). */                                                \
  X(CRF_DECODE, int, (const hub_tensor *emission, const hub_tensor *transition, const int64_t *lengths, hub_tensor *path), HUB_DT_F32) \
  /* Linear-chain CRF negative log-likelihood: emission [B, L, C] and transition [C+2, C] (start  \
   * row, end row, then C rows) contiguous f32; tags [B*L] and lengths [B] in host memory (checked \
   * by the op); nll [B] f32.  The backward writes the gradient of sum_b gnll[b] * nll[b] into    \
   * gemission ([B, L, C], 0 at padded positions) and gtransition ([C+2, C]); either may be NULL. */ \
  X(CRF_NLL, int, (const hub_tensor *emission, const int64_t *tags, const int64_t *lengths, const hub_tensor *transition, hub_tensor *nll), HUB_DT_F32) \
  X(CRF_NLL_BACKWARD, int, (const hub_tensor *emission, const int64_t *tags, const int64_t *lengths, const hub_tensor *transition, const hub_tensor *gnll, hub_tensor *gemission, hub_tensor *gtransition), HUB_DT_F32)

#define HUB__KERNEL_ID(ID, R, P, DT) HUB_K_##ID,
typedef enum hub_kernel_id { HUB_KERNELS(HUB__KERNEL_ID) HUB_KERNEL_COUNT } hub_kernel_id;
#undef HUB__KERNEL_ID
#define HUB__KERNEL_FN(ID, R, P, DT) typedef R(*hub_kfn_##ID) P;
HUB_KERNELS(HUB__KERNEL_FN)
#undef HUB__KERNEL_FN

/* A kernel slot holds any function; HUB_K casts it back to the listed signature. */
typedef void (*hub_kernel_fn)(void);
#define HUB_K(be, ID) ((hub_kfn_##ID)(be)->kernels[HUB_K_##ID])
/* For a backend's table: [HUB_K_GRU] = HUB_KERNEL(GRU, cpu_gru); a function whose signature
 * differs from the list's is a compile error (the conditional needs compatible pointer types). */
#define HUB_KERNEL(ID, fn) [HUB_K_##ID] = (hub_kernel_fn)(1 ? (fn) : (hub_kfn_##ID)0)

/* Kernel names ("gru") and the dtypes each accepts (the fourth column of HUB_KERNELS). */
const char *hub_kernel_name(int kernel);
unsigned hub_kernel_dtypes(int kernel);

/* The memory of one device.  Sizes in bytes; pointers are device addresses (host addresses for
 * the CPU).  Every function returns 0 or -1 with hub_err(); alloc returns NULL with hub_err(). */
typedef struct hub_buffer_iface {
  void *(*alloc)(size_t nbytes);                                /* 64-byte aligned */
  void (*free)(void *p, size_t nbytes);                         /* nbytes as allocated */
  int (*copy_in)(void *dst, const void *host, size_t nbytes);   /* host -> device */
  int (*copy_out)(void *host, const void *src, size_t nbytes);  /* device -> host */
  int (*copy_d2d)(void *dst, const void *src, size_t nbytes);   /* within the device */
  int (*memset_bytes)(void *dst, int byte, size_t nbytes);
  int (*synchronize)(void);                                     /* waits for queued work */
  /* Optional (NULL: none): the device's allocator statistics and cache controls, behind
   * hub_mem_get_stats / hub_mem_empty_cache / hub_mem_set_cache_limit for this device. */
  void (*stats)(hub_mem_stats *out);
  void (*empty_cache)(void);
  void (*set_cache_limit)(int64_t bytes);
} hub_buffer_iface;

typedef struct hub_backend {
  const char *name;
  int device;
  hub_buffer_iface buffer;
  /* 1 when this backend runs `kernel` on operands of `dtype`; NULL: when the slot is filled and
   * dtype is in the kernel's list (hub_backend_supports). */
  int (*supports)(const struct hub_backend *b, int kernel, int dtype);
  /* Threads for this backend's parallel loops (may be NULL). */
  void (*set_num_threads)(int n);
  hub_kernel_fn kernels[HUB_KERNEL_COUNT];
} hub_backend;

/* The backend of a device, or NULL with an error when it is not built or not present. */
const hub_backend *hub_backend_for(int device);
/* Registration (called by each backend once it found its device). */
void hub_backend_register(int device, const hub_backend *b);
int hub_backend_supports(const hub_backend *b, int kernel, int dtype);
/* What the op layer calls before it dispatches: the backend of `device` when it supports
 * `kernel` on `dtype` (dtype < 0: not checked); else NULL with "<op> is not implemented for
 * cuda" or "<op>: dtype f16 is not supported by the cpu backend".  op NULL: the kernel's name.
 * Registered backends get their empty slots filled with stubs that fail the same way, so a
 * partly filled table never crashes. */
const hub_backend *hub_dispatch(const char *op, int kernel, int device, int dtype);

#endif
