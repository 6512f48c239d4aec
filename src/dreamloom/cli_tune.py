"""``dreamloom tune``: the Style Tuner from a terminal (Version 5.2): make a tuner, draw some of
its looks (waiting for them, with a progress bar per look), turn picks into a `--style` code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from dreamloom.service import AccountView, Service
    from dreamloom.service.tuners import TunerView

tune_app = typer.Typer(
    no_args_is_help=True, help="The Style Tuner (--v 5.2): /tune, --style codes."
)
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $DREAMLOOM_DATA_DIR)."),
]


@contextmanager
def _session(
    user: str, data_dir: Path | None, *, dispatch: bool
) -> Iterator[tuple[Service, AccountView]]:
    from dreamloom.config import Settings
    from dreamloom.service import Service

    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    settings.ensure_dirs()
    with Service(settings, dispatch=dispatch) as service:
        yield service, service.ensure_user(user)


def _run(
    user: str,
    data_dir: Path | None,
    work: Callable[[Service, AccountView], T],
    *,
    dispatch: bool = False,
) -> T:
    from dreamloom.service import ServiceError

    with _session(user, data_dir, dispatch=dispatch) as (service, account):
        try:
            return work(service, account)
        except ServiceError as err:
            err_console.print(err.message, markup=False, highlight=False)
            raise typer.Exit(1) from None


def _print(view: TunerView) -> None:
    drawn = sum(1 for look in view.looks if look.job is not None)
    console.print(
        f"{view.id}  {view.directions} directions, {drawn} looks drawn  {view.prompt}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@tune_app.command("new")
def new(
    prompt: str,
    directions: Annotated[int, typer.Option(help="16, 32, 64 or 128.")] = 32,
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """/tune PROMPT: a tuner (nothing is drawn until `draw`)."""
    _print(_run(user, data_dir, lambda s, a: s.create_tuner(a, prompt, directions)))


@tune_app.command("list")
def list_tuners(user: str = "local", data_dir: DataDirOption = None) -> None:
    """/list_tuners."""
    for view in _run(user, data_dir, lambda s, a: s.list_tuners(a)):
        _print(view)


@tune_app.command("draw")
def draw(
    tuner_id: str,
    directions: Annotated[list[int], typer.Argument(help="Directions to draw (1 to 4).")],
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """Draw both looks of some directions and print their grids' files."""
    from dreamloom.domain import JobStatus

    def work(service: Service, account: AccountView) -> None:
        view = service.draw_tuner(account, tuner_id, directions)
        for look in view.looks:
            if look.direction not in directions or look.job is None:
                continue
            done = service.wait(look.job.id)
            if done.status != JobStatus.COMPLETED:
                err_console.print(f"{look.direction}{look.side.name}: {done.error}")
                continue
            grid = next(image for image in done.images if image.index == 0)
            console.print(
                f"{look.direction}{look.side.name}  {grid.path}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    _run(user, data_dir, work, dispatch=True)


@tune_app.command("code")
def code(
    tuner_id: str,
    picks: Annotated[list[str], typer.Argument(help="Direction and look: 0A 5B ...")],
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """The --style code of the picks."""
    from dreamloom.prompt.style_codes import Side

    chosen: dict[int, Side] = {}
    for pick in picks:
        number, side = pick[:-1], pick[-1:].upper()
        if not number.isdigit() or side not in ("A", "B"):
            raise typer.BadParameter(f'a pick is a direction and A or B, such as 3A, not "{pick}"')
        chosen[int(number)] = Side[side]
    made = _run(user, data_dir, lambda s, _a: s.tuner_code(tuner_id, chosen))
    console.print(f"--style {made}", highlight=False)
