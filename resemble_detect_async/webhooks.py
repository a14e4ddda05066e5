"""Callbacks (webhooks): the API POSTs a result when a detection or a batch finishes.

With ``callback_url`` set on a create, Resemble POSTs the finished detection (or batch)
to that URL (API notes §12). Two pieces here:

* :func:`parse_callback` reads a callback body into a :class:`~.models.Detection` or
  :class:`~.models.Batch`: pure and synchronous, as tolerant as the models.
* :class:`CallbackReceiver` receives them for a :class:`~resemble_detect_async.DetectClient`:
  mount it in your aiohttp.web app (:meth:`CallbackReceiver.add_routes`), in any ASGI app
  (:meth:`CallbackReceiver.asgi`), or run it on its own (``async with receiver.serve(host,
  port) as url``). Each callback wakes the client's waits for that uuid at once, so a
  service stops polling when the callback arrives; polling stays as the fallback for a
  callback that never comes.

The payload is **not signed** (no signature or shared secret is documented), so the receiver
guards itself: the callback URL carries a secret token (compared in constant time; anything
else gets 401), bodies are size-capped, only uuids this client is waiting for or created
are accepted, a repeated callback is refused, and by default a callback only *wakes* the
waiter, which then confirms the result with one GET (``trust_callbacks=True`` takes the
payload as the result instead).
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web

from . import _converter, errors
from ._sansio import clean_text
from .models import Batch, Detection

if TYPE_CHECKING:
    from ._client import DetectClient

__all__ = ["CallbackReceiver", "parse_callback"]

log = logging.getLogger("resemble_detect_async")

DEFAULT_PATH = "/resemble/callback"
MAX_CALLBACK_BYTES = 4 * 1024 * 1024  # a finished detection with intelligence, generously
_REMEMBERED = 100_000  # uuids created here / already called back, kept for checks
_BATCH_KEYS = frozenset({"detect_uuids", "total_files", "completed_count", "failed_count"})


def parse_callback(body: bytes | str | Mapping[str, Any]) -> Detection | Batch:
    """Read a callback body (bytes, text or parsed JSON) as the detection or batch it reports.

    The body has the shape of a synchronous create response, ``{"success": true, "item":
    {...}}`` (a bare item is accepted too); an item with batch fields (``detect_uuids``,
    ``total_files``...) is a :class:`Batch`. Unknown fields are kept, odd values are
    tolerated exactly as for ``get_detection``.

    Raises:
        ResponseValidationError: not JSON, not an object, no item, or no readable uuid.
    """
    if isinstance(body, bytes | bytearray | memoryview):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        text = body
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            raise errors.ResponseValidationError(
                "the callback body is not JSON", path="$", body=clean_text(text, 200)
            ) from None
    if not isinstance(body, Mapping):
        raise errors.ResponseValidationError(
            f"the callback body must be a JSON object, got {type(body).__name__}",
            path="$",
            body=body,
        )
    item = body.get("item", body)
    if isinstance(item, Mapping) and _BATCH_KEYS & item.keys():
        return _converter.structure_batch(body)
    return _converter.structure_detection(body)


class CallbackReceiver:
    """Receives Resemble's callbacks for one client and wakes its waiters.

    Args:
        client: the client whose waits (``wait_for_result``, ``wait_for_many``,
            ``detect_many``, ``wait_for_batch``) a callback resolves. Creating through it
            then adds ``callback_url`` for you, once the receiver knows its public URL
            (:meth:`callback_url` or :meth:`serve`); and its default polling slows down
            (10 s growing to 60 s), polling being only the fallback now.
        secret: the token in the callback URL; generated when not given.
        trust_callbacks: take a callback's payload as the result (no confirming GET). Off
            by default: the payload is unsigned, so anyone who learns the URL could forge
            one; the GET makes that harmless.
        path: where the receiver listens (for :meth:`add_routes` and :meth:`serve`).
        max_body: larger callbacks are refused with 413.
    """

    def __init__(
        self,
        client: DetectClient,
        *,
        secret: str | None = None,
        trust_callbacks: bool = False,
        path: str = DEFAULT_PATH,
        max_body: int = MAX_CALLBACK_BYTES,
    ) -> None:
        if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
            raise errors.ConfigurationError(
                "secret must be a string of at least 16 characters (or None to generate one)"
            )
        if not isinstance(path, str) or not path.startswith("/"):
            raise errors.ConfigurationError(f"path must start with '/', got {path!r}")
        self._client = client
        self._secret = secret or secrets.token_urlsafe(32)
        self.trust_callbacks = bool(trust_callbacks)
        self.path = path
        self.max_body = max_body
        self.public_url: str | None = None
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.received = 0
        self.accepted = 0
        self.refused = 0
        client._attach_receiver(self)

    def __repr__(self) -> str:  # the secret never shows
        return f"<CallbackReceiver path={self.path!r} public_url={self._redacted_url()!r}>"

    def _redacted_url(self) -> str | None:
        return None if self.public_url is None else self.public_url.split("?", 1)[0]

    # -- the URL to give the API --------------------------------------------------------------

    def callback_url(self, public_base_url: str) -> str:
        """The ``callback_url`` for creates: ``public_base_url`` + path + the secret token.

        It is also remembered, so creates through the client add it by themselves.
        """
        parts = urlsplit(public_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.ConfigurationError(
                f"public_base_url must be an absolute http(s) URL, got {public_base_url!r}"
            )
        url = f"{public_base_url.rstrip('/')}{self.path}?{urlencode({'token': self._secret})}"
        self.public_url = url
        return url

    # -- serving ------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Mount the receiver in your aiohttp.web application at :attr:`path`."""
        app.router.add_post(self.path, self.handle)

    @contextlib.asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, public_base_url: str | None = None
    ) -> AsyncIterator[str]:
        """Run the receiver on its own small aiohttp server; yields the callback URL.

        ``public_base_url`` is how the API reaches this server (behind a tunnel or a proxy);
        by default the address it listens on.
        """
        app = web.Application(client_max_size=self.max_body + 1024)
        self.add_routes(app)
        # No lingering to read the rest of a refused (413) body: close at once.
        runner = web.AppRunner(app, access_log=None, lingering_time=0.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound = runner.addresses[0]
            shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
            yield self.callback_url(public_base_url or f"http://{shown}:{bound[1]}")
        finally:
            await runner.cleanup()

    def asgi(self) -> Callable[..., Awaitable[None]]:
        """An ASGI app (Starlette/FastAPI ``app.mount(path, receiver.asgi())``), no
        dependency needed; it answers POSTs on any path below the mount point."""

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope.get("type") != "http":
                return
            if scope.get("method") != "POST":
                await _asgi_answer(send, 405, {"success": False, "message": "POST only"})
                return
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            body = bytearray()
            while True:
                message = await receive()
                body.extend(message.get("body", b""))
                if len(body) > self.max_body:
                    status, answer = self._refuse(413, "callback body too large", None)
                    await _asgi_answer(send, status, answer)
                    return
                if not message.get("more_body"):
                    break
            status, answer = self._receive(query.get("token", [None])[0], bytes(body))
            await _asgi_answer(send, status, answer)

        return app

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp.web handler (answers fast; never raises into your app)."""
        try:
            if request.content_length is not None and request.content_length > self.max_body:
                status, answer = self._refuse(413, "callback body too large", None)
            else:
                body = await request.content.read(self.max_body + 1)
                if len(body) > self.max_body:
                    status, answer = self._refuse(413, "callback body too large", None)
                else:
                    status, answer = self._receive(request.query.get("token"), body)
        except Exception:  # a receiver must never crash the app it is mounted in
            log.exception("callback receiver failed on a request; answered 500")
            status, answer = 500, {"success": False, "message": "receiver error"}
        response = web.json_response(answer, status=status)
        if status == 413:
            response.force_close()  # the rest of the body is not read: do not keep the socket
        return response

    # -- the rules --------------------------------------------------------------------------

    def _receive(self, token: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """Check and deliver one callback; the (status, JSON answer) to send back."""
        self.received += 1
        if token is None or not hmac.compare_digest(token.encode(), self._secret.encode()):
            return self._refuse(401, "missing or wrong callback token", None)
        try:
            state = parse_callback(body)
        except errors.ResponseValidationError as exc:
            return self._refuse(400, f"unreadable callback: {exc.message}", None)
        uuid = state.uuid
        if uuid in self._seen:
            return self._refuse(409, "this callback was already received", uuid)
        conn = self._client._conn
        if not conn.expects(uuid):
            return self._refuse(404, "no detection or batch of this client has that uuid", uuid)
        self._seen[uuid] = None
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        conn.deliver(uuid, state if self.trust_callbacks else None)
        self.accepted += 1
        log.debug(
            "callback for %s accepted (%s)",
            uuid,
            "trusted" if self.trust_callbacks else "will be confirmed with a GET",
        )
        return 200, {"success": True}

    def _refuse(self, status: int, why: str, uuid: str | None) -> tuple[int, dict[str, Any]]:
        self.refused += 1
        log.warning("callback refused (%d): %s%s", status, why, f" [{uuid}]" if uuid else "")
        return status, {"success": False, "message": why}


async def _asgi_answer(send: Any, status: int, answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
