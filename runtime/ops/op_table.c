/* op_table.c - the op table: every recorded op, listed once.
 *
 * Each op is declared beside its code with HUB_OP_DEF (runtime/core/internal.h): its name, arity,
 * the dtypes its inputs may have, its forward kernel and its backward, and the size of its typed
 * backward state.  This file lists them all, so that tooling and tests can walk every op
 * (hub_op_count / hub_op_name, hub_ops.h); tests/c/test_op_parity.c fails when an op listed here
 * has no parity case, and when an op declared in runtime/ is not listed here.
 *
 * Adding an op: HUB_OP_DEF beside its code and one X(id) line below.  The views and casts live in
 * the core (core/view.c) and are listed here like the others.  Paddle's crf_nll sits in the paddle
 * layer, above this one: it is listed through a weak reference, so the ops layer does not depend
 * on paddle at link time (CMake's hub_linkcheck_ops links ops without it).  In libhub.so the entry
 * is always there; a program linked with the static library that uses nothing of paddle/ leaves
 * it NULL, and it is skipped.
 */
#include <stddef.h>

#include "internal.h"

#define HUB_OPS(X)                                                                                \
  /* core/view.c: views and copies */                                                             \
  X(reshape) X(view) X(squeeze) X(unsqueeze) X(transpose) X(permute) X(narrow) X(clone)           \
  X(to_dtype) X(to_device)                                                                        \
  /* op_arith.c */                                                                                \
  X(add) X(sub) X(mul) X(div) X(neg) X(add_scalar) X(mul_scalar) X(rsub_scalar) X(rdiv_scalar)    \
  X(pow_scalar) X(exp) X(log) X(sqrt) X(rsqrt) X(abs) X(relu) X(tanh) X(sigmoid) X(gelu)          \
  X(where) X(masked_fill)                                                                         \
  /* op_pow.c */                                                                                  \
  X(pow) X(fmod) X(remainder)                                                                     \
  /* op_compare.c */                                                                              \
  X(masked_select) X(clamp) X(sign) X(floor) X(ceil) X(round)                                     \
  /* op_reduce.c */                                                                               \
  X(sum) X(mean) X(max) X(expand)                                                                 \
  /* op_matmul.c */                                                                               \
  X(matmul) X(linear)                                                                             \
  /* op_norm.c */                                                                                 \
  X(softmax) X(log_softmax) X(layer_norm) X(add_layer_norm) X(dropout)                            \
  /* op_attention.c */                                                                            \
  X(attention) X(attention_qkv)                                                                   \
  /* op_loss.c */                                                                                 \
  X(cross_entropy)                                                                                \
  /* op_index.c */                                                                                \
  X(embedding) X(index_select) X(concat) X(split)                                                 \
  /* op_sort.c */                                                                                 \
  X(gather) X(scatter) X(scatter_add) X(cumsum)

/* the layers above ops (weak: see the top of the file) */
#define HUB_OPS_ABOVE(X) /* paddle/op_crf.c */ X(crf_nll)

#define DECLARE(id) extern const hub_op_def hub_op_##id;
#define DECLARE_WEAK(id) extern const hub_op_def hub_op_##id __attribute__((weak));
HUB_OPS(DECLARE)
HUB_OPS_ABOVE(DECLARE_WEAK)

#define ENTRY(id) &hub_op_##id,
static const hub_op_def *const g_ops[] = {HUB_OPS(ENTRY) HUB_OPS_ABOVE(ENTRY) NULL};
enum { N_OPS = sizeof g_ops / sizeof *g_ops - 1 };

/* Present entries only (a weak one may be NULL). */
static const hub_op_def *nth(int i) {
  for (int k = 0; k < N_OPS; k++)
    if (g_ops[k] && i-- == 0) return g_ops[k];
  return NULL;
}

int hub_op_count(void) {
  int n = 0;
  for (int k = 0; k < N_OPS; k++) n += g_ops[k] != NULL;
  return n;
}

const char *hub_op_name(int i) {
  const hub_op_def *d = i >= 0 ? nth(i) : NULL;
  return d ? d->id : NULL;
}

int hub_op_arity(int i) {
  const hub_op_def *d = i >= 0 ? nth(i) : NULL;
  return d ? d->arity : -2;
}
