"""One request budget for every process that uses the same API key, shared through Redis.

The API allows about 40 requests per second per API key (API notes §15), not per process.
Four processes with an in-process :class:`~resemble_detect_async.TokenBucket` each would
send 160/s and meet a wall of 429s. :class:`RedisRateLimiter` sits behind the client's
``rate_limiter=`` and lets Redis decide every start, for every process at once::

    from resemble_detect_async import DetectClient
    from resemble_detect_async.redis import RedisRateLimiter

    async with RedisRateLimiter("redis://localhost:6379/0") as limiter:
        async with DetectClient(rate_limiter=limiter) as client:
            ...

Needs the ``redis`` extra (``pip install 'resemble-detect-async[redis]'``: redis-py) and a
Redis server 6.2 or newer. docs/redis.md says when you need it and how to run it.

How it decides (one Lua script per start, so the decision is atomic on the server):

* **A sliding log** (a sorted set of the starts of the last second) caps the starts of any
  second, plus ``margin``, at the rate: no 1-second window ever holds more. The times are
  Redis's own (``TIME``), so the clocks of the processes never have to agree.
* **Even spacing** (GCRA): starts come ``1 / rate`` apart, so the budget is not spent in a
  burst at the top of each second.
* **Arrivals, not starts:** the API counts requests when they arrive. A request that took
  longer than the process's fastest recent one may have arrived that much later, so its
  start moves that much later in the log (up to 0.25 s), as in ``TokenBucket``.
* **A shared pause:** a 429 with ``Retry-After`` seen by any process holds every process.
  A 429 without one cuts the shared rate, which climbs back while the API accepts (the same
  rules as :class:`~resemble_detect_async.TokenBucket`, shared).

Redis is keyed by a hash of the API key (:attr:`RedisRateLimiter.key_id`), never the key.

**Degrade, don't stall.** Every Redis call is bounded by ``timeout``. When Redis cannot be
reached, the limiter logs one warning and falls back to a local share of the budget
(``rate / assumed_processes``) after letting one window pass (the shared log can no longer
be read); it tries Redis again every ``probe_interval`` seconds and, when Redis answers,
logs it and shares again, keeping its local share for one more probe interval and window
so that processes still on their local share cannot overlap with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import secrets
from collections import deque
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Final, TypeGuard

try:
    import redis.asyncio as aioredis
    import redis.exceptions
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "resemble_detect_async.redis needs the 'redis' extra: "
        "pip install 'resemble-detect-async[redis]'"
    ) from exc

from ._config import Clock, SystemClock
from ._limits import (
    DEFAULT_MIN_RATE,
    DEFAULT_RATE,
    MAX_CUT,
    MAX_LATENESS,
    RECOVERY,
    WINDOW,
    TokenBucket,
)
from .errors import ConfigurationError

__all__ = ["DEFAULT_PREFIX", "RedisRateLimiter", "hash_key"]

log = logging.getLogger("resemble_detect_async.redis")

DEFAULT_PREFIX: Final = "resemble-detect"
"""The first part of every Redis key this SDK writes."""

DEFAULT_MARGIN: Final = 0.05
"""Added to the 1 s window (seconds): between Redis granting a start and the request
reaching the API lie a reply, a process waking up and the network, and that differs from
one process to another."""

DEFAULT_TIMEOUT: Final = 0.5  # seconds: the bound of every Redis call
DEFAULT_PROBE_INTERVAL: Final = 2.0  # seconds between tries while Redis is away
DEFAULT_ASSUMED_PROCESSES: Final = 4
MAX_PAUSE: Final = 3600.0  # a pause longer than this is a bug upstream, not a server's wish
LATE: Final = 0.01  # a request slower than the fastest by more than this moves its start
_US: Final = 1_000_000  # the scripts count microseconds
_EPSILON: Final = 1e-9

# Exceptions that mean "Redis is not usable now": degrade, never crash a bulk run.
_REDIS_DOWN: Final = (redis.exceptions.RedisError, OSError, TimeoutError)

# The clock of every script: Redis's own TIME, or the caller's (ARGV[1], for tests on virtual
# time). Lua turns numbers into strings with 14 digits: microseconds since 1970 need 16, so
# every number written goes through num().
_NOW: Final = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function num(x) return string.format('%.0f', x) end
"""

# KEYS: log (zset of starts), state (hash: tat, cut_at, cut_rate), pause (string). The state
# lives 60 s after the last start or cut: spacing and a cut do not outlive a quiet minute.
# ARGV: now|'', rate, burst, window, margin, recovery, member, then (member, age) pairs of
# starts made locally while Redis was away. Returns 0 (start now) or microseconds to wait.
_ACQUIRE: Final = (
    _NOW
    + """
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local span = window + tonumber(ARGV[5])
local recovery = tonumber(ARGV[6])
local member = ARGV[7]
local state = redis.call('HMGET', KEYS[2], 'tat', 'cut_at', 'cut_rate')
local tat = tonumber(state[1])
local cut_at = tonumber(state[2])
if cut_at then
  local recovered = tonumber(state[3]) + recovery * rate * (now - cut_at) / 1000000
  if recovered < rate then rate = recovered end
end
local cap = math.max(1, math.floor(rate * window / 1000000 + 1e-9))
local interval = 1000000 / rate
for i = 8, #ARGV - 1, 2 do
  redis.call('ZADD', KEYS[1], num(now - tonumber(ARGV[i + 1])), ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now - span))
local at = now
local paused = tonumber(redis.call('GET', KEYS[3]))
if paused and paused > at then at = paused end
if tat then
  local spaced = tat - (burst - 1) * interval
  if spaced > at then at = spaced end
end
local count = redis.call('ZCARD', KEYS[1])
if count >= cap then
  local oldest = redis.call('ZRANGE', KEYS[1], count - cap, count - cap, 'WITHSCORES')
  local free = tonumber(oldest[2]) + span
  if free > at then at = free end
end
if at > now then
  return math.max(1, math.ceil(at - now))
end
if not tat or now - tat > interval / 2 then tat = now end
redis.call('HSET', KEYS[2], 'tat', num(tat + interval))
redis.call('PEXPIRE', KEYS[2], 60000)
redis.call('ZADD', KEYS[1], num(now), member)
redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
return 0
"""
)

# KEYS: log, state, refusals (zset). ARGV: now|'', rate, min_rate, window, recovery, max_cut,
# member. A bare 429: cut the shared rate by the share of the last window's starts that were
# refused, at most once per window (TokenBucket.on_rate_limited, shared).
_RATE_LIMITED: Final = (
    _NOW
    + """
local rate = tonumber(ARGV[2])
local min_rate = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local recovery = tonumber(ARGV[5])
local max_cut = tonumber(ARGV[6])
redis.call('ZADD', KEYS[3], num(now), ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', num(now - window))
redis.call('PEXPIRE', KEYS[3], math.ceil(window / 1000) + 1000)
local state = redis.call('HMGET', KEYS[2], 'cut_at', 'cut_rate')
local cut_at = tonumber(state[1])
local current = rate
if cut_at then
  if now < cut_at + window then return 0 end
  local recovered = tonumber(state[2]) + recovery * rate * (now - cut_at) / 1000000
  if recovered < rate then current = recovered end
end
local started = redis.call('ZCOUNT', KEYS[1], '(' .. num(now - window), '+inf')
local refused = math.min(1, redis.call('ZCARD', KEYS[3]) / math.max(1, started))
local cut = math.max(min_rate, current * math.max(max_cut, 1 - refused))
redis.call('HSET', KEYS[2], 'cut_at', num(now), 'cut_rate', string.format('%.6f', cut))
redis.call('PEXPIRE', KEYS[2], 60000)
return 1
"""
)

# KEYS: pause. ARGV: now|'', microseconds. Moves the shared pause later, never earlier.
_PAUSE: Final = (
    _NOW
    + """
local till = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]))
if not current or till > current then
  redis.call('SET', KEYS[1], num(till), 'PX', math.ceil(tonumber(ARGV[2]) / 1000) + 1000)
end
return 0
"""
)


# KEYS: log. ARGV: member, microseconds. A start whose request was slow may have reached the
# API that much later: count it that much later (if it is still in the log).
_LATE: Final = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZINCRBY', KEYS[1], ARGV[2], ARGV[1])
end
return 0
"""


def hash_key(api_key: str) -> str:
    """The Redis name of an API key: 16 hex digits of a SHA-256 of it (never the key).

    Processes using the same key get the same name, so they share one budget; the key
    itself never reaches Redis, its logs or its backups.
    """
    digest = hashlib.sha256(f"resemble-detect-async/rate-limit:{api_key.strip()}".encode())
    return digest.hexdigest()[:16]


class RedisRateLimiter:
    """A :class:`~resemble_detect_async.RateLimiter` shared through Redis by every process
    (and every client) that uses the same API key.

    Pass it as ``DetectClient(rate_limiter=...)``; several clients, in one process or many,
    may share one budget this way. See the module's documentation for how it decides and
    how it degrades when Redis goes away.

    Args:
        redis: a ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL, with a user and
            password in it if the server wants them; or a ``redis.asyncio.Redis`` client,
            which is borrowed (never closed here). A URL makes a client whose calls fail
            fast (one retry, on a fresh connection); either way each call is bounded by
            ``timeout``.
        rate: requests per second for the whole key (API notes §15: about 40; support can
            raise it). Every process sharing the key must pass the same rate.
        api_key: the key whose budget this is; by default ``RESEMBLE_API_KEY``. Only its
            hash (:func:`hash_key`) is used.
        key_id: a name for the budget instead of the key's hash (e.g. ``"team-a"``).
        burst: starts allowed back to back after a quiet spell (the cap per second holds
            whatever it is).
        margin: seconds added to the 1 s window, for the jitter between Redis granting a
            start and the request reaching the API.
        assumed_processes: how many processes share the key; while Redis is away each one
            takes ``rate / assumed_processes``.
        local_rate: the rate while Redis is away, instead of ``rate / assumed_processes``.
        timeout: the bound, in seconds, of every Redis call.
        probe_interval: seconds between tries while Redis is away.
        prefix: the first part of every Redis key.
        clock: by default the loop's clock for waiting and Redis's ``TIME`` for the budget.
            A test may pass a :class:`~resemble_detect_async.testing.FakeClock`: the budget
            then runs on its virtual time, which every limiter sharing the key must use.

    Raises:
        ConfigurationError: a bad setting, or no key (nor ``key_id``) to name the budget.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        *,
        rate: float = DEFAULT_RATE,
        api_key: str | None = None,
        key_id: str | None = None,
        burst: int = 1,
        margin: float = DEFAULT_MARGIN,
        assumed_processes: int = DEFAULT_ASSUMED_PROCESSES,
        local_rate: float | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock | None = None,
    ) -> None:
        if not _positive(rate):
            raise ConfigurationError(
                f"rate must be a positive number of requests per second, got {rate!r}"
            )
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigurationError(f"burst must be a whole number >= 1, got {burst!r}")
        if not (_positive(margin) or (_number(margin) and margin == 0)):
            raise ConfigurationError(f"margin must be a number of seconds >= 0, got {margin!r}")
        if (
            isinstance(assumed_processes, bool)
            or not isinstance(assumed_processes, int)
            or assumed_processes < 1
        ):
            raise ConfigurationError(
                f"assumed_processes must be a whole number >= 1, got {assumed_processes!r}"
            )
        if local_rate is not None and not _positive(local_rate):
            raise ConfigurationError(
                f"local_rate must be a positive number of requests per second, got {local_rate!r}"
            )
        for name, value in (("timeout", timeout), ("probe_interval", probe_interval)):
            if not _positive(value):
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
            raise ConfigurationError("prefix must be a non-empty string without braces")
        self.key_id = _budget_name(api_key, key_id)
        self.rate = float(rate)
        self.burst = burst
        self.margin = float(margin)
        self.local_rate = float(local_rate) if local_rate is not None else rate / assumed_processes
        self.timeout = float(timeout)
        self.probe_interval = float(probe_interval)
        self.outages = 0
        """How many times Redis went away (each logged one warning)."""

        if isinstance(redis, str):
            self._redis = _client_for(redis, timeout=self.timeout)
            self._owned = True
        elif isinstance(redis, aioredis.Redis):
            self._redis = redis
            self._owned = False
        else:
            raise ConfigurationError(
                f"redis must be a redis:// URL or a redis.asyncio.Redis, got {type(redis).__name__}"
            )
        self._virtual = clock is not None
        self._clock: Clock = clock if clock is not None else SystemClock()
        # Hash tags ({...}) keep every key of one budget in one Redis Cluster slot.
        base = f"{prefix}:rate:{{{self.key_id}}}"
        self._log_key = f"{base}:log"
        self._state_key = f"{base}:state"
        self._pause_key = f"{base}:pause"
        self._refusals_key = f"{base}:refusals"
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._rate_limited_script = self._redis.register_script(_RATE_LIMITED)
        self._pause_script = self._redis.register_script(_PAUSE)
        self._late_script = self._redis.register_script(_LATE)
        self._took: deque[float] = deque(maxlen=64)  # how long our recent requests took
        self._token = secrets.token_hex(6)  # tells this process's starts from the others'
        self._serial = 0
        self._lock = asyncio.Lock()  # one waiter per process asks Redis at a time
        self._local = TokenBucket(self.local_rate, burst=burst, clock=self._clock, margin=margin)
        self._paused_until = -math.inf  # this process's own view of the last pause
        self._degraded = False
        self._next_probe = -math.inf
        self._hybrid_until = -math.inf  # after a return: keep the local share too until then
        self._local_starts: deque[tuple[float, str]] = deque()  # (when, member) while away
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- the RateLimiter protocol ---------------------------------------------------------

    async def acquire(self) -> None:
        """Wait until one more request may start for the whole key, then take the start."""
        async with self._lock:
            local = False  # whether this start already has its local permit
            while True:
                now = self._clock.monotonic()
                paused = self._paused_until - now
                if paused > _EPSILON:
                    await self._clock.sleep(paused)
                    continue
                if self._degraded and now < self._next_probe:
                    if not local:
                        await self._local.acquire()
                    self._remember_local_start()
                    return
                if not local and (self._degraded or now < self._hybrid_until):
                    # Back from an outage (or trying to be): processes still on their local
                    # share do not write to the shared log, so keep to ours as well.
                    await self._local.acquire()
                    local = True
                member = self._member()
                shared = await self._ask_redis(member)
                if shared is None:  # Redis is away (now degraded): start on the local share
                    if local:
                        self._remember_local_start()
                        return
                    continue
                if shared <= 0:
                    _granted.set((self, member, self._clock.monotonic()))
                    return
                await self._clock.sleep(shared)

    def pause(self, seconds: float) -> None:
        """Hold every process sharing the key for at least ``seconds`` from now."""
        if not _positive(seconds):
            return
        seconds = min(float(seconds), MAX_PAUSE)
        until = self._clock.monotonic() + seconds
        self._paused_until = max(self._paused_until, until)
        if not self._degraded:
            self._in_background(self._share_pause(seconds))

    def on_rate_limited(self, retry_after: float | None) -> None:
        """The API answered 429: pause everyone for ``retry_after``, or slow everyone down.

        With ``Retry-After`` every process sharing the key holds its starts that long; a
        bare 429 cuts the shared rate by the share of the last second's starts that were
        refused (at most once per second; it climbs back by 5 % of ``rate`` per second).
        """
        if retry_after is not None:
            self.pause(retry_after)
            return
        if self._degraded:
            self._local.on_rate_limited(None)
            return
        self._in_background(self._share_cut())

    def release(self) -> None:
        """The request this task started has ended.

        What the API counts is arrivals, not starts: a request that took longer than our
        fastest recent one (a new connection, a process that did not run for a while) may
        have arrived that much later, so its start moves that much later in the shared log,
        up to 0.25 s (as :class:`~resemble_detect_async.TokenBucket` does in-process).
        """
        self._local.release()
        mine = _granted.get()
        if mine is None or mine[0] is not self:
            return
        _granted.set(None)
        took = self._clock.monotonic() - mine[2]
        self._took.append(took)
        late = min(MAX_LATENESS, took - min(self._took))
        if late > LATE and not self._degraded:
            self._in_background(self._share_lateness(mine[1], late))

    # -- state and lifecycle ---------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """True while Redis is away and this process runs on its local share."""
        return self._degraded

    async def flush(self) -> None:
        """Wait until every pause and slow-down reported so far has reached Redis (or failed)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Flush, then close the Redis client if this limiter made it from a URL."""
        if self._closed:
            return
        self._closed = True
        await self.flush()
        if self._owned:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisRateLimiter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "degraded" if self._degraded else "shared"
        return f"RedisRateLimiter(key_id={self.key_id!r}, rate={self.rate!r}, {state})"

    # -- internals ------------------------------------------------------------------------

    def _now_arg(self) -> str:
        """ARGV[1] of the scripts: '' lets Redis use its own TIME."""
        return str(round(self._clock.monotonic() * _US)) if self._virtual else ""

    def _member(self) -> str:
        self._serial += 1
        return f"{self._token}:{self._serial}"

    async def _ask_redis(self, member: str) -> float | None:
        """One try at a shared start: 0 (taken), seconds to wait, or None (Redis is away)."""
        now = self._clock.monotonic()
        backfill: list[str] = []
        if self._local_starts:  # back from an outage: our local starts join the shared log
            horizon = now - WINDOW - self.margin
            for at, member in self._local_starts:
                if at > horizon:
                    backfill += [member, str(round((now - at) * _US))]
        args = [
            self._now_arg(),
            repr(self.rate),
            str(self.burst),
            str(round(WINDOW * _US)),
            str(round(self.margin * _US)),
            repr(RECOVERY),
            member,
            *backfill,
        ]
        keys = [self._log_key, self._state_key, self._pause_key]
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self._acquire_script(keys=keys, args=args)
        except _REDIS_DOWN as exc:
            self._went_away(exc)
            return None
        self._came_back()
        return int(answer) / _US

    def _remember_local_start(self) -> None:
        now = self._clock.monotonic()
        starts = self._local_starts
        starts.append((now, self._member()))
        while starts and starts[0][0] <= now - WINDOW - self.margin:
            starts.popleft()

    async def _local_start(self) -> None:
        await self._local.acquire()
        self._remember_local_start()

    def _went_away(self, error: BaseException) -> None:
        now = self._clock.monotonic()
        self._next_probe = now + self.probe_interval
        if self._degraded:
            return  # still away: the warning was given when it went
        self._degraded = True
        self.outages += 1
        # Nobody can read the shared log now: let its window pass before starting locally,
        # so that the starts just granted by Redis and the local ones never share a second.
        self._local.pause(WINDOW + self.margin)
        log.warning(
            "Redis is unreachable (%s); rate limit key %s falls back to this process's "
            "share, %g requests/s, until Redis answers again (tried every %g s)",
            _describe(error),
            self.key_id,
            self.local_rate,
            self.probe_interval,
        )

    def _came_back(self) -> None:
        if not self._degraded:
            self._local_starts.clear()
            return
        self._degraded = False
        self._local_starts.clear()  # they were sent with this call
        self._hybrid_until = self._clock.monotonic() + self.probe_interval + WINDOW + self.margin
        log.warning(
            "Redis answers again; rate limit key %s is shared through it again (%g requests/s)",
            self.key_id,
            self.rate,
        )

    def _in_background(self, work: Any) -> None:
        """Run a Redis write without making the (synchronous) caller wait for it."""
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop: nothing to share with
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _share_pause(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self._pause_script(
                    keys=[self._pause_key], args=[self._now_arg(), str(round(seconds * _US))]
                )
        except _REDIS_DOWN as exc:
            self._went_away(exc)

    async def _share_lateness(self, member: str, late: float) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self._late_script(keys=[self._log_key], args=[member, round(late * _US)])
        except _REDIS_DOWN as exc:
            self._went_away(exc)

    async def _share_cut(self) -> None:
        args = [
            self._now_arg(),
            repr(self.rate),
            repr(min(DEFAULT_MIN_RATE, self.rate)),
            str(round(WINDOW * _US)),
            repr(RECOVERY),
            repr(MAX_CUT),
            self._member(),
        ]
        try:
            async with asyncio.timeout(self.timeout):
                await self._rate_limited_script(
                    keys=[self._log_key, self._state_key, self._refusals_key], args=args
                )
        except _REDIS_DOWN as exc:
            self._went_away(exc)
            self._local.on_rate_limited(None)


# The shared start this task took last (limiter, its member in the log, when), so that
# release(), called by the gate in the same task, can move it if the request was slow.
_granted: ContextVar[tuple[RedisRateLimiter, str, float] | None] = ContextVar(
    "resemble_detect_async_redis_start", default=None
)


def _budget_name(api_key: str | None, key_id: str | None) -> str:
    if key_id is not None:
        if (
            not isinstance(key_id, str)
            or not key_id.strip()
            or len(key_id) > 64
            or not key_id.isprintable()
            or any(ch in key_id for ch in "{} ")
        ):
            raise ConfigurationError(
                "key_id must be 1-64 printable characters without spaces or braces"
            )
        return key_id
    key = api_key if api_key is not None else os.environ.get("RESEMBLE_API_KEY")
    if not isinstance(key, str) or not key.strip():
        raise ConfigurationError(
            "RedisRateLimiter shares the budget of one API key: pass api_key= (or key_id=), "
            "or set RESEMBLE_API_KEY"
        )
    return hash_key(key)


def _client_for(url: str, *, timeout: float) -> aioredis.Redis:
    """A client that fails fast: the limiter bounds every call and degrades on its own. One
    retry, on a fresh connection: after a restart of Redis every pooled one is stale."""
    try:
        return aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),  # once: a connection left over from before a restart
        )
    except ValueError as exc:
        raise ConfigurationError(
            f"not a Redis URL ({exc}); use redis://host:port/db, rediss:// for TLS, or unix://"
        ) from None


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "no details"
    return f"{type(error).__name__}: {text}"[:200]


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: object) -> bool:
    return _number(value) and value > 0
