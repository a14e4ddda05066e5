"""Shared fixtures: the fake Detect API, clients bound to it, an aioresponses shim, and a real
Redis server for the tests of the Redis limiter and queue."""

from __future__ import annotations

import inspect
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aioresponses.core
import pytest

from resemble_detect_async import DetectClient
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, fake_client

# Our own suite uses the public fixtures too, so they are tested the way users get them.
pytest_plugins = ["resemble_detect_async.testing.pytest_plugin"]

_NEEDS_STREAM_WRITER = (
    "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters
)


class _NoWriter:
    output_size = 0


class _CompatClientResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.x builds responses without aiohttp 3.14's new `stream_writer`
    argument (pnuckowski/aioresponses#289); supply it so the transport-edge tests run
    on the aiohttp our users install."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", _NoWriter())
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def _aioresponses_compat(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatClientResponse)
    yield


@pytest.fixture
async def fake() -> AsyncIterator[FakeDetectAPI]:
    """A fake Detect API where detections complete on the second poll."""
    async with FakeDetectAPI(polls_to_complete=1) as api:
        yield api


@pytest.fixture
async def client(fake: FakeDetectAPI) -> AsyncIterator[DetectClient]:
    """A client bound to `fake` with zero-wait policies and no rate limit."""
    async with fake_client(fake) as c:
        yield c


@pytest.fixture
def clock() -> FakeClock:
    """Virtual time."""
    return FakeClock()


# --- a real Redis server (tests/test_redis*.py) ----------------------------------------------


class RedisServer:
    """A ``redis-server`` of the distribution on a free port of 127.0.0.1, without persistence.

    ``stop()`` and ``start()`` again reuse the port (Redis coming back after an outage, with
    its data gone); ``freeze()`` / ``thaw()`` make it accept connections but answer nothing.
    """

    def __init__(self, executable: str, directory: Path) -> None:
        self.executable = executable
        self.directory = directory
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and return once it answers PING: on a free port the first time, on the
        same port after :meth:`stop`."""
        first = self.port == 0
        for _ in range(5):
            if first:
                self.port = _free_port()
            if self._launch():
                return
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _launch(self) -> bool:
        command = [
            self.executable,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            *("--daemonize", "no", "--loglevel", "notice"),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        deadline = time.monotonic() + 15
        seen = b""
        # Wait for its "Ready to accept connections" line (no polling sleeps).
        while b"Ready to accept connections" not in seen:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([process.stdout], [], [], max(0.0, left))
            chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
            if not chunk:  # exited (port taken) or too slow
                process.kill()
                process.wait()
                return False
            seen += chunk
        self.process = process
        assert _ping(self.port), "redis-server said it was ready but does not answer PING"
        return True

    def stop(self) -> None:
        """Stop it (its data is gone: it never saves)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a frozen server cannot stop
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"PING\r\n")
        return connection.recv(64).startswith(b"+PONG")


def redis_server_executable() -> str:
    """The path of ``redis-server``; skip the test without one, but fail it in CI (CI=true),
    where .ci/run installs it: the Redis tests must not silently stop running there."""
    found = shutil.which("redis-server")
    missing = None if found is not None else "redis-server is not installed"
    if missing is None:
        try:
            import redis  # noqa: F401  (the `redis` extra, part of `test`)
        except ImportError:
            missing = "redis-py is not installed (the `redis` extra)"
    if missing is not None:
        if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
            pytest.fail(f"{missing}; in CI the Redis tests must run (see .ci/run)", pytrace=False)
        pytest.skip(f"{missing} (apt-get install redis-server; pip install -e '.[redis]')")
    assert found is not None
    return found


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A fresh redis-server for one test, stopped afterwards."""
    server = RedisServer(redis_server_executable(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
