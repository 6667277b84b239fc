#!/usr/bin/env bash
# test-cuda-build.sh: CI's check of the CUDA backend on a machine without a GPU (`make
# test-cuda-build`, docs/cuda.md).  With the CUDA toolkit present (nvcc on PATH or
# /usr/local/cuda/bin/nvcc, or $NVCC):
#   1. configures BUILD_DIR (default build-cuda) with -DHUB_CUDA=ON and builds everything;
#   2. fails when the build printed any compiler warning (C or CUDA), listing them;
#   3. runs the whole ctest suite in BUILD_DIR: the CPU tests must pass with the backend linked
#      in, and the GPU tests (test_cuda, test_backend's and test_op_parity's CUDA parts) must
#      say "skipped: no GPU" and pass (or run and pass, on a machine with a GPU).
# Without nvcc it says so and exits 0, unless HUB_REQUIRE_CUDA=1 (then it fails).  The full
# device check with a GPU is tests/cuda/device_check.sh.
#
#   scripts/test-cuda-build.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
BUILD=${1:-build-cuda}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
JOBS=${JOBS:-$(nproc)}

NVCC=${NVCC:-$(command -v nvcc || true)}
if [ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ]; then NVCC=/usr/local/cuda/bin/nvcc; fi
if [ -z "$NVCC" ]; then
  [ "${HUB_REQUIRE_CUDA:-0}" = 1 ] && die "no nvcc (not on PATH, not /usr/local/cuda/bin/nvcc) and HUB_REQUIRE_CUDA=1"
  say "skipped: no CUDA toolkit (nvcc not on PATH nor in /usr/local/cuda/bin); the CUDA backend was not built"
  exit 0
fi
say "nvcc: $NVCC ($("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"

mkdir -p "$BUILD"
LOG=$BUILD/build.log
start=$(date +%s)
if ! cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHUB_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" >"$LOG" 2>&1; then
  cat "$LOG" >&2; die "configure failed (log: $LOG)"
fi
# Built from scratch each time (clean-first) so that every warning is seen, not only those of
# the files that changed since the last run.
if ! cmake --build "$BUILD" -j"$JOBS" --clean-first >>"$LOG" 2>&1; then
  tail -40 "$LOG" >&2; die "build failed (log: $LOG)"
fi
say "configure + build took $(( $(date +%s) - start )) s"
if grep -n -i -E '(^|[^a-z_])warning( #[0-9]+-d)? ?:' "$LOG" >"$BUILD/warnings.txt"; then
  cat "$BUILD/warnings.txt" >&2
  die "the CUDA build printed $(wc -l <"$BUILD/warnings.txt") warning line(s) (log: $LOG)"
fi
say "no warnings"

cd "$BUILD"
HUB_DATA=${HUB_DATA:-$DATA} HUB_REQUIRE_DATA=${HUB_REQUIRE_DATA:-0} ctest --output-on-failure -j"$JOBS" || die "ctest failed in $BUILD"
# test_cuda, the GPU test, must have said why it skipped (or have run, on a GPU)
out=$(cd "$REPO/tests" && "$BUILD/tests/test_cuda" 2>&1 | tail -3)
echo "$out" | grep -q -E 'skipped: no GPU|[1-9][0-9]* passed, 0 failed' || die "test_cuda: neither skipped nor passed: $out"
say "test_cuda: $(echo "$out" | head -1)"
say "passed"
