# bench/lib/common.sh - what the benchmark run.sh scripts share (sourced, not run).
#
#   bench_build BUILD TARGET LOG   configure BUILD (Release) if needed and build TARGET; when that
#                                  fails and the target's binary exists, say so and go on with it,
#                                  else print the log and return 1
#   bench_torches ROOT "NAMES"     fills the associative array tcmd (name -> command prefix) and
#                                  $avail with the torches that are present: debian (Debian's
#                                  python3-torch), openblas (the same with OpenBLAS unpacked in
#                                  bench/.openblas or $OPENBLAS_DIR), pypi (bench/.venv or
#                                  $TORCH_PYTHON); prints a line for each one skipped
#   bench_header TITLE             the "== ..." line with the thread count, cores and CPU, and the
#                                  load average

bench_build() {
  local build=$1 target=$2 log=$3 bin
  case "$target" in hubrun) bin="$build/hubrun" ;; *) bin="$build/bench/$target" ;; esac
  if { [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release; } >"$log" 2>&1 &&
     cmake --build "$build" --target "$target" -j"$(nproc)" >>"$log" 2>&1; then
    return 0
  fi
  if [ -x "$bin" ]; then
    echo "(run.sh: rebuilding $target in $build failed; using the existing $bin)"
    return 0
  fi
  cat "$log" >&2
  echo "run.sh: building $target in $build failed" >&2
  return 1
}

bench_torches() {
  local root=$1 names=$2 t
  local obdir=${OPENBLAS_DIR:-$root/bench/.openblas/usr/lib/x86_64-linux-gnu/openblas-openmp}
  local pypi=${TORCH_PYTHON:-$root/bench/.venv/bin/python}
  avail=""
  for t in $names; do
    case "$t" in
      debian) if /usr/bin/python3 -c 'import torch' 2>/dev/null; then tcmd[$t]="/usr/bin/python3"; avail="$avail $t"
              else echo "(no torch for /usr/bin/python3: install python3-torch; debian skipped)"; fi ;;
      openblas) if [ -f "$obdir/libblas.so.3" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
                  tcmd[$t]="env LD_LIBRARY_PATH=$obdir /usr/bin/python3"; avail="$avail $t"
                else echo "(no OpenBLAS at $obdir: openblas skipped; bench/train_step/run.sh --fetch-openblas makes it)"; fi ;;
      pypi) if [ -x "$pypi" ] && "$pypi" -c 'import torch' 2>/dev/null; then tcmd[$t]="$pypi"; avail="$avail $t"
            else echo "(no PyPI torch at $pypi: pypi skipped)"; fi ;;
      *) echo "run.sh: unknown torch '$t' (debian, openblas, pypi)" >&2; return 2 ;;
    esac
  done
}

bench_header() {
  echo "== $1, $threads thread(s), $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "   load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}
