"""``client.with_raw_response``: the HTTP answer behind any call, beside its parsed value.

The convention of the Stainless SDKs (openai, anthropic): ``await
client.with_raw_response.get_detection(uuid)`` returns a :class:`RawResponse` with the
status, headers, request id, elapsed time and retries of the call, and ``.parse()`` gives
the model the plain call would have returned. The exchange is recorded through a context
variable set only for that call, so the ordinary path pays one lookup per attempt.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar

import attrs

if TYPE_CHECKING:
    from ._client import DetectClient

__all__ = ["Exchange", "RawResponse", "WithRawResponse", "recording"]

T = TypeVar("T")
P = ParamSpec("P")


@attrs.frozen(kw_only=True)
class Exchange:
    """One HTTP attempt as it went: what was asked, what came back, how long it took."""

    method: str
    url: str
    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    request_id: str | None
    elapsed: float
    attempt: int


recording: contextvars.ContextVar[list[Exchange] | None] = contextvars.ContextVar(
    "resemble_detect_async_recording", default=None
)


@attrs.frozen(kw_only=True)
class RawResponse(Generic[T]):
    """The last HTTP answer of a call, and the value the call returned.

    Attributes:
        status_code: the HTTP status of the answer the value was read from.
        headers: its headers (case-insensitive keys), rate-limit headers included.
        request_id: the request id header, when the service sent one; quote it to support.
        elapsed: seconds the last attempt took, from sending to the end of the body.
        retries_taken: attempts before the last one (0 when the first one succeeded).
        method, url: what was sent (the URL without the query string).
        exchanges: every attempt of the call, in order.
    """

    status_code: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    request_id: str | None
    elapsed: float
    retries_taken: int
    method: str
    url: str
    exchanges: tuple[Exchange, ...] = attrs.field(repr=False)
    _value: T = attrs.field(alias="value", repr=False)

    def parse(self) -> T:
        """The value the plain call returns (a model, a page, a token, or None)."""
        return self._value


def _raw(call: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        exchanges: list[Exchange] = []
        token = recording.set(exchanges)
        try:
            value = await call(*args, **kwargs)
        finally:
            recording.reset(token)
        if not exchanges:  # pragma: no cover - every wrapped call sends a request
            raise RuntimeError(f"{call.__name__} sent no request")
        last = exchanges[-1]
        return RawResponse(
            status_code=last.status,
            headers=last.headers,
            request_id=last.request_id,
            elapsed=last.elapsed,
            retries_taken=last.attempt - 1,
            method=last.method,
            url=last.url,
            exchanges=tuple(exchanges),
            value=value,
        )

    wrapper.__name__ = call.__name__
    wrapper.__doc__ = f"Like ``{call.__name__}``, returning a RawResponse (see .parse())."
    return wrapper


class WithRawResponse:
    """The request verbs of a client, each returning a :class:`RawResponse`."""

    def __init__(self, client: DetectClient) -> None:
        self.create_detection = _raw(client.create_detection)
        self.get_detection = _raw(client.get_detection)
        self.delete_detection = _raw(client.delete_detection)
        self.upload_media = _raw(client.upload_media)
        self.create_batch = _raw(client.create_batch)
        self.get_batch = _raw(client.get_batch)
        self.list_detections = _raw(client._list_page)

    def __repr__(self) -> str:
        return "<DetectClient.with_raw_response>"
