"""What every view of one client shares: the session, the gate, and the lifecycle.

A :class:`~resemble_detect_async.DetectClient` and each copy made by ``with_options`` or
``with_raw_response`` are views of one :class:`Connection`: one aiohttp session (bound to
the event loop it was opened on), one concurrency-and-rate gate (so a 429 pause holds every
view), and one lifecycle. Closing any view closes the connection:

* new requests are refused at once (:class:`ClientClosedError`);
* waiters sleeping between polls are woken at once with that error;
* requests that may have created a billed detection, already on the wire, get a grace
  period to finish, so their uuids reach the caller instead of being lost with the socket;
* then the session is closed (unless it was borrowed).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterator

import aiohttp

from . import errors
from ._config import Clock
from ._limits import RequestGate

__all__ = ["Connection"]

log = logging.getLogger("resemble_detect_async")

DEFAULT_CLOSE_GRACE = 30.0  # seconds in-flight creates may take to finish during close()
_MAX_DELIVERIES = 10_000  # callbacks kept for waiters that were not asleep when they came


class Connection:
    """The shared state of one client and its views."""

    def __init__(self, session: aiohttp.ClientSession | None, *, gate: RequestGate) -> None:
        self.session = session
        self.owns_session = session is None
        self.gate = gate
        self.closed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._creating = 0  # requests that may bill, on the wire now
        self._creates_done: asyncio.Event | None = None
        self._sleepers: set[asyncio.Task[object]] = set()
        self._woken: set[asyncio.Task[object]] = set()
        # Callbacks (webhooks.CallbackReceiver): waiters by uuid, and what arrived for them.
        self._waiting: dict[str, set[asyncio.Task[object]]] = {}
        self._delivered: collections.OrderedDict[str, object] = collections.OrderedDict()
        self.receiver: object | None = None  # the attached CallbackReceiver, if any
        self._created: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._watched: collections.Counter[str] = collections.Counter()  # waits in progress

    # -- opening ---------------------------------------------------------------------------

    def open_session(self) -> aiohttp.ClientSession:
        """The session, opened on first use, on the running loop it is bound to.

        Raises:
            ClientClosedError: after close(), or when a borrowed session was closed.
            EventLoopError: used from another event loop or thread than the one the
                session was opened on.
        """
        if self.closed:
            raise errors.ClientClosedError(
                "this DetectClient is closed; create a new one (or keep using it inside "
                "`async with`)"
            )
        loop = _running_loop()
        if self.loop is None:
            self.loop = loop
        elif loop is not self.loop:
            raise errors.EventLoopError(
                "this DetectClient was first used on another event loop (e.g. a module-level "
                "client used by two asyncio.run() calls, a notebook cell, a pytest fixture "
                "with another loop scope, or another thread); an aiohttp session only works "
                "on the loop it was opened on. Create the client inside the coroutine that "
                "uses it (`async with DetectClient() as client:`), one per event loop"
            )
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=max(100, self.gate.max_concurrency * 2))
            self.session = aiohttp.ClientSession(connector=connector)
        elif self.session.closed:
            raise errors.ClientClosedError(
                "the aiohttp session given to DetectClient is closed; pass an open session"
            )
        return self.session

    # -- billed requests -------------------------------------------------------------------

    @contextlib.contextmanager
    def creating(self) -> Iterator[None]:
        """Mark a request that may create (and bill) something as on the wire."""
        self._creating += 1
        try:
            yield
        finally:
            self._creating -= 1
            if self._creating == 0 and self._creates_done is not None:
                self._creates_done.set()

    # -- sleeping between polls --------------------------------------------------------------

    async def nap(self, clock: Clock, seconds: float, *, uuid: str | None = None) -> object:
        """Sleep on ``clock`` between two polls of ``uuid``; return early with what a
        callback delivered for it (a state, or True: "poll now"), else None.

        A close() meanwhile raises :class:`ClientClosedError` at once.
        """
        delivered = self._take_delivery(uuid)
        if delivered is not None:
            return delivered
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task under asyncio
            await clock.sleep(seconds)
            return None
        self._sleepers.add(task)
        waiting = self._waiting.setdefault(uuid, set()) if uuid is not None else None
        if waiting is not None:
            waiting.add(task)
        try:
            await clock.sleep(seconds)
        except asyncio.CancelledError:
            if task not in self._woken:
                raise
            self._woken.discard(task)
            task.uncancel()
            if self.closed:
                raise errors.ClientClosedError(
                    "the DetectClient was closed while waiting; resume with wait_for_result(uuid)",
                    uuid=uuid,
                ) from None
            return self._take_delivery(uuid) or True
        finally:
            self._sleepers.discard(task)
            if waiting is not None:
                waiting.discard(task)
                if not waiting:
                    self._waiting.pop(uuid, None)  # type: ignore[arg-type]
        if self.closed:
            raise errors.ClientClosedError("the DetectClient was closed while waiting", uuid=uuid)
        return None

    def deliver(self, uuid: str, state: object) -> int:
        """A callback arrived for ``uuid``: wake its sleeping waiters (they poll at once,
        or take ``state`` as their next state when it is not None). Returns how many
        waiters were woken; the delivery is also kept briefly for a waiter that is not
        asleep right now (between two polls, or about to start)."""
        self._delivered[uuid] = True if state is None else state
        self._delivered.move_to_end(uuid)
        while len(self._delivered) > _MAX_DELIVERIES:
            self._delivered.popitem(last=False)
        tasks = self._waiting.get(uuid, set())
        for task in list(tasks):
            self._woken.add(task)
            task.cancel()
        return len(tasks)

    def remember_created(self, uuid: str) -> None:
        """Note a detection or batch created through this client (callbacks check it)."""
        self._created[uuid] = None
        self._created.move_to_end(uuid)
        while len(self._created) > _MAX_DELIVERIES * 10:
            self._created.popitem(last=False)

    def created_here(self, uuid: str) -> bool:
        """Was ``uuid`` created through this client (recently)?"""
        return uuid in self._created

    def is_waiting_for(self, uuid: str) -> bool:
        """Is a waiter of this client sleeping between polls of ``uuid`` now?"""
        return bool(self._waiting.get(uuid))

    @contextlib.contextmanager
    def watching(self, uuid: str) -> Iterator[None]:
        """Mark a wait for ``uuid`` as in progress (callbacks for it are expected)."""
        self._watched[uuid] += 1
        try:
            yield
        finally:
            self._watched[uuid] -= 1
            if self._watched[uuid] <= 0:
                del self._watched[uuid]

    def expects(self, uuid: str) -> bool:
        """Would a callback for ``uuid`` concern this client (it waits for it, or made it)?"""
        return uuid in self._watched or uuid in self._waiting or uuid in self._created

    def _take_delivery(self, uuid: str | None) -> object:
        if uuid is None or not self._delivered:
            return None
        return self._delivered.pop(uuid, None)

    # -- closing -----------------------------------------------------------------------------

    async def close(self, *, grace: float) -> None:
        """Refuse new work, wake sleepers, let billed requests finish (up to ``grace`` s),
        then close the session if it is ours. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for task in list(self._sleepers):
            self._woken.add(task)
            task.cancel()
        if self._creating and grace > 0:
            self._creates_done = asyncio.Event()
            try:
                async with asyncio.timeout(grace):
                    await self._creates_done.wait()
            except TimeoutError:
                log.warning(
                    "close(): %d request(s) that may create detections did not finish within "
                    "%.0f s; their uuids may be lost (check list_detections())",
                    self._creating,
                    grace,
                )
        if self.owns_session and self.session is not None and not self.session.closed:
            await self.session.close()


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise errors.EventLoopError(
            "DetectClient must be used from inside a running event loop (an `async def` "
            "run by asyncio.run() or your framework); it has no synchronous API"
        ) from None
