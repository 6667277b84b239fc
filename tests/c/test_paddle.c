/* test_paddle.c - unit tests of runtime/paddle.c (LoDTensor parameter files) and of the two
 * sequence ops of runtime/op_rnn.c.
 *
 * The loader is fed files this test writes byte by byte from the format in hub_paddle.h (so the
 * test does not depend on Paddle or on the reader's own code): valid ones (unpacked and packed
 * dims, LoD levels, unknown TensorDesc fields, a 0-d tensor) whose values must come back
 * exactly, and broken ones (truncated anywhere, bad versions, bad desc_len, other data types,
 * bad varints, negative or overflowing dims, trailing bytes), each of which must fail with a
 * message naming the file and the problem.  The GRU is compared with a naive C implementation
 * of the formulas on random weights (both directions, origin_mode, bias or none, sequences of
 * different lengths, and batch against one sequence at a time); CRF decoding with brute force
 * over every tag path of tiny random cases.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub.h"
#include "check.h"

/* ---- writing files byte by byte ---- */

typedef struct buf {
  unsigned char b[4096];
  size_t n;
} buf;

static void put(buf *B, const void *p, size_t n) {
  memcpy(B->b + B->n, p, n);
  B->n += n;
}
static void u8(buf *B, unsigned v) { B->b[B->n++] = (unsigned char)v; }
static void u32(buf *B, uint32_t v) {
  for (int i = 0; i < 4; i++) u8(B, (v >> (8 * i)) & 0xff);
}
static void u64(buf *B, uint64_t v) {
  for (int i = 0; i < 8; i++) u8(B, (unsigned)((v >> (8 * i)) & 0xff));
}
static void varint(buf *B, uint64_t v) {
  while (v >= 0x80) {
    u8(B, (unsigned)(v & 0x7f) | 0x80);
    v >>= 7;
  }
  u8(B, (unsigned)v);
}
static void floats(buf *B, int n, float start) {
  for (int i = 0; i < n; i++) {
    float f = start + (float)i * 0.5f;
    put(B, &f, 4);
  }
}

/* A TensorDesc: data_type then dims (unpacked or packed). */
static buf desc(uint64_t dtype, int ndim, const uint64_t *dims, int packed) {
  buf d = {{0}, 0};
  u8(&d, 0x08);
  varint(&d, dtype);
  if (packed && ndim) {
    buf p = {{0}, 0};
    for (int i = 0; i < ndim; i++) varint(&p, dims[i]);
    u8(&d, 0x12);
    varint(&d, p.n);
    put(&d, p.b, p.n);
  } else {
    for (int i = 0; i < ndim; i++) {
      u8(&d, 0x10);
      varint(&d, dims[i]);
    }
  }
  return d;
}

/* header: versions, lod_level (with `lod` levels of 8 bytes), desc_len and the desc. */
static void header(buf *B, int lod, const buf *d) {
  u32(B, 0);
  u64(B, (uint64_t)lod);
  for (int l = 0; l < lod; l++) {
    u64(B, 8);
    u64(B, 0);
  }
  u32(B, 0);
  u32(B, (uint32_t)d->n);
  put(B, d->b, d->n);
}

static char dir[] = "/tmp/hub_paddle_XXXXXX";
static char fpath[256];

static const char *write_file(const char *name, const buf *B) {
  snprintf(fpath, sizeof fpath, "%s/%s", dir, name);
  FILE *f = fopen(fpath, "wb");
  if (!f) return fpath;
  fwrite(B->b, 1, B->n, f);
  fclose(f);
  return fpath;
}

/* Expects the file to fail with every phrase in the NULL-terminated list. */
static void expect_fail(const char *name, const buf *B, const char *phrase) {
  const char *p = write_file(name, B);
  hub_clear_error();
  hub_tensor *t = hub_paddle_load(p);
  const char *e = hub_last_error();
  CHECK(!t && strstr(e, name) && strstr(e, phrase), "%s fails naming the file and '%s' (got: %s)", name, phrase,
        t ? "a tensor" : e);
  if (t) hub_tensor_release(t);
}

static void test_loader(void) {
  /* valid: [2,3], unpacked dims */
  buf B = {{0}, 0};
  buf d = desc(5, 2, (uint64_t[]){2, 3}, 0);
  header(&B, 0, &d);
  floats(&B, 6, -1.0f);
  hub_tensor *t = hub_paddle_load(write_file("fc.w_0", &B));
  CHECK(t && hub_tensor_ndim(t) == 2 && hub_tensor_size(t, 0) == 2 && hub_tensor_size(t, 1) == 3 &&
            hub_tensor_dtype(t) == HUB_F32, "[2,3] f32 loads (%s)", t ? "" : hub_last_error());
  if (t) {
    int same = 1;
    for (int i = 0; i < 6; i++) same &= hub_tensor_get(t, i) == -1.0 + 0.5 * i;
    CHECK(same, "values come back exactly");
    hub_tensor_release(t);
  }
  /* valid: packed dims, one LoD level, an unknown field of each wire type */
  B.n = 0;
  d = desc(5, 3, (uint64_t[]){1, 2, 200}, 1);
  u8(&d, 0x18), varint(&d, 300);           /* field 3 varint */
  u8(&d, 0x22), u8(&d, 2), u8(&d, 1), u8(&d, 2); /* field 4 bytes */
  u8(&d, 0x2d), u32(&d, 7);                /* field 5 fixed32 */
  u8(&d, 0x31), u64(&d, 7);                /* field 6 fixed64 */
  header(&B, 1, &d);
  floats(&B, 400, 3.0f);
  t = hub_paddle_load(write_file("packed", &B));
  CHECK(t && hub_tensor_ndim(t) == 3 && hub_tensor_size(t, 2) == 200 && hub_tensor_get(t, 399) == 3.0 + 0.5 * 399,
        "packed dims, a LoD level and unknown fields (%s)", t ? "" : hub_last_error());
  if (t) hub_tensor_release(t);
  /* valid: no dims is a 0-d tensor of one element */
  B.n = 0;
  d = desc(5, 0, NULL, 0);
  header(&B, 0, &d);
  floats(&B, 1, 42.0f);
  t = hub_paddle_load(write_file("scalar", &B));
  CHECK(t && hub_tensor_ndim(t) == 0 && hub_tensor_get(t, 0) == 42.0, "0-d tensor (%s)", t ? "" : hub_last_error());
  if (t) hub_tensor_release(t);
  /* valid: a zero dim and no data */
  B.n = 0;
  d = desc(5, 2, (uint64_t[]){0, 4}, 0);
  header(&B, 0, &d);
  t = hub_paddle_load(write_file("empty", &B));
  CHECK(t && hub_tensor_numel(t) == 0, "[0,4] with no data (%s)", t ? "" : hub_last_error());
  if (t) hub_tensor_release(t);

  /* broken files */
  buf good = {{0}, 0};
  d = desc(5, 2, (uint64_t[]){2, 3}, 0);
  header(&good, 0, &d);
  floats(&good, 6, 0.0f);
  for (size_t cut = 0; cut < good.n; cut += (cut < 40 ? 1 : 7)) {
    buf c = good;
    c.n = cut;
    char name[32];
    snprintf(name, sizeof name, "cut%zu", cut);
    const char *p = write_file(name, &c);
    hub_tensor *x = hub_paddle_load(p);
    CHECK(!x && strstr(hub_last_error(), name), "truncated to %zu bytes fails (%s)", cut, hub_last_error());
    if (x) hub_tensor_release(x);
  }
  buf c = good;
  c.n--;
  expect_fail("short_data", &c, "need 24 data bytes, the file has 23");
  c = good;
  u8(&c, 0);
  expect_fail("trailing", &c, "the file has 25");
  c = good;
  c.b[0] = 1;
  expect_fail("version", &c, "LoDTensor version 1");
  c = good;
  c.b[12] = 2;
  expect_fail("tensor_version", &c, "tensor version 2");
  c = good;
  c.b[4] = 0xff; /* lod_level 255 */
  expect_fail("lod_level", &c, "lod_level 255");
  c = good;
  c.b[4] = 1; /* one level whose size is read from the version/desc bytes: beyond the file */
  expect_fail("lod_size", &c, "LoD level 0");
  /* desc_len at bytes 16..19 */
  const int32_t bad_len[] = {-5, 0, 5000, 100};
  const char *bad_msg[] = {"desc_len -5 is out of range", "desc_len 0 is out of range", "desc_len 5000 is out of range",
                           "desc_len 100 is beyond the"};
  for (int i = 0; i < 4; i++) {
    c = good;
    memcpy(c.b + 16, &bad_len[i], 4);
    char name[32];
    snprintf(name, sizeof name, "desc_len%d", i);
    expect_fail(name, &c, bad_msg[i]);
  }
  const struct {
    uint64_t type;
    const char *msg;
  } types[] = {{6, "data_type 6 (FP64) is not supported"}, {3, "data_type 3 (INT64)"}, {4, "data_type 4 (FP16)"},
               {99, "data_type 99 (unknown)"}};
  for (int i = 0; i < 4; i++) {
    B.n = 0;
    d = desc(types[i].type, 2, (uint64_t[]){2, 3}, 0);
    header(&B, 0, &d);
    floats(&B, 6, 0.0f);
    char name[32];
    snprintf(name, sizeof name, "dtype%d", i);
    expect_fail(name, &B, types[i].msg);
  }
  /* TensorDesc problems */
  B.n = 0;
  d = (buf){{0x10, 0x02}, 2}; /* dims only */
  header(&B, 0, &d);
  expect_fail("no_type", &B, "no data_type");
  B.n = 0;
  d = (buf){{0x08, 0x05, 0x10, 0x82}, 4}; /* varint cut */
  header(&B, 0, &d);
  expect_fail("cut_varint", &B, "truncated dims");
  B.n = 0;
  d = (buf){{0x08, 0x05, 0x12, 0x09, 0x02}, 5}; /* packed length past the message */
  header(&B, 0, &d);
  expect_fail("packed_len", &B, "packed dims length");
  B.n = 0;
  d = (buf){{0x08, 0x05, 0x1f}, 3}; /* field 3, wire type 7 */
  header(&B, 0, &d);
  expect_fail("wire7", &B, "invalid wire type");
  B.n = 0;
  d = desc(5, 1, (uint64_t[]){(uint64_t)-3}, 0);
  header(&B, 0, &d);
  expect_fail("negative", &B, "dim 0 is negative");
  B.n = 0;
  d = desc(5, 3, (uint64_t[]){1ull << 40, 1ull << 40, 4}, 0);
  header(&B, 0, &d);
  expect_fail("overflow", &B, "overflow");
  B.n = 0;
  d = desc(5, 9, (uint64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 0);
  header(&B, 0, &d);
  expect_fail("ninedims", &B, "more than 8 dims");
  /* not a file */
  hub_tensor *x = hub_paddle_load("/nonexistent/fc_9.w_0");
  CHECK(!x && strstr(hub_last_error(), "/nonexistent/fc_9.w_0"), "missing file names it (%s)", hub_last_error());
  x = hub_paddle_load(dir);
  CHECK(!x && strstr(hub_last_error(), "not a regular file"), "directory refused (%s)", hub_last_error());
  x = hub_paddle_load(NULL);
  CHECK(!x && strstr(hub_last_error(), "missing"), "NULL path refused");
}

/* ---- GRU against the formulas ---- */

static float frand(void) { return (float)rand() / (float)RAND_MAX * 2.0f - 1.0f; }
static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

/* Naive reference: one sequence x [n, 3H] -> out [n, H]. */
static void gru_ref(const float *x, int n, int H, const float *w, const float *b, int reverse, int origin,
                    double *out) {
  const float *Wg = w, *Wc = w + 2 * H * H;
  double *h = calloc((size_t)H, sizeof(double)), *u = calloc((size_t)H, sizeof(double)),
         *r = calloc((size_t)H, sizeof(double));
  for (int s = 0; s < n; s++) {
    int t = reverse ? n - 1 - s : s;
    const float *g = x + t * 3 * H;
    for (int j = 0; j < H; j++) {
      double gu = g[j] + (b ? b[j] : 0), gr = g[H + j] + (b ? b[H + j] : 0);
      for (int k = 0; k < H; k++) gu += h[k] * Wg[k * 2 * H + j], gr += h[k] * Wg[k * 2 * H + H + j];
      u[j] = sig(gu), r[j] = sig(gr);
    }
    double *hn = out + t * H;
    for (int j = 0; j < H; j++) {
      double c = g[2 * H + j] + (b ? b[2 * H + j] : 0);
      for (int k = 0; k < H; k++) c += r[k] * h[k] * Wc[k * H + j];
      c = tanh(c);
      hn[j] = origin ? u[j] * h[j] + (1 - u[j]) * c : (1 - u[j]) * h[j] + u[j] * c;
    }
    memcpy(h, hn, sizeof(double) * (size_t)H);
  }
  free(h), free(u), free(r);
}

static void test_gru(void) {
  srand(7);
  const int B = 4, T = 6;
  const int64_t lens[4] = {3, 6, 0, 5};
  for (int H = 4; H <= 32; H *= 8) {
    float *x = malloc(sizeof(float) * (size_t)(B * T * 3 * H)), *w = malloc(sizeof(float) * (size_t)(3 * H * H)),
          *b = malloc(sizeof(float) * (size_t)(3 * H));
    for (int i = 0; i < B * T * 3 * H; i++) x[i] = 2 * frand();
    for (int i = 0; i < 3 * H * H; i++) w[i] = frand();
    for (int i = 0; i < 3 * H; i++) b[i] = frand();
    hub_tensor *xt = hub_tensor_from_data(HUB_F32, 3, (int64_t[]){B, T, 3 * H}, x, HUB_F32);
    hub_tensor *wt = hub_tensor_from_data(HUB_F32, 2, (int64_t[]){H, 3 * H}, w, HUB_F32);
    hub_tensor *bt = hub_tensor_from_data(HUB_F32, 2, (int64_t[]){1, 3 * H}, b, HUB_F32);
    hub_tensor *lt = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){B}, lens, HUB_I64);
    double *ref = malloc(sizeof(double) * (size_t)(T * H));
    for (int mode = 0; mode < 8; mode++) {
      int reverse = mode & 1, origin = (mode >> 1) & 1, nobias = (mode >> 2) & 1;
      hub_tensor *o = hub_paddle_gru(xt, wt, nobias ? NULL : bt, lt, reverse, origin);
      CHECK(o && hub_tensor_size(o, 2) == H, "gru H=%d mode %d runs (%s)", H, mode, o ? "" : hub_last_error());
      if (!o) continue;
      const float *of = o->data;
      double err = 0;
      int pad_zero = 1;
      for (int bi = 0; bi < B; bi++) {
        gru_ref(x + bi * T * 3 * H, (int)lens[bi], H, w, nobias ? NULL : b, reverse, origin, ref);
        for (int t = 0; t < T; t++)
          for (int j = 0; j < H; j++) {
            double got = of[(bi * T + t) * H + j];
            if (t < lens[bi]) err = fmax(err, fabs(got - ref[t * H + j]));
            else pad_zero &= got == 0;
          }
      }
      CHECK(err < 2e-5, "gru H=%d reverse=%d origin=%d bias=%d max error %g", H, reverse, origin, !nobias, err);
      CHECK(pad_zero, "gru padded positions are 0");
      /* batch against one sequence at a time (narrowed to its own length) */
      double diff = 0;
      for (int bi = 0; bi < B; bi++) {
        if (!lens[bi]) continue;
        hub_tensor *xb = hub_narrow(xt, 0, bi, 1), *xn = xb ? hub_narrow(xb, 1, 0, lens[bi]) : NULL;
        hub_tensor *ob = xn ? hub_paddle_gru(xn, wt, nobias ? NULL : bt, NULL, reverse, origin) : NULL;
        if (!ob) {
          diff = 1;
        } else {
          for (int64_t i = 0; i < lens[bi] * H; i++) diff = fmax(diff, fabs(hub_tensor_get(ob, i) - of[bi * T * H + i]));
        }
        if (ob) hub_tensor_release(ob);
        if (xn) hub_tensor_release(xn);
        if (xb) hub_tensor_release(xb);
      }
      CHECK(diff == 0, "gru batch equals one by one exactly (diff %g)", diff);
      hub_tensor_release(o);
    }
    free(ref);
    free(x), free(w), free(b);
    /* argument errors */
    hub_tensor *o = hub_paddle_gru(xt, bt, NULL, NULL, 0, 0);
    CHECK(!o && strstr(hub_last_error(), "weight must be [H, 3H]"), "bad weight: %s", hub_last_error());
    hub_tensor *lbad = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){B}, (int64_t[]){1, 7, 0, 0}, HUB_I64);
    o = hub_paddle_gru(xt, wt, bt, lbad, 0, 0);
    CHECK(!o && strstr(hub_last_error(), "lengths[1] = 7 is outside 0..6"), "length beyond T: %s", hub_last_error());
    hub_tensor *lf = hub_tensor_from_data(HUB_F32, 1, (int64_t[]){B}, (float[]){1, 1, 1, 1}, HUB_F32);
    o = hub_paddle_gru(xt, wt, bt, lf, 0, 0);
    CHECK(!o && strstr(hub_last_error(), "lengths"), "float lengths: %s", hub_last_error());
    hub_tensor *l3 = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){3}, (int64_t[]){1, 1, 1}, HUB_I64);
    o = hub_paddle_gru(xt, wt, bt, l3, 0, 0);
    CHECK(!o && strstr(hub_last_error(), "lengths must be [4]"), "lengths size: %s", hub_last_error());
    hub_tensor *b2 = hub_full(1, (int64_t[]){H}, 0.0, HUB_F32);
    o = b2 ? hub_paddle_gru(xt, wt, b2, NULL, 0, 0) : NULL;
    CHECK(!o && strstr(hub_last_error(), "bias"), "bias size: %s", hub_last_error());
    o = hub_paddle_gru(wt, wt, NULL, NULL, 0, 0);
    CHECK(!o && strstr(hub_last_error(), "input must be [B, T, 3H]"), "2-d input: %s", hub_last_error());
    hub_tensor *ids = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){B}, lens, HUB_I64);
    o = hub_paddle_gru(ids, wt, NULL, NULL, 0, 0);
    CHECK(!o && strstr(hub_last_error(), "float"), "integer input: %s", hub_last_error());
    hub_tensor *all[] = {xt, wt, bt, lt, lbad, lf, l3, b2, ids};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
      if (all[i]) hub_tensor_release(all[i]);
  }
}

/* ---- CRF decoding against brute force ---- */

static void test_crf(void) {
  srand(11);
  for (int trial = 0; trial < 40; trial++) {
    const int C = 1 + trial % 4, B = 4, T = 5;
    int64_t lens[4] = {5, 1, trial % 6, 3};
    float em[4 * 5 * 4], tr[6 * 4];
    for (int i = 0; i < B * T * C; i++) em[i] = 3 * frand();
    for (int i = 0; i < (C + 2) * C; i++) tr[i] = 3 * frand();
    hub_tensor *et = hub_tensor_from_data(HUB_F32, 3, (int64_t[]){B, T, C}, em, HUB_F32);
    hub_tensor *tt = hub_tensor_from_data(HUB_F32, 2, (int64_t[]){C + 2, C}, tr, HUB_F32);
    hub_tensor *lt = hub_tensor_from_data(HUB_I64, 1, (int64_t[]){B}, lens, HUB_I64);
    hub_tensor *p = hub_crf_decode(et, tt, lt);
    CHECK(p && hub_tensor_dtype(p) == HUB_I64, "crf runs (%s)", p ? "" : hub_last_error());
    for (int b = 0; p && b < B; b++) {
      int n = (int)lens[b];
      /* brute force: every path of length n */
      int best_path[5] = {0};
      double best = -1e300;
      int total = 1;
      for (int i = 0; i < n; i++) total *= C;
      for (int code = 0; n > 0 && code < total; code++) {
        int y[5], k = code;
        for (int i = n - 1; i >= 0; i--) y[i] = k % C, k /= C;
        double s = tr[y[0]] + tr[C + y[n - 1]];
        for (int i = 0; i < n; i++) s += em[(b * T + i) * C + y[i]];
        for (int i = 1; i < n; i++) s += tr[(2 + y[i - 1]) * C + y[i]];
        if (s > best) best = s, memcpy(best_path, y, sizeof y);
      }
      int same = 1;
      for (int i = 0; i < T; i++) same &= hub_tensor_get(p, b * T + i) == (i < n ? best_path[i] : -1);
      CHECK(same, "crf trial %d sequence %d (C=%d, n=%d) equals brute force", trial, b, C, n);
    }
    if (p) hub_tensor_release(p);
    hub_tensor *q = hub_crf_decode(et, et, lt);
    CHECK(!q && strstr(hub_last_error(), "transition must be [C+2, C]"), "bad transition: %s", hub_last_error());
    hub_tensor_release(et), hub_tensor_release(tt), hub_tensor_release(lt);
  }
  /* ties go to the lowest tag id */
  hub_tensor *et = hub_full(3, (int64_t[]){1, 3, 3}, 0.0, HUB_F32), *tt = hub_full(2, (int64_t[]){5, 3}, 0.0, HUB_F32);
  hub_tensor *p = hub_crf_decode(et, tt, NULL);
  CHECK(p && hub_tensor_get(p, 0) == 0 && hub_tensor_get(p, 1) == 0 && hub_tensor_get(p, 2) == 0, "ties: lowest id");
  if (p) hub_tensor_release(p);
  hub_tensor_release(et), hub_tensor_release(tt);
}

int main(void) {
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  int64_t live0 = hub_tensor_live_count();
  test_loader();
  test_gru();
  test_crf();
  CHECK(hub_tensor_live_count() == live0, "no tensors leak (%lld vs %lld)", (long long)hub_tensor_live_count(),
        (long long)live0);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) printf("note: could not remove %s\n", dir);
  return check_summary();
}
