#!/usr/bin/env bash
# Says whether the Real-ESRGAN upscaler loads and enlarges a picture with the given Python (that
# of the installation), now rather than at the first upscale, where a missing library would only
# show as softer pictures (and a note on each job). Exit status 0 unless the upscaler does not
# load and CI=true or DREAMLOOM_REQUIRE_UPSCALER=1 (CI must not pass with its tests skipped).
# Usage: bash scripts/check-upscaler.sh [PYTHON]   (default .venv/bin/python)
set -uo pipefail
python="${1:-.venv/bin/python}"
if ! problem="$("$python" -c 'from dreamloom.engine.upscale import check_realesrgan as c; print(c() or "")')"; then
  problem="the check itself failed (its error is above)"
fi
if [ -z "$problem" ]; then
  echo "Real-ESRGAN upscaler: loads"
  exit 0
fi
{
  echo "WARNING: the Real-ESRGAN upscaler does not load: $problem"
  echo "  Upscales will fall back to a plain Lanczos resize (each such job says so)."
  echo "  On Debian or Ubuntu: sudo apt-get install -y --no-install-recommends libvulkan1 libomp5"
} >&2
if [ "${CI:-}" = "true" ] || [ "${DREAMLOOM_REQUIRE_UPSCALER:-}" = "1" ]; then exit 1; fi
exit 0
