"""``resemble-detect fetch --redis URL [--queue NAME]``: many processes, one key, one queue.

``--redis`` alone shares the API key's budget (about 40 requests per second, API notes §15)
with every other process using the same Redis and key, through
:class:`~resemble_detect_async.redis.RedisRateLimiter`; the fetch itself is the plain one.

``--queue NAME`` also shares the *work*: every worker started with the same ``--from``,
``--out``, ``--redis`` and ``--queue`` drains one Redis stream of uuids, and together they
write exactly one line per uuid.

* **Loading, once.** The first worker puts the uuids still to do into the stream
  (``XADD``), in one Lua script guarded by a "loaded" marker per queue, so that any number
  of workers starting at once load it once, and a queue is never half loaded.
* **Claiming, with acknowledgement** (a consumer group): a worker claims uuids
  (``XREADGROUP``), fetches them, appends the line, and only then acknowledges them
  (``XACK``, ``XDEL``) and adds them to the queue's done-set. A worker that dies mid-item
  leaves its uuids pending; after ``--claim-idle`` seconds without news a live worker takes
  them over (``XAUTOCLAIM``). Live workers renew their claims well before that.
* **Exactly one line per uuid.** All workers append to the same ``--out``, one whole line
  per ``write`` (``O_APPEND``) under an exclusive ``flock``; under that lock a worker first
  reads what the others appended, and writes nothing for a uuid that already has a line of
  this run (each line carries the queue's name and run id). So a uuid taken over from a
  worker that died between writing and acknowledging is acknowledged, not written twice.
  Taken-over uuids already in the done-set are acknowledged without a request.
* **Degrade, don't stall.** If Redis goes away mid-run, the rate limit falls back to this
  process's share and the worker goes on from its own ``--from`` list, skipping every uuid
  that has a line of this run (the shared file is the record); when Redis answers again it
  goes back to the queue (loading it again if Redis lost it). A worker never ends while
  uuids are pending with another worker, so the last one standing takes over the uuids of a
  dead one.

Workers must share the output file: one machine, or a file system where ``flock`` works
across machines. docs/redis.md has the recipe and the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import secrets
import socket
import time
import uuid as uuid_mod
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import attrs
import click

from resemble_detect_async import DEFAULT, AuthenticationError, RateLimiter

from ._exit import ExitCode, Failure, code_for_failures
from ._fetch import read_uuids
from ._jsonl import repair_tail, uuid_key
from ._output import emit_json, failure_summary, hint
from ._runtime import NO_KEY_MESSAGE, run, runtime

try:
    import redis.asyncio as aioredis
    import redis.exceptions

    from resemble_detect_async.redis import DEFAULT_PREFIX, RedisRateLimiter
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise Failure(
        "--redis needs the 'redis' extra: pip install 'resemble-detect-async[redis]'",
        ExitCode.MISSING_EXTRA,
    ) from exc

__all__ = [
    "QueueSettings",
    "SharedJsonl",
    "fetch_queue",
    "fetch_shared",
    "redis_client",
    "with_redis",
]

log = logging.getLogger("resemble_detect_async.redis")

GROUP: Final = "workers"
QUEUE_TTL_MS: Final = 7 * 24 * 3600 * 1000  # a queue's keys outlive its run by a week
REDIS_TIMEOUT: Final = 2.0  # seconds: the bound of every queue call (loading excepted)
PROBE_INTERVAL: Final = 2.0  # seconds between tries while Redis is away
LOCAL_IN_FLIGHT: Final = 4  # uuids a worker holds at once while Redis is away
_REDIS_DOWN: Final = (redis.exceptions.RedisError, OSError, TimeoutError)

# KEYS: loaded marker, stream, done-set. ARGV: marker (JSON), group, ttl (ms), then
# (uuid, index) pairs. Loads the queue unless it is already loaded; returns the marker.
_LOAD: Final = """
local marker = redis.call('GET', KEYS[1])
if marker then return marker end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
for i = 4, #ARGV - 1, 2 do
  redis.call('XADD', KEYS[2], '*', 'uuid', ARGV[i], 'index', ARGV[i + 1])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return ARGV[1]
"""


def redis_client(url: str, *, timeout: float = REDIS_TIMEOUT) -> aioredis.Redis:
    """A client for ``url`` whose calls fail fast: short socket timeouts, and one retry only
    (on a fresh connection: after a restart of Redis every pooled one is stale)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    try:
        return aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),  # once: a connection left over from before a restart
        )
    except ValueError as exc:
        raise Failure(
            f"--redis: not a Redis URL ({exc}); use redis://host:port/db, rediss:// for TLS, "
            "or unix:///path/to/redis.sock",
            ExitCode.USAGE,
        ) from None


def where(client: aioredis.Redis) -> str:
    """host:port (or the socket path) of a client, never its password."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def describe(error: BaseException) -> str:
    """A one-line reason (the exception's type and message)."""
    text = " ".join(str(error).split()) or "no details"
    return f"{type(error).__name__}: {text}"[:200]


@attrs.frozen(kw_only=True)
class QueueSettings:
    """What one ``fetch --redis`` run was asked for."""

    redis_url: str
    queue: str | None
    rate: float
    processes: int
    claim_idle: float


# -- the shared output file ---------------------------------------------------------------


class SharedJsonl:
    """The output file every worker of a queue appends to: one line per uuid, under ``flock``.

    A line is written with one ``write`` on an ``O_APPEND`` descriptor while holding an
    exclusive ``flock`` on the file; before writing, the worker reads every line appended
    since it last looked, so it knows each uuid that has a line of this run (lines carry
    ``queue`` and ``run``) and never writes a second one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self.newest_ok: dict[str, bool] = {}  # uuid key -> is its newest line a success
        self._runs: dict[str, set[str]] = {}  # uuid key -> the queue runs with a line for it
        self._tag: str | None = None
        self._fd = -1
        self._reader: IO[bytes] | None = None
        self._pos = 0

    def __enter__(self) -> SharedJsonl:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._reader = self.path.open("rb")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's exclusive lock (every worker's writes wait for it)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def open_run(self) -> int:
        """Cut a torn last line (a writer killed mid-line), then read the whole file."""
        with self.locked():
            torn = repair_tail(self.path)
            self.catch_up()
        return torn

    def use_run(self, queue: str, run: str) -> None:
        """From now on, a line "of this run" is one with this queue name and run id."""
        self._tag = f"{queue}\n{run}"

    def done(self, key: str) -> bool:
        """Whether ``key`` (a :func:`uuid_key`) has a line of this run, as last read."""
        return self._tag is not None and self._tag in self._runs.get(key, ())

    def catch_up(self) -> None:
        """Read the complete lines appended since the last look (by anyone)."""
        reader = self._reader
        assert reader is not None, "use SharedJsonl as a context manager"
        reader.seek(self._pos)
        data = reader.read()
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        for line in data[:end].splitlines():
            self._note(line)
        self._pos += end

    def _note(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict) or not isinstance(record.get("uuid"), str):
            return
        key = uuid_key(record["uuid"])
        self.newest_ok[key] = record.get("ok") is not False
        queue, run = record.get("queue"), record.get("run")
        if isinstance(queue, str) and isinstance(run, str):
            self._runs.setdefault(key, set()).add(f"{queue}\n{run}")

    def write_once(self, key: str, record: Mapping[str, Any]) -> bool:
        """Append ``record`` unless ``key`` already has a line of this run; True if written."""
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        with self.locked():
            self.catch_up()
            if self.done(key):
                return False
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self.catch_up()  # our own line (and anything before it)
        self.written += 1
        return True


# -- the queue in Redis -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Entry:
    """One claimed uuid: its stream id (None when taken from the local list) and position."""

    id: str | None
    uuid: str
    index: int


class Queue:
    """The Redis side of one queue: loading, claiming, renewing and acknowledging."""

    def __init__(self, client: aioredis.Redis, name: str, consumer: str) -> None:
        base = f"{DEFAULT_PREFIX}:queue:{{{name}}}"  # one Cluster slot per queue
        self.client = client
        self.name = name
        self.consumer = consumer
        self.stream = f"{base}:stream"
        self.loaded = f"{base}:loaded"
        self.done = f"{base}:done"
        self._load = client.register_script(_LOAD)

    async def _bounded(self, call: Any, timeout: float = REDIS_TIMEOUT) -> Any:
        async with asyncio.timeout(timeout):
            return await call

    async def marker(self) -> dict[str, Any] | None:
        """The loaded marker, or None if nobody loaded the queue (or Redis lost it)."""
        raw = await self._bounded(self.client.get(self.loaded))
        return _marker(raw) if raw is not None else None

    async def load(self, marker: Mapping[str, Any], items: Sequence[tuple[int, str]]) -> Any:
        """Load ``items`` with ``marker`` unless the queue is loaded; return the marker in force."""
        args: list[str | int] = [json.dumps(marker), GROUP, QUEUE_TTL_MS]
        for index, uuid in items:
            args += [uuid, index]
        keys = [self.loaded, self.stream, self.done]
        raw = await self._bounded(self._load(keys=keys, args=args), 30 + len(items) / 5000)
        return _marker(raw)

    async def claim(self, count: int, idle: float) -> list[Entry]:
        """Take up to ``count`` entries: those a worker left idle for ``idle`` seconds (it
        died, most likely) first, then new ones."""
        reply = await self._bounded(
            self.client.xautoclaim(
                self.stream, GROUP, self.consumer, int(idle * 1000), "0-0", count=count
            )
        )
        entries = _entries(reply[1])
        if len(entries) < count:
            reply = await self._bounded(
                self.client.xreadgroup(
                    GROUP, self.consumer, {self.stream: ">"}, count=count - len(entries)
                )
            )
            for _, messages in reply or ():
                entries += _entries(messages)
        return entries

    async def known_done(self, entries: Sequence[Entry]) -> list[bool]:
        """Whether each entry's uuid is in the done-set (its line is written)."""
        keys = [uuid_key(entry.uuid) for entry in entries]
        return [bool(x) for x in await self._bounded(self.client.smismember(self.done, keys))]

    async def renew(self, ids: Sequence[str], idle: float) -> None:
        """Reset the idle time of our claims, so that nobody takes them over.

        Only claims idle for at least ``idle`` seconds are renewed: one taken over a moment
        ago by another worker (we looked dead) stays with it.
        """
        if ids:
            await self._bounded(
                self.client.xclaim(
                    self.stream, GROUP, self.consumer, int(idle * 1000), list(ids), justid=True
                )
            )

    async def ack(self, entries: Sequence[Entry]) -> None:
        """Record the uuids as done and drop their entries (their lines are written)."""
        ids = [entry.id for entry in entries if entry.id is not None]
        if not ids:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(self.done, *{uuid_key(entry.uuid) for entry in entries})
        pipe.pexpire(self.done, QUEUE_TTL_MS)
        pipe.xack(self.stream, GROUP, *ids)
        pipe.xdel(self.stream, *ids)
        await self._bounded(pipe.execute())

    async def join(self) -> None:
        """Be a consumer of the group from now on (so that the others count us)."""
        await self._bounded(self.client.xgroup_createconsumer(self.stream, GROUP, self.consumer))

    async def peers(self, live: float) -> tuple[int, int]:
        """(our rank, how many) among the consumers heard of within ``live`` seconds."""
        names = {self.consumer}
        for consumer in await self._bounded(self.client.xinfo_consumers(self.stream, GROUP)):
            if int(consumer.get("idle", 0)) < live * 1000:
                names.add(_text(consumer["name"]))
        ranked = sorted(names)
        return ranked.index(self.consumer), len(ranked)

    async def remaining(self) -> int:
        """Entries not yet acknowledged (claimed by someone, or not yet claimed)."""
        return int(await self._bounded(self.client.xlen(self.stream)))

    async def ping(self) -> None:
        await self._bounded(self.client.ping())


def _marker(raw: bytes | str) -> dict[str, Any]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    value = json.loads(text)
    if not isinstance(value, dict) or not isinstance(value.get("run"), str):
        raise Failure("the queue's marker in Redis is not one this command wrote", ExitCode.ERROR)
    return value


def _entries(messages: Any) -> list[Entry]:
    found: list[Entry] = []
    for message_id, fields in messages or ():
        if not fields:
            continue  # deleted meanwhile (acknowledged by another worker)
        values = {_text(k): _text(v) for k, v in fields.items()}
        found.append(Entry(id=_text(message_id), uuid=values["uuid"], index=int(values["index"])))
    return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- one worker ---------------------------------------------------------------------------


class Worker:
    """Feeds uuids to the client's bulk machinery from the queue (or, with Redis away, from
    its own list), and settles each outcome: one line, then the acknowledgement."""

    def __init__(
        self,
        *,
        queue: Queue,
        out: SharedJsonl,
        uuids: Sequence[str],
        retry_failed: bool,
        claim_idle: float,
        batch: int,
    ) -> None:
        self.queue = queue
        self.out = out
        self.uuids = uuids
        self.retry_failed = retry_failed
        self.claim_idle = claim_idle
        self.batch = batch
        self.marker: dict[str, Any] = {}
        self.fed: list[Entry] = []  # what the bulk run was given, by its index
        self.claimed: dict[str, Entry] = {}  # stream id -> entry, until acknowledged
        self.unacked: list[Entry] = []  # settled while Redis was away
        self.degraded = False
        self.outages = 0
        self.already_done = 0  # claimed, found done: acknowledged without a request
        self.fetched_twice = 0  # fetched, but another worker had written the line meanwhile
        self.working: dict[str, int] = {}  # uuid key -> how many of its entries are in the run
        self._buffer: list[Entry] = []
        self._acked = asyncio.Event()
        self._settled = asyncio.Event()
        self._next_probe = 0.0
        self.peers = (0, 1)  # (our rank, how many workers): where to start if Redis goes
        self._local_order: list[tuple[int, str]] = []
        self._local_cursor = 0

    # -- loading ---------------------------------------------------------------------------

    def digest(self) -> str:
        """Names the list of uuids, so workers given another list are told."""
        text = "\n".join(uuid_key(uuid) for uuid in self.uuids)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def todo(self) -> list[tuple[int, str]]:
        """(index, uuid) of every uuid still to do: once each, no line of this run, and no
        line of an earlier one (or only a failed one, with ``--retry-failed``)."""
        seen: set[str] = set()
        todo: list[tuple[int, str]] = []
        for index, uuid in enumerate(self.uuids):
            key = uuid_key(uuid)
            if key in seen or self.out.done(key):
                continue
            seen.add(key)
            ok = self.out.newest_ok.get(key)
            if ok is None or (self.retry_failed and not ok):
                todo.append((index, uuid))
        return todo

    async def load(self, run: str | None = None) -> None:
        """Load the queue (or join it); ``run`` reloads one that Redis lost, same run id."""
        marker: dict[str, Any] = {
            "run": run or uuid_mod.uuid4().hex[:12],
            "digest": self.digest(),
            "uuids": len(self.uuids),
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "loaded_by": self.queue.consumer,
        }
        if run is not None:
            self.out.use_run(self.queue.name, run)
        existing = await self.queue.marker()
        if existing is None:
            self.out.use_run(self.queue.name, marker["run"])
            items = self.todo()
            marker["queued"] = len(items)
            existing = await self.queue.load(marker, items)
        if existing.get("digest") != marker["digest"]:
            raise Failure(
                f"queue {self.queue.name!r} holds another list of uuids ({existing.get('uuids')} "
                f"uuids, loaded at {existing.get('loaded_at')}): give every worker the same "
                "--from, or use a new --queue name for a new list",
                ExitCode.USAGE,
            )
        self.marker = existing
        self.out.use_run(self.queue.name, existing["run"])
        self.out.catch_up()
        await self.queue.join()
        await self.look_around()

    async def look_around(self) -> None:
        """Note our rank among the live workers: without Redis, we start our own list at
        rank / workers of it, so that the workers do not walk it side by side."""
        self.peers = await self.queue.peers(max(10.0, self.claim_idle))

    # -- feeding ---------------------------------------------------------------------------

    async def feed(self) -> AsyncGenerator[str, None]:
        """The uuids to work on, claimed as the bulk run's workers ask for them."""
        poll = min(1.0, max(0.05, self.claim_idle / 4))
        while True:
            if self._buffer:
                yield self._hand_out(self._buffer.pop(0))
                continue
            if self.degraded:
                if time.monotonic() >= self._next_probe and await self._try_back():
                    continue  # back on the queue
                if len(self.working) >= LOCAL_IN_FLIGHT:
                    # Nobody knows what we hold now: hold little, so that a worker reaching
                    # our part of the list finds it done, not in flight (fetched twice).
                    self._settled.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._settled.wait(), poll)
                    continue
                entry = self._next_local()
                if entry is None:
                    return  # every uuid of our list has its line, or is being worked on here
                yield self._hand_out(entry)
                continue
            try:
                if await self._claim():
                    continue
                if await self.queue.remaining() == 0:
                    return  # every entry is acknowledged: the queue is drained
            except _REDIS_DOWN as exc:
                self._went_away(exc)
                continue
            # Uuids are pending with us or other workers: wait for news. Ours end sooner
            # than any poll, so an acknowledgement of ours wakes us at once.
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), poll)

    def _hand_out(self, entry: Entry) -> str:
        self.fed.append(entry)
        self.working[uuid_key(entry.uuid)] = self.working.get(uuid_key(entry.uuid), 0) + 1
        return entry.uuid

    async def _claim(self) -> bool:
        """Claim a batch: keep what is to do, acknowledge what is done. False: nothing came."""
        entries = [
            entry
            for entry in await self.queue.claim(self.batch, self.claim_idle)
            if entry.id not in self.claimed  # our own, taken back by --claim-idle 0
        ]
        if not entries:
            return False
        known = await self.queue.known_done(entries)
        self.out.catch_up()
        done: list[Entry] = []
        for entry, in_done_set in zip(entries, known, strict=True):
            assert entry.id is not None
            self.claimed[entry.id] = entry
            if in_done_set or self.out.done(uuid_key(entry.uuid)):
                done.append(entry)  # its line is written: a dead worker did not get to ack
            else:
                self._buffer.append(entry)
        if done:
            self.already_done += len(done)
            await self.settle_ack(done)
        return True

    def _next_local(self) -> Entry | None:
        """With Redis away: the next uuid of our own list without a line of this run.

        We walk our part of the list; on reaching a uuid with a line we are in another
        worker's part, so we jump to the middle of the longest run of uuids nobody has done
        yet (walking behind another worker would fetch what it holds, twice).
        """
        self.out.catch_up()
        order = self._local_order
        while self._local_cursor < len(order):
            index, uuid = order[self._local_cursor]
            key = uuid_key(uuid)
            if self.out.done(key):
                break
            self._local_cursor += 1
            if key not in self.working:
                return Entry(id=None, uuid=uuid, index=index)
        free = [
            position
            for position, (_, uuid) in enumerate(order)
            if not self.out.done(uuid_key(uuid)) and uuid_key(uuid) not in self.working
        ]
        if not free:
            return None
        start, length, best = free[0], 1, (1, free[0])
        for previous, position in itertools.pairwise(free):
            start, length = (start, length + 1) if position == previous + 1 else (position, 1)
            best = max(best, (length, start))
        length, start = best
        self._local_cursor = start + length // 2
        index, uuid = order[self._local_cursor]
        self._local_cursor += 1
        return Entry(id=None, uuid=uuid, index=index)

    def _went_away(self, error: BaseException) -> None:
        self._next_probe = time.monotonic() + PROBE_INTERVAL
        if self.degraded:
            return
        self.degraded = True
        self.outages += 1
        self.out.catch_up()
        # Each worker walks the list backwards from its own place (rank / workers of the
        # way): the uuids just claimed from the queue, in flight elsewhere, come first in
        # the list, so they are reached last, when they are done.
        order = self.todo()[::-1]
        rank, workers = self.peers
        start = len(order) * rank // workers
        order = order[start:] + order[:start]
        self._local_order = order
        self._local_cursor = 0
        hint(
            f"queue {self.queue.name!r}: Redis went away ({describe(error)}); going on with "
            f"the {len(order)} uuids of --from that have no line yet, as worker {rank + 1} "
            f"of {workers}"
        )

    async def _try_back(self) -> bool:
        """With Redis away, every few seconds: is it back? Then back to the queue."""
        self._next_probe = time.monotonic() + PROBE_INTERVAL
        try:
            await self.queue.ping()
            if await self.queue.marker() is None:  # Redis lost the queue: load what is left
                self.claimed.clear()
                self.unacked.clear()
                await self.load(run=str(self.marker["run"]))
            if self.unacked:
                await self.queue.ack(self.unacked)
                self.unacked.clear()
        except _REDIS_DOWN:
            return False
        self.degraded = False
        hint(f"queue {self.queue.name!r}: Redis answers again; taking uuids from the queue")
        return True

    # -- settling --------------------------------------------------------------------------

    def settled(self, entry: Entry) -> None:
        """The bulk run is done with ``entry`` (its line is written, or already was)."""
        key = uuid_key(entry.uuid)
        left = self.working.get(key, 0) - 1
        if left > 0:
            self.working[key] = left
        else:
            self.working.pop(key, None)
        self._settled.set()

    async def settle_ack(self, entries: Sequence[Entry]) -> None:
        """Acknowledge entries whose uuid has its line; kept for later while Redis is away."""
        queued = [entry for entry in entries if entry.id is not None]
        if not queued:
            return
        if self.degraded:
            self.unacked += queued
        else:
            try:
                await self.queue.ack(queued)
            except _REDIS_DOWN as exc:
                self.unacked += queued
                self._went_away(exc)
        for entry in queued:  # ours until acknowledged: never claimed back meanwhile
            assert entry.id is not None
            self.claimed.pop(entry.id, None)
        self._acked.set()

    async def renew_claims(self) -> None:
        """Renew our claims every third of --claim-idle (and see who else is working), until
        cancelled."""
        period = self.claim_idle / 3 if self.claim_idle > 0 else 5.0
        while True:
            await asyncio.sleep(period)
            if self.degraded:
                continue
            with contextlib.suppress(*_REDIS_DOWN):
                if self.claimed and self.claim_idle > 0:
                    await self.queue.renew(list(self.claimed), self.claim_idle / 4)
                await self.look_around()


class CountingLimiter:
    """The run's limiter, counting the requests it let start and the 429s it heard of."""

    def __init__(self, limiter: RedisRateLimiter) -> None:
        self.limiter = limiter
        self.requests = 0
        self.rate_limited = 0
        self.first: float | None = None
        self.last: float | None = None

    async def acquire(self) -> None:
        await self.limiter.acquire()
        self.requests += 1
        self.last = time.time()
        if self.first is None:
            self.first = self.last

    def pause(self, seconds: float) -> None:
        self.limiter.pause(seconds)

    def on_rate_limited(self, retry_after: float | None) -> None:
        self.rate_limited += 1
        self.limiter.on_rate_limited(retry_after)

    def release(self) -> None:
        self.limiter.release()

    def stats(self) -> dict[str, Any]:
        """What the summary reports about the requests (wall-clock times, for comparing
        the processes of one run)."""
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "first_request_at": self.first,
            "last_request_at": self.last,
            "redis_outages": self.limiter.outages,
        }


class _ToStderr(logging.Handler):
    """The limiter's warnings (Redis away, Redis back) as notes on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        hint(f"note: {record.getMessage()}")


@contextlib.contextmanager
def _limiter_notes() -> Iterator[None]:
    handler = _ToStderr(logging.INFO)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


def _api_key() -> str:
    key = os.environ.get("RESEMBLE_API_KEY", "").strip()
    if not key:
        raise Failure(NO_KEY_MESSAGE, ExitCode.NO_KEY)
    return key


async def _connected(settings: QueueSettings) -> aioredis.Redis:
    client = redis_client(settings.redis_url)
    try:
        await asyncio.wait_for(client.ping(), REDIS_TIMEOUT)
    except _REDIS_DOWN as exc:
        await client.aclose()
        raise Failure(
            f"--redis: cannot reach Redis at {where(client)} ({describe(exc)}); nothing was "
            "fetched",
            ExitCode.ERROR,
        ) from None
    return client


async def fetch_shared(settings: QueueSettings, fetch: Any, **options: Any) -> ExitCode:
    """``--redis`` without ``--queue``: the plain fetch, with the key's budget shared."""
    key = _api_key()
    client = await _connected(settings)
    limiter = RedisRateLimiter(
        client, rate=settings.rate, api_key=key, assumed_processes=settings.processes
    )
    try:
        with _limiter_notes():
            code: ExitCode = await fetch(limiter=limiter, **options)
            return code
    finally:
        await limiter.aclose()
        await client.aclose()


async def fetch_queue(
    settings: QueueSettings,
    uuids: Sequence[str],
    out: Path,
    *,
    wait: bool,
    timeout: float | None,
    concurrency: int | None,
    experts: bool,
    retry_failed: bool,
    as_json: bool,
) -> ExitCode:
    """``--redis --queue``: one worker of a shared queue (see the module's documentation)."""
    assert settings.queue is not None
    key = _api_key()
    client = await _connected(settings)
    consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
    limiter = CountingLimiter(
        RedisRateLimiter(
            client, rate=settings.rate, api_key=key, assumed_processes=settings.processes
        )
    )
    failures: list[BaseException] = []
    refused: AuthenticationError | None = None
    try:
        with SharedJsonl(out) as shared, _limiter_notes():
            torn = shared.open_run()
            if torn:
                hint(f"{out}: removed an incomplete last line ({torn} bytes) left by a stopped run")
            # Claimed uuids wait for the shared budget: few are needed in flight to use it, and
            # fewer claimed means less to take over (or fetch twice) when something goes away.
            workers = concurrency or (256 if wait else 16)
            worker = Worker(
                queue=Queue(client, settings.queue, consumer),
                out=shared,
                uuids=uuids,
                retry_failed=retry_failed,
                claim_idle=settings.claim_idle,
                batch=max(1, min(workers, 16)),
            )
            try:
                await worker.load()
            except _REDIS_DOWN as exc:
                raise Failure(
                    f"--redis: lost Redis while loading queue {settings.queue!r} "
                    f"({describe(exc)}); run the command again",
                    ExitCode.ERROR,
                ) from None
            refused = await _drain(
                worker,
                limiter,
                failures,
                wait=wait,
                timeout=timeout,
                concurrency=workers,
                experts=experts,
            )
            summary = {
                "out": str(out),
                "queue": settings.queue,
                "run": worker.marker.get("run"),
                "worker": consumer,
                "uuids": len(uuids),
                "written": shared.written,
                "failed": len(failures),
                "already_done": worker.already_done,
                "fetched_twice": worker.fetched_twice,
                "degraded": worker.outages > 0,
                **limiter.stats(),
            }
    finally:
        await limiter.limiter.aclose()
        await client.aclose()
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"{out}: this worker wrote {summary['written']} lines for queue "
            f"{settings.queue!r} ({len(failures)} failed); {worker.already_done} uuids it "
            f"claimed already had their line; {limiter.requests} requests, "
            f"{limiter.rate_limited} answered 429"
        )
    if refused is not None:
        raise Failure(
            f"{refused} (check RESEMBLE_API_KEY); this worker wrote nothing more: run the "
            "same command again to resume",
            ExitCode.UNAUTHORIZED,
        )
    code = code_for_failures(failures)
    if code is not ExitCode.OK:
        reason = failure_summary(failures, shared.written)
        raise Failure(f"{reason} (each has its line in {out}; --retry-failed redoes them)", code)
    return code


async def _drain(
    worker: Worker,
    limiter: CountingLimiter,
    failures: list[BaseException],
    *,
    wait: bool,
    timeout: float | None,
    concurrency: int,
    experts: bool,
) -> AuthenticationError | None:
    """Run the bulk machinery over the queue; write and acknowledge each outcome."""
    rate_limiter: RateLimiter = limiter
    renewing = asyncio.create_task(worker.renew_claims())
    feed = worker.feed()
    try:
        async with runtime().make_client(rate_limiter=rate_limiter) as client:
            stream = client.iter_results(
                feed,
                wait=wait,
                timeout=DEFAULT if timeout is None else timeout,
                concurrency=concurrency,
                experts=experts,
            )
            async with stream:
                async for outcome in stream:
                    entry = worker.fed[outcome.index]
                    if isinstance(outcome.error, AuthenticationError):
                        # Every uuid would get the same 401: write none, acknowledge none.
                        return outcome.error
                    line = outcome.to_dict()
                    line["index"] = entry.index
                    line["queue"] = worker.queue.name
                    line["run"] = worker.marker["run"]
                    line["worker"] = worker.queue.consumer
                    if worker.out.write_once(uuid_key(entry.uuid), line):
                        if outcome.error is not None:
                            failures.append(outcome.error)
                    else:
                        worker.fetched_twice += 1
                    worker.settled(entry)
                    await worker.settle_ack([entry])
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        await feed.aclose()
        if worker.unacked and not worker.degraded:
            with contextlib.suppress(*_REDIS_DOWN):
                await worker.queue.ack(worker.unacked)
    return None


def with_redis(
    source: IO[str],
    out: Path,
    *,
    fetch: Any,
    redis_url: str | None,
    queue: str | None,
    claim_idle: float | None,
    processes: int | None,
    rate_limit: float | None,
    wait: bool,
    timeout: float | None,
    concurrency: int | None,
    experts: bool,
    retry_failed: bool,
    as_json: bool,
) -> ExitCode:
    """``fetch`` with any of the Redis options: check them, then share the limit (and the
    work, with ``--queue``). ``fetch`` is the plain fetch's coroutine function."""
    given = {"--claim-idle": claim_idle, "--processes": processes, "--rate-limit": rate_limit}
    if redis_url is None:
        extra = (["--queue"] if queue is not None else []) + [
            name for name, value in given.items() if value is not None
        ]
        raise click.UsageError(f"{', '.join(extra)}: only with --redis URL (or RESEMBLE_REDIS_URL)")
    if queue is not None and (not queue.strip() or any(ch in queue for ch in "{} \n")):
        raise click.UsageError("--queue: a name without spaces or braces, e.g. 'audit-june'")
    settings = QueueSettings(
        redis_url=redis_url,
        queue=queue,
        rate=rate_limit or 40.0,
        processes=processes or 4,
        claim_idle=30.0 if claim_idle is None else claim_idle,
    )
    if queue is None:
        return run(
            fetch_shared(
                settings,
                fetch,
                source=source,
                out=out,
                wait=wait,
                timeout=timeout,
                concurrency=concurrency,
                experts=experts,
                retry_failed=retry_failed,
                as_json=as_json,
            )
        )
    return run(
        fetch_queue(
            settings,
            read_uuids(source),
            out,
            wait=wait,
            timeout=timeout,
            concurrency=concurrency,
            experts=experts,
            retry_failed=retry_failed,
            as_json=as_json,
        )
    )
