#!/usr/bin/python3
"""gen_op_fixtures.py - golden forward/backward fixtures for every op, made with PyTorch.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 scripts/gen_op_fixtures.py
It writes tests/fixtures/ops.json, which tests/lua/test_ops_golden.lua replays through hubrun.

How it works.  Every case names an op (the Lua test maps the name to a hub call), its inputs and
its arguments.  Inputs are small random f32 tensors rounded to 3 decimals (so the JSON is short
and hub and torch parse exactly the same f32 values), ids as i64/i32, masks as bool/u8.  The
reference is computed by torch in float64 from those exact f32 values (so the fixture itself
carries no f32 rounding error), except dtype casts, which are done in their own dtypes.  For
every floating output a fixed random weight W of the output's shape is drawn, the loss
sum_i sum(out_i * W_i) is back-propagated, and the gradients of the inputs marked "grad" are
stored.

Format (compact JSON):
  {"version": 1, "promotion": {"pairs": [[dtype a, dtype b, torch.result_type]],
                               "scalars": [[dtype, Python number, torch.result_type]]},
   "cases": [{
     "name": "matmul_2d_2d", "op": "matmul", "args": {...},
     "inputs":  [{"shape": [3,5], "dtype": "f32", "data": [flat row-major], "grad": true,
                  "t": true (optional: the op sees leaf.transpose(-2,-1), a strided view)}],
     "outputs": [{"shape": [...], "dtype": "f32"|"i64", "data": [...]}],
     "weights": [{"shape", "data"} or null (non-differentiable output), one per output],
     "grads":   [{"shape", "data"} or null (no gradient asked), one per input],
     "tol": {"atol": a, "rtol": r} (optional; default chosen by the test)}]}
Dimensions and positions inside "args" are PyTorch's (0-based, negative from the end); the Lua
test converts them to hub's 1-based rule.  Non-finite numbers are the strings "inf", "-inf" and
"nan".  Dropout with p > 0 is random, so only its p = 0 / eval identity has values here; the Lua
test checks its statistics.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
np.random.seed(1234)
F64 = torch.float64

# ---------------------------------------------------------------------------------------------
# input makers (all values exact f32 numbers with <= 3 decimals)


def R(*shape, scale=1.0):
    """Random normal values rounded to 3 decimals, as f32."""
    x = torch.randn(tuple(shape), dtype=F64) * scale
    return torch.round(x * 1000).div(1000).float()


def P(*shape):
    """Positive values >= 0.5 (for log, sqrt, rsqrt, x^0.5)."""
    return (0.5 + R(*shape).abs()).float()


def NZ(*shape):
    """Values with |x| >= 0.2 (away from the kinks of relu/abs and the pole of 1/x)."""
    x = R(*shape)
    s = torch.where(x < 0, -1.0, 1.0)
    return (s * (0.2 + x.abs())).float()


def DISTINCT(*shape):
    """Distinct values 0.25 apart, shuffled (no ties for max/argmax)."""
    n = int(np.prod(shape))
    v = (torch.randperm(n).double() - n / 2) * 0.25 + 0.001
    return v.float().reshape(*shape)


def IDS(values, dtype=torch.int64):
    return torch.tensor(values, dtype=dtype)


def MASK(values, dtype=torch.bool):
    return torch.tensor(values, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# encoding


def num_f32(v):
    """Shortest decimal that reads back as the same f32."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(str(np.float32(v)))


def num_exact64(v):
    """An f64 value written exactly (17 significant digits)."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float("%.17g" % v)


def num_f64(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float("%.9g" % v)


# float64 references of f32 computations are reported as f32 (the dtype hub computes in); real
# f64 tensors (cases with f64=True, the promotion table) use DT64.
DT = {torch.float32: "f32", torch.float64: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
      torch.int64: "i64", torch.int32: "i32", torch.uint8: "u8", torch.bool: "bool"}

DT64 = dict(DT)
DT64[torch.float64] = "f64"

def enc(t, exact_f32=False, f64=False):
    t = t.detach()
    flat = t.reshape(-1)
    if f64 and t.dtype == F64:
        return {"shape": list(t.shape), "dtype": "f64",
                "data": [num_exact64(float(v)) for v in flat.tolist()]}
    if t.dtype.is_floating_point:
        conv = num_f32 if (exact_f32 or t.dtype != F64) else num_f64
        data = [conv(float(v)) for v in flat.double().tolist()]
    elif t.dtype == torch.bool:
        data = [1 if v else 0 for v in flat.tolist()]
    else:
        data = [int(v) for v in flat.tolist()]
    return {"shape": list(t.shape), "dtype": DT[t.dtype], "data": data}


# ---------------------------------------------------------------------------------------------
# cases

CASES = []


def case(name, op, inputs, fn, args=None, grad=None, tol=None, ref64=True, f64=False):
    """inputs: list of tensors or (tensor, opts) with opts {"t": bool, "grad": bool}.
    fn(*xs) -> tensor or list of tensors, with torch semantics.  Float inputs require gradients
    unless grad says otherwise (grad: list of bools).  f64: float inputs are hub f64 tensors
    (dtype "f64", exact values) and f64 outputs are reported as f64."""
    specs, leaves, xs = [], [], []
    for i, inp in enumerate(inputs):
        opts = {}
        if isinstance(inp, tuple):
            inp, opts = inp
        isf = inp.dtype.is_floating_point
        want = isf and (grad[i] if grad is not None else True)
        leaf = inp.detach().clone()
        if isf and ref64:
            leaf = leaf.double()
        leaf.requires_grad_(bool(want))
        leaves.append(leaf)
        x = leaf.transpose(-2, -1) if opts.get("t") else leaf
        xs.append(x)
        spec = enc(leaf, f64=True) if (f64 and isf) else enc(inp, exact_f32=True)
        spec["grad"] = bool(want)
        if opts.get("t"):
            spec["t"] = True
        specs.append(spec)
    out = fn(*xs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    weights, loss = [], None
    for o in outs:
        if o.dtype.is_floating_point and o.requires_grad:
            w = R(*o.shape)
            weights.append(enc(w, exact_f32=True))
            term = (o * w.to(o.dtype)).sum()
            loss = term if loss is None else loss + term
        else:
            weights.append(None)
    if loss is not None:
        loss.backward()
    grads = []
    for leaf, spec in zip(leaves, specs):
        if spec["grad"]:
            g = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
            grads.append(enc(g, f64=f64))
        else:
            grads.append(None)
    c = {"name": name, "op": op, "args": args or {}, "inputs": specs,
         "outputs": [enc(o, f64=f64) for o in outs], "weights": weights, "grads": grads}
    if tol:
        c["tol"] = tol
    CASES.append(c)


# ---- matrix products ----
mm = lambda a, b: torch.matmul(a, b)
case("matmul_1d_1d", "matmul", [R(5), R(5)], mm)
case("matmul_2d_1d", "matmul", [R(3, 5), R(5)], mm)
case("matmul_1d_2d", "matmul", [R(5), R(5, 4)], mm)
case("matmul_2d_2d", "matmul", [R(3, 5), R(5, 4)], mm)
case("matmul_3d_3d", "matmul", [R(2, 3, 5), R(2, 5, 4)], mm)
case("matmul_4d_2d_broadcast", "matmul", [R(2, 2, 3, 5), R(5, 4)], mm)
case("matmul_3d_1KN_broadcast", "matmul", [R(2, 3, 5), R(1, 5, 4)], mm)
case("matmul_batch_broadcast_both", "matmul", [R(2, 1, 3, 5), R(3, 5, 4)], mm)
case("matmul_2d_1d_broadcast_3d", "matmul", [R(2, 3, 5), R(5)], mm)
case("matmul_1d_3d", "matmul", [R(5), R(2, 5, 4)], mm)
case("matmul_aT_b", "matmul", [(R(5, 3), {"t": True}), R(5, 4)], mm)
case("matmul_a_bT", "matmul", [R(3, 5), (R(4, 5), {"t": True})], mm)
case("matmul_aT_bT", "matmul", [(R(5, 3), {"t": True}), (R(4, 5), {"t": True})], mm)
case("matmul_3d_bT_qkT", "matmul", [R(2, 3, 5), (R(2, 4, 5), {"t": True})], mm)
case("linear_bias", "linear", [R(3, 4), R(5, 4), R(5)], lambda x, w, b: F.linear(x, w, b))
case("linear_nobias", "linear", [R(3, 4), R(5, 4)], lambda x, w: F.linear(x, w))
case("linear_3d_bias", "linear", [R(2, 3, 4), R(5, 4), R(5)], lambda x, w, b: F.linear(x, w, b))
case("linear_1d_bias", "linear", [R(4), R(5, 4), R(5)], lambda x, w, b: F.linear(x, w, b))

# ---- elementwise binary ----
binops = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
for name, f in binops.items():
    den = NZ if name == "div" else R
    case(name + "_same", name, [R(3, 4), den(3, 4)], f)
    case(name + "_broadcast", name, [R(2, 1, 3), den(4, 3)], f)
    case(name + "_broadcast_rev", name, [R(4, 3), den(2, 1, 3)], f)
    case(name + "_0d", name, [R(3, 4), den()], f)
    case(name + "_strided", name, [(R(4, 3), {"t": True}), den(3, 1)], f)

# ---- scalar forms (args.s is the number) ----
case("add_scalar", "add_scalar", [R(3, 4)], lambda x: x + 2, {"s": 2})
case("radd_scalar", "radd_scalar", [R(3, 4)], lambda x: 2 + x, {"s": 2})
case("sub_scalar", "sub_scalar", [R(3, 4)], lambda x: x - 2, {"s": 2})
case("rsub_scalar", "rsub_scalar", [R(3, 4)], lambda x: 3 - x, {"s": 3})
case("mul_scalar", "mul_scalar", [R(3, 4)], lambda x: x * 0.5, {"s": 0.5})
case("rmul_scalar", "rmul_scalar", [R(3, 4)], lambda x: 0.5 * x, {"s": 0.5})
case("div_scalar", "div_scalar", [R(3, 4)], lambda x: x / 4, {"s": 4})
case("rdiv_scalar", "rdiv_scalar", [NZ(3, 4)], lambda x: 2 / x, {"s": 2})
case("pow_3", "pow", [R(3, 4)], lambda x: x ** 3, {"p": 3})
case("pow_2", "pow", [R(3, 4)], lambda x: x ** 2, {"p": 2})
case("pow_0.5", "pow", [P(3, 4)], lambda x: x ** 0.5, {"p": 0.5})
case("pow_-1.5", "pow", [P(3, 4)], lambda x: x ** -1.5, {"p": -1.5})

# ---- elementwise unary ----
unary = {
    "neg": (torch.neg, R), "exp": (torch.exp, R), "log": (torch.log, P),
    "sqrt": (torch.sqrt, P), "rsqrt": (torch.rsqrt, P), "abs": (torch.abs, NZ),
    "relu": (torch.relu, NZ), "tanh": (torch.tanh, R), "sigmoid": (torch.sigmoid, R),
    "gelu": (lambda x: F.gelu(x), R),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), R),
}
for name, (f, maker) in unary.items():
    x = maker(3, 4)
    if maker is R:
        x = (x * 2).float()
    case(name, name, [x], f)
case("exp_strided", "exp", [(R(4, 3), {"t": True})], torch.exp)
case("gelu_strided", "gelu", [(R(4, 3), {"t": True})], lambda x: F.gelu(x))
case("relu_with_zero_grad_region", "relu", [NZ(4, 5) * 3], torch.relu)

# ---- reductions ----
for red, f in (("sum", torch.sum), ("mean", torch.mean)):
    case(red + "_dim1", red, [R(2, 3, 4)], lambda x, f=f: f(x, 1), {"dims": [1]})
    case(red + "_dim-1_keepdim", red, [R(2, 3, 4)], lambda x, f=f: f(x, -1, keepdim=True),
         {"dims": [-1], "keepdim": True})
    case(red + "_dims02", red, [R(2, 3, 4)], lambda x, f=f: f(x, (0, 2)), {"dims": [0, 2]})
    case(red + "_dims02_keepdim", red, [R(2, 3, 4)], lambda x, f=f: f(x, (0, 2), keepdim=True),
         {"dims": [0, 2], "keepdim": True})
    case(red + "_all", red, [R(2, 3, 4)], lambda x, f=f: f(x), {})
    case(red + "_strided_dim0", red, [(R(4, 3), {"t": True})], lambda x, f=f: f(x, 0), {"dims": [0]})
case("max_dim1", "max", [DISTINCT(3, 5)], lambda x: list(torch.max(x, 1)), {"dim": 1})
case("max_dim0_keepdim", "max", [DISTINCT(3, 5)], lambda x: list(torch.max(x, 0, keepdim=True)),
     {"dim": 0, "keepdim": True})
case("max_3d_dim-1", "max", [DISTINCT(2, 3, 4)], lambda x: list(torch.max(x, -1)), {"dim": -1})
case("max_all", "max", [DISTINCT(3, 4)], lambda x: torch.max(x), {})
case("argmax_dim-1", "argmax", [DISTINCT(3, 5)], lambda x: torch.argmax(x, -1), {"dim": -1},
     grad=[False])
case("argmax_dim0_keepdim", "argmax", [DISTINCT(3, 5)], lambda x: torch.argmax(x, 0, keepdim=True),
     {"dim": 0, "keepdim": True}, grad=[False])
case("argmax_all", "argmax", [DISTINCT(3, 5)], lambda x: torch.argmax(x), {}, grad=[False])
case("sum_to_3x1", "sum_to", [R(2, 3, 4)], lambda x: x.sum_to_size(3, 1), {"shape": [3, 1]})
case("sum_to_1x4", "sum_to", [R(2, 3, 4)], lambda x: x.sum_to_size(1, 4), {"shape": [1, 4]})

# ---- softmax family, layer_norm, dropout ----
for name, f in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
    case(name + "_dim0", name, [R(3, 5, scale=2)], lambda x, f=f: f(x, 0), {"dim": 0})
    case(name + "_dim-1", name, [R(3, 5, scale=2)], lambda x, f=f: f(x, -1), {"dim": -1})
    case(name + "_3d_dim1", name, [R(2, 3, 4, scale=2)], lambda x, f=f: f(x, 1), {"dim": 1})
    case(name + "_strided_dim-1", name, [(R(5, 3, scale=2), {"t": True})], lambda x, f=f: f(x, -1),
         {"dim": -1})
case("layer_norm_affine", "layer_norm", [R(2, 3, 5), R(5), R(5)],
     lambda x, w, b: F.layer_norm(x, (5,), w, b, 1e-5), {"normalized": [5]})
case("layer_norm_plain", "layer_norm", [R(2, 3, 5)],
     lambda x: F.layer_norm(x, (5,), None, None, 1e-5), {"normalized": [5]})
case("layer_norm_2dims_affine", "layer_norm", [R(2, 3, 5), R(3, 5), R(3, 5)],
     lambda x, w, b: F.layer_norm(x, (3, 5), w, b, 1e-5), {"normalized": [3, 5]})
case("dropout_p0_train", "dropout", [R(3, 4)], lambda x: F.dropout(x, 0.0, True),
     {"p": 0.0, "train": True})
case("dropout_eval", "dropout", [R(3, 4)], lambda x: F.dropout(x, 0.5, False),
     {"p": 0.5, "train": False})

# ---- indexing ----
case("embedding_repeated_ids", "embedding", [R(6, 4), IDS([[1, 3, 1], [5, 0, 1]])],
     lambda w, i: F.embedding(i, w))
case("embedding_i32_ids", "embedding", [R(5, 3), IDS([4, 4, 2, 0], torch.int32)],
     lambda w, i: F.embedding(i.long(), w))
case("index_select_dim0", "index_select", [R(4, 3), IDS([2, 0, 2])],
     lambda a, i: torch.index_select(a, 0, i), {"dim": 0})
case("index_select_dim1", "index_select", [R(4, 3), IDS([1, 1, 0, 2])],
     lambda a, i: torch.index_select(a, 1, i), {"dim": 1})
case("index_select_dim-1_3d", "index_select", [R(2, 3, 4), IDS([3, 0])],
     lambda a, i: torch.index_select(a, -1, i), {"dim": -1})
case("masked_fill_broadcast", "masked_fill", [R(2, 3, 4), MASK([[True], [False], [True]])],
     lambda a, m: a.masked_fill(m, -1.5), {"value": -1.5})
case("masked_fill_same_u8", "masked_fill",
     [R(2, 3), MASK([[1, 0, 0], [0, 1, 1]], torch.uint8)],
     lambda a, m: a.masked_fill(m.bool(), 7.0), {"value": 7.0})
case("where_broadcast", "where",
     [MASK([[[True, False, True, False]], [[False, False, True, True]]]), R(3, 4), R(2, 3, 1)],
     lambda c, a, b: torch.where(c, a, b))
case("where_same", "where", [MASK([[True, False, True], [False, True, False]]), R(2, 3), R(2, 3)],
     lambda c, a, b: torch.where(c, a, b))
case("concat_dim1", "concat", [R(2, 3), R(2, 1), R(2, 2)], lambda *ts: torch.cat(ts, 1), {"dim": 1})
case("concat_dim0", "concat", [R(1, 3), R(2, 3)], lambda *ts: torch.cat(ts, 0), {"dim": 0})
case("concat_3d_dim-1", "concat", [R(2, 2, 3), (R(2, 2, 2), {"t": True})],
     lambda *ts: torch.cat(ts, -1), {"dim": -1})
case("split_sizes_dim0", "split", [R(5, 4)], lambda x: list(torch.split(x, [2, 3], 0)),
     {"sizes": [2, 3], "dim": 0})
case("split_equal_dim1", "split", [R(3, 6)], lambda x: list(torch.split(x, 4, 1)),
     {"size": 4, "dim": 1})
case("split_three_dim-1", "split", [R(2, 6)], lambda x: list(torch.split(x, [1, 2, 3], -1)),
     {"sizes": [1, 2, 3], "dim": -1})

# ---- losses ----
tgt = IDS([1, 0, 3, 2, 1])
case("cross_entropy_plain", "cross_entropy", [R(5, 4, scale=2), tgt],
     lambda x, t: F.cross_entropy(x, t), {})
case("cross_entropy_ignore_index", "cross_entropy", [R(5, 4, scale=2), tgt],
     lambda x, t: F.cross_entropy(x, t, ignore_index=2), {"ignore_index": 2})
case("cross_entropy_ignore_default", "cross_entropy", [R(4, 3, scale=2), IDS([2, -100, 0, -100])],
     lambda x, t: F.cross_entropy(x, t), {})
case("cross_entropy_label_smoothing", "cross_entropy", [R(5, 4, scale=2), tgt],
     lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1), {"label_smoothing": 0.1})
case("cross_entropy_ignore_and_smoothing", "cross_entropy", [R(5, 4, scale=2), tgt],
     lambda x, t: F.cross_entropy(x, t, ignore_index=2, label_smoothing=0.1),
     {"ignore_index": 2, "label_smoothing": 0.1})
case("cross_entropy_1d_logits", "cross_entropy", [R(4, scale=2), IDS(3)],
     lambda x, t: F.cross_entropy(x, t), {})
case("cross_entropy_i32_target", "cross_entropy", [R(3, 4, scale=2), IDS([3, 0, 1], torch.int32)],
     lambda x, t: F.cross_entropy(x, t.long()), {})
case("mse_loss", "mse_loss", [R(3, 4), R(3, 4)], lambda a, b: F.mse_loss(a, b))
case("mse_loss_3d", "mse_loss", [R(2, 3, 2), R(2, 3, 2)], lambda a, b: F.mse_loss(a, b))


# ---- attention ----
def attn(scale):
    def f(q, k, v, mask=None):
        d = q.shape[-1]
        s = scale if scale else 1 / math.sqrt(d)
        scores = q @ k.transpose(-2, -1) * s
        if mask is not None:
            scores = scores + mask
        return torch.softmax(scores, -1) @ v
    return f


pad = torch.tensor([[[[0.0, 0.0, -1e9]]], [[[0.0, 0.0, 0.0]]]])  # [B=2,1,1,L=3]
case("attention_mask_default_scale", "attention", [R(2, 2, 3, 4), R(2, 2, 3, 4), R(2, 2, 3, 4), pad],
     attn(None), {}, grad=[True, True, True, False])
case("attention_mask_scale_0.5", "attention", [R(2, 2, 3, 4), R(2, 2, 3, 4), R(2, 2, 3, 4), pad],
     attn(0.5), {"scale": 0.5}, grad=[True, True, True, False])
case("attention_nomask_Lq_ne_Lk", "attention", [R(2, 3, 4), R(2, 5, 4), R(2, 5, 4)], attn(None), {})
pad5 = torch.tensor([[[[0.0, 0.0, 0.0, -1e9, -1e9]]], [[[0.0, -1e9, 0.0, 0.0, 0.0]]]])
case("attention_mask_Lq_ne_Lk", "attention", [R(2, 2, 3, 4), R(2, 2, 5, 4), R(2, 2, 5, 4), pad5],
     attn(None), {}, grad=[True, True, True, False])

# ---- views (args: torch dims) ----
case("reshape_4x-1", "reshape", [R(2, 3, 4)], lambda x: x.reshape(4, -1), {"shape": [4, -1]})
case("reshape_of_transposed", "reshape", [(R(4, 3), {"t": True})], lambda x: x.reshape(-1),
     {"shape": [-1]})
case("view_6x4", "view", [R(2, 3, 4)], lambda x: x.view(6, 4), {"shape": [6, 4]})
case("transpose_0_2", "transpose", [R(2, 3, 4)], lambda x: x.transpose(0, 2), {"d0": 0, "d1": 2})
case("transpose_-1_-2", "transpose", [R(2, 3, 4)], lambda x: x.transpose(-1, -2), {"d0": -1, "d1": -2})
case("t_2d", "t", [R(3, 4)], lambda x: x.t())
case("permute_201", "permute", [R(2, 3, 4)], lambda x: x.permute(2, 0, 1), {"perm": [2, 0, 1]})
case("narrow_dim1", "narrow", [R(4, 5)], lambda x: x.narrow(1, 1, 3), {"dim": 1, "start": 1, "len": 3})
case("narrow_dim0", "narrow", [R(4, 5)], lambda x: x.narrow(0, 2, 2), {"dim": 0, "start": 2, "len": 2})
case("narrow_dim-1_3d", "narrow", [R(2, 3, 4)], lambda x: x.narrow(-1, 0, 2),
     {"dim": -1, "start": 0, "len": 2})
case("expand_3x1_to_2x3x4", "expand", [R(3, 1)], lambda x: x.expand(2, 3, 4), {"shape": [2, 3, 4]})
case("expand_minus1", "expand", [R(3, 1)], lambda x: x.expand(2, -1, 4), {"shape": [2, -1, 4]})
case("squeeze_dim1", "squeeze", [R(3, 1, 4, 1)], lambda x: x.squeeze(1), {"dim": 1})
case("squeeze_all", "squeeze", [R(3, 1, 4, 1)], lambda x: x.squeeze(), {})
case("unsqueeze_0", "unsqueeze", [R(3, 4)], lambda x: x.unsqueeze(0), {"dim": 0})
case("unsqueeze_-1", "unsqueeze", [R(3, 4)], lambda x: x.unsqueeze(-1), {"dim": -1})
case("unsqueeze_1", "unsqueeze", [R(3, 4)], lambda x: x.unsqueeze(1), {"dim": 1})
case("contiguous_of_transposed", "contiguous", [(R(4, 3), {"t": True})], lambda x: x.contiguous())
case("clone", "clone", [R(3, 4)], lambda x: x.clone())
case("view_chain", "view_chain", [R(2, 3, 4)],
     lambda x: x.permute(1, 0, 2).narrow(2, 1, 2).reshape(3, 4).unsqueeze(0).expand(2, 3, 4))

# ---- dtype casts (in their own dtypes, not float64) ----
special = [1 / 3, -2 / 3, 65504.0, 65519.0, 65520.0, -70000.0, 1e-8, 6e-5, 3e-7,
           1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 0.0, -0.0,
           3.14159265, 1e30, 1.2345678, 100.03125]
x16 = torch.cat([torch.tensor(special, dtype=torch.float32), R(12)])
case("cast_f32_f16_f32", "cast", [x16], lambda x: x.to(torch.float16).to(torch.float32),
     {"via": "f16"}, ref64=False, tol={"atol": 0, "rtol": 0})
case("cast_f32_bf16_f32", "cast", [x16], lambda x: x.to(torch.bfloat16).to(torch.float32),
     {"via": "bf16"}, ref64=False, tol={"atol": 0, "rtol": 0})
xi = torch.tensor([2.7, -2.7, 0.5, -0.5, 3.0, -3.99, 0.999, -0.999, 1e6 + 0.5, -123456.75, 0.0,
                   7.9999], dtype=torch.float32)
case("cast_f32_i64_trunc", "to", [xi], lambda x: x.to(torch.int64), {"dtype": "i64"}, ref64=False,
     grad=[False])
case("cast_i64_f32", "to", [IDS([0, -3, 5, 16777217, 123456789])], lambda x: x.to(torch.float32),
     {"dtype": "f32"}, ref64=False, tol={"atol": 0, "rtol": 0})

# ---- in-place (not recorded): a + alpha * b ----
case("add_inplace_alpha", "add_", [R(3, 4), R(3, 4)], lambda a, b: a.detach() + 0.5 * b.detach(),
     {"alpha": 0.5}, grad=[False, False])

# ---- type promotion, comparisons, logic and everyday ops (issue 9) ----
# Mixed dtypes: the output dtype is checked too (f64 references are reported as f32, the dtype hub
# computes in); cases whose dtype depends on f16 are made with ref64=False.
def I(vals, dtype=torch.int64):
    return torch.tensor(vals, dtype=dtype)


def SMALL(*shape):
    """Integers -2..2 as f32: equal values across operands, for comparisons."""
    return torch.randint(-2, 3, shape).float()


ia = I([[3, -7, 0], [5, 2, -1]])
ib = I([2, 3, -4])
case("mul_f32_i64_mask", "mul", [R(2, 3), I([[1, 1, 0], [1, 0, 0]])], torch.mul)
case("add_i64_i64", "add", [ia, ib], torch.add)
case("sub_i32_u8", "sub", [I([[3, -7, 0], [5, 2, -1]], torch.int32), I([2, 3, 4], torch.uint8)], torch.sub)
case("mul_bool_i64", "mul", [MASK([True, False, True]), ib], torch.mul)
case("div_i64_i64_true_division", "div", [ia, ib], torch.div)
case("add_i64_f32_grad", "add", [ib, R(2, 3)], torch.add)
case("add_f16_f32", "add", [R(2, 3).half(), R(2, 3)], torch.add, ref64=False)
# torch rounds the f16 gradient products in f16, hub computes them in f32: 1 f16 ulp apart
case("mul_f16_f16", "mul", [R(2, 3).half(), R(2, 3).half()], torch.mul, ref64=False,
     tol={"atol": 1e-3, "rtol": 1e-3})
case("add_bf16_f16", "add", [R(2, 3).bfloat16(), R(2, 3).half()], torch.add, ref64=False)
case("add_scalar_i64", "add_scalar", [ia], lambda x: x + 1, {"s": 1})
case("add_scalar_i64_float", "add_scalar", [ia], lambda x: x + 0.5, {"s": 0.5})
case("mul_scalar_i64_float", "mul_scalar", [ia], lambda x: x * 0.5, {"s": 0.5})
case("rsub_scalar_i64", "rsub_scalar", [ia], lambda x: 3 - x, {"s": 3})
case("div_scalar_i64", "div_scalar", [ia], lambda x: x / 2, {"s": 2})
case("add_scalar_bool", "add_scalar", [MASK([True, False])], lambda x: x + 1, {"s": 1})
case("add_scalar_u8_wraps", "add_scalar", [I([250, 3], torch.uint8)], lambda x: x + 10, {"s": 10})
case("pow_i64_2", "pow", [ia], lambda x: x ** 2, {"p": 2})
case("add_scalar_f16", "add_scalar", [R(2, 3).half()], lambda x: x + 2, {"s": 2}, ref64=False)

for name in ["eq", "ne", "lt", "le", "gt", "ge"]:
    f = getattr(torch, name)
    case(name + "_broadcast", name, [SMALL(3, 4), SMALL(4)], f, grad=[False, False])
    case(name + "_i64_f32", name, [I([[0, 1, 2], [-1, 2, 5]]), torch.tensor([0.5, 1.0, 2.0])], f,
         grad=[False, False])
    case(name + "_scalar_i64", name, [ia], lambda x, f=f: f(x, 2), {"s": 2})
    case(name + "_scalar_f32", name, [SMALL(2, 3) * 0.5], lambda x, f=f: f(x, 0.5), {"s": 0.5},
         grad=[False])
case("logical_and_bool_i64", "logical_and", [MASK([[True, False, True], [False, False, True]]),
     I([0, 5, -1])], torch.logical_and)
case("logical_or_f32", "logical_or", [SMALL(2, 3), SMALL(3)], torch.logical_or, grad=[False, False])
case("logical_not_f32", "logical_not", [SMALL(2, 3)], torch.logical_not, grad=[False])
case("logical_not_i64", "logical_not", [ia], torch.logical_not)
anyin = MASK([[False, False, True], [False, False, False]])
case("any_all", "any", [anyin], torch.any, {})
case("any_dim1", "any", [anyin], lambda x: torch.any(x, 1), {"dim": 1})
case("any_dim0_keepdim", "any", [anyin], lambda x: torch.any(x, 0, keepdim=True), {"dim": 0, "keepdim": True})
allin = MASK([[True, True, True], [True, False, True]])
case("all_all", "all", [allin], torch.all, {})
case("all_dim1", "all", [allin], lambda x: torch.all(x, 1), {"dim": 1})
case("all_dim-2_f32", "all", [SMALL(3, 4)], lambda x: torch.all(x, -2), {"dim": -2}, grad=[False])
case("where_f32_i64", "where", [MASK([[True, False, True], [False, True, True]]), R(2, 3), I([7, 8, 9])],
     lambda c, a, b: torch.where(c, a, b))
case("where_i64_i64", "where", [MASK([True, False, True]), ia, I([[10], [20]])],
     lambda c, a, b: torch.where(c, a, b))
case("where_scalar_other", "where", [MASK([[True, False, True], [False, True, False]]), R(2, 3)],
     lambda c, a: torch.where(c, a, torch.tensor(0.25)), {"s": 0.25})
case("masked_select_same", "masked_select", [R(2, 3), MASK([[True, False, True], [False, True, True]])],
     torch.masked_select)
case("masked_select_mask_broadcast", "masked_select", [R(2, 3), MASK([False, True, True])],
     torch.masked_select)
case("masked_select_input_broadcast", "masked_select", [R(3), MASK([[True, False, True], [True, True, False]])],
     torch.masked_select)
case("masked_select_i64", "masked_select", [ia, MASK([True, False, True])], torch.masked_select)
case("min_dim1", "min", [DISTINCT(3, 5)], lambda x: list(torch.min(x, 1)), {"dim": 1})
case("min_dim0_keepdim", "min", [DISTINCT(3, 5)], lambda x: list(torch.min(x, 0, keepdim=True)),
     {"dim": 0, "keepdim": True})
case("min_all", "min", [DISTINCT(3, 4)], lambda x: torch.min(x), {})
case("min_i64_dim-1", "min", [ia], lambda x: list(torch.min(x, -1)), {"dim": -1})
case("argmin_dim1", "argmin", [DISTINCT(3, 5)], lambda x: torch.argmin(x, 1), {"dim": 1}, grad=[False])
case("max_i64_dim0", "max", [ia], lambda x: list(torch.max(x, 0)), {"dim": 0})
case("clamp_both", "clamp", [R(3, 4, scale=2)], lambda x: torch.clamp(x, -0.55, 0.85),
     {"lo": -0.55, "hi": 0.85})
case("clamp_min_only", "clamp", [R(3, 4)], lambda x: torch.clamp(x, min=0.05), {"lo": 0.05})
case("clamp_max_only", "clamp", [R(3, 4)], lambda x: torch.clamp(x, max=-0.05), {"hi": -0.05})
case("clamp_i64", "clamp", [ia], lambda x: torch.clamp(x, -2, 3), {"lo": -2, "hi": 3})
case("clamp_i64_float_bound", "clamp", [ia], lambda x: torch.clamp(x, -2.5, 3), {"lo": -2.5, "hi": 3})
halves = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.7, 2.2, 0.0, -3.0, 1.0, 7.49, -0.2])
for name in ["sign", "floor", "ceil", "round"]:
    case(name, name, [halves.reshape(3, 4)], getattr(torch, name))
    case(name + "_i64", name, [ia], getattr(torch, name))
case("abs_i64", "abs", [ia], torch.abs)
case("neg_i64", "neg", [ia], torch.neg)
case("pow_tensor_tensor", "pow_tensor", [P(3, 4), R(3, 4)], torch.pow)
case("pow_tensor_broadcast", "pow_tensor", [P(2, 3), R(3)], torch.pow)
case("pow_tensor_zero_base", "pow_tensor", [torch.tensor([0.0, 0.0, 2.0]), torch.tensor([2.0, 1.5, 3.0])],
     torch.pow)
case("rpow_scalar", "rpow", [R(3, 4)], lambda x: 2 ** x, {"s": 2})
case("rpow_scalar_i64", "rpow", [I([0, 1, 3, 10])], lambda x: 2 ** x, {"s": 2})
case("pow_i64_i64", "pow_tensor", [ia, I([2, 3, 1])], torch.pow)
case("fmod", "fmod", [R(3, 4, scale=3), NZ(3, 4)], torch.fmod)
case("remainder", "remainder", [R(3, 4, scale=3), NZ(3, 4)], torch.remainder)
case("fmod_i64", "fmod", [ia, ib], torch.fmod)
case("remainder_i64", "remainder", [ia, ib], torch.remainder)
case("remainder_scalar", "remainder", [R(3, 4, scale=3)], lambda x: x % 2, {"s": 2})
case("remainder_scalar_i64", "remainder", [ia], lambda x: x % 2, {"s": 2})
case("fmod_scalar", "fmod", [R(3, 4, scale=3)], lambda x: torch.fmod(x, 2), {"s": 2})
for op, f, x, sv in (("add_", lambda x: x + 1, ia, 1), ("sub_", lambda x: x - 2, ia, 2),
                     ("mul_", lambda x: x * 2, ia, 2), ("mul_", lambda x: x * 2.5, R(2, 3), 2.5),
                     ("div_", lambda x: x / 4, R(2, 3), 4), ("add_", lambda x: x + 0.5, R(2, 3), 0.5)):
    case("inplace_%s%s_%s" % (op, sv, DT[x.dtype]), "inplace", [x], lambda x, f=f: f(x.detach()),
         {"op": op, "s": sv}, grad=[False])

# gather / scatter / sort / topk / cumsum / stack (dims are torch's, converted by the Lua test)
gi = I([[0, 2, 2, 1], [3, 0, 1, 1], [2, 2, 0, 3]])
case("gather_dim1", "gather", [R(3, 4), gi], lambda x, i: torch.gather(x, 1, i), {"dim": 1})
case("gather_dim0", "gather", [R(4, 4), gi], lambda x, i: torch.gather(x, 0, i), {"dim": 0})
case("gather_index_smaller", "gather", [R(3, 5), I([[4, 0], [1, 1]])], lambda x, i: torch.gather(x, 1, i),
     {"dim": 1})
case("gather_dim-1_3d_i64", "gather", [I([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]),
     I([[[2, 0], [1, 1]], [[0, 0], [2, 1]]])], lambda x, i: torch.gather(x, -1, i), {"dim": -1})
si = I([[2, 0], [1, 2]])
case("scatter_dim1", "scatter", [R(2, 3), I([[2, 0, 1], [1, 2, 0]]), R(2, 3)],
     lambda a, i, s: a.scatter(1, i, s), {"dim": 1})
case("scatter_dim0_index_shorter", "scatter", [R(3, 2), si, R(2, 2)], lambda a, i, s: a.scatter(0, i, s),
     {"dim": 0})
case("scatter_value", "scatter", [R(2, 3), I([[2], [0]])], lambda a, i: a.scatter(1, i, 0.5),
     {"dim": 1, "value": 0.5})
case("scatter_add_duplicates", "scatter_add", [R(2, 3), I([[0, 0, 2, 0], [1, 1, 1, 2]]), R(2, 4)],
     lambda a, i, s: a.scatter_add(1, i, s), {"dim": 1})
case("scatter_add_dim0", "scatter_add", [R(3, 2), I([[2, 0], [2, 2], [0, 1]]), R(3, 2)],
     lambda a, i, s: a.scatter_add(0, i, s), {"dim": 0})
case("sort_dim-1", "sort", [DISTINCT(3, 5)], lambda x: list(torch.sort(x, -1)), {"dim": -1})
case("sort_dim0_descending", "sort", [DISTINCT(4, 3)], lambda x: list(torch.sort(x, 0, descending=True)),
     {"dim": 0, "descending": True})
case("sort_i64", "sort", [I([[5, -2, 9, 0], [3, 3, 1, 7]])], lambda x: list(torch.sort(x, stable=True, dim=-1)),
     {"dim": -1})
case("argsort_dim1_descending", "argsort", [DISTINCT(3, 4)], lambda x: torch.argsort(x, 1, descending=True),
     {"dim": 1, "descending": True}, grad=[False])
case("topk_3", "topk", [DISTINCT(2, 6)], lambda x: list(torch.topk(x, 3)), {"k": 3})
case("topk_smallest_dim0", "topk", [DISTINCT(5, 3)], lambda x: list(torch.topk(x, 2, 0, largest=False)),
     {"k": 2, "dim": 0, "largest": False})
case("cumsum_dim1", "cumsum", [R(3, 4)], lambda x: torch.cumsum(x, 1), {"dim": 1})
case("cumsum_dim0_3d", "cumsum", [R(3, 2, 2)], lambda x: torch.cumsum(x, 0), {"dim": 0})
case("cumsum_i64", "cumsum", [ia], lambda x: torch.cumsum(x, -1), {"dim": -1})
case("cumsum_bool", "cumsum", [MASK([True, False, True, True])], lambda x: torch.cumsum(x, 0), {"dim": 0})
case("stack_dim0", "stack", [R(2, 3), R(2, 3), R(2, 3)], lambda *ts: torch.stack(ts, 0), {"dim": 0})
case("stack_dim-1", "stack", [R(2, 3), R(2, 3)], lambda *ts: torch.stack(ts, -1), {"dim": -1})
case("stack_dim1", "stack", [R(2, 3), R(2, 3)], lambda *ts: torch.stack(ts, 1), {"dim": 1})

# ---- f64 (CPU): values and gradients in double, compared to 1e-12 ----
T64 = {"atol": 1e-12, "rtol": 1e-12}
case("f64_add_broadcast", "add", [R(2, 1, 3), R(4, 3)], torch.add, f64=True, tol=T64)
case("f64_mul", "mul", [R(3, 4), R(3, 4)], torch.mul, f64=True, tol=T64)
case("f64_div", "div", [R(3, 4), NZ(3, 4)], torch.div, f64=True, tol=T64)
case("f64_mul_scalar", "mul_scalar", [R(3, 4)], lambda x: x * 0.1, {"s": 0.1}, f64=True, tol=T64)
for name in ("exp", "tanh", "sigmoid"):
    case("f64_" + name, name, [R(3, 4)], getattr(torch, name), f64=True, tol=T64)
case("f64_log", "log", [P(3, 4)], torch.log, f64=True, tol=T64)
case("f64_gelu", "gelu", [R(3, 4)], lambda x: F.gelu(x), f64=True, tol=T64)
case("f64_pow_2.5", "pow", [P(3, 4)], lambda x: x ** 2.5, {"p": 2.5}, f64=True, tol=T64)
case("f64_pow_tensor", "pow_tensor", [P(3, 4), R(3, 4)], torch.pow, f64=True, tol=T64)
case("f64_matmul_2d", "matmul", [R(3, 5), R(5, 4)], torch.matmul, f64=True, tol=T64)
case("f64_matmul_batched_bT", "matmul", [R(2, 3, 5), (R(2, 4, 5), {"t": True})], torch.matmul, f64=True, tol=T64)
case("f64_linear", "linear", [R(3, 4), R(5, 4), R(5)], lambda x, w, b: F.linear(x, w, b), f64=True, tol=T64)
case("f64_sum_dim1", "sum", [R(2, 3, 4)], lambda x: torch.sum(x, 1), {"dims": [1]}, f64=True, tol=T64)
case("f64_mean_all", "mean", [R(2, 3, 4)], torch.mean, {}, f64=True, tol=T64)
case("f64_max_dim1", "max", [DISTINCT(3, 5)], lambda x: list(torch.max(x, 1)), {"dim": 1}, f64=True, tol=T64)
case("f64_where", "where", [MASK([[True, False, True], [False, True, True]]), R(2, 3), R(3)],
     lambda c, a, b: torch.where(c, a, b), f64=True, tol=T64)
case("f64_cumsum", "cumsum", [R(3, 4)], lambda x: torch.cumsum(x, 1), {"dim": 1}, f64=True, tol=T64)
case("f64_gather", "gather", [R(3, 4), gi], lambda x, i: torch.gather(x, 1, i), {"dim": 1}, f64=True, tol=T64)
case("f64_clamp", "clamp", [R(3, 4)], lambda x: torch.clamp(x, -0.5, 0.5), {"lo": -0.5, "hi": 0.5}, f64=True, tol=T64)
case("f64_times_f32", "mul", [R(2, 3).double(), R(3)], torch.mul, ref64=False, f64=True, tol=T64)
case("f64_plus_i64", "add", [R(2, 3).double(), ib], torch.add, ref64=False, f64=True, tol=T64)

# ---- the promotion table: torch.result_type on every dtype pair and on Python scalars ----
PDT = [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.uint8, torch.bool, F64]
promotion = {"pairs": [], "scalars": []}
for a in PDT:
    for b in PDT:
        r = torch.result_type(torch.zeros(2, dtype=a), torch.zeros(2, dtype=b))
        promotion["pairs"].append([DT64[a], DT64[b], DT64[r]])
    for sv in (2, -3, 0, 2.5, -0.5):
        r = torch.result_type(torch.zeros(2, dtype=a), sv)
        promotion["scalars"].append([DT64[a], sv, DT64[r]])

# ---- dropout statistics: values are random, the Lua test checks the statistics ----
CASES.append({"name": "dropout_stats_p0.3", "op": "dropout_stats", "args": {"p": 0.3, "n": 20000},
              "inputs": [], "outputs": [], "weights": [], "grads": []})

here = os.path.dirname(os.path.abspath(__file__))
out_path = os.path.join(here, "..", "tests", "fixtures", "ops.json")
os.makedirs(os.path.dirname(out_path), exist_ok=True)
doc = {"version": 1, "generator": "scripts/gen_op_fixtures.py", "torch": torch.__version__,
       "cases": CASES, "promotion": promotion}
with open(out_path, "w") as f:
    json.dump(doc, f, separators=(",", ":"), allow_nan=False)
    f.write("\n")
print("%d cases, %d bytes -> %s" % (len(CASES), os.path.getsize(out_path), os.path.normpath(out_path)))
