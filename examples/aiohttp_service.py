"""An aiohttp.web service that checks media for deepfakes: submit, await the verdict, answer.

Run it (without RESEMBLE_API_KEY it serves from the embedded fake Detect API)::

    python examples/aiohttp_service.py --port 8080
    curl -s localhost:8080/check -H 'Content-Type: application/json' \\
        -d '{"url": "https://example.com/voicemail.wav"}'
    curl -s localhost:8080/check -F file=@clip.wav
    curl -s localhost:8080/check/<uuid>

One DetectClient serves every request. It is opened when the app starts and closed when it
stops (``cleanup_ctx``), so its connection pool, its concurrency limit (32 requests in
flight) and its rate limit (40 requests/s, the API's per-key limit) are shared by all
requests, as they must be: a client per request would multiply both limits.

Waiting never blocks the event loop, so one process can await hundreds of verdicts at once.
An HTTP caller cannot wait forever, though: after ``wait_seconds`` the service answers
``202`` with the uuid, and ``GET /check/{uuid}`` picks it up later. The analysis goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from resemble_detect_async import (
    APIStatusError,
    DetectClient,
    Detection,
    DetectionFailedError,
    InvalidRequestError,
    NotFoundError,
    ResembleError,
    WaitTimeoutError,
)
from resemble_detect_async.testing import FakeDetectAPI, fake_client

log = logging.getLogger("deepfake-service")

ClientFactory = Callable[[], AbstractAsyncContextManager[DetectClient]]

CLIENT = web.AppKey("detect_client", DetectClient)
WAIT_SECONDS = web.AppKey("wait_seconds", float)
MAX_UPLOAD = 150 * 1024 * 1024  # the API's direct-upload limit; larger files need a URL


@contextlib.asynccontextmanager
async def detect_client() -> AsyncIterator[DetectClient]:
    """The real API when RESEMBLE_API_KEY is set, else the embedded fake Detect API."""
    if os.environ.get("RESEMBLE_API_KEY"):
        async with DetectClient() as client:
            yield client
        return
    async with FakeDetectAPI() as fake, fake_client(fake) as client:
        log.warning("RESEMBLE_API_KEY is not set: using the fake Detect API at %s", fake.base_url)
        yield client


def verdict(detection: Detection) -> dict[str, Any]:
    """What the service answers for a finished detection."""
    return {
        "uuid": detection.uuid,
        "status": detection.status.value if detection.status else None,
        "verdict": detection.verdict.value,
        "score": detection.score,
        "label": detection.label,
        "media_type": detection.media_type.value if detection.media_type else None,
    }


async def check(request: web.Request) -> web.Response:
    """POST /check: JSON ``{"url": ...}`` or a multipart ``file``; answers with the verdict."""
    client = request.app[CLIENT]
    url: str | None = None
    file: tuple[str, bytes] | None = None
    if request.content_type == "multipart/form-data":
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"error": "send the media as a 'file' field"}, status=400)
        file = (upload.filename, upload.file.read())  # the API reads the type from the name
    else:
        try:
            body = await request.json()
        except ValueError:
            body = None
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str):
            return web.json_response({"error": 'send JSON {"url": ...} or a file'}, status=400)
    try:
        detection = await client.create_and_wait(url, file=file, timeout=request.app[WAIT_SECONDS])
    except WaitTimeoutError as err:  # still running: hand out the uuid to come back with
        return web.json_response(
            {"uuid": err.uuid, "status": "processing", "poll": f"/check/{err.uuid}"}, status=202
        )
    except DetectionFailedError as err:
        return web.json_response(
            {"uuid": err.uuid, "status": "failed", "error": err.error_message}, status=422
        )
    except InvalidRequestError as err:  # refused before anything was sent
        return web.json_response({"error": str(err)}, status=400)
    except APIStatusError as err:  # the API said no (400 bad media, 402 balance, 429...)
        return web.json_response(
            {"error": err.message, "api_status": err.status, "uuid": err.uuid}, status=502
        )
    except ResembleError as err:  # no answer from the API
        return web.json_response({"error": str(err), "uuid": err.uuid}, status=503)
    return web.json_response(verdict(detection))


async def status(request: web.Request) -> web.Response:
    """GET /check/{uuid}: the detection as it is now."""
    try:
        detection = await request.app[CLIENT].get_detection(request.match_info["uuid"])
    except (NotFoundError, InvalidRequestError):
        return web.json_response({"error": "no such detection"}, status=404)
    except ResembleError as err:
        return web.json_response({"error": str(err)}, status=503)
    if not detection.is_terminal:
        return web.json_response({"uuid": detection.uuid, "status": "processing"}, status=202)
    if detection.is_failed:
        body = {"uuid": detection.uuid, "status": "failed", "error": detection.error_message}
        return web.json_response(body, status=422)
    return web.json_response(verdict(detection))


def make_app(
    *, wait_seconds: float = 25.0, make_client: ClientFactory = detect_client
) -> web.Application:
    """The service. ``make_client`` opens the one client of the app's lifetime."""

    async def client_context(app: web.Application) -> AsyncIterator[None]:
        async with make_client() as client:  # opened at startup, closed at cleanup
            app[CLIENT] = client
            yield

    app = web.Application(client_max_size=MAX_UPLOAD)
    app[WAIT_SECONDS] = wait_seconds
    app.cleanup_ctx.append(client_context)
    app.router.add_post("/check", check)
    app.router.add_get("/check/{uuid}", status)
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the app until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
