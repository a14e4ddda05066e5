"""`resemble-detect fetch --redis URL --queue NAME`, one worker in this process, against the
fake Detect API and a real redis-server: loading once, claiming with acknowledgement, taking
over a dead worker's uuids, exactly one line per uuid, and going on when Redis goes away.

The command runs in a worker thread (it calls `asyncio.run` itself) while the test's loop
serves the fake API. `--rate-limit 1000` keeps the shared limiter's spacing to a millisecond.
The multi-process runs are in test_redis_workers.py.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner, Result
from conftest import RedisServer

from resemble_detect_async import PollPolicy, RetryPolicy
from resemble_detect_async.cli import Runtime, app, environment_client
from resemble_detect_async.cli._fetch_redis import Queue, SharedJsonl, Worker
from resemble_detect_async.cli._jsonl import uuid_key
from resemble_detect_async.redis import hash_key
from resemble_detect_async.testing import FakeDetectAPI

QUICK = Runtime(
    make_client=lambda **options: environment_client(
        poll=PollPolicy.no_wait(), retry=RetryPolicy.no_wait(), **options
    ),
    monotonic=lambda: 0.0,
)


class Worker_:
    """Runs `resemble-detect fetch --redis ... ARGS` the way a shell would, in a thread."""

    def __init__(self, fake: FakeDetectAPI, server: RedisServer, tmp_path: Path) -> None:
        self.fake = fake
        self.server = server
        self.out = tmp_path / "results.jsonl"
        self.source = tmp_path / "uuids.txt"

    async def __call__(self, *args: str, queue: str | None = "q1") -> Result:
        argv = ["fetch", "--redis", self.server.url, "--rate-limit", "1000"]
        argv += ["--from", str(self.source), "--out", str(self.out), "--json", *args]
        if queue is not None:
            argv += ["--queue", queue]
        env = {"RESEMBLE_API_KEY": self.fake.api_key, "RESEMBLE_BASE_URL": self.fake.base_url}
        return await asyncio.to_thread(invoke, argv, env)

    def lines(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def gets(self) -> Counter[str]:
        """GET /detect/{uuid} requests the fake received, by uuid."""
        return Counter(
            request.path.rsplit("/", 1)[1]
            for request in self.fake.requests
            if request.method == "GET" and request.path.startswith("/detect/")
        )


def invoke(argv: Sequence[str], env: Mapping[str, str | None]) -> Result:
    plain = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None, "COLUMNS": None, "LINES": None}
    return CliRunner().invoke(
        app, list(argv), env={**plain, **env}, obj=QUICK, catch_exceptions=False
    )


def summary(result: Result) -> dict[str, Any]:
    value = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(value, dict)
    return value


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def worker(fake: FakeDetectAPI, redis_server: RedisServer, tmp_path: Path) -> Worker_:
    return Worker_(fake, redis_server, tmp_path)


def seed(fake: FakeDetectAPI, worker: Worker_, n: int) -> list[str]:
    uuids = [fake.add_detection(polls_to_complete=0) for _ in range(n)]
    worker.source.write_text("\n".join(uuids) + "\n")
    return uuids


async def dead_worker(
    client: aioredis.Redis, worker: Worker_, uuids: Sequence[str], *, claims: int
) -> tuple[Queue, SharedJsonl, list[Any]]:
    """A worker that loaded queue q1, claimed ``claims`` uuids, and died (nothing acked)."""
    queue = Queue(client, "q1", "dead-worker")
    out = SharedJsonl(worker.out)
    out.__enter__()
    out.open_run()
    loader = Worker(queue=queue, out=out, uuids=uuids, retry_failed=False, claim_idle=30, batch=8)
    await loader.load()
    return queue, out, await queue.claim(claims, 30)


# --- one worker ------------------------------------------------------------------------------


async def test_a_worker_writes_one_line_per_uuid_and_drains_the_queue(
    worker: Worker_, fake: FakeDetectAPI, redis_client: aioredis.Redis
) -> None:
    """Each uuid gets one line (queue, run, worker, --from index); the queue ends empty."""
    uuids = seed(fake, worker, 5)
    with worker.source.open("a") as source:
        source.write(f"# a comment\n{uuids[0].upper()}\n")
    result = await worker("--processes", "2")
    assert result.exit_code == 0, result.output
    lines = worker.lines()
    assert sorted(line["uuid"] for line in lines) == sorted(uuids)
    assert {line["index"] for line in lines} == set(range(5))
    assert {line["queue"] for line in lines} == {"q1"}
    assert len({line["run"] for line in lines}) == 1
    assert len({line["worker"] for line in lines}) == 1
    assert summary(result)["written"] == 5 and summary(result)["requests"] == 5
    assert await redis_client.xlen("resemble-detect:queue:{q1}:stream") == 0
    assert await redis_client.scard("resemble-detect:queue:{q1}:done") == 5


async def test_running_a_drained_queue_again_writes_nothing(
    worker: Worker_, fake: FakeDetectAPI
) -> None:
    """The queue is loaded once: a second run of the same command finds it drained."""
    seed(fake, worker, 3)
    assert (await worker()).exit_code == 0
    again = await worker()
    assert again.exit_code == 0, again.output
    assert summary(again)["written"] == 0 and summary(again)["requests"] == 0
    assert len(worker.lines()) == 3


async def test_a_worker_given_another_list_is_refused(worker: Worker_, fake: FakeDetectAPI) -> None:
    """A queue name holds one list: a worker with another --from is told, exit 64."""
    seed(fake, worker, 2)
    assert (await worker()).exit_code == 0
    seed(fake, worker, 2)
    result = await worker()
    assert result.exit_code == 64
    assert "another list" in result.output


async def test_a_claimed_uuid_whose_line_is_written_is_acknowledged_not_fetched(
    worker: Worker_, fake: FakeDetectAPI, redis_client: aioredis.Redis
) -> None:
    """A uuid written but not acked by a dead worker is acked, not fetched, not written."""
    uuids = seed(fake, worker, 4)
    _, out, claimed = await dead_worker(redis_client, worker, uuids, claims=1)
    dead = claimed[0]
    line = {"index": dead.index, "uuid": dead.uuid, "ok": True, "detection": None}
    assert out.write_once(uuid_key(dead.uuid), line | {"queue": "q1", "run": out_run(worker)})
    out.__exit__(None, None, None)
    result = await worker("--claim-idle", "0")
    assert result.exit_code == 0, result.output
    assert Counter(line["uuid"] for line in worker.lines()) == Counter(uuids)
    assert dead.uuid not in worker.gets() and summary(result)["already_done"] == 1
    assert await redis_client.xlen("resemble-detect:queue:{q1}:stream") == 0


async def test_a_dead_workers_unwritten_uuids_are_taken_over(
    worker: Worker_, fake: FakeDetectAPI, redis_client: aioredis.Redis
) -> None:
    """Uuids claimed by a worker that died before writing are fetched by another: none lost."""
    uuids = seed(fake, worker, 5)
    _, out, claimed = await dead_worker(redis_client, worker, uuids, claims=3)
    out.__exit__(None, None, None)
    assert len(claimed) == 3
    result = await worker("--claim-idle", "0")
    assert result.exit_code == 0, result.output
    assert Counter(line["uuid"] for line in worker.lines()) == Counter(uuids)
    assert worker.gets() == Counter(uuids)


async def test_a_uuid_in_the_done_set_is_acknowledged_without_a_request(
    worker: Worker_, fake: FakeDetectAPI, redis_client: aioredis.Redis
) -> None:
    """A uuid another worker recorded as done is acknowledged, not fetched again."""
    uuids = seed(fake, worker, 3)
    _, out, claimed = await dead_worker(redis_client, worker, uuids, claims=1)
    out.__exit__(None, None, None)
    await redis_client.sadd("resemble-detect:queue:{q1}:done", uuid_key(claimed[0].uuid))
    result = await worker("--claim-idle", "0")
    assert result.exit_code == 0, result.output
    assert claimed[0].uuid not in worker.gets()
    assert await redis_client.xlen("resemble-detect:queue:{q1}:stream") == 0


def out_run(worker: Worker_) -> str:
    """The run id of queue q1, from a line or the marker (read through the file's owner)."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(worker.server.url)
    try:
        marker = client.get("resemble-detect:queue:{q1}:loaded")
    finally:
        client.close()
    assert isinstance(marker, bytes)
    run = json.loads(marker)["run"]
    assert isinstance(run, str)
    return run


# --- the shared file -------------------------------------------------------------------------


def test_two_writers_of_one_file_never_write_a_uuid_twice(tmp_path: Path) -> None:
    """Of two writers of one file, the second line of a uuid in this run is refused."""
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"uuid": "A", "ok": True, "queue": "q", "run": "old"}) + "\n")
    with SharedJsonl(path) as first, SharedJsonl(path) as second:
        for writer in (first, second):
            writer.open_run()
            writer.use_run("q", "new")
        assert first.write_once("a", {"uuid": "A", "ok": True, "queue": "q", "run": "new"})
        assert not second.write_once("a", {"uuid": "A", "ok": True, "queue": "q", "run": "new"})
        assert second.write_once("b", {"uuid": "B", "ok": False, "queue": "q", "run": "new"})
    assert [json.loads(line)["uuid"] for line in path.read_text().splitlines()] == ["A", "A", "B"]


def test_a_torn_last_line_is_cut_before_the_run(tmp_path: Path) -> None:
    """A half-written line left by a killed writer is removed, so nothing glues onto it."""
    path = tmp_path / "out.jsonl"
    path.write_text('{"uuid": "A", "ok": true}\n{"uuid": "B", "o')
    with SharedJsonl(path) as out:
        assert out.open_run() == len('{"uuid": "B", "o')
        assert set(out.newest_ok) == {"a"}


# --- usage and outages -----------------------------------------------------------------------


async def test_queue_options_need_redis(worker: Worker_, fake: FakeDetectAPI) -> None:
    """--queue, --claim-idle, --processes and --rate-limit without --redis are bad usage."""
    seed(fake, worker, 1)
    env = {"RESEMBLE_API_KEY": fake.api_key, "RESEMBLE_BASE_URL": fake.base_url}
    base = ["fetch", "--from", str(worker.source), "--out", str(worker.out)]
    for extra in (["--queue", "q"], ["--claim-idle", "3"], ["--processes", "2"]):
        result = await asyncio.to_thread(invoke, base + extra, env)
        assert result.exit_code == 64, extra
        assert "--redis" in result.output
    assert not worker.out.exists()


async def test_an_unreachable_redis_at_the_start_fetches_nothing(
    worker: Worker_, fake: FakeDetectAPI
) -> None:
    """With Redis down before anything started, the worker says so and exits 1."""
    seed(fake, worker, 2)
    worker.server.stop()
    result = await worker()
    assert result.exit_code == 1
    assert "cannot reach Redis" in result.output
    assert worker.lines() == [] and not worker.gets()


async def test_fetch_with_redis_alone_shares_the_key_budget(
    worker: Worker_, fake: FakeDetectAPI, redis_client: aioredis.Redis
) -> None:
    """--redis without --queue is the plain fetch, its starts counted in the key's budget."""
    uuids = seed(fake, worker, 3)
    result = await worker(queue=None)
    assert result.exit_code == 0, result.output
    assert sorted(line["uuid"] for line in worker.lines()) == sorted(uuids)
    log = f"resemble-detect:rate:{{{hash_key(fake.api_key)}}}:log"
    assert await redis_client.zcard(log) == 3


async def test_a_worker_goes_on_when_redis_stops(
    worker: Worker_, fake: FakeDetectAPI, redis_server: RedisServer
) -> None:
    """Redis stopped mid-run: the worker finishes from its own list, one line per uuid."""
    uuids = seed(fake, worker, 40)
    run = asyncio.create_task(worker("--rate-limit", "20", "--processes", "1"))
    async with asyncio.timeout(30):
        while len(worker.lines()) < 8:
            await asyncio.sleep(0.02)
        redis_server.stop()
        result = await run
    assert result.exit_code == 0, result.output
    assert Counter(line["uuid"] for line in worker.lines()) == Counter(uuids)
    assert summary(result)["degraded"] is True
    assert "Redis went away" in result.output
