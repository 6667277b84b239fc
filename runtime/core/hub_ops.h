/* hub_ops.h - differentiable tensor operations.
 *
 * Every op checks its arguments (shapes, dtypes, devices) and returns NULL with a message naming
 * the op on bad input, dispatches the computation to the backend of the tensors' device, and
 * records an autograd node when grad mode is on and an input requires gradients.  Arithmetic is
 * in f32 (other float dtypes are accepted where stated and converted); index tensors are i64 or
 * i32 holding 0-based ids.  Dimensions are 0-based; negative ones count from the end.
 */
#ifndef HUB_OPS_H
#define HUB_OPS_H

#include "hub_tensor.h"

/* ---- elementwise binary, with broadcasting (numpy rules) ---- */
HUB_API hub_tensor *hub_add(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_sub(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_mul(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_div(hub_tensor *a, hub_tensor *b);
/* a + alpha*b in place into a (not recorded; for optimizers and gradient accumulation). */
HUB_API int hub_add_(hub_tensor *a, hub_tensor *b, double alpha);

/* Operands of any dtype are promoted first (hub_promote_types): integer with float gives float,
 * bool with integer the integer, f16/bf16 with f32 f32.  Integer results (i64 + i64) are computed
 * exactly in their dtype without autograd; div is true division, so integers divide in f32.
 * Float results are computed in f32 (and returned as f16/bf16 when both operands were). */

/* ---- scalar forms ---- */
/* A number next to a tensor follows PyTorch's rule for Python scalars (hub_result_type_scalar):
 * i64 + 1 stays i64, i64 + 0.5 is f32; a float tensor keeps its dtype. */
HUB_API hub_tensor *hub_add_scalar(hub_tensor *a, double s);   /* a + s */
HUB_API hub_tensor *hub_mul_scalar(hub_tensor *a, double s);   /* a * s */
HUB_API hub_tensor *hub_rsub_scalar(hub_tensor *a, double s);  /* s - a */
HUB_API hub_tensor *hub_rdiv_scalar(hub_tensor *a, double s);  /* s / a */
HUB_API hub_tensor *hub_pow(hub_tensor *a, double p);          /* a ^ p */
/* a ^ b elementwise (broadcast); s ^ a is hub_rpow_scalar.  Differentiable in both for floats. */
HUB_API hub_tensor *hub_pow_tensor(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_rpow_scalar(hub_tensor *a, double s);  /* s ^ a */
/* C's fmod (the sign of a) and Python's remainder (the sign of b); an integer divisor of 0 is an
 * error.  Gradients: 1 for a, -trunc(a/b) (fmod) or -floor(a/b) (remainder) for b. */
HUB_API hub_tensor *hub_fmod(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_remainder(hub_tensor *a, hub_tensor *b);
/* A 0-d tensor holding s in the dtype an op between t and the number s computes in (f32 when t
 * is a float tensor, else hub_result_type_scalar). */
HUB_API hub_tensor *hub_scalar_for(const hub_tensor *t, double s);

/* ---- comparisons and logic (broadcast, promoted; bool results, not differentiable) ---- */
HUB_API hub_tensor *hub_eq(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_ne(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_lt(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_le(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_gt(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_ge(hub_tensor *a, hub_tensor *b);
/* Non-zero is true. */
HUB_API hub_tensor *hub_logical_and(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_logical_or(hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_logical_not(hub_tensor *a);
/* Whether any / all elements are non-zero, over dims (ndims = 0: every dim); bool. */
HUB_API hub_tensor *hub_any(hub_tensor *a, int ndims, const int *dims, int keepdim);
HUB_API hub_tensor *hub_all(hub_tensor *a, int ndims, const int *dims, int keepdim);
/* The elements of a where mask (bool/u8; a and mask broadcast together) is set, in row-major
 * order, as a 1-d tensor.  Differentiable in a. */
HUB_API hub_tensor *hub_masked_select(hub_tensor *a, hub_tensor *mask);

/* ---- piecewise functions (any dtype; integers stay integers) ---- */
/* min(max(a, lo), hi); -inf / inf for no bound.  Gradient where lo <= a <= hi. */
HUB_API hub_tensor *hub_clamp(hub_tensor *a, double lo, double hi);
/* Zero gradient (as torch). */
HUB_API hub_tensor *hub_sign(hub_tensor *a);
HUB_API hub_tensor *hub_floor(hub_tensor *a);
HUB_API hub_tensor *hub_ceil(hub_tensor *a);
HUB_API hub_tensor *hub_round(hub_tensor *a);                  /* half to even, as torch.round */

/* ---- elementwise unary ---- */
HUB_API hub_tensor *hub_neg(hub_tensor *a);
HUB_API hub_tensor *hub_exp(hub_tensor *a);
HUB_API hub_tensor *hub_log(hub_tensor *a);
HUB_API hub_tensor *hub_sqrt(hub_tensor *a);
HUB_API hub_tensor *hub_rsqrt(hub_tensor *a);
HUB_API hub_tensor *hub_abs(hub_tensor *a);
HUB_API hub_tensor *hub_relu(hub_tensor *a);
HUB_API hub_tensor *hub_tanh(hub_tensor *a);
HUB_API hub_tensor *hub_sigmoid(hub_tensor *a);
/* approximate = 0: x*Phi(x) with erf; 1: the tanh form. */
HUB_API hub_tensor *hub_gelu(hub_tensor *a, int approximate);

/* ---- matrix products ---- */
/* 1-d and 2-d as torch.matmul; >2-d is a batched product with broadcast batch dimensions.
 * Transposed operands (views) are used in place, never copied. */
HUB_API hub_tensor *hub_matmul(hub_tensor *a, hub_tensor *b);
/* x[..., in] times w[out, in] transposed, plus bias[out] (bias may be NULL). */
HUB_API hub_tensor *hub_linear(hub_tensor *x, hub_tensor *w, hub_tensor *bias);
/* act(x w^T + b) with act "relu", "tanh", "gelu" (erf) or "gelu_tanh".  When nothing is
 * recorded (grad mode off or no input requires grad) the activation runs inside the product
 * (a oneDNN post-op: no second pass over the output); otherwise it is linear then the activation
 * op, with their gradients. */
HUB_API hub_tensor *hub_linear_act(hub_tensor *x, hub_tensor *w, hub_tensor *b, const char *act);

/* ---- reductions over dims (ndims = 0 reduces everything) ---- */
HUB_API hub_tensor *hub_sum(hub_tensor *a, int ndims, const int *dims, int keepdim);
HUB_API hub_tensor *hub_mean(hub_tensor *a, int ndims, const int *dims, int keepdim);
HUB_API hub_tensor *hub_max(hub_tensor *a, int dim, int keepdim);      /* values; gradient to the first max */
HUB_API hub_tensor *hub_argmax(hub_tensor *a, int dim, int keepdim);   /* i64, 0-based; not differentiable */
HUB_API hub_tensor *hub_min(hub_tensor *a, int dim, int keepdim);      /* values; gradient to the first min */
HUB_API hub_tensor *hub_argmin(hub_tensor *a, int dim, int keepdim);
/* Sums `a` down to `shape` (the inverse of broadcasting). */
HUB_API hub_tensor *hub_sum_to(hub_tensor *a, int ndim, const int64_t *shape);

/* ---- normalisation and activations over a dimension ---- */
HUB_API hub_tensor *hub_softmax(hub_tensor *a, int dim);
HUB_API hub_tensor *hub_log_softmax(hub_tensor *a, int dim);
/* Over the last `normalized_ndim` dimensions; weight and bias may be NULL. */
HUB_API hub_tensor *hub_layer_norm(hub_tensor *x, int normalized_ndim, hub_tensor *weight,
                           hub_tensor *bias, double eps);
/* layer_norm(x + r): the residual add of a post-LN transformer layer fused into the normalisation
 * (one kernel on cuda, no temporary on the cpu); the gradient of x and of r is the same.  r of
 * another shape broadcasts, through hub_add then hub_layer_norm. */
HUB_API hub_tensor *hub_add_layer_norm(hub_tensor *x, hub_tensor *r, int normalized_ndim,
                                       hub_tensor *weight, hub_tensor *bias, double eps);
/* Zeroes elements with probability p and scales the rest by 1/(1-p); identity when !train. */
HUB_API hub_tensor *hub_dropout(hub_tensor *x, double p, int train);

/* ---- indexing ---- */
/* weight[V, D] gathered by ids (any shape, 0-based) -> [..., D]. Backward scatter-adds. */
HUB_API hub_tensor *hub_embedding(hub_tensor *weight, hub_tensor *ids);
/* The same with a padding row (torch's padding_idx): row padding_idx (0 <= padding_idx < V)
 * gets no gradient; padding_idx < 0 means none. */
HUB_API hub_tensor *hub_embedding_padded(hub_tensor *weight, hub_tensor *ids, int64_t padding_idx);
HUB_API hub_tensor *hub_index_select(hub_tensor *a, int dim, hub_tensor *index);
/* mask (bool/u8, broadcast to a) set to value. */
HUB_API hub_tensor *hub_masked_fill(hub_tensor *a, hub_tensor *mask, double value);
/* cond ? a : b, all broadcast together; a and b promoted (hub_promote_types). */
HUB_API hub_tensor *hub_where(hub_tensor *cond, hub_tensor *a, hub_tensor *b);
HUB_API hub_tensor *hub_concat(int n, hub_tensor **ts, int dim);
/* Splits dim into pieces of the given sizes; writes n new references into out. */
HUB_API int hub_split(hub_tensor *a, int dim, int n, const int64_t *sizes, hub_tensor **out);

/* Along dimension dim with an index tensor (i64 or i32, 0-based, as many dimensions as a):
 * gather: out[i][j][k] = a[i][index[i][j][k]][k] (dim 1), out of index's shape (index may be
 * smaller than a outside dim); scatter: a copy of a with out[i][index[i][j][k]][k] = src[i][j][k]
 * (index matches a outside dim; src at least index's shape, converted to a's dtype); scatter_add
 * adds instead (duplicates accumulate).  Out-of-range indices are an error naming the index.
 * Differentiable in a and src. */
HUB_API hub_tensor *hub_gather(hub_tensor *a, int dim, hub_tensor *index);
HUB_API hub_tensor *hub_scatter(hub_tensor *a, int dim, hub_tensor *index, hub_tensor *src);
HUB_API hub_tensor *hub_scatter_add(hub_tensor *a, int dim, hub_tensor *index, hub_tensor *src);
/* Sorted values and their 0-based positions (i64) along dim (stable; NaN largest); values are
 * differentiable (they are a gather).  values or indices may be NULL when not wanted. */
HUB_API int hub_sort(hub_tensor *a, int dim, int descending, hub_tensor **values, hub_tensor **indices);
HUB_API hub_tensor *hub_argsort(hub_tensor *a, int dim, int descending);
/* The k largest (largest = 1) or smallest elements along dim, sorted, with positions. */
HUB_API int hub_topk(hub_tensor *a, int64_t k, int dim, int largest, hub_tensor **values, hub_tensor **indices);
/* Running sum along dim (integers and bool sum in i64). */
HUB_API hub_tensor *hub_cumsum(hub_tensor *a, int dim);
/* n tensors of one shape joined along a new dimension dim (0..ndim; negative from the end). */
HUB_API hub_tensor *hub_stack(int n, hub_tensor **ts, int dim);

/* ---- losses ---- */
/* logits [N, C] (or [C]), target i64/i32 [N] of 0-based classes; mean over targets that are not
 * ignore_index; label_smoothing in [0, 1). */
HUB_API hub_tensor *hub_cross_entropy(hub_tensor *logits, hub_tensor *target, int64_t ignore_index,
                              double label_smoothing);
/* mean((a - b)^2) */
HUB_API hub_tensor *hub_mse_loss(hub_tensor *a, hub_tensor *b);

/* ---- attention ---- */
/* softmax(q k^T * scale + mask) v with q [.., Lq, D], k and v [.., Lk, D]; mask is additive
 * (broadcast to [.., Lq, Lk]) or NULL; scale <= 0 means 1/sqrt(D).  Fused: the probabilities
 * are computed once and kept for the backward. */
HUB_API hub_tensor *hub_attention(hub_tensor *q, hub_tensor *k, hub_tensor *v, hub_tensor *mask,
                          double scale);
/* Multi-head self-attention on a packed projection, as nn.MultiHeadAttention uses it: qkv
 * [B, L, 3*Dm] holds q, k and v per token ([3, heads, Dm/heads]); returns the context [B, L, Dm]
 * with the heads merged: softmax(q k^T * scale + mask) v per head, without splitting or merging
 * copies.  mask is additive and broadcasts to [B, heads, L, L] (a key-padding mask is [B, 1, 1, L])
 * or NULL; scale <= 0 means 1/sqrt(Dm/heads).  dropout p in [0, 1) on the probabilities, inside
 * the kernel, from the seeded stream (the numbers hub_dropout would draw for [B, heads, L, L]; pass
 * 0 outside training).  Only qkv gets a gradient. */
HUB_API hub_tensor *hub_attention_qkv(hub_tensor *qkv, hub_tensor *mask, int64_t heads, double scale,
                              double p);

/* ---- linear-chain CRF (op_crf.c) ----
 * Scores of a tag path y over n positions: start[y0] + sum_t emissions[t, y_t] +
 * sum_t transitions[y_(t-1), y_t] + end[y_(n-1)] (transitions[i, j]: from tag i to tag j).
 * emissions [B, L, C] float; transitions [C, C], start [C], end [C] float; sequence b covers
 * positions 0..n_b-1, with n_b from lengths [B] (i32/i64, 0..L) or from mask [B, L] (any dtype,
 * nonzero = real; each row ones first, then zeros) - at most one of the two, all L when both are
 * NULL. */
/* The negative log-likelihood per sequence, log Z - score(gold), [B] f32, Z the sum of exp(score)
 * over every path (the forward algorithm in log space, double precision).  tags [B, L] i32/i64 (on
 * any device: read to the host, as lengths and mask are),
 * 0-based, in 0..C-1 at real positions (anything at padded ones).  A length-0 sequence gives 0.
 * Differentiable in emissions, transitions, start and end (the forward-backward marginals minus
 * the gold counts). */
HUB_API hub_tensor *hub_crf_nll(hub_tensor *emissions, hub_tensor *tags, hub_tensor *lengths, hub_tensor *mask,
                        hub_tensor *transitions, hub_tensor *start, hub_tensor *end);
/* The best path of each sequence (Viterbi, hub_crf_decode's kernel): [B, L] i64 tag ids, -1 at
 * padded positions; ties go to the lowest tag id.  Not recorded. */
HUB_API hub_tensor *hub_crf_viterbi(hub_tensor *emissions, hub_tensor *lengths, hub_tensor *mask,
                            hub_tensor *transitions, hub_tensor *start, hub_tensor *end);

/* ---- the op table (runtime/ops/op_table.c): every recorded op, for tooling and tests ---- */
/* The number of ops, the table name of op i (0 <= i < count; NULL outside; unique: "pow" of two
 * tensors, "pow_scalar" of a tensor and a number, "to_dtype", "to_device") and its arity (tensor
 * inputs; -1: variable; -2 outside).  A grad_fn is named by the op's own name, which is the table
 * name except pow_scalar's ("pow") and to_dtype's ("to"). */
HUB_API int hub_op_count(void);
HUB_API const char *hub_op_name(int i);
HUB_API int hub_op_arity(int i);

#endif
