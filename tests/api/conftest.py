"""One real server for the whole API suite (starting one costs seconds of the CPU)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import (
    Files,
    Receiver,
    Server,
    serve_files,
    serve_receiver,
    start_server,
    stop_server,
)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("api-server"))
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


@pytest.fixture(scope="session")
def files() -> Iterator[Files]:
    yield from serve_files()
