#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz for a bounded time each (what `make fuzz` calls).
#   scripts/run-fuzz.sh BUILD_DIR SECONDS TARGET...      e.g. build-fuzz 60 ops json
# Each target starts from its committed seed corpus (tests/fuzz/corpus/<target>, read-only) plus
# the inputs earlier runs found (BUILD_DIR/fuzz-corpus/<target>, not committed).  A crash, a
# sanitizer report, a leak or a timeout stops that target; the input is written to
# BUILD_DIR/fuzz-artifacts/ and the script exits 1 after running the others.  Prints a summary:
# executions, corpus size and result per target.
set -uo pipefail
build=$1 secs=$2
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
mkdir -p "$build/fuzz-artifacts"
failed=0
summary=()
for t in "$@"; do
  exe="$build/tests/fuzz/fuzz_$t"
  seeds="$root/tests/fuzz/corpus/$t"
  work="$build/fuzz-corpus/$t"
  log="$build/fuzz-artifacts/$t.log"
  mkdir -p "$work"
  if [[ ! -x $exe ]]; then echo "run-fuzz: $exe is missing (make fuzz builds it)" >&2; exit 2; fi
  echo "run-fuzz: $t for ${secs}s"
  # -timeout: one input taking longer than 10 s is a hang; -rss_limit_mb bounds memory
  "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corp=$(ls "$work" | wc -l)
  if (( rc != 0 )); then
    failed=1
    summary+=("$(printf '%-12s %10s execs  corpus %5s  FAILED (rc %d): see %s' "$t" "${execs:-?}" "$corp" "$rc" "$log")")
    grep -E "ERROR|SUMMARY|runtime error|contract broken|Test unit written" "$log" | head -8 >&2
  else
    summary+=("$(printf '%-12s %10s execs  corpus %5s  ok' "$t" "${execs:-?}" "$corp")")
  fi
done
echo "run-fuzz: ${secs}s per target"
printf '  %s\n' "${summary[@]}"
exit $failed
