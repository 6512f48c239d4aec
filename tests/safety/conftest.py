"""A real HTTP server on 127.0.0.1 whose routes each test sets."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from safety_helpers import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    state = LocalServer(port=0)

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hosts_seen.append(self.headers.get("Host", ""))
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            # The client hanging up mid-body is exactly what some tests expect.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                route(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
