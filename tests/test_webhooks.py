"""Callbacks: parsing them, and a receiver that resolves waiters at once and refuses forgeries."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import aiohttp
import pytest

from resemble_detect_async import (
    Batch,
    Detection,
    PollPolicy,
    ResponseValidationError,
)
from resemble_detect_async.testing import FakeDetectAPI, fake_client
from resemble_detect_async.webhooks import CallbackReceiver, parse_callback

SLOW = PollPolicy(initial=60.0, jitter=0.0)  # a waiter that would sleep a minute between polls


# --- parse_callback ---------------------------------------------------------------------------


def test_the_documented_callback_reads_as_a_detection() -> None:
    """The beta docs' callback body (no status) reads as a Detection, unknown keys kept."""
    body = {"success": True, "item": {"uuid": "d1", "metrics": {"label": "fake", "score": ["0.9"]}}}
    detection = parse_callback(json.dumps(body).encode())
    assert isinstance(detection, Detection)
    assert detection.uuid == "d1" and detection.is_fake and detection.status is None


def test_a_batch_payload_reads_as_a_batch() -> None:
    """An item with batch fields (detect_uuids, total_files...) is a Batch."""
    item = {"uuid": "b1", "status": "completed", "total_files": 2, "detect_uuids": ["a", "b"]}
    batch = parse_callback({"success": True, "item": item})
    assert isinstance(batch, Batch) and batch.detect_uuids == ("a", "b")


@pytest.mark.parametrize(
    "body", [b"<html>", b"[1, 2]", b"{}", b'{"item": {"uuid": ""}}', "\u0000", b"9" * 10]
)
def test_garbage_is_a_typed_error(body: Any) -> None:
    """Anything that is not a callback is a ResponseValidationError, never a raw exception."""
    with pytest.raises(ResponseValidationError):
        parse_callback(body)


# --- the receiver -------------------------------------------------------------------------------


def gets(fake: FakeDetectAPI, uuid: str) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and r.path.endswith(uuid))


async def post(url: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    data = io.BytesIO(body if isinstance(body, bytes) else json.dumps(body).encode())
    async with aiohttp.ClientSession() as http, http.post(url, data=data, **kwargs) as resp:
        return resp.status, await resp.json()


def callback_body(uuid: str, status: str = "completed") -> dict[str, Any]:
    return {"success": True, "item": {"uuid": uuid, "status": status, "metrics": {"label": "real"}}}


async def test_a_callback_resolves_a_sleeping_waiter_with_one_confirming_get() -> None:
    """The waiter wakes at once on the callback and confirms with one GET (payload unsigned)."""
    async with FakeDetectAPI(polls_to_complete=1) as fake:
        uuid = fake.add_detection(polls_to_complete=1, label="fake")
        async with fake_client(fake, poll=SLOW) as client:
            receiver = CallbackReceiver(client)
            async with receiver.serve() as url:
                waiter = asyncio.create_task(client.wait_for_result(uuid))
                while not client._conn.is_waiting_for(uuid):
                    await asyncio.sleep(0)
                status, _ = await post(url, callback_body(uuid))
                detection = await asyncio.wait_for(waiter, 5)  # not 60 s
    assert status == 200 and detection.is_fake  # the GET's answer, not the payload's "real"
    assert gets(fake, uuid) == 2  # the first poll, and the confirming one
    assert receiver.accepted == 1


async def test_trusted_callbacks_need_no_get() -> None:
    """trust_callbacks=True takes the payload as the result: no confirming GET."""
    async with FakeDetectAPI(polls_to_complete=5) as fake:
        uuid = fake.add_detection(polls_to_complete=5)
        async with fake_client(fake, poll=SLOW) as client:
            receiver = CallbackReceiver(client, trust_callbacks=True)
            async with receiver.serve() as url:
                waiter = asyncio.create_task(client.wait_for_result(uuid))
                while not client._conn.is_waiting_for(uuid):
                    await asyncio.sleep(0)
                await post(url, callback_body(uuid))
                detection = await asyncio.wait_for(waiter, 5)
    assert detection.verdict.value == "real" and gets(fake, uuid) == 1


async def test_wait_for_many_is_resolved_by_callbacks(fake: FakeDetectAPI) -> None:
    """Bulk waits are woken too: every uuid's callback ends its wait."""
    uuids = [fake.add_detection(polls_to_complete=1) for _ in range(5)]
    async with fake_client(fake, poll=SLOW) as client:
        receiver = CallbackReceiver(client)
        async with receiver.serve() as url:
            run = asyncio.create_task(client.wait_for_many(uuids))
            while not all(client._conn.is_waiting_for(u) for u in uuids):
                await asyncio.sleep(0)
            for uuid in uuids:
                await post(url, callback_body(uuid))
            outcomes = await asyncio.wait_for(run, 5)
    assert all(o.ok for o in outcomes)
    assert all(gets(fake, u) == 2 for u in uuids)


@pytest.mark.parametrize(
    ("token", "body", "status"),
    [
        ("wrong-token-0123456789", None, 401),
        (None, None, 401),
        ("", b"not json at all", 400),
        ("", {"success": True, "item": {"uuid": "someone-elses"}}, 404),
        ("", b"x" * (2 * 1024 * 1024), 413),
    ],
)
async def test_bad_callbacks_get_a_clear_4xx_and_resolve_nothing(
    fake: FakeDetectAPI, token: str | None, body: Any, status: int
) -> None:
    """Forged, unknown, oversized or unreadable callbacks are refused; the waiter keeps polling."""
    uuid = fake.add_detection(polls_to_complete=1)
    async with fake_client(fake, poll=SLOW) as client:
        receiver = CallbackReceiver(client, max_body=1024 * 1024)
        async with receiver.serve() as url:
            waiter = asyncio.create_task(client.wait_for_result(uuid))
            while not client._conn.is_waiting_for(uuid):
                await asyncio.sleep(0)
            target = (
                url if token == "" else url.split("?")[0] + (f"?token={token}" if token else "")
            )
            got, answer = await post(target, body if body is not None else callback_body(uuid))
            assert got == status and answer["success"] is False
            assert client._conn.is_waiting_for(uuid) and not waiter.done()
            waiter.cancel()
    assert receiver.refused == 1 and receiver.accepted == 0


async def test_a_replayed_callback_is_refused(fake: FakeDetectAPI) -> None:
    """The same callback twice: the second is a 409 and changes nothing."""
    async with fake_client(fake) as client:
        receiver = CallbackReceiver(client)
        created = await client.create_detection(url="https://example.com/a.wav")
        async with receiver.serve() as url:
            first, _ = await post(url, callback_body(created.uuid))
            second, _ = await post(url, callback_body(created.uuid))
    assert (first, second) == (200, 409)


async def test_a_callback_that_never_comes_falls_back_to_polling(fake: FakeDetectAPI) -> None:
    """Without any callback the wait still ends, by polling."""
    uuid = fake.add_detection(polls_to_complete=2)
    async with fake_client(fake) as client:
        CallbackReceiver(client)
        detection = await client.wait_for_result(uuid, poll=PollPolicy.no_wait())
    assert detection.is_completed


async def test_creates_carry_the_receivers_callback_url(fake: FakeDetectAPI) -> None:
    """With a receiver that knows its URL, creates add callback_url; polling slows down."""
    async with fake_client(fake, poll=PollPolicy()) as client:
        receiver = CallbackReceiver(client, secret="s" * 32)
        url = receiver.callback_url("https://hooks.example.com/")
        assert url == "https://hooks.example.com/resemble/callback?token=" + "s" * 32
        await client.create_detection(url="https://example.com/a.wav")
        assert fake.requests[-1].json is not None
        assert fake.requests[-1].json["callback_url"] == url
        await client.create_detection(url="https://example.com/b.wav", callback_url="https://x.io/")
        assert fake.requests[-1].json is not None
        assert fake.requests[-1].json["callback_url"] == "https://x.io/"
        assert client.poll_policy.initial == 10.0
    assert "s" * 32 not in repr(receiver)


async def test_the_asgi_adapter_speaks_the_same_rules(fake: FakeDetectAPI) -> None:
    """The dependency-free ASGI app accepts a good callback and refuses a bad token."""
    async with fake_client(fake) as client:
        receiver = CallbackReceiver(client, secret="t" * 32)
        created = await client.create_detection(url="https://example.com/a.wav")
        app = receiver.asgi()

        async def call(query: bytes, body: bytes) -> int:
            sent: list[dict[str, Any]] = []
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                return messages.pop(0)

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {"type": "http", "method": "POST", "query_string": query}
            await app(scope, receive, send)
            return int(sent[0]["status"])

        good = json.dumps(callback_body(created.uuid)).encode()
        assert await call(b"token=" + b"t" * 32, good) == 200
        assert await call(b"token=nope", good) == 401


# --- the fake API calls back like the service ------------------------------------------------


async def test_the_fake_calls_back_and_the_waiter_needs_one_get() -> None:
    """End to end: the fake POSTs the result when done; the wait ends with one confirming GET."""
    async with (
        FakeDetectAPI(seconds_to_complete=0.05) as fake,
        fake_client(fake, poll=PollPolicy()) as client,  # the receiver turns it into a fallback
    ):
        receiver = CallbackReceiver(client)
        async with receiver.serve():
            created = await client.create_detection(url="https://example.com/a.wav")
            detection = await asyncio.wait_for(client.wait_for_result(created.uuid), 5)
        records = list(fake.callbacks)
    assert detection.is_completed and gets(fake, created.uuid) == 1
    assert [(r.uuid, r.kind, r.status) for r in records] == [(created.uuid, "detection", 200)]
    assert fake.requests[0].json is not None and "callback_url" in fake.requests[0].json


async def test_lost_callbacks_fall_back_to_polling() -> None:
    """With every callback lost, the wait still ends: polling is the fallback."""
    async with (
        FakeDetectAPI(seconds_to_complete=0.05, callback_loss=1.0) as fake,
        fake_client(fake) as client,
    ):
        receiver = CallbackReceiver(client)
        async with receiver.serve():
            created = await client.create_detection(url="https://example.com/a.wav")
            quick = PollPolicy(first_delay=0.2, initial=0.2, jitter=0.0)
            detection = await asyncio.wait_for(client.wait_for_result(created.uuid, poll=quick), 5)
    assert detection.is_completed
    assert [r.lost for r in fake.callbacks] == [True] and receiver.accepted == 0


async def test_duplicated_callbacks_are_refused_after_the_first() -> None:
    """A callback sent twice is accepted once and refused (409) the second time."""
    async with (
        FakeDetectAPI(seconds_to_complete=0.05, callback_duplicates=1) as fake,
        fake_client(fake) as client,
    ):
        receiver = CallbackReceiver(client)
        async with receiver.serve():
            created = await client.create_detection(url="https://example.com/a.wav")
            await asyncio.wait_for(client.wait_for_result(created.uuid), 5)
            while len(fake.callbacks) < 2:
                await asyncio.sleep(0.01)
    assert sorted(r.status or 0 for r in fake.callbacks) == [200, 409]


async def test_a_batch_calls_back_once_when_every_child_is_final(tmp_path: Any) -> None:
    """The batch envelope is POSTed once, when its last child finishes, and ends the wait."""
    files = []
    for i in range(3):
        path = tmp_path / f"clip-{i}.wav"
        path.write_bytes(b"RIFF" * 10)
        files.append(path)
    async with FakeDetectAPI(seconds_to_complete=0.05) as fake, fake_client(fake) as client:
        receiver = CallbackReceiver(client)
        async with receiver.serve():
            batch = await client.create_batch(files)
            result = await asyncio.wait_for(client.wait_for_batch(batch.uuid), 5)
    assert result.batch.is_terminal and len(result.outcomes) == 3
    assert [r.kind for r in fake.callbacks if r.uuid == batch.uuid] == ["batch"]
