/* backend.c - the registry of backends and the question the op layer asks before it dispatches.
 *
 * The CPU backend is always present (kernels/cpu/backend_cpu.c).  A CUDA backend registers itself
 * when the library is built with it and a GPU answers; until then asking for "cuda" gives a clear
 * error instead of a crash.  hub_dispatch is the one place that turns an empty kernel slot or an
 * unsupported dtype into an error naming the op and the device.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hub_cuda.h"

extern const hub_backend hub_cpu_backend;
static const hub_backend *g_tables[HUB_DEVICE_COUNT] = {&hub_cpu_backend, NULL};
static int g_threads;

#define HUB__KERNEL_NAME(ID, R, P, DT) #ID,
static const char *const k_kernel_names[HUB_KERNEL_COUNT] = {HUB_KERNELS(HUB__KERNEL_NAME)};
#undef HUB__KERNEL_NAME
#define HUB__KERNEL_DT(ID, R, P, DT) DT,
static const unsigned k_kernel_dtypes[HUB_KERNEL_COUNT] = {HUB_KERNELS(HUB__KERNEL_DT)};
#undef HUB__KERNEL_DT

const char *hub_kernel_name(int kernel) {
  if (kernel < 0 || kernel >= HUB_KERNEL_COUNT) return "?";
  return k_kernel_names[kernel];
}

unsigned hub_kernel_dtypes(int kernel) {
  return kernel < 0 || kernel >= HUB_KERNEL_COUNT ? 0u : k_kernel_dtypes[kernel];
}

/* Stubs for the empty slots of a registered backend, so that a kernel called without asking
 * hub_dispatch first is an error, never a jump through NULL. */
#define HUB__KERNEL_STUB(ID, R, P, DT) \
  static R stub_##ID P { return (R)hub_err("kernel " #ID " is not implemented for this backend"); }
HUB_KERNELS(HUB__KERNEL_STUB)
#undef HUB__KERNEL_STUB
#define HUB__KERNEL_STUB_REF(ID, R, P, DT) (hub_kernel_fn)stub_##ID,
static const hub_kernel_fn k_stubs[HUB_KERNEL_COUNT] = {HUB_KERNELS(HUB__KERNEL_STUB_REF)};
#undef HUB__KERNEL_STUB_REF
static hub_backend g_registered[HUB_DEVICE_COUNT];

static int slot_filled(const hub_backend *b, int kernel) {
  return b->kernels[kernel] && b->kernels[kernel] != k_stubs[kernel];
}

/* ---- the CUDA backend (kernels/cuda, compiled in when CMake defines HUB_HAVE_CUDA) ----
 * It is looked for once, the first time anything asks about the cuda device (hub_backend_for,
 * hub_device_available, hub_backend_register), so a CPU-only program never initialises CUDA.  A
 * backend registered before that (test_backend.c's stand-in) is kept. */
#ifdef HUB_HAVE_CUDA
const hub_backend *hub_cuda_probe(void);
int hub_cuda_impl_device_count(void);
const char *hub_cuda_impl_device_name(int i);
int hub_cuda_impl_mem_info(int64_t *free_bytes, int64_t *total_bytes);
int hub_cuda_impl_set_tf32(int on);
int hub_cuda_impl_gemm(int dtype, int64_t batch, int64_t M, int64_t N, int64_t K, const void *a, const void *b,
                       float *c);
int hub_cuda_impl_graph_begin(void);
void *hub_cuda_impl_graph_end(int keep);
int hub_cuda_impl_graph_replay(void *g);
void hub_cuda_impl_graph_free(void *g);
int hub_cuda_impl_graph_capturing(void);
#endif
static pthread_once_t g_cuda_once = PTHREAD_ONCE_INIT;
static char g_cuda_why[400];
static const hub_backend *g_cuda_probed;              /* the CUDA library's table, once found */
static const hub_backend *g_source[HUB_DEVICE_COUNT]; /* what each registration was given */
static void register_table(int device, const hub_backend *b);

/* HUB_CUDA_STANDIN=1 and no GPU: the "cuda" device is kernels/cpu/cuda_standin.c's stand-in (the
 * CPU's kernels behind the CUDA backend's coverage), for testing the code above the backend. */
const hub_backend *hub_cuda_standin(void);
static int g_cuda_is_standin;

static void probe_cuda(void) {
  if (g_tables[HUB_CUDA]) return;
#ifdef HUB_HAVE_CUDA
  const hub_backend *b = hub_cuda_probe();
  if (b) {
    g_cuda_probed = b;
    register_table(HUB_CUDA, b);
    return;
  }
  snprintf(g_cuda_why, sizeof g_cuda_why, "%s", hub_last_error());
#else
  snprintf(g_cuda_why, sizeof g_cuda_why,
           "no CUDA device: this hubrun was built without the CUDA backend (HUB_CUDA=OFF, or no nvcc when it was built)");
#endif
  const char *e = getenv("HUB_CUDA_STANDIN");
  if (e && strcmp(e, "1") == 0) {
    g_cuda_is_standin = 1;
    register_table(HUB_CUDA, hub_cuda_standin());
  }
}

static void find_device(int device) {
  if (device == HUB_CUDA) pthread_once(&g_cuda_once, probe_cuda);
}

const hub_backend *hub_backend_for(int device) {
  if (device < 0 || device >= HUB_DEVICE_COUNT) return hub_errp("unknown device %d", device);
  find_device(device);
  if (!g_tables[device]) {
    if (device == HUB_CUDA) return hub_errp("device cuda is not available: %s", g_cuda_why);
    return hub_errp("device %s is not available in this build (hubrun was built without its backend or no such device is present)",
                    hub_device_name(device));
  }
  return g_tables[device];
}

void hub_backend_register(int device, const hub_backend *b) {
  if (device < 0 || device >= HUB_DEVICE_COUNT) return;
  find_device(device); /* a later probe must not replace this table */
  register_table(device, b);
}

static void register_table(int device, const hub_backend *b) {
  g_source[device] = b;
  if (b) { /* a copy with the empty slots pointing at the stubs */
    g_registered[device] = *b;
    for (int k = 0; k < HUB_KERNEL_COUNT; k++)
      if (!b->kernels[k]) g_registered[device].kernels[k] = k_stubs[k];
    b = &g_registered[device];
  }
  g_tables[device] = b;
  if (b && b->set_num_threads && g_threads > 0) b->set_num_threads(g_threads);
}

int hub_backend_supports(const hub_backend *b, int kernel, int dtype) {
  if (!b || kernel < 0 || kernel >= HUB_KERNEL_COUNT) return 0;
  if (b->supports) return b->supports(b, kernel, dtype);
  if (!slot_filled(b, kernel)) return 0;
  return dtype < 0 || (dtype < HUB_DTYPE_COUNT && (k_kernel_dtypes[kernel] & HUB_DT(dtype)));
}

const hub_backend *hub_dispatch(const char *op, int kernel, int device, int dtype) {
  const hub_backend *b = hub_backend_for(device);
  if (!b) return NULL;
  char lower[32];
  if (!op) { /* the kernel's name in lower case */
    const char *k = hub_kernel_name(kernel);
    size_t i = 0;
    for (; k[i] && i + 1 < sizeof lower; i++) lower[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
    lower[i] = 0;
    op = lower;
  }
  if (kernel >= 0 && kernel < HUB_KERNEL_COUNT && !slot_filled(b, kernel))
    return hub_errp("%s is not implemented for %s", op, b->name);
  if (!hub_backend_supports(b, kernel, dtype))
    return hub_errp("%s: dtype %s is not supported by the %s backend", op, hub_dtype_name(dtype), b->name);
  return b;
}

int hub_device_available(int device) {
  if (device < 0 || device >= HUB_DEVICE_COUNT) return 0;
  find_device(device);
  return g_tables[device] != NULL;
}

/* ---- hub_cuda.h ---- */

int hub_cuda_built(void) {
#ifdef HUB_HAVE_CUDA
  return 1;
#else
  return 0;
#endif
}

const char *hub_cuda_unavailable_reason(void) { return hub_device_available(HUB_CUDA) ? "" : g_cuda_why; }

#define STANDIN_NAME "stand-in (the CPU's kernels behind the CUDA backend's coverage; HUB_CUDA_STANDIN=1)"

int hub_cuda_device_count(void) {
  if (hub_device_available(HUB_CUDA) && g_cuda_is_standin) return 1;
#ifdef HUB_HAVE_CUDA
  return hub_device_available(HUB_CUDA) ? hub_cuda_impl_device_count() : 0;
#else
  return 0;
#endif
}

/* 0 when the real CUDA backend is in use, else -1 with the reason. */
static int need_cuda(void) {
  if (!hub_backend_for(HUB_CUDA)) return -1;
  if (g_cuda_probed && g_source[HUB_CUDA] == g_cuda_probed) return 0;
  return hub_err("no CUDA device: the cuda backend in use is not the CUDA library's");
}

const char *hub_cuda_device_name(int i) {
  if (hub_device_available(HUB_CUDA) && g_cuda_is_standin) {
    if (i != 0) return hub_errp("cuda device %d does not exist (the stand-in is device 0)", i);
    return STANDIN_NAME;
  }
  if (need_cuda()) return NULL;
#ifdef HUB_HAVE_CUDA
  return hub_cuda_impl_device_name(i);
#else
  (void)i;
  return NULL;
#endif
}

int hub_cuda_mem_info(int64_t *free_bytes, int64_t *total_bytes) {
  if (need_cuda()) return -1;
#ifdef HUB_HAVE_CUDA
  return hub_cuda_impl_mem_info(free_bytes, total_bytes);
#else
  (void)free_bytes, (void)total_bytes;
  return -1;
#endif
}

int hub_cuda_synchronize(void) {
  const hub_backend *b = hub_backend_for(HUB_CUDA);
  return b ? b->buffer.synchronize() : -1;
}

int hub_cuda_set_tf32(int on) {
  if (need_cuda()) return -1;
#ifdef HUB_HAVE_CUDA
  return hub_cuda_impl_set_tf32(on);
#else
  (void)on;
  return -1;
#endif
}

int hub_cuda_gemm(const hub_tensor *a, const hub_tensor *b, hub_tensor *c) {
  if (need_cuda()) return -1;
  if (!a || !b || !c) return hub_err("cuda_gemm: a tensor is nil");
  if (a->ndim != 3 || b->ndim != 3 || c->ndim != 3 || a->shape[0] != b->shape[0] || c->shape[0] != a->shape[0] ||
      a->shape[2] != b->shape[1] || c->shape[1] != a->shape[1] || c->shape[2] != b->shape[2])
    return hub_err("cuda_gemm: expected a [batch, M, K], b [batch, K, N] and c [batch, M, N]");
  if (a->dtype != b->dtype || c->dtype != HUB_F32)
    return hub_err("cuda_gemm: a and b must share a dtype and c must be f32");
  if (a->device != HUB_CUDA || b->device != HUB_CUDA || c->device != HUB_CUDA || !hub_tensor_is_contiguous(a) ||
      !hub_tensor_is_contiguous(b) || !hub_tensor_is_contiguous(c))
    return hub_err("cuda_gemm: the tensors must be contiguous and on cuda");
#ifdef HUB_HAVE_CUDA
  return hub_cuda_impl_gemm(a->dtype, a->shape[0], a->shape[1], b->shape[2], a->shape[2], a->data, b->data, c->data);
#else
  return -1;
#endif
}

void hub_set_num_threads(int n) {
  g_threads = n;
  for (int d = 0; d < HUB_DEVICE_COUNT; d++)
    if (g_tables[d] && g_tables[d]->set_num_threads) g_tables[d]->set_num_threads(n);
}

int hub_get_num_threads(void) {
#ifdef _OPENMP
  extern int omp_get_max_threads(void);
  return g_threads > 0 ? g_threads : omp_get_max_threads();
#else
  return g_threads > 0 ? g_threads : 1;
#endif
}

/* CUDA graphs (kernels/cuda/buffer.cu); the stand-in and CPU-only builds have none. */
#define NO_GRAPHS "CUDA graphs need the CUDA backend and a GPU (the stand-in device runs ops one by one)"
int hub_cuda_graph_begin(void) {
  if (need_cuda()) return -1;
#ifdef HUB_HAVE_CUDA
  return hub_cuda_impl_graph_begin();
#else
  return hub_err(NO_GRAPHS);
#endif
}

hub_cuda_graph *hub_cuda_graph_end(int keep) {
  if (need_cuda()) return NULL;
#ifdef HUB_HAVE_CUDA
  return (hub_cuda_graph *)hub_cuda_impl_graph_end(keep);
#else
  (void)keep;
  return hub_errp(NO_GRAPHS);
#endif
}

int hub_cuda_graph_replay(hub_cuda_graph *g) {
  if (!g) return hub_err("cuda graph replay: the graph is nil (freed, or its capture failed)");
#ifdef HUB_HAVE_CUDA
  return hub_cuda_impl_graph_replay(g);
#else
  return hub_err(NO_GRAPHS);
#endif
}

void hub_cuda_graph_free(hub_cuda_graph *g) {
#ifdef HUB_HAVE_CUDA
  if (g) hub_cuda_impl_graph_free(g);
#else
  (void)g;
#endif
}

int hub_cuda_graph_capturing(void) {
#ifdef HUB_HAVE_CUDA
  return g_cuda_probed ? hub_cuda_impl_graph_capturing() : 0; /* no device asked for yet: none */
#else
  return 0;
#endif
}
