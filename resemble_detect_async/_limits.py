"""Client-wide limits: how many requests run at once, how fast they start, and 429s.

Every HTTP attempt on a client passes one :class:`RequestGate`: first a concurrency slot
(an ``asyncio.Semaphore``), then a start permit from the :class:`RateLimiter`. The limiter
is a small protocol so a limiter shared by many processes (e.g. through Redis) can replace
the in-process one without touching anything else.

A 429 reaches the limiter through the gate, and what it means depends on what the server
said (API notes §15):

* with ``Retry-After`` the server named the wait, so nobody on the client starts before it
  has passed (``pause``);
* without it, it is a signal to slow down, not to stop: :class:`TokenBucket` lowers its rate
  and climbs back while the API accepts (``on_rate_limited``).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import Protocol, TypeGuard, runtime_checkable

from ._config import Clock
from .errors import ConfigurationError

__all__ = ["RateLimiter", "RequestGate", "TokenBucket"]

DEFAULT_RATE = 40.0  # requests per second per API key (API notes §15)
DEFAULT_MAX_CONCURRENCY = 32

WINDOW = 1.0  # the API counts requests per second (API notes §15)
DEFAULT_MARGIN = 0.025  # added to the window: jitter between our start and the server's count
DEFAULT_MIN_RATE = 1.0  # a bare 429 never slows a client below this (requests per second)
RECOVERY = 0.05  # after a cut, the rate climbs back by this share of `rate` per second
MAX_CUT = 0.5  # one cut at most halves the rate
MAX_LATENESS = 0.25  # the most a slow request adds to the cap per window (seconds)
_EPSILON = 1e-9  # waits shorter than this are float noise, not waits


@runtime_checkable
class RateLimiter(Protocol):
    """Decides when the next request may start.

    ``acquire`` returns once one more request may start. ``pause`` holds everyone: nobody
    may start for ``seconds``, so a whole bulk run backs off together instead of every task
    hammering the API on its own schedule.

    Two methods are optional, looked up on the object:

    * ``on_rate_limited(retry_after: float | None)``: the client calls it for every 429
      instead of ``pause``, with the server's ``Retry-After`` in seconds (capped by
      ``RetryPolicy.max_retry_after``), or ``None`` when the server gave none. A limiter
      without it gets ``pause(wait)`` for every 429, the wait being the ``Retry-After`` or
      the retry layer's backoff.
    * ``release()``: called in the same task when the request that ``acquire`` let start
      has finished (answered, failed or cancelled).
    """

    async def acquire(self) -> None:
        """Wait until one more request may start."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold every caller of ``acquire`` for at least ``seconds`` from now."""
        ...


class TokenBucket:
    """The in-process rate limiter: even spacing, a hard cap per second, and 429 adaptation.

    Three rules decide when the next request may start:

    * **Spacing** (GCRA, a token bucket without a refill task): starts come ``1 / rate``
      apart, or in bursts of at most ``burst`` after a quiet spell.
    * **A cap per second:** the times at which the last requests really started are kept,
      and the (N+1)th start waits until ``1 s + margin`` after the 1st, N being the whole
      number of requests per second. Spacing alone cannot promise this on a real clock: a
      start that wakes a millisecond late followed by one on time a second later puts
      N + 1 starts in one second, and a server counting a sliding second refuses one.
      What the server counts is arrivals, not starts, so the 1st start is also pushed back
      by how much longer than the fastest recent request it took (a new connection, a TLS
      handshake, a stalled server: it may have arrived that much later), up to 0.25 s;
      the margin covers the remaining jitter. (The gate reports when each request ended,
      through :meth:`release`.) ``burst`` changes how starts clump, never this cap.
    * **Pauses:** ``pause(seconds)``, a 429 with ``Retry-After``, holds every start.

    A 429 *without* ``Retry-After`` (``on_rate_limited(None)``) slows the bucket down
    instead of stopping it (additive increase, multiplicative decrease): the rate is cut by
    the share of the last second's starts that the server refused (a lone 429 among 40
    starts costs 2.5 %; at most half the rate goes in one cut), at most once per second
    because the 429s of that second answer starts made at the old rate, and never below
    ``min_rate``. The rate then climbs back by 5 % of ``rate`` per second (2 requests/s
    per second at 40/s) up to ``rate``. So a server that really allows only 20/s brings the
    bucket down to about 20/s in one cut, while occasional stray 429s cost a dip of a
    request or two per second. :attr:`current_rate` is the rate in force.

    A start is taken, and the schedule advanced, only when a waiter really starts; a
    cancelled waiter leaves nothing reserved. Waiters start in arrival order.

    ``rate=None`` disables rate limiting but keeps :meth:`pause`.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: int = 1,
        clock: Clock,
        margin: float = DEFAULT_MARGIN,
        min_rate: float = DEFAULT_MIN_RATE,
    ) -> None:
        if rate is not None and not _positive(rate):
            raise ConfigurationError(
                f"rate must be a positive number of requests per second, or None; got {rate!r}"
            )
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigurationError(f"burst must be a whole number >= 1, got {burst!r}")
        if not (_positive(margin) or (_number(margin) and margin == 0)):
            raise ConfigurationError(f"margin must be a number of seconds >= 0, got {margin!r}")
        if not _positive(min_rate):
            raise ConfigurationError(
                f"min_rate must be a positive number of requests per second, got {min_rate!r}"
            )
        self.rate = rate
        self.burst = burst
        self.margin = float(margin)
        self.min_rate = float(min_rate) if rate is None else min(float(min_rate), rate)
        self._clock = clock
        self._lock = asyncio.Lock()  # the queue of waiters: one at a time picks its start
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the lock serves
        self._tat = -math.inf  # theoretical arrival time of the next start (GCRA)
        self._catch_up: tuple[int, float] = (0, -math.inf)  # starts owed after a hold, until
        self._starts: deque[_Start] = deque(maxlen=_per_window(rate or 1.0))  # real starts
        self._paused_until = -math.inf
        self._cut: tuple[float, float] | None = None  # (when, rate) of the last cut
        self._refusals: deque[float] = deque()  # bare 429s of the last window

    @property
    def current_rate(self) -> float | None:
        """The rate in force now: ``rate``, or less while recovering from bare 429s."""
        if self.rate is None:
            return None
        return self._rate_at(self._clock.monotonic(), self.rate)

    async def acquire(self) -> None:
        """Wait for the next start slot (and past any pause), then take it."""
        configured = self.rate
        if configured is None:
            while (wait := self._paused_until - self._clock.monotonic()) > _EPSILON:
                await self._clock.sleep(wait)
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a bucket may outlive its loop (one per asyncio.run)
            self._loop, self._lock = loop, asyncio.Lock()
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                rate = self._rate_at(now, configured)
                wait = self._wait(now, rate)
                if wait <= _EPSILON:
                    self._start(now, rate)
                    return
                # Nothing is reserved while sleeping: a pause or a cut that arrives in the
                # meantime is seen on waking, and a cancelled waiter simply leaves the queue.
                await self._clock.sleep(wait)

    def release(self) -> None:
        """The request this task started has ended: note how long it took."""
        mine = _current.get()
        if mine is not None and mine[0] is self:
            _current.set(None)
            mine[1].took = self._clock.monotonic() - mine[1].at

    def pause(self, seconds: float) -> None:
        """Hold all starts for ``seconds``; then the starts held back may catch up.

        No request started during the hold, so the window behind it is empty: up to
        ``rate x seconds`` starts (at most one window's worth) may go back to back when it
        ends, within the per-window cap, before starts are spaced at the rate again.
        Without this, a server's ``Retry-After`` would cost its whole length in throughput.
        """
        if not seconds > 0:
            return
        until = self._clock.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            if self.rate is not None:
                held = min(_per_window(self.rate), max(1, round(self.rate * seconds)))
                self._catch_up = (held, until + WINDOW)

    def on_rate_limited(self, retry_after: float | None) -> None:
        """The API answered 429: hold everyone for ``retry_after``, or slow down if None."""
        if retry_after is not None:
            self.pause(retry_after)
            return
        if self.rate is None:
            return  # nothing to slow down; the retry layer still backs off that request
        now = self._clock.monotonic()
        refusals = self._refusals
        refusals.append(now)
        while refusals[0] <= now - WINDOW:
            refusals.popleft()
        if self._cut is not None and now < self._cut[0] + WINDOW:
            return  # these 429s answer starts made before the last cut took effect
        started = sum(1 for start in self._starts if start.at > now - WINDOW)
        refused = min(1.0, len(refusals) / max(1, started))
        rate = self._rate_at(now, self.rate) * max(MAX_CUT, 1.0 - refused)
        self._cut = (now, max(self.min_rate, rate))

    def _rate_at(self, now: float, rate: float) -> float:
        """The rate in force at ``now``, ``rate`` being the configured one."""
        if self._cut is None:
            return rate
        cut_at, cut_rate = self._cut
        return min(rate, cut_rate + RECOVERY * rate * (now - cut_at))

    def _catching_up(self, now: float) -> bool:
        left, until = self._catch_up
        return left > 0 and now < until

    def _wait(self, now: float, rate: float) -> float:
        """Seconds until the next start may happen (<= 0: now)."""
        spaced = -math.inf if self._catching_up(now) else self._tat - (self.burst - 1) / rate
        at = max(self._paused_until, spaced)
        cap = _per_window(rate)
        if len(self._starts) >= cap:  # the window is full: its oldest start must age out
            oldest = self._starts[-cap]
            at = max(at, oldest.at + WINDOW + self.margin + self._lateness(oldest, now))
        return at - now

    def _lateness(self, start: _Start, now: float) -> float:
        """How much later than the fastest recent request ``start`` may have reached the API."""
        fastest = min((s.took for s in self._starts if s.took is not None), default=None)
        if fastest is None:
            return 0.0  # nothing has ended (or nobody calls release): no latency to go by
        took = start.took if start.took is not None else now - start.at
        return min(MAX_LATENESS, max(0.0, took - fastest))

    def _start(self, now: float, rate: float) -> None:
        interval = 1.0 / rate
        # Keep the schedule through a wake-up that came a little late (the cap per window
        # still holds), but restart it after a quiet spell: no credit for idle time.
        late = now - self._tat
        self._tat = (self._tat if late <= interval / 2 else now) + interval
        if self._catching_up(now):
            left, until = self._catch_up
            self._catch_up = (left - 1, until)
        start = _Start(now)
        self._starts.append(start)
        _current.set((self, start))

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate!r}, burst={self.burst!r})"


class _Start:
    """One request start: when, and how long the request took once it ended."""

    __slots__ = ("at", "took")

    def __init__(self, at: float) -> None:
        self.at = at
        self.took: float | None = None


# The start this task took last, so that release() (called by the gate in the same task)
# finds it without changing what acquire() returns.
_current: ContextVar[tuple[TokenBucket, _Start] | None] = ContextVar(
    "resemble_detect_async_start", default=None
)


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: object) -> bool:
    return _number(value) and value > 0


def _per_window(rate: float) -> int:
    """Whole starts per window at ``rate`` (at least 1)."""
    return max(1, math.floor(rate * WINDOW + _EPSILON))


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
        release = getattr(limiter, "release", None)
        self._release: Callable[[], object] | None = release if callable(release) else None
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self.in_flight = 0
        self.max_in_flight = 0

    def slot(self) -> _Slot:
        """Hold one concurrency slot, then wait for a start permit; release on exit."""
        return _Slot(self)

    def pause(self, seconds: float) -> None:
        """Tell the limiter the API asked everyone to wait."""
        self.limiter.pause(seconds)

    def rate_limited(self, wait: float, retry_after: float | None) -> None:
        """Tell the limiter about a 429.

        ``retry_after`` is the server's ``Retry-After`` (capped), or None for a bare 429.
        A limiter with ``on_rate_limited`` decides what each means; one with only the
        original protocol is paused for ``wait`` on every 429, as it always was.
        """
        on_rate_limited = getattr(self.limiter, "on_rate_limited", None)
        if callable(on_rate_limited):
            on_rate_limited(retry_after)
        else:
            self.limiter.pause(wait)


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
            gate = self._gate
            gate.in_flight -= 1
            gate._semaphore.release()
            if gate._release is not None:
                gate._release()
