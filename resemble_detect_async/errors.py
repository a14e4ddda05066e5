"""Every error this SDK raises, under one root.

Catch :class:`ResembleError` to catch everything; catch a branch to react to one kind of
failure. The tree::

    ResembleError
    ├── ConfigurationError (ValueError)      no API key, bad base URL, plain http to a remote host
    ├── InvalidRequestError (ValueError)     bad arguments, refused before any request is sent
    ├── ClientClosedError (RuntimeError)     the client was used after close()
    ├── EventLoopError (RuntimeError)        the client was used from another event loop or thread
    ├── TransportError                       no usable HTTP response
    │   ├── APIConnectionError               connect failed, connection reset or dropped
    │   └── APITimeoutError (TimeoutError)   the HTTP request timed out
    ├── APIStatusError                       the API answered with an error status
    │   ├── BadRequestError                  400
    │   ├── AuthenticationError              401
    │   ├── PaymentRequiredError             402 (``details`` carries the cost estimate)
    │   ├── PermissionDeniedError            403
    │   ├── NotFoundError                    404
    │   ├── UnprocessableEntityError         422
    │   ├── RateLimitError                   429 (``retry_after`` in seconds, if the server said)
    │   └── ServerError                      5xx
    ├── ResponseValidationError              a 2xx body that cannot be read as the documented shape
    │   └── ResponseTooLargeError            the body was over ``max_response_bytes``
    ├── DetectionFailedError                 the detection finished with status ``failed``
    ├── WaitTimeoutError (TimeoutError)      the overall wait deadline passed; the uuid is kept
    ├── InDoubtError                         a create may have happened; the listing cannot tell
    └── JournalError                         a bulk job's journal cannot be used (e.g. in use)
        └── JournalMismatchError (ValueError)  the inputs differ from the journal's at an index

Every error pickles (bulk runs ship them across processes and into JSONL), and no ``str``,
``repr`` or pickled state ever contains the API key: request headers are never stored here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Batch, Detection

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "DetectionFailedError",
    "EventLoopError",
    "InDoubtError",
    "InvalidRequestError",
    "JournalError",
    "JournalMismatchError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResembleError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "TransportError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
]


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Recreate an error without calling ``__init__`` (whose signature varies per class)."""
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


_MODEL_KEY = "$model"  # {"$model": "Detection", "item": {...}}
_ERROR_KEY = "$error"  # {"$error": {...an error's to_dict()...}}


def _to_json(value: Any) -> Any:
    """One state value as JSON: models by their wire item, errors by their dict."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    if isinstance(value, ResembleError):
        return {_ERROR_KEY: value.to_dict()}
    raw = getattr(value, "raw", None)
    if isinstance(raw, Mapping):  # a Detection or a Batch: the item as the API sent it
        return {_MODEL_KEY: type(value).__name__, "item": dict(raw)}
    if isinstance(value, BaseException):
        return {_ERROR_KEY: {"type": type(value).__name__, "text": str(value)}}
    return repr(value)


def _from_json(value: Any) -> Any:
    """The inverse of :func:`_to_json` for what it can invert."""
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    if _MODEL_KEY in value:
        from . import _converter, models

        cls = getattr(models, str(value[_MODEL_KEY]), None)
        if isinstance(cls, type):
            return _converter.structure(value.get("item"), cls)
    if _ERROR_KEY in value and isinstance(value[_ERROR_KEY], Mapping):
        return ResembleError.from_dict(value[_ERROR_KEY])
    return {key: _from_json(item) for key, item in value.items()}


class ResembleError(Exception):
    """Root of every error raised by resemble-detect-async.

    ``uuid`` is set whenever the error concerns one known detection or batch, so a caller
    that catches it can still resume or report that item.
    """

    uuid: str | None = None

    def __init__(self, message: str, *, uuid: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if uuid is not None:
            self.uuid = uuid

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__getstate__()))

    def __getstate__(self) -> dict[str, Any]:
        """The error's state: what pickling ships and what :meth:`to_dict` writes."""
        return dict(self.__dict__)

    def to_dict(self) -> dict[str, Any]:
        """The error as plain JSON: its type, text and every attribute of its state.

        Built on the same state as pickling, so an attribute added to any error class is
        written too. A detection or batch is written as the wire item it was read from and
        a chained error as its own dict; anything else that is not JSON becomes its repr.
        """
        out: dict[str, Any] = {"type": type(self).__name__, "text": str(self)}
        for name, value in self.__getstate__().items():
            out[name] = _to_json(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResembleError:
        """Rebuild an error written by :meth:`to_dict` (an unknown type reads as ``cls``)."""
        found = globals().get(str(data.get("type")))
        klass = found if isinstance(found, type) and issubclass(found, cls) else cls
        message = str(data.get("message", data.get("text", "")))
        state = {
            name: _from_json(value) for name, value in data.items() if name not in ("type", "text")
        }
        state.setdefault("message", message)
        return _rebuild(klass, (message,), state)  # type: ignore[no-any-return]


class ConfigurationError(ResembleError, ValueError):
    """The client cannot be built as configured (missing key, bad or insecure base URL)."""


class InvalidRequestError(ResembleError, ValueError):
    """The arguments break a documented API rule; nothing was sent (and nothing was billed)."""


class ClientClosedError(ResembleError, RuntimeError):
    """The client was used after ``close()``; create a new one or use ``async with``."""


class EventLoopError(ResembleError, RuntimeError):
    """The client was used outside the event loop its HTTP session is bound to.

    An aiohttp session works only on the loop it was opened on: create the client inside
    the coroutine that uses it (one per event loop, e.g. per ``asyncio.run``).
    """


class TransportError(ResembleError):
    """No usable HTTP response arrived.

    ``request_sent`` is False only when the connection could not be opened at all, which is
    the one case where a request that bills (POST /detect) is provably safe to repeat.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        request_sent: bool = True,
        uuid: str | None = None,
    ) -> None:
        super().__init__(message, uuid=uuid)
        self.method = method
        self.path = path
        self.request_sent = request_sent


class APIConnectionError(TransportError):
    """Connecting failed, or the connection broke before a full response was read."""


class APITimeoutError(TransportError, TimeoutError):
    """The HTTP request exceeded its timeout (see ``Timeouts``)."""


class APIStatusError(ResembleError):
    """The API answered with an error status.

    Attributes:
        status: the HTTP status code.
        message: the API's ``message`` (or ``error``), else a short description of the status.
        errors: field errors, ``{field: [messages]}``, when the API sent them.
        body: the parsed JSON body, or the raw text when the body was not JSON.
        request_id: the request id response header, when present; quote it to support.
        retry_after: seconds the server asked us to wait (``Retry-After``), if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: Any = None,
        errors: Mapping[str, list[str]] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        method: str | None = None,
        path: str | None = None,
        uuid: str | None = None,
    ) -> None:
        super().__init__(message, uuid=uuid)
        self.status = status
        self.retry_after = retry_after
        self.body = body
        self.errors: dict[str, list[str]] = dict(errors or {})
        self.request_id = request_id
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        text = f"{self.status}{where}: {self.message}"
        if self.errors:
            fields = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in self.errors.items())
            text += f" [{fields}]"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class BadRequestError(APIStatusError):
    """400: the API rejected the input (see ``errors`` and ``message``)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or invalid; check RESEMBLE_API_KEY."""


class PaymentRequiredError(APIStatusError):
    """402: the wallet cannot pay for the request; ``details`` holds the cost estimate."""

    @property
    def details(self) -> dict[str, Any]:
        """The ``details`` object of the 402 body (``estimated_cost_cents`` and friends)."""
        if isinstance(self.body, Mapping):
            details = self.body.get("details")
            if isinstance(details, Mapping):
                return dict(details)
        return {}

    @property
    def error_code(self) -> str | None:
        """The API's machine-readable ``error_code``, when present."""
        if isinstance(self.body, Mapping) and self.body.get("error_code") is not None:
            return str(self.body["error_code"])
        return None


class PermissionDeniedError(APIStatusError):
    """403: the key or plan lacks a requested product (e.g. watermark detection)."""


class NotFoundError(APIStatusError):
    """404: no such detection or batch for this team."""


class UnprocessableEntityError(APIStatusError):
    """422: the request is well formed but not possible in the resource's current state."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds, if given."""


class ServerError(APIStatusError):
    """5xx: the service failed; GET and DELETE are retried, creating requests are not."""


class ResponseValidationError(ResembleError):
    """A successful response's body cannot be read as the documented shape.

    Attributes:
        path: JSON path of the first unreadable field, e.g. ``$.item.metrics.score[1]``.
        problems: every problem found, each prefixed with its path.
        body: the raw body (parsed JSON if it parsed, else text) so nothing is lost.
        truncated: True when a 2xx body was not JSON at all (cut off by a proxy or a broken
            connection); such a GET is retried like a dropped connection.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        problems: list[str] | None = None,
        body: Any = None,
        uuid: str | None = None,
        truncated: bool = False,
    ) -> None:
        super().__init__(message, uuid=uuid)
        self.truncated = truncated
        self.path = path
        self.problems = list(problems or [])
        self.body = body


class ResponseTooLargeError(ResponseValidationError):
    """The answer was larger than the client's ``max_response_bytes`` (after decompression).

    Not retried: the same answer would come again. Raise the limit if your pages really
    are that large (``DetectClient(max_response_bytes=...)``).
    """


class DetectionFailedError(ResembleError):
    """The detection reached status ``failed``; ``detection`` and ``error_message`` explain why."""

    def __init__(self, detection: Detection) -> None:
        reason = detection.error_message or "no error_message given"
        super().__init__(f"detection {detection.uuid} failed: {reason}", uuid=detection.uuid)
        self.detection = detection
        self.error_message = detection.error_message


class WaitTimeoutError(ResembleError, TimeoutError):
    """The overall wait deadline passed before the result was final.

    The work is not lost: ``uuid`` identifies it, ``last`` is the last state seen (a
    :class:`~resemble_detect_async.Detection` or :class:`~resemble_detect_async.Batch`, or None
    if no poll succeeded) and ``last_error`` the last transient error, if polling kept failing.
    Resume with ``wait_for_result(err.uuid)``.
    """

    def __init__(
        self,
        uuid: str,
        *,
        timeout: float | None,
        last: Detection | Batch | None = None,
        last_error: BaseException | None = None,
    ) -> None:
        status = getattr(getattr(last, "status", None), "value", None)
        seen = f"last status {status!r}" if last is not None else "no successful poll"
        super().__init__(f"gave up waiting for {uuid} after {timeout} s ({seen})", uuid=uuid)
        self.timeout = timeout
        self.last = last
        self.last_error = last_error

    @property
    def last_detection(self) -> Detection | None:
        """The last detection seen, when waiting for a detection."""
        from .models import Detection

        return self.last if isinstance(self.last, Detection) else None


class InDoubtError(ResembleError):
    """A create for one input of a bulk job may or may not have made a detection.

    Its POST was sent but no answer says what happened (the connection dropped, a 5xx, or
    the process died), and the list of detections could not settle it: several detections
    match the input, only a loose match exists (zero retention hides the URL and the
    filename), or the listing could not be read back far enough. Nothing was sent again,
    since that could bill twice. Look at ``candidates`` (uuids that may be this input's),
    then rerun with ``resubmit_in_doubt=True`` to send it again anyway.

    Attributes:
        index: the input's position in the job's input list.
        reason: why the listing could not decide.
        candidates: uuids of detections that may be this input's (possibly empty).
        sent_at: Unix time at which the POST in doubt was started, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int,
        reason: str,
        candidates: list[str] | None = None,
        sent_at: float | None = None,
    ) -> None:
        super().__init__(message)
        self.index = index
        self.reason = reason
        self.candidates = list(candidates or [])
        self.sent_at = sent_at


class JournalError(ResembleError):
    """A bulk job's journal cannot be used: another run holds it, or it is not a journal.

    ``path`` is the journal file. Raised before anything is sent.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class JournalMismatchError(JournalError, ValueError):
    """The input list differs from the one the journal recorded, at an input already sent.

    Resuming would pair an old detection with a new input, so nothing was sent. ``indices``
    lists the positions that differ (the first few), ``index`` the first of them. Restore
    the original list (appending new inputs at the end is fine) or use a new journal.
    """

    def __init__(
        self, message: str, *, path: str | None = None, indices: list[int] | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.indices = list(indices or [])
        self.index = self.indices[0] if self.indices else None
