#!/usr/bin/env bash
# fetch-data.sh: fetches real data sets from Debian packages into a cache, for recipes and tests.
#
#   scripts/fetch-data.sh digits            # -> $HUB_DATA/digits/digits.csv
#   HUB_DATA=/tmp/data scripts/fetch-data.sh digits
#
# The machines reach only Debian's archive (and PyPI), so data comes out of packages: the .deb
# is fetched with `apt-get download` into a temporary directory, unpacked with `dpkg -x` (never
# installed), and the one file needed is copied into the cache.  If the package is already
# installed, its file is used directly.  The cache is $HUB_DATA, by default <repo>/build/data.
# Files are written atomically (temporary file, then rename) and a data set already present is
# skipped, so running the script twice costs nothing.  Nothing fetched is ever committed.
#
# Data sets (licences in docs/data.md):
#   digits   scikit-learn's copy of the UCI optical handwritten digits (1,797 8x8 images, 64
#            pixel columns 0..16 then the label), from python3-sklearn:
#            usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
set -euo pipefail

. "$(dirname "$0")/lib.sh"
KNOWN="digits"

usage() {
  echo "usage: scripts/fetch-data.sh NAME..." >&2
  echo "  data sets: $KNOWN" >&2
  echo "  cache: \$HUB_DATA (now $DATA)" >&2
  exit 2
}

# deb_file PKG PATH: sets DEB_FILE to a local path of PATH (relative to /) from Debian package
# PKG, taken from the installed package if there is one, else from the downloaded, unpacked .deb
# (in a temporary directory removed on exit; so call it directly, not inside $(...)).
deb_file() {
  local pkg=$1 path=$2
  if [ -f "/$path" ] && dpkg -S "/$path" >/dev/null 2>&1; then
    DEB_FILE="/$path"; return 0
  fi
  deb_unpack "$pkg" "${TMPDIR:-/tmp}/hub-fetch.XXXXXX"
  [ -f "$DEB_ROOT/$path" ] || die "$(basename "$DEB") has no $path (the package layout changed?)"
  DEB_FILE="$DEB_ROOT/$path"
}

fetch_digits() {
  local dest="$DATA/digits/digits.csv"
  if [ -s "$dest" ]; then echo "digits: already in $dest"; return 0; fi
  deb_file python3-sklearn usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
  local src=$DEB_FILE
  mkdir -p "$DATA/digits"
  local tmp="$dest.tmp.$$"
  gzip -dc "$src" >"$tmp" || { rm -f "$tmp"; die "could not un-gzip $src"; }
  # 1,797 rows of 64 pixels and a label.
  local shape
  shape=$(awk -F, 'NF != 65 { bad = 1 } END { print NR, (bad ? "bad" : "ok") }' "$tmp")
  [ "$shape" = "1797 ok" ] || { rm -f "$tmp"; die "unexpected digits.csv from $src (rows, fields: $shape)"; }
  mv -f "$tmp" "$dest"
  echo "digits: 1797 examples in $dest (python3-sklearn, BSD-3-Clause; see docs/data.md)"
}

[ $# -gt 0 ] || usage
for name in "$@"; do
  case "$name" in
    digits) fetch_digits ;;
    -h|--help) usage ;;
    *) die "unknown data set '$name' (known: $KNOWN)" ;;
  esac
done
