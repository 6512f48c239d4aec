"""``dreamloom personalize``: profiles, ranking pictures, moodboards and codes from a terminal
(the web app's Personalize page and /native/personalize do the same through the service)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dreamloom.cli_common import DataDirOption, console, run_as

if TYPE_CHECKING:
    from dreamloom.service import AccountView, Service
    from dreamloom.service.personalization import ProfileView

personalize_app = typer.Typer(
    no_args_is_help=True, help="Personalization: profiles, ranking, moodboards, --p codes."
)
ProfileArg = Annotated[str, typer.Argument(help="A profile or moodboard ID (see `profiles`).")]


def _line(view: ProfileView) -> str:
    state = "unlocked" if view.unlocked else f"{view.rankings}/{view.needed} rankings"
    mark = "*" if view.is_default else " "
    code = f"  code {view.latest_code}" if view.latest_code else ""
    return (
        f"{mark} {view.id}  V{view.version}  {view.kind:9}  {view.name}  ({state}, "
        f"{len(view.pictures)} pictures){code}"
    )


def _show(view: ProfileView) -> None:
    console.print(_line(view), markup=False, highlight=False, soft_wrap=True)


@personalize_app.command("profiles")
def profiles(user: str = "local", data_dir: DataDirOption = None) -> None:
    """The account's profiles and moodboards (* marks the defaults a bare --p uses)."""
    for view in run_as(user, data_dir, lambda s, a: s.profiles(a)):
        _show(view)


@personalize_app.command("new")
def new(
    name: str,
    moodboard: Annotated[bool, typer.Option(help="A moodboard instead of a profile.")] = False,
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """A custom profile (once the global one is unlocked), or a moodboard."""
    from dreamloom.domain import ProfileKind

    kind = ProfileKind.MOODBOARD if moodboard else ProfileKind.CUSTOM
    _show(run_as(user, data_dir, lambda s, a: s.create_profile(a, name, kind=kind)))


@personalize_app.command("rename")
def rename(
    profile: ProfileArg, name: str, user: str = "local", data_dir: DataDirOption = None
) -> None:
    _show(run_as(user, data_dir, lambda s, a: s.rename_profile(a, profile, name)))


@personalize_app.command("delete")
def delete(profile: ProfileArg, user: str = "local", data_dir: DataDirOption = None) -> None:
    """Gone from the list; the codes it made keep working."""
    run_as(user, data_dir, lambda s, a: s.delete_profile(a, profile))
    console.print(f"deleted {profile}", highlight=False)


@personalize_app.command("default")
def default(
    profile_ids: Annotated[list[str], typer.Argument(help="The profiles a bare --p uses.")],
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    def work(service: Service, account: AccountView) -> list[ProfileView]:
        service.select_profiles(account, profile_ids)
        return service.profiles(account)

    for view in run_as(user, data_dir, work):
        _show(view)


@personalize_app.command("rank")
def rank(
    profile: ProfileArg,
    rounds: Annotated[int, typer.Option(help="Pairs to rank.")] = 10,
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """Rank pairs of this server's pictures: 1 or 2 picks one, s skips, q stops."""

    from dreamloom.service import ServiceError

    def work(service: Service, account: AccountView) -> ProfileView:
        view = service.profile(account, profile)
        for _ in range(rounds):
            pair = service.rank_candidates(account, profile, 2)
            if len(pair) < 2:
                raise ServiceError("Make some images first: there is nothing to rank yet")
            for number, candidate in enumerate(pair, 1):
                image = service.image_file(candidate.picture.key)
                where = image.path if image is not None else candidate.picture.key
                console.print(
                    f"{number}: {where}  {candidate.prompt}", markup=False, soft_wrap=True
                )
            answer = typer.prompt("1, 2, s(kip) or q(uit)", default="s").strip().lower()
            if answer == "q":
                break
            shown = [c.picture.key for c in pair]
            picked = [shown[int(answer) - 1]] if answer in ("1", "2") else []
            view = service.pick_images(account, profile, shown, picked)
            _show(view)
        return view

    _show(run_as(user, data_dir, work))


@personalize_app.command("pick")
def pick(
    profile: ProfileArg,
    shown: Annotated[list[str], typer.Option("--shown", help="Image keys or links shown.")],
    picked: Annotated[list[str] | None, typer.Option("--picked", help="Those picked.")] = None,
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """Record picks made elsewhere (nothing picked: a skip)."""
    from dreamloom.service.personalization import key_of

    keys, chosen = [key_of(k) for k in shown], [key_of(k) for k in picked or []]
    _show(run_as(user, data_dir, lambda s, a: s.pick_images(a, profile, keys, chosen)))


@personalize_app.command("add")
def add(
    profile: ProfileArg,
    pictures: Annotated[list[str], typer.Argument(help="Image files, keys or links.")],
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    """Pictures into a moodboard: a file is uploaded first (a private image of yours)."""
    from dreamloom.service.personalization import key_of

    def work(service: Service, account: AccountView) -> ProfileView:
        keys = []
        for picture in pictures:
            path = Path(picture)
            if path.is_file():
                (image,) = service.upload(account, path.read_bytes()).images
                keys.append(image.key)
            else:
                keys.append(key_of(picture))
        return service.add_to_moodboard(account, profile, keys)

    _show(run_as(user, data_dir, work))


@personalize_app.command("remove")
def remove(
    profile: ProfileArg,
    pictures: Annotated[list[str], typer.Argument(help="Image keys or links.")],
    user: str = "local",
    data_dir: DataDirOption = None,
) -> None:
    from dreamloom.service.personalization import key_of

    keys = [key_of(p) for p in pictures]
    _show(run_as(user, data_dir, lambda s, a: s.remove_from_moodboard(a, profile, keys)))


@personalize_app.command("code")
def code(profile: ProfileArg, user: str = "local", data_dir: DataDirOption = None) -> None:
    """The profile's code as it is now (what --p ID becomes at submission)."""
    console.print(run_as(user, data_dir, lambda s, a: s.current_code(a, profile)), highlight=False)


@personalize_app.command("codes")
def codes(user: str = "local", data_dir: DataDirOption = None) -> None:
    """/list_personalize_codes: every code your profiles made, newest first."""
    for found in run_as(user, data_dir, lambda s, a: s.personalize_codes(a)):
        gone = "  (profile deleted)" if found.deleted else ""
        console.print(
            f"{found.code}  {found.created:%Y-%m-%d %H:%M}  V{found.version}  "
            f"{found.profile_name}{gone}",
            markup=False,
            highlight=False,
        )
