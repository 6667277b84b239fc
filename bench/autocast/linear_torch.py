#!/usr/bin/env python3
"""bench/autocast/linear_torch.py: the PyTorch side of bench/autocast/linear.lua.

One linear layer F.linear(x, w, b) in f32 and under torch.autocast("cpu", dtype=torch.bfloat16),
at the same BERT-base shapes, median of N calls after 2 warm-ups; with --train 1 the training step
of BERT-base's feed-forward block (x [M, 768] -> Linear 3072 -> GELU -> Linear 768 -> sum of
squares, backward into the weights, biases and x).  Prints the lines linear.lua prints, prefixed
"torch_":

  torch_linear M=.. K=.. N=.. f32_ms=.. bf16_ms=.. speed=..
  torch_ffn_step M=.. f32_ms=.. bf16_ms=.. speed=..

  python linear_torch.py [--threads 2] [--iters 10] [--train 0|1]
"""
import argparse
import time

import torch
import torch.nn.functional as F


def median_ms(fn, iters):
    for _ in range(2):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[(len(ts) - 1) // 2] * 1e3


def in_mode(mode, f):
    if mode == "bf16":
        def g():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                f()
        return g
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--train", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.train:
        for M in (512, 2048):
            r = {}
            for mode in ("f32", "bf16"):
                l1, l2 = torch.nn.Linear(768, 3072), torch.nn.Linear(3072, 768)
                x = torch.randn(M, 768, requires_grad=True)

                def step():
                    y = l2(F.gelu(l1(x)))
                    (y.float() * y.float()).sum().backward()
                    l1.zero_grad(), l2.zero_grad()
                    x.grad = None

                r[mode] = median_ms(in_mode(mode, step), a.iters)
            print("torch_ffn_step M=%d f32_ms=%.2f bf16_ms=%.2f speed=%.2f"
                  % (M, r["f32"], r["bf16"], r["f32"] / r["bf16"]))
        return
    with torch.no_grad():
        for M, K, N in ((128, 768, 3072), (1024, 768, 3072), (4096, 768, 3072), (4096, 3072, 768)):
            x, w, b = torch.randn(M, K), torch.randn(N, K), torch.randn(N)
            r = {m: median_ms(in_mode(m, lambda: F.linear(x, w, b)), a.iters) for m in ("f32", "bf16")}
            print("torch_linear M=%d K=%d N=%d f32_ms=%.2f bf16_ms=%.2f speed=%.2f"
                  % (M, K, N, r["f32"], r["bf16"], r["f32"] / r["bf16"]))


if __name__ == "__main__":
    main()
