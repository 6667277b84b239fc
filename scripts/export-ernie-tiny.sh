#!/usr/bin/env bash
# export-ernie-tiny.sh: makes modules/ernie-tiny-zh's committed files out of a finished run of
# recipes/ernie_pretrain.lua: model.safetensors (f16, the masked-LM head kept for fill-mask, the
# untrained pooler left out) and config.json, through hub.pretrain.export; vocab.txt is already
# there (the corpus builder's).  Then `make registry` builds and checks the module.
#
#   scripts/export-ernie-tiny.sh RUN_DIR [BUILD_DIR]     # RUN_DIR: the recipe's --out
#
# docs/pretraining.md has the exact command of the committed run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
case "${1:-}" in
  ""|-h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ] && exit 0 || exit 2 ;;
esac
RUN=$1
BUILD=${2:-build}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
[ -s "$RUN/model.safetensors" ] && [ -s "$RUN/config.json" ] || die "$RUN has no model.safetensors and config.json (has the run finished?)"
[ -x "$BUILD/hubrun" ] || die "$BUILD/hubrun not found: build first (make build)"
"$BUILD/hubrun" -e "require('hub').pretrain.export{ run = '$RUN', dir = '$REPO/modules/ernie-tiny-zh' }"
say "wrote $REPO/modules/ernie-tiny-zh/model.safetensors ($(stat -c %s "$REPO/modules/ernie-tiny-zh/model.safetensors") bytes) and config.json"
