"""How the fake Detect API reads a request: recording, multipart and JSON bodies, options.

Every request is handled in its own task, so what a handler learns about its request (the
parsed JSON, the form fields, the files) is collected in a context variable and turned into a
:class:`~._state.RecordedRequest` by the recording middleware.
"""

from __future__ import annotations

import tempfile
import uuid as uuid_mod
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any, Final

import attrs
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

from .._options import RULES, Scope, options_for
from ._wire import API_PREFIX, APIError

__all__ = [
    "RequestInfo",
    "UploadedPart",
    "current_request",
    "parse_options",
    "prefers_wait",
    "read_json_object",
    "read_multipart",
    "redacted_headers",
    "relative_path",
    "request_info",
]

_READ_CHUNK: Final = 256 * 1024
_HEAD_BYTES: Final = 4096  # how much of each uploaded file is kept in memory
_SPOOL_MAX_MEMORY: Final = 4 * 1024 * 1024  # zip archives larger than this go to a temp file
_MAX_FIELD_BYTES: Final = 64 * 1024


@attrs.define
class RequestInfo:
    request_id: str
    json: Any | None = None
    form: dict[str, str] = attrs.field(factory=dict)
    files: list[tuple[str, str, int]] = attrs.field(factory=list)
    dropped: bool = False


# The request being handled by the current task (aiohttp runs every request in its own task).
current_request: ContextVar[RequestInfo | None] = ContextVar(
    "fake_detect_current_request", default=None
)


def request_info() -> RequestInfo:
    info = current_request.get()
    if info is None:  # a handler called outside the recording middleware
        info = RequestInfo(request_id=str(uuid_mod.uuid4()))
        current_request.set(info)
    return info


@attrs.define(eq=False)
class UploadedPart:
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


def _reason_of(exc: Exception) -> str:
    if isinstance(exc, HttpProcessingError):
        return exc.message or type(exc).__name__
    return str(exc)


async def read_multipart(
    request: web.Request, *, spool_fields: Iterable[str] = ()
) -> tuple[dict[str, str], list[UploadedPart]]:
    """Stream a multipart body: count file bytes (keeping the first few KiB), spool only
    *spool_fields* (zip archives) to a temporary file."""
    info = request_info()
    spool = frozenset(spool_fields)
    fields: dict[str, str] = {}
    parts: list[UploadedPart] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            await _read_part(part, info, fields, parts, spool)
    except (ValueError, HttpProcessingError) as exc:  # e.g. a malformed part header
        for up in parts:
            up.close()
        raise APIError(400, f"Malformed multipart body: {_reason_of(exc)}") from exc
    except BaseException:
        for up in parts:
            up.close()
        raise
    return fields, parts


async def _read_part(
    part: object,
    info: RequestInfo,
    fields: dict[str, str],
    parts: list[UploadedPart],
    spool: frozenset[str],
) -> None:
    if not isinstance(part, BodyPartReader):
        raise ValueError("nested multipart bodies are not supported")  # noqa: TRY004
    name = part.name or ""
    if part.filename is not None or name in ("file", "files[]"):
        up = UploadedPart(
            field=name,
            filename=part.filename or "",
            content_type=part.headers.get("Content-Type"),
        )
        parts.append(up)
        if name in spool:
            # closed by UploadedPart.close() once the request is handled
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


async def read_json_object(request: web.Request) -> dict[str, Any]:
    info = request_info()
    try:
        body = await request.json()
    except ValueError as exc:
        raise APIError(400, "Request body is not valid JSON") from exc
    info.json = body
    if not isinstance(body, dict):
        raise APIError(400, "Request body must be a JSON object")
    return body


def prefers_wait(request: web.Request) -> bool:
    """Whether the request carries the ``Prefer: wait`` preference (§3.3)."""
    for value in request.headers.getall("Prefer", []):
        for token in value.split(","):
            name = token.split(";", 1)[0].split("=", 1)[0].strip().lower()
            if name == "wait":
                return True
    return False


def relative_path(path: str) -> str:
    if path == API_PREFIX:
        return "/"
    if path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX) :]
    return path


def redacted_headers(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in headers.items():
        if key.lower() == "authorization":
            scheme = value.split(None, 1)[0] if value.strip() else ""
            out.add(key, f"{scheme} ***" if scheme else "***")
        else:
            out.add(key, value)
    return CIMultiDictProxy(out)


_NOT_OPTIONS: Final = frozenset({"file", "files[]", "url", "media_token"})


def parse_options(
    raw: Mapping[str, Any], scope: Scope
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Parse the options of a POST /detect or /detect/batch (*scope*) with the SDK's table.

    Returns the options by wire name and the field errors. Like the API: documented options
    are parsed leniently (``"true"``, ``"2"`` in multipart), unknown keys are kept verbatim,
    ``null`` means absent, the old name ``privacy_mode`` sets ``zero_retention_mode`` (§16),
    a batch refuses the single-only options it knows (§7), and the rules between options
    that the API enforces give a 400 (the others only ever made the SDK refuse).
    """
    known = options_for(scope)
    options: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in raw.items():
        if name in _NOT_OPTIONS or value is None:
            continue
        option = known.get(name)
        if option is None:
            options[name] = value
        elif (parsed := option.kind.from_wire(value)) is None:
            errors.setdefault(name, []).append(f"must be {option.kind.expected}")
        else:
            options[name] = parsed
    for name, option in known.items():
        if option.alias_of is not None and (value := options.pop(name, None)):
            options[option.alias_of] = value
        elif scope is Scope.BATCH and option.refused_by_batch and options.get(name):
            errors.setdefault(name, []).append("is not supported for batch detections")
    by_option_name = {(known[n].name if n in known else n): v for n, v in options.items()}
    for rule in RULES:
        if rule.by_api and scope in rule.scope and rule.broken(by_option_name):
            errors.setdefault(rule.field, []).append(rule.problem)
    return options, errors
