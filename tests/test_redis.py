"""RedisRateLimiter against a real redis-server: one budget per key for every process, a shared
pause and slow-down, the key never in Redis, and degrading (not stalling) when Redis goes away.

The budget runs on virtual time (a FakeClock shared by the limiters, passed to the Lua
scripts instead of Redis's TIME), so nothing here sleeps for real; only Redis is real.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence

import pytest
import redis.asyncio as aioredis
from conftest import RedisServer

from resemble_detect_async import ConfigurationError, DetectClient, RateLimiter
from resemble_detect_async._limits import WINDOW
from resemble_detect_async.redis import RedisRateLimiter, hash_key
from resemble_detect_async.testing import (
    ZERO_WAIT_POLL,
    ZERO_WAIT_RETRY,
    FakeClock,
    FakeDetectAPI,
)

SECRET = "sk-live-do-not-store-me-0123456789"


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of the test's Redis, to look at what the limiters wrote."""
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


def limiter(server: RedisServer, clock: FakeClock, **options: object) -> RedisRateLimiter:
    settings: dict[str, object] = {"key_id": "shared", "clock": clock} | options
    return RedisRateLimiter(server.url, **settings)  # type: ignore[arg-type]


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def degraded(shared: RedisRateLimiter) -> bool:
    return shared.degraded


def spans(starts: Sequence[float], cap: int = 40) -> list[float]:
    """How long each run of cap + 1 consecutive starts took."""
    ordered = sorted(starts)
    return [later - first for first, later in zip(ordered, ordered[cap:], strict=False)]


async def alternate(limiters: Sequence[RedisRateLimiter], clock: FakeClock, n: int) -> list[float]:
    """n starts taken in turn from each limiter (one task, so virtual time only moves while
    it sleeps); the virtual time of each."""
    starts: list[float] = []
    for i in range(n):
        await limiters[i % len(limiters)].acquire()
        starts.append(clock.now)
    return starts


# --- one budget for the key ------------------------------------------------------------------


async def test_two_limiters_of_one_key_share_one_budget(redis_server: RedisServer) -> None:
    """Two limiters (two processes) of one key start at most 40 in any second between them."""
    clock = FakeClock()
    a, b = limiter(redis_server, clock), limiter(redis_server, clock)
    async with a, b:
        starts = await alternate([a, b], clock, 120)
    assert min(spans(starts)) >= 1.0 + a.margin - 1e-6
    assert starts[-1] >= 2 * (1.0 + a.margin) - 1e-6  # 120 starts: three windows, not 1.5


async def test_different_keys_have_their_own_budgets(redis_server: RedisServer) -> None:
    """Limiters of two API keys do not slow each other down: each gets its own 40/s."""
    clock = FakeClock()
    a = limiter(redis_server, clock, key_id=None, api_key="key-one")
    b = limiter(redis_server, clock, key_id=None, api_key="key-two")
    async with a, b:
        starts = await alternate([a, b], clock, 80)
    assert starts[-1] < 1.0  # 80 starts in under a second: 40 on each key


async def test_two_clients_with_shared_limiters_get_no_429(redis_server: RedisServer) -> None:
    """Two clients with their own limiters of one key stay within a 40/s fake API: no 429."""
    clock = FakeClock()
    async with FakeDetectAPI(rate_limit=40, clock=clock) as fake:
        uuids = [fake.add_detection() for _ in range(120)]
        limiters = [limiter(redis_server, clock, api_key=fake.api_key) for _ in range(2)]
        clients = [
            DetectClient(
                api_key=fake.api_key,
                base_url=fake.base_url,
                retry=ZERO_WAIT_RETRY,
                poll=ZERO_WAIT_POLL,
                clock=clock,
                rate_limiter=shared,
            )
            for shared in limiters
        ]
        for i, uuid in enumerate(uuids):
            await clients[i % 2].get_detection(uuid)
        for client, shared in zip(clients, limiters, strict=True):
            await client.close()
            await shared.aclose()
        assert fake.rate_limited == 0
        assert min(spans([request.at for request in fake.requests])) >= 1.0
        assert clock.now >= 2 * (1.0 + limiters[0].margin) - 1e-6


async def test_a_slow_request_moves_its_start_later_for_everyone(
    redis_server: RedisServer,
) -> None:
    """A request 0.1 s slower than the fastest may have arrived 0.1 s late: the cap waits."""
    clock = FakeClock()
    a, b = limiter(redis_server, clock), limiter(redis_server, clock)
    async with a, b:
        await a.acquire()
        a.release()  # the fastest request: no time at all
        await a.acquire()
        slow = clock.now
        await clock.sleep(0.1)
        a.release()
        await a.flush()
        starts = [0.0, slow]
        for _ in range(40):
            await b.acquire()
            b.release()
            starts.append(clock.now)
    assert starts[41] >= slow + 0.1 + WINDOW + a.margin - 1e-6


async def test_a_retry_after_pauses_every_process(redis_server: RedisServer) -> None:
    """A 429 with Retry-After heard by one process holds the starts of the others too."""
    clock = FakeClock()
    a, b = limiter(redis_server, clock), limiter(redis_server, clock)
    async with a, b:
        await a.acquire()
        a.on_rate_limited(2.0)
        await a.flush()
        await b.acquire()  # b never heard of the 429 itself
        assert clock.now >= 2.0


async def test_a_bare_429_slows_every_process_down(redis_server: RedisServer) -> None:
    """A bare 429 heard by one process halves the shared rate: another starts ~1/20 s apart."""
    clock = FakeClock()
    a, b = limiter(redis_server, clock), limiter(redis_server, clock)
    async with a, b:
        a.on_rate_limited(None)  # refused with nothing started in the last second: halve
        await a.flush()
        starts = await alternate([b], clock, 21)
    gaps = [later - first for first, later in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / 24  # about 1/20 s apart, climbing back by 2/s per second
    assert sum(gaps) / len(gaps) > 1 / 23


async def test_the_api_key_never_reaches_redis(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """Redis holds a hash of the key, never the key: in no key name and no value."""
    clock = FakeClock()
    shared = limiter(redis_server, clock, key_id=None, api_key=SECRET)
    async with shared:
        await alternate([shared], clock, 3)
        shared.on_rate_limited(None)
        shared.pause(1.0)
        await shared.flush()
    names = [text(name) async for name in redis_client.scan_iter()]
    assert names and all(hash_key(SECRET) in name for name in names)
    stored: list[str] = []
    for name in names:
        kind = text(await redis_client.type(name))
        if kind == "string":
            stored.append(text(await redis_client.get(name)))
        elif kind == "hash":
            stored += [text(value) for value in (await redis_client.hgetall(name)).values()]
        elif kind == "zset":
            stored += [text(member) for member in await redis_client.zrange(name, 0, -1)]
    assert stored
    assert not any(SECRET in name for name in names)
    assert not any(SECRET in value for value in stored)
    assert SECRET not in repr(shared)


# --- degrade, don't stall --------------------------------------------------------------------


async def test_redis_going_away_falls_back_to_the_local_share_and_comes_back(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis stopped: rate / 4 after a window, one warning; Redis back: shared again, logged."""
    caplog.set_level(logging.INFO, logger="resemble_detect_async.redis")
    clock = FakeClock()
    shared = limiter(redis_server, clock, probe_interval=2.0)
    async with shared:
        await alternate([shared], clock, 5)
        redis_server.stop()
        went = clock.now
        local = await alternate([shared], clock, 30)
        assert shared.degraded
        assert local[0] >= went + 1.0  # the shared window passes before local starts
        assert min(spans(local, cap=10)) >= 1.0 + shared.margin - 1e-6  # 10/s: 40 / 4
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert [r.getMessage() for r in warnings if "unreachable" in r.getMessage()] == [
            warnings[0].getMessage()
        ]
        assert shared.outages == 1

        redis_server.start()  # the same port, empty
        await clock.sleep(shared.probe_interval)
        await alternate([shared], clock, 3)
        assert not degraded(shared)
        assert any("answers again" in r.getMessage() for r in caplog.records)
        assert await redis_client.zcard("resemble-detect:rate:{shared}:log") >= 1


async def test_a_hung_redis_never_stalls_a_start(redis_server: RedisServer) -> None:
    """A Redis that never answers costs one bounded call, then the local share: no hang."""
    clock = FakeClock()
    shared = limiter(redis_server, clock, timeout=0.05)
    await alternate([shared], clock, 1)
    redis_server.freeze()
    try:
        async with asyncio.timeout(5):  # real seconds: far more than the 0.05 s bound
            await alternate([shared], clock, 3)
        assert shared.degraded
    finally:
        redis_server.thaw()
        await shared.aclose()


async def test_an_unreachable_redis_from_the_start_is_not_fatal(
    redis_server: RedisServer,
) -> None:
    """Redis down before the first start: the limiter starts on its local share at once."""
    clock = FakeClock()
    redis_server.stop()
    async with limiter(redis_server, clock, assumed_processes=2) as shared:
        starts = await alternate([shared], clock, 21)
        assert shared.degraded and shared.local_rate == 20.0
    assert min(spans(starts, cap=20)) >= 1.0


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"rate": 0},
        {"rate": float("nan")},
        {"burst": 0},
        {"margin": -1},
        {"assumed_processes": 0},
        {"local_rate": -2},
        {"timeout": 0},
        {"probe_interval": True},
        {"prefix": "a{b}"},
        {"key_id": "has space"},
    ],
)
def test_bad_settings_are_refused(options: dict[str, object]) -> None:
    """Each bad setting is a ConfigurationError saying what is wrong, before any connection."""
    settings: dict[str, object] = {"key_id": "k"} | options
    with pytest.raises(ConfigurationError):
        RedisRateLimiter("redis://127.0.0.1:1/0", **settings)  # type: ignore[arg-type]


def test_a_budget_needs_a_key_or_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without api_key, key_id or RESEMBLE_API_KEY there is no budget to share: refused."""
    monkeypatch.delenv("RESEMBLE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="api_key"):
        RedisRateLimiter("redis://127.0.0.1:1/0")
    monkeypatch.setenv("RESEMBLE_API_KEY", SECRET)
    assert RedisRateLimiter("redis://127.0.0.1:1/0").key_id == hash_key(SECRET)


def test_it_is_a_rate_limiter_the_client_accepts() -> None:
    """The client takes it as rate_limiter= (async acquire, pause, on_rate_limited)."""
    shared = RedisRateLimiter("redis://127.0.0.1:1/0", api_key=SECRET)
    assert isinstance(shared, RateLimiter)
    client = DetectClient(api_key=SECRET, rate_limiter=shared)
    assert client is not None


def test_a_bad_url_is_a_configuration_error() -> None:
    """Something that is not a Redis URL is refused with what to write instead."""
    with pytest.raises(ConfigurationError, match="redis://"):
        RedisRateLimiter("http://example.com", key_id="k")


def test_importing_the_package_does_not_import_redis() -> None:
    """redis-py is an extra: `import resemble_detect_async` never imports it."""
    code = "import sys, resemble_detect_async; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
