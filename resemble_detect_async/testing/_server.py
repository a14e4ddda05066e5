"""An in-process fake of Resemble AI's Detect API, built on :mod:`aiohttp.web`.

The fake speaks only the wire format of the public API contract, as the project's API notes
(``docs/api-notes.md``) describe it; ``§n`` in this package cites their sections. Apart from
the table of documented options (:mod:`resemble_detect_async._options`, so that the SDK and
its fake cannot disagree about them) it imports nothing from the rest of
``resemble_detect_async``, so that it can be used on its own: as the SDK's test double, as a
test kit for users, and as the embedded backend of the demo when no API key is configured.

Everything is deterministic: the verdict of a submitted detection is derived from the media name
(see :func:`outcome_for_name`), detections progress when they are polled (or when a configurable
amount of time has passed on an injectable clock), and faults are injected explicitly with
:class:`Fault` rules.

This module only gathers the names of the parts:

* :mod:`._wire` – path prefix, media allow-lists, formats and error responses;
* :mod:`._faults` – :class:`Fault` rules and their bookkeeping;
* :mod:`._state` – :class:`FakeDetection`, :class:`FakeBatch`, :class:`FakeUpload`,
  :class:`RecordedRequest` and how they render;
* :mod:`._parsing` – reading requests: recording, multipart and JSON bodies, options;
* :mod:`._app` – :class:`FakeDetectAPI`: lifecycle, seeding, middlewares and handlers.
"""

from __future__ import annotations

from ._app import FakeDetectAPI
from ._faults import Fault
from ._state import OMIT, FakeBatch, FakeDetection, FakeUpload, RecordedRequest
from ._wire import (
    API_PREFIX,
    AUDIO_EXTENSIONS,
    DIRECT_UPLOAD_EXTENSIONS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    outcome_for_name,
)

__all__ = [
    "FakeDetectAPI",
    "Fault",
    "RecordedRequest",
    "FakeDetection",
    "FakeBatch",
    "FakeUpload",
    "OMIT",
    "outcome_for_name",
    "API_PREFIX",
    "AUDIO_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "DIRECT_UPLOAD_EXTENSIONS",
]
