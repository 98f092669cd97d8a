"""What both transports share: timeouts, and the per-request timeout choice."""

from __future__ import annotations

import os
from typing import Any

import attrs

from flue._protocol.http import RequestKind
from flue.errors import InvalidArgumentError

__all__ = ["Timeout", "check_ca_bundle", "read_timeout_for"]


def _opt_pos(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidArgumentError(f"Timeout.{attribute.name} must be None or > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Timeout:
    """Timeouts in seconds (None: no limit).

    Attributes:
        connect: to establish a connection.
        read: between two reads of an ordinary response (run record, catch-up page).
        long_poll: between two reads of a long-poll response; exceeds Flue's 30 s window.
        stall: an SSE connection that delivers no byte (heartbeats included) for this long is
            treated as dead and resumed from the checkpoint (Flue sends a heartbeat every 15 s).
        invoke_wait: for ``workflows.invoke(..., wait=True)``, which lasts as long as the run.

    Streams have no total timeout: a live stream may run for hours.
    """

    connect: float | None = attrs.field(default=10.0, validator=_opt_pos)
    read: float | None = attrs.field(default=30.0, validator=_opt_pos)
    long_poll: float | None = attrs.field(default=45.0, validator=_opt_pos)
    stall: float | None = attrs.field(default=45.0, validator=_opt_pos)
    invoke_wait: float | None = attrs.field(default=600.0, validator=_opt_pos)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """Accept a `Timeout`, a number (connect and read), or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgumentError(f"timeout must be a Timeout or a number, got {value!r}")
        return cls(connect=float(value), read=float(value))


def read_timeout_for(timeout: Timeout, kind: RequestKind, *, wait: bool = False) -> float | None:
    """The per-read timeout that fits a request kind."""
    if kind is RequestKind.LONG_POLL:
        return timeout.long_poll
    if kind is RequestKind.SSE:
        return timeout.stall
    if kind is RequestKind.INVOKE and wait:
        return timeout.invoke_wait
    return timeout.read


def check_ca_bundle(verify: object) -> None:
    """Refuse a ``verify=`` path that names no readable file or folder, before any request."""
    if isinstance(verify, str) and not os.path.exists(verify):
        raise InvalidArgumentError(
            f"verify={verify!r}: no CA bundle at that path; pass the path of a PEM file "
            "(or folder of certificates) that exists, True for the system CAs, or an ssl.SSLContext"
        )
