"""How the fake Detect API sends callbacks, like the real service (§12).

When a detection created with ``callback_url`` reaches a final state, the fake POSTs the
synchronous-response envelope (``{"success": true, "item": {...}}``) to that URL; when every
child of a batch created with ``callback_url`` is final, it POSTs the batch envelope once.
A detection that finishes by time (``seconds_to_complete``) is finished on time by a timer
on the fake's clock, even if nobody polls it.

Fault injection, for testing receivers: ``delay`` (seconds on the fake's clock, when it can
sleep, else real seconds), ``loss`` (the share of callbacks never sent) and ``duplicates``
(extra copies of each), drawn from a seeded random generator. Every attempt is recorded in
``FakeDetectAPI.callbacks`` as a :class:`CallbackRecord`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs

__all__ = ["CallbackRecord", "CallbackSender"]


@attrs.frozen
class CallbackRecord:
    """One callback the fake sent (or dropped): to where, about what, and how it went.

    ``status`` is the receiver's HTTP status, ``None`` when the callback was lost on purpose
    (``lost`` is then True) or could not be delivered (``error`` says why).
    """

    uuid: str
    kind: str  # "detection" or "batch"
    url: str
    status: int | None
    lost: bool = False
    error: str | None = None


class CallbackSender:
    """Sends callbacks for one fake API; owns its HTTP session and its pending sends."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        delay: float = 0.0,
        loss: float = 0.0,
        duplicates: int = 0,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= loss <= 1.0:
            raise ValueError("callback_loss must be between 0 and 1")
        if duplicates < 0 or delay < 0:
            raise ValueError("callback_delay and callback_duplicates must be >= 0")
        self.clock = clock
        self.delay = delay
        self.loss = loss
        self.duplicates = duplicates
        self.records: list[CallbackRecord] = []
        self._random = random.Random(seed)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: list[Any] = []

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` once the fake's clock reads ``when`` (a timer, not a poll)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # seeded outside a loop: the detection still finishes on its next poll
        call_at = getattr(self.clock, "call_at", None)
        if call_at is not None:
            self._timers.append(call_at(when, action))
        else:
            self._timers.append(loop.call_later(max(0.0, when - self.clock()), action))

    def send(self, uuid: str, kind: str, url: str, body: dict[str, Any]) -> None:
        """Send one callback in the background (with the configured faults)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._send(uuid, kind, url, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, uuid: str, kind: str, url: str, body: dict[str, Any]) -> None:
        if self.delay:
            sleep = getattr(self.clock, "sleep", None)
            await (sleep(self.delay) if sleep is not None else asyncio.sleep(self.delay))
        if self._random.random() < self.loss:
            self.records.append(CallbackRecord(uuid, kind, url, None, lost=True))
            return
        for _ in range(1 + self.duplicates):
            self.records.append(await self._post(uuid, kind, url, body))

    async def _post(self, uuid: str, kind: str, url: str, body: dict[str, Any]) -> CallbackRecord:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.post(url, json=body) as resp:
                await resp.read()
                return CallbackRecord(uuid, kind, url, resp.status)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return CallbackRecord(uuid, kind, url, None, error=f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        """Cancel pending sends and timers; close the session."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
