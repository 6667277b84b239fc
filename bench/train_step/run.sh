#!/usr/bin/env bash
# bench/train_step/run.sh - BERT-style training step and inference forward, hubrun vs PyTorch.
#
#   bench/train_step/run.sh [BUILD_DIR] [--threads T] [--sizes "small large"] [--repeat R]
#       [--steps N] [--warmup W] [--large-steps N] [--large-warmup W] [--torch "debian openblas pypi"]
#       [--slow-budget S] [--mem-steps N] [--clock wall|cpu] [--fetch-openblas]
#
# Runs train_step.lua (build/hubrun) and train_step_torch.py with the same thread count (default
# HUB_THREADS or 2; OMP_NUM_THREADS is set to it too) at each size, then prints one table: size,
# mode, hub ms, torch ms, torch/hub speed-up, hub peak RSS, torch peak RSS, one row per torch.
# Torches (each skipped when missing):
#   debian    Debian's python3-torch 1.13 as installed (/usr/bin/python3; on Debian it links the
#             netlib reference BLAS, ~1 GFLOP/s: steps are limited by --slow-budget seconds per
#             mode, default 150, and a large step takes ~15-25 minutes)
#   openblas  the same torch with OpenBLAS as its libblas.so.3 (LD_LIBRARY_PATH to an unpacked, not
#             installed, libopenblas0-openmp: bench/.openblas or $OPENBLAS_DIR; --fetch-openblas
#             makes bench/.openblas with apt-get download + dpkg-deb -x)
#   pypi      a PyPI torch in bench/.venv (python3 -m venv bench/.venv && bench/.venv/bin/pip
#             install torch) or $TORCH_PYTHON
# Defaults: small 3 warm-up + 10 timed steps, large 3 warm-up + 5 timed steps (per mode, per
# program).  --repeat R runs every program R times, interleaved (hub, torches, hub, ...); the table
# then gives the median of the R per-run medians and their range.  --mem-steps N also runs N
# training steps at the small size in hub and in the fast torches and prints RSS at step 100 and
# at the end.  --clock cpu fills the table with process CPU time per step divided by the thread
# count instead of wall time (for a busy machine: time spent descheduled does not count; set
# OMP_WAIT_POLICY=passive too, or threads spinning at barriers count as working).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build
threads=${HUB_THREADS:-2}
sizes="small large"
repeat=1
steps=10; warmup=3; lsteps=5; lwarmup=3
torches="debian openblas pypi"
slow_budget=150
mem_steps=0
fetch=0
clock=wall
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --large-steps) lsteps=$2; shift 2 ;;
    --large-warmup) lwarmup=$2; shift 2 ;;
    --torch) torches=$2; shift 2 ;;
    --slow-budget) slow_budget=$2; shift 2 ;;
    --mem-steps) mem_steps=$2; shift 2 ;;
    --fetch-openblas) fetch=1; shift ;;
    --clock) clock=$2; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export HUB_THREADS=$threads OMP_NUM_THREADS=$threads

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hubrun="$build/hubrun"
. "$root/bench/lib/common.sh"
bench_build "$build" hubrun "$tmp/build.log" || exit 1

# ---- the torches ----
obdir=${OPENBLAS_DIR:-$root/bench/.openblas/usr/lib/x86_64-linux-gnu/openblas-openmp}
if [ "$fetch" = 1 ] && [ ! -f "$obdir/libblas.so.3" ]; then
  mkdir -p "$root/bench/.openblas"
  (cd "$tmp" && apt-get download libopenblas0-openmp >/dev/null 2>&1 && dpkg-deb -x libopenblas0-openmp_*.deb "$root/bench/.openblas") ||
    echo "(--fetch-openblas: apt-get download libopenblas0-openmp failed)"
fi
declare -A tcmd
bench_torches "$root" "$torches" || exit 2

bench_header "bench/train_step: BERT-style classifier, f32"

res="$tmp/results.txt"
: >"$res"
run_one() { # NAME SIZE CMD...
  local name=$1 size=$2; shift 2
  local la0 la1
  la0=$(cut -d' ' -f1 /proc/loadavg)
  if ! "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"; then
    echo "run.sh: $name $size failed:" >&2; tail -5 "$tmp/err.txt" >&2
    return 0
  fi
  la1=$(cut -d' ' -f1 /proc/loadavg)
  grep -E '^(result|memory|memsteps) ' "$tmp/out.txt" | sed "s/^/$name /; s/\$/ load=$la0-$la1/" >>"$res"
  grep -E '^# (hub|torch) ' "$tmp/out.txt" | head -1 | sed 's/^# /   /' >>"$tmp/versions.txt"
}

for size in $sizes; do
  if [ "$size" = large ]; then s=$lsteps; w=$lwarmup; else s=$steps; w=$warmup; fi
  for r in $(seq 1 "$repeat"); do
    run_one hub "$size" "$hubrun" "$here/train_step.lua" --size "$size" --steps "$s" --warmup "$w" --threads "$threads"
    for t in $avail; do
      budget=0; [ "$t" = debian ] && budget=$slow_budget
      # shellcheck disable=SC2086
      run_one "$t" "$size" ${tcmd[$t]} "$here/train_step_torch.py" --size "$size" --steps "$s" --warmup "$w" \
        --threads "$threads" --label "$t" --budget "$budget"
    done
  done
done
echo "   load average at end:   $(cut -d' ' -f1-3 /proc/loadavg)"
sort -u "$tmp/versions.txt" 2>/dev/null || true
echo

awk -v repeat="$repeat" -v clock="$clock" -v threads="$threads" '
  function kv(line, key,   m) { if (match(line, " " key "=[^ ]*")) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2); return "" }
  function med(list,   a, n, i, j, t) { n = split(list, a, ","); for (i = 1; i <= n; i++) a[i] += 0
                                       for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                                       if (n % 2 == 1) return a[(n + 1) / 2] + 0
                                       return (a[n / 2] + a[n / 2 + 1]) / 2 }
  function lo(list,   a, n, i, m) { n = split(list, a, ","); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
  function hi(list,   a, n, i, m) { n = split(list, a, ","); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
  function add(arr, k, v,   old) { if (k in arr) { old = arr[k]; arr[k] = old "," v } else arr[k] = v }
  {
    name = $1; size = kv($0, "size")
    if (!(size in seen_size)) { seen_size[size] = 1; sizes[++ns] = size }
    if ($2 == "result") { mode = kv($0, "mode"); v = kv($0, "median_ms"); if (clock == "cpu") v = kv($0, "cpu_ms") / threads
                          add(ms, name SUBSEP size SUBSEP mode, v); steps[name, size, mode] = kv($0, "steps")
                          if (!((name, size) in seen_t) && name != "hub") { seen_t[name, size] = 1; tl[size] = tl[size] " " name } }
    if ($2 == "memory") { add(rss, name SUBSEP size, kv($0, "peak_rss_mb")) }
  }
  function fmt(k) { if (!(k in ms)) return "-"; return sprintf("%.1f", med(ms[k])) }
  function rng(k) { if (!(k in ms) || repeat < 2) return ""; return sprintf("%.0f-%.0f", lo(ms[k]), hi(ms[k])) }
  END {
    printf "%-6s %-6s %10s %-11s %-9s %10s %-11s %8s %10s %10s %6s\n", "size", "mode", "hub ms", "(range)", "torch", "torch ms", "(range)", "torch/hub", "hub RSS MB", "torch RSS", "steps"
    for (i = 1; i <= ns; i++) {
      size = sizes[i]; n = split(tl[size], tn, " ")
      for (mi = 1; mi <= 2; mi++) {
        mode = (mi == 1) ? "train" : "infer"
        for (j = 1; j <= n; j++) {
          t = tn[j]; hk = "hub" SUBSEP size SUBSEP mode; tk = t SUBSEP size SUBSEP mode
          ratio = ((hk in ms) && (tk in ms)) ? sprintf("%.2fx", med(ms[tk]) / med(ms[hk])) : "-"
          hr = (("hub", size) in rss) ? sprintf("%.0f", med(rss["hub", size])) : "-"
          tr = ((t, size) in rss) ? sprintf("%.0f", med(rss[t, size])) : "-"
          printf "%-6s %-6s %10s %-11s %-9s %10s %-11s %8s %10s %10s %6s\n", size, mode, fmt(hk), rng(hk), t, fmt(tk), rng(tk), ratio, hr, tr, steps["hub", size, mode] "/" steps[t, size, mode]
        }
      }
    }
    print ""
    if (clock == "cpu") print "ms: CPU time per step / threads (--clock cpu), median over the timed steps (and over the runs with --repeat: range = min-max of the run medians)"
    else print "ms: median wall time per step over the timed steps (and over the runs with --repeat: range = min-max of the run medians)"
    print "torch/hub > 1 means hub is faster; RSS = peak resident set (VmHWM) of the process that ran both modes"
    print "steps: timed steps behind each median, hub/torch (debian = reference BLAS: limited by --slow-budget)"
  }' "$res"

if [ "$mem_steps" -gt 0 ]; then
  echo
  echo "== RSS over $mem_steps training steps (small size)"
  run_one hub small "$hubrun" "$here/train_step.lua" --size small --mem-steps "$mem_steps" --threads "$threads"
  for t in $avail; do
    [ "$t" = debian ] && { echo "   (debian: reference BLAS, ~30 s a step: skipped)"; continue; }
    # shellcheck disable=SC2086
    run_one "$t" small ${tcmd[$t]} "$here/train_step_torch.py" --size small --mem-steps "$mem_steps" --threads "$threads" --label "$t"
  done
  grep ' memsteps ' "$res" | awk '{ printf "   %-9s rss@100 %s MB  rss@end %s MB  growth %s%%  peak %s MB\n", $1,
    substr($6, 11), substr($7, 12), substr($8, 12), substr($9, 13) }'
fi
