"""The journal of a bulk job: one SQLite table saying, for each input, how far it got.

Why a journal: POST /detect bills, and its answer is the only place the new uuid appears
(API notes §3.4). A job that writes the uuid down *after* the answer loses every detection
created while it was killed, and a rerun creates them again. So each input is written down
*before* its POST leaves (state ``sending``, with the time and what identifies the media),
again as soon as the answer names the uuid (``created``), and once more with its outcome
(``finished``). A crash at any instant leaves every input in a known state:

========== ==============================================================================
pending    never sent, or refused by the API (nothing was created): safe to send
sending    a POST was started and no answer was recorded: in doubt until reconciled
created    the detection exists (``uuid``); wait for it, never create it again
in_doubt   sent, and the list of detections could not tell whether it was created
finished   the outcome is final (completed, failed, or the detection is gone)
========== ==============================================================================

Why SQLite: it is in the standard library, a commit is atomic and durable, WAL mode lets
you query the table while a job runs (``sqlite3 job.db "select state, count(*) from inputs
group by state"``), and one row per input keeps 100,000 inputs cheap. Each state change
is committed (``synchronous=FULL``) before its caller goes on, so the ``sending`` row is
on disk before the POST leaves, even across a power cut. A commit takes about 0.5 ms
(median) but 5–35 ms at the 99th percentile (an fsync on a busy disk), so the database
lives on one dedicated thread and the event loop only awaits futures; changes that arrive
while a commit is running are group-committed together (docs/bulk-jobs.md has the figures).

A second run on the same journal while the first is alive would send everything twice, so
a file journal is locked (``<journal>.lock``, an advisory ``flock`` released by the OS even
on ``kill -9``; not available on Windows, where the lock is skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs

from .errors import JournalError

if sys.platform != "win32":  # flock is POSIX; Windows runs without the lock
    import fcntl

__all__ = [
    "CREATED",
    "FINISHED",
    "IN_DOUBT",
    "PENDING",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SENDING",
    "Identity",
    "Journal",
    "Row",
]

T = TypeVar("T")

PENDING: Final = "pending"
SENDING: Final = "sending"
CREATED: Final = "created"
IN_DOUBT: Final = "in_doubt"
FINISHED: Final = "finished"

SCHEMA_VERSION: Final = 1
"""``PRAGMA user_version`` of a journal; another value is refused, never migrated blindly."""

SCHEMA: Final = """\
CREATE TABLE IF NOT EXISTS inputs (
    idx            INTEGER PRIMARY KEY,  -- position in the input list (0-based)
    fingerprint    TEXT    NOT NULL,     -- sha256 of what identifies the input and its options
    kind           TEXT    NOT NULL,     -- url | file | media_token
    url            TEXT,                 -- url inputs: the URL sent
    path           TEXT,                 -- files read from disk: the absolute path
    filename       TEXT,                 -- the filename sent (a media token's, if given)
    size           INTEGER,              -- bytes, when known
    media_type     TEXT,                 -- audio | video | image, from the extension
    zero_retention INTEGER NOT NULL DEFAULT 0,  -- 1 when sent with zero_retention_mode
    options_sha    TEXT    NOT NULL,     -- sha256 of the create options
    state          TEXT    NOT NULL,     -- pending | sending | created | in_doubt | finished
    posts          INTEGER NOT NULL DEFAULT 0,  -- POST /detect started for it, all runs
    sent_at        REAL,                 -- Unix time the last POST was started
    answered_at    REAL,                 -- Unix time its answer or failure came (NULL: none)
    uuid           TEXT UNIQUE,          -- the detection, once known
    origin         TEXT,                 -- submitted | adopted (found by reconciliation)
    note           TEXT,                 -- why in doubt, refused, or sent again
    ok             INTEGER,              -- 1 or 0: whether the latest outcome is a success
    outcome        TEXT,                 -- the latest outcome as one JSON line
    updated_at     REAL    NOT NULL      -- Unix time of the last change
)"""


@attrs.frozen(kw_only=True)
class Identity:
    """What identifies one input: stored with its row, compared on resume, matched against
    list items during reconciliation."""

    fingerprint: str
    kind: str
    url: str | None = None
    path: str | None = None
    filename: str | None = None
    size: int | None = None
    media_type: str | None = None
    zero_retention: bool = False
    options_sha: str = ""


@attrs.frozen(kw_only=True)
class Row:
    """One row of the journal as read back."""

    idx: int
    fingerprint: str
    kind: str
    url: str | None
    path: str | None
    filename: str | None
    size: int | None
    state: str
    posts: int
    sent_at: float | None
    answered_at: float | None
    uuid: str | None
    origin: str | None
    note: str | None
    ok: bool | None
    outcome: str | None


_ROW_COLUMNS: Final = (
    "idx, fingerprint, kind, url, path, filename, size, state, posts, sent_at, answered_at, "
    "uuid, origin, note, ok, outcome"
)


def jsonl_path_for(journal: Path) -> Path:
    """The default JSONL export beside a journal: ``job.db`` → ``job.jsonl``."""
    out = journal.with_suffix(".jsonl")
    return out if out != journal else journal.with_name(journal.name + ".out.jsonl")


class Journal:
    """The journal of one run: a SQLite database (a file, or memory for ``path=None``).

    The database is only ever touched on the journal's own thread, one call at a time. State
    changes are committed in the order they were made, several per transaction when they
    arrive together, and each caller resumes once its own change is committed.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="resemble-journal"
        )
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._queue: list[tuple[str, tuple[Any, ...], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed (each serves one or more state changes)
        self.slowest_commit = 0.0  # seconds, on the journal thread (never on the event loop)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise JournalError("the journal is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # -- opening ------------------------------------------------------------------------

    async def open(self) -> dict[int, Row]:
        """Open (or create) the journal, lock it, and read every row.

        Raises:
            JournalError: another live run holds the journal, or the file is not a journal
                of this version.
        """
        return await self._call(self._open)

    def _open(self) -> dict[int, Row]:
        where = str(self.path) if self.path is not None else None
        try:
            if self.path is not None:
                self._lock(self.path)
            db = sqlite3.connect(
                ":memory:" if self.path is None else self.path, isolation_level=None
            )
        except (sqlite3.Error, OSError) as exc:
            self._unlock()
            raise JournalError(f"cannot open the journal {where}: {exc}", path=where) from None
        self._db = db
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            if self.path is not None:
                db.execute("PRAGMA journal_mode = WAL")  # readers never block the job
            db.execute("PRAGMA synchronous = FULL")  # `sending` is on disk before the POST
            _ensure_schema(db, where)
            cursor = db.execute(f"SELECT {_ROW_COLUMNS} FROM inputs ORDER BY idx")  # noqa: S608
            return {row[0]: _row(row) for row in cursor}
        except sqlite3.Error as exc:
            self._close()
            raise JournalError(f"cannot read the journal {where}: {exc}", path=where) from None
        except BaseException:
            self._close()
            raise

    def _lock(self, path: Path) -> None:
        if sys.platform == "win32":  # pragma: no cover - not on the CI platform
            return
        lock_path = path.with_name(path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise JournalError(
                f"the journal {path} is in use by a running job (pid {holder}); two runs on "
                "one journal would submit the same inputs twice",
                path=str(path),
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    # -- rows ---------------------------------------------------------------------------

    async def register(self, identities: Sequence[Identity], rows: dict[int, Row]) -> None:
        """Insert a ``pending`` row for each new index, and refresh the identity of rows that
        were never sent (their input may change freely: nothing exists for it yet)."""
        await self._call(self._register, identities, rows)

    def _register(self, identities: Sequence[Identity], rows: dict[int, Row]) -> None:
        db = self._connection()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            for idx, ident in enumerate(identities):
                row = rows.get(idx)
                values = (
                    ident.fingerprint,
                    ident.kind,
                    ident.url,
                    ident.path,
                    ident.filename,
                    ident.size,
                    ident.media_type,
                    int(ident.zero_retention),
                    ident.options_sha,
                    now,
                )
                if row is None:
                    db.execute(
                        "INSERT INTO inputs (fingerprint, kind, url, path, filename, size, "
                        "media_type, zero_retention, options_sha, updated_at, idx, state) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                        (*values, idx),
                    )
                elif row.state == PENDING and (
                    row.fingerprint != ident.fingerprint or row.size != ident.size
                ):
                    db.execute(
                        "UPDATE inputs SET fingerprint = ?, kind = ?, url = ?, path = ?, "
                        "filename = ?, size = ?, media_type = ?, zero_retention = ?, "
                        "options_sha = ?, updated_at = ? WHERE idx = ?",
                        (*values, idx),
                    )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def sending(self, idx: int, sent_at: float) -> None:
        """Before the POST leaves: the input may be created from now on."""
        await self._write(
            "UPDATE inputs SET state = 'sending', posts = posts + 1, sent_at = ?, "
            "answered_at = NULL, uuid = NULL, origin = NULL, updated_at = ? WHERE idx = ?",
            (sent_at, time.time(), idx),
        )

    async def created(
        self, idx: int, uuid: str, *, origin: str, answered_at: float | None, note: str | None
    ) -> None:
        """The detection is known: from now on the input is only ever waited for."""
        await self._write(
            "UPDATE inputs SET state = 'created', uuid = ?, origin = ?, "
            "answered_at = COALESCE(?, answered_at), note = COALESCE(?, note), updated_at = ? "
            "WHERE idx = ?",
            (uuid, origin, answered_at, note, time.time(), idx),
        )

    async def unsent(self, idx: int, *, note: str, answered_at: float | None) -> None:
        """Nothing was created (refused by the API, or proved absent): safe to send again."""
        await self._write(
            "UPDATE inputs SET state = 'pending', uuid = NULL, origin = NULL, "
            "answered_at = COALESCE(?, answered_at), note = ?, updated_at = ? WHERE idx = ?",
            (answered_at, note, time.time(), idx),
        )

    async def in_doubt(self, idx: int, *, note: str, answered_at: float | None) -> None:
        """Sent, and it is not known whether a detection was created."""
        await self._write(
            "UPDATE inputs SET state = 'in_doubt', answered_at = COALESCE(?, answered_at), "
            "note = ?, updated_at = ? WHERE idx = ?",
            (answered_at, note, time.time(), idx),
        )

    async def outcome(self, idx: int, line: str, *, ok: bool, final: bool) -> None:
        """Record this run's outcome of an input; a final one also finishes it."""
        if final:
            sql = (
                "UPDATE inputs SET state = 'finished', outcome = ?, ok = ?, updated_at = ? "
                "WHERE idx = ?"
            )
        else:
            sql = "UPDATE inputs SET outcome = ?, ok = ?, updated_at = ? WHERE idx = ?"
        await self._write(sql, (line, int(ok), time.time(), idx))

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """Apply one state change; return once it is committed (and on disk).

        Changes are group-committed: while the journal thread commits one batch, the
        changes that arrive meanwhile queue up and go together in the next transaction.
        One thread hop and one fsync then serve many inputs, and the caller of each change
        still waits for its own commit.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((sql, params, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="resemble-journal-flush")
        await asyncio.shield(future)  # a cancelled caller does not cancel the others' commit

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    failures = await self._call(self._commit, [(sql, p) for sql, p, _ in batch])
                except asyncio.CancelledError:  # the loop is going away: so are the waiters
                    for _, _, future in [*batch, *self._queue]:
                        future.cancel()
                    self._queue = []
                    raise
                except Exception as exc:
                    failures = [exc] * len(batch)
                for (_, _, future), failure in zip(batch, failures, strict=True):
                    if future.done():
                        continue
                    if failure is None:
                        future.set_result(None)
                    else:
                        future.set_exception(failure)
        finally:
            self._flusher = None

    def _commit(self, statements: list[tuple[str, tuple[Any, ...]]]) -> list[BaseException | None]:
        """Run ``statements`` in one transaction; if one is refused, each in its own."""
        db = self._connection()
        started = time.perf_counter()
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                db.execute(sql, params)
            db.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            return [self._commit_one(db, sql, params) for sql, params in statements]
        finally:
            self.slowest_commit = max(self.slowest_commit, time.perf_counter() - started)
        self.commits += 1
        return [None] * len(statements)

    def _commit_one(
        self, db: sqlite3.Connection, sql: str, params: tuple[Any, ...]
    ) -> BaseException | None:
        try:
            db.execute(sql, params)  # autocommit: a transaction of its own
        except sqlite3.Error as exc:
            where = str(self.path) if self.path is not None else None
            return JournalError(f"journal write refused: {exc}", path=where)
        self.commits += 1
        return None

    # -- export -------------------------------------------------------------------------

    async def export(self, out: Path) -> int:
        """Write every input's latest outcome to ``out`` as JSON lines, in input order.

        The file is replaced atomically, so a reader never sees half of it. Returns the
        number of lines written.
        """
        return await self._call(self._export, out)

    def _export(self, out: Path) -> int:
        cursor = self._connection().execute(
            "SELECT outcome FROM inputs WHERE outcome IS NOT NULL ORDER BY idx"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
        count = 0
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for (line,) in cursor:
                    handle.write(line)
                    handle.write("\n")
                    count += 1
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return count

    # -- closing ------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the database, release the lock and stop the thread. Idempotent."""
        if self._executor is None:
            return
        while self._flusher is not None:  # let queued changes reach the disk first
            await asyncio.shield(self._flusher)
        executor, self._executor = self._executor, None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, self._close)
        finally:
            executor.shutdown(wait=False)

    def __del__(self) -> None:
        # A stream dropped without aclose(): still release the file and its lock.
        executor = getattr(self, "_executor", None)
        opened = getattr(self, "_db", None) is not None or getattr(self, "_lock_fd", None)
        if executor is not None and opened:
            with contextlib.suppress(RuntimeError):  # the interpreter is shutting down
                executor.submit(self._close)
                executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        self._unlock()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalError("the journal is closed")
        return self._db


def _ensure_schema(db: sqlite3.Connection, where: str | None) -> None:
    """Create the table in an empty database; refuse any other database."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version == 0 and not tables:
        db.execute("BEGIN IMMEDIATE")
        db.execute(SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    elif version != SCHEMA_VERSION or "inputs" not in tables:
        raise JournalError(
            f"{where} is not a detect_many journal of version {SCHEMA_VERSION} "
            f"(user_version {version}, tables {sorted(tables)}); use another path",
            path=where,
        )


def _row(values: Iterable[Any]) -> Row:
    (
        idx,
        fingerprint,
        kind,
        url,
        path,
        filename,
        size,
        state,
        posts,
        sent_at,
        answered_at,
        uuid,
        origin,
        note,
        ok,
        outcome,
    ) = values
    return Row(
        idx=idx,
        fingerprint=fingerprint,
        kind=kind,
        url=url,
        path=path,
        filename=filename,
        size=size,
        state=state,
        posts=posts,
        sent_at=sent_at,
        answered_at=answered_at,
        uuid=uuid,
        origin=origin,
        note=note,
        ok=None if ok is None else bool(ok),
        outcome=outcome,
    )
