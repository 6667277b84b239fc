/* hub_cuda.h - facts about the CUDA device and its few settings.  Present in every build: without
 * the CUDA backend (HUB_CUDA=OFF, or no nvcc at build time) or without a GPU, the counts are 0 and
 * the calls fail with the reason.  Tensors move with hub_to_device(t, HUB_CUDA); memory statistics
 * are hub_mem_get_stats(HUB_CUDA, ...) (hub_base.h).  docs/cuda.md has the whole story.
 *
 *   if (hub_device_available(HUB_CUDA)) printf("%s\n", hub_cuda_device_name(0));
 */
#ifndef HUB_CUDA_API_H
#define HUB_CUDA_API_H

#include "hub_base.h"
#include "hub_tensor.h"

/* 1 when this library was built with the CUDA backend (whether or not a GPU is present). */
HUB_API int hub_cuda_built(void);
/* Number of CUDA devices (0 without the backend or a GPU). */
HUB_API int hub_cuda_device_count(void);
/* Name of device i ("NVIDIA H200"); NULL with an error when there is no such device. */
HUB_API const char *hub_cuda_device_name(int i);
/* Why hub_device_available(HUB_CUDA) is 0 ("no CUDA device (...)", "built without ..."); "" when
 * the device is available. */
HUB_API const char *hub_cuda_unavailable_reason(void);
/* Free and total memory of the device in use, in bytes. */
HUB_API int hub_cuda_mem_info(int64_t *free_bytes, int64_t *total_bytes);
/* Waits until every queued kernel and copy has finished (for timing); 0 or -1 with the error. */
HUB_API int hub_cuda_synchronize(void);
/* TF32 tensor-core math for f32 matmuls (on: 1, off: 0, just ask: -1); returns the previous
 * setting, or -1 with an error without a device.  Off by default (results then agree with the CPU
 * to f32 rounding); HUB_CUDA_TF32=1 in the environment turns it on at start. */
HUB_API int hub_cuda_set_tf32(int on);
/* c[i] = a[i] b[i] for contiguous cuda tensors a [batch, M, K] and b [batch, K, N] of one dtype
 * (f32, f16 or bf16; f32 accumulation) into c [batch, M, N] f32, through cuBLAS; not recorded.
 * The GEMM the benchmark times (matmul itself casts half operands to f32 first). */
HUB_API int hub_cuda_gemm(const hub_tensor *a, const hub_tensor *b, hub_tensor *c);

/* CUDA graphs: record the device work of some ops once, launch it again and again at the cost of
 * one launch.  Between hub_cuda_graph_begin() and hub_cuda_graph_end(1), ops on cuda tensors are
 * captured, not run; tensors made in between come from the graph's private memory and keep their
 * addresses, so after each hub_cuda_graph_replay(g) they hold the new results (write new inputs
 * into the tensors the captured ops read, with hub_copy_, before replaying).  Inside a capture
 * nothing may copy host memory to the device, read a value back or synchronise: such an op fails
 * with a message naming it, and hub_cuda_graph_end then fails too (pass 0 to abandon a capture
 * after an error).  Run the work once before capturing (first uses check and plan themselves).
 * Embedding ids are not checked in a graph: an id out of range gives a row of zeros.  One capture
 * at a time; graphs are freed with hub_cuda_graph_free (which waits for a replay in flight).
 * docs/cuda.md, "CUDA graphs". */
typedef struct hub_cuda_graph hub_cuda_graph;
HUB_API int hub_cuda_graph_begin(void);
HUB_API hub_cuda_graph *hub_cuda_graph_end(int keep);
HUB_API int hub_cuda_graph_replay(hub_cuda_graph *g);
HUB_API void hub_cuda_graph_free(hub_cuda_graph *g);
/* 1 while a capture is in progress (ops that would read back refuse then), else 0. */
HUB_API int hub_cuda_graph_capturing(void);

#endif
