"""Integration: four `resemble-detect fetch --redis --queue` processes, one API key, against a
standalone fake Detect API that refuses (429) a 41st request in any sliding second, and a real
redis-server. Real time: each test runs 4 x 300 uuids at 40/s (about 32 s of requests) and
is bounded by a 60 s timeout per process.

benchmarks/bench_redis.py runs the same scenarios at the issue's size (4 x 2,000 uuids).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisServer

from resemble_detect_async import DetectClient, Detection, RateLimitError

KEY = "workers-test-key"
RATE = 40
WORKERS = 4
UUIDS = WORKERS * 300
PROCESS_TIMEOUT = 60.0  # seconds, per worker process


class FakeAPI:
    """`python -m resemble_detect_async.testing --rate-limit 40` in a subprocess, logging
    every request (its access log is how we count the 429s it sent)."""

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
        assert self.base_url.startswith("http://"), self.base_url

    def answers(self) -> Counter[int]:
        """Statuses of every request so far, from the access log."""
        found = re.findall(r'HTTP/1\.1" (\d{3}) ', self.log.read_text())
        return Counter(int(status) for status in found)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log_file.close()


@pytest.fixture(scope="module")
def fake_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAPI]:
    api = FakeAPI(tmp_path_factory.mktemp("fake") / "access.log")
    try:
        yield api
    finally:
        api.stop()


def seed(api: FakeAPI, n: int) -> list[str]:
    """n completed detections, made with batches of 50 (a handful of requests), then a quiet
    second so that the run starts with the fake's window empty."""

    async def make() -> list[str]:
        async with DetectClient(api_key=KEY, base_url=api.base_url) as client:
            uuids: list[str] = []
            for start in range(0, n, 50):
                size = min(50, n - start)
                files = [(f"u{start + i}.wav", b"RIFF-fake-WAVE") for i in range(size)]
                batch = await client.create_batch(files)
                uuids += (await client.get_batch(batch.uuid)).detect_uuids
            return uuids

    uuids = asyncio.run(make())
    assert len(set(uuids)) == n
    time.sleep(1.1)
    return uuids


class Run:
    """Four workers of one queue: `--from uuids.txt --out results.jsonl`, all the same."""

    def __init__(self, api: FakeAPI, redis: RedisServer, directory: Path, uuids: list[str]) -> None:
        self.uuids = uuids
        self.out = directory / "results.jsonl"
        source = directory / "uuids.txt"
        source.write_text("\n".join(uuids) + "\n")
        env = dict(os.environ, RESEMBLE_API_KEY=KEY, RESEMBLE_BASE_URL=api.base_url)
        command = [sys.executable, "-m", "resemble_detect_async", "fetch", "--json"]
        command += ["--redis", redis.url, "--queue", "test-queue", "--claim-idle", "2"]
        command += ["--from", str(source), "--out", str(self.out)]
        self.before = api.answers()
        self.workers = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(WORKERS)
        ]

    def lines(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def wait_for_lines(self, n: int) -> None:
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while len(self.lines()) < n:
            assert time.monotonic() < deadline, f"fewer than {n} lines in {PROCESS_TIMEOUT} s"
            time.sleep(0.05)

    def finish(self) -> list[tuple[int, dict[str, Any] | None, str]]:
        """(exit code, JSON summary or None, stderr) of each worker."""
        results = []
        for worker in self.workers:
            try:
                out, err = worker.communicate(timeout=PROCESS_TIMEOUT)
            except subprocess.TimeoutExpired:
                for other in self.workers:
                    other.kill()
                raise
            text = out.decode().strip()
            summary = json.loads(text.splitlines()[-1]) if text else None
            results.append((worker.returncode, summary, err.decode()))
        return results

    def assert_every_uuid_once(self) -> None:
        counts = Counter(line["uuid"] for line in self.lines())
        assert set(counts) == set(self.uuids), "lost uuids"
        assert max(counts.values()) == 1, "a uuid with two lines"
        assert all(line["ok"] for line in self.lines())


def summaries(results: Sequence[tuple[int, dict[str, Any] | None, str]]) -> list[dict[str, Any]]:
    found = [summary for _, summary, _ in results if summary is not None]
    assert found
    return found


def test_the_standalone_fake_refuses_a_41st_request_in_a_second(tmp_path: Path) -> None:
    """`python -m resemble_detect_async.testing --rate-limit 40` answers 429 past 40 a second."""
    api = FakeAPI(tmp_path / "access.log")

    async def burst() -> list[BaseException | Detection]:
        async with DetectClient(
            api_key=KEY, base_url=api.base_url, rate_limit=None, max_retries=0
        ) as client:
            calls = [client.get_detection(str(uuid.uuid4())) for _ in range(RATE + 5)]
            return await asyncio.gather(*calls, return_exceptions=True)

    try:
        answers = asyncio.run(burst())
    finally:
        api.stop()
    refused = [a for a in answers if isinstance(a, RateLimitError)]
    assert 5 <= len(refused) < RATE
    assert api.answers()[429] == len(refused)


def test_four_workers_share_40_per_second_and_write_every_uuid_once(
    fake_api: FakeAPI, redis_server: RedisServer, tmp_path: Path
) -> None:
    """4 workers x 300 uuids, one key: <= 40/s, >= 90 % of it, no 429, one line per uuid."""
    run = Run(fake_api, redis_server, tmp_path, seed(fake_api, UUIDS))
    results = run.finish()
    assert [code for code, _, _ in results] == [0] * WORKERS, results
    run.assert_every_uuid_once()
    stats = summaries(results)
    requests = sum(s["requests"] for s in stats)
    span = max(s["last_request_at"] for s in stats) - min(s["first_request_at"] for s in stats)
    rate = requests / span
    assert requests == UUIDS
    assert rate <= RATE
    assert rate / RATE >= 0.9, f"utilisation {rate / RATE:.2f}"
    assert sum(s["rate_limited"] for s in stats) == 0
    assert (fake_api.answers() - run.before)[429] == 0
    assert all(s["written"] > 0 for s in stats)  # the work was shared


def test_a_killed_worker_loses_nothing(
    fake_api: FakeAPI, redis_server: RedisServer, tmp_path: Path
) -> None:
    """A worker SIGKILLed mid-run: the others take its uuids over; one line per uuid."""
    run = Run(fake_api, redis_server, tmp_path, seed(fake_api, UUIDS))
    run.wait_for_lines(UUIDS // 4)
    run.workers[0].send_signal(signal.SIGKILL)
    results = run.finish()
    assert results[0][0] == -signal.SIGKILL
    assert [code for code, _, _ in results[1:]] == [0] * (WORKERS - 1), results
    run.assert_every_uuid_once()


def test_workers_go_on_when_redis_stops_and_comes_back(
    fake_api: FakeAPI, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis stopped mid-run, then back empty: workers degrade, reload, finish; none lost."""
    run = Run(fake_api, redis_server, tmp_path, seed(fake_api, UUIDS))
    run.wait_for_lines(UUIDS // 4)
    redis_server.stop()
    stopped_at = len(run.lines())
    run.wait_for_lines(stopped_at + 100)  # progress without Redis
    redis_server.start()
    results = run.finish()
    assert [code for code, _, _ in results] == [0] * WORKERS, results
    run.assert_every_uuid_once()
    assert all(s["degraded"] and s["redis_outages"] >= 1 for s in summaries(results))
    assert all("Redis went away" in err for _, _, err in results)
