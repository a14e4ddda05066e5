"""Waiting for one result: wait_for_result, watch, create_and_wait (fake API, fake clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aioresponses import aioresponses

from resemble_detect_async import (
    AuthenticationError,
    DetectClient,
    DetectionFailedError,
    DetectionStatus,
    NotFoundError,
    PollPolicy,
    RetryPolicy,
    WaitTimeoutError,
)
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, Fault, fake_client

NEVER = 10**9


@pytest.fixture
async def timed(fake: FakeDetectAPI, clock: FakeClock) -> AsyncIterator[DetectClient]:
    """A client on the fake API whose waits run on virtual time with the default policies."""
    async with fake_client(fake, clock=clock, poll=PollPolicy(), retry=RetryPolicy()) as c:
        yield c


async def test_waits_until_completed_and_reports_every_state(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Polls while processing; on_update sees each state; the terminal detection is returned."""
    uuid = fake.add_detection(polls_to_complete=2, label="fake", score=0.9)
    seen: list[Any] = []
    det = await client.wait_for_result(uuid, on_update=lambda d: seen.append(d.status))
    assert det.is_completed and det.is_fake and det.score is not None
    assert seen == [
        DetectionStatus.PROCESSING,
        DetectionStatus.PROCESSING,
        DetectionStatus.COMPLETED,
    ]


async def test_async_on_update_is_awaited(fake: FakeDetectAPI, client: DetectClient) -> None:
    """An async on_update callback is awaited for each state."""
    uuid = fake.add_detection(polls_to_complete=1)
    seen: list[str] = []

    async def update(det: Any) -> None:
        seen.append(det.uuid)

    await client.wait_for_result(uuid, on_update=update)
    assert seen == [uuid, uuid]


async def test_keeps_polling_while_status_is_missing() -> None:
    """A body without `status` is not final: polling goes on (API notes §3.4, §11)."""
    base = "https://api.test/api/v2"
    url = f"{base}/detect/abc"
    with aioresponses() as mocked:
        mocked.get(url, payload={"success": True, "item": {"uuid": "abc", "metrics": {}}})
        mocked.get(url, payload={"success": True, "item": {"uuid": "abc", "status": "Queued"}})
        mocked.get(
            url,
            payload={
                "success": True,
                "item": {"uuid": "abc", "status": "completed", "metrics": {"label": "real"}},
            },
        )
        async with DetectClient("k", base_url=base, poll=PollPolicy.no_wait()) as c:
            det = await c.wait_for_result("abc")
    assert det.is_completed and not det.is_fake


async def test_failed_raises_with_detection(fake: FakeDetectAPI, client: DetectClient) -> None:
    """A failed detection raises DetectionFailedError carrying it and its error_message."""
    uuid = fake.add_detection(outcome="failed", error_message="unsupported codec")
    with pytest.raises(DetectionFailedError) as info:
        await client.wait_for_result(uuid)
    assert info.value.uuid == uuid and info.value.error_message == "unsupported codec"
    assert info.value.detection.is_failed


async def test_deadline_raises_with_uuid_and_last_state(
    fake: FakeDetectAPI, timed: DetectClient, clock: FakeClock
) -> None:
    """At the deadline a WaitTimeoutError carries the uuid and the last state; no stale result."""
    uuid = fake.add_detection(polls_to_complete=NEVER)
    with pytest.raises(WaitTimeoutError) as info:
        await timed.wait_for_result(uuid, timeout=30)
    err = info.value
    assert err.uuid == uuid and err.timeout == 30
    assert (
        err.last_detection is not None and err.last_detection.status is DetectionStatus.PROCESSING
    )
    assert clock.now == pytest.approx(30.0)
    assert isinstance(err, TimeoutError)


async def test_intervals_grow_to_the_cap(
    fake: FakeDetectAPI, client: DetectClient, clock: FakeClock
) -> None:
    """Without jitter the sleeps are initial * multiplier**n, capped at max_interval."""
    uuid = fake.add_detection(polls_to_complete=8)
    policy = PollPolicy(initial=1.5, multiplier=1.5, max_interval=10.0, jitter=0.0)
    async with fake_client(fake, clock=clock, poll=policy) as c:
        await c.wait_for_result(uuid)
    assert clock.sleeps == pytest.approx([1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0, 10.0, 10.0])


async def test_default_policy_follows_spec_guidance() -> None:
    """Defaults: start 2 s, x1.5, cap 10 s, +0-20 % jitter, 15 min deadline (API notes §18.5)."""
    policy = PollPolicy()
    assert (policy.initial, policy.multiplier, policy.max_interval) == (2.0, 1.5, 10.0)
    assert (policy.jitter, policy.timeout) == (0.2, 900.0)
    schedule = policy.intervals()
    assert [round(next(schedule), 3) for _ in range(6)] == [2.0, 3.0, 4.5, 6.75, 10.0, 10.0]


async def test_jitter_spreads_waiters(fake: FakeDetectAPI, clock: FakeClock) -> None:
    """Waiters started together sleep different intervals, never below the floor."""
    uuids = [fake.add_detection(polls_to_complete=1) for _ in range(40)]
    policy = PollPolicy(initial=2.0, jitter=0.25)
    async with fake_client(fake, clock=clock, poll=policy) as c:
        outcomes = await c.wait_for_many(uuids)
    assert all(o.ok for o in outcomes)
    assert len(clock.sleeps) == 40
    assert all(2.0 <= s <= 2.5 for s in clock.sleeps)  # jitter only lengthens
    assert len({round(s, 6) for s in clock.sleeps}) > 30


async def test_transient_errors_do_not_end_the_wait(fake: FakeDetectAPI) -> None:
    """5xx, 429 and dropped connections while polling are retried and the wait goes on."""
    uuid = fake.add_detection(polls_to_complete=1)
    path = f"/detect/{uuid}"
    fake.inject(Fault.error(503, times=3, path=path))
    fake.inject(Fault.drop(times=1, path=path))
    fake.inject(Fault.rate_limited(times=2, path=path))
    async with fake_client(fake, retry=RetryPolicy.no_wait(attempts=2)) as c:
        det = await c.wait_for_result(uuid)
    assert det.is_completed


async def test_404_ends_the_wait_at_once(fake: FakeDetectAPI, client: DetectClient) -> None:
    """An unknown uuid raises NotFoundError after one request, with the uuid on the error."""
    with pytest.raises(NotFoundError) as info:
        await client.wait_for_result("no-such-detection")
    assert info.value.uuid == "no-such-detection"
    assert len([r for r in fake.requests if r.path.startswith("/detect/")]) == 1


async def test_401_ends_the_wait_at_once(fake: FakeDetectAPI) -> None:
    """A bad key raises AuthenticationError at the first poll."""
    uuid = fake.add_detection()
    async with fake_client(fake, api_key="wrong-key") as c:
        with pytest.raises(AuthenticationError):
            await c.wait_for_result(uuid)
    assert len(fake.requests) == 1


async def test_wait_for_intelligence(fake: FakeDetectAPI, client: DetectClient) -> None:
    """Completed with intelligence still running returns at once, unless asked to wait for it."""
    uuid = fake.add_detection(polls_to_complete=0, intelligence=True, intelligence_polls=2)
    early = await client.wait_for_result(uuid)
    assert early.is_completed and early.is_intelligence_pending
    late = await client.wait_for_result(uuid, wait_for_intelligence=True)
    assert late.is_completed and not late.is_intelligence_pending
    assert late.intelligence_results[0].description


async def test_timeout_none_waits_as_long_as_it_takes(
    fake: FakeDetectAPI, timed: DetectClient, clock: FakeClock
) -> None:
    """timeout=None has no deadline: a detection that takes 50 polls (minutes) is awaited."""
    uuid = fake.add_detection(polls_to_complete=50)
    det = await timed.wait_for_result(uuid, timeout=None)
    assert det.is_completed and clock.now > 400


async def test_watch_yields_every_state(fake: FakeDetectAPI, client: DetectClient) -> None:
    """watch() is the async-iterator form; the last state is terminal (failures included)."""
    uuid = fake.add_detection(polls_to_complete=2, outcome="failed")
    states = [d.status async for d in client.watch(uuid)]
    assert states[-1] is DetectionStatus.FAILED and len(states) == 3


async def test_create_and_wait_returns_the_final_result(client: DetectClient) -> None:
    """Submit by URL then wait; the result is terminal and typed."""
    det = await client.create_and_wait(url="https://example.com/speech.wav", intelligence=True)
    assert det.is_completed and det.verdict.value in ("fake", "real")


async def test_create_and_wait_timeout_keeps_the_uuid(
    fake: FakeDetectAPI, clock: FakeClock
) -> None:
    """If the wait times out, the error carries the new uuid so the caller can resume."""
    fake.polls_to_complete = NEVER
    async with fake_client(fake, clock=clock, poll=PollPolicy(jitter=0)) as c:
        with pytest.raises(WaitTimeoutError) as info:
            await c.create_and_wait(url="https://example.com/slow.mp4", timeout=60)
        uuid = info.value.uuid
        assert uuid in fake.detections
        fake.detections[uuid].polls_to_complete = 0
        resumed = await c.wait_for_result(uuid)
    assert resumed.uuid == uuid and resumed.is_completed
    assert len([r for r in fake.requests if r.method == "POST"]) == 1


async def test_create_and_wait_failure_carries_uuid(client: DetectClient) -> None:
    """A failed detection from create_and_wait says which uuid failed."""
    with pytest.raises(DetectionFailedError) as info:
        await client.create_and_wait(url="https://example.com/fail-this.wav")
    assert info.value.uuid


async def test_retry_after_429_pauses_every_waiter(clock: FakeClock) -> None:
    """One 429 with Retry-After holds every worker of the client until it has passed."""
    async with FakeDetectAPI(polls_to_complete=3, clock=clock) as fake:
        uuids = [fake.add_detection() for _ in range(8)]
        fake.inject(Fault.rate_limited(retry_after=5, times=1, method="GET"))
        policy = PollPolicy(initial=1.0, multiplier=1.0, jitter=0.0)
        async with fake_client(
            fake, clock=clock, retry=RetryPolicy(), poll=policy, max_concurrency=2
        ) as c:
            outcomes = await c.wait_for_many(uuids)
        assert all(o.ok for o in outcomes)
        gets = [r for r in fake.requests if r.method == "GET"]
        # Without the pause the other waiters would poll again at t=1, 2, 3 and 4.
        assert not [r for r in gets if 0.0 < r.at < 5.0]
        assert len([r for r in gets if r.at == 0.0]) <= 2  # what was already on the wire
        assert clock.now >= 5.0


async def test_time_based_completion_on_virtual_time(clock: FakeClock) -> None:
    """With one FakeClock driving both sides, a 30 s detection is awaited on the real schedule."""
    async with (
        FakeDetectAPI(clock=clock, seconds_to_complete=30) as fake,
        fake_client(fake, clock=clock, poll=PollPolicy(jitter=0)) as c,
    ):
        det = await c.create_and_wait(url="https://example.com/a.wav")
    assert det.is_completed
    assert 30 <= clock.now <= 40
    assert clock.sleeps[:3] == [2.0, 3.0, 4.5]
