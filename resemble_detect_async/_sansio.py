"""Requests built and responses read as plain data: no aiohttp, no asyncio.

Everything that encodes an API rule lives here as a pure function, so it is tested with
tables instead of servers: which options exist and how they travel (SPEC §3.2, §7), the
intake rules (§3.1, §7), uuid safety, status → error mapping (§13) and ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import math
import re
import uuid as uuid_module
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import attrs

from . import errors
from ._files import MB, MediaFile

__all__ = [
    "BATCH_MAX_BYTES",
    "BATCH_MAX_FILES",
    "DIRECT_UPLOAD_MAX_BYTES",
    "Request",
    "error_for_status",
    "parse_body",
    "parse_retry_after",
    "validate_uuid",
]

DIRECT_UPLOAD_MAX_BYTES = 150 * MB  # SPEC §3.1: larger files go through secure uploads
WATERMARK_MAX_BYTES = 200 * MB  # SPEC §3.2 detect_watermark source limit
BATCH_MAX_FILES = 50  # SPEC §7
BATCH_MAX_BYTES = 500 * MB  # SPEC §7
PAGE_SIZE_MIN, PAGE_SIZE_MAX = 10, 1000  # SPEC §5

NOT_RETRYABLE_5XX = frozenset({501, 505})  # "not implemented"/"HTTP version": a retry cannot help


def is_retryable_status(status: int) -> bool:
    """408, 429 and every 5xx except 501 and 505."""
    return status in (408, 429) or (500 <= status <= 599 and status not in NOT_RETRYABLE_5XX)


REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-correlation-id")


@attrs.frozen(kw_only=True)
class Request:
    """One HTTP request, described as data. ``path`` is relative to the base URL, quoted."""

    method: Literal["GET", "POST", "DELETE"]
    path: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    files: Sequence[tuple[str, MediaFile]] = ()
    headers: Mapping[str, str] = attrs.field(factory=dict)
    long_read: bool = False  # Prefer: wait holds the connection until the analysis ends

    @property
    def idempotent(self) -> bool:
        """GET and DELETE may be repeated; every POST here creates (and bills) something."""
        return self.method in ("GET", "DELETE")

    @property
    def is_upload(self) -> bool:
        """True when the body is multipart."""
        return self.form is not None


# --- identifiers and URLs ------------------------------------------------------------------

_UUID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


def validate_uuid(value: object, *, what: str = "uuid") -> str:
    """Return ``value`` as a safe path segment, or raise InvalidRequestError.

    Detect uuids are opaque strings; we accept letters, digits, ``-``, ``_`` and ``.``
    (not leading), which cannot form ``..`` traversal, a ``/``, a query or a fragment. The
    segment is also percent-quoted when the path is built, as a second line of defence.
    """
    text = str(value) if isinstance(value, uuid_module.UUID) else value
    if not isinstance(text, str) or not _UUID_RE.fullmatch(text):
        raise errors.InvalidRequestError(
            f"{what} {value!r} is not a valid Detect uuid (expected letters, digits, '-', '_' "
            "or '.', like the 'uuid' field of a create response)"
        )
    return text


def _segment(uuid: str) -> str:
    return quote(uuid, safe="")


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP literals (the only plain-http targets allowed)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    """Validate the base URL; plain http is refused unless loopback or explicitly allowed.

    The API key travels in every request's Authorization header, so sending it over
    unencrypted http to any other host would leak it.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.ConfigurationError(
            f"base_url must be an absolute http(s) URL like 'https://app.resemble.ai/api/v2', "
            f"got {base_url!r}"
        )
    if parts.query or parts.fragment:
        raise errors.ConfigurationError("base_url must not contain a query or fragment")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise errors.ConfigurationError(
            f"refusing to send the API key over plain http to {parts.hostname!r}: use https, "
            "or pass allow_insecure_http=True if this host is really on a trusted network"
        )
    return base_url.rstrip("/")


def _check_http_url(value: str, what: str, *, https_only: bool = False) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    schemes = ("https",) if https_only else ("http", "https")
    if parts is None or parts.scheme not in schemes or not parts.hostname:
        kind = "a public https:// URL" if https_only else "an absolute http(s) URL"
        raise errors.InvalidRequestError(
            f"{what} must be {kind} (the API fetches it itself), got {value!r}"
            + ("; for private or local media use upload_media() / file=" if https_only else "")
        )
    return value


# --- options -------------------------------------------------------------------------------

_MODALITIES = ("audio", "video", "all")
_MODEL_TYPES = ("image", "talking_head")


def _check_number(name: str, value: float | None, *, minimum: float = 0.0) -> None:
    if value is None:
        return
    try:
        finite = not isinstance(value, bool) and math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        finite = False
    if not finite or not isinstance(value, int | float):
        raise errors.InvalidRequestError(f"{name} must be a number of seconds, got {value!r}")
    if value < minimum:
        raise errors.InvalidRequestError(f"{name} must be >= {minimum}, got {value!r}")


def _check_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise errors.InvalidRequestError(f"{name} must be True, False or None, got {value!r}")


def _check_common(options: Mapping[str, Any]) -> None:
    """Rules shared by single and batch detects (SPEC §3.2, §7)."""
    frame_length = options.get("frame_length")
    if frame_length is not None and (
        isinstance(frame_length, bool)
        or not isinstance(frame_length, int)
        or not 1 <= frame_length <= 4
    ):
        raise errors.InvalidRequestError(
            f"frame_length must be a whole number of seconds from 1 to 4, got {frame_length!r}"
        )
    for name in ("start_region", "end_region", "max_video_secs", "max_video_fps"):
        _check_number(name, options.get(name))
    start, end = options.get("start_region"), options.get("end_region")
    if start is not None and end is not None and end <= start:
        raise errors.InvalidRequestError(f"end_region ({end}) must be after start_region ({start})")
    if options.get("max_video_fps") is not None and options["max_video_fps"] <= 0:
        raise errors.InvalidRequestError("max_video_fps must be > 0")
    callback = options.get("callback_url")
    if callback is not None:
        _check_http_url(callback, "callback_url")
    for name, value in options.items():
        if name not in (
            "frame_length",
            "callback_url",
            "modality",
            "model_types",
            "pipeline",
        ) and not (isinstance(value, int | float) and not isinstance(value, bool)):
            _check_bool(name, value)


def detection_options(**options: Any) -> dict[str, Any]:
    """Validate POST /detect options and drop the unset ones (SPEC §3.2).

    Unset options are not sent at all: the API's defaults then apply, and Resemble's own
    clients avoid sending false flags.
    """
    options = {key: value for key, value in options.items() if value is not None}
    _check_common(options)
    modality = options.get("modality")
    if modality is not None and modality not in _MODALITIES:
        raise errors.InvalidRequestError(
            f"modality must be one of {', '.join(_MODALITIES)}, got {modality!r}"
        )
    model_types = options.get("model_types")
    if model_types is not None and model_types not in _MODEL_TYPES:
        raise errors.InvalidRequestError(
            f"model_types must be one of {', '.join(_MODEL_TYPES)}, got {model_types!r}"
        )
    if options.get("signal") and options.get("zero_retention_mode"):
        raise errors.InvalidRequestError(
            "signal cannot be combined with zero_retention_mode (SPEC §3.2): drop one of them"
        )
    if options.get("infer_from_intelligence") and not options.get("intelligence"):
        raise errors.InvalidRequestError(
            "infer_from_intelligence has no effect without intelligence=True"
        )
    if options.get("wait_for_intelligence") is not None and not (
        options.get("callback_url") and options.get("intelligence")
    ):
        raise errors.InvalidRequestError(
            "wait_for_intelligence only applies with callback_url and intelligence=True; to "
            "wait for intelligence while polling, use wait_for_result(wait_for_intelligence=True)"
        )
    return options


def batch_options(**options: Any) -> dict[str, Any]:
    """Validate POST /detect/batch options (SPEC §7) and rename to the batch wire names."""
    options = {key: value for key, value in options.items() if value is not None}
    _check_common(options)
    if "audio_source_tracing" in options:
        # Batch uses a different name for the same switch (SPEC §7).
        options["audio_source_tracing_enabled"] = options.pop("audio_source_tracing")
    if options.get("infer_from_intelligence") and not options.get("intelligence"):
        raise errors.InvalidRequestError(
            "infer_from_intelligence has no effect without intelligence=True"
        )
    return options


def form_value(value: Any) -> str:
    """Multipart carries every option as a string: ``"true"``, ``"2"``, ``"0.5"`` (SPEC §3.2)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- request builders ----------------------------------------------------------------------


def check_intake(
    *,
    url: str | None,
    media: MediaFile | None,
    media_token: str | None,
    options: Mapping[str, Any],
) -> None:
    """Exactly one intake (SPEC §3.1), and the watermark source limit (SPEC §3.2).

    Runs before anything is sent, including the secure upload of a large file.
    """
    given = [
        name
        for name, value in (("url", url), ("file", media), ("media_token", media_token))
        if value is not None
    ]
    if len(given) != 1:
        raise errors.InvalidRequestError(
            "create_detection needs exactly one of url=, file= or media_token= "
            f"(got {', '.join(given) if given else 'none'})"
        )
    if (
        options.get("detect_watermark")
        and media is not None
        and media.size is not None
        and media.size > WATERMARK_MAX_BYTES
    ):
        raise errors.InvalidRequestError(
            f"{media.filename} is over the 200 MB source limit of detect_watermark"
        )


def create_detection(
    *,
    url: str | None,
    media: MediaFile | None,
    media_token: str | None,
    options: Mapping[str, Any],
    wait: bool,
) -> Request:
    """POST /detect with exactly one intake (SPEC §3.1): JSON for url/token, multipart for file."""
    check_intake(url=url, media=media, media_token=media_token, options=options)
    headers = {"Prefer": "wait"} if wait else {}
    if media is not None:
        if media.size is not None and media.size > DIRECT_UPLOAD_MAX_BYTES:
            raise errors.InvalidRequestError(
                f"{media.filename} is {media.size} bytes, over the 150 MB direct-upload limit: "
                "upload it with upload_media() and pass media_token="
            )
        form = {key: form_value(value) for key, value in options.items()}
        return Request(
            method="POST",
            path="/detect",
            form=form,
            files=(("file", media),),
            headers=headers,
            long_read=wait,
        )
    body: dict[str, Any] = {}
    if url is not None:
        body["url"] = _check_http_url(url, "url", https_only=True)  # SPEC §3.1
    else:
        if not isinstance(media_token, str) or not media_token.strip():
            raise errors.InvalidRequestError(
                "media_token must be the non-empty token from upload_media()"
            )
        body["media_token"] = media_token
    body.update(options)
    return Request(method="POST", path="/detect", json=body, headers=headers, long_read=wait)


def get_detection(uuid: str, *, experts: bool = False) -> Request:
    """GET /detect/{uuid}; ``experts=true`` turns ``intelligence`` into a list (SPEC §4.1)."""
    params = {"experts": "true"} if experts else {}
    return Request(method="GET", path=f"/detect/{_segment(validate_uuid(uuid))}", params=params)


def delete_detection(uuid: str) -> Request:
    """DELETE /detect/{uuid} (SPEC §6)."""
    return Request(method="DELETE", path=f"/detect/{_segment(validate_uuid(uuid))}")


def list_detections(*, page: int, page_size: int) -> Request:
    """GET /detect?page=&page_size= with the documented bounds checked (SPEC §5)."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise errors.InvalidRequestError(f"page must be a whole number >= 1, got {page!r}")
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not PAGE_SIZE_MIN <= page_size <= PAGE_SIZE_MAX
    ):
        raise errors.InvalidRequestError(
            f"page_size must be a whole number from {PAGE_SIZE_MIN} to {PAGE_SIZE_MAX}, "
            f"got {page_size!r}"
        )
    return Request(
        method="GET", path="/detect", params={"page": str(page), "page_size": str(page_size)}
    )


def upload_media(media: MediaFile) -> Request:
    """POST /secure_uploads with one ``file`` part (SPEC §9)."""
    return Request(method="POST", path="/secure_uploads", form={}, files=(("file", media),))


def create_batch(
    *, files: Sequence[MediaFile], archive: MediaFile | None, options: Mapping[str, Any]
) -> Request:
    """POST /detect/batch: repeated ``files[]`` parts or one zip as ``file`` (SPEC §7)."""
    if bool(files) == (archive is not None):
        raise errors.InvalidRequestError(
            "create_batch needs either files=[...] (1 to 50 media files) or zip_file=, not "
            + ("both" if files else "neither")
        )
    parts: list[tuple[str, MediaFile]]
    if archive is not None:
        if archive.suffix != ".zip":
            raise errors.InvalidRequestError(
                f"zip_file must be a .zip archive, got {archive.filename!r}"
            )
        parts = [("file", archive)]
    else:
        if len(files) > BATCH_MAX_FILES:
            raise errors.InvalidRequestError(
                f"a batch holds at most {BATCH_MAX_FILES} files, got {len(files)}: split it into "
                "several batches"
            )
        zips = [media.filename for media in files if media.suffix == ".zip"]
        if zips:
            raise errors.InvalidRequestError(
                f"{zips[0]!r} is a zip archive: pass it alone as zip_file= (archives cannot be "
                "mixed with media files in one batch)"
            )
        parts = [("files[]", media) for media in files]
    total = sum(media.size or 0 for _, media in parts)
    if total > BATCH_MAX_BYTES:
        raise errors.InvalidRequestError(
            f"a batch may total at most 500 MB, these files total {total / MB:.1f} MB"
        )
    form = {key: form_value(value) for key, value in options.items()}
    return Request(method="POST", path="/detect/batch", form=form, files=tuple(parts))


def get_batch(uuid: str) -> Request:
    """GET /detect/batch/{uuid} (SPEC §8)."""
    return Request(method="GET", path=f"/detect/batch/{_segment(validate_uuid(uuid))}")


# --- responses -----------------------------------------------------------------------------


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def parse_body(raw: bytes, headers: Mapping[str, str]) -> Any:
    """The body as JSON when it parses; otherwise the text (error pages are HTML)."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or absurdly deep: keep the text
        return text


def request_id(headers: Mapping[str, str]) -> str | None:
    """The request id header, if the service sent one (its name is not documented, §13)."""
    lowered = _lower(headers)
    for name in REQUEST_ID_HEADERS:
        if lowered.get(name):
            return lowered[name]
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    ``now`` is the wall-clock time (``time.time()``) used for dates. Unparseable values
    give None; dates in the past give 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - reference)


_ERRORS_BY_STATUS: dict[int, type[errors.APIStatusError]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    402: errors.PaymentRequiredError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    422: errors.UnprocessableEntityError,
    429: errors.RateLimitError,
}


def _field_errors(body: Any) -> dict[str, list[str]]:
    raw = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(raw, list | str) and raw:
        return {"base": [str(item) for item in (raw if isinstance(raw, list) else [raw])]}
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            out[str(key)] = [str(item) for item in value]
        else:
            out[str(key)] = [str(value)]
    return out


def _message(status: int, body: Any) -> str:
    if isinstance(body, Mapping):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list) and body["errors"]:
        return "; ".join(str(item) for item in body["errors"])
    if isinstance(body, str) and body.strip():
        text = re.sub(r"<[^>]+>", " ", body)
        text = re.sub(r"\s+", " ", text).strip()
        if text:
            return text[:200]
    return {
        400: "bad request",
        401: "invalid or missing API key",
        402: "insufficient balance",
        403: "permission denied",
        404: "not found",
        408: "request timeout",
        429: "rate limited",
    }.get(status, "server error" if status >= 500 else f"HTTP {status}")


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    method: str | None = None,
    path: str | None = None,
    now: float | None = None,
) -> errors.APIStatusError:
    """The typed error for an error response; HTML and empty bodies included (SPEC §13)."""
    kwargs: dict[str, Any] = {
        "status": status,
        "retry_after": parse_retry_after(_lower(headers).get("retry-after"), now=now),
        "body": body,
        "errors": _field_errors(body),
        "request_id": request_id(headers),
        "method": method,
        "path": path,
    }
    message = _message(status, body)
    cls = _ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = errors.ServerError if status >= 500 else errors.APIStatusError
    return cls(message, **kwargs)


def is_success_body(body: Any) -> bool:
    """An envelope whose ``success`` is explicitly false is a failure despite a 2xx status."""
    if not isinstance(body, Mapping):
        return True
    success = body.get("success")
    return not (
        success is False or (isinstance(success, str) and success.strip().lower() == "false")
    )
