"""The models and the private converter against the wire contract (SPEC.md §3.4-§16).

Three sources of bodies: the documented examples of ``../shared/api/examples`` (vendored in
``tests/examples``, section 1), drifted variants written here after what SPEC.md describes or
a live service plausibly sends (section 2), and unreadable bodies (section 4). Sections 3 and
5 cover the conveniences on the models and their immutability.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

from resemble_detect_async import models
from resemble_detect_async._converter import (
    structure,
    structure_batch,
    structure_detection,
    structure_page,
    unstructure_detection,
)
from resemble_detect_async.errors import ResponseValidationError
from resemble_detect_async.models import (
    AudioMetrics,
    AudioSourceTracing,
    Batch,
    BatchStatus,
    C2paManifest,
    Detection,
    DetectionStatus,
    DigitallyAltered,
    Fraud,
    IflResult,
    ImageMetrics,
    Intelligence,
    IntelligenceDescription,
    IntelligenceStatus,
    Liveness,
    MediaType,
    Modality,
    Page,
    ReverseImageSearchSource,
    Verdict,
    VideoMetrics,
    VideoNode,
    Watermark,
    WatermarkMetrics,
    WatermarkModelResult,
    WatermarkStatus,
    normalize_label,
)

T = TypeVar("T")

UUID = "5f1c2a9e-0000-4000-8000-000000000001"
JAN15 = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)

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


# --- helpers ---------------------------------------------------------------------------------


def _some(value: T | None) -> T:
    """``value`` narrowed to not-None (fails the test if it is None)."""
    assert value is not None
    return value


def _body(**fields: Any) -> dict[str, Any]:
    """A ``{"success": true, "item": {...}}`` envelope around a detection with ``fields``."""
    return {"success": True, "item": {"uuid": UUID, **fields}}


def _det(**fields: Any) -> Detection:
    """A Detection read from an item with ``fields`` (and a uuid)."""
    return structure_detection(_body(**fields))


def _intel(det: Detection) -> Intelligence:
    """The single intelligence object of ``det``."""
    assert isinstance(det.intelligence, Intelligence)
    return det.intelligence


def _structured(intel: Intelligence) -> IntelligenceDescription:
    """The structured description of ``intel``."""
    assert isinstance(intel.description, IntelligenceDescription)
    return intel.description


def _assert_utc(value: datetime | None) -> datetime:
    """``value`` is an aware datetime at UTC offset zero."""
    dt = _some(value)
    assert dt.tzinfo is not None
    assert dt.utcoffset() == timedelta(0)
    return dt


def _assert_float(value: float | None, expected: float) -> None:
    """``value`` is a real ``float`` close to ``expected``."""
    assert type(value) is float
    assert math.isclose(value, expected)


def _names_field(actual: str, expected: str) -> bool:
    """``actual`` is the path ``expected`` or an element of it (``expected[i]...``)."""
    return actual == expected or actual.startswith(f"{expected}[")


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


# =============================================================================================
# 1. The documented example bodies
# =============================================================================================


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


# =============================================================================================
# 2. Drifted and plausible variants
# =============================================================================================

ScoreSite = tuple[Callable[[Any], dict[str, Any]], Callable[[Detection], float | None]]

# Every place that carries a 0-1 score/probability, as (item fields, read back).
SCORE_SITES: dict[str, ScoreSite] = {
    "metrics.aggregated_score": (
        lambda v: {"metrics": {"aggregated_score": v}},
        lambda d: _some(d.metrics).aggregated_score,
    ),
    "metrics.consistency": (
        lambda v: {"metrics": {"consistency": v}},
        lambda d: _some(d.metrics).consistency,
    ),
    "image_metrics.score": (
        lambda v: {"image_metrics": {"score": v}},
        lambda d: _some(d.image_metrics).score,
    ),
    "image_metrics.ifl.score": (
        lambda v: {"image_metrics": {"ifl": {"score": v}}},
        lambda d: _some(_some(d.image_metrics).ifl).score,
    ),
    "reverse_image_search_sources.similarity": (
        lambda v: {"image_metrics": {"reverse_image_search_sources": [{"similarity": v}]}},
        lambda d: _some(d.image_metrics).reverse_image_search_sources[0].similarity,
    ),
    "video_metrics.score": (
        lambda v: {"video_metrics": {"score": v}},
        lambda d: _some(d.video_metrics).score,
    ),
    "video_metrics.certainty": (
        lambda v: {"video_metrics": {"certainty": v}},
        lambda d: _some(d.video_metrics).certainty,
    ),
    "video node score": (
        lambda v: {"video_metrics": {"children": [{"children": [{"score": v}]}]}},
        lambda d: _some(d.video_metrics).children[0].children[0].score,
    ),
    "watermark.metrics.confidence": (
        lambda v: {"watermark": {"status": "completed", "metrics": {"confidence": v}}},
        lambda d: _some(_some(d.watermark).metrics).confidence,
    ),
}

SCORE_VALUES = [
    pytest.param(0.9, 0.9, id="number"),
    pytest.param("0.9", 0.9, id="string"),
    pytest.param(" 0.9 ", 0.9, id="padded-string"),
    pytest.param("90%", 0.9, id="percent"),
    pytest.param(" 90 % ", 0.9, id="padded-percent"),
    pytest.param(1, 1.0, id="int-1"),
    pytest.param(0, 0.0, id="int-0"),
    pytest.param("1", 1.0, id="string-int"),
    pytest.param("0.566", 0.566, id="three-decimals"),
    pytest.param("1e-1", 0.1, id="exponent"),
]


@pytest.mark.parametrize("site", list(SCORE_SITES))
@pytest.mark.parametrize(("wire", "expected"), SCORE_VALUES)
def test_scores_read_as_floats(site: str, wire: object, expected: float) -> None:
    """Scores sent as numbers, ints, numeric strings or percentages all read as 0-1 floats."""
    build, read = SCORE_SITES[site]
    _assert_float(read(_det(**build(wire))), expected)


@pytest.mark.parametrize("site", list(SCORE_SITES))
@pytest.mark.parametrize("wire", [None, "", "null", "NaN", "n/a"])
def test_scores_null_words_read_as_none(site: str, wire: object) -> None:
    """A null score, or a string that means "no value", reads as None."""
    build, read = SCORE_SITES[site]
    assert read(_det(**build(wire))) is None


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param("90%", 90.0, id="percent-sign"),
        pytest.param("90.0", 90.0, id="decimal-string"),
        pytest.param("90", 90.0, id="int-string"),
        pytest.param(" 99.5 % ", 99.5, id="padded"),
        pytest.param(90, 90.0, id="int"),
        pytest.param(95.5, 95.5, id="float"),
    ],
)
def test_certainty_percent_reads_in_percent_units(wire: object, expected: float) -> None:
    """``"certainty (%)"`` keeps percent units: "90%", "90.0" and 90 all read as 90.0."""
    det = _det(video_metrics={"children": [{"certainty (%)": wire}]})
    _assert_float(_some(det.video_metrics).children[0].certainty_percent, expected)


def test_certainty_percent_null_and_missing() -> None:
    """A null or missing ``"certainty (%)"`` reads as None."""
    det = _det(video_metrics={"children": [{"certainty (%)": None}, {"certainty": 0.5}]})
    nodes = _some(det.video_metrics).children
    assert [node.certainty_percent for node in nodes] == [None, None]


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param(["0.9", "0.8", "0.7"], (0.9, 0.8, 0.7), id="string-list"),
        pytest.param([0.92, 0.88], (0.92, 0.88), id="number-list"),
        pytest.param([1, 0], (1.0, 0.0), id="int-list"),
        pytest.param(["90%", " 0.8 "], (0.9, 0.8), id="percent-and-padded"),
        pytest.param("0.9", (0.9,), id="single-string"),
        pytest.param(0.9, (0.9,), id="single-number"),
        pytest.param(1, (1.0,), id="single-int"),
        pytest.param("0.9, 0.8,0.7", (0.9, 0.8, 0.7), id="comma-separated"),
        pytest.param("0.9,", (0.9,), id="trailing-comma"),
        pytest.param([], (), id="empty-list"),
        pytest.param(None, (), id="null"),
    ],
)
def test_window_scores_shapes(wire: object, expected: tuple[float, ...]) -> None:
    """Per-window scores arrive as lists, one value or a comma string; all read as floats."""
    scores = _some(_det(metrics={"score": wire}).metrics).score
    assert scores == expected
    assert all(type(s) is float for s in scores)


@pytest.mark.parametrize("null_window", [None, "null", "", "NaN"])
def test_null_window_score_keeps_its_position(null_window: object) -> None:
    """A null window score reads as NaN in place, so window i is still the i-th frame."""
    scores = _some(_det(metrics={"score": [0.9, null_window, "0.7"]}).metrics).score
    assert len(scores) == 3
    assert scores[0] == 0.9
    assert math.isnan(scores[1])
    assert scores[2] == 0.7


@pytest.mark.parametrize("wire", ["", "null", "  "])
def test_empty_string_window_scores_mean_no_windows(wire: str) -> None:
    """A whole ``score`` sent as an empty/null string means no windows, not one NaN window."""
    assert _some(_det(metrics={"score": wire}).metrics).score == ()


@pytest.mark.parametrize(
    ("fields", "read", "expected"),
    [
        pytest.param({"duration": 5}, lambda d: d.duration, 5.0, id="duration"),
        pytest.param({"duration": "5.2"}, lambda d: d.duration, 5.2, id="duration-string"),
        pytest.param(
            {"video_metrics": {"children": [{"children": [{"timestamp": 1}]}]}},
            lambda d: _some(d.video_metrics).children[0].children[0].timestamp,
            1.0,
            id="timestamp",
        ),
        pytest.param(
            {"intelligence": {"description": {"fraud": {"confidence": 85}}}},
            lambda d: _some(_structured(_intel(d)).fraud).confidence,
            85.0,
            id="fraud-confidence",
        ),
        pytest.param(
            {"intelligence": {"description": {"liveness": {"confidence": "70"}}}},
            lambda d: _some(_structured(_intel(d)).liveness).confidence,
            70.0,
            id="liveness-confidence-string",
        ),
        pytest.param(
            {"watermark": {"metrics": {"detection_score": 1}}},
            lambda d: _some(_some(d.watermark).metrics).detection_score,
            1.0,
            id="watermark-detection-score",
        ),
    ],
)
def test_ints_and_strings_for_floats(
    fields: dict[str, Any], read: Callable[[Detection], float | None], expected: float
) -> None:
    """Float fields accept JSON ints and numeric strings and always hold a ``float``."""
    _assert_float(read(_det(**fields)), expected)


BOOL_FIELDS = [
    "zero_retention_mode",
    "face_only",
    "visualize",
    "audio_source_tracing_enabled",
    "use_ood_detector",
    "media_redacted",
    "media_deleted",
]
BOOL_VALUES = [
    pytest.param(True, True, id="true"),
    pytest.param(False, False, id="false"),
    pytest.param("true", True, id="str-true"),
    pytest.param("false", False, id="str-false"),
    pytest.param("True", True, id="str-True"),
    pytest.param(" FALSE ", False, id="str-FALSE-padded"),
    pytest.param("1", True, id="str-1"),
    pytest.param("0", False, id="str-0"),
    pytest.param(1, True, id="int-1"),
    pytest.param(0, False, id="int-0"),
    pytest.param(None, None, id="null"),
]


@pytest.mark.parametrize("field", BOOL_FIELDS)
@pytest.mark.parametrize(("wire", "expected"), BOOL_VALUES)
def test_top_level_booleans(field: str, wire: object, expected: bool | None) -> None:
    """Flags echoed as "true"/"false" strings (multipart) or 0/1 read as real booleans."""
    assert getattr(_det(**{field: wire}), field) is expected


@pytest.mark.parametrize(("wire", "expected"), BOOL_VALUES)
def test_nested_booleans(wire: object, expected: bool | None) -> None:
    """Nested flags (digitally_altered.detected, watermark synthid/coverage) read alike."""
    det = _det(
        intelligence={"description": {"digitally_altered": {"detected": wire}}},
        watermark={
            "metrics": {
                "synthid": wire,
                "coverage_complete": wire,
                "model_results": [{"detected": wire}],
            }
        },
    )
    assert _some(_structured(_intel(det)).digitally_altered).detected is expected
    metrics = _some(_some(det.watermark).metrics)
    assert metrics.synthid is expected
    assert metrics.coverage_complete is expected
    assert metrics.model_results[0].detected is expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"privacy_mode": True}, True, id="old-name"),
        pytest.param({"privacy_mode": "false"}, False, id="old-name-string"),
        pytest.param({"privacy_mode": 1}, True, id="old-name-int"),
        pytest.param({"privacy_mode": True, "zero_retention_mode": False}, False, id="new-wins"),
        pytest.param({"privacy_mode": True, "zero_retention_mode": None}, True, id="new-null"),
        pytest.param({}, None, id="neither"),
    ],
)
def test_privacy_mode_is_the_old_zero_retention_mode(
    fields: dict[str, Any], expected: bool | None
) -> None:
    """``privacy_mode`` (SPEC §16) fills zero_retention_mode; the current name wins if both."""
    det = _det(**fields)
    assert det.zero_retention_mode is expected
    assert "privacy_mode" not in det.extra
    assert det.raw == {"uuid": UUID, **fields}


@pytest.mark.parametrize(
    ("redacted", "deleted", "expected"),
    [
        (True, False, (True, False)),
        ("true", "false", (True, False)),
        (0, 1, (False, True)),
        (None, None, (None, None)),
    ],
)
def test_old_media_redacted_and_deleted_flags(
    redacted: object, deleted: object, expected: tuple[bool | None, bool | None]
) -> None:
    """The older ``media_redacted``/``media_deleted`` booleans (SPEC §3.5) are read."""
    det = _det(media_redacted=redacted, media_deleted=deleted)
    assert (det.media_redacted, det.media_deleted) == expected


# -- unknown keys -----------------------------------------------------------------------------


def _everything_with_unknown_keys() -> dict[str, Any]:
    """An item with a known field and one unknown key at every nesting level."""
    return {
        "uuid": UUID,
        "new_top": 1,
        "metrics": {"label": "fake", "new_metrics": 2, "duration": 3.5},
        "image_metrics": {
            "label": "Fake",
            "new_image": 3,
            "ifl": {"score": 1, "new_ifl": 4},
            "reverse_image_search_sources": [{"url": "https://a", "new_ris": 5}],
        },
        "video_metrics": {
            "label": "Fake",
            "new_video": 6,
            "children": [
                {
                    "type": "VideoResult",
                    "new_node1": 7,
                    "children": [
                        {
                            "type": "ImageResult",
                            "new_node2": 8,
                            "children": [{"type": "Segment", "new_node3": 9}],
                        }
                    ],
                }
            ],
        },
        "audio_source_tracing": {"label": "elevenlabs", "new_tracing": 10},
        "intelligence": {
            "status": "completed",
            "new_intel": 11,
            "description": {
                "language": "en",
                "new_desc": 12,
                "fraud": {"type": "none", "new_fraud": 13},
                "liveness": {"assessment": "real_person", "new_liveness": 14},
                "digitally_altered": {"detected": False, "new_altered": 15},
            },
        },
        "watermark": {
            "status": "completed",
            "new_wm": 16,
            "metrics": {
                "overall_status": "absent",
                "new_wm_metrics": 17,
                "model_results": [{"model_version": "perth_v2", "new_result": 18}],
            },
        },
        "c2pa_manifest": {"validation_state": "NotPresent", "new_c2pa": 19},
    }


UNKNOWN_KEY_SITES: list[Any] = [
    pytest.param(lambda d: d.extra, {"new_top": 1}, id="top-level"),
    pytest.param(
        lambda d: _some(d.metrics).extra, {"new_metrics": 2, "duration": 3.5}, id="metrics"
    ),
    pytest.param(lambda d: _some(d.image_metrics).extra, {"new_image": 3}, id="image_metrics"),
    pytest.param(lambda d: _some(_some(d.image_metrics).ifl).extra, {"new_ifl": 4}, id="ifl"),
    pytest.param(
        lambda d: _some(d.image_metrics).reverse_image_search_sources[0].extra,
        {"new_ris": 5},
        id="reverse-search-source",
    ),
    pytest.param(lambda d: _some(d.video_metrics).extra, {"new_video": 6}, id="video_metrics"),
    pytest.param(
        lambda d: _some(d.video_metrics).children[0].extra, {"new_node1": 7}, id="VideoResult"
    ),
    pytest.param(
        lambda d: _some(d.video_metrics).children[0].children[0].extra,
        {"new_node2": 8},
        id="ImageResult",
    ),
    pytest.param(
        lambda d: _some(d.video_metrics).children[0].children[0].children[0].extra,
        {"new_node3": 9},
        id="Segment",
    ),
    pytest.param(
        lambda d: _some(d.audio_source_tracing).extra, {"new_tracing": 10}, id="source-tracing"
    ),
    pytest.param(lambda d: _intel(d).extra, {"new_intel": 11}, id="intelligence"),
    pytest.param(
        lambda d: _structured(_intel(d)).extra, {"new_desc": 12}, id="intelligence-description"
    ),
    pytest.param(
        lambda d: _some(_structured(_intel(d)).fraud).extra, {"new_fraud": 13}, id="fraud"
    ),
    pytest.param(
        lambda d: _some(_structured(_intel(d)).liveness).extra, {"new_liveness": 14}, id="liveness"
    ),
    pytest.param(
        lambda d: _some(_structured(_intel(d)).digitally_altered).extra,
        {"new_altered": 15},
        id="digitally_altered",
    ),
    pytest.param(lambda d: _some(d.watermark).extra, {"new_wm": 16}, id="watermark"),
    pytest.param(
        lambda d: _some(_some(d.watermark).metrics).extra,
        {"new_wm_metrics": 17},
        id="watermark-metrics",
    ),
    pytest.param(
        lambda d: _some(_some(d.watermark).metrics).model_results[0].extra,
        {"new_result": 18},
        id="watermark-model-result",
    ),
    pytest.param(lambda d: _some(d.c2pa_manifest).extra, {"new_c2pa": 19}, id="c2pa_manifest"),
]


@pytest.mark.parametrize(("read_extra", "expected"), UNKNOWN_KEY_SITES)
def test_unknown_keys_are_kept_in_extra(
    read_extra: Callable[[Detection], object], expected: dict[str, Any]
) -> None:
    """A key the model does not know lands in that level's ``extra``; known keys do not."""
    item = _everything_with_unknown_keys()
    det = structure_detection({"success": True, "item": item})
    assert read_extra(det) == expected
    assert det.raw == item


def test_keys_named_extra_and_raw_are_kept_in_extra() -> None:
    """Wire keys literally called "extra" or "raw" are data, not bookkeeping: kept in extra."""
    det = _det(extra={"a": 1}, raw="x")
    assert det.extra == {"extra": {"a": 1}, "raw": "x"}
    assert det.raw == {"uuid": UUID, "extra": {"a": 1}, "raw": "x"}


def test_unknown_keys_in_batch_and_page() -> None:
    """Unknown keys of a batch item and of a list page (and its items) are kept in extra."""
    batch = structure_batch({"success": True, "item": {"uuid": "b1", "priority": "high"}})
    assert batch.extra == {"priority": "high"}
    page = structure_page(
        {
            "success": True,
            "message": "ok",
            "page": 1,
            "next_cursor": "abc",
            "items": [{"uuid": "d1", "new_item_key": True}],
        }
    )
    assert page.extra == {"message": "ok", "next_cursor": "abc"}
    assert page.items[0].extra == {"new_item_key": True}


# -- enums ------------------------------------------------------------------------------------


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


# -- intelligence -----------------------------------------------------------------------------


def test_intelligence_as_list_with_experts() -> None:
    """With ``experts=true`` intelligence is a list (SPEC §4.1): read as a tuple of results."""
    det = _det(
        intelligence=[
            {"uuid": "i1", "status": "completed", "description": "plain text"},
            {
                "uuid": "i2",
                "status": "completed",
                "description": {"fraud": {"type": "vishing", "confidence": "85"}},
                "created_at": "2024-01-15T10:30:05Z",
            },
        ]
    )
    assert isinstance(det.intelligence, tuple)
    first, second = det.intelligence
    assert first.uuid == "i1"
    assert first.description == "plain text"
    fraud = _some(_structured(second).fraud)
    assert fraud.type == "vishing"
    _assert_float(fraud.confidence, 85.0)
    assert _assert_utc(second.created_at) == datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)
    assert det.intelligence_results == det.intelligence
    assert not det.is_intelligence_pending


def test_intelligence_as_empty_list() -> None:
    """``experts=true`` with nothing completed yet sends ``[]``: an empty tuple, not None."""
    det = _det(intelligence=[])
    assert det.intelligence == ()
    assert det.intelligence_results == ()
    assert not det.is_intelligence_pending


def test_intelligence_structured_description() -> None:
    """The structured description reads every documented field, fraud/liveness/altered too."""
    det = _det(
        intelligence={
            "uuid": "i1",
            "status": "completed",
            "error_message": None,
            "detect_uuid": UUID,
            "description": {
                "speaker_info": "adult male",
                "language": "English",
                "dialect": "US",
                "emotion": "calm",
                "speaking_style": "scripted",
                "context": "phone call",
                "message": "wire the money",
                "abnormalities": "none",
                "transcription": "hello",
                "translation": None,
                "misinformation": "none",
                "fraud": {"type": "vishing", "confidence": 92, "reasoning": "urgency"},
                "liveness": {
                    "assessment": "not_real_person",
                    "confidence": 80.5,
                    "indicators": "flat prosody",
                },
                "digitally_altered": {
                    "detected": True,
                    "confidence": "60",
                    "alterations": "splice at 0:03",
                },
            },
        }
    )
    intel = _intel(det)
    assert intel.status is IntelligenceStatus.COMPLETED
    assert intel.detect_uuid == UUID
    desc = _structured(intel)
    assert desc == IntelligenceDescription(
        speaker_info="adult male",
        language="English",
        dialect="US",
        emotion="calm",
        speaking_style="scripted",
        context="phone call",
        message="wire the money",
        abnormalities="none",
        transcription="hello",
        translation=None,
        misinformation="none",
        fraud=Fraud(type="vishing", confidence=92.0, reasoning="urgency"),
        liveness=Liveness(assessment="not_real_person", confidence=80.5, indicators="flat prosody"),
        digitally_altered=DigitallyAltered(
            detected=True, confidence=60.0, alterations="splice at 0:03"
        ),
    )


@pytest.mark.parametrize("text", ["Adult male speaker...", "", "..."])
def test_intelligence_description_as_plain_string(text: str) -> None:
    """A plain-text description stays the string as sent."""
    assert _intel(_det(intelligence={"description": text})).description == text


@pytest.mark.parametrize(
    ("field", "wire", "expected"),
    [
        ("abnormalities", ["pitch jump", "robotic tone"], '["pitch jump", "robotic tone"]'),
        ("speaker_info", {"gender": "male", "age": 40}, '{"age": 40, "gender": "male"}'),
        ("transcription", ["line 1", "line 2"], '["line 1", "line 2"]'),
        ("language", ["en", "es"], '["en", "es"]'),
        ("misinformation", [], "[]"),
        ("emotion", "calm", "calm"),
        ("context", 42, "42"),
        ("message", True, "true"),
    ],
)
def test_intelligence_text_fields_sent_as_lists_keep_json_text(
    field: str, wire: object, expected: str
) -> None:
    """Description text fields sent as lists/objects are kept as their JSON text."""
    desc = _structured(_intel(_det(intelligence={"description": {field: wire}})))
    assert getattr(desc, field) == expected


def test_liveness_and_altered_text_fields_sent_as_lists() -> None:
    """``indicators`` and ``alterations`` sent as lists are kept as JSON text too."""
    desc = _structured(
        _intel(
            _det(
                intelligence={
                    "description": {
                        "liveness": {"indicators": ["breath", "pauses"]},
                        "digitally_altered": {"alterations": ["crop"]},
                    }
                }
            )
        )
    )
    assert _some(desc.liveness).indicators == '["breath", "pauses"]'
    assert _some(desc.digitally_altered).alterations == '["crop"]'


# -- watermark, provenance, reverse search, source tracing -------------------------------------


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


# -- datetimes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param("2024-01-15T10:30:00Z", JAN15, id="zulu"),
        pytest.param("2024-01-15T10:30:00.000Z", JAN15, id="zulu-millis"),
        pytest.param("2024-01-15T10:30:00.123456Z", JAN15.replace(microsecond=123456), id="micros"),
        pytest.param(
            "2024-01-15T10:30:00.123456789Z", JAN15.replace(microsecond=123456), id="nanos"
        ),
        pytest.param("2024-01-15T10:30:00+00:00", JAN15, id="offset-zero"),
        pytest.param("2024-01-15T12:30:00+02:00", JAN15, id="offset-plus"),
        pytest.param("2024-01-15T05:30:00.5-05:00", JAN15.replace(microsecond=500000), id="neg"),
        pytest.param("2024-01-15T10:30:00", JAN15, id="naive-is-utc"),
        pytest.param("2024-01-15 10:30:00", JAN15, id="space-separator"),
        pytest.param(1705314600, JAN15, id="epoch-seconds"),
        pytest.param(1705314600.25, JAN15.replace(microsecond=250000), id="epoch-float"),
        pytest.param(1705314600000, JAN15, id="epoch-millis"),
        pytest.param("1705314600", JAN15, id="epoch-seconds-string"),
        pytest.param("1705314600000", JAN15, id="epoch-millis-string"),
    ],
)
def test_datetime_shapes(wire: object, expected: datetime) -> None:
    """ISO (fractions, offsets, naive) and epoch s/ms all read as the right aware instant."""
    det = _det(created_at=wire, updated_at=wire, file_deleted_at=wire)
    for value in (det.created_at, det.updated_at, det.file_deleted_at):
        dt = _some(value)
        assert dt.tzinfo is not None
        assert dt == expected


@pytest.mark.parametrize("wire", ["2024-01-15T12:30:00+02:00", "2024-01-15T05:30:00-05:00"])
def test_datetime_with_offset_is_normalised_to_utc(wire: str) -> None:
    """Timestamps with a non-zero offset are converted to UTC ("always aware (UTC)")."""
    created = _some(_det(created_at=wire).created_at)
    assert created.utcoffset() == timedelta(0)
    assert created == JAN15


@pytest.mark.parametrize("wire", [None, "", "null"])
def test_file_deleted_at_null(wire: object) -> None:
    """``file_deleted_at: null`` (not purged yet) and null-ish strings read as None."""
    assert _det(file_deleted_at=wire).file_deleted_at is None


def test_intelligence_and_batch_datetimes_are_utc() -> None:
    """Nested and batch timestamps get the same treatment as top-level ones."""
    det = _det(intelligence={"created_at": 1705314600000})
    assert _assert_utc(_intel(det).created_at) == JAN15
    batch = structure_batch({"item": {"uuid": "b1", "created_at": "2024-01-15T10:30:00"}})
    assert _assert_utc(batch.created_at) == JAN15


# -- nulls and empties ------------------------------------------------------------------------

# Models with a tuple-of-model field (a null there reads as ()).
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
]
_REQUIRED = {Detection: {"uuid": UUID}, Batch: {"uuid": "b1"}}
_WIRE_NAMES = {"certainty_percent": "certainty (%)"}


@pytest.mark.parametrize(
    "cls",
    [pytest.param(cls, id=cls.__name__) for cls in _MODEL_CLASSES],
)
def test_null_for_every_optional_field_reads_as_default(cls: type[Any]) -> None:
    """Every optional field sent as null reads as its default (None, (), {})."""
    required = _REQUIRED.get(cls, {})
    wire = {
        _WIRE_NAMES.get(field.name, field.name): None
        for field in attrs.fields(cls)
        if field.name not in ("extra", "raw", *required)
    }
    assert structure({**wire, **required}, cls) == cls(**required)


@pytest.mark.parametrize(
    ("fields", "read"),
    [
        pytest.param(
            {"image_metrics": {"label": "Real", "reverse_image_search_sources": None}},
            lambda d: _some(d.image_metrics).reverse_image_search_sources,
            id="reverse_image_search_sources",
        ),
        pytest.param(
            {"video_metrics": {"label": "Real", "children": None}},
            lambda d: _some(d.video_metrics).children,
            id="video_metrics.children",
        ),
        pytest.param(
            {"video_metrics": {"children": [{"type": "Segment", "children": None}]}},
            lambda d: _some(d.video_metrics).children[0].children,
            id="segment.children",
        ),
        pytest.param(
            {"watermark": {"status": "completed", "metrics": {"model_results": None}}},
            lambda d: _some(_some(d.watermark).metrics).model_results,
            id="watermark.model_results",
        ),
    ],
)
def test_null_lists_of_models_read_as_empty(
    fields: dict[str, Any], read: Callable[[Detection], tuple[Any, ...]]
) -> None:
    """A null list of nested results (a leaf Segment's children, say) reads as ()."""
    assert read(_det(**fields)) == ()


@pytest.mark.parametrize(
    ("field", "wire"),
    [
        pytest.param(field, empty, id=f"{field}-{empty!r}")
        for field in ("detect_uuids", "completed_count", "total_files", "failed_count")
        for empty in (None, "")
    ],
)
def test_batch_null_fields(field: str, wire: object) -> None:
    """Null (or empty-string) batch counts and uuids read as None / ()."""
    batch = structure_batch({"success": True, "item": {"uuid": "b1", field: wire}})
    assert batch == Batch(uuid="b1")


BLOCKS = [
    "metrics",
    "image_metrics",
    "video_metrics",
    "audio_source_tracing",
    "watermark",
    "c2pa_manifest",
]


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("empty", [None, {}, [], ""], ids=["null", "{}", "[]", "empty-string"])
def test_empty_nested_blocks_read_as_none(block: str, empty: object) -> None:
    """An empty ``{}``, ``[]`` or ``""`` for a nested block means "not there yet": None."""
    det = _det(**{block: empty})
    assert getattr(det, block) is None
    assert det.raw[block] == empty


@pytest.mark.parametrize(
    ("empty", "expected"),
    [(None, None), ({}, None), ("", None), ([], ())],
    ids=["null", "{}", "empty-string", "[]"],
)
def test_empty_intelligence(empty: object, expected: tuple[()] | None) -> None:
    """Empty intelligence is None, except ``[]`` which is the empty experts list."""
    assert _det(intelligence=empty).intelligence == expected


@pytest.mark.parametrize("empty", [None, {}, [], ""], ids=["null", "{}", "[]", "empty-string"])
def test_empty_extra_params(empty: object) -> None:
    """extra_params sent null or empty reads as an empty mapping."""
    assert _det(extra_params=empty).extra_params == {}


@pytest.mark.parametrize("empty", [None, {}, [], ""], ids=["null", "{}", "[]", "empty-string"])
def test_empty_nested_sub_blocks(empty: object) -> None:
    """Empty sub-blocks (ifl, watermark metrics, description parts) read as None too."""
    det = _det(
        image_metrics={"label": "Real", "ifl": empty},
        watermark={"status": "processing", "metrics": empty},
        intelligence={
            "status": "processing",
            "description": {"fraud": empty, "liveness": empty, "digitally_altered": empty},
        },
    )
    assert _some(det.image_metrics).ifl is None
    assert _some(det.watermark).metrics is None
    desc = _structured(_intel(det))
    assert desc.fraud is None
    assert desc.liveness is None
    assert desc.digitally_altered is None


# -- pages and batches ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page_fields", "count", "has_next"),
    [
        pytest.param({"page": 1, "num_pages": 5}, 1, True, id="before-last"),
        pytest.param({"page": 5, "num_pages": 5}, 1, False, id="last"),
        pytest.param({"page": "2", "num_pages": "3"}, 1, True, id="string-numbers"),
        pytest.param({"page": 1, "page_size": 2}, 2, True, id="no-num_pages-full"),
        pytest.param({"page": 1, "page_size": 10}, 3, False, id="no-num_pages-short"),
        pytest.param({"page": 1, "page_size": "2"}, 2, True, id="no-num_pages-string-size"),
        pytest.param({"page": 1}, 3, False, id="nothing-to-judge"),
        pytest.param({"page": 1, "page_size": 0}, 0, False, id="zero-size"),
    ],
)
def test_list_page_has_next(page_fields: dict[str, Any], count: int, has_next: bool) -> None:
    """has_next follows num_pages, or page fullness when num_pages is missing."""
    items = [{"uuid": f"d{i}"} for i in range(count)]
    page = structure_page({"success": True, "items": items, **page_fields})
    assert len(page.items) == count
    assert page.has_next is has_next


def test_list_page_without_num_pages() -> None:
    """A page with no num_pages/total_count parses, with those fields None."""
    page = structure_page({"success": True, "page": 3, "page_size": 20, "items": []})
    assert page == Page(page=3, page_size=20)


def test_list_page_numbers_as_strings() -> None:
    """Paging numbers sent as strings (or integral floats) read as ints."""
    page = structure_page(
        {"page": "1", "num_pages": 5.0, "page_size": " 20 ", "total_count": "87", "items": []}
    )
    assert (page.page, page.num_pages, page.page_size, page.total_count) == (1, 5, 20, 87)
    assert all(type(n) is int for n in (page.page, page.num_pages, page.page_size))


def test_list_page_items_keep_raw() -> None:
    """Each list item is a full Detection that keeps its own raw item."""
    items = [
        {"uuid": "d1", "status": "completed", "metrics": {"label": "fake", "score": ["0.9"]}},
        {"uuid": "d2", "status": "processing", "media_type": "video"},
    ]
    page = structure_page({"success": True, "page": 1, "items": items})
    assert [d.uuid for d in page.items] == ["d1", "d2"]
    assert [d.raw for d in page.items] == items
    assert page.items[0].is_fake


def test_batch_with_string_counts() -> None:
    """Batch counts sent as strings or integral floats read as ints."""
    batch = structure_batch(
        {
            "success": True,
            "item": {
                "uuid": "b1",
                "status": "partially_failed",
                "total_files": "3",
                "completed_count": "2.0",
                "failed_count": 1.0,
                "detect_uuids": ["d1", "d2", "d3"],
                "created_at": "2024-01-15T10:30:00Z",
            },
        }
    )
    assert (batch.total_files, batch.completed_count, batch.failed_count) == (3, 2, 1)
    assert all(type(n) is int for n in (batch.total_files, batch.completed_count))
    assert batch.detect_uuids == ("d1", "d2", "d3")
    assert batch.is_terminal


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param({"uuid": "b1", "detect_uuids": "d1"}, Batch(uuid="b1", detect_uuids=("d1",))),
        pytest.param(
            {"batch_uuid": "b1", "detects": ["d1", "d2"]},
            Batch(uuid="b1", detect_uuids=("d1", "d2")),
            id="old-names",
        ),
        pytest.param({"id": "b1"}, Batch(uuid="b1"), id="id-for-uuid"),
        pytest.param(
            {"uuid": "b1", "detect_uuids": [1, 2]}, Batch(uuid="b1", detect_uuids=("1", "2"))
        ),
    ],
)
def test_batch_drift(item: dict[str, Any], expected: Batch) -> None:
    """Batch uuids as a lone string or numbers, and older key names, are read."""
    assert structure_batch({"success": True, "item": item}) == expected


def test_detection_without_envelope_and_uuid_drift() -> None:
    """A bare item (no envelope) parses; ``id`` stands in for a missing uuid; numbers → str."""
    assert structure_detection({"uuid": "d1", "status": "completed"}).is_completed
    assert structure_detection({"item": {"id": "d2"}}).uuid == "d2"
    assert structure_detection({"item": {"uuid": 12345}}).uuid == "12345"


def test_structure_entry_point_reads_any_model() -> None:
    """``structure(value, cls)`` reads a single block with the same leniency."""
    wire = {"label": "fake", "score": "0.9, 0.8", "aggregated_score": "85%"}
    audio = structure(wire, AudioMetrics)
    assert audio == AudioMetrics(label="fake", score=(0.9, 0.8), aggregated_score=0.85)


def test_unstructure_detection_returns_the_wire_item() -> None:
    """unstructure_detection gives back the wire item a Detection was read from."""
    body = _body(status="Completed", metrics={"score": ["0.9"]}, new_key=1)
    assert unstructure_detection(structure_detection(body)) == body["item"]


# =============================================================================================
# 3. Verdict and state conveniences
# =============================================================================================


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("fake", Verdict.FAKE),
        ("Fake", Verdict.FAKE),
        ("FAKE", Verdict.FAKE),
        (" fake ", Verdict.FAKE),
        ("Likely Fake", Verdict.FAKE),
        ("likely-fake", Verdict.FAKE),
        ("likely_fake", Verdict.FAKE),
        ("deepfake", Verdict.FAKE),
        ("synthetic", Verdict.FAKE),
        ("real", Verdict.REAL),
        ("Real", Verdict.REAL),
        ("REAL", Verdict.REAL),
        ("Likely Real", Verdict.REAL),
        ("authentic", Verdict.REAL),
        ("Authentic", Verdict.REAL),
        ("genuine", Verdict.REAL),
        (None, Verdict.UNKNOWN),
        ("", Verdict.UNKNOWN),
        ("weird", Verdict.UNKNOWN),
        ("inconclusive", Verdict.UNKNOWN),
        ("not fake", Verdict.UNKNOWN),
        (1, Verdict.UNKNOWN),
    ],
)
def test_normalize_label(label: object, expected: Verdict) -> None:
    """Labels fold case, separators and hedges into FAKE / REAL / UNKNOWN."""
    assert normalize_label(label) is expected


AUDIO_FAKE = {"label": "fake", "score": ["0.9", "0.7"], "aggregated_score": "0.8"}
AUDIO_REAL = {"label": "real", "score": [0.1, 0.3], "aggregated_score": 0.2}
IMAGE_FAKE = {"label": "Fake", "score": 0.97}
IMAGE_REAL = {"label": "Real", "score": 0.05}
VIDEO_FAKE = {"label": "Fake", "score": "0.95"}
VIDEO_REAL = {"label": "Real", "score": 0.1}


@pytest.mark.parametrize(
    ("fields", "verdict", "score", "label"),
    [
        pytest.param(
            {"media_type": "audio", "metrics": AUDIO_FAKE, "image_metrics": IMAGE_REAL},
            Verdict.FAKE,
            0.8,
            "fake",
            id="audio-fake-uses-aggregated",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": AUDIO_REAL, "video_metrics": VIDEO_FAKE},
            Verdict.REAL,
            0.2,
            "real",
            id="audio-ignores-other-blocks",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": {"label": "Fake", "score": [0.9, 0.5]}},
            Verdict.FAKE,
            0.7,
            "Fake",
            id="audio-window-mean",
        ),
        pytest.param(
            {"media_type": "image", "image_metrics": IMAGE_FAKE, "metrics": AUDIO_REAL},
            Verdict.FAKE,
            0.97,
            "Fake",
            id="image-fake",
        ),
        pytest.param(
            {"media_type": "image", "image_metrics": IMAGE_REAL, "metrics": AUDIO_FAKE},
            Verdict.REAL,
            0.05,
            "Real",
            id="image-ignores-metrics",
        ),
        pytest.param(
            {"media_type": "video", "metrics": AUDIO_REAL, "video_metrics": VIDEO_FAKE},
            Verdict.FAKE,
            0.95,
            "Fake",  # the label of the block that decided the verdict
            id="video-visual-fake",
        ),
        pytest.param(
            {"media_type": "video", "metrics": AUDIO_FAKE, "video_metrics": VIDEO_REAL},
            Verdict.FAKE,
            0.8,
            "fake",
            id="video-audio-fake",
        ),
        pytest.param(
            {"media_type": "video", "metrics": AUDIO_REAL, "video_metrics": VIDEO_REAL},
            Verdict.REAL,
            0.2,
            "real",
            id="video-both-real-max-score",
        ),
        pytest.param(
            {"media_type": "video", "metrics": AUDIO_FAKE, "video_metrics": VIDEO_FAKE},
            Verdict.FAKE,
            0.95,
            "fake",
            id="video-both-fake",
        ),
        pytest.param(
            {"media_type": "video", "modality": "audio", "metrics": AUDIO_REAL},
            Verdict.REAL,
            0.2,
            "real",
            id="video-audio-only-modality",
        ),
        pytest.param(
            {"media_type": "video", "modality": "video", "video_metrics": VIDEO_FAKE},
            Verdict.FAKE,
            0.95,
            "Fake",
            id="video-visual-only-modality",
        ),
        pytest.param(
            {"image_metrics": IMAGE_FAKE},
            Verdict.FAKE,
            0.97,
            "Fake",
            id="no-media-type-image-block",
        ),
        pytest.param(
            {"metrics": AUDIO_REAL}, Verdict.REAL, 0.2, "real", id="no-media-type-audio-block"
        ),
        pytest.param(
            {"video_metrics": VIDEO_REAL},
            Verdict.REAL,
            0.1,
            "Real",
            id="no-media-type-video-block",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": {}, "image_metrics": IMAGE_FAKE},
            Verdict.FAKE,
            0.97,
            "Fake",
            id="audio-without-its-block-falls-back",
        ),
        pytest.param(
            {"media_type": "hologram", "metrics": AUDIO_FAKE},
            Verdict.FAKE,
            0.8,
            "fake",
            id="unknown-media-type-falls-back",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": {"label": "Likely Fake", "aggregated_score": 0.6}},
            Verdict.FAKE,
            0.6,
            "Likely Fake",
            id="hedged-label",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": {"label": "weird", "aggregated_score": 0.5}},
            Verdict.UNKNOWN,
            0.5,
            "weird",
            id="unknown-label",
        ),
        pytest.param(
            {"media_type": "video", "metrics": AUDIO_REAL, "video_metrics": {"score": 0.3}},
            Verdict.REAL,
            0.3,
            "real",
            id="video-one-block-unlabelled",
        ),
        pytest.param({"media_type": "audio"}, Verdict.UNKNOWN, None, None, id="no-blocks"),
        pytest.param({}, Verdict.UNKNOWN, None, None, id="nothing"),
    ],
)
def test_verdict_score_and_label_per_media_type(
    fields: dict[str, Any], verdict: Verdict, score: float | None, label: str | None
) -> None:
    """verdict/is_fake/score/label speak through the blocks that apply to the media type."""
    det = _det(**fields)
    assert det.verdict is verdict
    assert det.is_fake is (verdict is Verdict.FAKE)
    if score is None:
        assert det.score is None
    else:
        _assert_float(det.score, score)
    assert det.label == label


@pytest.mark.parametrize("media_type", ["audio", "video"])
def test_score_ignores_null_windows(media_type: str) -> None:
    """The window mean skips null (NaN) windows instead of turning the score into NaN."""
    det = _det(media_type=media_type, metrics={"label": "fake", "score": [0.9, None, 0.7]})
    _assert_float(det.score, 0.8)


def test_block_verdicts() -> None:
    """Each metric block and video node folds its own label/conclusion into a Verdict."""
    det = _det(
        metrics={"label": "FAKE"},
        image_metrics={"label": "authentic"},
        video_metrics={"label": "?", "children": [{"conclusion": "Real"}]},
    )
    assert _some(det.metrics).verdict is Verdict.FAKE
    assert _some(det.image_metrics).verdict is Verdict.REAL
    video = _some(det.video_metrics)
    assert video.verdict is Verdict.UNKNOWN
    assert video.children[0].verdict is Verdict.REAL


@pytest.mark.parametrize(
    ("status", "terminal", "completed", "failed"),
    [
        (None, False, False, False),
        ("processing", False, False, False),
        ("pending", False, False, False),
        ("completed", True, True, False),
        ("Completed", True, True, False),
        ("failed", True, False, True),
        ("error", True, False, True),
        ("cancelled", True, False, True),
        ("bogus", False, False, False),
    ],
)
def test_detection_state(status: str | None, terminal: bool, completed: bool, failed: bool) -> None:
    """is_terminal/is_completed/is_failed follow the status; unknown or missing is not final."""
    det = _det(status=status)
    assert det.is_terminal is terminal
    assert det.is_completed is completed
    assert det.is_failed is failed


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (None, False),
        ("processing", False),
        ("completed", True),
        ("partially_failed", True),
        ("failed", True),
        ("bogus", False),
    ],
)
def test_batch_is_terminal(status: str | None, terminal: bool) -> None:
    """A batch is final once completed, partially_failed or failed (SPEC §8)."""
    batch = structure_batch({"success": True, "item": {"uuid": "b1", "status": status}})
    assert batch.is_terminal is terminal


@pytest.mark.parametrize(
    ("enum_cls", "terminal"),
    [
        (DetectionStatus, {"completed", "failed"}),
        (BatchStatus, {"completed", "partially_failed", "failed"}),
        (IntelligenceStatus, {"completed", "failed"}),
        (WatermarkStatus, {"completed", "failed"}),
    ],
)
def test_status_enums_terminal_sets(enum_cls: type[Any], terminal: set[str]) -> None:
    """Each status enum's terminal set matches SPEC §11."""
    assert {member.value for member in enum_cls if member.is_terminal} == terminal


@pytest.mark.parametrize(
    ("intelligence", "count"),
    [
        (None, 0),
        ({"uuid": "i1", "status": "completed"}, 1),
        ([{"uuid": "i1"}, {"uuid": "i2"}], 2),
        ([], 0),
    ],
)
def test_intelligence_results(intelligence: object, count: int) -> None:
    """intelligence_results is a tuple whether the API sent an object, a list or null."""
    results = _det(intelligence=intelligence).intelligence_results
    assert isinstance(results, tuple)
    assert len(results) == count
    assert all(isinstance(r, Intelligence) for r in results)


@pytest.mark.parametrize(
    ("intelligence", "pending"),
    [
        pytest.param(None, False, id="none"),
        pytest.param({"status": "processing"}, True, id="processing"),
        pytest.param({"status": "pending"}, True, id="pending"),
        pytest.param({"status": "completed", "description": "x"}, False, id="completed"),
        pytest.param({"status": "failed", "error_message": "boom"}, False, id="failed"),
        pytest.param({"status": "bogus"}, True, id="unknown-status"),
        pytest.param({"description": "old finished result"}, False, id="no-status-described"),
        pytest.param({"uuid": "i1"}, False, id="no-status-no-description"),  # nothing to wait on
        pytest.param([{"status": "completed"}], False, id="experts-list"),
        pytest.param([], False, id="experts-empty"),
    ],
)
def test_is_intelligence_pending(intelligence: object, pending: bool) -> None:
    """is_intelligence_pending is True only while a single result is still running."""
    det = _det(status="completed", intelligence=intelligence)
    assert det.is_intelligence_pending is pending
    assert det.is_terminal  # independent of the detection's own status (SPEC §11)


@pytest.mark.parametrize(
    ("watermark", "pending"),
    [
        (None, False),
        ({"status": "pending"}, True),
        ({"status": "processing"}, True),
        ({"status": "completed", "metrics": {"has_watermark": False}}, False),
        ({"status": "failed", "error_message": "too large"}, False),
        ({"status": "stuck"}, True),
        ({"error_message": "no status"}, False),
    ],
)
def test_is_watermark_pending(watermark: object, pending: bool) -> None:
    """is_watermark_pending is True while the watermark child is pending or processing."""
    assert _det(watermark=watermark).is_watermark_pending is pending


# =============================================================================================
# 4. Unreadable bodies
# =============================================================================================

BAD_DETECTIONS = [
    pytest.param(
        _body(metrics={"score": ["0.9", "abc"]}), "$.item.metrics.score", id="window-score"
    ),
    pytest.param(_body(metrics={"score": "abc"}), "$.item.metrics.score", id="lone-score"),
    pytest.param(
        _body(metrics={"aggregated_score": "abc"}),
        "$.item.metrics.aggregated_score",
        id="aggregated-score",
    ),
    pytest.param(
        _body(metrics={"aggregated_score": True}),
        "$.item.metrics.aggregated_score",
        id="boolean-score",
    ),
    pytest.param(
        _body(metrics={"consistency": {"x": 1}}), "$.item.metrics.consistency", id="object-score"
    ),
    pytest.param(_body(created_at="not a date"), "$.item.created_at", id="created_at"),
    pytest.param(_body(updated_at=True), "$.item.updated_at", id="updated_at-bool"),
    pytest.param(_body(file_deleted_at=[2024]), "$.item.file_deleted_at", id="file_deleted_at"),
    pytest.param({"success": True, "item": [1, 2]}, "$.item", id="item-list"),
    pytest.param({"success": True, "item": "DETECTION_UUID"}, "$.item", id="item-string"),
    pytest.param({"success": True, "item": None}, "$.item", id="item-null"),
    pytest.param({"success": True, "item": 7}, "$.item", id="item-number"),
    pytest.param({"success": True, "item": {"status": "completed"}}, "$.item.uuid", id="no-uuid"),
    pytest.param({"success": True}, "$.item", id="no-item"),
    pytest.param({"success": False, "message": "Detect not found"}, "$.item", id="error-body"),
    pytest.param([1, 2], "$.item", id="body-list"),
    pytest.param("<html>502</html>", "$.item", id="body-text"),
    pytest.param(_body(metrics=[{"label": "fake"}]), "$.item.metrics", id="metrics-list"),
    pytest.param(_body(metrics="fake"), "$.item.metrics", id="metrics-string"),
    pytest.param(_body(image_metrics=[1]), "$.item.image_metrics", id="image-metrics-list"),
    pytest.param(
        _body(video_metrics={"children": [{"score": "x"}]}),
        "$.item.video_metrics.children[0].score",
        id="video-node",
    ),
    pytest.param(
        _body(video_metrics={"children": [{}, {"children": [{"timestamp": "soon"}]}]}),
        "$.item.video_metrics.children[1].children[0].timestamp",
        id="nested-video-node",
    ),
    pytest.param(
        _body(video_metrics={"children": [5]}),
        "$.item.video_metrics.children[0]",
        id="video-node-not-object",
    ),
    pytest.param(_body(zero_retention_mode="maybe"), "$.item.zero_retention_mode", id="bool"),
    pytest.param(_body(face_only=2), "$.item.face_only", id="bool-2"),
    pytest.param(_body(duration="inf"), "$.item.duration", id="infinite"),
    pytest.param(_body(duration="5 min"), "$.item.duration", id="unknown-unit"),
    pytest.param(_body(intelligence="abc"), "$.item.intelligence", id="intelligence-string"),
    pytest.param(_body(intelligence=["x"]), "$.item.intelligence", id="intelligence-list-str"),
    pytest.param(
        _body(intelligence={"description": {"fraud": {"confidence": "high"}}}),
        "$.item.intelligence.description.fraud.confidence",
        id="fraud-confidence",
    ),
    pytest.param(
        _body(intelligence={"created_at": "yesterday"}),
        "$.item.intelligence.created_at",
        id="intelligence-created_at",
    ),
    pytest.param(_body(extra_params=[1]), "$.item.extra_params", id="extra-params-list"),
    pytest.param(
        _body(image_metrics={"reverse_image_search_sources": [{"similarity": "close"}]}),
        "$.item.image_metrics.reverse_image_search_sources[0].similarity",
        id="reverse-search-similarity",
    ),
    pytest.param(
        _body(image_metrics={"children": {"a": 1}}), "$.item.image_metrics.children", id="children"
    ),
    pytest.param(
        _body(watermark={"metrics": {"model_results": [{"confidence": "?"}]}}),
        "$.item.watermark.metrics.model_results[0].confidence",
        id="watermark-model-result",
    ),
]


@pytest.mark.parametrize(("body", "path"), BAD_DETECTIONS)
def test_unreadable_detection_raises_response_validation_error(body: Any, path: str) -> None:
    """An unreadable body raises ResponseValidationError naming the field and keeping the body."""
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_detection(body)
    err = excinfo.value
    assert type(err) is ResponseValidationError  # never a bare cattrs error
    assert _names_field(err.path, path)
    assert err.body is body
    assert all(isinstance(problem, str) for problem in err.problems)
    where = [problem.rsplit(" @ ", 1)[-1] for problem in err.problems]
    assert all(w.startswith("$") for w in where)
    if err.problems:
        assert any(_names_field(w, path) for w in where)
    assert str(err)


@pytest.mark.parametrize(
    ("score", "path"),
    [
        (["0.9", "abc"], "$.item.metrics.score[1]"),
        ("abc", "$.item.metrics.score[0]"),
        ("0.9, 0.8, oops", "$.item.metrics.score[2]"),
    ],
)
def test_bad_window_score_path_names_the_window(score: object, path: str) -> None:
    """The error path of a bad window score names the window (errors.py: ``score[1]``)."""
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_detection(_body(metrics={"score": score}))
    assert excinfo.value.path == path


def test_bad_intelligence_list_entry_path_names_the_entry() -> None:
    """The error path for a bad experts-list entry includes the entry's index."""
    body = _body(intelligence=[{"uuid": "i1"}, {"created_at": "yesterday"}])
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_detection(body)
    assert excinfo.value.path == "$.item.intelligence[1].created_at"


@pytest.mark.parametrize("uuid", [None, {"id": "x"}, True, ["d1"]], ids=repr)
@pytest.mark.parametrize("reader", [structure_detection, structure_batch])
def test_unusable_uuid_is_rejected(reader: Callable[[Any], object], uuid: object) -> None:
    """A null/object/boolean uuid is unreadable: ResponseValidationError at $.item.uuid."""
    with pytest.raises(ResponseValidationError) as excinfo:
        reader({"success": True, "item": {"uuid": uuid}})
    assert excinfo.value.path == "$.item.uuid"


BAD_PAGES = [
    pytest.param({"items": [{"uuid": "d1"}, {"status": "x"}]}, "$.items[1].uuid", id="no-uuid"),
    pytest.param(
        {"items": [{"uuid": "d1", "metrics": {"score": "q"}}]},
        "$.items[0].metrics.score",
        id="item-score",
    ),
    pytest.param({"items": [1]}, "$.items[0]", id="item-not-object"),
    pytest.param({"page": "first", "items": []}, "$.page", id="page"),
    pytest.param({"num_pages": "x", "items": []}, "$.num_pages", id="num_pages"),
    pytest.param({"page_size": 2.5, "items": []}, "$.page_size", id="fractional"),
    pytest.param([], "$", id="list"),
    pytest.param("nope", "$", id="text"),
    pytest.param(None, "$", id="null"),
]


@pytest.mark.parametrize(("body", "path"), BAD_PAGES)
def test_unreadable_page_raises_response_validation_error(body: Any, path: str) -> None:
    """An unreadable list page raises ResponseValidationError with the path and the body."""
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_page(body)
    assert type(excinfo.value) is ResponseValidationError
    assert _names_field(excinfo.value.path, path)
    assert excinfo.value.body is body


BAD_BATCHES = [
    pytest.param({"item": {"uuid": "b1", "total_files": "x"}}, "$.item.total_files", id="count"),
    pytest.param({"item": {"uuid": "b1", "failed_count": "1.5"}}, "$.item.failed_count", id="frac"),
    pytest.param({"item": {"uuid": "b1", "completed_count": True}}, "$.item.completed_count"),
    pytest.param({"item": {"status": "completed"}}, "$.item.uuid", id="no-uuid"),
    pytest.param({"item": {"uuid": "b1", "detect_uuids": {"a": 1}}}, "$.item.detect_uuids"),
    pytest.param({"item": {"uuid": "b1", "created_at": "later"}}, "$.item.created_at"),
    pytest.param({"item": []}, "$.item", id="item-list"),
    pytest.param({"success": True}, "$.item", id="no-item"),
]


@pytest.mark.parametrize(("body", "path"), BAD_BATCHES)
def test_unreadable_batch_raises_response_validation_error(body: Any, path: str) -> None:
    """An unreadable batch raises ResponseValidationError with the path and the body."""
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_batch(body)
    assert type(excinfo.value) is ResponseValidationError
    assert excinfo.value.path == path
    assert excinfo.value.body is body


def test_validation_error_carries_uuid_and_every_problem() -> None:
    """The error keeps the item's uuid and lists every bad field, not just the first."""
    body = _body(created_at="not a date", metrics={"aggregated_score": "abc"})
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_detection(body)
    err = excinfo.value
    assert err.uuid == UUID
    assert len(err.problems) == 2
    joined = "\n".join(err.problems)
    assert "$.item.created_at" in joined
    assert "$.item.metrics.aggregated_score" in joined
    assert err.path in ("$.item.created_at", "$.item.metrics.aggregated_score")


def test_structure_entry_point_uses_the_given_path() -> None:
    """``structure(..., path=)`` prefixes the error path and keeps the value as the body."""
    value = {"label": "fake", "aggregated_score": "abc"}
    with pytest.raises(ResponseValidationError) as excinfo:
        structure(value, AudioMetrics, path="$.item.metrics")
    assert excinfo.value.path == "$.item.metrics.aggregated_score"
    assert excinfo.value.body is value


def test_validation_error_pickles() -> None:
    """A ResponseValidationError survives pickling with path, problems, body, message, uuid."""
    body = _body(metrics={"aggregated_score": "abc"})
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_detection(body)
    err = excinfo.value
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is ResponseValidationError
    assert copy.path == err.path == "$.item.metrics.aggregated_score"
    assert copy.problems == err.problems
    assert copy.body == body
    assert copy.message == err.message
    assert str(copy) == str(err)
    assert copy.uuid == UUID


def test_envelope_error_pickles() -> None:
    """The no-item error (raised before cattrs runs) pickles too."""
    body = {"success": False, "message": "Detect not found"}
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_detection(body)
    copy = pickle.loads(pickle.dumps(excinfo.value))
    assert (copy.path, copy.body, copy.problems) == ("$.item", body, [])
    assert str(copy) == str(excinfo.value)


# =============================================================================================
# 5. Immutability and repr
# =============================================================================================


def _instance(cls: type[Any]) -> Any:
    """A default instance of a model class."""
    return cls(**_REQUIRED.get(cls, {}))


@pytest.mark.parametrize("cls", _MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_models_are_frozen(cls: type[Any]) -> None:
    """Every model is frozen: assigning any attribute raises FrozenInstanceError."""
    obj = _instance(cls)
    for field in attrs.fields(cls):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(obj, field.name, None)


def test_every_public_model_class_is_covered() -> None:
    """The frozen/null checks above cover every attrs class that models exports."""
    exported = {getattr(models, name) for name in models.__all__}
    assert {obj for obj in exported if attrs.has(obj)} == set(_MODEL_CLASSES)


def test_parsed_detection_is_frozen() -> None:
    """A parsed Detection (and its nested blocks) cannot be modified by assignment."""
    det = structure_detection(_body(status="processing", metrics={"label": "fake"}))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        det.status = DetectionStatus.COMPLETED  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        _some(det.metrics).label = "real"  # type: ignore[misc]


def test_detection_repr_omits_raw_extra_and_heatmaps() -> None:
    """repr(Detection) shows the result but not raw, extra or (possibly huge) heatmaps."""
    heatmap = "data:image/png;base64,HEATMAPSENTINEL"
    det = _det(
        status="completed",
        media_type="audio",
        metrics={"label": "fake", "aggregated_score": 0.8, "image": heatmap},
        raw_only_key="RAWSENTINEL",
    )
    text = repr(det)
    assert "raw=" not in text
    assert "extra=" not in text
    assert "RAWSENTINEL" not in text
    assert "HEATMAPSENTINEL" not in text
    assert UUID in text
    assert "aggregated_score=0.8" in text


def test_raw_does_not_affect_equality() -> None:
    """Two detections that differ only in raw compare equal (raw is eq=False)."""
    first = structure_detection(_body(status="completed"))
    second = structure_detection(_body(status="Completed"))
    assert first.raw != second.raw
    assert first == second


@pytest.mark.parametrize("wire", ["5.2s", "5.2 s", "5.2 sec", "5.2 seconds", "5.2S"])
def test_seconds_suffix_reads_as_seconds(wire: str) -> None:
    """Durations sent with a seconds unit ("5.2s") read as the number of seconds."""
    assert structure_detection(_body(duration=wire)).duration == 5.2


def test_intelligence_confidences_stay_in_percent() -> None:
    """Fraud/liveness confidences are 0-100: "90%" reads as 90, not 0.9."""
    description = {
        "fraud": {"type": "vishing", "confidence": "90%"},
        "liveness": {"assessment": "real_person", "confidence": "85"},
        "digitally_altered": {"detected": "false", "confidence": 12},
    }
    det = structure_detection(
        _body(intelligence={"status": "completed", "description": description})
    )
    assert isinstance(det.intelligence, Intelligence)
    structured = det.intelligence.description
    assert isinstance(structured, IntelligenceDescription)
    assert structured.fraud is not None and structured.fraud.confidence == 90.0
    assert structured.liveness is not None and structured.liveness.confidence == 85.0
    assert structured.digitally_altered is not None
    assert structured.digitally_altered.detected is False


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
