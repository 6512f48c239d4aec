"""Organize's filters: the query string of /archive, read into an ``ArchiveQuery``, with each
bad value's error kept for the field that holds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from dreamloom.domain import Visibility
from dreamloom.service.library import ArchiveQuery, Aspect

PAGE_SIZE = 30
_Choice = TypeVar("_Choice", Aspect, Visibility)


def parse_when(value: str | None) -> datetime | None:
    """An ISO date or time; naive ones are UTC."""
    if not value:
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class ArchiveForm:
    values: dict[str, str]
    query: ArchiveQuery = field(default_factory=ArchiveQuery)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, params: QueryParams) -> ArchiveForm:
        values = {key: params.get(key, "") for key in _FIELDS}
        form = cls(values)
        since = form._date("since")
        until = form._date("until")
        aspect = form._choice("aspect", Aspect)
        visibility = form._choice("visibility", Visibility)
        before = None
        try:
            before = parse_when(params.get("before"))
        except ValueError:
            form.errors["before"] = "The page link is broken: start again from the first page"
        form.query = ArchiveQuery(
            text=values["q"].strip(),
            liked=values["liked"] == "on",
            hidden=values["hidden"] == "on",
            upscaled=values["upscaled"] == "on",
            aspect=aspect,
            version=values["version"].strip() or None,
            visibility=visibility,
            since=since,
            # "until" names a day: everything of that day is in.
            until=until + timedelta(days=1) if until else None,
            before=before,
            limit=PAGE_SIZE,
        )
        return form

    def older_link(self, before: datetime) -> str:
        kept = {k: v for k, v in self.values.items() if v}
        return "/archive?" + urlencode({**kept, "before": before.isoformat()})

    def _date(self, name: str) -> datetime | None:
        try:
            return parse_when(self.values[name])
        except ValueError:
            self.errors[name] = "Give a date as YYYY-MM-DD"
            return None

    def _choice(self, name: str, kind: type[_Choice]) -> _Choice | None:
        value = self.values[name]
        if not value:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            self.errors[name] = f"Choose one of {allowed}"
            return None


_FIELDS = ("q", "liked", "hidden", "upscaled", "aspect", "version", "visibility", "since", "until")
