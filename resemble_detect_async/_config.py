"""Frozen configuration: timeouts, the retry policy, the poll policy and the clock.

``docs/waiting.md`` explains the defaults and the reasoning behind each. Policies are
plain values, so a test passes ``RetryPolicy.no_wait()`` or ``PollPolicy.no_wait()``
instead of patching anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Final, Protocol, TypeAlias

import attrs

from .errors import ConfigurationError, InvalidRequestError

__all__ = [
    "DEFAULT",
    "Clock",
    "Default",
    "PollPolicy",
    "RetryPolicy",
    "SystemClock",
    "Timeout",
    "Timeouts",
    "cut_off_at",
]

DEFAULT_BASE_URL = "https://app.resemble.ai/api/v2"  # API notes §1


class Default:
    """Marks "use the policy's default" where None already means "no limit"."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = Default()
Timeout: TypeAlias = float | Default | None
"""A number of seconds, None for no bound, or DEFAULT for the policy's value."""


def check_timeout(timeout: object, what: str = "timeout") -> None:
    """A timeout is a positive number of seconds, None (no bound) or DEFAULT."""
    if timeout is None or isinstance(timeout, Default):
        return
    if not (_is_number(timeout) and timeout > 0):  # type: ignore[operator]
        raise InvalidRequestError(
            f"{what} must be a positive number of seconds, or None for no bound; got {timeout!r}"
        )


def check_flag(name: str, value: object) -> None:
    """Flags are real booleans: ``experts="false"`` must not silently mean True."""
    if not isinstance(value, bool):
        raise InvalidRequestError(f"{name} must be True or False, got {value!r}")


def check_callable(name: str, value: object) -> None:
    """Callbacks are checked before anything is sent (``on_update="print"`` is a typo)."""
    if value is not None and not callable(value):
        raise InvalidRequestError(
            f"{name} must be a function (or None), got {type(value).__name__}"
        )


class Clock(Protocol):
    """Where the SDK reads time and sleeps; swap it for a fake one in tests."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class Timer(Protocol):
    """What :meth:`SystemClock.call_at` returns: something that can be cancelled."""

    def cancel(self) -> None:
        """Do not call the callback after all."""
        ...


class SystemClock:
    """The real clock: the running loop's time and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        """The running loop's clock."""
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``, never negative."""
        await asyncio.sleep(max(0.0, seconds))

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback`` once the clock reads ``when`` (a deadline's timer)."""
        return asyncio.get_running_loop().call_at(when, callback)

    def __repr__(self) -> str:
        return "SystemClock()"


def cut_off_at(clock: Clock, when: float | None) -> AbstractAsyncContextManager[Any]:
    """Cancel the body once ``clock`` reads ``when``, raising ``TimeoutError`` (None: never).

    The one deadline mechanism of the SDK, for any clock: the system clock is the loop's
    own time (:func:`asyncio.timeout_at`); a clock with a ``call_at(when, callback)`` timer
    (:class:`~resemble_detect_async.testing.FakeClock`) fires it in its own time; any other
    clock gets a task sleeping on it. Expiry always goes through :func:`asyncio.timeout`,
    which owns the cancel-to-``TimeoutError`` dance.
    """
    if when is None:
        return _NO_CUT_OFF
    if type(clock) is SystemClock:  # the hot path: one call per request
        return asyncio.timeout_at(when)
    return _ClockCutOff(clock, when)


_NO_CUT_OFF = contextlib.nullcontext()


class _ClockCutOff:
    """:func:`cut_off_at` on a clock other than the loop's."""

    def __init__(self, clock: Clock, when: float) -> None:
        self._clock = clock
        self._when = when
        self._scope = asyncio.timeout(None)
        self._timer: Any = None

    async def __aenter__(self) -> None:
        await self._scope.__aenter__()
        loop = asyncio.get_running_loop()
        scope = self._scope

        def expire() -> None:
            if scope.when() is None:
                scope.reschedule(loop.time())

        call_at = getattr(self._clock, "call_at", None)
        if call_at is not None:
            self._timer = call_at(self._when, expire)
        else:
            self._timer = loop.create_task(_expire_after(self._clock, self._when, expire))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        await self._scope.__aexit__(exc_type, exc, tb)  # raises TimeoutError if it fired


async def _expire_after(clock: Clock, when: float, expire: Callable[[], None]) -> None:
    await clock.sleep(when - clock.monotonic())
    expire()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (_is_number(value) and value > 0):
        raise ConfigurationError(
            f"{attribute.name} must be a positive number of seconds, got {value!r}"
        )


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (_is_number(value) and value >= 0):
        raise ConfigurationError(f"{attribute.name} must be a number >= 0, got {value!r}")


def _optional_positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not (_is_number(value) and value > 0):
        raise ConfigurationError(
            f"{attribute.name} must be a positive number of seconds, or None; got {value!r}"
        )


@attrs.frozen(kw_only=True)
class Timeouts:
    """HTTP timeouts for one request attempt, in seconds.

    ``connect``: opening the TCP/TLS connection. ``read``: the longest silence while
    waiting for an answer; a GET or a create without ``Prefer: wait`` does no analysis while
    you wait, so 60 s (Resemble's own MCP server uses the same) only trips on a dead peer.
    ``wait_read``: the read timeout for ``Prefer: wait`` submissions, which hold the
    connection until the analysis ends (API notes §3.3: the server's own limit is undocumented,
    so we allow 10 minutes and document polling as the better path for long media).
    ``upload``: total time for a multipart upload (files up to 150 MB direct, larger via
    secure upload).

    Every call also has an overall bound that holds in the middle of an attempt, so a
    server trickling one byte a second, or accepting an upload and never reading it, cannot
    hold a call forever (:func:`call_budget`): ``RetryPolicy.timeout`` (120 s) for ordinary
    calls, ``wait_read`` plus ``connect`` for ``Prefer: wait``, and for uploads ``upload``
    when set, else ``RetryPolicy.timeout`` plus one second per 256 KiB of the file (a
    150 MB file: 120 s + 600 s).
    """

    connect: float = attrs.field(default=10.0, validator=_positive)
    read: float = attrs.field(default=60.0, validator=_positive)
    wait_read: float = attrs.field(default=600.0, validator=_positive)
    upload: float | None = attrs.field(default=None, validator=_optional_positive)

    @classmethod
    def of(cls, seconds: float) -> Timeouts:
        """``DetectClient(timeouts=30)``: connecting and each read get ``seconds``; the
        ``Prefer: wait`` read keeps its default unless ``seconds`` is longer."""
        if not (_is_number(seconds) and seconds > 0):
            raise ConfigurationError(
                f"timeouts must be a positive number of seconds, got {seconds!r}"
            )
        return cls(connect=seconds, read=seconds, wait_read=max(600.0, float(seconds)))


MIN_UPLOAD_RATE = 256 * 1024  # bytes/s the upload bound assumes at the slowest


def call_budget(request: Any, timeouts: Timeouts, retry: RetryPolicy) -> float | None:
    """The overall bound of one call (every attempt and wait included), or None.

    See :class:`Timeouts`. ``request`` is a :class:`~resemble_detect_async._sansio.Request`.
    """
    if request.form is not None:
        if timeouts.upload is not None:
            return timeouts.upload
        sizes: list[int | None] = [media.size for _, media in request.files]
        if retry.timeout is None or None in sizes:
            return None  # a stream of unknown length: only ``upload`` can bound it
        return retry.timeout + sum(size or 0 for size in sizes) / MIN_UPLOAD_RATE
    if request.long_read:
        return timeouts.wait_read + timeouts.connect
    return retry.timeout


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
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"attempts must be a whole number >= 1, got {value!r}")

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
    ``initial``. Defaults follow API notes §18: detections typically finish in 10–60 s;
    Resemble's own skill polls every 2 s backing off to 10 s and asks never to poll faster
    than once per second; §18.5 suggests 2 s × 1.5 up to 10 s.

    ``timeout`` is the overall deadline of one wait, separate from HTTP timeouts; None
    means wait forever. 15 minutes covers long videos while still surfacing a stuck job.

    ``first_delay`` puts off the first poll: with a callback receiver attached the callback
    is expected to say when a detection is done, so the first GET can wait (0: at once).
    """

    initial: float = attrs.field(default=2.0, validator=_non_negative)
    multiplier: float = attrs.field(default=1.5, validator=_positive)
    max_interval: float = attrs.field(default=10.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.2)
    timeout: float | None = attrs.field(default=900.0, validator=_optional_positive)
    first_delay: float = attrs.field(default=0.0, validator=_non_negative)

    @jitter.validator
    def _check_jitter(self, _: attrs.Attribute[float], value: float) -> None:
        if not (_is_number(value) and 0 <= value < 1):
            raise ConfigurationError(f"jitter must be in [0, 1), got {value!r}")

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
