"""Runtime configuration: environment variables (``DREAMLOOM_*``) or keyword arguments.

All state lives under one data directory so that a deployment is one folder to back up.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dreamloom.engine.options import Attention, CompileMode, EngineOptions

# The data directory: this user only (files inside are 0600, see store.db).
PRIVATE_DIR_MODE = 0o700


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "dreamloom"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DREAMLOOM_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # Empty means the embedded default: a SQLite file inside the data directory.
    database_url: str = ""
    # "bundled" is the project's own small model, shipped in the package (works offline);
    # "tiny" is a randomly initialised pipeline built in code (noise-like pictures, for tests and
    # for trying the plumbing); a hub id or a local path loads any diffusers text-to-image model.
    model: str = "bundled"
    # The models file (TOML, see dreamloom.engine.catalog): which model draws each --v / --niji
    # version, with per-version defaults. Unset: models.toml in the data directory; when that
    # does not exist, `model` serves the default version (7) only and other versions are
    # refused. A path set here must exist.
    models_file: Path | None = None
    # Version -> model entries added on top of the models file, as JSON
    # (DREAMLOOM_VERSIONS='{"6": "tiny", "niji 6": "tiny"}'): a deployment configured by
    # environment only, and tests that need several versions.
    versions: dict[str, str] = Field(default_factory=dict)
    # Models a worker keeps loaded (least recently used goes first) when jobs ask for several:
    # 1 keeps one copy per device (a GPU's memory holds one big model); more saves reloading
    # where memory allows. Loading a model shows in the log and as the job's progress.
    loaded_models: int = Field(default=1, ge=1, le=16)
    # "cpu", or "cuda" / "cuda:N" for a GPU (float16 there); see docs/gpu.md.
    device: str = "cpu"
    # Speed options for the model (dreamloom.engine.options), measured in docs/gpu.md (the CPU
    # figures by bench/bench_speed_options.py; no GPU was at hand when they were built). Each
    # is off by default where it costs start-up time or changes pixels.
    # torch.compile of the UNet (or transformer) and the VAE decoder: 1.33x per grid on an
    # H200 (issue 17's measurement), 1.08x (SD-Turbo-sized) to 1.38x (tiny) on a 2-core CPU;
    # pixels move by 1 level of 255 at most. Off: the first job of each new shape compiles
    # (267 s for the SD-Turbo-sized model on that CPU, 8 s from a warm cache), and it needs
    # a C/C++ compiler and Python's headers on the worker's machine.
    compile: bool = False
    # torch.compile's mode; "reduce-overhead" and "max-autotune" (CUDA graphs) need CUDA.
    compile_mode: CompileMode = CompileMode.DEFAULT
    # Denoiser and VAE weights in channels-last layout, which GPU convolution kernels prefer
    # (gain unmeasured); on the CPU 1.00x (SD-Turbo-sized) to 1.07x (tiny). Pixels move by 1
    # level at most. Off: nothing measured shows a gain worth a change of pixels.
    channels_last: bool = False
    # "sdpa": torch's scaled_dot_product_attention, diffusers' own choice on torch 2 (the model
    # as loaded; fused kernels on CUDA). "classic": diffusers' AttnProcessor, 0.97-0.98x on the
    # CPU and the whole attention matrix in memory: a reference, or a way around a bad kernel.
    attention: Attention = Attention.SDPA
    # Worker processes, each with its own copy of the model. On a CPU, processes that share
    # the cores. With DREAMLOOM_DEVICE=cuda, one per GPU (cuda:0, cuda:1, ...): a GPU is best
    # served by one process, which batches jobs and overlaps their CPU work (below).
    workers: int = 1
    # The most images one worker runs as one batch: jobs waiting at the same time whose
    # recipes are compatible (same operation, size, steps, guidance, tiling) share a run of
    # the model, each with its own seeds and prompts, and its own pictures unchanged. 4: a
    # grid job always runs alone. 0: automatic: 16 on a GPU (the bare pipeline of the GPU
    # issue makes 51 images/s in batches of 64 and 29 in batches of 4) and 4 elsewhere (on a
    # CPU a batch takes as long as its jobs in a row, and the first would wait for the last).
    batch_images: int = Field(default=0, ge=0, le=256)
    # Jobs started ahead per worker, beyond the batch it computes: each worker goes from one
    # batch to the next without waiting for the scheduler to choose again. Such a job shows
    # as started (0 %) until its turn. Unset: automatic, one more batch on a GPU (a round trip
    # through the scheduler costs ~15 ms, a grid there ~100 ms; measured on the simulated
    # GPU at 400 ms: 0.90 of its capacity without, 0.95 with) and none on a CPU (a job there
    # takes a minute, and a job started ahead could not go to a user who asks meanwhile).
    worker_queue: int | None = Field(default=None, ge=0, le=64)
    # How often a crashed worker's job is retried before it is failed.
    job_retries: int = 1
    # A running job that sends nothing (no progress, no result) this long has its worker
    # killed and fails; 0 turns the watchdog off. A worker's first job also loads the model.
    job_stall_timeout_s: float = 900.0
    # How long a database write waits for SQLite's write lock (held by another writer, a
    # backup, an operator's sqlite3 shell) before giving up: a submission then answers 503
    # with Retry-After instead of holding the request.
    database_busy_timeout_s: float = Field(default=10.0, gt=0)
    # Optional JSON/TOML-free override of plan limits: path to a JSON file (see jobs.plans).
    plans_file: Path | None = None

    # -- the HTTP server ---------------------------------------------------------------------
    # What runs a job inside a worker: "engine" (the model), "fake" (solid colours after a few
    # short sleeps, for tests) or "instant" (no sleeps: benchmarks of everything but the
    # model); any "module:function" runner works too.
    runner: str = "engine"
    # HTTP processes of `dreamloom serve`. 1: one process runs everything. More: the serving
    # process runs the scheduler and the workers, and this many API processes share the port,
    # queue jobs and get job events from it (see dreamloom.event_relay).
    api_processes: int = 1
    # With API processes beside it, the scheduler's thread runs at this niceness (Linux; 0 to
    # 19): when the CPU is full, requests are answered first. The scheduler's pace matters
    # against jobs that take seconds on a GPU; a request's matters in milliseconds. Not
    # applied to one process that does everything (the scheduler there shares the
    # interpreter lock with the requests, and a thread put aside while holding it would
    # hold them up), nor to the workers.
    scheduler_nice: int = Field(default=10, ge=0, le=19)
    # False: this process never schedules jobs, even with no scheduler running; it only
    # queues them (the API processes of a multi-process server).
    dispatch: bool = True
    # Absolute base URL of this server as clients reach it: the base of every link in
    # responses and webhooks (never a request's Host header, which any client chooses).
    # Empty: `dreamloom serve` sets the address it serves (see api.server.public_base).
    public_url: str = ""
    # Jobs older than this answer 410 Gone (the useapi.net reference: 62 days).
    job_retention_days: float = 62.0
    # Bearer token of the operator (POST /native/users); empty disables the admin endpoints.
    admin_token: str = ""
    # The IP-Adapter a diffusers model is loaded with, so that image prompts, --sref, --cref,
    # --oref and --p act on it: "repo_or_path[#subfolder/weight_name[#image_encoder_folder]]",
    # e.g. "h94/IP-Adapter#models/ip-adapter_sd15.safetensors"; "tiny" for the tiny model.
    # Empty: such prompts are refused on a diffusers model (the bundled model needs none).
    ip_adapter: str = ""
    # Pictures a user picks before a personalization profile unlocks (the FAQ's "about 200").
    personalize_rankings: int = Field(default=200, ge=1, le=10_000)
    # How long a web app sign-in lasts before the browser must sign in again.
    web_session_days: float = Field(default=14.0, gt=0)
    # Accounts that see the web app's Admin page (users, plans, fast time).
    web_admins: list[str] = Field(default_factory=list)
    # Largest request body accepted (413 beyond it, before it is read or authenticated): a
    # blend of five 10 MB uploads, the largest legitimate request, with room for the form.
    max_body_bytes: int = Field(default=52 * 1024 * 1024, gt=0)
    # Upper bound of a channel's maxJobs (the reference: 15; maxImageJobs 12).
    channel_max_jobs: int = 15
    # Server-side fetches of user URLs (image prompts, describe, blend, webhooks) may reach
    # private, loopback and link-local addresses only when allowed, or for these hosts.
    allow_private_urls: bool = False
    allowed_hosts: list[str] = Field(default_factory=list)
    # User images (describe, blend, region masks): more pixels than this, read from the file's
    # header, are refused before decoding; at most this many are decoded at once in each HTTP
    # process, so that a burst of uploads cannot take memory with it (25 Mpx: ~100 MB decoded).
    image_max_pixels: int = Field(default=25_000_000, gt=0)
    image_decodes: int = Field(default=2, ge=1)
    # Prompt moderation: an operator's term list file replaces the shipped one; extra terms
    # add to it, allowed terms let words through that it would block.
    moderation_terms_file: Path | None = None
    moderation_extra_terms: list[str] = Field(default_factory=list)
    moderation_allowed_terms: list[str] = Field(default_factory=list)
    # Output images scoring at or above this NSFW probability are blocked (1.0: only certain
    # ones; the classifier is skipped when it is above 1).
    image_moderation_threshold: float = 0.8
    # Webhooks: attempts per event and the first retry delay (doubling each time, up to
    # webhook_backoff_max_s).
    webhook_attempts: int = 5
    webhook_backoff_s: float = 0.5
    webhook_backoff_max_s: float = Field(default=300.0, gt=0)
    # The time limit of one webhook request, from resolving its host to its answer's status.
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # Delivered events are kept this long after their job's last event was settled (a
    # record to look at), then deleted.
    delivery_retention_s: float = Field(default=3600.0, ge=0)

    @model_validator(mode="after")
    def _check_engine_options(self) -> Settings:
        # A compile mode without compile, or CUDA graphs off CUDA, is refused at start-up
        # rather than by every job's worker.
        self.engine_options.check_device(self.device)
        return self

    @property
    def engine_options(self) -> EngineOptions:
        return EngineOptions(
            compile=self.compile,
            compile_mode=self.compile_mode,
            channels_last=self.channels_last,
            attention=self.attention,
        )

    @property
    def models_file_path(self) -> Path:
        return self.models_file or self.data_dir / "models.toml"

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
        """Create the data directory and its folders, readable by this user only: it holds
        the database (tokens' hashes, prompts, stealth images) and the URL-signing key. One
        made before this rule (0755) is tightened."""
        for path in (self.data_dir, self.images_dir, self.models_dir):
            path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        # Another user's directory (say, root runs a CLI command on it): theirs to tighten.
        with contextlib.suppress(PermissionError):
            self.data_dir.chmod(PRIVATE_DIR_MODE)
