"""Settings as users pass them: numbers where numbers are natural, typed errors otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from resemble_detect_async import (
    ConfigurationError,
    DetectClient,
    InvalidRequestError,
    PollPolicy,
    RetryPolicy,
    SystemClock,
    Timeouts,
    TokenBucket,
)
from resemble_detect_async.testing import FakeDetectAPI, fake_client

KEY = "sk-settings-0123"
BASE = "https://api.test/api/v2"


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Timeouts(read=0), "read"),
        (lambda: Timeouts(connect="5"), "connect"),  # type: ignore[arg-type]
        (lambda: Timeouts(upload=float("nan")), "upload"),
        (lambda: PollPolicy(timeout=0), "timeout"),
        (lambda: PollPolicy(jitter=1.5), "jitter"),
        (lambda: RetryPolicy(attempts=0), "attempts"),
        (lambda: RetryPolicy(attempts=2.5), "attempts"),  # type: ignore[arg-type]
        (lambda: TokenBucket(0, clock=SystemClock()), "rate"),
        (lambda: TokenBucket(40, burst=0, clock=SystemClock()), "burst"),
        (lambda: Timeouts.of(-1), "timeouts"),
    ],
)
def test_bad_policy_values_are_configuration_errors(build: Any, match: str) -> None:
    """Every policy refuses bad values with the SDK's own typed error (still a ValueError)."""
    with pytest.raises(ConfigurationError, match=match) as caught:
        build()
    assert isinstance(caught.value, ValueError)


def test_a_number_of_seconds_is_a_timeout() -> None:
    """DetectClient(timeouts=30) means 30 s to connect and for each read."""
    client = DetectClient(KEY, base_url=BASE, timeouts=30)
    assert client._timeouts == Timeouts(connect=30, read=30, wait_read=600)
    assert DetectClient(KEY, base_url=BASE, timeouts=900)._timeouts.wait_read == 900


def test_max_retries_beside_the_policy() -> None:
    """max_retries=N means N retries after the first try; retry=3 points to it."""
    assert DetectClient(KEY, base_url=BASE, max_retries=2)._retry.attempts == 3
    assert DetectClient(KEY, base_url=BASE, max_retries=0)._retry.attempts == 1
    with pytest.raises(ConfigurationError, match="max_retries=3"):
        DetectClient(KEY, base_url=BASE, retry=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not both"):
        DetectClient(KEY, base_url=BASE, retry=RetryPolicy(), max_retries=1)
    with pytest.raises(ConfigurationError, match="max_retries"):
        DetectClient(KEY, base_url=BASE, max_retries=-1)


def test_a_limiter_with_a_sync_acquire_is_refused_at_construction() -> None:
    """A limiter whose acquire() is not async would fail on first use: refused up front."""

    class SyncLimiter:
        def acquire(self) -> None:
            pass

        def pause(self, seconds: float) -> None:
            pass

    with pytest.raises(ConfigurationError, match="async def acquire"):
        DetectClient(KEY, base_url=BASE, rate_limiter=SyncLimiter())  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["wait_for_result", "create_and_wait", "wait_for_batch"])
async def test_a_callback_that_is_not_callable_fails_before_any_request(
    fake: FakeDetectAPI, method: str
) -> None:
    """on_update="print" is refused before a GET (or a billed POST) is sent."""
    async with fake_client(fake) as client:
        call = getattr(client, method)
        args: dict[str, Any] = {"on_update": "print"}
        with pytest.raises(InvalidRequestError, match="on_update"):
            if method == "create_and_wait":
                await call(url="https://example.com/a.wav", **args)
            else:
                await call("u-1", **args)
    assert fake.requests == []
