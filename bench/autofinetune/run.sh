#!/usr/bin/env bash
# bench/autofinetune/run.sh - hubrun's search strategies vs Optuna's samplers (TPE, CMA-ES,
# random) on Branin (50 evaluations), Hartmann-6 (100) and a noisy 10-d quadratic (100), over
# 20 seeds: median and quartiles of the best (noise-free) value found, lower is better.
#
#   bench/autofinetune/run.sh [BUILD_DIR] [--seeds N]
#
# hubrun runs in-process (bench.lua: hub.autotune.inprocess, no child processes).  Optuna runs on
# $OPTUNA_PYTHON, default $HUB_DATA/venv-optuna/bin/python (made here when missing: python3 -m
# venv + pip install optuna cmaes).  Functions: functions.lua / optuna_bench.py (the same ones).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build
seeds=20
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac
data=${HUB_DATA:-$root/build/data}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
py=${OPTUNA_PYTHON:-$data/venv-optuna/bin/python}
if ! "$py" -c 'import optuna, cmaes' 2>/dev/null; then
  if [ -z "${OPTUNA_PYTHON:-}" ]; then
    echo "(making $data/venv-optuna: python3 -m venv + pip install optuna cmaes)"
    { /usr/bin/python3 -m venv "$data/venv-optuna" && "$data/venv-optuna/bin/pip" install -q optuna cmaes; } >"$tmp/venv.log" 2>&1 || tail -3 "$tmp/venv.log"
  fi
fi
"$build/hubrun" "$here/bench.lua" --seeds "$seeds" > "$tmp/res.txt"
if "$py" -c 'import optuna, cmaes' 2>/dev/null; then
  "$py" "$here/optuna_bench.py" --seeds "$seeds" | grep -v '^#' >> "$tmp/res.txt"
else
  echo "(no optuna at $py: hubrun only)"
fi
"$build/hubrun" "$here/table.lua" "$tmp/res.txt"
