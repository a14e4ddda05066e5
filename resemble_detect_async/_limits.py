"""Client-wide limits: how many requests run at once, how fast they start, and 429 pauses.

Every HTTP attempt on a client passes one :class:`RequestGate`: first a concurrency slot
(an ``asyncio.Semaphore``), then a start permit from the :class:`RateLimiter`. The limiter
is a small protocol so a limiter shared by many processes (e.g. through Redis) can replace
the in-process one without touching anything else.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol, runtime_checkable

from ._config import Clock
from .errors import ConfigurationError

__all__ = ["RateLimiter", "RequestGate", "TokenBucket"]

DEFAULT_RATE = 40.0  # requests per second per API key (API notes §15)
DEFAULT_MAX_CONCURRENCY = 32


@runtime_checkable
class RateLimiter(Protocol):
    """Decides when the next request may start.

    ``acquire`` returns once one more request may start. ``pause`` is called when the API
    answered 429: nobody may start for ``seconds``, so a whole bulk run backs off together
    instead of every task hammering the API on its own schedule.
    """

    async def acquire(self) -> None:
        """Wait until one more request may start."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold every caller of ``acquire`` for at least ``seconds`` from now."""
        ...


class TokenBucket:
    """An in-process rate limiter (GCRA, i.e. a token bucket without a refill task).

    ``rate`` requests per second on average, with bursts of at most ``burst`` requests.
    The default burst of 1 spaces requests evenly, so that no one-second window ever
    holds more than ``rate`` starts, which is how a per-second server limit counts.
    ``rate=None`` disables rate limiting but keeps :meth:`pause`.
    """

    def __init__(self, rate: float | None, *, burst: int = 1, clock: Clock) -> None:
        if rate is not None and not (
            isinstance(rate, int | float)
            and not isinstance(rate, bool)
            and math.isfinite(rate)
            and rate > 0
        ):
            raise ConfigurationError(
                f"rate must be a positive number of requests per second, or None; got {rate!r}"
            )
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigurationError(f"burst must be a whole number >= 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._interval = 0.0 if rate is None else 1.0 / rate
        self._tolerance = self._interval * (burst - 1)
        self._tat = float("-inf")  # theoretical arrival time of the next request
        self._paused_until = float("-inf")

    async def acquire(self) -> None:
        """Reserve the next start slot, sleeping until it comes (and past any pause)."""
        while True:
            now = self._clock.monotonic()
            if now < self._paused_until:
                await self._clock.sleep(self._paused_until - now)
                continue
            if self.rate is None:
                return
            tat = max(self._tat, now)
            allowed_at = tat - self._tolerance
            self._tat = tat + self._interval
            if allowed_at <= now:
                return
            await self._clock.sleep(allowed_at - now)
            if self._clock.monotonic() >= self._paused_until:
                return
            # A 429 arrived while we slept: our slot is void, queue again after the pause.

    def pause(self, seconds: float) -> None:
        """Hold all starts for ``seconds``; after it, starts are spaced at ``rate`` again."""
        if seconds <= 0:
            return
        until = self._clock.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self._tat = max(self._tat, until)

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate!r}, burst={self.burst!r})"


class RequestGate:
    """Concurrency slot + rate permit for every attempt of every request on one client."""

    def __init__(self, *, max_concurrency: int, limiter: RateLimiter) -> None:
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or (max_concurrency < 1)
        ):
            raise ConfigurationError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
        self.max_concurrency = max_concurrency
        self.limiter = limiter
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self.in_flight = 0
        self.max_in_flight = 0

    def slot(self) -> _Slot:
        """Hold one concurrency slot, then wait for a start permit; release on exit."""
        return _Slot(self)

    def pause(self, seconds: float) -> None:
        """Tell the limiter the API asked everyone to wait."""
        self.limiter.pause(seconds)


class _Slot:
    """``async with gate.slot():`` as a plain object (the hot path: one per attempt)."""

    __slots__ = ("_gate", "_held")

    def __init__(self, gate: RequestGate) -> None:
        self._gate = gate
        self._held = False

    async def __aenter__(self) -> None:
        gate = self._gate
        await gate._semaphore.acquire()
        try:
            await gate.limiter.acquire()
        except BaseException:
            gate._semaphore.release()
            raise
        self._held = True
        gate.in_flight += 1
        if gate.in_flight > gate.max_in_flight:
            gate.max_in_flight = gate.in_flight

    async def __aexit__(self, *exc_info: object) -> None:
        if self._held:
            self._held = False
            self._gate.in_flight -= 1
            self._gate._semaphore.release()
