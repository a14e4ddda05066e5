"""A virtual clock for tests: sleeps return in wake-up order without real waiting."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

__all__ = ["FakeClock"]


class FakeClock:
    """Virtual time for the SDK (``DetectClient(clock=...)``) and the fake API (``clock=``).

    ``await clock.sleep(s)`` parks the caller until virtual time reaches its wake-up
    point. A small driver task wakes sleepers one at a time, earliest first, after letting
    every runnable task run a few loop iterations, so a 2 s sleeper wakes before a 5 s one
    and sees ``now == 2``, while a 15-minute deadline passes in microseconds. ``sleeps``
    records every requested sleep, for asserting a schedule.

    Timers (:meth:`call_at`, the SDK's deadlines) fire when virtual time reaches them,
    but do not move time themselves: only sleeping does.

    It is also callable, returning ``now``, so it can be passed as the fake API's clock.
    """

    def __init__(self, start: float = 0.0, *, settle: int = 5) -> None:
        self.now = float(start)
        self.sleeps: list[float] = []
        self._settle = settle
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        self._timers: list[tuple[float, int, _Timer]] = []

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r}, sleeping={len(self._heap)})"

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        """The current virtual time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the sleep and park until virtual time reaches ``now + seconds``."""
        seconds = max(0.0, float(seconds))
        self.sleeps.append(seconds)
        if seconds == 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._heap, (self.now + seconds, next(self._seq), future))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive(), name="FakeClock-driver")
        await future

    async def _drive(self) -> None:
        while self._heap:
            for _ in range(self._settle):  # let runnable tasks reach their next sleep
                await asyncio.sleep(0)
            wake, _, future = heapq.heappop(self._heap)
            if future.done():  # the sleeper was cancelled
                continue
            self._move_to(wake)
            future.set_result(None)

    def _move_to(self, when: float) -> None:
        self.now = max(self.now, when)
        while self._timers and self._timers[0][0] <= self.now:
            _, _, timer = heapq.heappop(self._timers)
            timer.fire()

    def call_at(self, when: float, callback: Callable[[], object]) -> _Timer:
        """Call ``callback`` once virtual time reaches ``when`` (soon, if it already has)."""
        timer = _Timer(callback)
        if when <= self.now:
            asyncio.get_running_loop().call_soon(timer.fire)
        else:
            heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping (sleepers still wake in order)."""
        self._move_to(self.now + seconds)


class _Timer:
    """A pending :meth:`FakeClock.call_at` callback."""

    __slots__ = ("_callback",)

    def __init__(self, callback: Callable[[], object]) -> None:
        self._callback: Callable[[], object] | None = callback

    def fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            callback()

    def cancel(self) -> None:
        self._callback = None
