/* buffer.cu - the CUDA device: its stream, cuBLAS handle, caching allocator and copies (the
 * buffer interface of runtime/core/backend.h).
 *
 * The device is found once, on the first question about it (cuda_init; pthread_once): the
 * device HUB_CUDA_DEVICE (default 0), one non-blocking stream on it that every kernel, copy and
 * cuBLAS call uses, a cuBLAS handle bound to that stream and two pinned staging buffers.
 *
 * Allocator: cudaMalloc and cudaFree synchronise the device and cost tens of microseconds, so
 * freed blocks are kept in per-size-class free lists, as the CPU allocator (runtime/core/alloc.c)
 * does: sizes are rounded up to 512-byte steps below 8 KiB, then to 8 classes per power of two (at
 * most 12.5% slack).  The lists hold host-side records (device memory cannot carry the links).
 * Because all work is ordered on one stream, a block freed by the host can be handed out again at
 * once: any kernel still using it was queued before the next user's.  The cache is bounded like
 * the CPU's (default: the larger of 1 GiB and peak - live bytes; hub_mem_set_cache_limit(1, n)
 * sets a fixed bound); a cudaMalloc that fails empties the cache and tries once more.  Statistics
 * are hub_mem_get_stats(HUB_CUDA, ...).
 *
 * Graphs: while a CUDA graph is captured, allocations come from a pool of the graph's own (its
 * free lists, then cudaMalloc), and a block of a pool that is freed goes back to that pool (during
 * the capture and after, when the caller drops an output): the graph's kernels keep using those
 * addresses at every replay, so no other allocation may get them.  Destroying the graph frees its
 * pool's free blocks; blocks still held (outputs) go to the common cache when they are freed.
 *
 * Copies: host -> device goes through two pinned buffers of 4 MiB in turn (memcpy into one while
 * the DMA engine drains the other), so the call returns as soon as the last chunk is staged and
 * the caller's memory may be reused.  Device -> host is staged the same way and waits for the
 * data (the caller reads it next).  Device -> device and memset are queued on the stream.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <pthread.h>

#include <unordered_map>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "cuda.h"
}

namespace {

pthread_once_t g_once = PTHREAD_ONCE_INIT;
int g_ok, g_dev, g_count;
char g_why[320];
cudaStream_t g_stream;
cublasHandle_t g_cublas;
pthread_mutex_t g_cublas_lock = PTHREAD_MUTEX_INITIALIZER;
int g_tf32;

enum { STAGE_BYTES = 4 << 20, CUBLAS_WS_BYTES = 32 << 20 };
void *g_cublas_ws;
void *g_stage[2];
cudaEvent_t g_stage_ev[2];
pthread_mutex_t g_stage_lock = PTHREAD_MUTEX_INITIALIZER;

void init_once() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n <= 0) {
    snprintf(g_why, sizeof g_why, "no CUDA device (cudaGetDeviceCount: %s)",
             e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    cudaGetLastError(); /* clear the sticky error */
    return;
  }
  g_count = n;
  const char *env = getenv("HUB_CUDA_DEVICE");
  g_dev = env && *env ? atoi(env) : 0;
  if (g_dev < 0 || g_dev >= n) {
    snprintf(g_why, sizeof g_why, "no CUDA device: HUB_CUDA_DEVICE=%s but there are %d device(s)", env, n);
    return;
  }
  const char *tf = getenv("HUB_CUDA_TF32");
  g_tf32 = tf && *tf && strcmp(tf, "0") != 0;
  if ((e = cudaSetDevice(g_dev)) != cudaSuccess ||
      (e = cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking)) != cudaSuccess ||
      (e = cudaMallocHost(&g_stage[0], STAGE_BYTES)) != cudaSuccess ||
      (e = cudaMallocHost(&g_stage[1], STAGE_BYTES)) != cudaSuccess ||
      (e = cudaEventCreateWithFlags(&g_stage_ev[0], cudaEventDisableTiming)) != cudaSuccess ||
      (e = cudaEventCreateWithFlags(&g_stage_ev[1], cudaEventDisableTiming)) != cudaSuccess) {
    snprintf(g_why, sizeof g_why, "no CUDA device: device %d could not be set up (%s)", g_dev,
             cudaGetErrorString(e));
    cudaGetLastError();
    return;
  }
  cublasStatus_t s = cublasCreate(&g_cublas);
  if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(g_cublas, g_stream);
  /* cuBLAS's workspace of our own, made once: a graph capture (buffer.cu's graphs) must not see
   * cuBLAS allocate one (NVIDIA's advice for graphs; 32 MiB covers Hopper).  Without it cuBLAS
   * uses its default. */
  if (s == CUBLAS_STATUS_SUCCESS && cudaMalloc(&g_cublas_ws, CUBLAS_WS_BYTES) == cudaSuccess) {
    if (cublasSetWorkspace(g_cublas, g_cublas_ws, CUBLAS_WS_BYTES) != CUBLAS_STATUS_SUCCESS) {
      cudaFree(g_cublas_ws);
      g_cublas_ws = nullptr;
    }
  } else {
    cudaGetLastError();
  }
  if (s != CUBLAS_STATUS_SUCCESS) {
    snprintf(g_why, sizeof g_why, "no CUDA device: cuBLAS could not start on device %d (%s)", g_dev,
             cublasGetStatusString(s));
    return;
  }
  g_ok = 1;
}

/* Later calls from other host threads must talk to the same device. */
inline void bind() {
  if (g_dev != 0) cudaSetDevice(g_dev);
}

int fail(const char *what, cudaError_t e) {
  return hub_err("cuda: %s: %s", what, cudaGetErrorString(e));
}

/* ---- the caching allocator ---- */

enum { N_SMALL = 16, N_CLASSES = N_SMALL + 8 * 50 };

struct block_rec {
  void *p;
  block_rec *next;
};

struct cache_t {
  pthread_mutex_t lock;
  block_rec *lists[N_CLASSES];
  block_rec *spare; /* records not in use */
  hub_mem_stats stats;
  int64_t limit;    /* -1: the default bound */
};

cache_t g_cache = {PTHREAD_MUTEX_INITIALIZER, {}, nullptr, {}, -1};

/* A graph's private pool (under g_cache.lock): its free blocks; g_pool_of maps every block a pool
 * owns to the pool; g_capture_pool is the pool of the capture in progress. */
struct pool_t {
  block_rec *lists[N_CLASSES];
};
std::unordered_map<void *, pool_t *> *g_pool_of;
pool_t *g_capture_pool;
int g_capturing;
const int64_t k_min_cache = (int64_t)1 << 30;

int size_class(size_t n, size_t *rounded) {
  if (n <= 8192) {
    size_t r = (n + 511) & ~(size_t)511;
    if (r == 0) r = 512;
    *rounded = r;
    return (int)(r / 512) - 1; /* 0..15 */
  }
  int lg = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^lg < n <= 2^(lg+1), lg >= 13 */
  size_t step = ((size_t)1 << lg) / 8;
  size_t r = (n + step - 1) / step * step;
  int sub = (int)((r >> lg) == 2 ? 8 : ((r - ((size_t)1 << lg)) / step));
  *rounded = r;
  int cls = N_SMALL + (lg - 13) * 8 + sub - 1;
  return cls < N_CLASSES ? cls : -1;
}

/* Frees every cached block (cache lock held). */
void drain_locked() {
  for (int i = 0; i < N_CLASSES; i++) {
    block_rec *b = g_cache.lists[i];
    while (b) {
      block_rec *n = b->next;
      cudaFree(b->p);
      b->next = g_cache.spare;
      g_cache.spare = b;
      b = n;
    }
    g_cache.lists[i] = nullptr;
  }
  g_cache.stats.cached_bytes = 0;
}

} // namespace

extern "C" {

int cuda_init(void) {
  pthread_once(&g_once, init_once);
  if (!g_ok) return hub_err("%s", g_why);
  bind();
  return 0;
}

int cuda_device_count(void) {
  pthread_once(&g_once, init_once);
  return g_count;
}

const char *cuda_device_name(int i) {
  static char names[16][256];
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_once(&g_once, init_once);
  if (i < 0 || i >= g_count) return (const char *)hub_errp("cuda: device %d does not exist (%d device(s))", i, g_count);
  if (i >= 16) return "CUDA device";
  pthread_mutex_lock(&lock);
  if (!names[i][0]) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess)
      snprintf(names[i], sizeof names[i], "%s", prop.name);
    else
      snprintf(names[i], sizeof names[i], "CUDA device %d", i);
  }
  pthread_mutex_unlock(&lock);
  return names[i];
}

int cuda_current_device(void) { return g_dev; }

void *cuda_stream(void) {
  bind();
  return (void *)g_stream;
}

void *cuda_cublas(void) { return (void *)g_cublas; }
void cuda_cublas_lock(void) { pthread_mutex_lock(&g_cublas_lock); }
void cuda_cublas_unlock(void) { pthread_mutex_unlock(&g_cublas_lock); }
void cuda_set_tf32(int on) { g_tf32 = on != 0; }
int cuda_get_tf32(void) { return g_tf32; }

int cuda_check(const char *what) {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? 0 : fail(what, e);
}

void *cuda_alloc(size_t nbytes) {
  if (nbytes > ((size_t)1 << 46)) return hub_errp("cuda: out of memory: cannot allocate %zu bytes", nbytes);
  size_t rounded;
  int cls = size_class(nbytes, &rounded);
  void *p = nullptr;
  pthread_mutex_lock(&g_cache.lock);
  pool_t *pool = g_capture_pool;
  block_rec **lists = pool ? pool->lists : g_cache.lists;
  if (cls < 0 && pool) { /* beyond the size classes: not poolable */
    pthread_mutex_unlock(&g_cache.lock);
    return hub_errp("cuda: a block of %zu bytes cannot be allocated during graph capture", nbytes);
  }
  if (cls >= 0 && lists[cls]) {
    block_rec *b = lists[cls];
    lists[cls] = b->next;
    p = b->p;
    b->next = g_cache.spare;
    g_cache.spare = b;
    if (!pool) g_cache.stats.cached_bytes -= (int64_t)rounded;
  }
  g_cache.stats.alloc_count++;
  pthread_mutex_unlock(&g_cache.lock);
  if (!p) {
    bind();
    /* in a capture: cudaMalloc is "potentially unsafe" there, allowed in relaxed mode; the block
     * belongs to the graph's pool for good, so the graph stays valid */
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    if (pool) cudaThreadExchangeStreamCaptureMode(&mode);
    cudaError_t e = cudaMalloc(&p, rounded);
    if (pool) cudaThreadExchangeStreamCaptureMode(&mode);
    if (e != cudaSuccess && !pool) { /* give the cache back and try once more (not while capturing) */
      cudaGetLastError();
      pthread_mutex_lock(&g_cache.lock);
      drain_locked();
      pthread_mutex_unlock(&g_cache.lock);
      e = cudaMalloc(&p, rounded);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      return hub_errp("cuda: out of memory: cannot allocate %zu bytes (%s)", nbytes, cudaGetErrorString(e));
    }
    __atomic_fetch_add(&g_cache.stats.os_alloc_count, 1, __ATOMIC_RELAXED);
    if (pool) {
      pthread_mutex_lock(&g_cache.lock);
      if (!g_pool_of) g_pool_of = new std::unordered_map<void *, pool_t *>();
      (*g_pool_of)[p] = pool;
      pthread_mutex_unlock(&g_cache.lock);
    }
  }
  pthread_mutex_lock(&g_cache.lock);
  g_cache.stats.live_bytes += (int64_t)rounded;
  if (g_cache.stats.live_bytes > g_cache.stats.peak_bytes) g_cache.stats.peak_bytes = g_cache.stats.live_bytes;
  pthread_mutex_unlock(&g_cache.lock);
#ifdef HUBEMU /* tests/cuda/emu: nbytes of the block usable (0xff bytes), its slack not (sanitizer builds);
                 a graph's block all of it: the graph's kernels use it in turn with several sizes */
  hubemu_mark_block(p, pool ? rounded : nbytes, rounded);
#endif
  return p;
}

void cuda_free(void *p, size_t nbytes) {
  if (!p) return;
  size_t rounded;
  int cls = size_class(nbytes, &rounded);
  pthread_mutex_lock(&g_cache.lock);
  g_cache.stats.live_bytes -= (int64_t)rounded;
  if (g_pool_of && cls >= 0) { /* a graph's block goes back to its pool */
    auto it = g_pool_of->find(p);
    if (it != g_pool_of->end()) {
      block_rec *b = g_cache.spare;
      if (b) g_cache.spare = b->next;
      else b = (block_rec *)malloc(sizeof *b);
      if (b) {
        b->p = p;
        b->next = it->second->lists[cls];
        it->second->lists[cls] = b;
      } /* else: the block stays the pool's, unlisted, until the graph is destroyed */
      pthread_mutex_unlock(&g_cache.lock);
      return;
    }
  }
#ifdef HUBEMU /* a cached block is not to be touched until it is handed out again */
  hubemu_mark_block(p, 0, rounded);
#endif
  int64_t limit = g_cache.limit;
  if (limit < 0) {
    limit = g_cache.stats.peak_bytes - g_cache.stats.live_bytes;
    if (limit < k_min_cache) limit = k_min_cache;
  }
  if (cls >= 0 && (g_capturing || g_cache.stats.cached_bytes + (int64_t)rounded <= limit)) { /* no cudaFree in a capture */
    block_rec *b = g_cache.spare;
    if (b)
      g_cache.spare = b->next;
    else
      b = (block_rec *)malloc(sizeof *b);
    if (b) {
      b->p = p;
      b->next = g_cache.lists[cls];
      g_cache.lists[cls] = b;
      g_cache.stats.cached_bytes += (int64_t)rounded;
      p = nullptr;
    }
  }
  pthread_mutex_unlock(&g_cache.lock);
  if (p) {
    bind();
    cudaFree(p); /* synchronises the device: queued users of p finish first */
  }
}

void cuda_mem_stats(hub_mem_stats *out) {
  pthread_mutex_lock(&g_cache.lock);
  *out = g_cache.stats;
  pthread_mutex_unlock(&g_cache.lock);
}

void cuda_empty_cache(void) {
  bind();
  pthread_mutex_lock(&g_cache.lock);
  drain_locked();
  pthread_mutex_unlock(&g_cache.lock);
}

void cuda_set_cache_limit(int64_t bytes) {
  pthread_mutex_lock(&g_cache.lock);
  g_cache.limit = bytes < 0 ? -1 : bytes;
  if (bytes >= 0 && g_cache.stats.cached_bytes > bytes) drain_locked();
  pthread_mutex_unlock(&g_cache.lock);
}

int cuda_mem_info(int64_t *free_bytes, int64_t *total_bytes) {
  if (cuda_init()) return -1;
  size_t f = 0, t = 0;
  cudaError_t e = cudaMemGetInfo(&f, &t);
  if (e != cudaSuccess) return fail("cudaMemGetInfo", e);
  *free_bytes = (int64_t)f;
  *total_bytes = (int64_t)t;
  return 0;
}

/* ---- copies ---- */

static int capture_refuses(const char *what) {
  return hub_err("cuda: %s during CUDA graph capture: the captured function may only queue work on the device "
                 "(make its inputs before capturing; read its outputs after)", what);
}

int cuda_copy_in(void *dst, const void *host, size_t n) {
  if (!n) return 0;
  if (g_capturing) return capture_refuses("a copy from host memory to the device");
  bind();
  pthread_mutex_lock(&g_stage_lock);
  cudaError_t e = cudaSuccess;
  int i = 0;
  for (size_t off = 0; off < n && e == cudaSuccess; off += STAGE_BYTES, i ^= 1) {
    size_t c = n - off < (size_t)STAGE_BYTES ? n - off : (size_t)STAGE_BYTES;
    e = cudaEventSynchronize(g_stage_ev[i]); /* the DMA of this buffer's last chunk is done */
    if (e != cudaSuccess) break;
    memcpy(g_stage[i], (const char *)host + off, c);
    e = cudaMemcpyAsync((char *)dst + off, g_stage[i], c, cudaMemcpyHostToDevice, g_stream);
    if (e == cudaSuccess) e = cudaEventRecord(g_stage_ev[i], g_stream);
  }
  pthread_mutex_unlock(&g_stage_lock);
  return e == cudaSuccess ? 0 : fail("copy to the device", e);
}

int cuda_copy_out(void *host, const void *src, size_t n) {
  if (!n) return 0;
  if (g_capturing) return capture_refuses("a read back to the host (item, totable, printing, a data-dependent size)");
  bind();
  pthread_mutex_lock(&g_stage_lock);
  size_t nchunks = (n + STAGE_BYTES - 1) / STAGE_BYTES;
  cudaError_t e = cudaSuccess;
  /* chunk k goes through buffer k % 2; chunk k + 1 is queued before chunk k is copied out */
  for (size_t k = 0; k <= nchunks && e == cudaSuccess; k++) {
    if (k < nchunks) {
      size_t off = k * STAGE_BYTES, c = n - off < (size_t)STAGE_BYTES ? n - off : (size_t)STAGE_BYTES;
      e = cudaMemcpyAsync(g_stage[k & 1], (const char *)src + off, c, cudaMemcpyDeviceToHost, g_stream);
      if (e == cudaSuccess) e = cudaEventRecord(g_stage_ev[k & 1], g_stream);
    }
    if (k > 0 && e == cudaSuccess) {
      size_t j = k - 1, off = j * STAGE_BYTES, c = n - off < (size_t)STAGE_BYTES ? n - off : (size_t)STAGE_BYTES;
      e = cudaEventSynchronize(g_stage_ev[j & 1]);
      if (e == cudaSuccess) memcpy((char *)host + off, g_stage[j & 1], c);
    }
  }
  pthread_mutex_unlock(&g_stage_lock);
  return e == cudaSuccess ? 0 : fail("copy from the device", e);
}

int cuda_copy_d2d(void *dst, const void *src, size_t n) {
  if (!n || dst == src) return 0;
  bind();
  cudaError_t e = cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, g_stream);
  return e == cudaSuccess ? 0 : fail("device copy", e);
}

int cuda_memset(void *dst, int byte, size_t n) {
  if (!n) return 0;
  bind();
  cudaError_t e = cudaMemsetAsync(dst, byte, n, g_stream);
  return e == cudaSuccess ? 0 : fail("memset", e);
}

int cuda_synchronize(void) {
  if (g_capturing) return capture_refuses("a synchronisation");
  bind();
  cudaError_t e = cudaStreamSynchronize(g_stream);
  return e == cudaSuccess ? 0 : fail("synchronize", e);
}

/* ---- CUDA graphs ---- */

struct graph_t {
  cudaGraphExec_t exec;
  void *pool; /* a pool_t */
};

int cuda_capturing(void) { return g_capturing; }

/* Frees the pool's free blocks; blocks still held leave the pool (the common cache gets them when
 * they are freed). */
static void pool_release(pool_t *pool) {
  if (!pool) return;
  pthread_mutex_lock(&g_cache.lock);
  block_rec *freed = nullptr;
  for (int i = 0; i < N_CLASSES; i++) {
    block_rec *b = pool->lists[i];
    while (b) {
      block_rec *n = b->next;
      b->next = freed;
      freed = b;
      b = n;
    }
  }
  if (g_pool_of)
    for (auto it = g_pool_of->begin(); it != g_pool_of->end();) it = it->second == pool ? g_pool_of->erase(it) : std::next(it);
  pthread_mutex_unlock(&g_cache.lock);
  bind();
  while (freed) {
    block_rec *n = freed->next;
    cudaFree(freed->p);
    pthread_mutex_lock(&g_cache.lock);
    freed->next = g_cache.spare;
    g_cache.spare = freed;
    pthread_mutex_unlock(&g_cache.lock);
    freed = n;
  }
  delete pool;
}

int cuda_graph_begin(void) {
  if (cuda_init()) return -1;
  if (g_capturing) return hub_err("cuda: a graph capture is already in progress");
  bind();
  pool_t *pool = new pool_t();
  pthread_mutex_lock(&g_cache.lock);
  g_capture_pool = pool;
  g_capturing = 1;
  pthread_mutex_unlock(&g_cache.lock);
  cudaError_t e = cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    pthread_mutex_lock(&g_cache.lock);
    g_capture_pool = nullptr;
    g_capturing = 0;
    pthread_mutex_unlock(&g_cache.lock);
    pool_release(pool);
    return fail("begin graph capture", e);
  }
  return 0;
}

static graph_t *g_deferred[64]; /* graphs freed during a capture (a garbage collector's finalizer) */
static int g_ndeferred;

static void free_deferred(void) {
  for (;;) {
    pthread_mutex_lock(&g_cache.lock);
    graph_t *g = g_ndeferred > 0 ? g_deferred[--g_ndeferred] : nullptr;
    pthread_mutex_unlock(&g_cache.lock);
    if (!g) return;
    cuda_graph_free(g);
  }
}

void *cuda_graph_end(int keep) {
  if (!g_capturing) return hub_errp("cuda: no graph capture in progress");
  bind();
  cudaGraph_t g = nullptr;
  cudaError_t e = cudaStreamEndCapture(g_stream, &g);
  pthread_mutex_lock(&g_cache.lock);
  pool_t *pool = g_capture_pool;
  g_capture_pool = nullptr;
  g_capturing = 0;
  pthread_mutex_unlock(&g_cache.lock);
  cudaGetLastError();
  cudaGraphExec_t exec = nullptr;
  if (e == cudaSuccess && keep) e = cudaGraphInstantiate(&exec, g, 0);
  if (g) cudaGraphDestroy(g);
  if (e != cudaSuccess || !keep) {
    if (exec) cudaGraphExecDestroy(exec);
    pool_release(pool);
    free_deferred();
    if (!keep) return nullptr;
    return hub_errp("cuda: graph capture failed: %s (something in the captured function synchronised the "
                    "device or copied host memory)", cudaGetErrorString(e));
  }
  graph_t *gr = new graph_t{exec, pool};
  free_deferred();
  return gr;
}

int cuda_graph_replay(void *gp) {
  graph_t *g = (graph_t *)gp;
  if (!g) return hub_err("cuda: graph replay: no graph");
  if (g_capturing) return capture_refuses("a graph replay");
  bind();
  cudaError_t e = cudaGraphLaunch(g->exec, g_stream);
  return e == cudaSuccess ? 0 : fail("graph replay", e);
}

void cuda_graph_free(void *gp) {
  graph_t *g = (graph_t *)gp;
  if (!g) return;
  if (g_capturing) { /* its synchronisation would break the capture: after the capture instead */
    pthread_mutex_lock(&g_cache.lock);
    bool kept = g_ndeferred < 64;
    if (kept) g_deferred[g_ndeferred++] = g;
    pthread_mutex_unlock(&g_cache.lock);
    if (kept) return;
    fprintf(stderr, "hubrun: cuda: a graph freed during a capture is leaked (more than 64 at once)\n");
    return;
  }
  bind();
  cudaStreamSynchronize(g_stream); /* a replay in flight finishes first */
  cudaGraphExecDestroy(g->exec);
  pool_release((pool_t *)g->pool);
  delete g;
}

} // extern "C"
