# shellcheck shell=bash disable=SC2034
# lib.sh: what the scripts in scripts/ share; sourced (never run) right after `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib.sh"
#
# It sets
#   PROG   the script's name without .sh (fetch-data, ...), which starts its messages
#   REPO   the repository root, wherever the script is called from
#   DATA   the data cache: $HUB_DATA, by default <repo>/build/data
# and defines die, say and deb_unpack (below).  The temporary directories deb_unpack makes are
# removed when the script exits (an EXIT trap).  (SC2034 is off: the variables set here are for
# the script that sources this file.)

PROG=${0##*/}
PROG=${PROG%.sh}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${HUB_DATA:-$REPO/build/data}

# die MESSAGE...: "PROG: MESSAGE" on stderr, and exit 1.  say MESSAGE...: the same, going on.
die() { echo "$PROG: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }

TMPS=()
cleanup() { local d; for d in "${TMPS[@]+"${TMPS[@]}"}"; do rm -rf "$d"; done; }
trap cleanup EXIT

# deb_unpack PKG TEMPLATE: fetches Debian package PKG with `apt-get download` (after `apt-get
# update` when that fails and we are root) into a new temporary directory made by `mktemp -d
# TEMPLATE` (removed on exit), and unpacks it there with `dpkg -x` (never installed).  Sets DEB
# (the .deb), DEB_DIR (the temporary directory) and DEB_ROOT ($DEB_DIR/root, the unpacked
# tree).  Call it directly, not inside $(...): the variables and the clean-up list would be lost.
deb_unpack() {
  local pkg=$1 template=$2
  command -v apt-get >/dev/null || die "apt-get not found: $pkg can only be fetched on Debian/Ubuntu"
  DEB_DIR=$(mktemp -d "$template")
  TMPS+=("$DEB_DIR")
  local dir=$DEB_DIR
  if ! (cd "$dir" && apt-get download -q "$pkg" >"$dir/apt.log" 2>&1); then
    if [ "$(id -u)" = 0 ]; then
      say "apt-get download $pkg failed; running apt-get update and trying again"
      apt-get update -q >"$dir/update.log" 2>&1 || { cat "$dir/update.log" >&2; die "apt-get update failed"; }
      (cd "$dir" && apt-get download -q "$pkg" >"$dir/apt.log" 2>&1) ||
        { cat "$dir/apt.log" >&2; die "apt-get download $pkg failed"; }
    else
      cat "$dir/apt.log" >&2
      die "apt-get download $pkg failed.  The package lists may be empty: run 'sudo apt-get update' and try again."
    fi
  fi
  DEB=$(ls "$dir"/*.deb 2>/dev/null | head -n 1)
  [ -n "$DEB" ] || die "apt-get download $pkg left no .deb in $dir"
  dpkg -x "$DEB" "$dir/root" || die "dpkg -x $DEB failed"
  DEB_ROOT=$dir/root
}
