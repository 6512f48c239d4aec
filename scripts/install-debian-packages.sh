#!/usr/bin/env bash
# Installs Debian packages the set-up needs with apt where it can (as root, or through sudo:
# without a password, or asking for it on a terminal); otherwise prints the one command that
# does. With DREAMLOOM_NO_APT=1 it only prints it. Never fails the caller, which checks
# afterwards whatever the packages were for. The caller has checked that they are missing and
# that apt-get exists.
# Usage: bash scripts/install-debian-packages.sh LABEL MISSING PACKAGE...
#   LABEL: what they are for ("Real-ESRGAN upscaler"); MISSING: how to say they are missing.
set -uo pipefail
LABEL="$1"
MISSING="$2"
shift 2
PACKAGES="$*"
COMMAND="sudo apt-get install -y --no-install-recommends $PACKAGES"

tell() {
  echo "$LABEL: $*" >&2
}

if [ "${DREAMLOOM_NO_APT:-}" = "1" ]; then
  tell "$MISSING; install them with: $COMMAND"
  exit 0
fi
if [ "$(id -u)" = "0" ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
  SUDO="sudo"
  tell "installing $PACKAGES with sudo (it may ask for your password)"
else
  tell "$MISSING and this user cannot install them; run: $COMMAND"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
install_packages() {
  # shellcheck disable=SC2086  # $SUDO may be empty and $PACKAGES is several words: split both
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
