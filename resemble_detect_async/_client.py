"""DetectClient: the public verbs over one aiohttp session, one retry layer and one gate."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Final, TypeVar, Unpack

import aiohttp

from . import _converter, _sansio, errors
from ._bulk import BatchResult, Outcome, Progress, ResultStream
from ._config import (
    Clock,
    PollPolicy,
    RetryPolicy,
    Timeouts,
    call_budget,
    cut_off_at,
)
from ._files import FileInput, MediaFile, media_file
from ._limits import DEFAULT_MAX_CONCURRENCY, DEFAULT_RATE, RateLimiter, RequestGate, TokenBucket
from ._options import BatchOptions, DetectionOptions, check_option_names
from ._pagination import DetectionPager
from ._polling import Fetch, UpdateCallback, wait_for_batch, wait_for_result, watch
from ._retry import send_with_retries
from ._settings import client_settings
from ._transport import Transport
from .models import Batch, Detection, Page

__all__ = ["DEFAULT", "DetectClient"]

log = logging.getLogger("resemble_detect_async")
T = TypeVar("T")


class _Default:
    """Marks "use the policy's default" where None already means "no limit"."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()
Timeout = float | None | _Default


def _check_callable(name: str, value: object) -> None:
    """Callbacks are checked before anything is sent (``on_update="print"`` is a typo)."""
    if value is not None and not callable(value):
        raise errors.InvalidRequestError(
            f"{name} must be a function (or None), got {type(value).__name__}"
        )


def _check_flag(name: str, value: object) -> None:
    """Flags are real booleans: ``experts="false"`` must not silently mean True."""
    if not isinstance(value, bool):
        raise errors.InvalidRequestError(f"{name} must be True or False, got {value!r}")


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
        self._settings = settings
        self._base_url = settings.base_url
        self._authorization = settings.authorization
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._timeouts = settings.timeouts
        self._retry = settings.retry
        self._poll = settings.poll
        self._clock = settings.clock
        limiter = rate_limiter or TokenBucket(rate_limit, clock=self._clock)
        self._gate = RequestGate(max_concurrency=max_concurrency, limiter=limiter)
        self._transport: Transport | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
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

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

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

    async def close(self) -> None:
        """Close the session the client created (a borrowed session is left open).

        Idempotent. Any use afterwards raises :class:`ClientClosedError`.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    aclose = close

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # Without `async with` or close(), aiohttp's session leaks and aiohttp warns a vague
        # "Unclosed client session"; add a warning that names the object and the fix.
        session = getattr(self, "_session", None)
        if getattr(self, "_owns_session", False) and session is not None and not session.closed:
            message = (
                "DetectClient was not closed: use `async with DetectClient() as client:` or "
                "`await client.close()` when done"
            )
            _warn(message, ResourceWarning, source=self, stacklevel=2)
            # ResourceWarnings are hidden by default; a log line is not.
            with contextlib.suppress(Exception):  # logging may be torn down at exit
                log.warning(message)

    def _get_transport(self) -> Transport:
        if self._closed:
            raise errors.ClientClosedError(
                "this DetectClient is closed; create a new one (or keep using it inside "
                "`async with`)"
            )
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=max(100, self._gate.max_concurrency * 2))
            self._session = aiohttp.ClientSession(connector=connector)
        elif self._session.closed:
            raise errors.ClientClosedError(
                "the aiohttp session given to DetectClient is closed; pass an open session"
            )
        if self._transport is None:
            settings = self._settings
            self._transport = Transport(
                self._session,
                base_url=settings.base_url,
                authorization=settings.authorization,
                timeouts=settings.timeouts,
                user_agent=settings.user_agent,
                max_response_bytes=settings.max_response_bytes,
                plain_http=settings.plain_http,
            )
        return self._transport

    # -- one request ---------------------------------------------------------------------

    async def _send(self, request: _sansio.Request, *, deadline: float | None = None) -> Any:
        """Send ``request`` through the gate and the retry layer; return the parsed body.

        Reading the answer is :func:`~resemble_detect_async._sansio.decipher_response`'s job
        and deciding about retries the retry layer's: this method only joins them up.
        """
        transport = self._get_transport()  # fails fast when closed, before waiting for a slot
        slot = self._gate.slot
        tries = 0

        async def attempt() -> Any:
            nonlocal tries
            tries += 1
            async with slot():
                status, headers, raw = await transport.send(request)
            return _sansio.decipher_response(request, status, headers, raw, attempt=tries)

        retries = send_with_retries(
            attempt,
            request=request,
            policy=self._retry,
            clock=self._clock,
            pause_all=self._gate.pause,
            deadline=deadline,
        )
        budget = call_budget(request, self._timeouts, self._retry)
        if budget is None:
            return await retries
        try:
            async with cut_off_at(self._clock, self._clock.monotonic() + budget):
                return await retries
        except TimeoutError as exc:
            if isinstance(exc, errors.ResembleError):
                raise
            raise errors.APITimeoutError(
                f"{request.method} {request.path}: no complete answer within {budget:.0f} s "
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

        This request is never retried once it may have reached the server: it bills.

        Raises:
            InvalidRequestError: not exactly one intake, or an option breaks an API rule.
            APIStatusError: the API refused (400, 401, 402 with ``details``, 403, 429...).
            TransportError: the request may or may not have been received; check
                :meth:`list_detections` before submitting again.
        """
        check_option_names(options, DetectionOptions, where="create_detection")
        _check_flag("wait", wait)
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
        return _converter.structure_detection(await self._send(request))

    async def get_detection(self, uuid: str, *, experts: bool = False) -> Detection:
        """Fetch one detection (GET /detect/{uuid}); ``experts=True`` lists intelligence results.

        Raises:
            InvalidRequestError: ``uuid`` is not a valid Detect uuid (nothing is sent).
            NotFoundError: no such detection for this team.
        """
        _check_flag("experts", experts)
        return await self._get_detection(uuid, experts=experts)

    async def _get_detection(self, uuid: str, *, experts: bool = False) -> Detection:
        return await self._detection_fetch(uuid, experts=experts)(None)

    def _detection_fetch(self, uuid: str, *, experts: bool) -> Fetch[Detection]:
        """One poll of a detection: the request is built (and the uuid checked) once."""
        request = _sansio.get_detection(uuid, experts=experts)

        async def fetch(deadline: float | None) -> Detection:
            body = await self._send(request, deadline=deadline)
            return _checked(_converter.structure_detection(body), request, body)

        return fetch

    def list_detections(self, page: int | None = None, *, page_size: int = 100) -> DetectionPager:
        """List the team's detections (GET /detect).

        ``await client.list_detections(page=2)`` returns one :class:`Page`;
        ``async for detection in client.list_detections()`` walks every page from ``page``
        (default 1). ``page_size`` must be 10–1000 (API notes §5).
        """
        start = 1 if page is None else page
        _sansio.list_detections(page=start, page_size=page_size)  # validate eagerly
        return DetectionPager(self._fetch_page, start=start, page_size=page_size)

    async def _fetch_page(self, page: int, page_size: int) -> Page:
        request = _sansio.list_detections(page=page, page_size=page_size)
        return _converter.structure_page(await self._send(request))

    async def delete_detection(self, uuid: str) -> None:
        """Delete a detection (DELETE /detect/{uuid}).

        Raises:
            NotFoundError: no such detection (or it was already deleted).
        """
        await self._send(_sansio.delete_detection(uuid))

    async def upload_media(self, file: FileInput, *, filename: str | None = None) -> str:
        """Upload private media (POST /secure_uploads) and return its token.

        Pass the token as ``media_token=`` to :meth:`create_detection` within one hour.
        This is the route for files over 150 MB (API notes §9). Never retried once sent.
        """
        return await self._upload(media_file(file, filename=filename))

    async def _upload(self, media: MediaFile) -> str:
        body = await self._send(_sansio.upload_media(media))
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
        **options: Unpack[BatchOptions],
    ) -> Batch:
        """Submit up to 50 files, or one zip archive, as a batch (POST /detect/batch).

        The rules of API notes §7 are checked before anything is sent: 1–50 files, 500 MB in
        total, files or a zip but not both, no ``detect_watermark`` or ``Prefer: wait``.
        ``audio_source_tracing`` is sent under the batch name ``audio_source_tracing_enabled``.
        A single ``.zip`` in ``files`` is sent as the archive. Never retried once sent.
        """
        check_option_names(options, BatchOptions, where="create_batch")
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
        return _converter.structure_batch(await self._send(request))

    async def get_batch(self, uuid: str) -> Batch:
        """Fetch a batch's aggregate status (GET /detect/batch/{uuid})."""
        return await self._batch_fetch(uuid)(None)

    def _batch_fetch(self, uuid: str) -> Fetch[Batch]:
        """One poll of a batch: the request is built (and the uuid checked) once."""
        request = _sansio.get_batch(uuid)

        async def fetch(deadline: float | None) -> Batch:
            body = await self._send(request, deadline=deadline)
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
        if isinstance(timeout, _Default):
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
        _check_callable("on_update", on_update)
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
        return await wait_for_result(
            fetch,
            uuid=uuid,
            clock=self._clock,
            timeout=timeout,
            poll=poll,
            on_update=on_update,
            wait_for_intelligence=wait_for_intelligence,
            fetch_final=None if final is None else partial(final, None),
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
        wait_for_intelligence: bool = False,
        **options: Unpack[DetectionOptions],
    ) -> Detection:
        """Submit media and wait for its final result.

        Any error raised after the submission succeeded carries the new detection's
        ``uuid`` (``err.uuid``), so nothing is lost: resume with ``wait_for_result(err.uuid)``.
        """
        self._timeout(timeout, poll)  # bad wait arguments fail before anything is billed
        _check_callable("on_update", on_update)
        created = await self.create_detection(
            url, file=file, media_token=media_token, filename=filename, **options
        )
        try:
            return await self.wait_for_result(
                created.uuid,
                timeout=timeout,
                poll=poll,
                on_update=on_update,
                wait_for_intelligence=wait_for_intelligence,
            )
        except errors.ResembleError:  # every error of the wait names created.uuid already
            raise
        except Exception as exc:  # e.g. your on_update raised: the detection still exists
            exc.add_note(f"detection {created.uuid} was created; resume with wait_for_result()")
            raise

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
        """
        seconds, policy = self._timeout(timeout, poll)
        _check_flag("wait", wait)
        _check_flag("experts", experts)
        _check_flag("wait_for_intelligence", wait_for_intelligence)
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise errors.InvalidRequestError(
                f"concurrency must be a whole number >= 1, got {concurrency!r}"
            )
        _check_callable("on_progress", on_progress)
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
        _check_callable("on_update", on_update)
        batch = await wait_for_batch(
            self._batch_fetch(uuid),
            uuid=uuid,
            clock=self._clock,
            timeout=seconds,
            poll=policy,
            on_update=on_update,
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
        _check_callable("on_update", on_update)
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
