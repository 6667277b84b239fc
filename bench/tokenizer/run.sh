#!/usr/bin/env bash
# bench/tokenizer/run.sh - WordPiece throughput in MB/s, single thread: hubrun beside Hugging Face
# tokenizers (Rust), on the same text with the same vocabulary.
#
#   bench/tokenizer/run.sh [BUILD_DIR] [--rounds N]
#
# Text: the corpus of scripts/fetch-text.sh ($HUB_DATA/text, default build/data/text: ~5.6 MB,
# ~114k lines of Chinese and English); fetched here when missing.  Vocabulary:
# tests/fixtures/vocab_zh.txt, lower-cased.  HF runs in build/pyvenv (made, with pinned
# tokenizers and transformers, by scripts/gen_tokenizer_fixtures.py's bootstrap when missing)
# with TOKENIZERS_PARALLELISM=false and RAYON_NUM_THREADS=1.  hubrun is single-threaded by
# construction (the tokenizer has no parallel loop).  Each figure is the best of N rounds
# (default 5) of process CPU time over every line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build
rounds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac

log=$(mktemp)
. "$root/bench/lib/common.sh"
bench_build "$build" hubrun "$log" || { rm -f "$log"; exit 1; }
rm -f "$log"

text=${HUB_DATA:-$root/build/data}/text
files=("$text/manpages-zh.txt" "$text/debian-reference-zh-cn.txt" "$text/debian-reference-en.txt")
[ -f "${files[2]}" ] || "$root/scripts/fetch-text.sh"
vocab=$root/tests/fixtures/vocab_zh.txt

py=$root/build/pyvenv/bin/python
if ! { [ -x "$py" ] && "$py" -c 'import tokenizers' 2>/dev/null; }; then
  python3 "$root/scripts/gen_tokenizer_fixtures.py" --setup
fi

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > 0.5 * n) }'; then
  echo "(warning: load average $load on $(nproc) cores: other work is running, timings will be noisy)"
fi
echo "== bench/tokenizer: BERT WordPiece (lower-cased, $(wc -l <"$vocab") tokens), single thread, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/hubrun" "$here/bench_tokenizer.lua" "$vocab" "${files[@]}" --rounds "$rounds" >"$tmp/hub.txt"
TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 \
  "$py" "$here/bench_tokenizer_hf.py" "$vocab" "${files[@]}" --rounds "$rounds" >"$tmp/hf.txt"

awk '
  { mbs[$1 " " $2] = $3; lines = $5; bytes = $7 }
  $1 == "hf" { ver = $NF }
  END {
    printf "%d lines, %.2f MB of text; MB/s of UTF-8 input, best of the rounds (process CPU time)\n\n", lines, bytes / 1e6
    printf "%-34s %10s %12s %10s\n", "measure", "hubrun", "HF (Rust)", "hub/HF"
    printf "%-34s %10.2f %12.2f %10.2f\n", "tokenize (ids + offsets)", mbs["hubrun tokenize"], mbs["hf tokenize"], mbs["hubrun tokenize"] / mbs["hf tokenize"]
    printf "%-34s %10s %12.2f %10.2f\n", "  HF encode_batch_fast (no offsets)", "", mbs["hf tokenize/fast"], mbs["hubrun tokenize"] / mbs["hf tokenize/fast"]
    printf "%-34s %10s %12.2f %10.2f\n", "  HF one encode() call per line", "", mbs["hf tokenize/line"], mbs["hubrun tokenize"] / mbs["hf tokenize/line"]
    printf "%-34s %10.2f %12.2f %10.2f\n", "encode, batches of 32, len 128", mbs["hubrun encode"], mbs["hf encode"], mbs["hubrun encode"] / mbs["hf encode"]
    printf "\nhubrun: hub_wordpiece_tokenize per line / hub_wordpiece_encode per batch (i64 tensors), via the FFI\n"
    printf "HF: tokenizers %s BertWordPieceTokenizer; encode_batch with TOKENIZERS_PARALLELISM=false (one thread),\n", ver
    printf "    all lines in one call for tokenize; Encoding objects include tokens, offsets and masks\n"
  }' "$tmp/hub.txt" "$tmp/hf.txt"
