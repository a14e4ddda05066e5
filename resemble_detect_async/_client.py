"""DetectClient: the public verbs over one aiohttp session, one retry layer and one gate."""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import math
import os
import time
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, TypeVar, Unpack
from urllib.parse import quote

import aiohttp
import attrs

from . import _converter, _sansio, errors
from ._bulk import BatchResult, Outcome, Progress, ResultStream, stop_if_run_stopped
from ._config import (
    DEFAULT,
    Clock,
    Default,
    PollPolicy,
    RetryPolicy,
    Timeout,
    Timeouts,
    call_budget,
    check_callable,
    check_flag,
    check_timeout,
    cut_off_at,
)
from ._connection import DEFAULT_CLOSE_GRACE, Connection
from ._files import FileInput, MediaFile, media_file
from ._limits import DEFAULT_MAX_CONCURRENCY, DEFAULT_RATE, RateLimiter, RequestGate, TokenBucket
from ._options import BatchOptions, DetectionOptions, check_option_names
from ._otel import call_span
from ._pagination import DetectionPager
from ._polling import Fetch, UpdateCallback, wait_for_batch, wait_for_result, watch
from ._raw import Exchange, WithRawResponse, recording
from ._retry import send_with_retries
from ._scan import SCAN_PAGE_SIZE, Scanner
from ._settings import Settings, client_settings, poll_policy, retry_policy, timeouts_of
from ._transport import Transport
from .models import Batch, Detection, Page

if TYPE_CHECKING:
    from .webhooks import CallbackReceiver

__all__ = ["DEFAULT", "DetectClient"]

log = logging.getLogger("resemble_detect_async")
T = TypeVar("T")

Strategy: TypeAlias = Literal["poll", "scan", "auto"]
AUTO_SCAN_MIN = 100  # strategy="auto" scans from this many uuids on
SCAN_WORKERS = 10_000  # uuids registered with a scanner at once (each only awaits a future)

# With a callback receiver attached, polling only covers a callback that never comes.
FALLBACK_POLL: Final = PollPolicy(first_delay=10.0, initial=10.0, multiplier=1.5, max_interval=60.0)


@attrs.frozen
class _Call:
    """The per-call options of a request verb: its bound and the escape hatches."""

    timeout: Timeout = DEFAULT
    headers: Mapping[str, str] | None = None
    query: Mapping[str, object] | None = None
    body: Mapping[str, object] | None = None

    @classmethod
    def of(
        cls,
        timeout: Timeout,
        headers: Mapping[str, str] | None,
        query: Mapping[str, object] | None,
        body: Mapping[str, object] | None,
    ) -> _Call:
        check_timeout(timeout)
        if headers is None and query is None and body is None and isinstance(timeout, Default):
            return _NO_CALL_OPTIONS
        return cls(timeout, headers, query, body)

    def apply(self, request: _sansio.Request) -> _sansio.Request:
        """``request`` with the extras (checked: they must be able to travel)."""
        if self.headers is None and self.query is None and self.body is None:
            return request
        return _sansio.with_extras(request, headers=self.headers, query=self.query, body=self.body)


_NO_CALL_OPTIONS: Final = _Call()


def _route(request: _sansio.Request) -> str:
    """The path with its uuid as a placeholder (a span name of low cardinality)."""
    if request.subject is None:
        return request.path
    return request.path.replace(quote(request.subject, safe=""), "{uuid}")


_Model = TypeVar("_Model", Detection, Batch)


def _checked(model: _Model, request: _sansio.Request, body: Any) -> _Model:
    """The answer must be about the uuid that was asked for (a proxy or cache could mix
    them up, and a wrong verdict is worse than an error)."""
    if request.subject is not None and model.uuid.lower() != request.subject.lower():
        kind = "detection" if isinstance(model, Detection) else "batch"
        raise errors.ResponseValidationError(
            f"asked for {kind} {request.subject} but the API answered with {model.uuid}",
            path="$.item.uuid",
            body=body,
            uuid=request.subject,
        )
    return model


class DetectClient:
    """An asyncio client for the Resemble Detect API.

    Use it as an async context manager so its HTTP session is closed::

        async with DetectClient() as client:
            detection = await client.create_and_wait(url="https://example.com/clip.wav")
            print(detection.verdict, detection.score)

    Args:
        api_key: the API key; defaults to ``RESEMBLE_API_KEY``. Never logged or shown.
        base_url: defaults to ``RESEMBLE_BASE_URL``, then ``https://app.resemble.ai/api/v2``.
            Plain ``http://`` is only allowed to loopback hosts (the fake API), unless
            ``allow_insecure_http=True``.
        session: an ``aiohttp.ClientSession`` to borrow; it is never closed by the client.
        timeouts: per-attempt HTTP timeouts (:class:`Timeouts`).
        retry: the retry policy for one request (:class:`RetryPolicy`).
        poll: the default polling policy of the waiting helpers (:class:`PollPolicy`).
        max_concurrency: requests in flight at once on this client, shared by every call.
        rate_limit: requests per second started by this client (API notes §15 documents about 40
            per key); None disables it. Ignored when ``rate_limiter`` is given.
        rate_limiter: a custom :class:`RateLimiter` (e.g. one shared between processes).
        clock: time source and sleep for retries, polling and the limiter (tests pass a fake).

    Raises:
        ConfigurationError: no API key, or an unusable or insecure ``base_url``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | float | None = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        poll: PollPolicy | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        rate_limit: float | None = DEFAULT_RATE,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        allow_insecure_http: bool = False,
        user_agent: str | None = None,
        max_response_bytes: int = _sansio.MAX_RESPONSE_BYTES,
    ) -> None:
        settings = client_settings(
            api_key=api_key,
            base_url=base_url,
            session=session,
            timeouts=timeouts,
            retry=retry,
            max_retries=max_retries,
            poll=poll,
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
            rate_limiter=rate_limiter,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
            user_agent=user_agent,
            max_response_bytes=max_response_bytes,
        )
        limiter = rate_limiter or TokenBucket(rate_limit, clock=settings.clock)
        gate = RequestGate(max_concurrency=max_concurrency, limiter=limiter)
        self._conn = Connection(session, gate=gate)
        self._use(settings)

    def _use(self, settings: Settings) -> None:
        """Run this view with ``settings`` (a new transport is made on first use)."""
        self._settings = settings
        self._base_url = settings.base_url
        self._timeouts = settings.timeouts
        self._retry = settings.retry
        self._poll = settings.poll
        self._clock = settings.clock
        self._gate = self._conn.gate
        self._transport: Transport | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._conn.closed else "open"
        return f"<DetectClient base_url={self._base_url!r} {state}>"

    @property
    def base_url(self) -> str:
        """The API root every path is appended to."""
        return self._base_url

    @property
    def poll_policy(self) -> PollPolicy:
        """The default polling policy."""
        return self._poll

    @property
    def clock(self) -> Clock:
        """The clock used for retries, polling and rate limiting."""
        return self._clock

    @property
    def max_concurrency(self) -> int:
        """Requests in flight at once on this client."""
        return self._gate.max_concurrency

    @property
    def max_in_flight(self) -> int:
        """The most requests this client has had in flight at once (a high-water mark)."""
        return self._gate.max_in_flight

    def with_options(
        self,
        *,
        timeout: Timeout = DEFAULT,
        timeouts: Timeouts | float | None = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        poll: PollPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> DetectClient:
        """A copy of this client with some settings changed, for one call or a few.

        ``client.with_options(timeout=5).get_detection(uuid)``. The copy is cheap and
        shares the session, the concurrency and rate limits and any 429 pause with this
        client (closing either closes both). ``timeout`` bounds every call of the copy;
        ``extra_headers`` are sent with each of its requests; the others replace the
        client's policies (a number for ``timeouts`` means seconds).
        """
        check_timeout(timeout)
        changes: dict[str, Any] = {}
        if not isinstance(timeout, Default):
            changes["call_timeout"] = timeout
        if timeouts is not None:
            changes["timeouts"] = timeouts_of(timeouts)
        new_retry = retry_policy(retry, max_retries)
        if new_retry is not None:
            changes["retry"] = new_retry
        if poll is not None:
            changes["poll"] = poll_policy(poll)
        if extra_headers is not None:
            probe = _sansio.with_extras(
                _sansio.Request(method="GET", path="/"), headers=extra_headers
            )
            changes["default_headers"] = {**self._settings.default_headers, **probe.headers}
        clone = copy.copy(self)
        clone._use(attrs.evolve(self._settings, **changes))
        return clone

    def _attach_receiver(self, receiver: CallbackReceiver) -> None:
        """Callbacks now wake this client's waiters; polling becomes the slower fallback."""
        self._conn.receiver = receiver
        if self._settings.poll == PollPolicy():
            self._use(attrs.evolve(self._settings, poll=FALLBACK_POLL))

    def _created_here(self, uuid: str) -> bool:
        return self._conn.created_here(uuid)

    def _callback_url(self, options: dict[str, Any]) -> None:
        """With a receiver that knows its public URL, creates carry its callback_url."""
        receiver = self._conn.receiver
        url = getattr(receiver, "public_url", None)
        if url is not None and options.get("callback_url") is None:
            options["callback_url"] = url

    @property
    def with_raw_response(self) -> WithRawResponse:
        """The request verbs, each returning a :class:`RawResponse`: status, headers,
        request id, elapsed time and retries, with ``.parse()`` for the usual value.

        ``raw = await client.with_raw_response.get_detection(uuid)``
        """
        return WithRawResponse(self)

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (of this client or of any of its views)."""
        return self._conn.closed

    async def __aenter__(self) -> DetectClient:
        self._get_transport()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self, *, grace: float = DEFAULT_CLOSE_GRACE) -> None:
        """Close the client: the session it created (a borrowed session is left open).

        Nothing billed is lost on the way: requests that may have created a detection and
        are on the wire get up to ``grace`` seconds to finish, so their uuids reach their
        callers; waiters sleeping between polls wake at once with
        :class:`ClientClosedError` (carrying their uuid); new requests are refused.
        Idempotent; closing any view (``with_options``) closes them all.
        """
        await self._conn.close(grace=grace)

    aclose = close

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # Without `async with` or close(), aiohttp's session leaks and aiohttp warns a vague
        # "Unclosed client session"; add a warning that names the object and the fix.
        conn = getattr(self, "_conn", None)
        session = conn.session if conn is not None else None
        if conn is not None and conn.owns_session and session is not None and not session.closed:
            message = (
                "DetectClient was not closed: use `async with DetectClient() as client:` or "
                "`await client.close()` when done"
            )
            _warn(message, ResourceWarning, source=self, stacklevel=2)
            # ResourceWarnings are hidden by default; a log line is not.
            with contextlib.suppress(Exception):  # logging may be torn down at exit
                log.warning(message)

    def _get_transport(self) -> Transport:
        session = self._conn.open_session()  # refuses a closed client or another loop
        if self._transport is None:
            settings = self._settings
            self._transport = Transport(
                session,
                base_url=settings.base_url,
                authorization=settings.authorization,
                timeouts=settings.timeouts,
                user_agent=settings.user_agent,
                max_response_bytes=settings.max_response_bytes,
                plain_http=settings.plain_http,
                extra_headers=settings.default_headers,
            )
        return self._transport

    # -- one request ---------------------------------------------------------------------

    async def _send(
        self,
        request: _sansio.Request,
        *,
        deadline: float | None = None,
        call: _Call | None = None,
    ) -> Any:
        """Send ``request`` through the gate and the retry layer; return the parsed body.

        Reading the answer is :func:`~resemble_detect_async._sansio.decipher_response`'s job
        and deciding about retries the retry layer's: this method only joins them up, within
        the call's overall bound (``timeout``, else :func:`call_budget`).
        """
        transport = self._get_transport()  # fails fast when closed, before waiting for a slot
        timeout = DEFAULT if call is None else call.timeout
        if isinstance(timeout, Default):
            timeout = self._settings.call_timeout
        if isinstance(timeout, Default):
            budget = call_budget(request, self._timeouts, self._retry)
        else:
            budget = timeout
        if request.idempotent:
            return await self._send_within(transport, request, deadline, budget)
        with self._conn.creating():  # close() lets it finish: its uuid must not be lost
            return await self._send_within(transport, request, deadline, budget)

    async def _send_within(
        self,
        transport: Transport,
        request: _sansio.Request,
        deadline: float | None,
        budget: float | None,
    ) -> Any:
        slot = self._gate.slot
        recorded = recording.get()  # with_raw_response records every exchange
        answer: tuple[int, Mapping[str, str], float] | None = None  # of the last attempt
        tries = 0

        async def attempt() -> Any:
            nonlocal tries, answer
            tries += 1
            answer = None
            async with slot():
                stop_if_run_stopped(request)  # a bulk run whose key was refused sends no more
                started = time.perf_counter()
                status, headers, raw = await transport.send(request)
            answer = (status, headers, time.perf_counter() - started)
            if recorded is not None:
                recorded.append(
                    Exchange(
                        method=request.method,
                        url=self._base_url + request.path,
                        status=status,
                        headers=headers,
                        request_id=_sansio.request_id(headers),
                        elapsed=answer[2],
                        attempt=tries,
                    )
                )
            return _sansio.decipher_response(request, status, headers, raw, attempt=tries)

        def on_attempt(number: int, error: BaseException | None, wait: float | None) -> None:
            """One DEBUG line per attempt; the key is never part of it."""
            status, headers, elapsed = answer or (type(error).__name__, {}, 0.0)
            log.debug(
                "%s %s -> %s in %.3f s (attempt %d, request id %s, %s)",
                request.method,
                request.path,
                status,
                elapsed,
                number,
                _sansio.request_id(headers) or "-",
                "no retry" if wait is None else f"retry in {wait:.2f} s",
            )

        retries = send_with_retries(
            attempt,
            request=request,
            policy=self._retry,
            clock=self._clock,
            pause_all=self._gate.rate_limited,
            deadline=deadline,
            on_attempt=on_attempt if log.isEnabledFor(logging.DEBUG) else None,
        )
        with call_span(request.method, _route(request), request.subject):
            if budget is None:
                return await retries
            try:
                async with cut_off_at(self._clock, self._clock.monotonic() + budget):
                    return await retries
            except TimeoutError as exc:
                if isinstance(exc, errors.ResembleError):
                    raise
                raise errors.APITimeoutError(
                    f"{request.method} {request.path}: no complete answer within {budget:g} s "
                    "in all (a server trickling its answer, or not reading an upload)",
                    **request.error_fields(),
                ) from None

    # -- detections ----------------------------------------------------------------------

    async def create_detection(
        self,
        url: str | None = None,
        *,
        file: FileInput | None = None,
        media_token: str | None = None,
        filename: str | None = None,
        wait: bool = False,
        wait_for_intelligence: bool | None = None,
        timeout: Timeout = DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        **options: Unpack[DetectionOptions],
    ) -> Detection:
        """Submit media for analysis (POST /detect). Exactly one of url, file, media_token.

        ``file`` takes a path, bytes or a binary file object (bytes and nameless objects
        need ``filename=``: the API reads the media type from the extension). Files up to
        150 MB go as multipart; larger files are sent through :meth:`upload_media` first and
        submitted by token, since the API refuses them on the direct path (API notes §3.1).

        By default the call returns at once with the new detection's uuid (its ``status``
        may be missing); wait with :meth:`wait_for_result`. ``wait=True`` sends
        ``Prefer: wait`` and holds the connection until the result is ready (read timeout
        ``Timeouts.wait_read``); if that times out the uuid is lost with the response, so
        prefer polling for long media.

        ``wait_for_intelligence`` (with ``callback_url`` and ``intelligence=True``) controls
        when the callback fires (API notes §3.2); it does not affect polling.

        This request is never retried once it may have reached the server, since it bills;
        a 429 is retried (after its ``Retry-After``): it was refused before anything was
        created.

        ``timeout`` bounds the whole call (every retry included) in seconds; None means no
        bound, and by default it comes from the client's policies. ``extra_headers``,
        ``extra_query`` and ``extra_body`` send what this SDK does not know yet.

        Raises:
            InvalidRequestError: not exactly one intake, or an option breaks an API rule.
            APIStatusError: the API refused (400, 401, 402 with ``details``, 403, 429...).
            TransportError: the request may or may not have been received; check
                :meth:`list_detections` before submitting again.
        """
        check_option_names(options, DetectionOptions, where="create_detection")
        self._callback_url(options)  # type: ignore[arg-type]
        check_flag("wait", wait)
        call = _Call.of(timeout, extra_headers, extra_query, extra_body)
        checked = _sansio.detection_options(wait_for_intelligence=wait_for_intelligence, **options)
        media = media_file(file, filename=filename) if file is not None else None
        _sansio.check_intake(url=url, media=media, media_token=media_token, options=checked)
        if (
            media is not None
            and media.size is not None
            and media.size > _sansio.DIRECT_UPLOAD_MAX_BYTES
        ):
            log.info("%s is over 150 MB: sending it through secure upload", media.filename)
            media_token = await self._upload(media)
            media = None
        request = _sansio.create_detection(
            url=url, media=media, media_token=media_token, options=checked, wait=wait
        )
        created = _converter.structure_detection(await self._send(call.apply(request), call=call))
        self._conn.remember_created(created.uuid)
        return created

    async def get_detection(
        self,
        uuid: str,
        *,
        experts: bool = False,
        timeout: Timeout = DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> Detection:
        """Fetch one detection (GET /detect/{uuid}); ``experts=True`` lists intelligence results.

        ``timeout`` bounds the whole call (every retry included) in seconds; None means no
        bound, and by default it comes from the client's policies. ``extra_headers``,
        ``extra_query`` and ``extra_body`` send what this SDK does not know yet.

        Raises:
            InvalidRequestError: ``uuid`` is not a valid Detect uuid (nothing is sent).
            NotFoundError: no such detection for this team.
        """
        check_flag("experts", experts)
        call = _Call.of(timeout, extra_headers, extra_query, extra_body)
        return await self._detection_fetch(uuid, experts=experts, call=call)(None)

    async def _get_detection(self, uuid: str, *, experts: bool = False) -> Detection:
        return await self._detection_fetch(uuid, experts=experts)(None)

    def _detection_fetch(
        self, uuid: str, *, experts: bool, call: _Call | None = None
    ) -> Fetch[Detection]:
        """One poll of a detection: the request is built (and the uuid checked) once."""
        call = call or _NO_CALL_OPTIONS
        request = call.apply(_sansio.get_detection(uuid, experts=experts))

        async def fetch(deadline: float | None) -> Detection:
            body = await self._send(request, deadline=deadline, call=call)
            return _checked(_converter.structure_detection(body), request, body)

        return fetch

    def list_detections(
        self,
        page: int | None = None,
        *,
        page_size: int = 100,
        timeout: Timeout = DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> DetectionPager:
        """List the team's detections (GET /detect).

        ``await client.list_detections(page=2)`` returns one :class:`Page`;
        ``async for detection in client.list_detections()`` walks every page from ``page``
        (default 1). ``page_size`` must be 10–1000 (API notes §5). ``timeout`` and the
        extras apply to each page's request.
        """
        start = 1 if page is None else page
        _sansio.list_detections(page=start, page_size=page_size)  # validate eagerly
        call = _Call.of(timeout, extra_headers, extra_query, extra_body)
        return DetectionPager(
            partial(self._fetch_page, call=call), start=start, page_size=page_size
        )

    async def _list_page(
        self,
        page: int | None = None,
        *,
        page_size: int = 100,
        timeout: Timeout = DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> Page:
        """One page of :meth:`list_detections` (``await client.list_detections(page)``)."""
        return await self.list_detections(
            page,
            page_size=page_size,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )

    async def _fetch_page(self, page: int, page_size: int, *, call: _Call) -> Page:
        request = call.apply(_sansio.list_detections(page=page, page_size=page_size))
        return _converter.structure_page(await self._send(request, call=call))

    async def delete_detection(
        self,
        uuid: str,
        *,
        timeout: Timeout = DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> None:
        """Delete a detection (DELETE /detect/{uuid}).

        ``timeout`` bounds the whole call (every retry included) in seconds; None means no
        bound, and by default it comes from the client's policies. ``extra_headers``,
        ``extra_query`` and ``extra_body`` send what this SDK does not know yet.

        Raises:
            NotFoundError: no such detection (or it was already deleted).
        """
        call = _Call.of(timeout, extra_headers, extra_query, extra_body)
        await self._send(call.apply(_sansio.delete_detection(uuid)), call=call)

    async def upload_media(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        timeout: Timeout = DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> str:
        """Upload private media (POST /secure_uploads) and return its token.

        Pass the token as ``media_token=`` to :meth:`create_detection` within one hour.
        This is the route for files over 150 MB (API notes §9). Never retried once sent
        (but for a 429). By default the call's bound grows with the file's size
        (see :class:`Timeouts`).

        ``timeout`` bounds the whole call (every retry included) in seconds; None means no
        bound, and by default it comes from the client's policies. ``extra_headers``,
        ``extra_query`` and ``extra_body`` send what this SDK does not know yet.
        """
        call = _Call.of(timeout, extra_headers, extra_query, extra_body)
        return await self._upload(media_file(file, filename=filename), call=call)

    async def _upload(self, media: MediaFile, *, call: _Call | None = None) -> str:
        call = call or _NO_CALL_OPTIONS
        body = await self._send(call.apply(_sansio.upload_media(media)), call=call)
        token = body.get("token") if isinstance(body, dict) else None
        if token is None and isinstance(body, dict) and isinstance(body.get("item"), dict):
            token = body["item"].get("token")
        if not isinstance(token, str) or not token:
            raise errors.ResponseValidationError(
                "the secure upload response has no token", path="$.token", body=body
            )
        return token

    # -- batches -------------------------------------------------------------------------

    async def create_batch(
        self,
        files: Sequence[FileInput] | None = None,
        *,
        zip_file: FileInput | None = None,
        timeout: Timeout = DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        **options: Unpack[BatchOptions],
    ) -> Batch:
        """Submit up to 50 files, or one zip archive, as a batch (POST /detect/batch).

        The rules of API notes §7 are checked before anything is sent: 1–50 files, 500 MB in
        total, files or a zip but not both, no ``detect_watermark`` or ``Prefer: wait``.
        ``audio_source_tracing`` is sent under the batch name ``audio_source_tracing_enabled``.
        A single ``.zip`` in ``files`` is sent as the archive. Never retried once sent
        (but for a 429).

        ``timeout`` bounds the whole call (every retry included) in seconds; None means no
        bound, and by default it comes from the client's policies. ``extra_headers``,
        ``extra_query`` and ``extra_body`` send what this SDK does not know yet.
        """
        check_option_names(options, BatchOptions, where="create_batch")
        self._callback_url(options)  # type: ignore[arg-type]
        call = _Call.of(timeout, extra_headers, extra_query, extra_body)
        checked = _sansio.batch_options(**options)
        if isinstance(files, str | bytes | os.PathLike) or not (
            files is None or isinstance(files, Sequence)
        ):
            raise errors.InvalidRequestError(
                "files must be a list of files; for one archive use zip_file="
            )
        medias = [media_file(item, what=f"files[{i}]") for i, item in enumerate(files or ())]
        archive = media_file(zip_file, what="zip_file") if zip_file is not None else None
        if archive is None and len(medias) == 1 and medias[0].suffix == ".zip":
            archive, medias = medias[0], []
        request = _sansio.create_batch(files=medias, archive=archive, options=checked)
        batch = _converter.structure_batch(await self._send(call.apply(request), call=call))
        self._conn.remember_created(batch.uuid)
        return batch

    async def get_batch(
        self,
        uuid: str,
        *,
        timeout: Timeout = DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
    ) -> Batch:
        """Fetch a batch's aggregate status (GET /detect/batch/{uuid}).

        ``timeout`` bounds the whole call (every retry included) in seconds; None means no
        bound, and by default it comes from the client's policies. ``extra_headers``,
        ``extra_query`` and ``extra_body`` send what this SDK does not know yet.
        """
        call = _Call.of(timeout, extra_headers, extra_query, extra_body)
        return await self._batch_fetch(uuid, call=call)(None)

    def _batch_fetch(self, uuid: str, *, call: _Call | None = None) -> Fetch[Batch]:
        """One poll of a batch: the request is built (and the uuid checked) once."""
        call = call or _NO_CALL_OPTIONS
        request = call.apply(_sansio.get_batch(uuid))

        async def fetch(deadline: float | None) -> Batch:
            body = await self._send(request, deadline=deadline, call=call)
            return _checked(_converter.structure_batch(body), request, body)

        return fetch

    # -- waiting -------------------------------------------------------------------------

    def _timeout(
        self, timeout: Timeout, poll: PollPolicy | None
    ) -> tuple[float | None, PollPolicy]:
        """The effective deadline and poll policy of one wait, checked."""
        if poll is not None and not isinstance(poll, PollPolicy):
            raise errors.InvalidRequestError(
                f"poll must be a PollPolicy, got {type(poll).__name__}"
            )
        policy = poll or self._poll
        if isinstance(timeout, Default):
            return policy.timeout, policy
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise errors.InvalidRequestError(
                "timeout must be a positive number of seconds, or None to wait forever; "
                f"got {timeout!r}"
            )
        return timeout, policy

    async def wait_for_result(
        self,
        uuid: str,
        *,
        timeout: Timeout = DEFAULT,
        poll: PollPolicy | None = None,
        on_update: UpdateCallback | None = None,
        wait_for_intelligence: bool = False,
    ) -> Detection:
        """Poll a detection until it is completed, and return it.

        Polls while ``status`` is processing, missing or unknown (API notes §3.4, §11), with
        growing, jittered intervals (:class:`PollPolicy`). Transient errors (timeouts,
        dropped connections, 429, 5xx) are retried and do not end the wait.

        Args:
            timeout: overall deadline in seconds, separate from HTTP timeouts; defaults to
                the poll policy's (15 min); None waits forever.
            poll: overrides the client's poll policy for this wait.
            on_update: called (and awaited, if it returns an awaitable) with every polled
                state, e.g. to show progress in a chat bot.
            wait_for_intelligence: also wait until intelligence (and watermark) analysis
                has finished, since a detection can complete before them.

        Raises:
            DetectionFailedError: the detection failed; ``.detection`` has the details.
            WaitTimeoutError: the deadline passed; ``.uuid`` and ``.last`` let you resume.
            NotFoundError, AuthenticationError, ...: ended the wait at once.
        """
        seconds, policy = self._timeout(timeout, poll)
        check_callable("on_update", on_update)
        return await self._wait(
            uuid,
            timeout=seconds,
            poll=policy,
            on_update=on_update,
            wait_for_intelligence=wait_for_intelligence,
        )

    async def _wait(
        self,
        uuid: str,
        *,
        timeout: float | None,
        poll: PollPolicy,
        on_update: UpdateCallback | None,
        wait_for_intelligence: bool,
        experts: bool = False,
    ) -> Detection:
        """``wait_for_result`` with checked arguments.

        With ``experts`` and ``wait_for_intelligence`` together, polling runs without
        ``experts`` (whose list form only holds finished results, so it cannot say whether
        intelligence is still running, API notes §4.1) and the final state is
        fetched with it.
        """
        poll_experts = experts and not wait_for_intelligence
        fetch = self._detection_fetch(uuid, experts=poll_experts)
        final = self._detection_fetch(uuid, experts=True) if experts and not poll_experts else None
        with self._conn.watching(uuid):  # a callback for it is expected while it waits
            return await wait_for_result(
                fetch,
                uuid=uuid,
                clock=self._clock,
                timeout=timeout,
                poll=poll,
                on_update=on_update,
                wait_for_intelligence=wait_for_intelligence,
                fetch_final=None if final is None else partial(final, None),
                sleep=partial(self._conn.nap, self._clock, uuid=uuid),
            )

    def watch(
        self,
        uuid: str,
        *,
        timeout: Timeout = DEFAULT,
        poll: PollPolicy | None = None,
        wait_for_intelligence: bool = False,
    ) -> AsyncIterator[Detection]:
        """Yield every polled state of a detection until it is terminal.

        The async-iterator form of :meth:`wait_for_result`: the last state yielded is the
        terminal one (completed or failed; a failure is yielded, not raised).
        """
        seconds, policy = self._timeout(timeout, poll)
        return watch(
            self._detection_fetch(uuid, experts=False),
            uuid=uuid,
            clock=self._clock,
            timeout=seconds,
            poll=policy,
            wait_for_intelligence=wait_for_intelligence,
            sleep=partial(self._conn.nap, self._clock, uuid=uuid),
        )

    async def create_and_wait(
        self,
        url: str | None = None,
        *,
        file: FileInput | None = None,
        media_token: str | None = None,
        filename: str | None = None,
        timeout: Timeout = DEFAULT,
        poll: PollPolicy | None = None,
        on_update: UpdateCallback | None = None,
        on_created: Callable[[Detection], object] | None = None,
        wait_for_intelligence: bool = False,
        **options: Unpack[DetectionOptions],
    ) -> Detection:
        """Submit media and wait for its final result.

        ``timeout`` is end to end: the submission and the wait together. Any error raised
        after the submission succeeded carries the new detection's ``uuid``
        (``err.uuid``), so nothing is lost: resume with ``wait_for_result(err.uuid)``.
        ``on_created`` is called (and awaited, if it returns an awaitable) with the created
        detection as soon as the submission returns, e.g. to store its uuid.
        """
        seconds, policy = self._timeout(timeout, poll)  # checked before anything is billed
        check_callable("on_update", on_update)
        check_callable("on_created", on_created)
        started = self._clock.monotonic()
        created = await self.create_detection(
            url,
            file=file,
            media_token=media_token,
            filename=filename,
            timeout=DEFAULT if seconds is None else seconds,
            **options,
        )
        try:
            return await self._after_create(
                created,
                started=started,
                seconds=seconds,
                poll=policy,
                on_update=on_update,
                on_created=on_created,
                wait_for_intelligence=wait_for_intelligence,
            )
        except errors.ResembleError:  # every error of the wait names created.uuid already
            raise
        except Exception as exc:  # e.g. your on_update raised: the detection still exists
            exc.add_note(f"detection {created.uuid} was created; resume with wait_for_result()")
            raise

    async def _after_create(
        self,
        created: Detection,
        *,
        started: float,
        seconds: float | None,
        poll: PollPolicy,
        on_update: UpdateCallback | None,
        on_created: Callable[[Detection], object] | None,
        wait_for_intelligence: bool,
    ) -> Detection:
        """The rest of create_and_wait, within what is left of its deadline."""
        if on_created is not None:
            result = on_created(created)
            if inspect.isawaitable(result):
                await result
        remaining = None if seconds is None else seconds - (self._clock.monotonic() - started)
        if remaining is not None and remaining <= 0:
            raise errors.WaitTimeoutError(created.uuid, timeout=seconds, last=created)
        try:
            return await self._wait(
                created.uuid,
                timeout=remaining,
                poll=poll,
                on_update=on_update,
                wait_for_intelligence=wait_for_intelligence,
            )
        except errors.WaitTimeoutError as exc:  # say the deadline the caller gave
            raise errors.WaitTimeoutError(
                created.uuid, timeout=seconds, last=exc.last, last_error=exc.last_error
            ) from None

    # -- many at once --------------------------------------------------------------------

    def iter_results(
        self,
        uuids: Iterable[str] | AsyncIterable[str],
        *,
        wait: bool = False,
        timeout: Timeout = DEFAULT,
        poll: PollPolicy | None = None,
        concurrency: int | None = None,
        wait_for_intelligence: bool = False,
        experts: bool = False,
        on_progress: Callable[[Progress], object] | None = None,
        strategy: Strategy = "poll",
    ) -> ResultStream:
        """Fetch (or, with ``wait=True``, wait for) many detections, yielding as each is done.

        Use as ``async for outcome in client.iter_results(uuids): ...`` (or inside
        ``async with`` to stop every worker deterministically on exit). Each
        :class:`Outcome` carries its ``index`` in the input and its ``uuid``, and either a
        ``detection`` or the typed ``error`` for that uuid alone.

        Memory stays bounded for any input size: a fixed pool of workers pulls uuids as it
        goes (a list or any (async) iterable), and finished outcomes wait in a short queue
        for you to consume them. Repeated uuids are fetched once and reported at every
        position. HTTP requests still obey the client's concurrency and rate limits.

        Args:
            concurrency: workers; default ``max_concurrency`` for fetching and 8x that
                (uuids being waited on at once) with ``wait=True``.
            timeout: with ``wait=True``, the deadline of each uuid's wait.
            on_progress: called with a :class:`Progress` after each outcome.
            strategy: with ``wait=True``, how pending detections are checked: ``"poll"``
                (one GET per uuid per round), ``"scan"`` (list pages of 1,000 newest
                detections per round and settle every pending uuid found; uuids not seen
                are fetched one by one, and a list that is not newest-first makes it fall
                back to polling; see docs/waiting.md), or ``"auto"`` (scan for a list of
                at least 100 uuids, else poll).
        """
        seconds, policy = self._timeout(timeout, poll)
        if strategy not in ("poll", "scan", "auto"):
            raise errors.InvalidRequestError(
                f"strategy must be 'poll', 'scan' or 'auto', got {strategy!r}"
            )
        check_flag("wait", wait)
        check_flag("experts", experts)
        check_flag("wait_for_intelligence", wait_for_intelligence)
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise errors.InvalidRequestError(
                f"concurrency must be a whole number >= 1, got {concurrency!r}"
            )
        check_callable("on_progress", on_progress)
        scan = strategy == "scan" or (
            strategy == "auto" and isinstance(uuids, Sequence) and len(uuids) >= AUTO_SCAN_MIN
        )
        if wait and scan:
            scanner = Scanner(
                list_page=self._scan_page,
                fetch=self._get_detection,
                clock=self._clock,
                poll=policy,
                timeout=seconds,
                wait_for_intelligence=wait_for_intelligence,
                concurrency=self._gate.max_concurrency,
                fetch_final=partial(self._get_detection, experts=True) if experts else None,
            )
            return ResultStream(
                uuids,
                scanner.wait,
                workers=concurrency or SCAN_WORKERS,
                on_progress=on_progress,
                cleanup=scanner.aclose,
            )
        if wait:

            async def job(uuid: str) -> Detection:
                return await self._wait(
                    uuid,
                    timeout=seconds,
                    poll=policy,
                    on_update=None,
                    wait_for_intelligence=wait_for_intelligence,
                    experts=experts,
                )

            workers = concurrency or self._gate.max_concurrency * 8
        else:

            async def job(uuid: str) -> Detection:
                return await self._get_detection(uuid, experts=experts)

            workers = concurrency or self._gate.max_concurrency
        return ResultStream(uuids, job, workers=workers, on_progress=on_progress)

    async def _scan_page(self, number: int) -> Page:
        return await self._fetch_page(number, SCAN_PAGE_SIZE, call=_NO_CALL_OPTIONS)

    async def fetch_many(
        self,
        uuids: Iterable[str],
        *,
        concurrency: int | None = None,
        experts: bool = False,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> list[Outcome]:
        """Fetch many detections once each; one :class:`Outcome` per input, in input order.

        A failing uuid (404, invalid, unreadable body) gets its error in its outcome and
        never affects the others.
        """
        stream = self.iter_results(
            uuids, concurrency=concurrency, experts=experts, on_progress=on_progress
        )
        return await stream.collect()

    async def wait_for_many(
        self,
        uuids: Iterable[str],
        *,
        timeout: Timeout = DEFAULT,
        poll: PollPolicy | None = None,
        concurrency: int | None = None,
        wait_for_intelligence: bool = False,
        on_progress: Callable[[Progress], object] | None = None,
        strategy: Strategy = "poll",
    ) -> list[Outcome]:
        """Wait for many detections; one :class:`Outcome` per input, in input order.

        Failed detections give :class:`DetectionFailedError` outcomes (with the detection
        attached); a uuid whose deadline passes gets a :class:`WaitTimeoutError`.
        """
        stream = self.iter_results(
            uuids,
            wait=True,
            timeout=timeout,
            poll=poll,
            concurrency=concurrency,
            wait_for_intelligence=wait_for_intelligence,
            on_progress=on_progress,
            strategy=strategy,
        )
        return await stream.collect()

    # -- batches, waiting ----------------------------------------------------------------

    async def wait_for_batch(
        self,
        uuid: str,
        *,
        timeout: Timeout = DEFAULT,
        poll: PollPolicy | None = None,
        fetch_results: bool = True,
        on_update: Callable[[Batch], object] | None = None,
    ) -> BatchResult:
        """Poll a batch until it is completed, partially_failed or failed.

        With ``fetch_results`` (the default) every child detection is then fetched with the
        bulk machinery; the :class:`BatchResult` holds the batch and one outcome per child.
        A failed batch is returned, not raised: its children say why.
        """
        seconds, policy = self._timeout(timeout, poll)
        check_callable("on_update", on_update)
        with self._conn.watching(uuid):
            batch = await wait_for_batch(
                self._batch_fetch(uuid),
                uuid=uuid,
                clock=self._clock,
                timeout=seconds,
                poll=policy,
                on_update=on_update,
                sleep=partial(self._conn.nap, self._clock, uuid=uuid),
            )
        outcomes: list[Outcome] = []
        if fetch_results and batch.detect_uuids:
            outcomes = await self.fetch_many(batch.detect_uuids)
        return BatchResult(batch=batch, outcomes=tuple(outcomes))

    async def create_batch_and_wait(
        self,
        files: Sequence[FileInput] | None = None,
        *,
        zip_file: FileInput | None = None,
        timeout: Timeout = DEFAULT,
        poll: PollPolicy | None = None,
        fetch_results: bool = True,
        on_update: Callable[[Batch], object] | None = None,
        **options: Unpack[BatchOptions],
    ) -> BatchResult:
        """Submit a batch, wait for it, and fetch its results (see :meth:`wait_for_batch`).

        Errors after the submission carry the batch ``uuid``.
        """
        self._timeout(timeout, poll)  # bad wait arguments fail before anything is billed
        check_callable("on_update", on_update)
        batch = await self.create_batch(files, zip_file=zip_file, **options)
        try:
            return await self.wait_for_batch(
                batch.uuid,
                timeout=timeout,
                poll=poll,
                fetch_results=fetch_results,
                on_update=on_update,
            )
        except errors.ResembleError as exc:
            if exc.uuid is None:  # e.g. a child's fetch: the batch is what was created
                exc.uuid = batch.uuid
            raise

    # -- bulk jobs (resemble_detect_async/_jobs.py; imported here so that this section is
    # -- self-contained: the signature below needs its types) ---------------------------

    from . import _jobs

    def detect_many(
        self,
        inputs: Iterable[_jobs.InputLike],
        *,
        journal: str | os.PathLike[str] | None = None,
        out: str | os.PathLike[str] | None = None,
        wait: bool = True,
        timeout: Timeout = DEFAULT,
        poll: PollPolicy | None = None,
        wait_for_intelligence: bool = False,
        concurrency: int | None = None,
        on_progress: Callable[[Progress], object] | None = None,
        resubmit_in_doubt: bool = False,
        reconcile: _jobs.ReconcilePolicy | None = None,
        **options: Unpack[DetectionOptions],
    ) -> _jobs.JobStream:
        """Submit many inputs, wait for each, and resume after a crash without billing twice.

        ``async for outcome in client.detect_many(urls, journal="job.db"): ...`` yields one
        :class:`JobOutcome` per input as each finishes (``await ....collect()`` returns them
        in input order). An input is a URL (``https://...``), a path, a ``(filename,
        bytes)`` pair or a :class:`DetectInput` (also for media tokens and per-input
        options). POSTs and polls share the client's concurrency, rate limit and retries.

        With ``journal=`` (a SQLite file; docs/bulk-jobs.md has the schema) every input is
        recorded before its POST is sent and as soon as its uuid is known, so running the
        same call again after a crash sends only what was never sent, waits for what was
        created, replays what finished, and reconciles what was in doubt against the list
        of detections. ``journal=None`` keeps the journal in memory: no resume.

        Args:
            journal: the journal file; reusing it resumes the job.
            out: where the outcomes are written as JSON lines when the run completes
                (default: beside the journal, ``job.db`` → ``job.jsonl``; none without
                a journal).
            wait: wait for each result (True) or only submit (False: the outcome holds the
                created detection, and a rerun fetches it once).
            timeout: each input's wait deadline, as in :meth:`wait_for_result`.
            poll: the poll policy of the waits.
            wait_for_intelligence: also wait for intelligence (and watermark) results.
            concurrency: inputs worked on at once; default ``max_concurrency`` x 8 with
                ``wait`` (at most ``max_concurrency`` POSTs are ever in flight).
            on_progress: called with a :class:`Progress` after each outcome.
            resubmit_in_doubt: send inputs in doubt again (may bill twice: see
                :class:`InDoubtError`).
            reconcile: how inputs in doubt are looked up (:class:`ReconcilePolicy`).
            options: create options for every input (a :class:`DetectInput`'s own
                ``options`` win).

        Raises:
            InvalidRequestError: a bad argument or job option (at once, nothing sent).
            JournalMismatchError: (when iterating) the inputs differ from the journal's.
            JournalError: (when iterating) another run holds the journal.
        """
        from ._jobs import detect_many

        self._timeout(timeout, poll)  # bad wait arguments fail before anything is sent
        return detect_many(
            self,
            inputs,
            journal=journal,
            out=out,
            wait=wait,
            timeout=timeout,
            poll=poll,
            wait_for_intelligence=wait_for_intelligence,
            concurrency=concurrency,
            on_progress=on_progress,
            resubmit_in_doubt=resubmit_in_doubt,
            reconcile=reconcile,
            options=options,
        )
