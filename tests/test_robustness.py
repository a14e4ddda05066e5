"""Inputs and faults beyond the happy path: every one ends in a clear, typed outcome."""

from __future__ import annotations

import asyncio
import io
import pickle
import re
import uuid as uuid_module
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from resemble_detect_async import (
    APIConnectionError,
    ClientClosedError,
    ConfigurationError,
    DetectClient,
    InvalidRequestError,
    NotFoundError,
    PollPolicy,
    ResponseValidationError,
    RetryPolicy,
    WaitTimeoutError,
)
from resemble_detect_async.testing import FakeDetectAPI, Fault, fake_client

BASE = "https://api.test/api/v2"
KEY = "sk-live-SECRET-abcdef0123"


def chain(err: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


async def test_no_aiohttp_exception_with_headers_is_chained() -> None:
    """A malformed response's aiohttp error (which holds request headers) is not kept."""
    info = aiohttp.RequestInfo(
        URL(f"{BASE}/detect/abc"),
        "GET",
        CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {KEY}"})),
        URL(f"{BASE}/detect/abc"),
    )
    broken = aiohttp.ClientResponseError(info, (), status=400, message="invalid status line")
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/detect/abc", exception=broken, repeat=True)
        async with DetectClient(KEY, base_url=BASE, retry=RetryPolicy.no_wait(attempts=2)) as c:
            with pytest.raises(APIConnectionError) as caught:
                await c.get_detection("abc")
    links = chain(caught.value)
    assert links == [caught.value]
    assert KEY not in repr(vars(caught.value)) and KEY not in str(caught.value)
    assert KEY.encode() not in pickle.dumps(caught.value)


async def test_borrowed_session_raising_for_status_still_gets_typed_errors(
    fake: FakeDetectAPI,
) -> None:
    """A borrowed session created with raise_for_status=True still yields NotFoundError."""
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        fake_client(fake, session=session) as c,
    ):
        with pytest.raises(NotFoundError):
            await c.wait_for_result("missing")
    assert len(fake.requests) == 1


async def test_create_and_wait_checks_wait_arguments_before_billing(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Bad timeout/poll/on_update fail before the POST, so nothing is billed."""
    for kwargs in (
        {"timeout": "30"},
        {"timeout": float("nan")},
        {"timeout": -1},
        {"poll": "fast"},
        {"on_update": 1},
    ):
        with pytest.raises(InvalidRequestError):
            await client.create_and_wait(url="https://example.com/a.wav", **kwargs)
    assert fake.detections == {}


async def test_a_failing_on_update_keeps_the_uuid(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """If your on_update raises after the POST, the exception notes the created uuid."""

    def broken(_: Any) -> None:
        raise ZeroDivisionError("bot crashed")

    with pytest.raises(ZeroDivisionError) as caught:
        await client.create_and_wait(url="https://example.com/a.wav", on_update=broken)
    (uuid,) = fake.detections
    assert any(uuid in note for note in caught.value.__notes__)


@pytest.mark.parametrize("timeout", [float("nan"), -1, 0, "5", True])
async def test_wait_timeout_is_validated(client: DetectClient, timeout: Any) -> None:
    """Deadlines must be positive numbers or None: NaN would wait forever, '5' would crash."""
    with pytest.raises(InvalidRequestError, match="timeout"):
        await client.wait_for_result("abc", timeout=timeout)
    with pytest.raises(InvalidRequestError, match="timeout"):
        await client.wait_for_many(["abc"], timeout=timeout)


async def test_deadline_cuts_off_a_hanging_poll(fake: FakeDetectAPI) -> None:
    """On the real clock the overall deadline ends the wait even while a GET hangs."""
    uuid = fake.add_detection()
    fake.inject(Fault.hang(times=None, path=f"/detect/{uuid}"))
    async with fake_client(fake) as c:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(WaitTimeoutError) as caught:
            await c.wait_for_result(uuid, timeout=0.05)
        assert loop.time() - started < 1.0
    assert caught.value.uuid == uuid


async def test_closing_mid_request_is_client_closed(fake: FakeDetectAPI) -> None:
    """Closing the client while a request runs ends that call with ClientClosedError."""
    uuid = fake.add_detection()
    fake.inject(Fault.hang(times=None, path=f"/detect/{uuid}"))
    c = fake_client(fake)
    task = asyncio.create_task(c.get_detection(uuid))
    while fake.in_flight == 0:
        await asyncio.sleep(0)
    await c.close()
    with pytest.raises((ClientClosedError, APIConnectionError)):
        await task


async def test_empty_200_on_get_is_retried_then_typed() -> None:
    """An empty 200 to a GET is treated as cut off: retried, then ResponseValidationError."""
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/detect/abc", status=200, body="")
        mocked.get(f"{BASE}/detect/abc", payload={"success": True, "item": {"uuid": "abc"}})
        mocked.get(f"{BASE}/detect/xyz", status=200, body="", repeat=True)
        async with DetectClient(KEY, base_url=BASE, retry=RetryPolicy.no_wait()) as c:
            assert (await c.get_detection("abc")).uuid == "abc"
            with pytest.raises(ResponseValidationError) as caught:
                await c.get_detection("xyz")
    assert caught.value.truncated


async def test_retried_delete_that_already_worked_succeeds(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A DELETE whose first answer was lost (503 after deleting) ends in success, not 404."""
    uuid = fake.add_detection()
    fake.inject(Fault.error(503, method="DELETE", after_handler=True))
    await client.delete_detection(uuid)
    assert uuid not in fake.detections


async def test_wrong_uuid_in_the_answer_is_refused() -> None:
    """A GET answered with another detection's body is an error, not a wrong result."""
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/detect/abc", payload={"success": True, "item": {"uuid": "zzz"}})
        async with DetectClient(KEY, base_url=BASE) as c:
            with pytest.raises(ResponseValidationError, match="zzz"):
                await c.get_detection("abc")


async def test_success_false_as_a_string_is_a_failure() -> None:
    """`"success": "false"` is read as the failure it says it is."""
    from resemble_detect_async import APIStatusError

    with aioresponses() as mocked:
        mocked.get(f"{BASE}/detect/abc", payload={"success": "false", "message": "nope"})
        async with DetectClient(KEY, base_url=BASE) as c:
            with pytest.raises(APIStatusError, match="nope"):
                await c.get_detection("abc")


async def test_pager_stops_when_the_server_ignores_page() -> None:
    """A server that repeats the same page (no page numbers) cannot loop the pager forever."""
    items = [{"uuid": f"a{i}"} for i in range(10)]
    with aioresponses() as mocked:
        mocked.get(
            re.compile(rf"^{re.escape(BASE)}/detect\?"),
            payload={"success": True, "items": items},
            repeat=True,
        )
        async with DetectClient(KEY, base_url=BASE) as c:
            seen = [d.uuid async for d in c.list_detections(page_size=10)]
    assert seen == [f"a{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"api_key": 123}, "api_key"),
        ({"base_url": 123}, "base_url"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": "4"}, "max_concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": float("nan")}, "rate_limit"),
        ({"rate_limit": "40"}, "rate_limit"),
        ({"timeouts": "5"}, "timeouts"),
        ({"retry": 3}, "retry"),
        ({"poll": 2}, "poll"),
        ({"rate_limiter": object()}, "rate_limiter"),
        ({"clock": object()}, "clock"),
    ],
)
def test_constructor_refuses_bad_settings(kwargs: dict[str, Any], match: str) -> None:
    """Wrong settings fail at construction with ConfigurationError naming the setting."""
    options: dict[str, Any] = {"api_key": KEY, "base_url": BASE, **kwargs}
    with pytest.raises(ConfigurationError, match=match):
        DetectClient(**options)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.create_detection(file=b"RIFF", filename="a\r\nb.wav"), "control"),
        (lambda c: c.create_detection(file=b"RIFF", filename=123), "filename"),
        (lambda c: c.create_detection(file=b"", filename="a.wav"), "empty"),
        (lambda c: c.create_detection(url="https://e.com/a.wav", wait="yes"), "wait"),
        (
            lambda c: c.create_detection(url="https://e.com/a.wav", start_region=10**400),
            "start_region",
        ),
        (lambda c: c.get_detection("abc", experts="false"), "experts"),
        (lambda c: c.fetch_many(None), "uuids"),
        (lambda c: c.fetch_many(5), "uuids"),
        (lambda c: c.fetch_many(["abc"], concurrency="2"), "concurrency"),
        (lambda c: c.fetch_many(["abc"], concurrency=0), "concurrency"),
        (lambda c: c.create_batch(files=123), "files"),
    ],
)
async def test_bad_arguments_are_typed_errors(
    fake: FakeDetectAPI, client: DetectClient, call: Any, match: str
) -> None:
    """Wrong argument types and values raise InvalidRequestError before anything is sent."""
    with pytest.raises(InvalidRequestError, match=match):
        await call(client)
    assert fake.requests == []


def test_page_zero_is_refused(client: DetectClient) -> None:
    """page=0 is an error, not silently page 1."""
    with pytest.raises(InvalidRequestError, match="page"):
        client.list_detections(page=0)


async def test_closed_and_empty_files_are_refused(client: DetectClient, tmp_path: Path) -> None:
    """A closed file object or an empty file is refused with a clear message."""
    handle = io.BytesIO(b"RIFF")
    handle.name = "a.wav"
    handle.close()
    with pytest.raises(InvalidRequestError, match="closed"):
        await client.create_detection(file=handle)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InvalidRequestError, match="empty"):
        await client.create_detection(file=empty)


async def test_uuid_objects_and_strings_dedupe(fake: FakeDetectAPI, client: DetectClient) -> None:
    """A uuid.UUID and the same uuid as a string are fetched once."""
    raw = fake.add_detection(polls_to_complete=0)
    mixed: list[Any] = [raw, uuid_module.UUID(raw), raw]
    outcomes = await client.fetch_many(mixed)
    assert all(o.ok for o in outcomes)
    assert len([r for r in fake.requests if r.method == "GET"]) == 1


async def test_poll_policy_must_be_a_policy(client: DetectClient) -> None:
    """A wrong poll= value is refused with the expected type."""
    with pytest.raises(InvalidRequestError, match="PollPolicy"):
        await client.wait_for_result("abc", poll={"initial": 1})  # type: ignore[arg-type]
    assert PollPolicy.no_wait().initial == 0


async def test_pager_stops_when_full_pages_alternate() -> None:
    """Alternating full pages with no page numbers end once a page repeats (no endless walk)."""
    pages = [[{"uuid": f"{tag}{i}"} for i in range(10)] for tag in ("a", "b")]
    calls = 0

    def answer(url: URL, **_: Any) -> Any:
        nonlocal calls
        calls += 1
        from aioresponses import CallbackResult

        return CallbackResult(payload={"success": True, "items": pages[calls % 2]})

    with aioresponses() as mocked:
        mocked.get(re.compile(rf"^{re.escape(BASE)}/detect\?"), callback=answer, repeat=True)
        async with DetectClient(KEY, base_url=BASE) as c:
            seen = [d.uuid async for d in c.list_detections(page_size=10)]
    assert len(seen) == 20 and calls == 3


async def test_pager_stops_at_the_page_count_the_first_page_announced() -> None:
    """A server that keeps raising num_pages is walked only as far as the first page said."""
    number = 0

    def answer(url: URL, **_: Any) -> Any:
        nonlocal number
        number += 1
        from aioresponses import CallbackResult

        items = [{"uuid": f"p{number}-{i}"} for i in range(10)]
        body = {"success": True, "items": items, "num_pages": number + 5}
        return CallbackResult(payload=body)

    with aioresponses() as mocked:
        mocked.get(re.compile(rf"^{re.escape(BASE)}/detect\?"), callback=answer, repeat=True)
        async with DetectClient(KEY, base_url=BASE) as c:
            seen = [d.uuid async for d in c.list_detections(page_size=10)]
    assert number == 6 and len(seen) == 60


async def test_wrong_batch_uuid_in_the_answer_is_refused() -> None:
    """GET /detect/batch answered with another batch is an error (and no child is fetched)."""
    other = {"uuid": "theirs", "status": "completed", "detect_uuids": ["c1"]}
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/detect/batch/mine", payload={"success": True, "item": other})
        async with DetectClient(KEY, base_url=BASE) as c:
            with pytest.raises(ResponseValidationError, match="theirs") as caught:
                await c.get_batch("mine")
            assert caught.value.uuid == "mine"
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/detect/batch/mine", payload={"success": True, "item": other})
        async with DetectClient(KEY, base_url=BASE) as c:
            with pytest.raises(ResponseValidationError, match="theirs"):
                await c.wait_for_batch("mine")
        assert not any("c1" in str(url) for _, url in mocked.requests)
