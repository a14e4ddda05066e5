"""Bulk runs under hostile callbacks and inputs: they always end, sized by the work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from resemble_detect_async import DetectClient, Progress
from resemble_detect_async.testing import FakeDetectAPI, fake_client


async def test_on_progress_raising_cancelled_error_does_not_hang(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A progress callback that raises CancelledError is logged; the run still returns."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(5)]

    def progress(_: Progress) -> None:
        raise asyncio.CancelledError

    outcomes = await asyncio.wait_for(client.fetch_many(uuids, on_progress=progress), 10)
    assert [o.ok for o in outcomes] == [True] * 5


async def test_on_progress_awaiting_a_cancelled_future_does_not_hang(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """An async callback whose awaited future gets cancelled does not sink the run."""
    uuids = [fake.add_detection(polls_to_complete=1) for _ in range(4)]

    async def progress(_: Progress) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.cancel()
        await future

    outcomes = await asyncio.wait_for(client.wait_for_many(uuids, on_progress=progress), 10)
    assert all(o.ok for o in outcomes) and len(outcomes) == 4


async def test_an_input_iterator_raising_cancelled_error_ends_the_run(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Items before a CancelledError from the caller's iterator are delivered, then it is raised."""
    good = [fake.add_detection(polls_to_complete=0) for _ in range(3)]

    async def source() -> AsyncIterator[str]:
        for uuid in good:
            yield uuid
        raise asyncio.CancelledError

    seen: list[str] = []

    async def consume() -> None:
        async for outcome in client.iter_results(source()):
            seen.append(outcome.uuid)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(consume(), 10)
    assert sorted(seen) == sorted(good)


async def test_a_job_cancelled_from_inside_is_one_failed_outcome(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """An on_update-style CancelledError inside one uuid's work fails that uuid alone."""
    ok = fake.add_detection(polls_to_complete=0)
    stream = client.iter_results([ok, "x-1"])
    original = stream._engine.job

    async def job(uuid: str) -> object:
        if uuid == "x-1":
            raise asyncio.CancelledError
        return await original(uuid)

    stream._engine.job = job  # type: ignore[assignment]
    outcomes = await asyncio.wait_for(stream.collect(), 10)
    assert outcomes[0].ok and not outcomes[1].ok
    assert "cancelled from inside" in str(outcomes[1].error)


async def test_the_pool_is_sized_by_the_work(fake: FakeDetectAPI) -> None:
    """One uuid with concurrency=1,000,000 starts one worker, not a million."""
    uuid = fake.add_detection(polls_to_complete=0)
    before = len(asyncio.all_tasks())
    peak = 0

    def progress(_: Progress) -> None:
        nonlocal peak
        peak = max(peak, len(asyncio.all_tasks()) - before)

    async with fake_client(fake, max_concurrency=20_000) as c:
        outcomes = await c.fetch_many([uuid], concurrency=1_000_000, on_progress=progress)
        waited = await c.wait_for_many([uuid], on_progress=progress)
    assert outcomes[0].ok and waited[0].ok
    assert peak <= 2  # the one worker (and nothing per unit of concurrency)


async def test_a_stream_grows_its_pool_with_its_items(fake: FakeDetectAPI) -> None:
    """A streamed input of three uuids never starts more than a few workers."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(3)]

    async def source() -> AsyncIterator[str]:
        for uuid in uuids:
            yield uuid

    async with fake_client(fake) as c:
        stream = c.iter_results(source(), concurrency=10_000)
        outcomes = await stream.collect()
    assert len(outcomes) == 3 and len(stream._engine.tasks) <= 4


async def test_a_slow_async_progress_bar_does_not_hold_the_workers(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Outcomes keep flowing while an async on_progress is stuck; every report still lands."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(20)]
    gate = asyncio.Event()
    reported: list[int] = []

    async def progress(p: Progress) -> None:
        await gate.wait()
        reported.append(p.done)

    stream = client.iter_results(uuids, concurrency=4, on_progress=progress)
    got = []
    async for outcome in stream:
        got.append(outcome)
        if len(got) == 20:
            gate.set()  # the bar only moves once every outcome is already here
    assert len(got) == 20
    assert reported == list(range(1, 21))
