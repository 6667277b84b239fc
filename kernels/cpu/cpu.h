/* cpu.h - the CPU kernels behind the CPU backend table (backend_cpu.c).  Each follows the
 * contract of its kernel id in runtime/backend.h (HUB_KERNELS).  oneDNN primitives are created once per shape and
 * kept in the cache of dnnl_cache.c; the rest are OpenMP loops. */
#ifndef HUB_CPU_H
#define HUB_CPU_H

#include "backend.h"

/* copy.c */
int cpu_copy(hub_tensor *dst, const hub_tensor *src);
int cpu_fill(hub_tensor *t, double v);
/* binary.c */
int cpu_binary(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
int cpu_axpy(hub_tensor *a, const hub_tensor *b, float alpha);
int cpu_where(const hub_tensor *cond, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
/* elementwise.c (any dtype) */
int cpu_binary_any(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out);
int cpu_map(int op, const hub_tensor *x, hub_tensor *y);
int cpu_masked_select(const hub_tensor *x, const hub_tensor *mask, hub_tensor *out);
int cpu_masked_scatter(hub_tensor *dst, const hub_tensor *mask, const hub_tensor *src);
/* sort.c */
int cpu_gather_dim(const hub_tensor *x, const hub_tensor *index, hub_tensor *out);
int cpu_scatter_dim(hub_tensor *dst, const hub_tensor *index, const hub_tensor *src, int add);
int cpu_sort(const hub_tensor *x, int descending, hub_tensor *values, hub_tensor *indices);
int cpu_cumsum(const hub_tensor *x, int reverse, hub_tensor *out);
/* f64.c (plain loops for f64 tensors) */
int cpu_unary_f64(int op, const hub_tensor *x, hub_tensor *y, double alpha, double beta);
int cpu_unary_f64_backward(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx,
                           double alpha);
int cpu_matmul_f64(const hub_tensor *a, const hub_tensor *b, const hub_tensor *bias, int act,
                   hub_tensor *out);
int cpu_reduce_f64(int op, const hub_tensor *x, int dim, hub_tensor *out, hub_tensor *idx);
/* unary.c (oneDNN eltwise) */
int cpu_unary(int op, const hub_tensor *x, hub_tensor *y, float alpha, float beta);
int cpu_unary_backward(int op, const hub_tensor *x, const hub_tensor *gy, hub_tensor *gx,
                       float alpha, float beta);
/* matmul.c (oneDNN matmul) */
int cpu_matmul(const hub_tensor *a, const hub_tensor *b, const hub_tensor *bias, int act,
               hub_tensor *out);
/* reduce.c */
int cpu_reduce(int op, const hub_tensor *x, int dim, hub_tensor *out, hub_tensor *idx);
/* softmax.c (oneDNN softmax / logsoftmax) */
int cpu_softmax(const hub_tensor *x, int dim, int log, hub_tensor *y);
int cpu_softmax_backward(const hub_tensor *y, const hub_tensor *gy, int dim, int log,
                         hub_tensor *gx);
/* layer_norm.c (oneDNN layer normalization) */
int cpu_layer_norm(const hub_tensor *x, const hub_tensor *r, const hub_tensor *w,
                   const hub_tensor *b, float eps, hub_tensor *y, hub_tensor *s, hub_tensor *mean,
                   hub_tensor *rstd);
int cpu_layer_norm_backward(const hub_tensor *x, const hub_tensor *w, const hub_tensor *mean,
                            const hub_tensor *rstd, const hub_tensor *gy, hub_tensor *gx,
                            hub_tensor *gw, hub_tensor *gb);
/* dropout.c */
int cpu_dropout(const hub_tensor *x, float p, uint64_t key, uint64_t counter, hub_tensor *y,
                hub_tensor *mask);
int cpu_dropout_backward(const hub_tensor *gy, const hub_tensor *mask, float p, hub_tensor *gx);
/* index.c */
int cpu_gather(const hub_tensor *x, const hub_tensor *ids, hub_tensor *out);
int cpu_scatter_add(hub_tensor *gx, const hub_tensor *ids, const hub_tensor *gy);
/* loss.c */
int cpu_cross_entropy(const hub_tensor *logits, const hub_tensor *target, int64_t ignore_index,
                      float smoothing, hub_tensor *loss, hub_tensor *lse, int64_t *count);
int cpu_cross_entropy_backward(const hub_tensor *logits, const hub_tensor *target,
                               const hub_tensor *lse, int64_t ignore_index, float smoothing,
                               float gscale, hub_tensor *glogits);
/* attention.c (hub_attn: runtime/backend.h) */
int cpu_attention(const hub_attn *a, const hub_tensor *q, const hub_tensor *k, const hub_tensor *v,
                  hub_tensor *out, hub_tensor *probs);
int cpu_attention_backward(const hub_attn *a, const hub_tensor *q, const hub_tensor *k,
                           const hub_tensor *v, const hub_tensor *probs, const hub_tensor *gout,
                           hub_tensor *gq, hub_tensor *gk, hub_tensor *gv);

/* optim.c */
int cpu_sgd_step(hub_tensor *p, const hub_tensor *g, hub_tensor *buf, float lr, float momentum,
                 float dampening, float weight_decay, int nesterov, int first);
int cpu_adam_step(int n, hub_tensor *const *p, const hub_tensor *const *g, hub_tensor *const *m, hub_tensor *const *v,
                  const int64_t *steps, float lr, float beta1, float beta2, float eps, float weight_decay, int decoupled);
int cpu_sum_squares(int n, const hub_tensor *const *ts, double *out);
int cpu_scale(int n, hub_tensor *const *ts, float s);

/* gru.c (per-step dnnl_sgemm), crf.c */
int cpu_gru(const hub_tensor *x, const hub_tensor *w, const hub_tensor *b, const int64_t *lengths,
            int reverse, int origin_mode, hub_tensor *out);
int cpu_crf_decode(const hub_tensor *emission, const hub_tensor *transition,
                   const int64_t *lengths, hub_tensor *path);
/* crf_nll.c */
int cpu_crf_nll(const hub_tensor *emission, const int64_t *tags, const int64_t *lengths,
                const hub_tensor *transition, hub_tensor *nll);
int cpu_crf_nll_backward(const hub_tensor *emission, const int64_t *tags, const int64_t *lengths,
                         const hub_tensor *transition, const hub_tensor *gnll, hub_tensor *gemission,
                         hub_tensor *gtransition);

/* dnnl_cache.c: the shared engine, a per-thread stream and the primitive cache. */
#include <oneapi/dnnl/dnnl.h>
dnnl_engine_t cpu_dnnl_engine(void);
dnnl_stream_t cpu_dnnl_stream(void);
/* The attribute every cached primitive is created with (user scratchpad: see dnnl_cache.c), and
 * the same mode set on an attribute of one's own (returns 0, or -1). */
const_dnnl_primitive_attr_t cpu_dnnl_attr(void);
int cpu_dnnl_attr_user(dnnl_primitive_attr_t attr);
/* A cached primitive, held by reference between lookup and execution. */
typedef struct cpu_prim cpu_prim;
/* Looks up a primitive by key (any bytes) and acquires it; NULL when absent. */
cpu_prim *cpu_dnnl_cache_get(const void *key, size_t keylen);
/* Stores p under key (the cache owns it afterwards) and returns it acquired - or the entry
 * another thread stored first (p is then destroyed).  NULL with an error when out of memory. */
cpu_prim *cpu_dnnl_cache_put(const void *key, size_t keylen, dnnl_primitive_t p);
/* Lets go of an acquired primitive without running it (cpu_dnnl_exec lets go itself). */
void cpu_dnnl_release(cpu_prim *c);
/* Number of cached primitives; the bound (entries; 0 restores HUB_PRIMITIVE_CACHE or 1024). */
size_t cpu_dnnl_cache_count(void);
void cpu_dnnl_cache_set_limit(size_t n);
/* A memory descriptor for a tensor's geometry (strides kept). */
int cpu_dnnl_md(dnnl_memory_desc_t *md, int ndim, const int64_t *shape, const int64_t *stride);
/* The same for a tensor of dtype (f32, bf16 or f16). */
int cpu_dnnl_md_dt(dnnl_memory_desc_t *md, int ndim, const int64_t *shape, const int64_t *stride, int dtype);
/* Executes c with (arg, tensor data) pairs (memories wrap the data without copying), then lets
 * go of c. */
int cpu_dnnl_exec(const char *op, cpu_prim *c, int nargs, const int *args,
                  const dnnl_memory_desc_t *mds, void *const *ptrs);

#endif
