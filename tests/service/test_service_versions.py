"""--v / --niji drawn by the operator's models file (engine.catalog), over the real stack: SQLite,
the dispatcher, one worker process of the local executor running two models (the tiny diffusers
pipeline and the bundled model), routed by each job's recipe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dreamloom.config import Settings
from dreamloom.domain import JobStatus
from dreamloom.engine import Recipe, load_backend
from dreamloom.service import AccountView, JobView, Service, ServiceError
from dreamloom.store import jobs_repo

MODELS_TOML = """
# The operator's map: two models, and versions with their own defaults.
[versions."7"]
model = "tiny"

[versions."6"]
model = "bundled"

[versions."3"]
model = "tiny"
size = 48

[versions."5.2"]
model = "tiny"

[versions."niji 6"]
model = "tiny"
guidance = 0.0
steps = 2
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("data")
    (data / "models.toml").write_text(MODELS_TOML)
    settings = Settings(data_dir=data, model="bundled", workers=1, loaded_models=2)
    with Service(settings) as svc:
        yield svc


@pytest.fixture(scope="module")
def account(service: Service) -> AccountView:
    return service.ensure_user("versioned", plan="pro")


def _run(service: Service, account: AccountView, prompt: str) -> JobView:
    (job,) = service.submit_imagine(account, prompt)
    done = service.wait(job.id, timeout=300)
    assert done.status == JobStatus.COMPLETED, done.error
    return done


def _singles(job: JobView) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(image.path).convert("RGB"), dtype=np.float64)
        for image in sorted(job.images, key=lambda image: image.index)
        if image.index > 0
    ]


def _recipe(service: Service, job: JobView) -> Recipe:
    with service.db.session() as session:
        row = jobs_repo.get_job(session, job.id)
        assert row is not None
        return Recipe.from_dict(row.recipe or {})


def _drawn_by(service: Service, ref: str, recipe: Recipe) -> list[np.ndarray]:
    backend = load_backend(ref, cache_dir=service.settings.models_dir)
    result = backend.run(recipe)
    return [np.asarray(image.convert("RGB"), dtype=np.float64) for image in result.images]


def test_each_version_is_drawn_by_its_own_model(service: Service, account: AccountView) -> None:
    v7 = _run(service, account, "a red apple on a table --v 7 --seed 11")
    v6 = _run(service, account, "a red apple on a table --v 6 --seed 11")
    # Sizes per model: the tiny pipeline's 64 px, the bundled model's 256 px.
    assert {(i.width, i.height) for i in v7.images if i.index} == {(64, 64)}
    assert {(i.width, i.height) for i in v6.images if i.index} == {(256, 256)}
    recipe7, recipe6 = _recipe(service, v7), _recipe(service, v6)
    assert (recipe7.model, recipe6.model) == ("tiny", "bundled")
    # The pictures are those each model makes of its recipe, not the other's.
    for job, ref, recipe in ((v7, "tiny", recipe7), (v6, "bundled", recipe6)):
        for got, expected in zip(_singles(job), _drawn_by(service, ref, recipe), strict=True):
            assert np.abs(got - expected).max() <= 2
    other = _drawn_by(service, "tiny", recipe6)
    assert np.abs(_singles(v6)[0] - other[0]).mean() > 10


def test_a_version_without_a_model_is_refused_naming_the_served_ones(
    service: Service, account: AccountView
) -> None:
    with pytest.raises(ServiceError) as err:
        service.submit_imagine(account, "a red apple --v 5")
    assert err.value.status == 400
    assert err.value.message == (
        "--v 5 is not available here; this server has --v 7 (tiny), --v 6 (bundled), "
        "--v 5.2 (tiny), --v 3 (tiny), --niji 6 (tiny)"
    )
    with pytest.raises(ServiceError, match=r"^--niji 5 is not available here"):
        service.submit_imagine(account, "a red apple --niji 5")


def test_per_version_defaults_reach_the_recipe(service: Service, account: AccountView) -> None:
    (job,) = service.submit_imagine(account, "a kite --niji 6 --seed 3")
    recipe = _recipe(service, job)
    assert (recipe.model, recipe.steps, recipe.guidance) == ("tiny", 2, 0.0)
    assert service.wait(job.id, timeout=300).status == JobStatus.COMPLETED


def test_style_raw_lowers_guidance_and_scales_a_guidance_free_models_conditioning(
    service: Service, account: AccountView
) -> None:
    (plain,) = service.submit_imagine(account, "a kite --v 7 --seed 4")
    (raw,) = service.submit_imagine(account, "a kite --v 7 --seed 4 --style raw")
    assert _recipe(service, raw).guidance < _recipe(service, plain).guidance
    # A model without guidance has no guidance to lower: raw acts on its conditioning instead.
    (free,) = service.submit_imagine(account, "a kite --niji 6 --seed 4")
    (free_raw,) = service.submit_imagine(account, "a kite --niji 6 --seed 4 --style raw")
    assert _recipe(service, free_raw).guidance == _recipe(service, free).guidance
    assert _recipe(service, free_raw).conditioning_scale < _recipe(service, free).conditioning_scale
    for job in (plain, raw, free, free_raw):
        service.wait(job.id, timeout=300)


def test_style_tuner_codes_are_refused_not_ignored(service: Service, account: AccountView) -> None:
    # --v 5.2 is the tiny model here, which has no image adapter for a code's look to act by.
    with pytest.raises(ServiceError) as err:
        service.submit_imagine(account, "a kite --v 5.2 --style 5l3w2ojszg")
    assert err.value.message.startswith("The model tiny cannot use --style codes")


def test_remaster_redraws_an_old_grid_on_the_newest_version(
    service: Service, account: AccountView
) -> None:
    old = _run(service, account, "a castle on a hill --v 3 --seed 9")
    assert {(i.width, i.height) for i in old.images if i.index} == {(48, 48)}
    assert "Remaster" in old.buttons
    pressed, new = service.press_button(account, old.id, "Remaster")
    assert new
    done = service.wait(pressed.id, timeout=300)
    assert done.status == JobStatus.COMPLETED, done.error
    recipe = _recipe(service, done)
    # The newest version served (7: the tiny model at its own size), the same seed.
    assert (recipe.model, recipe.width, recipe.seed) == ("tiny", 64, 9)
    assert {(i.width, i.height) for i in done.images if i.index} == {(64, 64)}
    fresh = _run(service, account, "a castle on a hill --v 7 --seed 9")
    assert "Remaster" not in fresh.buttons
    with pytest.raises(ServiceError, match="Button Remaster is not available"):
        service.press_button(account, fresh.id, "Remaster")


def test_without_a_models_file_the_model_serves_the_default_version_only(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, model="tiny")
    with Service(settings, dispatch=False) as svc:
        account = svc.ensure_user("plain", plan="pro")
        with pytest.raises(ServiceError) as err:
            svc.submit_imagine(account, "a kite --v 6")
        assert err.value.message == "--v 6 is not available here; this server has --v 7 (tiny)"
        (job,) = svc.submit_imagine(account, "a kite")
        assert job.status == JobStatus.CREATED
    wide = Settings(data_dir=tmp_path, model="tiny", versions={"6": "tiny", "niji 6": "tiny"})
    with Service(wide, dispatch=False) as svc:
        account = svc.ensure_user("plain", plan="pro")
        assert len(svc.submit_imagine(account, "a kite --niji 6")) == 1
