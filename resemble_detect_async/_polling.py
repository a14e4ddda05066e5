"""Waiting for results: a state loop over GET, not a retry loop.

The retry layer below handles one request's transient failures; this loop decides from the
*state* whether to poll again: while ``status`` is processing, missing or unknown (SPEC
§3.4, §11), and optionally while intelligence or watermark analysis still runs. It owns the
overall deadline and the interval schedule (see ``PollPolicy``).
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from . import errors
from ._config import PollPolicy, SystemClock
from ._retry import is_retryable
from ._sansio import validate_uuid
from .models import Batch, Detection

if TYPE_CHECKING:
    from ._client import DetectClient

__all__ = ["UpdateCallback", "wait_for_batch", "wait_for_result", "watch"]

UpdateCallback: TypeAlias = Callable[[Detection], object]
S = TypeVar("S", Detection, Batch)

_rng = random.Random()


def jittered(interval: float, jitter: float) -> float:
    """Stretch ``interval`` by a random factor in [1, 1 + jitter].

    Jitter only lengthens, so the interval never drops below the policy's floor (SPEC §15
    suggests keeping polls at least 2 s apart).
    """
    if jitter <= 0 or interval <= 0:
        return interval
    return interval * _rng.uniform(1.0, 1.0 + jitter)


class _DeadlinePassed(Exception):
    """The overall deadline passed while a poll was still queued or in flight."""


async def _within_deadline(
    fetch: Callable[[float | None], Awaitable[S]],
    deadline: float | None,
    clock: Any,
    timeout: float | None,
) -> S:
    """Run one poll, cut off shortly after the overall deadline on the real clock.

    A poll can sit behind the rate limiter, a 429 pause or a slow server; the wait must
    still end near its deadline, not a minute later. The grace (a tenth of the timeout, at
    most 1 s) lets the last poll, made right at the deadline, finish. A fake clock has no
    real time to cut off, so there the retry layer's own deadline checks apply alone.
    """
    if deadline is None or timeout is None or not isinstance(clock, SystemClock):
        return await fetch(deadline)
    grace = min(1.0, 0.1 * timeout)
    remaining = max(0.0, deadline - clock.monotonic()) + grace
    try:
        async with asyncio.timeout(remaining) as scope:
            return await fetch(deadline)
    except TimeoutError:
        if scope.expired():
            raise _DeadlinePassed from None
        raise


async def _poll(
    fetch: Callable[[float | None], Awaitable[S]],
    done: Callable[[S], bool],
    *,
    uuid: str,
    clock: Any,
    timeout: float | None,
    poll: PollPolicy,
) -> AsyncGenerator[S, None]:
    """Yield states from ``fetch`` until ``done``; raise WaitTimeoutError at the deadline."""
    deadline = None if timeout is None else clock.monotonic() + timeout
    intervals = poll.intervals()
    last: S | None = None
    last_error: BaseException | None = None
    while True:
        try:
            state = await _within_deadline(fetch, deadline, clock, timeout)
        except _DeadlinePassed:
            raise errors.WaitTimeoutError(
                uuid, timeout=timeout, last=last, last_error=last_error
            ) from None
        except errors.ResembleError as exc:
            # Polls are GETs: what the retry layer retries is transient, and after it gave
            # up we keep polling until the deadline. Anything else (404, 401...) ends the wait.
            if not is_retryable(exc, idempotent=True):
                exc.uuid = exc.uuid or uuid
                raise
            last_error = exc
        else:
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
        await clock.sleep(delay)


def _detection_done(wait_for_intelligence: bool) -> Callable[[Detection], bool]:
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
    client: DetectClient,
    uuid: str,
    *,
    timeout: float | None,
    poll: PollPolicy,
    wait_for_intelligence: bool = False,
    experts: bool = False,
) -> AsyncGenerator[Detection, None]:
    """Every polled state of one detection until it is terminal (failed included)."""
    uuid = validate_uuid(uuid)

    async def fetch(deadline: float | None) -> Detection:
        return await client._get_detection(uuid, experts=experts, deadline=deadline)

    return _poll(
        fetch,
        _detection_done(wait_for_intelligence),
        uuid=uuid,
        clock=client.clock,
        timeout=timeout,
        poll=poll,
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
    client: DetectClient,
    uuid: str,
    *,
    timeout: float | None,
    poll: PollPolicy,
    on_update: UpdateCallback | None,
    wait_for_intelligence: bool,
    experts: bool = False,
) -> Detection:
    """Poll until terminal; return a completed detection or raise DetectionFailedError.

    With ``experts`` and ``wait_for_intelligence`` together, polling runs without
    ``experts`` (whose list form only holds finished results, so it cannot say whether
    intelligence is still running, SPEC §4.1) and the final state is fetched with it.
    """
    poll_experts = experts and not wait_for_intelligence
    states = watch(
        client,
        uuid,
        timeout=timeout,
        poll=poll,
        wait_for_intelligence=wait_for_intelligence,
        experts=poll_experts,
    )
    last = await _last_state(states, on_update)
    if last.is_failed:
        raise errors.DetectionFailedError(last)
    if experts and not poll_experts:
        last = await client._get_detection(last.uuid, experts=True)
    return last


async def wait_for_batch(
    client: DetectClient,
    uuid: str,
    *,
    timeout: float | None,
    poll: PollPolicy,
    on_update: Callable[[Batch], object] | None = None,
) -> Batch:
    """Poll GET /detect/batch/{uuid} until completed, partially_failed or failed (SPEC §8)."""
    uuid = validate_uuid(uuid)

    async def fetch(deadline: float | None) -> Batch:
        return await client._get_batch(uuid, deadline=deadline)

    states = _poll(
        fetch, lambda b: b.is_terminal, uuid=uuid, clock=client.clock, timeout=timeout, poll=poll
    )
    return await _last_state(states, on_update)
