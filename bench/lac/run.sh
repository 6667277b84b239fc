#!/usr/bin/env bash
# bench/lac/run.sh - LAC-small lexical analysis speed: hubrun vs PaddlePaddle vs lac_ref.py.
#
#   bench/lac/run.sh [BUILD_DIR] [--threads T] [--batch B] [--texts N] [--paddle] [--ref [N]]
#
# Characters per second of hub.lac on the first N (default 2000) sentences of Debian's
# debian-reference-zh-cn book (real text, fetched with the weights by scripts/fetch-lac.sh),
# batch B (default 64), T threads (default HUB_THREADS, else 2; also OMP_NUM_THREADS).
# --paddle: the same texts, batch and threads through PaddlePaddle's own operators
#   (bench/lac/lac_paddle.py), in a virtual environment build/venv-paddle made on first use
#   with `pip install paddlepaddle==2.6.2` (about 130 MB); hubrun's tags are then compared with
#   Paddle's, character by character.
# --ref [N]: shared/reference/lac_ref.py (pure Python) on the first N texts (default 10).
# BUILD_DIR defaults to build/ (configured and built here when hubrun is missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build threads=${HUB_THREADS:-2} batch=64 texts=2000 paddle=0 ref=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --texts) texts=$2; shift 2 ;;
    --paddle) paddle=1; shift ;;
    --ref) ref=10; if [ $# -gt 1 ] && [[ $2 =~ ^[0-9]+$ ]]; then ref=$2; shift; fi; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export HUB_THREADS=$threads OMP_NUM_THREADS=$threads

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$root/bench/lib/common.sh"
bench_build "$build" hubrun "$tmp/build.log" || exit 1
lac_dir=$("$root/scripts/fetch-lac.sh")

echo "== hubrun ($(nproc --all) cores on this machine)"
"$build/hubrun" "$here/lac_bench.lua" --threads "$threads" --batch "$batch" --texts "$texts" --out "$tmp/texts.txt"

if [ "$paddle" = 1 ]; then
  echo "== PaddlePaddle"
  venv="$root/build/venv-paddle"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import paddle" 2>/dev/null; then
    echo "run.sh: installing paddlepaddle into $venv" >&2
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q "paddlepaddle==2.6.2"; } >"$tmp/pip.log" 2>&1 ||
      { tail -5 "$tmp/pip.log" >&2; echo "run.sh: paddlepaddle did not install; skipping it" >&2; venv=; }
  fi
  if [ -n "$venv" ]; then
    "$venv/bin/python" "$here/lac_paddle.py" "$lac_dir" "$tmp/texts.txt" --threads "$threads" --batch "$batch" \
      --tags "$tmp/paddle_tags.txt" 2>&1 | grep -v "^I[0-9]"
    "$build/hubrun" "$here/lac_bench.lua" --threads "$threads" --batch "$batch" --texts "$texts" --repeat 0 \
      --compare "$tmp/paddle_tags.txt" | grep -i agree
  fi
fi

if [ "$ref" -gt 0 ]; then
  echo "== shared/reference/lac_ref.py (pure Python)"
  python3 "$here/lac_ref_speed.py" "$root/../shared/reference/lac_ref.py" "$lac_dir" "$tmp/texts.txt" "$ref"
fi
