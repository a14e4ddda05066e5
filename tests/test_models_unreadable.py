"""Bodies that truly cannot be read raise ResponseValidationError naming the bad field.

Since issue 8 that is only a body whose identity or state cannot be read (uuid, status; a
page's items). The cases below that used to raise because of one odd field now read, with
that field blanked and listed in ``problems`` (see also test_models_lenient.py).
"""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from model_helpers import UUID, _body, _intel, _some, _structured

from resemble_detect_async._converter import (
    structure,
    structure_batch,
    structure_detection,
    structure_page,
)
from resemble_detect_async.errors import ResponseValidationError
from resemble_detect_async.models import AudioMetrics, Batch, Detection, Page


def _names_field(actual: str, expected: str) -> bool:
    """``actual`` is the path ``expected`` or an element of it (``expected[i]...``)."""
    return actual == expected or actual.startswith(f"{expected}[")


def _same(actual: object, expected: object) -> bool:
    """Equal, counting NaN equal to NaN (window scores keep a bad window as NaN)."""
    return actual == expected or repr(actual) == repr(expected)


def _read_around(
    reader: Callable[[Any], Detection | Batch | Page], body: Any, path: str
) -> Detection | Batch | Page:
    """Read ``body``; it must read with exactly one problem, at ``path``, and not change."""
    sent = copy.deepcopy(body)
    read = reader(body)
    assert body == sent, "the caller's body was modified"
    assert [problem.path for problem in read.problems] == [path]
    if isinstance(read, Detection | Batch):
        assert read.raw is body["item"]
    return read


UNREADABLE_DETECTIONS = [
    pytest.param({"success": True, "item": [1, 2]}, "$.item", id="item-list"),
    pytest.param({"success": True, "item": "DETECTION_UUID"}, "$.item", id="item-string"),
    pytest.param({"success": True, "item": None}, "$.item", id="item-null"),
    pytest.param({"success": True, "item": 7}, "$.item", id="item-number"),
    pytest.param({"success": True, "item": {"status": "completed"}}, "$.item.uuid", id="no-uuid"),
    pytest.param({"success": True}, "$.item", id="no-item"),
    pytest.param({"success": False, "message": "Detect not found"}, "$.item", id="error-body"),
    pytest.param([1, 2], "$.item", id="body-list"),
    pytest.param("<html>502</html>", "$.item", id="body-text"),
    pytest.param(
        {"item": {"uuid": "", "metrics": {"aggregated_score": "abc"}}},
        "$.item.uuid",
        id="empty-uuid-beside-an-odd-score",
    ),
]


@pytest.mark.parametrize(("body", "path"), UNREADABLE_DETECTIONS)
def test_unreadable_detection_raises_response_validation_error(body: Any, path: str) -> None:
    """A body without a readable item or uuid raises, naming that path and keeping the body."""
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


# Each used to raise ResponseValidationError; now the field reads as ``expected`` instead.
ODD_DETECTIONS = [
    pytest.param(
        _body(metrics={"score": ["0.9", "abc"]}),
        "$.item.metrics.score[1]",
        lambda d: _some(d.metrics).score,
        (0.9, math.nan),
        id="window-score",
    ),
    pytest.param(
        _body(metrics={"score": "abc"}),
        "$.item.metrics.score",
        lambda d: _some(d.metrics).score,
        (),
        id="lone-score",
    ),
    pytest.param(
        _body(metrics={"aggregated_score": "abc"}),
        "$.item.metrics.aggregated_score",
        lambda d: _some(d.metrics).aggregated_score,
        None,
        id="aggregated-score",
    ),
    pytest.param(
        _body(metrics={"aggregated_score": True}),
        "$.item.metrics.aggregated_score",
        lambda d: _some(d.metrics).aggregated_score,
        None,
        id="boolean-score",
    ),
    pytest.param(
        _body(metrics={"consistency": {"x": 1}}),
        "$.item.metrics.consistency",
        lambda d: _some(d.metrics).consistency,
        None,
        id="object-score",
    ),
    pytest.param(
        _body(created_at="not a date"),
        "$.item.created_at",
        lambda d: d.created_at,
        None,
        id="created_at",
    ),
    pytest.param(
        _body(updated_at=True), "$.item.updated_at", lambda d: d.updated_at, None, id="updated_at"
    ),
    pytest.param(
        _body(file_deleted_at=[2024]),
        "$.item.file_deleted_at",
        lambda d: d.file_deleted_at,
        None,
        id="file_deleted_at",
    ),
    pytest.param(
        _body(metrics=[{"label": "fake"}]),
        "$.item.metrics",
        lambda d: d.metrics,
        None,
        id="metrics-list",
    ),
    pytest.param(
        _body(metrics="fake"), "$.item.metrics", lambda d: d.metrics, None, id="metrics-string"
    ),
    pytest.param(
        _body(image_metrics=[1]),
        "$.item.image_metrics",
        lambda d: d.image_metrics,
        None,
        id="image-metrics-list",
    ),
    pytest.param(
        _body(video_metrics={"children": [{"score": "x"}]}),
        "$.item.video_metrics.children[0].score",
        lambda d: _some(d.video_metrics).children[0].score,
        None,
        id="video-node",
    ),
    pytest.param(
        _body(video_metrics={"children": [{}, {"children": [{"timestamp": "soon"}]}]}),
        "$.item.video_metrics.children[1].children[0].timestamp",
        lambda d: _some(d.video_metrics).children[1].children[0].timestamp,
        None,
        id="nested-video-node",
    ),
    pytest.param(
        _body(video_metrics={"children": [5]}),
        "$.item.video_metrics.children[0]",
        lambda d: _some(d.video_metrics).children,
        (),
        id="video-node-not-object",
    ),
    pytest.param(
        _body(zero_retention_mode="maybe"),
        "$.item.zero_retention_mode",
        lambda d: d.zero_retention_mode,
        None,
        id="bool",
    ),
    pytest.param(_body(face_only=2), "$.item.face_only", lambda d: d.face_only, None, id="bool-2"),
    pytest.param(
        _body(duration="inf"), "$.item.duration", lambda d: d.duration, None, id="infinite"
    ),
    pytest.param(
        _body(duration="5 min"), "$.item.duration", lambda d: d.duration, None, id="unknown-unit"
    ),
    pytest.param(
        _body(intelligence="abc"),
        "$.item.intelligence",
        lambda d: d.intelligence,
        None,
        id="intelligence-string",
    ),
    pytest.param(
        _body(intelligence=["x"]),
        "$.item.intelligence[0]",
        lambda d: d.intelligence,
        (),
        id="intelligence-list-str",
    ),
    pytest.param(
        _body(intelligence={"description": {"fraud": {"confidence": "high"}}}),
        "$.item.intelligence.description.fraud.confidence",
        lambda d: _some(_structured(_intel(d)).fraud).confidence,
        None,
        id="fraud-confidence",
    ),
    pytest.param(
        _body(intelligence={"created_at": "yesterday"}),
        "$.item.intelligence.created_at",
        lambda d: _intel(d).created_at,
        None,
        id="intelligence-created_at",
    ),
    pytest.param(
        _body(extra_params=[1]),
        "$.item.extra_params",
        lambda d: d.extra_params,
        {},
        id="extra-params-list",
    ),
    pytest.param(
        _body(image_metrics={"reverse_image_search_sources": [{"similarity": "close"}]}),
        "$.item.image_metrics.reverse_image_search_sources[0].similarity",
        lambda d: _some(d.image_metrics).reverse_image_search_sources[0].similarity,
        None,
        id="reverse-search-similarity",
    ),
    pytest.param(
        _body(image_metrics={"children": {"a": 1}}),
        "$.item.image_metrics.children",
        lambda d: _some(d.image_metrics).children,
        (),
        id="children",
    ),
    pytest.param(
        _body(watermark={"metrics": {"model_results": [{"confidence": "?"}]}}),
        "$.item.watermark.metrics.model_results[0].confidence",
        lambda d: _some(_some(d.watermark).metrics).model_results[0].confidence,
        None,
        id="watermark-model-result",
    ),
]


@pytest.mark.parametrize(("body", "path", "read", "expected"), ODD_DETECTIONS)
def test_odd_field_reads_as_default_with_a_problem(
    body: Any, path: str, read: Callable[[Detection], object], expected: object
) -> None:
    """One odd field no longer costs the detection: it reads as its default, with a Problem."""
    detection = _read_around(structure_detection, body, path)
    assert isinstance(detection, Detection)
    assert detection.uuid == UUID
    assert _same(read(detection), expected)
    problem = detection.problems[0]
    assert problem.reason
    assert problem.value is not None


@pytest.mark.parametrize(
    ("score", "path", "expected"),
    [
        (["0.9", "abc"], "$.item.metrics.score[1]", (0.9, math.nan)),
        ("abc", "$.item.metrics.score", ()),
        ("0.9, 0.8, oops", "$.item.metrics.score[2]", (0.9, 0.8, math.nan)),
    ],
)
def test_bad_window_score_path_names_the_window(
    score: object, path: str, expected: tuple[float, ...]
) -> None:
    """A bad window is named by its index and reads as NaN in place; a lone odd value as ()."""
    detection = structure_detection(_body(metrics={"score": score}))
    assert [problem.path for problem in detection.problems] == [path]
    assert _same(_some(detection.metrics).score, expected)


def test_bad_intelligence_list_entry_path_names_the_entry() -> None:
    """The problem path for a bad experts-list entry includes the entry's index."""
    detection = structure_detection(
        _body(intelligence=[{"uuid": "i1"}, {"uuid": "i2", "created_at": "yesterday"}])
    )
    assert [problem.path for problem in detection.problems] == ["$.item.intelligence[1].created_at"]
    results = detection.intelligence_results
    assert [(r.uuid, r.created_at) for r in results] == [("i1", None), ("i2", None)]


@pytest.mark.parametrize("uuid", [None, {"id": "x"}, True, ["d1"]], ids=repr)
@pytest.mark.parametrize("reader", [structure_detection, structure_batch])
def test_unusable_uuid_is_rejected(reader: Callable[[Any], object], uuid: object) -> None:
    """A null/object/boolean uuid is unreadable: ResponseValidationError at $.item.uuid."""
    with pytest.raises(ResponseValidationError) as excinfo:
        reader({"success": True, "item": {"uuid": uuid}})
    assert excinfo.value.path == "$.item.uuid"


BAD_PAGES = [
    pytest.param({"items": [{"uuid": "d1"}, {"status": "x"}]}, "$.items[1].uuid", id="no-uuid"),
    pytest.param({"items": [1]}, "$.items[0]", id="item-not-object"),
    pytest.param({"items": [{"uuid": "d1"}, None]}, "$.items[1]", id="item-null"),
    pytest.param({"items": 5}, "$.items", id="items-not-a-list"),
    pytest.param([], "$", id="list"),
    pytest.param("nope", "$", id="text"),
    pytest.param(None, "$", id="null"),
]


@pytest.mark.parametrize(("body", "path"), BAD_PAGES)
def test_unreadable_page_raises_response_validation_error(body: Any, path: str) -> None:
    """A page whose items cannot be read raises ResponseValidationError with the path and body."""
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_page(body)
    assert type(excinfo.value) is ResponseValidationError
    assert _names_field(excinfo.value.path, path)
    assert excinfo.value.body is body


ODD_PAGES = [
    pytest.param(
        {"items": [{"uuid": "d1", "metrics": {"score": "q"}}]},
        "$.items[0].metrics.score",
        lambda p: _some(p.items[0].metrics).score,
        (),
        id="item-score",
    ),
    pytest.param({"page": "first", "items": []}, "$.page", lambda p: p.page, None, id="page"),
    pytest.param(
        {"num_pages": "x", "items": []}, "$.num_pages", lambda p: p.num_pages, None, id="num_pages"
    ),
    pytest.param(
        {"page_size": 2.5, "items": []},
        "$.page_size",
        lambda p: p.page_size,
        None,
        id="fractional",
    ),
]


@pytest.mark.parametrize(("body", "path", "read", "expected"), ODD_PAGES)
def test_odd_page_field_reads_as_none_with_a_problem(
    body: Any, path: str, read: Callable[[Page], object], expected: object
) -> None:
    """An odd page number or item field reads as its default and is listed on the page."""
    page = _read_around(structure_page, body, path)
    assert isinstance(page, Page)
    assert _same(read(page), expected)


BAD_BATCHES = [
    pytest.param({"item": {"status": "completed"}}, "$.item.uuid", id="no-uuid"),
    pytest.param({"item": {"uuid": None, "total_files": "x"}}, "$.item.uuid", id="null-uuid"),
    pytest.param({"item": []}, "$.item", id="item-list"),
    pytest.param({"success": True}, "$.item", id="no-item"),
]


@pytest.mark.parametrize(("body", "path"), BAD_BATCHES)
def test_unreadable_batch_raises_response_validation_error(body: Any, path: str) -> None:
    """A batch without a readable uuid raises ResponseValidationError with the path and body."""
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_batch(body)
    assert type(excinfo.value) is ResponseValidationError
    assert excinfo.value.path == path
    assert excinfo.value.body is body


ODD_BATCHES = [
    pytest.param(
        {"item": {"uuid": "b1", "total_files": "x"}},
        "$.item.total_files",
        lambda b: b.total_files,
        None,
        id="count",
    ),
    pytest.param(
        {"item": {"uuid": "b1", "failed_count": "1.5"}},
        "$.item.failed_count",
        lambda b: b.failed_count,
        None,
        id="frac",
    ),
    pytest.param(
        {"item": {"uuid": "b1", "completed_count": True}},
        "$.item.completed_count",
        lambda b: b.completed_count,
        None,
        id="boolean-count",
    ),
    pytest.param(
        {"item": {"uuid": "b1", "detect_uuids": {"a": 1}}},
        "$.item.detect_uuids",
        lambda b: b.detect_uuids,
        (),
        id="detect_uuids-object",
    ),
    pytest.param(
        {"item": {"uuid": "b1", "detect_uuids": ["d1", {"a": 1}, "d3"]}},
        "$.item.detect_uuids[1]",
        lambda b: b.detect_uuids,
        ("d1", "d3"),
        id="detect_uuids-entry",
    ),
    pytest.param(
        {"item": {"uuid": "b1", "created_at": "later"}},
        "$.item.created_at",
        lambda b: b.created_at,
        None,
        id="created_at",
    ),
]


@pytest.mark.parametrize(("body", "path", "read", "expected"), ODD_BATCHES)
def test_odd_batch_field_reads_as_default_with_a_problem(
    body: Any, path: str, read: Callable[[Batch], object], expected: object
) -> None:
    """An odd count, date or uuid entry reads as its default (or is left out), with a Problem."""
    batch = _read_around(structure_batch, body, path)
    assert isinstance(batch, Batch)
    assert batch.uuid == "b1"
    assert _same(read(batch), expected)


def test_validation_error_lists_every_problem_and_names_the_fatal_one() -> None:
    """The error lists every bad field, and its path is the fatal one even when not first."""
    items = [
        {"uuid": "d1", "created_at": "not a date", "metrics": {"aggregated_score": "abc"}},
        {"status": "completed"},
    ]
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_page({"items": items})
    err = excinfo.value
    assert err.path == "$.items[1].uuid"
    assert len(err.problems) == 3
    joined = "\n".join(err.problems)
    assert "$.items[0].created_at" in joined
    assert "$.items[0].metrics.aggregated_score" in joined


def test_validation_error_keeps_the_uuid_it_was_sent() -> None:
    """An unusable uuid that is still a string (blank) is kept on the error as sent."""
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_detection({"item": {"uuid": "  ", "status": "completed"}})
    assert excinfo.value.uuid == "  "
    assert excinfo.value.path == "$.item.uuid"


def test_structure_entry_point_uses_the_given_path() -> None:
    """``structure(..., path=)`` prefixes the error path and keeps the value as the body."""
    value = {"label": "fake", "aggregated_score": "abc"}
    with pytest.raises(ResponseValidationError) as excinfo:
        structure(value, AudioMetrics, path="$.item.metrics")
    assert excinfo.value.path == "$.item.metrics.aggregated_score"
    assert excinfo.value.body is value


def test_validation_error_pickles() -> None:
    """A ResponseValidationError survives pickling with path, problems, body, message, uuid."""
    body = {"items": [{"uuid": "d1", "metrics": {"aggregated_score": "abc"}}, {"uuid": None}]}
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_page(body)
    err = excinfo.value
    restored = pickle.loads(pickle.dumps(err))
    assert type(restored) is ResponseValidationError
    assert restored.path == err.path == "$.items[1].uuid"
    assert restored.problems == err.problems
    assert len(restored.problems) == 2
    assert restored.body == body
    assert restored.message == err.message
    assert str(restored) == str(err)
    assert restored.uuid == err.uuid


def test_envelope_error_pickles() -> None:
    """The no-item error (raised before cattrs runs) pickles too."""
    body = {"success": False, "message": "Detect not found"}
    with pytest.raises(ResponseValidationError) as excinfo:
        structure_detection(body)
    restored = pickle.loads(pickle.dumps(excinfo.value))
    assert (restored.path, restored.body, restored.problems) == ("$.item", body, [])
    assert str(restored) == str(excinfo.value)
