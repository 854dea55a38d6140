#!/usr/bin/env bash
# Renders the activity heat map in headless Chromium (Debian's chromium
# package) to PNGs on a light and a dark page, to check how it looks where
# it is meant to be embedded.
#   scripts/render-calendar.sh [SVG file or URL] [output prefix]
# Without an SVG, a made-up year is drawn (modules/activity/internal/calendarsample).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${2:-docs/img/calendar}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
svg=${1:-}
if [[ -z "$svg" ]]; then
	go run ./modules/activity/internal/calendarsample >"$work/calendar.svg"
	svg="$work/calendar.svg"
elif [[ "$svg" == http* ]]; then
	curl -fsS "$svg" >"$work/calendar.svg"
	svg="$work/calendar.svg"
fi
[[ "$svg" == "$work/calendar.svg" ]] || cp "$svg" "$work/calendar.svg"
for scheme in light dark; do
	bg=#ffffff
	[[ $scheme == dark ]] && bg=#0d1117
	cat >"$work/$scheme.html" <<EOT
<!doctype html><html><head><meta name="color-scheme" content="$scheme">
<style>body{margin:16px;background:$bg}</style></head>
<body><img src="calendar.svg" alt="activity calendar"></body></html>
EOT
	flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=820,190)
	[[ $scheme == dark ]] && flags+=(--force-dark-mode --blink-settings=preferredColorScheme=0)
	[[ $scheme == light ]] && flags+=(--blink-settings=preferredColorScheme=1)
	chromium "${flags[@]}" --screenshot="$PWD/$out-$scheme.png" "file://$work/$scheme.html" >/dev/null 2>&1
	echo "$out-$scheme.png"
done
