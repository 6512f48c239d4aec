"""Image files on the local disk, under one root directory.

Layout: ``<root>/<yyyy>/<mm>/<job id>/<index>.png`` (index 0 is the grid, 1-4 the singles) and
``.../<job id>/preview.png`` for the latest in-progress preview. The database stores paths
relative to the root, so the data directory can move.

Writes are atomic (temporary file in the same directory, fsync, rename): a reader or a crash
never sees half a PNG. Every path given back by a caller is checked to stay inside the root.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path, PurePosixPath

IMAGE_SUFFIX = ".png"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class UnsafePathError(ValueError):
    """A relative path that would leave the image root (``..``, absolute, odd characters)."""


class ImageFiles:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def job_dir(self, job_id: str, when: datetime) -> str:
        """The relative directory holding a job's files (``yyyy/mm/<job id>``)."""
        _check_name(job_id)
        return f"{when:%Y}/{when:%m}/{job_id}"

    def save(self, job_id: str, index: int, data: bytes, when: datetime) -> str:
        """Store image ``index`` of a job; returns the path relative to the root."""
        return self._write(self.image_path(job_id, index, when), data)

    def image_path(self, job_id: str, index: int, when: datetime) -> str:
        """Where ``save`` puts image ``index`` of a job (relative to the root)."""
        if index < 0:
            raise ValueError(f"image index must be >= 0, got {index}")
        return f"{self.job_dir(job_id, when)}/{job_image_name(index)}"

    def save_preview(self, job_id: str, data: bytes, when: datetime) -> str:
        """Store (replace) a job's latest progress preview."""
        return self._write(self.preview_path(job_id, when), data)

    def preview_path(self, job_id: str, when: datetime) -> str:
        """Where ``save_preview`` puts a job's preview (relative to the root)."""
        return f"{self.job_dir(job_id, when)}/preview.png"

    def delete_preview(self, job_id: str, when: datetime) -> bool:
        """Delete a job's preview, once its run is over (it only shows a run in progress)."""
        return self.delete(self.preview_path(job_id, when))

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored file; refuses anything outside the root."""
        pure = PurePosixPath(relative)
        if (
            not relative
            or "\\" in relative
            or "\x00" in relative
            or pure.is_absolute()
            or any(part in ("", ".", "..") for part in relative.split("/"))
        ):
            raise UnsafePathError(f"unsafe image path: {relative!r}")
        path = (self.root / pure).resolve()
        # Also catches a symlink inside the root that points elsewhere.
        if not path.is_relative_to(self.root):
            raise UnsafePathError(f"unsafe image path: {relative!r}")
        return path

    def read(self, relative: str) -> bytes:
        return self.resolve(relative).read_bytes()

    def exists(self, relative: str) -> bool:
        return self.resolve(relative).is_file()

    def delete(self, relative: str) -> bool:
        """Delete one file; returns whether it existed."""
        path = self.resolve(relative)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_job(self, job_id: str, when: datetime) -> None:
        """Delete every file of a job (its whole directory)."""
        shutil.rmtree(self.resolve(self.job_dir(job_id, when)), ignore_errors=True)

    def _write(self, relative: str, data: bytes) -> str:
        write_atomically(self.resolve(relative), data)
        return relative


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` at ``target`` so that no reader or crash sees half of it (a temporary
    file beside it, fsync, rename). Also used by worker processes, which write a job's
    images straight into its directory (``job_image_name``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=IMAGE_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; images are served by the app
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def job_image_name(index: int) -> str:
    """The file name of image ``index`` inside its job's directory."""
    return f"{index}{IMAGE_SUFFIX}"


def _check_name(name: str) -> None:
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise UnsafePathError(f"unsafe file name component: {name!r}")
