/* cuda.h - the CUDA backend's own declarations, shared by its C table (backend_cuda.c) and its
 * .cu files (compiled by nvcc as C++; they include this inside extern "C").
 *
 * Layout of kernels/cuda/:
 *   backend_cuda.c  the hub_backend table (C: it uses the designated initialisers of backend.h),
 *                   supports(kernel, dtype) and the probe that registers the device
 *   buffer.cu       the device, its stream, the caching allocator over cudaMalloc (bounded, with
 *                   hub_mem_stats), host <-> device copies through pinned staging buffers,
 *                   device-to-device copies, memset, synchronize, CUDA graphs (capture with a
 *                   private pool, replay)
 *   elementwise.cu  copy/convert, fill, binary (+ - * /), axpy, where, the unary maps and their
 *                   derivatives, dropout, the optimiser updates
 *   nn.cu           reduce, softmax, layer_norm, gather / scatter_add, cross-entropy
 *   attention.cu    the fused attention: plain, tiled, flash (inference) forwards; plain and
 *                   tiled backwards; their first-use self-check
 *   anydtype.cu     binary ops, comparisons and the map functions on f64 / integer / bool
 *                   tensors, the f64 unary functions and their derivatives
 *   index.cu        gather / scatter along a dimension, sort, cumsum, masked_select / scatter
 *   paddle.cu       Paddle's GRU, CRF Viterbi decoding, the CRF's NLL and its gradient
 *   matmul.cu       GEMM through cuBLAS (cublasGemmStridedBatchedEx) and the bias/activation pass
 *
 * Everything runs on one stream of one device (HUB_CUDA_DEVICE, default 0), so work is ordered and
 * a freed block can be handed out again at once.  Kernels return 0 or -1 with hub_err(); a kernel
 * launch failure is reported where it happens, an asynchronous fault at the next synchronising
 * call (a copy to the host, synchronize).
 */
#ifndef HUB_CUDA_H
#define HUB_CUDA_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- buffer.cu ---- */
/* Finds the device once: 0 and sets up the stream, cuBLAS and the staging buffers, or -1 with the
 * reason in hub_err ("no CUDA device (...)"). */
int cuda_init(void);
int cuda_device_count(void);
/* Name of device i ("NVIDIA H200"), or NULL with an error. */
const char *cuda_device_name(int i);
int cuda_current_device(void);
void *cuda_alloc(size_t nbytes);
void cuda_free(void *p, size_t nbytes);
int cuda_copy_in(void *dst, const void *host, size_t nbytes);
int cuda_copy_out(void *host, const void *src, size_t nbytes);
int cuda_copy_d2d(void *dst, const void *src, size_t nbytes);
int cuda_memset(void *dst, int byte, size_t nbytes);
int cuda_synchronize(void);
/* CUDA graphs (buffer.cu): cuda_graph_begin starts capturing the stream (allocations from then on
 * come from a private pool that the graph keeps); cuda_graph_end(keep) ends it and returns the
 * instantiated graph (NULL: an error, or keep == 0); cuda_graph_replay launches it; cuda_graph_free
 * destroys it and gives its pool's free blocks back.  cuda_capturing: 1 during a capture (host
 * copies, read-backs and synchronisations are refused with a message then). */
int cuda_graph_begin(void);
void *cuda_graph_end(int keep);
int cuda_graph_replay(void *g);
void cuda_graph_free(void *g);
int cuda_capturing(void);
void cuda_mem_stats(hub_mem_stats *out);
void cuda_empty_cache(void);
void cuda_set_cache_limit(int64_t bytes);
/* Total and free device memory in bytes (cudaMemGetInfo). */
int cuda_mem_info(int64_t *free_bytes, int64_t *total_bytes);
/* The stream and the cuBLAS handle (void * here so that C files need no CUDA headers). */
void *cuda_stream(void);
void *cuda_cublas(void);
/* 0, or -1 with "cuda: <what>: <the CUDA error>" for the last launch. */
int cuda_check(const char *what);
/* Serialises calls on the shared cuBLAS handle (a handle must not be used by two threads at once). */
void cuda_cublas_lock(void);
void cuda_cublas_unlock(void);
/* TF32 for f32 GEMMs (0 off, the default: results match the CPU to f32 rounding). */
void cuda_set_tf32(int on);
int cuda_get_tf32(void);

/* ---- elementwise.cu ---- */
int cuda_copy(hub_tensor *dst, const hub_tensor *src);
int cuda_fill(hub_tensor *t, double v);
int cuda_binary(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
int cuda_axpy(hub_tensor *a, const hub_tensor *b, float alpha);
int cuda_where(const hub_tensor *cond, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
int cuda_unary(int op, const hub_tensor *x, hub_tensor *y, float alpha, float beta);
int cuda_unary_backward(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx, float alpha,
                        float beta);
int cuda_dropout(const hub_tensor *x, float p, uint64_t key, uint64_t counter, hub_tensor *y, hub_tensor *mask);
int cuda_dropout_backward(const hub_tensor *gy, const hub_tensor *mask, float p, hub_tensor *gx);
int cuda_sgd_step(hub_tensor *p, const hub_tensor *g, hub_tensor *buf, float lr, float momentum, float dampening,
                  float weight_decay, int nesterov, int first);
/* Adam/AdamW, sums of squares and scaling of n tensors at once: one launch (a table of the
 * tensors on the device, each block finding its tensor), the sums read back once. */
int cuda_adam_step(int n, hub_tensor *const *p, const hub_tensor *const *g, hub_tensor *const *m,
                   hub_tensor *const *v, const int64_t *steps, float lr, float beta1, float beta2, float eps,
                   float weight_decay, int decoupled);
int cuda_sum_squares(int n, const hub_tensor *const *ts, double *out);
int cuda_scale(int n, hub_tensor *const *ts, float s);
/* out[i] = act(out[i] + bias[i % n]) in place on a contiguous [rows, n] f32 buffer (bias may be
 * NULL, act -1 for none); the GEMM's epilogue. */
int cuda_bias_act(float *out, const float *bias, int64_t rows, int64_t n, int act);

/* ---- nn.cu ---- */
int cuda_reduce(int op, const hub_tensor *x, int dim, hub_tensor *out, hub_tensor *idx);
int cuda_softmax(const hub_tensor *x, int dim, int log, hub_tensor *y);
int cuda_softmax_backward(const hub_tensor *y, const hub_tensor *gy, int dim, int log, hub_tensor *gx);
int cuda_layer_norm(const hub_tensor *x, const hub_tensor *r, const hub_tensor *w, const hub_tensor *b, float eps,
                    hub_tensor *y, hub_tensor *s, hub_tensor *mean, hub_tensor *rstd);
int cuda_layer_norm_backward(const hub_tensor *x, const hub_tensor *w, const hub_tensor *mean,
                             const hub_tensor *rstd, const hub_tensor *gy, hub_tensor *gx, hub_tensor *gw,
                             hub_tensor *gb);
int cuda_gather(const hub_tensor *x, const hub_tensor *ids, hub_tensor *out);
int cuda_scatter_add(hub_tensor *gx, const hub_tensor *ids, const hub_tensor *gy);
int cuda_cross_entropy(const hub_tensor *logits, const hub_tensor *target, int64_t ignore_index, float smoothing,
                       hub_tensor *loss, hub_tensor *lse, int64_t *count);
int cuda_cross_entropy_backward(const hub_tensor *logits, const hub_tensor *target, const hub_tensor *lse,
                                int64_t ignore_index, float smoothing, float gscale, hub_tensor *glogits);
/* ---- attention.cu ---- */
int cuda_attention(const hub_attn *a, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
                   hub_tensor *out, hub_tensor *probs);
int cuda_attention_backward(const hub_attn *a, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
                            const hub_tensor *probs, const hub_tensor *gout, hub_tensor *gq, hub_tensor *gk,
                            hub_tensor *gv);
int cuda_attention_backward_recompute(const hub_attn *a, const hub_tensor *q, const hub_tensor *k,
                                      const hub_tensor *v, const hub_tensor *gout, hub_tensor *gq, hub_tensor *gk,
                                      hub_tensor *gv);

/* ---- anydtype.cu ---- */
int cuda_binary_any(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
int cuda_map(int op, const hub_tensor *x, hub_tensor *y);
int cuda_unary_f64(int op, const hub_tensor *x, hub_tensor *y, double alpha, double beta);
int cuda_unary_f64_backward(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx, double alpha);

/* ---- index.cu ---- */
int cuda_gather_dim(const hub_tensor *x, const hub_tensor *index, hub_tensor *out);
int cuda_scatter_dim(hub_tensor *dst, const hub_tensor *index, const hub_tensor *src, int add);
int cuda_sort(const hub_tensor *x, int descending, hub_tensor *values, hub_tensor *indices);
int cuda_cumsum(const hub_tensor *x, int reverse, hub_tensor *out);
int cuda_masked_select(const hub_tensor *x, const hub_tensor *mask, hub_tensor *out);
int cuda_masked_scatter(hub_tensor *dst, const hub_tensor *mask, const hub_tensor *src);

/* ---- paddle.cu ---- */
int cuda_gru(const hub_tensor *x, const hub_tensor *w, const hub_tensor *b, const int64_t *lengths, int reverse,
             int origin_mode, hub_tensor *out);
int cuda_crf_decode(const hub_tensor *emission, const hub_tensor *transition, const int64_t *lengths, hub_tensor *path);
int cuda_crf_nll(const hub_tensor *emission, const int64_t *tags, const int64_t *lengths, const hub_tensor *transition,
                 hub_tensor *nll);
int cuda_crf_nll_backward(const hub_tensor *emission, const int64_t *tags, const int64_t *lengths,
                          const hub_tensor *transition, const hub_tensor *gnll, hub_tensor *gemission,
                          hub_tensor *gtransition);

/* ---- matmul.cu ---- */
int cuda_matmul(const hub_tensor *a, const hub_tensor *b, const hub_tensor *bias, int act, hub_tensor *out);
/* A plain GEMM on device buffers for the benchmark and the tests: C[M, N] (f32) = A[M, K] B[K, N],
 * row-major contiguous, A and B of dtype (f32, f16 or bf16; f32 accumulation), `batch` of them
 * back to back.  Not recorded, no checks beyond the dtype. */
int cuda_gemm_raw(int dtype, int64_t batch, int64_t M, int64_t N, int64_t K, const void *a, const void *b,
                  float *c);

#ifdef __cplusplus
}
#endif

#endif
