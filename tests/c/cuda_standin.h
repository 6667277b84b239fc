/* cuda_standin.h - a stand-in "cuda" device for machines without a GPU (kernels/cpu/cuda_standin.c:
 * the CPU's kernel table and host memory behind the CUDA backend's coverage), registered as
 * HUB_CUDA.  test_cuda.c and test_op_parity.c run their CUDA cases on it when no GPU answers, so
 * the cases' own logic (fresh leaves per device, shapes, skipping the ops the backend lacks) is
 * checked on every run, not first on a lent GPU.  It checks nothing of the CUDA kernels
 * themselves: their outputs are the CPU's.  Also leaf_on(), which both tests use.  Include after
 * backend.h; the test links the static library (hub_backend_register is internal). */
#ifndef HUB_TESTS_CUDA_STANDIN_H
#define HUB_TESTS_CUDA_STANDIN_H

/* kernels/cpu/cuda_standin.c (internal to libhub) */
const hub_backend *hub_cuda_standin(void);

/* A fresh leaf on `device` holding t's values, for the tests that run one case on several
 * devices: never t itself (to_device on t's own device returns t, which a later run would then
 * see requiring gradients) nor the recorded copy (not a leaf once t requires gradients: its
 * gradient would flow on to t). */
static hub_tensor *leaf_on(hub_tensor *t, int device) {
  hub_tensor *m = hub_to_device(t, device), *l = m ? hub_detach(m) : NULL;
  hub_tensor_release(m);
  return l;
}

/* Registers the stand-in; call only when hub_device_available(HUB_CUDA) is false. */
static void cuda_standin_register(void) { hub_backend_register(HUB_CUDA, hub_cuda_standin()); }

#endif
