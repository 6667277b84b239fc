#!/usr/bin/env bash
# bench/pretrain/run.sh - the masked-LM pretraining step of ernie-tiny-zh's shape: hubrun vs
# PyTorch (Hugging Face BertForMaskedLM as users call it, and the same model with the head only
# at the masked positions), same threads, same shapes, one run; prints the ratios.
#
#   bench/pretrain/run.sh [BUILD_DIR] [--threads T] [--steps N] [--repeat R]
#
# PyTorch: $TORCH_PYTHON, else bench/.venv/bin/python, else $HUB_DATA/venv-st/bin/python (the
# venv of bench/embed), each needing torch and transformers.  R runs are interleaved
# (hub, torch-gather, torch-hf, hub, ...); the table gives the median of the per-run medians.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/bench/lib/common.sh"
build=build; threads=${HUB_THREADS:-2}; steps=10; repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build=$root/$build ;; esac
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads
py=${TORCH_PYTHON:-}
for c in "$root/bench/.venv/bin/python" "${HUB_DATA:-$root/build/data}/venv-st/bin/python"; do
  [ -z "$py" ] && [ -x "$c" ] && "$c" -c 'import torch, transformers' 2>/dev/null && py=$c
done
bench_build "$build" hubrun "$(mktemp)" || exit 1
bench_header "masked-LM pretraining step, ernie-tiny-zh shape (4x312, vocab 10000), batch 32 x 128"
out=$(mktemp)
for _ in $(seq "$repeat"); do
  "$build/hubrun" "$here/pretrain_step.lua" --steps "$steps" --threads "$threads" | tee -a "$out"
  if [ -n "$py" ]; then
    for impl in gather hf; do "$py" "$here/pretrain_step_torch.py" --impl "$impl" --steps "$steps" --threads "$threads" | tee -a "$out"; done
  else
    echo "(no PyTorch with transformers: set TORCH_PYTHON or make bench/.venv; torch skipped)"
  fi
done
med() { grep "impl=$1 " "$out" | sed 's/.*median_ms=\([0-9.]*\).*/\1/' | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
hub_ms=$(med hub)
printf '\n%-14s %10s %10s %8s\n' impl "ms/step" "tokens/s" "vs hub"
for impl in hub torch-gather torch-hf; do
  m=$(med "$impl"); [ -z "$m" ] && continue
  awk -v i="$impl" -v m="$m" -v h="$hub_ms" 'BEGIN { printf "%-14s %10.1f %10.0f %7.2fx\n", i, m, 32*128/m*1000, m/h }'
done
echo "(vs hub > 1: hub is that many times faster)"
rm -f "$out"
