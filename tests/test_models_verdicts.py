"""The conveniences on the models: verdict, score and label per media type, and state."""

from __future__ import annotations

from typing import Any

import pytest
from model_helpers import _assert_float, _det, _some

from resemble_detect_async._converter import structure_batch
from resemble_detect_async.models import (
    BatchStatus,
    DetectionStatus,
    Intelligence,
    IntelligenceStatus,
    Verdict,
    WatermarkStatus,
    normalize_label,
)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("fake", Verdict.FAKE),
        ("Fake", Verdict.FAKE),
        ("FAKE", Verdict.FAKE),
        (" fake ", Verdict.FAKE),
        ("Likely Fake", Verdict.FAKE),
        ("likely-fake", Verdict.FAKE),
        ("likely_fake", Verdict.FAKE),
        ("deepfake", Verdict.FAKE),
        ("synthetic", Verdict.FAKE),
        ("real", Verdict.REAL),
        ("Real", Verdict.REAL),
        ("REAL", Verdict.REAL),
        ("Likely Real", Verdict.REAL),
        ("authentic", Verdict.REAL),
        ("Authentic", Verdict.REAL),
        ("genuine", Verdict.REAL),
        (None, Verdict.UNKNOWN),
        ("", Verdict.UNKNOWN),
        ("weird", Verdict.UNKNOWN),
        ("inconclusive", Verdict.UNKNOWN),
        ("not fake", Verdict.UNKNOWN),
        (1, Verdict.UNKNOWN),
    ],
)
def test_normalize_label(label: object, expected: Verdict) -> None:
    """Labels fold case, separators and hedges into FAKE / REAL / UNKNOWN."""
    assert normalize_label(label) is expected


AUDIO_FAKE = {"label": "fake", "score": ["0.9", "0.7"], "aggregated_score": "0.8"}
AUDIO_REAL = {"label": "real", "score": [0.1, 0.3], "aggregated_score": 0.2}
IMAGE_FAKE = {"label": "Fake", "score": 0.97}
IMAGE_REAL = {"label": "Real", "score": 0.05}
VIDEO_FAKE = {"label": "Fake", "score": "0.95"}
VIDEO_REAL = {"label": "Real", "score": 0.1}

# A video speaks through its audio block (metrics) and its visual block together: every
# combination of the two, as (audio, visual, verdict, score, label, id).
VIDEO_AUDIO_AND_VISUAL = [
    # the label of the block that decided the verdict
    (AUDIO_REAL, VIDEO_FAKE, Verdict.FAKE, 0.95, "Fake", "video-visual-fake"),
    (AUDIO_FAKE, VIDEO_REAL, Verdict.FAKE, 0.8, "fake", "video-audio-fake"),
    (AUDIO_REAL, VIDEO_REAL, Verdict.REAL, 0.2, "real", "video-both-real-max-score"),
    (AUDIO_FAKE, VIDEO_FAKE, Verdict.FAKE, 0.95, "fake", "video-both-fake"),
]


@pytest.mark.parametrize(
    ("fields", "verdict", "score", "label"),
    [
        pytest.param(
            {"media_type": "audio", "metrics": AUDIO_FAKE, "image_metrics": IMAGE_REAL},
            Verdict.FAKE,
            0.8,
            "fake",
            id="audio-fake-uses-aggregated",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": AUDIO_REAL, "video_metrics": VIDEO_FAKE},
            Verdict.REAL,
            0.2,
            "real",
            id="audio-ignores-other-blocks",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": {"label": "Fake", "score": [0.9, 0.5]}},
            Verdict.FAKE,
            0.7,
            "Fake",
            id="audio-window-mean",
        ),
        pytest.param(
            {"media_type": "image", "image_metrics": IMAGE_FAKE, "metrics": AUDIO_REAL},
            Verdict.FAKE,
            0.97,
            "Fake",
            id="image-fake",
        ),
        pytest.param(
            {"media_type": "image", "image_metrics": IMAGE_REAL, "metrics": AUDIO_FAKE},
            Verdict.REAL,
            0.05,
            "Real",
            id="image-ignores-metrics",
        ),
        *(
            pytest.param(
                {"media_type": "video", "metrics": audio, "video_metrics": visual},
                verdict,
                score,
                label,
                id=case_id,
            )
            for audio, visual, verdict, score, label, case_id in VIDEO_AUDIO_AND_VISUAL
        ),
        pytest.param(
            {"media_type": "video", "modality": "audio", "metrics": AUDIO_REAL},
            Verdict.REAL,
            0.2,
            "real",
            id="video-audio-only-modality",
        ),
        pytest.param(
            {"media_type": "video", "modality": "video", "video_metrics": VIDEO_FAKE},
            Verdict.FAKE,
            0.95,
            "Fake",
            id="video-visual-only-modality",
        ),
        pytest.param(
            {"image_metrics": IMAGE_FAKE},
            Verdict.FAKE,
            0.97,
            "Fake",
            id="no-media-type-image-block",
        ),
        pytest.param(
            {"metrics": AUDIO_REAL}, Verdict.REAL, 0.2, "real", id="no-media-type-audio-block"
        ),
        pytest.param(
            {"video_metrics": VIDEO_REAL},
            Verdict.REAL,
            0.1,
            "Real",
            id="no-media-type-video-block",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": {}, "image_metrics": IMAGE_FAKE},
            Verdict.FAKE,
            0.97,
            "Fake",
            id="audio-without-its-block-falls-back",
        ),
        pytest.param(
            {"media_type": "hologram", "metrics": AUDIO_FAKE},
            Verdict.FAKE,
            0.8,
            "fake",
            id="unknown-media-type-falls-back",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": {"label": "Likely Fake", "aggregated_score": 0.6}},
            Verdict.FAKE,
            0.6,
            "Likely Fake",
            id="hedged-label",
        ),
        pytest.param(
            {"media_type": "audio", "metrics": {"label": "weird", "aggregated_score": 0.5}},
            Verdict.UNKNOWN,
            0.5,
            "weird",
            id="unknown-label",
        ),
        pytest.param(
            {"media_type": "video", "metrics": AUDIO_REAL, "video_metrics": {"score": 0.3}},
            Verdict.REAL,
            0.3,
            "real",
            id="video-one-block-unlabelled",
        ),
        pytest.param({"media_type": "audio"}, Verdict.UNKNOWN, None, None, id="no-blocks"),
        pytest.param({}, Verdict.UNKNOWN, None, None, id="nothing"),
    ],
)
def test_verdict_score_and_label_per_media_type(
    fields: dict[str, Any], verdict: Verdict, score: float | None, label: str | None
) -> None:
    """verdict/is_fake/score/label speak through the blocks that apply to the media type."""
    det = _det(**fields)
    assert det.verdict is verdict
    assert det.is_fake is (verdict is Verdict.FAKE)
    if score is None:
        assert det.score is None
    else:
        _assert_float(det.score, score)
    assert det.label == label


@pytest.mark.parametrize("media_type", ["audio", "video"])
def test_score_ignores_null_windows(media_type: str) -> None:
    """The window mean skips null (NaN) windows instead of turning the score into NaN."""
    det = _det(media_type=media_type, metrics={"label": "fake", "score": [0.9, None, 0.7]})
    _assert_float(det.score, 0.8)


def test_block_verdicts() -> None:
    """Each metric block and video node folds its own label/conclusion into a Verdict."""
    det = _det(
        metrics={"label": "FAKE"},
        image_metrics={"label": "authentic"},
        video_metrics={"label": "?", "children": [{"conclusion": "Real"}]},
    )
    assert _some(det.metrics).verdict is Verdict.FAKE
    assert _some(det.image_metrics).verdict is Verdict.REAL
    video = _some(det.video_metrics)
    assert video.verdict is Verdict.UNKNOWN
    assert video.children[0].verdict is Verdict.REAL


@pytest.mark.parametrize(
    ("status", "terminal", "completed", "failed"),
    [
        (None, False, False, False),
        ("processing", False, False, False),
        ("pending", False, False, False),
        ("completed", True, True, False),
        ("Completed", True, True, False),
        ("failed", True, False, True),
        ("error", True, False, True),
        ("cancelled", True, False, True),
        ("bogus", False, False, False),
    ],
)
def test_detection_state(status: str | None, terminal: bool, completed: bool, failed: bool) -> None:
    """is_terminal/is_completed/is_failed follow the status; unknown or missing is not final."""
    det = _det(status=status)
    assert det.is_terminal is terminal
    assert det.is_completed is completed
    assert det.is_failed is failed


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (None, False),
        ("processing", False),
        ("completed", True),
        ("partially_failed", True),
        ("failed", True),
        ("bogus", False),
    ],
)
def test_batch_is_terminal(status: str | None, terminal: bool) -> None:
    """A batch is final once completed, partially_failed or failed (SPEC §8)."""
    batch = structure_batch({"success": True, "item": {"uuid": "b1", "status": status}})
    assert batch.is_terminal is terminal


@pytest.mark.parametrize(
    ("enum_cls", "terminal"),
    [
        (DetectionStatus, {"completed", "failed"}),
        (BatchStatus, {"completed", "partially_failed", "failed"}),
        (IntelligenceStatus, {"completed", "failed"}),
        (WatermarkStatus, {"completed", "failed"}),
    ],
)
def test_status_enums_terminal_sets(enum_cls: type[Any], terminal: set[str]) -> None:
    """Each status enum's terminal set matches SPEC §11."""
    assert {member.value for member in enum_cls if member.is_terminal} == terminal


@pytest.mark.parametrize(
    ("intelligence", "count"),
    [
        (None, 0),
        ({"uuid": "i1", "status": "completed"}, 1),
        ([{"uuid": "i1"}, {"uuid": "i2"}], 2),
        ([], 0),
    ],
)
def test_intelligence_results(intelligence: object, count: int) -> None:
    """intelligence_results is a tuple whether the API sent an object, a list or null."""
    results = _det(intelligence=intelligence).intelligence_results
    assert isinstance(results, tuple)
    assert len(results) == count
    assert all(isinstance(r, Intelligence) for r in results)


@pytest.mark.parametrize(
    ("intelligence", "pending"),
    [
        pytest.param(None, False, id="none"),
        pytest.param({"status": "processing"}, True, id="processing"),
        pytest.param({"status": "pending"}, True, id="pending"),
        pytest.param({"status": "completed", "description": "x"}, False, id="completed"),
        pytest.param({"status": "failed", "error_message": "boom"}, False, id="failed"),
        pytest.param({"status": "bogus"}, True, id="unknown-status"),
        pytest.param({"description": "old finished result"}, False, id="no-status-described"),
        pytest.param({"uuid": "i1"}, False, id="no-status-no-description"),  # nothing to wait on
        pytest.param([{"status": "completed"}], False, id="experts-list"),
        pytest.param([], False, id="experts-empty"),
    ],
)
def test_is_intelligence_pending(intelligence: object, pending: bool) -> None:
    """is_intelligence_pending is True only while a single result is still running."""
    det = _det(status="completed", intelligence=intelligence)
    assert det.is_intelligence_pending is pending
    assert det.is_terminal  # independent of the detection's own status (SPEC §11)


@pytest.mark.parametrize(
    ("watermark", "pending"),
    [
        (None, False),
        ({"status": "pending"}, True),
        ({"status": "processing"}, True),
        ({"status": "completed", "metrics": {"has_watermark": False}}, False),
        ({"status": "failed", "error_message": "too large"}, False),
        ({"status": "stuck"}, True),
        ({"error_message": "no status"}, False),
    ],
)
def test_is_watermark_pending(watermark: object, pending: bool) -> None:
    """is_watermark_pending is True while the watermark child is pending or processing."""
    assert _det(watermark=watermark).is_watermark_pending is pending
