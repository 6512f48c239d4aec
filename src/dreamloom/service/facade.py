"""``Service``: the one object clients (the API, the CLI, tests) hold.

It owns the wiring (``wiring.py``), starts and stops it, and answers each use-case in one line
by handing it to the object that owns it; ``service.accounts``, ``service.channels`` ... are
those objects, for whatever the façade does not repeat. No logic lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from PIL import Image

from dreamloom.config import Settings
from dreamloom.service.channels import ChannelConfig
from dreamloom.service.deliveries import Renderer
from dreamloom.service.media import ImageInput
from dreamloom.service.views import (
    AccountView,
    ChannelView,
    ImageFile,
    JobView,
    RunningJobs,
    UserRow,
)
from dreamloom.service.wiring import wire


class Service:
    def __init__(
        self, settings: Settings, *, dispatch: bool = True, renderer: Renderer | None = None
    ) -> None:
        self.wiring = wire(settings, dispatch=dispatch, renderer=renderer)
        self.runtime = self.wiring.runtime
        self.settings = self.runtime.settings
        self.db = self.runtime.db
        self.files = self.runtime.files
        self.plans = self.runtime.plans
        self.events = self.runtime.events
        self.model = self.runtime.model
        self.accounts = self.wiring.accounts
        self.channels = self.wiring.channels
        self.moderation = self.wiring.moderation
        self.admission = self.wiring.admission
        self.submissions = self.wiring.submissions
        self.reading = self.wiring.reading
        self.buttons = self.wiring.buttons
        self.commands = self.wiring.commands
        self.media = self.wiring.media
        # The imagine route's fast path calls these on the event loop for every request:
        # bound once here, so the façade adds no call of its own.
        self.cached_account = self.accounts.cached_account
        self.queue_imagine = self.submissions.queue_imagine

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.wiring.start()

    def close(self) -> None:
        self.wiring.close()

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def dispatching(self) -> bool:
        return self.runtime.dispatching

    @property
    def hears_events(self) -> bool:
        return self.runtime.hears_events

    def wait_for_events(self, timeout: float) -> bool:
        return self.runtime.wait_for_events(timeout)

    def lower_scheduler_priority(self, nice: int) -> bool:
        return self.runtime.lower_scheduler_priority(nice)

    # -- accounts ----------------------------------------------------------------------------

    def create_user(self, name: str, plan: str) -> tuple[AccountView, str]:
        return self.accounts.create_user(name, plan)

    def issue_token(self, name: str) -> str:
        return self.accounts.issue_token(name)

    def ensure_user(self, name: str, plan: str | None = None) -> AccountView:
        return self.accounts.ensure_user(name, plan)

    def set_plan(self, name: str, plan: str) -> AccountView:
        return self.accounts.set_plan(name, plan)

    def lift_timeout(self, name: str) -> AccountView:
        return self.accounts.lift_timeout(name)

    def grant_time(self, name: str, kind: str, hours: float) -> float:
        return self.accounts.grant_time(name, kind, hours)

    def list_users(self) -> list[UserRow]:
        return self.accounts.list_users()

    def authenticate(self, token: str) -> AccountView | None:
        return self.accounts.authenticate(token)

    def account(self, account_id: int) -> AccountView:
        return self.accounts.account(account_id)

    # -- channels ----------------------------------------------------------------------------

    def configure_channel(
        self, account: AccountView, config: ChannelConfig
    ) -> tuple[ChannelView, bool]:
        return self.channels.configure_channel(account, config)

    def list_channels(self, account: AccountView) -> list[ChannelView]:
        return self.channels.list_channels(account)

    def get_channel(self, account: AccountView, channel_id: str) -> ChannelView:
        return self.channels.get_channel(account, channel_id)

    def delete_channel(self, account: AccountView, channel_id: str) -> None:
        self.channels.delete_channel(account, channel_id)

    def reset_channel(self, account: AccountView, channel_id: str) -> None:
        self.channels.reset_channel(account, channel_id)

    def check_reply_url(self, url: str | None) -> None:
        self.channels.check_reply_url(url)

    def cached_reply_url(self, channel_id: str | None) -> tuple[bool, str | None]:
        return self.channels.cached_reply_url(channel_id)

    def channel_reply_url(self, channel_id: str | None) -> str | None:
        return self.channels.channel_reply_url(channel_id)

    # -- submissions, buttons, commands, media -----------------------------------------------

    def submit_imagine(
        self,
        account: AccountView,
        prompt_text: str,
        *,
        request: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> list[JobView]:
        return self.submissions.submit_imagine(
            account, prompt_text, request=request, channel=channel
        )

    def submit_blend(
        self,
        account: AccountView,
        images: Sequence[bytes],
        dimensions: str = "Square",
        *,
        request: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> JobView:
        return self.submissions.submit_blend(
            account, images, dimensions, request=request, channel=channel
        )

    def press_button(
        self,
        account: AccountView,
        parent_id: str,
        button: str,
        *,
        prompt: str | None = None,
        mask: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> tuple[JobView, bool]:
        return self.buttons.press_button(
            account, parent_id, button, prompt=prompt, mask=mask, request=request
        )

    def get_seed(
        self, account: AccountView, parent_id: str, *, request: dict[str, Any] | None = None
    ) -> tuple[JobView, bool]:
        return self.buttons.get_seed(account, parent_id, request=request)

    def run_command(
        self,
        account: AccountView,
        verb: str,
        *,
        channel: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> JobView:
        return self.commands.run_command(account, verb, channel=channel, request=request)

    def settings_of(self, account: AccountView) -> dict[str, Any]:
        return self.commands.settings_of(account)

    def load_image(self, source: ImageInput) -> tuple[Image.Image, bytes]:
        return self.media.load_image(source)

    def describe(
        self,
        account: AccountView,
        source: ImageInput,
        *,
        request: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> JobView:
        return self.media.describe(account, source, request=request, channel=channel)

    # -- reading -----------------------------------------------------------------------------

    def get_job(self, job_id: str, account: AccountView | None = None) -> JobView:
        return self.reading.get_job(job_id, account)

    def list_running(self, account: AccountView) -> RunningJobs:
        return self.reading.list_running(account)

    def wait(
        self,
        job_id: str,
        *,
        on_progress: Callable[[int], object] | None = None,
        timeout: float | None = None,
    ) -> JobView:
        return self.reading.wait(job_id, on_progress=on_progress, timeout=timeout)

    def export_images(self, job_id: str, out_dir: Path) -> list[Path]:
        return self.reading.export_images(job_id, out_dir)

    def cancel(self, account: AccountView, job_id: str, *, queued_too: bool = False) -> JobView:
        return self.reading.cancel(account, job_id, queued_too=queued_too)

    def image_file(self, key: str) -> ImageFile | None:
        return self.reading.image_file(key)

    def preview_file(self, job_id: str) -> ImageFile | None:
        return self.reading.preview_file(job_id)
