#!/usr/bin/env bash
# build-registry.sh: builds the modules hubrun can make on a machine with no internet, and the
# local registry that lists them -- the default registry, so that `hubrun install lac` works
# after set-up (`make registry`).
#
#   scripts/build-registry.sh [BUILD_DIR]      # BUILD_DIR holds hubrun (default: build)
#
# Today that is lac: Baidu's LAC-small weights come out of Debian's python3-jieba (fetched by
# scripts/fetch-lac.sh into the data cache, $HUB_DATA or build/data), are converted from
# PaddlePaddle's parameter files to lac.safetensors by scripts/build-registry.lua (run by
# hubrun), and packed with modules/lac/module.lua, word.dic and tag.dic into
# build/registry/lac/1.0.0/.  Then build/registry/index.json lists every module directory
# there with sha256, size and file:// URLs.  The registry directory can be moved elsewhere with
# HUB_REGISTRY_DIR (the store's default is file://<repo>/build/registry/index.json; point
# HUB_DEFAULT_REGISTRY at another index).  A module already built from the same sources is
# not rebuilt.  Licences: LAC-small Apache-2.0, python3-jieba MIT (docs/cli-run.md).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
HUBRUN=$BUILD/hubrun
OUT=${HUB_REGISTRY_DIR:-$REPO/build/registry}

[ -x "$HUBRUN" ] || die "$HUBRUN not found: build first (make build)"

# Up to date when lac's module.json is newer than everything it is made from.
lac_json=$OUT/lac/1.0.0/module.json
stale=1
if [ -s "$lac_json" ] && [ -s "$OUT/index.json" ]; then
  stale=0
  for src in "$REPO/modules/lac/module.lua" "$REPO/scripts/build-registry.lua" "$REPO/lua/hub/lac.lua"; do
    [ "$src" -nt "$lac_json" ] && stale=1
  done
fi
if [ "$stale" = 0 ]; then
  echo "build-registry: $OUT is up to date" >&2
  exit 0
fi

LAC_DIR=$("$REPO/scripts/fetch-lac.sh" jieba) || die "could not fetch python3-jieba (scripts/fetch-lac.sh)"
"$HUBRUN" "$REPO/scripts/build-registry.lua" --out "$OUT" --lac "$LAC_DIR"

# A check that the module works: the known answer of DATA.md.
got=$(cd "$REPO" && "$HUBRUN" run "$OUT/lac/1.0.0" --input_text "百度是一家高科技公司")
want="百度/ORG 是/v 一家/m 高科技/n 公司/n"
[ "$got" = "$want" ] || die "the built lac module answers '$got', expected '$want'"
echo "build-registry: lac checked: $got" >&2
