#!/usr/bin/env bash
# bench/autocast/run.sh: bf16 autocast on the CPU, hubrun against PyTorch in one run, same threads
# and shapes: one linear layer (inference) and a BERT feed-forward training step, each in f32 and
# bf16 (bench/autocast/linear.lua and linear_torch.py; docs/performance.md has a table).
#
#   bench/autocast/run.sh [BUILD_DIR] [--threads T] [--iters N]
#
# PyTorch: $TORCH_PYTHON, else bench/.venv/bin/python (a venv with a PyPI torch); without one the
# PyTorch lines are skipped.  Prints both programs' lines, then "ratio ..." lines: hubrun time /
# PyTorch time per shape and mode (below 1: hubrun is faster).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build
threads=2
iters=10
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
[ -x "$build/hubrun" ] || { echo "run.sh: no $build/hubrun (make first)" >&2; exit 1; }
py=${TORCH_PYTHON:-$root/bench/.venv/bin/python}
export OMP_NUM_THREADS=$threads
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for train in 0 1; do
  "$build/hubrun" "$root/bench/autocast/linear.lua" --threads "$threads" --iters "$iters" --train "$train" | tee -a "$out"
  if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
    "$py" -W ignore "$root/bench/autocast/linear_torch.py" --threads "$threads" --iters "$iters" --train "$train" 2>/dev/null |
      tee -a "$out"
  else
    echo "(no PyTorch at $py: its lines skipped)"
  fi
done
awk '
  function f(k,   i) { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
  { kind = $1; t = sub(/^torch_/, "", kind); key = kind " M=" f("M") (f("K") != "" ? " K=" f("K") " N=" f("N") : "")
    if (t) { tf[key] = f("f32_ms"); tb[key] = f("bf16_ms") } else { hf[key] = f("f32_ms"); hb[key] = f("bf16_ms"); order[++n] = key } }
  END { for (i = 1; i <= n; i++) { k = order[i]; if (k in tf)
          printf("ratio %s f32 hubrun/torch=%.2f bf16 hubrun/torch=%.2f\n", k, hf[k] / tf[k], hb[k] / tb[k]) } }
' "$out"
