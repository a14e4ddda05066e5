"""The retry layer and the client-wide gate, under a fake clock (no real sleeps)."""

from __future__ import annotations

import asyncio

import pytest

from resemble_detect_async import RetryPolicy, TokenBucket, errors
from resemble_detect_async._limits import RequestGate
from resemble_detect_async._retry import send_with_retries
from resemble_detect_async._sansio import Request
from resemble_detect_async.testing import FakeClock

GET = Request(method="GET", path="/detect/x")
POST = Request(method="POST", path="/detect", json={"url": "https://e.com/a.wav"})


def status_error(status: int, retry_after: float | None = None) -> errors.APIStatusError:
    from resemble_detect_async._sansio import error_for_status

    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return error_for_status(status, headers, {"message": f"HTTP {status}"})


class Script:
    """An attempt function that raises the scripted errors, then returns "ok"."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


class Signals(list[tuple[float, float | None]]):
    """What the retry layer told the gate about 429s: ``(wait, retry_after)`` per call."""

    def __call__(self, wait: float, retry_after: float | None) -> None:
        self.append((wait, retry_after))


async def run(
    script: Script,
    request: Request = GET,
    policy: RetryPolicy | None = None,
    clock: FakeClock | None = None,
    deadline: float | None = None,
) -> tuple[str, Signals]:
    clock = clock or FakeClock()
    signals = Signals()
    result = await send_with_retries(
        script,
        request=request,
        policy=policy or RetryPolicy(),
        clock=clock,
        pause_all=signals,
        deadline=deadline,
    )
    return result, signals


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_get_retries_transient_statuses(status: int) -> None:
    """GET is retried on 408, 429 and 5xx until it succeeds."""
    script = Script(status_error(status), status_error(status))
    result, _ = await run(script)
    assert result == "ok" and script.calls == 3


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
async def test_get_does_not_retry_client_errors(status: int) -> None:
    """4xx other than 408/429 are final."""
    script = Script(status_error(status))
    with pytest.raises(errors.APIStatusError):
        await run(script)
    assert script.calls == 1


async def test_get_retries_timeouts_and_resets() -> None:
    """Timeouts and dropped connections on GET are retried."""
    script = Script(
        errors.APITimeoutError("t", method="GET", path="/x"),
        errors.APIConnectionError("reset", method="GET", path="/x"),
    )
    assert (await run(script))[0] == "ok"
    assert script.calls == 3


@pytest.mark.parametrize(
    "failure",
    [
        status_error(500),
        status_error(503),
        errors.APITimeoutError("read timeout", method="POST", path="/detect"),
        errors.APIConnectionError("server disconnected", method="POST", path="/detect"),
    ],
)
async def test_post_that_may_have_arrived_is_never_retried(failure: Exception) -> None:
    """A creating POST is not repeated once it may have reached the server (it bills)."""
    script = Script(failure)
    with pytest.raises(type(failure)):
        await run(script, request=POST)
    assert script.calls == 1


async def test_post_429_is_retried_after_the_servers_wait() -> None:
    """A 429 refused the POST before anything was created: it is sent again after Retry-After."""
    clock = FakeClock()
    script = Script(status_error(429, retry_after=3))
    result, pauses = await run(script, request=POST, clock=clock)
    assert result == "ok" and script.calls == 2
    assert pauses == [(3.0, 3.0)] and clock.sleeps == [3.0]


async def test_post_is_retried_when_connect_failed() -> None:
    """A POST whose connection was refused provably never arrived, so it is retried."""
    script = Script(
        errors.APIConnectionError("refused", method="POST", path="/detect", request_sent=False)
    )
    assert (await run(script, request=POST))[0] == "ok"
    assert script.calls == 2


async def test_attempts_bound() -> None:
    """The policy's attempts bound the tries; the last error is raised."""
    script = Script(*[status_error(503) for _ in range(10)])
    with pytest.raises(errors.ServerError):
        await run(script, policy=RetryPolicy(attempts=3))
    assert script.calls == 3


async def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    """Waits are random in [0, initial*multiplier**n], capped at max_wait."""
    clock = FakeClock()
    script = Script(*[status_error(503) for _ in range(6)])
    policy = RetryPolicy(attempts=7, initial=1.0, multiplier=2.0, max_wait=5.0, timeout=None)
    await run(script, policy=policy, clock=clock)
    caps = [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert len(clock.sleeps) == 6
    assert all(0.0 <= s <= cap for s, cap in zip(clock.sleeps, caps, strict=True))


async def test_backoff_without_jitter_is_exact() -> None:
    """With jitter off the schedule is the capped exponential itself."""
    clock = FakeClock()
    script = Script(*[status_error(503) for _ in range(4)])
    policy = RetryPolicy(attempts=5, initial=0.5, max_wait=2.0, jitter=False, timeout=None)
    await run(script, policy=policy, clock=clock)
    assert clock.sleeps == [0.5, 1.0, 2.0, 2.0]


async def test_retry_after_is_honoured_exactly_and_pauses_everyone() -> None:
    """A 429's Retry-After is the wait (no jitter), and the gate hears it as the hold."""
    clock = FakeClock()
    script = Script(status_error(429, retry_after=7))
    result, pauses = await run(script, clock=clock)
    assert result == "ok" and clock.sleeps == [7.0] and pauses == [(7.0, 7.0)]


async def test_429_without_retry_after_tells_the_gate_there_was_none() -> None:
    """A bare 429 reaches the gate with its backoff wait and no Retry-After (slow down)."""
    clock = FakeClock()
    script = Script(status_error(429))
    policy = RetryPolicy(initial=2.0, jitter=False)
    _, pauses = await run(script, policy=policy, clock=clock)
    assert pauses == [(2.0, None)] and clock.sleeps == [2.0]


async def test_an_ignored_retry_after_counts_as_a_bare_429() -> None:
    """With respect_retry_after off, the gate is told there was no Retry-After to honour."""
    policy = RetryPolicy(initial=1.0, jitter=False, respect_retry_after=False)
    _, pauses = await run(Script(status_error(429, retry_after=30)), policy=policy)
    assert pauses == [(1.0, None)]


async def test_a_429_past_the_last_attempt_still_pauses_the_client() -> None:
    """Even a 429 that is not retried (attempts used up) tells the gate to hold everyone."""
    pauses = Signals()
    with pytest.raises(errors.RateLimitError):
        await send_with_retries(
            Script(status_error(429, retry_after=4)),
            request=POST,
            policy=RetryPolicy.never(),
            clock=FakeClock(),
            pause_all=pauses,
        )
    assert pauses == [(4.0, 4.0)]


async def test_retry_after_over_the_cap_gives_up() -> None:
    """A Retry-After longer than max_retry_after is raised for the caller to decide."""
    script = Script(status_error(429, retry_after=3600))
    with pytest.raises(errors.RateLimitError) as info:
        await run(script, policy=RetryPolicy(max_retry_after=60))
    assert info.value.retry_after == 3600 and script.calls == 1


async def test_total_time_bound() -> None:
    """Retries stop when the next wait would exceed the policy's total timeout."""
    clock = FakeClock()
    script = Script(*[status_error(503) for _ in range(10)])
    policy = RetryPolicy(attempts=10, initial=4.0, multiplier=1.0, jitter=False, timeout=10.0)
    with pytest.raises(errors.ServerError):
        await run(script, policy=policy, clock=clock)
    assert clock.sleeps == [4.0, 4.0] and script.calls == 3


async def test_caller_deadline_bound() -> None:
    """A retry never sleeps past the caller's deadline (the poll loop's)."""
    clock = FakeClock()
    script = Script(*[status_error(503) for _ in range(10)])
    policy = RetryPolicy(attempts=10, initial=3.0, multiplier=1.0, jitter=False, timeout=None)
    with pytest.raises(errors.ServerError):
        await run(script, policy=policy, clock=clock, deadline=5.0)
    assert clock.sleeps == [3.0]


async def test_no_wait_policy_never_sleeps() -> None:
    """RetryPolicy.no_wait() retries with zero waits, ignoring Retry-After."""
    clock = FakeClock()
    script = Script(status_error(503), status_error(429, retry_after=30))
    await run(script, policy=RetryPolicy.no_wait(), clock=clock)
    assert clock.sleeps == [0.0, 0.0]


def test_policy_validation() -> None:
    """Nonsense policy values are refused at construction."""
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="initial"):
        RetryPolicy(initial=-1)


# --- the gate ------------------------------------------------------------------------------


async def test_token_bucket_spaces_requests_at_the_rate() -> None:
    """At 40 req/s, 10 acquisitions start 25 ms apart."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, clock=clock)
    starts = []
    for _ in range(10):
        await bucket.acquire()
        starts.append(clock.now)
    assert starts == pytest.approx([i * 0.025 for i in range(10)])


async def test_token_bucket_never_exceeds_rate_in_any_window() -> None:
    """Concurrent acquirers never start more than rate+burst-1 requests in one second."""
    clock = FakeClock()
    bucket = TokenBucket(40.0, burst=5, clock=clock)
    starts: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        starts.append(clock.now)

    await asyncio.gather(*(one() for _ in range(200)))
    starts.sort()
    for i, t in enumerate(starts):
        in_window = [s for s in starts[i:] if s < t + 1.0]
        assert len(in_window) <= 40 + 5 - 1


async def test_pause_holds_every_acquirer() -> None:
    """After pause(5), nobody starts before t=5; the held starts then catch up at once."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock)
    bucket.pause(5.0)
    starts: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        starts.append(clock.now)

    await asyncio.gather(*(one() for _ in range(3)))
    assert min(starts) >= 5.0
    assert sorted(starts) == pytest.approx([5.0, 5.0, 5.0])


async def test_unlimited_bucket_still_pauses() -> None:
    """rate=None never waits, except for a 429 pause."""
    clock = FakeClock()
    bucket = TokenBucket(None, clock=clock)
    for _ in range(100):
        await bucket.acquire()
    assert clock.now == 0.0
    bucket.pause(2.0)
    await bucket.acquire()
    assert clock.now == 2.0


async def test_gate_caps_in_flight() -> None:
    """The gate never lets more than max_concurrency attempts run at once."""
    clock = FakeClock()
    gate = RequestGate(max_concurrency=4, limiter=TokenBucket(None, clock=clock))
    running = 0
    peak = 0

    async def one() -> None:
        nonlocal running, peak
        async with gate.slot():
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0)
            running -= 1

    await asyncio.gather(*(one() for _ in range(50)))
    assert peak == 4 and gate.max_in_flight == 4 and gate.in_flight == 0


def test_bucket_validation() -> None:
    """A non-positive rate is refused."""
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, clock=FakeClock())


@pytest.mark.parametrize(
    ("status", "retried"), [(501, False), (505, False), (599, True), (520, True)]
)
async def test_which_5xx_are_retried(status: int, retried: bool) -> None:
    """Every 5xx is retried on GET except 501 and 505, which a retry cannot fix."""
    script = Script(status_error(status))
    if retried:
        assert (await run(script))[0] == "ok"
    else:
        with pytest.raises(errors.ServerError):
            await run(script)
    assert script.calls == (2 if retried else 1)


async def test_a_huge_retry_after_never_freezes_the_client() -> None:
    """Retry-After: 3600 is raised to the caller and pauses the client at most max_retry_after."""
    script = Script(status_error(429, retry_after=3600))
    with pytest.raises(errors.RateLimitError):
        _, _ = await run(script, policy=RetryPolicy(max_retry_after=60))
    pauses = Signals()
    with pytest.raises(errors.RateLimitError):
        await send_with_retries(
            Script(status_error(429, retry_after=3600)),
            request=GET,
            policy=RetryPolicy(max_retry_after=60),
            clock=FakeClock(),
            pause_all=pauses,
        )
    assert pauses == [(60.0, 60.0)]
