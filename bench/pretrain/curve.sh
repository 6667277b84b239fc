#!/usr/bin/env bash
# bench/pretrain/curve.sh - is ernie-tiny-zh's slow masked-LM learning hubrun's fault?  Trains the
# same network (4 x 312, vocab 10000, BERT's init, dropout 0.1) for N steps on the same N batches
# of the real corpus (hub.pretrain's own masking, dumped once) in hubrun and in PyTorch
# (Hugging Face BertForMaskedLM), same optimiser, schedule and clipping, and prints both curves
# side by side (loss and accuracy every 20 steps).  Not a timing: the two columns should agree
# to the noise of different initial weights and dropout masks.
#
#   bench/pretrain/curve.sh [BUILD_DIR] [--steps 300] [--lr 1e-3] [--threads 2]
#
# Needs the corpus (make corpus) and LAC (for the segmentation cache, unless runs/ has one);
# PyTorch + transformers + safetensors: $TORCH_PYTHON, bench/.venv or $HUB_DATA/venv-hf.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build; steps=300; lr=1e-3; threads=${HUB_THREADS:-2}
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;; --lr) lr=$2; shift 2 ;; --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "curve.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build=$root/$build ;; esac
HUB_DATA=${HUB_DATA:-$root/build/data}
py=${TORCH_PYTHON:-}
for c in "$root/bench/.venv/bin/python" "$HUB_DATA/venv-hf/bin/python"; do
  [ -z "$py" ] && [ -x "$c" ] && "$c" -c 'import torch, transformers, safetensors' 2>/dev/null && py=$c
done
[ -n "$py" ] || { echo "curve.sh: no Python with torch, transformers and safetensors (set TORCH_PYTHON)" >&2; exit 1; }
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cache=$HUB_DATA/pretrain-curve-train.safetensors
"$build/hubrun" "$here/curve_dump.lua" "$steps" "$tmp/batches.safetensors" "$cache" \
  "$root/modules/ernie-tiny-zh/vocab.txt" "$HUB_DATA/corpus/train.txt"
"$build/hubrun" "$here/curve_hub.lua" "$steps" "$lr" "$tmp/batches.safetensors" "$threads" >"$tmp/hub.txt"
"$py" "$here/curve_torch.py" "$steps" "$lr" "$tmp/batches.safetensors" "$threads" 2>/dev/null | grep '^torch' >"$tmp/torch.txt"
echo "# masked-LM learning curve, $steps steps, lr $lr, batch 32 x 128, single-token masking, $threads threads"
printf "%6s  %-18s  %-18s\n" step "hubrun loss / acc" "PyTorch loss / acc"
paste -d' ' "$tmp/hub.txt" "$tmp/torch.txt" | awk '{ printf "%6s  %7s / %-8s  %7s / %-8s\n", $3, $5, $7, $14, $16 }'
