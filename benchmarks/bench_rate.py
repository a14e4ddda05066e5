"""The rate budget: the SDK's limiter against a fake API that allows 40 requests per sliding second.

Each scenario starts its own fake Detect API in a separate process
(``FakeDetectAPI(rate_limit=40, rate_window=1)``: a 429 without ``Retry-After`` for any
request that would put a 41st accepted request in one second), seeds ``--n`` completed
detections and fetches them all with ``client.fetch_many`` under the default retry policy,
concurrency and clock. It prints, side by side:

* ``req/s``: requests the fake answered per second of the run (any status);
* ``util``: req/s / 40, the share of the budget used;
* ``429 lim``: 429s from the fake's 40/s limit; ``429 inj``: injected ones;
* ``dup`` / ``lost``: outcomes reported twice / uuids without a successful outcome.

Scenarios: (a) a clean server; (b) 10 % of requests answered 429 at random, half of them
with ``Retry-After: 1`` (a seeded schedule of ``Fault`` rules), and each half alone. Limiters:
the old one (GCRA with exact 25 ms spacing, reserving before it sleeps, pausing the client on
every 429: emulated below), the new default ``TokenBucket``, and ``TokenBucket(burst=40)``.
A bursting limiter's last window ends early, which flatters its rate by up to 40 requests.

    python benchmarks/bench_rate.py            # 1,200 fetches per row (about 9 minutes)
    python benchmarks/bench_rate.py --quick    # 300 fetches per row
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
import multiprocessing
import random
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from resemble_detect_async import DetectClient, RateLimiter, SystemClock, TokenBucket
from resemble_detect_async.testing import FakeDetectAPI, Fault

LIMIT = 40.0
KEY = "bench-key"
MIXES: dict[str, tuple[float, float]] = {  # name: (share of bare 429s, share with Retry-After: 1)
    "clean": (0.0, 0.0),
    "10% 429, half RA": (0.05, 0.05),
    "5% bare 429 only": (0.05, 0.0),
    "5% RA 429 only": (0.0, 0.05),
}


class OldTokenBucket:
    """The limiter before issue 11: GCRA at exactly 1/rate, a slot reserved before sleeping.

    It has only the original protocol (``acquire``, ``pause``), so the client pauses it for
    every 429, with Retry-After or without, as it used to.
    """

    def __init__(self, rate: float) -> None:
        self._clock = SystemClock()
        self._interval = 1.0 / rate
        self._tat = -math.inf
        self._paused_until = -math.inf

    async def acquire(self) -> None:
        while True:
            now = self._clock.monotonic()
            if now < self._paused_until:
                await self._clock.sleep(self._paused_until - now)
                continue
            tat = max(self._tat, now)
            self._tat = tat + self._interval
            if tat <= now:
                return
            await self._clock.sleep(tat - now)
            if self._clock.monotonic() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        until = self._clock.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self._tat = max(self._tat, until)


LIMITERS: dict[str, Callable[[], RateLimiter]] = {
    "old 25 ms GCRA": lambda: OldTokenBucket(LIMIT),
    "new default": lambda: TokenBucket(LIMIT, clock=SystemClock()),
    "burst=40": lambda: TokenBucket(LIMIT, burst=40, clock=SystemClock()),
}
ROWS = [  # (mix, limiter)
    ("clean", "old 25 ms GCRA"),
    ("clean", "new default"),
    ("10% 429, half RA", "old 25 ms GCRA"),
    ("10% 429, half RA", "new default"),
    ("5% bare 429 only", "old 25 ms GCRA"),
    ("5% bare 429 only", "new default"),
    ("5% RA 429 only", "new default"),
    ("10% 429, half RA", "burst=40"),
]


def _fault_rules(bare: float, with_retry_after: float, count: int, seed: int) -> list[Fault]:
    """A seeded random fault for each of the next ``count`` requests, as Fault rules in order.

    A run of untouched requests is one ``Fault.slow(0)`` rule (a no-op) with ``times`` set,
    so the rules apply one by one to requests in arrival order.
    """
    rnd = random.Random(seed)
    rules: list[Fault] = []
    clean = 0
    for _ in range(count):
        draw = rnd.random()
        if draw >= bare + with_retry_after:
            clean += 1
            continue
        if clean:
            rules.append(Fault.slow(0.0, times=clean))
            clean = 0
        rules.append(Fault.rate_limited(1 if draw < with_retry_after else None))
    return rules


def _serve(conn: Connection, n: int, bare: float, with_retry_after: float, seed: int) -> None:
    """The fake API process: serve until told to stop, then send back what it saw."""

    async def main() -> None:
        fake = FakeDetectAPI(api_key=KEY, rate_limit=LIMIT, rate_window=1.0)
        uuids = [fake.add_detection(polls_to_complete=0) for _ in range(n)]
        for rule in _fault_rules(bare, with_retry_after, 4 * n, seed):
            fake.inject(rule)
        conn.send((await fake.start(), uuids))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        statuses = collections.Counter(r.status for r in fake.requests)
        conn.send(
            {
                "requests": len(fake.requests),
                "statuses": dict(statuses),
                "rate_limited": fake.rate_limited,
                "faults_left": len(fake.faults),
            }
        )
        await fake.close()

    asyncio.run(main())


async def _fetch_all(base: str, uuids: list[str], limiter: RateLimiter) -> tuple[float, Any]:
    async with DetectClient(KEY, base_url=base, rate_limiter=limiter) as client:
        start = time.perf_counter()
        outcomes = await client.fetch_many(uuids)
        return time.perf_counter() - start, outcomes


def run(n: int, mix: str, limiter_name: str, seed: int) -> dict[str, Any]:
    bare, with_retry_after = MIXES[mix]
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(theirs, n, bare, with_retry_after, seed))
    server.start()
    try:
        base, uuids = ours.recv()
        elapsed, outcomes = asyncio.run(_fetch_all(base, uuids, LIMITERS[limiter_name]()))
        ours.send("stop")
        seen = ours.recv()
    finally:
        server.join(10)
        if server.is_alive():
            server.terminate()
    indices = collections.Counter(o.index for o in outcomes)
    ok = {o.index for o in outcomes if o.ok}
    status_429 = seen["statuses"].get(429, 0)
    if seen["faults_left"] == 0 and mix != "clean":
        print(f"warning: the fault schedule ran out during {mix!r}", file=sys.stderr)
    return {
        "mix": mix,
        "limiter": limiter_name,
        "seconds": elapsed,
        "req_s": seen["requests"] / elapsed,
        "fetch_s": n / elapsed,
        "limit_429": seen["rate_limited"],
        "injected_429": status_429 - seen["rate_limited"],
        "dup": sum(count - 1 for count in indices.values()),
        "lost": n - len(ok),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_200, help="fetches per scenario")
    parser.add_argument("--quick", action="store_true", help="300 fetches per scenario")
    parser.add_argument("--seed", type=int, default=11, help="seed of the fault schedules")
    args = parser.parse_args(argv)
    n = 300 if args.quick else args.n

    rows = [run(n, mix, limiter, args.seed) for mix, limiter in ROWS]

    print(f"python {sys.version.split()[0]}, {n} fetches per row, fake API at 40 req/s")
    header = (
        f"{'scenario':<18} {'limiter':<15} {'req/s':>6} {'util':>5} {'fetch/s':>7} "
        f"{'429 lim':>7} {'429 inj':>7} {'dup':>4} {'lost':>4} {'secs':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['mix']:<18} {row['limiter']:<15} {row['req_s']:>6.1f} "
            f"{row['req_s'] / LIMIT:>5.2f} {row['fetch_s']:>7.1f} {row['limit_429']:>7} "
            f"{row['injected_429']:>7} {row['dup']:>4} {row['lost']:>4} {row['seconds']:>6.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
