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
            "Authorization": authorization,
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
        """One attempt. Raises TransportError subclasses; never an aiohttp exception."""
        url = self._base_url + request.path
        headers = {**self._headers, **request.headers}
        kwargs: dict[str, Any] = {
            "params": dict(request.params) or None,
            "headers": headers,
            "timeout": self._timeout(request),
            "allow_redirects": False,
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
            try:
                async with self._session.request(request.method, url, **kwargs) as resp:
                    body = await resp.read()
                    return Response(resp.status, resp.headers, body)
            except _CONNECT_TIMEOUT as exc:
                raise errors.APITimeoutError(
                    f"timed out connecting to the API ({exc or 'connect timeout'})",
                    request_sent=False,
                    method=request.method,
                    path=request.path,
                ) from exc
            except aiohttp.ClientConnectorError as exc:
                raise errors.APIConnectionError(
                    f"could not connect to the API: {exc.os_error or exc}",
                    request_sent=False,
                    method=request.method,
                    path=request.path,
                ) from exc
            except TimeoutError as exc:
                raise errors.APITimeoutError(
                    f"{request.method} {request.path} timed out waiting for the API",
                    method=request.method,
                    path=request.path,
                ) from exc
            except aiohttp.InvalidURL as exc:
                raise errors.ConfigurationError(f"invalid request URL: {exc}") from exc
            except aiohttp.ClientError as exc:
                raise errors.APIConnectionError(
                    f"{request.method} {request.path}: connection failed "
                    f"({type(exc).__name__}: {exc})",
                    method=request.method,
                    path=request.path,
                ) from exc
            except OSError as exc:
                raise errors.APIConnectionError(
                    f"{request.method} {request.path}: {exc}",
                    method=request.method,
                    path=request.path,
                ) from exc
