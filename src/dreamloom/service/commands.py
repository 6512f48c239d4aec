"""The settings-type commands: /settings (reading it, changing it, Reset Settings), /info,
/fast, /relax, /turbo, /stealth, /public, /prefer remix, /prefer variability, /prefer suffix,
/prefer option set, and /show. Each answers with a job that is complete at once, carrying the
``settings`` subset the reference documents and Midjourney's reply text; /show's job is the
shown job's result again, with working buttons.

What may change and how a change is checked lives in ``preferences``: every change is parsed
together with the rest of the account's context before it is stored, so that the next prompt
cannot fail because of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from dreamloom.domain import JobStatus, SpeedMode, Verb, Visibility
from dreamloom.jobs.balance import fast_balance_for
from dreamloom.jobs.scheduler import RELAX_NOT_ALLOWED, STEALTH_NOT_ALLOWED
from dreamloom.prompt.versions import DEFAULT_VERSION
from dreamloom.service import preferences
from dreamloom.service.accounts import Accounts
from dreamloom.service.channels import Channels
from dreamloom.service.errors import JOB_NOT_FOUND, ServiceError, job_expired
from dreamloom.service.job_views import JobViews
from dreamloom.service.preferences import SettingsChange
from dreamloom.service.reading import Reading
from dreamloom.service.runtime import Runtime
from dreamloom.service.submissions import Submissions, settings_as_params
from dreamloom.service.views import AccountView, JobView
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import jobs_repo, ledger
from dreamloom.store.jobs_repo import ImageSpec, JobSpec
from dreamloom.store.tables import Job

# The commands ``run_command`` answers by name (the v3 jobs/* paths, and /stealth, /public).
COMMANDS = ("settings", "info", "fast", "relax", "turbo", "remix", "variability")
SWITCHES = (*COMMANDS, "stealth", "public")

_MODE_TEXT = {
    "fast": (
        "Done! Note that once you exhaust your fast hours, you can purchase more hours. To "
        "conserve your fast hours, use `/relax` to switch back to relax mode."
    ),
    "relax": (
        "Done! Your jobs now do not consume fast-hours, but might take a little longer. You "
        "can always switch back with `/fast`"
    ),
    "turbo": (
        "**Turbo mode enabled!** Your jobs will cost around 2x more than on `/fast` mode. "
        "Switch back with `/fast`"
    ),
}


def _speed_flags(mode: str) -> dict[str, bool]:
    return {"relax": mode == "relax", "fast": mode == "fast", "turbo": mode == "turbo"}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


class Commands:
    def __init__(
        self,
        runtime: Runtime,
        accounts: Accounts,
        channels: Channels,
        submissions: Submissions,
        reading: Reading,
        views: JobViews,
    ) -> None:
        self.db = runtime.db
        self.plans = runtime.plans
        self._accounts = accounts
        self._channels = channels
        self._submissions = submissions
        self._reading = reading
        self._views = views

    def run_command(
        self,
        account: AccountView,
        verb: str,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        if verb not in SWITCHES:
            raise ServiceError(f"Unknown command {verb!r}")
        account, chosen = self._begin(account, channel)
        if verb in ("fast", "relax", "turbo"):
            self._check_speed(account, verb)
            account = self._accounts.update_settings(account, {"mode": verb})
            response = {"content": _MODE_TEXT[verb], "settings": _speed_flags(verb)}
        elif verb in ("stealth", "public"):
            stealth = verb == "stealth"
            if stealth:
                self._check_stealth(account)
            account = self._accounts.update_settings(account, {"stealth": stealth})
            text = preferences.STEALTH_ON if stealth else preferences.PUBLIC_ON
            response = {"content": text, "settings": {"public": not stealth}}
        elif verb == "remix":
            account = self._accounts.update_settings(
                account, {"remix": not account.settings.get("remix")}
            )
            on = bool(account.settings.get("remix"))
            response = {"content": _remix_text(on), "settings": {"remix": on}}
        elif verb == "variability":
            strong = account.settings.get("variability") != "high"
            account = self._accounts.update_settings(
                account, {"variability": "high" if strong else "low"}
            )
            response = {"content": _variability_text(strong), "settings": {"variability": strong}}
        elif verb == "settings":
            response = self._settings_response(account)
        else:
            response = self._info_response(account)
        return self._answer(account, verb, chosen, request, response)

    # -- /settings changes and /prefer --------------------------------------------------------

    def change_settings(
        self,
        account: AccountView,
        change: SettingsChange,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        """What the /settings panel's selector and buttons do: the panel again, as it is now."""
        if change.is_empty():
            raise ServiceError(
                "Nothing to change: give version, stylize, raw, personalization, visibility, "
                "remix, variability or speed"
            )
        account, chosen = self._begin(account, channel)
        changes = preferences.stored_changes(change)
        if change.speed is not None:
            self._check_speed(account, str(change.speed))
        if change.visibility == Visibility.STEALTH:
            self._check_stealth(account)
        account = self._store_checked(account, lambda current: {**current, **changes})
        response = self._settings_response(account)
        return self._answer(account, Verb.SETTINGS, chosen, request, response)

    def reset_settings(
        self,
        account: AccountView,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        """/settings -> Reset Settings: defaults again, the custom suffix cleared; option sets
        are kept (``store.accounts.KEPT_BY_RESET``)."""
        account, chosen = self._begin(account, channel)
        with self.db.session(write=True) as session:
            accounts_repo.reset_settings(session, account.id)
        self._accounts.forget(account.id)
        account = self._accounts.account(account.id)
        response = self._settings_response(account)
        return self._answer(account, Verb.SETTINGS, chosen, request, response)

    def prefer_suffix(
        self,
        account: AccountView,
        suffix: str | None,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        """/prefer suffix: ``None`` shows it, ``""`` clears it, anything else sets it (after
        parsing it as parameters: the parser's message refuses bad ones)."""
        account, chosen = self._begin(account, channel)
        if suffix is not None:
            value = " ".join(suffix.split())
            account = self._store_checked(account, lambda current: {**current, "suffix": value})
        current = str(account.settings.get("suffix") or "")
        response = {
            "content": preferences.suffix_text(current, changed=suffix is not None),
            "settings": self.settings_of(account),
        }
        return self._answer(account, Verb.PREFER, chosen, request, response)

    def set_option(
        self,
        account: AccountView,
        name: str,
        value: str,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        """/prefer option set NAME VALUE: ``--NAME`` in a prompt stands for VALUE; an empty
        VALUE removes the option, as in Midjourney."""
        if not value.strip():
            return self.delete_option(account, name, channel=channel, request=request)
        bare = preferences.option_name(name)
        text = " ".join(value.split())
        account, chosen = self._begin(account, channel)

        def with_option(current: dict[str, Any]) -> dict[str, Any]:
            options = dict(current.get("option_sets") or {})
            if bare not in options and len(options) >= preferences.MAX_OPTION_SETS:
                raise ServiceError(
                    f"You can keep at most {preferences.MAX_OPTION_SETS} custom options: "
                    "delete one first"
                )
            return {**current, "option_sets": {**options, bare: text}}

        account = self._store_checked(account, with_option, preferences.option_probe(bare))
        return self._options_answer(
            account, chosen, request, preferences.option_set_text(bare, text)
        )

    def delete_option(
        self,
        account: AccountView,
        name: str,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        bare = name.strip().lstrip("-—–")
        account, chosen = self._begin(account, channel)
        with self.db.session(write=True) as session:
            current = accounts_repo.get_settings(session, account.id)
            options = dict(current.get("option_sets") or {})
            if bare not in options:
                raise ServiceError(f"No custom option named --{bare}", 404)
            del options[bare]
            accounts_repo.update_settings(session, account.id, {"option_sets": options})
        self._accounts.forget(account.id)
        account = self._accounts.account(account.id)
        return self._options_answer(account, chosen, request, preferences.option_removed_text(bare))

    def list_options(
        self,
        account: AccountView,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        """/prefer option list."""
        account, chosen = self._begin(account, channel)
        options = dict(account.settings.get("option_sets") or {})
        return self._options_answer(account, chosen, request, preferences.option_list_text(options))

    # -- /show --------------------------------------------------------------------------------

    def show(
        self,
        account: AccountView,
        job_id: str,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        """/show JOB: the job's result posted again, in the command's channel, as a job of its
        own whose buttons work (the early FAQ: "produce the resulting image and
        upscale+variation buttons"; "you can only use /show on jobs that you are the author
        of", so another account's job is not found)."""
        account, chosen = self._begin(account, channel)
        with self.db.session(write=True) as session:
            shown = self._reading.owned_job(
                session, job_id, account, not_found=JOB_NOT_FOUND, expired=job_expired(job_id)
            )
            if shown.status != JobStatus.COMPLETED:
                raise ServiceError(
                    f'Job status is "{shown.status}", must be "completed" to show it'
                )
            if shown.job_type != "image":
                raise ServiceError(f"Job {job_id} has no image to show")
            job = self._submissions.instant(
                session, account, _show_spec(shown, chosen, request), images=_copies(session, shown)
            )
            # What the shown job's buttons read from it (a Redo's source image) comes along.
            job.response = {k: v for k, v in (shown.response or {}).items() if k.startswith("_")}
            view = self._views.of(session, job)
        self._submissions.announce_instant(job)
        return view

    # -- shared -------------------------------------------------------------------------------

    def _begin(self, account: AccountView, channel: str | None) -> tuple[AccountView, str]:
        """The checks every command makes, its channel, and the account as stored now."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        chosen = self._channels.command_channel(account, channel)
        return self._accounts.account(account.id), chosen

    def _check_speed(self, account: AccountView, mode: str) -> None:
        if mode == SpeedMode.RELAX and not self.plans.get(account.plan).relax_allowed:
            raise ServiceError(RELAX_NOT_ALLOWED)

    def _check_stealth(self, account: AccountView) -> None:
        if not self.plans.get(account.plan).stealth_allowed:
            raise ServiceError(STEALTH_NOT_ALLOWED)  # 400, as a --stealth prompt on such a plan

    def _store_checked(
        self,
        account: AccountView,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        probe: str | None = None,
    ) -> AccountView:
        """Apply ``change`` (current settings -> new settings) in one write transaction, after
        parsing a prompt with the new settings (``preferences.check_context``)."""
        cap = self.plans.get(account.plan).batch_cap
        with self.db.session(write=True) as session:
            current = accounts_repo.get_settings(session, account.id)
            new = change(current)
            if probe is None:
                checked = preferences.check_context(new, cap)
            else:
                checked = preferences.check_context(new, cap, probe)
            # What later prompts would be refused for (--p with no profile, a reference the
            # model cannot use) is refused now, not on every prompt after.
            self._submissions.check_references(checked)
            self._submissions.check_personal(account, checked)
            accounts_repo.update_settings(session, account.id, new)
        self._accounts.forget(account.id)
        return self._accounts.account(account.id)

    def _options_answer(
        self, account: AccountView, chosen: str, request: dict[str, Any] | None, text: str
    ) -> JobView:
        options = dict(account.settings.get("option_sets") or {})
        response = {"content": text, "optionSets": options}
        return self._answer(account, Verb.PREFER, chosen, request, response)

    def _answer(
        self,
        account: AccountView,
        verb: str,
        chosen: str,
        request: dict[str, Any] | None,
        response: dict[str, Any],
    ) -> JobView:
        """The command's job, written completed, and its events."""
        spec = JobSpec(
            verb=verb,
            mode=str(account.settings.get("mode") or "fast"),
            job_type="text",
            request=request,
            channel=chosen,
        )
        with self.db.session(write=True) as session:
            job = self._submissions.instant(session, account, spec, response=response)
            view = self._views.of(session, job)
        self._submissions.announce_instant(job)
        return view

    def settings_of(self, account: AccountView) -> dict[str, Any]:
        """The reference's complete ``settings`` object for an account."""
        s = {**accounts_repo.DEFAULT_SETTINGS, **account.settings}
        mode = str(s.get("mode") or "fast")
        suffix_params = settings_as_params({**s, "mode": None})
        suffix = " ".join(p for p in (suffix_params, str(s.get("suffix") or "")) if p)
        return {
            "version": str(s.get("version") or DEFAULT_VERSION),
            "stylize": int(s["stylize"]) if s.get("stylize") is not None else 100,
            "raw": bool(s.get("raw")),
            "personalization": bool(s.get("personalization")),
            "public": not s.get("stealth"),
            "remix": bool(s.get("remix")),
            "variability": s.get("variability") == "high",
            **_speed_flags(mode),
            "suffix": f" {suffix}" if suffix else "",
        }

    def _settings_response(self, account: AccountView) -> dict[str, Any]:
        settings = self.settings_of(account)
        return {
            "content": f"Adjust your settings here. Current suffix: `{settings['suffix']}`",
            "settings": settings,
        }

    def _info_response(self, account: AccountView) -> dict[str, Any]:
        mode = str(account.settings.get("mode") or "fast")
        plan = self.plans.get(account.plan)
        with self.db.session() as session:
            row = accounts_repo.require_account(session, account.id)
            balance = fast_balance_for(session, row, self.plans)
            usage = ledger.usage_by_mode(session, account.id)
            counts = jobs_repo.count_active(session, account.id)
        total = balance.monthly_allowance + sum(g.seconds for g in balance.grants)
        left = balance.remaining
        percent = 100.0 * left / total if total else 0.0
        used = {u.mode: u.gpu_seconds for u in usage}
        running = counts[JobStatus.STARTED] + counts[JobStatus.PROGRESS]
        lines = [
            f"**User ID**: {account.id}",
            f"**Subscription**: {plan.name.title()} (Active, renews next on "
            f"{balance.next_reset:%Y-%m-%d})",
            f"**Job Mode**: {'Relaxed' if mode == 'relax' else mode.title()}",
            f"**Visibility Mode**: {'Stealth' if account.settings.get('stealth') else 'Public'}",
            f"**Fast Time Remaining**: {_hours(left)}/{_hours(total)} hours ({percent:.2f}%)",
            f"**Lifetime Usage**: {_hours(sum(used.values()))} hours",
            f"**Fast Usage**: {_hours(used.get('fast', 0.0))} hours",
            f"**Turbo Usage**: {_hours(used.get('turbo', 0.0))} hours",
            f"**Relaxed Usage**: {_hours(used.get('relax', 0.0))} hours",
            f"**Queued Jobs**: {counts[JobStatus.CREATED]}",
            f"**Running Jobs**: {running or 'None'}",
        ]
        description = "\n".join(lines)
        return {
            "content": description,
            "embeds": [{"title": f"Your info - {account.name}", "description": description}],
            "settings": _speed_flags(mode),
        }


def _remix_text(on: bool) -> str:
    if on:
        return (
            "Remix mode turned on! Clicking the variation buttons will now give you a chance "
            "to edit your prompt! You can always turn this off by running `/prefer remix` again."
        )
    return "Remix mode turned off! You can always turn this on by running `/prefer remix` again."


def _variability_text(strong: bool) -> str:
    if strong:
        return (
            "Strong variability mode turned on! Clicking the variation buttons will now make "
            "your variations stronger! You can always turn this off by running `/prefer "
            "variability` again."
        )
    return (
        "Subtle variability mode turned on! Clicking the variation buttons will now make "
        "your variations subtler! You can always switch back by running `/prefer variability` "
        "again."
    )


def _show_spec(shown: Job, channel: str, request: dict[str, Any] | None) -> JobSpec:
    """A /show job: the shown job's result as it was (prompt, recipe, seed, visibility and the
    button that made it, which decide its buttons), in the command's channel."""
    return JobSpec(
        verb=Verb.SHOW,
        mode=shown.mode_effective or shown.mode_requested,
        prompt_text=shown.prompt_text,
        prompt=shown.prompt,
        recipe=shown.recipe,
        seed=shown.seed,
        job_type=shown.job_type,
        parent_job_id=shown.id,
        button=shown.button,
        draft=shown.draft,
        visibility=shown.visibility,
        request=request,
        channel=channel,
    )


def _copies(session: Session, shown: Job) -> list[ImageSpec]:
    """The shown job's images as rows of the new job (the files are shared, not copied)."""
    return [
        jobs_repo.shared_image(image, image.index)
        for image in jobs_repo.images_of_job(session, shown.id)
    ]
