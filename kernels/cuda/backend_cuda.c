/* backend_cuda.c - the CUDA backend's table: its buffer interface (buffer.cu), which kernels it has
 * for which dtypes, and the probe runtime/core/backend.c calls the first time anything asks about
 * the "cuda" device (so a CPU-only program never initialises CUDA).
 *
 * Every kernel of runtime/core/backend.h is in the table; the dtypes each takes are in coverage.h
 * (an op on another dtype is refused by hub_dispatch with a message naming it).  kernels/cuda/cuda.h
 * describes the files. */
#include "coverage.h"
#include "cuda.h"

static const hub_backend hub_cuda_backend;

/* The dtypes each kernel of this table takes: coverage.h (shared with the tests' stand-in). */
static int cuda_supports(const hub_backend *b, int kernel, int dtype) {
  (void)b;
  if (kernel < 0 || kernel >= HUB_KERNEL_COUNT || !hub_cuda_backend.kernels[kernel]) return 0;
  return hub_cuda_covers(kernel, dtype);
}

static const hub_backend hub_cuda_backend = {
    .name = "cuda",
    .device = HUB_CUDA,
    .buffer = {.alloc = cuda_alloc, .free = cuda_free, .copy_in = cuda_copy_in, .copy_out = cuda_copy_out,
               .copy_d2d = cuda_copy_d2d, .memset_bytes = cuda_memset, .synchronize = cuda_synchronize,
               .stats = cuda_mem_stats, .empty_cache = cuda_empty_cache, .set_cache_limit = cuda_set_cache_limit},
    .supports = cuda_supports,
    .set_num_threads = NULL,
    .kernels = {
        HUB_KERNEL(COPY, cuda_copy),
        HUB_KERNEL(FILL, cuda_fill),
        HUB_KERNEL(BINARY, cuda_binary),
        HUB_KERNEL(BINARY_ANY, cuda_binary_any),
        HUB_KERNEL(MAP, cuda_map),
        HUB_KERNEL(MASKED_SELECT, cuda_masked_select),
        HUB_KERNEL(MASKED_SCATTER, cuda_masked_scatter),
        HUB_KERNEL(GATHER_DIM, cuda_gather_dim),
        HUB_KERNEL(SCATTER_DIM, cuda_scatter_dim),
        HUB_KERNEL(SORT, cuda_sort),
        HUB_KERNEL(CUMSUM, cuda_cumsum),
        HUB_KERNEL(UNARY_F64, cuda_unary_f64),
        HUB_KERNEL(UNARY_F64_BACKWARD, cuda_unary_f64_backward),
        HUB_KERNEL(AXPY, cuda_axpy),
        HUB_KERNEL(UNARY, cuda_unary),
        HUB_KERNEL(UNARY_BACKWARD, cuda_unary_backward),
        HUB_KERNEL(MATMUL, cuda_matmul),
        HUB_KERNEL(REDUCE, cuda_reduce),
        HUB_KERNEL(SOFTMAX, cuda_softmax),
        HUB_KERNEL(SOFTMAX_BACKWARD, cuda_softmax_backward),
        HUB_KERNEL(LAYER_NORM, cuda_layer_norm),
        HUB_KERNEL(LAYER_NORM_BACKWARD, cuda_layer_norm_backward),
        HUB_KERNEL(DROPOUT, cuda_dropout),
        HUB_KERNEL(DROPOUT_BACKWARD, cuda_dropout_backward),
        HUB_KERNEL(GATHER, cuda_gather),
        HUB_KERNEL(SCATTER_ADD, cuda_scatter_add),
        HUB_KERNEL(WHERE, cuda_where),
        HUB_KERNEL(CROSS_ENTROPY, cuda_cross_entropy),
        HUB_KERNEL(CROSS_ENTROPY_BACKWARD, cuda_cross_entropy_backward),
        HUB_KERNEL(ATTENTION, cuda_attention),
        HUB_KERNEL(ATTENTION_BACKWARD, cuda_attention_backward),
        HUB_KERNEL(ATTENTION_BACKWARD_RECOMPUTE, cuda_attention_backward_recompute),
        HUB_KERNEL(SGD_STEP, cuda_sgd_step),
        HUB_KERNEL(ADAM_STEP, cuda_adam_step),
        HUB_KERNEL(SUM_SQUARES, cuda_sum_squares),
        HUB_KERNEL(SCALE, cuda_scale),
        HUB_KERNEL(GRU, cuda_gru),
        HUB_KERNEL(CRF_DECODE, cuda_crf_decode),
        HUB_KERNEL(CRF_NLL, cuda_crf_nll),
        HUB_KERNEL(CRF_NLL_BACKWARD, cuda_crf_nll_backward),
    },
};

/* Called once by runtime/core/backend.c: the table when a GPU answers, else NULL with the reason
 * ("no CUDA device (cudaGetDeviceCount: ...)") in hub_last_error(). */
const hub_backend *hub_cuda_probe(void) { return cuda_init() == 0 ? &hub_cuda_backend : NULL; }

/* The device facts behind hub_cuda.h (runtime/core/backend.c forwards to these). */
int hub_cuda_impl_device_count(void) { return cuda_device_count(); }
const char *hub_cuda_impl_device_name(int i) { return cuda_device_name(i); }
int hub_cuda_impl_mem_info(int64_t *free_bytes, int64_t *total_bytes) { return cuda_mem_info(free_bytes, total_bytes); }
int hub_cuda_impl_set_tf32(int on) {
  int prev = cuda_get_tf32();
  if (on >= 0) cuda_set_tf32(on);
  return prev;
}
int hub_cuda_impl_gemm(int dtype, int64_t batch, int64_t M, int64_t N, int64_t K, const void *a, const void *b, float *c) {
  if (cuda_init()) return -1;
  return cuda_gemm_raw(dtype, batch, M, N, K, a, b, c);
}
int hub_cuda_impl_graph_begin(void) { return cuda_graph_begin(); }
void *hub_cuda_impl_graph_end(int keep) { return cuda_graph_end(keep); }
int hub_cuda_impl_graph_replay(void *g) { return cuda_graph_replay(g); }
void hub_cuda_impl_graph_free(void *g) { cuda_graph_free(g); }
int hub_cuda_impl_graph_capturing(void) { return cuda_capturing(); }
