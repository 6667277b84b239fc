/* emu.cpp (hubemu) - the CUDA runtime and the execution of kernels on the CPU.
 *
 * A launch runs its blocks one after another (in reverse with HUBEMU_ORDER=reverse) on the calling
 * host thread, under one lock (launches from several host threads take turns).  Every CUDA thread
 * of a block is a fiber with its own stack (a dozen instructions switch between them on x86-64;
 * ucontext elsewhere and under the sanitizers); the scheduler runs the runnable ones in turn
 * (in reverse too with HUBEMU_ORDER=reverse: a missing barrier shows in one order or the other),
 * each until it finishes or waits at a barrier:
 *   - __syncthreads: released when every thread of the block waits there.  A barrier that some
 *     threads of the block exited before reaching is undefined in CUDA: a fault here.
 *   - warp operations (__shfl_*_sync, __ballot_sync, __syncwarp): released when every lane of the
 *     mask waits with the same mask; a mask naming lanes the block does not have, or a shuffle
 *     reading a lane outside the mask, is a fault.
 * Nothing releasable while threads wait is a deadlock: a fault.  A fault prints one line naming
 * the kernel, block and thread, ends the launch, and makes the next cudaGetLastError /
 * cudaStreamSynchronize return cudaErrorLaunchFailure (HUBEMU_ABORT=1: abort, for a debugger).
 * Launch limits are a GPU's: at most 1024 threads per block (z at most 64), grid y and z at most
 * 65535, dynamic shared memory at most 48 KiB unless cudaFuncSetAttribute raised the kernel's limit
 * (at most 227 KiB).  Dynamic shared memory and new device memory start as 0xff bytes (NaN as
 * floats), so a read before any write shows.
 *
 * Device memory is host memory (cudaMalloc = aligned_alloc), so copies are memcpy; copies check
 * that their device side lies inside an allocation.  Streams and events exist for the API's sake:
 * everything is done when the call returns.  HUBEMU_DEVICES=0 makes cudaGetDeviceCount say there is
 * no device (the CPU-only path of a CUDA build).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define HUBEMU_FAST_SWITCH 1
/* hubemu_switch(&save_sp, next_sp): saves the callee-saved registers, the SSE and x87 control
 * words on this stack, stores the stack pointer in *save_sp, and resumes the stack next_sp (which
 * a previous switch saved, or which fiber_stack() prepared).  System V x86-64. */
extern "C" void hubemu_switch(void **save_sp, void *next_sp);
asm(".text\n"
    ".globl hubemu_switch\n"
    ".hidden hubemu_switch\n"
    ".type hubemu_switch,@function\n"
    "hubemu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size hubemu_switch, .-hubemu_switch\n");
#endif

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_runtime.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define POISON(p, n) __asan_poison_memory_region((p), (n))
#define UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace hubemu {

thread_local const Place *g_place;

/* ---- stream capture ---- */
struct Node {
  std::string what;
  std::function<void()> work;
};
static std::vector<Node> *g_capture; /* the graph being captured (one stream: one capture at a time) */
static cudaStreamCaptureMode g_capture_mode;
static thread_local cudaStreamCaptureMode t_mode = cudaStreamCaptureModeGlobal;
static const char *g_capture_broken;  /* why the capture is invalid, or null */

bool capturing() { return g_capture != nullptr; }
static cudaError_t capture_breaks(const char *what);
static cudaError_t unsafe_during_capture(const char *what) {
  if (!g_capture || g_capture_mode == cudaStreamCaptureModeRelaxed || t_mode == cudaStreamCaptureModeRelaxed)
    return cudaSuccess;
  return capture_breaks(what);
}
void record(const char *what, std::function<void()> work) { g_capture->push_back(Node{what, std::move(work)}); }

/* A potentially unsafe call (cudaMalloc, cudaFree): illegal during a capture unless the capture or
 * this thread's mode is Relaxed. */
static cudaError_t unsafe_during_capture(const char *what);
/* A call that is illegal during capture: invalidates it (0 when not capturing). */
static cudaError_t capture_breaks(const char *what) {
  if (!g_capture) return cudaSuccess;
  if (!g_capture_broken) g_capture_broken = what;
  return cudaErrorStreamCaptureUnsupported;
}

namespace {

enum State { RUN, WAIT_BLOCK, WAIT_WARP, DONE };
enum { MAX_THREADS = 1024, STACK_BYTES = 128 << 10, SMEM_DEFAULT = 48 << 10, SMEM_OPTIN = 227 << 10 };

struct Thread {
  Place place;
  ucontext_t ctx;
  void *sp;
  State st;
  unsigned wmask;
  int flat;
};

struct Block {
  int n, done;
  Thread th[MAX_THREADS];
  ucontext_t sched;
  void *sched_sp;
  unsigned char *smem;
  body_fn body;
  void *ctx;
  uint64_t xbuf[MAX_THREADS / 32][32];
  bool fault;
};

std::mutex g_launch_lock;
Block *g_block;
Thread *g_thread;
char *g_stacks;
const char *g_kernel = "?";
cudaError_t g_sticky = cudaSuccess;
int g_reverse = -1, g_abort = -1;
std::mutex g_mem_lock;
std::map<uintptr_t, size_t> g_allocs;
size_t g_live;
std::map<const void *, int> g_smem_limit;

bool reverse_order() {
  if (g_reverse < 0) {
    const char *e = getenv("HUBEMU_ORDER");
    g_reverse = e && strcmp(e, "reverse") == 0;
  }
  return g_reverse == 1;
}

void report(const char *fmt, va_list ap) {
  char msg[700];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "hubemu: %s\n", msg);
  if (g_abort < 0) {
    const char *e = getenv("HUBEMU_ABORT");
    g_abort = e && strcmp(e, "1") == 0;
  }
  if (g_abort) abort();
}

/* One "hubemu: ..." line on stderr (and abort() with HUBEMU_ABORT=1). */
void fault_line(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(fmt, ap);
  va_end(ap);
}

/* A fault found by the scheduler (not inside a fiber). */
void sched_fault(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(fmt, ap);
  va_end(ap);
  g_block->fault = true;
  g_sticky = cudaErrorLaunchFailure;
}

void fiber_main() {
  Block *b = g_block;
  b->body(b->ctx);
  g_thread->st = DONE;
  b->done++;
#ifdef HUBEMU_FAST_SWITCH
  void *dead;
  hubemu_switch(&dead, b->sched_sp); /* never resumed */
#endif
} /* ucontext: returns to uc_link, the scheduler */

void yield_to_scheduler() {
#ifdef HUBEMU_FAST_SWITCH
  hubemu_switch(&g_thread->sp, g_block->sched_sp);
#else
  swapcontext(&g_thread->ctx, &g_block->sched);
#endif
}

#ifdef HUBEMU_FAST_SWITCH
/* A new fiber's stack as hubemu_switch leaves a stopped one: the control words, six registers and
 * fiber_main as the return address (16-byte aligned as at a call). */
void *fiber_stack(char *base, size_t bytes) {
  uintptr_t top = ((uintptr_t)(base + bytes) & ~(uintptr_t)15) - 16;
  uint64_t *sp = (uint64_t *)top;
  *sp = (uint64_t)(uintptr_t)&fiber_main; /* at a 16-byte boundary: fiber_main starts as if called */
  sp -= 6;
  for (int i = 0; i < 6; i++) sp[i] = 0;
  sp -= 1;
  uint32_t mx;
  uint16_t cw;
  asm volatile("stmxcsr %0" : "=m"(mx));
  asm volatile("fnstcw %0" : "=m"(cw));
  memcpy(sp, &mx, 4);
  memcpy((char *)sp + 4, &cw, 2);
  return sp;
}
#endif

const char *where() {
  static thread_local char buf[160];
  const Place *p = g_place;
  snprintf(buf, sizeof buf, "%s, block (%u,%u,%u), thread (%u,%u,%u)", g_kernel, p->block.x, p->block.y, p->block.z,
           p->thread.x, p->thread.y, p->thread.z);
  return buf;
}

/* Releases every group of warp lanes that all wait with the same mask; true when any was. */
bool release_warps(Block *b) {
  bool any = false;
  for (int w = 0; w * 32 < b->n; w++) {
    int lanes = b->n - w * 32 < 32 ? b->n - w * 32 : 32;
    for (int l = 0; l < lanes; l++) {
      Thread *t = &b->th[w * 32 + l];
      if (t->st != WAIT_WARP) continue;
      unsigned m = t->wmask;
      bool ok = true;
      for (int k = 0; k < lanes && ok; k++)
        if ((m >> k) & 1u) ok = b->th[w * 32 + k].st == WAIT_WARP && b->th[w * 32 + k].wmask == m;
      if (!ok) continue;
      for (int k = 0; k < lanes; k++)
        if ((m >> k) & 1u) b->th[w * 32 + k].st = RUN;
      any = true;
    }
  }
  return any;
}

void run_block(Block *b, const Place &proto) {
  int n = b->n;
  unsigned bx = proto.block_dim.x, by = proto.block_dim.y;
  for (int i = 0; i < n; i++) {
    Thread *t = &b->th[i];
    t->place = proto;
    t->place.thread = uint3{(unsigned)(i % bx), (unsigned)(i / bx % by), (unsigned)(i / (bx * by))};
    t->st = RUN;
    t->flat = i;
#ifdef HUBEMU_FAST_SWITCH
    t->sp = fiber_stack(g_stacks + (size_t)i * STACK_BYTES, STACK_BYTES);
#else
    getcontext(&t->ctx);
    t->ctx.uc_stack.ss_sp = g_stacks + (size_t)i * STACK_BYTES;
    t->ctx.uc_stack.ss_size = STACK_BYTES;
    t->ctx.uc_link = &b->sched;
    makecontext(&t->ctx, fiber_main, 0);
#endif
  }
  b->done = 0;
  bool rev = reverse_order();
  while (!b->fault) {
    for (int k = 0; k < n && !b->fault; k++) {
      Thread *t = &b->th[rev ? n - 1 - k : k];
      if (t->st != RUN) continue;
      g_thread = t;
      g_place = &t->place;
#ifdef HUBEMU_FAST_SWITCH
      hubemu_switch(&b->sched_sp, t->sp);
#else
      swapcontext(&b->sched, &t->ctx);
#endif
    }
    if (b->fault || b->done == n) break;
    if (release_warps(b)) continue;
    int at_block = 0, at_warp = 0;
    for (int i = 0; i < n; i++) at_block += b->th[i].st == WAIT_BLOCK, at_warp += b->th[i].st == WAIT_WARP;
    if (at_block == n - b->done && at_block > 0) {
      if (b->done > 0) {
        sched_fault("%s, block (%u,%u,%u): __syncthreads reached by %d threads after %d of the block's %d had exited "
                    "(undefined in CUDA)", g_kernel, proto.block.x, proto.block.y, proto.block.z, at_block, b->done, n);
        break;
      }
      for (int i = 0; i < n; i++) b->th[i].st = RUN;
      continue;
    }
    sched_fault("%s, block (%u,%u,%u): deadlock: %d threads at __syncthreads, %d at a warp operation, %d exited "
                "(a barrier or shuffle not reached by every thread it names)", g_kernel, proto.block.x, proto.block.y,
                proto.block.z, at_block, at_warp, b->done);
    break;
  }
  g_thread = nullptr;
  g_place = nullptr;
}

bool in_device(const void *p, size_t n) {
  std::lock_guard<std::mutex> g(g_mem_lock);
  auto it = g_allocs.upper_bound((uintptr_t)p);
  if (it == g_allocs.begin()) return false;
  --it;
  return (uintptr_t)p >= it->first && (uintptr_t)p + n <= it->first + it->second;
}

cudaError_t bad_copy(const char *what, const void *dst, const void *src, size_t n) {
  fault_line("%s of %zu bytes from %p to %p: the device side is not inside a cudaMalloc block", what, n, src, dst);
  g_sticky = cudaErrorInvalidValue;
  return cudaErrorInvalidValue;
}

} // namespace

/* For the cuBLAS emulation: whether [p, p + n) lies inside one cudaMalloc block. */
bool device_span(const void *p, size_t n) { return in_device(p, n); }

void device_fault(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[400];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!g_block) { /* the emulated libraries' work: a later call reports cudaErrorLaunchFailure */
    fault_line("%s (outside a kernel)", msg);
    g_sticky = cudaErrorLaunchFailure;
    return;
  }
  fault_line("%s: %s", where(), msg);
  g_block->fault = true;
  g_sticky = cudaErrorLaunchFailure;
  yield_to_scheduler(); /* never resumed */
}

void *dyn_smem() { return g_block->smem; }

void syncthreads() {
  g_thread->st = WAIT_BLOCK;
  yield_to_scheduler();
}

void syncwarp(unsigned mask) {
  Thread *t = g_thread;
  int lane = t->flat & 31, base = t->flat - lane, lanes = g_block->n - base < 32 ? g_block->n - base : 32;
  if (!((mask >> lane) & 1u)) device_fault("a warp operation with mask %08x does not include the calling lane %d", mask, lane);
  if (lanes < 32 && (mask >> lanes) != 0)
    device_fault("a warp operation with mask %08x names lanes the block does not have (its last warp has %d)", mask, lanes);
  t->st = WAIT_WARP;
  t->wmask = mask;
  yield_to_scheduler();
}

uint64_t exchange(unsigned mask, uint64_t mine, int src, const char *what) {
  Thread *t = g_thread;
  int lane = t->flat & 31, w = t->flat >> 5;
  g_block->xbuf[w][lane] = mine;
  syncwarp(mask);
  if (src < 0 || src > 31 || !((mask >> src) & 1u))
    device_fault("%s: lane %d reads lane %d, which is not in the mask %08x", what, lane, src, mask);
  uint64_t r = g_block->xbuf[w][src];
  syncwarp(mask);
  return r;
}

unsigned ballot(unsigned mask, bool pred) {
  Thread *t = g_thread;
  int lane = t->flat & 31, w = t->flat >> 5;
  g_block->xbuf[w][lane] = pred;
  syncwarp(mask);
  unsigned r = 0;
  for (int k = 0; k < 32; k++)
    if (((mask >> k) & 1u) && g_block->xbuf[w][k]) r |= 1u << k;
  syncwarp(mask);
  return r;
}

cudaError_t run_grid(const char *name, const void *fn, dim3 grid, dim3 block, size_t smem, body_fn body, void *ctx) {
  std::lock_guard<std::mutex> lock(g_launch_lock);
  g_kernel = name;
  long threads = (long)block.x * block.y * block.z;
  int limit = SMEM_DEFAULT;
  {
    std::lock_guard<std::mutex> g(g_mem_lock);
    auto it = g_smem_limit.find(fn);
    if (it != g_smem_limit.end() && it->second > limit) limit = it->second;
  }
  const char *why = nullptr;
  if (threads < 1 || threads > MAX_THREADS || block.z > 64) why = "threads per block outside [1, 1024] (or z > 64)";
  else if (grid.x < 1 || grid.x > 0x7fffffffu || grid.y < 1 || grid.y > 65535 || grid.z < 1 || grid.z > 65535)
    why = "grid outside [1, 2^31-1] x [1, 65535] x [1, 65535]";
  else if (smem > (size_t)limit) why = "more dynamic shared memory than the kernel's limit";
  if (why) {
    fault_line("launch of %s with grid (%u,%u,%u), block (%u,%u,%u), %zu bytes of shared memory: %s (limit %d)", name, grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, why, limit);
    g_sticky = smem > (size_t)limit ? cudaErrorInvalidValue : cudaErrorInvalidConfiguration;
    return g_sticky;
  }
  if (!g_stacks) {
    void *p = mmap(nullptr, (size_t)MAX_THREADS * STACK_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      fault_line("no memory for the fibers' stacks");
      return g_sticky = cudaErrorMemoryAllocation;
    }
    g_stacks = (char *)p;
  }
  static Block *blk;
  if (!blk) blk = new Block();
  Block *b = blk;
  b->n = (int)threads;
  b->body = body;
  b->ctx = ctx;
  b->fault = false;
  b->smem = smem ? (unsigned char *)aligned_alloc(256, (smem + 255) / 256 * 256) : nullptr;
  g_block = b;
  Place proto;
  proto.block_dim = block;
  proto.grid_dim = grid;
  bool rev = reverse_order();
  uint64_t nb = (uint64_t)grid.x * grid.y * grid.z;
  for (uint64_t k = 0; k < nb && !b->fault; k++) {
    uint64_t i = rev ? nb - 1 - k : k;
    proto.block = uint3{(unsigned)(i % grid.x), (unsigned)(i / grid.x % grid.y), (unsigned)(i / ((uint64_t)grid.x * grid.y))};
    if (b->smem) memset(b->smem, 0xff, smem);
    run_block(b, proto);
  }
  free(b->smem);
  b->smem = nullptr;
  g_block = nullptr;
  return b->fault ? cudaErrorLaunchFailure : cudaSuccess;
}

} // namespace hubemu

using namespace hubemu;

/* ---- the runtime API ---- */

static int device_count() {
  const char *e = getenv("HUBEMU_DEVICES");
  return e && *e ? atoi(e) : 1;
}

cudaError_t cudaGetDeviceCount(int *n) {
  *n = device_count();
  return *n > 0 ? cudaSuccess : (g_sticky = cudaErrorNoDevice);
}
cudaError_t cudaSetDevice(int d) { return d >= 0 && d < device_count() ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaGetDevice(int *d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
  if (d < 0 || d >= device_count()) return cudaErrorInvalidDevice;
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "hubemu (the CUDA kernels emulated on the CPU)");
  p->totalGlobalMem = (size_t)16 << 30;
  p->sharedMemPerBlock = SMEM_DEFAULT;
  p->sharedMemPerBlockOptin = SMEM_OPTIN;
  p->warpSize = 32;
  p->maxThreadsPerBlock = MAX_THREADS;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff, p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->multiProcessorCount = 8;
  p->major = 9;
  return cudaSuccess;
}
const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected (hubemu: HUBEMU_DEVICES=0)";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorLaunchFailure: return "unspecified launch failure (hubemu: a fault, see the line above)";
  case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
  case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
  case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
  default: return "unknown error";
  }
}
cudaError_t cudaGetLastError(void) {
  cudaError_t e = g_sticky;
  g_sticky = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return g_sticky; }

cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode *mode) {
  cudaStreamCaptureMode prev = t_mode;
  t_mode = *mode;
  *mode = prev;
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode mode) {
  if (g_capture) return cudaErrorInvalidValue;
  g_capture_mode = mode;
  g_capture = new std::vector<Node>();
  g_capture_broken = nullptr;
  return cudaSuccess;
}
struct hubemu_graph {
  std::vector<Node> nodes;
};
struct hubemu_graph_exec {
  std::vector<Node> nodes;
};
cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t *g) {
  *g = nullptr;
  if (!g_capture) return cudaErrorStreamCaptureWrongThread;
  std::vector<Node> *nodes = g_capture;
  g_capture = nullptr;
  if (g_capture_broken) {
    fault_line("stream capture invalidated by %s during the capture", g_capture_broken);
    delete nodes;
    return cudaErrorStreamCaptureInvalidated;
  }
  *g = new hubemu_graph{std::move(*nodes)};
  delete nodes;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t, cudaStreamCaptureStatus *status) {
  *status = !g_capture ? cudaStreamCaptureStatusNone
                       : g_capture_broken ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long) {
  if (!g) return cudaErrorInvalidValue;
  *e = new hubemu_graph_exec{g->nodes};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t) {
  if (!e) return cudaErrorInvalidValue;
  if (g_capture) return capture_breaks("cudaGraphLaunch");
  for (Node &n : e->nodes) n.work();
  return g_sticky;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t n) {
  if (cudaError_t e = unsafe_during_capture("cudaMalloc (from a thread whose capture mode is not relaxed)")) return e;
  size_t r = (n + 255) / 256 * 256;
  void *q = aligned_alloc(256, r ? r : 256);
  if (!q) return g_sticky = cudaErrorMemoryAllocation;
  memset(q, 0xff, r ? r : 256);
  std::lock_guard<std::mutex> g(g_mem_lock);
  g_allocs[(uintptr_t)q] = n;
  g_live += n;
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
  if (!p) return cudaSuccess;
  if (cudaError_t e = unsafe_during_capture("cudaFree (from a thread whose capture mode is not relaxed)")) return e;
  std::lock_guard<std::mutex> g(g_mem_lock);
  auto it = g_allocs.find((uintptr_t)p);
  if (it == g_allocs.end()) {
    fault_line("cudaFree(%p): not a cudaMalloc block", p);
    return cudaErrorInvalidValue;
  }
  g_live -= it->second;
  UNPOISON(p, (it->second + 255) / 256 * 256);
  g_allocs.erase(it);
  free(p);
  return cudaSuccess;
}
void hubemu_mark_block(void *p, size_t used, size_t size) {
  {
    std::lock_guard<std::mutex> g(g_mem_lock);
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end() || size > it->second) {
      fault_line("the allocator marks %zu bytes at %p, which is not a cudaMalloc block of that size", size, p);
      return;
    }
  }
  UNPOISON(p, size);
  memset(p, 0xff, used);
  POISON((char *)p + used, size - used);
}

cudaError_t cudaMallocHost(void **p, size_t n) {
  *p = malloc(n ? n : 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void *p) {
  free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
  std::lock_guard<std::mutex> g(g_mem_lock);
  *total_bytes = (size_t)16 << 30;
  *free_bytes = *total_bytes - g_live;
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t) {
  if (n == 0) return cudaSuccess;
  bool dd = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool sd = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((dd && !in_device(dst, n)) || (sd && !in_device(src, n))) return bad_copy("cudaMemcpy", dst, src, n);
  if (g_capture) {
    if (kind != cudaMemcpyDeviceToDevice) return capture_breaks("a copy between host and device memory");
    record("cudaMemcpyAsync", [=]() { memmove(dst, src, n); });
    return cudaSuccess;
  }
  memmove(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind) {
  if (cudaError_t e = capture_breaks("cudaMemcpy (synchronous)")) return e;
  return cudaMemcpyAsync(dst, src, n, kind, 0);
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) {
  if (n == 0) return cudaSuccess;
  if (!in_device(p, n)) return bad_copy("cudaMemset", p, nullptr, n);
  if (g_capture) {
    record("cudaMemsetAsync", [=]() { memset(p, v, n); });
    return cudaSuccess;
  }
  memset(p, v, n);
  return cudaSuccess;
}
cudaError_t cudaMemset(void *p, int v, size_t n) {
  if (cudaError_t e = capture_breaks("cudaMemset (synchronous)")) return e;
  return cudaMemsetAsync(p, v, n, 0);
}

struct hubemu_stream {
  int unused;
};
struct hubemu_event {
  int unused;
};
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
  *s = new hubemu_stream();
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  if (cudaError_t e = capture_breaks("cudaStreamSynchronize")) return e;
  return g_sticky;
}
cudaError_t cudaDeviceSynchronize(void) {
  if (cudaError_t e = capture_breaks("cudaDeviceSynchronize")) return e;
  return g_sticky;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) {
  *e = new hubemu_event();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return capture_breaks("cudaEventSynchronize"); }
cudaError_t hubemu_func_set_smem(const void *fn, int bytes) {
  if (bytes < 0 || bytes > SMEM_OPTIN) return cudaErrorInvalidValue;
  std::lock_guard<std::mutex> g(g_mem_lock);
  g_smem_limit[fn] = bytes;
  return cudaSuccess;
}
