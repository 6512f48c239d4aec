"""What the command modules share: the consoles, ``--data-dir``, and running a use-case as an
account, a service error printed as the service words it (exit 1), never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from dreamloom.config import Settings
    from dreamloom.service import AccountView, Service

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $DREAMLOOM_DATA_DIR)."),
]


def settings_for(data_dir: Path | None) -> Settings:
    from dreamloom.config import Settings

    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    settings.ensure_dirs()
    return settings


def run_as(
    user: str,
    data_dir: Path | None,
    work: Callable[[Service, AccountView], T],
    *,
    dispatch: bool = False,
) -> T:
    """``work`` for the account ``user`` (created if missing). ``dispatch``: this command runs
    the jobs it queues while no server does (it waits for them)."""
    from dreamloom.service import Service, ServiceError

    with Service(settings_for(data_dir), dispatch=dispatch) as service:
        try:
            return work(service, service.ensure_user(user))
        except ServiceError as err:
            err_console.print(err.message, markup=False, highlight=False)
            raise typer.Exit(1) from None
