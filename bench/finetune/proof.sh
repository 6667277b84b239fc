#!/usr/bin/env bash
# proof.sh: what pretraining brings (issue "fine-tuning", docs/finetune.md "Proof").  For each task
# (cls: reviews_zh sentiment accuracy, recipes/ernie_cls.lua; ner: People's Daily entity F1,
# recipes/ernie_seq_label.lua) and each training-set size, three arms:
#   pretrained  the recipe with ernie-tiny-zh as it ships
#   random      the same recipe and budget with --random_init 1 (the same network, BERT's init)
#   bow         recipes/baseline_bow.lua (bag-of-characters / window-feature linear model)
# Each run goes into OUT/<task>-<arm>-<size>/ (stdout in out.txt; reviews: the test predictions in
# pred.jsonl, for bench/finetune/paired.lua); a run whose out.txt holds its scores is not run
# again, so the script resumes.  A --seed among the recipe options goes to the bow arm too (its
# training subset is the seed's, as the ernie arms').  Prints a markdown table and writes OUT/proof.md.
#
#   bench/finetune/proof.sh [--out runs/proof] [--tasks "cls ner"] [--sizes "500 2000 all"]
#                           [--arms "pretrained random bow"] [--threads 2] [-- RECIPE OPTIONS...]
# Recipe options after -- go to both ernie arms (e.g. -- --epochs 2 --max_seq_len 128 --lr 2e-4).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HUBRUN=${HUBRUN:-$REPO/build/hubrun}
OUT=runs/proof; TASKS="cls ner"; SIZES="500 2000 all"; ARMS="pretrained random bow"; THREADS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;; --tasks) TASKS=$2; shift 2 ;; --sizes) SIZES=$2; shift 2 ;;
    --arms) ARMS=$2; shift 2 ;; --threads) THREADS=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "proof.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
EXTRA=("$@")
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT"
recipe() { [ "$1" = cls ] && echo "$REPO/recipes/ernie_cls.lua" || echo "$REPO/recipes/ernie_seq_label.lua"; }
metric() { [ "$1" = cls ] && echo acc || echo f1; }
for t in $TASKS; do
  for n in $SIZES; do
    m=$([ "$n" = all ] && echo 0 || echo "$n")
    for arm in $ARMS; do
      d=$OUT/$t-$arm-$n
      if [ -s "$d/out.txt" ] && grep -q "^dev " "$d/out.txt"; then continue; fi
      mkdir -p "$d"
      # reviews: the test predictions too, for bench/finetune/paired.lua
      PRED=(); [ "$t" = cls ] && PRED=(--predictions "$d/pred.jsonl")
      echo "proof: $t $arm $n ..." >&2
      case $arm in
        pretrained) "$HUBRUN" "$(recipe "$t")" --max_train "$m" --threads "$THREADS" --out "$d/run" "${PRED[@]}" "${EXTRA[@]}" >"$d/out.txt" 2>"$d/err.txt" || true ;;
        random) "$HUBRUN" "$(recipe "$t")" --max_train "$m" --threads "$THREADS" --out "$d/run" --random_init 1 "${PRED[@]}" "${EXTRA[@]}" >"$d/out.txt" 2>"$d/err.txt" || true ;;
        bow) "$HUBRUN" "$REPO/recipes/baseline_bow.lua" --task "$t" --max_train "$m" --threads "$THREADS" "${PRED[@]}" $(printf '%s\n' "${EXTRA[@]}" | grep -A1 -x -- --seed | head -2) >"$d/out.txt" 2>"$d/err.txt" || true ;;
        *) echo "proof.sh: unknown arm '$arm'" >&2; exit 2 ;;
      esac
      grep "^dev " "$d/out.txt" >&2 || echo "proof: $t $arm $n failed (see $d/err.txt)" >&2
    done
  done
done
{
  for t in $TASKS; do
    echo
    echo "| $t ($(metric "$t"), dev / test) | $(echo $ARMS | sed 's/ / | /g') |"
    echo "|---|$(for a in $ARMS; do printf -- '---|'; done)"
    for n in $SIZES; do
      row="| $n"
      for arm in $ARMS; do
        f=$OUT/$t-$arm-$n/out.txt
        s=$( [ -s "$f" ] && sed -n 's/^dev [a-z0-9]* \([0-9.]*\)  test [a-z0-9]* \([0-9.]*\).*/\1 \/ \2/p' "$f" | head -1 || true)
        row="$row | ${s:--}"
      done
      echo "$row |"
    done
  done
} | tee "$OUT/proof.md"
