"""Shared fixtures: the fake Detect API, clients bound to it, and an aioresponses shim."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import aioresponses.core
import pytest

from resemble_detect_async import DetectClient
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, fake_client

# Our own suite uses the public fixtures too, so they are tested the way users get them.
pytest_plugins = ["resemble_detect_async.testing.pytest_plugin"]

_NEEDS_STREAM_WRITER = (
    "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters
)


class _NoWriter:
    output_size = 0


class _CompatClientResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.x builds responses without aiohttp 3.14's new `stream_writer`
    argument (pnuckowski/aioresponses#289); supply it so the transport-edge tests run
    on the aiohttp our users install."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", _NoWriter())
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def _aioresponses_compat(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatClientResponse)
    yield


@pytest.fixture
async def fake() -> AsyncIterator[FakeDetectAPI]:
    """A fake Detect API where detections complete on the second poll."""
    async with FakeDetectAPI(polls_to_complete=1) as api:
        yield api


@pytest.fixture
async def client(fake: FakeDetectAPI) -> AsyncIterator[DetectClient]:
    """A client bound to `fake` with zero-wait policies and no rate limit."""
    async with fake_client(fake) as c:
        yield c


@pytest.fixture
def clock() -> FakeClock:
    """Virtual time."""
    return FakeClock()
