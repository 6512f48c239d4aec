"""A server on a machine where Real-ESRGAN cannot load (its system libraries missing, as after
a set-up without them): upscales still complete, with Lanczos, and every such job says so in
its response and in the server's log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import Client, Server, start_server, stop_server


@pytest.fixture(scope="module")
def server_without_realesrgan(
    tmp_path_factory: pytest.TempPathFactory, without_realesrgan_path: str
) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("server-without-realesrgan"),
        PYTHONPATH=without_realesrgan_path,
        DREAMLOOM_WORKERS="1",
    )
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="module")
def single(server_without_realesrgan: Server) -> tuple[Client, dict[str, Any]]:
    client = server_without_realesrgan.user("no-esrgan")
    grid = client.imagine("a lighthouse at dusk --seed 3")
    assert grid["status"] == "completed", grid
    # The tiny diffusers model's grid needs no upscaler: nothing to say about it.
    assert "notes" not in grid["response"]
    return client, client.press(grid["jobid"], "U1")


@pytest.mark.parametrize("button", ["Upscale (Subtle)", "Upscale (Creative)"])
def test_an_upscale_without_real_esrgan_completes_and_says_so(
    server_without_realesrgan: Server, single: tuple[Client, dict[str, Any]], button: str
) -> None:
    client, source = single
    job = client.press(source["jobid"], button)
    assert job["status"] == "completed", job
    width = source["response"]["attachments"][0]["width"]
    assert job["response"]["attachments"][0]["width"] == 2 * width
    (note,) = job["response"]["notes"]
    assert note.startswith("Upscaled with a plain Lanczos resize")
    assert "libvulkan.so.1: cannot open shared object file" in note  # why, as the loader says
    # The buttons and the rest of the reference's shape are there as for any upscale.
    assert job["response"]["buttons"] == ["Redo Upscale (Subtle)", "Redo Upscale (Creative)"]
    log = server_without_realesrgan.log_path.read_text()
    assert f"job {job['jobid']}: Upscaled with a plain Lanczos resize" in log
