#!/usr/bin/env bash
# Debian's chromium, the browser the web app's end-to-end tests drive through Playwright (no
# browser download is needed or possible). Installed with apt where it can
# (scripts/install-debian-packages.sh); otherwise the one command is printed, and those tests
# fail saying what is missing. Never fails the caller.
# Usage: bash scripts/install-browser.sh
set -uo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "web app tests: install chromium with this system's package manager" >&2
  exit 0
fi
exec "$BASH" "${0%/*}/install-debian-packages.sh" "web app tests" "chromium is missing" \
  chromium
