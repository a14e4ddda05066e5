"""The single retry layer: what is retried, how long to wait, and when to give up.

Waits come from ``backoff``'s exponential generator with its full jitter; the loop is ours
so that sleeping goes through the client's :class:`~resemble_detect_async.Clock` (fake in
tests), ``Retry-After`` is honoured exactly, and a 429 pauses the whole client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import backoff

from . import errors
from ._config import Clock, RetryPolicy
from ._sansio import Request

__all__ = [
    "RETRY_RULES",
    "RetryRule",
    "ends_wait",
    "is_retryable",
    "send_with_retries",
    "stops_run",
]

log = logging.getLogger("resemble_detect_async")
T = TypeVar("T")


def _status(error: BaseException) -> int | None:
    return error.status if isinstance(error, errors.APIStatusError) else None


@attrs.frozen
class RetryRule:
    """One row of the retry table: which failures it covers and who may try again.

    ``idempotent``: whether GET and DELETE are sent again. ``creating``: whether a POST is
    sent again; every POST here creates (and bills) something, so only a failure that
    proves the request never reached the server (or was refused before anything was
    created) may say yes.
    """

    name: str
    matches: Callable[[BaseException], bool]
    idempotent: bool
    creating: bool


# The retry table: the first row that matches decides; no row, no retry. Adding a retry
# rule means adding a row here (and its case in tests/test_retry_and_limits.py).
RETRY_RULES: tuple[RetryRule, ...] = (
    RetryRule(
        "the connection could not be opened (the request never left)",
        lambda e: isinstance(e, errors.TransportError) and not e.request_sent,
        idempotent=True,
        creating=True,
    ),
    RetryRule(
        "timeout or dropped connection after sending",
        lambda e: isinstance(e, errors.TransportError),
        idempotent=True,
        creating=False,
    ),
    RetryRule("408 request timeout", lambda e: _status(e) == 408, idempotent=True, creating=False),
    # A 429 was refused before anything was created (or billed): safe to send again, after
    # the Retry-After the server asked for (API notes §15).
    RetryRule("429 rate limited", lambda e: _status(e) == 429, idempotent=True, creating=True),
    RetryRule(
        "501 and 505: a retry cannot help",
        lambda e: _status(e) in (501, 505),
        idempotent=False,
        creating=False,
    ),
    RetryRule(
        "5xx server error",
        lambda e: 500 <= (_status(e) or 0) <= 599,
        idempotent=True,
        creating=False,
    ),
    RetryRule(
        "a 2xx body that is not JSON (cut off on the way)",
        lambda e: isinstance(e, errors.ResponseValidationError) and e.truncated,
        idempotent=True,
        creating=False,
    ),
)


def retry_rule(error: BaseException) -> RetryRule | None:
    """The row of :data:`RETRY_RULES` that decides about ``error`` (None: never retried)."""
    for rule in RETRY_RULES:
        if rule.matches(error):
            return rule
    return None


def is_retryable(error: BaseException, *, idempotent: bool) -> bool:
    """May a request be sent again after ``error``? (See :data:`RETRY_RULES`.)"""
    rule = retry_rule(error)
    if rule is None:
        return False
    return rule.idempotent if idempotent else rule.creating


def ends_wait(error: BaseException) -> bool:
    """Does ``error`` from a poll end the wait at once?

    Polls are GETs: what the retry table retries is transient, and after the retry layer
    gave up the wait keeps polling until its deadline. Anything else (404, 401, a body that
    cannot be read...) will not change by polling again.
    """
    return not is_retryable(error, idempotent=True)


def stops_run(error: BaseException) -> bool:
    """Does ``error`` for one item stop a bulk run from sending more requests?

    A refused key (401) answers every other request the same way, so a run of thousands
    stops sending and reports the same error for each remaining item.
    """
    return isinstance(error, errors.AuthenticationError)


def pauses_client(error: BaseException) -> bool:
    """A 429 reaches the client's limiter (hold everyone, or slow down), retried or not."""
    return _status(error) == 429


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
    pause_all: Callable[[float, float | None], None],
    deadline: float | None = None,
    on_attempt: Callable[[int, BaseException | None, float | None], None] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, a non-retryable error occurs, or a bound is hit.

    Bounds: ``policy.attempts`` tries, ``policy.timeout`` seconds in total, and the caller's
    ``deadline`` (a clock time; the poll loop passes its overall deadline so a retry never
    sleeps past it). A 429 calls ``pause_all(wait, retry_after)``, even when this request
    itself is not retried: ``retry_after`` is the server's honoured ``Retry-After`` (hold
    every request of the client), or None for a bare 429 (slow down).
    ``on_attempt(try, error, wait)`` hears about every attempt: its number, its error (None
    on success) and the wait before the next try (None when there is none).
    """
    start = clock.monotonic()
    next_wait: Callable[[], float] | None = None  # made on the first failure: most calls succeed
    tries = 0
    while True:
        tries += 1
        try:
            result = await attempt()
        except (
            errors.TransportError,
            errors.APIStatusError,
            errors.ResponseValidationError,
        ) as exc:
            server_wait = exc.retry_after if isinstance(exc, errors.APIStatusError) else None
            if server_wait is not None and policy.respect_retry_after:
                wait = server_wait
            else:
                next_wait = next_wait or _waits(policy)
                wait = next_wait()
            if pauses_client(exc):
                # Hold everyone, but never longer than we would wait ourselves: a server
                # asking for an hour gets a RateLimitError for the caller to decide. Without
                # a Retry-After to honour, the limiter may slow down instead (API notes §15).
                held = min(wait, policy.max_retry_after)
                said = server_wait is not None and policy.respect_retry_after
                pause_all(held, held if said else None)
            now = clock.monotonic()
            too_long = (
                server_wait is not None
                and policy.respect_retry_after
                and server_wait > policy.max_retry_after
            )
            retrying = (
                is_retryable(exc, idempotent=request.idempotent)
                and tries < policy.attempts
                and not too_long
                and not (policy.timeout is not None and now + wait - start > policy.timeout)
                and not (deadline is not None and now + wait > deadline)
            )
            if on_attempt is not None:
                on_attempt(tries, exc, wait if retrying else None)
            if not retrying:
                if (
                    too_long
                    and is_retryable(exc, idempotent=request.idempotent)
                    and tries < policy.attempts
                ):
                    log.warning(
                        "%s %s: server asked to retry after %.0f s, over max_retry_after; "
                        "giving up",
                        request.method,
                        request.path,
                        server_wait,
                    )
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
        else:
            if on_attempt is not None:
                on_attempt(tries, None, None)
            return result


def _reason(error: BaseException) -> str:
    if isinstance(error, errors.APIStatusError):
        return f"HTTP {error.status}"
    return type(error).__name__
