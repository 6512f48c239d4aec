"""A real server for the web app's tests (one for the module set: it costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import Server, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("web-server"),
        DREAMLOOM_WEB_ADMINS='["root"]',
        DREAMLOOM_IP_ADAPTER="tiny",  # pictures added as image prompts act
        DREAMLOOM_PERSONALIZE_RANKINGS="4",  # a profile unlocks after a grid or two
    )
    try:
        yield running
    finally:
        stop_server(running)
