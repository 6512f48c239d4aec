"""Links come from configuration: ``public_url`` as set, else the address ``serve`` serves."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dreamloom.api.server import with_public_url
from dreamloom.config import Settings


def test_the_default_is_the_address_served(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert with_public_url(settings, "127.0.0.1", 8123).public_url == "http://127.0.0.1:8123"
    assert with_public_url(settings, "::1", 8123).public_url == "http://[::1]:8123"
    assert settings.public_url == ""  # a copy: the caller's settings are left alone


def test_a_configured_url_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="https://images.example")
    assert with_public_url(settings, "0.0.0.0", 80).public_url == "https://images.example"


def test_a_wildcard_bind_uses_the_machines_name_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = with_public_url(Settings(data_dir=tmp_path), "0.0.0.0", 8000).public_url
    assert chosen == f"http://{socket.gethostname()}:8000"
    assert "DREAMLOOM_PUBLIC_URL" in capsys.readouterr().err
