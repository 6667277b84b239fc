/* cuda_runtime.h (hubemu) - the part of the CUDA runtime that kernels/cuda uses, emulated on the
 * CPU so that the backend's kernels run without a GPU (tests/cuda/emu/README.md).
 *
 * Device code is compiled as C++: every CUDA thread of a block is a fiber (emu.cpp), the block's
 * threads run in turn until each reaches a barrier (__syncthreads, a warp shuffle), and the
 * emulator checks what a GPU would not tell: a barrier some threads of the block never reach, a
 * shuffle whose partner lane is not taking part, a launch beyond the device's limits.  Device
 * memory is host memory, so the sanitizer build (CMAKE_BUILD_TYPE=Asan) checks every kernel's
 * accesses.  Launches (`k<<<grid, block, smem, stream>>>(args)`) and `extern __shared__` arrays
 * are rewritten by tests/cuda/emu/rewrite.cmake before compiling. */
#ifndef HUBEMU_CUDA_RUNTIME_H
#define HUBEMU_CUDA_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#define HUBEMU 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__ __restrict

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureWrongThread = 908,
} cudaError_t;

typedef struct hubemu_stream *cudaStream_t;
typedef struct hubemu_graph *cudaGraph_t;
typedef struct hubemu_graph_exec *cudaGraphExec_t;
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1, cudaStreamCaptureModeRelaxed = 2 };
enum cudaStreamCaptureStatus { cudaStreamCaptureStatusNone = 0, cudaStreamCaptureStatusActive = 1, cudaStreamCaptureStatusInvalidated = 2 };
typedef struct hubemu_event *cudaEvent_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
#define cudaStreamNonBlocking 1u
#define cudaEventDisableTiming 2u

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin;
  int warpSize, maxThreadsPerBlock, maxThreadsDim[3], maxGridSize[3], multiProcessorCount, major, minor;
};

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDevice(int *d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t n);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemset(void *p, int v, size_t n);
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s = 0);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t hubemu_func_set_smem(const void *fn, int bytes);
/* Stream capture: while a capture is active, launches, device-to-device copies, memsets and cuBLAS
 * calls are recorded, not run; a synchronisation or a copy to or from host memory invalidates the
 * capture (as on a GPU, where they are illegal during capture).  A graph launch runs the recorded
 * work in order. */
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g);
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus *status);
/* the calling thread's interaction mode (default Global): cudaMalloc / cudaFree from a thread whose
 * mode is not Relaxed invalidate a capture that was not begun Relaxed */
cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode *mode);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
template <class F>
cudaError_t cudaFuncSetAttribute(F *fn, cudaFuncAttribute attr, int value) {
  return attr == cudaFuncAttributeMaxDynamicSharedMemorySize ? hubemu_func_set_smem((const void *)fn, value)
                                                             : cudaErrorInvalidValue;
}

/* kernels/cuda/buffer.cu's caching allocator tells the emulator which bytes of a block are in use:
 * [0, used) filled with 0xff bytes and addressable, [used, size) not (under AddressSanitizer) */
void hubemu_mark_block(void *p, size_t used, size_t size);

/* ---- the device side ---- */
namespace hubemu {


struct Place {
  uint3 thread, block;
  dim3 block_dim, grid_dim;
};
extern thread_local const Place *g_place; /* the running thread's */
void *dyn_smem();
void syncthreads();
void syncwarp(unsigned mask);
/* one word per lane of the warp: every lane of `mask` writes its own, then reads lane `src`'s */
uint64_t exchange(unsigned mask, uint64_t mine, int src, const char *what);
unsigned ballot(unsigned mask, bool pred);
void device_fault(const char *fmt, ...);

typedef void (*body_fn)(void *);
/* true while a stream capture is active: work is recorded (record) instead of run */
bool capturing();
/* whether [p, p + n) lies inside one cudaMalloc block (the cuBLAS emulation's pointer checks) */
bool device_span(const void *p, size_t n);
void record(const char *what, std::function<void()> work);
cudaError_t run_grid(const char *name, const void *fn, dim3 grid, dim3 block, size_t smem, body_fn body, void *ctx);

template <class F, class... A>
struct Launch {
  const char *name;
  F fn;
  dim3 grid, block;
  size_t smem;
  template <class... Args>
  void operator()(Args &&...args) {
    if (capturing()) { /* the arguments by value, run at each graph launch */
      auto tup = std::make_tuple(typename std::decay<Args>::type(args)...);
      F f = fn;
      const char *nm = name;
      dim3 g = grid, b = block;
      size_t sm = smem;
      record(nm, [=]() mutable {
        auto call = [&]() { std::apply(f, tup); };
        run_grid(nm, (const void *)f, g, b, sm, [](void *c) { (*(decltype(call) *)c)(); }, &call);
      });
      return;
    }
    auto call = [&]() { fn(args...); };
    run_grid(name, (const void *)fn, grid, block, smem, [](void *c) { (*(decltype(call) *)c)(); }, &call);
  }
};
template <class F>
Launch<F> launch(const char *name, F fn, dim3 grid, dim3 block, size_t smem = 0, cudaStream_t = 0) {
  return Launch<F>{name, fn, grid, block, smem};
}

template <class T>
inline T shfl_as(unsigned mask, T v, int src, const char *what) {
  static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  uint64_t w = 0;
  memcpy(&w, &v, sizeof v);
  uint64_t r = exchange(mask, w, src, what);
  T out;
  memcpy(&out, &r, sizeof out);
  return out;
}
inline unsigned lane_id() {
  const Place *p = g_place;
  unsigned flat = p->thread.x + p->block_dim.x * (p->thread.y + p->block_dim.y * p->thread.z);
  return flat & 31u;
}

} // namespace hubemu

#define threadIdx (hubemu::g_place->thread)
#define blockIdx (hubemu::g_place->block)
#define blockDim (hubemu::g_place->block_dim)
#define gridDim (hubemu::g_place->grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { hubemu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { hubemu::syncwarp(mask); }
inline void __threadfence() {}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  int lane = (int)hubemu::lane_id();
  int src = (lane & ~(width - 1)) + (((lane % width) ^ lane_mask) & (width - 1));
  return hubemu::shfl_as(mask, v, src, "__shfl_xor_sync");
}
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  int lane = (int)hubemu::lane_id();
  return hubemu::shfl_as(mask, v, (lane & ~(width - 1)) + (src_lane % width), "__shfl_sync");
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = (int)hubemu::lane_id(), base = lane & ~(width - 1), s = lane % width + (int)delta;
  return hubemu::shfl_as(mask, v, s < width ? base + s : lane, "__shfl_down_sync");
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = (int)hubemu::lane_id(), base = lane & ~(width - 1), s = lane % width - (int)delta;
  return hubemu::shfl_as(mask, v, s >= 0 ? base + s : lane, "__shfl_up_sync");
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return hubemu::ballot(mask, pred != 0); }
inline int __any_sync(unsigned mask, int pred) { return hubemu::ballot(mask, pred != 0) != 0; }
inline int __all_sync(unsigned mask, int pred) { return hubemu::ballot(mask, pred != 0) == hubemu::ballot(mask, true); }

/* Atomics: the block's threads are fibers of one host thread and blocks run one after another, so
 * a read-modify-write is never interrupted. */
template <class T>
inline T atomicAdd(T *p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
template <class T>
inline T atomicExch(T *p, T v) {
  T old = *p;
  *p = v;
  return old;
}
template <class T>
inline T atomicMin(T *p, T v) {
  T old = *p;
  if (v < old) *p = v;
  return old;
}
template <class T>
inline T atomicMax(T *p, T v) {
  T old = *p;
  if (v > old) *p = v;
  return old;
}
template <class T>
inline T atomicCAS(T *p, T cmp, T v) {
  T old = *p;
  if (old == cmp) *p = v;
  return old;
}
template <class T>
inline T __ldg(const T *p) { return *p; }

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0 ? 0.0f : x > 1 ? 1.0f : x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }

#endif
