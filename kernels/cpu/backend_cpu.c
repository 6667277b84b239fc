/* backend_cpu.c - the CPU kernel table: oneDNN primitives and OpenMP loops (see cpu.h). */
#include <omp.h>

#include "cpu.h"

static void cpu_set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
}

const hub_backend hub_cpu_backend = {
    .name = "cpu",
    .copy = cpu_copy,
    .fill = cpu_fill,
    .binary = cpu_binary,
    .binary_any = cpu_binary_any,
    .map = cpu_map,
    .masked_select = cpu_masked_select,
    .masked_scatter = cpu_masked_scatter,
    .gather_dim = cpu_gather_dim,
    .scatter_dim = cpu_scatter_dim,
    .sort = cpu_sort,
    .cumsum = cpu_cumsum,
    .unary_f64 = cpu_unary_f64,
    .unary_f64_backward = cpu_unary_f64_backward,
    .axpy = cpu_axpy,
    .unary = cpu_unary,
    .unary_backward = cpu_unary_backward,
    .matmul = cpu_matmul,
    .reduce = cpu_reduce,
    .softmax = cpu_softmax,
    .softmax_backward = cpu_softmax_backward,
    .layer_norm = cpu_layer_norm,
    .layer_norm_backward = cpu_layer_norm_backward,
    .dropout = cpu_dropout,
    .dropout_backward = cpu_dropout_backward,
    .gather = cpu_gather,
    .scatter_add = cpu_scatter_add,
    .where = cpu_where,
    .cross_entropy = cpu_cross_entropy,
    .cross_entropy_backward = cpu_cross_entropy_backward,
    .attention = cpu_attention,
    .attention_backward = cpu_attention_backward,
    .sgd_step = cpu_sgd_step,
    .adam_step = cpu_adam_step,
    .sum_squares = cpu_sum_squares,
    .scale = cpu_scale,
    .gru = cpu_gru,
    .crf_decode = cpu_crf_decode,
    .crf_nll = cpu_crf_nll,
    .crf_nll_backward = cpu_crf_nll_backward,
    .set_num_threads = cpu_set_num_threads,
};
