"""The client's settings, read and checked once: the key, the URL, the policies, the limits.

Everything a user passes to :class:`~resemble_detect_async.DetectClient` is refused here,
with a :class:`~resemble_detect_async.ConfigurationError` saying what to pass instead,
before any session is opened; numbers are accepted where a number is natural
(``timeouts=30``, ``max_retries=3``).
"""

from __future__ import annotations

import inspect
import math
import os
import sys
from collections.abc import Mapping

import aiohttp
import attrs

from . import _sansio, errors
from ._config import (
    DEFAULT,
    DEFAULT_BASE_URL,
    Clock,
    PollPolicy,
    RetryPolicy,
    SystemClock,
    Timeout,
    Timeouts,
)
from ._limits import RateLimiter
from ._transport import Secret, check_plain_http_host
from ._version import __version__

__all__ = ["Settings", "client_settings"]


@attrs.frozen(kw_only=True)
class Settings:
    """What one client (and every :meth:`with_options` copy of it) runs with."""

    base_url: str
    authorization: Secret = attrs.field(repr=False)
    plain_http: bool  # plain http to loopback: no proxy may see the key
    timeouts: Timeouts
    retry: RetryPolicy
    poll: PollPolicy
    clock: Clock
    user_agent: str
    max_response_bytes: int
    call_timeout: Timeout = DEFAULT  # with_options(timeout=): every call's overall bound
    default_headers: Mapping[str, str] = attrs.field(factory=dict)  # with_options(extra_headers=)


def read_api_key(api_key: object) -> Secret:
    """The key from ``api_key=`` or ``RESEMBLE_API_KEY``, as a :class:`Secret`."""
    key = api_key if api_key is not None else os.environ.get("RESEMBLE_API_KEY")
    if key is not None and not isinstance(key, str):
        raise errors.ConfigurationError(f"api_key must be a string, got {type(key).__name__}")
    if key is None or not key.strip():
        raise errors.ConfigurationError(
            "no API key: pass api_key= or set RESEMBLE_API_KEY (keys are on "
            "https://app.resemble.ai/hub/api); to try the SDK without one, use "
            "resemble_detect_async.testing.FakeDetectAPI"
        )
    key = key.strip()
    if any(ch in key for ch in "\r\n\x00") or not key.isprintable():
        raise errors.ConfigurationError("the API key contains control characters; check it")
    return Secret(f"Bearer {key}")


def retry_policy(retry: object, max_retries: object) -> RetryPolicy | None:
    """``retry=RetryPolicy(...)`` or ``max_retries=N`` (N retries after the first try)."""
    if max_retries is not None:
        if retry is not None:
            raise errors.ConfigurationError("pass retry= or max_retries=, not both")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise errors.ConfigurationError(
                f"max_retries must be a whole number >= 0, got {max_retries!r}"
            )
        return RetryPolicy(attempts=max_retries + 1)
    if isinstance(retry, int):
        raise errors.ConfigurationError(
            f"retry must be a RetryPolicy; for a number of retries pass max_retries={retry}"
        )
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise errors.ConfigurationError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
    return retry


def timeouts_of(timeouts: object) -> Timeouts | None:
    """``Timeouts(...)``, or a number of seconds (see :meth:`Timeouts.of`)."""
    if isinstance(timeouts, int | float) and not isinstance(timeouts, bool):
        return Timeouts.of(timeouts)
    if timeouts is not None and not isinstance(timeouts, Timeouts):
        raise errors.ConfigurationError(
            f"timeouts must be a Timeouts or a number of seconds, got {type(timeouts).__name__}"
        )
    return timeouts


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise errors.ConfigurationError(
            f"{name} must be a whole number >= {minimum}, got {value!r}"
        )
    return value


def poll_policy(poll: object) -> PollPolicy | None:
    """A :class:`PollPolicy`, or None for the default."""
    if poll is not None and not isinstance(poll, PollPolicy):
        raise errors.ConfigurationError(f"poll must be a PollPolicy, got {type(poll).__name__}")
    return poll


def check_limits(
    *, max_concurrency: object, rate_limit: object, rate_limiter: object, clock: object
) -> None:
    """The concurrency and rate settings, and the limiter and clock protocols."""
    _whole("max_concurrency", max_concurrency, 1)
    if rate_limit is not None and (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, int | float)
        or not math.isfinite(rate_limit)
        or rate_limit <= 0
    ):
        raise errors.ConfigurationError(
            f"rate_limit must be a positive number of requests per second, or None; "
            f"got {rate_limit!r}"
        )
    if rate_limiter is not None and not (
        isinstance(rate_limiter, RateLimiter)
        and inspect.iscoroutinefunction(rate_limiter.acquire)
        and callable(rate_limiter.pause)
    ):
        raise errors.ConfigurationError(
            "rate_limiter must have `async def acquire()` and `def pause(seconds)` "
            "(see resemble_detect_async.RateLimiter)"
        )
    if clock is not None and not (hasattr(clock, "monotonic") and hasattr(clock, "sleep")):
        raise errors.ConfigurationError("clock must have monotonic() and async sleep(seconds)")


def client_settings(
    *,
    api_key: object,
    base_url: object,
    session: object,
    timeouts: object,
    retry: object,
    max_retries: object,
    poll: object,
    max_concurrency: object,
    rate_limit: object,
    rate_limiter: object,
    clock: object,
    allow_insecure_http: bool,
    user_agent: str | None,
    max_response_bytes: object,
) -> Settings:
    """Read and check every constructor argument; refuse the first bad one."""
    authorization = read_api_key(api_key)
    url = base_url or os.environ.get("RESEMBLE_BASE_URL") or DEFAULT_BASE_URL
    if not isinstance(url, str):
        raise errors.ConfigurationError(f"base_url must be a string, got {type(url).__name__}")
    if session is not None and not isinstance(session, aiohttp.ClientSession):
        raise errors.ConfigurationError(
            f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
        )
    checked_timeouts = timeouts_of(timeouts)
    checked_retry = retry_policy(retry, max_retries)
    poll = poll_policy(poll)
    check_limits(
        max_concurrency=max_concurrency,
        rate_limit=rate_limit,
        rate_limiter=rate_limiter,
        clock=clock,
    )
    max_bytes = _whole("max_response_bytes", max_response_bytes, 1024)
    checked_url = _sansio.check_base_url(url, allow_insecure_http=allow_insecure_http)
    plain_http = checked_url.startswith("http://") and not allow_insecure_http
    if plain_http:
        check_plain_http_host(checked_url)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return Settings(
        base_url=checked_url,
        authorization=authorization,
        plain_http=plain_http,
        timeouts=checked_timeouts or Timeouts(),
        retry=checked_retry or RetryPolicy(),
        poll=poll or PollPolicy(),
        clock=clock or SystemClock(),  # type: ignore[arg-type]
        user_agent=user_agent or f"resemble-detect-async/{__version__} python/{version}",
        max_response_bytes=max_bytes,
    )
