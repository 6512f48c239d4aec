"""🔄 (reroll) through the service, over the real stack (SQLite, the dispatcher, a worker process
running the tiny diffusers pipeline): a new grid from a new seed, unless the prompt fixes
``--seed``, as the seeds' early FAQ says ("Does submitting the job again use a different
seed? Yes, unless you specify --seed with a number.")."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from dreamloom.config import Settings
from dreamloom.domain import JobStatus
from dreamloom.service import AccountView, JobView, Service

REROLL = "🔄"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), model="tiny", workers=1)
    with Service(settings) as svc:
        yield svc


@pytest.fixture(scope="module")
def account(service: Service) -> AccountView:
    return service.ensure_user("reroller", plan="pro")


def _run(service: Service, account: AccountView, prompt: str) -> JobView:
    (job,) = service.submit_imagine(account, prompt)
    done = service.wait(job.id, timeout=300)
    assert done.status == JobStatus.COMPLETED, done.error
    return done


def _reroll(service: Service, account: AccountView, grid: JobView) -> JobView:
    pressed, new = service.press_button(account, grid.id, REROLL)
    assert new
    done = service.wait(pressed.id, timeout=300)
    assert done.status == JobStatus.COMPLETED, done.error
    return done


def _singles(job: JobView) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(image.path), dtype=np.float64)
        for image in sorted(job.images, key=lambda image: image.index)
        if image.index > 0
    ]


def test_a_reroll_is_a_new_grid_of_the_same_prompt(service: Service, account: AccountView) -> None:
    grid = _run(service, account, "a lighthouse at dusk --ar 3:2")
    rerolled = _reroll(service, account, grid)
    assert rerolled.prompt_text == grid.prompt_text and rerolled.parent_job_id == grid.id
    assert rerolled.seed != grid.seed
    before, after = _singles(grid), _singles(rerolled)
    assert len(before) == len(after) == 4
    assert [a.shape for a in after] == [b.shape for b in before]
    for old, new in zip(before, after, strict=True):
        assert np.abs(old - new).mean() > 5  # every picture of the grid is another one


def test_a_reroll_keeps_the_seed_the_prompt_fixed(service: Service, account: AccountView) -> None:
    grid = _run(service, account, "a lighthouse at dusk --seed 1234")
    rerolled = _reroll(service, account, grid)
    assert grid.seed == rerolled.seed == 1234
    # Same prompt, same seed: the same grid, as Midjourney's "identical or very similar".
    for old, new in zip(_singles(grid), _singles(rerolled), strict=True):
        assert np.array_equal(old, new)


def test_a_remix_reroll_follows_the_seed_of_its_own_prompt(service: Service) -> None:
    remixer = service.ensure_user("remixer", plan="pro")
    service.run_command(remixer, "remix")  # Remix on: 🔄 takes an edited prompt
    remixer = service.account(remixer.id)
    grid = _run(service, remixer, "a lighthouse at dusk --seed 99")
    edited, _ = service.press_button(remixer, grid.id, REROLL, prompt="a lighthouse at dawn")
    done = service.wait(edited.id, timeout=300)
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.prompt_text.startswith("a lighthouse at dawn")
    assert done.seed != 99  # the edited prompt fixes no seed: a new one
