"""Helpers shared by the tests/test_models_*.py files: items, unwrapping, float/UTC checks.

pytest rewrites the asserts of test modules only, so the asserts here say what they saw.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from resemble_detect_async._converter import structure_detection
from resemble_detect_async.models import (
    AudioMetrics,
    AudioSourceTracing,
    Batch,
    C2paManifest,
    Detection,
    DigitallyAltered,
    Fraud,
    IflResult,
    ImageMetrics,
    Intelligence,
    IntelligenceDescription,
    Liveness,
    Page,
    Problem,
    ReverseImageSearchSource,
    VideoMetrics,
    VideoNode,
    Watermark,
    WatermarkMetrics,
    WatermarkModelResult,
)

T = TypeVar("T")

UUID = "5f1c2a9e-0000-4000-8000-000000000001"
JAN15 = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)

# Every attrs class models exports (test_every_public_model_class_is_covered keeps it so).
_MODEL_CLASSES: list[type[Any]] = [
    Detection,
    Batch,
    AudioMetrics,
    IflResult,
    ReverseImageSearchSource,
    AudioSourceTracing,
    Fraud,
    Liveness,
    DigitallyAltered,
    IntelligenceDescription,
    Intelligence,
    WatermarkModelResult,
    Watermark,
    C2paManifest,
    ImageMetrics,
    VideoMetrics,
    VideoNode,
    WatermarkMetrics,
    Page,
    Problem,
]
_REQUIRED: dict[type[Any], dict[str, Any]] = {
    Detection: {"uuid": UUID},
    Batch: {"uuid": "b1"},
    Problem: {"path": "$.item.metrics.score[0]", "value": "n/a?", "reason": "not a number"},
}
# Fields the SDK fills itself; they are never read from the wire.
BOOKKEEPING = ("extra", "raw", "problems")


def _some(value: T | None) -> T:
    """``value`` narrowed to not-None (fails the test if it is None)."""
    assert value is not None, "expected a value, got None"
    return value


def _body(**fields: Any) -> dict[str, Any]:
    """A ``{"success": true, "item": {...}}`` envelope around a detection with ``fields``."""
    return {"success": True, "item": {"uuid": UUID, **fields}}


def _det(**fields: Any) -> Detection:
    """A Detection read from an item with ``fields`` (and a uuid)."""
    return structure_detection(_body(**fields))


def _intel(det: Detection) -> Intelligence:
    """The single intelligence object of ``det``."""
    assert isinstance(det.intelligence, Intelligence), det.intelligence
    return det.intelligence


def _structured(intel: Intelligence) -> IntelligenceDescription:
    """The structured description of ``intel``."""
    assert isinstance(intel.description, IntelligenceDescription), intel.description
    return intel.description


def _assert_utc(value: datetime | None) -> datetime:
    """``value`` is an aware datetime at UTC offset zero."""
    dt = _some(value)
    assert dt.tzinfo is not None, f"{dt!r} is naive"
    assert dt.utcoffset() == timedelta(0), f"{dt!r} is not at UTC"
    return dt


def _assert_float(value: float | None, expected: float) -> None:
    """``value`` is a real ``float`` close to ``expected``."""
    assert type(value) is float, f"{value!r} is not a float"
    assert math.isclose(value, expected), f"{value!r} is not close to {expected!r}"
