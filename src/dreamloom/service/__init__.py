"""The use-cases every client (CLI, REST API, web app, Discord bot) goes through.

One use-case object per family, each in its own module: ``accounts`` (users, tokens, plan and
lock checks), ``channels`` (an account's lanes), ``moderation`` (prompt checks, strikes),
``admission`` (the admission thread), ``submissions`` (imagine, blend), ``buttons``
(U/V/zoom/pan/upscale..., seed), ``commands`` (settings-type commands), ``media`` (user images,
describe) and ``reading`` (jobs, images, wait, cancel). They share ``runtime.Runtime`` (database,
files, plans, event bus, dispatcher) and ``job_views.JobViews``; ``wiring.py`` builds them, and
``facade.Service`` is what clients hold.
"""

from __future__ import annotations

from dreamloom.service.channels import ChannelConfig
from dreamloom.service.deliveries import DeliveryEvent, Renderer
from dreamloom.service.errors import ServiceError
from dreamloom.service.facade import Service
from dreamloom.service.media import ImageInput
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
