"""Waiting for many detections by listing them: one request settles up to 1,000 waiters.

``GET /detect?page=&page_size=1000`` returns full items (API notes §5), so instead of one
GET per uuid per round, a :class:`Scanner` lists the newest detections page by page and
settles every pending uuid it finds in a final state. The list's sort order is **not
documented**, so the scanner relies on it only as far as it checks it:

* it stops paging once the page's oldest item is older than the oldest pending detection
  (newest-first order, which it verifies item by item: ``created_at`` never increases);
* the first time the order is broken, it gives up scanning for good and polls each pending
  uuid with its own GET (logged once);
* a pending uuid not seen in a round's pages (an older detection, a page cap reached, a list
  that lags) is fetched with its own GET: no uuid is ever missed;
* only a final state settles a waiter; a detection is never reported from a stale page as
  anything but what that page said, and final states do not change.

Rounds run at the poll policy's *initial* interval (2 s by default) without backing off,
since a round costs one request per 1,000 pending detections; every waiter keeps its own
deadline. Requests still pass the client's gate (concurrency, rate limit, 429 pauses).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime

import attrs

from . import errors
from ._config import Clock, PollPolicy
from ._polling import detection_done, jittered
from ._retry import ends_wait, stops_run
from .models import Detection, Page

__all__ = ["SCAN_PAGE_SIZE", "Scanner"]

log = logging.getLogger("resemble_detect_async")

SCAN_PAGE_SIZE = 1000  # the largest page the API serves (API notes §5)


@attrs.define(eq=False)
class _Pending:
    uuid: str
    future: asyncio.Future[Detection]
    deadline: float | None
    created_at: datetime | None = None
    last: Detection | None = None
    last_error: BaseException | None = None


class Scanner:
    """Settles many waits with list scans; ``await scanner.wait(uuid)`` is one of them.

    Args:
        list_page: fetch page ``n`` of ``GET /detect`` with :data:`SCAN_PAGE_SIZE` items.
        fetch: fetch one detection (the fallback, and the check of unseen uuids).
        fetch_final: fetch a settled detection once more (e.g. with ``experts``), or None.
    """

    def __init__(
        self,
        *,
        list_page: Callable[[int], Awaitable[Page]],
        fetch: Callable[[str], Awaitable[Detection]],
        clock: Clock,
        poll: PollPolicy,
        timeout: float | None,
        wait_for_intelligence: bool,
        concurrency: int,
        fetch_final: Callable[[str], Awaitable[Detection]] | None = None,
    ) -> None:
        self._list_page = list_page
        self._fetch = fetch
        self._fetch_final = fetch_final
        self._clock = clock
        self._poll = poll
        self._timeout = timeout
        self._done = detection_done(wait_for_intelligence)
        self._gate = asyncio.Semaphore(max(1, concurrency))
        self._pending: dict[str, _Pending] = {}
        self._driver: asyncio.Task[None] | None = None
        self.order_broken = False
        self.pages_listed = 0
        self.direct_gets = 0

    async def wait(self, uuid: str) -> Detection:
        """Wait for ``uuid`` to be final; the Detection, or its typed error."""
        loop = asyncio.get_running_loop()
        deadline = None if self._timeout is None else self._clock.monotonic() + self._timeout
        record = _Pending(uuid, loop.create_future(), deadline)
        self._pending[uuid] = record
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive(), name="resemble-detect-scanner")
        try:
            detection = await record.future
        finally:
            self._pending.pop(uuid, None)
        if self._fetch_final is not None:
            detection = await self._fetch_final(uuid)
        return detection

    async def aclose(self) -> None:
        """Stop the driver (waits still pending are cancelled by their own callers)."""
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)

    # -- rounds -------------------------------------------------------------------------------

    async def _drive(self) -> None:
        await asyncio.sleep(0)  # let every worker register before the first round
        try:
            while self._pending:
                await self._round()
                if not self._pending:
                    return
                now = self._clock.monotonic()
                self._expire(now)
                if not self._pending:
                    return
                # A round costs a page per 1,000 pending, not a GET each: it can afford the
                # policy's shortest interval every time instead of backing off.
                delay = jittered(self._poll.initial, self._poll.jitter)
                deadlines = [p.deadline for p in self._pending.values() if p.deadline is not None]
                if deadlines:
                    delay = min(delay, max(0.0, min(deadlines) - now))
                await self._clock.sleep(delay)
                self._expire(self._clock.monotonic())
        except Exception as exc:  # never leave a waiter hanging on a bug
            log.exception("the list scanner failed; failing its pending waits")
            for record in list(self._pending.values()):
                self._fail(record, exc)

    def _expire(self, now: float) -> None:
        for record in list(self._pending.values()):
            if record.deadline is not None and now >= record.deadline:
                self._fail(
                    record,
                    errors.WaitTimeoutError(
                        record.uuid,
                        timeout=self._timeout,
                        last=record.last,
                        last_error=record.last_error,
                    ),
                )

    async def _round(self) -> None:
        unseen = set(self._pending)
        if not self.order_broken:
            unseen = await self._scan(unseen)
        if unseen:
            await asyncio.gather(*(self._check_one(uuid) for uuid in unseen))

    async def _scan(self, unseen: set[str]) -> set[str]:
        """List pages newest-first, settling what is final; return the uuids not seen."""
        cap = 2 + 4 * math.ceil(len(unseen) / SCAN_PAGE_SIZE)
        previous: datetime | None = None
        number = 1
        while unseen and number <= cap:
            try:
                page = await self._list_page(number)
            except errors.ResembleError as exc:
                if stops_run(exc):
                    for record in list(self._pending.values()):
                        self._fail(record, exc)
                    return set()
                log.info("list scan failed (%s); checking uuids one by one this round", exc)
                return unseen
            self.pages_listed += 1
            for item in page.items:
                created = item.created_at
                if created is not None and previous is not None and created > previous:
                    self._order_is_broken(item, previous)
                    return unseen
                previous = created or previous
                found = self._pending.get(item.uuid)
                if found is None or item.uuid not in unseen:
                    continue
                record = found
                unseen.discard(item.uuid)
                record.created_at, record.last, record.last_error = created, item, None
                if self._done(item):
                    self._settle(record, item)
            if not page.has_next_after(page.page or number, requested_size=SCAN_PAGE_SIZE):
                break
            oldest_pending = self._oldest_pending(unseen)
            if oldest_pending is not None and previous is not None and previous < oldest_pending:
                break  # everything still unseen is newer than this page: not further down
            number += 1
        return unseen

    def _oldest_pending(self, unseen: set[str]) -> datetime | None:
        """The oldest creation time among unseen uuids, if every one of them is known."""
        times = [self._pending[uuid].created_at for uuid in unseen if uuid in self._pending]
        if not times or any(t is None for t in times):
            return None
        return min(t for t in times if t is not None)

    def _order_is_broken(self, item: Detection, previous: datetime) -> None:
        if not self.order_broken:
            log.warning(
                "the detection list is not newest-first (%s after %s): waiting for the rest "
                "by polling each uuid",
                item.created_at,
                previous,
            )
        self.order_broken = True

    async def _check_one(self, uuid: str) -> None:
        record = self._pending.get(uuid)
        if record is None:
            return
        async with self._gate:
            self.direct_gets += 1
            try:
                detection = await self._fetch(uuid)
            except errors.ResembleError as exc:
                if ends_wait(exc):
                    self._fail(record, exc)
                else:
                    record.last_error = exc
                return
        record.created_at, record.last, record.last_error = detection.created_at, detection, None
        if self._done(detection):
            self._settle(record, detection)

    def _settle(self, record: _Pending, detection: Detection) -> None:
        if detection.is_failed:
            self._fail(record, errors.DetectionFailedError(detection))
            return
        self._pending.pop(record.uuid, None)
        if not record.future.done():
            record.future.set_result(detection)

    def _fail(self, record: _Pending, error: BaseException) -> None:
        """End one wait with ``error`` (a shared error is copied to name this uuid)."""
        self._pending.pop(record.uuid, None)
        if record.future.done():
            return
        if isinstance(error, errors.ResembleError) and error.uuid != record.uuid:
            error = copy.copy(error)
            error.uuid = record.uuid
        record.future.set_exception(error)
