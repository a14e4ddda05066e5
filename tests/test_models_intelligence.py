"""The intelligence block: a single result or an experts list, plain or structured text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from model_helpers import UUID, _assert_float, _assert_utc, _body, _det, _intel, _some, _structured

from resemble_detect_async._converter import structure_detection
from resemble_detect_async.models import (
    DigitallyAltered,
    Fraud,
    Intelligence,
    IntelligenceDescription,
    IntelligenceStatus,
    Liveness,
)


def test_intelligence_as_list_with_experts() -> None:
    """With ``experts=true`` intelligence is a list (SPEC §4.1): read as a tuple of results."""
    det = _det(
        intelligence=[
            {"uuid": "i1", "status": "completed", "description": "plain text"},
            {
                "uuid": "i2",
                "status": "completed",
                "description": {"fraud": {"type": "vishing", "confidence": "85"}},
                "created_at": "2024-01-15T10:30:05Z",
            },
        ]
    )
    assert isinstance(det.intelligence, tuple)
    first, second = det.intelligence
    assert first.uuid == "i1"
    assert first.description == "plain text"
    fraud = _some(_structured(second).fraud)
    assert fraud.type == "vishing"
    _assert_float(fraud.confidence, 85.0)
    assert _assert_utc(second.created_at) == datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)
    assert det.intelligence_results == det.intelligence
    assert not det.is_intelligence_pending


def test_intelligence_as_empty_list() -> None:
    """``experts=true`` with nothing completed yet sends ``[]``: an empty tuple, not None."""
    det = _det(intelligence=[])
    assert det.intelligence == ()
    assert det.intelligence_results == ()
    assert not det.is_intelligence_pending


def test_intelligence_structured_description() -> None:
    """The structured description reads every documented field, fraud/liveness/altered too."""
    det = _det(
        intelligence={
            "uuid": "i1",
            "status": "completed",
            "error_message": None,
            "detect_uuid": UUID,
            "description": {
                "speaker_info": "adult male",
                "language": "English",
                "dialect": "US",
                "emotion": "calm",
                "speaking_style": "scripted",
                "context": "phone call",
                "message": "wire the money",
                "abnormalities": "none",
                "transcription": "hello",
                "translation": None,
                "misinformation": "none",
                "fraud": {"type": "vishing", "confidence": 92, "reasoning": "urgency"},
                "liveness": {
                    "assessment": "not_real_person",
                    "confidence": 80.5,
                    "indicators": "flat prosody",
                },
                "digitally_altered": {
                    "detected": True,
                    "confidence": "60",
                    "alterations": "splice at 0:03",
                },
            },
        }
    )
    intel = _intel(det)
    assert intel.status is IntelligenceStatus.COMPLETED
    assert intel.detect_uuid == UUID
    desc = _structured(intel)
    assert desc == IntelligenceDescription(
        speaker_info="adult male",
        language="English",
        dialect="US",
        emotion="calm",
        speaking_style="scripted",
        context="phone call",
        message="wire the money",
        abnormalities="none",
        transcription="hello",
        translation=None,
        misinformation="none",
        fraud=Fraud(type="vishing", confidence=92.0, reasoning="urgency"),
        liveness=Liveness(assessment="not_real_person", confidence=80.5, indicators="flat prosody"),
        digitally_altered=DigitallyAltered(
            detected=True, confidence=60.0, alterations="splice at 0:03"
        ),
    )


@pytest.mark.parametrize("text", ["Adult male speaker...", "", "..."])
def test_intelligence_description_as_plain_string(text: str) -> None:
    """A plain-text description stays the string as sent."""
    assert _intel(_det(intelligence={"description": text})).description == text


@pytest.mark.parametrize(
    ("field", "wire", "expected"),
    [
        ("abnormalities", ["pitch jump", "robotic tone"], '["pitch jump", "robotic tone"]'),
        ("speaker_info", {"gender": "male", "age": 40}, '{"age": 40, "gender": "male"}'),
        ("transcription", ["line 1", "line 2"], '["line 1", "line 2"]'),
        ("language", ["en", "es"], '["en", "es"]'),
        ("misinformation", [], "[]"),
        ("emotion", "calm", "calm"),
        ("context", 42, "42"),
        ("message", True, "true"),
    ],
)
def test_intelligence_text_fields_sent_as_lists_keep_json_text(
    field: str, wire: object, expected: str
) -> None:
    """Description text fields sent as lists/objects are kept as their JSON text."""
    desc = _structured(_intel(_det(intelligence={"description": {field: wire}})))
    assert getattr(desc, field) == expected


def test_liveness_and_altered_text_fields_sent_as_lists() -> None:
    """``indicators`` and ``alterations`` sent as lists are kept as JSON text too."""
    desc = _structured(
        _intel(
            _det(
                intelligence={
                    "description": {
                        "liveness": {"indicators": ["breath", "pauses"]},
                        "digitally_altered": {"alterations": ["crop"]},
                    }
                }
            )
        )
    )
    assert _some(desc.liveness).indicators == '["breath", "pauses"]'
    assert _some(desc.digitally_altered).alterations == '["crop"]'


def test_intelligence_confidences_stay_in_percent() -> None:
    """Fraud/liveness confidences are 0-100: "90%" reads as 90, not 0.9."""
    description = {
        "fraud": {"type": "vishing", "confidence": "90%"},
        "liveness": {"assessment": "real_person", "confidence": "85"},
        "digitally_altered": {"detected": "false", "confidence": 12},
    }
    det = structure_detection(
        _body(intelligence={"status": "completed", "description": description})
    )
    assert isinstance(det.intelligence, Intelligence)
    structured = det.intelligence.description
    assert isinstance(structured, IntelligenceDescription)
    assert structured.fraud is not None and structured.fraud.confidence == 90.0
    assert structured.liveness is not None and structured.liveness.confidence == 85.0
    assert structured.digitally_altered is not None
    assert structured.digitally_altered.detected is False
