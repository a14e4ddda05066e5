"""The hot path: the SDK's fetch against a hand-written raw aiohttp loop, side by side.

A local server (its own process, so it does not share the client's core) answers every
``GET /api/v2/detect/{uuid}`` at once with a small completed detection. In one run and on
one machine, this script measures requests per second for:

* ``raw bulk``:   64 concurrent ``session.get`` + ``json.loads`` (no models, no checks);
* ``sdk bulk``:   ``client.fetch_many(uuids)`` at the same concurrency, full typed models;
* ``raw loop`` / ``sdk loop``: one request after another (``get_detection`` in a loop);
* ``convert``:    the converter alone on the same body, against ``json.loads`` alone.

and prints each SDK figure as a ratio of its raw twin: requests per second, and the client's
CPU time per request (steadier on a busy machine, since it leaves the server out). Runs
alternate (raw, sdk, raw, sdk, ...) and the best of each is kept, so background noise hits
both sides alike.

    python benchmarks/bench_fetch.py            # 20,000 bulk, 3,000 loop, 3 rounds
    python benchmarks/bench_fetch.py --n 5000 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from resemble_detect_async import DetectClient
from resemble_detect_async._converter import structure_detection

CONCURRENCY = 64

ITEM: dict[str, Any] = {
    "media_type": "audio",
    "status": "completed",
    "metrics": {
        "label": "fake",
        "score": ["0.9", "0.8", "0.7"],
        "consistency": "0.85",
        "aggregated_score": "0.566",
    },
    "audio_source_tracing": {"label": "resemble_ai", "error_message": None},
    "url": "https://storage.example.com/audio/suspicious.wav",
    "audio_url": "https://storage.example.com/audio/suspicious.wav",
    "filename": "suspicious.wav",
    "duration": 8.2,
    "zero_retention_mode": False,
    "file_deleted_at": None,
    "created_at": "2024-01-15T10:30:00Z",
    "updated_at": "2024-01-15T10:30:05Z",
}


def _body(uuid: str) -> bytes:
    return json.dumps({"success": True, "item": {"uuid": uuid, **ITEM}}).encode()


def _serve(port: int, ready: Any) -> None:
    async def get(request: web.Request) -> web.Response:
        return web.Response(body=_body(request.match_info["uuid"]), content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/api/v2/detect/{uuid}", get)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def raw_bulk(base: str, uuids: list[str]) -> None:
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    results: list[Any] = []  # kept, as fetch_many keeps its outcomes
    async with aiohttp.ClientSession(connector=connector) as session:
        # A fixed pool, like the SDK's: the raw side must not pay for 20,000 tasks either.
        queue = iter(uuids)

        async def worker() -> None:
            for uuid in queue:
                async with session.get(f"{base}/detect/{uuid}") as resp:
                    results.append(json.loads(await resp.read()))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    assert len(results) == len(uuids)


async def sdk_bulk(base: str, uuids: list[str]) -> None:
    async with _client(base) as client:
        outcomes = await client.fetch_many(uuids, concurrency=CONCURRENCY)
    bad = [o for o in outcomes if not o.ok]
    assert not bad, bad[0].error


async def raw_loop(base: str, uuids: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for uuid in uuids:
            async with session.get(f"{base}/detect/{uuid}") as resp:
                json.loads(await resp.read())


async def sdk_loop(base: str, uuids: list[str]) -> None:
    async with _client(base) as client:
        for uuid in uuids:
            await client.get_detection(uuid)


def _client(base: str) -> DetectClient:
    # The default retry policy (and so the per-call bound); only the rate limit is lifted, so
    # that both sides run as fast as the server answers.
    return DetectClient("bench-key", base_url=base, rate_limit=None, max_concurrency=CONCURRENCY)


def _rate(
    fn: Callable[[str, list[str]], Awaitable[None]], base: str, uuids: list[str]
) -> tuple[float, float]:
    """Requests per second (wall clock), and the client's CPU microseconds per request
    (steadier than the wall clock on a busy machine: it leaves out the server's share)."""
    start, cpu = time.perf_counter(), time.process_time()
    asyncio.run(fn(base, uuids))
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    return len(uuids) / wall, used / len(uuids) * 1e6


def _convert_ratio(n: int) -> tuple[float, float]:
    bodies = [_body(f"uuid-{i}") for i in range(n)]
    start = time.perf_counter()
    for raw in bodies:
        json.loads(raw)
    loads = time.perf_counter() - start
    start = time.perf_counter()
    for raw in bodies:
        structure_detection(json.loads(raw))
    full = time.perf_counter() - start
    return (full - loads) / n * 1e6, loads / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="uuids per bulk run")
    parser.add_argument("--loop", type=int, default=3_000, help="requests per sequential run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (best kept)")
    args = parser.parse_args(argv)

    port = _free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(10)
    base = f"http://127.0.0.1:{port}/api/v2"
    try:
        bulk = [f"uuid-{i}" for i in range(args.n)]
        loop = [f"uuid-{i}" for i in range(args.loop)]
        _rate(raw_loop, base, loop[:200])  # warm up both sides
        _rate(sdk_loop, base, loop[:200])
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, fn, uuids in (
                ("raw bulk", raw_bulk, bulk),
                ("sdk bulk", sdk_bulk, bulk),
                ("raw loop", raw_loop, loop),
                ("sdk loop", sdk_loop, loop),
            ):
                rate, cpu_us = _rate(fn, base, uuids)
                best[name] = max(best.get(name, 0.0), rate)
                cpu[name] = min(cpu.get(name, math.inf), cpu_us)
    finally:
        server.terminate()
        server.join()

    convert_us, loads_us = _convert_ratio(5_000)
    runs = f"{args.n} bulk / {args.loop} loop, best of {args.rounds}"
    print(f"python {sys.version.split()[0]}, {runs}")
    print(
        f"{'path':<6} {'raw req/s':>10} {'sdk req/s':>10} {'sdk/raw':>8}"
        f"   {'raw cpu us':>10} {'sdk cpu us':>10} {'raw/sdk':>8}"
    )
    for kind in ("bulk", "loop"):
        raw, sdk = best[f"raw {kind}"], best[f"sdk {kind}"]
        raw_cpu, sdk_cpu = cpu[f"raw {kind}"], cpu[f"sdk {kind}"]
        print(
            f"{kind:<6} {raw:>10.0f} {sdk:>10.0f} {sdk / raw:>7.2f}x"
            f"   {raw_cpu:>10.0f} {sdk_cpu:>10.0f} {raw_cpu / sdk_cpu:>7.2f}x"
        )
    print(
        f"converter: {convert_us:.1f} us per detection on top of json.loads "
        f"({loads_us:.1f} us), {convert_us / loads_us:.1f}x json.loads"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
