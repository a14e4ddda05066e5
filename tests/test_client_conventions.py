"""The conventions users bring from openai/anthropic/httpx: per-call options, escape hatches,
raw responses, logs and spans, and a lifecycle that never loses billed work."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from resemble_detect_async import (
    AuthenticationError,
    ClientClosedError,
    DetectClient,
    EventLoopError,
    InvalidRequestError,
    NotFoundError,
    PollPolicy,
    RateLimitError,
    RawResponse,
    RetryPolicy,
    WaitTimeoutError,
)
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, Fault, fake_client

URL = "https://example.com/voicemail.wav"


# --- per-call control -----------------------------------------------------------------------


async def test_with_options_is_a_cheap_copy_sharing_the_connection(fake: FakeDetectAPI) -> None:
    """A with_options copy shares session, gate and lifecycle; its settings are its own."""
    async with fake_client(fake) as client:
        quick = client.with_options(timeout=5, max_retries=0, extra_headers={"X-Team": "red"})
        uuid = fake.add_detection(polls_to_complete=0)
        await quick.get_detection(uuid)
        assert quick._conn is client._conn and quick._gate is client._gate
        assert quick._retry.attempts == 1 and client._retry.attempts == 5
        assert fake.requests[-1].headers.get("X-Team") == "red"
        await client.get_detection(uuid)
        assert "X-Team" not in fake.requests[-1].headers
    assert quick.closed  # closing the client closed its views


async def test_a_per_call_timeout_bounds_the_whole_call(fake: FakeDetectAPI) -> None:
    """get_detection(uuid, timeout=...) gives up in that time, whatever the server does."""
    uuid = fake.add_detection()
    fake.inject(Fault.hang(method="GET"))
    async with fake_client(fake) as client:
        with pytest.raises(TimeoutError, match=r"0\.05 s") as caught:
            await client.get_detection(uuid, timeout=0.05)
    assert caught.value.uuid == uuid  # type: ignore[attr-defined]


@pytest.mark.parametrize("timeout", [0, -1, "5", float("nan")])
async def test_per_call_timeouts_are_checked(client: DetectClient, timeout: Any) -> None:
    """A nonsense per-call timeout is a typed error before anything is sent."""
    with pytest.raises(InvalidRequestError, match="timeout"):
        await client.get_detection("abc", timeout=timeout)


async def test_extras_reach_the_wire(fake: FakeDetectAPI, client: DetectClient) -> None:
    """extra_body/extra_query/extra_headers carry fields the SDK does not know yet."""
    created = await client.create_detection(
        url=URL,
        intelligence=True,
        extra_body={"new_flag": True, "model_version": "2027-01"},
        extra_query={"beta": True},
        extra_headers={"X-Trace": "t-1"},
    )
    sent = fake.requests[-1]
    assert sent.json is not None
    assert sent.json["new_flag"] is True and sent.json["model_version"] == "2027-01"
    assert sent.json["intelligence"] is True
    assert sent.query == {"beta": "true"} and sent.headers["X-Trace"] == "t-1"
    await client.get_detection(created.uuid, extra_query={"include": "all"})
    assert fake.requests[-1].query == {"include": "all"}


async def test_extras_in_multipart_travel_as_form_fields(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """extra_body on a file upload becomes form fields, encoded like the known options."""
    await client.create_detection(
        file=b"RIFF0000", filename="a.wav", extra_body={"new_flag": True, "level": 2}
    )
    assert fake.requests[-1].form["new_flag"] == "true"
    assert fake.requests[-1].form["level"] == "2"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"extra_headers": {"Authorization": "Bearer other"}}, "Authorization"),
        ({"extra_headers": {"X-A": "a\r\nInjected: 1"}}, "line breaks"),
        ({"extra_query": {"x": object()}}, "extra_query"),
        ({"extra_body": {"x": float("nan")}}, "plain JSON"),
        ({"extra_body": ["not", "a", "dict"]}, "dict"),
    ],
)
async def test_bad_extras_are_refused_before_sending(
    fake: FakeDetectAPI, client: DetectClient, kwargs: dict[str, Any], match: str
) -> None:
    """Extras that could not travel (or would smuggle headers) are typed errors, sent nowhere."""
    with pytest.raises(InvalidRequestError, match=match):
        await client.create_detection(url=URL, **kwargs)
    assert fake.requests == []


async def test_unknown_options_keep_their_typo_protection(client: DetectClient) -> None:
    """A misspelled known option is still refused; extra_body is the way for new ones."""
    with pytest.raises(InvalidRequestError, match="did you mean"):
        await client.create_detection(url=URL, intelligense=True)  # type: ignore[call-arg]


# --- observability ----------------------------------------------------------------------------


async def test_raw_response_gives_status_headers_and_the_model(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """with_raw_response returns the HTTP facts of the call and .parse() the usual model."""
    uuid = fake.add_detection(polls_to_complete=0, label="fake")
    fake.inject(Fault.error(503, method="GET"))
    raw = await client.with_raw_response.get_detection(uuid)
    assert isinstance(raw, RawResponse)
    assert raw.status_code == 200 and raw.retries_taken == 1
    assert raw.request_id and raw.request_id == fake.requests[-1].request_id
    assert raw.headers["Content-Type"].startswith("application/json")
    assert raw.elapsed >= 0 and raw.url.endswith(f"/detect/{uuid}")
    assert [e.status for e in raw.exchanges] == [503, 200]
    assert raw.parse().uuid == uuid and raw.parse().is_fake
    page = await client.with_raw_response.list_detections(page_size=10)
    assert page.status_code == 200 and page.parse().items


async def test_one_debug_line_per_attempt_without_the_key(
    fake: FakeDetectAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Each attempt logs method, path, status, time, attempt, request id and the next wait."""
    uuid = fake.add_detection(polls_to_complete=0)
    fake.inject(Fault.error(502, method="GET"))
    caplog.set_level(logging.DEBUG, logger="resemble_detect_async")
    async with fake_client(fake) as client:
        await client.get_detection(uuid)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    attempts = [line for line in lines if f"/detect/{uuid} ->" in line]
    assert len(attempts) == 2
    assert "-> 502" in attempts[0] and "attempt 1" in attempts[0] and "retry in" in attempts[0]
    assert "-> 200" in attempts[1] and "attempt 2" in attempts[1] and "no retry" in attempts[1]
    assert "request id " in attempts[1] and "request id -" not in attempts[1]
    assert all(fake.api_key not in line for line in lines)


async def test_spans_when_opentelemetry_is_there(
    fake: FakeDetectAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an OpenTelemetry SDK configured, each call is one CLIENT span named by its route."""
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from resemble_detect_async import _otel

    exporter = memory.InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    monkeypatch.setattr(_otel._trace, "get_tracer_provider", lambda: provider)
    uuid = fake.add_detection(polls_to_complete=0)
    async with fake_client(fake) as client:
        await client.get_detection(uuid)
        with pytest.raises(NotFoundError):
            await client.get_detection("missing-one")
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["GET /detect/{uuid}", "GET /detect/{uuid}"]
    assert spans[0].attributes["resemble.uuid"] == uuid
    assert spans[0].status.status_code.name == "UNSET"
    assert spans[1].status.status_code.name == "ERROR"


def test_no_span_and_no_cost_without_a_configured_sdk() -> None:
    """With only the API's default (proxy) provider, a call makes no span at all."""
    import contextlib

    from resemble_detect_async import _otel

    assert isinstance(_otel.call_span("GET", "/detect/{uuid}", "u"), contextlib.nullcontext)


# --- lifecycle ------------------------------------------------------------------------------------


def test_a_second_event_loop_gets_a_typed_error(fake_server_url: tuple[str, str]) -> None:
    """One client used from two event loops (two asyncio.run()) says what to do instead."""
    base_url, key = fake_server_url
    client = DetectClient(key, base_url=base_url, rate_limit=None)

    async def use() -> None:
        await client.list_detections(page_size=10)

    with asyncio.Runner() as first:
        first.run(use())
        with asyncio.Runner() as second, pytest.raises(EventLoopError, match="one per event loop"):
            second.run(use())
        first.run(client.close())


def test_another_thread_gets_a_typed_error(fake_server_url: tuple[str, str]) -> None:
    """Using a client from another thread's loop is the same typed error, not a RuntimeError."""
    base_url, key = fake_server_url

    async def main() -> None:
        async with DetectClient(key, base_url=base_url, rate_limit=None) as client:
            await client.list_detections(page_size=10)
            caught: list[BaseException] = []

            def other_thread() -> None:
                try:
                    asyncio.run(client._list_page(page_size=10))
                except BaseException as exc:  # recorded for the assert below
                    caught.append(exc)

            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join()
            assert len(caught) == 1 and isinstance(caught[0], EventLoopError)

    asyncio.run(main())


@pytest.fixture
def fake_server_url() -> Any:
    """A fake API served on its own thread's loop, for tests that run their own loops."""
    ready = threading.Event()
    stop: list[Any] = []
    info: list[tuple[str, str]] = []

    def serve() -> None:
        async def main() -> None:
            async with FakeDetectAPI() as api:
                info.append((api.base_url, api.api_key))
                done = asyncio.Event()
                stop.append((asyncio.get_running_loop(), done))
                ready.set()
                await done.wait()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    yield info[0]
    loop, done = stop[0]
    loop.call_soon_threadsafe(done.set)
    thread.join(10)


async def test_close_lets_an_in_flight_create_finish(fake: FakeDetectAPI) -> None:
    """close() during a POST /detect waits for its answer, so the billed uuid is not lost."""
    fake.inject(Fault.slow(0.05, method="POST", path="/detect"))
    client = fake_client(fake)
    create = asyncio.create_task(client.create_detection(url=URL))
    while not any(r.method == "POST" for r in fake.requests):
        await asyncio.sleep(0)
    await client.close(grace=5)
    created = await create
    assert created.uuid in fake.detections
    with pytest.raises(ClientClosedError):
        await client.get_detection(created.uuid)


async def test_close_wakes_sleeping_waiters_at_once(fake: FakeDetectAPI) -> None:
    """A waiter sleeping between polls wakes at close() with its uuid, not seconds later."""
    clock = FakeClock()
    uuid = fake.add_detection(polls_to_complete=100)
    client = fake_client(fake, clock=clock, poll=PollPolicy(initial=60, jitter=0))
    waiter = asyncio.create_task(client.wait_for_result(uuid))
    while not clock.sleeps:
        await asyncio.sleep(0)
    await client.close()
    with pytest.raises(ClientClosedError) as caught:
        await waiter
    assert caught.value.uuid == uuid
    assert clock.now < 60  # woken, not slept through


async def test_create_and_wait_deadline_is_end_to_end() -> None:
    """The deadline covers the submit too; past it, the error carries the created uuid."""
    clock = FakeClock()
    seen: list[str] = []
    async with (
        FakeDetectAPI(polls_to_complete=10**6) as fake,
        fake_client(fake, clock=clock, poll=PollPolicy(initial=0.4, jitter=0)) as client,
    ):
        with pytest.raises(WaitTimeoutError) as caught:
            await client.create_and_wait(
                url="https://example.com/never-done.wav",
                timeout=1.0,
                on_created=lambda d: seen.append(d.uuid),
            )
    assert caught.value.uuid == seen[0] and caught.value.timeout == 1.0
    assert clock.now <= 1.0 + 0.1 + 1e-9  # the deadline, plus its grace at most


async def test_on_created_may_be_async(fake: FakeDetectAPI, client: DetectClient) -> None:
    """An async on_created is awaited before the wait starts."""
    seen: list[str] = []

    async def store(detection: Any) -> None:
        seen.append(detection.uuid)

    done = await client.create_and_wait(url=URL, on_created=store)
    assert seen == [done.uuid]


async def test_a_refused_key_stops_requests_queued_behind_the_limiter(fake: FakeDetectAPI) -> None:
    """After the first 401, workers waiting for a rate slot send nothing more."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(200)]
    clock = FakeClock()
    async with fake_client(fake, api_key="wrong", rate_limit=40.0, clock=clock) as client:
        outcomes = await client.fetch_many(uuids, concurrency=64)
    assert all(isinstance(o.error, AuthenticationError) for o in outcomes)
    assert [o.error.uuid for o in outcomes if o.error is not None] == uuids  # type: ignore[attr-defined]
    # Only what was already on the wire when the 401 came (not the 64 queued workers).
    assert len(fake.requests) <= 8


async def test_a_create_429_is_retried_not_raised(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """POST /detect answered 429 was refused before creating anything: sent again once."""
    fake.inject(Fault.rate_limited(retry_after=0, method="POST", path="/detect"))
    created = await client.create_detection(url=URL)
    assert created.uuid in fake.detections and len(fake.detections) == 1
    fake.inject(Fault.rate_limited(retry_after=0, method="POST", path="/detect", times=None))
    async with fake_client(fake, retry=RetryPolicy.no_wait(attempts=3)) as limited:
        with pytest.raises(RateLimitError):
            await limited.create_detection(url=URL)
    assert len(fake.detections) == 1


@pytest.mark.parametrize("path", ["/detect", "/detect/batch", "/secure_uploads"])
async def test_the_fake_answers_a_malformed_part_header_with_a_400(
    fake: FakeDetectAPI, path: str
) -> None:
    """A multipart part with a broken header line is the documented 400 JSON error, not a 500."""
    import aiohttp

    body = (
        b"--XyZ\r\n"
        b"Content-Disposition form-data name=file\r\n\r\n"  # no colon: not a header
        b"RIFF\r\n--XyZ--\r\n"
    )
    headers = {
        "Authorization": f"Bearer {fake.api_key}",
        "Content-Type": "multipart/form-data; boundary=XyZ",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(fake.base_url + path, data=body, headers=headers) as resp,
    ):
        assert resp.status == 400
        answer = await resp.json()
    assert answer["success"] is False and "multipart" in answer["message"].lower()
