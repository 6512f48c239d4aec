"""A running server's data directory: the folder 0700, every file of its own 0600."""

from __future__ import annotations

import stat

from api_helpers import Server


def test_the_servers_data_directory_and_files_are_private(server: Server) -> None:
    server.user("private")  # a write: the database's WAL files and write lock exist
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    names = ["dreamloom.db", "dreamloom.db-wal", "dreamloom.db-shm", "dreamloom.db-writelock"]
    names += ["dispatcher.lock", "url-signing.key"]
    modes = {name: stat.S_IMODE((server.data_dir / name).stat().st_mode) for name in names}
    assert modes == dict.fromkeys(names, 0o600)
