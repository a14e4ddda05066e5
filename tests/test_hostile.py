"""Hostile or broken servers: memory, time and the key stay bounded whatever they send."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from resemble_detect_async import (
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    DetectClient,
    InvalidRequestError,
    ResponseTooLargeError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)
from resemble_detect_async.testing import FakeClock

KEY = "sk-hostile-0123456789"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Hostile:
    """A one-route aiohttp.web server answering GET /api/v2/detect/{uuid} with ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests = 0
        self.sent = 0  # body bytes the handler managed to write

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        return await self.handler(request)

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/v2/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/api/v2"

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


def client(base: str, **kwargs: Any) -> DetectClient:
    options: dict[str, Any] = {"base_url": base, "rate_limit": None, "retry": RetryPolicy.no_wait()}
    options.update(kwargs)
    return DetectClient(KEY, **options)


async def stream_forever(server: Hostile, request: web.Request, chunk: bytes) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    try:
        while True:
            await response.write(chunk)
            server.sent += len(chunk)
            if server.sent > 512 * 1024 * 1024:  # the bound of this test itself
                break
    except (ConnectionError, RuntimeError):
        pass
    return response


@pytest.fixture
async def endless() -> AsyncIterator[tuple[Hostile, str]]:
    server = Hostile(lambda request: stream_forever(server, request, b"[" * 65536))
    async with server as base:
        yield server, base


async def test_an_endless_body_is_cut_at_the_cap(endless: tuple[Hostile, str]) -> None:
    """An endless chunked 200 stops at max_response_bytes with a typed error, not retried."""
    server, base = endless
    async with client(base, max_response_bytes=1024 * 1024) as c:
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes") as caught:
            await c.get_detection("u1")
    assert caught.value.uuid == "u1"
    assert server.requests == 1  # too large is not "truncated": no second download
    assert server.sent < 64 * 1024 * 1024


async def test_a_gzip_bomb_is_measured_after_decompression() -> None:
    """40 KB of gzip that inflates to 40 MB is refused at the 4 MB cap, and downloaded once."""
    bomb = gzip.compress(b"0" * (40 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100 * 1024

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    server = Hostile(handler)
    async with server as base, client(base, max_response_bytes=4 * 1024 * 1024) as c:
        with pytest.raises(ResponseTooLargeError):
            await c.get_detection("u1")
    assert server.requests == 1


async def test_a_huge_error_page_is_read_only_as_far_as_a_message_needs() -> None:
    """A 22 MB HTML 503 costs a short read and a short message; the retries still happen."""
    page = b"<html><body>" + b"<p>down</p>" * (2 * 1024 * 1024) + b"</body></html>"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, body=page, content_type="text/html")

    server = Hostile(handler)
    async with server as base, client(base, retry=RetryPolicy.no_wait(attempts=2)) as c:
        with pytest.raises(ServerError) as caught:
            await c.get_detection("u1")
    assert server.requests == 2
    assert len(caught.value.message) <= 210 and "down" in caught.value.message
    assert isinstance(caught.value.body, str) and len(caught.value.body) <= 64 * 1024


async def test_a_trickling_server_cannot_hold_a_call_past_its_bound() -> None:
    """One byte per (virtual) second never trips the read timeout, but the call bound holds."""
    clock = FakeClock()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            for _ in range(10_000):
                await response.write(b" ")
                clock.advance(1.0)  # a second passes between bytes
                await asyncio.sleep(0)
        except (ConnectionError, RuntimeError):
            pass
        return response

    server = Hostile(handler)
    policy = RetryPolicy(attempts=1, timeout=30.0)
    async with server as base, client(base, retry=policy, clock=clock) as c:
        with pytest.raises(APITimeoutError, match="within 30 s") as caught:
            await c.get_detection("u1")
    assert caught.value.uuid == "u1"
    assert 30.0 <= clock.now < 60.0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"success": true, "item": {"uuid": "u1", "page": ' + b"9" * 5000 + b"}}", "integer"),
    ],
)
async def test_valid_but_unreadable_json_is_not_retried_as_truncated(
    body: bytes, reason: str
) -> None:
    """Deep nesting or a 5,000-digit integer is a typed error at once, not five downloads."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    server = Hostile(handler)
    async with server as base, client(base) as c:
        with pytest.raises(ResponseValidationError, match=reason) as caught:
            await c.get_detection("u1")
    assert not caught.value.truncated and server.requests == 1


async def test_server_text_is_escaped_in_messages() -> None:
    """Newlines and ANSI escapes from the server cannot forge log lines or paint terminals."""

    async def handler(request: web.Request) -> web.Response:
        text = "bad\\n2026-01-01 INFO forged line\\u001b[31mred"
        return web.Response(status=400, body=f'{{"success": false, "message": "{text}"}}'.encode())

    async with Hostile(handler) as base, client(base) as c:
        with pytest.raises(APIStatusError) as caught:
            await c.get_detection("u1")
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)
    assert "forged line" in str(caught.value)


async def test_a_redirect_says_where_it_pointed() -> None:
    """A 3xx is not followed (it would carry the key) and its error names the Location."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "https://elsewhere.example/x"})

    async with Hostile(handler) as base, client(base) as c:
        with pytest.raises(APIStatusError, match=r"elsewhere\.example") as caught:
            await c.get_detection("u1")
    assert caught.value.status == 302


# --- the key stays on the machine ---------------------------------------------------------------


@pytest.mark.parametrize(
    "base",
    ["http://evil.localhost/api/v2", "http://localhost.evil.example/api/v2", "http://10.0.0.1/"],
)
def test_plain_http_is_only_for_literal_loopback(base: str) -> None:
    """Names that merely look local (``*.localhost``) get no plain-http trust."""
    with pytest.raises(ConfigurationError, match="plain http"):
        DetectClient(KEY, base_url=base)


async def test_no_key_through_an_environment_proxy_over_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A borrowed trust_env session with HTTP_PROXY set would send the key to the proxy."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with aiohttp.ClientSession(trust_env=True) as session:
        c = DetectClient(KEY, base_url="http://127.0.0.1:9/api/v2", session=session)
        with pytest.raises(ConfigurationError, match="proxy"):
            await c.get_detection("u1")
        await c.close()


@pytest.mark.parametrize("base", ["https://a..b/api/v2", f"https://{'x' * 64}.example/api/v2"])
def test_bad_host_names_fail_at_construction(base: str) -> None:
    """A host that cannot be encoded is refused when the client is built, not on first use."""
    with pytest.raises(ConfigurationError, match="host name"):
        DetectClient(KEY, base_url=base)


async def test_batch_is_not_a_detection_uuid() -> None:
    """get_detection('batch') would hit GET /detect/batch (another route): refused."""
    async with DetectClient(KEY, base_url="https://api.test/api/v2") as c:
        with pytest.raises(InvalidRequestError, match="get_batch"):
            await c.get_detection("batch")
        with pytest.raises(InvalidRequestError, match="get_batch"):
            await c.delete_detection("BATCH")


async def test_a_huge_invalid_uuid_gives_a_short_message() -> None:
    """A 10 MB invalid uuid is quoted in a few dozen characters, not echoed whole."""
    async with DetectClient(KEY, base_url="https://api.test/api/v2") as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.get_detection("/" * 10_000_000)
    assert len(str(caught.value)) < 300


async def test_a_file_swapped_for_a_fifo_is_refused_without_blocking(tmp_path: Any) -> None:
    """A path checked as a file, then replaced by a FIFO, is refused; the loop never blocks."""
    import os

    from resemble_detect_async.testing import FakeDetectAPI, fake_client

    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF" * 10)
    from resemble_detect_async._files import media_file

    media = media_file(path)
    path.unlink()
    os.mkfifo(path)  # no writer will ever come: a blocking open() would hang forever
    async with FakeDetectAPI() as fake, fake_client(fake) as c:
        from resemble_detect_async import _sansio

        request = _sansio.create_detection(
            url=None, media=media, media_token=None, options={}, wait=False
        )
        with pytest.raises(InvalidRequestError, match="no longer a regular file"):
            await asyncio.wait_for(c._send(request), 5)
        assert fake.requests == []


async def test_a_file_that_changed_size_is_refused(tmp_path: Any) -> None:
    """A file that grew after it was measured is refused (its Content-Length would lie)."""
    from resemble_detect_async._files import media_file

    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF" * 10)
    media = media_file(path)
    path.write_bytes(b"RIFF" * 20)
    with pytest.raises(InvalidRequestError, match="changed size"), media.open():
        pass


async def test_a_seekable_file_object_is_sent_with_its_length() -> None:
    """A caller's seekable file object uploads with a Content-Length, not chunked."""
    import io as io_module

    from resemble_detect_async.testing import FakeDetectAPI, fake_client

    handle = io_module.BytesIO(b"RIFF" + b"\0" * 4000)
    async with FakeDetectAPI() as fake, fake_client(fake) as c:
        await c.create_detection(file=handle, filename="clip.wav")
        headers = fake.requests[-1].headers
    assert "Content-Length" in headers and "Transfer-Encoding" not in headers
    assert fake.requests[-1].files == (("file", "clip.wav", 4004),)


PIPE_SCRIPT = """
import asyncio, os
from resemble_detect_async.testing import FakeDetectAPI, fake_client

async def main():
    read_end, write_end = os.pipe()
    os.write(write_end, b"RIFF" * 100)  # the writer stays open and silent
    async with FakeDetectAPI() as fake, fake_client(fake) as client:
        upload = asyncio.create_task(
            client.create_detection(file=os.fdopen(read_end, "rb"), filename="live.wav")
        )
        await asyncio.sleep(0.3)
        upload.cancel()
        try:
            await upload
        except asyncio.CancelledError:
            print("cancelled")

asyncio.run(main())
print("exited")
"""


def test_cancelling_an_upload_from_a_silent_pipe_lets_the_process_exit() -> None:
    """A pipe upload is read by the loop, so cancelling it leaves no thread stuck in read()."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", PIPE_SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cancelled", "exited"]
