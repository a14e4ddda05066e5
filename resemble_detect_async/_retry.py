"""The single retry layer: what is retried, how long to wait, and when to give up.

Waits come from ``backoff``'s exponential generator with its full jitter; the loop is ours
so that sleeping goes through the client's :class:`~resemble_detect_async.Clock` (fake in
tests), ``Retry-After`` is honoured exactly, and a 429 pauses the whole client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import backoff

from . import errors
from ._config import Clock, RetryPolicy
from ._sansio import Request, is_retryable_status

__all__ = ["is_retryable", "send_with_retries"]

log = logging.getLogger("resemble_detect_async")
T = TypeVar("T")


def is_retryable(error: BaseException, *, idempotent: bool) -> bool:
    """May a request be sent again after ``error``?

    Idempotent requests (GET, DELETE): on transport errors, on 408, 429 and 5xx (but 501
    and 505, which a retry cannot fix), and on a
    2xx body that is not JSON at all (cut off on the way).
    Creating requests (every POST here may bill a detection): only when the connection
    could not be opened, i.e. the request provably never reached the server.
    """
    if isinstance(error, errors.TransportError):
        return idempotent or not error.request_sent
    if isinstance(error, errors.APIStatusError):
        return idempotent and is_retryable_status(error.status)
    if isinstance(error, errors.ResponseValidationError):
        return idempotent and error.truncated
    return False


def _waits(policy: RetryPolicy) -> Callable[[], float]:
    """Successive jittered exponential waits, as ``backoff`` computes them."""
    generator = backoff.expo(
        base=policy.multiplier, factor=policy.initial, max_value=policy.max_wait
    )
    next(generator)  # backoff's generators are primed with a first next()/send(None)

    def next_wait() -> float:
        value = float(next(generator))
        return float(backoff.full_jitter(value)) if policy.jitter else value

    return next_wait


async def send_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    request: Request,
    policy: RetryPolicy,
    clock: Clock,
    pause_all: Callable[[float], None],
    deadline: float | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, a non-retryable error occurs, or a bound is hit.

    Bounds: ``policy.attempts`` tries, ``policy.timeout`` seconds in total, and the caller's
    ``deadline`` (a clock time; the poll loop passes its overall deadline so a retry never
    sleeps past it). A 429 calls ``pause_all`` with the wait, holding every request of the
    client, even when this request itself is not retried.
    """
    start = clock.monotonic()
    next_wait = _waits(policy)
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except (
            errors.TransportError,
            errors.APIStatusError,
            errors.ResponseValidationError,
        ) as exc:
            server_wait = exc.retry_after if isinstance(exc, errors.APIStatusError) else None
            if server_wait is not None and policy.respect_retry_after:
                wait = server_wait
            else:
                wait = next_wait()
            if isinstance(exc, errors.APIStatusError) and exc.status == 429:
                # Hold everyone, but never longer than we would wait ourselves: a server
                # asking for an hour gets a RateLimitError for the caller to decide.
                pause_all(min(wait, policy.max_retry_after))
            if not is_retryable(exc, idempotent=request.idempotent) or tries >= policy.attempts:
                raise
            now = clock.monotonic()
            if (
                server_wait is not None
                and policy.respect_retry_after
                and server_wait > policy.max_retry_after
            ):
                log.warning(
                    "%s %s: server asked to retry after %.0f s, over max_retry_after; giving up",
                    request.method,
                    request.path,
                    server_wait,
                )
                raise
            if policy.timeout is not None and now + wait - start > policy.timeout:
                raise
            if deadline is not None and now + wait > deadline:
                raise
            log.info(
                "%s %s failed (%s); retry %d/%d in %.2f s",
                request.method,
                request.path,
                _reason(exc),
                tries,
                policy.attempts - 1,
                wait,
            )
            await clock.sleep(wait)


def _reason(error: BaseException) -> str:
    if isinstance(error, errors.APIStatusError):
        return f"HTTP {error.status}"
    return type(error).__name__
