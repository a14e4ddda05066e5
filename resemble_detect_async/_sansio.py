"""Requests built and responses read as plain data: no aiohttp, no asyncio.

Everything that encodes an API rule lives here as a pure function, so it is tested with
tables instead of servers: the requests (their options are checked and encoded by the table
in ``_options``, API notes §3.2, §7), the intake rules (§3.1, §7), uuid safety, status → error
mapping (§13) and ``Retry-After``.
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

from . import _options, errors
from ._files import MB, MediaFile

__all__ = [
    "BATCH_MAX_BYTES",
    "BATCH_MAX_FILES",
    "DIRECT_UPLOAD_MAX_BYTES",
    "Request",
    "decipher_response",
    "error_for_status",
    "parse_body",
    "parse_retry_after",
    "validate_uuid",
    "with_extras",
]

ERROR_BODY_BYTES = 64 * 1024  # what is read of an error answer: enough for any message
MAX_RESPONSE_BYTES = 64 * MB  # default cap on a success body (a page of 1,000 detections)
DIRECT_UPLOAD_MAX_BYTES = 150 * MB  # API notes §3.1: larger files go through secure uploads
WATERMARK_MAX_BYTES = 200 * MB  # API notes §3.2 detect_watermark source limit
BATCH_MAX_FILES = 50  # API notes §7
BATCH_MAX_BYTES = 500 * MB  # API notes §7
PAGE_SIZE_MIN, PAGE_SIZE_MAX = 10, 1000  # API notes §5

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
    subject: str | None = None  # the detection or batch uuid this request is about

    def error_fields(self) -> dict[str, Any]:
        """What every error raised for this request carries: where, and about what."""
        return {"method": self.method, "path": self.path, "uuid": self.subject}

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
            f"{what} {echo(value)} is not a valid Detect uuid (expected letters, digits, '-', "
            "'_' or '.', like the 'uuid' field of a create response)"
        )
    return text


def _detection_uuid(value: object) -> str:
    """A detection's uuid for ``/detect/{uuid}``; ``batch`` there is the batch route."""
    uuid = validate_uuid(value)
    if uuid.lower() == "batch":
        raise errors.InvalidRequestError(
            "'batch' is not a detection uuid (GET /detect/batch is another route); for a "
            "batch use get_batch(uuid)"
        )
    return uuid


def echo(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting caller input in a message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def clean_text(text: str, limit: int = 300) -> str:
    """Server text made safe to print: control characters (newlines, ANSI escapes) escaped
    so nothing can forge a log line or a terminal, and the length capped."""
    text = text.strip()
    if len(text) > limit:
        text = text[:limit] + "..."
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _segment(uuid: str) -> str:
    return quote(uuid, safe="")


def is_loopback_host(host: str | None) -> bool:
    """True for loopback IP literals and ``localhost`` (the only plain-http targets allowed).

    Other names, ``*.localhost`` included, are not trusted by their name: resolving them
    may ask DNS, whose answer could point anywhere. ``localhost`` itself is checked again
    by the client, which resolves it before the key is sent.
    """
    if not host:
        return False
    if host.lower() in ("localhost", "localhost."):
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
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise errors.ConfigurationError(
            f"base_url has an invalid host name {echo(parts.hostname)} (empty or over-long label?)"
        ) from None
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

# The option table, its value checks and its wire encoding live in _options (API notes §3.2, §7);
# the builders below take the options these return.
detection_options = _options.detection_options
batch_options = _options.batch_options


# --- request builders ----------------------------------------------------------------------


def check_intake(
    *,
    url: str | None,
    media: MediaFile | None,
    media_token: str | None,
    options: Mapping[str, Any],
) -> None:
    """Exactly one intake (API notes §3.1), and the watermark source limit (API notes §3.2).

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
    """POST /detect with exactly one intake (API notes §3.1): JSON for url/token, multipart
    for a file."""
    check_intake(url=url, media=media, media_token=media_token, options=options)
    headers = {"Prefer": "wait"} if wait else {}
    if media is not None:  # the client sends files over 150 MB through upload_media() first
        form = _options.form_fields(options)
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
        body["url"] = _check_http_url(url, "url", https_only=True)  # API notes §3.1
    else:
        if not isinstance(media_token, str) or not media_token.strip():
            raise errors.InvalidRequestError(
                "media_token must be the non-empty token from upload_media()"
            )
        body["media_token"] = media_token
    body.update(options)
    return Request(method="POST", path="/detect", json=body, headers=headers, long_read=wait)


def with_extras(
    request: Request,
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, object] | None = None,
    body: Mapping[str, object] | None = None,
) -> Request:
    """``request`` with the caller's additions: the escape hatch for API fields this SDK
    does not know yet (``extra_headers``, ``extra_query``, ``extra_body``).

    Known option names keep their checks (they go through the typed options); what comes
    through here is sent as given, after checks that it can travel at all.
    """
    changes: dict[str, Any] = {}
    if headers:
        checked_headers = dict(request.headers)
        for name, value in _mapping("extra_headers", headers).items():
            if not isinstance(value, str) or any(ch in value for ch in "\r\n\x00"):
                raise errors.InvalidRequestError(
                    f"extra_headers[{echo(name)}] must be a string without line breaks, "
                    f"got {echo(value)}"
                )
            if name.lower() == "authorization":
                raise errors.InvalidRequestError(
                    "extra_headers cannot set Authorization: pass api_key= to the client"
                )
            checked_headers[name] = value
        changes["headers"] = checked_headers
    if query:
        params = dict(request.params)
        for name, value in _mapping("extra_query", query).items():
            params[name] = _query_value(name, value)
        changes["params"] = params
    if body:
        extra = _mapping("extra_body", body)
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise errors.InvalidRequestError(f"extra_body must be plain JSON: {exc}") from None
        if request.method != "POST":
            raise errors.InvalidRequestError(f"extra_body has no place in a {request.method}")
        if request.form is not None:
            changes["form"] = {**request.form, **{k: _form_text(v) for k, v in extra.items()}}
        else:
            changes["json"] = {**(request.json or {}), **extra}
    return attrs.evolve(request, **changes) if changes else request


def _mapping(what: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise errors.InvalidRequestError(
            f"{what} must be a dict with string keys, got {echo(value)}"
        )
    return value


def _query_value(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    raise errors.InvalidRequestError(
        f"extra_query[{echo(name)}] must be a string, number or bool, got {echo(value)}"
    )


def _form_text(value: object) -> str:
    """A multipart field's text: ``"true"``, ``"2"``, strings as they are, else JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value)


def get_detection(uuid: str, *, experts: bool = False) -> Request:
    """GET /detect/{uuid}; ``experts=true`` turns ``intelligence`` into a list (API notes §4.1)."""
    params = {"experts": "true"} if experts else {}
    uuid = _detection_uuid(uuid)
    return Request(method="GET", path=f"/detect/{_segment(uuid)}", params=params, subject=uuid)


def delete_detection(uuid: str) -> Request:
    """DELETE /detect/{uuid} (API notes §6)."""
    uuid = _detection_uuid(uuid)
    return Request(method="DELETE", path=f"/detect/{_segment(uuid)}", subject=uuid)


def list_detections(*, page: int, page_size: int) -> Request:
    """GET /detect?page=&page_size= with the documented bounds checked (API notes §5)."""
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
    """POST /secure_uploads with one ``file`` part (API notes §9)."""
    return Request(method="POST", path="/secure_uploads", form={}, files=(("file", media),))


def create_batch(
    *, files: Sequence[MediaFile], archive: MediaFile | None, options: Mapping[str, Any]
) -> Request:
    """POST /detect/batch: repeated ``files[]`` parts or one zip as ``file`` (API notes §7)."""
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
    form = _options.form_fields(options)
    return Request(method="POST", path="/detect/batch", form=form, files=tuple(parts))


def get_batch(uuid: str) -> Request:
    """GET /detect/batch/{uuid} (API notes §8)."""
    uuid = validate_uuid(uuid)
    return Request(method="GET", path=f"/detect/batch/{_segment(uuid)}", subject=uuid)


# --- responses -----------------------------------------------------------------------------


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _stdlib_loads(raw: bytes) -> Any:
    return json.loads(raw)


try:  # the optional fast path (pip install 'resemble-detect-async[fast]')
    import orjson

    _LONG_DIGITS = re.compile(rb"\d{19,}")

    def _loads(raw: bytes) -> Any:
        # orjson reads integers past 64 bits as floats, losing digits: such bodies (and
        # anything orjson refuses) go to the standard library, which keeps them exact.
        if _LONG_DIGITS.search(raw) is not None:
            return json.loads(raw)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return json.loads(raw)

except ImportError:  # pragma: no cover - depends on the environment
    _loads = _stdlib_loads


def parse_body(raw: bytes, headers: Mapping[str, str] | None = None) -> Any:
    """The body as JSON when it parses; otherwise the text (error pages are HTML)."""
    return _parse(raw)[0]


def _parse(raw: bytes) -> tuple[Any, str | None]:
    """The body, and why valid-looking JSON could not be read (None when it was read, or
    when it is simply not JSON, like an error page or a body cut off on the way)."""
    if not raw:
        return None, None
    try:
        return _loads(raw), None
    except RecursionError:
        return raw.decode("utf-8", errors="replace"), "it is nested too deeply to read"
    except ValueError as exc:
        text = raw.decode("utf-8", errors="replace")
        if "digits" in str(exc):  # e.g. "Exceeds the limit (4300 digits) for integer ..."
            return text, "it holds an integer too long to read"
        return text, None


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
                return clean_text(value)
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list) and body["errors"]:
        return clean_text("; ".join(str(item) for item in body["errors"][:20]))
    if isinstance(body, str) and body.strip():
        # Error pages are cut before they are processed (the transport reads at most
        # ERROR_BODY_BYTES of them; a direct caller gets the same bound here).
        text = re.sub(r"<[^>]{0,1000}>", " ", body[:ERROR_BODY_BYTES])
        text = re.sub(r"\s+", " ", text).strip()
        if text:
            return clean_text(text, 200)
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
    uuid: str | None = None,
) -> errors.APIStatusError:
    """The typed error for an error response; HTML and empty bodies included (API notes §13)."""
    kwargs: dict[str, Any] = {
        "uuid": uuid,
        "status": status,
        "retry_after": parse_retry_after(_lower(headers).get("retry-after"), now=now),
        "body": body,
        "errors": _field_errors(body),
        "request_id": request_id(headers),
        "method": method,
        "path": path,
    }
    message = _message(status, body)
    if 300 <= status < 400:
        location = _lower(headers).get("location")
        where = f" to {clean_text(location, 200)}" if location else ""
        message = (
            f"redirected{where} ({message}); redirects are not followed, since they would carry "
            "the API key elsewhere: check base_url"
        )
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


def decipher_response(
    request: Request,
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    attempt: int = 1,
    now: float | None = None,
) -> Any:
    """Turn one HTTP answer to ``request`` into its JSON body, or raise the typed error.

    Every rule for reading an answer lives here (the transport only moves bytes):

    * an error status, or a 2xx whose envelope says ``"success": false``, raises the
      error of :func:`error_for_status` (API notes §1, §13);
    * a 2xx body that is not JSON, or an empty GET body, was most likely cut off on the
      way: ``ResponseValidationError(truncated=True)``, which the retry layer retries;
    * a DELETE answered 404 on a retry means an earlier attempt deleted it and its answer
      was lost: the goal is reached.

    ``attempt`` is the 1-based try number; ``now`` the wall-clock time for HTTP-date
    ``Retry-After`` values. Every error carries the request's method, path and subject uuid.
    """
    body, unreadable = _parse(raw)
    if status == 404 and attempt > 1 and request.method == "DELETE":
        return {"success": True, "message": "deleted (by an earlier attempt)"}
    if status >= 300 or not is_success_body(body):
        raise error_for_status(
            status,
            headers,
            body,
            method=request.method,
            path=request.path,
            now=now,
            uuid=request.subject,
        )
    if unreadable is not None:  # valid JSON that no retry will make readable
        raise errors.ResponseValidationError(
            f"{request.method} {request.path} answered {status} with JSON that cannot be "
            f"read: {unreadable}",
            path="$",
            body=body[:ERROR_BODY_BYTES],
            uuid=request.subject,
        )
    if (raw and isinstance(body, str)) or (body is None and request.method == "GET"):
        raise errors.ResponseValidationError(
            f"{request.method} {request.path} answered {status} with a body that is not JSON "
            "(truncated?)",
            path="$",
            body=body,
            truncated=True,
            uuid=request.subject,
        )
    return body
