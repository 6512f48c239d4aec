"""The use-cases every client (CLI, REST API, web app, Discord bot) goes through.

``Service`` is assembled from one mixin per family of use-cases, each in its own module:
``accounts`` (users, tokens, plan and lock checks), ``channels`` (an account's lanes),
``moderation`` (prompt checks, strikes), ``submissions`` (imagine, blend, admission),
``buttons`` (U/V/zoom/pan/upscale..., seed), ``commands`` (settings-type commands),
``media`` (user images, describe) and ``reading`` (jobs, images, wait, cancel).
"""

from __future__ import annotations

from dreamloom.config import Settings
from dreamloom.jobs.balance import fast_balance_for, grant_fast_time
from dreamloom.service.channels import ChannelConfig
from dreamloom.service.deliveries import DeliveryEvent, Renderer
from dreamloom.service.errors import ServiceError
from dreamloom.service.media import ImageInput
from dreamloom.service.reading import ReadingMixin
from dreamloom.service.submissions import SEED_MAX, settings_as_params
from dreamloom.service.views import (
    AccountView,
    ChannelView,
    ImageFile,
    ImageView,
    JobView,
    RunningJobs,
    UserRow,
)
from dreamloom.store import accounts as accounts_repo

__all__ = [
    "SEED_MAX",
    "AccountView",
    "ChannelConfig",
    "ChannelView",
    "DeliveryEvent",
    "ImageFile",
    "ImageInput",
    "ImageView",
    "JobView",
    "Renderer",
    "RunningJobs",
    "Service",
    "ServiceError",
    "UserRow",
    "settings_as_params",
]


class Service(ReadingMixin):
    def __init__(
        self, settings: Settings, *, dispatch: bool = True, renderer: Renderer | None = None
    ) -> None:
        super().__init__(settings, dispatch=dispatch, renderer=renderer)
        self._init_accounts()
        self._init_channels()
        self._init_moderation()
        self._init_admission()

    def close(self) -> None:
        self._stop_admission()
        self._stop_accounts()
        super().close()

    def __enter__(self) -> Service:
        self.start()
        return self

    def grant_time(self, name: str, kind: str, hours: float) -> float:
        """Add purchased (expires in 60 days) or bonus (30 days) fast time; returns the
        account's fast seconds left afterwards."""
        if kind not in ("purchased", "bonus"):
            raise ServiceError("Fast time is either purchased or bonus")
        if hours <= 0:
            raise ServiceError("Granted hours must be positive")
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                raise ServiceError(f"No account named {name!r}", 404)
            grant_fast_time(session, account.id, kind, hours * 3600, self.plans)
            session.flush()
            self._forget_account(account.id)
            return fast_balance_for(session, account, self.plans).remaining
