"""bench/cuda/cudatime.py: what bench_torch.py and train_torch.py share: time_it(fn, iters) runs fn
twice, then iters times with torch.cuda.synchronize() after each, and returns the median and the
minimum in milliseconds (as bench/lib/bench.lua's time_synced).  DEVICE is "cuda", or what
HUB_BENCH_DEVICE says: "cpu" runs the scripts on the CPU at small sizes, to check them where no GPU
is (their figures then mean nothing)."""
import os
import time

import torch

DEVICE = os.environ.get("HUB_BENCH_DEVICE", "cuda")


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def time_it(fn, iters):
    fn(); fn(); sync()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter(); fn(); sync(); ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    n = len(ts)
    return (ts[n // 2] if n % 2 else (ts[n // 2 - 1] + ts[n // 2]) / 2), ts[0]
