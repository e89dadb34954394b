#!/usr/bin/env bash
# `make report-preview`: renders the demo tenant's HTML report from synthetic counters
# and screenshots it in headless Chromium, so a person can look at it. Installs
# Debian's chromium if it is missing. Not part of `make test`.
# Usage: report-preview.sh [PERIOD] [LANGUAGE]   e.g. 2026-10 ru, 2026-W44 en
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh

period="${1:-${PERIOD:-}}"
language="${2:-${LANGUAGE:-}}"
out_dir=.local
html="$out_dir/report-preview.html"
png="$out_dir/report-preview.png"
mkdir -p "$out_dir"

browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then browser="$candidate"; break; fi
done
if [ -z "$browser" ]; then
  echo "==> installing Debian's chromium (headless screenshots)"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=""; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  browser=chromium
fi

args=(report preview --out "$html")
[ -n "$period" ] && args+=(--period "$period")
[ -n "$language" ] && args+=(--language "$language")
echo "==> rendering the demo tenant's report"
cargo run -q -p sauda-infra --bin sauda -- "${args[@]}"

echo "==> screenshot with $browser"
# A tall window: the whole report in one picture. The profile dir keeps runs apart.
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile" \
  --window-size=1100,4200 --screenshot="$PWD/$png" "file://$PWD/$html" 2>/dev/null
echo "report: $html"
echo "picture: $png"
