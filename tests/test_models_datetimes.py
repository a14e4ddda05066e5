"""Timestamps in every shape the API sends read as aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param("2024-01-15t10:30:00z", JAN15, id="both-lower"),
        pytest.param("2024-01-15T10:30:00z", JAN15, id="lower-z"),
        pytest.param("2024-01-15t10:30:00.5z", JAN15.replace(microsecond=500000), id="fraction"),
        pytest.param("2024-01-15 10:30:00z", JAN15, id="space-and-lower-z"),
    ],
)
def test_rfc3339_lower_case_t_and_z(wire: str, expected: datetime) -> None:
    """RFC 3339 §5.6 allows a lower-case "t" and "z": they read like "T" and "Z"."""
    det = _det(created_at=wire)
    assert _assert_utc(det.created_at) == expected
    assert det.problems == ()


NEW_YEAR_2017 = datetime(2017, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param("2016-12-31T23:59:60Z", NEW_YEAR_2017, id="zulu"),
        pytest.param("2016-12-31T23:59:60.25Z", NEW_YEAR_2017.replace(microsecond=250000)),
        pytest.param("2016-12-31T15:59:60-08:00", NEW_YEAR_2017, id="local-time"),
        pytest.param("2016-12-31t23:59:60z", NEW_YEAR_2017, id="lower-case"),
        pytest.param("2016-12-31 23:59:60", NEW_YEAR_2017, id="naive-space"),
    ],
)
def test_leap_second_reads_as_the_next_second(wire: str, expected: datetime) -> None:
    """A leap second (23:59:60, RFC 3339 §5.7) reads as the next second, as POSIX counts it."""
    det = _det(created_at=wire)
    assert _assert_utc(det.created_at) == expected
    assert det.problems == ()


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        pytest.param("0001-01-01T00:00:00+01:00", "outside the years 1-9999", id="before-year-1"),
        pytest.param("9999-12-31T23:59:59-01:00", "outside the years 1-9999", id="after-9999"),
        pytest.param("9999-12-31T23:59:60Z", "after the year 9999", id="leap-after-9999"),
        pytest.param(10**20, "outside the years 1-9999", id="epoch"),
        pytest.param("-99999999999999999", "outside the years 1-9999", id="epoch-text"),
        pytest.param("2016-12-31T23:58:60Z", "expected an ISO 8601 date-time", id="60-not-leap"),
    ],
)
def test_time_outside_years_1_to_9999_is_a_clear_problem(wire: object, reason: str) -> None:
    """A time no datetime can hold reads as None with a reason that says so; the rest reads."""
    det = _det(created_at=wire, updated_at="2024-01-15T10:30:00Z", status="completed")
    assert det.created_at is None
    assert det.updated_at == JAN15 and det.is_completed
    [problem] = det.problems
    assert (problem.path, problem.value) == ("$.item.created_at", wire)
    assert reason in problem.reason
    assert "unknown error" not in problem.reason
