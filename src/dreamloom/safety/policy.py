"""What a user-supplied image may be, and the error a user sees when it is not.

One policy covers both ways an image arrives (a URL the server fetches, or an upload), so the
limits a user meets do not depend on how they sent the picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from dreamloom.safety.decodes import DecodeSlots

MIB: Final = 1024 * 1024
DEFAULT_MAX_PIXELS: Final = 25_000_000


class FetchError(ValueError):
    """A user-supplied image was refused; ``str(error)`` is the message to show the user."""


class PrivateAddressError(FetchError):
    """The host is, or resolves to, an address the policy does not allow (private, loopback,
    link-local): retrying never helps, unlike a name that does not resolve now."""

    def __init__(self) -> None:
        super().__init__(PRIVATE_ADDRESS)


def size_text(n_bytes: int) -> str:
    """``10 MB`` for the documented limit; exact bytes for odd operator-chosen limits."""
    if n_bytes >= MIB and n_bytes % MIB == 0:
        return f"{n_bytes // MIB} MB"
    return f"{n_bytes:,} bytes"


def _normalize_host(host: str) -> str:
    # Hostnames compare case-insensitively and "example.com." is the same host as
    # "example.com"; IPv6 literals may be written with or without brackets.
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for images that users hand to the server.

    ``allow_private`` lets URLs reach private, loopback and link-local addresses (a service on
    a LAN that fetches from a NAS); ``allowed_hosts`` names hosts (or IP literals) that may be
    on such addresses even when ``allow_private`` is off, e.g. the operator's own image store.
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    # The useapi.net v3 API documents "Max file size 10 MB" for image URLs and blobs alike.
    max_bytes: int = 10 * MIB
    # Checked from the file's header, before any pixel is decoded. 25 Mpx takes a 24 Mpx
    # camera's photo and keeps one decoded RGBA picture under 100 MB; the service sets it from
    # ``Settings.image_max_pixels``.
    max_pixels: int = DEFAULT_MAX_PIXELS
    timeout_s: float = 10.0
    max_redirects: int = 3
    # Shared by every request of a server (``Settings.image_decodes``); None: unbounded.
    decodes: DecodeSlots | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_bytes and max_pixels must be positive")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        # Frozen, so normalise through object.__setattr__ once, here.
        hosts = frozenset(_normalize_host(h) for h in self.allowed_hosts)
        object.__setattr__(self, "allowed_hosts", hosts)

    def host_is_allowed(self, host: str) -> bool:
        """True when the operator listed this host as trusted whatever its address."""
        return _normalize_host(host) in self.allowed_hosts


# User-facing messages. They say what was wrong with the image, never what the server saw
# inside its own network (a refused private address is not echoed back).
NOT_AN_IMAGE: Final = "Not an image (PNG, JPEG, WebP or GIF expected)"
UNDECODABLE: Final = "Image could not be read: the file is damaged or incomplete"
PRIVATE_ADDRESS: Final = "Image URL points to a private network address"
BAD_SCHEME: Final = "Image URL must start with http:// or https://"
BAD_URL: Final = "Image URL is not a valid link"
CREDENTIALS_IN_URL: Final = "Image URL must not contain a user name or password"
UNRESOLVABLE: Final = "Image URL host could not be found"
UNREACHABLE: Final = "Image URL could not be fetched"
TIMED_OUT: Final = "Image URL took too long to respond"
TOO_MANY_REDIRECTS: Final = "Image URL redirected too many times"


def too_large(policy: FetchPolicy) -> str:
    return f"Image is larger than {size_text(policy.max_bytes)}"


def too_many_pixels(policy: FetchPolicy, size: tuple[int, int] | None = None) -> str:
    limit = f"at most {policy.max_pixels:,} pixels in total"
    if size is None:
        return f"Image has too many pixels ({limit})"
    return f"Image is too large: {size[0]}×{size[1]} pixels ({limit})"


def http_status(status: int) -> str:
    return f"Image URL returned HTTP {status}"
