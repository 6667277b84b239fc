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
 * Bias and activation are one elementwise pass over out after the GEMM (cuda_bias_act).  A
 * cuBLASLt epilogue (CUBLASLT_EPILOGUE_GELU_BIAS) would save that pass; not done yet.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>

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
    rc = gemm(idt, odt, batch, M, N, K, am, bm, out->data);
    if (rc == 0 && odt == HUB_F32)
      rc = cuda_bias_act((float *)out->data, bias_c ? (const float *)bias_c->data : nullptr, total / N, N, act);
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
