"""Runtime configuration: environment variables (``DREAMLOOM_*``) or keyword arguments.

All state lives under one data directory so that a deployment is one folder to back up.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "dreamloom"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DREAMLOOM_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # Empty means the embedded default: a SQLite file inside the data directory.
    database_url: str = ""
    # "tiny" is a randomly initialised pipeline built in code (noise-like pictures, for tests and
    # for trying the plumbing); a hub id or a local path loads any diffusers text-to-image model.
    model: str = "tiny"
    device: str = "cpu"
    workers: int = 1
    # How often a crashed worker's job is retried before it is failed.
    job_retries: int = 1
    # Optional JSON/TOML-free override of plan limits: path to a JSON file (see jobs.plans).
    plans_file: Path | None = None

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'dreamloom.db'}"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.images_dir, self.models_dir):
            path.mkdir(parents=True, exist_ok=True)
