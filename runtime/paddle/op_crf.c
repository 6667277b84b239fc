/* op_crf.c - linear-chain CRF training and decoding with separate score tensors: hub_crf_nll
 * (the negative log-likelihood, differentiable) and hub_crf_viterbi (the best path), contracts
 * in hub_ops.h.
 *
 * Both take transitions [C, C], start [C] and end [C] and join them into the one [C+2, C] table
 * that Paddle's layout and the existing kernels use (row 0 start, row 1 end, row 2+i the scores
 * from tag i): for the NLL through hub_concat, which is recorded, so the gradient of the table
 * flows back to the three parameters; for decoding under no_grad, then hub_crf_decode (op_rnn.c,
 * kernels/cpu/crf.c) - there is one Viterbi.  Sequence lengths come as lengths [B] or as a mask
 * [B, L] whose ones must come first in each row (a prefix: a CRF scores contiguous positions);
 * either is read into a host array of int64, as op_rnn.c does, and checked.  The tags are read
 * into host memory too and checked against C at the positions that count (padded positions may
 * hold anything, -100 for example).  The NLL node keeps the contiguous f32 emissions and table
 * and the host arrays (its ctx); its backward reruns the forward algorithm in the kernel
 * (kernels/cpu/crf_nll.c) rather than storing the [B, L, C] forward table.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hub_paddle.h"

/* The lengths of B sequences padded to L, from lengths [B] (i32/i64, each in 0..L) or from a
 * mask [B, L] of any dtype (nonzero = a real position, each row a prefix), or all L when both
 * are NULL; a malloc'ed array of B + extra int64 (the extra left for the caller). */
static int64_t *crf_lengths(const char *op, hub_tensor *lengths, hub_tensor *mask, int64_t B, int64_t L,
                            int64_t extra) {
  char s[128];
  if (lengths && mask) return hub_errp("%s: pass lengths or mask, not both", op);
  int64_t *len = malloc(sizeof(int64_t) * (size_t)(B + extra > 0 ? B + extra : 1));
  if (!len) return hub_errp("%s: out of memory", op);
  if (lengths) {
    if (hub_check_index(op, "lengths", lengths)) goto fail;
    if (lengths->ndim != 1 || lengths->shape[0] != B) {
      hub_err("%s: lengths must be [%lld] (one per sequence), got %s", op, (long long)B,
              hub_shape_str(lengths, s, sizeof s));
      goto fail;
    }
    hub_tensor *host = hub_to_device(lengths, HUB_CPU); /* the kernels take them on the host */
    int rc = host ? hub_tensor_read(host, len, HUB_I64) : -1;
    hub_tensor_release(host);
    if (rc) goto fail;
    for (int64_t b = 0; b < B; b++)
      if (len[b] < 0 || len[b] > L) {
        hub_err("%s: lengths[%lld] = %lld is outside 0..%lld (the padded length)", op, (long long)b,
                (long long)len[b], (long long)L);
        goto fail;
      }
  } else if (mask) {
    if (mask->ndim != 2 || mask->shape[0] != B || mask->shape[1] != L) {
      hub_err("%s: mask must be [B, L] = [%lld, %lld] like the emissions, got %s", op, (long long)B,
              (long long)L, hub_shape_str(mask, s, sizeof s));
      goto fail;
    }
    hub_tensor *host = hub_to_device(mask, HUB_CPU); /* read on the host, element by element */
    if (!host) goto fail;
    for (int64_t b = 0; b < B; b++) {
      int64_t n = 0;
      while (n < L && hub_tensor_get(host, b * L + n) != 0) n++;
      for (int64_t t = n + 1; t < L; t++)
        if (hub_tensor_get(host, b * L + t) != 0) {
          hub_tensor_release(host);
          hub_err("%s: mask row %lld is not a prefix of ones: position %lld is 0 but position %lld is not "
                  "(0-based; a CRF needs each sequence's positions first, padding after)",
                  op, (long long)b, (long long)n, (long long)t);
          goto fail;
        }
      len[b] = n;
    }
    hub_tensor_release(host);
  } else {
    for (int64_t b = 0; b < B; b++) len[b] = L;
  }
  return len;
fail:
  free(len);
  return NULL;
}

/* Checks transitions [C, C], start [C], end [C] (float, on the emissions' device). */
static int check_scores(const char *op, hub_tensor *em, int64_t C, hub_tensor *tr, hub_tensor *st, hub_tensor *en) {
  char s[128];
  if (hub_check_float(op, "transitions", tr) || hub_check_float(op, "start", st) || hub_check_float(op, "end", en) ||
      hub_check_same_device(op, em, tr) || hub_check_same_device(op, em, st) || hub_check_same_device(op, em, en))
    return -1;
  if (tr->ndim != 2 || tr->shape[0] != C || tr->shape[1] != C)
    return hub_err("%s: transitions must be [C, C] = [%lld, %lld] for %lld tags, got %s", op, (long long)C,
                   (long long)C, (long long)C, hub_shape_str(tr, s, sizeof s));
  if (st->ndim != 1 || st->shape[0] != C)
    return hub_err("%s: start must be [C] = [%lld], got %s", op, (long long)C, hub_shape_str(st, s, sizeof s));
  if (en->ndim != 1 || en->shape[0] != C)
    return hub_err("%s: end must be [C] = [%lld], got %s", op, (long long)C, hub_shape_str(en, s, sizeof s));
  return 0;
}

/* The [C+2, C] table start; end; transitions as a contiguous f32 tensor (recorded when grad
 * mode is on). */
static hub_tensor *join_scores(hub_tensor *tr0, hub_tensor *st0, hub_tensor *en0, int64_t C) {
  int64_t row[2] = {1, C};
  hub_tensor *tr = hub_contiguous_f32(tr0), *st = tr ? hub_contiguous_f32(st0) : NULL,
             *en = st ? hub_contiguous_f32(en0) : NULL;
  hub_tensor *s = en ? hub_reshape(st, 2, row) : NULL, *e = s ? hub_reshape(en, 2, row) : NULL;
  hub_tensor *cat = e ? hub_concat(3, (hub_tensor *[]){s, e, tr}, 0) : NULL;
  hub_tensor *out = cat ? hub_contiguous_f32(cat) : NULL;
  hub_release_all(6, (hub_tensor *[]){tr, st, en, s, e, cat});
  return out;
}

/* The emissions [B, L, C] checked; returns 0 and sets B, L, C. */
static int check_emissions(const char *op, hub_tensor *em, int64_t *B, int64_t *L, int64_t *C) {
  char s[128];
  if (hub_check_float(op, "emissions", em)) return -1;
  if (em->ndim != 3 || em->shape[2] == 0)
    return hub_err("%s: emissions must be [B, L, C] with C > 0 tags, got %s", op, hub_shape_str(em, s, sizeof s));
  *B = em->shape[0], *L = em->shape[1], *C = em->shape[2];
  if (*C > (1 << 20)) return hub_err("%s: %lld tags is too many", op, (long long)*C);
  return 0;
}

/* emissions [B, L, C] and the table [C+2, C] (contiguous f32); the tail: lengths [B] then tags
 * [B*L] (host memory, as the kernel takes them). */
typedef struct crf_state {
  hub_tensor *em, *tab;
  int64_t len[];
} crf_state;

static int crf_nll_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!gout[0]) return 0;
  const crf_state *s = HUB_NODE_STATE(n, crf_state);
  hub_tensor *em = s->em, *tab = s->tab;
  const hub_backend *be = hub_dispatch("crf_nll", HUB_K_CRF_NLL_BACKWARD, em->device, HUB_F32);
  if (!be) return -1;
  const int64_t *len = s->len, *tags = len + em->shape[0];
  HUB_NO_GRAD_BEGIN;
  hub_tensor *g = hub_contiguous_f32(gout[0]);
  hub_tensor *gem = hub_node_needs(n, 0) ? hub_tensor_empty(HUB_F32, 3, em->shape, em->device) : NULL;
  hub_tensor *gtab = hub_node_needs(n, 1) ? hub_tensor_empty(HUB_F32, 2, tab->shape, em->device) : NULL;
  int rc = -1;
  if (g && (gem || !hub_node_needs(n, 0)) && (gtab || !hub_node_needs(n, 1)))
    rc = HUB_K(be, CRF_NLL_BACKWARD)(em, tags, len, tab, g, gem, gtab);
  HUB_NO_GRAD_END;
  hub_tensor_release(g);
  if (rc) {
    hub_release_all(2, (hub_tensor *[]){gem, gtab});
    return -1;
  }
  gin[0] = gem;
  gin[1] = gtab;
  return 0;
}

HUB_OP_DEF(crf_nll, .name = "crf_nll", .arity = 2, .dtypes = HUB_DT_F32, .kernel = HUB_K_CRF_NLL,
           .backward = crf_nll_backward, .state_size = sizeof(crf_state));

hub_tensor *hub_crf_nll(hub_tensor *em0, hub_tensor *tags, hub_tensor *lengths, hub_tensor *mask,
                        hub_tensor *tr0, hub_tensor *st0, hub_tensor *en0) {
  const char *op = "crf_nll";
  char s1[128], s2[128];
  int64_t B = 0, L = 0, C = 0;
  if (check_emissions(op, em0, &B, &L, &C) || check_scores(op, em0, C, tr0, st0, en0)) return NULL;
  /* tags (like lengths and the mask) may be on any device: the kernels take them in host memory */
  if (hub_check_index(op, "tags", tags)) return NULL;
  if (tags->ndim != 2 || tags->shape[0] != B || tags->shape[1] != L)
    return hub_errp("%s: tags must be [B, L] = [%lld, %lld] for emissions %s, got %s", op, (long long)B, (long long)L,
                    hub_shape_str(em0, s1, sizeof s1), hub_shape_str(tags, s2, sizeof s2));
  const hub_backend *be = hub_dispatch(op, HUB_K_CRF_NLL, em0->device, HUB_F32);
  if (!be || !hub_dispatch(op, HUB_K_CRF_NLL_BACKWARD, em0->device, HUB_F32)) return NULL;
  int64_t *len = crf_lengths(op, lengths, mask, B, L, B * L);
  if (!len) return NULL;
  int64_t *y = len + B;
  hub_tensor *host_tags = hub_to_device(tags, HUB_CPU); /* the kernels take the tags on the host */
  int trc = host_tags ? hub_tensor_read(host_tags, y, HUB_I64) : -1;
  hub_tensor_release(host_tags);
  if (trc) {
    free(len);
    return NULL;
  }
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < len[b]; t++)
      if (y[b * L + t] < 0 || y[b * L + t] >= C) {
        hub_err("%s: tags[%lld, %lld] = %lld is outside 0..%lld (%lld tags; 0-based sequence and position)", op,
                (long long)b, (long long)t, (long long)y[b * L + t], (long long)(C - 1), (long long)C);
        free(len);
        return NULL;
      }
  hub_tensor *em = hub_contiguous_f32(em0), *tab = em ? join_scores(tr0, st0, en0, C) : NULL;
  hub_tensor *nll = tab ? hub_tensor_empty(HUB_F32, 1, &B, em0->device) : NULL;
  if (!nll || HUB_K(be, CRF_NLL)(em, y, len, tab, nll)) {
    hub_release_all(3, (hub_tensor *[]){em, tab, nll});
    free(len);
    return NULL;
  }
  hub_node *n;
  size_t tail = sizeof(int64_t) * (size_t)(B + B * L);
  int rc = hub_record_op_n(&hub_op_crf_nll, 2, (hub_tensor *[]){em, tab}, 1, &nll, tail, &n);
  if (rc == 0 && n) {
    crf_state *s = HUB_NODE_STATE(n, crf_state);
    memcpy(s->len, len, tail);
    rc = hub_node_keep(n, &s->em, em) || hub_node_keep(n, &s->tab, tab);
  }
  free(len);
  hub_fail_release(rc, &nll);
  hub_release_all(2, (hub_tensor *[]){em, tab});
  return nll;
}

hub_tensor *hub_crf_viterbi(hub_tensor *em, hub_tensor *lengths, hub_tensor *mask, hub_tensor *tr,
                            hub_tensor *st, hub_tensor *en) {
  const char *op = "crf_decode";
  int64_t B = 0, L = 0, C = 0;
  if (check_emissions(op, em, &B, &L, &C) || check_scores(op, em, C, tr, st, en)) return NULL;
  int64_t *len = crf_lengths(op, lengths, mask, B, L, 0);
  if (!len) return NULL;
  hub_tensor *lt = hub_tensor_wrap(HUB_I64, 1, &B, NULL, len, NULL, NULL), *path = NULL;
  HUB_NO_GRAD_BEGIN;
  hub_tensor *tab = lt ? join_scores(tr, st, en, C) : NULL;
  if (tab) path = hub_crf_decode(em, tab, lt);
  HUB_NO_GRAD_END;
  hub_release_all(2, (hub_tensor *[]){tab, lt});
  free(len);
  return path;
}
