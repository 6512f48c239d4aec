"""The operator's version -> model map: which model draws `--v 7`, `--v 6`, `--niji 6`, ...

Read from a TOML file (the models file, `Settings.models_file_path`), validated with pydantic::

    [versions."7"]
    model = "bundled"

    [versions."6"]
    model = "stabilityai/sd-turbo"   # a hub id or a local folder: any diffusers model
    steps = 2                         # the model's defaults, where its family guess is wrong
    guidance = 0.0
    size = 512                        # its native side in pixels

    [versions."niji 6"]
    model = "tiny"

A version that no entry names is not served: a prompt asking for it is refused, naming the
versions this server has, so that no model claims to be a version it is not. Without a models
file the one configured model (`DREAMLOOM_MODEL`) serves the default version (7) only.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dreamloom.engine.models import model_info
from dreamloom.engine.recipe import LATENT_MULTIPLE, ModelInfo
from dreamloom.prompt.versions import DEFAULT_VERSION, VERSIONS, parse_niji, parse_version

NOT_AVAILABLE = "{flag} is not available here; this server has {served}"


class CatalogError(ValueError):
    """A models file that cannot be read or is invalid; the message says where and why."""


class VersionUnavailable(ValueError):
    """A prompt asks for a version no model serves here (the message is for the user)."""


def canonical_version(value: str) -> str:
    """ "7", "6.0" -> "6", "niji 6", "niji6" -> the prompt layer's canonical names."""
    text = " ".join(value.strip().lower().split())
    if text.startswith("niji"):
        found = parse_niji(text.removeprefix("niji").strip())
    else:
        found = parse_version(text.removeprefix("v").strip())
    if found is None:
        raise ValueError(f"unknown version {value!r} (versions: {', '.join(VERSIONS)}, niji 4-6)")
    return found


def version_flag(version: str) -> str:
    """How a user writes the version in a prompt: "--v 7", "--niji 6"."""
    if version.startswith("niji "):
        return f"--niji {version.removeprefix('niji ')}"
    return f"--v {version}"


class VersionEntry(BaseModel):
    """One version's model and the defaults that override what the model's name suggests."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    steps: int | None = Field(default=None, ge=1, le=500)
    guidance: float | None = Field(default=None, ge=0.0, le=30.0)
    size: int | None = Field(default=None, ge=32, le=4096)
    # The model's IP-Adapter (engine.load_backend's `ip_adapter`): image prompts and references
    # act on it. `DREAMLOOM_IP_ADAPTER` is the default of `DREAMLOOM_MODEL`'s entries.
    ip_adapter: str | None = Field(default=None, min_length=1)

    @field_validator("size")
    @classmethod
    def _whole_latents(cls, value: int | None) -> int | None:
        if value is not None and value % LATENT_MULTIPLE:
            raise ValueError(f"size must be a multiple of {LATENT_MULTIPLE}")
        return value

    def apply(self, info: ModelInfo) -> ModelInfo:
        """The model's facts with this entry's defaults in place of the guessed ones."""
        if self.steps is not None:
            info = replace(info, default_steps=self.steps)
        if self.guidance is not None:
            # Negative conditioning needs classifier-free guidance (engine.models' rule).
            info = replace(
                info, default_guidance=self.guidance, supports_negative=self.guidance > 1.0
            )
        if self.size is not None:
            info = replace(info, native_size=self.size)
        return info


class ModelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    versions: dict[str, VersionEntry] = Field(default_factory=dict)

    @field_validator("versions")
    @classmethod
    def _canonical(cls, value: dict[str, VersionEntry]) -> dict[str, VersionEntry]:
        out: dict[str, VersionEntry] = {}
        for key, entry in value.items():
            version = canonical_version(key)
            if version in out:
                raise ValueError(f"version {version} is listed twice")
            out[version] = entry
        return out


@dataclass(frozen=True)
class CatalogEntry:
    version: str
    entry: VersionEntry
    info: ModelInfo  # what recipes are built from; ``info.name`` is the model reference

    @property
    def ref(self) -> str:
        return self.entry.model


def _sort_key(version: str) -> tuple[int, float]:
    niji = version.startswith("niji ")
    return (1 if niji else 0, -float(version.removeprefix("niji ")))


class Catalog:
    """The versions this server serves, each with its model's facts (no weights loaded)."""

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        self._entries = {e.version: e for e in sorted(entries, key=lambda e: _sort_key(e.version))}

    @classmethod
    def build(cls, versions: Mapping[str, VersionEntry], cache_dir: Path | None) -> Catalog:
        entries = []
        for version, entry in versions.items():
            try:
                info = model_info(entry.model, cache_dir, ip_adapter=entry.ip_adapter)
            except Exception as err:  # a malformed reference (simulated-gpu:x, ...)
                raise CatalogError(f"version {version}: model {entry.model!r}: {err}") from None
            entries.append(CatalogEntry(version, entry, entry.apply(info)))
        return cls(entries)

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        default_model: str,
        default_ip_adapter: str | None = None,
        cache_dir: Path | None = None,
        extra: Mapping[str, str] | None = None,
        required: bool = False,
    ) -> Catalog:
        """The catalog of the models file at ``path``; without one, ``default_model`` serves
        the default version. ``extra`` (version -> model reference) is added on top (the
        ``DREAMLOOM_VERSIONS`` setting); ``required``: a missing file is an error."""
        if path.exists():
            versions = dict(read_models_file(path).versions)
        elif required:
            raise CatalogError(f"models file {path} does not exist")
        else:
            versions = {DEFAULT_VERSION: VersionEntry(model=default_model)}
        for key, ref in (extra or {}).items():
            versions[canonical_version(key)] = VersionEntry(model=ref)
        if not versions:
            raise CatalogError(f"models file {path} serves no version")
        if default_ip_adapter is not None:
            versions = {
                version: (
                    entry.model_copy(update={"ip_adapter": default_ip_adapter})
                    if entry.model == default_model and entry.ip_adapter is None
                    else entry
                )
                for version, entry in versions.items()
            }
        return cls.build(versions, cache_dir)

    def ip_adapters(self) -> dict[str, str]:
        """Model reference -> the IP-Adapter it is loaded with (the workers load it so)."""
        adapters: dict[str, str] = {}
        for e in self._entries.values():
            if e.entry.ip_adapter is None:
                continue
            if adapters.setdefault(e.ref, e.entry.ip_adapter) != e.entry.ip_adapter:
                raise CatalogError(f"model {e.ref!r} is given two different ip_adapter values")
        return adapters

    @property
    def entries(self) -> list[CatalogEntry]:
        return list(self._entries.values())

    def refs(self) -> list[str]:
        """The distinct model references, in the catalog's order."""
        return list(dict.fromkeys(e.ref for e in self._entries.values()))

    def get(self, version: str) -> CatalogEntry:
        """The entry of a canonical version; raises `VersionUnavailable` with the user's text."""
        try:
            return self._entries[version]
        except KeyError:
            raise VersionUnavailable(
                NOT_AVAILABLE.format(flag=version_flag(version), served=self.served())
            ) from None

    def info(self, version: str) -> ModelInfo:
        return self.get(version).info

    def info_of_ref(self, ref: str, cache_dir: Path | None = None) -> ModelInfo:
        """The facts of a model by reference (a job's recipe names its model): a served
        version's, or the model's own when no version serves it any more."""
        for entry in self._entries.values():
            if entry.ref == ref:
                return entry.info
        return model_info(ref, cache_dir)

    def served(self) -> str:
        """ "--v 7 (bundled), --niji 6 (tiny)" """
        if not self._entries:
            return "no versions configured"
        return ", ".join(f"{version_flag(v)} ({e.ref})" for v, e in self._entries.items())

    def newest(self) -> CatalogEntry | None:
        """The highest numbered (non-niji) version served: what Remaster redraws with."""
        plain = [e for v, e in self._entries.items() if not v.startswith("niji ")]
        return plain[0] if plain else None


def every_version(ref: str) -> dict[str, str]:
    """Every version the prompt language knows, mapped to one model: a deliberate choice for
    a server with one model (and for tests that are not about versions)."""
    from dreamloom.prompt.versions import NIJI_VERSIONS

    return {**{v: ref for v in VERSIONS}, **{f"niji {n}": ref for n in NIJI_VERSIONS}}


# -- the file ---------------------------------------------------------------------------------


def read_models_file(path: Path) -> ModelsFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CatalogError(f"cannot read models file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise CatalogError(f"models file {path} is not valid TOML: {err}") from None
    try:
        return ModelsFile.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise CatalogError(f"models file {path} is invalid: {problems}") from None


def write_entry(path: Path, version: str, entry: VersionEntry | None) -> None:
    """Add, replace (``entry``) or remove (None) one version in the models file, keeping the
    operator's comments and layout (tomlkit)."""
    document = (
        tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    )
    versions = document.get("versions")
    if versions is None:
        versions = tomlkit.table(is_super_table=True)
        document["versions"] = versions
    for key in list(versions):
        if canonical_version(str(key)) == version:
            del versions[key]
    if entry is not None:
        table = tomlkit.table()
        for key, value in entry.model_dump(exclude_none=True).items():
            table[key] = value
        versions[version] = table
    text = tomlkit.dumps(document)
    ModelsFile.model_validate(tomllib.loads(text))  # never write a file the server refuses
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
