/* binary.c - the CPU kernels for elementwise arithmetic between f32 tensors: out = a op b
 * (add, sub, mul, div), a += alpha * b in place (axpy), and out = cond ? a : b (where).
 *
 * The op layer has already expanded the inputs to the output's shape, so broadcasting shows up
 * here only as strides of 0.  When every operand is contiguous the kernel is one flat loop.
 * Otherwise the strided iterator (strided.h) coalesces dimensions and hands out runs along the
 * innermost one; each run picks a loop by its strides: all 1 (contiguous rows), a scalar b
 * (stride 0: a row of a times one value, the "bias per row" case), a scalar a, or the general
 * strided loop.  A row-broadcast b (shape [N] added to [M, N]) coalesces to rows whose b stride
 * is 1 and so runs the contiguous loop row by row.  A large transposed operand (stride other
 * than 0 or 1 along the output's rows) is first copied to contiguous memory by the tiled copy.  Large tensors are split between OpenMP
 * threads by elements.
 */
#include "cpu/cpu.h"
#include "cpu/strided.h"

static int check_f32(const char *op, const hub_tensor *t, const hub_tensor *like) {
  if (t->dtype != HUB_F32) return hub_err("%s: expected an f32 tensor, got %s", op, hub_dtype_name(t->dtype));
  if (t->ndim != like->ndim || !hub_same_shape(t, like)) {
    char s1[128], s2[128];
    return hub_err("%s: operand of shape %s does not match %s", op, hub_shape_str(t, s1, sizeof s1),
                   hub_shape_str(like, s2, sizeof s2));
  }
  return 0;
}

/* ---- out = a op b ---- */

#define OP_ADD(x, y) ((x) + (y))
#define OP_SUB(x, y) ((x) - (y))
#define OP_MUL(x, y) ((x) * (y))
#define OP_DIV(x, y) ((x) / (y))

#define BIN_RUN(OP)                                                          \
  do {                                                                       \
    if (so == 1 && sa == 1 && sb == 1) {                                     \
      for (int64_t i = 0; i < n; i++) o[i] = OP(a[i], b[i]);                 \
    } else if (so == 1 && sa == 1 && sb == 0) {                              \
      float y = b[0];                                                        \
      for (int64_t i = 0; i < n; i++) o[i] = OP(a[i], y);                    \
    } else if (so == 1 && sa == 0 && sb == 1) {                              \
      float x = a[0];                                                        \
      for (int64_t i = 0; i < n; i++) o[i] = OP(x, b[i]);                    \
    } else {                                                                 \
      for (int64_t i = 0; i < n; i++) o[i * so] = OP(a[i * sa], b[i * sb]);  \
    }                                                                        \
  } while (0)

static void bin_rows(int op, float *o, const float *a, const float *b, int64_t so, int64_t sa,
                     int64_t sb, int64_t n) {
  switch (op) {
  case HUB_BIN_ADD: BIN_RUN(OP_ADD); break;
  case HUB_BIN_SUB: BIN_RUN(OP_SUB); break;
  case HUB_BIN_MUL: BIN_RUN(OP_MUL); break;
  default: BIN_RUN(OP_DIV); break;
  }
}

typedef struct bin_ctx {
  const cpu_iter *it;
  int op;
  float *o;
  const float *a, *b;
  float alpha;
} bin_ctx;

static void bin_run(void *vc, const int64_t *off, int64_t n) {
  bin_ctx *c = vc;
  int last = c->it->nd - 1;
  bin_rows(c->op, c->o + off[0], c->a + off[1], c->b + off[2], c->it->stride[0][last],
           c->it->stride[1][last], c->it->stride[2][last], n);
}

int cpu_binary(int op, const hub_tensor *a, const hub_tensor *b, hub_tensor *out) {
  if (op < HUB_BIN_ADD || op > HUB_BIN_DIV) return hub_err("binary: unknown op %d", op);
  if (check_f32("binary", out, out) || check_f32("binary", a, out) || check_f32("binary", b, out))
    return -1;
  int64_t n = hub_tensor_numel(out);
  if (n == 0) return 0;
  if (hub_tensor_is_contiguous(a) && hub_tensor_is_contiguous(b) && hub_tensor_is_contiguous(out)) {
    float *o = out->data;
    const float *x = a->data, *y = b->data;
#pragma omp parallel if (n >= CPU_PAR_MIN)
    {
      int64_t s, e;
      cpu_thread_range(n, &s, &e);
      if (e > s) bin_rows(op, o + s, x + s, y + s, 1, 1, 1, e - s);
    }
    return 0;
  }
  cpu_iter it;
  const int64_t *st[3] = {out->stride, a->stride, b->stride};
  cpu_iter_init(&it, out->ndim, out->shape, 3, st);
  int last = it.nd - 1;
  if (n >= CPU_PAR_MIN && it.stride[0][last] == 1 &&
      ((it.stride[1][last] != 0 && it.stride[1][last] != 1) ||
       (it.stride[2][last] != 0 && it.stride[2][last] != 1))) {
    /* A transposed operand would be read with a large stride on every element: copy it into
     * contiguous memory first (copy.c does that in cache-sized tiles), then run the fast path. */
    int ta = it.stride[1][last] != 0 && it.stride[1][last] != 1;
    const hub_tensor *x = ta ? a : b;
    hub_tensor *tmp = hub_tensor_empty(HUB_F32, x->ndim, x->shape, x->device);
    int rc = tmp ? cpu_copy(tmp, x) : -1;
    if (rc == 0) rc = ta ? cpu_binary(op, tmp, b, out) : cpu_binary(op, a, tmp, out);
    hub_tensor_release(tmp);
    return rc;
  }
  bin_ctx c = {&it, op, out->data, a->data, b->data, 0};
  cpu_iter_run(&it, bin_run, &c);
  return 0;
}

/* ---- a += alpha * b ---- */

static void axpy_rows(float *a, const float *b, int64_t sa, int64_t sb, float alpha, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) a[i] += alpha * b[i];
  } else if (sa == 1 && sb == 0) {
    float y = alpha * b[0];
    for (int64_t i = 0; i < n; i++) a[i] += y;
  } else {
    for (int64_t i = 0; i < n; i++) a[i * sa] += alpha * b[i * sb];
  }
}

static void axpy_run(void *vc, const int64_t *off, int64_t n) {
  bin_ctx *c = vc;
  int last = c->it->nd - 1;
  axpy_rows(c->o + off[0], c->b + off[1], c->it->stride[0][last], c->it->stride[1][last],
            c->alpha, n);
}

int cpu_axpy(hub_tensor *a, const hub_tensor *b, float alpha) {
  if (check_f32("axpy", a, a) || check_f32("axpy", b, a)) return -1;
  int64_t n = hub_tensor_numel(a);
  if (n == 0) return 0;
  if (hub_tensor_is_contiguous(a) && hub_tensor_is_contiguous(b)) {
    float *x = a->data;
    const float *y = b->data;
#pragma omp parallel if (n >= CPU_PAR_MIN)
    {
      int64_t s, e;
      cpu_thread_range(n, &s, &e);
      if (e > s) axpy_rows(x + s, y + s, 1, 1, alpha, e - s);
    }
    return 0;
  }
  cpu_iter it;
  const int64_t *st[2] = {a->stride, b->stride};
  cpu_iter_init(&it, a->ndim, a->shape, 2, st);
  bin_ctx c = {&it, 0, a->data, NULL, b->data, alpha};
  cpu_iter_run(&it, axpy_run, &c);
  return 0;
}

/* ---- out = cond ? a : b ---- */

typedef struct where_ctx {
  const cpu_iter *it;
  float *o;
  const uint8_t *c;
  const float *a, *b;
} where_ctx;

static void where_run(void *vc, const int64_t *off, int64_t n) {
  where_ctx *w = vc;
  int last = w->it->nd - 1;
  int64_t so = w->it->stride[0][last], sc = w->it->stride[1][last];
  int64_t sa = w->it->stride[2][last], sb = w->it->stride[3][last];
  float *o = w->o + off[0];
  const uint8_t *c = w->c + off[1];
  const float *a = w->a + off[2], *b = w->b + off[3];
  if (so == 1 && sc == 1 && sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = c[i] ? a[i] : b[i];
  } else {
    for (int64_t i = 0; i < n; i++) o[i * so] = c[i * sc] ? a[i * sa] : b[i * sb];
  }
}

int cpu_where(const hub_tensor *cond, const hub_tensor *a, const hub_tensor *b, hub_tensor *out) {
  if (cond->dtype != HUB_BOOL && cond->dtype != HUB_U8)
    return hub_err("where: expected a bool or u8 condition, got %s", hub_dtype_name(cond->dtype));
  if (cond->ndim != out->ndim || !hub_same_shape(cond, out))
    return hub_err("where: condition does not match the output's shape");
  if (check_f32("where", out, out) || check_f32("where", a, out) || check_f32("where", b, out))
    return -1;
  if (hub_tensor_numel(out) == 0) return 0;
  cpu_iter it;
  const int64_t *st[4] = {out->stride, cond->stride, a->stride, b->stride};
  cpu_iter_init(&it, out->ndim, out->shape, 4, st);
  where_ctx w = {&it, out->data, cond->data, a->data, b->data};
  cpu_iter_run(&it, where_run, &w);
  return 0;
}
