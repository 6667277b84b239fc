/* softmax.c - softmax and log-softmax over one dimension, forward and backward, on oneDNN.
 *
 * The contiguous input is described to oneDNN as [outer, n] (when the dimension is the last) or
 * [outer, n, inner] with the softmax axis 1, so every tensor shape with the same three numbers
 * shares one primitive.  Primitives are created on first use and kept in the cache of
 * dnnl_cache.c under a key of (kind, outer, n, inner).  The backward primitive needs the forward
 * primitive descriptor as a hint; it is created alongside and dropped.  Backward uses the
 * forward output y: softmax gx = y * (gy - sum(gy * y)); log-softmax gx = gy - exp(y) * sum(gy).
 */
#include <string.h>

#include "cpu.h"

enum { SM_FWD = 0, SM_BWD = 1 };

static void geometry(const hub_tensor *x, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  *n = x->ndim ? x->shape[dim] : 1;
  for (int i = 0; i < dim; i++) *outer *= x->shape[i];
  for (int i = dim + 1; i < x->ndim; i++) *inner *= x->shape[i];
}

static int describe(dnnl_memory_desc_t *md, int64_t outer, int64_t n, int64_t inner) {
  int64_t shape[3] = {outer, n, inner};
  return cpu_dnnl_md(md, inner == 1 ? 2 : 3, shape, NULL);
}

/* The cached primitive for (dir, log, outer, n, inner), created on first use. */
static cpu_prim *get_prim(int dir, int log, int64_t outer, int64_t n, int64_t inner) {
  int64_t key[6] = {0x736f66746d6178LL /* "softmax" */, dir, log, outer, n, inner};
  cpu_prim *c = cpu_dnnl_cache_get(key, sizeof key);
  if (c) return c;
  dnnl_primitive_t p;
  dnnl_engine_t eng = cpu_dnnl_engine();
  if (!eng) return hub_errp("softmax: oneDNN engine unavailable");
  dnnl_memory_desc_t md;
  if (describe(&md, outer, n, inner)) return NULL;
  dnnl_status_t st;
  dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
  if (log) {
    dnnl_logsoftmax_desc_t d;
    st = dnnl_logsoftmax_forward_desc_init(&d, dnnl_forward_training, &md, 1);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&fpd, &d, cpu_dnnl_attr(), eng, NULL);
  } else {
    dnnl_softmax_desc_t d;
    st = dnnl_softmax_forward_desc_init(&d, dnnl_forward_training, &md, 1);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&fpd, &d, cpu_dnnl_attr(), eng, NULL);
  }
  if (st == dnnl_success && dir == SM_BWD) {
    if (log) {
      dnnl_logsoftmax_desc_t d;
      st = dnnl_logsoftmax_backward_desc_init(&d, &md, &md, 1);
      if (st == dnnl_success) st = dnnl_primitive_desc_create(&bpd, &d, cpu_dnnl_attr(), eng, fpd);
    } else {
      dnnl_softmax_desc_t d;
      st = dnnl_softmax_backward_desc_init(&d, &md, &md, 1);
      if (st == dnnl_success) st = dnnl_primitive_desc_create(&bpd, &d, cpu_dnnl_attr(), eng, fpd);
    }
  }
  if (st == dnnl_success) st = dnnl_primitive_create(&p, dir == SM_BWD ? bpd : fpd);
  if (fpd) dnnl_primitive_desc_destroy(fpd);
  if (bpd) dnnl_primitive_desc_destroy(bpd);
  if (st != dnnl_success)
    return hub_errp("%s: oneDNN primitive creation failed (status %d)",
                    log ? "log_softmax" : "softmax", (int)st);
  return cpu_dnnl_cache_put(key, sizeof key, p);
}

int cpu_softmax(const hub_tensor *x, int dim, int log, hub_tensor *y) {
  const char *op = log ? "log_softmax" : "softmax";
  if (x->dtype != HUB_F32 || y->dtype != HUB_F32) return hub_err("%s: cpu kernel expects f32", op);
  if (hub_tensor_numel(x) == 0) return 0;
  int64_t outer, n, inner;
  geometry(x, dim, &outer, &n, &inner);
  cpu_prim *p = get_prim(SM_FWD, log, outer, n, inner);
  if (!p) return -1;
  dnnl_memory_desc_t md[2];
  if (describe(&md[0], outer, n, inner)) {
    cpu_dnnl_release(p);
    return -1;
  }
  md[1] = md[0];
  int args[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
  void *ptrs[2] = {x->data, y->data};
  return cpu_dnnl_exec(op, p, 2, args, md, ptrs);
}

int cpu_softmax_backward(const hub_tensor *y, const hub_tensor *gy, int dim, int log,
                         hub_tensor *gx) {
  const char *op = log ? "log_softmax" : "softmax";
  if (y->dtype != HUB_F32 || gy->dtype != HUB_F32 || gx->dtype != HUB_F32)
    return hub_err("%s: cpu kernel expects f32", op);
  if (hub_tensor_numel(y) == 0) return 0;
  int64_t outer, n, inner;
  geometry(y, dim, &outer, &n, &inner);
  cpu_prim *p = get_prim(SM_BWD, log, outer, n, inner);
  if (!p) return -1;
  dnnl_memory_desc_t md[3];
  if (describe(&md[0], outer, n, inner)) {
    cpu_dnnl_release(p);
    return -1;
  }
  md[1] = md[2] = md[0];
  int args[3] = {DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC};
  void *ptrs[3] = {y->data, gy->data, gx->data};
  return cpu_dnnl_exec(op, p, 3, args, md, ptrs);
}
