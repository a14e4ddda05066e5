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
        """Every page from the start page on."""
        number = self.start
        previous_first: str | None = None
        while True:
            page = await self._fetch(number, self.page_size)
            first = page.items[0].uuid if page.items else None
            if first is not None and first == previous_first:
                return  # the server ignores `page` and repeats itself: stop, no endless loop
            yield page
            if not page.items or (page.page is not None and page.page != number):
                return  # empty, or the server answered another page than asked: stop, no loop
            previous_first = first
            if page.num_pages is not None:
                if number >= page.num_pages:
                    return
            elif len(page.items) < (page.page_size or self.page_size):
                return
            number += 1

    async def __aiter__(self) -> AsyncIterator[Detection]:
        async for page in self.pages():
            for detection in page.items:
                yield detection
