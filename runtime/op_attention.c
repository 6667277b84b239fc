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

/* A contiguous f32 version of t (new reference), recorded for autograd. */
static hub_tensor *as_f32(hub_tensor *t) {
  hub_tensor *f = hub_to_dtype(t, HUB_F32);
  if (!f) return NULL;
  hub_tensor *c = hub_contiguous(f);
  hub_tensor_release(f);
  return c;
}

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

/* saved: 0 q, 1 k, 2 v (contiguous f32 [B, L, D] views), 3 probs; f: 0 scale. */
static int attention_backward(hub_node *n, hub_tensor **gout, hub_tensor **gin) {
  if (!gout[0]) return 0; /* no gradient reached the output: nothing flows back */
  hub_tensor *q = n->saved[0], *k = n->saved[1], *v = n->saved[2], *p = n->saved[3];
  const hub_backend *be = hub_backend_for(q->device);
  if (!be) return -1;
  const int64_t B = q->shape[0], Lq = q->shape[1], Dv = v->shape[2];
  hub_tensor *g = as_f32(gout[0]);
  hub_tensor *g3 = g ? view3(g, B, Lq, Dv) : NULL;
  hub_tensor *full[3] = {NULL, NULL, NULL}, *v3[3] = {NULL, NULL, NULL};
  const hub_tensor *shapes[3] = {q, k, v};
  int rc = g3 ? 0 : -1;
  for (int i = 0; i < 3 && rc == 0; i++) {
    if (!hub_node_needs(n, i)) continue;
    const hub_edge *e = &n->edges[i];
    full[i] = hub_tensor_empty(HUB_F32, e->ndim, e->shape, q->device);
    v3[i] = full[i] ? view3(full[i], B, shapes[i]->shape[1], shapes[i]->shape[2]) : NULL;
    if (!v3[i]) rc = -1;
  }
  if (rc == 0) rc = be->attention_backward(q, k, v, p, g3, (float)n->f[0], v3[0], v3[1], v3[2]);
  hub_tensor_release(g3);
  hub_tensor_release(g);
  hub_release_all(3, v3);
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
  if (mask) {
    if (!hub_dtype_is_float(mask->dtype))
      return hub_errp("attention: mask must be an additive float tensor (0 or -1e9), got %s; "
                      "turn a boolean mask into one with where or masked_fill",
                      hub_dtype_name(mask->dtype));
    int ok = mask->ndim <= nd;
    for (int i = 0; ok && i < mask->ndim; i++) {
      int64_t ms = mask->shape[mask->ndim - 1 - i], fs = full[nd - 1 - i];
      ok = ms == fs || ms == 1;
    }
    if (!ok) {
      size_t len = 0;
      for (int i = 0; i < nd && len < sizeof s2; i++)
        len += (size_t)snprintf(s2 + len, sizeof s2 - len, "%s%lld", i ? "," : "[", (long long)full[i]);
      if (len < sizeof s2) snprintf(s2 + len, sizeof s2 - len, "]");
      return hub_errp("attention: mask %s does not broadcast to the scores %s",
                      hub_shape_str(mask, s1, sizeof s1), s2);
    }
  }
  if (!(scale > 0)) scale = D > 0 ? 1.0 / sqrt((double)D) : 1.0;
  const hub_backend *be = hub_backend_for(q->device);
  if (!be) return NULL;

  hub_tensor *in[3] = {as_f32(q), as_f32(k), as_f32(v)};
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
  if (be->attention(q3, k3, v3, m3, (float)scale, o3, probs)) goto done;
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
