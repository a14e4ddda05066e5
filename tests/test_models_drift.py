"""Drifted number and flag shapes (SPEC.md §3.4-§16): strings, percentages, old names.

Bodies written here after what SPEC.md describes or a live service plausibly sends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from model_helpers import UUID, _assert_float, _body, _det, _intel, _some, _structured

from resemble_detect_async._converter import structure_batch, structure_detection, structure_page
from resemble_detect_async.models import Detection

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
    ("fields", "expected", "problem"),
    [
        pytest.param(
            {"privacy_mode": True, "zero_retention_mode": False},
            False,
            "$.item.privacy_mode",
            id="disagree",
        ),
        pytest.param(
            {"privacy_mode": "maybe", "zero_retention_mode": True},
            True,
            "$.item.privacy_mode",
            id="old-unreadable",
        ),
        pytest.param(
            {"privacy_mode": "true", "zero_retention_mode": True}, True, None, id="agree-as-read"
        ),
        pytest.param({"privacy_mode": 0, "zero_retention_mode": False}, False, None, id="0-false"),
    ],
)
def test_old_name_beside_the_new_one(
    fields: dict[str, Any], expected: bool, problem: str | None
) -> None:
    """The current name's value is kept; an old name that disagrees is a Problem; raw has both."""
    det = _det(status="completed", **fields)
    assert det.zero_retention_mode is expected
    assert [(p.path, p.value) for p in det.problems] == (
        [(problem, fields["privacy_mode"])] if problem else []
    )
    assert det.raw == {"uuid": UUID, "status": "completed", **fields}
    assert "privacy_mode" not in det.extra


def test_uuid_beside_a_different_id_keeps_the_uuid() -> None:
    """An ``id`` beside a different ``uuid`` does not fail the read: uuid wins, id is a Problem."""
    det = structure_detection({"item": {"uuid": "d1", "id": "d2", "status": "completed"}})
    assert det.uuid == "d1" and det.is_completed
    assert [(p.path, p.value) for p in det.problems] == [("$.item.id", "d2")]
    same = structure_detection({"item": {"uuid": "12", "id": 12}})
    assert same.problems == ()


def test_batch_old_names_beside_new_ones() -> None:
    """Batch ``batch_uuid``/``detects`` that disagree with the new names are Problems."""
    item = {"uuid": "b1", "batch_uuid": "b0", "detect_uuids": ["d1"], "detects": ["d1", "d2"]}
    batch = structure_batch({"item": item})
    assert (batch.uuid, batch.detect_uuids) == ("b1", ("d1",))
    assert [p.path for p in batch.problems] == ["$.item.batch_uuid", "$.item.detects"]
    assert batch.raw is item


def test_old_name_conflict_does_not_hide_other_odd_values() -> None:
    """A disagreeing old name and an odd score in one detection are both listed."""
    det = _det(privacy_mode=True, zero_retention_mode=False, metrics={"aggregated_score": "%"})
    assert det.zero_retention_mode is False
    assert _some(det.metrics).aggregated_score is None
    assert [p.path for p in det.problems] == [
        "$.item.privacy_mode",
        "$.item.metrics.aggregated_score",
    ]


def test_old_name_conflict_in_a_page_item_names_the_item() -> None:
    """In a page, the conflict's path names the item; the item and the page list it."""
    items = [{"uuid": "d0"}, {"uuid": "d1", "privacy_mode": False, "zero_retention_mode": True}]
    page = structure_page({"page": 1, "items": items})
    assert page.items[1].zero_retention_mode is True
    assert [p.path for p in page.problems] == ["$.items[1].privacy_mode"]
    assert page.items[1].problems == page.problems and page.items[0].problems == ()
    assert page.items[1].raw is items[1]


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


@pytest.mark.parametrize("wire", ["5.2s", "5.2 s", "5.2 sec", "5.2 seconds", "5.2S"])
def test_seconds_suffix_reads_as_seconds(wire: str) -> None:
    """Durations sent with a seconds unit ("5.2s") read as the number of seconds."""
    assert structure_detection(_body(duration=wire)).duration == 5.2
