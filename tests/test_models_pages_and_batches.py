"""List pages, batches and bare items: paging, counts as strings, older key names."""

from __future__ import annotations

from typing import Any

import pytest

from resemble_detect_async._converter import (
    structure,
    structure_batch,
    structure_detection,
    structure_page,
)
from resemble_detect_async.models import AudioMetrics, Batch, Page


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


BIG = 2**53 + 1  # the first integer a float cannot hold


def test_page_numbers_above_2_53_keep_every_digit() -> None:
    """Page numbers and counts above 2**53, as JSON ints or numeric strings, read exactly."""
    page = structure_page(
        {
            "page": BIG,
            "num_pages": str(BIG + 2),
            "page_size": f"{BIG + 4}.0",
            "total_count": f" {10**30 + 1} ",
            "items": [],
        }
    )
    assert (page.page, page.num_pages, page.page_size) == (BIG, BIG + 2, BIG + 4)
    assert page.total_count == 10**30 + 1
    assert page.problems == ()


def test_batch_counts_above_2_53_keep_every_digit() -> None:
    """Batch counts above 2**53 as JSON ints or numeric strings (even "1e20") read exactly."""
    item = {"uuid": "b1", "total_files": str(BIG), "completed_count": BIG, "failed_count": "1e20"}
    batch = structure_batch({"item": item})
    assert (batch.total_files, batch.completed_count, batch.failed_count) == (BIG, BIG, 10**20)
    assert all(type(n) is int for n in (batch.total_files, batch.failed_count))


def test_count_of_thousands_of_digits_is_a_problem_not_a_hang() -> None:
    """A count too long for an int (5,000 digits, or "1e999999") reads as None with a reason."""
    for wire in ("9" * 5_000, "1e999999"):
        batch = structure_batch({"item": {"uuid": "b1", "total_files": wire}})
        assert batch.total_files is None
        assert [p.path for p in batch.problems] == ["$.item.total_files"]


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
