"""Frozen configuration: timeouts, the retry policy, the poll policy and the clock.

``docs/waiting.md`` explains the defaults and the reasoning behind each. Policies are
plain values, so a test passes ``RetryPolicy.no_wait()`` or ``PollPolicy.no_wait()``
instead of patching anything.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Protocol

import attrs

__all__ = ["Clock", "PollPolicy", "RetryPolicy", "SystemClock", "Timeouts"]

DEFAULT_BASE_URL = "https://app.resemble.ai/api/v2"  # SPEC §1


class Clock(Protocol):
    """Where the SDK reads time and sleeps; swap it for a fake one in tests."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class SystemClock:
    """The real clock: the running loop's time and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        """The running loop's clock."""
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``, never negative."""
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a positive finite number, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _optional_positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not (value > 0):
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


@attrs.frozen(kw_only=True)
class Timeouts:
    """HTTP timeouts for one request attempt, in seconds.

    ``connect``: opening the TCP/TLS connection. ``read``: the longest silence while
    waiting for an answer; a GET or a create without ``Prefer: wait`` does no analysis while
    you wait, so 60 s (Resemble's own MCP server uses the same) only trips on a dead peer.
    ``wait_read``: the read timeout for ``Prefer: wait`` submissions, which hold the
    connection until the analysis ends (SPEC §3.3: the server's own limit is undocumented,
    so we allow 10 minutes and document polling as the better path for long media).
    ``upload``: total time for a multipart upload (files up to 150 MB direct, larger via
    secure upload).
    """

    connect: float = attrs.field(default=10.0, validator=_positive)
    read: float = attrs.field(default=60.0, validator=_positive)
    wait_read: float = attrs.field(default=600.0, validator=_positive)
    upload: float | None = attrs.field(default=None, validator=_optional_positive)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the single retry layer retries one request.

    Only idempotent requests (GET, DELETE) are retried on timeouts, dropped connections,
    408, 429 and 5xx (except 501/505). Creating requests (POST /detect, /detect/batch,
    /secure_uploads) are retried only when the connection could not even be opened,
    because a retry after that could bill a second detection.

    Waits grow exponentially from ``initial`` by ``multiplier`` up to ``max_wait`` with full
    jitter (a random wait between 0 and the cap, which spreads many clients best), except
    that a ``Retry-After`` from the server is honoured as given, up to ``max_retry_after``;
    a longer one is raised as :class:`RateLimitError` for the caller to decide, and no 429
    pauses the client for longer than that. ``attempts`` bounds the tries (first one
    included); ``timeout`` bounds the total time spent on one request across its retries
    (None: no bound beyond ``attempts``).

    Defaults: 5 attempts at 0.5, 1, 2, 4 s (before jitter) ride out a blip of a few
    seconds; 30 s caps one wait; 120 s bounds one call so a dead API surfaces as an error
    within two minutes; 60 s for ``Retry-After`` stays inside that bound.
    """

    attempts: int = attrs.field(default=5)
    initial: float = attrs.field(default=0.5, validator=_non_negative)
    multiplier: float = attrs.field(default=2.0, validator=_positive)
    max_wait: float = attrs.field(default=30.0, validator=_non_negative)
    timeout: float | None = attrs.field(default=120.0, validator=_optional_positive)
    jitter: bool = True
    respect_retry_after: bool = True
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)

    @attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"attempts must be >= 1, got {value!r}")

    @classmethod
    def no_wait(cls, attempts: int = 5) -> RetryPolicy:
        """Retry like the default policy but never sleep (``Retry-After`` is ignored): for tests."""
        return cls(
            attempts=attempts, initial=0.0, max_wait=0.0, timeout=None, respect_retry_after=False
        )

    @classmethod
    def never(cls) -> RetryPolicy:
        """Do not retry at all (every request is tried once)."""
        return cls(attempts=1)


@attrs.frozen(kw_only=True)
class PollPolicy:
    """How ``wait_for_result`` and friends poll while a detection is processing.

    The first poll happens at once (the detection may already be done); then the interval
    starts at ``initial`` and grows by ``multiplier`` up to ``max_interval``. Each interval
    is stretched by a random factor in ``[1, 1 + jitter]`` so that thousands of waiters
    started together do not poll in lockstep, without ever polling faster than
    ``initial``. Defaults follow SPEC §18: detections typically finish in 10–60 s;
    Resemble's own skill polls every 2 s backing off to 10 s and asks never to poll faster
    than once per second; §18.5 suggests 2 s × 1.5 up to 10 s.

    ``timeout`` is the overall deadline of one wait, separate from HTTP timeouts; None
    means wait forever. 15 minutes covers long videos while still surfacing a stuck job.
    """

    initial: float = attrs.field(default=2.0, validator=_non_negative)
    multiplier: float = attrs.field(default=1.5, validator=_positive)
    max_interval: float = attrs.field(default=10.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.2)
    timeout: float | None = attrs.field(default=900.0, validator=_optional_positive)

    @jitter.validator
    def _check_jitter(self, _: attrs.Attribute[float], value: float) -> None:
        if not 0 <= value < 1:
            raise ValueError(f"jitter must be in [0, 1), got {value!r}")

    @classmethod
    def no_wait(cls, timeout: float | None = 900.0) -> PollPolicy:
        """Poll back to back without sleeping: for tests against the fake API."""
        return cls(initial=0.0, max_interval=0.0, jitter=0.0, timeout=timeout)

    def intervals(self) -> _Intervals:
        """The un-jittered sequence of sleeps between polls."""
        return _Intervals(self)


class _Intervals:
    """initial, initial*m, initial*m², ... capped at max_interval."""

    def __init__(self, policy: PollPolicy) -> None:
        self._next = policy.initial
        self._policy = policy

    def __iter__(self) -> _Intervals:
        return self

    def __next__(self) -> float:
        value = min(self._next, self._policy.max_interval)
        self._next = value * self._policy.multiplier
        return value
