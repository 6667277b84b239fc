/* backend.c - the registry of backends and the question the op layer asks before it dispatches.
 *
 * The CPU backend is always present (kernels/cpu/backend_cpu.c).  A CUDA backend registers itself
 * when the library is built with it and a GPU answers; until then asking for "cuda" gives a clear
 * error instead of a crash.  hub_dispatch is the one place that turns an empty kernel slot or an
 * unsupported dtype into an error naming the op and the device.
 */
#include "backend.h"

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

const hub_backend *hub_backend_for(int device) {
  if (device < 0 || device >= HUB_DEVICE_COUNT) return hub_errp("unknown device %d", device);
  if (!g_tables[device])
    return hub_errp("device %s is not available in this build (hubrun was built without its backend or no such device is present)",
                    hub_device_name(device));
  return g_tables[device];
}

void hub_backend_register(int device, const hub_backend *b) {
  if (device < 0 || device >= HUB_DEVICE_COUNT) return;
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
  return device >= 0 && device < HUB_DEVICE_COUNT && g_tables[device] != NULL;
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
