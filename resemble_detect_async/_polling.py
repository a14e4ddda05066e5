"""Waiting for results: a state loop over GET, not a retry loop.

The retry layer below handles one request's transient failures; this loop decides from the
*state* whether to poll again: while ``status`` is processing, missing or unknown (API notes
§3.4, §11), and optionally while intelligence or watermark analysis still runs. It owns the
overall deadline and the interval schedule (see ``PollPolicy``).
"""

from __future__ import annotations

import inspect
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar, cast

from . import errors
from ._config import Clock, PollPolicy, cut_off_at
from ._retry import ends_wait
from .models import Batch, Detection

__all__ = ["Fetch", "UpdateCallback", "poll_until", "wait_for_batch", "wait_for_result", "watch"]

UpdateCallback: TypeAlias = Callable[[Detection], object]
S = TypeVar("S", Detection, Batch)
Fetch: TypeAlias = Callable[[float | None], Awaitable[S]]
"""One poll: fetch the current state; the argument is the wait's deadline (clock time)."""

_rng = random.Random()


def jittered(interval: float, jitter: float) -> float:
    """Stretch ``interval`` by a random factor in [1, 1 + jitter].

    Jitter only lengthens, so the interval never drops below the policy's floor (the API
    notes, API notes §15, suggest keeping polls at least 2 s apart).
    """
    if jitter <= 0 or interval <= 0:
        return interval
    return interval * _rng.uniform(1.0, 1.0 + jitter)


async def poll_until(
    fetch: Fetch[S],
    done: Callable[[S], bool],
    *,
    uuid: str,
    clock: Clock,
    timeout: float | None,
    poll: PollPolicy,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> AsyncGenerator[S, None]:
    """Yield states from ``fetch`` until ``done``; raise WaitTimeoutError at the deadline.

    ``sleep`` sleeps between polls (default ``clock.sleep``; the client passes one that a
    ``close()`` interrupts at once).

    The deadline has one mechanism, on the wait's own clock: the loop sleeps at most until
    the deadline (one last poll right at it), and every poll is cut off by
    :func:`~resemble_detect_async._config.cut_off_at` shortly after it, so a poll stuck
    behind the rate limiter, a 429 pause or a slow server cannot stretch the wait. The
    grace (a tenth of the timeout, at most 1 s) lets the last poll finish.
    """
    deadline = None if timeout is None else clock.monotonic() + timeout
    cut_off = None if deadline is None or timeout is None else deadline + min(1.0, 0.1 * timeout)
    intervals = poll.intervals()
    last: S | None = None
    last_error: BaseException | None = None
    delivered: object = None  # what a callback brought: True (poll now) or a trusted state
    if poll.first_delay > 0:
        first = poll.first_delay if deadline is None else min(poll.first_delay, timeout or 0.0)
        delivered = await (sleep or clock.sleep)(first) or True
    while True:
        if delivered is None or delivered is True:
            try:
                async with cut_off_at(clock, cut_off):
                    state = await fetch(deadline)
            except errors.ResembleError as exc:
                if ends_wait(exc):
                    raise
                last_error = exc
                state = None
            except TimeoutError:  # the cut-off fired (our own timeouts are ResembleErrors)
                raise errors.WaitTimeoutError(
                    uuid, timeout=timeout, last=last, last_error=last_error
                ) from None
        else:
            state = cast(S, delivered)  # a trusted callback's state: no GET needed
        if state is not None:
            last, last_error = state, None
            yield state
            if done(state):
                return
        now = clock.monotonic()
        if deadline is not None and now >= deadline:
            raise errors.WaitTimeoutError(uuid, timeout=timeout, last=last, last_error=last_error)
        delay = jittered(next(intervals), poll.jitter)
        if deadline is not None:
            delay = min(delay, deadline - now)  # one last poll right at the deadline
        delivered = await (sleep or clock.sleep)(delay)


def detection_done(wait_for_intelligence: bool) -> Callable[[Detection], bool]:
    """When a wait for a detection is over: failed, or completed (and, if asked, its
    intelligence and watermark analysis finished too, since they can trail it)."""

    def done(detection: Detection) -> bool:
        if detection.is_failed:
            return True
        if not detection.is_completed:
            return False
        return not wait_for_intelligence or not (
            detection.is_intelligence_pending or detection.is_watermark_pending
        )

    return done


def watch(
    fetch: Fetch[Detection],
    *,
    uuid: str,
    clock: Clock,
    timeout: float | None,
    poll: PollPolicy,
    wait_for_intelligence: bool = False,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> AsyncGenerator[Detection, None]:
    """Every polled state of one detection until it is terminal (failed included)."""
    return poll_until(
        fetch,
        detection_done(wait_for_intelligence),
        uuid=uuid,
        clock=clock,
        timeout=timeout,
        poll=poll,
        sleep=sleep,
    )


async def _call(callback: Callable[[Any], object] | None, value: Any) -> None:
    if callback is None:
        return
    result = callback(value)
    if inspect.isawaitable(result):
        await result


async def _last_state(
    states: AsyncGenerator[S, None], on_update: Callable[[S], object] | None
) -> S:
    """Drain a poll loop, reporting each state; the last one is the done one."""
    last: S | None = None
    try:
        async for state in states:
            last = state
            await _call(on_update, state)
    finally:
        await states.aclose()  # on error or cancellation too: no half-run generator left
    assert last is not None  # the loop only ends after a done state (or raises)
    return last


async def wait_for_result(
    fetch: Fetch[Detection],
    *,
    uuid: str,
    clock: Clock,
    timeout: float | None,
    poll: PollPolicy,
    on_update: UpdateCallback | None,
    wait_for_intelligence: bool,
    fetch_final: Callable[[], Awaitable[Detection]] | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> Detection:
    """Poll until terminal; return a completed detection or raise DetectionFailedError.

    ``fetch_final``, when given, fetches the completed detection once more (the client
    uses it for ``experts`` together with ``wait_for_intelligence``: the experts list only
    holds finished results, so it cannot say whether intelligence is still running).
    """
    states = watch(
        fetch,
        uuid=uuid,
        clock=clock,
        timeout=timeout,
        poll=poll,
        wait_for_intelligence=wait_for_intelligence,
        sleep=sleep,
    )
    last = await _last_state(states, on_update)
    if last.is_failed:
        raise errors.DetectionFailedError(last)
    if fetch_final is not None:
        last = await fetch_final()
    return last


async def wait_for_batch(
    fetch: Fetch[Batch],
    *,
    uuid: str,
    clock: Clock,
    timeout: float | None,
    poll: PollPolicy,
    on_update: Callable[[Batch], object] | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> Batch:
    """Poll GET /detect/batch/{uuid} until completed, partially_failed or failed (§8)."""
    states = poll_until(
        fetch,
        lambda b: b.is_terminal,
        uuid=uuid,
        clock=clock,
        timeout=timeout,
        poll=poll,
        sleep=sleep,
    )
    return await _last_state(states, on_update)
