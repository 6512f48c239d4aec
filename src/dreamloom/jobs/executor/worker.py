"""The code that runs inside a worker process.

Kept free of the database and the server's imports: a spawned worker imports only this module,
the runner it is told to use, and what that runner needs.

Protocol over the worker's pipe (parent -> worker): ``(ticket, Task)`` to run a task, ``None``
to exit. Worker -> parent: ``(ticket, TaskProgress | TaskResult | TaskFailure)``. The ticket
identifies one run of one task; the parent cancels a run by writing its ticket into the shared
``cancel_ticket`` value, which the runner polls through ``cancelled()``.
"""

from __future__ import annotations

import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dreamloom.jobs.executor.base import (
    Runner,
    SavedImage,
    Task,
    TaskCancelled,
    TaskFailure,
    TaskModerated,
    TaskProgress,
    TaskResult,
    load_runner,
)
from dreamloom.jobs.grid import compose_grid_png, numbered_pngs, png_size
from dreamloom.jobs.outputs import save_error
from dreamloom.store.files import job_image_name, write_atomically


def worker_main(conn: Connection, cancel_ticket: Any) -> None:
    # Ctrl-C in the server's terminal reaches the whole process group; the parent decides
    # how to shut down, the worker must not die with a traceback half-way through a job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runners: dict[str, Runner] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return
        ticket, task = message
        assert isinstance(task, Task)
        try:
            runner = runners.get(task.runner)
            if runner is None:
                runner = runners[task.runner] = load_runner(task.runner)
        except Exception as exc:  # a misconfigured runner fails the job, not the worker
            conn.send((ticket, TaskFailure(task.job_id, f"cannot load runner: {exc}", False)))
            continue
        conn.send((ticket, _run(conn, cancel_ticket, ticket, task, runner)))


def _run(
    conn: Connection, cancel_ticket: Any, ticket: int, task: Task, runner: Runner
) -> TaskResult | TaskFailure:
    def progress(step: int, total: int, preview_png: bytes | None) -> None:
        conn.send((ticket, TaskProgress(task.job_id, step, total, preview_png)))

    def cancelled() -> bool:
        return bool(cancel_ticket.value == ticket)

    try:
        output = runner(task, progress, cancelled)
    except TaskModerated as exc:
        return TaskFailure(task.job_id, str(exc), retryable=False, moderated=True)
    except TaskCancelled as exc:
        return TaskFailure(
            task.job_id,
            "cancelled",
            retryable=False,
            cancelled=True,
            compute_seconds=exc.compute_seconds,
        )
    except Exception as exc:
        return TaskFailure(task.job_id, f"{type(exc).__name__}: {exc}", retryable=False)
    grid = None
    if len(output.images_png) > 1:
        try:
            grid = compose_grid_png(output.images_png)
        except Exception as exc:
            return TaskFailure(task.job_id, f"cannot compose the grid: {exc}", retryable=False)
    if task.output_dir is None:
        return TaskResult(
            task.job_id,
            output.images_png,
            output.seeds,
            output.compute_seconds,
            grid_png=grid,
            prompts=output.prompts,
        )
    files = numbered_pngs(output.images_png, grid)
    written: list[Path] = []
    try:
        for index, data in files:
            target = task.output_dir / job_image_name(index)
            write_atomically(target, data)
            written.append(target)
    except OSError as exc:
        # A full disk: the job keeps none of its images (the ones written would only take
        # the space the next job needs) and fails now with a reason the user understands.
        for path in written:
            path.unlink(missing_ok=True)
        return TaskFailure(task.job_id, save_error(exc), retryable=False)
    saved = tuple(SavedImage(index, *png_size(data)) for index, data in files)
    return TaskResult(
        task.job_id, [], output.seeds, output.compute_seconds, saved=saved, prompts=output.prompts
    )
