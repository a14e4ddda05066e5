"""Timestamps in every shape the API sends read as aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from model_helpers import JAN15, _assert_utc, _det, _intel, _some

from resemble_detect_async._converter import structure_batch


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
