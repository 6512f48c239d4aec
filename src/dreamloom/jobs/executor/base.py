"""The executor contract: run tasks somewhere, report progress, results and failures.

An executor takes at most ``slots`` tasks at once (running, or waiting for a worker) and
reports through the ``on_event`` callback given to ``start`` (called from the executor's own
thread; keep it quick: hand the event to a queue). Every submitted task ends with exactly one
``TaskResult`` or ``TaskFailure``, unless the executor is stopped first.

What runs inside a worker is a *runner*, named by an import path ``"module:name"`` in the
task: an object with the methods of :class:`Runner` (it may run several tasks as one batch),
or a plain function with the signature of :data:`RunOne` (one task at a time). The default
runs the engine; tests and the service layer's tests use ``dreamloom.jobs.executor.fake``.
A runner returns pictures; the worker's finishing stage moderates, encodes and stores them
while the runner goes on with the next batch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dreamloom.engine.options import EngineOptions

if TYPE_CHECKING:
    from PIL.Image import Image

ENGINE_RUNNER = "dreamloom.jobs.executor.engine_runner:RUNNER"
FAKE_RUNNER = "dreamloom.jobs.executor.fake:RUNNER"
# A task's recipe carries the output filter's threshold under this key (the engine runner
# takes it out before the recipe is read); absent: outputs are not classified.
MODERATION_KEY = "_moderation_threshold"


@dataclass(frozen=True)
class Task:
    job_id: str
    backend_ref: str  # model reference for engine.load_backend ("tiny", a hub id, a path)
    cache_dir: Path
    device: str
    recipe: dict[str, Any]  # engine Recipe.to_dict()
    runner: str = ENGINE_RUNNER
    # Where the worker writes the job's images itself (0.png the grid, 1.png... the singles),
    # when it shares the server's disk: the bytes then do not travel back, and the server's
    # dispatch thread does no file I/O. None: they come back in the result.
    output_dir: Path | None = None
    # How the worker runs the model it loads (compile, channels-last, attention): part of the
    # loaded model's identity, so a worker holding it with other options loads it again.
    engine_options: EngineOptions = field(default_factory=EngineOptions)
    # The job's prompt as shown, written into its PNG files with their seed and the job id.
    caption: str = ""
    # The IP-Adapter the model is loaded with (engine.load_backend): part of its identity.
    ip_adapter: str | None = None
    # How many models the worker keeps loaded at once (Settings.loaded_models): jobs of several
    # versions' models on one device; the least recently used goes when another must load.
    loaded_models: int = 1


@dataclass(frozen=True)
class TaskProgress:
    job_id: str
    step: int
    total: int
    preview_png: bytes | None = None


@dataclass(frozen=True)
class TaskComputed:
    """The model is done with the task: its pictures are being finished (moderated, encoded,
    written) and its device can take the next task."""

    job_id: str


@dataclass(frozen=True)
class TaskResult:
    job_id: str
    images_png: list[bytes]
    seeds: list[int]
    compute_seconds: float
    # The grid of several images, when the executor composed it next to the images (the local
    # workers do, to keep PNG encoding off the server's threads); else the dispatcher does.
    grid_png: bytes | None = None
    # The images the worker wrote into ``Task.output_dir`` (then ``images_png`` and
    # ``grid_png`` are empty).
    saved: tuple[SavedImage, ...] = ()
    # A text result (describe's prompts); a job has images or prompts, not both.
    prompts: tuple[str, ...] = ()
    # What the engine did instead of what was asked (a fallback), for the job's response.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SavedImage:
    index: int  # 0 the grid, 1... the singles
    width: int
    height: int


@dataclass(frozen=True)
class TaskFailure:
    job_id: str
    error: str
    # True when running it again may well succeed (the worker died), False for errors the
    # recipe itself causes.
    retryable: bool
    cancelled: bool = False
    moderated: bool = False  # the runner's output filter blocked the result
    compute_seconds: float = 0.0  # measured before the failure (charged for cancellations)


ExecutorEvent = TaskProgress | TaskComputed | TaskResult | TaskFailure
EventCallback = Callable[[ExecutorEvent], None]


class Executor(Protocol):
    @property
    def slots(self) -> int:
        """How many tasks its devices hold at once: computing, or waiting for a device."""
        ...

    @property
    def free(self) -> int:
        """How many more tasks it takes now. Tasks whose pictures are being finished leave
        their device free for the next, so they do not count, as long as the finishing stages
        keep up."""
        ...

    @property
    def shares_disk(self) -> bool:
        """Whether its workers see the server's files (then they write a job's images into
        ``Task.output_dir`` themselves)."""
        ...

    def start(self, on_event: EventCallback) -> None: ...

    def submit(self, task: Task) -> None:
        """Queue a task; raises RuntimeError when all slots are busy or not started."""
        ...

    def cancel(self, job_id: str) -> bool:
        """Ask a running task to stop; False if it is not running here."""
        ...

    def stop(self) -> None: ...


# -- runners ----------------------------------------------------------------------------------


class TaskCancelled(Exception):
    """Raised by a runner that stopped because ``cancelled()`` became true."""

    def __init__(self, compute_seconds: float = 0.0) -> None:
        super().__init__("cancelled")
        self.compute_seconds = compute_seconds


class TaskModerated(Exception):
    """Raised when the output filter blocked a result; the message says why."""


@dataclass(frozen=True)
class RunnerOutput:
    images: list[Image]
    seeds: list[int]
    compute_seconds: float
    prompts: tuple[str, ...] = ()  # a text result (describe) instead of images
    # The output filter's threshold for these images (the finishing stage classifies them
    # before anything is stored); None: not classified.
    moderation_threshold: float | None = None
    notes: tuple[str, ...] = ()  # see TaskResult.notes


ProgressCallback = Callable[[int, int, bytes | None], None]  # step, total, preview PNG
CancelledCallback = Callable[[], bool]


@dataclass(frozen=True)
class TaskCalls:
    """What a runner may call for one task of its batch. Once ``cancelled()`` has answered
    True, the task is over (it fails as cancelled at once): the runner should stop computing
    it, and whatever it returns for it is dropped."""

    progress: ProgressCallback
    cancelled: CancelledCallback


# A task's outcome from a runner: its output, or the exception that ended it (TaskCancelled,
# TaskModerated, anything else: the task fails with that error).
RunOutcome = RunnerOutput | BaseException


@dataclass(frozen=True)
class BatchSlot:
    """Where a task may go: tasks with equal keys may run as one batch, and ``images`` is how
    much of a batch's room (``batch_images``) this one takes."""

    key: Hashable
    images: int


class Runner(Protocol):
    def batch_slot(self, task: Task) -> BatchSlot | None:
        """None: the task runs alone."""
        ...

    def run(self, tasks: Sequence[Task], calls: Sequence[TaskCalls]) -> list[RunOutcome]:
        """Run tasks of one batch slot key (or a single task); one outcome per task, in order.
        A task cancelled in a batch ends with ``TaskCancelled`` while the others go on."""
        ...


class RunOne(Protocol):
    def __call__(
        self, task: Task, progress: ProgressCallback, cancelled: CancelledCallback
    ) -> RunnerOutput: ...


@dataclass(frozen=True)
class OneAtATime:
    """A runner of plain functions: every task runs alone."""

    run_one: RunOne = field()

    def batch_slot(self, task: Task) -> BatchSlot | None:
        return None

    def run(self, tasks: Sequence[Task], calls: Sequence[TaskCalls]) -> list[RunOutcome]:
        outcomes: list[RunOutcome] = []
        for task, call in zip(tasks, calls, strict=True):
            try:
                outcomes.append(self.run_one(task, call.progress, call.cancelled))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def load_runner(path: str) -> Runner:
    """Import ``"package.module:name"``: a Runner object, or a function run one task at a
    time."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"runner must look like 'module:name', got {path!r}")
    target = getattr(importlib.import_module(module_name), attr)
    if hasattr(target, "batch_slot") and hasattr(target, "run"):
        runner: Runner = target
        return runner
    return OneAtATime(target)
