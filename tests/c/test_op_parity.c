/* test_op_parity.c - every op case written once, run on every backend that is built (ggml's
 * test-backend-ops idea, our code).
 *
 * A case says how to build the op from its inputs (shapes, which inputs must be positive), the
 * tolerance of the backend's f32 result against the reference, and whether its gradients are
 * checked.  The reference is the op on the CPU in f64 (the naive double loops of
 * kernels/cpu/f64.c where the op has them; ops without an f64 path compute in f32 from the same
 * inputs).  For every available device (hub_device_available: today the CPU; the CUDA issue
 * fills in that column) the inputs are moved there with hub_to_device, the op runs in f32, and
 * its output and the gradients of sum(out * w) (w fixed random weights) come back to be
 * compared.  With `grad` set, the reference gradients are themselves checked against central
 * finite differences in f64, so a wrong backward cannot hide behind a matching one.
 *
 * Each case also fails each of the recordings it makes in turn, as if memory ran out
 * (hub_record_fail_nth): the op must return NULL with the error and leave no node behind.
 *
 * Adding an op: one line in `cases` (and a tiny function when it takes options).  The first word
 * of a case's name is the op-table name it covers (hub_op_name): every op of the table
 * (runtime/ops/op_table.c) must have a case, so an op added to the table without one fails this
 * test; and every op declared in runtime/ (a HUB_OP_DEF line, or a *_DEF line of a macro that
 * wraps it) must be in the table, so an op left out of the table fails it too.
 */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "internal.h" /* hub_record_fail_nth */
#include "backend.h"
#include "check.h"
#include "cuda_standin.h"

#define MAXIN 4

typedef hub_tensor *(*op_fn)(hub_tensor **in);

typedef struct op_case {
  const char *name;
  op_fn fn;
  int n_in;
  int ndim[MAXIN];
  int64_t shape[MAXIN][4];
  unsigned positive; /* bit i: input i is drawn from [0.5, 1.5) (log, div, sqrt) */
  double tol;        /* max |backend - reference| / (1 + |reference|) */
  int grad;          /* check gradients (and the reference's against finite differences) */
} op_case;

static void release_all(int n, hub_tensor **ts) {
  for (int i = 0; i < n; i++) hub_tensor_release(ts[i]);
}

static hub_tensor *op_add(hub_tensor **x) { return hub_add(x[0], x[1]); }
static hub_tensor *op_mul(hub_tensor **x) { return hub_mul(x[0], x[1]); }
static hub_tensor *op_div(hub_tensor **x) { return hub_div(x[0], x[1]); }
static hub_tensor *op_matmul(hub_tensor **x) { return hub_matmul(x[0], x[1]); }
static hub_tensor *op_exp(hub_tensor **x) { return hub_exp(x[0]); }
static hub_tensor *op_tanh(hub_tensor **x) { return hub_tanh(x[0]); }
static hub_tensor *op_sigmoid(hub_tensor **x) { return hub_sigmoid(x[0]); }
static hub_tensor *op_gelu(hub_tensor **x) { return hub_gelu(x[0], 0); }
static hub_tensor *op_sum(hub_tensor **x) { return hub_sum(x[0], 1, (int[]){-1}, 0); }
static hub_tensor *op_mean(hub_tensor **x) { return hub_mean(x[0], 1, (int[]){0}, 1); }
static hub_tensor *op_softmax(hub_tensor **x) { return hub_softmax(x[0], -1); }
static hub_tensor *op_log_softmax(hub_tensor **x) { return hub_log_softmax(x[0], -1); }
static hub_tensor *op_layer_norm(hub_tensor **x) { return hub_layer_norm(x[0], 1, x[1], x[2], 1e-5); }
static hub_tensor *op_add_layer_norm(hub_tensor **x) { return hub_add_layer_norm(x[0], x[1], 1, x[2], x[3], 1e-5); }
static hub_tensor *op_attention(hub_tensor **x) { return hub_attention(x[0], x[1], x[2], NULL, 0); }

/* Fixed integer / mask operands, made on the CPU and moved to the inputs' device. */
static hub_tensor *fixed(const hub_tensor *like, int dtype, int ndim, const int64_t *shape, const int64_t *v) {
  hub_tensor *t = hub_full(ndim, shape, 0, dtype);
  int64_t n = t ? hub_tensor_numel(t) : 0;
  for (int64_t i = 0; i < n; i++) hub_tensor_set(t, i, (double)v[i]);
  hub_tensor *d = t ? hub_to_device(t, hub_tensor_device(like)) : NULL;
  hub_tensor_release(t);
  return d;
}
#define FIXED(like, dt, nd, shp, ...) fixed(like, dt, nd, (int64_t[])shp, (int64_t[]){__VA_ARGS__})
#define SHAPE(...) {__VA_ARGS__}

static hub_tensor *op_sub(hub_tensor **x) { return hub_sub(x[0], x[1]); }
static hub_tensor *op_neg(hub_tensor **x) { return hub_neg(x[0]); }
static hub_tensor *op_add_scalar(hub_tensor **x) { return hub_add_scalar(x[0], 0.75); }
static hub_tensor *op_mul_scalar(hub_tensor **x) { return hub_mul_scalar(x[0], -1.5); }
static hub_tensor *op_rsub_scalar(hub_tensor **x) { return hub_rsub_scalar(x[0], 2.0); }
static hub_tensor *op_rdiv_scalar(hub_tensor **x) { return hub_rdiv_scalar(x[0], 3.0); }
static hub_tensor *op_pow_scalar(hub_tensor **x) { return hub_pow(x[0], 2.5); }
static hub_tensor *op_pow_tensor(hub_tensor **x) { return hub_pow_tensor(x[0], x[1]); }
static hub_tensor *op_fmod(hub_tensor **x) { return hub_fmod(x[0], x[1]); }
static hub_tensor *op_remainder(hub_tensor **x) { return hub_remainder(x[0], x[1]); }
static hub_tensor *op_log(hub_tensor **x) { return hub_log(x[0]); }
static hub_tensor *op_sqrt(hub_tensor **x) { return hub_sqrt(x[0]); }
static hub_tensor *op_rsqrt(hub_tensor **x) { return hub_rsqrt(x[0]); }
static hub_tensor *op_abs(hub_tensor **x) { return hub_abs(x[0]); }
static hub_tensor *op_relu(hub_tensor **x) { return hub_relu(x[0]); }
static hub_tensor *op_sign(hub_tensor **x) { return hub_sign(x[0]); }
static hub_tensor *op_floor(hub_tensor **x) { return hub_floor(x[0]); }
static hub_tensor *op_ceil(hub_tensor **x) { return hub_ceil(x[0]); }
static hub_tensor *op_round(hub_tensor **x) { return hub_round(x[0]); }
static hub_tensor *op_clamp(hub_tensor **x) { return hub_clamp(x[0], -0.5, 0.5); }
static hub_tensor *op_max(hub_tensor **x) { return hub_max(x[0], 1, 0); }
static hub_tensor *op_linear(hub_tensor **x) { return hub_linear(x[0], x[1], x[2]); }
static hub_tensor *op_cumsum(hub_tensor **x) { return hub_cumsum(x[0], 1); }
static hub_tensor *op_reshape(hub_tensor **x) { return hub_reshape(x[0], 2, (int64_t[]){4, 3}); }
static hub_tensor *op_view(hub_tensor **x) { return hub_view(x[0], 1, (int64_t[]){12}); }
static hub_tensor *op_squeeze(hub_tensor **x) { return hub_squeeze(x[0], 1); }
static hub_tensor *op_unsqueeze(hub_tensor **x) { return hub_unsqueeze(x[0], 0); }
static hub_tensor *op_transpose(hub_tensor **x) { return hub_transpose(x[0], 0, 1); }
static hub_tensor *op_permute(hub_tensor **x) { return hub_permute(x[0], (int[]){2, 0, 1}); }
static hub_tensor *op_narrow(hub_tensor **x) { return hub_narrow(x[0], 1, 1, 2); }
static hub_tensor *op_expand(hub_tensor **x) { return hub_expand(x[0], 2, (int64_t[]){3, 4}); }
static hub_tensor *op_clone(hub_tensor **x) { return hub_clone(x[0]); }
static hub_tensor *op_to(hub_tensor **x) { return hub_to_dtype(x[0], HUB_F64); }
/* the identity on the cpu (nothing recorded); from another device, the copy back is recorded */
static hub_tensor *op_to_device(hub_tensor **x) { return hub_to_device(x[0], HUB_CPU); }
/* the same mask at every call (the reference, the finite differences, each device): the seed is
 * set first, and the counter-based generator draws by position */
static hub_tensor *op_dropout(hub_tensor **x) {
  hub_manual_seed(77);
  return hub_dropout(x[0], 0.3, 1);
}
static hub_tensor *op_concat(hub_tensor **x) { return hub_concat(2, x, 0); }
static hub_tensor *op_attention_qkv(hub_tensor **x) { return hub_attention_qkv(x[0], NULL, 2, 0, 0); }
static hub_tensor *op_split(hub_tensor **x) { /* the second piece: the first gets no gradient */
  hub_tensor *p[2] = {NULL, NULL};
  if (hub_split(x[0], 1, 2, (int64_t[]){2, 3}, p)) return NULL;
  hub_tensor_release(p[0]);
  return p[1];
}
static hub_tensor *op_where(hub_tensor **x) {
  hub_tensor *c = FIXED(x[0], HUB_U8, 2, SHAPE(3, 4), 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1);
  hub_tensor *o = c ? hub_where(c, x[0], x[1]) : NULL;
  hub_tensor_release(c);
  return o;
}
static hub_tensor *op_masked_fill(hub_tensor **x) {
  hub_tensor *m = FIXED(x[0], HUB_BOOL, 1, SHAPE(4), 0, 1, 1, 0);
  hub_tensor *o = m ? hub_masked_fill(x[0], m, 2.5) : NULL;
  hub_tensor_release(m);
  return o;
}
static hub_tensor *op_masked_select(hub_tensor **x) {
  hub_tensor *m = FIXED(x[0], HUB_BOOL, 2, SHAPE(3, 4), 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1);
  hub_tensor *o = m ? hub_masked_select(x[0], m) : NULL;
  hub_tensor_release(m);
  return o;
}
static hub_tensor *op_cross_entropy(hub_tensor **x) {
  hub_tensor *t = FIXED(x[0], HUB_I64, 1, SHAPE(4), 1, 0, 4, 2);
  hub_tensor *o = t ? hub_cross_entropy(x[0], t, -100, 0.1) : NULL;
  hub_tensor_release(t);
  return o;
}
static hub_tensor *op_embedding(hub_tensor **x) {
  hub_tensor *ids = FIXED(x[0], HUB_I64, 2, SHAPE(2, 3), 5, 0, 2, 2, 1, 5);
  hub_tensor *o = ids ? hub_embedding(x[0], ids) : NULL;
  hub_tensor_release(ids);
  return o;
}
static hub_tensor *op_index_select(hub_tensor **x) {
  hub_tensor *ids = FIXED(x[0], HUB_I64, 1, SHAPE(4), 2, 0, 1, 0);
  hub_tensor *o = ids ? hub_index_select(x[0], 1, ids) : NULL;
  hub_tensor_release(ids);
  return o;
}
static hub_tensor *op_gather(hub_tensor **x) {
  hub_tensor *ids = FIXED(x[0], HUB_I64, 2, SHAPE(3, 2), 3, 0, 1, 1, 2, 0);
  hub_tensor *o = ids ? hub_gather(x[0], 1, ids) : NULL;
  hub_tensor_release(ids);
  return o;
}
static hub_tensor *scatter_case(hub_tensor **x, int add) {
  hub_tensor *ids = FIXED(x[0], HUB_I64, 2, SHAPE(3, 2), 3, 0, 1, 2, 2, 0);
  hub_tensor *o = ids ? (add ? hub_scatter_add : hub_scatter)(x[0], 1, ids, x[1]) : NULL;
  hub_tensor_release(ids);
  return o;
}
static hub_tensor *op_scatter(hub_tensor **x) { return scatter_case(x, 0); }
static hub_tensor *op_scatter_add(hub_tensor **x) { return scatter_case(x, 1); }
static hub_tensor *op_crf_nll(hub_tensor **x) { /* emissions [2, 3, 4], transitions, start; end 0 */
  hub_tensor *tags = FIXED(x[0], HUB_I64, 2, SHAPE(2, 3), 1, 3, 0, 2, 2, 0);
  hub_tensor *len = FIXED(x[0], HUB_I64, 1, SHAPE(2), 3, 2);
  hub_tensor *end = FIXED(x[0], HUB_I64, 1, SHAPE(4), 0, 0, 0, 0);
  hub_tensor *endf = end ? hub_to_dtype(end, hub_tensor_dtype(x[0])) : NULL;
  hub_tensor *o = tags && len && endf ? hub_crf_nll(x[0], tags, len, NULL, x[1], x[2], endf) : NULL;
  release_all(4, (hub_tensor *[]){tags, len, end, endf});
  return o;
}

static const op_case cases[] = {
    {"add (broadcast)", op_add, 2, {2, 1}, {{3, 4}, {4}}, 0, 1e-6, 1},
    {"mul", op_mul, 2, {2, 2}, {{3, 4}, {3, 4}}, 0, 1e-6, 1},
    {"div", op_div, 2, {2, 2}, {{3, 4}, {3, 4}}, 2, 1e-6, 1},
    {"matmul (batched)", op_matmul, 2, {3, 2}, {{2, 3, 5}, {5, 4}}, 0, 1e-5, 1},
    {"exp", op_exp, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"tanh", op_tanh, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"sigmoid", op_sigmoid, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"gelu", op_gelu, 1, {2}, {{3, 4}}, 0, 1e-5, 1},
    {"sum", op_sum, 1, {3}, {{2, 3, 4}}, 0, 1e-6, 1},
    {"mean", op_mean, 1, {2}, {{5, 3}}, 0, 1e-6, 1},
    {"softmax", op_softmax, 1, {2}, {{3, 6}}, 0, 1e-5, 1},
    {"log_softmax", op_log_softmax, 1, {2}, {{3, 6}}, 0, 1e-5, 1},
    {"layer_norm", op_layer_norm, 3, {2, 1, 1}, {{4, 8}, {8}, {8}}, 0, 1e-4, 1},
    {"add_layer_norm", op_add_layer_norm, 4, {3, 3, 1, 1}, {{2, 3, 8}, {2, 3, 8}, {8}, {8}}, 0, 1e-4, 1},
    {"add_layer_norm (broadcast)", op_add_layer_norm, 4, {2, 1, 1, 1}, {{4, 8}, {8}, {8}, {8}}, 0, 1e-4, 1},
    {"attention", op_attention, 3, {3, 3, 3}, {{2, 3, 4}, {2, 5, 4}, {2, 5, 3}}, 0, 1e-5, 1},
    {"sub (broadcast)", op_sub, 2, {2, 2}, {{3, 4}, {1, 4}}, 0, 1e-6, 1},
    {"neg", op_neg, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"add_scalar", op_add_scalar, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"mul_scalar", op_mul_scalar, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"rsub_scalar", op_rsub_scalar, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"rdiv_scalar", op_rdiv_scalar, 1, {2}, {{3, 4}}, 1, 1e-6, 1},
    {"pow_scalar", op_pow_scalar, 1, {2}, {{3, 4}}, 1, 1e-6, 1},
    {"pow (two tensors)", op_pow_tensor, 2, {2, 1}, {{3, 4}, {4}}, 3, 1e-5, 1},
    {"fmod", op_fmod, 2, {2, 2}, {{3, 4}, {3, 4}}, 2, 1e-5, 1},
    {"remainder", op_remainder, 2, {2, 2}, {{3, 4}, {3, 4}}, 2, 1e-5, 1},
    {"log", op_log, 1, {2}, {{3, 4}}, 1, 1e-6, 1},
    {"sqrt", op_sqrt, 1, {2}, {{3, 4}}, 1, 1e-6, 1},
    {"rsqrt", op_rsqrt, 1, {2}, {{3, 4}}, 1, 1e-6, 1},
    {"abs", op_abs, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"relu", op_relu, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"sign", op_sign, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"floor", op_floor, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"ceil", op_ceil, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"round", op_round, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"clamp", op_clamp, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"where", op_where, 2, {2, 1}, {{3, 4}, {4}}, 0, 1e-6, 1},
    {"masked_fill", op_masked_fill, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"masked_select", op_masked_select, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"max", op_max, 1, {2}, {{3, 5}}, 0, 1e-6, 1},
    {"expand", op_expand, 1, {2}, {{3, 1}}, 0, 1e-6, 1},
    {"linear", op_linear, 3, {3, 2, 1}, {{2, 3, 5}, {4, 5}, {4}}, 0, 1e-5, 1},
    {"cumsum", op_cumsum, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"reshape", op_reshape, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"view", op_view, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"squeeze", op_squeeze, 1, {3}, {{3, 1, 4}}, 0, 1e-6, 1},
    {"unsqueeze", op_unsqueeze, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"transpose", op_transpose, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"permute", op_permute, 1, {3}, {{2, 3, 4}}, 0, 1e-6, 1},
    {"narrow", op_narrow, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"clone", op_clone, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"to_dtype (f32 to f64)", op_to, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"concat", op_concat, 2, {2, 2}, {{2, 3}, {4, 3}}, 0, 1e-6, 1},
    {"split (second piece)", op_split, 1, {2}, {{3, 5}}, 0, 1e-6, 1},
    {"embedding", op_embedding, 1, {2}, {{6, 3}}, 0, 1e-6, 1},
    {"index_select", op_index_select, 1, {2}, {{2, 3}}, 0, 1e-6, 1},
    {"gather", op_gather, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"scatter", op_scatter, 2, {2, 2}, {{3, 4}, {3, 2}}, 0, 1e-6, 1},
    {"scatter_add", op_scatter_add, 2, {2, 2}, {{3, 4}, {3, 2}}, 0, 1e-6, 1},
    {"cross_entropy", op_cross_entropy, 1, {2}, {{4, 5}}, 0, 1e-5, 1},
    {"attention_qkv", op_attention_qkv, 1, {3}, {{2, 3, 12}}, 0, 1e-5, 1},
    {"crf_nll", op_crf_nll, 3, {3, 2, 1}, {{2, 3, 4}, {4, 4}, {4}}, 0, 1e-5, 1},
    {"to_device (to the cpu)", op_to_device, 1, {2}, {{3, 4}}, 0, 1e-6, 1},
    {"dropout (p 0.3, seeded)", op_dropout, 1, {2}, {{4, 5}}, 0, 1e-6, 1},
};

/* Does a case cover op (the first word of its name)? */
static int has_case(const char *op) {
  size_t len = strlen(op);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
    if (!strncmp(cases[c].name, op, len) && (cases[c].name[len] == 0 || cases[c].name[len] == ' ')) return 1;
  return 0;
}

static int in_table(const char *op) {
  for (int i = 0; i < hub_op_count(); i++)
    if (!strcmp(hub_op_name(i), op)) return 1;
  return 0;
}

/* The ops declared in the runtime's sources (run from tests/): every line that starts with
 * HUB_OP_DEF(id or with another *_DEF(id macro (UNARY_DEF, VIEW_DEF, ...: each wraps HUB_OP_DEF
 * with the id first) must name an op of the table.  Returns how many it found. */
static int check_declared_in_table(void) {
  glob_t g;
  int found = 0;
  if (glob("../runtime/*/*.c", 0, NULL, &g) != 0) {
    CHECK(0, "no sources under ../runtime (the test runs from tests/)");
    return 0;
  }
  for (size_t f = 0; f < g.gl_pathc; f++) {
    FILE *fp = fopen(g.gl_pathv[f], "r");
    char line[512], id[128];
    int in_macro = 0; /* the line continues a #define (a wrapper's body names no op) */
    while (fp && fgets(line, sizeof line, fp)) {
      size_t ll = strlen(line);
      int continued = in_macro;
      in_macro = ll >= 2 && line[ll - 2] == '\\';
      char *p = line + strspn(line, " \t");
      size_t mlen = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
      if (continued || mlen < 4 || strncmp(p + mlen - 4, "_DEF", 4) || p[mlen] != '(' ||
          sscanf(p + mlen + 1, "%127[a-z0-9_]", id) != 1)
        continue;
      found++;
      CHECK(in_table(id), "op %s is declared in %s but not listed in runtime/ops/op_table.c", id, g.gl_pathv[f]);
    }
    if (fp) fclose(fp);
  }
  globfree(&g);
  return found;
}

/* Every op of the table has a case, and every op declared is in the table. */
static void check_table_coverage(void) {
  int n = hub_op_count(), missing = 0;
  CHECK(n > 0, "the op table is empty");
  for (int i = 0; i < n; i++) {
    const char *op = hub_op_name(i);
    for (int j = 0; j < i; j++) CHECK(strcmp(op, hub_op_name(j)) != 0, "op %s is in the table twice", op);
    CHECK(has_case(op), "op %s of the op table (runtime/ops/op_table.c) has no parity case", op);
    missing += !has_case(op);
  }
  int declared = check_declared_in_table();
  CHECK(declared == n, "%d ops declared in runtime/, %d in the table", declared, n);
  printf("op table: %d ops (%d declared in runtime/), %d without a case\n", n, declared, missing);
}

static double *read_all(hub_tensor *t) {
  hub_tensor *c = hub_to_device(t, HUB_CPU);
  double *v = c ? malloc(sizeof(double) * (size_t)(hub_tensor_numel(c) + 1)) : NULL;
  if (v && hub_tensor_read(c, v, -1)) {
    free(v);
    v = NULL;
  }
  hub_tensor_release(c);
  return v;
}

/* sum(fn(inputs) * w): the scalar whose gradients are compared. */
static hub_tensor *objective(const op_case *c, hub_tensor **in, hub_tensor *w, hub_tensor **out) {
  *out = c->fn(in);
  if (!*out) return NULL;
  hub_tensor *wd = hub_to_dtype(w, hub_tensor_dtype(*out));
  hub_tensor *wdev = wd ? hub_to_device(wd, hub_tensor_device(*out)) : NULL;
  hub_tensor *p = wdev ? hub_mul(*out, wdev) : NULL;
  hub_tensor *s = p ? hub_sum(p, 0, NULL, 0) : NULL;
  release_all(3, (hub_tensor *[]){wd, wdev, p});
  return s;
}

static double max_rel(const double *a, const double *ref, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(a[i] - ref[i]) / (1 + fabs(ref[i]));
    if (!(d <= m)) m = d; /* NaN counts as the worst */
  }
  return m;
}

/* The reference run in f64 on the CPU: output, objective and input gradients; with grad set,
 * the gradients are checked against central differences. */
static int reference(const op_case *c, hub_tensor **x32, hub_tensor *w, double **out, int64_t *nout,
                     double **grads) {
  hub_tensor *x[MAXIN] = {NULL}, *o = NULL;
  for (int i = 0; i < c->n_in; i++) {
    x[i] = hub_to_dtype(x32[i], HUB_F64);
    hub_tensor_set_requires_grad(x[i], 1);
  }
  hub_tensor *s = objective(c, x, w, &o);
  int ok = s && hub_backward(s, NULL) == 0;
  /* ops without an f64 path compute the reference in f32: coarser differences, looser bound */
  const int in_f64 = o && hub_tensor_dtype(o) == HUB_F64;
  CHECK(ok, "%s: reference (cpu, f64): %s", c->name, hub_last_error());
  if (ok) {
    *out = read_all(o);
    *nout = hub_tensor_numel(o);
    for (int i = 0; i < c->n_in; i++) {
      hub_tensor *g = hub_tensor_grad(x[i]);
      grads[i] = g ? read_all(g) : NULL;
      hub_tensor_release(g);
    }
  }
  hub_tensor_release(s);
  hub_tensor_release(o);
  if (ok && c->grad) { /* finite differences of the objective, in f64 */
    int prev = hub_set_grad_enabled(0);
    const double h = in_f64 ? 1e-6 : 1e-2, bound = in_f64 ? 1e-5 : 2e-3;
    double worst = 0;
    for (int i = 0; i < c->n_in && ok; i++) {
      int64_t n = hub_tensor_numel(x[i]);
      hub_tensor *xi = x[i];
      for (int64_t k = 0; k < n; k++) {
        double v = hub_tensor_get(xi, k), f[2];
        for (int sgn = 0; sgn < 2; sgn++) {
          if (hub_tensor_set(xi, k, v + (sgn ? -h : h))) ok = 0;
          hub_tensor *oo = NULL, *ss = objective(c, x, w, &oo);
          f[sgn] = ss ? hub_tensor_get(ss, 0) : NAN;
          release_all(2, (hub_tensor *[]){ss, oo});
        }
        if (hub_tensor_set(xi, k, v)) ok = 0;
        double num = (f[0] - f[1]) / (2 * h), an = grads[i] ? grads[i][k] : NAN;
        double d = fabs(num - an) / (1 + fabs(num));
        if (!(d <= worst)) worst = d;
      }
    }
    hub_set_grad_enabled(prev);
    CHECK(worst < bound, "%s: reference gradient (%s) vs finite differences: %.3g", c->name,
          in_f64 ? "f64" : "f32", worst);
  }
  release_all(MAXIN, x);
  return ok ? 0 : -1;
}

static int n_skipped; /* cases a backend other than the CPU's does not have the kernels for */

/* Runs the case on `device` against the reference, the inputs fresh leaves there (leaf_on).  On a
 * device other than the CPU an op it has no kernel for is skipped with a line. */
static void run_on(const op_case *c, int device, hub_tensor **x32, hub_tensor *w, const double *ref,
                   int64_t nref, double *const *gref) {
  const char *dev = hub_device_name(device);
  hub_tensor *x[MAXIN] = {NULL}, *o = NULL;
  for (int i = 0; i < c->n_in; i++) {
    x[i] = leaf_on(x32[i], device);
    if (x[i] && c->grad) hub_tensor_set_requires_grad(x[i], 1);
  }
  hub_tensor *s = objective(c, x, w, &o);
  int ok = s && (!c->grad || hub_backward(s, NULL) == 0);
  if (!ok && device != HUB_CPU &&
      (strstr(hub_last_error(), "is not implemented for") || strstr(hub_last_error(), "is not supported by the"))) {
    printf("%s on %s: skipped (%s)\n", c->name, dev, hub_last_error());
    n_skipped++;
    release_all(2, (hub_tensor *[]){s, o});
    release_all(MAXIN, x);
    return;
  }
  CHECK(ok, "%s on %s: %s", c->name, dev, hub_last_error());
  double *v = o ? read_all(o) : NULL;
  if (v) {
    CHECK(hub_tensor_numel(o) == nref, "%s on %s: %lld elements, reference %lld", c->name, dev,
          (long long)hub_tensor_numel(o), (long long)nref);
    double e = max_rel(v, ref, nref);
    CHECK(e <= c->tol, "%s on %s: output differs from the reference by %.3g (tolerance %.3g)", c->name, dev, e,
          c->tol);
  }
  free(v);
  for (int i = 0; c->grad && i < c->n_in; i++) {
    hub_tensor *g = hub_tensor_grad(x[i]);
    double *gv = g ? read_all(g) : NULL;
    double e = gv && gref[i] ? max_rel(gv, gref[i], hub_tensor_numel(x[i])) : INFINITY;
    CHECK(e <= 10 * c->tol, "%s on %s: gradient of input %d differs by %.3g", c->name, dev, i + 1, e);
    free(gv);
    hub_tensor_release(g);
  }
  release_all(2, (hub_tensor *[]){s, o});
  release_all(MAXIN, x);
}

/* Every recording the case makes, failed in turn as if memory ran out (hub_record_fail_nth), with
 * its inputs in dtype dt on the CPU: the op returns NULL with the error, never a result without
 * its gradient, and leaves no node behind (and, under ASan, no leak). */
static void record_failures(const op_case *c, hub_tensor **x32, int dt) {
  int64_t live = hub_node_live_count();
  hub_tensor *x[MAXIN] = {NULL};
  int prev = hub_set_grad_enabled(0); /* fresh leaves (x32 may require gradients by now) */
  for (int i = 0; i < c->n_in; i++) {
    x[i] = dt == HUB_F32 ? hub_clone(x32[i]) : hub_to_dtype(x32[i], dt);
    hub_tensor_set_requires_grad(x[i], 1);
  }
  hub_set_grad_enabled(prev);
  const char *dn = hub_dtype_name(dt);
  const int all = 1 << 30;
  hub_record_fail_nth(all);
  hub_tensor *o = c->fn(x);
  int made = all - hub_record_fail_nth(0);
  CHECK(o != NULL, "%s (%s): %s", c->name, dn, hub_last_error());
  hub_tensor_release(o);
  for (int k = 1; o && k <= made; k++) {
    hub_record_fail_nth(k);
    hub_tensor *f = c->fn(x);
    int left = hub_record_fail_nth(0);
    CHECK(!f && left == 0 && strstr(hub_last_error(), "out of memory"),
          "%s (%s): recording %d of %d failed, yet the op %s (%s)", c->name, dn, k, made,
          f ? "returned a result" : "failed otherwise", hub_last_error());
    hub_tensor_release(f);
  }
  release_all(MAXIN, x);
  CHECK(hub_node_live_count() == live, "%s (%s): %lld autograd nodes left alive", c->name, dn,
        (long long)(hub_node_live_count() - live));
}

int main(void) {
  check_table_coverage();
  /* without a GPU the CUDA column runs on the stand-in (tests/c/cuda_standin.h) */
  int standin = !hub_device_available(HUB_CUDA);
  if (standin) cuda_standin_register();
  int devices = 0;
  for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
    const op_case *c = &cases[ci];
    hub_manual_seed(1000 + ci);
    hub_tensor *x32[MAXIN] = {NULL};
    for (int i = 0; i < c->n_in; i++) {
      hub_tensor *r = (c->positive >> i & 1) ? hub_rand(c->ndim[i], c->shape[i], HUB_F32)
                                             : hub_randn(c->ndim[i], c->shape[i], HUB_F32);
      x32[i] = (c->positive >> i & 1) ? hub_add_scalar(r, 0.5) : hub_tensor_retain(r);
      hub_tensor_release(r);
    }
    /* the weights of the objective take the output's shape: run the op once to learn it */
    hub_tensor *probe = c->fn(x32);
    int64_t osh[8] = {0};
    for (int d = 0; probe && d < hub_tensor_ndim(probe); d++) osh[d] = hub_tensor_size(probe, d);
    hub_tensor *w = probe ? hub_randn(hub_tensor_ndim(probe), osh, HUB_F32) : NULL;
    hub_tensor_release(probe);
    double *ref = NULL, *gref[MAXIN] = {NULL};
    int64_t nref = 0;
    if (w && reference(c, x32, w, &ref, &nref, gref) == 0) {
      for (int d = 0; d < HUB_DEVICE_COUNT; d++) {
        if (!hub_device_available(d)) continue;
        run_on(c, d, x32, w, ref, nref, gref);
        if (ci == 0) devices++;
      }
    } else {
      CHECK(0, "%s: could not build the case: %s", c->name, hub_last_error());
    }
    record_failures(c, x32, HUB_F32);
    record_failures(c, x32, HUB_F64);
    free(ref);
    for (int i = 0; i < MAXIN; i++) free(gref[i]);
    hub_tensor_release(w);
    release_all(MAXIN, x32);
  }
  printf("%zu op cases on %d backend(s)%s; %d skipped on cuda (no kernel there)\n", sizeof cases / sizeof *cases,
         devices, standin ? " (cuda: the stand-in of the CPU's kernels, no GPU)" : "", n_skipped);
  return check_summary();
}
