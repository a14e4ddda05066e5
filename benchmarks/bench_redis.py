"""Many processes, one key: `resemble-detect fetch --redis --queue` workers against a fake API
that allows 40 requests per sliding second (issue 12).

Each scenario seeds ``--workers`` x ``--per-worker`` completed detections (one list, one
queue) in a standalone fake Detect API
(``python -m resemble_detect_async.testing --rate-limit 40``: a 429 for a 41st request in
any sliding second), starts a fresh ``redis-server`` and ``--workers`` worker processes
(``python -m resemble_detect_async fetch --redis URL --queue NAME``, all appending to one
``--out``), and prints:

* ``req/s``: GETs of detections the fake answered (its access log), per second from the
  first to the last request the workers made; ``util``: req/s / 40;
* ``429 w`` / ``429 s``: 429s the workers heard of / the fake logged sending;
* ``lines``, ``dup``, ``lost``: output lines, uuids with more than one line, uuids without.

Scenarios: ``clean``; ``kill``: one worker SIGKILLed once a quarter of the lines are written
(the others take its uuids over after ``--claim-idle 5``); ``redis-down``: Redis stopped once
a quarter of the lines are written and started again, empty, 10 s later (the workers go on
from their own lists, then load what is left).

    python benchmarks/bench_redis.py                    # 4 x 2,000 uuids (about 11 minutes)
    python benchmarks/bench_redis.py --per-worker 300   # the size the test suite uses

Needs ``redis-server`` on PATH and the ``redis`` and ``cli`` extras.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from resemble_detect_async import DetectClient

KEY = "bench-redis-key"
RATE = 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Redis:
    """A redis-server without persistence, restartable on its port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None


class FakeAPI:
    """The standalone fake with a 40/s limit, its access log in a file."""

    def __init__(self, log: Path) -> None:
        self.log = log
        command = [sys.executable, "-m", "resemble_detect_async.testing", "--port", "0"]
        command += ["--api-key", KEY, "--rate-limit", str(RATE), "--polls-to-complete", "0", "-v"]
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log_file, text=True
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()

    def answers(self) -> Counter[tuple[str, int]]:
        """(GET of a detection or other, status) of every logged request."""
        found = re.findall(r'"(\w+) (\S+) HTTP/1\.1" (\d{3}) ', self.log.read_text())
        return Counter(
            (
                "get"
                if method == "GET" and re.fullmatch(r"/api/v2/detect/[0-9a-f-]{36}", path)
                else "other",
                int(status),
            )
            for method, path, status in found
        )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log_file.close()


def seed(api: FakeAPI, n: int) -> list[str]:
    async def make() -> list[str]:
        async with DetectClient(api_key=KEY, base_url=api.base_url) as client:
            uuids: list[str] = []
            for start in range(0, n, 50):
                size = min(50, n - start)
                files = [(f"b{start + i}.wav", b"RIFF-fake-WAVE") for i in range(size)]
                batch = await client.create_batch(files)
                uuids += (await client.get_batch(batch.uuid)).detect_uuids
            return uuids

    uuids = asyncio.run(make())
    time.sleep(1.1)  # the fake's window empties before the run
    return uuids


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def scenario(name: str, api: FakeAPI, n: int, workers: int, root: Path) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    redis = Redis(directory)
    redis.start()
    uuids = seed(api, n)
    source, out = directory / "uuids.txt", directory / "results.jsonl"
    source.write_text("\n".join(uuids) + "\n")
    env = dict(os.environ, RESEMBLE_API_KEY=KEY, RESEMBLE_BASE_URL=api.base_url)
    command = [sys.executable, "-m", "resemble_detect_async", "fetch", "--json"]
    command += ["--redis", redis.url, "--queue", f"bench-{name}", "--claim-idle", "5"]
    command += ["--from", str(source), "--out", str(out)]
    before = api.answers()
    started = time.time()
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(workers)
    ]
    event = ""
    if name in ("kill", "redis-down"):
        while count_lines(out) < n // 4:
            time.sleep(0.05)
        if name == "kill":
            procs[0].send_signal(signal.SIGKILL)
            event = f"worker 1 killed at {count_lines(out)} lines"
        else:
            redis.stop()
            down_at = count_lines(out)
            time.sleep(10)
            event = f"Redis down at {down_at} lines, {count_lines(out) - down_at} written in 10 s"
            redis.start()
    summaries: list[dict[str, Any]] = []
    codes: list[int] = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=3600)
        codes.append(proc.returncode)
        text = stdout.decode().strip()
        if text:
            summaries.append(json.loads(text.splitlines()[-1]))
        if proc.returncode not in (0, -signal.SIGKILL):
            print(f"worker failed ({proc.returncode}): {stderr.decode()[-2000:]}", file=sys.stderr)
    elapsed = time.time() - started
    redis.stop()
    answers = api.answers() - before
    gets = sum(count for (kind, _), count in answers.items() if kind == "get")
    first = min(s["first_request_at"] for s in summaries if s["first_request_at"])
    last = max(s["last_request_at"] for s in summaries if s["last_request_at"])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    counts = Counter(line["uuid"] for line in lines)
    shutil.rmtree(directory, ignore_errors=True)
    return {
        "scenario": name,
        "uuids": n,
        "workers": workers,
        "exit codes": codes,
        "elapsed s": round(elapsed, 1),
        "requests": gets,
        "req/s": round(gets / (last - first), 2),
        "util": round(gets / (last - first) / RATE, 3),
        "429 w": sum(s["rate_limited"] for s in summaries),
        "429 s": sum(count for (_, status), count in answers.items() if status == 429),
        "lines": len(lines),
        "dup": sum(1 for count in counts.values() if count > 1),
        "lost": len(set(uuids) - set(counts)),
        "outages": sum(s["redis_outages"] for s in summaries),
        "event": event,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--per-worker", type=int, default=2000, help="uuids per worker (the list has workers x N)"
    )
    parser.add_argument(
        "--scenarios", default="clean,kill,redis-down", help="comma-separated scenarios"
    )
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server is not on PATH (apt-get install redis-server)", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    api = FakeAPI(root / "access.log")
    rows = []
    try:
        for name in args.scenarios.split(","):
            row = scenario(name, api, args.workers * args.per_worker, args.workers, root)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        api.stop()
        shutil.rmtree(root, ignore_errors=True)
    columns = ["scenario", "uuids", "elapsed s", "requests", "req/s", "util", "429 w", "429 s"]
    columns += ["lines", "dup", "lost", "outages"]
    print()
    print(" | ".join(f"{c:>10}" for c in columns))
    for row in rows:
        print(" | ".join(f"{row[c]!s:>10}" for c in columns))
    for row in rows:
        if row["event"]:
            print(f"{row['scenario']}: {row['event']}; exit codes {row['exit codes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
