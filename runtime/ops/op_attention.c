/* op_attention.c - fused scaled-dot-product attention: softmax(q k^T * scale + mask) v.
 *
 * q [..., Lq, D], k [..., Lk, D] and v [..., Lk, Dv] share their leading dimensions, which are
 * flattened into one batch dimension B, so the backend kernel sees contiguous f32 [B, L, D]
 * tensors (inputs are made so with hub_contiguous / hub_to_dtype, which autograd records).
 *
 * The mask is additive (float; -1e9 or -inf where a key is hidden), broadcastable to
 * [..., Lq, Lk], and gets no gradient.  It is never materialised at full size when strides can
 * express it: after hub_expand_raw, the leading dimensions are merged into one batch stride when
 * they are contiguous with respect to each other (or all broadcast), and the kernel reads the
 * [B, Lq, Lk] view with 0 strides.  When they cannot be merged - the usual key-padding mask
 * [N, 1, 1, Lk] against [N, H, Lq, Lk] has strides [Lk, 0, ...] - only the leading dimensions are
 * expanded into a compact copy [N, H, 1, Lk] (Lq and Lk stay broadcast), so the copy is
 * B * Lk floats, not B * Lq * Lk.
 *
 * The kernel writes the probabilities [B, Lq, Lk]; they are saved with q, k and v for the
 * backward, which returns gradients for q, k and v (see kernels/cpu/attention.c for the formulas
 * and for rows whose keys are all masked).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static hub_tensor *view3(const hub_tensor *t, int64_t a, int64_t b, int64_t c) {
  int64_t sh[3] = {a, b, c}, st[3] = {b * c, c, 1};
  return hub_tensor_alias(t, 3, sh, st, t->offset);
}

/* t's storage seen as [B, H, L, D] with strides st (unit last stride) from element off of t. */
static hub_tensor *view4(const hub_tensor *t, int64_t B, int64_t H, int64_t L, int64_t D,
                         int64_t s0, int64_t s1, int64_t s2, int64_t off) {
  int64_t sh[4] = {B, H, L, D}, st[4] = {s0, s1, s2, 1};
  return hub_tensor_alias(t, 4, sh, st, t->offset + off);
}

/* A contiguous [B, L, D] tensor as [B, 1, L, D]. */
static hub_tensor *as4(const hub_tensor *t) {
  if (!t) return NULL;
  const int64_t B = t->shape[0], L = t->shape[1], D = t->shape[2];
  return view4(t, B, 1, L, D, L * D, 0, D, 0);
}

/* The mask as an f32 [B, Lq, Lk] view (0 strides where broadcast); full is [..., Lq, Lk]. */
static hub_tensor *mask_view(const hub_backend *be, hub_tensor *mask, int nd, const int64_t *full,
                             int64_t B) {
  hub_tensor *m = hub_to_dtype(mask, HUB_F32); /* grad mode is off here */
  hub_tensor *e = m ? hub_expand_raw(m, nd, full) : NULL;
  hub_tensor_release(m);
  if (!e) return NULL;
  const int64_t Lq = full[nd - 2], Lk = full[nd - 1];
  /* merge the leading dimensions into one stride when possible */
  int64_t sb = 0, inner = 1; /* stride of the merged dim so far; elements below it */
  int ok = 1, seen = 0;
  for (int i = nd - 3; i >= 0 && ok; i--) {
    if (e->shape[i] == 1) continue;
    if (!seen) {
      sb = e->stride[i];
      seen = 1;
    } else if (e->stride[i] != sb * inner) {
      ok = 0;
    }
    inner *= e->shape[i];
  }
  if (ok) {
    int64_t sh[3] = {B, Lq, Lk}, st[3] = {sb, e->stride[nd - 2], e->stride[nd - 1]};
    hub_tensor *v = hub_tensor_alias(e, 3, sh, st, e->offset);
    hub_tensor_release(e);
    return v;
  }
  /* expand the leading dims only: a compact copy [..., mq, mk] with mq, mk 1 where broadcast */
  int64_t cs[HUB_MAX_DIMS];
  memcpy(cs, full, sizeof(int64_t) * (size_t)nd);
  int64_t mq = e->stride[nd - 2] == 0 ? 1 : Lq, mk = e->stride[nd - 1] == 0 ? 1 : Lk;
  cs[nd - 2] = mq, cs[nd - 1] = mk;
  hub_tensor *src = hub_tensor_alias(e, nd, cs, e->stride, e->offset);
  hub_tensor *c = src ? hub_tensor_empty(HUB_F32, nd, cs, e->device) : NULL;
  int rc = c ? HUB_K(be, COPY)(c, src) : -1;
  hub_tensor_release(src);
  hub_tensor_release(e);
  if (rc) {
    hub_tensor_release(c);
    return NULL;
  }
  int64_t sh[3] = {B, Lq, Lk}, st[3] = {mq * mk, mq == 1 ? 0 : mk, mk == 1 ? 0 : 1};
  hub_tensor *v = hub_tensor_alias(c, 3, sh, st, c->offset);
  hub_tensor_release(c);
  return v;
}

/* 0 when mask is a float tensor that broadcasts to full [nd]; else -1 with an error. */
static int check_mask(const char *op, const hub_tensor *mask, int nd, const int64_t *full) {
  char s1[128], s2[128];
  if (!hub_dtype_is_float(mask->dtype))
    return hub_err("%s: mask must be an additive float tensor (0 or -1e9), got %s; "
                   "turn a boolean mask into one with where or masked_fill",
                   op, hub_dtype_name(mask->dtype));
  int ok = mask->ndim <= nd;
  for (int i = 0; ok && i < mask->ndim; i++) {
    int64_t ms = mask->shape[mask->ndim - 1 - i], fs = full[nd - 1 - i];
    ok = ms == fs || ms == 1;
  }
  if (ok) return 0;
  size_t len = 0;
  for (int i = 0; i < nd && len < sizeof s2; i++)
    len += (size_t)snprintf(s2 + len, sizeof s2 - len, "%s%lld", i ? "," : "[", (long long)full[i]);
  if (len < sizeof s2) snprintf(s2 + len, sizeof s2 - len, "]");
  return hub_err("%s: mask %s does not broadcast to the scores %s", op,
                 hub_shape_str(mask, s1, sizeof s1), s2);
}

/* The typed backward state of attention: q, k, v as contiguous f32 [B, L, D] views, the
 * probabilities, the scale. */
typedef struct attention_state {
  hub_tensor *q, *k, *v, *probs, *mask; /* probs NULL: recomputed in the backward (with the mask) */
  double scale;
  int lowp; /* the forward's autocast mode (hub_attn.lowp) */
} attention_state;

/* Whether a recorded call keeps its probabilities (E x Lq x Lk floats) or the backward recomputes
 * them (ATTENTION_BACKWARD_RECOMPUTE, where the backend has it: cuda).  HUB_ATTN_RECOMPUTE=1 /
 * =0 forces it; by default from 256 MiB of probabilities per call (BERT-base at batch 32 and
 * length 512: 400 MB in each of the 12 layers). */
static int want_recompute(const hub_backend *be, int64_t E, int64_t Lq, int64_t Lk) {
  if (!hub_backend_supports(be, HUB_K_ATTENTION_BACKWARD_RECOMPUTE, HUB_F32)) return 0;
  const char *e = getenv("HUB_ATTN_RECOMPUTE");
  if (e && (e[0] == '0' || e[0] == '1') && !e[1]) return e[0] == '1';
  return (double)E * (double)Lq * (double)Lk * 4.0 > 256.0 * 1024 * 1024;
}

/* The backward kernel: from the forward's probabilities, or recomputing them (p NULL). */
static int attn_backward_call(const char *op, const hub_attn *a, const hub_tensor *q, const hub_tensor *k,
                              const hub_tensor *v, const hub_tensor *p, const hub_tensor *gout, hub_tensor *gq,
                              hub_tensor *gk, hub_tensor *gv) {
  const hub_backend *be = hub_dispatch(op, p ? HUB_K_ATTENTION_BACKWARD : HUB_K_ATTENTION_BACKWARD_RECOMPUTE,
                                       q->device, HUB_F32);
  if (!be) return -1;
  return p ? HUB_K(be, ATTENTION_BACKWARD)(a, q, k, v, p, gout, gq, gk, gv)
           : HUB_K(be, ATTENTION_BACKWARD_RECOMPUTE)(a, q, k, v, gout, gq, gk, gv);
}

static int attention_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!gout[0]) return 0; /* no gradient reached the output: nothing flows back */
  const attention_state *st = HUB_NODE_STATE(n, attention_state);
  hub_tensor *q = st->q, *k = st->k, *v = st->v, *p = st->probs;
  const int64_t B = q->shape[0], Lq = q->shape[1], Dv = v->shape[2];
  hub_attn a = {.mask = p ? NULL : st->mask, .scale = (float)st->scale, .lowp = st->lowp};
  hub_tensor *g = hub_contiguous_f32(gout[0]);
  hub_tensor *full[3] = {NULL, NULL, NULL}, *v4[8] = {NULL};
  int rc = g ? 0 : -1;
  for (int i = 0; i < 3 && rc == 0; i++) {
    if (!hub_node_needs(n, i)) continue;
    const hub_edge *e = &n->edges[i];
    full[i] = hub_tensor_empty(HUB_F32, e->ndim, e->shape, q->device);
    if (!full[i]) rc = -1;
  }
  if (rc == 0) {
    v4[0] = as4(q), v4[1] = as4(k), v4[2] = as4(v);
    v4[3] = view4(g, B, 1, Lq, Dv, Lq * Dv, 0, Dv, 0);
    for (int i = 0; i < 3; i++) {
      const hub_tensor *like = i == 0 ? q : i == 1 ? k : v;
      if (full[i]) v4[4 + i] = view4(full[i], like->shape[0], 1, like->shape[1], like->shape[2],
                                     like->shape[1] * like->shape[2], 0, like->shape[2], 0);
    }
    if (!v4[0] || !v4[1] || !v4[2] || !v4[3] || (full[0] && !v4[4]) || (full[1] && !v4[5]) || (full[2] && !v4[6]))
      rc = -1;
  }
  if (rc == 0) rc = attn_backward_call("attention", &a, v4[0], v4[1], v4[2], p, v4[3], v4[4], v4[5], v4[6]);
  hub_release_all(8, v4);
  hub_tensor_release(g);
  if (rc) {
    hub_release_all(3, full);
    return -1;
  }
  for (int i = 0; i < 3; i++) gin[i] = full[i];
  return 0;
}

HUB_OP_DEF(attention, .name = "attention", .arity = 3, .dtypes = HUB_DT_ANY, .kernel = HUB_K_ATTENTION,
           .backward = attention_backward, .state_size = sizeof(attention_state));

hub_tensor *hub_attention(hub_tensor *q, hub_tensor *k, hub_tensor *v, hub_tensor *mask,
                          double scale) {
  if (hub_check_float("attention", "q", q) || hub_check_float("attention", "k", k) ||
      hub_check_float("attention", "v", v))
    return NULL;
  if (hub_check_same_device("attention", q, k) || hub_check_same_device("attention", q, v) ||
      hub_check_same_device("attention", q, mask))
    return NULL;
  char s1[128], s2[128], s3[128];
  if (q->ndim < 2 || k->ndim != q->ndim || v->ndim != q->ndim)
    return hub_errp("attention: q %s, k %s and v %s must have the same number (>= 2) of dimensions",
                    hub_shape_str(q, s1, sizeof s1), hub_shape_str(k, s2, sizeof s2),
                    hub_shape_str(v, s3, sizeof s3));
  const int nd = q->ndim;
  const int64_t Lq = q->shape[nd - 2], D = q->shape[nd - 1], Lk = k->shape[nd - 2],
                Dv = v->shape[nd - 1];
  int64_t B = 1;
  for (int i = 0; i < nd - 2; i++) {
    if (k->shape[i] != q->shape[i] || v->shape[i] != q->shape[i])
      return hub_errp("attention: q %s, k %s and v %s differ in leading dimension %d",
                      hub_shape_str(q, s1, sizeof s1), hub_shape_str(k, s2, sizeof s2),
                      hub_shape_str(v, s3, sizeof s3), i + 1);
    B *= q->shape[i];
  }
  if (k->shape[nd - 1] != D)
    return hub_errp("attention: q %s and k %s differ in the last dim (D)",
                    hub_shape_str(q, s1, sizeof s1), hub_shape_str(k, s2, sizeof s2));
  if (v->shape[nd - 2] != Lk)
    return hub_errp("attention: k %s and v %s differ in the key length (dimension %d)",
                    hub_shape_str(k, s1, sizeof s1), hub_shape_str(v, s2, sizeof s2), nd - 1);
  int64_t full[HUB_MAX_DIMS];
  memcpy(full, q->shape, sizeof(int64_t) * (size_t)nd);
  full[nd - 1] = Lk;
  if (mask && check_mask("attention", mask, nd, full)) return NULL;
  if (!(scale > 0)) scale = D > 0 ? 1.0 / sqrt((double)D) : 1.0;
  const hub_backend *be = hub_dispatch("attention", HUB_K_ATTENTION, q->device, -1);
  if (!be) return NULL;

  hub_tensor *in[3] = {hub_contiguous_f32(q), hub_contiguous_f32(k), hub_contiguous_f32(v)};
  hub_tensor *q3 = NULL, *k3 = NULL, *v3 = NULL, *m3 = NULL, *out = NULL, *o3 = NULL, *probs = NULL;
  int rc = -1;
  if (!in[0] || !in[1] || !in[2]) goto done;
  if (mask) {
    HUB_NO_GRAD_BEGIN;
    m3 = mask_view(be, mask, nd, full, B);
    HUB_NO_GRAD_END;
    if (!m3) goto done;
  }
  int64_t osh[HUB_MAX_DIMS];
  memcpy(osh, q->shape, sizeof(int64_t) * (size_t)nd);
  osh[nd - 1] = Dv;
  int64_t psh[3] = {B, Lq, Lk};
  out = hub_tensor_empty(HUB_F32, nd, osh, q->device);
  /* the probabilities only for a backward (inference keeps none: a flash kernel on cuda) */
  int rec = hub_will_record(3, in), recompute = rec && want_recompute(be, B, Lq, Lk);
  probs = rec && !recompute ? hub_tensor_empty(HUB_F32, 3, psh, q->device) : NULL;
  q3 = view3(in[0], B, Lq, D);
  k3 = view3(in[1], B, Lk, D);
  v3 = view3(in[2], B, Lk, Dv);
  o3 = out ? view4(out, B, 1, Lq, Dv, Lq * Dv, 0, Dv, 0) : NULL;
  hub_tensor *q4 = q3 ? as4(q3) : NULL, *k4 = k3 ? as4(k3) : NULL, *v4 = v3 ? as4(v3) : NULL;
  if ((rec && !recompute && !probs) || !q4 || !k4 || !v4 || !o3) goto done4;
  hub_attn a = {.mask = m3, .scale = (float)scale, .lowp = hub_autocast(), .recorded = rec};
  if (HUB_K(be, ATTENTION)(&a, q4, k4, v4, o3, probs)) goto done4;
  rc = 0;
  hub_node *n;
  rc = hub_record_op(&hub_op_attention, in, 1, &out, &n);
  if (rc == 0 && n) {
    attention_state *st = HUB_NODE_STATE(n, attention_state);
    st->scale = scale;
    st->lowp = a.lowp;
    rc = hub_node_keep(n, &st->q, q3) || hub_node_keep(n, &st->k, k3) || hub_node_keep(n, &st->v, v3) ||
         hub_node_keep(n, &st->probs, probs) || (recompute && hub_node_keep(n, &st->mask, m3));
  }
done4:
  hub_release_all(3, (hub_tensor *[]){q4, k4, v4});
done:
  hub_release_all(3, in);
  hub_tensor_release(q3);
  hub_tensor_release(k3);
  hub_tensor_release(v3);
  hub_tensor_release(m3);
  hub_tensor_release(o3);
  hub_tensor_release(probs);
  if (rc) {
    hub_tensor_release(out);
    return NULL;
  }
  return out;
}

/* ---- attention_qkv: multi-head self-attention on a packed projection ---- */

/* q, k and v of qkv [B, L, 3, H, Dh] (and its gradient) as [B, H, L, Dh] views: entry (b, h)
 * of q starts at b * L * 3Dm + h * Dh with row stride 3Dm; k and v Dm and 2Dm further. */
static int qkv_views(const hub_tensor *t, int64_t H, hub_tensor **q, hub_tensor **k, hub_tensor **v) {
  const int64_t B = t->shape[0], L = t->shape[1], row = t->shape[2], Dm = row / 3, Dh = Dm / H;
  *q = view4(t, B, H, L, Dh, L * row, Dh, row, 0);
  *k = view4(t, B, H, L, Dh, L * row, Dh, row, Dm);
  *v = view4(t, B, H, L, Dh, L * row, Dh, row, 2 * Dm);
  return *q && *k && *v ? 0 : -1;
}

/* The typed backward state of attention_qkv: the packed projection (contiguous f32 [B, L, 3*Dm]),
 * the probabilities, and the parameters (dropout's stream, to regenerate its mask). */
typedef struct attention_qkv_state {
  hub_tensor *qkv, *probs, *mask; /* probs NULL: recomputed in the backward (with the mask) */
  int64_t heads;
  double scale, p;
  uint64_t key, counter;
  int lowp;
} attention_qkv_state;

static int attention_qkv_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!gout[0] || !hub_node_needs(n, 0)) return 0;
  const attention_qkv_state *st = HUB_NODE_STATE(n, attention_qkv_state);
  hub_tensor *qkv = st->qkv, *p = st->probs;
  const int64_t B = qkv->shape[0], L = qkv->shape[1], H = st->heads, Dm = qkv->shape[2] / 3;
  hub_attn a = {.mask = p ? NULL : st->mask, .scale = (float)st->scale, .p = (float)st->p, .key = st->key,
                .counter = st->counter, .lowp = st->lowp};
  hub_tensor *g = hub_contiguous_f32(gout[0]);
  hub_tensor *gq = g ? hub_tensor_empty(HUB_F32, 3, qkv->shape, qkv->device) : NULL;
  hub_tensor *v[7] = {NULL};
  int rc = -1;
  if (gq && qkv_views(qkv, H, &v[0], &v[1], &v[2]) == 0 && qkv_views(gq, H, &v[3], &v[4], &v[5]) == 0 &&
      (v[6] = view4(g, B, H, L, Dm / H, L * Dm, Dm / H, Dm, 0)) != NULL)
    rc = attn_backward_call("attention_qkv", &a, v[0], v[1], v[2], p, v[6], v[3], v[4], v[5]);
  hub_release_all(7, v);
  hub_tensor_release(g);
  if (rc) {
    hub_tensor_release(gq);
    return -1;
  }
  gin[0] = gq;
  return 0;
}

HUB_OP_DEF(attention_qkv, .name = "attention_qkv", .arity = 1, .dtypes = HUB_DT_ANY,
           .kernel = HUB_K_ATTENTION, .backward = attention_qkv_backward,
           .state_size = sizeof(attention_qkv_state));

hub_tensor *hub_attention_qkv(hub_tensor *qkv, hub_tensor *mask, int64_t heads, double scale,
                              double p) {
  char s1[128];
  if (hub_check_float("attention_qkv", "qkv", qkv) || hub_check_same_device("attention_qkv", qkv, mask))
    return NULL;
  if (heads < 1) return hub_errp("attention_qkv: heads must be >= 1, got %lld", (long long)heads);
  /* heads <= features / 3 first: 3 * heads must not overflow, nor B * heads * L * L below */
  if (qkv->ndim != 3 || (heads > qkv->shape[2] / 3 && !(qkv->shape[2] == 0 && heads == 1)) ||
      qkv->shape[2] % (3 * heads) != 0)
    return hub_errp("attention_qkv: qkv must be [B, L, 3 * heads * head_dim] with %lld heads, got %s",
                    (long long)heads, hub_shape_str(qkv, s1, sizeof s1));
  if (!(p >= 0.0 && p < 1.0)) return hub_errp("attention_qkv: dropout probability %g is not in [0, 1)", p);
  const int64_t B = qkv->shape[0], L = qkv->shape[1], H = heads, Dh = qkv->shape[2] / (3 * heads), Dm = H * Dh;
  int64_t full[4] = {B, H, L, L};
  if (mask && check_mask("attention_qkv", mask, 4, full)) return NULL;
  if (!(scale > 0)) scale = Dh > 0 ? 1.0 / sqrt((double)Dh) : 1.0;
  const hub_backend *be = hub_dispatch("attention", HUB_K_ATTENTION, qkv->device, -1);
  if (!be) return NULL;

  hub_tensor *x = hub_contiguous_f32(qkv), *m3 = NULL, *out = NULL, *probs = NULL;
  int rc = -1;
  if (!x) goto done;
  if (mask) {
    HUB_NO_GRAD_BEGIN;
    m3 = mask_view(be, mask, 4, full, B * H);
    HUB_NO_GRAD_END;
    if (!m3) goto done;
  }
  int64_t osh[3] = {B, L, Dm}, psh[3] = {B * H, L, L};
  out = hub_tensor_empty(HUB_F32, 3, osh, qkv->device);
  /* probabilities only for a backward, and not when it recomputes them */
  int rec = hub_will_record(1, &x), recompute = rec && want_recompute(be, B * H, L, L);
  probs = rec && !recompute ? hub_tensor_empty(HUB_F32, 3, psh, qkv->device) : NULL;
  if (!out || (rec && !recompute && !probs)) goto done;
  hub_attn a = {.mask = m3, .scale = (float)scale, .p = (float)p, .lowp = hub_autocast(), .recorded = rec};
  if (p > 0) hub_rng_reserve((uint64_t)(B * H * L * L), &a.key, &a.counter);
  hub_tensor *v[4] = {NULL};
  int krc = -1;
  if (qkv_views(x, H, &v[0], &v[1], &v[2]) == 0 && (v[3] = view4(out, B, H, L, Dh, L * Dm, Dh, Dm, 0)) != NULL)
    krc = HUB_K(be, ATTENTION)(&a, v[0], v[1], v[2], v[3], probs);
  hub_release_all(4, v);
  if (krc) goto done;
  rc = 0;
  hub_node *n;
  rc = hub_record_op(&hub_op_attention_qkv, &x, 1, &out, &n);
  if (rc == 0 && n) {
    attention_qkv_state *st = HUB_NODE_STATE(n, attention_qkv_state);
    *st = (attention_qkv_state){.heads = H, .scale = scale, .p = p, .key = a.key, .counter = a.counter,
                                .lowp = a.lowp};
    rc = hub_node_keep(n, &st->qkv, x) || hub_node_keep(n, &st->probs, probs) ||
         (recompute && hub_node_keep(n, &st->mask, m3));
  }
done:
  hub_tensor_release(x);
  hub_tensor_release(m3);
  hub_tensor_release(probs);
  if (rc) {
    hub_tensor_release(out);
    return NULL;
  }
  return out;
}
