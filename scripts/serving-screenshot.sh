#!/usr/bin/env bash
# serving-screenshot.sh: the picture of `hubrun serving`'s web page in docs/serving.md.  Starts a
# server on a free port of 127.0.0.1 with lac, senta-ernie-tiny-zh and all-minilm-l6-v2 from the
# built registry (make registry), opens /?run=1 in headless Chromium (Debian's chromium: the page
# posts each form's sample text and shows the answer) and writes the screenshot.
#
#   scripts/serving-screenshot.sh [OUT.png]      (default docs/images/serving-page.png)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$REPO/docs/images/serving-page.png}
HUBRUN=${HUBRUN:-$REPO/build/hubrun}
REG=${HUB_REGISTRY_DIR:-$REPO/build/registry}
command -v chromium >/dev/null || { echo "serving-screenshot: chromium is not installed (apt-get install chromium)" >&2; exit 1; }
mods=""
for m in lac senta-ernie-tiny-zh all-minilm-l6-v2; do
  [ -f "$REG/$m/1.0.0/module.json" ] || { echo "serving-screenshot: $REG/$m/1.0.0 is not built (make registry)" >&2; exit 1; }
  mods="$mods${mods:+,}$REG/$m/1.0.0"
done
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
HUB_HOME=$tmp/home "$HUBRUN" serving start -m "$mods" -p 0 >"$tmp/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$tmp/log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "serving-screenshot: the server did not start" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
  --user-data-dir="$tmp/chromium" --window-size=1000,1500 --virtual-time-budget=20000 \
  --screenshot="$OUT" "http://127.0.0.1:$port/?run=1" 2>/dev/null
echo "serving-screenshot: wrote $OUT"
