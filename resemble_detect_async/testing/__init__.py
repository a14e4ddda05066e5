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

from ._app import FakeDetectAPI
from ._clock import FakeClock
from ._faults import Fault
from ._kit import ZERO_WAIT_POLL, ZERO_WAIT_RETRY, fake_client
from ._state import OMIT, FakeBatch, FakeDetection, FakeUpload, RecordedRequest
from ._wire import outcome_for_name

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
