#!/usr/bin/env bash
# tests/cuda/pack.sh: packs what tests/cuda/device_check.sh --prebuilt needs on a bare GPU
# machine whose image has the CUDA toolkit but none of hubrun's Debian libraries (oneDNN, LuaJIT,
# libedit, utf8proc, libcurl, libpng, libmicrohttpd and what they pull in):
#   build-cuda/device-pack.tar.gz  hubrun, libhub.so, libhub_lua.so, lua/hub/cdefs.lua, the
#                                  tests test_cuda, test_op_parity, test_backend, and device-libs/
#                                  (every shared library they load except glibc's, libstdc++,
#                                  libgcc_s and CUDA's own, which the GPU image has; and
#                                  lua-cjson's cjson.so in device-libs/lua)
# Builds build-cuda (HUB_CUDA=ON) first when it is not built.  Then, with the device tool:
#   run  command: tests/cuda/device_check.sh --prebuilt    carry: ["build-cuda/device-pack.tar.gz"]
#
#   tests/cuda/pack.sh [BUILD_DIR]       (default build-cuda)
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
B=${1:-build-cuda}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$B/tests/test_cuda" ] || ! grep -q '^HUB_CUDA:STRING=ON' "$B/CMakeCache.txt" 2>/dev/null; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DHUB_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" >/dev/null
fi
cmake --build "$B" -j"$(nproc)" --target hubrun test_cuda test_op_parity test_backend >/dev/null
grep -q '^HUB_CUDA:STRING=ON' "$B/CMakeCache.txt" || { echo "pack: $B is not a HUB_CUDA=ON build" >&2; exit 1; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/tests" "$STAGE/lua/hub" "$STAGE/device-libs"
cp "$B/hubrun" "$B/libhub.so" "$B/libhub_lua.so" "$STAGE/"
cp "$B/lua/hub/cdefs.lua" "$STAGE/lua/hub/"
BINS=()
for t in test_cuda test_op_parity test_backend; do cp "$B/tests/$t" "$STAGE/tests/"; BINS+=("$B/tests/$t"); done
# every library the binaries load, but the C library's family, the C++ runtime and CUDA's
ldd "$B/hubrun" "${BINS[@]}" | awk '/=> \//{print $1, $3}' | sort -u |
  grep -v -E '^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux[^ ]*|libstdc\+\+|libgcc_s|libcudart|libcublas|libcublasLt|libcuda|libhub|libhub_lua)\.so' |
  while read -r name path; do cp -L "$path" "$STAGE/device-libs/$name"; done
# lua-cjson's module (checkpoints and module manifests read JSON with it; tests/lua/test_device.lua)
CJSON=$(ls /usr/lib/*/lua/5.1/cjson.so 2>/dev/null | head -1 || true)
[ -n "$CJSON" ] && { mkdir -p "$STAGE/device-libs/lua"; cp -L "$CJSON" "$STAGE/device-libs/lua/cjson.so"; }
tar -czf "$B/device-pack.tar.gz" -C "$STAGE" .
echo "pack: $B/device-pack.tar.gz, $(du -m "$B/device-pack.tar.gz" | cut -f1) MB ($(ls "$STAGE/device-libs" | wc -l) libraries: $(ls "$STAGE/device-libs" | tr '\n' ' '))"
echo "pack: on the GPU machine: tests/cuda/device_check.sh --prebuilt   (carry build-cuda/device-pack.tar.gz)"
