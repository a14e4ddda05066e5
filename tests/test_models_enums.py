"""Status, media type and modality values read leniently; unknown values fall back to UNKNOWN."""

from __future__ import annotations

import pytest
from model_helpers import _det, _intel, _some

from resemble_detect_async._converter import structure_batch
from resemble_detect_async.models import (
    BatchStatus,
    DetectionStatus,
    IntelligenceStatus,
    MediaType,
    Modality,
    WatermarkStatus,
)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("processing", DetectionStatus.PROCESSING),
        ("completed", DetectionStatus.COMPLETED),
        ("failed", DetectionStatus.FAILED),
        ("Completed", DetectionStatus.COMPLETED),
        ("COMPLETED", DetectionStatus.COMPLETED),
        (" completed ", DetectionStatus.COMPLETED),
        ("Processing", DetectionStatus.PROCESSING),
        ("FAILED", DetectionStatus.FAILED),
        ("error", DetectionStatus.FAILED),
        ("Error", DetectionStatus.FAILED),
        ("cancelled", DetectionStatus.FAILED),
        ("canceled", DetectionStatus.FAILED),
        ("pending", DetectionStatus.PROCESSING),
        ("queued", DetectionStatus.PROCESSING),
        ("success", DetectionStatus.COMPLETED),
        ("in-progress", DetectionStatus.PROCESSING),
        ("exploded", DetectionStatus.UNKNOWN),
        ("", None),
    ],
)
def test_detection_status_case_and_aliases(wire: str, expected: DetectionStatus) -> None:
    """Status reads case-insensitively with MCP-act's aliases (SPEC §11); raw keeps the text."""
    det = _det(status=wire)
    assert det.status is expected
    assert det.raw["status"] == wire


def test_missing_and_null_status_read_as_none() -> None:
    """No status key, or a null status, is None (not UNKNOWN): the body did not say."""
    assert _det().status is None
    assert _det(status=None).status is None


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("processing", BatchStatus.PROCESSING),
        ("completed", BatchStatus.COMPLETED),
        ("partially_failed", BatchStatus.PARTIALLY_FAILED),
        ("failed", BatchStatus.FAILED),
        ("Partially Failed", BatchStatus.PARTIALLY_FAILED),
        ("partially-failed", BatchStatus.PARTIALLY_FAILED),
        ("PARTIALLY_FAILED", BatchStatus.PARTIALLY_FAILED),
        ("partial", BatchStatus.PARTIALLY_FAILED),
        ("COMPLETED", BatchStatus.COMPLETED),
        ("pending", BatchStatus.PROCESSING),
        ("exploded", BatchStatus.UNKNOWN),
    ],
)
def test_batch_status_case_and_aliases(wire: str, expected: BatchStatus) -> None:
    """Batch status reads case-insensitively; unknown values fall back to UNKNOWN."""
    batch = structure_batch({"success": True, "item": {"uuid": "b1", "status": wire}})
    assert batch.status is expected
    assert batch.raw["status"] == wire


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("audio", MediaType.AUDIO),
        ("AUDIO", MediaType.AUDIO),
        ("Video", MediaType.VIDEO),
        (" image ", MediaType.IMAGE),
        ("text", MediaType.TEXT),
        ("hologram", MediaType.UNKNOWN),
    ],
)
def test_media_type_values(wire: str, expected: MediaType) -> None:
    """media_type reads case-insensitively; an unknown type is UNKNOWN and raw keeps it."""
    det = _det(media_type=wire)
    assert det.media_type is expected
    assert det.raw["media_type"] == wire


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("all", Modality.ALL),
        ("Audio", Modality.AUDIO),
        ("VIDEO", Modality.VIDEO),
        ("visual", Modality.UNKNOWN),
    ],
)
def test_modality_values(wire: str, expected: Modality) -> None:
    """The echoed modality reads case-insensitively; unknown values are UNKNOWN."""
    assert _det(modality=wire).modality is expected


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("processing", IntelligenceStatus.PROCESSING),
        ("Completed", IntelligenceStatus.COMPLETED),
        ("failed", IntelligenceStatus.FAILED),
        ("pending", IntelligenceStatus.PENDING),
        ("error", IntelligenceStatus.FAILED),
        ("thinking", IntelligenceStatus.UNKNOWN),
    ],
)
def test_intelligence_status_values(wire: str, expected: IntelligenceStatus) -> None:
    """intelligence.status reads leniently; unknown values are UNKNOWN and kept in raw."""
    det = _det(intelligence={"status": wire})
    assert _intel(det).status is expected
    assert det.raw["intelligence"]["status"] == wire


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("pending", WatermarkStatus.PENDING),
        ("PROCESSING", WatermarkStatus.PROCESSING),
        ("completed", WatermarkStatus.COMPLETED),
        ("failed", WatermarkStatus.FAILED),
        ("stuck", WatermarkStatus.UNKNOWN),
    ],
)
def test_watermark_status_values(wire: str, expected: WatermarkStatus) -> None:
    """watermark.status reads leniently; unknown values are UNKNOWN."""
    assert _some(_det(watermark={"status": wire}).watermark).status is expected
