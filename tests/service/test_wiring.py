"""The service's structure: use-case objects composed by ``wiring.py`` (no inheritance chain),
and the one cache they share."""

from __future__ import annotations

import inspect
from pathlib import Path

from dreamloom import service as service_pkg
from dreamloom.config import Settings
from dreamloom.service import Service
from dreamloom.service.wiring import Wiring
from dreamloom.ttl_cache import TtlCache


def test_the_use_cases_are_composed_not_inherited(tmp_path: Path) -> None:
    with Service(Settings(data_dir=tmp_path, model="tiny"), dispatch=False) as svc:
        for name in Wiring.__dataclass_fields__:
            part = getattr(svc.wiring, name)
            ours = [c for c in type(part).__mro__ if c.__module__.startswith("dreamloom.")]
            assert len(ours) == 1, f"{name}: {ours}"
        # The façade hands clients the objects themselves, and its fast path is theirs.
        assert svc.accounts is svc.wiring.accounts
        assert svc.queue_imagine == svc.submissions.queue_imagine
    for _, cls in inspect.getmembers(service_pkg, inspect.isclass):
        ours = [c for c in cls.__mro__ if c.__module__.startswith("dreamloom.")]
        assert len(ours) <= 3, cls


def test_ttl_cache_expiry_grace_and_bounds() -> None:
    cache: TtlCache[str, int | None] = TtlCache(5.0, max_entries=3)
    cache.put("a", 1, now=100.0)
    cache.put("none", None, now=100.0)
    assert cache.get("a", now=104.9) == (105.0, 1)
    assert cache.get("a", now=105.0) is None  # expired
    assert cache.get("a", now=109.9, grace=5.0) is not None  # stale, still answering
    entry = cache.get("none", now=101.0)
    assert entry is not None and entry.value is None  # a remembered None is an answer
    cache.put("short", 2, now=100.0, ttl=1.0)
    assert cache.get("short", now=101.5) is None
    cache.update("a", lambda value: (value or 0) + 1)
    assert cache.get("a", now=100.0) == (105.0, 2)  # changed, same expiry
    cache.drop_where(lambda value: value == 2)  # "a" and "short"
    assert cache.get("a", now=100.0) is None and len(cache) == 1
    cache.put("b", 3, now=100.0)
    cache.put("c", 4, now=100.0)
    cache.put("d", 5, now=100.0)  # a fourth key: over the bound, the others go
    assert len(cache) == 1 and cache.get("d", now=100.0) is not None
    cache.pop("d")
    cache.pop("missing")
    assert len(cache) == 0
