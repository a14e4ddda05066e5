"""The list pager: awaitable for one page, async-iterable for every item of every page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any

from .models import Detection, Page

__all__ = ["DetectionPager"]


class DetectionPager:
    """What ``client.list_detections()`` returns.

    ``await pager`` fetches the start page; ``async for detection in pager`` fetches pages
    on demand from the start page until ``num_pages`` (or, when the API omits it, until a
    short or empty page), so memory holds one page at a time. ``pager.pages()`` iterates
    whole pages instead.
    """

    def __init__(
        self, fetch: Callable[[int, int], Awaitable[Page]], *, start: int, page_size: int
    ) -> None:
        self._fetch = fetch
        self.start = start
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"DetectionPager(start={self.start}, page_size={self.page_size})"

    def __await__(self) -> Generator[Any, None, Page]:
        return self._fetch(self.start, self.page_size).__await__()

    async def pages(self) -> AsyncIterator[Page]:
        """Every page from the start page on.

        It cannot loop forever on a server that ignores ``page``: it stops when a page
        repeats one already seen (same uuids), when the server answers another page than
        asked, and after the last page the first one announced (``num_pages``).
        """
        number = self.start
        seen: set[int] = set()  # a hash of each page's uuids: memory stays small
        last_announced: int | None = None
        while True:
            page = await self._fetch(number, self.page_size)
            fingerprint = hash(tuple(detection.uuid for detection in page.items))
            if page.items and fingerprint in seen:
                return  # the server repeats itself: stop, no endless loop
            seen.add(fingerprint)
            yield page
            if page.page is not None and page.page != number:
                return  # the server answered another page than asked: stop, no loop
            if last_announced is None:
                last_announced = page.num_pages
            known = page.page if page.page is not None else number
            if not page.has_next_after(known, requested_size=self.page_size):
                return
            if last_announced is not None and number >= last_announced:
                return
            number += 1

    async def __aiter__(self) -> AsyncIterator[Detection]:
        async for page in self.pages():
            for detection in page.items:
                yield detection
