/* matmul.c - (batched) matrix products through oneDNN's matmul primitive.
 *
 * Operands are passed with their strides, so transposed views (x^T in a backward pass, w^T in a
 * linear layer) cost nothing: oneDNN reads them in place.  Broadcast batch dimensions (stride 0)
 * become size-1 dimensions in the descriptor, which oneDNN broadcasts itself.  An operand whose
 * last two strides are not a plain row- or column-major layout is copied first.  One primitive is
 * created per geometry and cached (dnnl_cache.c).  The operands are f32, or both bf16 or both
 * f16 (autocast, runtime/ops/op_matmul.c) with an f32 output: oneDNN accumulates in f32 (bf16 needs
 * AVX-512 on x86, and runs at full speed with AVX512_BF16; f16 has no CPU implementation in
 * oneDNN 2.6, which is then an error naming it).
 */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

typedef struct mm_key {
  char kind[8];
  int32_t ndim, has_bias, act, dtype;
  int64_t adims[HUB_MAX_DIMS], astr[HUB_MAX_DIMS];
  int64_t bdims[HUB_MAX_DIMS], bstr[HUB_MAX_DIMS];
  int64_t odims[HUB_MAX_DIMS];
} mm_key;

/* Describes operand t (already expanded to the output's batch dims) for oneDNN. */
static void describe(const hub_tensor *t, int64_t *dims, int64_t *str) {
  int n = t->ndim;
  for (int i = 0; i < n; i++) {
    dims[i] = t->shape[i];
    str[i] = t->stride[i];
    if (i < n - 2 && t->stride[i] == 0) dims[i] = 1;
  }
  /* Size-1 dims may carry any stride; give them a harmless one oneDNN accepts. */
  for (int i = n - 1; i >= 0; i--) {
    if (dims[i] == 1) {
      int64_t s = 1;
      for (int j = i + 1; j < n; j++)
        if (dims[j] * str[j] > s) s = dims[j] * str[j];
      str[i] = s;
    }
  }
}

static int plain(const hub_tensor *t) {
  int n = t->ndim;
  int64_t r = t->shape[n - 2], c = t->shape[n - 1], sr = t->stride[n - 2], sc = t->stride[n - 1];
  if (r == 1 || c == 1) return 1;
  return (sc == 1 && sr >= c) || (sr == 1 && sc >= r);
}

static hub_tensor *packed_copy(const hub_tensor *t) {
  hub_tensor *c = hub_tensor_empty(t->dtype, t->ndim, t->shape, t->device);
  if (c && cpu_copy(c, t)) {
    hub_tensor_release(c);
    return NULL;
  }
  return c;
}

/* Which oneDNN implementation for a 2-d product.  oneDNN 2.6 picks its brgemm matmul by
 * default.  brgemm is fast when the weights are column-major (x w^T, a Linear's forward): at
 * M = 128 it beats "gemm:jit" (the sgemm kernel) by 1.5x (bench/encoder batch 1: 140 vs 196 ms).
 * It is slow for every other layout: with row-major weights (g w, a Linear's input gradient) or a
 * column-major first operand (g^T x, a Linear's weight gradient) it reaches 90-175 GFLOP/s where
 * gemm:jit reaches 190-250 on the same shapes (2-core AVX-512 Xeon, 2 threads, BERT-base shapes
 * M = 128..4096; measured with a stand-alone oneDNN program, see docs/performance.md).  And with
 * many rows (M >= 2048) gemm:jit is a little faster for column-major weights too (0.95-0.97 of
 * dnnl_sgemm against brgemm's 0.90 at 4096x3072x768). */
/* Rows from which gemm:jit is used for every 2-d layout; HUB_GEMM_MIN_ROWS in the environment
 * overrides it (read once; for tuning on other CPUs). */
static int64_t gemm_min_rows(void) {
  static int64_t cached = -1; /* every thread computes the same value; relaxed atomics */
  int64_t rows = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (rows < 0) {
    const char *e = getenv("HUB_GEMM_MIN_ROWS");
    long long v = e ? atoll(e) : 0;
    rows = v > 0 ? (int64_t)v : 512;
    __atomic_store_n(&cached, rows, __ATOMIC_RELAXED);
  }
  return rows;
}

static int want_gemm(const hub_tensor *a, const hub_tensor *b, int64_t M, int64_t N, int64_t K) {
  if (a->ndim != 2 || b->ndim != 2 || a->dtype != HUB_F32) return 0; /* bf16: brgemm (AVX512_BF16) */
  if (M >= gemm_min_rows()) return 1;
  int b_rowmajor = N > 1 && K > 1 && b->stride[1] == 1;
  int a_colmajor = M > 1 && K > 1 && a->stride[0] == 1;
  return b_rowmajor || a_colmajor;
}

static int create_pd(dnnl_primitive_desc_t *pd, const dnnl_matmul_desc_t *desc,
                     const_dnnl_primitive_attr_t attr, int prefer_gemm) {
  if (prefer_gemm) {
    dnnl_primitive_desc_iterator_t it;
    if (dnnl_primitive_desc_iterator_create(&it, desc, attr, cpu_dnnl_engine(), NULL) == dnnl_success) {
      do {
        dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
        const char *impl = NULL;
        if (cand && dnnl_primitive_desc_query(cand, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
            !strncmp(impl, "gemm:", 5)) {
          dnnl_primitive_desc_iterator_destroy(it);
          *pd = cand;
          return 0;
        }
        if (cand) dnnl_primitive_desc_destroy(cand);
      } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
      dnnl_primitive_desc_iterator_destroy(it);
    }
  }
  return dnnl_primitive_desc_create(pd, desc, attr, cpu_dnnl_engine(), NULL) == dnnl_success ? 0 : -1;
}

/* The oneDNN eltwise algorithm of a fused activation, or -1. */
static int act_alg(int act) {
  switch (act) {
  case HUB_UN_RELU: return dnnl_eltwise_relu;
  case HUB_UN_TANH: return dnnl_eltwise_tanh;
  case HUB_UN_GELU_ERF: return dnnl_eltwise_gelu_erf;
  case HUB_UN_GELU_TANH: return dnnl_eltwise_gelu_tanh;
  default: return -1;
  }
}

/* A primitive attribute: the user scratchpad mode (dnnl_cache.c), and the activation as an eltwise post-op. */
static int make_attr(dnnl_primitive_attr_t *attr, int act) {
  *attr = NULL;
  if (act < 0) {
    if (dnnl_primitive_attr_create(attr) == dnnl_success && cpu_dnnl_attr_user(*attr) == 0) return 0;
    if (*attr) dnnl_primitive_attr_destroy(*attr);
    *attr = NULL;
    return hub_err("matmul: oneDNN attribute creation failed");
  }
  int alg = act_alg(act);
  if (alg < 0) return hub_err("matmul: activation %d cannot be fused", act);
  dnnl_post_ops_t po = NULL;
  int rc = -1;
  if (dnnl_post_ops_create(&po) == dnnl_success &&
      dnnl_post_ops_append_eltwise(po, 1.0f, (dnnl_alg_kind_t)alg, 0.0f, 0.0f) == dnnl_success &&
      dnnl_primitive_attr_create(attr) == dnnl_success && cpu_dnnl_attr_user(*attr) == 0 &&
      dnnl_primitive_attr_set_post_ops(*attr, po) == dnnl_success)
    rc = 0;
  if (po) dnnl_post_ops_destroy(po);
  if (rc) {
    if (*attr) dnnl_primitive_attr_destroy(*attr);
    *attr = NULL;
    return hub_err("matmul: oneDNN post-op creation failed");
  }
  return 0;
}

int cpu_matmul(const hub_tensor *a0, const hub_tensor *b0, const hub_tensor *bias, int act,
               hub_tensor *out) {
  if (out->dtype == HUB_F64) return cpu_matmul_f64(a0, b0, bias, act, out);
  int n = out->ndim;
  int64_t M = out->shape[n - 2], N = out->shape[n - 1], K = a0->shape[n - 1];
  int dt = a0->dtype;
  if (b0->dtype != dt || (dt != HUB_F32 && dt != HUB_BF16 && dt != HUB_F16) || out->dtype != HUB_F32)
    return hub_err("matmul: operands %s and %s into %s are not supported (f32, or bf16 or f16 into f32)",
                   hub_dtype_name(a0->dtype), hub_dtype_name(b0->dtype), hub_dtype_name(out->dtype));
  if (hub_tensor_numel(out) == 0) return 0;
  if (K == 0) { /* empty sum: out = act(bias or 0) */
    if (cpu_fill(out, 0)) return -1;
    int rc = 0;
    if (bias) {
      hub_tensor *bb = hub_expand_raw(bias, out->ndim, out->shape);
      rc = bb ? cpu_axpy(out, bb, 1.0f) : -1;
      hub_tensor_release(bb);
    }
    if (rc == 0 && act >= 0) rc = cpu_unary(act, out, out, 0.0f, 0.0f);
    return rc;
  }
  hub_tensor *ac = NULL, *bc = NULL;
  const hub_tensor *a = a0, *b = b0;
  if (!plain(a)) a = ac = packed_copy(a0);
  if (!plain(b)) b = bc = packed_copy(b0);
  int rc = -1;
  if (!a || !b) goto done;

  mm_key key;
  memset(&key, 0, sizeof key);
  memcpy(key.kind, "matmul", 7);
  key.ndim = n;
  key.has_bias = bias != NULL;
  key.act = act;
  key.dtype = dt;
  describe(a, key.adims, key.astr);
  describe(b, key.bdims, key.bstr);
  memcpy(key.odims, out->shape, sizeof(int64_t) * (size_t)n);

  dnnl_memory_desc_t amd, bmd, omd, biasmd;
  int64_t bias_dims[HUB_MAX_DIMS];
  if (cpu_dnnl_md_dt(&amd, n, key.adims, key.astr, dt) || cpu_dnnl_md_dt(&bmd, n, key.bdims, key.bstr, dt) ||
      cpu_dnnl_md(&omd, n, out->shape, NULL))
    goto done;
  if (bias) {
    for (int i = 0; i < n; i++) bias_dims[i] = 1;
    bias_dims[n - 1] = out->shape[n - 1];
    if (cpu_dnnl_md(&biasmd, n, bias_dims, NULL)) goto done;
  }
  cpu_prim *cp = cpu_dnnl_cache_get(&key, sizeof key);
  if (!cp) {
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    dnnl_primitive_attr_t attr;
    if (make_attr(&attr, act)) goto done;
    int bad = dnnl_matmul_desc_init(&desc, &amd, &bmd, bias ? &biasmd : NULL, &omd) != dnnl_success ||
              create_pd(&pd, &desc, attr, want_gemm(a, b, M, N, K)) != 0;
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (bad) {
      if (dt != HUB_F32)
        hub_err("matmul: oneDNN has no %s implementation on this CPU", hub_dtype_name(dt));
      else
        hub_err("matmul: oneDNN has no implementation for this layout");
      goto done;
    }
    dnnl_status_t st = dnnl_primitive_create(&p, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
      hub_err("matmul: oneDNN primitive creation failed");
      goto done;
    }
    if (!(cp = cpu_dnnl_cache_put(&key, sizeof key, p))) goto done;
  }
  /* The bias may itself be a strided 1-d view: make it dense. */
  hub_tensor *biasc = NULL;
  const hub_tensor *bi = bias;
  if (bias && bias->stride[bias->ndim - 1] != 1 && bias->shape[bias->ndim - 1] > 1) {
    bi = biasc = packed_copy(bias);
    if (!bi) {
      cpu_dnnl_release(cp);
      goto done;
    }
  }
  int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
  dnnl_memory_desc_t mds[4] = {amd, bmd, omd, biasmd};
  void *ptrs[4] = {a->data, b->data, out->data, bi ? bi->data : NULL};
  rc = cpu_dnnl_exec("matmul", cp, bias ? 4 : 3, args, mds, ptrs);
  hub_tensor_release(biasc);
done:
  hub_tensor_release(ac);
  hub_tensor_release(bc);
  return rc;
}
