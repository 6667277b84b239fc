/* blas.cpp (hubemu) - cuBLAS and cuBLASLt products on the CPU: each element a dot product in
 * double, rounded once to the output type.  The compute type is honoured where it changes results:
 * CUBLAS_COMPUTE_32F_FAST_TF32 rounds f32 inputs to TF32 (10 mantissa bits, to nearest) first.
 * Sizes, leading dimensions and type combinations are checked as cuBLAS documents them
 * (CUBLAS_STATUS_INVALID_VALUE / NOT_SUPPORTED), and so are the cuBLASLt layouts' agreement with
 * the product and the epilogue's bias. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cublasLt.h"
#include "cuda_bf16.h"
#include "cuda_fp16.h"

struct hubemu_cublas {
  cudaStream_t stream;
};
struct hubemu_lt {
  int unused;
};
struct hubemu_lt_desc {
  cublasComputeType_t compute;
  cudaDataType_t scale;
  int32_t ta, tb;
  uint32_t epilogue;
  const void *bias;
};
struct hubemu_lt_layout {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
  int32_t batch;
  int64_t stride;
};
struct hubemu_lt_pref {
  uint64_t ws;
};

namespace {

/* How f32 inputs are rounded before the product: the compute type's tensor-core format. */
enum Round { R_NONE, R_TF32, R_BF16, R_F16 };

Round rounding(cublasComputeType_t ct) {
  switch (ct) {
  case CUBLAS_COMPUTE_32F_FAST_TF32: return R_TF32;
  case CUBLAS_COMPUTE_32F_FAST_16BF: return R_BF16;
  case CUBLAS_COMPUTE_32F_FAST_16F: return R_F16;
  default: return R_NONE;
  }
}

double load(const void *p, cudaDataType_t t, int64_t i, Round rd) {
  switch (t) {
  case CUDA_R_64F: return ((const double *)p)[i];
  case CUDA_R_16F: return hub_half_to_float(((const uint16_t *)p)[i]);
  case CUDA_R_16BF: return hub_bf16_to_float(((const uint16_t *)p)[i]);
  default: {
    float f = ((const float *)p)[i];
    if (rd == R_TF32 && isfinite(f)) {
      uint32_t u;
      memcpy(&u, &f, 4);
      u = (u + 0x1000u) & 0xffffe000u; /* to nearest, ties away: cvt.rna.tf32.f32 */
      memcpy(&f, &u, 4);
    } else if (rd == R_BF16) {
      f = hub_bf16_to_float(hub_float_to_bf16(f));
    } else if (rd == R_F16) {
      f = hub_half_to_float(hub_float_to_half(f));
    }
    return f;
  }
  }
}

void store(void *p, cudaDataType_t t, int64_t i, double v) {
  switch (t) {
  case CUDA_R_64F: ((double *)p)[i] = v; break;
  case CUDA_R_16F: ((uint16_t *)p)[i] = hub_float_to_half((float)v); break;
  case CUDA_R_16BF: ((uint16_t *)p)[i] = hub_float_to_bf16((float)v); break;
  default: ((float *)p)[i] = (float)v; break;
  }
}

bool types_ok(cudaDataType_t in, cudaDataType_t out, cublasComputeType_t ct) {
  if (ct == CUBLAS_COMPUTE_64F) return in == CUDA_R_64F && out == CUDA_R_64F;
  if (in == CUDA_R_64F || out == CUDA_R_64F) return false;
  if (ct == CUBLAS_COMPUTE_32F || ct == CUBLAS_COMPUTE_32F_FAST_TF32 || ct == CUBLAS_COMPUTE_32F_FAST_16BF ||
      ct == CUBLAS_COMPUTE_32F_FAST_16F)
    return out == CUDA_R_32F || out == in;
  return false;
}

double gelu_tanh(double x) { return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

/* D (m x n, ldd) = epi(alpha op(A) op(B) + beta C + bias) for one matrix of the batch. */
void product(int m, int n, int k, double alpha, const void *A, cudaDataType_t at, int64_t lda, bool ta, const void *B,
             cudaDataType_t bt, int64_t ldb, bool tb, double beta, const void *C, int64_t ldc, void *D,
             cudaDataType_t dt, int64_t ldd, Round tf32, uint32_t epi, const float *bias) {
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      double s = 0;
      for (int p = 0; p < k; p++) {
        double a = load(A, at, ta ? p + (int64_t)i * lda : i + (int64_t)p * lda, tf32);
        double b = load(B, bt, tb ? j + (int64_t)p * ldb : p + (int64_t)j * ldb, tf32);
        s += a * b;
      }
      double v = alpha * s;
      if (beta != 0) v += beta * load(C, dt, i + (int64_t)j * ldc, R_NONE);
      if (epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_RELU_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS)
        v += bias[i];
      if (epi == CUBLASLT_EPILOGUE_RELU || epi == CUBLASLT_EPILOGUE_RELU_BIAS) v = v < 0 ? 0 : v;
      if (epi == CUBLASLT_EPILOGUE_GELU || epi == CUBLASLT_EPILOGUE_GELU_BIAS) v = gelu_tanh(v);
      store(D, dt, i + (int64_t)j * ldd, v);
    }
}

int esize(cudaDataType_t t) { return t == CUDA_R_64F ? 8 : t == CUDA_R_32F ? 4 : 2; }

double scalar(const void *p, cublasComputeType_t ct) { return ct == CUBLAS_COMPUTE_64F ? *(const double *)p : *(const float *)p; }

cublasStatus_t invalid(const char *what) {
  fprintf(stderr, "hubemu: cuBLAS: %s\n", what);
  return CUBLAS_STATUS_INVALID_VALUE;
}

/* The arguments of a (batched) GEMM as cuBLAS checks them: sizes, leading dimensions, types. */
cublasStatus_t check_gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                          cudaDataType_t at, int lda, cudaDataType_t bt, int ldb, cudaDataType_t ct, int ldc, int batch,
                          cublasComputeType_t compute) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || batch < 0) return invalid("negative size");
  if (lda < (ta == CUBLAS_OP_N ? (m > 1 ? m : 1) : (k > 1 ? k : 1))) return invalid("lda too small");
  if (ldb < (tb == CUBLAS_OP_N ? (k > 1 ? k : 1) : (n > 1 ? n : 1))) return invalid("ldb too small");
  if (ldc < (m > 1 ? m : 1)) return invalid("ldc too small");
  if (at != bt || !types_ok(at, ct, compute)) return CUBLAS_STATUS_NOT_SUPPORTED;
  return CUBLAS_STATUS_SUCCESS;
}

} // namespace

cublasStatus_t cublasCreate(cublasHandle_t *h) {
  *h = new hubemu_cublas();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!ws && bytes) return invalid("cublasSetWorkspace: a null workspace of non-zero size");
  return CUBLAS_STATUS_SUCCESS;
}
const char *cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
  case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  default: return "CUBLAS_STATUS_EXECUTION_FAILED";
  }
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType_t at, int lda,
                                          long long sa, const void *B, cudaDataType_t bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType_t ct, int ldc, long long sc,
                                          int batch, cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (cublasStatus_t st = check_gemm(h, ta, tb, m, n, k, at, lda, bt, ldb, ct, ldc, batch, compute)) return st;
  double al = scalar(alpha, compute), be = scalar(beta, compute);
  Round tf32 = rounding(compute);
  int ea = esize(at), ec = esize(ct);
  if (hubemu::capturing()) { /* the scalars by value, as cuBLAS's host pointer mode captures them */
    hubemu::record("cublasGemmStridedBatchedEx", [=]() {
      for (int q = 0; q < batch; q++)
        product(m, n, k, al, (const char *)A + (int64_t)q * sa * ea, at, lda, ta != CUBLAS_OP_N,
                (const char *)B + (int64_t)q * sb * ea, bt, ldb, tb != CUBLAS_OP_N, be, (char *)C + (int64_t)q * sc * ec,
                ldc, (char *)C + (int64_t)q * sc * ec, ct, ldc, tf32, CUBLASLT_EPILOGUE_DEFAULT, nullptr);
    });
    return CUBLAS_STATUS_SUCCESS;
  }
  for (int q = 0; q < batch; q++)
    product(m, n, k, al, (const char *)A + (int64_t)q * sa * ea, at, lda, ta != CUBLAS_OP_N,
            (const char *)B + (int64_t)q * sb * ea, bt, ldb, tb != CUBLAS_OP_N, be, (char *)C + (int64_t)q * sc * ec,
            ldc, (char *)C + (int64_t)q * sc * ec, ct, ldc, tf32, CUBLASLT_EPILOGUE_DEFAULT, nullptr);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType_t at, int lda, const void *B,
                            cudaDataType_t bt, int ldb, const void *beta, void *C, cudaDataType_t ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo) {
  return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1,
                                    compute, algo);
}

/* The pointer arrays are read when the work runs (a kernel may have just written them); the
 * arrays and every matrix they point to must lie in device memory. */
cublasStatus_t cublasGemmBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void *alpha, const void *const Aarray[], cudaDataType_t at, int lda,
                                   const void *const Barray[], cudaDataType_t bt, int ldb, const void *beta,
                                   void *const Carray[], cudaDataType_t ct, int ldc, int batch,
                                   cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (cublasStatus_t st = check_gemm(h, ta, tb, m, n, k, at, lda, bt, ldb, ct, ldc, batch, compute)) return st;
  /* HUBEMU_CUBLAS_NO_FAST=1: a library without the tensor-core compute types for this call (to
   * exercise the callers' fallback) */
  const char *nf = getenv("HUBEMU_CUBLAS_NO_FAST");
  if (nf && nf[0] == '1' && compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_64F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  size_t pb = sizeof(void *) * (size_t)batch;
  if (batch && (!hubemu::device_span(Aarray, pb) || !hubemu::device_span(Barray, pb) ||
                !hubemu::device_span(Carray, pb)))
    return invalid("cublasGemmBatchedEx: a pointer array is not in device memory");
  double al = scalar(alpha, compute), be = scalar(beta, compute);
  Round rd = rounding(compute);
  int ea = esize(at), ec = esize(ct);
  /* the stored extent of each matrix: (cols - 1) ld + rows elements */
  auto extent = [](int64_t rows, int64_t cols, int64_t ld, int es) {
    return rows == 0 || cols == 0 ? (size_t)0 : (size_t)(((cols - 1) * ld + rows) * es);
  };
  size_t xa = ta == CUBLAS_OP_N ? extent(m, k, lda, ea) : extent(k, m, lda, ea);
  size_t xb = tb == CUBLAS_OP_N ? extent(k, n, ldb, ea) : extent(n, k, ldb, ea);
  size_t xc = extent(m, n, ldc, ec);
  auto work = [=]() {
    for (int q = 0; q < batch; q++) {
      const void *A = Aarray[q], *B = Barray[q];
      void *C = Carray[q];
      if ((xa && !hubemu::device_span(A, xa)) || (xb && !hubemu::device_span(B, xb)) ||
          (xc && !hubemu::device_span(C, xc))) {
        hubemu::device_fault("cublasGemmBatchedEx: matrix %d of the batch is not inside a device block "
                             "(A %p, B %p, C %p)", q, A, B, C);
        return;
      }
      product(m, n, k, al, A, at, lda, ta != CUBLAS_OP_N, B, bt, ldb, tb != CUBLAS_OP_N, be, C, ldc, C, ct, ldc, rd,
              CUBLASLT_EPILOGUE_DEFAULT, nullptr);
    }
  };
  if (hubemu::capturing()) hubemu::record("cublasGemmBatchedEx", work);
  else work();
  return CUBLAS_STATUS_SUCCESS;
}

/* ---- cuBLASLt ---- */

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) {
  *h = new hubemu_lt();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t compute, cudaDataType_t scale) {
  *d = new hubemu_lt_desc{compute, scale, 0, 0, CUBLASLT_EPILOGUE_DEFAULT, nullptr};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
  delete d;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, const void *v,
                                              size_t n) {
  switch (a) {
  case CUBLASLT_MATMUL_DESC_TRANSA: if (n != 4) return invalid("TRANSA size"); memcpy(&d->ta, v, 4); break;
  case CUBLASLT_MATMUL_DESC_TRANSB: if (n != 4) return invalid("TRANSB size"); memcpy(&d->tb, v, 4); break;
  case CUBLASLT_MATMUL_DESC_EPILOGUE: if (n != 4) return invalid("EPILOGUE size"); memcpy(&d->epilogue, v, 4); break;
  case CUBLASLT_MATMUL_DESC_BIAS_POINTER: if (n != sizeof(void *)) return invalid("BIAS_POINTER size"); memcpy(&d->bias, v, n); break;
  default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType_t t, uint64_t rows, uint64_t cols,
                                          int64_t ld) {
  if (ld < (int64_t)(rows > 1 ? rows : 1)) return invalid("layout: ld smaller than rows");
  *l = new hubemu_lt_layout{t, rows, cols, ld, 1, 0};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
  delete l;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a,
                                                const void *v, size_t n) {
  switch (a) {
  case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT: if (n != 4) return invalid("BATCH_COUNT size"); memcpy(&l->batch, v, 4); break;
  case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET: if (n != 8) return invalid("STRIDED_BATCH_OFFSET size"); memcpy(&l->stride, v, 8); break;
  default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
  *p = new hubemu_lt_pref{0};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
  delete p;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                    cublasLtMatmulPreferenceAttributes_t a, const void *v, size_t n) {
  if (a == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES && n == 8) memcpy(&p->ws, v, 8);
  return CUBLAS_STATUS_SUCCESS;
}

namespace {
/* The product the descriptors describe: 0, or why not. */
const char *lt_check(cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t A, cublasLtMatrixLayout_t B,
                     cublasLtMatrixLayout_t C, cublasLtMatrixLayout_t D) {
  uint64_t am = d->ta ? A->cols : A->rows, ak = d->ta ? A->rows : A->cols;
  uint64_t bk = d->tb ? B->cols : B->rows, bn = d->tb ? B->rows : B->cols;
  if (am != D->rows || bn != D->cols || ak != bk) return "the layouts of A, B and D do not make a product";
  if (C->rows != D->rows || C->cols != D->cols) return "C and D differ in shape";
  if (A->batch != D->batch || B->batch != D->batch || C->batch != D->batch) return "batch counts differ";
  if (A->type != B->type || !types_ok(A->type, D->type, d->compute)) return "unsupported types";
  return nullptr;
}
} // namespace

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t A,
                                              cublasLtMatrixLayout_t B, cublasLtMatrixLayout_t C,
                                              cublasLtMatrixLayout_t D, cublasLtMatmulPreference_t, int want,
                                              cublasLtMatmulHeuristicResult_t *res, int *nres) {
  *nres = 0;
  if (want < 1) return CUBLAS_STATUS_INVALID_VALUE;
  if (const char *why = lt_check(d, A, B, C, D)) {
    fprintf(stderr, "hubemu: cublasLtMatmulAlgoGetHeuristic: %s\n", why);
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  memset(res, 0, sizeof *res);
  res->algo.data[0] = 0x4875626d; /* any mark: the algorithm is the reference loop */
  res->state = CUBLAS_STATUS_SUCCESS;
  *nres = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void *alpha, const void *A,
                              cublasLtMatrixLayout_t Ad, const void *B, cublasLtMatrixLayout_t Bd, const void *beta,
                              const void *C, cublasLtMatrixLayout_t Cd, void *D, cublasLtMatrixLayout_t Dd,
                              const cublasLtMatmulAlgo_t *algo, void *, size_t, cudaStream_t) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (const char *why = lt_check(d, Ad, Bd, Cd, Dd)) return invalid(why);
  if (algo && algo->data[0] != 0x4875626d) return invalid("an algorithm the heuristic did not give");
  uint32_t e = d->epilogue;
  bool has_bias = e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_RELU_BIAS || e == CUBLASLT_EPILOGUE_GELU_BIAS;
  if (has_bias && !d->bias) return invalid("a bias epilogue without CUBLASLT_MATMUL_DESC_BIAS_POINTER");
  if (has_bias && ((uintptr_t)d->bias & 15)) return invalid("a bias not 16-byte aligned");
  double al = scalar(alpha, d->compute), be = scalar(beta, d->compute);
  int ea = esize(Ad->type), ed = esize(Dd->type);
  if (hubemu::capturing()) { /* the descriptors by value: they may change after the call */
    hubemu_lt_desc dv = *d;
    hubemu_lt_layout a = *Ad, b = *Bd, c = *Cd, dd = *Dd;
    hubemu::record("cublasLtMatmul", [=]() {
      for (int q = 0; q < dd.batch; q++)
        product((int)dd.rows, (int)dd.cols, (int)(dv.ta ? a.rows : a.cols), al, (const char *)A + q * a.stride * ea,
                a.type, a.ld, dv.ta != 0, (const char *)B + q * b.stride * ea, b.type, b.ld, dv.tb != 0, be,
                (const char *)C + q * c.stride * ed, c.ld, (char *)D + q * dd.stride * ed, dd.type, dd.ld,
                rounding(dv.compute), dv.epilogue, (const float *)dv.bias);
    });
    return CUBLAS_STATUS_SUCCESS;
  }
  for (int q = 0; q < Dd->batch; q++)
    product((int)Dd->rows, (int)Dd->cols, (int)(d->ta ? Ad->rows : Ad->cols), al,
            (const char *)A + q * Ad->stride * ea, Ad->type, Ad->ld, d->ta != 0, (const char *)B + q * Bd->stride * ea,
            Bd->type, Bd->ld, d->tb != 0, be, (const char *)C + q * Cd->stride * ed, Cd->ld,
            (char *)D + q * Dd->stride * ed, Dd->type, Dd->ld, rounding(d->compute), e,
            (const float *)d->bias);
  return CUBLAS_STATUS_SUCCESS;
}
