#!/usr/bin/env bash
# tests/cuda/device_check.sh: the CUDA checks for a machine with a GPU (docs/cuda.md).
#   build  configure and build with HUB_CUDA=ON into build-cuda (Release, -j$(nproc)); or, with
#          --prebuilt, unpack build-cuda/device-pack.tar.gz (tests/cuda/pack.sh made it on the
#          development machine: the binaries and the shared libraries a bare GPU image lacks,
#          such as oneDNN and LuaJIT) and use that
#   tests  the C tests that exercise the device: test_cuda (every CUDA kernel against the CPU),
#          test_op_parity (its CUDA column), test_backend; test_cuda again with attention's GEMM path
#          off and always on and with the recomputing backward; tests/lua/test_device.lua (hub.finetune
#          on every task kind, resume, export on cuda vs cpu) and test_ernie_golden.lua (the
#          Hugging Face references, on cuda too), test_autocast.lua (bf16 products on cuda) and
#          test_cuda_graph.lua (CUDA graphs); any kernel whose first-use self-check failed (a line
#          "... is off (its self-check differs ...)") is a failure; then test_cuda again under
#          compute-sanitizer memcheck, when the tool is there
#   bench  bench/cuda/bench_cuda.lua (GEMM and the BERT-base encoder at batch 1 and 8),
#          bench/cuda/train_cuda.lua (a BERT-base classifier's training step at batch 32 and 128) and, when a
#          Python with torch and CUDA is found ($HUB_TORCH_PYTHON, else python3), the PyTorch twin
#          bench/cuda/bench_torch.py and train_torch.py; without torch that column is skipped with a line saying so;
#          then the ratios hubrun / PyTorch per mode and batch (op by op, and as CUDA graphs)
#
#   tests/cuda/device_check.sh [--prebuilt] [--phases "build tests bench"]
#
# Everything it prints also goes to build-cuda/device_check.log.  Exits non-zero on the first
# failing step, and when test_cuda finds no GPU (on the machine meant to have one that is a
# failure, not a skip).  TF32 stays off (HUB_CUDA_TF32 is unset): the f32 tolerances assume it.
# Meant to finish in under 8 minutes on a 16-core machine; the phases can go in separate calls.
set -eo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PREBUILT=0
PHASES="build tests bench"
while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) PREBUILT=1; shift ;;
    --phases) PHASES=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "device_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
has() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
LOG=build-cuda/device_check.log
mkdir -p build-cuda
: >>"$LOG"
say() { echo "== $*" | tee -a "$LOG"; }
run() { "$@" 2>&1 | tee -a "$LOG"; }
unset HUB_CUDA_TF32
export OMP_WAIT_POLICY=passive
# the binaries find libhub, the packed libraries and the CUDA runtime wherever the tree lies
CUDA_LIBS=/usr/local/cuda/lib64:/usr/local/cuda/lib
export LD_LIBRARY_PATH=$ROOT/build-cuda:$ROOT/build-cuda/device-libs:$CUDA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export HUB_LUA_PATH="$ROOT/build-cuda/lua;$ROOT/lua"
export LUA_CPATH="$ROOT/build-cuda/device-libs/lua/?.so;;"   # the packed cjson.so, else the system's
command -v nvidia-smi >/dev/null && run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true

if has build; then
  start=$(date +%s)
  if [ "$PREBUILT" = 1 ]; then
    say "unpack build-cuda/device-pack.tar.gz"
    [ -s build-cuda/device-pack.tar.gz ] || { say "no build-cuda/device-pack.tar.gz (make it with tests/cuda/pack.sh)"; exit 1; }
    tar -xzf build-cuda/device-pack.tar.gz -C build-cuda
  else
    say "configure + build (HUB_CUDA=ON)"
    run cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DHUB_CUDA=ON
    run cmake --build build-cuda -j"$(nproc)"
  fi
  say "build took $(( $(date +%s) - start )) s"
  # a library not on the path (cuBLAS may live in the image's Python packages): look for it under
  # /usr and /opt; one the image lacks shows here, before any test
  for lib in $(ldd build-cuda/tests/test_cuda build-cuda/hubrun | awk '/not found/{print $1}' | sort -u); do
    f=$(find /usr /opt -name "$lib" 2>/dev/null | head -1 || true)
    [ -n "$f" ] && { say "found $lib in ${f%/*}"; LD_LIBRARY_PATH=$LD_LIBRARY_PATH:${f%/*}; }
  done
  if ldd build-cuda/tests/test_cuda build-cuda/hubrun | grep 'not found' | tee -a "$LOG" | grep -q .; then
    say "shared libraries missing (above): pack them with tests/cuda/pack.sh and run with --prebuilt"
    exit 1
  fi
fi

if has tests; then
  for t in test_cuda test_op_parity test_backend; do
    say "$t"
    (cd tests && "../build-cuda/tests/$t") 2>&1 | tee "build-cuda/$t.out" | tee -a "$LOG" || true
    [ "$(tail -1 "build-cuda/$t.out" | grep -c ' 0 failed')" = 1 ] || { say "$t FAILED"; exit 1; }
    if [ "$t" = test_cuda ] && grep -q 'skipped: no GPU' "build-cuda/$t.out"; then
      say "test_cuda found no GPU on the GPU machine"; exit 1
    fi
  done
  # attention's other ways (the GEMM path off / always on, the recomputing backward), as on the emulator
  for cfg in HUB_CUDA_ATTN_GEMM=0 HUB_CUDA_ATTN_GEMM=1 HUB_ATTN_RECOMPUTE=1; do
    say "test_cuda ($cfg)"
    (cd tests && env $cfg ../build-cuda/tests/test_cuda) >"build-cuda/test_cuda_$cfg.out" 2>&1 || true
    tail -1 "build-cuda/test_cuda_$cfg.out" | tee -a "$LOG"
    [ "$(tail -1 "build-cuda/test_cuda_$cfg.out" | grep -c ' 0 failed')" = 1 ] ||
      { grep FAIL "build-cuda/test_cuda_$cfg.out" | head -20 | tee -a "$LOG"; say "test_cuda ($cfg) FAILED"; exit 1; }
  done
  # fine-tuning every task kind, resume, export and modules on the GPU against the CPU
  say "test_device (lua: hub.finetune / modules with device = cuda)"
  (cd tests && ../build-cuda/hubrun lua/test_device.lua) 2>&1 | tee build-cuda/test_device.out | tail -5 | tee -a "$LOG" || true
  [ "$(tail -1 build-cuda/test_device.out | grep -c ' 0 failed')" = 1 ] || { say "test_device FAILED (build-cuda/test_device.out)"; exit 1; }
  if grep -q 'stand-in\|^skipped' build-cuda/test_device.out; then say "test_device did not run on the GPU"; exit 1; fi
  # the registry's modules are not carried to the GPU machine (build/ is not in the tree): their
  # cases say so, which is not a failure of the device
  grep -h 'cases\? skipped' build-cuda/test_device.out | tee -a "$LOG" || true
  say "test_ernie_golden (the Hugging Face references, the modules loaded on cuda too)"
  (cd tests && HUBRUN=../build-cuda/hubrun ../build-cuda/hubrun lua/test_ernie_golden.lua) 2>&1 | tee build-cuda/test_ernie_golden.out | tail -6 | tee -a "$LOG" || true
  grep -q ' 0 failures$' build-cuda/test_ernie_golden.out || { say "test_ernie_golden FAILED (build-cuda/test_ernie_golden.out)"; exit 1; }
  grep -q ' on cuda (' build-cuda/test_ernie_golden.out || { say "test_ernie_golden ran nothing on cuda"; exit 1; }
  for t in test_autocast test_cuda_graph; do
    say "$t"
    (cd tests && ../build-cuda/hubrun "lua/$t.lua") 2>&1 | tee "build-cuda/$t.out" | tail -4 | tee -a "$LOG" || true
    [ "$(tail -1 "build-cuda/$t.out" | grep -c ' 0 failed')" = 1 ] || { say "$t FAILED (build-cuda/$t.out)"; exit 1; }
    if grep -q 'not run' "build-cuda/$t.out"; then say "$t did not run its GPU cases"; exit 1; fi
  done
  # the kernels written without a GPU check themselves on first use and switch off if they differ
  if cat build-cuda/*.out | grep -h 'is off (its self-check' | sort -u | tee -a "$LOG" | grep -q .; then
    say "a self-check failed on the GPU (above): that kernel is wrong here"; exit 1
  fi
  # a fallback that is not an error but costs speed: say so
  cat build-cuda/*.out | grep -h -e 'does not support compute type' -e '^note: attention' | sort -u | sed 's/^/note: /' | tee -a "$LOG" || true
  SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ -n "$SAN" ]; then
    say "compute-sanitizer memcheck: test_cuda"
    (cd tests && timeout 240 "$SAN" --tool memcheck --error-exitcode 3 ../build-cuda/tests/test_cuda) >build-cuda/memcheck.log 2>&1 ||
      { tail -30 build-cuda/memcheck.log | tee -a "$LOG"; say "memcheck FAILED (build-cuda/memcheck.log)"; exit 1; }
    tail -3 build-cuda/memcheck.log | tee -a "$LOG"
  else
    say "compute-sanitizer not found: memcheck skipped"
  fi
fi

if has bench; then
  say "bench: hubrun"
  timeout 180 build-cuda/hubrun bench/cuda/bench_cuda.lua --batches 1,8 --iters 20 2>&1 | tee build-cuda/bench_hub.out | tee -a "$LOG" || true
  say "bench: hubrun training step (BERT-base classifier, AdamW), batch 32 and 128"
  timeout 240 build-cuda/hubrun bench/cuda/train_cuda.lua --batches 32,128 --iters 10 2>&1 | tee -a build-cuda/bench_hub.out | tee -a "$LOG" || true
  say "bench: hubrun without the cuBLASLt bias epilogues (HUB_CUDA_LT=0), batch 8: what they save"
  run env HUB_CUDA_LT=0 timeout 120 build-cuda/hubrun bench/cuda/bench_cuda.lua --batches 8 --iters 20 --modes f32,tf32 --graph 0 --gemm 0
  say "bench: hubrun training step with attention on the SIMT kernels (HUB_CUDA_ATTN_GEMM=0), batch 32: what the GEMM path saves"
  run env HUB_CUDA_ATTN_GEMM=0 timeout 120 build-cuda/hubrun bench/cuda/train_cuda.lua --batches 32 --iters 10 --modes tf32,bf16
  say "bench: hubrun inference at batch 8 with attention on the flash kernel (HUB_CUDA_ATTN_GEMM=0; the default takes the GEMM path from 8192 query rows)"
  run env HUB_CUDA_ATTN_GEMM=0 timeout 60 build-cuda/hubrun bench/cuda/bench_cuda.lua --batches 8 --iters 20 --modes tf32,bf16 --graph 0 --gemm 0
  PY=${HUB_TORCH_PYTHON:-python3}
  if env -u LD_LIBRARY_PATH "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    say "bench: PyTorch ($PY)"
    # (without our LD_LIBRARY_PATH: the packed libraries are older than the image's own)
    env -u LD_LIBRARY_PATH timeout 240 "$PY" bench/cuda/bench_torch.py --batches 1,8 --iters 20 2>&1 | tee build-cuda/bench_torch.out | tee -a "$LOG" || true
    env -u LD_LIBRARY_PATH timeout 240 "$PY" bench/cuda/train_torch.py --batches 32,128 --iters 10 2>&1 | tee -a build-cuda/bench_torch.out | tee -a "$LOG" || true
    say "ratios hubrun / PyTorch (median times; below 1: hubrun is faster)"
    # "encoder mode=M batch=B ... median_ms=X" against "torch_encoder mode=M batch=B ... median_ms=Y", and the same
    # for encoder_graph and gemm
    awk '
      function field(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
      { kind = $1; t = (kind ~ /^torch_/); sub(/^torch_/, "", kind)
        key = kind " mode=" (field("mode") != "" ? field("mode") : field("dtype")) " batch=" field("batch")
        if (field("median_ms") == "") next
        if (t) torch[key] = field("median_ms"); else hub[key] = field("median_ms") }
      END { for (k in hub) if (k in torch) printf("ratio %s hubrun_ms=%s torch_ms=%s ratio=%.2f\n", k, hub[k], torch[k], hub[k] / torch[k]) }
    ' build-cuda/bench_hub.out build-cuda/bench_torch.out | sort | tee -a "$LOG"
  else
    say "bench: PyTorch column skipped (no torch with CUDA for $PY)"
  fi
fi
say "device check passed ($PHASES)"
