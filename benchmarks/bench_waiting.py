"""Requests per settled detection and lag, for each way of waiting for many detections.

Against the fake API on a virtual clock (so minutes of waiting take seconds), N detections
finish at times spread evenly over a window (60 s by default). For each strategy it prints:
requests per detection (single GETs plus list pages plus callbacks' confirming GETs), and
the mean and p99 lag between a detection finishing and its waiter returning:

* ``poll``: one GET per pending uuid per round, with the default poll policy;
* ``callback``: a CallbackReceiver with confirming GETs, polling as the slow fallback
  (the fake API posts each callback when the detection finishes). Callbacks travel over
  real sockets, so this row runs on the real clock with the window shrunk tenfold;
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
from resemble_detect_async.webhooks import CallbackReceiver


def _requests(fake: FakeDetectAPI) -> int:
    return sum(1 for r in fake.requests if r.method == "GET")


async def run_callbacks(n: int, window: float) -> dict[str, Any]:
    """Callbacks cannot be modelled in virtual time (they travel over real sockets): this
    one runs on the real clock, over a window of ``window / 10`` seconds."""
    window = window / 10
    async with FakeDetectAPI() as fake, fake_client(fake, poll=PollPolicy()) as client:
        receiver = CallbackReceiver(client)
        async with receiver.serve() as url:
            finish: dict[str, float] = {}
            now = time.monotonic()
            for i in range(n):
                after = window * (i + 1) / n
                uuid = fake.add_detection(seconds_to_complete=after, options={"callback_url": url})
                finish[uuid] = now + after
            lags: list[float] = []
            async with client.iter_results(list(finish), wait=True) as stream:
                async for outcome in stream:
                    assert outcome.ok, outcome.error
                    lags.append(max(0.0, time.monotonic() - finish[outcome.uuid]))
        requests = _requests(fake)
    lags.sort()
    return {
        "per_detection": requests / n,
        "mean_lag": statistics.fmean(lags),
        "p99_lag": lags[min(len(lags) - 1, int(0.99 * len(lags)))],
    }


async def run(strategy: str, n: int, window: float) -> dict[str, Any]:
    if strategy == "callback":
        return await run_callbacks(n, window)
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
    parser.add_argument("--strategies", nargs="+", default=["poll", "callback", "scan"])
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
