/* alloc.c - the caching allocator and storages.
 *
 * Training allocates the same activation sizes every step; going to the OS each time costs page
 * faults (large blocks are mmap'ed by malloc and returned on free).  So freed blocks are kept in
 * per-size-class free lists and handed out again.  A size is rounded up to its class: 64-byte
 * steps up to 1 KiB, then 8 classes per power of two (at most 12.5% slack).  Every block is
 * 64-byte aligned.  The cache is bounded; blocks beyond the bound go back to the OS, so resident
 * memory stays flat over a long loop.  The default bound is the larger of 1 GiB and the bytes
 * between the peak of live bytes and the live bytes now: a training step that frees its
 * activations keeps them for the next step (live + cached stays at the peak the step reached
 * anyway) instead of giving them back and faulting them in again (BERT-base, batch 8: ~100 ms
 * of page faults a 2.8 s step with a fixed 1 GiB bound).  hub_mem_set_cache_limit sets a fixed
 * bound instead (a server that wants memory back, say).  A free block stores the link
 * to the next one in its first bytes (CPU memory only).
 *
 * Fine-tuning pads each batch to its own longest row, so a step's sizes change with the batch
 * and an exact-class cache misses often (reviews_zh, batch 32: 23% of allocations went to the
 * OS, 12% of the run in page faults).  So a request of a large class (from 64 KiB) that finds
 * its list empty takes a cached block from the next classes up, up to twice its size, before it
 * asks the OS.  A block then outlives the size it was asked for, so every block carries a
 * 64-byte header before the pointer handed out, holding its class; freeing goes by the header.
 *
 * This is the CPU backend's buffer interface (hub_cpu_alloc / hub_cpu_free); hub_mem_alloc
 * sends other devices to theirs.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend.h"

enum { N_CLASSES = 16 + 8 * 64 };

typedef struct free_block { struct free_block *next; } free_block;

/* The header before every block: its size class (the block's real size is class_bytes(cls)). */
enum { HDR = 64, UPSIZE_MIN_CLASS = 16 + (16 - 10) * 8, UPSIZE_CLASSES = 8 };
typedef struct block_header { int32_t cls; } block_header;

typedef struct device_cache {
  pthread_mutex_t lock;
  free_block *lists[N_CLASSES];
  hub_mem_stats stats;
  int64_t limit;
} device_cache;

static device_cache g_cpu = {.lock = PTHREAD_MUTEX_INITIALIZER, .limit = -1}; /* -1: the default bound */
static const int64_t k_min_cache = (int64_t)1 << 30;
static int64_t g_allocated_total;

/* Class index and rounded size of a request. */
static int size_class(size_t n, size_t *rounded) {
  if (n <= 1024) {
    size_t r = (n + 63) & ~(size_t)63;
    if (r == 0) r = 64;
    *rounded = r;
    return (int)(r / 64) - 1; /* 0..15 */
  }
  int lg = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^lg < n <= 2^(lg+1) */
  size_t step = ((size_t)1 << lg) / 8;
  size_t r = (n + step - 1) / step * step;
  int sub = (int)((r >> lg) == 2 ? 8 : ((r - ((size_t)1 << lg)) / step));
  *rounded = r;
  int cls = 16 + (lg - 10) * 8 + sub - 1;
  return cls < N_CLASSES ? cls : -1;
}

/* Blocks from 1 MiB come straight from mmap and go back with munmap: glibc would serve them from
 * its heap once its dynamic mmap threshold has grown (up to 32 MiB), and memory freed there stays
 * resident (BERT-base training, batch 8: peak RSS 2.70 GB with malloc, 2.54 GB with mmap, at
 * the same speed).  Under AddressSanitizer everything goes through malloc, which it checks. */
#if defined(__SANITIZE_ADDRESS__)
#define HUB_OS_MMAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HUB_OS_MMAP 0
#endif
#endif
#ifndef HUB_OS_MMAP
#define HUB_OS_MMAP 1
#endif
enum { MMAP_MIN = 1 << 20 };

/* The largest block the allocator asks the OS for.  Fuzz builds lower it (-DHUB_MAX_ALLOC_BYTES)
 * so that a legal but huge tensor is a quick "out of memory" instead of gigabytes of page faults
 * (or the fuzzer's malloc limit). */
#ifndef HUB_MAX_ALLOC_BYTES
#define HUB_MAX_ALLOC_BYTES HUB_MAX_TENSOR_BYTES
#endif

static void *os_alloc(size_t rounded) {
#if HUB_OS_MMAP
  if (rounded >= MMAP_MIN) {
    void *p = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
  }
#endif
  return aligned_alloc(64, rounded);
}

static void os_free(void *p, size_t rounded) {
  if (!p) return;
#if HUB_OS_MMAP
  if (rounded >= MMAP_MIN) {
    munmap(p, rounded);
    return;
  }
#endif
  (void)rounded;
  free(p);
}

/* Bytes of the blocks of class cls (the inverse of size_class). */
static int64_t class_bytes(int cls) {
  if (cls < 16) return (int64_t)(cls + 1) * 64;
  int j = cls - 16, lg = 10 + j / 8, sub = j % 8 + 1;
  return ((int64_t)1 << lg) + (int64_t)sub * (((int64_t)1 << lg) / 8);
}

/* A block of class cls from the OS, header included; its payload pointer. */
static void *os_block(int cls) {
  char *b = os_alloc((size_t)class_bytes(cls) + HDR);
  if (!b) return NULL;
  ((block_header *)b)->cls = cls;
  return b + HDR;
}

static void os_block_free(void *p) {
  char *b = (char *)p - HDR;
  os_free(b, (size_t)class_bytes(((block_header *)b)->cls) + HDR);
}

static int block_class(void *p) { return ((block_header *)((char *)p - HDR))->cls; }

void *hub_cpu_alloc(size_t nbytes) {
  if (nbytes > (size_t)HUB_MAX_ALLOC_BYTES) /* beyond any machine; size classes would overflow */
    return hub_errp("out of memory: cannot allocate %zu bytes", nbytes);
  size_t rounded;
  int cls = size_class(nbytes, &rounded);
  if (cls < 0) return hub_errp("out of memory: cannot allocate %zu bytes", nbytes);
  device_cache *c = &g_cpu;
  void *p = NULL;
  pthread_mutex_lock(&c->lock);
  int last = cls >= UPSIZE_MIN_CLASS ? cls + UPSIZE_CLASSES : cls;
  if (last >= N_CLASSES) last = N_CLASSES - 1;
  for (int k = cls; k <= last && !p; k++) {
    if (!c->lists[k]) continue;
    free_block *b = c->lists[k];
    c->lists[k] = b->next;
    c->stats.cached_bytes -= class_bytes(k);
    p = b;
  }
  c->stats.alloc_count++;
  pthread_mutex_unlock(&c->lock);
  if (!p) {
    p = os_block(cls);
    if (!p) return hub_errp("out of memory: cannot allocate %zu bytes", nbytes);
    __atomic_fetch_add(&c->stats.os_alloc_count, 1, __ATOMIC_RELAXED);
  }
  int64_t bytes = class_bytes(block_class(p));
  pthread_mutex_lock(&c->lock);
  c->stats.live_bytes += bytes;
  if (c->stats.live_bytes > c->stats.peak_bytes) c->stats.peak_bytes = c->stats.live_bytes;
  pthread_mutex_unlock(&c->lock);
  __atomic_fetch_add(&g_allocated_total, bytes, __ATOMIC_RELAXED);
  return p;
}

void hub_cpu_free(void *p, size_t nbytes) {
  if (!p) return;
  (void)nbytes; /* the header knows the block's class */
  int cls = block_class(p);
  int64_t bytes = class_bytes(cls);
  device_cache *c = &g_cpu;
  pthread_mutex_lock(&c->lock);
  c->stats.live_bytes -= bytes;
  int64_t limit = c->limit;
  if (limit < 0) {
    limit = c->stats.peak_bytes - c->stats.live_bytes;
    if (limit < k_min_cache) limit = k_min_cache;
  }
  if (c->stats.cached_bytes + bytes <= limit) {
    free_block *b = p;
    b->next = c->lists[cls];
    c->lists[cls] = b;
    c->stats.cached_bytes += bytes;
    p = NULL;
  }
  pthread_mutex_unlock(&c->lock);
  if (p) os_block_free(p);
}

/* Another device's allocator, when it is present and keeps statistics (HUB_CUDA: kernels/cuda). */
static const hub_buffer_iface *device_buffer(int device) {
  if (device == HUB_CPU || !hub_device_available(device)) return NULL;
  const hub_backend *b = hub_backend_for(device);
  return b ? &b->buffer : NULL;
}

void hub_mem_get_stats(int device, hub_mem_stats *out) {
  memset(out, 0, sizeof *out);
  if (device != HUB_CPU) {
    const hub_buffer_iface *b = device_buffer(device);
    if (b && b->stats) b->stats(out);
    return;
  }
  pthread_mutex_lock(&g_cpu.lock);
  *out = g_cpu.stats;
  pthread_mutex_unlock(&g_cpu.lock);
}

int64_t hub_mem_allocated_total(void) {
  return __atomic_load_n(&g_allocated_total, __ATOMIC_RELAXED);
}

void hub_mem_empty_cache(int device) {
  if (device != HUB_CPU) {
    const hub_buffer_iface *b = device_buffer(device);
    if (b && b->empty_cache) b->empty_cache();
    return;
  }
  pthread_mutex_lock(&g_cpu.lock);
  for (int i = 0; i < N_CLASSES; i++) {
    free_block *b = g_cpu.lists[i];
    while (b) {
      free_block *n = b->next;
      os_block_free(b);
      b = n;
    }
    g_cpu.lists[i] = NULL;
  }
  g_cpu.stats.cached_bytes = 0;
  pthread_mutex_unlock(&g_cpu.lock);
}

void hub_mem_set_cache_limit(int device, int64_t bytes) {
  if (device != HUB_CPU) {
    const hub_buffer_iface *b = device_buffer(device);
    if (b && b->set_cache_limit) b->set_cache_limit(bytes);
    return;
  }
  pthread_mutex_lock(&g_cpu.lock);
  g_cpu.limit = bytes < 0 ? -1 : bytes;
  int64_t over = bytes >= 0 && g_cpu.stats.cached_bytes > bytes;
  pthread_mutex_unlock(&g_cpu.lock);
  if (over) hub_mem_empty_cache(device);
}

/* Other devices: their backend's buffer interface (which keeps its own cache, if any). */
void *hub_mem_alloc(int device, size_t nbytes) {
  if (device == HUB_CPU) return hub_cpu_alloc(nbytes);
  const hub_backend *b = hub_backend_for(device);
  if (!b) return NULL;
  if (!b->buffer.alloc) return hub_errp("alloc: the %s backend has no allocator", b->name);
  return b->buffer.alloc(nbytes);
}

void hub_mem_free(int device, void *p, size_t nbytes) {
  if (!p) return;
  if (device == HUB_CPU) {
    hub_cpu_free(p, nbytes);
    return;
  }
  const hub_backend *b = hub_backend_for(device);
  if (b && b->buffer.free) b->buffer.free(p, nbytes);
}

/* ---- storages ---- */

hub_storage *hub_storage_new(int device, size_t nbytes) {
  hub_storage *s = malloc(sizeof *s);
  if (!s) return hub_errp("alloc: out of memory");
  s->base = hub_mem_alloc(device, nbytes ? nbytes : 1);
  if (!s->base) {
    free(s);
    return NULL;
  }
  s->nbytes = nbytes;
  s->refcount = 1;
  s->device = device;
  s->free_fn = NULL;
  s->ctx = NULL;
  return s;
}

void hub_storage_retain(hub_storage *s) { __atomic_fetch_add(&s->refcount, 1, __ATOMIC_RELAXED); }

void hub_storage_release(hub_storage *s) {
  if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
  if (s->free_fn)
    s->free_fn(s->ctx);
  else
    hub_mem_free(s->device, s->base, s->nbytes ? s->nbytes : 1);
  free(s);
}
