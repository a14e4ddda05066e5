"""The rate limiter against a per-second server limit: the cap per window, 429 adaptation and
cancelled waiters, all on virtual time (FakeClock), never real sleeps."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterable

import pytest

from resemble_detect_async import PollPolicy, RetryPolicy, TokenBucket
from resemble_detect_async._limits import RequestGate
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, Fault, fake_client


class LateClock(FakeClock):
    """A FakeClock whose sleepers wake late by a repeating pattern, as a busy loop does."""

    def __init__(self, lateness: Iterable[float]) -> None:
        super().__init__()
        self._lateness = itertools.cycle(lateness)

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + next(self._lateness) if seconds > 0 else seconds)


class SlidingWindow:
    """A server limit: at most ``limit`` accepted requests in any ``window`` seconds."""

    def __init__(self, limit: int, clock: FakeClock, window: float = 1.0) -> None:
        self.limit, self.clock, self.window = limit, clock, window
        self.accepted: deque[float] = deque()

    def accept(self, delay: float = 0.0) -> bool:
        now = self.clock.now + delay
        while self.accepted and now - self.accepted[0] >= self.window:
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            return False
        self.accepted.append(now)
        return True


async def starts_of(bucket: TokenBucket, clock: FakeClock, n: int) -> list[float]:
    """Start ``n`` concurrent acquirers; return the times at which they got their permit."""
    starts: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        starts.append(clock.now)

    await asyncio.gather(*(one() for _ in range(n)))
    return starts


# --- the cap per window ----------------------------------------------------------------------


async def test_late_wake_ups_never_put_41_starts_in_a_second() -> None:
    """With wake-ups up to 3 ms late, any 41 consecutive starts span at least 1 s + margin."""
    clock = LateClock([0.003, 0.0, 0.001, 0.0, 0.002])
    bucket = TokenBucket(40.0, clock=clock)
    starts = await starts_of(bucket, clock, 400)
    spans = [later - first for first, later in zip(starts, starts[40:], strict=False)]
    assert min(spans) >= 1.0 + bucket.margin - 1e-9


async def test_a_server_counting_a_sliding_second_refuses_nothing() -> None:
    """Late wake-ups plus up to 20 ms between start and arrival: a 40/s server accepts all."""
    clock = LateClock([0.004, 0.0, 0.0, 0.002, 0.001, 0.0, 0.003])
    bucket = TokenBucket(40.0, clock=clock)
    server = SlidingWindow(40, clock)
    delays = itertools.cycle([0.02, 0.0, 0.011, 0.005, 0.0, 0.017])
    refused = 0

    async def one() -> None:
        nonlocal refused
        await bucket.acquire()
        refused += not server.accept(delay=next(delays))

    await asyncio.gather(*(one() for _ in range(300)))
    assert refused == 0


async def test_on_a_punctual_clock_the_cap_costs_only_the_margin() -> None:
    """Starts come 25 ms apart; the 41st waits until 1 s + margin after the 1st; spacing resumes."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock, margin=0.01)
    starts = await starts_of(bucket, clock, 42)
    assert starts[:40] == pytest.approx([i * 0.025 for i in range(40)])
    assert starts[40:] == pytest.approx([1.01, 1.035])


async def test_a_slow_request_pushes_the_window_back_by_its_extra_latency() -> None:
    """A first request 98 ms slower than the rest (a new connection) delays the 41st by 98 ms."""
    clock = FakeClock()
    gate = RequestGate(max_concurrency=64, limiter=TokenBucket(40.0, clock=clock, margin=0.01))
    starts: list[float] = []

    async def request(took: float) -> None:
        async with gate.slot():
            starts.append(clock.now)
            await clock.sleep(took)

    await asyncio.gather(request(0.1), *(request(0.002) for _ in range(40)))
    assert starts[40] == pytest.approx(1.0 + 0.01 + 0.098)


async def test_a_request_still_running_delays_the_window_at_most_a_quarter_second() -> None:
    """A request that has not ended (a long upload) may have arrived late: at most 0.25 s."""
    clock = FakeClock()
    gate = RequestGate(max_concurrency=64, limiter=TokenBucket(40.0, clock=clock, margin=0.01))
    starts: list[float] = []

    async def request(took: float) -> None:
        async with gate.slot():
            starts.append(clock.now)
            await clock.sleep(took)

    await asyncio.gather(request(30.0), *(request(0.002) for _ in range(40)))
    assert starts[40] == pytest.approx(1.0 + 0.01 + 0.25)


async def test_burst_never_lifts_the_cap_per_second() -> None:
    """A burst of 40 starts them at once, but the next ones wait for the window to age out."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, burst=40, clock=clock)
    starts = await starts_of(bucket, clock, 41)
    assert starts[:40] == [0.0] * 40
    assert starts[40] == pytest.approx(1.0 + bucket.margin)


# --- cancelled waiters -----------------------------------------------------------------------


async def test_cancelled_waiters_leave_no_reserved_slots() -> None:
    """Cancelling 40 queued acquires gives their slots back: the next acquire is immediate."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock)
    await bucket.acquire()
    waiters = [asyncio.create_task(bucket.acquire()) for _ in range(40)]
    for _ in range(3):
        await asyncio.sleep(0)  # every waiter reaches its wait
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await clock.sleep(0.025)  # the spacing after the one request that did start
    before = clock.now
    await bucket.acquire()
    assert clock.now == before


async def test_a_cancelled_bulk_run_does_not_delay_the_next_call() -> None:
    """Waiters cancelled at the gate (a cancelled bulk run) hold no slots for the next call."""
    clock = FakeClock()
    gate = RequestGate(max_concurrency=64, limiter=TokenBucket(40.0, clock=clock))

    async def request() -> None:
        async with gate.slot():
            await clock.sleep(0.001)

    run = [asyncio.create_task(request()) for _ in range(64)]
    await clock.sleep(0.1)  # a few requests went out, the rest queue at the limiter
    for task in run:
        task.cancel()
    await asyncio.gather(*run, return_exceptions=True)
    await clock.sleep(0.025)
    before = clock.now
    await request()
    assert clock.now - before == pytest.approx(0.001)


# --- what a 429 does -------------------------------------------------------------------------


async def test_retry_after_holds_every_start_and_keeps_the_rate() -> None:
    """A 429 with Retry-After pauses every start until then; the rate is not cut."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock)
    await bucket.acquire()
    bucket.on_rate_limited(2.0)
    starts = await starts_of(bucket, clock, 3)
    assert min(starts) >= 2.0
    assert bucket.current_rate == 10.0


async def test_starts_held_by_a_pause_catch_up_within_the_window_cap() -> None:
    """After a hold the held starts go back to back, never more than the rate in one window."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock)
    bucket.pause(2.0)
    starts = await starts_of(bucket, clock, 25)
    assert starts[:10] == pytest.approx([2.0] * 10)  # the emptied window's worth, at once
    assert all(later - earlier >= 1.0 for earlier, later in zip(starts, starts[10:], strict=False))
    assert starts[-1] - starts[-2] == pytest.approx(0.1, abs=0.03)  # spaced again after


async def test_a_bare_429_slows_down_instead_of_stopping() -> None:
    """A 429 without Retry-After cuts the rate by the refused share and pauses nobody."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock)
    await starts_of(bucket, clock, 20)  # t = 0 .. 0.475
    bucket.on_rate_limited(None)  # 1 refused among the last second's 20 starts
    assert bucket.current_rate == pytest.approx(40 * (1 - 1 / 20))
    before = clock.now
    await bucket.acquire()
    assert clock.now - before < 0.1  # slower, not stopped


async def test_bare_429s_cut_the_rate_once_per_window() -> None:
    """A burst of bare 429s cuts once (they answer starts made at the old rate); later, again."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock)
    await starts_of(bucket, clock, 40)  # t = 0 .. 0.975
    for _ in range(10):
        bucket.on_rate_limited(None)
    assert bucket.current_rate == pytest.approx(40 * (1 - 1 / 40))
    await clock.sleep(1.0)
    bucket.on_rate_limited(None)  # no start in the last second: all refused, but at most half
    assert bucket.current_rate == pytest.approx(40 * 0.5)


async def test_the_rate_climbs_back_to_the_configured_one() -> None:
    """After a cut the rate grows by 5 % of the configured rate per second, up to it."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock)
    bucket.on_rate_limited(None)  # nothing started: the whole (empty) window refused
    assert bucket.current_rate == 20.0
    await clock.sleep(2.0)
    assert bucket.current_rate == pytest.approx(24.0)
    await clock.sleep(60.0)
    assert bucket.current_rate == 40.0


async def test_the_rate_never_drops_below_the_floor() -> None:
    """However many bare 429s arrive, the rate stays at or above min_rate."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock, min_rate=5.0)
    for _ in range(20):
        await clock.sleep(1.0)
        bucket.on_rate_limited(None)
    assert bucket.current_rate == 5.0


async def test_against_a_server_allowing_20_per_second_the_bucket_settles_near_20() -> None:
    """Bare 429s from a 20/s server bring a 40/s bucket down; refusals then stay rare."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock)
    server = SlidingWindow(20, clock)
    refused_late = accepted_late = 0
    while clock.now < 20.0:
        await bucket.acquire()
        accepted = server.accept()
        if not accepted:
            bucket.on_rate_limited(None)
        if clock.now >= 5.0:
            accepted_late += accepted
            refused_late += not accepted
    assert 18 <= bucket.current_rate <= 25  # type: ignore[operator]
    assert refused_late <= 0.15 * (accepted_late + refused_late)


async def test_the_unlimited_bucket_ignores_bare_429s() -> None:
    """rate=None has no rate to cut: a bare 429 holds nobody, a Retry-After still does."""
    clock = FakeClock()
    bucket = TokenBucket(None, clock=clock)
    bucket.on_rate_limited(None)
    await bucket.acquire()
    assert clock.now == 0.0 and bucket.current_rate is None
    bucket.on_rate_limited(1.5)
    await bucket.acquire()
    assert clock.now == 1.5


def test_a_bucket_outlives_its_event_loop() -> None:
    """A TokenBucket shared between clients keeps working in the next asyncio.run."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock)

    async def three_at_once() -> None:
        await asyncio.gather(*(bucket.acquire() for _ in range(3)))

    asyncio.run(three_at_once())
    asyncio.run(three_at_once())
    assert clock.now == pytest.approx(0.125)


def test_bucket_settings_are_validated() -> None:
    """A negative margin or a non-positive floor is refused at construction."""
    with pytest.raises(ValueError, match="margin"):
        TokenBucket(40.0, clock=FakeClock(), margin=-0.1)
    with pytest.raises(ValueError, match="min_rate"):
        TokenBucket(40.0, clock=FakeClock(), min_rate=0)
    assert TokenBucket(0.5, clock=FakeClock()).min_rate == 0.5  # the floor is never above rate


# --- the gate, old and new limiters ----------------------------------------------------------


class PausingOnly:
    """A limiter of the original protocol: acquire and pause, no on_rate_limited."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def acquire(self) -> None:
        return None

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


class Adaptive(PausingOnly):
    """A limiter that wants to hear about each 429 itself."""

    def __init__(self) -> None:
        super().__init__()
        self.signals: list[float | None] = []

    def on_rate_limited(self, retry_after: float | None) -> None:
        self.signals.append(retry_after)


def test_a_limiter_without_on_rate_limited_is_paused_for_every_429() -> None:
    """Backward compatibility: the original protocol still gets pause(wait) for each 429."""
    limiter = PausingOnly()
    gate = RequestGate(max_concurrency=1, limiter=limiter)
    gate.rate_limited(2.0, None)
    gate.rate_limited(3.0, 3.0)
    assert limiter.pauses == [2.0, 3.0]


def test_a_limiter_with_on_rate_limited_hears_whether_the_server_said_when() -> None:
    """on_rate_limited gets the Retry-After (or None) instead of a pause."""
    limiter = Adaptive()
    gate = RequestGate(max_concurrency=1, limiter=limiter)
    gate.rate_limited(2.0, None)
    gate.rate_limited(3.0, 3.0)
    assert limiter.signals == [None, 3.0] and limiter.pauses == []


# --- through the client ----------------------------------------------------------------------


async def test_a_bare_429_does_not_hold_the_other_requests(clock: FakeClock) -> None:
    """One bare 429 delays only its own request (backoff); the rest of the run goes on."""
    async with FakeDetectAPI(clock=clock) as fake:
        uuids = [fake.add_detection(polls_to_complete=0) for _ in range(10)]
        fake.inject(Fault.rate_limited(times=1, method="GET"))
        retry = RetryPolicy(initial=2.0, jitter=False)
        async with fake_client(
            fake, clock=clock, retry=retry, poll=PollPolicy(), rate_limit=40.0
        ) as client:
            outcomes = await client.fetch_many(uuids)
        assert all(o.ok for o in outcomes)
        others = [r.at for r in fake.requests if r.status == 200][:-1]
        assert len(others) == 9 and max(others) < 2.0  # nobody waited out the 2 s backoff


class Recorder:
    """A limiter wrapping a TokenBucket that records what the client told it about 429s."""

    def __init__(self, inner: TokenBucket) -> None:
        self.inner = inner
        self.signals: list[float | None] = []

    async def acquire(self) -> None:
        await self.inner.acquire()

    def pause(self, seconds: float) -> None:
        raise AssertionError("an adaptive limiter is told about 429s, never paused")

    def on_rate_limited(self, retry_after: float | None) -> None:
        self.signals.append(retry_after)
        self.inner.on_rate_limited(retry_after)


async def test_the_client_tells_its_limiter_whether_a_429_said_when(clock: FakeClock) -> None:
    """A bare 429 reaches the limiter as None, a Retry-After: 2 as 2.0."""
    async with FakeDetectAPI(clock=clock) as fake:
        uuid = fake.add_detection(polls_to_complete=0)
        fake.inject(Fault.rate_limited(times=1))
        fake.inject(Fault.rate_limited(2, times=1))
        limiter = Recorder(TokenBucket(40.0, clock=clock))
        retry = RetryPolicy(jitter=False)
        async with fake_client(fake, clock=clock, retry=retry, rate_limiter=limiter) as client:
            assert (await client.get_detection(uuid)).uuid == uuid
        assert limiter.signals == [None, 2.0]
