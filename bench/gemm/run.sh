#!/usr/bin/env bash
# bench/gemm/run.sh - hub_linear vs dnnl_sgemm vs PyTorch, one combined table.
#
#   bench/gemm/run.sh [BUILD_DIR] [--threads T] [--memory N]
#
# BUILD_DIR defaults to build/ (configured and built here if bench_gemm is missing or stale).
# Threads: --threads, else HUB_THREADS, else 2; the same count goes to bench_gemm
# (hub_set_num_threads), to torch (torch.set_num_threads) and to OMP_NUM_THREADS for both.
# Torch is Debian's /usr/bin/python3 (python3-torch); set TORCH_PYTHON=/path/to/venv/bin/python
# (default: bench/.venv/bin/python when it exists) to add a second torch (e.g. a PyPI wheel) as
# pypi_* columns; it is skipped when that python has no torch.
# --memory N also runs the forward+backward memory-flatness loop for N iterations.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build
threads=${HUB_THREADS:-2}
memory=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export HUB_THREADS=$threads OMP_NUM_THREADS=$threads

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$root/bench/lib/common.sh"
bench_build "$build" bench_gemm "$tmp/build.log" || exit 1
bin="$build/bench/bench_gemm"

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > 0.5 * n) }'; then
  echo "(warning: load average $load on $(nproc) cores: other work is running, timings will be noisy)"
fi
echo "== bench/gemm: linear forward, f32, $threads thread(s), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
"$bin" "$threads" --raw >"$tmp/hub.txt"

torch_ok=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 "$here/gemm_torch.py" "$threads" --label debian >"$tmp/torch.txt" && torch_ok=1
else
  echo "(no torch for /usr/bin/python3: install python3-torch; torch columns left empty)"
fi
if [ -z "${TORCH_PYTHON:-}" ] && [ -x "$root/bench/.venv/bin/python" ]; then
  TORCH_PYTHON=$root/bench/.venv/bin/python   # a venv with a PyPI torch, when someone made one
fi
if [ -n "${TORCH_PYTHON:-}" ]; then
  if "$TORCH_PYTHON" -c 'import torch' 2>/dev/null; then
    "$TORCH_PYTHON" "$here/gemm_torch.py" "$threads" --label pypi >>"$tmp/torch.txt" && torch_ok=1
  else
    echo "(TORCH_PYTHON=$TORCH_PYTHON has no torch: skipped)"
  fi
fi
[ "$torch_ok" = 1 ] || : >"$tmp/torch.txt"

# Combined table.  hub = hub_linear with bias; sgemm = dnnl_sgemm without bias; torch = F.linear
# with bias; torch_dnnl = torch's mkldnn_linear on pre-converted oneDNN tensors.
awk -v threads="$threads" '
  FNR == NR { if ($1 == "gemm") { k = $2 "x" $3 "x" $4; order[++n] = k; hub[k] = $5; hubnb[k] = $6; sg[k] = $7; sgb[k] = $8; pair[k] = $10 } next }
  $1 == "torch" { k = $4 "x" $5 "x" $6; col = ($2 == "debian" ? "" : $2 "_") ($3 == "linear" ? "torch" : "torch_dnnl");
                  v[col, k] = $7; runs[col, k] = $8; if (!(col in seen)) { seen[col] = 1; cols[++nc] = col; ver[col] = $10 } }
  function r(a, b) { return (a != "" && b != "" && b > 0) ? sprintf("%.3f", a / b) : "-" }
  END {
    hdr = sprintf("%-16s %8s %8s", "M x N x K", "hub", "sgemm")
    for (c = 1; c <= nc; c++) hdr = hdr sprintf(" %10s", cols[c])
    hdr = hdr sprintf(" %10s %7s", "hub/sgemm", "paired")
    for (c = 1; c <= nc; c++) hdr = hdr sprintf(" %16s", "hub/" cols[c])
    print "GFLOP/s (2*M*N*K per call, median); ratios > 1 mean hub is faster"
    print hdr
    ok = 1
    for (i = 1; i <= n; i++) {
      k = order[i]
      line = sprintf("%-16s %8.1f %8.1f", k, hub[k], sg[k])
      for (c = 1; c <= nc; c++) line = line sprintf(" %10s", ((cols[c], k) in v) ? sprintf("%.1f", v[cols[c], k]) : "-")
      line = line sprintf(" %10s %7s", r(hub[k], sg[k]), pair[k])
      for (c = 1; c <= nc; c++) line = line sprintf(" %16s", r(hub[k], v[cols[c], k]))
      print line
      if (hub[k] < 0.9 * sg[k]) ok = 0
    }
    print ""
    print "hub        hub_linear(x[M,K], w[N,K], bias[N]), grad mode off, result released each call"
    print "sgemm      dnnl_sgemm(N,T) without bias (the strict reference; hub includes its bias)"
    print "paired     median over rounds of t(sgemm)/t(hub), both run back to back each round (steadier under changing load)"
    for (i = 1; i <= n; i++) { k = order[i]; extra = extra sprintf("  %s: hub without bias %.1f, sgemm + C bias loop %.1f\n", k, hubnb[k], sgb[k]) }
    printf "%s", extra
    for (c = 1; c <= nc; c++) {
      what = (cols[c] ~ /torch_dnnl$/) ? "torch._C._nn.mkldnn_linear on oneDNN-layout input/weight (conversion untimed)" : "torch.nn.functional.linear under no_grad"
      runs_s = ""; for (i = 1; i <= n; i++) runs_s = runs_s (i > 1 ? "," : "") runs[cols[c], order[i]]
      printf "%-10s %s, torch %s, runs per shape %s\n", cols[c], what, ver[cols[c]], runs_s
    }
    printf "\ntarget hub >= 0.90 x sgemm at every shape: %s\n", ok ? "met" : "NOT met"
  }' "$tmp/hub.txt" "$tmp/torch.txt"

if [ "$memory" -gt 0 ]; then
  echo
  "$bin" "$threads" --memory "$memory"
fi
