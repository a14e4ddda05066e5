"""Many uuids at once: ordered per-item outcomes, limits, dedup, progress, cancellation."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from resemble_detect_async import (
    AuthenticationError,
    DetectClient,
    Detection,
    DetectionFailedError,
    InvalidRequestError,
    NotFoundError,
    Outcome,
    PollPolicy,
    Progress,
    ResultStream,
    WaitTimeoutError,
)
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, Fault, fake_client


def leftover(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks started since `before`, except the fake server's own connection handlers."""
    return {
        task
        for task in asyncio.all_tasks() - before
        if "RequestHandler" not in repr(task.get_coro())
    }


def gets(fake: FakeDetectAPI, uuid: str | None = None) -> int:
    return len(
        [
            r
            for r in fake.requests
            if r.method == "GET"
            and r.path.startswith("/detect/")
            and (uuid is None or r.path.endswith(uuid))
        ]
    )


async def test_fetch_many_keeps_input_order_with_mixed_outcomes(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """One outcome per input, in input order; a 404 or a bad uuid sinks only itself."""
    done = fake.add_detection(polls_to_complete=0, label="fake")
    failed = fake.add_detection(polls_to_complete=0, outcome="failed", error_message="bad")
    real = fake.add_detection(polls_to_complete=0, label="real")
    uuids = [done, "missing-uuid", failed, "../etc", real]
    outcomes = await client.fetch_many(uuids)
    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4]
    assert [o.uuid for o in outcomes] == uuids
    assert outcomes[0].ok and outcomes[0].result().is_fake
    assert isinstance(outcomes[1].error, NotFoundError)
    assert outcomes[2].ok and outcomes[2].result().is_failed  # fetched fine: it *is* failed
    assert isinstance(outcomes[3].error, InvalidRequestError)
    assert outcomes[4].ok and not outcomes[4].result().is_fake
    with pytest.raises(NotFoundError):
        outcomes[1].result()


async def test_wait_for_many_reports_each_kind_of_end(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Completed, failed (with the detection) and 404 outcomes side by side."""
    ok = fake.add_detection(polls_to_complete=2)
    bad = fake.add_detection(polls_to_complete=1, outcome="failed", error_message="corrupt")
    outcomes = await client.wait_for_many([ok, "nope", bad])
    assert outcomes[0].ok and outcomes[0].result().is_completed
    assert isinstance(outcomes[1].error, NotFoundError)
    assert isinstance(outcomes[2].error, DetectionFailedError)
    assert outcomes[2].detection is not None and outcomes[2].detection.error_message == "corrupt"


async def test_wait_for_many_timeout_is_per_uuid(fake: FakeDetectAPI, clock: FakeClock) -> None:
    """A uuid that never finishes gets a WaitTimeoutError with its last state; others finish."""
    slow = fake.add_detection(polls_to_complete=10**9)
    quick = fake.add_detection(polls_to_complete=1)
    async with fake_client(fake, clock=clock) as c:
        outcomes = await c.wait_for_many([slow, quick], poll=PollPolicy(initial=1), timeout=20)
    assert isinstance(outcomes[0].error, WaitTimeoutError)
    assert outcomes[0].detection is not None and outcomes[0].uuid == slow
    assert outcomes[1].ok


async def test_duplicates_are_fetched_once_and_reported_everywhere(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A uuid repeated in the input is requested once and appears at each of its positions."""
    a = fake.add_detection(polls_to_complete=0)
    b = fake.add_detection(polls_to_complete=0)
    outcomes = await client.fetch_many([a, b, a, a, b])
    assert [o.uuid for o in outcomes] == [a, b, a, a, b]
    assert all(o.ok for o in outcomes)
    assert gets(fake, a) == 1 and gets(fake, b) == 1


async def test_streamed_duplicates_in_flight_share_one_fetch(fake: FakeDetectAPI) -> None:
    """From an async iterable, a repeat arriving while the first is in flight is not refetched."""
    a = fake.add_detection(polls_to_complete=3)

    async def source() -> AsyncIterator[str]:
        for _ in range(5):
            yield a

    async with fake_client(fake) as c:
        outcomes = [o async for o in c.iter_results(source(), wait=True, concurrency=2)]
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3, 4]
    assert all(o.ok for o in outcomes)
    assert gets(fake, a) == 4  # one wait: 3 processing polls + 1 terminal


async def test_iter_results_yields_as_completed_with_indices(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """iter_results yields quick results before slow ones, each tagged with its index."""
    slow = fake.add_detection(polls_to_complete=6)
    quick = [fake.add_detection(polls_to_complete=0) for _ in range(3)]
    order = [o.index async for o in client.iter_results([slow, *quick], wait=True)]
    assert sorted(order) == [0, 1, 2, 3] and order[-1] == 0


async def test_progress_counts(fake: FakeDetectAPI, client: DetectClient) -> None:
    """on_progress sees done/failed/pending move to the totals."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(5)] + ["missing"]
    seen: list[Progress] = []
    await client.fetch_many(uuids, on_progress=seen.append)
    assert len(seen) == 6
    last = seen[-1]
    assert (last.total, last.succeeded, last.failed, last.pending, last.done) == (6, 5, 1, 0, 6)
    assert [p.done for p in seen] == [1, 2, 3, 4, 5, 6]


async def test_broken_progress_callback_loses_nothing(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A progress callback that raises is logged; every outcome still arrives."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(3)]

    def boom(_: Progress) -> None:
        raise RuntimeError("progress bar broke")

    outcomes = await client.fetch_many(uuids, on_progress=boom)
    assert all(o.ok for o in outcomes)


async def test_in_flight_never_exceeds_the_client_limit(fake: FakeDetectAPI) -> None:
    """With max_concurrency=4, the fake API never sees more than 4 requests at once."""
    uuids = [fake.add_detection(polls_to_complete=1) for _ in range(120)]
    fake.inject(Fault.slow(0.002, times=None))
    async with fake_client(fake, max_concurrency=4) as c:
        outcomes = await c.wait_for_many(uuids)
    assert all(o.ok for o in outcomes)
    assert fake.max_in_flight <= 4
    assert c.max_in_flight == 4


async def test_limit_is_shared_by_concurrent_calls(fake: FakeDetectAPI) -> None:
    """Two bulk calls at once on one client share its concurrency limit."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(60)]
    fake.inject(Fault.slow(0.002, times=None))
    async with fake_client(fake, max_concurrency=3) as c:
        await asyncio.gather(c.fetch_many(uuids[:30]), c.fetch_many(uuids[30:]))
    assert fake.max_in_flight <= 3


@pytest.mark.scale
async def test_ten_thousand_uuids_complete(fake: FakeDetectAPI) -> None:
    """10,000 uuids against the fake API finish in one run, every outcome present."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(10_000)]
    async with fake_client(fake, max_concurrency=64) as c:
        outcomes = await c.fetch_many(uuids)
    assert len(outcomes) == 10_000 and all(o.ok for o in outcomes)
    assert [o.uuid for o in outcomes] == uuids


@pytest.mark.scale
async def test_ten_thousand_waits_complete(fake: FakeDetectAPI) -> None:
    """Waiting on 10,000 uuids (each processing once, then done) finishes in one run."""
    uuids = [fake.add_detection(polls_to_complete=1) for _ in range(10_000)]
    async with fake_client(fake, max_concurrency=64) as c:
        outcomes = await c.wait_for_many(uuids)
    assert len(outcomes) == 10_000 and all(o.ok and o.result().is_completed for o in outcomes)
    assert len(fake.requests) == 20_000


async def test_early_break_cancels_every_worker(fake: FakeDetectAPI, client: DetectClient) -> None:
    """Leaving `async with ... iter_results` early stops all workers; no task is left."""
    uuids = [fake.add_detection(polls_to_complete=50) for _ in range(40)]
    before = asyncio.all_tasks()
    async with client.iter_results(uuids, wait=True, concurrency=8) as stream:
        async for _ in stream:
            break
    assert not leftover(before)


async def test_bare_break_cancels_workers_when_the_stream_is_dropped(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A plain `async for ... break` cancels the workers once the stream is released."""
    uuids = [fake.add_detection(polls_to_complete=50) for _ in range(20)]
    before = asyncio.all_tasks()
    async for _ in client.iter_results(uuids, wait=True, concurrency=5):
        break
    gc.collect()
    for _ in range(10):
        await asyncio.sleep(0)
    assert not leftover(before)


async def test_cancelling_the_caller_cancels_in_flight_work(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Cancelling the task running wait_for_many leaves no pending task behind."""
    uuids = [fake.add_detection(polls_to_complete=10**9) for _ in range(30)]
    before = asyncio.all_tasks()
    task = asyncio.create_task(client.wait_for_many(uuids, timeout=None))
    while fake.max_in_flight == 0 or len(fake.requests) < 60:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not leftover(before)


async def test_failing_source_reports_outcomes_then_raises(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """If the caller's uuid iterator breaks, outcomes so far are delivered, then its error."""
    a = fake.add_detection(polls_to_complete=0)

    async def source() -> AsyncIterator[str]:
        yield a
        raise OSError("uuid file unreadable")

    got: list[Outcome] = []
    with pytest.raises(OSError, match="unreadable"):
        async for outcome in client.iter_results(source()):
            got.append(outcome)
    assert [o.uuid for o in got] == [a]


def test_one_string_is_not_a_list_of_uuids() -> None:
    """Passing one uuid string instead of a list is refused (it would iterate characters)."""

    async def job(uuid: str) -> Detection:
        raise AssertionError

    with pytest.raises(InvalidRequestError, match="not one string"):
        ResultStream("abc", job, workers=1)


@pytest.mark.scale
async def test_memory_and_tasks_stay_bounded_for_100k_uuids() -> None:
    """100,000 streamed uuids make no task each, and a slow reader holds the workers back."""
    peak_tasks = 0
    finished = 0  # outcomes the workers have produced, read or not
    peak_unread = 0

    async def job(uuid: str) -> Detection:
        nonlocal peak_tasks, finished
        peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        finished += 1
        return Detection(uuid=uuid)

    async def source() -> AsyncIterator[str]:
        for i in range(100_000):
            yield f"u{i}"

    stream = ResultStream(source(), job, workers=16)
    count = 0
    async with stream:
        async for _ in stream:
            count += 1
            for _ in range(2):  # a slow reader: unchecked, the workers would run far ahead
                await asyncio.sleep(0)
            peak_unread = max(peak_unread, finished - count)
    assert count == 100_000
    assert peak_tasks <= 16 + 2  # the workers, the test task, nothing per uuid
    # the documented max(16, 2 x workers) waiting outcomes, plus one in hand per worker
    assert peak_unread <= 2 * 16 + 16


async def test_outcomes_serialize_to_json_and_back(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Outcomes round-trip through JSON (for JSONL output and resuming)."""
    ok = fake.add_detection(polls_to_complete=0, label="fake")
    outcomes = await client.fetch_many([ok, "missing"])
    lines = [json.dumps(o.to_dict()) for o in outcomes]
    back = [Outcome.from_dict(json.loads(line)) for line in lines]
    assert back[0].ok and back[0].detection == outcomes[0].detection
    assert isinstance(back[1].error, NotFoundError)
    assert back[1].error.status == 404 and "not found" in str(back[1].error).lower()


async def test_wait_for_batch_fetches_children(fake: FakeDetectAPI, client: DetectClient) -> None:
    """wait_for_batch polls to a terminal status, then fetches every child."""
    batch_uuid = fake.add_batch(3, polls_to_complete=2)
    result = await client.wait_for_batch(batch_uuid)
    assert result.batch.is_terminal and result.batch.status is not None
    assert result.batch.status.value == "completed"
    assert len(result.outcomes) == 3 and len(result.detections) == 3
    assert [o.uuid for o in result.outcomes] == list(result.batch.detect_uuids)


async def test_wait_for_batch_without_results(fake: FakeDetectAPI, client: DetectClient) -> None:
    """fetch_results=False returns only the batch."""
    batch_uuid = fake.add_batch(2, polls_to_complete=0)
    result = await client.wait_for_batch(batch_uuid, fetch_results=False)
    assert result.outcomes == () and result.batch.uuid == batch_uuid


async def test_create_batch_and_wait_partially_failed(client: DetectClient) -> None:
    """A batch with a failing file ends partially_failed; each child outcome says what happened."""
    result = await client.create_batch_and_wait(
        [("a.wav", b"RIFF....WAVE"), ("fail-b.wav", b"RIFF....WAVE")],
        audio_source_tracing=True,
    )
    assert result.batch.status is not None
    assert result.batch.status.value == "partially_failed"
    states = sorted(d.status.value for d in result.detections if d.status)
    assert states == ["completed", "failed"]


async def test_batch_timeout_keeps_batch_uuid(fake: FakeDetectAPI, clock: FakeClock) -> None:
    """A batch wait that times out carries the batch uuid and last batch state."""
    batch_uuid = fake.add_batch(2, polls_to_complete=10**9)
    async with fake_client(fake, clock=clock) as c:
        with pytest.raises(WaitTimeoutError) as info:
            await c.wait_for_batch(batch_uuid, timeout=10, poll=PollPolicy(initial=1))
    assert info.value.uuid == batch_uuid and info.value.last is not None


async def test_bad_key_fails_every_outcome_without_flooding(fake: FakeDetectAPI) -> None:
    """A 401 stops the run from sending more doomed requests; every uuid still gets an outcome."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(200)]
    async with fake_client(fake, api_key="wrong-key", max_concurrency=4) as c:
        outcomes = await c.fetch_many(uuids, concurrency=4)
    assert len(outcomes) == 200
    assert all(isinstance(o.error, AuthenticationError) for o in outcomes)
    assert len(fake.requests) <= 4


async def test_bad_key_outcomes_name_their_own_uuid(fake: FakeDetectAPI) -> None:
    """After a 401 stops the run, each outcome's error names that outcome's uuid."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(10)]
    async with fake_client(fake, api_key="wrong-key") as c:
        outcomes = await c.fetch_many(uuids, concurrency=1)
    assert [getattr(o.error, "uuid", None) for o in outcomes] == uuids


async def test_async_progress_callback_is_awaited(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """An async on_progress callback is awaited for every outcome."""
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(4)]
    seen: list[int] = []

    async def progress(p: Progress) -> None:
        seen.append(p.done)

    await client.fetch_many(uuids, on_progress=progress)
    assert seen == [1, 2, 3, 4]


async def test_failed_and_timed_out_errors_round_trip_with_their_detection(
    fake: FakeDetectAPI, clock: FakeClock
) -> None:
    """from_dict puts the detection back on DetectionFailedError and WaitTimeoutError."""
    bad = fake.add_detection(polls_to_complete=0, outcome="failed", error_message="corrupt")
    slow = fake.add_detection(polls_to_complete=10**9)
    async with fake_client(fake, clock=clock) as c:
        outcomes = await c.wait_for_many([bad, slow], poll=PollPolicy(initial=1), timeout=5)
    back = [Outcome.from_dict(json.loads(json.dumps(o.to_dict()))) for o in outcomes]
    failed, timed_out = back[0].error, back[1].error
    assert isinstance(failed, DetectionFailedError)
    assert failed.detection is not None and failed.detection.error_message == "corrupt"
    assert failed.uuid == bad
    assert isinstance(timed_out, WaitTimeoutError)
    assert timed_out.last_detection is not None and timed_out.uuid == slow
