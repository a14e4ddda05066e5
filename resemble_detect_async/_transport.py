"""The only module that talks aiohttp for client calls: one attempt of one request.

It turns a :class:`~resemble_detect_async._sansio.Request` into an HTTP exchange and maps
every aiohttp failure onto our errors, recording whether the request may have reached the
server (which decides whether a billing POST may be retried).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import aiohttp
import attrs

from . import errors
from ._config import Timeouts
from ._sansio import Request

__all__ = ["Response", "Transport"]

# aiohttp >= 3.10 tells connect timeouts apart; older versions raise ServerTimeoutError.
_CONNECT_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    cls for cls in (getattr(aiohttp, "ConnectionTimeoutError", None),) if cls is not None
)


class _Redacted(str):
    """A header value that is sent as is but never shows in a repr (e.g. in an error
    tracker's dump of local variables)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<redacted>'"


@attrs.frozen
class Response:
    """What came back: status, headers (case-insensitive keys) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport:
    """Sends one attempt over an aiohttp session it does not own."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        authorization: str,
        timeouts: Timeouts,
        user_agent: str,
    ) -> None:
        self._session = session
        self._base_url = base_url
        self._headers = {
            "Authorization": _Redacted(authorization),
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        self._timeouts = timeouts

    def __repr__(self) -> str:  # the Authorization header must never show up anywhere
        return f"Transport(base_url={self._base_url!r})"

    def _timeout(self, request: Request) -> aiohttp.ClientTimeout:
        t = self._timeouts
        return aiohttp.ClientTimeout(
            total=t.upload if request.is_upload else None,
            connect=None,
            sock_connect=t.connect,
            sock_read=t.wait_read if request.long_read else t.read,
        )

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
            "params": dict(request.params) or None,
            "headers": {**self._headers, **request.headers},
            "timeout": self._timeout(request),
            "allow_redirects": False,
            # A borrowed session may raise on error statuses by default; we read them ourselves.
            "raise_for_status": False,
        }
        with ExitStack() as stack:
            if request.form is not None:
                form = aiohttp.FormData(quote_fields=False)
                for name, value in request.form.items():
                    form.add_field(name, value)
                for name, media in request.files:
                    content_type = (
                        mimetypes.guess_type(media.filename)[0] or "application/octet-stream"
                    )
                    form.add_field(
                        name,
                        stack.enter_context(media.open()),
                        filename=media.filename,
                        content_type=content_type,
                    )
                kwargs["data"] = form
            elif request.json is not None:
                kwargs["json"] = request.json
            async with self._session.request(request.method, url, **kwargs) as resp:
                body = await resp.read()
                return Response(resp.status, resp.headers, body)


def _map_failure(exc: Exception, request: Request) -> errors.ResembleError | None:
    """Our error for an aiohttp/OS failure of one attempt (None: not ours to map)."""
    where = f"{request.method} {request.path}"
    kwargs: dict[str, Any] = {"method": request.method, "path": request.path}
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
            f"{where}: the HTTP session was closed while the request was running"
        )
    if isinstance(exc, ValueError) and "header" in str(exc).lower():
        return errors.InvalidRequestError(f"{where}: {exc}")
    return None
