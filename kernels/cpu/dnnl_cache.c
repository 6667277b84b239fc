/* dnnl_cache.c - the oneDNN engine, a stream per thread, and the primitive cache.
 *
 * Creating a oneDNN primitive JIT-compiles code (tens to hundreds of microseconds), so each one
 * is created once per shape and kept: kernels build a key from everything that defines the
 * primitive (kind, dims, strides, flags) and look it up here.  The cache is a mutex-guarded
 * open-addressing hash table; primitives are immutable and may run on several threads at once,
 * each thread with its own stream.  Memory objects are cheap wrappers around tensor data made
 * per call by cpu_dnnl_exec.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static dnnl_engine_t g_engine;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;
static _Thread_local dnnl_stream_t t_stream;

static void engine_init(void) {
  if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
}

dnnl_engine_t cpu_dnnl_engine(void) {
  pthread_once(&g_engine_once, engine_init);
  return g_engine;
}

dnnl_stream_t cpu_dnnl_stream(void) {
  if (!t_stream && cpu_dnnl_engine()) dnnl_stream_create(&t_stream, g_engine, dnnl_stream_default_flags);
  return t_stream;
}

typedef struct entry {
  uint64_t hash;
  size_t keylen;
  void *key;
  dnnl_primitive_t prim;
} entry;

static entry *g_table;
static size_t g_cap, g_count;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t hash_bytes(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
  return h ? h : 1;
}

static entry *find(uint64_t h, const void *key, size_t keylen) {
  if (!g_cap) return NULL;
  for (size_t i = h & (g_cap - 1);; i = (i + 1) & (g_cap - 1)) {
    entry *e = &g_table[i];
    if (!e->hash) return e;
    if (e->hash == h && e->keylen == keylen && !memcmp(e->key, key, keylen)) return e;
  }
}

dnnl_primitive_t cpu_dnnl_cache_get(const void *key, size_t keylen) {
  uint64_t h = hash_bytes(key, keylen);
  pthread_mutex_lock(&g_lock);
  entry *e = find(h, key, keylen);
  dnnl_primitive_t p = e && e->hash ? e->prim : NULL;
  pthread_mutex_unlock(&g_lock);
  return p;
}

static int grow(void) {
  size_t cap = g_cap ? g_cap * 2 : 256;
  entry *t = calloc(cap, sizeof *t);
  if (!t) return -1;
  entry *old = g_table;
  size_t oldcap = g_cap;
  g_table = t;
  g_cap = cap;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].hash) *find(old[i].hash, old[i].key, old[i].keylen) = old[i];
  free(old);
  return 0;
}

void cpu_dnnl_cache_put(const void *key, size_t keylen, dnnl_primitive_t p) {
  uint64_t h = hash_bytes(key, keylen);
  pthread_mutex_lock(&g_lock);
  if ((g_count + 1) * 2 > g_cap && grow() != 0) {
    pthread_mutex_unlock(&g_lock);
    return; /* cannot cache: the caller's primitive leaks, but stays valid */
  }
  entry *e = find(h, key, keylen);
  if (e->hash) { /* another thread created it meanwhile: keep the first */
    pthread_mutex_unlock(&g_lock);
    dnnl_primitive_destroy(p);
    return;
  }
  void *k = malloc(keylen);
  if (!k) {
    pthread_mutex_unlock(&g_lock);
    return;
  }
  memcpy(k, key, keylen);
  e->hash = h;
  e->key = k;
  e->keylen = keylen;
  e->prim = p;
  g_count++;
  pthread_mutex_unlock(&g_lock);
}

int cpu_dnnl_md(dnnl_memory_desc_t *md, int ndim, const int64_t *shape, const int64_t *stride) {
  dnnl_dims_t dims, strides;
  if (ndim == 0) {
    dims[0] = 1;
    strides[0] = 1;
    ndim = 1;
  } else {
    for (int i = 0; i < ndim; i++) {
      dims[i] = shape[i];
      strides[i] = stride ? stride[i] : 0;
    }
    if (!stride) {
      int64_t s = 1;
      for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i];
      }
    }
  }
  if (dnnl_memory_desc_init_by_strides(md, ndim, dims, dnnl_f32, strides) != dnnl_success)
    return hub_err("oneDNN: cannot describe a tensor of %d dimensions", ndim);
  return 0;
}

int cpu_dnnl_exec(const char *op, dnnl_primitive_t p, int nargs, const int *args,
                  const dnnl_memory_desc_t *mds, void *const *ptrs) {
  dnnl_exec_arg_t ea[16];
  dnnl_memory_t mem[16];
  if (nargs > 16) return hub_err("%s: too many oneDNN arguments", op);
  dnnl_stream_t s = cpu_dnnl_stream();
  if (!s) return hub_err("%s: oneDNN stream unavailable", op);
  int made = 0, rc = 0;
  for (; made < nargs; made++) {
    if (dnnl_memory_create(&mem[made], &mds[made], g_engine, ptrs[made]) != dnnl_success) {
      rc = hub_err("%s: oneDNN memory creation failed", op);
      break;
    }
    ea[made].arg = args[made];
    ea[made].memory = mem[made];
  }
  if (rc == 0) {
    if (dnnl_primitive_execute(p, s, nargs, ea) != dnnl_success || dnnl_stream_wait(s) != dnnl_success)
      rc = hub_err("%s: oneDNN execution failed", op);
  }
  for (int i = 0; i < made; i++) dnnl_memory_destroy(mem[i]);
  return rc;
}
