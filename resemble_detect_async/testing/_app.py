"""The fake Detect API server: lifecycle, seeding, middlewares and the endpoint handlers.

The middlewares run in this order for every request: record it (:attr:`FakeDetectAPI.requests`,
in-flight counters), apply an injected :class:`~._faults.Fault`, render errors in the API's
envelope (§13), check the API key (§1), enforce the per-key rate limit when one is set (§15).
The handlers then implement §3–§9 over the state kept in :mod:`._state`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import re
import secrets
import time
import uuid as uuid_mod
import zipfile
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler

from .._options import Scope
from ._callbacks import CallbackRecord, CallbackSender
from ._faults import Fault, FaultRules, retry_after_text
from ._parsing import (
    RequestInfo,
    UploadedPart,
    current_request,
    parse_options,
    prefers_wait,
    read_json_object,
    read_multipart,
    redacted_headers,
    relative_path,
    request_info,
)
from ._state import FakeBatch, FakeDetection, FakeUpload, RecordedRequest
from ._wire import (
    API_PREFIX,
    DIRECT_UPLOAD_EXTENSIONS,
    STORAGE_BASE,
    APIError,
    b64url,
    duration_for,
    error_response,
    extension,
    format_iso,
    human_bytes,
    is_http_url,
    media_type_for_extension,
    nginx_page,
    outcome_for_name,
    parse_int,
    reason_phrase,
    url_basename,
    validation_error,
)

__all__ = ["FakeDetectAPI"]

_MEDIA_TOKEN_TTL: Final = 3600.0  # §9: a secure-upload token is valid for 1 hour
_WATERMARK_SOURCE_LIMIT: Final = 200 * 1024 * 1024  # §3.2 / §14: detect_watermark source limit
_CLIENT_MAX_SIZE: Final = 1024 * 1024 * 1024  # non-multipart bodies; multipart is streamed
_SHUTDOWN_TIMEOUT: Final = 0.5


class FakeDetectAPI:
    """A fake Resemble Detect API server (``/api/v2``) running inside the current event loop.

    Use ``async with FakeDetectAPI() as fake:`` (serves on ``127.0.0.1`` on a free port) and point a
    client at :attr:`base_url`, or mount :attr:`app` with aiohttp's test utilities. All state is
    public and may be inspected or seeded: :attr:`detections`, :attr:`batches`, :attr:`uploads`,
    :attr:`requests`, :attr:`in_flight` / :attr:`max_in_flight`.

    ``rate_limit`` (requests per ``rate_window`` seconds, per API key; None: no limit) makes
    the fake refuse, with the 429 envelope, any request that would put more than that many
    accepted requests in one sliding window on its ``clock``; ``rate_retry_after`` is the
    ``Retry-After`` those 429s carry (None: none, as documented for the real API, §15).
    :attr:`rate_limited` counts them.
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
        rate_limit: float | None = None,
        rate_window: float = 1.0,
        rate_retry_after: float | str | None = None,
        callback_delay: float = 0.0,
        callback_loss: float = 0.0,
        callback_duplicates: int = 0,
        callback_seed: int | None = None,
    ) -> None:
        if polls_to_complete < 0:
            raise ValueError("polls_to_complete must be >= 0")
        if rate_limit is not None and not (math.isfinite(rate_limit) and rate_limit > 0):
            raise ValueError("rate_limit must be a positive number of requests, or None")
        if not (math.isfinite(rate_window) and rate_window > 0):
            raise ValueError("rate_window must be a positive number of seconds")
        self.api_key = api_key
        self.polls_to_complete = polls_to_complete
        self.seconds_to_complete = seconds_to_complete
        self.clock = clock
        self.max_direct_upload_bytes = max_direct_upload_bytes
        self.max_batch_files = max_batch_files
        self.max_batch_bytes = max_batch_bytes
        self.create_response_status = create_response_status
        self.intelligence_polls = intelligence_polls
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.rate_retry_after = retry_after_text(rate_retry_after)

        self._callbacks = CallbackSender(
            clock,
            delay=callback_delay,
            loss=callback_loss,
            duplicates=callback_duplicates,
            seed=callback_seed,
        )
        self.detections: dict[str, FakeDetection] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.uploads: dict[str, FakeUpload] = {}
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.rate_limited = 0

        self._faults = FaultRules()
        self._accepted: dict[str, deque[float]] = {}  # per API key: accepted requests' times
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
        await self._callbacks.close()
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
        """Clear :attr:`requests` and :attr:`rate_limited`; reset :attr:`max_in_flight` to the
        current :attr:`in_flight`."""
        self.requests.clear()
        self.max_in_flight = self.in_flight
        self.rate_limited = 0

    def inject(self, fault: Fault) -> None:
        """Add a fault rule (tried after the rules injected before it)."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self._faults.clear()

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The fault rules that still have uses left."""
        return self._faults.pending

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
        det_uuid = uuid or str(uuid_mod.uuid4())
        if det_uuid in self.detections:
            raise ValueError(f"a detection with uuid {det_uuid!r} already exists")
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
        self._store(
            det_uuid,
            name=name,
            filename=name,
            url=None,
            polls_to_complete=polls_to_complete,
            seconds_to_complete=seconds_to_complete,
            media_type=media_type,
            options=opts,
            outcome=outcome,
            label=label,
            score=score,
            error_message=error_message,
            source="seed",
            intelligence=intelligence,
            intelligence_polls=(
                self.intelligence_polls if intelligence_polls is None else intelligence_polls
            ),
            detect_watermark=detect_watermark,
            zero_retention_mode=zero_retention_mode,
            item=dict(item or {}),
        )
        return det_uuid

    def add_batch(self, n_children: int, **detection_kwargs: Any) -> str:
        """Seed a batch of *n_children* detections (``add_detection`` keyword arguments apply to
        every child; ``uuid`` is not allowed) and return the batch uuid."""
        if n_children < 1:
            raise ValueError("a batch needs at least one child")
        if "uuid" in detection_kwargs:
            raise TypeError("add_batch() does not accept 'uuid'")
        batch_uuid = str(uuid_mod.uuid4())
        children = [self.add_detection(**detection_kwargs) for _ in range(n_children)]
        for child in children:
            self.detections[child].batch_uuid = batch_uuid
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
        return format_iso(self._epoch + timedelta(seconds=t - self._clock0))

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
        outcome, label, score = outcome_for_name(name)
        return self._store(
            str(uuid_mod.uuid4()),
            name=name,
            filename=filename,
            url=url,
            polls_to_complete=None,
            seconds_to_complete=None,
            # media type from the extension of the filename / URL path; unknown URL ext → audio
            media_type=media_type_for_extension(extension(filename)) or "audio",
            options=options,
            outcome=outcome,
            label=label,
            score=score,
            error_message=(
                "Failed to process media (fake Detect API: the media name contains 'fail')"
                if outcome == "failed"
                else None
            ),
            source=source,
            intelligence=bool(options.get("intelligence")),
            intelligence_polls=self.intelligence_polls,
            detect_watermark=bool(options.get("detect_watermark")),
            zero_retention_mode=bool(options.get("zero_retention_mode")),
            batch_uuid=batch_uuid,
        )

    def _store(
        self,
        det_uuid: str,
        *,
        name: str,
        filename: str,
        url: str | None,
        polls_to_complete: int | None,
        seconds_to_complete: float | None,
        **state: Any,
    ) -> FakeDetection:
        """Create and keep a detection; what the fake derives from the media *name* is set here."""
        polls, seconds = self._schedule(polls_to_complete, seconds_to_complete)
        det = FakeDetection(
            uuid=det_uuid,
            created_at=self.clock(),
            filename=filename,
            url=url if url is not None else f"{STORAGE_BASE}/detect/{det_uuid}/{quote(filename)}",
            polls_to_complete=polls,
            seconds_to_complete=seconds,
            duration=duration_for(name),
            watermark_present="watermark" in name.lower(),
            iso=self._iso,
            on_finish=self._finished,
            **state,
        )
        self.detections[det_uuid] = det
        if seconds is not None and (det.options.get("callback_url") or det.batch_uuid):
            # Finish on time even if nobody polls: the callback is how a client learns of it.
            self._callbacks.at(
                det.created_at + seconds, lambda: det.advance(self.clock(), poll=False)
            )
        return det

    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every callback sent (or dropped on purpose), in order (§12)."""
        return self._callbacks.records

    def _finished(self, det: FakeDetection) -> None:
        """A detection became final: call back for it, and for its batch once all are."""
        url = det.options.get("callback_url")
        if isinstance(url, str):
            body = {"success": True, "item": det.to_wire("get")}
            self._callbacks.send(det.uuid, "detection", url, body)
        batch = self.batches.get(det.batch_uuid) if det.batch_uuid else None
        if batch is None or not isinstance(batch.options.get("callback_url"), str):
            return
        children = [self.detections.get(u) for u in batch.detect_uuids]
        if all(child is not None and child.is_terminal for child in children):
            body = {"success": True, "item": batch.to_wire(self.detections)}
            self._callbacks.send(batch.uuid, "batch", batch.options["callback_url"], body)

    # ---- internals: app & middlewares ------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=_CLIENT_MAX_SIZE,
            middlewares=[
                self._record_mw,
                self._fault_mw,
                self._error_mw,
                self._auth_mw,
                self._rate_limit_mw,
            ],
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
            info = current_request.get()
            response.headers["X-Request-Id"] = (
                info.request_id if info is not None else str(uuid_mod.uuid4())
            )

    @web.middleware
    async def _record_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = str(uuid_mod.uuid4())
        info = RequestInfo(request_id=request_id)
        current_request.set(info)  # this task's context only
        placeholder = RecordedRequest(
            method=request.method,
            path=relative_path(request.path),
            query=dict(request.query),
            headers=redacted_headers(request.headers),
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
        fault = self._faults.take(request.method, relative_path(request.path))
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
            return error_response(
                fault.status, fault.message or reason_phrase(fault.status), headers=headers
            )
        if fault.kind == "html":
            return web.Response(
                status=fault.status, text=nginx_page(fault.status), content_type="text/html"
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
        request_info().dropped = True
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
        except APIError as exc:
            return error_response(exc.status, exc.message, exc.errors)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = {404: "Not found", 405: "Method not allowed"}.get(exc.status, exc.reason)
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return error_response(exc.status, message, headers=headers)

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # §1: Authorization: Bearer <key>; the legacy "Token token=<key>" form is accepted too.
        header = request.headers.get("Authorization", "").strip()
        match = re.fullmatch(r"(?i:bearer)\s+(\S+)", header) or re.fullmatch(
            r'(?i:token)\s+token="?([^"\s]+)"?', header
        )
        if match is None or not hmac.compare_digest(match.group(1).encode(), self.api_key.encode()):
            raise APIError(401, "Invalid or missing API key")
        return await handler(request)

    @web.middleware
    async def _rate_limit_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # §15: about 40 requests per second per API key. The real algorithm and its 429 are
        # not documented; this is a sliding window over the requests it accepted.
        if self.rate_limit is None:
            return await handler(request)
        now = self.clock()
        accepted = self._accepted.setdefault(self.api_key, deque())  # auth passed: this key
        while accepted and now - accepted[0] >= self.rate_window:
            accepted.popleft()
        if len(accepted) >= max(1, math.floor(self.rate_limit * self.rate_window + 1e-9)):
            self.rate_limited += 1
            retry_after = self.rate_retry_after
            headers = {"Retry-After": retry_after} if retry_after is not None else None
            return error_response(429, "Rate limit exceeded", headers=headers)
        accepted.append(now)
        return await handler(request)

    # ---- internals: body parsing ---------------------------------------------------------------

    # ---- handlers: POST /detect ------------------------------------------------------------------

    async def _handle_create(self, request: web.Request) -> web.Response:
        file_parts: list[UploadedPart] = []
        if request.content_type == "multipart/form-data":
            fields, parts = await read_multipart(request)
            raw: dict[str, Any] = dict(fields)
            file_parts = [p for p in parts if p.field == "file"]
        elif request.content_type == "application/json":
            raw = await read_json_object(request)
        else:
            # §1: JSON for url / media_token, multipart/form-data for direct upload
            raise APIError(400, "Content-Type must be application/json or multipart/form-data")

        has_url = raw.get("url") not in (None, "")
        has_token = raw.get("media_token") not in (None, "")
        if len(file_parts) + has_url + has_token != 1:
            # §3.1: exactly one of file / url / media_token, else 400
            raise APIError(
                400,
                "Exactly one of file, url or media_token must be provided"
                + (
                    " (only one file per request; use /detect/batch)" if len(file_parts) > 1 else ""
                ),
            )
        options, errors = parse_options(raw, Scope.SINGLE)
        if errors:
            raise validation_error(errors)

        size: int | None = None
        url: str | None = None
        if file_parts:
            part = file_parts[0]
            size = part.size
            if part.size > self.max_direct_upload_bytes:
                # §3.1: oversize direct upload → 400 pointing to Secure Uploads
                raise APIError(
                    400,
                    f"File is larger than the {human_bytes(self.max_direct_upload_bytes)} "
                    "direct upload limit; upload it with Secure Uploads (POST /secure_uploads) "
                    "and submit the returned token as media_token",
                    {"file": ["is too large for direct upload; use secure uploads"]},
                )
            self._check_upload_file(part, "file")
            name = filename = part.filename
            source = "file"
        elif has_url:
            url = raw["url"]
            if not is_http_url(url):  # §3.1: server downloads it, must be a public http(s) URL
                raise validation_error({"url": ["must be an http(s) URL"]})
            name = url
            filename = url_basename(url) or "media"
            source = "url"
        else:
            upload = self._lookup_token(raw["media_token"])
            name = filename = upload.filename
            size = upload.size
            source = "media_token"
        if options.get("detect_watermark") and size is not None and size > _WATERMARK_SOURCE_LIMIT:
            # §3.2: detect_watermark applies a 200 MB source limit → 400
            raise validation_error({"detect_watermark": ["source is larger than 200 MB"]})

        det = self._new_detection(
            name=name, filename=filename, url=url, source=source, options=options
        )
        if prefers_wait(request):
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
    def _check_upload_file(part: UploadedPart, field: str) -> None:
        if not part.filename:
            raise validation_error({field: ["must have a filename with a media extension"]})
        if extension(part.filename) not in DIRECT_UPLOAD_EXTENSIONS:
            # §14: direct-upload allow-list
            allowed = ", ".join(f".{e}" for e in sorted(DIRECT_UPLOAD_EXTENSIONS))
            raise validation_error(
                {field: [f"has an unsupported file type ({part.filename}); allowed: {allowed}"]}
            )
        if part.size == 0:
            raise validation_error({field: [f"is empty ({part.filename})"]})

    def _lookup_token(self, token: Any) -> FakeUpload:
        upload = self.uploads.get(token) if isinstance(token, str) else None
        if upload is None:  # §9: the token comes from POST /secure_uploads
            raise validation_error({"media_token": ["is invalid"]})
        if upload.expired(self.clock()):  # §9: valid for 1 hour
            raise validation_error({"media_token": ["has expired; upload the file again"]})
        return upload

    # ---- handlers: GET / DELETE /detect/{uuid}, GET /detect --------------------------------------

    def _get_detection(self, request: web.Request) -> FakeDetection:
        det = self.detections.get(request.match_info["uuid"])
        if det is None:
            raise APIError(404, "Detect not found")  # §4.1
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
        page = parse_int(page_raw) if page_raw is not None else None
        # §5: page is required, integer >= 1
        if page_raw is None:
            errors["page"] = ["is required"]
        elif page is None or page < 1:
            errors["page"] = ["must be an integer >= 1"]
        size_raw = request.query.get("page_size")
        page_size = parse_int(size_raw) if size_raw is not None else 10
        # §5: page_size 10–1000, default 10 (out of range → 400 here; not documented)
        if page_size is None or not 10 <= page_size <= 1000:
            errors["page_size"] = ["must be an integer between 10 and 1000"]
        if errors or page is None or page_size is None:
            raise validation_error(errors)
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
            raise APIError(400, "POST /detect/batch requires multipart/form-data")  # §7
        fields, parts = await read_multipart(request, spool_fields=("file",))
        try:
            if prefers_wait(request):
                raise APIError(400, "Prefer: wait is not supported for batch detections")  # §7
            entries, source, upload_bytes = self._batch_entries(parts)
            # §7: the batch options; set single-only ones it knows (detect_watermark) are 400s
            options, errors = parse_options(fields, Scope.BATCH)
            if errors:
                raise validation_error(errors)
            if len(entries) > self.max_batch_files:  # §7 / §14: at most 50 files
                raise APIError(
                    400,
                    f"A batch may contain at most {self.max_batch_files} files "
                    f"(got {len(entries)})",
                )
            total = max(upload_bytes, sum(size for _, size in entries))
            if total > self.max_batch_bytes:  # §7 / §14: at most 500 MB in total
                raise APIError(
                    400,
                    f"A batch may total at most {human_bytes(self.max_batch_bytes)} "
                    f"(got {human_bytes(total)})",
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

    def _batch_entries(self, parts: list[UploadedPart]) -> tuple[list[tuple[str, int]], str, int]:
        files = [p for p in parts if p.field == "files[]"]
        archives = [p for p in parts if p.field == "file"]
        # §7: exactly one intake: repeated files[] or a single zip in `file`
        if files and archives:
            raise APIError(400, "Provide either files[] or a single zip in file, not both")
        if not files and not archives:
            raise APIError(400, "No files provided: send files[] parts or one zip in file")
        if files:
            for part in files:
                self._check_upload_file(part, "files[]")
            return [(p.filename, p.size) for p in files], "files", sum(p.size for p in files)
        if len(archives) > 1:
            raise APIError(400, "Only one zip archive may be sent in file")
        archive = archives[0]
        if extension(archive.filename) != "zip":
            raise validation_error({"file": ["must be a .zip archive (use files[] for media)"]})
        if archive.spool is None:  # pragma: no cover - spool_fields always includes "file"
            raise APIError(400, "zip archive was not received")
        archive.spool.seek(0)
        try:
            with zipfile.ZipFile(archive.spool) as zf:
                infos = zf.infolist()
        except zipfile.BadZipFile as exc:
            raise validation_error({"file": ["is not a valid zip archive"]}) from exc
        entries: list[tuple[str, int]] = []
        for zi in infos:
            # §7: skip non-media entries, flatten sub-folders
            if zi.is_dir() or zi.filename.startswith("__MACOSX/"):
                continue
            base = PurePosixPath(zi.filename).name
            if base.startswith(".") or extension(base) not in DIRECT_UPLOAD_EXTENSIONS:
                continue
            entries.append((base, zi.file_size))
        if not entries:
            raise validation_error({"file": ["contains no supported media files"]})
        return entries, "zip", archive.size

    async def _handle_batch_get(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["uuid"])
        if batch is None:
            raise APIError(404, "Batch not found")  # §8
        now = self.clock()
        for det_uuid in batch.detect_uuids:
            det = self.detections.get(det_uuid)
            if det is not None and not det.is_terminal:
                det.advance(now, poll=True)  # a batch GET is one poll tick for each running child
        return web.json_response({"success": True, "item": batch.to_wire(self.detections)})

    # ---- handlers: secure uploads --------------------------------------------------------------

    async def _handle_secure_upload(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            raise APIError(400, "POST /secure_uploads requires multipart/form-data")  # §9
        _fields, parts = await read_multipart(request)
        files = [p for p in parts if p.field == "file"]
        if len(files) != 1:
            raise validation_error({"file": ["is required (exactly one file part)"]})
        part = files[0]
        if part.size == 0:
            raise validation_error({"file": ["is empty"]})
        now = self.clock()
        issued = int((self._epoch + timedelta(seconds=now - self._clock0)).timestamp())
        compact = (",", ":")
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=compact).encode())
        payload = b64url(
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
        token = f"{header}.{payload}.{b64url(secrets.token_bytes(32))}"
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
