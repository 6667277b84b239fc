#!/usr/bin/env bash
# fetch-lac.sh: fetches Baidu's LAC-small weights (inside Debian's python3-jieba) and the real
# Chinese text the LAC tests and benchmark run on (Debian's debian-reference-zh-cn), into the
# data cache, and prints the lac_small directory on stdout.
#
#   scripts/fetch-lac.sh            # both; stdout: $HUB_DATA/jieba/usr/lib/python3/dist-packages/jieba/lac_small
#   scripts/fetch-lac.sh jieba      # only the weights
#   scripts/fetch-lac.sh text       # only $HUB_DATA/debian-reference-zh-cn/debian-reference.zh-cn.txt
#
# Packages are fetched with `apt-get download` (after `apt-get update` when that fails and we
# are root) and unpacked with `dpkg -x`, never installed.  python3-jieba is unpacked whole into
# $HUB_DATA/jieba (a temporary directory renamed into place, so a half-done fetch never looks
# done); of debian-reference-zh-cn only the plain-text book is kept, un-gzipped.  Whatever is
# already present is skipped.  The cache is $HUB_DATA, by default <repo>/build/data.  Nothing
# fetched is ever committed.  Licences: LAC-small Apache-2.0 (python3-jieba: MIT),
# debian-reference GPL-2+; see docs/lac.md.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
LAC_REL=usr/lib/python3/dist-packages/jieba/lac_small
TEXT_REL=usr/share/debian-reference/debian-reference.zh-cn.txt.gz

fetch_jieba() {
  local dest="$DATA/jieba"
  if [ -s "$dest/$LAC_REL/model_baseline/crfw" ] && [ -s "$dest/$LAC_REL/word.dic" ]; then
    say "python3-jieba: already in $dest"
    return 0
  fi
  mkdir -p "$DATA"
  deb_unpack python3-jieba "$DATA/.jieba.XXXXXX"
  local f
  for f in word.dic tag.dic model_baseline/word_emb model_baseline/crfw model_baseline/gru_3.w_0; do
    [ -s "$DEB_ROOT/$LAC_REL/$f" ] || die "$(basename "$DEB") has no $LAC_REL/$f (the package layout changed?)"
  done
  rm -rf "$dest"
  mv "$DEB_ROOT" "$dest"
  say "python3-jieba: $(basename "$DEB") unpacked into $dest"
}

fetch_text() {
  local dest="$DATA/debian-reference-zh-cn/debian-reference.zh-cn.txt"
  if [ -s "$dest" ]; then say "debian-reference-zh-cn: already in $dest"; return 0; fi
  mkdir -p "$DATA/debian-reference-zh-cn"
  deb_unpack debian-reference-zh-cn "$DATA/.debref.XXXXXX"
  [ -s "$DEB_ROOT/$TEXT_REL" ] || die "$(basename "$DEB") has no $TEXT_REL (the package layout changed?)"
  gzip -dc "$DEB_ROOT/$TEXT_REL" >"$DEB_DIR/text" || die "could not un-gzip $TEXT_REL"
  mv -f "$DEB_DIR/text" "$dest"
  say "debian-reference-zh-cn: $(basename "$DEB") text in $dest"
}

what=${1:-all}
case "$what" in
  all) fetch_jieba; fetch_text ;;
  jieba) fetch_jieba ;;
  text) fetch_text ;;
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$what' (all, jieba or text)" ;;
esac
case "$what" in all|jieba) echo "$DATA/jieba/$LAC_REL" ;; esac
