"""pytest fixtures for testing code built on resemble-detect-async.

Enable them in your ``conftest.py``::

    pytest_plugins = ["resemble_detect_async.testing.pytest_plugin"]

Then ask for ``fake_detect_api`` (a running :class:`FakeDetectAPI`) and
``fake_detect_client`` (a :class:`DetectClient` bound to it, with zero-wait policies).
They need pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .._client import DetectClient
from . import FakeDetectAPI, fake_client

__all__ = ["fake_detect_api", "fake_detect_client"]


@pytest_asyncio.fixture
async def fake_detect_api() -> AsyncIterator[FakeDetectAPI]:
    """A fake Detect API on a free loopback port, closed after the test."""
    async with FakeDetectAPI() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_detect_client(fake_detect_api: FakeDetectAPI) -> AsyncIterator[DetectClient]:
    """A DetectClient bound to ``fake_detect_api``: zero waits, no rate limit."""
    async with fake_client(fake_detect_api) as client:
        yield client
