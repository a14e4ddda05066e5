"""The state the fake Detect API keeps, and how it renders it on the wire.

:class:`FakeDetection` is a small state machine (processing → completed / failed, §11) that
renders itself in the shapes of GET /detect/{uuid}, GET /detect and the async POST /detect
response (§3.4, §4, §5). :class:`FakeBatch` aggregates its children (§8), :class:`FakeUpload`
is a secure upload (§9) and :class:`RecordedRequest` is what the fake saw of a request.
"""

from __future__ import annotations

import hashlib
import math
import uuid as uuid_mod
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from ._wire import STORAGE_BASE, capitalize, clamp01, digest, extension, num_str, unix_iso

__all__ = ["OMIT", "FakeBatch", "FakeDetection", "FakeUpload", "RecordedRequest"]


class _Omit:
    """Type of :data:`OMIT`."""

    _instance: _Omit | None = None

    def __new__(cls) -> _Omit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()
"""Use as a value in ``add_detection(item=...)`` to remove a key from the rendered item."""


@attrs.frozen
class RecordedRequest:
    """One request as the fake saw it (appended on arrival, completed when handled).

    ``path`` is relative to ``/api/v2``. The ``Authorization`` value is redacted to
    ``"<scheme> ***"`` (e.g. ``"Bearer ***"``). ``json``, ``form`` and ``files`` are filled only
    when a handler parsed the body (not for requests answered by a before-handler fault or
    rejected by auth). ``files`` holds ``(field name, filename, byte size)``. ``at`` is the
    fake's clock at arrival. ``status`` is the status sent (``None`` while in flight, or if the
    connection was dropped/hung).
    """

    method: str
    path: str
    query: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    json: Any | None = None
    form: Mapping[str, str] = attrs.field(factory=dict)
    files: tuple[tuple[str, str, int], ...] = ()
    at: float = 0.0
    request_id: str = ""
    status: int | None = None


@attrs.define(eq=False)
class FakeUpload:
    """A file received by ``POST /secure_uploads`` (§9); only its first bytes are kept."""

    token: str
    filename: str
    size: int
    content_type: str | None
    created_at: float
    expires_at: float
    head: bytes = attrs.field(default=b"", repr=False)

    def expired(self, now: float) -> bool:
        """Whether the token is past its 1-hour lifetime (§9) at clock time *now*."""
        return now >= self.expires_at


@attrs.define(eq=False)
class FakeDetection:
    """State of one detection. Mutable: tests may change fields to steer the fake.

    Progress: the detection is *time-based* when ``seconds_to_complete`` is not ``None`` (terminal
    once that many clock seconds passed since ``created_at``), otherwise *poll-based* (terminal on
    the first ``GET /detect/{uuid}`` after ``polls_to_complete`` GETs answered ``processing``).
    ``polls`` counts GETs that answered ``processing``. ``intelligence_polls`` is how many GETs of
    the terminal detection still show ``intelligence.status == "processing"`` (counting the GET that
    completed it). ``item`` holds overrides merged into every terminal rendering (use :data:`OMIT`
    as a value to delete a key).
    """

    uuid: str
    media_type: str
    created_at: float
    status: str = "processing"
    polls: int = 0
    options: dict[str, Any] = attrs.field(factory=dict)
    outcome: str = "completed"
    label: str = "fake"
    score: float = 0.9
    error_message: str | None = None
    filename: str = ""
    url: str | None = None
    source: str = "seed"
    polls_to_complete: int | None = 1
    seconds_to_complete: float | None = None
    updated_at: float | None = None
    completed_at: float | None = None
    duration: float = 5.0
    intelligence: bool = False
    intelligence_polls: int = 0
    intelligence_uuid: str = attrs.field(factory=lambda: str(uuid_mod.uuid4()))
    detect_watermark: bool = False
    watermark_present: bool = False
    zero_retention_mode: bool = False
    batch_uuid: str | None = None
    item: dict[str, Any] = attrs.field(factory=dict)
    iso: Callable[[float], str] = attrs.field(default=unix_iso, repr=False)
    # Called once when the detection becomes final (the fake sends its callbacks from here).
    on_finish: Callable[[FakeDetection], None] | None = attrs.field(
        default=None, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        if self.outcome not in ("completed", "failed"):
            raise ValueError("outcome must be 'completed' or 'failed'")
        if self.media_type not in ("audio", "video", "image"):
            raise ValueError("media_type must be 'audio', 'video' or 'image'")
        if self.updated_at is None:
            self.updated_at = self.created_at

    # ---- state machine ----------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        """``True`` once ``status`` is ``completed`` or ``failed`` (§11)."""
        return self.status in ("completed", "failed")

    @property
    def intelligence_status(self) -> str | None:
        """``None`` when intelligence was not requested, else processing/completed/failed (§11)."""
        if not self.intelligence:
            return None
        if self.status == "failed":
            return "failed"
        if self.status == "processing" or self.intelligence_polls > 0:
            return "processing"
        return "completed"

    def finish(self, now: float) -> None:
        """Make the detection terminal now (with its configured ``outcome``)."""
        if self.is_terminal:
            return
        self.status = self.outcome
        if self.status == "failed" and self.error_message is None:
            self.error_message = "Failed to process media"
        self.completed_at = now
        self.updated_at = now
        if self.on_finish is not None:
            self.on_finish(self)

    def advance(self, now: float, *, poll: bool) -> None:
        """Apply the passage of time and, when *poll* is true, one poll (a GET) at clock *now*."""
        if self.is_terminal:
            if poll and self.intelligence_polls > 0:
                self.intelligence_polls -= 1
            return
        if self.seconds_to_complete is not None:
            deadline = self.created_at + self.seconds_to_complete
            if now >= deadline:
                self.finish(deadline)
            elif poll:
                self.polls += 1
            return
        if poll:
            if self.polls >= (self.polls_to_complete or 0):
                self.finish(now)
            else:
                self.polls += 1

    # ---- rendering ----------------------------------------------------------------------------

    @property
    def wire_filename(self) -> str:
        """``filename`` on the wire: ``redacted_<hex>.<ext>`` under zero retention (§3.5)."""
        if not self.zero_retention_mode:
            return self.filename
        ext = extension(self.filename) or {"audio": "wav", "video": "mp4", "image": "jpg"}.get(
            self.media_type, "bin"
        )
        return f"redacted_{hashlib.sha256(self.uuid.encode()).hexdigest()[:24]}.{ext}"

    def _opt(self, name: str, default: bool = False) -> bool:
        return bool(self.options.get(name, default))

    @property
    def _visualize(self) -> bool:
        return self._opt("visualize", self.batch_uuid is not None)

    @property
    def _modality(self) -> str:
        return str(self.options.get("modality", "all"))

    def _wire_url(self) -> str | None:
        return None if self.zero_retention_mode else self.url  # §3.5: url/audio_url null

    def _chunk_scores(self) -> list[float]:
        frame = float(self.options.get("frame_length", 2))
        n = max(1, min(8, math.ceil(self.duration / frame)))
        d = digest(self.uuid)
        return [round(clamp01(self.score + (d[i] / 255 - 0.5) * 0.1), 2) for i in range(n)]

    def _audio_metrics(self, *, numbers: bool) -> dict[str, Any]:
        chunks = self._chunk_scores()
        spread = max(chunks) - min(chunks)
        consistency = round(1.0 - spread, 2)
        if numbers:  # list_detects.json uses JSON numbers (and a duration key)
            metrics: dict[str, Any] = {
                "label": self.label,
                "score": chunks,
                "aggregated_score": round(self.score, 3),
                "consistency": consistency,
                "duration": self.duration,
            }
        else:  # §4.2 / DetectAudioMetrics: numeric strings
            metrics = {
                "label": self.label,
                "score": [f"{c:.2f}" for c in chunks],
                "consistency": f"{consistency:.2f}",
                "aggregated_score": num_str(self.score),
            }
        if self._visualize:
            metrics["image"] = f"{STORAGE_BASE}/detect/{self.uuid}/audio_heatmap.png"
        return metrics

    def _video_metrics(self) -> dict[str, Any]:
        conclusion = capitalize(self.label)
        certainty = round(0.5 + abs(self.score - 0.5), 3)
        d = digest(self.uuid + ":video")

        def node(kind: str, i: int) -> dict[str, Any]:
            s = round(clamp01(self.score + (d[i] / 255 - 0.5) * 0.1), 3)
            c = round(clamp01(certainty + (d[i + 8] / 255 - 0.5) * 0.05), 3)
            return {
                "type": kind,
                "conclusion": conclusion,
                "score": s,
                "certainty": c,
                "certainty (%)": f"{c * 100:.1f}",
            }

        frames = []
        for f in range(2):
            frame = node("ImageResult", 1 + f)
            frame["timestamp"] = round(f * self.duration / 2 + 0.23, 2)
            frame["children"] = [node("Segment", 3 + f)]
            frames.append(frame)
        video = node("VideoResult", 0)
        video["children"] = frames
        metrics: dict[str, Any] = {
            "label": conclusion,
            "score": round(self.score, 3),
            "certainty": certainty,
            "children": [video],
        }
        if self._visualize:
            metrics["treeview"] = f"{STORAGE_BASE}/detect/{self.uuid}/treeview.json"
        return metrics

    def _image_metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {
            "type": "FinalResult",
            "label": capitalize(self.label),
            "image": f"{STORAGE_BASE}/detect/{self.uuid}/image.png",
            "score": round(self.score, 3),
            "children": [],
            "ifl": {
                "score": round(self.score, 3),
                "heatmap": f"{STORAGE_BASE}/detect/{self.uuid}/ifl_heatmap.png",
            },
        }
        if self._opt("use_reverse_search"):
            metrics["reverse_image_search_sources"] = (
                [
                    {
                        "url": "https://example.com/known-fake.jpg",
                        "title": "Known synthetic image",
                        "reason": "near-duplicate of a known AI-generated image",
                        "verdict": "known_fake",
                        "similarity": 0.97,
                    }
                ]
                if self.label == "fake"
                else []
            )
        return metrics

    def _intelligence_object(self) -> dict[str, Any] | None:
        status = self.intelligence_status
        if status is None:
            return None
        description = (
            f"Fake Detect API intelligence for {self.media_type}: verdict {self.label}, "
            f"score {self.score:.2f}."
            if status == "completed"
            else None
        )
        return {
            "uuid": self.intelligence_uuid,
            "status": status,
            "error_message": "Detection failed" if status == "failed" else None,
            "description": description,
            "created_at": self.iso(self.created_at),
            "detect_uuid": self.uuid,
        }

    def _wire_intelligence(self, *, experts: bool) -> Any:
        obj = self._intelligence_object()
        if experts:  # §4.1: experts=true → array of completed results, possibly empty
            return [obj] if obj is not None and obj["status"] == "completed" else []
        return obj

    def _watermark(self, *, created: bool) -> dict[str, Any]:
        # §4.2 / DetectWatermarkAnalysis
        if created:
            return {"status": "pending"}
        if self.status == "processing":
            return {"status": "processing"}
        if self.status == "failed":
            return {
                "status": "failed",
                "error_message": "Watermark analysis did not run because detection failed",
            }
        present = self.watermark_present
        confidence = 0.97 if present else 0.03
        if self.media_type == "audio":
            results = [
                {
                    "model_version": version,
                    "status": "succeeded",
                    "detected": present,
                    "has_watermark": {"0": present},
                    "confidence": confidence,
                }
                for version in ("perth_v1", "perth_v2")
            ]
            metrics: dict[str, Any] = {
                "overall_status": "present" if present else "absent",
                "detected_model_versions": ["perth_v1", "perth_v2"] if present else [],
                "coverage_complete": True,
                "has_watermark": {"0": present},
                "confidence": confidence,
                "model_results": results,
                "synthid": False,
            }
        else:
            metrics = {
                "overall_status": "present" if present else "absent",
                "detected_model_versions": ["perth_v2"] if present else [],
                "has_watermark": present,
                "detection_score": confidence,
                "model_results": [
                    {
                        "model_version": "perth_v2",
                        "status": "succeeded",
                        "detected": present,
                        "confidence": confidence,
                    }
                ],
                "verdict": "verified" if present else "not_watermarked",
                "synthid": False,
            }
        return {"status": "completed", "metrics": metrics, "error_message": None}

    def _apply_overrides(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.is_terminal:
            for key, value in self.item.items():
                if value is OMIT:
                    item.pop(key, None)
                else:
                    item[key] = value
        return item

    def to_wire(
        self, view: str = "get", *, experts: bool = False, include_status: bool = False
    ) -> dict[str, Any]:
        """Render the ``item`` object.

        *view*: ``"get"`` (GET /detect/{uuid} and ``Prefer: wait``; numeric strings in ``metrics``),
        ``"list"`` (GET /detect; JSON numbers) or ``"create"`` (the async POST /detect response;
        ``status`` only when *include_status*).
        """
        if view == "create":
            return self._create_view(include_status=include_status)
        numbers = view == "list"
        completed = self.status == "completed"
        is_video = self.media_type == "video"
        item: dict[str, Any] = {"uuid": self.uuid, "media_type": self.media_type}
        item["status"] = self.status
        if self.status == "processing":
            item["metrics"] = {}
        elif completed and (self.media_type == "audio" or (is_video and self._modality != "video")):
            item["metrics"] = self._audio_metrics(numbers=numbers)
        elif numbers:
            item["metrics"] = None
        if completed and self.media_type == "image":
            item["image_metrics"] = self._image_metrics()
        elif numbers:
            item["image_metrics"] = None
        if completed and is_video and self._modality != "audio":
            item["video_metrics"] = self._video_metrics()
        elif numbers:
            item["video_metrics"] = None
        tracing = self._opt("audio_source_tracing") or self._opt("audio_source_tracing_enabled")
        if tracing and self.media_type == "audio" and self.is_terminal:
            # §4.2: source tracing only reported when the audio is labelled fake
            item["audio_source_tracing"] = (
                {"label": "resemble_ai", "error_message": None}
                if completed and self.label == "fake"
                else None
            )
        item["intelligence"] = self._wire_intelligence(experts=experts and not numbers)
        if self.detect_watermark:
            item["watermark"] = self._watermark(created=False)
        if is_video:
            item.update(self._video_flags())
        item.update(self._common_fields())
        item["duration"] = self.duration if completed else None
        item["visualize"] = self._visualize
        item["audio_source_tracing_enabled"] = tracing
        item["use_ood_detector"] = self._opt("use_ood_detector")
        item["extra_params"] = self._extra_params()
        item["error_message"] = self.error_message if self.status == "failed" else None
        if numbers:
            item["pipeline"] = None  # §3.2: deprecated, ignored for new detects
        item["created_at"] = self.iso(self.created_at)
        item["updated_at"] = self.iso(self.updated_at or self.created_at)
        return self._apply_overrides(item)

    def _video_flags(self) -> dict[str, Any]:
        # §3.2: face_only is effective only for video with modality all/video
        return {
            "modality": self._modality,
            "face_only": self._opt("face_only") and self._modality != "audio",
        }

    def _common_fields(self) -> dict[str, Any]:
        deleted = self.zero_retention_mode and self.is_terminal  # §3.5: purge after terminal
        return {
            "url": self._wire_url(),
            "audio_url": self._wire_url(),
            "filename": self.wire_filename,
            "zero_retention_mode": self.zero_retention_mode,
            "file_deleted_at": self.iso(self.completed_at or self.created_at) if deleted else None,
        }

    def _extra_params(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"search_identity_requested": self._opt("search_identity")}
        if self.media_type == "image" and self._opt("use_reverse_search"):
            extra["use_reverse_search"] = True
        return extra

    def _create_view(self, *, include_status: bool) -> dict[str, Any]:
        # §3.4 / create_detect_response_async.json: no status key, metrics {}, intelligence null
        item: dict[str, Any] = {"uuid": self.uuid}
        if include_status:
            item["status"] = self.status
        item["metrics"] = {}
        item["created_at"] = self.iso(self.created_at)
        item["updated_at"] = self.iso(self.updated_at or self.created_at)
        item["media_type"] = self.media_type
        item["intelligence"] = None
        item.update(self._common_fields())
        if self.media_type == "video":
            item.update(self._video_flags())
        if self.detect_watermark:
            item["watermark"] = self._watermark(created=True)
        return item


@attrs.define(eq=False)
class FakeBatch:
    """A batch created by ``POST /detect/batch`` (§7) or :meth:`FakeDetectAPI.add_batch`."""

    uuid: str
    detect_uuids: list[str]
    created_at: float
    options: dict[str, Any] = attrs.field(factory=dict)
    files: list[tuple[str, int]] = attrs.field(factory=list)
    source: str = "seed"
    iso: Callable[[float], str] = attrs.field(default=unix_iso, repr=False)

    def to_wire(self, detections: Mapping[str, FakeDetection]) -> dict[str, Any]:
        """Render the ``DetectBatch`` item (§8) from the current state of the children."""
        children = [detections[u] for u in self.detect_uuids if u in detections]
        completed = sum(1 for d in children if d.status == "completed")
        failed = sum(1 for d in children if d.status == "failed")
        # §8: processing while any child runs; then completed / failed / partially_failed
        if any(not d.is_terminal for d in children):
            status = "processing"
        elif failed == 0 and completed > 0:
            status = "completed"
        elif completed == 0:
            status = "failed"
        else:
            status = "partially_failed"
        return {
            "uuid": self.uuid,
            "status": status,
            "total_files": len(self.detect_uuids),
            "completed_count": completed,
            "failed_count": failed,
            "created_at": self.iso(self.created_at),
            "detect_uuids": list(self.detect_uuids),
        }
