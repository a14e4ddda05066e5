"""A test kit for code that uses resemble-detect-async, and for this SDK itself.

* :class:`FakeDetectAPI`: an in-process aiohttp.web server that speaks the Detect API
  (auth, create/get/list/delete, batches, secure uploads, 404s), moves detections from
  processing to completed/failed, logs requests, counts in-flight requests and injects
  faults (:class:`Fault`). It also runs standalone: ``python -m resemble_detect_async.testing``.
* :class:`FakeClock`: virtual time, so waits of minutes take no time in tests.
* :func:`fake_client`: a :class:`~resemble_detect_async.DetectClient` bound to a fake API
  with zero-wait retry and poll policies and no rate limit.
* ``resemble_detect_async.testing.pytest_plugin``: pytest fixtures (add it to
  ``pytest_plugins`` in your ``conftest.py``).

See docs/fake-api.md.
"""

from __future__ import annotations

from typing import Any

from .._client import DetectClient
from .._config import PollPolicy, RetryPolicy
from ._clock import FakeClock
from ._server import (
    OMIT,
    FakeBatch,
    FakeDetectAPI,
    FakeDetection,
    FakeUpload,
    Fault,
    RecordedRequest,
    outcome_for_name,
)

__all__ = [
    "FakeBatch",
    "FakeClock",
    "FakeDetectAPI",
    "FakeDetection",
    "FakeUpload",
    "Fault",
    "OMIT",
    "RecordedRequest",
    "ZERO_WAIT_POLL",
    "ZERO_WAIT_RETRY",
    "fake_client",
    "outcome_for_name",
]

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
