#!/bin/sh
# tests/cuda/device_check.sh: the CUDA checks for a machine with a GPU (docs/cuda.md).
#   1. configure and build with HUB_CUDA=ON into build-cuda (Release, -j$(nproc))
#   2. the C tests that exercise the device: test_cuda (every CUDA kernel against the CPU),
#      test_op_parity (its CUDA column), test_backend
#   3. test_cuda again under compute-sanitizer memcheck, when the tool is installed
#   4. bench/cuda/bench_cuda.lua (GEMM and the BERT-base encoder at batch 1 and 8) and, when a
#      Python with torch and CUDA is found ($HUB_TORCH_PYTHON, else python3), the PyTorch twin
#      bench/cuda/bench_torch.py; without torch that column is skipped with a line saying so.
# Everything it prints also goes to build-cuda/device_check.log.  Exits non-zero on the first
# failing step.  Meant to finish in under 8 minutes on a 16-core machine.
set -e
cd "$(dirname "$0")/../.."
LOG=build-cuda/device_check.log
mkdir -p build-cuda
: > "$LOG"
say() { echo "== $*" | tee -a "$LOG"; }
run() { "$@" 2>&1 | tee -a "$LOG"; }
command -v nvidia-smi >/dev/null && run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
say "configure + build (HUB_CUDA=ON)"
start=$(date +%s)
run cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DHUB_CUDA=ON
run cmake --build build-cuda -j"$(nproc)"
say "build took $(( $(date +%s) - start )) s"
export OMP_WAIT_POLICY=passive
for t in test_cuda test_op_parity test_backend; do
  say "$t"
  (cd tests && ../build-cuda/tests/$t) 2>&1 | tee -a "$LOG"
  [ "$(tail -1 "$LOG" | grep -c ' 0 failed')" = 1 ] || { say "$t FAILED"; exit 1; }
done
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$SAN" ]; then
  say "compute-sanitizer memcheck: test_cuda"
  (cd tests && "$SAN" --tool memcheck --error-exitcode 3 ../build-cuda/tests/test_cuda) 2>&1 | tail -5 | tee -a "$LOG"
else
  say "compute-sanitizer not found: memcheck skipped"
fi
say "bench: hubrun"
run timeout 180 build-cuda/hubrun bench/cuda/bench_cuda.lua --batches 1,8 --iters 20
PY=${HUB_TORCH_PYTHON:-python3}
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  say "bench: PyTorch ($PY)"
  run timeout 180 "$PY" bench/cuda/bench_torch.py --batches 1,8 --iters 20
else
  say "bench: PyTorch column skipped (no torch with CUDA for $PY)"
fi
say "device check passed"
