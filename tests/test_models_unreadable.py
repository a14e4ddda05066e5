"""Bodies that truly cannot be read raise ResponseValidationError naming the bad field."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from model_helpers import UUID, _body

from resemble_detect_async._converter import (
    structure,
    structure_batch,
    structure_detection,
    structure_page,
)
from resemble_detect_async.errors import ResponseValidationError
from resemble_detect_async.models import AudioMetrics


def _names_field(actual: str, expected: str) -> bool:
    """``actual`` is the path ``expected`` or an element of it (``expected[i]...``)."""
    return actual == expected or actual.startswith(f"{expected}[")


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
