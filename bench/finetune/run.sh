#!/usr/bin/env bash
# bench/finetune/run.sh - the same fine-tune (recipes/ernie_cls.lua: reviews_zh sentiment) run by
# hubrun and by Hugging Face's Trainer on the same weights, data, options and threads.
#
#   bench/finetune/run.sh [BUILD_DIR] [--module ernie-tiny-zh] [--max_train 2000] [--max_eval 0]
#       [--epochs 1] [--batch_size 32] [--lr 2e-4] [--max_seq_len 128] [--seed 1] [--threads 2]
#       [--pooling mean|cls] [--dropout P]
#       [--python PY] [--keep DIR]
#
# Steps: `hubrun convert to-hf MODULE` (the module's weights as a Hugging Face directory),
# export_split.lua (the recipe's exact train subset, dev and test as JSON Lines), then
#   hubrun hub_timed.lua recipes/ernie_cls.lua --module MODULE --max_train N ... --threads T
#   hf_trainer.py --model <converted> --data <split> ... --threads T   (transformers' Trainer,
#       BertForSequenceClassification, hub.strategy.adamw's optimiser and schedule, dynamic
#       padding of length-grouped batches; see its docstring)
# with OMP_NUM_THREADS=T for both, and prints dev and test accuracy of both, each epoch's
# training wall time (evaluation excluded) and the ratio HF / hubrun.  hubrun's epoch time comes
# from hub_timed.lua (which runs the recipe unchanged and times each epoch from its first
# training batch to the start of the dev evaluation that ends it), the Trainer's from a callback
# (on_epoch_begin to on_epoch_end, before its evaluation).
# Python: --python PY, else $HF_PYTHON, else $HUB_DATA/venv-hf/bin/python, made here when missing
# (python3 -m venv + pip install torch transformers accelerate: PyPI's torch, ~4 GB with its CUDA
# libraries, several minutes; the log is $HUB_DATA/venv-hf.log).  --keep DIR keeps the converted
# model, the split, the logs and the figures (results.json) in DIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build
module=ernie-tiny-zh
max_train=2000; max_eval=0; epochs=1; batch_size=32; lr=2e-4; max_seq_len=128; seed=1
pooling=mean    # recipes/ernie_cls.lua's; hf_trainer.py --pooling does the same
dropout=0.1
threads=${HUB_THREADS:-2}
py=${HF_PYTHON:-}
keep=
while [ $# -gt 0 ]; do
  case "$1" in
    --module) module=$2; shift 2 ;;
    --max_train) max_train=$2; shift 2 ;;
    --max_eval) max_eval=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --batch_size) batch_size=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --max_seq_len) max_seq_len=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --pooling) pooling=$2; shift 2 ;;
    --dropout) dropout=$2; shift 2 ;;
    --python) py=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac
# a module given as a relative directory is taken from the caller's directory
if [ -d "$module" ]; then module=$(cd "$module" && pwd); fi
export OMP_NUM_THREADS=$threads HUB_THREADS=$threads
data=${HUB_DATA:-$root/build/data}
export HUB_DATA=$data

if [ -n "$keep" ]; then mkdir -p "$keep"; work=$(cd "$keep" && pwd)
else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
hubrun="$build/hubrun"
. "$root/bench/lib/common.sh"
bench_build "$build" hubrun "$work/build.log" || exit 1

# ---- the Python side ----
py=${py:-$data/venv-hf/bin/python}
if ! "$py" -c 'import torch, transformers, accelerate' 2>/dev/null; then
  if [ -n "${HF_PYTHON:-}" ] || [ "$py" != "$data/venv-hf/bin/python" ]; then
    echo "run.sh: $py lacks torch, transformers or accelerate" >&2; exit 1
  fi
  echo "(making $data/venv-hf: python3 -m venv + pip install torch transformers accelerate; several GB, log $data/venv-hf.log)"
  { /usr/bin/python3 -m venv "$data/venv-hf" && "$data/venv-hf/bin/pip" install torch transformers accelerate; } \
    >"$data/venv-hf.log" 2>&1 || { tail -5 "$data/venv-hf.log"; echo "run.sh: making the venv failed" >&2; exit 1; }
fi

bench_header "fine-tune $module on reviews_zh: hubrun vs Hugging Face Trainer"
echo "   max_train $max_train, max_eval $max_eval, epochs $epochs, batch $batch_size, lr $lr, max_seq_len $max_seq_len, seed $seed, pooling $pooling, dropout $dropout"

# ---- the same weights and the same examples ----
"$hubrun" convert to-hf "$module" --out "$work/hf" --force
"$hubrun" "$here/export_split.lua" --max_train "$max_train" --max_eval "$max_eval" --seed "$seed" --out "$work/split"

common=(--epochs "$epochs" --batch_size "$batch_size" --lr "$lr" --max_seq_len "$max_seq_len" --seed "$seed" --threads "$threads")

# ---- hubrun ----
echo "-- hubrun recipes/ernie_cls.lua"
rc=0
"$hubrun" "$here/hub_timed.lua" "$root/recipes/ernie_cls.lua" --module "$module" --max_train "$max_train" \
  --max_eval "$max_eval" --pooling "$pooling" --dropout "$dropout" "${common[@]}" >"$work/hubrun.log" 2>&1 || rc=$?
hub_line=$(grep -E '^dev acc' "$work/hubrun.log" | tail -1) || true
hub_epochs=$(grep -E '^hub_timed: epoch_s ' "$work/hubrun.log" | tail -1 | cut -d' ' -f3) || true
if [ "$rc" != 0 ] || [ -z "$hub_line" ] || [ -z "$hub_epochs" ]; then
  tail -20 "$work/hubrun.log" >&2; echo "run.sh: the hubrun run failed" >&2; exit 1
fi
grep -E '^hub_timed: epoch [0-9]' "$work/hubrun.log" || true
hub_dev=$(echo "$hub_line" | awk '{print $3}')
hub_test=$(echo "$hub_line" | awk '{print $6}')
echo "hubrun: $hub_line  epoch_s $hub_epochs"

# ---- Hugging Face Trainer ----
echo "-- Hugging Face Trainer ($py)"
"$py" "$here/hf_trainer.py" --model "$work/hf" --data "$work/split" "${common[@]}" --pooling "$pooling" --dropout "$dropout" --result "$work/hf.json" \
  >"$work/hf.log" 2>&1 || { tail -20 "$work/hf.log" >&2; echo "run.sh: the Trainer run failed" >&2; exit 1; }
grep '^hf: ' "$work/hf.log"

# ---- the table ----
"$py" - "$work/hf.json" "$hub_dev" "$hub_test" "$hub_epochs" "$work/results.json" <<'EOF'
import json, sys
hf = json.load(open(sys.argv[1]))
hub = {"dev_acc": float(sys.argv[2]), "test_acc": float(sys.argv[3]),
       "epoch_s": [float(x) for x in sys.argv[4].split(",") if x]}
print()
print("%-10s %8s %8s %s" % ("", "dev acc", "test acc", "epoch wall s"))
for name, r in (("hubrun", hub), ("hf", hf)):
    print("%-10s %8.4f %8.4f %s" % (name, r["dev_acc"], r["test_acc"], " ".join("%.1f" % s for s in r["epoch_s"])))
ratios = [h / b for h, b in zip(hf["epoch_s"], hub["epoch_s"]) if b > 0]
print("accuracy difference (hubrun - hf): dev %+.2f points, test %+.2f points" % (
    100 * (hub["dev_acc"] - hf["dev_acc"]), 100 * (hub["test_acc"] - hf["test_acc"])))
print("epoch time HF / hubrun: %s (>1: hubrun faster)" % " ".join("%.2fx" % r for r in ratios))
json.dump({"hubrun": hub, "hf": hf, "ratio_hf_over_hubrun": ratios}, open(sys.argv[5], "w"), indent=1)
EOF
echo "   load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "$keep" ] && echo "(kept in $work: hf/, split/, hubrun.log, hf.log, results.json)"
exit 0
