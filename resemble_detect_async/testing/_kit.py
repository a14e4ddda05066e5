"""The zero-wait policies and :func:`fake_client`: a client bound to a fake API."""

from __future__ import annotations

from typing import Any

from .._client import DetectClient
from .._config import PollPolicy, RetryPolicy
from ._app import FakeDetectAPI

__all__ = ["ZERO_WAIT_POLL", "ZERO_WAIT_RETRY", "fake_client"]

ZERO_WAIT_RETRY = RetryPolicy.no_wait()
"""Retries like the default policy, without sleeping."""
ZERO_WAIT_POLL = PollPolicy.no_wait()
"""Polls back to back, without sleeping."""


def fake_client(fake: FakeDetectAPI, **kwargs: Any) -> DetectClient:
    """A DetectClient for a started fake API: its key and URL, zero waits, no rate limit.

    Keyword arguments override any of those defaults (e.g. ``rate_limit=40.0`` or
    ``clock=FakeClock()`` to test limits and schedules).
    """
    options: dict[str, Any] = {
        "api_key": fake.api_key,
        "base_url": fake.base_url,
        "retry": ZERO_WAIT_RETRY,
        "poll": ZERO_WAIT_POLL,
        "rate_limit": None,
    }
    options.update(kwargs)
    return DetectClient(**options)
