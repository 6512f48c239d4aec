"""``dreamloom tune``: the Style Tuner from a terminal (Version 5.2): make a tuner, draw some of
its looks (a progress bar per look while they are drawn), turn picks into a `--style` code."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from dreamloom.cli_common import DataDirOption, console, err_console, run_as

if TYPE_CHECKING:
    from dreamloom.service import AccountView, Service
    from dreamloom.service.tuners import TunerView

tune_app = typer.Typer(
    no_args_is_help=True, help="The Style Tuner (--v 5.2): /tune, --style codes."
)


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
    _print(run_as(user, data_dir, lambda s, a: s.create_tuner(a, prompt, directions)))


@tune_app.command("list")
def list_tuners(user: str = "local", data_dir: DataDirOption = None) -> None:
    """/list_tuners."""
    for view in run_as(user, data_dir, lambda s, a: s.list_tuners(a)):
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
        from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

        view = service.draw_tuner(account, tuner_id, directions)
        looks = [look for look in view.looks if look.direction in directions and look.job]
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=err_console
        ) as bar:
            bars = {
                look.job.id: bar.add_task(f"look {look.direction}{look.side.name}", total=100)
                for look in looks
                if look.job is not None
            }

            def shown(task: TaskID) -> Callable[[int], None]:
                return lambda percent: bar.update(task, completed=percent)

            finished = [service.wait(job, on_progress=shown(task)) for job, task in bars.items()]
        for look, done in zip(looks, finished, strict=True):
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

    run_as(user, data_dir, work, dispatch=True)


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
    made = run_as(user, data_dir, lambda s, _a: s.tuner_code(tuner_id, chosen))
    console.print(f"--style {made}", highlight=False)
