#!/usr/bin/python3
"""PyTorch side of bench/gemm: torch.nn.functional.linear forward at the shapes of gemm.c.

    /usr/bin/python3 bench/gemm/gemm_torch.py [THREADS] [--reps N] [--budget SECONDS] [--label NAME]

For each shape M x N x K (x[M,K], w[N,K], bias[N]) it times F.linear(x, w, bias) under
torch.no_grad() with torch.set_num_threads(THREADS) (THREADS from argv, else HUB_THREADS, else 2)
and prints the median GFLOP/s (2*M*N*K per call).  It also times torch's own oneDNN path,
torch._C._nn.mkldnn_linear on an input and weight already converted to oneDNN's layouts (the
conversions are not timed), when this torch build has it.

Debian's torch links the reference BLAS, where F.linear runs at a few GFLOP/s, so each shape has
a time budget: the first call is the warm-up, and when it takes longer than 0.5 s it counts as a
timed run too (allocation costs nothing beside seconds of arithmetic) and further runs stop at
the budget.  The number of runs behind each median is printed.

Output, one line per shape and path (machine-readable, whitespace-separated):
    torch LABEL PATH M N K GFLOPS RUNS THREADS VERSION
with PATH "linear" (F.linear) or "mkldnn" (mkldnn_linear).
"""
import os
import statistics
import sys
import time

SHAPES = [(1024, 1024, 1024), (4096, 768, 768), (4096, 3072, 768)]


def parse_args(argv):
    threads, reps, budget, label = 0, 10, 6.0, "debian"
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--reps":
            reps = int(argv[i + 1]); i += 1
        elif a == "--budget":
            budget = float(argv[i + 1]); i += 1
        elif a == "--label":
            label = argv[i + 1]; i += 1
        elif a.isdigit():
            threads = int(a)
        else:
            sys.exit("usage: gemm_torch.py [THREADS] [--reps N] [--budget SECONDS] [--label NAME]")
        i += 1
    if threads <= 0:
        env = os.environ.get("HUB_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else 2
    return threads, max(reps, 1), budget, label


def time_calls(fn, reps, budget):
    """Median seconds per call of fn (see the module doc for the warm-up and budget rules)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    if first > 0.5:
        times.append(first)
    else:
        fn()  # a second warm-up call for the fast paths
    start = time.perf_counter() - first
    while len(times) < reps:
        # slow path: stop before a call that would overrun the budget
        if first > 0.5 and times and time.perf_counter() - start + first > budget:
            break
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def main():
    threads, reps, budget, label = parse_args(sys.argv[1:])
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import warnings

    warnings.filterwarnings("ignore", message=".*NumPy.*")  # a venv torch without numpy says so
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    if torch.get_num_threads() != threads:
        sys.exit(f"gemm_torch.py: asked for {threads} threads, torch reports {torch.get_num_threads()}")
    version = torch.__version__.replace(" ", "_")
    has_mkldnn = torch.backends.mkldnn.is_available() and hasattr(torch._C._nn, "mkldnn_linear")
    torch.manual_seed(1234)
    with torch.no_grad():
        for M, N, K in SHAPES:
            x, w, b = torch.randn(M, K), torch.randn(N, K), torch.randn(N)
            flop = 2.0 * M * N * K
            med, n = time_calls(lambda: F.linear(x, w, b), reps, budget)
            print(f"torch {label} linear {M} {N} {K} {flop / med / 1e9:.2f} {n} {threads} {version}", flush=True)
            if has_mkldnn:
                xm, wm = x.to_mkldnn(), w.to_mkldnn()
                ref = F.linear(x[:64], w, b)  # a slice: F.linear may be slow
                got = torch._C._nn.mkldnn_linear(xm, wm, b).to_dense()[:64]
                if not torch.allclose(ref, got, rtol=1e-3, atol=1e-2):
                    sys.exit("gemm_torch.py: mkldnn_linear disagrees with F.linear")
                med, n = time_calls(lambda: torch._C._nn.mkldnn_linear(xm, wm, b), max(reps, 10), budget)
                print(f"torch {label} mkldnn {M} {N} {K} {flop / med / 1e9:.2f} {n} {threads} {version}", flush=True)


if __name__ == "__main__":
    main()
