"""An in-process fake of Resemble AI's Detect API, built on :mod:`aiohttp.web`.

The fake speaks only the wire format of the public API contract (``SPEC.md`` of this project,
sections quoted as ``§n`` below). It deliberately imports nothing from the rest of
``resemble_detect_async`` so that it can be used on its own: as the SDK's test double, as a test kit
for users, and as the embedded backend of the demo when no API key is configured.

Everything is deterministic: the verdict of a submitted detection is derived from the media name
(see :func:`outcome_for_name`), detections progress when they are polled (or when a configurable
amount of time has passed on an injectable clock), and faults are injected explicitly with
:class:`Fault` rules.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import tempfile
import time
import uuid as uuid_mod
import zipfile
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import PurePosixPath
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

import attrs
from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "FakeDetectAPI",
    "Fault",
    "RecordedRequest",
    "FakeDetection",
    "FakeBatch",
    "FakeUpload",
    "OMIT",
    "outcome_for_name",
    "API_PREFIX",
    "AUDIO_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "DIRECT_UPLOAD_EXTENSIONS",
]

API_PREFIX: Final = "/api/v2"  # §1 base URL https://app.resemble.ai/api/v2

# §14: the direct-upload / batch allow-list.
AUDIO_EXTENSIONS: Final = frozenset({"wav", "mp3", "m4a", "ogg", "aac", "flac"})
VIDEO_EXTENSIONS: Final = frozenset({"mp4", "mov", "avi", "mkv", "webm"})
IMAGE_EXTENSIONS: Final = frozenset({"jpg", "jpeg", "png", "gif", "webp"})
DIRECT_UPLOAD_EXTENSIONS: Final = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
# §14: the URL-intake list additionally names wmv (a video container).
_URL_ONLY_VIDEO_EXTENSIONS: Final = frozenset({"wmv"})

_MEDIA_TOKEN_TTL: Final = 3600.0  # §9: a secure-upload token is valid for 1 hour
_WATERMARK_SOURCE_LIMIT: Final = 200 * 1024 * 1024  # §3.2 / §14: detect_watermark source limit
_CLIENT_MAX_SIZE: Final = 1024 * 1024 * 1024  # non-multipart bodies; multipart is streamed
_READ_CHUNK: Final = 256 * 1024
_HEAD_BYTES: Final = 4096  # how much of each uploaded file is kept in memory
_SPOOL_MAX_MEMORY: Final = 4 * 1024 * 1024  # zip archives larger than this go to a temp file
_MAX_FIELD_BYTES: Final = 64 * 1024
_SHUTDOWN_TIMEOUT: Final = 0.5
_STORAGE_BASE: Final = "https://storage.fake-resemble.invalid"

_FAULT_KINDS: Final = frozenset({"status", "html", "drop", "delay", "hang", "malformed"})


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


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def outcome_for_name(name: str) -> tuple[str, str, float]:
    """Return ``(outcome, label, score)`` the fake assigns to media called *name*.

    * ``outcome`` is ``"failed"`` when the name contains ``"fail"`` (case-insensitive), else
      ``"completed"``.
    * ``label`` is ``"fake"`` or ``"real"``, chosen by the parity of the first byte of
      ``sha256(name)``.
    * ``score`` (probability of being fake) is derived from the same hash: fake → 0.6–0.99,
      real → 0.01–0.40.

    For a direct or secure upload the name is the uploaded filename; for URL intake it is the
    whole URL.
    """
    d = _digest(name)
    frac = int.from_bytes(d[1:3], "big") / 0xFFFF
    label = "fake" if d[0] % 2 == 0 else "real"
    score = round(0.6 + 0.39 * frac, 3) if label == "fake" else round(0.01 + 0.39 * frac, 3)
    outcome = "failed" if "fail" in name.lower() else "completed"
    return outcome, label, score


def _duration_for(name: str) -> float:
    return round(2.0 + 18.0 * _digest(name)[3] / 255, 1)


def _extension(name: str) -> str:
    suffix = PurePosixPath(name).suffix
    return suffix[1:].lower() if suffix else ""


def _media_type_for_extension(ext: str) -> str | None:
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in VIDEO_EXTENSIONS or ext in _URL_ONLY_VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


def _url_basename(url: str) -> str:
    return unquote(PurePosixPath(urlsplit(url).path).name)


def _capitalize(label: str) -> str:
    return label[:1].upper() + label[1:]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unix_iso(t: float) -> str:
    return _format_iso(datetime.fromtimestamp(t, UTC))


def _format_iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _num_str(x: float) -> str:
    """A score as a numeric string with 2-3 decimals ("0.90", "0.566"), like the examples."""
    text = f"{x:.3f}"
    return text[:-1] if text.endswith("0") else text


def _human_bytes(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MB" if n >= mib and n % mib == 0 else f"{n} bytes"


def _clamp01(x: float) -> float:
    return min(0.999, max(0.001, x))


def _redacted_headers(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in headers.items():
        if key.lower() == "authorization":
            scheme = value.split(None, 1)[0] if value.strip() else ""
            out.add(key, f"{scheme} ***" if scheme else "***")
        else:
            out.add(key, value)
    return CIMultiDictProxy(out)


class _APIError(Exception):
    """Raised by handlers; rendered as ``{"success": false, "message": ..., "errors": ...}``."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors) if errors else None


def _error_response(
    status: int,
    message: str,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    # §13: error body shape {"success": false, "message": ..., "errors": {field: [msgs]}}
    body: dict[str, Any] = {"success": False, "message": message}
    if errors:
        body["errors"] = dict(errors)
    return web.json_response(body, status=status, headers=headers)


def _validation_error(errors: Mapping[str, list[str]]) -> _APIError:
    details = "; ".join(f"{field} {msg}" for field, msgs in errors.items() for msg in msgs)
    return _APIError(400, f"Validation failed: {details}", errors)


# --------------------------------------------------------------------------------------------
# public value types
# --------------------------------------------------------------------------------------------


def _validate_kind(_inst: object, _attr: attrs.Attribute[Any], value: str) -> None:
    if value not in _FAULT_KINDS:
        raise ValueError(f"unknown fault kind {value!r}; expected one of {sorted(_FAULT_KINDS)}")


def _validate_path(_inst: object, _attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        re.compile(value)


def _validate_times(_inst: object, _attr: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError("times must be >= 1 (or None for 'forever')")


def _retry_after_text(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return f"{value:g}"


@attrs.frozen
class Fault:
    """One fault-injection rule, matched against the request method and path.

    ``path`` is a regular expression matched with :func:`re.fullmatch` against the path relative to
    ``/api/v2`` (for example ``"/detect/[^/]+"``). ``times`` is how many matching requests the rule
    affects (``None``: every one). Rules are tried in injection order; the first matching rule with
    uses left applies.

    Kinds:

    * ``"status"`` – respond with ``status``, a JSON error body (``message``) and, when
      ``retry_after`` is set, a verbatim ``Retry-After`` header.
    * ``"html"`` – respond with ``status`` and an nginx-style ``text/html`` error page.
    * ``"drop"`` – close the TCP connection without sending any response.
    * ``"delay"`` – wait ``delay`` seconds, then proceed normally.
    * ``"hang"`` – never respond; the connection is dropped when the server closes.
    * ``"malformed"`` – respond 200 with ``Content-Type: application/json`` and a truncated body.

    With ``after_handler=True`` the real handler runs first (so e.g. the detection is created) and
    the fault then replaces, delays or drops its response: "the request reached the server, the
    response was lost".
    """

    kind: str = attrs.field(validator=_validate_kind)
    status: int = 500
    retry_after: str | None = None
    message: str | None = None
    delay: float = 0.0
    times: int | None = attrs.field(default=1, validator=_validate_times)
    method: str | None = None
    path: str | None = attrs.field(default=None, validator=_validate_path)
    after_handler: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request (*path* relative to ``/api/v2``)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.fullmatch(self.path, path) is not None

    @classmethod
    def error(
        cls,
        status: int,
        *,
        message: str | None = None,
        retry_after: float | str | None = None,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        after_handler: bool = False,
    ) -> Fault:
        """Respond with *status* and a JSON error body."""
        return cls(
            "status",
            status=status,
            message=message,
            retry_after=_retry_after_text(retry_after),
            times=times,
            method=method,
            path=path,
            after_handler=after_handler,
        )

    @classmethod
    def rate_limited(
        cls,
        retry_after: float | str | None = None,
        *,
        message: str | None = None,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        after_handler: bool = False,
    ) -> Fault:
        """Respond 429, optionally with ``Retry-After`` (a number is sent as ``"2"``, ``"1.5"``)."""
        return cls.error(
            429,
            message=message or "Rate limit exceeded",
            retry_after=retry_after,
            times=times,
            method=method,
            path=path,
            after_handler=after_handler,
        )

    @classmethod
    def html(
        cls,
        status: int = 502,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        after_handler: bool = False,
    ) -> Fault:
        """Respond with an nginx-style HTML error page (a proxy in front of the API failing)."""
        return cls(
            "html",
            status=status,
            times=times,
            method=method,
            path=path,
            after_handler=after_handler,
        )

    @classmethod
    def drop(
        cls,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        after_handler: bool = False,
    ) -> Fault:
        """Close the connection without a response."""
        return cls("drop", times=times, method=method, path=path, after_handler=after_handler)

    @classmethod
    def slow(
        cls,
        seconds: float,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        after_handler: bool = False,
    ) -> Fault:
        """Delay the response by *seconds* (real time), then respond normally."""
        return cls(
            "delay",
            delay=seconds,
            times=times,
            method=method,
            path=path,
            after_handler=after_handler,
        )

    @classmethod
    def hang(
        cls,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        after_handler: bool = False,
    ) -> Fault:
        """Never respond (until the server is closed, which drops the connection)."""
        return cls("hang", times=times, method=method, path=path, after_handler=after_handler)

    @classmethod
    def malformed_json(
        cls,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        after_handler: bool = False,
    ) -> Fault:
        """Respond 200 ``application/json`` with a truncated, unparsable body."""
        return cls(
            "malformed",
            status=200,
            times=times,
            method=method,
            path=path,
            after_handler=after_handler,
        )


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


def _iso_default(t: float) -> str:
    return _unix_iso(t)


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
    iso: Callable[[float], str] = attrs.field(default=_iso_default, repr=False)

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
        ext = _extension(self.filename) or {"audio": "wav", "video": "mp4", "image": "jpg"}.get(
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
        d = _digest(self.uuid)
        return [round(_clamp01(self.score + (d[i] / 255 - 0.5) * 0.1), 2) for i in range(n)]

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
                "aggregated_score": _num_str(self.score),
            }
        if self._visualize:
            metrics["image"] = f"{_STORAGE_BASE}/detect/{self.uuid}/audio_heatmap.png"
        return metrics

    def _video_metrics(self) -> dict[str, Any]:
        conclusion = _capitalize(self.label)
        certainty = round(0.5 + abs(self.score - 0.5), 3)
        d = _digest(self.uuid + ":video")

        def node(kind: str, i: int) -> dict[str, Any]:
            s = round(_clamp01(self.score + (d[i] / 255 - 0.5) * 0.1), 3)
            c = round(_clamp01(certainty + (d[i + 8] / 255 - 0.5) * 0.05), 3)
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
            metrics["treeview"] = f"{_STORAGE_BASE}/detect/{self.uuid}/treeview.json"
        return metrics

    def _image_metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {
            "type": "FinalResult",
            "label": _capitalize(self.label),
            "image": f"{_STORAGE_BASE}/detect/{self.uuid}/image.png",
            "score": round(self.score, 3),
            "children": [],
            "ifl": {
                "score": round(self.score, 3),
                "heatmap": f"{_STORAGE_BASE}/detect/{self.uuid}/ifl_heatmap.png",
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
    iso: Callable[[float], str] = attrs.field(default=_iso_default, repr=False)

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


# --------------------------------------------------------------------------------------------
# request parsing
# --------------------------------------------------------------------------------------------


@attrs.define
class _RequestInfo:
    request_id: str
    json: Any | None = None
    form: dict[str, str] = attrs.field(factory=dict)
    files: list[tuple[str, str, int]] = attrs.field(factory=list)
    dropped: bool = False


# The request being handled by the current task (aiohttp runs every request in its own task).
_current_request: ContextVar[_RequestInfo | None] = ContextVar(
    "fake_detect_current_request", default=None
)


def _request_info() -> _RequestInfo:
    info = _current_request.get()
    if info is None:  # a handler called outside the recording middleware
        info = _RequestInfo(request_id=str(uuid_mod.uuid4()))
        _current_request.set(info)
    return info


@attrs.define(eq=False)
class _UploadedPart:
    field: str
    filename: str
    content_type: str | None
    size: int = 0
    head: bytes = b""
    spool: tempfile.SpooledTemporaryFile[bytes] | None = None

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


@attrs.define
class _ActiveFault:
    fault: Fault
    remaining: int | None


# Option types (§3.2 single detect, §7 batch).
_SINGLE_OPTIONS: Final[Mapping[str, str]] = {
    "callback_url": "url",
    "wait_for_intelligence": "bool",
    "visualize": "bool",
    "frame_length": "frame_length",
    "start_region": "number",
    "end_region": "number",
    "max_video_secs": "number",
    "max_video_fps": "number",
    "model_types": "model_types",
    "pipeline": "string",
    "modality": "modality",
    "face_only": "bool",
    "intelligence": "bool",
    "infer_from_intelligence": "bool",
    "detect_watermark": "bool",
    "audio_source_tracing": "bool",
    "signal": "bool",
    "use_reverse_search": "bool",
    "use_ood_detector": "bool",
    "zero_retention_mode": "bool",
    "privacy_mode": "bool",  # §16: old name of zero_retention_mode
    "search_identity": "bool",
}
_BATCH_OPTIONS: Final[Mapping[str, str]] = {
    "callback_url": "url",
    "intelligence": "bool",
    "infer_from_intelligence": "bool",
    "search_identity": "bool",
    "visualize": "bool",
    "audio_source_tracing_enabled": "bool",  # §7: batch name of audio_source_tracing
    "frame_length": "frame_length",
    "start_region": "number",
    "end_region": "number",
    "max_video_secs": "number",
    "use_llm": "bool",
    "face_only": "bool",
    "zero_retention_mode": "bool",
    "privacy_mode": "bool",
    "detect_watermark": "bool",
    "signal": "bool",
}
_NOT_OPTIONS: Final = frozenset({"file", "files[]", "url", "media_token"})


def _parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _parse_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return None


def _parse_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _parse_options(
    raw: Mapping[str, Any], spec: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate options (§3.2 / §7). Unknown keys are kept verbatim; ``null`` means absent."""
    options: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, value in raw.items():
        if name in _NOT_OPTIONS or value is None:
            continue
        kind = spec.get(name)
        if kind is None:
            options[name] = value
        elif kind == "bool":
            b = _parse_bool(value)
            if b is None:
                fail(name, "must be a boolean (true or false)")
            else:
                options[name] = b
        elif kind == "frame_length":  # §3.2: integer 1–4
            i = _parse_int(value)
            if i is None or not 1 <= i <= 4:
                fail(name, "must be an integer between 1 and 4")
            else:
                options[name] = i
        elif kind == "number":
            n = _parse_number(value)
            if n is None or n < 0:
                fail(name, "must be a non-negative number")
            else:
                options[name] = n
        elif kind == "modality":  # §3.2: audio | video | all, invalid → 400
            if value not in ("audio", "video", "all"):
                fail(name, "must be one of audio, video, all")
            else:
                options[name] = value
        elif kind == "model_types":  # §3.2: image | talking_head
            if value not in ("image", "talking_head"):
                fail(name, "must be one of image, talking_head")
            else:
                options[name] = value
        elif kind == "url":
            if not _is_http_url(value):
                fail(name, "must be an http(s) URL")
            else:
                options[name] = value
        elif not isinstance(value, str):
            fail(name, "must be a string")
        else:
            options[name] = value
    if options.pop("privacy_mode", False):  # §16: privacy_mode → zero_retention_mode
        options["zero_retention_mode"] = True
    if options.get("signal") and options.get("zero_retention_mode"):
        # §3.2: signal cannot be combined with zero_retention_mode
        fail("signal", "cannot be combined with zero_retention_mode")
    return options, errors


def _prefers_wait(request: web.Request) -> bool:
    """Whether the request carries the ``Prefer: wait`` preference (§3.3)."""
    for value in request.headers.getall("Prefer", []):
        for token in value.split(","):
            name = token.split(";", 1)[0].split("=", 1)[0].strip().lower()
            if name == "wait":
                return True
    return False


def _relative_path(path: str) -> str:
    if path == API_PREFIX:
        return "/"
    if path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX) :]
    return path


def _nginx_page(status: int) -> str:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    title = f"{status} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------


class FakeDetectAPI:
    """A fake Resemble Detect API server (``/api/v2``) running inside the current event loop.

    Use ``async with FakeDetectAPI() as fake:`` (serves on ``127.0.0.1`` on a free port) and point a
    client at :attr:`base_url`, or mount :attr:`app` with aiohttp's test utilities. All state is
    public and may be inspected or seeded: :attr:`detections`, :attr:`batches`, :attr:`uploads`,
    :attr:`requests`, :attr:`in_flight` / :attr:`max_in_flight`.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        polls_to_complete: int = 1,
        seconds_to_complete: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_direct_upload_bytes: int = 150 * 1024 * 1024,
        max_batch_files: int = 50,
        max_batch_bytes: int = 500 * 1024 * 1024,
        create_response_status: bool = False,
        intelligence_polls: int = 0,
    ) -> None:
        if polls_to_complete < 0:
            raise ValueError("polls_to_complete must be >= 0")
        self.api_key = api_key
        self.polls_to_complete = polls_to_complete
        self.seconds_to_complete = seconds_to_complete
        self.clock = clock
        self.max_direct_upload_bytes = max_direct_upload_bytes
        self.max_batch_files = max_batch_files
        self.max_batch_bytes = max_batch_bytes
        self.create_response_status = create_response_status
        self.intelligence_polls = intelligence_polls

        self.detections: dict[str, FakeDetection] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.uploads: dict[str, FakeUpload] = {}
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0

        self._faults: list[_ActiveFault] = []
        self._epoch = datetime.now(UTC)
        self._clock0 = clock()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._app_used = False
        self.app: web.Application = self._build_app()

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on *host*:*port* (0 = a free port); return the base URL ``http://h:p/api/v2``."""
        if self._runner is not None:
            raise RuntimeError("FakeDetectAPI is already started")
        if self._app_used:  # an aiohttp Application can only be served once
            self.app = self._build_app()
        runner = web.AppRunner(
            self.app,
            handler_cancellation=True,  # a client hanging up cancels its handler (in_flight)
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
            access_log=None,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = int(runner.addresses[0][1])
        shown_host = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{shown_host}:{bound_port}{API_PREFIX}"
        return self._base_url

    async def close(self) -> None:
        """Stop serving: drop hanging/delayed requests, release the port. Idempotent."""
        runner, self._runner = self._runner, None
        self._base_url = None
        self._closing.set()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeDetectAPI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api/v2``; raises :class:`RuntimeError` if not started."""
        if self._base_url is None:
            raise RuntimeError("FakeDetectAPI is not started; use 'async with' or start()")
        return self._base_url

    # ---- knobs / seeding -----------------------------------------------------------------------

    def reset_counters(self) -> None:
        """Clear :attr:`requests`; reset :attr:`max_in_flight` to the current :attr:`in_flight`."""
        self.requests.clear()
        self.max_in_flight = self.in_flight

    def inject(self, fault: Fault) -> None:
        """Add a fault rule (tried after the rules injected before it)."""
        self._faults.append(_ActiveFault(fault, fault.times))

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self._faults.clear()

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The fault rules that still have uses left."""
        return tuple(a.fault for a in self._faults if a.remaining is None or a.remaining > 0)

    def add_detection(
        self,
        *,
        uuid: str | None = None,
        media_type: str = "audio",
        outcome: str = "completed",
        label: str = "fake",
        score: float = 0.9,
        polls_to_complete: int | None = None,
        seconds_to_complete: float | None = None,
        error_message: str | None = None,
        intelligence: bool = False,
        item: Mapping[str, Any] | None = None,
        intelligence_polls: int | None = None,
        filename: str | None = None,
        detect_watermark: bool = False,
        zero_retention_mode: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """Seed a detection directly (no request) and return its uuid.

        Schedule: an explicit ``seconds_to_complete`` makes it time-based, an explicit
        ``polls_to_complete`` poll-based; otherwise the server's defaults apply.
        """
        return self._add_detection(
            uuid=uuid,
            media_type=media_type,
            outcome=outcome,
            label=label,
            score=score,
            polls_to_complete=polls_to_complete,
            seconds_to_complete=seconds_to_complete,
            error_message=error_message,
            intelligence=intelligence,
            item=item,
            intelligence_polls=intelligence_polls,
            filename=filename,
            detect_watermark=detect_watermark,
            zero_retention_mode=zero_retention_mode,
            options=options,
        ).uuid

    def add_batch(self, n_children: int, **detection_kwargs: Any) -> str:
        """Seed a batch of *n_children* detections (``add_detection`` keyword arguments apply to
        every child; ``uuid`` is not allowed) and return the batch uuid."""
        if n_children < 1:
            raise ValueError("a batch needs at least one child")
        if "uuid" in detection_kwargs:
            raise TypeError("add_batch() does not accept 'uuid'")
        batch_uuid = str(uuid_mod.uuid4())
        children = [
            self._add_detection(batch_uuid=batch_uuid, **detection_kwargs).uuid
            for _ in range(n_children)
        ]
        self.batches[batch_uuid] = FakeBatch(
            uuid=batch_uuid,
            detect_uuids=children,
            created_at=self.clock(),
            iso=self._iso,
        )
        return batch_uuid

    # ---- internals: state ----------------------------------------------------------------------

    def _iso(self, t: float) -> str:
        """Map a clock value to an ISO-8601 UTC timestamp (clock start = server creation time)."""
        return _format_iso(self._epoch + timedelta(seconds=t - self._clock0))

    def _schedule(
        self, polls: int | None, seconds: float | None
    ) -> tuple[int | None, float | None]:
        if seconds is not None:
            return None, seconds
        if polls is not None:
            return polls, None
        if self.seconds_to_complete is not None:
            return None, self.seconds_to_complete
        return self.polls_to_complete, None

    def _add_detection(
        self,
        *,
        uuid: str | None = None,
        media_type: str = "audio",
        outcome: str = "completed",
        label: str = "fake",
        score: float = 0.9,
        polls_to_complete: int | None = None,
        seconds_to_complete: float | None = None,
        error_message: str | None = None,
        intelligence: bool = False,
        item: Mapping[str, Any] | None = None,
        intelligence_polls: int | None = None,
        filename: str | None = None,
        detect_watermark: bool = False,
        zero_retention_mode: bool = False,
        options: Mapping[str, Any] | None = None,
        batch_uuid: str | None = None,
    ) -> FakeDetection:
        det_uuid = uuid or str(uuid_mod.uuid4())
        if det_uuid in self.detections:
            raise ValueError(f"a detection with uuid {det_uuid!r} already exists")
        polls, seconds = self._schedule(polls_to_complete, seconds_to_complete)
        name = filename or {
            "audio": "sample.wav",
            "video": "sample.mp4",
            "image": "sample.jpg",
        }.get(media_type, "sample.bin")
        opts = dict(options or {})
        if intelligence:
            opts["intelligence"] = True
        if detect_watermark:
            opts["detect_watermark"] = True
        if zero_retention_mode:
            opts["zero_retention_mode"] = True
        det = FakeDetection(
            uuid=det_uuid,
            media_type=media_type,
            created_at=self.clock(),
            options=opts,
            outcome=outcome,
            label=label,
            score=score,
            error_message=error_message,
            filename=name,
            url=f"{_STORAGE_BASE}/detect/{det_uuid}/{quote(name)}",
            source="seed",
            polls_to_complete=polls,
            seconds_to_complete=seconds,
            duration=_duration_for(name),
            intelligence=intelligence,
            intelligence_polls=(
                self.intelligence_polls if intelligence_polls is None else intelligence_polls
            ),
            detect_watermark=detect_watermark,
            watermark_present="watermark" in name.lower(),
            zero_retention_mode=zero_retention_mode,
            batch_uuid=batch_uuid,
            item=dict(item or {}),
            iso=self._iso,
        )
        self.detections[det_uuid] = det
        return det

    def _new_detection(
        self,
        *,
        name: str,
        filename: str,
        url: str | None,
        source: str,
        options: dict[str, Any],
        batch_uuid: str | None = None,
    ) -> FakeDetection:
        det_uuid = str(uuid_mod.uuid4())
        outcome, label, score = outcome_for_name(name)
        # media type from the extension of the filename / URL path; unknown URL ext → audio
        media_type = _media_type_for_extension(_extension(filename)) or "audio"
        polls, seconds = self._schedule(None, None)
        det = FakeDetection(
            uuid=det_uuid,
            media_type=media_type,
            created_at=self.clock(),
            options=options,
            outcome=outcome,
            label=label,
            score=score,
            error_message=(
                "Failed to process media (fake Detect API: the media name contains 'fail')"
                if outcome == "failed"
                else None
            ),
            filename=filename,
            url=url if url is not None else f"{_STORAGE_BASE}/detect/{det_uuid}/{quote(filename)}",
            source=source,
            polls_to_complete=polls,
            seconds_to_complete=seconds,
            duration=_duration_for(name),
            intelligence=bool(options.get("intelligence")),
            intelligence_polls=self.intelligence_polls,
            detect_watermark=bool(options.get("detect_watermark")),
            watermark_present="watermark" in name.lower(),
            zero_retention_mode=bool(options.get("zero_retention_mode")),
            batch_uuid=batch_uuid,
            iso=self._iso,
        )
        self.detections[det_uuid] = det
        return det

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for active in self._faults:
            if active.remaining is not None and active.remaining <= 0:
                continue
            if active.fault.matches(method, path):
                if active.remaining is not None:
                    active.remaining -= 1
                return active.fault
        return None

    # ---- internals: app & middlewares ------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=_CLIENT_MAX_SIZE,
            middlewares=[self._record_mw, self._fault_mw, self._error_mw, self._auth_mw],
        )
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_response_prepare.append(self._on_response_prepare)
        p = API_PREFIX
        app.router.add_get(f"{p}/detect", self._handle_list)
        app.router.add_post(f"{p}/detect", self._handle_create)
        app.router.add_post(f"{p}/detect/batch", self._handle_batch_create)
        app.router.add_get(f"{p}/detect/batch/{{uuid}}", self._handle_batch_get)
        app.router.add_get(f"{p}/detect/{{uuid}}", self._handle_get)
        app.router.add_delete(f"{p}/detect/{{uuid}}", self._handle_delete)
        app.router.add_post(f"{p}/secure_uploads", self._handle_secure_upload)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._app_used = True
        self._closing = asyncio.Event()

    async def _on_shutdown(self, _app: web.Application) -> None:
        self._closing.set()  # wakes hanging / delayed handlers so shutdown never blocks

    async def _on_response_prepare(
        self, request: web.Request, response: web.StreamResponse
    ) -> None:
        if "X-Request-Id" not in response.headers:
            info = _current_request.get()
            response.headers["X-Request-Id"] = (
                info.request_id if info is not None else str(uuid_mod.uuid4())
            )

    @web.middleware
    async def _record_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = str(uuid_mod.uuid4())
        info = _RequestInfo(request_id=request_id)
        _current_request.set(info)  # this task's context only
        placeholder = RecordedRequest(
            method=request.method,
            path=_relative_path(request.path),
            query=dict(request.query),
            headers=_redacted_headers(request.headers),
            at=self.clock(),
            request_id=request_id,
        )
        self.requests.append(placeholder)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        status: int | None = None
        try:
            response = await handler(request)
            if not info.dropped:
                status = response.status
            return response
        finally:
            self.in_flight -= 1
            final = attrs.evolve(
                placeholder,
                json=info.json,
                form=dict(info.form),
                files=tuple(info.files),
                status=status,
            )
            for index in range(len(self.requests) - 1, -1, -1):
                if self.requests[index] is placeholder:
                    self.requests[index] = final
                    break

    @web.middleware
    async def _fault_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self._take_fault(request.method, _relative_path(request.path))
        if fault is None:
            return await handler(request)
        response: web.StreamResponse | None = None
        if fault.after_handler:
            response = await handler(request)
        return await self._apply_fault(fault, request, handler, response)

    async def _apply_fault(
        self,
        fault: Fault,
        request: web.Request,
        handler: Handler,
        response: web.StreamResponse | None,
    ) -> web.StreamResponse:
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            return _error_response(
                fault.status, fault.message or _reason(fault.status), headers=headers
            )
        if fault.kind == "html":
            return web.Response(
                status=fault.status, text=_nginx_page(fault.status), content_type="text/html"
            )
        if fault.kind == "malformed":
            text = '{"success": true, "item": {"uuid": "'
            if isinstance(response, web.Response) and isinstance(response.body, bytes):
                full = response.body.decode("utf-8", errors="replace")
                text = full[: max(1, len(full) // 2)]
            return web.Response(status=200, text=text, content_type="application/json")
        if fault.kind == "drop":
            return await self._drop(request)
        if fault.kind == "delay":
            if not await self._sleep(fault.delay):
                return await self._drop(request)
        else:  # "hang": wait for the server to close
            await self._closing.wait()
            return await self._drop(request)
        return response if response is not None else await handler(request)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; return ``False`` early if the server is closing."""
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            return True
        return False

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        _request_info().dropped = True
        # Read the rest of the body first: closing a socket with unread data sends a RST, and the
        # client should see a clean disconnect (aiohttp: ServerDisconnectedError).
        if not self._closing.is_set():
            while await request.content.readany():
                pass
        if request.transport is not None:
            request.transport.close()
        # aiohttp fails to write this to the closed transport and ignores it.
        return web.Response(status=204)

    @web.middleware
    async def _error_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except _APIError as exc:
            return _error_response(exc.status, exc.message, exc.errors)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = {404: "Not found", 405: "Method not allowed"}.get(exc.status, exc.reason)
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return _error_response(exc.status, message, headers=headers)

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # §1: Authorization: Bearer <key>; the legacy "Token token=<key>" form is accepted too.
        header = request.headers.get("Authorization", "").strip()
        match = re.fullmatch(r"(?i:bearer)\s+(\S+)", header) or re.fullmatch(
            r'(?i:token)\s+token="?([^"\s]+)"?', header
        )
        if match is None or not hmac.compare_digest(match.group(1).encode(), self.api_key.encode()):
            raise _APIError(401, "Invalid or missing API key")
        return await handler(request)

    # ---- internals: body parsing ---------------------------------------------------------------

    async def _read_multipart(
        self, request: web.Request, *, spool_fields: Iterable[str] = ()
    ) -> tuple[dict[str, str], list[_UploadedPart]]:
        """Stream a multipart body: count file bytes (keeping the first few KiB), spool only
        *spool_fields* (zip archives) to a temporary file."""
        info = _request_info()
        spool = frozenset(spool_fields)
        fields: dict[str, str] = {}
        parts: list[_UploadedPart] = []
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                await self._read_part(part, info, fields, parts, spool)
        except ValueError as exc:
            for up in parts:
                up.close()
            raise _APIError(400, f"Malformed multipart body: {exc}") from exc
        except BaseException:
            for up in parts:
                up.close()
            raise
        return fields, parts

    @staticmethod
    async def _read_part(
        part: object,
        info: _RequestInfo,
        fields: dict[str, str],
        parts: list[_UploadedPart],
        spool: frozenset[str],
    ) -> None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("nested multipart bodies are not supported")  # noqa: TRY004
        name = part.name or ""
        if part.filename is not None or name in ("file", "files[]"):
            up = _UploadedPart(
                field=name,
                filename=part.filename or "",
                content_type=part.headers.get("Content-Type"),
            )
            parts.append(up)
            if name in spool:
                # closed by _UploadedPart.close() once the request is handled
                up.spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX_MEMORY)  # noqa: SIM115
            while chunk := await part.read_chunk(_READ_CHUNK):
                if len(up.head) < _HEAD_BYTES:
                    up.head += chunk[: _HEAD_BYTES - len(up.head)]
                up.size += len(chunk)
                if up.spool is not None:
                    up.spool.write(chunk)
            info.files.append((up.field, up.filename, up.size))
            return
        data = bytearray()
        while chunk := await part.read_chunk(_READ_CHUNK):
            if len(data) <= _MAX_FIELD_BYTES:
                data += chunk
        value = bytes(data[:_MAX_FIELD_BYTES]).decode(
            part.get_charset(default="utf-8"), errors="replace"
        )
        fields[name] = value
        info.form[name] = value

    async def _read_json_object(self, request: web.Request) -> dict[str, Any]:
        info = _request_info()
        try:
            body = await request.json()
        except ValueError as exc:
            raise _APIError(400, "Request body is not valid JSON") from exc
        info.json = body
        if not isinstance(body, dict):
            raise _APIError(400, "Request body must be a JSON object")
        return body

    # ---- handlers: POST /detect ------------------------------------------------------------------

    async def _handle_create(self, request: web.Request) -> web.Response:
        file_parts: list[_UploadedPart] = []
        if request.content_type == "multipart/form-data":
            fields, parts = await self._read_multipart(request)
            raw: dict[str, Any] = dict(fields)
            file_parts = [p for p in parts if p.field == "file"]
        elif request.content_type == "application/json":
            raw = await self._read_json_object(request)
        else:
            # §1: JSON for url / media_token, multipart/form-data for direct upload
            raise _APIError(400, "Content-Type must be application/json or multipart/form-data")

        has_url = raw.get("url") not in (None, "")
        has_token = raw.get("media_token") not in (None, "")
        if len(file_parts) + has_url + has_token != 1:
            # §3.1: exactly one of file / url / media_token, else 400
            raise _APIError(
                400,
                "Exactly one of file, url or media_token must be provided"
                + (
                    " (only one file per request; use /detect/batch)" if len(file_parts) > 1 else ""
                ),
            )
        options, errors = _parse_options(raw, _SINGLE_OPTIONS)
        if errors:
            raise _validation_error(errors)

        size: int | None = None
        url: str | None = None
        if file_parts:
            part = file_parts[0]
            size = part.size
            if part.size > self.max_direct_upload_bytes:
                # §3.1: oversize direct upload → 400 pointing to Secure Uploads
                raise _APIError(
                    400,
                    f"File is larger than the {_human_bytes(self.max_direct_upload_bytes)} "
                    "direct upload limit; upload it with Secure Uploads (POST /secure_uploads) "
                    "and submit the returned token as media_token",
                    {"file": ["is too large for direct upload; use secure uploads"]},
                )
            self._check_upload_file(part, "file")
            name = filename = part.filename
            source = "file"
        elif has_url:
            url = raw["url"]
            if not _is_http_url(url):  # §3.1: server downloads it, must be a public http(s) URL
                raise _validation_error({"url": ["must be an http(s) URL"]})
            name = url
            filename = _url_basename(url) or "media"
            source = "url"
        else:
            upload = self._lookup_token(raw["media_token"])
            name = filename = upload.filename
            size = upload.size
            source = "media_token"
        if options.get("detect_watermark") and size is not None and size > _WATERMARK_SOURCE_LIMIT:
            # §3.2: detect_watermark applies a 200 MB source limit → 400
            raise _validation_error({"detect_watermark": ["source is larger than 200 MB"]})

        det = self._new_detection(
            name=name, filename=filename, url=url, source=source, options=options
        )
        if _prefers_wait(request):
            # §3.3: Prefer: wait returns the finished detection in the same response
            det.finish(self.clock())
            return web.json_response({"success": True, "item": det.to_wire("get")})
        # §3.4: HTTP 200 (not 202) with the async item
        return web.json_response(
            {
                "success": True,
                "item": det.to_wire("create", include_status=self.create_response_status),
            }
        )

    @staticmethod
    def _check_upload_file(part: _UploadedPart, field: str) -> None:
        if not part.filename:
            raise _validation_error({field: ["must have a filename with a media extension"]})
        if _extension(part.filename) not in DIRECT_UPLOAD_EXTENSIONS:
            # §14: direct-upload allow-list
            allowed = ", ".join(f".{e}" for e in sorted(DIRECT_UPLOAD_EXTENSIONS))
            raise _validation_error(
                {field: [f"has an unsupported file type ({part.filename}); allowed: {allowed}"]}
            )
        if part.size == 0:
            raise _validation_error({field: [f"is empty ({part.filename})"]})

    def _lookup_token(self, token: Any) -> FakeUpload:
        upload = self.uploads.get(token) if isinstance(token, str) else None
        if upload is None:  # §9: the token comes from POST /secure_uploads
            raise _validation_error({"media_token": ["is invalid"]})
        if upload.expired(self.clock()):  # §9: valid for 1 hour
            raise _validation_error({"media_token": ["has expired; upload the file again"]})
        return upload

    # ---- handlers: GET / DELETE /detect/{uuid}, GET /detect --------------------------------------

    def _get_detection(self, request: web.Request) -> FakeDetection:
        det = self.detections.get(request.match_info["uuid"])
        if det is None:
            raise _APIError(404, "Detect not found")  # §4.1
        return det

    async def _handle_get(self, request: web.Request) -> web.Response:
        det = self._get_detection(request)
        det.advance(self.clock(), poll=True)  # each GET is one poll
        experts = request.query.get("experts", "").strip().lower() in ("true", "1")
        return web.json_response({"success": True, "item": det.to_wire("get", experts=experts)})

    async def _handle_delete(self, request: web.Request) -> web.Response:
        det = self._get_detection(request)
        del self.detections[det.uuid]  # §6: afterwards list/get no longer return it
        return web.json_response({"success": True, "message": "Detect deleted"})

    async def _handle_list(self, request: web.Request) -> web.Response:
        errors: dict[str, list[str]] = {}
        page_raw = request.query.get("page")
        page = _parse_int(page_raw) if page_raw is not None else None
        # §5: page is required, integer >= 1
        if page_raw is None:
            errors["page"] = ["is required"]
        elif page is None or page < 1:
            errors["page"] = ["must be an integer >= 1"]
        size_raw = request.query.get("page_size")
        page_size = _parse_int(size_raw) if size_raw is not None else 10
        # §5: page_size 10–1000, default 10 (out of range → 400 here; not documented)
        if page_size is None or not 10 <= page_size <= 1000:
            errors["page_size"] = ["must be an integer between 10 and 1000"]
        if errors or page is None or page_size is None:
            raise _validation_error(errors)
        now = self.clock()
        for det in self.detections.values():
            det.advance(now, poll=False)  # time passes; listing is not a poll
        newest_first = list(reversed(self.detections.values()))
        total = len(newest_first)
        start = (page - 1) * page_size
        items = [d.to_wire("list") for d in newest_first[start : start + page_size]]
        return web.json_response(
            {
                "success": True,
                "page": page,
                "num_pages": math.ceil(total / page_size),
                "page_size": page_size,
                "total_count": total,
                "items": items,
            }
        )

    # ---- handlers: batch -------------------------------------------------------------------------

    async def _handle_batch_create(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            raise _APIError(400, "POST /detect/batch requires multipart/form-data")  # §7
        fields, parts = await self._read_multipart(request, spool_fields=("file",))
        try:
            if _prefers_wait(request):
                raise _APIError(400, "Prefer: wait is not supported for batch detections")  # §7
            entries, source, upload_bytes = self._batch_entries(parts)
            options, errors = _parse_options(fields, _BATCH_OPTIONS)
            if errors:
                raise _validation_error(errors)
            if options.get("detect_watermark"):
                raise _validation_error(  # §7
                    {"detect_watermark": ["is not supported for batch detections"]}
                )
            if options.get("signal"):
                raise _validation_error(  # §3.2
                    {"signal": ["is not supported for batch detections"]}
                )
            if len(entries) > self.max_batch_files:  # §7 / §14: at most 50 files
                raise _APIError(
                    400,
                    f"A batch may contain at most {self.max_batch_files} files "
                    f"(got {len(entries)})",
                )
            total = max(upload_bytes, sum(size for _, size in entries))
            if total > self.max_batch_bytes:  # §7 / §14: at most 500 MB in total
                raise _APIError(
                    400,
                    f"A batch may total at most {_human_bytes(self.max_batch_bytes)} "
                    f"(got {_human_bytes(total)})",
                )
        finally:
            for part in parts:
                part.close()
        options.setdefault("visualize", True)  # §7: batch visualize defaults to true
        batch_uuid = str(uuid_mod.uuid4())
        children = [
            self._new_detection(
                name=filename,
                filename=filename,
                url=None,
                source="batch",
                options=dict(options),
                batch_uuid=batch_uuid,
            ).uuid
            for filename, _ in entries
        ]
        batch = FakeBatch(
            uuid=batch_uuid,
            detect_uuids=children,
            created_at=self.clock(),
            options=options,
            files=entries,
            source=source,
            iso=self._iso,
        )
        self.batches[batch_uuid] = batch
        return web.json_response(
            {"success": True, "item": batch.to_wire(self.detections)}, status=202
        )

    def _batch_entries(self, parts: list[_UploadedPart]) -> tuple[list[tuple[str, int]], str, int]:
        files = [p for p in parts if p.field == "files[]"]
        archives = [p for p in parts if p.field == "file"]
        # §7: exactly one intake: repeated files[] or a single zip in `file`
        if files and archives:
            raise _APIError(400, "Provide either files[] or a single zip in file, not both")
        if not files and not archives:
            raise _APIError(400, "No files provided: send files[] parts or one zip in file")
        if files:
            for part in files:
                self._check_upload_file(part, "files[]")
            return [(p.filename, p.size) for p in files], "files", sum(p.size for p in files)
        if len(archives) > 1:
            raise _APIError(400, "Only one zip archive may be sent in file")
        archive = archives[0]
        if _extension(archive.filename) != "zip":
            raise _validation_error({"file": ["must be a .zip archive (use files[] for media)"]})
        if archive.spool is None:  # pragma: no cover - spool_fields always includes "file"
            raise _APIError(400, "zip archive was not received")
        archive.spool.seek(0)
        try:
            with zipfile.ZipFile(archive.spool) as zf:
                infos = zf.infolist()
        except zipfile.BadZipFile as exc:
            raise _validation_error({"file": ["is not a valid zip archive"]}) from exc
        entries: list[tuple[str, int]] = []
        for zi in infos:
            # §7: skip non-media entries, flatten sub-folders
            if zi.is_dir() or zi.filename.startswith("__MACOSX/"):
                continue
            base = PurePosixPath(zi.filename).name
            if base.startswith(".") or _extension(base) not in DIRECT_UPLOAD_EXTENSIONS:
                continue
            entries.append((base, zi.file_size))
        if not entries:
            raise _validation_error({"file": ["contains no supported media files"]})
        return entries, "zip", archive.size

    async def _handle_batch_get(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["uuid"])
        if batch is None:
            raise _APIError(404, "Batch not found")  # §8
        now = self.clock()
        for det_uuid in batch.detect_uuids:
            det = self.detections.get(det_uuid)
            if det is not None and not det.is_terminal:
                det.advance(now, poll=True)  # a batch GET is one poll tick for each running child
        return web.json_response({"success": True, "item": batch.to_wire(self.detections)})

    # ---- handlers: secure uploads --------------------------------------------------------------

    async def _handle_secure_upload(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            raise _APIError(400, "POST /secure_uploads requires multipart/form-data")  # §9
        _fields, parts = await self._read_multipart(request)
        files = [p for p in parts if p.field == "file"]
        if len(files) != 1:
            raise _validation_error({"file": ["is required (exactly one file part)"]})
        part = files[0]
        if part.size == 0:
            raise _validation_error({"file": ["is empty"]})
        now = self.clock()
        issued = int((self._epoch + timedelta(seconds=now - self._clock0)).timestamp())
        compact = (",", ":")
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=compact).encode())
        payload = _b64url(
            json.dumps(
                {
                    "sub": str(uuid_mod.uuid4()),
                    "filename": part.filename,
                    "iat": issued,
                    "exp": issued + int(_MEDIA_TOKEN_TTL),
                    "jti": secrets.token_hex(8),
                },
                separators=compact,
            ).encode()
        )
        token = f"{header}.{payload}.{_b64url(secrets.token_bytes(32))}"
        self.uploads[token] = FakeUpload(
            token=token,
            filename=part.filename,
            size=part.size,
            content_type=part.content_type,
            created_at=now,
            expires_at=now + _MEDIA_TOKEN_TTL,
            head=part.head,
        )
        return web.json_response({"success": True, "token": token})
