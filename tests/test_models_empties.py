"""Nulls and empty values (``{}``, ``[]``, ``""``) read as the field's default, never crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from model_helpers import (
    _MODEL_CLASSES,
    _REQUIRED,
    BOOKKEEPING,
    _det,
    _intel,
    _some,
    _structured,
)

from resemble_detect_async._converter import structure, structure_batch
from resemble_detect_async.models import Batch, Detection

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
        if field.name not in (*BOOKKEEPING, *required)
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
