"""The settings-type commands: /settings, /info, /fast, /relax, /turbo, /prefer remix and
/prefer variability. Each answers with a job that is complete at once, carrying the
``settings`` subset the reference documents and Midjourney's reply text."""

from __future__ import annotations

from typing import Any

from dreamloom.domain import JobStatus
from dreamloom.jobs.balance import fast_balance_for
from dreamloom.jobs.scheduler import RELAX_NOT_ALLOWED
from dreamloom.prompt.versions import DEFAULT_VERSION
from dreamloom.service.accounts import Accounts
from dreamloom.service.channels import Channels
from dreamloom.service.errors import ServiceError
from dreamloom.service.job_views import JobViews
from dreamloom.service.runtime import Runtime
from dreamloom.service.submissions import Submissions, settings_as_params
from dreamloom.service.views import AccountView, JobView
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import jobs_repo, ledger
from dreamloom.store.jobs_repo import JobSpec

COMMANDS = ("settings", "info", "fast", "relax", "turbo", "remix", "variability")

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
        views: JobViews,
    ) -> None:
        self.db = runtime.db
        self.plans = runtime.plans
        self._accounts = accounts
        self._channels = channels
        self._submissions = submissions
        self._views = views

    def run_command(
        self,
        account: AccountView,
        verb: str,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        if verb not in COMMANDS:
            raise ServiceError(f"Unknown command {verb!r}")
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        chosen = self._channels.command_channel(account, channel)
        account = self._accounts.account(account.id)
        if verb in ("fast", "relax", "turbo"):
            if verb == "relax" and not self.plans.get(account.plan).relax_allowed:
                raise ServiceError(RELAX_NOT_ALLOWED)
            account = self._accounts.update_settings(account, {"mode": verb})
            response = {"content": _MODE_TEXT[verb], "settings": _speed_flags(verb)}
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
