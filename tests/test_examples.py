"""The examples in examples/ work, on the fake Detect API they fall back to without a key."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from resemble_detect_async import DetectClient, Detection, PollPolicy, RetryPolicy
from resemble_detect_async.testing import (
    FakeClock,
    FakeDetectAPI,
    Fault,
    fake_client,
    outcome_for_name,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    """Import examples/<name>.py (the folder is not a package: examples are run as scripts)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No RESEMBLE_API_KEY: every example must fall back to the embedded fake API."""
    monkeypatch.delenv("RESEMBLE_API_KEY", raising=False)
    monkeypatch.delenv("RESEMBLE_BASE_URL", raising=False)
    yield


@pytest.fixture(scope="module")
def service() -> ModuleType:
    return load("aiohttp_service")


@pytest.fixture(scope="module")
def bulk() -> ModuleType:
    return load("bulk_urls")


@pytest.fixture(scope="module")
def bot() -> ModuleType:
    return load("chat_bot")


# --- aiohttp_service -------------------------------------------------------------------------


async def test_service_answers_with_the_verdict(service: ModuleType, no_key: None) -> None:
    """POST /check with a URL or a file submits, waits and answers with the verdict."""
    async with TestClient(TestServer(service.make_app())) as http:
        url = "https://example.com/voicemail.wav"
        response = await http.post("/check", json={"url": url})
        assert response.status == 200
        body = await response.json()
        _, label, score = outcome_for_name(url)
        assert body["verdict"] == label and body["score"] == pytest.approx(score, abs=0.01)

        form = FormData()
        form.add_field("file", b"RIFF" + bytes(32), filename="clip.wav")
        uploaded = await http.post("/check", data=form)
        assert uploaded.status == 200
        assert (await uploaded.json())["media_type"] == "audio"

        again = await http.get(f"/check/{body['uuid']}")
        assert again.status == 200 and (await again.json())["verdict"] == label


async def test_service_maps_failures_to_http(service: ModuleType, no_key: None) -> None:
    """A failed analysis is 422, a bad request 400, an unknown uuid 404."""
    async with TestClient(TestServer(service.make_app())) as http:
        failed = await http.post("/check", json={"url": "https://example.com/fail.wav"})
        assert failed.status == 422 and (await failed.json())["status"] == "failed"
        assert (await http.post("/check", data=b"not json")).status == 400
        assert (await http.post("/check", json={"url": "ftp://x/a.wav"})).status == 400
        missing = await http.get("/check/0b5e5d3c-9f0e-4a51-9a43-0d2b6f1c7e11")
        assert missing.status == 404


async def test_service_hands_out_the_uuid_when_the_wait_is_too_long(
    service: ModuleType,
) -> None:
    """After wait_seconds the caller gets 202 and a uuid to poll; the analysis goes on."""
    clock = FakeClock()
    async with FakeDetectAPI(polls_to_complete=10**9) as fake:

        @contextlib.asynccontextmanager
        async def slow_client() -> AsyncIterator[DetectClient]:
            async with fake_client(fake, clock=clock, poll=PollPolicy()) as client:
                yield client

        app = service.make_app(wait_seconds=30, make_client=slow_client)
        async with TestClient(TestServer(app)) as http:
            response = await http.post("/check", json={"url": "https://example.com/long.mp4"})
            assert response.status == 202
            body = await response.json()
            assert body["uuid"] in fake.detections and body["poll"] == f"/check/{body['uuid']}"
            assert clock.now == pytest.approx(30, abs=11)
            pending = await http.get(body["poll"])
            assert pending.status == 202


async def test_service_closes_its_client_with_the_app(service: ModuleType, no_key: None) -> None:
    """The client lives as long as the app: open while serving, closed at cleanup."""
    app = service.make_app()
    async with TestClient(TestServer(app)):
        client = app[service.CLIENT]
        assert not client.closed
    assert client.closed


# --- bulk_urls -----------------------------------------------------------------------------


async def test_bulk_job_over_a_file_of_urls(
    bulk: ModuleType, no_key: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every URL of the file is submitted, waited for and written as one JSON line."""
    urls = [f"https://example.com/clip-{i}.wav" for i in range(12)]
    source = tmp_path / "urls.txt"
    source.write_text("# clips\n" + "\n".join(urls) + "\n\n")
    out = tmp_path / "results.jsonl"
    assert await bulk.main([str(source), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["url"] for line in lines] == urls
    assert all(line["ok"] and line["detection"]["status"] == "completed" for line in lines)
    assert "12 analysed" in capsys.readouterr().out


async def test_bulk_job_reports_failures_without_stopping(
    bulk: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused submission and a failed analysis are reported; the rest complete."""
    async with FakeDetectAPI() as fake, fake_client(fake) as client:
        fake.inject(Fault.error(400, message="bad media", times=1, method="POST"))
        urls = [f"https://example.com/{name}" for name in ("a.wav", "b.wav", "c-fail.wav")]
        assert await bulk.run_job(client, urls, None) == 1
    text = capsys.readouterr().out
    assert "not submitted" in text and "bad media" in text
    assert "2 analysed" in text and "1 failed" in text


class CountingClient(DetectClient):
    """A client that counts the submissions pending at once (and lets the others start)."""

    pending = 0
    peak = 0

    async def create_detection(self, *args: Any, **kwargs: Any) -> Detection:
        self.pending += 1
        self.peak = max(self.peak, self.pending)
        try:
            for _ in range(10):  # give every other worker the chance to start one too
                await asyncio.sleep(0)
            return await super().create_detection(*args, **kwargs)
        finally:
            self.pending -= 1


async def test_bulk_submissions_use_a_bounded_pool(bulk: ModuleType) -> None:
    """submit_all keeps at most `workers` submissions pending and keeps the input order."""
    async with FakeDetectAPI() as fake:
        client = CountingClient(api_key=fake.api_key, base_url=fake.base_url, rate_limit=None)
        async with client:
            urls = [f"https://example.com/{i}.wav" for i in range(20)]
            submissions = await bulk.submit_all(client, urls, workers=3)
    assert [s.url for s in submissions] == urls
    assert all(s.uuid is not None for s in submissions)
    assert client.peak == 3


# --- chat_bot --------------------------------------------------------------------------------


async def test_bot_acknowledges_then_replies_with_the_verdict(bot: ModuleType) -> None:
    """Each link gets "Checking..." at once, then the verdict (or why there is none)."""
    replies: list[Any] = []

    async def send(reply: Any) -> None:
        replies.append(reply)

    inbox: asyncio.Queue[Any] = asyncio.Queue()
    for message in [
        bot.Message("a", "see https://example.com/one.wav and https://example.com/x-fail.wav"),
        bot.Message("b", "nothing to check"),
        None,
    ]:
        inbox.put_nowait(message)
    async with FakeDetectAPI() as fake, fake_client(fake) as client:
        await bot.DeepfakeBot(client, send).run(inbox)
    texts = [reply.text for reply in replies]
    assert all(reply.chat == "a" for reply in replies) and len(texts) == 4
    acknowledged = texts.index("Checking https://example.com/one.wav ...")
    answered = next(
        i for i, text in enumerate(texts) if "one.wav" in text and not text.startswith("Checking")
    )
    assert acknowledged < answered
    _, label, _ = outcome_for_name("https://example.com/one.wav")
    assert ("looks like a deepfake" in texts[answered]) == (label == "fake")
    assert any("couldn't analyse https://example.com/x-fail.wav" in t for t in texts)


async def test_bot_says_when_a_verdict_takes_too_long(bot: ModuleType) -> None:
    """Past its timeout the bot tells the chat the analysis is still running, with the id."""
    replies: list[Any] = []

    async def send(reply: Any) -> None:
        replies.append(reply)

    clock = FakeClock()
    async with (
        FakeDetectAPI(polls_to_complete=10**9) as fake,
        fake_client(fake, clock=clock, poll=PollPolicy(), retry=RetryPolicy.no_wait()) as client,
    ):
        await bot.DeepfakeBot(client, send, timeout=120).check("a", "https://example.com/l.mp4")
        (uuid,) = fake.detections
    assert replies[-1].text == (
        f"https://example.com/l.mp4 is still being analysed (id {uuid}); I'll need more time."
    )


# --- as scripts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected", "code"),
    [
        ("bulk_urls.py", "40 analysed", 1),  # its sample URLs include one that fails
        ("chat_bot.py", "looks like a deepfake", 0),
    ],
)
def test_scripts_run_on_the_fake_api_without_a_key(script: str, expected: str, code: int) -> None:
    """`python examples/<script>` with no key runs to the end on the embedded fake API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEMBLE_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert "fake Detect API" in done.stdout, done.stderr
    assert expected in done.stdout
    assert done.returncode == code
