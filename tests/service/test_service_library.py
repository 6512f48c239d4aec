"""Organize and Explore as service use-cases, over the real stack (SQLite, the dispatcher, a
worker running the tiny pipeline): search and filters, likes, hide, publish, delete."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from dreamloom.config import Settings
from dreamloom.domain import Visibility
from dreamloom.service import AccountView, JobView, Service, ServiceError
from dreamloom.service.library import ArchiveQuery, Aspect, BulkAction, ExploreSort


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), model="tiny", workers=1)
    with Service(settings) as svc:
        yield svc


@pytest.fixture(scope="module")
def made(service: Service) -> dict[str, JobView]:
    """Olga's (pro) finished jobs, by name; Sam (standard) has one."""
    olga, _ = service.create_user("olga", "pro")
    service.create_user("sam", "standard")
    prompts = {
        "wide": "a wide red canyon --ar 16:9 --seed 1",
        "tall": "a tall blue tower --ar 2:3 --seed 2",
        "square": "a square green field --seed 3",
        "secret": "a secret garden 100% private --seed 4 --stealth",
    }
    jobs = {name: service.submit_imagine(olga, text)[0] for name, text in prompts.items()}
    done = {name: service.wait(job.id, timeout=300) for name, job in jobs.items()}
    split, _ = service.press_button(olga, done["square"].id, "U2")
    done["split"] = service.wait(split.id, timeout=300)
    upscale, _ = service.press_button(olga, done["split"].id, "Upscale (Subtle)")
    done["upscale"] = service.wait(upscale.id, timeout=300)
    assert all(job.status == "completed" for job in done.values()), done
    return done


def _olga(service: Service) -> AccountView:
    return service.ensure_user("olga")


def _ids(service: Service, account: AccountView, **query: object) -> list[str]:
    page = service.archive(account, ArchiveQuery(**query))  # type: ignore[arg-type]
    return [item.job.id for item in page.items]


def test_search_finds_words_of_the_prompt_in_any_case(
    service: Service, made: dict[str, JobView]
) -> None:
    olga = _olga(service)
    assert _ids(service, olga, text="CANYON") == [made["wide"].id]
    assert _ids(service, olga, text="red canyon") == [made["wide"].id]
    assert _ids(service, olga, text="red tower") == []  # every word must be there
    # LIKE's wildcards are plain characters in a search.
    assert _ids(service, olga, text="100%") == [made["secret"].id]
    assert _ids(service, olga, text="%") == [made["secret"].id]
    assert _ids(service, olga, text="_") == []


def test_filters_by_aspect_version_visibility_upscale_and_date(
    service: Service, made: dict[str, JobView]
) -> None:
    olga = _olga(service)
    assert _ids(service, olga, aspect=Aspect.LANDSCAPE) == [made["wide"].id]
    assert _ids(service, olga, aspect=Aspect.PORTRAIT) == [made["tall"].id]
    square = _ids(service, olga, aspect=Aspect.SQUARE)
    assert made["square"].id in square and made["wide"].id not in square
    assert len(_ids(service, olga, version="7")) == len(made)
    assert _ids(service, olga, version="6.1") == []
    assert _ids(service, olga, visibility=Visibility.STEALTH) == [made["secret"].id]
    assert _ids(service, olga, upscaled=True) == [made["upscale"].id]
    later = made["upscale"].created + timedelta(days=1)  # type: ignore[operator]
    assert _ids(service, olga, since=later) == []
    assert len(_ids(service, olga, until=later)) == len(made)


def test_pages_go_back_in_time_without_gaps(service: Service, made: dict[str, JobView]) -> None:
    olga = _olga(service)
    everything = _ids(service, olga, limit=100)
    assert len(everything) == len(made)
    first = service.archive(olga, ArchiveQuery(limit=2))
    assert first.next_before is not None
    rest = _ids(service, olga, limit=100, before=first.next_before)
    assert [i.job.id for i in first.items] + rest == everything


def test_hide_hides_from_the_owner_only(service: Service, made: dict[str, JobView]) -> None:
    olga = _olga(service)
    sam = service.ensure_user("sam")
    wide = made["wide"].id
    service.apply_to_jobs(olga, [wide], BulkAction.HIDE)
    assert wide not in _ids(service, olga)
    assert _ids(service, olga, hidden=True) == [wide]
    explore = service.explore(sam, ExploreSort.NEWEST)
    assert wide in [i.job.id for i in explore.items]  # others still see it
    service.apply_to_jobs(olga, [wide], BulkAction.UNHIDE)
    assert wide in _ids(service, olga)


def test_likes_own_and_public_jobs_and_nothing_private(
    service: Service, made: dict[str, JobView]
) -> None:
    olga = _olga(service)
    sam = service.ensure_user("sam")
    service.apply_to_jobs(olga, [made["tall"].id], BulkAction.LIKE)
    service.apply_to_jobs(sam, [made["tall"].id, made["wide"].id], BulkAction.LIKE)
    service.apply_to_jobs(sam, [made["tall"].id], BulkAction.LIKE)  # twice: still one like
    assert _ids(service, olga, liked=True) == [made["tall"].id]
    with pytest.raises(ServiceError) as err:
        service.apply_to_jobs(sam, [made["secret"].id], BulkAction.LIKE)
    assert err.value.status == 404
    ranked = service.explore(sam, ExploreSort.MOST_LIKED)
    assert [(i.job.id, i.likes) for i in ranked.items[:2]] == [
        (made["tall"].id, 2),
        (made["wide"].id, 1),
    ]
    assert {i.job.id for i in service.explore(sam, ExploreSort.LIKED).items} == {
        made["tall"].id,
        made["wide"].id,
    }
    service.apply_to_jobs(sam, [made["wide"].id], BulkAction.UNLIKE)
    assert [i.job.id for i in service.explore(sam, ExploreSort.LIKED).items] == [made["tall"].id]


def test_explore_shows_public_images_only(service: Service, made: dict[str, JobView]) -> None:
    sam = service.ensure_user("sam")
    shown = [i.job.id for i in service.explore(sam).items]
    assert made["secret"].id not in shown
    assert made["wide"].id in shown
    assert shown == sorted(shown, key=lambda j: -service.get_job(j).created.timestamp())  # type: ignore[union-attr]


def test_unpublish_needs_a_plan_with_stealth_and_reaches_the_images(
    service: Service, made: dict[str, JobView]
) -> None:
    olga = _olga(service)
    sam = service.ensure_user("sam")
    (own,) = service.submit_imagine(sam, "a quiet pond --seed 9")
    service.wait(own.id, timeout=300)
    with pytest.raises(ServiceError) as err:
        service.apply_to_jobs(sam, [own.id], BulkAction.UNPUBLISH)
    assert err.value.message == "Stealth mode is only available on the Pro and Mega plans"
    tall = made["tall"].id
    service.apply_to_jobs(olga, [tall], BulkAction.UNPUBLISH)
    image = service.get_job(tall).images[0]
    found = service.image_file(image.key)
    assert found is not None and found.visibility == Visibility.STEALTH
    assert tall not in [i.job.id for i in service.explore(sam).items]
    service.apply_to_jobs(olga, [tall], BulkAction.PUBLISH)
    assert service.image_file(image.key).visibility == Visibility.PUBLIC  # type: ignore[union-attr]


def test_only_the_owner_downloads(service: Service, made: dict[str, JobView]) -> None:
    olga = _olga(service)
    sam = service.ensure_user("sam")
    files = service.library.files_of(olga, [made["wide"].id])
    assert [name for name, _ in files] == [f"{made['wide'].id}_grid.png"] + [
        f"{made['wide'].id}_{i}.png" for i in range(1, 5)
    ]
    assert all(path.is_file() for _, path in files)
    with pytest.raises(ServiceError) as err:
        service.library.files_of(sam, [made["wide"].id])
    assert err.value.status == 404


def test_delete_keeps_files_other_jobs_still_show_and_the_charges(
    service: Service, made: dict[str, JobView]
) -> None:
    olga = _olga(service)
    split = made["split"]
    (shown,) = split.images  # U2 shows the grid's second picture: the same file
    grid_paths = {image.path for image in made["square"].images}
    assert shown.path in grid_paths
    left = {u.name: u.fast_seconds_left for u in service.list_users()}["olga"]
    service.apply_to_jobs(olga, [made["square"].id], BulkAction.DELETE)
    with pytest.raises(ServiceError):
        service.get_job(made["square"].id, olga)
    assert shown.path.is_file()  # still U2's picture
    assert not (grid_paths - {shown.path}) & {p for p in grid_paths if p.exists()}
    assert service.get_job(split.id, olga).status == "completed"
    service.apply_to_jobs(olga, [split.id], BulkAction.DELETE)
    assert not shown.path.exists()
    # What was charged stays charged.
    assert {u.name: u.fast_seconds_left for u in service.list_users()}["olga"] == left


def test_a_running_job_is_not_deleted(service: Service) -> None:
    olga = _olga(service)
    (job,) = service.submit_imagine(olga, "a slow storm --seed 11")
    with pytest.raises(ServiceError) as err:
        service.apply_to_jobs(olga, [job.id], BulkAction.DELETE)
    assert err.value.status == 409 and "still running" in err.value.message
    service.wait(job.id, timeout=300)
