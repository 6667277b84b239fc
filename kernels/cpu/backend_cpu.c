/* backend_cpu.c - the CPU backend: its buffer interface (host memory through the caching
 * allocator of runtime/alloc.c; copies are memcpy, synchronize has nothing to wait for) and its
 * kernel table (oneDNN primitives and OpenMP loops, see cpu.h). */
#include <omp.h>
#include <string.h>

#include "cpu.h"

static void cpu_set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
}

static int cpu_copy_bytes(void *dst, const void *src, size_t n) {
  if (n) memmove(dst, src, n);
  return 0;
}

static int cpu_memset_bytes(void *dst, int byte, size_t n) {
  if (n) memset(dst, byte, n);
  return 0;
}

static int cpu_synchronize(void) { return 0; }

const hub_backend hub_cpu_backend = {
    .name = "cpu",
    .device = HUB_CPU,
    .buffer = {.alloc = hub_cpu_alloc, .free = hub_cpu_free, .copy_in = cpu_copy_bytes,
               .copy_out = cpu_copy_bytes, .copy_d2d = cpu_copy_bytes,
               .memset_bytes = cpu_memset_bytes, .synchronize = cpu_synchronize},
    .supports = NULL, /* every slot below, with the dtypes of the kernel list */
    .set_num_threads = cpu_set_num_threads,
    .kernels = {
        HUB_KERNEL(COPY, cpu_copy),
        HUB_KERNEL(FILL, cpu_fill),
        HUB_KERNEL(BINARY, cpu_binary),
        HUB_KERNEL(BINARY_ANY, cpu_binary_any),
        HUB_KERNEL(MAP, cpu_map),
        HUB_KERNEL(MASKED_SELECT, cpu_masked_select),
        HUB_KERNEL(MASKED_SCATTER, cpu_masked_scatter),
        HUB_KERNEL(GATHER_DIM, cpu_gather_dim),
        HUB_KERNEL(SCATTER_DIM, cpu_scatter_dim),
        HUB_KERNEL(SORT, cpu_sort),
        HUB_KERNEL(CUMSUM, cpu_cumsum),
        HUB_KERNEL(UNARY_F64, cpu_unary_f64),
        HUB_KERNEL(UNARY_F64_BACKWARD, cpu_unary_f64_backward),
        HUB_KERNEL(AXPY, cpu_axpy),
        HUB_KERNEL(UNARY, cpu_unary),
        HUB_KERNEL(UNARY_BACKWARD, cpu_unary_backward),
        HUB_KERNEL(MATMUL, cpu_matmul),
        HUB_KERNEL(REDUCE, cpu_reduce),
        HUB_KERNEL(SOFTMAX, cpu_softmax),
        HUB_KERNEL(SOFTMAX_BACKWARD, cpu_softmax_backward),
        HUB_KERNEL(LAYER_NORM, cpu_layer_norm),
        HUB_KERNEL(LAYER_NORM_BACKWARD, cpu_layer_norm_backward),
        HUB_KERNEL(DROPOUT, cpu_dropout),
        HUB_KERNEL(DROPOUT_BACKWARD, cpu_dropout_backward),
        HUB_KERNEL(GATHER, cpu_gather),
        HUB_KERNEL(SCATTER_ADD, cpu_scatter_add),
        HUB_KERNEL(WHERE, cpu_where),
        HUB_KERNEL(CROSS_ENTROPY, cpu_cross_entropy),
        HUB_KERNEL(CROSS_ENTROPY_BACKWARD, cpu_cross_entropy_backward),
        HUB_KERNEL(ATTENTION, cpu_attention),
        HUB_KERNEL(ATTENTION_BACKWARD, cpu_attention_backward),
        /* extensions: optimiser updates, Paddle's GRU and CRF */
        HUB_KERNEL(SGD_STEP, cpu_sgd_step),
        HUB_KERNEL(ADAM_STEP, cpu_adam_step),
        HUB_KERNEL(SUM_SQUARES, cpu_sum_squares),
        HUB_KERNEL(SCALE, cpu_scale),
        HUB_KERNEL(GRU, cpu_gru),
        HUB_KERNEL(CRF_DECODE, cpu_crf_decode),
        HUB_KERNEL(CRF_NLL, cpu_crf_nll),
        HUB_KERNEL(CRF_NLL_BACKWARD, cpu_crf_nll_backward),
    },
};
