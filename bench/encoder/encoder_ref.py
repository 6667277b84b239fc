#!/usr/bin/env python3
"""bench/encoder/encoder_ref.py - the BERT-base encoder of encoder.lua in PyTorch and ONNX Runtime.

  /usr/bin/python3 bench/encoder/encoder_ref.py --what torch [--batch B] [--seq L] [--threads T]
      [--iters N] [--warmup W] [--clock wall|cpu] [--impl bert|nn] [--budget S] [--label NAME]
  build/pyvenv-ort/bin/python bench/encoder/encoder_ref.py --what ort [--onnx PATH] [...same...]

The model is encoder.lua's: embeddings (word 21128, position 512, token type 2, 768 wide) summed
and LayerNorm'd, 12 post-LN BERT layers (768 hidden, 12 heads, FFN 3072, exact GELU, LayerNorm eps
1e-12), and the pooler tanh(Linear(768, 768)) of token 0; weights N(0, 0.02), biases zero,
LayerNorm one/zero, from torch.manual_seed(seed); eval mode, torch.no_grad, an all-ones
attention_mask (a graph input, turned into BERT's additive (m - 1) * 1e4 mask), zero token types.

--impl bert (default) is a hand-written Hugging Face-style BERT (separate query/key/value Linears,
matmul-softmax-matmul attention): the graph ONNX Runtime's optimisers know.  --impl nn uses
torch.nn.TransformerEncoderLayer(batch_first=True, activation="gelu") (its own fused fast path
in eval mode under no_grad when the mask is None); torch timing only.

--what torch: torch.set_num_threads(T), W warm-up forwards (default 2), N timed (default 10).
  --budget S (seconds): when one forward is slow (Debian's torch on the reference BLAS: ~20 s at
  batch 1) the number of timed forwards is cut to what fits in S seconds (at least 1) and the
  warm-up to one forward.
--what ort: exports the bert model with torch.onnx.export (opset 14; batch and sequence dynamic)
  to --onnx (default build/bench/encoder.onnx; reused when it exists and --reexport is not
  given), then times an onnxruntime.InferenceSession with intra_op_num_threads = T,
  inter_op_num_threads = 1, ORT_SEQUENTIAL and ORT_ENABLE_ALL graph optimisations.

--clock wall (default) times with time.perf_counter; --clock cpu with the process CPU time divided
by T (with ORT, spinning is then turned off: session.intra_op.allow_spinning = 0; give torch
OMP_WAIT_POLICY=passive).  Both are printed; median_ms is the chosen one.

Output: one machine-readable line, then '#' lines:
  result impl=torch|ort batch=B seq=L median_ms=.. min_ms=.. max_ms=.. wall_ms=.. cpu_ms=.. iters=N threads=T
"""
import math
import os
import statistics
import sys
import time

HIDDEN, HEADS, FFN, VOCAB, MAX_POS, TYPES, EPS = 768, 12, 3072, 21128, 512, 2, 1e-12


def parse():
    o = dict(what="torch", batch=1, seq=128, threads=int(os.environ.get("HUB_THREADS", "2") or 2), iters=10,
             warmup=2, clock="wall", impl="bert", budget=0.0, label="", layers=12, seed=1234,
             onnx=None, reexport=False)
    conv = {"--what": ("what", str), "--batch": ("batch", int), "--seq": ("seq", int), "--threads": ("threads", int),
            "--iters": ("iters", int), "--warmup": ("warmup", int), "--clock": ("clock", str), "--impl": ("impl", str),
            "--budget": ("budget", float), "--label": ("label", str), "--layers": ("layers", int),
            "--seed": ("seed", int), "--onnx": ("onnx", str)}
    a = sys.argv[1:]
    i = 0
    while i < len(a):
        if a[i] in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if a[i] == "--reexport":
            o["reexport"] = True
            i += 1
            continue
        if a[i] not in conv or i + 1 >= len(a):
            sys.exit("encoder_ref.py: bad option %s" % a[i])
        k, f = conv[a[i]]
        o[k] = f(a[i + 1])
        i += 2
    if o["what"] not in ("torch", "ort") or o["clock"] not in ("wall", "cpu") or o["impl"] not in ("bert", "nn"):
        sys.exit("encoder_ref.py: --what torch|ort, --clock wall|cpu, --impl bert|nn")
    return o


def build_model(torch, o):
    nn = torch.nn
    F = torch.nn.functional

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.query = nn.Linear(HIDDEN, HIDDEN)
            self.key = nn.Linear(HIDDEN, HIDDEN)
            self.value = nn.Linear(HIDDEN, HIDDEN)
            self.out = nn.Linear(HIDDEN, HIDDEN)
            self.norm1 = nn.LayerNorm(HIDDEN, eps=EPS)
            self.linear1 = nn.Linear(HIDDEN, FFN)
            self.linear2 = nn.Linear(FFN, HIDDEN)
            self.norm2 = nn.LayerNorm(HIDDEN, eps=EPS)

        def forward(self, x, add_mask):
            B, L, D = x.shape
            Dh = D // HEADS

            def heads(t):
                return t.view(B, L, HEADS, Dh).permute(0, 2, 1, 3)

            q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(Dh) + add_mask
            ctx = torch.matmul(F.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(B, L, D)
            x = self.norm1(x + self.out(ctx))
            return self.norm2(x + self.linear2(F.gelu(self.linear1(x))))

    class Bert(nn.Module):
        def __init__(self, impl):
            super().__init__()
            self.impl = impl
            self.word = nn.Embedding(VOCAB, HIDDEN)
            self.position = nn.Embedding(MAX_POS, HIDDEN)
            self.token_type = nn.Embedding(TYPES, HIDDEN)
            self.emb_norm = nn.LayerNorm(HIDDEN, eps=EPS)
            if impl == "bert":
                self.layers = nn.ModuleList([Layer() for _ in range(o["layers"])])
            else:
                self.layers = nn.ModuleList([nn.TransformerEncoderLayer(HIDDEN, HEADS, FFN, dropout=0.1, activation="gelu",
                                                                        layer_norm_eps=EPS, batch_first=True)
                                             for _ in range(o["layers"])])
            self.pooler = nn.Linear(HIDDEN, HIDDEN)

        def forward(self, ids, token_types, attention_mask):
            L = ids.shape[1]
            pos = torch.arange(L, device=ids.device).unsqueeze(0)
            x = self.emb_norm(self.word(ids) + self.position(pos) + self.token_type(token_types))
            if self.impl == "bert":
                add_mask = ((attention_mask.to(torch.float32) - 1.0) * 1e4)[:, None, None, :]
                for layer in self.layers:
                    x = layer(x, add_mask)
            else:
                for layer in self.layers:  # the all-ones mask pads nothing: None keeps the fast path
                    x = layer(x)
            return x, torch.tanh(self.pooler(x[:, 0]))

    torch.manual_seed(o["seed"])
    m = Bert(o["impl"])
    for mod in m.modules():
        if isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, std=0.02)
            nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.Embedding):
            nn.init.normal_(mod.weight, std=0.02)
        elif isinstance(mod, nn.LayerNorm):
            nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.MultiheadAttention):
            nn.init.normal_(mod.in_proj_weight, std=0.02)
            nn.init.zeros_(mod.in_proj_bias)
    m.eval()
    return m


def inputs(torch, o):
    g = torch.Generator().manual_seed(o["seed"])
    ids = torch.randint(0, VOCAB, (o["batch"], o["seq"]), generator=g)
    return ids, torch.zeros_like(ids), torch.ones_like(ids)


def timed(fn, o, first_ms=None):
    T = o["threads"]
    wall, cpu = [], []
    iters = o["iters"]
    for _ in range(o["warmup"]):
        t0 = time.perf_counter()
        fn()
        first_ms = (time.perf_counter() - t0) * 1e3
    if o["budget"] > 0 and first_ms is not None:
        iters = max(1, min(iters, int(o["budget"] * 1e3 / max(first_ms, 1e-3))))
    for _ in range(iters):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3 / T)
    return wall, cpu


def report(name, o, wall, cpu, extra=""):
    ts = cpu if o["clock"] == "cpu" else wall
    print("result impl=%s batch=%d seq=%d median_ms=%.2f min_ms=%.2f max_ms=%.2f wall_ms=%.2f cpu_ms=%.2f iters=%d threads=%d clock=%s%s"
          % (name, o["batch"], o["seq"], statistics.median(ts), min(ts), max(ts), statistics.median(wall),
             statistics.median(cpu), len(ts), o["threads"], o["clock"], extra))
    sys.stdout.flush()


def main():
    o = parse()
    import torch
    torch.set_num_threads(o["threads"])
    ids, tt, am = inputs(torch, o)
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

    if o["what"] == "torch":
        m = build_model(torch, o)
        label = o["label"] or "torch"
        print("# %s %s (%s), impl %s, batch %d, seq %d, %d threads, clock %s" % (
            label, torch.__version__, os.path.dirname(torch.__file__), o["impl"], o["batch"], o["seq"], o["threads"], o["clock"]))
        sys.stdout.flush()

        def fwd():
            with torch.no_grad():
                return m(ids, tt, am)

        # a budgeted run: time the first (warm-up) call to size the rest
        if o["budget"] > 0:
            c0, t0 = time.process_time(), time.perf_counter()
            out = fwd()
            first = (time.perf_counter() - t0) * 1e3
            first_cpu = (time.process_time() - c0) * 1e3 / o["threads"]
            if first > o["budget"] * 1e3 / 2:  # too slow for more: the first call is the measurement
                wall, cpu = [first], [first_cpu]
                print("# one call only (%.1f s > budget/2); note: cpu_ms is CPU time / %d threads, and this torch may run"
                      " single-threaded" % (first / 1e3, o["threads"]))
            else:
                o["warmup"] = max(0, o["warmup"] - 1) if first < 2e3 else 0
                wall, cpu = timed(fwd, o, first)
        else:
            wall, cpu = timed(fwd, o)
        out = fwd()
        report(label, o, wall, cpu, " label=%s" % label)
        print("# checksum: sequence output mean %.6f, pooled[0][0:3] %s" % (
            out[0].mean().item(), " ".join("%.5f" % v for v in out[1][0, :3].tolist())))
        return

    import numpy as np
    import onnxruntime as ort
    path = o["onnx"] or os.path.join(root, "build", "bench", "encoder.onnx")
    if o["reexport"] or not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ob = dict(o, impl="bert")
        m = build_model(torch, ob)
        t0 = time.perf_counter()
        tmp = path + ".tmp"
        with torch.no_grad():
            torch.onnx.export(m, (ids, tt, am), tmp, opset_version=14,
                              input_names=["input_ids", "token_type_ids", "attention_mask"],
                              output_names=["sequence_output", "pooled_output"],
                              dynamic_axes={n: {0: "batch", 1: "seq"} for n in ("input_ids", "token_type_ids", "attention_mask")})
        os.replace(tmp, path)
        print("# exported %s in %.1f s (torch %s, opset 14)" % (path, time.perf_counter() - t0, torch.__version__))
        del m
    so = ort.SessionOptions()
    so.intra_op_num_threads = o["threads"]
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if o["clock"] == "cpu":
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {"input_ids": ids.numpy().astype(np.int64), "token_type_ids": tt.numpy().astype(np.int64),
            "attention_mask": am.numpy().astype(np.int64)}
    print("# ort %s (%s), batch %d, seq %d, %d threads, clock %s" % (
        ort.__version__, os.path.dirname(ort.__file__), o["batch"], o["seq"], o["threads"], o["clock"]))
    sys.stdout.flush()
    out = None

    def fwd():
        nonlocal out
        out = sess.run(None, feed)

    wall, cpu = timed(fwd, o)
    report("ort", o, wall, cpu, " label=ort")
    print("# checksum: sequence output mean %.6f, pooled[0][0:3] %s" % (
        float(out[0].mean()), " ".join("%.5f" % v for v in out[1][0, :3].tolist())))


if __name__ == "__main__":
    main()
