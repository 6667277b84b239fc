/* matmul.cu - (batched) matrix products on cuBLAS.
 *
 * out[..., M, N] = act(a[..., M, K] b[..., K, N] + bias[N]) with out contiguous and a, b strided
 * views whose batch dimensions are already expanded to out's (runtime/core/backend.h, MATMUL).
 * cuBLAS is column-major, so the product is computed as out^T = b^T a^T: a row-major operand (unit
 * stride along its last dimension) is a column-major transposed one with the same leading
 * dimension, a column-major operand (a transposed view, say w^T in a linear layer) is read with
 * CUBLAS_OP_T.  Neither is copied.  The batch dimensions must collapse to one stride per operand
 * (0 for a broadcast operand); an operand that does not (a broadcast over some batch dimensions
 * but not others, or a matrix with no unit stride) is first copied to a contiguous buffer.  One
 * cublasGemmStridedBatchedEx call then does every product.
 *
 * Precision: f32 operands use CUBLAS_COMPUTE_32F (results agree with the CPU to f32 rounding);
 * with TF32 on (hub.cuda.set_tf32(true) or HUB_CUDA_TF32=1) CUBLAS_COMPUTE_32F_FAST_TF32, ~1e-3
 * relative.  f16 and bf16 operands (cuda_gemm_raw today: the op layer casts matmul operands to
 * f32) accumulate in f32 and write f32.  f64 uses CUBLAS_COMPUTE_64F.
 *
 * Bias and activation: with f32 operands (or bf16 / f16 ones under autocast, into f32) and a
 * bias, the product goes through cuBLASLt with the
 * bias (and ReLU, or the tanh GELU: cuBLASLt's GELU is the tanh approximation) applied in the
 * GEMM's epilogue, which saves a pass over out; an activation the epilogue lacks (erf GELU, tanh)
 * is then one pass without the bias.  Plans (descriptors, layouts and the heuristic's algorithm)
 * are cached per shape, layout, alignment and epilogue (LT_PLANS, least recently used out).  Each
 * epilogue kind checks itself against the plain path (GEMM + cuda_bias_act) on a small product the
 * first time it is used and is switched off with a line on stderr when it differs, as is the
 * whole cuBLASLt path when cuBLASLt fails; HUB_CUDA_LT=0 in the environment switches it off.
 * Otherwise (no bias, f64) the bias and activation are one elementwise pass (cuda_bias_act).
 */
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

using namespace hubcu;

namespace {

struct Mat {
  cublasOperation_t op; /* as the second factor of out^T = b^T a^T, see above */
  int64_t ld, batch_stride;
  const void *data;
};

/* The cuBLAS view of operand t (rows R, cols C of its last two dims); 0, or 1 when it needs a
 * contiguous copy first. */
int describe(const hub_tensor *t, Mat *m) {
  int n = t->ndim;
  int64_t R = t->shape[n - 2], C = t->shape[n - 1], sr = t->stride[n - 2], sc = t->stride[n - 1];
  /* the batch dimensions as one stride */
  int64_t sb = -1, expect = -1;
  bool all_zero = true;
  for (int d = n - 3; d >= 0; d--) {
    if (t->shape[d] == 1) continue;
    if (t->stride[d] != 0) all_zero = false;
    if (sb < 0) {
      sb = t->stride[d];
    } else if (t->stride[d] != expect) {
      sb = -2;
      break;
    }
    expect = t->stride[d] * t->shape[d];
  }
  if (sb == -2 && !all_zero) return 1;
  m->batch_stride = all_zero || sb < 0 ? 0 : sb;
  m->data = t->data;
  if ((sc == 1 || C == 1) && (R == 1 || sr >= (C > 1 ? C : 1))) { /* row-major */
    m->op = CUBLAS_OP_N;
    m->ld = R == 1 ? (C > 1 ? C : 1) : sr;
    return 0;
  }
  if ((sr == 1 || R == 1) && (C == 1 || sc >= (R > 1 ? R : 1))) { /* column-major */
    m->op = CUBLAS_OP_T;
    m->ld = C == 1 ? (R > 1 ? R : 1) : sc;
    return 0;
  }
  return 1;
}

int cublas_fail(const char *what, cublasStatus_t s) {
  return hub_err("cuda: %s: cuBLAS %s", what, cublasGetStatusString(s));
}

cudaDataType_t cuda_type(int dtype) {
  switch (dtype) {
  case HUB_F16: return CUDA_R_16F;
  case HUB_BF16: return CUDA_R_16BF;
  case HUB_F64: return CUDA_R_64F;
  default: return CUDA_R_32F;
  }
}

bool fits_int(int64_t v) { return v >= 0 && v <= 0x7fffffff; }

/* out^T (N x M, ldc N, batch stride M*N) = op(b) op(a) over `batch` products. */
int gemm(int in_dtype, int out_dtype, int64_t batch, int64_t M, int64_t N, int64_t K, const Mat &a, const Mat &b,
         void *out) {
  if (!fits_int(batch) || !fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(a.ld) || !fits_int(b.ld))
    return hub_err("matmul: sizes beyond cuBLAS's 32-bit limits");
  cublasHandle_t h = (cublasHandle_t)cuda_cublas();
  cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
  if (out_dtype == HUB_F64) ct = CUBLAS_COMPUTE_64F;
  else if (in_dtype == HUB_F32 && cuda_get_tf32()) ct = CUBLAS_COMPUTE_32F_FAST_TF32;
  float one = 1.0f, zero = 0.0f;
  double oned = 1.0, zerod = 0.0;
  const void *alpha = out_dtype == HUB_F64 ? (const void *)&oned : (const void *)&one;
  const void *beta = out_dtype == HUB_F64 ? (const void *)&zerod : (const void *)&zero;
  cuda_stream(); /* binds the device for this thread */
  cuda_cublas_lock();
  cublasStatus_t s = cublasGemmStridedBatchedEx(
      h, b.op, a.op, (int)N, (int)M, (int)K, alpha, b.data, cuda_type(in_dtype), (int)b.ld, b.batch_stride, a.data,
      cuda_type(in_dtype), (int)a.ld, a.batch_stride, beta, out, cuda_type(out_dtype), (int)N, M * N, (int)batch, ct,
      CUBLAS_GEMM_DEFAULT);
  cuda_cublas_unlock();
  return s == CUBLAS_STATUS_SUCCESS ? 0 : cublas_fail("matmul", s);
}


/* ---- cuBLASLt with the bias in the epilogue ---- */

enum { LT_PLANS = 64, LT_WS_BYTES = 4 << 20 };
enum { EPI_BIAS, EPI_RELU_BIAS, EPI_GELU_BIAS, EPI_KINDS };

struct LtKey {
  int64_t M, N, K, batch, lda, ldb, sa, sb;
  int opa, opb, epi, ct, align, dt; /* dt: the operands' dtype (f32, bf16 or f16); out is f32 */
};

struct LtPlan {
  LtKey key;
  bool used;
  uint64_t stamp;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t A, B, D;
  cublasLtMatmulAlgo_t algo;
  size_t ws;
};

cublasLtHandle_t g_lt;
int g_lt_state;               /* 0 not tried, 1 ready, -1 off */
enum { LT_DTYPES = 3 };        /* f32, bf16, f16 operands */
int g_epi_state[EPI_KINDS][LT_DTYPES]; /* 0 not checked, 1 checked, -1 off */
int lt_di(int dt) { return dt == HUB_BF16 ? 1 : dt == HUB_F16 ? 2 : 0; }
void *g_lt_ws;
LtPlan g_plans[LT_PLANS];
uint64_t g_plan_clock;

void plan_free(LtPlan *p) {
  if (!p->used) return;
  cublasLtMatrixLayoutDestroy(p->A);
  cublasLtMatrixLayoutDestroy(p->B);
  cublasLtMatrixLayoutDestroy(p->D);
  cublasLtMatmulDescDestroy(p->op);
  p->used = false;
}

/* 1 when the path is usable (creates the handle and the workspace the first time); under the lock. */
bool lt_ready() {
  if (g_lt_state == 0) {
    const char *env = getenv("HUB_CUDA_LT");
    if (env && strcmp(env, "0") == 0) {
      g_lt_state = -1;
    } else if (cublasLtCreate(&g_lt) != CUBLAS_STATUS_SUCCESS) {
      fprintf(stderr, "hubrun: cuBLASLt is not available; bias epilogues off (a separate pass instead)\n");
      g_lt_state = -1;
    } else {
      g_lt_ws = cuda_alloc(LT_WS_BYTES);
      g_lt_state = g_lt_ws ? 1 : -1;
    }
  }
  return g_lt_state == 1;
}

uint32_t alignment(const void *p, int64_t batch, int64_t stride_elems, int esize) {
  uint64_t v = (uint64_t)(uintptr_t)p | 256u;
  if (batch > 1 && stride_elems > 0) v |= (uint64_t)stride_elems * (uint64_t)esize;
  return (uint32_t)(v & (~v + 1)); /* the lowest set bit, at most 256 */
}

bool same_key(const LtKey &a, const LtKey &b) { return memcmp(&a, &b, sizeof a) == 0; }

/* The cached plan for key (made when missing); NULL when cuBLASLt has none. */
LtPlan *lt_plan(const LtKey &k) {
  LtPlan *victim = &g_plans[0];
  for (int i = 0; i < LT_PLANS; i++) {
    LtPlan *p = &g_plans[i];
    if (p->used && same_key(p->key, k)) {
      p->stamp = ++g_plan_clock;
      return p;
    }
    if (!p->used || p->stamp < victim->stamp) victim = p;
  }
  plan_free(victim);
  LtPlan *p = victim;
  memset(p, 0, sizeof *p);
  p->key = k;
  bool ok = cublasLtMatmulDescCreate(&p->op, (cublasComputeType_t)k.ct, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS;
  int32_t ta = k.opb, tb = k.opa; /* out^T = op(b) op(a): cuBLAS's A is b */
  static const uint32_t epis[EPI_KINDS] = {CUBLASLT_EPILOGUE_BIAS, CUBLASLT_EPILOGUE_RELU_BIAS, CUBLASLT_EPILOGUE_GELU_BIAS};
  uint32_t epi = epis[k.epi];
  ok = ok && cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) == CUBLAS_STATUS_SUCCESS;
  ok = ok && cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) == CUBLAS_STATUS_SUCCESS;
  ok = ok && cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi) == CUBLAS_STATUS_SUCCESS;
  bool a_ok = false, b_ok = false, d_ok = false;
  if (ok) {
    uint64_t ar = k.opb == CUBLAS_OP_N ? k.N : k.K, ac = k.opb == CUBLAS_OP_N ? k.K : k.N;
    uint64_t br = k.opa == CUBLAS_OP_N ? k.K : k.M, bc = k.opa == CUBLAS_OP_N ? k.M : k.K;
    a_ok = cublasLtMatrixLayoutCreate(&p->A, cuda_type(k.dt), ar, ac, k.ldb) == CUBLAS_STATUS_SUCCESS;
    b_ok = cublasLtMatrixLayoutCreate(&p->B, cuda_type(k.dt), br, bc, k.lda) == CUBLAS_STATUS_SUCCESS;
    d_ok = cublasLtMatrixLayoutCreate(&p->D, CUDA_R_32F, k.N, k.M, k.N) == CUBLAS_STATUS_SUCCESS;
    ok = a_ok && b_ok && d_ok;
  }
  if (ok && k.batch > 1) {
    int32_t bc = (int32_t)k.batch;
    int64_t sa = k.sb, sb = k.sa, sd = k.M * k.N;
    ok = cublasLtMatrixLayoutSetAttribute(p->A, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatrixLayoutSetAttribute(p->A, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sa, sizeof sa) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatrixLayoutSetAttribute(p->B, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatrixLayoutSetAttribute(p->B, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sb, sizeof sb) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatrixLayoutSetAttribute(p->D, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatrixLayoutSetAttribute(p->D, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sd, sizeof sd) == CUBLAS_STATUS_SUCCESS;
  }
  if (ok) {
    cublasLtMatmulPreference_t pref;
    ok = cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS;
    if (ok) {
      uint64_t ws = LT_WS_BYTES;
      uint32_t al = (uint32_t)k.align;
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof al);
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof al);
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof al);
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof al);
      cublasLtMatmulHeuristicResult_t res;
      int nres = 0;
      ok = cublasLtMatmulAlgoGetHeuristic(g_lt, p->op, p->A, p->B, p->D, p->D, pref, 1, &res, &nres) ==
               CUBLAS_STATUS_SUCCESS && nres > 0;
      if (ok) p->algo = res.algo, p->ws = res.workspaceSize;
      cublasLtMatmulPreferenceDestroy(pref);
    }
  }
  p->used = true; /* a failed plan is cached too (algo unset, ws = SIZE_MAX): no second try */
  p->stamp = ++g_plan_clock;
  if (!ok) {
    p->ws = (size_t)-1;
    return NULL;
  }
  return p;
}

/* out^T = op(b) op(a) + bias, with the epilogue epi: 0 done, 1 not possible here (use the plain
 * path), -1 a cuBLASLt error (with hub_err). Under the cuBLAS lock. */
int lt_gemm_locked(int64_t batch, int64_t M, int64_t N, int64_t K, const Mat &a, const Mat &b, const float *bias,
                   int epi, int ct, int dt, float *out) {
  if (!lt_ready() || g_epi_state[epi][lt_di(dt)] < 0) return 1;
  LtKey k;
  memset(&k, 0, sizeof k);
  k.M = M, k.N = N, k.K = K, k.batch = batch, k.lda = a.ld, k.ldb = b.ld, k.sa = a.batch_stride, k.sb = b.batch_stride;
  k.opa = a.op, k.opb = b.op, k.epi = epi, k.ct = ct, k.dt = dt;
  int es = (int)hub_dtype_size(dt);
  uint32_t al = alignment(a.data, batch, a.batch_stride, es), t;
  if ((t = alignment(b.data, batch, b.batch_stride, es)) < al) al = t;
  if ((t = alignment(out, batch, M * N, 4)) < al) al = t;
  if (((uintptr_t)bias & 15) != 0) return 1; /* cuBLASLt wants a 16-byte aligned bias */
  k.align = (int)al;
  LtPlan *p = lt_plan(k);
  if (!p || p->ws == (size_t)-1 || p->ws > LT_WS_BYTES) return 1;
  if (cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias) != CUBLAS_STATUS_SUCCESS)
    return 1;
  float one = 1.0f, zero = 0.0f;
  cublasStatus_t s = cublasLtMatmul(g_lt, p->op, &one, b.data, p->A, a.data, p->B, &zero, out, p->D, out, p->D, &p->algo,
                                    g_lt_ws, LT_WS_BYTES, stream());
  if (s != CUBLAS_STATUS_SUCCESS) return cublas_fail("matmul (cuBLASLt)", s);
  return 0;
}

__global__ void k_max_rel(int64_t n, const float *x, const float *y, float *out) {
  /* one block: the largest |x - y| / (1 + |y|) */
  __shared__ float sh[32];
  float m = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float d = fabsf(x[i] - y[i]) / (1.0f + fabsf(y[i]));
    if (!(d <= m)) m = d != d ? INFINITY : d;
  }
  m = block_max(m, sh);
  if (threadIdx.x == 0) *out = m;
}

} // namespace

/* common.cuh: the self-checks' comparison (the matmul epilogues here, the tiled attention in attention.cu) */
float hubcu::max_rel_diff(int64_t n, const float *x, const float *y, float *scratch) {
  float e = INFINITY;
  k_max_rel<<<1, 256, 0, stream()>>>(n, x, y, scratch);
  if (cuda_check("self-check") == 0 && cuda_copy_out(&e, scratch, sizeof e) != 0) e = INFINITY;
  return e;
}

namespace {

/* The first use of an epilogue for an operand dtype: a [3, 37] x [37, 45] (+ bias) product through
 * cuBLASLt and through the plain path (GEMM of the same operands + the bias pass) must agree;
 * else that epilogue is switched off for that dtype. */
void lt_self_check(int epi, int dt) {
  int di = lt_di(dt);
  if (!lt_ready() || g_epi_state[epi][di] != 0) return;
  g_epi_state[epi][di] = -1; /* until it passes */
  const int64_t M = 3, K = 37, N = 45;
  size_t es = hub_dtype_size(dt), ops = es * (size_t)(M * K + K * N), rest = sizeof(float) * (size_t)(N + 2 * M * N + 1);
  size_t bytes = (ops + 255) / 256 * 256 + rest;
  char *buf = (char *)cuda_alloc(bytes);
  if (!buf) return;
  char *h = (char *)malloc(bytes);
  if (!h) {
    cuda_free(buf, bytes);
    return;
  }
  for (int64_t i = 0; i < M * K + K * N; i++) {
    float f = (float)((i * 7919 % 113) - 56) / 40.0f;
    if (dt == HUB_BF16) ((uint16_t *)h)[i] = hub_float_to_bf16(f);
    else if (dt == HUB_F16) ((uint16_t *)h)[i] = hub_float_to_half(f);
    else ((float *)h)[i] = f;
  }
  float *hb = (float *)(h + (ops + 255) / 256 * 256);
  for (int64_t i = 0; i < N; i++) hb[i] = (float)((i * 31 % 17) - 8) / 8.0f;
  char *da = buf, *db = da + es * (size_t)(M * K);
  float *dbias = (float *)(buf + (ops + 255) / 256 * 256), *o1 = dbias + N, *o2 = o1 + M * N, *err = o2 + M * N;
  float e = INFINITY;
  static const int acts[EPI_KINDS] = {-1, HUB_UN_RELU, HUB_UN_GELU_TANH};
  if (cuda_copy_in(buf, h, (ops + 255) / 256 * 256 + sizeof(float) * (size_t)N) == 0) {
    Mat am{CUBLAS_OP_N, K, 0, da}, bm{CUBLAS_OP_N, N, 0, db};
    float one = 1.0f, zero = 0.0f;
    cublasStatus_t s = cublasGemmEx((cublasHandle_t)cuda_cublas(), CUBLAS_OP_N, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one,
                                    db, cuda_type(dt), (int)N, da, cuda_type(dt), (int)K, &zero, o2, CUDA_R_32F, (int)N,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    g_epi_state[epi][di] = 0; /* let lt_gemm_locked try it */
    int rc = s == CUBLAS_STATUS_SUCCESS ? lt_gemm_locked(1, M, N, K, am, bm, dbias, epi, CUBLAS_COMPUTE_32F, dt, o1) : -1;
    g_epi_state[epi][di] = -1;
    if (rc == 0 && cuda_bias_act(o2, dbias, M, N, acts[epi]) == 0) {
      e = max_rel_diff(M * N, o1, o2, err);
    }
  }
  static const char *names[EPI_KINDS] = {"bias", "relu + bias", "gelu (tanh) + bias"};
  if (e <= 1e-5f) g_epi_state[epi][di] = 1;
  else
    fprintf(stderr, "hubrun: the cuBLASLt %s epilogue on %s operands is off (its self-check differs from the plain "
                    "path by %g); a separate pass instead\n", names[epi], hub_dtype_name(dt), (double)e);
  free(h);
  cuda_free(buf, bytes);
}
} // namespace

extern "C" {

int cuda_matmul(const hub_tensor *a0, const hub_tensor *b0, const hub_tensor *bias, int act, hub_tensor *out) {
  int n = out->ndim;
  if (n < 2 || a0->ndim != n || b0->ndim != n) return hub_err("matmul: operands must have the output's rank (>= 2)");
  if (out->device != HUB_CUDA || a0->device != HUB_CUDA || b0->device != HUB_CUDA || (bias && bias->device != HUB_CUDA))
    return hub_err("matmul: every operand must be on cuda");
  int odt = out->dtype, idt = a0->dtype;
  if (b0->dtype != idt) return hub_err("matmul: operands of dtypes %s and %s", hub_dtype_name(idt), hub_dtype_name(b0->dtype));
  bool ok = (odt == HUB_F32 && (idt == HUB_F32 || idt == HUB_F16 || idt == HUB_BF16)) || (odt == HUB_F64 && idt == HUB_F64);
  if (!ok) return hub_err("matmul: %s operands into %s are not supported on cuda", hub_dtype_name(idt), hub_dtype_name(odt));
  if (!hub_tensor_is_contiguous(out)) return hub_err("matmul: the output must be contiguous");
  if (odt == HUB_F64 && (bias || act >= 0)) return hub_err("matmul: bias and activation need f32 on cuda");
  if (bias && (bias->dtype != HUB_F32 || hub_tensor_numel(bias) != out->shape[n - 1]))
    return hub_err("matmul: bias must be f32 of the output's last size");
  int64_t M = out->shape[n - 2], N = out->shape[n - 1], K = a0->shape[n - 1];
  int64_t total = hub_tensor_numel(out);
  if (total == 0) return 0;
  int64_t batch = total / (M * N);
  hub_tensor *tmp[3] = {nullptr, nullptr, nullptr};
  const hub_tensor *bias_c = bias;
  int rc = -1;
  if (bias && !hub_tensor_is_contiguous(bias)) {
    tmp[2] = hub_tensor_empty(HUB_F32, bias->ndim, bias->shape, HUB_CUDA);
    if (!tmp[2] || cuda_copy(tmp[2], bias)) goto done;
    bias_c = tmp[2];
  }
  if (K == 0) { /* an empty sum: out = act(bias or 0) */
    rc = cuda_fill(out, 0);
    if (rc == 0 && odt == HUB_F32)
      rc = cuda_bias_act((float *)out->data, bias_c ? (const float *)bias_c->data : nullptr, total / N, N, act);
    goto done;
  }
  {
    Mat am, bm;
    const hub_tensor *ops[2] = {a0, b0};
    Mat *ms[2] = {&am, &bm};
    for (int i = 0; i < 2; i++) {
      if (describe(ops[i], ms[i]) == 0) continue;
      tmp[i] = hub_tensor_empty(idt, n, ops[i]->shape, HUB_CUDA);
      if (!tmp[i] || cuda_copy(tmp[i], ops[i]) || describe(tmp[i], ms[i]) != 0) {
        if (tmp[i]) hub_err("matmul: cannot lay out an operand for cuBLAS");
        goto done;
      }
    }
    /* a bias (f32, bf16 or f16 operands into f32): the bias (and ReLU / tanh GELU) in cuBLASLt's epilogue */
    int lt = 1;
    if (bias_c && (idt == HUB_F32 || idt == HUB_BF16 || idt == HUB_F16) && odt == HUB_F32) {
      int epi = act == HUB_UN_RELU ? EPI_RELU_BIAS : act == HUB_UN_GELU_TANH ? EPI_GELU_BIAS : EPI_BIAS;
      int ct = idt == HUB_F32 && cuda_get_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      cuda_stream(); /* binds the device for this thread */
      cuda_cublas_lock();
      lt_self_check(epi, idt);
      lt = lt_gemm_locked(batch, M, N, K, am, bm, (const float *)bias_c->data, epi, ct, idt, (float *)out->data);
      cuda_cublas_unlock();
      if (lt < 0) {
        fprintf(stderr, "hubrun: %s; cuBLASLt epilogues off from here on\n", hub_last_error());
        cuda_cublas_lock();
        g_lt_state = -1;
        cuda_cublas_unlock();
        lt = 1;
      }
      if (lt == 0) {
        bool done = epi != EPI_BIAS || act < 0;
        rc = done ? 0 : cuda_bias_act((float *)out->data, nullptr, total / N, N, act); /* erf GELU, tanh */
      }
    }
    if (lt != 0) {
      rc = gemm(idt, odt, batch, M, N, K, am, bm, out->data);
      if (rc == 0 && odt == HUB_F32)
        rc = cuda_bias_act((float *)out->data, bias_c ? (const float *)bias_c->data : nullptr, total / N, N, act);
    }
  }
done:
  for (int i = 0; i < 3; i++) hub_tensor_release(tmp[i]);
  return rc;
}

int cuda_gemm_raw(int dtype, int64_t batch, int64_t M, int64_t N, int64_t K, const void *a, const void *b, float *c) {
  if (dtype != HUB_F32 && dtype != HUB_F16 && dtype != HUB_BF16)
    return hub_err("gemm: dtype %s is not f32, f16 or bf16", hub_dtype_name(dtype));
  if (batch <= 0 || M <= 0 || N <= 0 || K <= 0) return 0;
  Mat am{CUBLAS_OP_N, K, M * K, a}, bm{CUBLAS_OP_N, N, K * N, b};
  return gemm(dtype, HUB_F32, batch, M, N, K, am, bm, c);
}

} // extern "C"
