"""The use-cases every client (CLI, REST API, web app, Discord bot) goes through."""

from dreamloom.service.base import (
    SEED_MAX,
    AccountView,
    ImageView,
    JobView,
    Service,
    ServiceError,
    UserRow,
    settings_as_params,
)

__all__ = [
    "SEED_MAX",
    "AccountView",
    "ImageView",
    "JobView",
    "Service",
    "ServiceError",
    "UserRow",
    "settings_as_params",
]
