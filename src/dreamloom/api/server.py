"""Running the HTTP server: in one process, or as a scheduler with several API processes.

One process (the embedded default) runs everything: HTTP, admission, the scheduler and its
workers. With ``processes > 1`` this process keeps the scheduler, the workers and the event
relay, and uvicorn starts that many API processes sharing the listening socket. They admit
jobs into the shared database (SQLite serialises their writes, PostgreSQL locks rows), wake
the scheduler, and hear every job's events through ``dreamloom.event_relay``. Python runs one
thread at a time per process, so this is how a server uses more than one core for requests.
"""

from __future__ import annotations

import json
import os
from typing import Any

from dreamloom.config import Settings


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    processes: int = 1,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    import uvicorn

    from dreamloom.api.app import create_app

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
    }
    if processes <= 1:
        uvicorn.run(create_app(settings), **options)
        return

    from dreamloom.service import Service

    with Service(settings) as service:
        if not service.dispatching:
            raise RuntimeError(
                f"another process already runs the scheduler of {settings.data_dir}; stop it first"
            )
        # The API processes are fresh interpreters: they read their settings from the
        # environment, and never schedule.
        os.environ.update(settings_env(settings) | {"DREAMLOOM_DISPATCH": "false"})
        uvicorn.run("dreamloom.api.app:create_app", factory=True, workers=processes, **options)


def settings_env(settings: Settings) -> dict[str, str]:
    """``DREAMLOOM_*`` variables from which ``Settings()`` rebuilds ``settings``."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"DREAMLOOM_{name.upper()}"] = text
    return env
