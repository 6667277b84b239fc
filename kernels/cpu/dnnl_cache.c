/* dnnl_cache.c - the oneDNN engine, a stream per thread, and the primitive cache.
 *
 * Creating a oneDNN primitive JIT-compiles code (tens to hundreds of microseconds), so each one
 * is created once per shape and kept: kernels build a key from everything that defines the
 * primitive (kind, dims, strides, flags) and look it up here.  The cache is a mutex-guarded
 * open-addressing hash table of reference-counted entries, bounded (HUB_PRIMITIVE_CACHE entries,
 * default 1024; the least recently used half goes when it is full); primitives are immutable and
 * may run on several threads at once, each thread with its own stream.  Memory objects are cheap wrappers around tensor data made
 * per call by cpu_dnnl_exec.
 *
 * Scratchpads: every primitive is created with the user scratchpad mode (cpu_dnnl_attr), and
 * cpu_dnnl_exec gives it a scratchpad of the calling thread.  oneDNN's default (library mode,
 * built without DNNL_ENABLE_CONCURRENT_EXEC as Debian's is) shares one scratchpad among all
 * primitives and forbids running a primitive on another thread than the one that created it:
 * two runtimes (serving workers) running cached primitives at once then wrote into each other's
 * partial sums.  With a scratchpad per thread, a cached primitive may run on any thread, and on
 * several at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static dnnl_engine_t g_engine;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;
static _Thread_local dnnl_stream_t t_stream;

static dnnl_primitive_attr_t g_attr;

static void engine_init(void) {
  if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
  if (dnnl_primitive_attr_create(&g_attr) != dnnl_success ||
      dnnl_primitive_attr_set_scratchpad_mode(g_attr, dnnl_scratchpad_mode_user) != dnnl_success)
    g_attr = NULL;
}

const_dnnl_primitive_attr_t cpu_dnnl_attr(void) {
  pthread_once(&g_engine_once, engine_init);
  return g_attr;
}

int cpu_dnnl_attr_user(dnnl_primitive_attr_t attr) {
  return dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success ? 0 : -1;
}

dnnl_engine_t cpu_dnnl_engine(void) {
  pthread_once(&g_engine_once, engine_init);
  return g_engine;
}

dnnl_stream_t cpu_dnnl_stream(void) {
  if (!t_stream && cpu_dnnl_engine()) dnnl_stream_create(&t_stream, g_engine, dnnl_stream_default_flags);
  return t_stream;
}

/* A cached primitive.  refs counts the holders: the table (1 while the entry is in it) and every
 * caller between cpu_dnnl_cache_get/put and cpu_dnnl_exec/release.  An evicted primitive is
 * destroyed when its last holder lets go, so eviction never pulls a primitive from under a
 * thread that is about to run it. */
struct cpu_prim {
  dnnl_primitive_t prim;
  size_t scratch;                 /* bytes of user scratchpad it needs (0: none) */
  dnnl_memory_desc_t scratch_md;
  int64_t refs;
  uint64_t last; /* tick of the last lookup, for eviction */
};

typedef struct entry {
  uint64_t hash;
  size_t keylen;
  void *key;
  cpu_prim *p;
} entry;

static entry *g_table;
static size_t g_cap, g_count, g_limit;
static uint64_t g_tick;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* The bound on cached primitives: HUB_PRIMITIVE_CACHE (entries) or 1024.  A server that sees many
 * sequence lengths creates a primitive per shape (tens of KiB of JIT code each); past the bound
 * the least recently used half is dropped. */
static size_t limit_locked(void) {
  if (!g_limit) {
    const char *e = getenv("HUB_PRIMITIVE_CACHE");
    long long v = e ? atoll(e) : 0;
    g_limit = v > 0 ? (size_t)v : 1024;
  }
  return g_limit;
}

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

/* Drops one reference; the last one destroys the primitive.  Called with g_lock held. */
static void unref_locked(cpu_prim *c) {
  if (--c->refs == 0) {
    dnnl_primitive_destroy(c->prim);
    free(c);
  }
}

cpu_prim *cpu_dnnl_cache_get(const void *key, size_t keylen) {
  uint64_t h = hash_bytes(key, keylen);
  pthread_mutex_lock(&g_lock);
  entry *e = find(h, key, keylen);
  cpu_prim *c = e && e->hash ? e->p : NULL;
  if (c) {
    c->refs++;
    c->last = ++g_tick;
  }
  pthread_mutex_unlock(&g_lock);
  return c;
}

void cpu_dnnl_release(cpu_prim *c) {
  if (!c) return;
  pthread_mutex_lock(&g_lock);
  unref_locked(c);
  pthread_mutex_unlock(&g_lock);
}

/* Rehashes the live entries into a table of cap slots. */
static int rehash(size_t cap) {
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

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Drops the least recently used half of the entries (those looked up before the median tick). */
static void evict_locked(void) {
  uint64_t *ticks = malloc(sizeof *ticks * (g_count ? g_count : 1));
  if (!ticks) return;
  size_t n = 0;
  for (size_t i = 0; i < g_cap; i++)
    if (g_table[i].hash) ticks[n++] = g_table[i].p->last;
  qsort(ticks, n, sizeof *ticks, cmp_u64);
  uint64_t cut = n >= 2 ? ticks[n / 2] : UINT64_MAX; /* a single entry goes too */
  free(ticks);
  for (size_t i = 0; i < g_cap; i++) {
    entry *e = &g_table[i];
    if (e->hash && e->p->last < cut) {
      free(e->key);
      unref_locked(e->p);
      memset(e, 0, sizeof *e);
      g_count--;
    }
  }
  rehash(g_cap); /* open addressing: re-place the survivors (same size, cannot fail worse) */
}

cpu_prim *cpu_dnnl_cache_put(const void *key, size_t keylen, dnnl_primitive_t p) {
  cpu_prim *c = malloc(sizeof *c);
  void *k = malloc(keylen);
  if (!c || !k) {
    free(c);
    free(k);
    dnnl_primitive_destroy(p);
    return hub_errp("oneDNN: out of memory caching a primitive");
  }
  memcpy(k, key, keylen);
  c->prim = p;
  c->scratch = 0;
  const_dnnl_primitive_desc_t pd = NULL;
  if (dnnl_primitive_get_primitive_desc(p, &pd) == dnnl_success && pd) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (md) {
      c->scratch_md = *md;
      c->scratch = dnnl_memory_desc_get_size(md);
    }
  }
  c->refs = 1; /* the caller's */
  uint64_t h = hash_bytes(key, keylen);
  pthread_mutex_lock(&g_lock);
  c->last = ++g_tick;
  entry *e = find(h, key, keylen);
  if (e && e->hash) { /* another thread created it meanwhile: use the first */
    cpu_prim *first = e->p;
    first->refs++;
    first->last = c->last;
    pthread_mutex_unlock(&g_lock);
    dnnl_primitive_destroy(p);
    free(c);
    free(k);
    return first;
  }
  if (g_count + 1 > limit_locked()) evict_locked();
  if ((g_count + 1) * 2 > g_cap && rehash(g_cap ? g_cap * 2 : 256) != 0) {
    pthread_mutex_unlock(&g_lock); /* cannot cache: the caller's reference is the only one */
    free(k);
    return c;
  }
  e = find(h, key, keylen);
  e->hash = h;
  e->key = k;
  e->keylen = keylen;
  e->p = c;
  c->refs++; /* the table's */
  g_count++;
  pthread_mutex_unlock(&g_lock);
  return c;
}

size_t cpu_dnnl_cache_count(void) {
  pthread_mutex_lock(&g_lock);
  size_t n = g_count;
  pthread_mutex_unlock(&g_lock);
  return n;
}

void cpu_dnnl_cache_set_limit(size_t n) {
  pthread_mutex_lock(&g_lock);
  g_limit = n;
  while (g_count > limit_locked() && g_count > 0) evict_locked();
  pthread_mutex_unlock(&g_lock);
}

int cpu_dnnl_md(dnnl_memory_desc_t *md, int ndim, const int64_t *shape, const int64_t *stride) {
  return cpu_dnnl_md_dt(md, ndim, shape, stride, HUB_F32);
}

int cpu_dnnl_md_dt(dnnl_memory_desc_t *md, int ndim, const int64_t *shape, const int64_t *stride, int dtype) {
  dnnl_data_type_t dt = dtype == HUB_BF16 ? dnnl_bf16 : dtype == HUB_F16 ? dnnl_f16 : dnnl_f32;
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
  if (dnnl_memory_desc_init_by_strides(md, ndim, dims, dt, strides) != dnnl_success)
    return hub_err("oneDNN: cannot describe a tensor of %d dimensions", ndim);
  return 0;
}

/* The calling thread's scratchpad, grown to at least n bytes, kept for the thread's life and
 * freed when the thread ends (a pthread key's destructor). */
static _Thread_local void *t_scratch;
static _Thread_local size_t t_scratch_size;
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static int g_scratch_key_ok;

static void scratch_key_init(void) { g_scratch_key_ok = pthread_key_create(&g_scratch_key, free) == 0; }

static void *thread_scratch(size_t n) {
  if (n <= t_scratch_size) return t_scratch;
  void *p = NULL;
  size_t want = n < 4096 ? 4096 : n;
  if (posix_memalign(&p, 64, want) != 0) return NULL;
  free(t_scratch);
  t_scratch = p;
  t_scratch_size = want;
  pthread_once(&g_scratch_once, scratch_key_init);
  if (g_scratch_key_ok) pthread_setspecific(g_scratch_key, p);
  return p;
}

int cpu_dnnl_exec(const char *op, cpu_prim *c, int nargs, const int *args,
                  const dnnl_memory_desc_t *mds, void *const *ptrs) {
  dnnl_exec_arg_t ea[17];
  dnnl_memory_t mem[17];
  dnnl_stream_t s = cpu_dnnl_stream();
  if (nargs > 16 || !s) {
    cpu_dnnl_release(c);
    return nargs > 16 ? hub_err("%s: too many oneDNN arguments", op) : hub_err("%s: oneDNN stream unavailable", op);
  }
  dnnl_primitive_t p = c->prim;
  int made = 0, rc = 0;
  for (; made < nargs; made++) {
    if (dnnl_memory_create(&mem[made], &mds[made], g_engine, ptrs[made]) != dnnl_success) {
      rc = hub_err("%s: oneDNN memory creation failed", op);
      break;
    }
    ea[made].arg = args[made];
    ea[made].memory = mem[made];
  }
  if (rc == 0 && c->scratch > 0) {
    void *buf = thread_scratch(c->scratch);
    if (!buf) {
      rc = hub_err("%s: out of memory for a oneDNN scratchpad of %zu bytes", op, c->scratch);
    } else if (dnnl_memory_create(&mem[made], &c->scratch_md, g_engine, buf) != dnnl_success) {
      rc = hub_err("%s: oneDNN memory creation failed", op);
    } else {
      ea[made].arg = DNNL_ARG_SCRATCHPAD;
      ea[made].memory = mem[made];
      made++;
    }
  }
  if (rc == 0) {
    if (dnnl_primitive_execute(p, s, made, ea) != dnnl_success || dnnl_stream_wait(s) != dnnl_success)
      rc = hub_err("%s: oneDNN execution failed", op);
  }
  for (int i = 0; i < made; i++) dnnl_memory_destroy(mem[i]);
  cpu_dnnl_release(c);
  return rc;
}
