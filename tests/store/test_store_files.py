"""Image files: layout, atomic writes, and refusal of paths that leave the root."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dreamloom.store.files import ImageFiles, UnsafePathError

WHEN = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)


def test_save_read_delete_layout(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path)
    rel = files.save("abc123", 2, b"png-bytes", WHEN)
    assert rel == "2025/03/abc123/2.png"
    assert (tmp_path / rel).read_bytes() == b"png-bytes"
    assert files.read(rel) == b"png-bytes"
    assert files.exists(rel)
    assert files.save_preview("abc123", b"p", WHEN) == "2025/03/abc123/preview.png"
    assert files.delete(rel) is True
    assert files.delete(rel) is False
    files.delete_job("abc123", WHEN)
    assert not (tmp_path / "2025/03/abc123").exists()


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path)
    for index in range(5):
        files.save("job", index, b"x" * 1000, WHEN)
    names = sorted(p.name for p in (tmp_path / "2025/03/job").iterdir())
    assert names == [f"{i}.png" for i in range(5)]


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = ImageFiles(tmp_path)
    files.save("job", 1, b"old", WHEN)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        files.save("job", 1, b"new", WHEN)
    monkeypatch.undo()
    assert files.read("2025/03/job/1.png") == b"old"
    assert [p.name for p in (tmp_path / "2025/03/job").iterdir()] == ["1.png"]


def test_readers_never_see_a_half_written_file(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path)
    versions = [bytes([i]) * 200_000 for i in range(2)]
    rel = files.save("job", 1, versions[0], WHEN)
    stop = threading.Event()
    seen_bad: list[int] = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            files.save("job", 1, versions[i % 2], WHEN)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(300):
            data = files.read(rel)
            if data not in versions:
                seen_bad.append(len(data))
    finally:
        stop.set()
        thread.join()
    assert seen_bad == []


@pytest.mark.parametrize(
    "path",
    [
        "../outside.png",
        "2025/../../outside.png",
        "/etc/passwd",
        "2025//03/x.png",
        "./x.png",
        "a\\..\\b.png",
        "",
        "x\x00.png",
    ],
)
def test_unsafe_relative_paths_are_refused(tmp_path: Path, path: str) -> None:
    files = ImageFiles(tmp_path / "root")
    with pytest.raises(UnsafePathError):
        files.resolve(path)
    with pytest.raises(UnsafePathError):
        files.read(path)
    with pytest.raises(UnsafePathError):
        files.delete(path)


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "2025").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"secret")
    (root / "2025" / "link").symlink_to(tmp_path)
    files = ImageFiles(root)
    with pytest.raises(UnsafePathError):
        files.read("2025/link/secret.png")


@pytest.mark.parametrize("job_id", ["../x", "a/b", "..", ".hidden", "a\\b", ""])
def test_unsafe_job_ids_are_refused(tmp_path: Path, job_id: str) -> None:
    files = ImageFiles(tmp_path)
    with pytest.raises(UnsafePathError):
        files.save(job_id, 0, b"x", WHEN)
    assert list(tmp_path.iterdir()) == []
