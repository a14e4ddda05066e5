"""Waiting by list scans: few requests per verdict, nothing missed, a broken order noticed."""

from __future__ import annotations

import asyncio

import pytest

from resemble_detect_async import (
    AuthenticationError,
    DetectionFailedError,
    InvalidRequestError,
    NotFoundError,
    PollPolicy,
    WaitTimeoutError,
)
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, Fault, fake_client

POLICY = PollPolicy(initial=2.0, multiplier=1.5, max_interval=10.0, jitter=0.0)


def count(fake: FakeDetectAPI) -> tuple[int, int]:
    """(list pages, single GETs) the fake answered."""
    lists = sum(1 for r in fake.requests if r.method == "GET" and r.path == "/detect")
    singles = sum(1 for r in fake.requests if r.method == "GET" and r.path.startswith("/detect/"))
    return lists, singles


async def test_a_scan_settles_many_waiters_with_a_few_pages() -> None:
    """300 detections finishing over a minute: a handful of list pages, no per-uuid GET."""
    clock = FakeClock()
    async with FakeDetectAPI(clock=clock) as fake:
        uuids = [fake.add_detection(seconds_to_complete=0.2 * i) for i in range(300)]
        async with fake_client(fake, clock=clock) as client:
            outcomes = await client.wait_for_many(uuids, poll=POLICY, strategy="scan")
        lists, singles = count(fake)
    assert [o.uuid for o in outcomes] == uuids and all(o.ok for o in outcomes)
    assert singles == 0 and lists <= 35  # a page per 2 s round; polling sends ~300 a round


async def test_failed_and_unknown_uuids_each_get_their_outcome() -> None:
    """A failed detection and a uuid the list never shows are settled too (the latter by GET)."""
    clock = FakeClock()
    async with FakeDetectAPI(clock=clock) as fake:
        good = fake.add_detection(seconds_to_complete=1)
        bad = fake.add_detection(seconds_to_complete=1, outcome="failed", error_message="codec")
        async with fake_client(fake, clock=clock) as client:
            outcomes = await client.wait_for_many(
                [good, bad, "never-created"], poll=POLICY, strategy="scan"
            )
    assert outcomes[0].ok
    assert isinstance(outcomes[1].error, DetectionFailedError)
    assert outcomes[1].detection is not None and outcomes[1].detection.error_message == "codec"
    assert (
        isinstance(outcomes[2].error, NotFoundError) and outcomes[2].error.uuid == "never-created"
    )


async def test_each_waiter_keeps_its_deadline() -> None:
    """A detection that never finishes times out with its last state; the others finish."""
    clock = FakeClock()
    async with FakeDetectAPI(clock=clock) as fake:
        quick = fake.add_detection(seconds_to_complete=1)
        stuck = fake.add_detection(seconds_to_complete=10**9)
        async with fake_client(fake, clock=clock) as client:
            outcomes = await client.wait_for_many(
                [quick, stuck], poll=POLICY, timeout=30, strategy="scan"
            )
    assert outcomes[0].ok
    assert isinstance(outcomes[1].error, WaitTimeoutError)
    assert outcomes[1].error.uuid == stuck and outcomes[1].detection is not None
    assert 30 <= clock.now < 31


async def test_a_list_that_is_not_newest_first_makes_it_poll_instead() -> None:
    """When created_at rises down the list, the order is broken: it falls back to GETs."""
    clock = FakeClock()
    async with FakeDetectAPI(clock=clock) as fake:
        old = fake.add_detection(seconds_to_complete=3)
        clock.advance(5)
        uuids = [fake.add_detection(seconds_to_complete=3) for _ in range(3)]
        # Moved to the front of the list, though created first: the list is not newest-first.
        fake.detections[old] = fake.detections.pop(old)
        async with fake_client(fake, clock=clock) as client:
            stream = client.iter_results([*uuids, old], wait=True, poll=POLICY, strategy="scan")
            outcomes = await stream.collect()
        lists, singles = count(fake)
    assert all(o.ok for o in outcomes) and len(outcomes) == 4
    assert lists == 1 and singles >= 4  # one page told it the order is not what it assumed


async def test_auto_scans_a_large_list_and_polls_a_small_one() -> None:
    """strategy='auto' lists pages for 100+ uuids and uses per-uuid GETs below that."""
    clock = FakeClock()
    async with FakeDetectAPI(clock=clock) as fake:
        many = [fake.add_detection(seconds_to_complete=1) for _ in range(120)]
        async with fake_client(fake, clock=clock) as client:
            await client.wait_for_many(many, poll=POLICY, strategy="auto")
            assert count(fake)[1] == 0
            few = [fake.add_detection(seconds_to_complete=1) for _ in range(3)]
            await client.wait_for_many(few, poll=POLICY, strategy="auto")
        assert count(fake)[1] >= 3


async def test_experts_are_fetched_for_each_settled_detection() -> None:
    """With experts=True a settled detection is fetched once more with experts."""
    clock = FakeClock()
    async with FakeDetectAPI(clock=clock) as fake:
        uuid = fake.add_detection(seconds_to_complete=1, intelligence=True)
        async with fake_client(fake, clock=clock) as client:
            stream = client.iter_results(
                [uuid], wait=True, experts=True, poll=POLICY, strategy="scan"
            )
            outcomes = await stream.collect()
        experts = [r for r in fake.requests if r.query.get("experts") == "true"]
    assert outcomes[0].ok and len(experts) == 1


async def test_an_unknown_strategy_is_refused(client: object) -> None:
    """A misspelled strategy is a typed error."""
    with pytest.raises(InvalidRequestError, match="strategy"):
        client.iter_results(["a"], wait=True, strategy="scna")  # type: ignore[attr-defined]


async def test_a_failing_list_falls_back_to_gets_for_that_round() -> None:
    """When listing fails (after its retries), the round checks each uuid with its own GET."""
    clock = FakeClock()
    async with FakeDetectAPI(clock=clock) as fake:
        uuids = [fake.add_detection(seconds_to_complete=1) for _ in range(3)]
        fake.inject(Fault.error(503, method="GET", path="/detect", times=None))
        async with fake_client(fake, clock=clock) as client:
            outcomes = await client.wait_for_many(uuids, poll=POLICY, strategy="scan")
        lists, singles = count(fake)
    assert all(o.ok for o in outcomes) and singles >= 3 and lists >= 1


async def test_a_refused_key_on_the_list_ends_every_wait() -> None:
    """A 401 on the list is every waiter's outcome (each naming its own uuid), at once."""
    async with FakeDetectAPI() as fake:
        uuids = [fake.add_detection(polls_to_complete=5) for _ in range(3)]
        async with fake_client(fake, api_key="wrong") as client:
            outcomes = await client.wait_for_many(uuids, strategy="scan")
    assert all(isinstance(o.error, AuthenticationError) for o in outcomes)
    assert [o.error.uuid for o in outcomes if o.error is not None] == uuids  # type: ignore[attr-defined]


async def test_leaving_a_scan_early_stops_its_driver() -> None:
    """Breaking out of a scanning stream cancels the scanner's driver: nothing is left behind."""
    clock = FakeClock()
    async with FakeDetectAPI(clock=clock) as fake:
        quick = fake.add_detection(seconds_to_complete=1)
        slow = [fake.add_detection(seconds_to_complete=10**6) for _ in range(3)]
        async with fake_client(fake, clock=clock) as client:
            async with client.iter_results(
                [quick, *slow], wait=True, poll=POLICY, strategy="scan"
            ) as stream:
                async for outcome in stream:
                    assert outcome.uuid == quick
                    break
            names = {task.get_name() for task in asyncio.all_tasks()}
            assert not {"resemble-detect-scanner"} & names
            assert not any(name.startswith("resemble-detect-worker") for name in names)
