"""What the fake Detect API says on the wire, as small pure helpers.

The path prefix, the media allow-lists (§14), the deterministic verdicts and durations derived
from media names, the timestamp and numeric-string formats of the documented examples, and the
shapes of error responses (§13), including the HTML page of a proxy in front of the API.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from aiohttp import web

__all__ = [
    "API_PREFIX",
    "AUDIO_EXTENSIONS",
    "DIRECT_UPLOAD_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "STORAGE_BASE",
    "VIDEO_EXTENSIONS",
    "APIError",
    "b64url",
    "capitalize",
    "clamp01",
    "digest",
    "duration_for",
    "error_response",
    "extension",
    "format_iso",
    "human_bytes",
    "is_http_url",
    "media_type_for_extension",
    "nginx_page",
    "num_str",
    "outcome_for_name",
    "parse_int",
    "reason_phrase",
    "unix_iso",
    "url_basename",
    "validation_error",
]

API_PREFIX: Final = "/api/v2"  # §1 base URL https://app.resemble.ai/api/v2

# §14: the direct-upload / batch allow-list.
AUDIO_EXTENSIONS: Final = frozenset({"wav", "mp3", "m4a", "ogg", "aac", "flac"})
VIDEO_EXTENSIONS: Final = frozenset({"mp4", "mov", "avi", "mkv", "webm"})
IMAGE_EXTENSIONS: Final = frozenset({"jpg", "jpeg", "png", "gif", "webp"})
DIRECT_UPLOAD_EXTENSIONS: Final = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
# §14: the URL-intake list additionally names wmv (a video container).
_URL_ONLY_VIDEO_EXTENSIONS: Final = frozenset({"wmv"})

STORAGE_BASE: Final = "https://storage.fake-resemble.invalid"


# ---- media names -----------------------------------------------------------------------------


def digest(text: str) -> bytes:
    """SHA-256 of *text*: the one source of every "random" value the fake derives."""
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
    d = digest(name)
    frac = int.from_bytes(d[1:3], "big") / 0xFFFF
    label = "fake" if d[0] % 2 == 0 else "real"
    score = round(0.6 + 0.39 * frac, 3) if label == "fake" else round(0.01 + 0.39 * frac, 3)
    outcome = "failed" if "fail" in name.lower() else "completed"
    return outcome, label, score


def duration_for(name: str) -> float:
    """A media duration of 2–20 s derived from the name."""
    return round(2.0 + 18.0 * digest(name)[3] / 255, 1)


def extension(name: str) -> str:
    """The lower-case extension of *name* without the dot (``""`` when there is none)."""
    suffix = PurePosixPath(name).suffix
    return suffix[1:].lower() if suffix else ""


def media_type_for_extension(ext: str) -> str | None:
    """``audio`` / ``video`` / ``image`` for an allow-listed extension (§14), else ``None``."""
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in VIDEO_EXTENSIONS or ext in _URL_ONLY_VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


def url_basename(url: str) -> str:
    """The unquoted last path segment of *url*."""
    return unquote(PurePosixPath(urlsplit(url).path).name)


def is_http_url(value: Any) -> bool:
    """Whether *value* is an absolute http(s) URL (§3.1: the server downloads it)."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# ---- formats -----------------------------------------------------------------------------------


def capitalize(label: str) -> str:
    """``"fake"`` → ``"Fake"``, as video and image results spell labels."""
    return label[:1].upper() + label[1:]


def b64url(data: bytes) -> str:
    """Unpadded URL-safe base64, as in a JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unix_iso(t: float) -> str:
    """A Unix timestamp in the API's ISO-8601 format."""
    return format_iso(datetime.fromtimestamp(t, UTC))


def format_iso(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, like the documented examples."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def num_str(x: float) -> str:
    """A score as a numeric string with 2-3 decimals ("0.90", "0.566"), like the examples."""
    text = f"{x:.3f}"
    return text[:-1] if text.endswith("0") else text


def human_bytes(n: int) -> str:
    """``"150 MB"`` for whole mebibytes, else ``"<n> bytes"`` (for error messages)."""
    mib = 1024 * 1024
    return f"{n // mib} MB" if n >= mib and n % mib == 0 else f"{n} bytes"


def clamp01(x: float) -> float:
    """Keep a derived score strictly inside (0, 1)."""
    return min(0.999, max(0.001, x))


def parse_int(value: Any) -> int | None:
    """A JSON integer or a decimal string as an int; ``None`` for anything else (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return None


# ---- errors ------------------------------------------------------------------------------------


class APIError(Exception):
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


def error_response(
    status: int,
    message: str,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON error response in the documented envelope."""
    # §13: error body shape {"success": false, "message": ..., "errors": {field: [msgs]}}
    body: dict[str, Any] = {"success": False, "message": message}
    if errors:
        body["errors"] = dict(errors)
    return web.json_response(body, status=status, headers=headers)


def validation_error(errors: Mapping[str, list[str]]) -> APIError:
    """A 400 naming each bad field, with the field errors in ``errors``."""
    details = "; ".join(f"{field} {msg}" for field, msgs in errors.items() for msg in msgs)
    return APIError(400, f"Validation failed: {details}", errors)


def reason_phrase(status: int) -> str:
    """The standard reason phrase of *status* (``"Error"`` for an unassigned code)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def nginx_page(status: int) -> str:
    """The HTML error page an nginx proxy in front of the API would send."""
    title = f"{status} {reason_phrase(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
