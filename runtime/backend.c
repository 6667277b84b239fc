/* backend.c - the registry of per-device kernel tables.
 *
 * The CPU table is always present (kernels/cpu/backend_cpu.c).  A CUDA table registers itself
 * when the library is built with HUB_CUDA and a GPU answers; until then asking for "cuda" gives
 * a clear error instead of a crash.
 */
#include "backend.h"

extern const hub_backend hub_cpu_backend;
static const hub_backend *g_tables[HUB_DEVICE_COUNT] = {&hub_cpu_backend, NULL};
static int g_threads;

const hub_backend *hub_backend_for(int device) {
  if (device < 0 || device >= HUB_DEVICE_COUNT) return hub_errp("unknown device %d", device);
  if (!g_tables[device])
    return hub_errp("device %s is not available in this build (hubrun was built without its backend or no such device is present)",
                    hub_device_name(device));
  return g_tables[device];
}

void hub_backend_register(int device, const hub_backend *b) {
  if (device >= 0 && device < HUB_DEVICE_COUNT) g_tables[device] = b;
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
