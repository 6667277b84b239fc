/* cuda_standin.c - a stand-in "cuda" device for machines without a GPU: the CPU's kernel table and
 * host memory behind exactly the CUDA backend's coverage (kernels/cuda/coverage.h), registered as
 * HUB_CUDA.  It lets the code above the backend interface - a GPU test's own logic, a task or a
 * trainer run with device = "cuda", serving --device cuda - be checked on every CI run and not
 * first on a lent GPU: every tensor that should be on the device is, an op on mixed devices fails
 * as it would, an op the CUDA backend lacks is refused as it would be.  It checks nothing of the
 * CUDA kernels themselves: their outputs are the CPU's.
 *
 * Two users: runtime/core/backend.c registers it when HUB_CUDA_STANDIN=1 is in the environment
 * and no GPU answers (hub.cuda.device_name(1) then says "stand-in"), and tests/c/cuda_standin.h
 * registers it directly for test_cuda.c and test_op_parity.c. */
#include "cpu.h"
#include "cuda/coverage.h"

extern const hub_backend hub_cpu_backend;

static hub_backend g_standin;

static int standin_supports(const hub_backend *b, int kernel, int dtype) {
  (void)b;
  return hub_cuda_covers(kernel, dtype) && hub_backend_supports(&hub_cpu_backend, kernel, dtype);
}

const hub_backend *hub_cuda_standin(void) {
  if (!g_standin.name) {
    hub_backend s = hub_cpu_backend;
    s.name = "cuda";
    s.device = HUB_CUDA;
    s.supports = standin_supports;
    for (int k = 0; k < HUB_KERNEL_COUNT; k++)
      if (!hub_cuda_covers(k, -1)) s.kernels[k] = NULL;
    g_standin = s;
  }
  return &g_standin;
}
