"""Keys the models do not know are kept in each level's ``extra``, never dropped or fatal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from model_helpers import UUID, _det, _intel, _some, _structured

from resemble_detect_async._converter import structure_batch, structure_detection, structure_page
from resemble_detect_async.models import Detection


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
