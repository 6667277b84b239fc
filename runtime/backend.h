/* backend.h - the per-device table of kernels (ggml's backend idea).
 *
 * The op layer (runtime/op_*.c) checks arguments, allocates outputs and records autograd nodes;
 * the computation itself goes through the table of the tensors' device.  A kernel receives
 * tensors whose shapes are already checked and whose outputs are allocated (contiguous unless
 * stated), returns 0 or -1 with hub_err().  Inputs may be strided views unless a slot says
 * "contiguous"; the op layer makes them contiguous where the kernel requires it.  The CPU table
 * is kernels/cpu/backend_cpu.c; a CUDA table would sit in kernels/cuda/.
 */
#ifndef HUB_BACKEND_H
#define HUB_BACKEND_H

#include "internal.h"

/* ADD..DIV: the f32 `binary` slot; all of them: `binary_any` (EQ..OR give bool results). */
typedef enum hub_binop {
  HUB_BIN_ADD, HUB_BIN_SUB, HUB_BIN_MUL, HUB_BIN_DIV,
  HUB_BIN_POW, HUB_BIN_FMOD, HUB_BIN_REMAINDER, HUB_BIN_MIN, HUB_BIN_MAX,
  HUB_BIN_EQ, HUB_BIN_NE, HUB_BIN_LT, HUB_BIN_LE, HUB_BIN_GT, HUB_BIN_GE, HUB_BIN_AND, HUB_BIN_OR
} hub_binop;

/* Elementwise functions on any dtype (the `map` slot); NOT and TRUTH give bool (x == 0, x != 0). */
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

/* The geometry of a fused attention call (runtime/op_attention.c builds it).  Entry e = b*H + h
 * (b < B, h < H) of q is the [Lq, D] matrix at q + b*sq[0] + h*sq[1] with row stride sq[2] and
 * unit column stride; k [Lk, D], v [Lk, Dv] and out [Lq, Dv] likewise with sk, sv and so.  In the
 * backward, gq, gk and gv have the strides of q, k and v, and gout those of out; every element of
 * every entry of gq, gk and gv is written.  mask: an additive f32 [B*H, Lq, Lk] view (0 strides
 * broadcast) or NULL.  probs: contiguous [B*H, Lq, Lk], the softmax before dropout, written by the
 * forward and read by the backward.  Dropout with probability p (0: none) on the probabilities,
 * scaled by 1/(1-p): element (e, i, j) is kept when hub_rng_uniform(key, counter + (e*Lq + i)*Lk
 * + j) >= p - the stream hub_dropout would use on a [B, H, Lq, Lk] tensor - so the backward
 * regenerates the mask instead of storing it. */
typedef struct hub_attn {
  int64_t B, H, Lq, Lk, D, Dv;
  int64_t sq[3], sk[3], sv[3], so[3];
  const hub_tensor *mask;
  float scale, p;
  uint64_t key, counter;
} hub_attn;

typedef struct hub_backend {
  const char *name;
  /* dst = src elementwise with dtype conversion; same shape (src may have 0 strides). */
  int (*copy)(hub_tensor *dst, const hub_tensor *src);
  int (*fill)(hub_tensor *t, double v);
  /* out = a op b; a and b already expanded to out's shape (0 strides); f32. */
  int (*binary)(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
  /* out = a op b for any hub_binop; a and b of one dtype (f32, i32, i64, u8 or bool) expanded
   * to out's shape; out bool for comparisons, logical ops and bool operands, else a's dtype.
   * Integer arithmetic wraps; an integer fmod/remainder by zero or a negative integer power is
   * an error (not a signal). */
  int (*binary_any)(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
  /* y = op(x) for a hub_mapop; x strided (f32, i32, i64, u8 or bool), y of x's shape and dtype
   * (bool for NOT and TRUTH). */
  int (*map)(int op, const hub_tensor *x, hub_tensor *y);
  /* out[k] = the k-th element of x (contiguous) where mask (contiguous bool/u8, x's shape) is
   * set; masked_scatter is the reverse: dst[i] = src[k] at the k-th set position. */
  int (*masked_select)(const hub_tensor *x, const hub_tensor *mask, hub_tensor *out);
  int (*masked_scatter)(hub_tensor *dst, const hub_tensor *mask, const hub_tensor *src);
  /* Along the middle dimension of contiguous [outer, n, inner] operands with an i64 index
   * [outer, k, inner] (each in [0, n), checked before anything is written):
   * gather: out[o, j, i] = x[o, index[o, j, i], i] (any dtype);
   * scatter: dst[o, index[o, j, i], i] = src[o, j, i], or += when add (f32, i64, i32); serial,
   * in index order. */
  int (*gather_dim)(const hub_tensor *x, const hub_tensor *index, hub_tensor *out);
  int (*scatter_dim)(hub_tensor *dst, const hub_tensor *index, const hub_tensor *src, int add);
  /* Stable sort of each line of x [outer, n, inner] (f32 or i64, contiguous) along the middle
   * dimension: values (x's dtype) and positions (i64); NaN is the largest. */
  int (*sort)(const hub_tensor *x, int descending, hub_tensor *values, hub_tensor *indices);
  /* Running sum along the middle dimension (from the end when reverse); f32 or i64. */
  int (*cumsum)(const hub_tensor *x, int reverse, hub_tensor *out);
  /* The unary functions and their derivatives for f64 tensors (contiguous), alpha and beta in
   * double.  The matmul and reduce slots take f64 operands too (out of the same dtype). */
  int (*unary_f64)(int op, const hub_tensor *x, hub_tensor *y, double alpha, double beta);
  int (*unary_f64_backward)(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx,
                            double alpha);
  /* a += alpha * b in place; b expanded to a's shape; f32. */
  int (*axpy)(hub_tensor *a, const hub_tensor *b, float alpha);
  /* y = op(x) (x contiguous f32, y contiguous f32). */
  int (*unary)(int op, const hub_tensor *x, hub_tensor *y, float alpha, float beta);
  /* gx = gy * op'(x) (x, gy, gx contiguous f32). */
  int (*unary_backward)(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx,
                        float alpha, float beta);
  /* out[..., M, N] = act(a[..., M, K] b[..., K, N] (+ bias[N])); a and b strided views with
   * batch dimensions already expanded to out's (0 strides allowed); out contiguous f32.  act is
   * -1 (none) or HUB_UN_RELU, HUB_UN_TANH, HUB_UN_GELU_ERF or HUB_UN_GELU_TANH (no gradient:
   * hub_linear_act uses it only when nothing is recorded). */
  int (*matmul)(const hub_tensor *a, const hub_tensor *b, const hub_tensor *bias, int act,
                hub_tensor *out);
  /* Reduces x (contiguous f32) over dim into out (same ndim, size 1 at dim, contiguous).
   * For HUB_RED_MAX, idx (i64, like out) receives the first position of the maximum (may be NULL). */
  int (*reduce)(int op, const hub_tensor *x, int dim, hub_tensor *out, hub_tensor *idx);
  /* y = softmax or log_softmax of x over dim (contiguous f32). */
  int (*softmax)(const hub_tensor *x, int dim, int log, hub_tensor *y);
  int (*softmax_backward)(const hub_tensor *y, const hub_tensor *gy, int dim, int log,
                          hub_tensor *gx);
  /* x viewed as [rows, n] (contiguous); w, b [n] or NULL; mean, rstd [rows] f32 outputs. */
  int (*layer_norm)(const hub_tensor *x, const hub_tensor *w, const hub_tensor *b, float eps,
                    hub_tensor *y, hub_tensor *mean, hub_tensor *rstd);
  /* gw, gb may be NULL (not wanted). */
  int (*layer_norm_backward)(const hub_tensor *x, const hub_tensor *w, const hub_tensor *mean,
                             const hub_tensor *rstd, const hub_tensor *gy, hub_tensor *gx,
                             hub_tensor *gw, hub_tensor *gb);
  /* mask (u8, contiguous) = uniform >= p from the reserved stream; y = x * mask / (1 - p). */
  int (*dropout)(const hub_tensor *x, float p, uint64_t key, uint64_t counter, hub_tensor *y,
                 hub_tensor *mask);
  /* out = gy * mask / (1 - p). */
  int (*dropout_backward)(const hub_tensor *gy, const hub_tensor *mask, float p, hub_tensor *gx);
  /* x viewed as [outer, n, inner] (contiguous); ids [k] i64/i32 in [0, n) (checked here);
   * out [outer, k, inner]. */
  int (*gather)(const hub_tensor *x, const hub_tensor *ids, hub_tensor *out);
  /* gx [outer, n, inner] += gy [outer, k, inner] at ids (duplicates accumulate). */
  int (*scatter_add)(hub_tensor *gx, const hub_tensor *ids, const hub_tensor *gy);
  /* out = cond ? a : b; all expanded to out's shape; cond bool/u8. */
  int (*where)(const hub_tensor *cond, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
  /* logits [N, C] contiguous; target [N]; loss scalar out; lse [N] saved for backward;
   * count of targets that are not ignore_index written to *count. */
  int (*cross_entropy)(const hub_tensor *logits, const hub_tensor *target, int64_t ignore_index,
                       float smoothing, hub_tensor *loss, hub_tensor *lse, int64_t *count);
  int (*cross_entropy_backward)(const hub_tensor *logits, const hub_tensor *target,
                                const hub_tensor *lse, int64_t ignore_index, float smoothing,
                                float gscale, hub_tensor *glogits);
  /* Fused scaled-dot-product attention over the B*H entries (b, h); see hub_attn below. */
  int (*attention)(const hub_attn *a, const float *q, const float *k, const float *v, float *out,
                   float *probs);
  int (*attention_backward)(const hub_attn *a, const float *q, const float *k, const float *v,
                            const float *probs, const float *gout, float *gq, float *gk, float *gv);
  /* Fused optimiser updates (hub_optim.h); all tensors contiguous f32 of one shape. */
  int (*sgd_step)(hub_tensor *p, const hub_tensor *g, hub_tensor *buf, float lr, float momentum,
                  float dampening, float weight_decay, int nesterov, int first);
  int (*adam_step)(hub_tensor *p, const hub_tensor *g, hub_tensor *m, hub_tensor *v, float lr,
                   float beta1, float beta2, float eps, float weight_decay, int decoupled,
                   int64_t step);
  /* Sum of squares (double accumulation) of a contiguous f32 tensor; t *= s in place. */
  double (*sum_squares)(const hub_tensor *t);
  int (*scale)(hub_tensor *t, float s);
  /* Paddle's GRU (hub_paddle.h): x [B, T, 3H], w [H, 3H] (Wg [H, 2H] then Wc [H, H]), b [3H] or
   * NULL, out [B, T, H], all contiguous f32; lengths [B] in host memory, each in 0..T (checked by
   * the op).  Padded positions of out are written 0. */
  int (*gru)(const hub_tensor *x, const hub_tensor *w, const hub_tensor *b, const int64_t *lengths,
             int reverse, int origin_mode, hub_tensor *out);
  /* Viterbi: emission [B, T, C], transition [C+2, C] contiguous f32; lengths [B] host memory;
   * path [B, T] i64 (-1 at padded positions). */
  int (*crf_decode)(const hub_tensor *emission, const hub_tensor *transition,
                    const int64_t *lengths, hub_tensor *path);
  /* Linear-chain CRF negative log-likelihood (hub_crf_nll): emission [B, L, C] and transition
   * [C+2, C] (start row, end row, then C rows: crf_decode's layout) contiguous f32; tags [B*L]
   * and lengths [B] in host memory, each length in 0..L and each tag at t < length in 0..C-1
   * (checked by the op); nll [B] f32.  The backward writes the gradient of sum_b gnll[b] *
   * nll[b] into gemission ([B, L, C], 0 at padded positions) and gtransition ([C+2, C]); either
   * may be NULL (not wanted). */
  int (*crf_nll)(const hub_tensor *emission, const int64_t *tags, const int64_t *lengths,
                 const hub_tensor *transition, hub_tensor *nll);
  int (*crf_nll_backward)(const hub_tensor *emission, const int64_t *tags, const int64_t *lengths,
                          const hub_tensor *transition, const hub_tensor *gnll,
                          hub_tensor *gemission, hub_tensor *gtransition);
  /* Threads for this backend's parallel loops. */
  void (*set_num_threads)(int n);
} hub_backend;

/* The table for a device, or NULL with an error when that backend is not built/available. */
const hub_backend *hub_backend_for(int device);
/* Registration (called by each backend once). */
void hub_backend_register(int device, const hub_backend *b);

#endif
