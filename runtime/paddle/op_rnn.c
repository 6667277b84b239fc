/* op_rnn.c - sequence ops for inference: Paddle's GRU over padded batches and linear-chain CRF
 * Viterbi decoding (contracts in hub_paddle.h).
 *
 * As for every op, this layer checks the arguments (naming the op and the argument), converts
 * inputs to contiguous f32 and allocates the output; the work is done by the device's backend
 * kernels GRU and CRF_DECODE (hub_dispatch answers "paddle_gru is not implemented for cuda" where a
 * backend has none) (kernels/cpu/gru.c, kernels/cpu/crf.c).  The lengths tensor is
 * read into a host array of int64 first, checked against T, and handed to the kernel, which
 * needs the lengths on the host anyway to plan its time loop.  Neither op records autograd
 * nodes: they serve pretrained inference (LAC); the conversions run with grad mode off.
 */
#include <stdlib.h>

#include "backend.h"
#include "hub_paddle.h"

/* The lengths as a malloc'ed int64 array of B entries, each in 0..T; all T when t is NULL. */
static int64_t *read_lengths(const char *op, hub_tensor *t, int64_t B, int64_t T) {
  int64_t *len = malloc(sizeof(int64_t) * (size_t)(B > 0 ? B : 1));
  if (!len) return hub_errp("%s: out of memory", op);
  if (!t) {
    for (int64_t i = 0; i < B; i++) len[i] = T;
    return len;
  }
  char s[128];
  if (hub_check_index(op, "lengths", t)) goto fail;
  if (t->ndim != 1 || t->shape[0] != B) {
    hub_err("%s: lengths must be [%lld] (one per sequence), got %s", op, (long long)B, hub_shape_str(t, s, sizeof s));
    goto fail;
  }
  hub_tensor *host = hub_to_device(t, HUB_CPU); /* the kernels take the lengths on the host */
  int rc = host ? hub_tensor_read(host, len, HUB_I64) : -1;
  hub_tensor_release(host);
  if (rc) goto fail;
  for (int64_t i = 0; i < B; i++)
    if (len[i] < 0 || len[i] > T) {
      hub_err("%s: lengths[%lld] = %lld is outside 0..%lld (the padded length)", op, (long long)i, (long long)len[i], (long long)T);
      goto fail;
    }
  return len;
fail:
  free(len);
  return NULL;
}

hub_tensor *hub_paddle_gru(hub_tensor *x0, hub_tensor *w0, hub_tensor *b0, hub_tensor *lengths,
                           int reverse, int origin_mode) {
  const char *op = "paddle_gru";
  char s1[128], s2[128];
  if (hub_check_float(op, "input", x0) || hub_check_float(op, "weight", w0) || hub_check_same_device(op, x0, w0) ||
      (b0 && (hub_check_float(op, "bias", b0) || hub_check_same_device(op, x0, b0))))
    return NULL;
  if (w0->ndim != 2 || w0->shape[1] != 3 * w0->shape[0] || w0->shape[0] == 0)
    return hub_errp("%s: weight must be [H, 3H], got %s", op, hub_shape_str(w0, s1, sizeof s1));
  int64_t H = w0->shape[0];
  if (x0->ndim != 3 || x0->shape[2] != 3 * H)
    return hub_errp("%s: input must be [B, T, 3H] = [B, T, %lld] for weight %s, got %s", op, (long long)(3 * H),
                    hub_shape_str(w0, s2, sizeof s2), hub_shape_str(x0, s1, sizeof s1));
  if (b0 && hub_tensor_numel(b0) != 3 * H)
    return hub_errp("%s: bias must have 3H = %lld elements ([3H] or [1, 3H]), got %s", op, (long long)(3 * H),
                    hub_shape_str(b0, s1, sizeof s1));
  if (b0 && !(b0->ndim == 1 || (b0->ndim == 2 && b0->shape[0] == 1)))
    return hub_errp("%s: bias must be [3H] or [1, 3H], got %s", op, hub_shape_str(b0, s1, sizeof s1));
  const hub_backend *be = hub_dispatch(op, HUB_K_GRU, x0->device, HUB_F32);
  if (!be) return NULL;
  int64_t B = x0->shape[0], T = x0->shape[1];
  int64_t *len = read_lengths(op, lengths, B, T);
  if (!len) return NULL;
  HUB_NO_GRAD_BEGIN;
  hub_tensor *x = hub_contiguous_f32(x0), *w = x ? hub_contiguous_f32(w0) : NULL, *b = (w && b0) ? hub_contiguous_f32(b0) : NULL;
  hub_tensor *out = NULL;
  if (x && w && (b || !b0)) {
    out = hub_tensor_empty(HUB_F32, 3, (int64_t[]){B, T, H}, x0->device);
    if (out && HUB_K(be, GRU)(x, w, b, len, reverse != 0, origin_mode != 0, out)) {
      hub_tensor_release(out);
      out = NULL;
    }
  }
  HUB_NO_GRAD_END;
  hub_release_all(3, (hub_tensor *[]){x, w, b});
  free(len);
  return out;
}

hub_tensor *hub_crf_decode(hub_tensor *em0, hub_tensor *tr0, hub_tensor *lengths) {
  const char *op = "crf_decode";
  char s1[128], s2[128];
  if (hub_check_float(op, "emission", em0) || hub_check_float(op, "transition", tr0) || hub_check_same_device(op, em0, tr0))
    return NULL;
  if (em0->ndim != 3 || em0->shape[2] == 0)
    return hub_errp("%s: emission must be [B, T, C] with C > 0, got %s", op, hub_shape_str(em0, s1, sizeof s1));
  int64_t B = em0->shape[0], T = em0->shape[1], C = em0->shape[2];
  if (tr0->ndim != 2 || tr0->shape[0] != C + 2 || tr0->shape[1] != C)
    return hub_errp("%s: transition must be [C+2, C] = [%lld, %lld] (start row, end row, then C rows) for emission %s, got %s",
                    op, (long long)(C + 2), (long long)C, hub_shape_str(em0, s2, sizeof s2), hub_shape_str(tr0, s1, sizeof s1));
  const hub_backend *be = hub_dispatch(op, HUB_K_CRF_DECODE, em0->device, HUB_F32);
  if (!be) return NULL;
  int64_t *len = read_lengths(op, lengths, B, T);
  if (!len) return NULL;
  HUB_NO_GRAD_BEGIN;
  hub_tensor *em = hub_contiguous_f32(em0), *tr = em ? hub_contiguous_f32(tr0) : NULL, *path = NULL;
  if (em && tr) {
    path = hub_tensor_empty(HUB_I64, 2, (int64_t[]){B, T}, em0->device);
    if (path && HUB_K(be, CRF_DECODE)(em, tr, len, path)) {
      hub_tensor_release(path);
      path = NULL;
    }
  }
  HUB_NO_GRAD_END;
  hub_release_all(2, (hub_tensor *[]){em, tr});
  free(len);
  return path;
}
