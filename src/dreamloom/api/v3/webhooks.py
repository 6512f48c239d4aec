"""Webhooks (``replyUrl``): the body each event of a job is POSTed with.

Delivery itself is the service's (``service.deliveries``, from the durable outbox of
``store.outbox``); this module only gives it the reference's shape, as a ``Renderer`` that
the wiring (``api.app``, ``api.server``, ``cli``) hands to the service. Decisions where the
reference is silent:

- The body is the job object (the reference's "Job Response Model"), as GET /jobs/{jobid}
  would return it at that event; the event name, a per-job sequence number and a unique
  event id travel in the ``X-Dreamloom-Event``, ``X-Dreamloom-Seq`` and
  ``X-Dreamloom-Event-Id`` headers. Delivery is at least once: a receiver drops an event id
  it has seen.
- Links are built on ``Settings.public_url``, never on a request's Host header.
- A job's ``replyUrl`` and its channel's ``replyUrl`` (as it was at submission) both receive
  the events (once when they are the same URL); ``replyLevel`` filters for both.
"""

from __future__ import annotations

from typing import Any

from dreamloom.api.urls import Signer, Urls, public_base, signer_for
from dreamloom.api.v3.jobs_view import LiveState, render_job
from dreamloom.api.v3.streaming import EVENT_NAMES
from dreamloom.config import Settings
from dreamloom.service import DeliveryEvent, JobView, Renderer


def webhook_renderer(settings: Settings, signer: Signer | None = None) -> Renderer:
    urls = Urls(public_base(settings), signer or signer_for(settings))

    def render(view: JobView, event: DeliveryEvent) -> tuple[str, dict[str, Any]]:
        live = LiveState(event.status, event.progress, event.error, event.preview_path, event.at)
        return EVENT_NAMES[event.status], render_job(view, urls, live)

    return render
