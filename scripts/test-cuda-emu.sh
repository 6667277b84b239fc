#!/usr/bin/env bash
# test-cuda-emu.sh: the CUDA kernels run and checked without a GPU (`make test-cuda-emu`,
# tests/cuda/emu/README.md).  kernels/cuda is compiled by the host C++ compiler against hubemu,
# which runs every CUDA thread as a fiber on the CPU and emulates the CUDA runtime, cuBLAS and
# cuBLASLt; the emulator faults on barriers not every thread reaches, shuffles of absent lanes,
# launches beyond a GPU's limits and copies outside device memory.
#   1. configures BUILD_DIR (default build-emu) with -DHUB_CUDA=EMU and builds it, failing on any
#      compiler warning;
#   2. runs the tests with CUDA parts there, on the emulated device: test_cuda, test_op_parity and
#      test_autocast twice (the threads of each block in order, then in reverse,
#      HUBEMU_ORDER=reverse, which exposes a missing barrier), test_cuda with attention's GEMM path
#      off and always on (HUB_CUDA_ATTN_GEMM=0/1) and with the recomputing backward
#      (HUB_ATTN_RECOMPUTE=1, with the GEMM path on and off), then test_op_parity, test_backend,
#      test_ernie_golden, test_device, test_autocast,
#      test_cuda_graph (stream capture emulated: a sync or host copy in a capture invalidates it);
#   3. builds ASAN_BUILD_DIR (default build-emu-asan; HUBEMU_ASAN=0 skips it) the same way with
#      AddressSanitizer + UBSan and runs test_cuda (three times: as it is, HUB_CUDA_ATTN_GEMM=1,
#      HUB_ATTN_RECOMPUTE=1),
#      test_op_parity, test_backend, test_autocast and
#      test_cuda_graph there: device
#      memory is host memory, so every kernel's reads and writes are checked (the allocator's
#      slack and cached blocks are unaddressable): compute-sanitizer's memcheck without a GPU;
#   4. fails when any of them failed or the emulator reported a fault.
#
#   scripts/test-cuda-emu.sh [BUILD_DIR [ASAN_BUILD_DIR]]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
BUILD=${1:-build-emu}
ASAN_BUILD=${2:-build-emu-asan}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
case "$ASAN_BUILD" in /*) ;; *) ASAN_BUILD=$REPO/$ASAN_BUILD ;; esac
JOBS=${JOBS:-$(nproc)}
command -v c++ >/dev/null || die "no C++ compiler (c++): scripts/install-deps.sh installs build-essential"

mkdir -p "$BUILD"
LOG=$BUILD/build.log
start=$(date +%s)
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHUB_CUDA=EMU >"$LOG" 2>&1 ||
  { cat "$LOG" >&2; die "configure failed (log: $LOG)"; }
cmake --build "$BUILD" -j"$JOBS" >>"$LOG" 2>&1 || { tail -40 "$LOG" >&2; die "build failed (log: $LOG)"; }
say "configure + build took $(( $(date +%s) - start )) s"
if grep -n -i -E '(^|[^a-z_])warning:' "$LOG" >"$BUILD/warnings.txt"; then
  cat "$BUILD/warnings.txt" >&2
  die "the build printed $(wc -l <"$BUILD/warnings.txt") warning line(s) (log: $LOG)"
fi

OUT=$BUILD/emu-tests.log
: >"$OUT"
fail=0
for order in forward reverse; do
  for t in tests/test_cuda tests/test_op_parity hubrun:lua/test_autocast.lua; do
    case "$t" in hubrun:*) cmd=("$BUILD/hubrun" "${t#hubrun:}") ;; *) cmd=("$BUILD/$t") ;; esac
    if (cd "$REPO/tests" && HUBEMU_ORDER=$order "${cmd[@]}") >>"$OUT" 2>&1; then
      say "${t##*/} ($order): $(grep -E 'passed, 0 failed' "$OUT" | tail -1)"
    else
      say "${t##*/} ($order) FAILED"; fail=1
    fi
  done
done
# attention's ways: HUB_CUDA_ATTN_GEMM=0 runs training through the SIMT kernels (the default takes
# the GEMM path there), =1 sends inference through the GEMM path too; HUB_ATTN_RECOMPUTE=1 keeps
# no probabilities and recomputes them in the backward (on the GEMM path, or with it off)
for cfg in HUB_CUDA_ATTN_GEMM=0 HUB_CUDA_ATTN_GEMM=1 HUB_ATTN_RECOMPUTE=1 "HUB_ATTN_RECOMPUTE=1 HUB_CUDA_ATTN_GEMM=0"; do
  if (cd "$REPO/tests" && env $cfg "$BUILD/tests/test_cuda") >>"$OUT" 2>&1; then
    say "test_cuda ($cfg): $(grep -E 'passed, 0 failed' "$OUT" | tail -1)"
  else
    say "test_cuda ($cfg) FAILED"; fail=1
  fi
done
grep -q "hubemu (the CUDA kernels emulated" "$OUT" || { say "test_cuda did not run on the emulated device"; fail=1; }
(cd "$BUILD" && HUBEMU_ABORT=1 HUB_DATA=${HUB_DATA:-$DATA} HUB_REQUIRE_DATA=${HUB_REQUIRE_DATA:-0} ctest --output-on-failure -j"$JOBS" \
  -R '^(c\.test_op_parity|c\.test_backend|lua\.test_ernie_golden|lua\.test_device|lua\.test_autocast|lua\.test_cuda_graph)$') >>"$OUT" 2>&1 || fail=1
grep -E '^[0-9]+% tests passed|tests failed' "$OUT" | tail -1 >&2 || true
if [ "${HUBEMU_ASAN:-1}" != 0 ]; then
  ALOG=$ASAN_BUILD/build.log
  mkdir -p "$ASAN_BUILD"
  astart=$(date +%s)
  cmake -S "$REPO" -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Asan -DHUB_CUDA=EMU >"$ALOG" 2>&1 ||
    { cat "$ALOG" >&2; die "configure failed (log: $ALOG)"; }
  cmake --build "$ASAN_BUILD" -j"$JOBS" --target test_cuda test_op_parity test_backend hubrun >>"$ALOG" 2>&1 ||
    { tail -40 "$ALOG" >&2; die "sanitizer build failed (log: $ALOG)"; }
  ! grep -n -i -E '(^|[^a-z_])warning:' "$ALOG" >&2 || die "the sanitizer build printed warnings (log: $ALOG)"
  for t in test_cuda test_cuda:gemm test_cuda:recompute test_op_parity test_backend lua/test_autocast.lua \
           lua/test_cuda_graph.lua; do
    gemm=auto recompute=auto
    case "$t" in *:gemm) t=${t%:gemm}; gemm=1 ;; *:recompute) t=${t%:recompute}; recompute=1 ;; esac
    case "$t" in lua/*) cmd=("$ASAN_BUILD/hubrun" "$t") ;; *) cmd=("$ASAN_BUILD/tests/$t") ;; esac
    [ "$gemm" = auto ] || t="$t (HUB_CUDA_ATTN_GEMM=$gemm)"
    [ "$recompute" = auto ] || t="$t (HUB_ATTN_RECOMPUTE=$recompute)"
    if (cd "$REPO/tests" && HUB_CUDA_ATTN_GEMM=$gemm HUB_ATTN_RECOMPUTE=$recompute \
        ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        LSAN_OPTIONS=suppressions=$REPO/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "${cmd[@]}") >>"$OUT" 2>&1; then
      say "$t under AddressSanitizer + UBSan: passed"
    else
      say "$t under AddressSanitizer + UBSan FAILED"; fail=1
    fi
  done
  say "sanitizer build + tests took $(( $(date +%s) - astart )) s"
fi
if grep -n '^hubemu: ' "$OUT" >"$BUILD/faults.txt"; then
  cat "$BUILD/faults.txt" >&2; say "the emulator reported $(wc -l <"$BUILD/faults.txt") fault(s)"; fail=1
fi
[ "$fail" = 0 ] || { tail -60 "$OUT" >&2; die "failed (log: $OUT)"; }
say "passed in $(( $(date +%s) - start )) s (log: $OUT)"
