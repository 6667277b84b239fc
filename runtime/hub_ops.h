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
hub_tensor *hub_add(hub_tensor *a, hub_tensor *b);
hub_tensor *hub_sub(hub_tensor *a, hub_tensor *b);
hub_tensor *hub_mul(hub_tensor *a, hub_tensor *b);
hub_tensor *hub_div(hub_tensor *a, hub_tensor *b);
/* a + alpha*b in place into a (not recorded; for optimizers and gradient accumulation). */
int hub_add_(hub_tensor *a, hub_tensor *b, double alpha);

/* ---- scalar forms ---- */
hub_tensor *hub_add_scalar(hub_tensor *a, double s);   /* a + s */
hub_tensor *hub_mul_scalar(hub_tensor *a, double s);   /* a * s */
hub_tensor *hub_rsub_scalar(hub_tensor *a, double s);  /* s - a */
hub_tensor *hub_rdiv_scalar(hub_tensor *a, double s);  /* s / a */
hub_tensor *hub_pow(hub_tensor *a, double p);          /* a ^ p */

/* ---- elementwise unary ---- */
hub_tensor *hub_neg(hub_tensor *a);
hub_tensor *hub_exp(hub_tensor *a);
hub_tensor *hub_log(hub_tensor *a);
hub_tensor *hub_sqrt(hub_tensor *a);
hub_tensor *hub_rsqrt(hub_tensor *a);
hub_tensor *hub_abs(hub_tensor *a);
hub_tensor *hub_relu(hub_tensor *a);
hub_tensor *hub_tanh(hub_tensor *a);
hub_tensor *hub_sigmoid(hub_tensor *a);
/* approximate = 0: x*Phi(x) with erf; 1: the tanh form. */
hub_tensor *hub_gelu(hub_tensor *a, int approximate);

/* ---- matrix products ---- */
/* 1-d and 2-d as torch.matmul; >2-d is a batched product with broadcast batch dimensions.
 * Transposed operands (views) are used in place, never copied. */
hub_tensor *hub_matmul(hub_tensor *a, hub_tensor *b);
/* x[..., in] times w[out, in] transposed, plus bias[out] (bias may be NULL). */
hub_tensor *hub_linear(hub_tensor *x, hub_tensor *w, hub_tensor *bias);
/* act(x w^T + b) with act "relu", "tanh", "gelu" (erf) or "gelu_tanh".  When nothing is
 * recorded (grad mode off or no input requires grad) the activation runs inside the product
 * (a oneDNN post-op: no second pass over the output); otherwise it is linear then the activation
 * op, with their gradients. */
hub_tensor *hub_linear_act(hub_tensor *x, hub_tensor *w, hub_tensor *b, const char *act);

/* ---- reductions over dims (ndims = 0 reduces everything) ---- */
hub_tensor *hub_sum(hub_tensor *a, int ndims, const int *dims, int keepdim);
hub_tensor *hub_mean(hub_tensor *a, int ndims, const int *dims, int keepdim);
hub_tensor *hub_max(hub_tensor *a, int dim, int keepdim);      /* values; gradient to the first max */
hub_tensor *hub_argmax(hub_tensor *a, int dim, int keepdim);   /* i64, 0-based; not differentiable */
/* Sums `a` down to `shape` (the inverse of broadcasting). */
hub_tensor *hub_sum_to(hub_tensor *a, int ndim, const int64_t *shape);

/* ---- normalisation and activations over a dimension ---- */
hub_tensor *hub_softmax(hub_tensor *a, int dim);
hub_tensor *hub_log_softmax(hub_tensor *a, int dim);
/* Over the last `normalized_ndim` dimensions; weight and bias may be NULL. */
hub_tensor *hub_layer_norm(hub_tensor *x, int normalized_ndim, hub_tensor *weight,
                           hub_tensor *bias, double eps);
/* Zeroes elements with probability p and scales the rest by 1/(1-p); identity when !train. */
hub_tensor *hub_dropout(hub_tensor *x, double p, int train);

/* ---- indexing ---- */
/* weight[V, D] gathered by ids (any shape, 0-based) -> [..., D]. Backward scatter-adds. */
hub_tensor *hub_embedding(hub_tensor *weight, hub_tensor *ids);
/* The same with a padding row (torch's padding_idx): row padding_idx (0 <= padding_idx < V)
 * gets no gradient; padding_idx < 0 means none. */
hub_tensor *hub_embedding_padded(hub_tensor *weight, hub_tensor *ids, int64_t padding_idx);
hub_tensor *hub_index_select(hub_tensor *a, int dim, hub_tensor *index);
/* mask (bool/u8, broadcast to a) set to value. */
hub_tensor *hub_masked_fill(hub_tensor *a, hub_tensor *mask, double value);
/* cond ? a : b, all broadcast together. */
hub_tensor *hub_where(hub_tensor *cond, hub_tensor *a, hub_tensor *b);
hub_tensor *hub_concat(int n, hub_tensor **ts, int dim);
/* Splits dim into pieces of the given sizes; writes n new references into out. */
int hub_split(hub_tensor *a, int dim, int n, const int64_t *sizes, hub_tensor **out);

/* ---- losses ---- */
/* logits [N, C] (or [C]), target i64/i32 [N] of 0-based classes; mean over targets that are not
 * ignore_index; label_smoothing in [0, 1). */
hub_tensor *hub_cross_entropy(hub_tensor *logits, hub_tensor *target, int64_t ignore_index,
                              double label_smoothing);
/* mean((a - b)^2) */
hub_tensor *hub_mse_loss(hub_tensor *a, hub_tensor *b);

/* ---- attention ---- */
/* softmax(q k^T * scale + mask) v with q [.., Lq, D], k and v [.., Lk, D]; mask is additive
 * (broadcast to [.., Lq, Lk]) or NULL; scale <= 0 means 1/sqrt(D).  Fused: the probabilities
 * are computed once and kept for the backward. */
hub_tensor *hub_attention(hub_tensor *q, hub_tensor *k, hub_tensor *v, hub_tensor *mask,
                          double scale);
/* Multi-head self-attention on a packed projection, as nn.MultiHeadAttention uses it: qkv
 * [B, L, 3*Dm] holds q, k and v per token ([3, heads, Dm/heads]); returns the context [B, L, Dm]
 * with the heads merged: softmax(q k^T * scale + mask) v per head, without splitting or merging
 * copies.  mask is additive and broadcasts to [B, heads, L, L] (a key-padding mask is [B, 1, 1, L])
 * or NULL; scale <= 0 means 1/sqrt(Dm/heads).  dropout p in [0, 1) on the probabilities, inside
 * the kernel, from the seeded stream (the numbers hub_dropout would draw for [B, heads, L, L]; pass
 * 0 outside training).  Only qkv gets a gradient. */
hub_tensor *hub_attention_qkv(hub_tensor *qkv, hub_tensor *mask, int64_t heads, double scale,
                              double p);

/* ---- linear-chain CRF (op_crf.c) ----
 * Scores of a tag path y over n positions: start[y0] + sum_t emissions[t, y_t] +
 * sum_t transitions[y_(t-1), y_t] + end[y_(n-1)] (transitions[i, j]: from tag i to tag j).
 * emissions [B, L, C] float; transitions [C, C], start [C], end [C] float; sequence b covers
 * positions 0..n_b-1, with n_b from lengths [B] (i32/i64, 0..L) or from mask [B, L] (any dtype,
 * nonzero = real; each row ones first, then zeros) - at most one of the two, all L when both are
 * NULL. */
/* The negative log-likelihood per sequence, log Z - score(gold), [B] f32, Z the sum of exp(score)
 * over every path (the forward algorithm in log space, double precision).  tags [B, L] i32/i64,
 * 0-based, in 0..C-1 at real positions (anything at padded ones).  A length-0 sequence gives 0.
 * Differentiable in emissions, transitions, start and end (the forward-backward marginals minus
 * the gold counts). */
hub_tensor *hub_crf_nll(hub_tensor *emissions, hub_tensor *tags, hub_tensor *lengths, hub_tensor *mask,
                        hub_tensor *transitions, hub_tensor *start, hub_tensor *end);
/* The best path of each sequence (Viterbi, hub_crf_decode's kernel): [B, L] i64 tag ids, -1 at
 * padded positions; ties go to the lowest tag id.  Not recorded. */
hub_tensor *hub_crf_viterbi(hub_tensor *emissions, hub_tensor *lengths, hub_tensor *mask,
                            hub_tensor *transitions, hub_tensor *start, hub_tensor *end);

#endif
