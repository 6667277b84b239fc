#!/usr/bin/env bash
# bench/encoder/run.sh - BERT-base encoder inference: hubrun vs PyTorch vs ONNX Runtime.
#
#   bench/encoder/run.sh [BUILD_DIR] [--threads T] [--batches "1 8"] [--seq L] [--repeat R]
#       [--iters N] [--clock wall|cpu] [--torch "openblas debian"] [--budget S] [--no-jit]
#
# Runs, with the same thread count (default HUB_THREADS or 2; OMP_NUM_THREADS too) for each batch:
#   hub      encoder.lua under BUILD_DIR/hubrun (default build/), the LuaJIT JIT off (--jit off)
#            and on (--jit on; --no-jit skips that run); the first run of each batch also
#            times raw dnnl_sgemm at the model's four linear shapes (--sgemm)
#   torch    encoder_ref.py --what torch on Debian's torch 1.13 (/usr/bin/python3):
#              openblas  with OpenBLAS as its libblas.so.3 (LD_LIBRARY_PATH to an unpacked
#                        libopenblas0-openmp: bench/.openblas or $OPENBLAS_DIR, as bench/train_step)
#              debian    as installed (the netlib reference BLAS, single-threaded: ~15 s a forward at
#                        batch 1, ~2 min at batch 8; limited by --budget seconds, default 120, and
#                        run once whatever --repeat says)
#   ort      encoder_ref.py --what ort on build/pyvenv-ort/bin/python (PyPI onnxruntime in a venv
#            with --system-site-packages, made here when missing); the model exported from torch
#            1.13 to build/bench/encoder.onnx (opset 14) on first use
# --repeat R (default 3) interleaves the programs R times; the table gives the median of the run
# medians and their range.  --clock cpu times every program by its process CPU time divided by T
# (OMP_WAIT_POLICY=passive is exported and ORT's spinning turned off): on a machine busy with
# other work it measures the programs, not the load.  Prints one table:
#   batch, hub ms (JIT off), hub ms (JIT on), torch ms (each), ORT ms, ORT/hub, torch/hub,
#   hub GFLOP/s, % of the sgemm GFLOP/s at the model's linear shapes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build
threads=${HUB_THREADS:-2}
batches="1 8"
seq=128
repeat=3
iters=10
clock=wall
torches="openblas debian"
budget=120
jit=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --clock) clock=$2; shift 2 ;;
    --torch) torches=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --no-jit) jit=0; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export HUB_THREADS=$threads OMP_NUM_THREADS=$threads
[ "$clock" = cpu ] && export OMP_WAIT_POLICY=passive

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hubrun="$build/hubrun"
. "$root/bench/lib/common.sh"
bench_build "$build" hubrun "$tmp/build.log" || exit 1

# ---- ONNX Runtime venv ----
venv="$root/build/pyvenv-ort"
ort_ok=0
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import onnxruntime' 2>/dev/null; then
  echo "(making $venv: python3 -m venv --system-site-packages + pip install onnxruntime)"
  { /usr/bin/python3 -m venv --system-site-packages "$venv" && "$venv/bin/pip" install -q onnxruntime; } >"$tmp/venv.log" 2>&1 ||
    { tail -3 "$tmp/venv.log"; echo "(onnxruntime unavailable: ort skipped)"; }
fi
"$venv/bin/python" -c 'import onnxruntime, torch' 2>/dev/null && ort_ok=1

# ---- torches ----
declare -A tcmd
bench_torches "$root" "$torches" || exit 2

bench_header "bench/encoder: BERT-base encoder inference (12 layers, 768 hidden, 12 heads, FFN 3072), seq $seq, f32, clock $clock"

res="$tmp/results.txt"
: >"$res"
run_one() { # NAME BATCH CMD...
  local name=$1 batch=$2; shift 2
  if ! "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"; then
    echo "run.sh: $name batch $batch failed:" >&2; tail -5 "$tmp/err.txt" >&2; return 0
  fi
  grep -E '^(result|sgemm) ' "$tmp/out.txt" | sed "s/^/$name /" >>"$res"
  grep -E '^# (hub|ort|openblas|debian|exported) ' "$tmp/out.txt" | head -1 | sed 's/^# /   /; s/, batch.*//' >>"$tmp/versions.txt"
}

common=(--seq "$seq" --threads "$threads" --iters "$iters" --clock "$clock")
for b in $batches; do
  for r in $(seq 1 "$repeat"); do
    sg=(); [ "$r" = 1 ] && sg=(--sgemm)
    run_one hub "$b" "$hubrun" "$here/encoder.lua" --batch "$b" --jit off "${common[@]}" "${sg[@]}"
    [ "$jit" = 1 ] && run_one hubjit "$b" "$hubrun" "$here/encoder.lua" --batch "$b" --jit on "${common[@]}"
    [ "$ort_ok" = 1 ] && run_one ort "$b" "$venv/bin/python" "$here/encoder_ref.py" --what ort --batch "$b" "${common[@]}"
    for t in $avail; do
      if [ "$t" = debian ]; then
        [ "$r" = 1 ] || continue
        # shellcheck disable=SC2086
        run_one "$t" "$b" ${tcmd[$t]} "$here/encoder_ref.py" --what torch --label "$t" --batch "$b" "${common[@]}" --budget "$budget"
      else
        # shellcheck disable=SC2086
        run_one "$t" "$b" ${tcmd[$t]} "$here/encoder_ref.py" --what torch --label "$t" --batch "$b" "${common[@]}"
      fi
    done
  done
done
echo "   load average at end:   $(cut -d' ' -f1-3 /proc/loadavg)"
sort -u "$tmp/versions.txt" 2>/dev/null || true
echo

awk -v tlist="$avail" -v clock="$clock" '
  function kv(line, key) { if (match(line, " " key "=[^ ]*")) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2); return "" }
  function med(list,   a, n, i, j, t) { n = split(list, a, ","); for (i = 1; i <= n; i++) a[i] += 0
                                       for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                                       if (n % 2 == 1) return a[(n + 1) / 2]; return (a[n / 2] + a[n / 2 + 1]) / 2 }
  function lo(list,   a, n, i, m) { n = split(list, a, ","); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
  function hi(list,   a, n, i, m) { n = split(list, a, ","); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
  function add(arr, k, v) { if (k in arr) arr[k] = arr[k] "," v; else arr[k] = v }
  {
    name = $1; b = kv($0, "batch")
    if (!(b in seen)) { seen[b] = 1; bs[++nb] = b }
    if ($2 == "result") { add(ms, name SUBSEP b, kv($0, "median_ms")); if (name == "hub") gflop[b] = kv($0, "gflop") }
    if ($2 == "sgemm") { sg[b] = kv($0, "gflops"); floor[b] = kv($0, "floor_ms") }
  }
  function cell(k) { if (!(k in ms)) return "-"; if (lo(ms[k]) == hi(ms[k])) return sprintf("%.1f", med(ms[k]))
                     return sprintf("%.1f (%.0f-%.0f)", med(ms[k]), lo(ms[k]), hi(ms[k])) }
  function ratio(k1, k2) { if (!(k1 in ms) || !(k2 in ms)) return "-"; return sprintf("%.2f", med(ms[k1]) / med(ms[k2])) }
  END {
    nt = split(tlist, tn, " ")
    printf "%-5s %-20s %-20s", "batch", "hub ms (JIT off)", "hub ms (JIT on)"
    for (j = 1; j <= nt; j++) printf " %-22s", "torch " tn[j] " ms"
    printf " %-20s %7s", "ORT ms", "ORT/hub"
    for (j = 1; j <= nt; j++) printf " %9s", tn[j] "/hub"
    printf " %9s %9s %8s %10s\n", "hub GF/s", "sgemm GF/s", "% sgemm", "GEMM floor"
    for (i = 1; i <= nb; i++) {
      b = bs[i]; hk = "hub" SUBSEP b
      printf "%-5s %-20s %-20s", b, cell(hk), cell("hubjit" SUBSEP b)
      for (j = 1; j <= nt; j++) printf " %-22s", cell(tn[j] SUBSEP b)
      printf " %-20s %7s", cell("ort" SUBSEP b), ratio("ort" SUBSEP b, hk)
      for (j = 1; j <= nt; j++) printf " %9s", ratio(tn[j] SUBSEP b, hk)
      gf = (hk in ms) ? gflop[b] / med(ms[hk]) * 1e3 : 0
      printf " %9.1f %9s %8s %10s\n", gf, (b in sg) ? sg[b] : "-", (b in sg) ? sprintf("%.0f%%", 100 * gf / sg[b]) : "-",
        (b in floor) ? floor[b] " ms" : "-"
    }
    print ""
    print "ms: " clock " ms per forward (batch x seq tokens), median over the timed forwards, then median (min-max) over the runs"
    print "X/hub > 1: hub is faster than X.  hub GF/s: the model GFLOP (GEMMs incl. attention) / hub ms (JIT off)"
    print "sgemm GF/s: raw dnnl_sgemm over the four linear shapes [B*seq, K] x [N, K]^T (total flops / total time), same threads"
    print "GEMM floor: the 48 encoder linears at that sgemm speed"
    print "debian torch = netlib reference BLAS (single-threaded GEMMs), one run; with --clock cpu its CPU time is still divided by T"
  }' "$res"
