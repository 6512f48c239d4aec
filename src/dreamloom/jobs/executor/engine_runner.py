"""The default runner: recipes through ``dreamloom.engine`` inside a worker process.

It only computes: the pictures it returns are moderated, encoded and written by the worker's
finishing stage while it computes the next batch.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dreamloom.engine.images import png_bytes
from dreamloom.jobs.executor.base import (
    MODERATION_KEY,
    BatchSlot,
    RunnerOutput,
    RunOutcome,
    Task,
    TaskCalls,
    TaskCancelled,
)

if TYPE_CHECKING:
    from dreamloom.engine import Backend, EngineResult, Progress, Recipe
    from dreamloom.engine.backends.base import BatchMember, Cancelled
    from dreamloom.engine.options import EngineOptions

log = logging.getLogger(__name__)

_Key = tuple[str, str, str, "EngineOptions", str | None]
# The worker's loaded models, least recently used first. Loading is slow (so keep them) and
# each copy takes the device's memory (so at most ``Task.loaded_models``: one by default, one
# model copy per device).
_loaded: OrderedDict[_Key, Backend] = OrderedDict()


def _key(task: Task) -> _Key:
    return (
        task.backend_ref,
        str(task.cache_dir),
        task.device,
        task.engine_options,
        task.ip_adapter,
    )


def _is_loaded(task: Task) -> bool:
    return _key(task) in _loaded


def _backend(task: Task, calls: Sequence[TaskCalls] = ()) -> Backend:
    from dreamloom.engine import load_backend

    key = _key(task)
    backend = _loaded.get(key)
    if backend is not None:
        _loaded.move_to_end(key)
        return backend
    while len(_loaded) >= max(1, task.loaded_models):
        dropped, _ = _loaded.popitem(last=False)  # freed before the new one loads
        log.info("unloading model %s to make room", dropped[0])
    # Loading takes seconds to minutes: the jobs waiting for it show as begun (progress 0,
    # which also tells the executor's watchdog they are alive) and the log says why.
    for call in calls:
        call.progress(0, 1, None)
    log.info("loading model %s on %s", task.backend_ref, task.device)
    started = time.perf_counter()
    backend = load_backend(
        task.backend_ref,
        cache_dir=task.cache_dir,
        device=task.device,
        options=task.engine_options,
        ip_adapter=task.ip_adapter,
    )
    log.info("loaded model %s in %.1f s", task.backend_ref, time.perf_counter() - started)
    _loaded[key] = backend
    return backend


def _recipe(task: Task) -> tuple[Recipe, float | None]:
    """The task's recipe, and the output filter's threshold the dispatcher put beside it."""
    from dreamloom.engine import Recipe

    data = dict(task.recipe)
    threshold = data.pop(MODERATION_KEY, None)
    return Recipe.from_dict(data), None if threshold is None else float(threshold)


class EngineRunner:
    def batch_slot(self, task: Task) -> BatchSlot | None:
        from dreamloom.engine.describe import is_describe

        if is_describe(task.recipe):
            return None
        if not _is_loaded(task) and len(_loaded) >= max(1, task.loaded_models):
            # Asking its batch key would load this model and unload another that waiting
            # tasks may need: it runs alone (and loads then) instead.
            return None
        recipe, _ = _recipe(task)
        key = _backend(task).batch_key(recipe)
        if key is None:
            return None
        return BatchSlot((task.backend_ref, str(task.cache_dir), task.device, key), recipe.batch)

    def run(self, tasks: Sequence[Task], calls: Sequence[TaskCalls]) -> list[RunOutcome]:
        from dreamloom.engine.describe import is_describe

        if len(tasks) == 1 and is_describe(tasks[0].recipe):
            from dreamloom.jobs.executor.describe_run import run_describe

            # The bundled model's image encoder describes whatever model is served: the
            # served model is not loaded for it.
            try:
                return [run_describe(tasks[0])]
            except Exception as exc:
                return [exc]
        try:
            backend = _backend(tasks[0], calls)
            parsed = [_recipe(task) for task in tasks]
        except Exception as exc:
            return [exc] * len(tasks)
        if len(tasks) == 1:
            return [self._run_alone(backend, parsed[0], calls[0])]
        members = [_member(recipe, call) for (recipe, _), call in zip(parsed, calls, strict=True)]
        results = backend.run_batch(members)
        return [
            _outcome(result, threshold)
            for result, (_, threshold) in zip(results, parsed, strict=True)
        ]

    @staticmethod
    def _run_alone(
        backend: Backend, parsed: tuple[Recipe, float | None], call: TaskCalls
    ) -> RunOutcome:
        from dreamloom.engine import Cancelled

        recipe, threshold = parsed
        member = _member(recipe, call)
        started = time.perf_counter()
        try:
            result = backend.run(recipe, progress=member.progress, cancelled=member.cancelled)
        except Cancelled:
            return TaskCancelled(time.perf_counter() - started)
        except Exception as exc:
            return exc
        return _outcome(result, threshold)


RUNNER = EngineRunner()


def _member(recipe: Recipe, call: TaskCalls) -> BatchMember:
    from dreamloom.engine.backends.base import BatchMember

    def on_progress(update: Progress) -> None:
        preview = png_bytes(update.preview) if update.preview is not None else None
        call.progress(update.step, update.total, preview)

    return BatchMember(recipe, on_progress, call.cancelled)


def _outcome(result: EngineResult | Cancelled, threshold: float | None) -> RunOutcome:
    from dreamloom.engine import Cancelled

    if isinstance(result, Cancelled):  # a member cancelled inside a batch
        return TaskCancelled(result.compute_seconds)
    return RunnerOutput(
        images=list(result.images),
        seeds=[int(seed) for seed in result.seeds],
        compute_seconds=float(result.compute_seconds),
        moderation_threshold=threshold,
        notes=tuple(result.notes),
    )
