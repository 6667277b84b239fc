/* coverage.h - which kernels of runtime/core/backend.h the CUDA backend has, and for which dtypes
 * (the main operand's; MATMUL: the output's).  One list for two users: backend_cuda.c's supports()
 * (the real backend) and the stand-in "cuda" device of kernels/cpu/cuda_standin.c, which runs the
 * CUDA test cases on a machine without a GPU on the CPU's kernels behind exactly this coverage, so
 * that the GPU tests' own logic (leaves, shapes, which ops must be skipped) is checked on every CI
 * run and not first on a lent GPU.  Plain C, no CUDA: included by C code only.
 *
 * A kernel added to kernels/cuda goes into backend_cuda.c's table and here. */
#ifndef HUB_CUDA_COVERAGE_H
#define HUB_CUDA_COVERAGE_H

#include "backend.h"

/* 1 when the CUDA backend runs `kernel` on `dtype` (dtype < 0: any dtype it takes). */
static inline int hub_cuda_covers(int kernel, int dtype) {
  if (dtype >= HUB_DTYPE_COUNT) return 0;
  switch (kernel) {
  case HUB_K_COPY:
  case HUB_K_FILL:
  case HUB_K_GATHER:
  case HUB_K_BINARY_ANY:
  case HUB_K_MAP:
  case HUB_K_MASKED_SELECT:
  case HUB_K_MASKED_SCATTER:
  case HUB_K_GATHER_DIM:
  case HUB_K_SCATTER_DIM:
  case HUB_K_SORT:
  case HUB_K_CUMSUM: return 1; /* each checks the dtypes it takes, as the CPU's does */
  case HUB_K_UNARY_F64:
  case HUB_K_UNARY_F64_BACKWARD: return dtype < 0 || dtype == HUB_F64;
  case HUB_K_MATMUL:
  case HUB_K_REDUCE: return dtype < 0 || dtype == HUB_F32 || dtype == HUB_F64;
  case HUB_K_BINARY:
  case HUB_K_AXPY:
  case HUB_K_UNARY:
  case HUB_K_UNARY_BACKWARD:
  case HUB_K_SOFTMAX:
  case HUB_K_SOFTMAX_BACKWARD:
  case HUB_K_LAYER_NORM:
  case HUB_K_LAYER_NORM_BACKWARD:
  case HUB_K_DROPOUT:
  case HUB_K_DROPOUT_BACKWARD:
  case HUB_K_SCATTER_ADD:
  case HUB_K_WHERE:
  case HUB_K_CROSS_ENTROPY:
  case HUB_K_CROSS_ENTROPY_BACKWARD:
  case HUB_K_ATTENTION:
  case HUB_K_ATTENTION_BACKWARD:
  case HUB_K_ATTENTION_BACKWARD_RECOMPUTE:
  case HUB_K_SGD_STEP:
  case HUB_K_ADAM_STEP:
  case HUB_K_SUM_SQUARES:
  case HUB_K_SCALE:
  case HUB_K_GRU:
  case HUB_K_CRF_DECODE:
  case HUB_K_CRF_NLL:
  case HUB_K_CRF_NLL_BACKWARD: return dtype < 0 || dtype == HUB_F32;
  default: return 0;
  }
}

#endif
