"""Odd values never lose a detection (issue 8).

The schema types scores as free strings (API notes §4.2), so a score can hold ``"%"`` or
``"¡"``. Such a value reads as None (NaN for one window score; an entry left out of a list of
objects), is listed on the model's ``problems`` with its JSON path, and is logged once; the
rest of the detection reads as usual and ``raw`` stays as sent. Only an unreadable uuid or
status (or a page's items) still raises (see test_models_unreadable.py).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from model_helpers import UUID, _det, _some

import resemble_detect_async
from resemble_detect_async import DetectClient, Verdict
from resemble_detect_async._converter import (
    structure,
    structure_batch,
    structure_detection,
    structure_page,
)
from resemble_detect_async.models import Detection, Problem
from resemble_detect_async.testing import FakeDetectAPI

# --- many schema-shaped bodies with odd strings in every number field ------------------------

# A detection with every block the OpenAPI schema describes, numbers as the schema types them
# (window scores, consistency, aggregated_score and "certainty (%)" as strings).
TEMPLATE: dict[str, Any] = {
    "uuid": UUID,
    "status": "completed",
    "media_type": "video",
    "metrics": {
        "label": "fake",
        "score": ["0.91", "0.88", "0.12"],
        "consistency": "0.95",
        "aggregated_score": "0.64",
        "image": "https://example.com/heatmap.png",
    },
    "image_metrics": {
        "type": "FinalResult",
        "label": "Fake",
        "score": 0.93,
        "image": "https://example.com/image.png",
        "children": [{"type": "facial", "score": 0.9}],  # free-form: never read as numbers
        "ifl": {"score": 0.7, "heatmap": "https://example.com/ifl.png"},
        "reverse_image_search_sources": [
            {"url": "https://e.com/a", "title": "a", "verdict": "known_fake", "similarity": 0.97}
        ],
    },
    "video_metrics": {
        "label": "Fake",
        "score": 0.81,
        "certainty": 0.9,
        "children": [
            {
                "type": "VideoResult",
                "conclusion": "Fake",
                "score": 0.8,
                "certainty": 0.9,
                "certainty (%)": "90%",
                "children": [
                    {
                        "type": "ImageResult",
                        "conclusion": "Fake",
                        "score": 0.7,
                        "certainty": 0.8,
                        "certainty (%)": "80.0",
                        "timestamp": 1.5,
                        "children": [
                            {
                                "type": "Segment",
                                "conclusion": "Fake",
                                "score": 0.6,
                                "certainty": 0.7,
                                "certainty (%)": "70%",
                            }
                        ],
                    }
                ],
            }
        ],
    },
    "audio_source_tracing": {"label": "resemble_ai", "error_message": None},
    "intelligence": {
        "uuid": "i-1",
        "status": "completed",
        "description": {
            "speaker_info": "adult",
            "fraud": {"type": "impersonation", "confidence": 85, "reasoning": "r"},
            "liveness": {"assessment": "real_person", "confidence": 90, "indicators": "i"},
            "digitally_altered": {"detected": False, "confidence": 12, "alterations": "none"},
        },
        "created_at": "2026-03-01T10:00:00Z",
        "detect_uuid": UUID,
    },
    "watermark": {
        "status": "completed",
        "metrics": {
            "overall_status": "not_detected",
            "detected_model_versions": [],
            "has_watermark": False,
            "detection_score": 0.4,
            "confidence": 0.3,
            "model_results": [
                {"model_version": "perth_v2", "status": "completed", "confidence": 0.2}
            ],
        },
    },
    "c2pa_manifest": {"validation_state": "NotPresent", "message": None},
    "url": "https://example.com/media.mp4",
    "filename": "media.mp4",
    "duration": 8.2,
    "zero_retention_mode": False,
    "created_at": "2026-03-01T10:00:00Z",
    "updated_at": "2026-03-01T10:00:05Z",
}
NUMBER_KEYS = frozenset(
    {
        "score",
        "consistency",
        "aggregated_score",
        "certainty",
        "certainty (%)",
        "timestamp",
        "duration",
        "confidence",
        "detection_score",
        "similarity",
    }
)
FREE_FORM = ("image_metrics", "children")  # kept as sent, so never odd
# Strings no rule reads as a number ("", "n/a" and "null" are read: they mean "no value").
ODD = ["%", "¡", "H", "n/a?", "high", "0.9.1", "½", "∞", "1e999", "true"]
ATTRIBUTE = {"certainty (%)": "certainty_percent"}

Path = tuple[str | int, ...]


def _number_paths(node: Any, path: Path = ()) -> Iterator[Path]:
    """The path of every typed number in ``node`` (each window of a score list on its own)."""
    if path[:2] == FREE_FORM:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NUMBER_KEYS and isinstance(value, list):
                yield from ((*path, key, index) for index in range(len(value)))
            elif key in NUMBER_KEYS:
                yield (*path, key)
            else:
                yield from _number_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _number_paths(value, (*path, index))


def _json_path(prefix: str, path: Path) -> str:
    """``$.item`` + ``("video_metrics", "children", 0, "certainty (%)")`` as a JSON path."""
    parts = [prefix]
    for key in path:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif key.isidentifier():
            parts.append(f".{key}")
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)


def _with(data: Any, path: Path, value: Any) -> Any:
    """A deep copy of ``data`` with ``value`` at ``path``."""
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def _blanked(model: Any, path: Path) -> Any:
    """``model`` with the attribute (or window score) at the wire ``path`` read as None/NaN."""
    key, rest = path[0], path[1:]
    if isinstance(model, tuple):
        assert isinstance(key, int)
        inner = _blanked(model[key], rest) if rest else math.nan
        return (*model[:key], inner, *model[key + 1 :])
    name = ATTRIBUTE.get(str(key), str(key))
    current = getattr(model, name)
    return attrs.evolve(model, **{name: _blanked(current, rest) if rest else None})


NUMBER_PATHS = list(_number_paths(TEMPLATE))
CASES = [
    pytest.param(path, odd, id=f"{_json_path('$', path)}={odd}")
    for path in NUMBER_PATHS
    for odd in ODD
]  # 27 fields x 10 strings


def test_every_number_field_odd_at_once_still_reads() -> None:
    """With all 27 number fields of every block odd at once, the detection still reads."""
    clean = structure_detection({"success": True, "item": TEMPLATE})
    assert clean.problems == ()
    item = TEMPLATE
    for index, path in enumerate(NUMBER_PATHS):
        item = _with(item, path, ODD[index % len(ODD)])
    detection = structure_detection({"success": True, "item": item})
    expected = clean
    for path in NUMBER_PATHS:
        expected = _blanked(expected, path)
    assert detection == expected
    found = sorted(p.path for p in detection.problems)
    assert found == sorted(_json_path("$.item", path) for path in NUMBER_PATHS)
    assert {path[0] for path in NUMBER_PATHS} == {
        "metrics",
        "image_metrics",
        "video_metrics",
        "intelligence",
        "watermark",
        "duration",
    }
    assert detection.is_completed and detection.verdict is Verdict.FAKE


@pytest.mark.parametrize(("path", "odd"), CASES)
def test_odd_string_in_any_number_field_never_loses_the_detection(path: Path, odd: str) -> None:
    """An odd string in any number field reads as None (a window as NaN), with one Problem."""
    clean = structure_detection({"success": True, "item": TEMPLATE})
    body = {"success": True, "item": _with(TEMPLATE, path, odd)}
    sent = copy.deepcopy(body)

    detection = structure_detection(body)

    assert detection == _blanked(clean, path)  # every other field read as usual
    assert [(p.path, p.value) for p in detection.problems] == [(_json_path("$.item", path), odd)]
    assert detection.problems[0].reason
    assert detection.raw is body["item"]
    assert body == sent
    assert detection.verdict is Verdict.FAKE


@pytest.mark.parametrize(
    ("path", "odd"),
    [(path, ODD[index % len(ODD)]) for index, path in enumerate(NUMBER_PATHS)],
    ids=[_json_path("$", path) for path in NUMBER_PATHS],
)
def test_odd_string_in_a_page_item_is_listed_on_the_item_and_the_page(path: Path, odd: str) -> None:
    """In a page, the odd value's path names the item; the item and the page both list it."""
    other = {"uuid": "d0", "status": "completed"}
    body = {"page": 1, "items": [other, _with(TEMPLATE, path, odd), other]}
    sent = copy.deepcopy(body)

    page = structure_page(body)

    expected = _json_path("$.items[1]", path)
    assert [problem.path for problem in page.problems] == [expected]
    assert page.items[1].problems == page.problems
    assert page.items[0].problems == page.items[2].problems == ()
    assert [item.raw for item in page.items] == body["items"]
    pairs = zip(page.items, body["items"], strict=True)
    assert all(item.raw is sent_item for item, sent_item in pairs)
    assert body == sent


PAGE = {"page": 2, "num_pages": 3, "page_size": 10, "total_count": 21, "items": []}
BATCH = {"uuid": "b1", "status": "processing", "total_files": 3, "completed_count": 1}


@pytest.mark.parametrize("odd", [odd for odd in ODD if odd != "1e999"])  # 1e999 is whole
@pytest.mark.parametrize("field", ["page", "num_pages", "page_size", "total_count"])
def test_odd_string_in_a_page_count_reads_as_none(field: str, odd: str) -> None:
    """An odd string in a page number or count reads as None, with a Problem."""
    page = structure_page({**PAGE, field: odd})
    assert [(p.path, p.value) for p in page.problems] == [(f"$.{field}", odd)]
    blanked: dict[str, Any] = {field: None}
    assert page == attrs.evolve(structure_page(PAGE), **blanked)


@pytest.mark.parametrize("odd", [odd for odd in ODD if odd != "1e999"])
@pytest.mark.parametrize("field", ["total_files", "completed_count", "failed_count"])
def test_odd_string_in_a_batch_count_reads_as_none(field: str, odd: str) -> None:
    """An odd string in a batch count reads as None, with a Problem; the status survives."""
    body = {"item": {**BATCH, field: odd}}
    batch = structure_batch(body)
    assert [(p.path, p.value) for p in batch.problems] == [(f"$.item.{field}", odd)]
    assert getattr(batch, field) is None
    assert batch.status is not None and batch.status.value == "processing"
    assert batch.raw is body["item"]


# --- how each kind of field reads around an odd value -------------------------------------------


def test_unreadable_nested_block_reads_as_none_and_keeps_its_siblings() -> None:
    """A block that is not an object reads as None; the other blocks read as usual."""
    det = _det(
        status="completed",
        media_type="video",
        metrics=["not", "an", "object"],
        video_metrics={"label": "Fake", "score": "0.8"},
    )
    assert det.metrics is None
    assert _some(det.video_metrics).score == 0.8
    assert det.verdict is Verdict.FAKE
    [problem] = det.problems
    assert (problem.path, problem.value) == ("$.item.metrics", ["not", "an", "object"])


def test_bad_windows_read_as_nan_in_place_and_are_each_listed() -> None:
    """Each bad window is NaN in its place (window i stays frame i) with a Problem; null is not."""
    det = _det(metrics={"label": "fake", "score": ["0.9", "x", None, "n/a", "0.7", "%"]})
    score = _some(det.metrics).score
    assert [None if math.isnan(s) else s for s in score] == [0.9, None, None, None, 0.7, None]
    assert [p.path for p in det.problems] == ["$.item.metrics.score[1]", "$.item.metrics.score[5]"]
    assert [p.value for p in det.problems] == ["x", "%"]
    assert det.score == pytest.approx(0.8)  # the headline mean skips the NaN windows


def test_bad_entries_of_a_list_of_objects_are_left_out_and_named_as_sent() -> None:
    """Non-object entries are left out; every path names the position as sent."""
    children = [5, {"score": "x"}, "node", {"certainty (%)": "H", "score": 0.4}]
    det = _det(video_metrics={"label": "Fake", "children": children})
    nodes = _some(det.video_metrics).children
    assert [(node.score, node.certainty_percent) for node in nodes] == [(None, None), (0.4, None)]
    assert [p.path for p in det.problems] == [
        "$.item.video_metrics.children[0]",
        "$.item.video_metrics.children[1].score",
        "$.item.video_metrics.children[2]",
        "$.item.video_metrics.children[3]['certainty (%)']",
    ]


def test_huge_integer_in_a_number_field_is_a_problem_not_an_unknown_error() -> None:
    """A JSON integer too large for a float reads as None with a clear reason."""
    det = _det(duration=10**400, metrics={"label": "fake", "aggregated_score": 0.9})
    assert det.duration is None
    [problem] = det.problems
    assert problem.path == "$.item.duration"
    assert "finite number" in problem.reason and "unknown error" not in problem.reason
    assert _some(det.metrics).aggregated_score == 0.9


def test_lenient_read_never_touches_the_callers_data() -> None:
    """The caller's dict is not modified, ``raw`` is that very dict, unknown keys survive."""
    item = {
        "uuid": UUID,
        "metrics": {"score": ["0.9", "x"], "aggregated_score": "%"},
        "brand_new": {"k": [1, 2]},
    }
    sent = copy.deepcopy(item)
    det = structure(item, Detection, path="$.item")
    assert item == sent
    assert det.raw is item
    assert det.extra == {"brand_new": {"k": [1, 2]}}
    assert det.extra["brand_new"] is item["brand_new"]
    assert _some(det.metrics).extra == {}


# --- the Problem type and the log ---------------------------------------------------------------


def test_problem_is_exported_frozen_and_short_in_repr() -> None:
    """Problem is public (package and models), frozen, and its repr cuts a huge value."""
    assert resemble_detect_async.Problem is Problem
    problem = Problem("$.item.metrics.image", "data:" + "A" * 10_000, "not a number")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        problem.path = "$"  # type: ignore[misc]
    assert len(repr(problem)) < 200
    assert problem == Problem("$.item.metrics.image", "data:" + "A" * 10_000, "not a number")


def test_each_odd_field_is_logged_once_without_the_body(caplog: pytest.LogCaptureFixture) -> None:
    """One WARNING per field path per process (positions folded), never the body itself."""
    caplog.set_level(logging.WARNING, logger="resemble_detect_async")
    item = {
        "uuid": UUID,
        "filename": "BODYSENTINEL.wav",
        "metrics": {"score": ["0.9", "x", "y"], "aggregated_score": "%" * 5_000},
    }
    for _ in range(3):
        structure(item, Detection, path="$.log_once_probe")
    messages = [r.getMessage() for r in caplog.records if r.name == "resemble_detect_async"]
    assert len(messages) == 2
    assert any("$.log_once_probe.metrics.score[1]" in message for message in messages)
    assert any("$.log_once_probe.metrics.aggregated_score" in message for message in messages)
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert not any("BODYSENTINEL" in message for message in messages)
    assert all(len(message) < 500 for message in messages)


# --- end to end: the verdict survives a wait -----------------------------------------------------


async def test_wait_for_result_returns_the_verdict_despite_an_odd_score(
    fake_detect_api: FakeDetectAPI, fake_detect_client: DetectClient
) -> None:
    """wait_for_result returns the verdict when a field nobody asked about is odd."""
    odd = {"label": "fake", "score": ["n/a?"], "consistency": "¡", "aggregated_score": "%"}
    uuid = fake_detect_api.add_detection(polls_to_complete=1, item={"metrics": odd})
    detection = await fake_detect_client.wait_for_result(uuid)
    assert detection.is_completed and detection.is_fake
    assert [p.path for p in detection.problems] == [
        "$.item.metrics.score[0]",
        "$.item.metrics.consistency",
        "$.item.metrics.aggregated_score",
    ]
    assert detection.raw["metrics"]["aggregated_score"] == "%"
