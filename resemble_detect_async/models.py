"""What the Detect API returns, as frozen attrs classes.

These classes know nothing about JSON: the private converter in ``_converter`` reads the
wire format (numbers sent as strings, old field names, missing keys) into them. Every model
keeps the keys it does not know in ``extra``, so a field the service adds tomorrow is
reachable today; :class:`Detection` and :class:`Batch` also keep the whole item in ``raw``.
A value that cannot be read at all (``"score": "n/a?"``) does not cost the whole detection:
it reads as None and is listed in ``problems`` as a :class:`Problem`.

Verdicts: labels arrive as "fake", "Fake", "Likely Fake", "real"... :func:`normalize_label`
folds them into :class:`Verdict`, and :attr:`Detection.verdict` combines the blocks that
apply to the media type (API notes §4.2, §18.2).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "AudioMetrics",
    "AudioSourceTracing",
    "Batch",
    "BatchStatus",
    "C2paManifest",
    "Detection",
    "DetectionStatus",
    "DigitallyAltered",
    "Fraud",
    "IflResult",
    "ImageMetrics",
    "Intelligence",
    "IntelligenceDescription",
    "IntelligenceStatus",
    "Liveness",
    "MediaType",
    "Modality",
    "Page",
    "Problem",
    "ReverseImageSearchSource",
    "Verdict",
    "VideoMetrics",
    "VideoNode",
    "Watermark",
    "WatermarkMetrics",
    "WatermarkModelResult",
    "WatermarkStatus",
    "normalize_label",
]

JSON = Any
_NO_EXTRA: Mapping[str, Any] = {}
_SHORT = 80


def _short_repr(value: object) -> str:
    """``repr(value)`` cut to a line: an odd value may be a whole inline heatmap."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (sys.get_int_max_str_digits)
        return f"<{type(value).__name__} too long to show>"
    return text if len(text) <= _SHORT else f"{text[: _SHORT - 3]}..."


@attrs.frozen
class Problem:
    """One value of a response that could not be read, and what was read instead.

    The API's schema types many numbers as free strings (API notes §4.2), so a score can
    hold ``"n/a?"`` or ``"%"``. Such a value must not cost the caller the whole detection:
    it reads as None (or the field's default; NaN for one window score; an entry of a list
    of objects or uuids is left out), the rest of the detection is read as usual, and the
    value is listed here, on the model's ``problems``.

    Attributes:
        path: JSON path of the value in the body, with the API's key names and the
            positions as sent, e.g. ``$.item.metrics.score[0]`` or
            ``$.items[3].video_metrics.children[0]['certainty (%)']``.
        value: the value as sent.
        reason: why it could not be read, and what was read instead.
    """

    path: str
    value: JSON = attrs.field(repr=_short_repr)
    reason: str


class _LenientEnum(enum.StrEnum):
    """A string enum that reads values case-insensitively and falls back to ``UNKNOWN``.

    The original string always survives in the enclosing Detection's or Batch's ``raw``
    item, so falling back loses nothing; it only keeps an unexpected value from crashing a
    parse.
    """

    @classmethod
    def _aliases(cls) -> Mapping[str, str]:
        return {}

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_").replace(" ", "_")
            key = cls._aliases().get(key, key)
            for member in cls:
                if member.value == key:
                    return member
        return cls._value2member_map_["unknown"]


class DetectionStatus(_LenientEnum):
    """``item.status`` of a detection (API notes §11).

    ``error``/``cancelled`` (which Resemble's own MCP server treats as terminal) read as
    ``FAILED``; ``pending``/``queued`` read as ``PROCESSING``. Anything else is ``UNKNOWN``,
    which is not terminal: a waiter keeps polling until a known terminal value or its
    deadline, rather than guessing.
    """

    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def _aliases(cls) -> Mapping[str, str]:
        return {
            "pending": "processing",
            "queued": "processing",
            "running": "processing",
            "in_progress": "processing",
            "started": "processing",
            "complete": "completed",
            "success": "completed",
            "succeeded": "completed",
            "done": "completed",
            "error": "failed",
            "errored": "failed",
            "cancelled": "failed",
            "canceled": "failed",
        }

    @property
    def is_terminal(self) -> bool:
        """True for ``completed`` and ``failed``."""
        return self in (DetectionStatus.COMPLETED, DetectionStatus.FAILED)


class BatchStatus(_LenientEnum):
    """``item.status`` of a batch; the last three are terminal (API notes §8)."""

    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def _aliases(cls) -> Mapping[str, str]:
        return {
            "pending": "processing",
            "queued": "processing",
            "running": "processing",
            "partial": "partially_failed",
            "partially_completed": "partially_failed",
            "success": "completed",
            "succeeded": "completed",
            "error": "failed",
            "errored": "failed",
            "cancelled": "failed",
            "canceled": "failed",
        }

    @property
    def is_terminal(self) -> bool:
        """True for ``completed``, ``partially_failed`` and ``failed``."""
        return self in (BatchStatus.COMPLETED, BatchStatus.PARTIALLY_FAILED, BatchStatus.FAILED)


class IntelligenceStatus(_LenientEnum):
    """``intelligence.status``; independent of the detection's status (API notes §11)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def _aliases(cls) -> Mapping[str, str]:
        return {"success": "completed", "error": "failed", "queued": "pending"}

    @property
    def is_terminal(self) -> bool:
        """True for ``completed`` and ``failed``."""
        return self in (IntelligenceStatus.COMPLETED, IntelligenceStatus.FAILED)


class WatermarkStatus(_LenientEnum):
    """``watermark.status`` (API notes §11); a failed watermark does not fail the detection."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True for ``completed`` and ``failed``."""
        return self in (WatermarkStatus.COMPLETED, WatermarkStatus.FAILED)


class MediaType(_LenientEnum):
    """``item.media_type``."""

    AUDIO = "audio"
    VIDEO = "video"
    IMAGE = "image"
    TEXT = "text"
    UNKNOWN = "unknown"


class Modality(_LenientEnum):
    """``item.modality``: which components ran for a video (API notes §3.2)."""

    AUDIO = "audio"
    VIDEO = "video"
    ALL = "all"
    UNKNOWN = "unknown"


class Verdict(_LenientEnum):
    """A label folded to one of three values; see :func:`normalize_label`."""

    FAKE = "fake"
    REAL = "real"
    UNKNOWN = "unknown"


_FAKE_WORDS = frozenset(
    {"fake", "deepfake", "synthetic", "spoof", "spoofed", "ai", "ai_generated", "generated"}
)
_REAL_WORDS = frozenset({"real", "authentic", "genuine", "bonafide", "bona_fide", "human"})
_HEDGES = ("likely_", "probably_", "possibly_", "most_likely_")


def normalize_label(label: object) -> Verdict:
    """Fold a label ("fake", "Fake", "Likely Fake", "REAL", ...) into a :class:`Verdict`.

    Labels are free strings that vary in case and wording across media types and API
    versions (API notes §4.2). Hedged labels ("Likely Fake") count as their verdict, because the
    API itself uses "Likely Fake" as a verdict (``infer_from_intelligence``, API notes §3.2);
    the exact wording stays available on the metric block's ``label``.
    """
    if not isinstance(label, str):
        return Verdict.UNKNOWN
    key = label.strip().lower().replace("-", "_").replace(" ", "_")
    for hedge in _HEDGES:
        if key.startswith(hedge):
            key = key[len(hedge) :]
            break
    if key in _FAKE_WORDS:
        return Verdict.FAKE
    if key in _REAL_WORDS:
        return Verdict.REAL
    return Verdict.UNKNOWN


# --- metric blocks -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AudioMetrics:
    """``item.metrics``: the audio track result (audio, and the audio of a video).

    ``score`` holds one score per analysis window (``frame_length`` seconds), in order.
    """

    label: str | None = None
    score: tuple[float, ...] = ()
    consistency: float | None = None
    aggregated_score: float | None = None
    image: str | None = attrs.field(default=None, repr=False)
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)

    @property
    def verdict(self) -> Verdict:
        """The label folded into a :class:`Verdict`."""
        return normalize_label(self.label)


@attrs.frozen(kw_only=True)
class IflResult:
    """``image_metrics.ifl``: image forgery localisation score and heatmap."""

    score: float | None = None
    heatmap: str | None = attrs.field(default=None, repr=False)
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class ReverseImageSearchSource:
    """One hit of ``use_reverse_search`` (API notes §4.2)."""

    url: str | None = None
    title: str | None = None
    reason: str | None = None
    verdict: str | None = None
    similarity: float | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class ImageMetrics:
    """``item.image_metrics``: the image result. ``children`` is free-form in the API."""

    type: str | None = None
    label: str | None = None
    score: float | None = None
    image: str | None = attrs.field(default=None, repr=False)
    children: tuple[JSON, ...] = ()
    ifl: IflResult | None = None
    reverse_image_search_sources: tuple[ReverseImageSearchSource, ...] = ()
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)

    @property
    def verdict(self) -> Verdict:
        """The label folded into a :class:`Verdict`."""
        return normalize_label(self.label)


@attrs.frozen(kw_only=True)
class VideoNode:
    """One node of the ``video_metrics`` tree: ``VideoResult`` → ``ImageResult`` → ``Segment``.

    ``certainty_percent`` is the wire's ``"certainty (%)"`` in percent units (``"90%"`` and
    ``"90.0"`` both read as ``90.0``); ``timestamp`` is in seconds (``ImageResult`` nodes).
    """

    type: str | None = None
    conclusion: str | None = None
    score: float | None = None
    certainty: float | None = None
    certainty_percent: float | None = None
    timestamp: float | None = None
    children: tuple[VideoNode, ...] = ()
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)

    @property
    def verdict(self) -> Verdict:
        """The conclusion folded into a :class:`Verdict`."""
        return normalize_label(self.conclusion)


@attrs.frozen(kw_only=True)
class VideoMetrics:
    """``item.video_metrics``: the visual track of a video, with its result tree."""

    label: str | None = None
    score: float | None = None
    certainty: float | None = None
    treeview: str | None = attrs.field(default=None, repr=False)
    children: tuple[VideoNode, ...] = ()
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)

    @property
    def verdict(self) -> Verdict:
        """The label folded into a :class:`Verdict`."""
        return normalize_label(self.label)


@attrs.frozen(kw_only=True)
class AudioSourceTracing:
    """``item.audio_source_tracing``: which generator made fake audio (e.g. ``resemble_ai``)."""

    label: str | None = None
    error_message: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


# --- intelligence ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Fraud:
    """``description.fraud``; ``confidence`` is in percent, 0–100."""

    type: str | None = None
    confidence: float | None = None
    reasoning: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class Liveness:
    """``description.liveness``: ``real_person`` / ``not_real_person`` / ``inconclusive``.

    ``confidence`` is read in percent units, like ``fraud.confidence``.
    """

    assessment: str | None = None
    confidence: float | None = None
    indicators: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class DigitallyAltered:
    """``description.digitally_altered``; ``confidence`` is read in percent units."""

    detected: bool | None = None
    confidence: float | None = None
    alterations: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class IntelligenceDescription:
    """The structured form of ``intelligence.description`` (API notes §4.2).

    Text fields that arrive as lists or objects are kept as their JSON text.
    """

    speaker_info: str | None = None
    language: str | None = None
    dialect: str | None = None
    emotion: str | None = None
    speaking_style: str | None = None
    context: str | None = None
    message: str | None = None
    abnormalities: str | None = None
    transcription: str | None = None
    translation: str | None = None
    misinformation: str | None = None
    fraud: Fraud | None = None
    liveness: Liveness | None = None
    digitally_altered: DigitallyAltered | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class Intelligence:
    """One intelligence result; ``description`` is plain text or structured."""

    uuid: str | None = None
    status: IntelligenceStatus | None = None
    error_message: str | None = None
    description: str | IntelligenceDescription | None = None
    created_at: datetime | None = None
    detect_uuid: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)

    @property
    def is_terminal(self) -> bool:
        """True once this result is completed or failed.

        A result without ``status`` is read as finished: older payloads only ever carried
        finished results and no status, and without a status nothing could tell us when
        to stop waiting.
        """
        return self.status is None or self.status.is_terminal


# --- watermark and provenance --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WatermarkModelResult:
    """One decoder's result inside ``watermark.metrics.model_results``."""

    model_version: str | None = None
    status: str | None = None
    detected: bool | None = None
    has_watermark: JSON = None
    confidence: float | None = None
    error: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class WatermarkMetrics:
    """``watermark.metrics``: the audio (Perth) or vision shape, in one class.

    ``has_watermark`` is a boolean for images/video and an object for audio, so it is kept
    as sent.
    """

    overall_status: str | None = None
    detected_model_versions: tuple[str, ...] = ()
    coverage_complete: bool | None = None
    has_watermark: JSON = None
    confidence: float | None = None
    detection_score: float | None = None
    verdict: str | None = None
    synthid: bool | None = None
    model_results: tuple[WatermarkModelResult, ...] = ()
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class Watermark:
    """``item.watermark``, present when the detection asked for ``detect_watermark``."""

    status: WatermarkStatus | None = None
    metrics: WatermarkMetrics | None = None
    error_message: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class C2paManifest:
    """``item.c2pa_manifest``; a failure to verify does not fail the detection."""

    validation_state: str | None = None
    active_manifest: JSON = None
    manifests: JSON = None
    validation_results: JSON = None
    message: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


# --- top-level objects ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Detection:
    """One detection (``item`` of POST/GET /detect, or one entry of a list page).

    Every field but ``uuid`` may be missing: an async create answers with little more than
    the uuid, and older records lack newer fields (API notes §3.4, §16). ``status`` is None when
    the body did not say; waiting helpers keep polling in that case.

    ``problems`` lists the values that could not be read and were read as None instead
    (see :class:`Problem`); like ``raw``, it describes the wire, so it is left out of
    equality and ``repr``.
    """

    uuid: str
    status: DetectionStatus | None = None
    media_type: MediaType | None = None
    metrics: AudioMetrics | None = None
    image_metrics: ImageMetrics | None = None
    video_metrics: VideoMetrics | None = None
    audio_source_tracing: AudioSourceTracing | None = None
    intelligence: Intelligence | tuple[Intelligence, ...] | None = None
    watermark: Watermark | None = None
    c2pa_manifest: C2paManifest | None = None
    modality: Modality | None = None
    face_only: bool | None = None
    url: str | None = None
    audio_url: str | None = None
    filename: str | None = None
    duration: float | None = None
    zero_retention_mode: bool | None = None
    media_redacted: bool | None = None
    media_deleted: bool | None = None
    file_deleted_at: datetime | None = None
    visualize: bool | None = None
    audio_source_tracing_enabled: bool | None = None
    use_ood_detector: bool | None = None
    pipeline: str | None = None
    extra_params: Mapping[str, JSON] = attrs.field(factory=dict)
    error_message: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
    raw: Mapping[str, JSON] = attrs.field(factory=dict, repr=False, eq=False)
    problems: tuple[Problem, ...] = attrs.field(default=(), repr=False, eq=False)

    # -- state ---------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        """True once the detection is completed or failed; False while processing or unknown."""
        return self.status is not None and self.status.is_terminal

    @property
    def is_completed(self) -> bool:
        """True when the status is ``completed``."""
        return self.status is DetectionStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        """True when the status is ``failed``."""
        return self.status is DetectionStatus.FAILED

    @property
    def intelligence_results(self) -> tuple[Intelligence, ...]:
        """``intelligence`` as a tuple, whichever form (object, list, null) the API sent."""
        if self.intelligence is None:
            return ()
        if isinstance(self.intelligence, Intelligence):
            return (self.intelligence,)
        return self.intelligence

    @property
    def is_intelligence_pending(self) -> bool:
        """True while a requested intelligence result is still running (API notes §3.3, §11)."""
        return isinstance(self.intelligence, Intelligence) and not self.intelligence.is_terminal

    @property
    def is_watermark_pending(self) -> bool:
        """True while the watermark analysis is still pending or processing."""
        wm = self.watermark
        return wm is not None and wm.status is not None and not wm.status.is_terminal

    # -- verdict -------------------------------------------------------------------------

    def _blocks(self) -> list[AudioMetrics | ImageMetrics | VideoMetrics]:
        """The metric blocks that speak for this media type (API notes §4.2)."""
        by_type: dict[MediaType | None, list[AudioMetrics | ImageMetrics | VideoMetrics | None]]
        by_type = {
            MediaType.AUDIO: [self.metrics],
            MediaType.IMAGE: [self.image_metrics],
            MediaType.VIDEO: [self.metrics, self.video_metrics],
        }
        chosen = by_type.get(self.media_type)
        if chosen is None or all(block is None for block in chosen):
            chosen = [self.metrics, self.image_metrics, self.video_metrics]
        return [block for block in chosen if block is not None]

    @property
    def verdict(self) -> Verdict:
        """FAKE if any block for this media type says fake, REAL if all that speak say real.

        For a video, the audio track (``metrics``) and the visual track (``video_metrics``)
        both count: a face-swapped video with real audio is fake.
        """
        verdicts = [block.verdict for block in self._blocks()]
        if Verdict.FAKE in verdicts:
            return Verdict.FAKE
        if verdicts and all(v is Verdict.REAL for v in verdicts if v is not Verdict.UNKNOWN):
            return Verdict.REAL if Verdict.REAL in verdicts else Verdict.UNKNOWN
        return Verdict.UNKNOWN

    @property
    def is_fake(self) -> bool:
        """True when :attr:`verdict` is FAKE."""
        return self.verdict is Verdict.FAKE

    @property
    def label(self) -> str | None:
        """The label as sent, from the block that decided :attr:`verdict`.

        For a face-swapped video with real audio that is the visual label ("Fake"), not
        the audio's ("real"); otherwise the first block for this media type with a label.
        """
        blocks = [block for block in self._blocks() if block.label is not None]
        verdict = self.verdict
        for block in blocks:
            if block.verdict is verdict:
                return block.label
        return blocks[0].label if blocks else None

    @property
    def score(self) -> float | None:
        """The headline score as a float: the highest of the blocks for this media type.

        Audio uses ``metrics.aggregated_score`` (or the mean of the window scores when only
        those were sent), images ``image_metrics.score``, videos the higher of the audio and
        visual scores, as Resemble's feedback API defines it (openapi ``DetectFeedback``).
        """
        scores: list[float] = []
        for block in self._blocks():
            if isinstance(block, AudioMetrics):
                windows = [s for s in block.score if not math.isnan(s)]
                if block.aggregated_score is not None:
                    scores.append(block.aggregated_score)
                elif windows:
                    scores.append(sum(windows) / len(windows))
            elif block.score is not None:
                scores.append(block.score)
        return max(scores) if scores else None


@attrs.frozen(kw_only=True)
class Batch:
    """A batch detection job (``item`` of POST /detect/batch and GET /detect/batch/{uuid}).

    ``problems`` lists the values that could not be read (see :class:`Problem`).
    """

    uuid: str
    status: BatchStatus | None = None
    total_files: int | None = None
    completed_count: int | None = None
    failed_count: int | None = None
    created_at: datetime | None = None
    detect_uuids: tuple[str, ...] = ()
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
    raw: Mapping[str, JSON] = attrs.field(factory=dict, repr=False, eq=False)
    problems: tuple[Problem, ...] = attrs.field(default=(), repr=False, eq=False)

    @property
    def is_terminal(self) -> bool:
        """True for ``completed``, ``partially_failed`` and ``failed``."""
        return self.status is not None and self.status.is_terminal


@attrs.frozen(kw_only=True)
class Page:
    """One page of GET /detect.

    ``problems`` lists every value of the page that could not be read, its items' included
    (each item also lists its own); see :class:`Problem`.
    """

    items: tuple[Detection, ...] = ()
    page: int | None = None
    num_pages: int | None = None
    page_size: int | None = None
    total_count: int | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
    problems: tuple[Problem, ...] = attrs.field(default=(), repr=False, eq=False)

    @property
    def has_next(self) -> bool:
        """True when a later page exists, judged by ``num_pages`` or, failing that, fullness."""
        return self.has_next_after(self.page, requested_size=None)

    def has_next_after(self, number: int | None, *, requested_size: int | None) -> bool:
        """Whether a page follows this one, read as page ``number`` of a listing asked for
        with ``requested_size`` items a page (the one rule the pager uses too).

        ``num_pages`` decides when both it and the page number are known; otherwise a full
        page (as many items as the page size the API echoed, or else the size asked for)
        suggests another one, and a short or empty page is the last.
        """
        if number is not None and self.num_pages is not None:
            return number < self.num_pages
        size = self.page_size or requested_size
        return bool(self.items) and size is not None and len(self.items) >= size > 0
