"""The models are frozen, keep raw out of equality and keep raw/extra/heatmaps out of repr."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from model_helpers import _MODEL_CLASSES, _REQUIRED, UUID, _body, _det, _some

from resemble_detect_async import models
from resemble_detect_async._converter import structure_detection
from resemble_detect_async.models import DetectionStatus


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
