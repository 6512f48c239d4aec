"""``Service``: the one object clients (the API, the CLI, tests) hold.

It owns the wiring (``wiring.py``), starts and stops it, and answers each use-case in one line
by handing it to the object that owns it; ``service.accounts``, ``service.channels`` ... are
those objects, for whatever the façade does not repeat. No logic lives here.
"""

from __future__ import annotations

from types import TracebackType

from dreamloom.config import Settings
from dreamloom.service.deliveries import Renderer
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
        self.signins = self.wiring.signins
        self.library = self.wiring.library
        self.personalization = self.wiring.personalization
        self.usage_and_tokens = self.wiring.usage
        # Each use-case a client calls, bound once to the object that owns it: the façade
        # adds no call of its own (the imagine route's fast path runs on the event loop for
        # every request) and repeats no signature.
        self.cached_account = self.accounts.cached_account
        self.queue_imagine = self.submissions.queue_imagine
        self.wait_for_events = self.runtime.wait_for_events
        self.lower_scheduler_priority = self.runtime.lower_scheduler_priority
        self.create_user = self.accounts.create_user
        self.issue_token = self.accounts.issue_token
        self.ensure_user = self.accounts.ensure_user
        self.set_plan = self.accounts.set_plan
        self.lift_timeout = self.accounts.lift_timeout
        self.grant_time = self.accounts.grant_time
        self.list_users = self.accounts.list_users
        self.authenticate = self.accounts.authenticate
        self.account = self.accounts.account
        self.configure_channel = self.channels.configure_channel
        self.list_channels = self.channels.list_channels
        self.get_channel = self.channels.get_channel
        self.delete_channel = self.channels.delete_channel
        self.reset_channel = self.channels.reset_channel
        self.check_reply_url = self.channels.check_reply_url
        self.cached_reply_url = self.channels.cached_reply_url
        self.channel_reply_url = self.channels.channel_reply_url
        self.submit_imagine = self.submissions.submit_imagine
        self.parse_prompt = self.submissions.parse
        self.submit_blend = self.submissions.submit_blend
        self.upload = self.submissions.upload
        self.press_button = self.buttons.press_button
        self.get_seed = self.buttons.get_seed
        self.run_command = self.commands.run_command
        self.settings_of = self.commands.settings_of
        self.change_settings = self.commands.change_settings
        self.reset_settings = self.commands.reset_settings
        self.prefer_suffix = self.commands.prefer_suffix
        self.set_option = self.commands.set_option
        self.delete_option = self.commands.delete_option
        self.list_options = self.commands.list_options
        self.show = self.commands.show
        self.load_image = self.media.load_image
        self.describe = self.media.describe
        self.get_job = self.reading.get_job
        self.list_running = self.reading.list_running
        self.recent_jobs = self.reading.recent_jobs
        self.wait = self.reading.wait
        self.export_images = self.reading.export_images
        self.cancel = self.reading.cancel
        self.image_file = self.reading.image_file
        self.preview_file = self.reading.preview_file
        self.set_password = self.signins.set_password
        self.sign_in = self.signins.sign_in
        self.web_session = self.signins.session
        self.sign_out = self.signins.sign_out
        self.change_password = self.signins.change_password
        self.archive = self.library.archive
        self.explore = self.library.explore
        self.apply_to_jobs = self.library.apply
        self.with_likes = self.library.with_likes
        self.profiles = self.personalization.profiles
        self.profile = self.personalization.profile
        self.create_profile = self.personalization.create
        self.rename_profile = self.personalization.rename
        self.delete_profile = self.personalization.delete
        self.select_profiles = self.personalization.select_defaults
        self.rank_candidates = self.personalization.candidates
        self.pick_images = self.personalization.pick
        self.add_to_moodboard = self.personalization.add_to_moodboard
        self.remove_from_moodboard = self.personalization.remove_from_moodboard
        self.personalize_codes = self.personalization.codes
        self.current_code = self.personalization.current_code
        self.tuners = self.wiring.tuners
        self.create_tuner = self.tuners.create
        self.tuner = self.tuners.tuner
        self.list_tuners = self.tuners.list_tuners
        self.draw_tuner = self.tuners.draw
        self.tuner_code = self.tuners.code
        self.usage = self.wiring.usage.usage
        self.tokens = self.wiring.usage.tokens
        self.new_token = self.wiring.usage.new_token
        self.revoke_token = self.wiring.usage.revoke_token

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
