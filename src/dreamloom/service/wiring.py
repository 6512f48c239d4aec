"""Builds the service's use-case objects once, in dependency order, and starts and stops them.

Read top to bottom, ``wire`` is the map of who calls whom: each object receives, through its
constructor, the shared ``Runtime`` (database, files, plans, event bus, clock, dispatcher,
delivery worker) and the use-cases built before it that it calls. Nothing calls upwards in
this list::

    Runtime (with its JobViews and, when it dispatches, the DeliveryWorker)
      Accounts        users, tokens (auth cache), plan and moderation-lock checks
      Channels        an account's lanes (lanes and webhook-URL caches)      <- Accounts
      Moderation      prompt checks, strikes                                 <- Accounts
      Admission       the admission thread: batches into one transaction     <- Channels
      Reading         get/list/wait/cancel jobs, image files                 <- Channels
      Media           user images in, /describe (a queued job)               <- Admission
      Links           the pictures a prompt links to, read at submission     <- Media, Reading
      Personalization profiles, moodboards, codes: what --p stands for
      Submissions     imagine, blend, flagged prompts, instant jobs          <- Admission, Links,
                                                                                Personalization
      Buttons         U/V/zoom/pan/upscale..., /seed                         <- Submissions, Reading
      Commands        /settings, /prefer, /stealth, /show ...                <- Submissions, Reading
      Tuners          /tune, its looks (imagine jobs) and codes, /list_tuners <- Submissions
      SignIns         web app passwords and browser sessions
      Library         Organize (search, filters, likes, hide, publish, delete), Explore
      UsageAndTokens  an account's usage report and its API tokens          <- Accounts
"""

from __future__ import annotations

from dataclasses import dataclass

from dreamloom.config import Settings
from dreamloom.service.accounts import Accounts
from dreamloom.service.admission import Admission
from dreamloom.service.buttons import Buttons
from dreamloom.service.channels import Channels
from dreamloom.service.commands import Commands
from dreamloom.service.deliveries import Renderer
from dreamloom.service.job_views import JobViews
from dreamloom.service.library import Library
from dreamloom.service.links import Links
from dreamloom.service.media import Media
from dreamloom.service.moderation import Moderation
from dreamloom.service.personalization import Personalization
from dreamloom.service.reading import Reading
from dreamloom.service.runtime import Runtime
from dreamloom.service.signins import SignIns
from dreamloom.service.submissions import Submissions
from dreamloom.service.tuners import Tuners
from dreamloom.service.usage import UsageAndTokens


@dataclass(frozen=True)
class Wiring:
    runtime: Runtime
    views: JobViews
    accounts: Accounts
    channels: Channels
    moderation: Moderation
    admission: Admission
    submissions: Submissions
    reading: Reading
    buttons: Buttons
    commands: Commands
    tuners: Tuners
    media: Media
    links: Links
    personalization: Personalization
    signins: SignIns
    library: Library
    usage: UsageAndTokens

    def start(self) -> None:
        # The use-cases start their threads when first needed; only the runtime starts here.
        self.runtime.start()

    def close(self) -> None:
        """Stop in the reverse order of need: no new admissions, then the background
        look-ups, then the dispatcher, the relay and the database."""
        self.admission.stop()
        self.links.stop()
        self.accounts.stop()
        self.runtime.close()


def wire(settings: Settings, *, dispatch: bool = True, renderer: Renderer | None = None) -> Wiring:
    """``renderer``: the body of a webhook, in the client's shape (see ``Runtime``)."""
    runtime = Runtime(settings, dispatch=dispatch, renderer=renderer)
    views = runtime.views
    accounts = Accounts(runtime)
    channels = Channels(runtime, accounts)
    moderation = Moderation(settings, accounts)
    admission = Admission(runtime, channels, views)
    reading = Reading(runtime, accounts, channels, views)
    media = Media(runtime, accounts, admission)
    links = Links(media, reading)
    personalization = Personalization(runtime)
    submissions = Submissions(
        runtime, accounts, channels, moderation, admission, views, links, personalization
    )
    buttons = Buttons(
        runtime, accounts, channels, moderation, admission, submissions, reading, views
    )
    commands = Commands(runtime, accounts, channels, submissions, reading, views)
    tuners = Tuners(runtime, accounts, submissions, views)
    signins = SignIns(runtime)
    library = Library(runtime, views)
    usage = UsageAndTokens(runtime, accounts)
    return Wiring(
        runtime=runtime,
        views=views,
        accounts=accounts,
        channels=channels,
        moderation=moderation,
        admission=admission,
        submissions=submissions,
        reading=reading,
        buttons=buttons,
        commands=commands,
        tuners=tuners,
        media=media,
        links=links,
        personalization=personalization,
        signins=signins,
        library=library,
        usage=usage,
    )
