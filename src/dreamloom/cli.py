"""The ``dreamloom`` command line: a thin face over :mod:`dreamloom.service`.

Heavy modules (torch, diffusers, SQLAlchemy) are imported inside the commands so that
``dreamloom --help`` and ``dreamloom prompt explain`` start instantly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from dreamloom.cli_models import models_app
from dreamloom.cli_personalize import personalize_app
from dreamloom.cli_tune import tune_app
from dreamloom.domain import JobStatus, SpeedMode, Variability, Visibility

if TYPE_CHECKING:
    from dreamloom.config import Settings
    from dreamloom.service import JobView, Service

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Self-hosted image generation.")
prompt_app = typer.Typer(no_args_is_help=True, help="The prompt language.")
user_app = typer.Typer(no_args_is_help=True, help="Accounts and API tokens.")
train_app = typer.Typer(no_args_is_help=True, help="Train models.")
library_app = typer.Typer(
    no_args_is_help=True, help="Your images: search them; like, hide, publish, delete."
)
app.add_typer(prompt_app, name="prompt")
app.add_typer(user_app, name="user")
app.add_typer(train_app, name="train")
app.add_typer(library_app, name="library")
prefer_app = typer.Typer(no_args_is_help=True, help="/prefer: a custom suffix, custom options.")
option_app = typer.Typer(no_args_is_help=True, help="/prefer option: named prompt texts.")
app.add_typer(prefer_app, name="prefer")
prefer_app.add_typer(option_app, name="option")
app.add_typer(models_app, name="models")
app.add_typer(personalize_app, name="personalize")
app.add_typer(tune_app, name="tune")

console = Console()
err_console = Console(stderr=True)

UserOption = Annotated[str, typer.Option(help="Account (created if missing).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the command's job as JSON.")]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $DREAMLOOM_DATA_DIR)."),
]


def _settings(data_dir: Path | None) -> Settings:
    from dreamloom.config import Settings

    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    settings.ensure_dirs()
    return settings


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]{message}[/red]")
    return typer.Exit(code=2)


@prompt_app.command("explain")
def prompt_explain(
    prompt: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Parse a prompt and print its normalised form (one line per job it expands to)."""
    from dreamloom.prompt import PromptContext, PromptError, parse_prompt

    try:
        prompts = parse_prompt(prompt, PromptContext(batch_cap=40))
    except PromptError as err:
        if as_json:
            print(json.dumps({"error": err.message}))
            raise typer.Exit(code=2) from None
        raise _fail(err.message) from None
    if as_json:
        print(json.dumps([p.to_dict() for p in prompts], indent=2))
        return
    for p in prompts:
        console.print(p.normalized(), markup=False, highlight=False)


PasswordStdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the web app password from standard input."),
]


@user_app.command("add")
def user_add(
    name: str,
    plan: Annotated[str, typer.Option(help="basic, standard, pro or mega.")] = "standard",
    password: Annotated[
        bool, typer.Option("--password", help="Also set a web app password (asked for).")
    ] = False,
    password_stdin: PasswordStdinOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Create an account and print a new API token (shown once; stored hashed)."""
    from dreamloom.service import Service, ServiceError

    secret = _new_password(password_stdin) if password or password_stdin else None
    with Service(_settings(data_dir), dispatch=False) as service:
        try:
            account, token = service.create_user(name, plan)
            if secret is not None:
                service.set_password(name, secret)
        except ServiceError as err:
            raise _fail(str(err)) from None
    console.print(f"account {account.name} (plan {account.plan})", highlight=False)
    print(token)


@user_app.command("password")
def user_password(
    name: str, password_stdin: PasswordStdinOption = False, data_dir: DataDirOption = None
) -> None:
    """Set or reset an account's web app password (its browsers are signed out)."""
    from dreamloom.service import Service, ServiceError

    secret = _new_password(password_stdin)
    with Service(_settings(data_dir), dispatch=False) as service:
        try:
            service.set_password(name, secret)
        except ServiceError as err:
            raise _fail(str(err)) from None
    console.print(f"password of {name} set", highlight=False)


def _new_password(from_stdin: bool) -> str:
    from dreamloom.service import ServiceError
    from dreamloom.service.signins import check_password

    # Asked for or piped in, never an argument: arguments end up in shell histories and
    # process lists.
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    try:
        return check_password(secret)
    except ServiceError as err:
        raise _fail(err.message) from None


@user_app.command("token")
def user_token(name: str, data_dir: DataDirOption = None) -> None:
    """Issue an additional API token for an existing account."""
    from dreamloom.service import Service, ServiceError

    with Service(_settings(data_dir), dispatch=False) as service:
        try:
            token = service.issue_token(name)
        except ServiceError as err:
            raise _fail(str(err)) from None
    print(token)


@user_app.command("list")
def user_list(data_dir: DataDirOption = None) -> None:
    """List accounts with their plan and remaining fast time."""
    from dreamloom.service import Service

    with Service(_settings(data_dir), dispatch=False) as service:
        for row in service.list_users():
            console.print(
                f"{row.name:20} {row.plan:9} fast time left {row.fast_seconds_left / 60:8.1f} min",
                highlight=False,
            )


@user_app.command("grant")
def user_grant(
    name: str,
    hours: Annotated[float, typer.Option(help="Fast GPU hours to add.")],
    kind: Annotated[str, typer.Option(help="purchased (60 days) or bonus (30 days).")] = (
        "purchased"
    ),
    data_dir: DataDirOption = None,
) -> None:
    """Add purchased or bonus fast time to an account."""
    from dreamloom.service import Service, ServiceError

    with Service(_settings(data_dir), dispatch=False) as service:
        try:
            left = service.grant_time(name, kind, hours)
        except ServiceError as err:
            raise _fail(err.message) from None
    console.print(f"{name}: fast time left {left / 3600:.2f} h", highlight=False)


@app.command()
def imagine(
    prompt: str,
    user: Annotated[str, typer.Option(help="Account that submits (created if missing).")] = "local",
    out: Annotated[Path, typer.Option(help="Folder for the grid and singles.")] = Path("."),
    data_dir: DataDirOption = None,
) -> None:
    """Generate a 4-image grid through the job queue, with a progress bar."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from dreamloom.api.v3.webhooks import webhook_renderer
    from dreamloom.service import Service, ServiceError

    settings = _settings(data_dir)
    # While no server runs, this command dispatches, and sends its jobs' deliveries.
    with Service(settings, renderer=webhook_renderer(settings)) as service:
        account = service.ensure_user(user)
        try:
            jobs = service.submit_imagine(account, prompt)
        except ServiceError as err:
            raise _fail(str(err)) from None
        if settings.model == "tiny":
            err_console.print(
                "[yellow]model 'tiny' is randomly initialised: images are noise-like. "
                "Set DREAMLOOM_MODEL to a real model for real pictures.[/yellow]"
            )
        out.mkdir(parents=True, exist_ok=True)
        failed = False
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as bar:
            for job in jobs:
                task = bar.add_task(f"job {job.id[:8]}", total=100)

                def show(percent: int, task: TaskID = task) -> None:
                    bar.update(task, completed=percent)

                done = service.wait(job.id, on_progress=show)
                bar.update(task, completed=100)
                if done.status != JobStatus.COMPLETED:
                    failed = True
                    err_console.print(f"job {done.id}: {done.status} {done.error or ''}")
                    continue
                paths = service.export_images(done.id, out)
                console.print(f"job {done.id} seed {done.seed}", highlight=False)
                for path in paths:
                    console.print(f"  {path}", highlight=False)
                for note in done.notes:  # a fallback the engine took (no Real-ESRGAN, ...)
                    console.print(f"  note: {note}", markup=False, highlight=False, soft_wrap=True)
        if failed:
            raise typer.Exit(code=1)


@app.command()
def cancel(job_id: str, user: str = "local", data_dir: DataDirOption = None) -> None:
    """Cancel a running job (queued jobs cannot be cancelled)."""
    from dreamloom.service import Service, ServiceError

    with Service(_settings(data_dir), dispatch=False) as service:
        try:
            service.cancel(service.ensure_user(user), job_id)
        except ServiceError as err:
            raise _fail(str(err)) from None
    console.print(f"cancelled {job_id}")


def _command(data_dir: Path | None, as_json: bool, work: Callable[[Service], JobView]) -> None:
    """Run a settings-type command and print its reply (and its settings)."""
    from dreamloom.service import Service, ServiceError

    with Service(_settings(data_dir), dispatch=False) as service:
        try:
            view = work(service)
        except ServiceError as err:
            raise _fail(err.message) from None
    response = {k: v for k, v in view.response.items() if not k.startswith("_")}
    if as_json:
        print(json.dumps({"jobid": view.id, "verb": view.verb, "response": response}, indent=2))
        return
    if "content" in response:
        console.print(response["content"], markup=False, highlight=False)
    for key, value in (response.get("settings") or {}).items():
        console.print(f"  {key}: {json.dumps(value)}", markup=False, highlight=False)


@app.command("settings")
def settings_command(
    user: UserOption = "local",
    version: Annotated[
        str | None, typer.Option(help="default, 7, 6.1, niji 6, ... (the version selector).")
    ] = None,
    stylize: Annotated[
        str | None, typer.Option(help="low, med, high, very high, or 0-1000.")
    ] = None,
    raw: Annotated[bool | None, typer.Option("--raw/--no-raw", help="RAW Mode.")] = None,
    personalization: Annotated[
        bool | None,
        typer.Option("--personalization/--no-personalization", help="Add --p to prompts."),
    ] = None,
    visibility: Annotated[Visibility | None, typer.Option(help="public or stealth.")] = None,
    remix: Annotated[bool | None, typer.Option("--remix/--no-remix")] = None,
    variability: Annotated[
        Variability | None, typer.Option(help="high (Strong) or low (Subtle) variations.")
    ] = None,
    speed: Annotated[SpeedMode | None, typer.Option(help="fast, relax or turbo.")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Reset Settings.")] = False,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """/settings: show the account's settings, change them, or reset them."""
    from dreamloom.service.preferences import SettingsChange

    change = SettingsChange(
        version=version,
        stylize=stylize,
        raw=raw,
        personalization=personalization,
        visibility=visibility,
        remix=remix,
        variability=variability,
        speed=speed,
    )

    def work(service: Service) -> JobView:
        account = service.ensure_user(user)
        if reset:
            if not change.is_empty():
                raise _fail("--reset resets everything: give it alone")
            return service.reset_settings(account)
        if change.is_empty():
            return service.run_command(account, "settings")
        return service.change_settings(account, change)

    _command(data_dir, as_json, work)


def _switch_command(verb: str, doc: str) -> None:
    def switch(
        user: UserOption = "local", as_json: JsonOption = False, data_dir: DataDirOption = None
    ) -> None:
        _command(data_dir, as_json, lambda s: s.run_command(s.ensure_user(user), verb))

    switch.__doc__ = doc
    app.command(verb)(switch)


_switch_command("stealth", "/stealth: new images are unpublished (Pro and Mega plans).")
_switch_command("public", "/public: new images are published again.")


# A suffix or an option's value is parameter text ("--ar 16:9"): not options of the command.
_PARAMETER_TEXT = {"ignore_unknown_options": True}


@prefer_app.command("suffix", context_settings=_PARAMETER_TEXT)
def prefer_suffix(
    value: Annotated[
        list[str] | None,
        typer.Argument(help="Parameters added to every prompt; none: show it."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the suffix.")] = False,
    user: UserOption = "local",
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """/prefer suffix: show, set or clear the parameters added to every prompt."""
    if clear and value is not None:
        raise _fail("Give a suffix or --clear, not both")
    suffix = "" if clear else None if value is None else " ".join(value)
    _command(data_dir, as_json, lambda s: s.prefer_suffix(s.ensure_user(user), suffix))


@option_app.command("set", context_settings=_PARAMETER_TEXT)
def option_set(
    name: str,
    value: Annotated[list[str], typer.Argument(help="Prompt text and parameters.")],
    user: UserOption = "local",
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """/prefer option set: --NAME in a prompt stands for VALUE."""
    _command(data_dir, as_json, lambda s: s.set_option(s.ensure_user(user), name, " ".join(value)))


@option_app.command("list")
def option_list(
    user: UserOption = "local", as_json: JsonOption = False, data_dir: DataDirOption = None
) -> None:
    """/prefer option list."""
    _command(data_dir, as_json, lambda s: s.list_options(s.ensure_user(user)))


@option_app.command("delete")
def option_delete(
    name: str,
    user: UserOption = "local",
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a custom option."""
    _command(data_dir, as_json, lambda s: s.delete_option(s.ensure_user(user), name))


@app.command()
def show(
    job_id: str,
    user: UserOption = "local",
    out: Annotated[Path, typer.Option(help="Folder for the job's images.")] = Path("."),
    data_dir: DataDirOption = None,
) -> None:
    """/show: post one of your jobs again, as a new job whose buttons work; writes its images."""
    from dreamloom.service import Service, ServiceError

    with Service(_settings(data_dir), dispatch=False) as service:
        try:
            view = service.show(service.ensure_user(user), job_id)
        except ServiceError as err:
            raise _fail(err.message) from None
        out.mkdir(parents=True, exist_ok=True)
        paths = service.export_images(view.id, out)
    console.print(f"job {view.id} shows {job_id}", highlight=False)
    console.print(f"  buttons: {' '.join(view.buttons)}", markup=False, highlight=False)
    for path in paths:
        console.print(f"  {path}", highlight=False)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: DataDirOption = None,
    processes: Annotated[
        int | None,
        typer.Option(
            help="API processes (default DREAMLOOM_API_PROCESSES, 1); more use more cores."
        ),
    ] = None,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Run the server: the scheduler, the local workers and the HTTP interface."""
    from dreamloom.api.server import serve as run

    settings = _settings(data_dir)
    count = processes or settings.api_processes
    console.print(
        f"dreamloom serving on http://{host}:{port} (data {settings.data_dir}, "
        f"model {settings.model}, {count} API process{'es' if count > 1 else ''})",
        highlight=False,
    )
    try:
        run(
            settings,
            host=host,
            port=port,
            processes=count,
            log_level=log_level,
            access_log=access_log,
        )
    except RuntimeError as err:
        raise _fail(str(err)) from None


@train_app.command("bundled")
def train_bundled(
    data: Annotated[Path, typer.Option(help="Dataset folder (built from packages if empty).")] = (
        Path("bundled-data")
    ),
    out: Annotated[Path, typer.Option(help="Checkpoints and exported weights.")] = Path(
        "bundled-train"
    ),
    steps: Annotated[
        int | None, typer.Option(help="Generator steps (default: the recipe's).")
    ] = None,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = True,
    install: Annotated[
        bool, typer.Option(help="Copy the trained weights over the packaged ones.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads (default 1; every core on an idle machine)."),
    ] = None,
    device: Annotated[str, typer.Option(help="Torch device to train on, e.g. cuda.")] = "cpu",
    batch: Annotated[int, typer.Option(help="Generator pictures per step.")] = 32,
    encoder_steps: Annotated[
        int | None,
        typer.Option(help="Image encoder steps (default: scaled with --steps, at most 1,200)."),
    ] = None,
) -> None:
    """Build the emoji dataset and train the bundled model (seeded, resumable)."""
    from dreamloom.bundled import training

    weights = training.main(
        data,
        out,
        steps=steps or training.DEFAULT_STEPS,
        seed=seed,
        resume=resume,
        threads=threads or training.DEFAULT_THREADS,
        device=device,
        batch=batch,
        encoder_steps=encoder_steps,
    )
    console.print(f"weights in {weights}", highlight=False)
    if install:
        console.print(f"installed into {training.install(weights)}", highlight=False)


@library_app.command("list")
def library_list(
    search: Annotated[str, typer.Option(help="Words that must all be in the prompt.")] = "",
    liked: Annotated[bool, typer.Option(help="Only the liked ones.")] = False,
    hidden: Annotated[bool, typer.Option(help="The hidden ones instead.")] = False,
    upscaled: Annotated[bool, typer.Option(help="Only upscales.")] = False,
    limit: int = 30,
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """The account's finished images, newest first: job id, likes, visibility, prompt."""
    from dreamloom.service import Service
    from dreamloom.service.library import ArchiveQuery

    query = ArchiveQuery(
        text=search, liked=liked, hidden=hidden, upscaled=upscaled, limit=max(1, limit)
    )
    with Service(_settings(data_dir), dispatch=False) as service:
        page = service.archive(service.ensure_user(user), query)
    for item in page.items:
        mark = "♥" if item.liked else " "
        line = (
            f"{item.job.id}  {mark}{item.likes:3d}  {item.job.visibility:7}  {item.job.prompt_text}"
        )
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@library_app.command("do")
def library_do(
    action: Annotated[
        str, typer.Argument(help="like, unlike, hide, unhide, publish, unpublish or delete.")
    ],
    job_ids: Annotated[list[str], typer.Argument(help="The jobs.")],
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """One action on several jobs, all or none."""
    from dreamloom.service import Service, ServiceError
    from dreamloom.service.library import BulkAction

    try:
        chosen = BulkAction(action)
    except ValueError:
        raise _fail(f"Unknown action {action!r}: {', '.join(BulkAction)}") from None
    with Service(_settings(data_dir), dispatch=False) as service:
        try:
            count = service.apply_to_jobs(service.ensure_user(user), job_ids, chosen)
        except ServiceError as err:
            raise _fail(err.message) from None
    console.print(f"{chosen}: {count} job{'s' if count != 1 else ''}", highlight=False)


def main() -> None:
    try:
        app()
    except ValueError as err:
        # The operator's models file: say what is wrong, without a traceback. (Imported only
        # here, so that `dreamloom --help` stays instant.)
        from dreamloom.engine.catalog import CatalogError

        if not isinstance(err, CatalogError):
            raise
        err_console.print(str(err), style="red", markup=False, highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
