/* layer_norm.c - layer normalisation over the last dimension of a [rows, n] view (CPU).
 *
 * y = (x - mean) * rstd * w + b with rstd = 1 / sqrt(var + eps), var the biased variance; the
 * forward also returns mean and rstd per row for the backward pass:
 *   xhat = (x - mean) * rstd,  g = gy * w
 *   gx = rstd * (g - mean_n(g) - xhat * mean_n(g * xhat)),  gw = sum_rows(gy * xhat),
 *   gb = sum_rows(gy).
 * The main path is oneDNN's layer normalization primitive (JIT, vectorised; cached per shape and
 * flags).  oneDNN works with the variance, our slot with rstd: the forward writes the variance
 * into the rstd output and converts it in place; the backward, which is not given eps, hands
 * oneDNN var' = 1/rstd^2 with epsilon 0, which is the same normaliser.  When oneDNN cannot make a
 * primitive the OpenMP loops below do the same computation (statistics in double; weight and
 * bias gradients reduced per column block, so the result does not depend on the thread count).
 * The loops are 4-5x slower than oneDNN on BERT shapes; setting HUB_LAYER_NORM_LOOPS=1 in the
 * environment selects them anyway (the tests use it to check them).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* ---- OpenMP loops ---- */

static void ln_forward_loops(const float *x, const float *w, const float *b, float eps, float *y,
                             float *mean, float *rstd, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static) if (rows * n > 16384)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += xr[j];
    double mu = s / (double)n, v = 0;
    for (int64_t j = 0; j < n; j++) {
      double d = xr[j] - mu;
      v += d * d;
    }
    float m = (float)mu, rs = (float)(1.0 / sqrt(v / (double)n + (double)eps));
    float *yr = y + r * n;
    for (int64_t j = 0; j < n; j++) {
      float t = (xr[j] - m) * rs;
      yr[j] = (w ? t * w[j] : t) + (b ? b[j] : 0.0f);
    }
    if (mean) mean[r] = m;
    if (rstd) rstd[r] = rs;
  }
}

enum { LN_COLS = 64 };

static void ln_backward_loops(const float *x, const float *w, const float *mean, const float *rstd,
                              const float *gy, float *gx, float *gw, float *gb, int64_t rows,
                              int64_t n) {
#pragma omp parallel for schedule(static) if (rows * n > 16384)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n, *gr = gy + r * n;
    float m = mean[r], rs = rstd[r];
    double sg = 0, sgx = 0;
    for (int64_t j = 0; j < n; j++) {
      float g = w ? gr[j] * w[j] : gr[j];
      sg += g;
      sgx += (double)g * ((xr[j] - m) * rs);
    }
    float a = (float)(sg / (double)n), c = (float)(sgx / (double)n);
    float *o = gx + r * n;
    for (int64_t j = 0; j < n; j++) {
      float g = w ? gr[j] * w[j] : gr[j];
      o[j] = rs * (g - a - (xr[j] - m) * rs * c);
    }
  }
  if (!gw && !gb) return;
  int64_t nblk = (n + LN_COLS - 1) / LN_COLS;
#pragma omp parallel for schedule(static) if (rows * n > 16384)
  for (int64_t t = 0; t < nblk; t++) {
    int64_t j0 = t * LN_COLS, m = n - j0 < LN_COLS ? n - j0 : LN_COLS;
    double aw[LN_COLS] = {0}, ab[LN_COLS] = {0};
    for (int64_t r = 0; r < rows; r++) {
      const float *xr = x + r * n + j0, *gr = gy + r * n + j0;
      float mu = mean[r], rs = rstd[r];
      for (int64_t j = 0; j < m; j++) {
        aw[j] += gr[j] * ((xr[j] - mu) * rs);
        ab[j] += gr[j];
      }
    }
    for (int64_t j = 0; j < m; j++) {
      if (gw) gw[j0 + j] = (float)aw[j];
      if (gb) gb[j0 + j] = (float)ab[j];
    }
  }
}

/* ---- oneDNN ---- */

static int use_loops(void) {
  const char *e = getenv("HUB_LAYER_NORM_LOOPS");
  return e && e[0] == '1';
}

/* The cached primitive; dir 0 forward (training when `train`), 1 backward. */
static cpu_prim *ln_prim(int dir, int train, unsigned flags, float eps, int64_t rows,
                                int64_t n) {
  int32_t eb;
  memcpy(&eb, &eps, sizeof eb);
  int64_t key[7] = {0x6c6e6f726dLL /* "lnorm" */, dir, train, flags, eb, rows, n};
  cpu_prim *c = cpu_dnnl_cache_get(key, sizeof key);
  if (c) return c;
  dnnl_primitive_t p;
  dnnl_engine_t eng = cpu_dnnl_engine();
  if (!eng) return NULL;
  dnnl_memory_desc_t md;
  int64_t shape[2] = {rows, n};
  if (cpu_dnnl_md(&md, 2, shape, NULL)) return NULL;
  dnnl_layer_normalization_desc_t fd, bd;
  dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
  dnnl_status_t st = dnnl_layer_normalization_forward_desc_init(
      &fd, train ? dnnl_forward_training : dnnl_forward_inference, &md, NULL, eps, flags);
  if (st == dnnl_success) st = dnnl_primitive_desc_create(&fpd, &fd, cpu_dnnl_attr(), eng, NULL);
  if (st == dnnl_success && dir == 1) {
    dnnl_prop_kind_t pk = (flags & (dnnl_use_scale | dnnl_use_shift)) ? dnnl_backward
                                                                       : dnnl_backward_data;
    st = dnnl_layer_normalization_backward_desc_init(&bd, pk, &md, &md, NULL, eps, flags);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&bpd, &bd, cpu_dnnl_attr(), eng, fpd);
  }
  p = NULL;
  if (st == dnnl_success) st = dnnl_primitive_create(&p, dir == 1 ? bpd : fpd);
  if (fpd) dnnl_primitive_desc_destroy(fpd);
  if (bpd) dnnl_primitive_desc_destroy(bpd);
  if (st != dnnl_success) return NULL;
  c = cpu_dnnl_cache_put(key, sizeof key, p);
  if (!c) hub_clear_error(); /* out of memory: the loops run instead */
  return c;
}

static void geometry(const hub_tensor *x, const hub_tensor *stat, const hub_tensor *w,
                     int64_t *rows, int64_t *n) {
  int64_t total = hub_tensor_numel(x);
  if (stat) {
    *rows = hub_tensor_numel(stat);
    *n = *rows ? total / *rows : 0;
  } else if (w) {
    *n = hub_tensor_numel(w);
    *rows = *n ? total / *n : 0;
  } else {
    *n = x->ndim ? x->shape[x->ndim - 1] : 1;
    *rows = *n ? total / *n : 0;
  }
}

int cpu_layer_norm(const hub_tensor *x, const hub_tensor *r, const hub_tensor *w,
                   const hub_tensor *b, float eps, hub_tensor *y, hub_tensor *s, hub_tensor *mean,
                   hub_tensor *rstd) {
  if (x->dtype != HUB_F32 || y->dtype != HUB_F32 || (w && w->dtype != HUB_F32) ||
      (b && b->dtype != HUB_F32) || (r && r->dtype != HUB_F32) || (s && s->dtype != HUB_F32))
    return hub_err("layer_norm: cpu kernel expects f32 tensors");
  int64_t rows, n;
  geometry(x, mean ? mean : rstd, w, &rows, &n);
  if (rows == 0 || n == 0) return 0;
  if (r) {
    /* The residual sum goes to s (kept for the backward) or, in inference, straight into y,
     * which oneDNN then normalises in place.  No pass is saved on the CPU (oneDNN's layer
     * normalization takes no residual), but no temporary is made either. */
    hub_tensor *sum = s ? s : y;
    if (cpu_binary(HUB_BIN_ADD, x, r, sum)) return -1;
    x = sum;
  }
  int train = mean && rstd;
  unsigned flags = (w ? dnnl_use_scale : 0) | (b ? dnnl_use_shift : 0);
  cpu_prim *p = use_loops() ? NULL : ln_prim(0, train, flags, eps, rows, n);
  if (!p) {
    ln_forward_loops(x->data, w ? w->data : NULL, b ? b->data : NULL, eps, y->data,
                     mean ? mean->data : NULL, rstd ? rstd->data : NULL, rows, n);
    return 0;
  }
  int64_t s2[2] = {rows, n}, sn[1] = {n}, sr[1] = {rows};
  dnnl_memory_desc_t md[6];
  int args[6], k = 0, bad = 0;
  void *ptrs[6];
#define ARG(A, SHAPE, ND, PTR)                                     \
  do {                                                             \
    bad |= cpu_dnnl_md(&md[k], ND, SHAPE, NULL);                   \
    args[k] = A;                                                   \
    ptrs[k] = PTR;                                                 \
    k++;                                                           \
  } while (0)
  ARG(DNNL_ARG_SRC, s2, 2, x->data);
  ARG(DNNL_ARG_DST, s2, 2, y->data);
  if (w) ARG(DNNL_ARG_SCALE, sn, 1, w->data);
  if (b) ARG(DNNL_ARG_SHIFT, sn, 1, b->data);
  if (train) {
    ARG(DNNL_ARG_MEAN, sr, 1, mean->data);
    ARG(DNNL_ARG_VARIANCE, sr, 1, rstd->data);
  }
  if (bad) {
    cpu_dnnl_release(p);
    return -1;
  }
  if (cpu_dnnl_exec("layer_norm", p, k, args, md, ptrs)) return -1;
  if (train) {
    float *rs = rstd->data;
#pragma omp parallel for schedule(static) if (rows > 65536)
    for (int64_t r = 0; r < rows; r++) rs[r] = 1.0f / sqrtf(rs[r] + eps);
  }
  return 0;
}

int cpu_layer_norm_backward(const hub_tensor *x, const hub_tensor *w, const hub_tensor *mean,
                            const hub_tensor *rstd, const hub_tensor *gy, hub_tensor *gx,
                            hub_tensor *gw, hub_tensor *gb) {
  if (x->dtype != HUB_F32 || gy->dtype != HUB_F32 || gx->dtype != HUB_F32 ||
      mean->dtype != HUB_F32 || rstd->dtype != HUB_F32 || (w && w->dtype != HUB_F32))
    return hub_err("layer_norm: cpu kernel expects f32 tensors");
  int64_t rows, n;
  geometry(x, mean, w, &rows, &n);
  if (rows == 0 || n == 0) {
    if (gw) memset(gw->data, 0, sizeof(float) * (size_t)hub_tensor_numel(gw));
    if (gb) memset(gb->data, 0, sizeof(float) * (size_t)hub_tensor_numel(gb));
    return 0;
  }
  unsigned flags = (w ? dnnl_use_scale : 0) | (gb ? dnnl_use_shift : 0);
  /* a weight gradient without a weight cannot come from the op layer; the loops handle it */
  cpu_prim *p = (gw && !w) || use_loops() ? NULL : ln_prim(1, 1, flags, 0.0f, rows, n);
  /* temporaries: var' (rows), diff scale when w is given but gw not wanted, a zero shift */
  size_t tmp_n = (size_t)rows + (w && !gw ? (size_t)n : 0) + (gb ? (size_t)n : 0);
  float *tmp = p ? calloc(tmp_n, sizeof(float)) : NULL;
  if (!tmp) {
    cpu_dnnl_release(p);
    ln_backward_loops(x->data, w ? w->data : NULL, mean->data, rstd->data, gy->data, gx->data,
                      gw ? gw->data : NULL, gb ? gb->data : NULL, rows, n);
    return 0;
  }
  float *var = tmp, *extra = tmp + rows;
  const float *rs = rstd->data;
#pragma omp parallel for schedule(static) if (rows > 65536)
  for (int64_t r = 0; r < rows; r++) var[r] = 1.0f / (rs[r] * rs[r]);
  int64_t s2[2] = {rows, n}, sn[1] = {n}, sr[1] = {rows};
  dnnl_memory_desc_t md[9];
  int args[9], k = 0, bad = 0;
  void *ptrs[9];
  ARG(DNNL_ARG_SRC, s2, 2, x->data);
  ARG(DNNL_ARG_DIFF_DST, s2, 2, gy->data);
  ARG(DNNL_ARG_MEAN, sr, 1, mean->data);
  ARG(DNNL_ARG_VARIANCE, sr, 1, var);
  ARG(DNNL_ARG_DIFF_SRC, s2, 2, gx->data);
  if (w) {
    ARG(DNNL_ARG_SCALE, sn, 1, w->data);
    if (gw) {
      ARG(DNNL_ARG_DIFF_SCALE, sn, 1, gw->data);
    } else {
      ARG(DNNL_ARG_DIFF_SCALE, sn, 1, extra);
      extra += n;
    }
  }
  if (gb) {
    ARG(DNNL_ARG_SHIFT, sn, 1, extra);
    ARG(DNNL_ARG_DIFF_SHIFT, sn, 1, gb->data);
  }
#undef ARG
  int rc;
  if (bad) {
    cpu_dnnl_release(p);
    rc = -1;
  } else {
    rc = cpu_dnnl_exec("layer_norm", p, k, args, md, ptrs);
  }
  free(tmp);
  return rc;
}
