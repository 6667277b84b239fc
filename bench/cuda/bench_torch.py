"""bench/cuda/bench_torch.py: the PyTorch twin of bench_cuda.lua (same GEMM sizes, same
encoder shapes built from the same ops with random weights) on the GPU, for comparison.
Needs torch with CUDA; tests/cuda/device_check.sh skips it otherwise (HUB_BENCH_DEVICE=cpu: on the
CPU, to check the script; cudatime.py)."""
import argparse

import torch
import torch.nn.functional as F
from cudatime import DEVICE, time_it

p = argparse.ArgumentParser()
p.add_argument("--batches", default="1,8")
p.add_argument("--seq", type=int, default=128)
p.add_argument("--iters", type=int, default=20)
p.add_argument("--layers", type=int, default=12)
p.add_argument("--modes", default="f32,tf32,bf16")
p.add_argument("--graph", type=int, default=1)
p.add_argument("--gemm", type=int, default=4096)  # the GEMM size (0: none)
a = p.parse_args()
dev = DEVICE
torch.backends.cuda.matmul.allow_tf32 = False


n = a.gemm
for mode in ["f32", "tf32", "f16", "bf16"] if n > 0 else []:
    dt = {"f32": torch.float32, "tf32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[mode]
    x = torch.randn(n, n, device=dev).to(dt)
    y = torch.randn(n, n, device=dev).to(dt)
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    med, _ = time_it(lambda: torch.matmul(x, y), a.iters)
    print(f"torch_gemm dtype={mode} M={n} N={n} K={n} median_ms={med:.3f} tflops={2 * n ** 3 / med / 1e9:.1f}")
torch.backends.cuda.matmul.allow_tf32 = False

D, H, FF, V, L = 768, 12, 3072, 21128, a.seq
w = lambda *s: torch.randn(*s, device=dev) * 0.02
z = lambda *s: torch.zeros(*s, device=dev)
o = lambda *s: torch.ones(*s, device=dev)
word, pos = w(V, D), w(512, D)
layers = [dict(qkv=w(3 * D, D), qkv_b=z(3 * D), out=w(D, D), out_b=z(D), ln1=o(D), ln1_b=z(D), f1=w(FF, D),
               f1_b=z(FF), f2=w(D, FF), f2_b=z(D), ln2=o(D), ln2_b=z(D)) for _ in range(a.layers)]
ln0, ln0_b, pool, pool_b = o(D), z(D), w(D, D), z(D)
half = None  # bf16 mode: the matrices in bf16 (as bench_cuda.lua), under autocast


def half_layers():
    keys = ("qkv", "out", "f1", "f2")
    return [{k: (t.to(torch.bfloat16) if k in keys else t) for k, t in p.items()} for p in layers], pool.to(torch.bfloat16)


for B in [int(b) for b in a.batches.split(",")]:
    ids = torch.randint(0, V, (B, L), device=dev)
    for mode in a.modes.split(","):
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        if mode == "bf16" and half is None:
            half = half_layers()
        ls, pw = (half if mode == "bf16" else (layers, pool))

        @torch.no_grad()
        def fwd():
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=mode == "bf16"):
                x = F.embedding(ids, word) + pos[:L]
                x = F.layer_norm(x, (D,), ln0, ln0_b, 1e-12)
                for p in ls:
                    qkv = F.linear(x, p["qkv"], p["qkv_b"]).view(B, L, 3, H, D // H).permute(2, 0, 3, 1, 4)
                    ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(B, L, D)
                    x = F.layer_norm(x + F.linear(ctx, p["out"], p["out_b"]), (D,), p["ln1"], p["ln1_b"], 1e-12)
                    f = F.linear(F.gelu(F.linear(x, p["f1"], p["f1_b"])), p["f2"], p["f2_b"])
                    x = F.layer_norm(x + f, (D,), p["ln2"], p["ln2_b"], 1e-12)
                return x, torch.tanh(F.linear(x[:, 0], pw, pool_b))

        med, mn = time_it(fwd, a.iters)
        print(f"torch_encoder mode={mode} batch={B} seq={L} layers={a.layers} median_ms={med:.3f} min_ms={mn:.3f}")
        if a.graph and dev == "cuda":
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    fwd()
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                fwd()
            gmed, gmn = time_it(g.replay, a.iters)
            print(f"torch_encoder_graph mode={mode} batch={B} seq={L} layers={a.layers} median_ms={gmed:.3f} min_ms={gmn:.3f}")
            del g
    torch.backends.cuda.matmul.allow_tf32 = False
