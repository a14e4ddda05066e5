"""Requests per settled detection and lag, for each way of waiting for many detections.

Against the fake API on a virtual clock (so minutes of waiting take seconds), N detections
finish at times spread evenly over a window (60 s by default). For each strategy it prints:
requests per detection (single GETs plus list pages plus callbacks' confirming GETs), and
the mean and p99 lag between a detection finishing and its waiter returning:

* ``poll``: one GET per pending uuid per round, with the default poll policy;
* ``callback``: a CallbackReceiver with confirming GETs, polling as the slow fallback
  (the fake API posts each callback when the detection finishes);
* ``scan``: list pages of 1,000 newest detections per round (``strategy="scan"``).

    python benchmarks/bench_waiting.py                 # 100, 1,000 and 10,000 pending
    python benchmarks/bench_waiting.py --sizes 100 1000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

from resemble_detect_async import PollPolicy
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, fake_client


def _requests(fake: FakeDetectAPI) -> int:
    return sum(1 for r in fake.requests if r.method == "GET")


async def run(strategy: str, n: int, window: float) -> dict[str, Any]:
    clock = FakeClock()
    api_kwargs: dict[str, Any] = {"clock": clock}
    async with FakeDetectAPI(**api_kwargs) as fake:
        finish: dict[str, float] = {}
        for i in range(n):
            after = window * (i + 1) / n
            finish[fake.add_detection(seconds_to_complete=after)] = clock.now + after
        lags: list[float] = []
        async with fake_client(fake, clock=clock, poll=PollPolicy()) as client:
            stream = client.iter_results(list(finish), wait=True, strategy=strategy)  # type: ignore[arg-type]
            async with stream:
                async for outcome in stream:
                    assert outcome.ok, outcome.error
                    lags.append(max(0.0, clock.now - finish[outcome.uuid]))
        requests = _requests(fake)
    lags.sort()
    return {
        "strategy": strategy,
        "n": n,
        "per_detection": requests / n,
        "mean_lag": statistics.fmean(lags),
        "p99_lag": lags[min(len(lags) - 1, int(0.99 * len(lags)))],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--window", type=float, default=60.0, help="completion spread, s")
    parser.add_argument("--strategies", nargs="+", default=["poll", "scan"])
    args = parser.parse_args(argv)
    print(f"completions spread over {args.window:g} s (virtual time); default poll policy")
    header = ("pending", "strategy", "req/detection", "mean lag s", "p99 lag s")
    print("{:>8} {:>9} {:>14} {:>11} {:>10}".format(*header))
    for n in args.sizes:
        for strategy in args.strategies:
            started = time.perf_counter()
            row = asyncio.run(run(strategy, n, args.window))
            print(
                f"{n:>8} {strategy:>9} {row['per_detection']:>14.2f} {row['mean_lag']:>11.2f} "
                f"{row['p99_lag']:>10.2f}   ({time.perf_counter() - started:.0f} s real)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
