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
#include <string.h>

#include "backend.h"

static hub_tensor *view3(const hub_tensor *t, int64_t a, int64_t b, int64_t c) {
  int64_t sh[3] = {a, b, c}, st[3] = {b * c, c, 1};
  return hub_tensor_alias(t, 3, sh, st, t->offset);
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
  int rc = c ? be->copy(c, src) : -1;
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

/* saved: 0 q, 1 k, 2 v (contiguous f32 [B, L, D] views), 3 probs; f: 0 scale. */
static int attention_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!gout[0]) return 0; /* no gradient reached the output: nothing flows back */
  hub_tensor *q = n->saved[0], *k = n->saved[1], *v = n->saved[2], *p = n->saved[3];
  const hub_backend *be = hub_backend_for(q->device);
  if (!be) return -1;
  const int64_t B = q->shape[0], Lq = q->shape[1], D = q->shape[2], Lk = k->shape[1], Dv = v->shape[2];
  hub_attn a = {.B = B, .H = 1, .Lq = Lq, .Lk = Lk, .D = D, .Dv = Dv,
                .sq = {Lq * D, 0, D}, .sk = {Lk * D, 0, D}, .sv = {Lk * Dv, 0, Dv}, .so = {Lq * Dv, 0, Dv},
                .scale = (float)n->f[0]};
  hub_tensor *g = hub_contiguous_f32(gout[0]);
  hub_tensor *full[3] = {NULL, NULL, NULL};
  int rc = g ? 0 : -1;
  for (int i = 0; i < 3 && rc == 0; i++) {
    if (!hub_node_needs(n, i)) continue;
    const hub_edge *e = &n->edges[i];
    full[i] = hub_tensor_empty(HUB_F32, e->ndim, e->shape, q->device);
    if (!full[i]) rc = -1;
  }
  if (rc == 0)
    rc = be->attention_backward(&a, q->data, k->data, v->data, p->data, g->data,
                                full[0] ? full[0]->data : NULL, full[1] ? full[1]->data : NULL,
                                full[2] ? full[2]->data : NULL);
  hub_tensor_release(g);
  if (rc) {
    hub_release_all(3, full);
    return -1;
  }
  for (int i = 0; i < 3; i++) gin[i] = full[i];
  return 0;
}

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
  const hub_backend *be = hub_backend_for(q->device);
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
  probs = hub_tensor_empty(HUB_F32, 3, psh, q->device);
  q3 = view3(in[0], B, Lq, D);
  k3 = view3(in[1], B, Lk, D);
  v3 = view3(in[2], B, Lk, Dv);
  o3 = out ? view3(out, B, Lq, Dv) : NULL;
  if (!probs || !q3 || !k3 || !v3 || !o3) goto done;
  hub_attn a = {.B = B, .H = 1, .Lq = Lq, .Lk = Lk, .D = D, .Dv = Dv,
                .sq = {Lq * D, 0, D}, .sk = {Lk * D, 0, D}, .sv = {Lk * Dv, 0, Dv}, .so = {Lq * Dv, 0, Dv},
                .mask = m3, .scale = (float)scale};
  if (be->attention(&a, q3->data, k3->data, v3->data, o3->data, probs->data)) goto done;
  rc = 0;
  hub_node *n = hub_record("attention", attention_backward, 3, in, out);
  if (n) {
    hub_node_save(n, q3);
    hub_node_save(n, k3);
    hub_node_save(n, v3);
    hub_node_save(n, probs);
    n->f[0] = scale;
  }
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

/* The geometry of qkv [B, L, 3, H, Dh] read as q, k, v entries (b, h) and of out [B, L, H, Dh]. */
static hub_attn qkv_geom(int64_t B, int64_t L, int64_t H, int64_t Dh) {
  const int64_t Dm = H * Dh, row = 3 * Dm;
  hub_attn a = {.B = B, .H = H, .Lq = L, .Lk = L, .D = Dh, .Dv = Dh,
                .sq = {L * row, Dh, row}, .sk = {L * row, Dh, row}, .sv = {L * row, Dh, row},
                .so = {L * Dm, Dh, Dm}};
  return a;
}

/* saved: 0 qkv (contiguous f32 [B, L, 3*Dm]), 1 probs; f: 0 scale, 1 p; i: 0 H, 1 key, 2 counter */
static int attention_qkv_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!gout[0] || !hub_node_needs(n, 0)) return 0;
  hub_tensor *qkv = n->saved[0], *p = n->saved[1];
  const hub_backend *be = hub_backend_for(qkv->device);
  if (!be) return -1;
  const int64_t B = qkv->shape[0], L = qkv->shape[1], H = n->i[0], Dh = qkv->shape[2] / (3 * H), Dm = H * Dh;
  hub_attn a = qkv_geom(B, L, H, Dh);
  a.scale = (float)n->f[0];
  a.p = (float)n->f[1];
  a.key = (uint64_t)n->i[1];
  a.counter = (uint64_t)n->i[2];
  hub_tensor *g = hub_contiguous_f32(gout[0]);
  hub_tensor *gq = g ? hub_tensor_empty(HUB_F32, 3, qkv->shape, qkv->device) : NULL;
  float *base = gq ? gq->data : NULL;
  const float *x = qkv->data;
  if (!gq || be->attention_backward(&a, x, x + Dm, x + 2 * Dm, p->data, g->data, base, base + Dm, base + 2 * Dm)) {
    hub_tensor_release(g);
    hub_tensor_release(gq);
    return -1;
  }
  hub_tensor_release(g);
  gin[0] = gq;
  return 0;
}

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
  const hub_backend *be = hub_backend_for(qkv->device);
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
  probs = hub_tensor_empty(HUB_F32, 3, psh, qkv->device);
  if (!out || !probs) goto done;
  hub_attn a = qkv_geom(B, L, H, Dh);
  a.mask = m3;
  a.scale = (float)scale;
  a.p = (float)p;
  if (p > 0) hub_rng_reserve((uint64_t)(B * H * L * L), &a.key, &a.counter);
  const float *xd = x->data;
  if (be->attention(&a, xd, xd + Dm, xd + 2 * Dm, out->data, probs->data)) goto done;
  rc = 0;
  hub_node *n = hub_record("attention_qkv", attention_qkv_backward, 1, &x, out);
  if (n) {
    hub_node_save(n, x);
    hub_node_save(n, probs);
    n->f[0] = scale;
    n->f[1] = p;
    n->i[0] = H;
    n->i[1] = (int64_t)a.key;
    n->i[2] = (int64_t)a.counter;
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
