"""Request text checked before anything acts on it: JSON that parses, is not nested deeper
than any request needs, and holds only valid Unicode.

JSON may spell a lone surrogate (``"\\ud800"``); Python decodes it into a ``str`` that cannot
be encoded again, so a job holding one would answer 500 on every read. Such text is refused
with 400 here, in every field and key, before a job is admitted. Deep nesting is refused
rather than left to the parser's recursion limit.
"""

from __future__ import annotations

import json
from typing import Any

from dreamloom.service import ServiceError

# No request has more than a few levels (a blend's list of URLs inside the body object).
MAX_DEPTH = 32

NOT_JSON = "Request body must be JSON or multipart/form-data"
TOO_DEEP = f"Request body is nested too deeply (more than {MAX_DEPTH} levels)"


def not_unicode(where: str) -> str:
    return f"{where} is not valid Unicode text (it holds a lone surrogate)"


def load_json(raw: bytes) -> Any:
    """The parsed body; ServiceError (400) for what is not JSON, too deep, or not Unicode."""
    try:
        data = json.loads(raw)
    except RecursionError:  # the parser's own limit (about 1,000 levels)
        raise ServiceError(TOO_DEEP) from None
    except ValueError:
        raise ServiceError(NOT_JSON) from None
    check_text(data)
    return data


def check_text(value: Any, where: str = "Request body") -> None:
    """Every string (and key) of a parsed value encodes as UTF-8, and it is at most
    ``MAX_DEPTH`` levels deep; walked without recursion."""
    pending: list[tuple[Any, str, int]] = [(value, where, 0)]
    while pending:
        item, at, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ServiceError(TOO_DEEP)
        if isinstance(item, str):
            if not is_unicode(item):
                raise ServiceError(not_unicode(at))
        elif isinstance(item, dict):
            for key, inner in item.items():
                name = key if isinstance(key, str) and is_unicode(key) else None
                if name is None:
                    raise ServiceError(not_unicode("A parameter name"))
                pending.append((inner, f"Parameter {name}", depth + 1))
        elif isinstance(item, list):
            pending.extend((inner, at, depth + 1) for inner in item)


def is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
