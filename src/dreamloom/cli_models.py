"""``dreamloom models ...``: the operator's version -> model map (``engine.catalog``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from dreamloom.config import Settings
    from dreamloom.engine.catalog import CatalogEntry

models_app = typer.Typer(no_args_is_help=True, help="Which model draws each --v / --niji version.")
console = Console()
err_console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $DREAMLOOM_DATA_DIR)."),
]


def _settings(data_dir: Path | None) -> Settings:
    from dreamloom.config import Settings

    return Settings() if data_dir is None else Settings(data_dir=data_dir)


def _fail(message: str) -> typer.Exit:
    err_console.print(message, style="red", markup=False, highlight=False)
    return typer.Exit(code=2)


def _looks_local(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or Path(ref).expanduser().exists()


def check_model_ref(ref: str, cache_dir: Path) -> None:
    """Raise ValueError when ``ref`` cannot name a model: a local folder without a diffusers
    pipeline, or a reference ``model_info`` refuses."""
    from dreamloom.engine import model_info

    if _looks_local(ref) and not (Path(ref).expanduser() / "model_index.json").exists():
        raise ValueError(f"no diffusers model at {ref} (its model_index.json is missing)")
    model_info(ref, cache_dir)


def _weights_here(entry: CatalogEntry, cache_dir: Path) -> str:
    from dreamloom.engine.backends.simulated import is_simulated
    from dreamloom.engine.models import BUNDLED_NAME, _hub_snapshot
    from dreamloom.engine.tiny import TINY_NAME

    ref = entry.ref
    if ref == BUNDLED_NAME:
        return "yes (ships with dreamloom)"
    if ref == TINY_NAME:
        return "yes (built in code)"
    if is_simulated(ref):
        return "none needed (simulated)"
    if _looks_local(ref):
        found = (Path(ref).expanduser() / "model_index.json").exists()
        return "yes (local folder)" if found else "NO: folder missing"
    if _hub_snapshot(ref, cache_dir) is not None:
        return "yes (downloaded)"
    return "no: run `dreamloom models pull`"


@models_app.command("list")
def models_list(data_dir: DataDirOption = None) -> None:
    """The versions served, each with its model, defaults and whether its weights are here."""
    from dreamloom.engine.catalog import CatalogError, version_flag
    from dreamloom.service.runtime import load_catalog

    settings = _settings(data_dir)
    try:
        catalog = load_catalog(settings)
    except (CatalogError, ValueError) as err:
        raise _fail(str(err)) from None
    source = settings.models_file_path
    where = str(source) if source.exists() else f"no models file ({source}); DREAMLOOM_MODEL"
    typer.echo(f"versions from {where}")
    for entry in catalog.entries:
        info = entry.info
        # One line per version whatever the terminal's width (scripts read it).
        typer.echo(
            f"{version_flag(entry.version):10} {entry.ref:40} size {info.native_size:5} "
            f"steps {info.default_steps:3} guidance {info.default_guidance:5g}  "
            f"weights: {_weights_here(entry, settings.models_dir)}"
        )


@models_app.command("add")
def models_add(
    version: Annotated[str, typer.Argument(help='A version: "7", "6.1", "niji 6".')],
    model: Annotated[str, typer.Argument(help="bundled, tiny, a hub id or a local folder.")],
    steps: Annotated[int | None, typer.Option(help="Default denoising steps.")] = None,
    guidance: Annotated[float | None, typer.Option(help="Default guidance.")] = None,
    size: Annotated[int | None, typer.Option(help="Native side in pixels.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve VERSION with MODEL (replacing what served it), in the models file."""
    from pydantic import ValidationError

    from dreamloom.engine.catalog import VersionEntry, canonical_version, write_entry

    settings = _settings(data_dir)
    try:
        canonical = canonical_version(version)
        entry = VersionEntry(model=model, steps=steps, guidance=guidance, size=size)
        check_model_ref(model, settings.models_dir)
        write_entry(settings.models_file_path, canonical, entry)
    except ValidationError as err:
        raise _fail("; ".join(str(e["msg"]) for e in err.errors())) from None
    except ValueError as err:
        raise _fail(str(err)) from None
    console.print(
        f"{canonical} -> {model} in {settings.models_file_path}", markup=False, highlight=False
    )


@models_app.command("remove")
def models_remove(
    version: Annotated[str, typer.Argument(help='A version: "7", "6.1", "niji 6".')],
    data_dir: DataDirOption = None,
) -> None:
    """Stop serving VERSION (prompts asking for it are then refused)."""
    from dreamloom.engine.catalog import (
        CatalogError,
        canonical_version,
        read_models_file,
        write_entry,
    )

    settings = _settings(data_dir)
    path = settings.models_file_path
    try:
        canonical = canonical_version(version)
        if not path.exists() or canonical not in read_models_file(path).versions:
            raise CatalogError(f"{canonical} is not in the models file {path}")
        write_entry(path, canonical, None)
    except ValueError as err:
        raise _fail(str(err)) from None
    console.print(f"removed {canonical} from {path}", markup=False, highlight=False)


@models_app.command("pull")
def models_pull(
    model: Annotated[str, typer.Argument(help="A hub id (or a local folder, to check it).")],
    data_dir: DataDirOption = None,
) -> None:
    """Download a hub model into the models directory, so that workers load it offline."""
    settings = _settings(data_dir)
    settings.ensure_dirs()
    if _looks_local(model):
        try:
            check_model_ref(model, settings.models_dir)
        except ValueError as err:
            raise _fail(str(err)) from None
        console.print(f"{model} is a local folder: nothing to download", markup=False)
        return
    from dreamloom.engine.models import BUNDLED_NAME
    from dreamloom.engine.tiny import TINY_NAME

    if model in (BUNDLED_NAME, TINY_NAME):
        console.print(f"{model} needs no download", markup=False)
        return
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(model, cache_dir=settings.models_dir)
    except Exception as err:  # offline, unknown repository, refused: all end the same way
        raise _fail(
            f"could not download {model}: {type(err).__name__}: {err}. Is there a network? "
            "Otherwise copy the model's folder here and add it by path."
        ) from None
    console.print(f"{model} is in {folder}", markup=False)
