"""The only module that talks aiohttp for client calls: one attempt of one request.

It turns a :class:`~resemble_detect_async._sansio.Request` into an HTTP exchange and maps
every aiohttp failure onto our errors, recording whether the request may have reached the
server (which decides whether a billing POST may be retried).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import mimetypes
import os
import socket
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import ExitStack
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiohttp

from . import errors
from ._config import Timeouts
from ._sansio import ERROR_BODY_BYTES, MAX_RESPONSE_BYTES, Request

__all__ = ["Response", "Secret", "Transport"]

_CHUNK = 64 * 1024

# aiohttp >= 3.10 tells connect timeouts apart; older versions raise ServerTimeoutError.
_CONNECT_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    cls for cls in (getattr(aiohttp, "ConnectionTimeoutError", None),) if cls is not None
)


class Secret:
    """Holds the Authorization value; no str, repr or pickle of it shows the value.

    It is deliberately not a ``str``: a serializer that dumps an error tracker's local
    variables prints a ``str`` subclass in full. The value is revealed only into the
    headers of the request being sent.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API key cannot be pickled")


class Response(NamedTuple):
    """What came back: status, headers (case-insensitive keys) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def check_plain_http_host(base_url: str) -> None:
    """Plain http is trusted for ``localhost`` only where the name really is this machine."""
    host = urlsplit(base_url).hostname or ""
    if host.lower().rstrip(".") != "localhost":
        return  # a loopback IP literal
    try:
        addresses = {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise errors.ConfigurationError(f"cannot resolve {host!r}: {exc}") from None
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise errors.ConfigurationError(
            f"{host!r} resolves to {sorted(addresses)}, not only to loopback: refusing to send "
            "the API key over plain http; use 127.0.0.1 or https"
        )


def refuse_env_proxy(base_url: str) -> None:
    """A session that reads proxies from the environment would hand the key to the proxy."""
    host = urlsplit(base_url).hostname or ""
    proxies = urllib.request.getproxies()
    if ("http" in proxies or "all" in proxies) and not urllib.request.proxy_bypass(host):
        raise errors.ConfigurationError(
            "the aiohttp session has trust_env=True and HTTP_PROXY is set: the API key would "
            f"go to the proxy in clear over plain http to {host!r}; use a session with "
            "trust_env=False, add the host to NO_PROXY, or use https"
        )


class Transport:
    """Sends one attempt over an aiohttp session it does not own."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        authorization: Secret,
        timeouts: Timeouts,
        user_agent: str,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        plain_http: bool = False,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        if plain_http and session.trust_env:
            refuse_env_proxy(base_url)
        self._session = session
        self._max_response_bytes = max_response_bytes
        self._base_url = base_url
        self._authorization = authorization
        self._headers = {
            "Accept": "application/json",
            "User-Agent": user_agent,
            **(extra_headers or {}),
        }
        # Built once: the hot path (thousands of GETs) only picks one.
        self._timeout_plain = _client_timeout(timeouts, read=timeouts.read)
        self._timeout_long = _client_timeout(timeouts, read=timeouts.wait_read)
        self._timeout_upload = _client_timeout(timeouts, read=timeouts.read, total=timeouts.upload)
        self._timeout_upload_long = _client_timeout(
            timeouts, read=timeouts.wait_read, total=timeouts.upload
        )

    def __repr__(self) -> str:  # the Authorization header must never show up anywhere
        return f"Transport(base_url={self._base_url!r})"

    def _timeout(self, request: Request) -> aiohttp.ClientTimeout:
        if request.form is not None:
            return self._timeout_upload_long if request.long_read else self._timeout_upload
        return self._timeout_long if request.long_read else self._timeout_plain

    async def send(self, request: Request) -> Response:
        """One attempt. Raises our errors; never an aiohttp exception.

        aiohttp's exceptions are not chained onto ours: some (``ClientResponseError``) carry
        the request headers, Authorization included, and a chained cause would keep the
        API key reachable from every error (and every bulk outcome). What they say goes
        into our message instead.
        """
        failure: errors.ResembleError | None = None
        try:
            return await self._send(request)
        except Exception as exc:  # mapped below, outside the except block (no __context__)
            failure = _map_failure(exc, request)
            if failure is None:
                raise
        raise failure

    async def _send(self, request: Request) -> Response:
        url = self._base_url + request.path
        kwargs: dict[str, Any] = {
            "params": request.params or None,
            "headers": {
                **self._headers,
                **request.headers,
                "Authorization": self._authorization.reveal(),
            },
            "timeout": self._timeout(request),
            "allow_redirects": False,
            # A borrowed session may raise on error statuses by default; we read them ourselves.
            "raise_for_status": False,
        }
        if request.form is None:
            if request.json is not None:
                kwargs["json"] = request.json
            async with self._session.request(request.method, url, **kwargs) as resp:
                return Response(resp.status, resp.headers, await self._read(resp, request))
        with ExitStack() as stack:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in request.form.items():
                form.add_field(name, value)
            for name, media in request.files:
                content_type = mimetypes.guess_type(media.filename)[0] or "application/octet-stream"
                stream: Any
                if (fd := media.pipe_fd) is not None:  # read on the loop: cancellable
                    stream = _read_pipe(fd)
                else:
                    stream = stack.enter_context(media.open())
                if media.size is not None:  # tell aiohttp: a Content-Length, not chunks
                    stream = _SizedStream(stream, media.size, content_type=content_type)
                form.add_field(name, stream, filename=media.filename, content_type=content_type)
            kwargs["data"] = form
            async with self._session.request(request.method, url, **kwargs) as resp:
                return Response(resp.status, resp.headers, await self._read(resp, request))

    async def _read(self, resp: aiohttp.ClientResponse, request: Request) -> bytes:
        """The body, never more than the cap, counted after decompression.

        An error answer is only read as far as a message needs (``ERROR_BODY_BYTES``); a
        success answer over ``max_response_bytes`` raises :class:`ResponseTooLargeError`
        (not retried). Leaving the rest unread closes the connection.
        """
        length = resp.content_length
        if resp.status < 300:
            limit = self._max_response_bytes
            plain = "Content-Encoding" not in resp.headers
            if plain and length is not None and length <= limit:
                return await resp.read()  # the hot path: the size is known and allowed
        else:
            limit = ERROR_BODY_BYTES
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                if resp.status >= 300:
                    chunks.append(chunk[: limit - (size - len(chunk))])
                    break
                raise errors.ResponseTooLargeError(
                    f"{request.method} {request.path}: the answer is over {limit:,} bytes "
                    "(max_response_bytes); not read further",
                    path="$",
                    uuid=request.subject,
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _map_failure(exc: Exception, request: Request) -> errors.ResembleError | None:
    """Our error for an aiohttp/OS failure of one attempt (None: not ours to map)."""
    if isinstance(exc, errors.ResembleError):
        return None  # already ours (e.g. a file that changed under us): raised as it is
    where = f"{request.method} {request.path}"
    kwargs = request.error_fields()
    if isinstance(exc, _CONNECT_TIMEOUT):
        return errors.APITimeoutError(
            f"{where}: timed out connecting to the API", request_sent=False, **kwargs
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return errors.APIConnectionError(
            f"{where}: could not connect to the API: {exc.os_error or exc}",
            request_sent=False,
            **kwargs,
        )
    if isinstance(exc, TimeoutError):
        return errors.APITimeoutError(f"{where} timed out waiting for the API", **kwargs)
    if isinstance(exc, aiohttp.InvalidURL):
        return errors.ConfigurationError(f"invalid request URL: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):
        # str() of these holds status, message and URL, never the request headers.
        return errors.APIConnectionError(
            f"{where}: unreadable response ({type(exc).__name__}: {exc.status}, {exc.message})",
            **kwargs,
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return errors.APIConnectionError(
            f"{where}: connection failed ({type(exc).__name__}: {exc})", **kwargs
        )
    if isinstance(exc, RuntimeError) and "closed" in str(exc).lower():
        return errors.ClientClosedError(
            f"{where}: the HTTP session was closed while the request was running",
            uuid=request.subject,
        )
    if isinstance(exc, ValueError) and "header" in str(exc).lower():
        return errors.InvalidRequestError(f"{where}: {exc}", uuid=request.subject)
    return None


async def _read_pipe(fd: int) -> AsyncIterator[bytes]:
    """A pipe's data, read by the event loop instead of a worker thread.

    aiohttp reads file objects in threads; a thread blocked in ``read()`` on a pipe whose
    writer never closes can be neither cancelled nor joined, and keeps the process from
    exiting. The loop's pipe reader is cancellable at any moment.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_CHUNK)
    pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while chunk := await reader.read(_CHUNK):
            yield chunk
    finally:
        transport.close()
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)  # the caller's descriptor shares the flag


class _SizedStream(aiohttp.payload.IOBasePayload):
    """A file stream whose size is known, so the upload carries a Content-Length (aiohttp
    can only measure real files; a file object of the caller's would go chunked)."""

    def __init__(self, stream: Any, size: int, *, content_type: str) -> None:
        super().__init__(stream, content_type=content_type)
        self._known_size = size

    @property
    def size(self) -> int:
        return self._known_size


def _client_timeout(
    timeouts: Timeouts, *, read: float, total: float | None = None
) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=total, connect=None, sock_connect=timeouts.connect, sock_read=read
    )
