"""The documented example bodies of ``../shared/api/examples`` read as the models (SPEC.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from model_helpers import JAN15, _assert_float, _assert_utc, _intel, _some

from resemble_detect_async._converter import structure_batch, structure_detection, structure_page
from resemble_detect_async.models import (
    Batch,
    BatchStatus,
    Detection,
    DetectionStatus,
    MediaType,
    Page,
    Verdict,
)

# The documented bodies, vendored in tests/examples so the suite runs anywhere; when the shared
# API reference is checked out beside the repository, test_vendored_examples_match_shared
# keeps the two copies identical.
SHARED_EXAMPLES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "api" / "examples"
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
MISSING_EXAMPLES = f"example bodies not found at {EXAMPLES_DIR}"
# Q&A items of /detects/{uuid}/intelligence (SPEC §10): an ``item`` with a uuid, but a
# question, not a detection.
NOT_DETECTIONS = frozenset(
    {"detect_intelligence_question_202.json", "detect_intelligence_question_processing.json"}
)
EXPECTED_KINDS = {
    "batch_create.json": "batch",
    "batch_status.json": "batch",
    "callback_payload.json": "detection",
    "create_detect_response_apiref.json": "detection",
    "create_detect_response_async.json": "detection",
    "create_detect_response_async_legacy_v1.json": "detection",
    "create_detect_sync_audio.json": "detection",
    "create_detect_sync_image.json": "detection",
    "create_detect_sync_video.json": "detection",
    "create_detect_sync_zero_retention.json": "detection",
    "get_detect_audio_completed.json": "detection",
    "get_detect_zero_retention.json": "detection",
    "list_detects.json": "page",
}


def _load(name: str) -> dict[str, Any]:
    """One example body by file name; skips when the shared examples are not checked out."""
    if not EXAMPLES_DIR.is_dir():
        pytest.skip(MISSING_EXAMPLES)
    body = json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(body, dict)
    return body


def _kind(name: str, body: object) -> str | None:
    """What an example file holds: "detection", "batch", "page" or None (anything else)."""
    if name in NOT_DETECTIONS or not isinstance(body, dict) or body.get("success") is not True:
        return None
    if isinstance(body.get("items"), list):
        return "page"
    item = body.get("item")
    if not isinstance(item, dict) or "uuid" not in item:
        return None
    if {"total_files", "completed_count", "failed_count", "detect_uuids"} & item.keys():
        return "batch"
    return "detection"


def _example_params() -> list[Any]:
    """One pytest param per example file that holds a detection, batch or list page."""
    if not EXAMPLES_DIR.is_dir():
        skip = pytest.mark.skip(reason=MISSING_EXAMPLES)
        return [pytest.param("", "", marks=skip, id="examples-missing")]
    params = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        kind = _kind(path.name, json.loads(path.read_text(encoding="utf-8")))
        if kind is not None:
            params.append(pytest.param(path.name, kind, id=path.name))
    return params


def _all_datetimes(obj: object) -> list[datetime]:
    """Every datetime reachable through the attrs fields of ``obj`` (recursively)."""
    found: list[datetime] = []
    cls = type(obj)
    if isinstance(obj, datetime):
        found.append(obj)
    elif isinstance(obj, tuple):
        for item in obj:
            found.extend(_all_datetimes(item))
    elif attrs.has(cls):
        for field in attrs.fields(cls):
            if field.name not in ("raw", "extra"):
                found.extend(_all_datetimes(getattr(obj, field.name)))
    return found


def test_example_classifier_finds_every_documented_body() -> None:
    """The example scan recognises every known detection, batch and page file."""
    if not EXAMPLES_DIR.is_dir():
        pytest.skip(MISSING_EXAMPLES)
    found = {}
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        kind = _kind(path.name, json.loads(path.read_text(encoding="utf-8")))
        if kind is not None:
            found[path.name] = kind
    assert {name: found.get(name) for name in EXPECTED_KINDS} == EXPECTED_KINDS


@pytest.mark.parametrize(("name", "kind"), _example_params())
def test_example_body_parses(name: str, kind: str) -> None:
    """Every example detection/batch/page parses, keeps its item in raw, all datetimes UTC."""
    body = _load(name)
    parsed: Detection | Batch | Page
    if kind == "detection":
        parsed = structure_detection(body)
        assert parsed.raw == body["item"]
        assert parsed.uuid == body["item"]["uuid"]
        assert parsed.status is None or isinstance(parsed.status, DetectionStatus)
        # every documented top-level field is modelled, so nothing lands in extra
        assert parsed.extra == {}
    elif kind == "batch":
        parsed = structure_batch(body)
        assert parsed.raw == body["item"]
        assert parsed.extra == {}
    else:
        parsed = structure_page(body)
        assert [item.raw for item in parsed.items] == body["items"]
        assert "success" not in parsed.extra
    for dt in _all_datetimes(parsed):
        _assert_utc(dt)


def test_example_create_async() -> None:
    """The async create body: no status key → None, ``metrics: {}`` → None, null intelligence."""
    body = _load("create_detect_response_async.json")
    det = structure_detection(body)
    assert det.uuid == "DETECTION_UUID"
    assert det.status is None
    assert det.media_type is MediaType.AUDIO
    assert det.metrics is None
    assert det.intelligence is None
    assert _assert_utc(det.created_at) == JAN15
    assert _assert_utc(det.updated_at) == JAN15
    assert not det.is_terminal
    assert det.verdict is Verdict.UNKNOWN
    assert det.score is None
    assert det.label is None
    assert det.raw == body["item"]


def test_example_create_async_legacy_without_intelligence_key() -> None:
    """The older async create body, which lacks the intelligence key entirely, parses alike."""
    det = structure_detection(_load("create_detect_response_async_legacy_v1.json"))
    assert det.uuid == "DETECTION_UUID"
    assert det.status is None
    assert det.metrics is None
    assert det.intelligence is None
    assert det.intelligence_results == ()
    assert not det.is_intelligence_pending
    assert det.media_type is MediaType.AUDIO


def test_example_create_sync_audio() -> None:
    """Sync audio: string scores become floats, duration "5.2" → 5.2, plain-text intelligence."""
    body = _load("create_detect_sync_audio.json")
    det = structure_detection(body)
    audio = _some(det.metrics)
    assert audio.label == "fake"
    assert audio.score == (0.9, 0.8, 0.7)
    assert all(type(s) is float for s in audio.score)
    _assert_float(audio.consistency, 0.85)
    _assert_float(audio.aggregated_score, 0.80)
    assert audio.image == ""
    _assert_float(det.duration, 5.2)
    assert det.status is None
    assert det.media_type is MediaType.AUDIO
    intel = _intel(det)
    assert intel.description == "Adult male speaker with confident tone..."
    assert intel.status is None
    assert _assert_utc(intel.created_at) == datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)
    assert intel.is_terminal
    assert not det.is_intelligence_pending
    assert det.verdict is Verdict.FAKE
    assert det.is_fake
    _assert_float(det.score, 0.80)
    assert _assert_utc(det.updated_at) == datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)
    assert det.raw == body["item"]


def test_example_create_sync_image() -> None:
    """Sync image: image_metrics with ifl, list-item flags, extra_params, completed status."""
    body = _load("create_detect_sync_image.json")
    det = structure_detection(body)
    assert det.status is DetectionStatus.COMPLETED
    assert det.is_completed
    assert det.is_terminal
    assert det.media_type is MediaType.IMAGE
    assert det.metrics is None
    image = _some(det.image_metrics)
    assert image.type == "FinalResult"
    assert image.label == "Fake"
    _assert_float(image.score, 1.0)
    assert image.image == "https://..."
    assert image.children == ()
    ifl = _some(image.ifl)
    _assert_float(ifl.score, 1.0)
    assert ifl.heatmap == "https://..."
    assert image.reverse_image_search_sources == ()
    intel = _intel(det)
    assert intel.uuid == "INTELLIGENCE_UUID"
    assert intel.detect_uuid == "DETECTION_UUID"
    assert intel.description == "..."
    assert det.visualize is False
    assert det.audio_source_tracing_enabled is False
    assert det.use_ood_detector is False
    assert det.filename == "image.jpg"
    assert det.url == "https://example.com/image.jpg"
    assert det.audio_url == "https://example.com/image.jpg"
    assert det.extra_params == {"search_identity_requested": False}
    assert det.zero_retention_mode is False
    assert det.media_redacted is False
    assert det.media_deleted is False
    _assert_float(det.duration, 5.0)
    assert det.verdict is Verdict.FAKE
    assert det.label == "Fake"
    _assert_float(det.score, 1.0)
    assert det.raw == body["item"]


def test_example_create_sync_video_tree() -> None:
    """Sync video: three-level tree, ``certainty (%)`` as percent, ImageResult timestamps."""
    det = structure_detection(_load("create_detect_sync_video.json"))
    assert det.media_type is MediaType.VIDEO
    _assert_float(det.duration, 10.5)
    audio = _some(det.metrics)
    assert audio.image == "https://..."
    _assert_float(audio.aggregated_score, 0.8)
    video = _some(det.video_metrics)
    assert video.label == "Fake"
    _assert_float(video.score, 0.95)
    _assert_float(video.certainty, 0.93)
    assert video.treeview == "..."
    (root,) = video.children
    assert root.type == "VideoResult"
    assert root.conclusion == "Fake"
    assert root.verdict is Verdict.FAKE
    _assert_float(root.score, 0.99)
    _assert_float(root.certainty, 0.9)
    _assert_float(root.certainty_percent, 90.0)
    assert root.timestamp is None
    (frame,) = root.children
    assert frame.type == "ImageResult"
    _assert_float(frame.certainty_percent, 95.0)
    _assert_float(frame.timestamp, 0.23)
    (segment,) = frame.children
    assert segment.type == "Segment"
    _assert_float(segment.certainty, 0.995)
    _assert_float(segment.certainty_percent, 99.5)
    assert segment.children == ()
    assert det.verdict is Verdict.FAKE
    _assert_float(det.score, 0.95)  # the higher of audio 0.80 and visual 0.95
    assert det.label == "fake"


def test_example_create_sync_zero_retention() -> None:
    """ZRM create body: null urls, redacted filename, old media_* flags, null file_deleted_at."""
    det = structure_detection(_load("create_detect_sync_zero_retention.json"))
    assert det.zero_retention_mode is True
    assert det.media_redacted is True
    assert det.media_deleted is False
    assert det.file_deleted_at is None
    assert det.url is None
    assert det.audio_url is None
    assert det.filename == "redacted_abc123def4567890abcd1234.mp3"
    assert _some(det.metrics).score == (0.9, 0.8, 0.7)


def test_example_get_completed_with_every_block() -> None:
    """GET example: string numbers in the video tree, source tracing, audio verdict from metrics."""
    body = _load("get_detect_audio_completed.json")
    det = structure_detection(body)
    assert det.status is DetectionStatus.COMPLETED
    assert det.media_type is MediaType.AUDIO
    _assert_float(_some(det.metrics).aggregated_score, 0.566)
    video = _some(det.video_metrics)
    _assert_float(video.score, 0.9)
    _assert_float(video.certainty, 0.9)
    (root,) = video.children
    _assert_float(root.score, 0.99)
    assert root.certainty_percent is None  # this example has no "certainty (%)"
    (frame,) = root.children
    _assert_float(frame.timestamp, 0.23)
    (segment,) = frame.children
    _assert_float(segment.certainty, 0.995)
    tracing = _some(det.audio_source_tracing)
    assert tracing.label == "resemble_ai"
    assert tracing.error_message is None
    intel = _intel(det)
    assert intel.uuid == "INTELLIGENCE_UUID"
    assert intel.detect_uuid == "DETECTION_UUID"
    assert det.url == "https://storage.example.com/audio/suspicious.wav"
    assert det.filename == "suspicious.wav"
    _assert_float(det.duration, 8.2)
    assert det.file_deleted_at is None
    assert det.zero_retention_mode is False
    # an audio detect speaks through metrics only, though image/video blocks are present
    assert det.verdict is Verdict.FAKE
    _assert_float(det.score, 0.566)
    assert det.label == "fake"
    assert det.raw == body["item"]


def test_example_get_zero_retention() -> None:
    """ZRM GET body: file_deleted_at is an aware UTC datetime once the purge ran."""
    det = structure_detection(_load("get_detect_zero_retention.json"))
    assert _assert_utc(det.file_deleted_at) == datetime(2024, 1, 15, 10, 31, tzinfo=UTC)
    assert det.zero_retention_mode is True
    assert det.media_redacted is True
    assert det.media_deleted is True
    assert det.url is None
    assert det.audio_url is None
    assert _some(det.filename).startswith("redacted_")


def test_example_apiref_placeholder_status() -> None:
    """The API-reference body's placeholder status "string" reads UNKNOWN; raw keeps it."""
    det = structure_detection(_load("create_detect_response_apiref.json"))
    assert det.uuid == "string"
    assert det.status is DetectionStatus.UNKNOWN
    assert det.raw["status"] == "string"
    assert not det.is_terminal
    assert det.zero_retention_mode is True
    assert _assert_utc(det.file_deleted_at) == datetime(2024, 1, 15, 9, 30, tzinfo=UTC)
    assert _intel(det).description == "string"


def test_example_callback_payload() -> None:
    """The old callback body: one string window score and nothing else."""
    det = structure_detection(_load("callback_payload.json"))
    assert det.uuid == "<string>"
    audio = _some(det.metrics)
    assert audio.score == (0.9,)
    assert audio.aggregated_score is None
    assert det.status is None
    assert det.verdict is Verdict.FAKE
    _assert_float(det.score, 0.9)  # mean of the windows when no aggregated_score


def test_example_list_page() -> None:
    """The list page: paging fields, numeric scores, metrics.duration kept in extra."""
    body = _load("list_detects.json")
    page = structure_page(body)
    assert page.page == 1
    assert page.num_pages == 5
    assert page.page_size == 20
    assert page.total_count == 87
    assert page.has_next
    assert page.extra == {}
    (det,) = page.items
    assert det.uuid == "a1b2c3d4e5f6..."
    assert det.status is DetectionStatus.COMPLETED
    audio = _some(det.metrics)
    assert audio.label == "real"
    assert audio.score == (0.92, 0.88, 0.95)
    _assert_float(audio.aggregated_score, 0.92)
    _assert_float(audio.consistency, 0.94)
    assert audio.extra == {"duration": 12.5}
    assert det.video_metrics is None
    assert det.image_metrics is None
    assert det.intelligence is None
    assert det.visualize is True
    assert det.extra_params == {}
    assert det.error_message is None
    assert _assert_utc(det.created_at) == datetime(2025, 12, 10, 15, 30, tzinfo=UTC)
    assert _assert_utc(det.updated_at) == datetime(2025, 12, 10, 15, 30, 45, tzinfo=UTC)
    assert det.verdict is Verdict.REAL
    assert not det.is_fake
    assert det.raw == body["items"][0]


@pytest.mark.parametrize("name", ["batch_create.json", "batch_status.json"])
def test_example_batch(name: str) -> None:
    """Batch create/status bodies: counts as ints, processing status, detect uuids as a tuple."""
    body = _load(name)
    batch = structure_batch(body)
    assert batch.uuid == "string"
    assert batch.status is BatchStatus.PROCESSING
    assert not batch.is_terminal
    assert batch.total_files == 1
    assert batch.completed_count == 1
    assert batch.failed_count == 1
    assert _assert_utc(batch.created_at) == datetime(2024, 1, 15, 9, 30, tzinfo=UTC)
    assert batch.detect_uuids == ("string",)
    assert batch.raw == body["item"]


def test_vendored_examples_match_shared() -> None:
    """tests/examples holds exactly the shared reference's JSON bodies (OpenAPI extracts aside)."""
    if not SHARED_EXAMPLES_DIR.is_dir():
        pytest.skip(f"shared API reference not checked out at {SHARED_EXAMPLES_DIR}")
    shared = {
        path.name: path.read_bytes()
        for path in SHARED_EXAMPLES_DIR.glob("*.json")
        if not path.name.startswith("openapi")
    }
    vendored = {path.name: path.read_bytes() for path in EXAMPLES_DIR.glob("*.json")}
    assert vendored == shared
