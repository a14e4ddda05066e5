"""Optional result blocks: watermark, C2PA provenance, reverse image search, source tracing."""

from __future__ import annotations

from typing import Any

import pytest
from model_helpers import _assert_float, _det, _some

from resemble_detect_async.models import (
    AudioSourceTracing,
    C2paManifest,
    ReverseImageSearchSource,
    Watermark,
    WatermarkModelResult,
    WatermarkStatus,
)


def test_watermark_audio_shape() -> None:
    """Audio watermark metrics: per-channel ``has_watermark`` object kept as sent."""
    det = _det(
        media_type="audio",
        watermark={
            "status": "completed",
            "metrics": {
                "overall_status": "present",
                "detected_model_versions": ["perth_v1", "perth_v2"],
                "coverage_complete": True,
                "has_watermark": {"left": True, "right": False},
                "confidence": 0.98,
                "synthid": False,
                "model_results": [
                    {
                        "model_version": "perth_v1",
                        "status": "succeeded",
                        "detected": True,
                        "has_watermark": {"left": True},
                        "confidence": 0.97,
                    },
                    {
                        "model_version": "perth_v2",
                        "status": "failed",
                        "detected": None,
                        "error": "unavailable",
                    },
                ],
            },
        },
    )
    watermark = _some(det.watermark)
    assert watermark.status is WatermarkStatus.COMPLETED
    assert watermark.error_message is None
    metrics = _some(watermark.metrics)
    assert metrics.overall_status == "present"
    assert metrics.detected_model_versions == ("perth_v1", "perth_v2")
    assert metrics.coverage_complete is True
    assert metrics.has_watermark == {"left": True, "right": False}
    _assert_float(metrics.confidence, 0.98)
    assert metrics.synthid is False
    assert metrics.model_results == (
        WatermarkModelResult(
            model_version="perth_v1",
            status="succeeded",
            detected=True,
            has_watermark={"left": True},
            confidence=0.97,
        ),
        WatermarkModelResult(
            model_version="perth_v2", status="failed", detected=None, error="unavailable"
        ),
    )
    assert not det.is_watermark_pending


def test_watermark_vision_shape() -> None:
    """Image/video watermark metrics: boolean ``has_watermark``, detection_score, verdict."""
    det = _det(
        media_type="image",
        watermark={
            "status": "completed",
            "metrics": {
                "overall_status": "degraded",
                "detected_model_versions": ["perth_v2"],
                "has_watermark": True,
                "detection_score": "0.91",
                "verdict": "degraded",
                "synthid": True,
                "model_results": [
                    {
                        "model_version": "perth_v2",
                        "status": "succeeded",
                        "detected": True,
                        "confidence": None,
                    }
                ],
            },
        },
    )
    metrics = _some(_some(det.watermark).metrics)
    assert metrics.has_watermark is True
    _assert_float(metrics.detection_score, 0.91)
    assert metrics.verdict == "degraded"
    assert metrics.synthid is True
    assert metrics.coverage_complete is None
    assert metrics.model_results[0].confidence is None


@pytest.mark.parametrize("metrics", [None, {}, [], ""])
def test_watermark_failed_without_metrics(metrics: object) -> None:
    """A failed watermark carries only an error message; absent/empty metrics read as None."""
    det = _det(watermark={"status": "failed", "metrics": metrics, "error_message": "too big"})
    watermark = _some(det.watermark)
    assert watermark == Watermark(status=WatermarkStatus.FAILED, error_message="too big")
    assert not det.is_watermark_pending


@pytest.mark.parametrize("state", ["Valid", "NotPresent", "Unavailable", "SomethingNew"])
def test_c2pa_manifest(state: str) -> None:
    """c2pa_manifest keeps its validation state as text and its free-form parts as sent."""
    manifests = {"urn:uuid:1": {"claim_generator": "Resemble", "assertions": [1, 2]}}
    det = _det(
        c2pa_manifest={
            "validation_state": state,
            "active_manifest": "urn:uuid:1",
            "manifests": manifests,
            "validation_results": {"activeManifest": {"success": []}},
            "message": None,
        }
    )
    assert det.c2pa_manifest == C2paManifest(
        validation_state=state,
        active_manifest="urn:uuid:1",
        manifests=manifests,
        validation_results={"activeManifest": {"success": []}},
        message=None,
    )


def test_c2pa_manifest_unavailable_with_message() -> None:
    """An unavailable verification keeps its message and null parts."""
    det = _det(
        c2pa_manifest={
            "validation_state": "Unavailable",
            "active_manifest": None,
            "manifests": None,
            "validation_results": None,
            "message": "verification service unavailable",
        }
    )
    manifest = _some(det.c2pa_manifest)
    assert manifest.validation_state == "Unavailable"
    assert manifest.manifests is None
    assert manifest.message == "verification service unavailable"


def test_reverse_image_search_sources() -> None:
    """``use_reverse_search`` hits are read with string similarities as floats."""
    det = _det(
        media_type="image",
        image_metrics={
            "label": "Fake",
            "score": 0.97,
            "reverse_image_search_sources": [
                {
                    "url": "https://news.example/fake.jpg",
                    "title": "Debunked photo",
                    "reason": "matches a known fake",
                    "verdict": "known_fake",
                    "similarity": "0.88",
                },
                {"url": "https://b.example", "similarity": 0.5},
            ],
        },
    )
    sources = _some(det.image_metrics).reverse_image_search_sources
    assert sources == (
        ReverseImageSearchSource(
            url="https://news.example/fake.jpg",
            title="Debunked photo",
            reason="matches a known fake",
            verdict="known_fake",
            similarity=0.88,
        ),
        ReverseImageSearchSource(url="https://b.example", similarity=0.5),
    )


@pytest.mark.parametrize("wire", [None, {}, [], ""])
def test_audio_source_tracing_absent(wire: object) -> None:
    """A null (or empty) audio_source_tracing reads as None."""
    assert _det(audio_source_tracing=wire).audio_source_tracing is None


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (
            {"label": "elevenlabs", "error_message": None},
            AudioSourceTracing(label="elevenlabs"),
        ),
        ({"label": "real"}, AudioSourceTracing(label="real")),
        (
            {"label": None, "error_message": "tracing failed"},
            AudioSourceTracing(error_message="tracing failed"),
        ),
    ],
)
def test_audio_source_tracing_present(wire: dict[str, Any], expected: AudioSourceTracing) -> None:
    """audio_source_tracing keeps the generator label and any error message."""
    assert _det(audio_source_tracing=wire).audio_source_tracing == expected


def test_heatmaps_may_be_data_uris() -> None:
    """Visualisation fields are kept as sent, ``data:`` URIs included (SPEC §4.2)."""
    uri = "data:image/png;base64," + "A" * 500
    det = _det(metrics={"image": uri}, image_metrics={"image": uri, "ifl": {"heatmap": uri}})
    assert _some(det.metrics).image == uri
    image = _some(det.image_metrics)
    assert image.image == uri
    assert _some(image.ifl).heatmap == uri


def test_image_children_are_free_form() -> None:
    """``image_metrics.children`` is free-form (SPEC §4.2) and kept as sent."""
    children = [{"type": "facial", "score": 0.4}, {"type": "object", "boxes": [[1, 2, 3, 4]]}]
    assert _some(_det(image_metrics={"children": children}).image_metrics).children == tuple(
        children
    )
