#!/usr/bin/env bash
# The README's picture of set-up command 1: segment the bundled samples with the bundled models
# (chosen per image), write the report, and photograph it in headless Chromium (Debian package
# 'chromium') -> docs/report_samples.png (1200 x 1700 px).
#   bash scripts/report_screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cellseg segment samples/images -o "$out/results" --report --quiet
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --no-first-run --disable-sync --hide-scrollbars \
    --user-data-dir="$out/profile" --virtual-time-budget=10000 --window-size=1200,1700 \
    --screenshot="$PWD/docs/report_samples.png" "file://$out/results/report.html" 2>/dev/null
echo "docs/report_samples.png from $out/results/report.html"
