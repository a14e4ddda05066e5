"""Many uuids at once: a fixed pool of workers, one outcome per input, bounded memory.

Design (docs/waiting.md has the reasons):

* A fixed number of worker tasks pulls uuids from the input as it goes, whether the input
  is a list or an async iterable; 100,000 uuids never become 100,000 tasks.
* Finished outcomes wait in a short queue; a slow consumer slows the workers down instead
  of the results piling up in memory.
* Each uuid's failure is its own outcome: nothing is first-error-wins.
* Repeated uuids are fetched once and reported at every position (for a list, anywhere in
  it; for a stream, while the first copy is still being worked on).
* HTTP concurrency, rate limit and 429 pauses are the client's, shared with everything else.
* Leaving early (``break``, an exception, cancellation) cancels every worker. With
  ``async with`` or ``await stream.aclose()`` the workers are awaited before you continue;
  a bare ``async for`` cancels them as soon as the stream is dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import copy
import inspect
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any
from uuid import UUID

import attrs

from . import _converter, errors
from ._retry import stops_run
from ._sansio import Request
from .models import Batch, Detection

__all__ = ["BatchResult", "Outcome", "Progress", "ResultStream"]

log = logging.getLogger("resemble_detect_async")


@attrs.frozen(kw_only=True)
class Outcome:
    """The result for one input position: a detection, or the error for that uuid alone.

    ``detection`` is also set on :class:`DetectionFailedError` (the failed detection) and
    :class:`WaitTimeoutError` (the last state seen), so nothing is lost. Outcomes turn into
    plain JSON with :meth:`to_dict` and back with :meth:`from_dict`.
    """

    index: int
    uuid: str
    detection: Detection | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return self.error is None

    def result(self) -> Detection:
        """The detection, or raise the error."""
        if self.error is not None:
            raise self.error
        assert self.detection is not None
        return self.detection

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the raw detection item as the API sent it, and the error.

        The error is written by its own :meth:`~ResembleError.to_dict`, less the detection
        it carries (``detection`` or ``last``), which is the outcome's ``detection``.
        """
        error: dict[str, Any] | None = None
        if self.error is not None:
            error = _error_dict(self.error)
            for name in ("detection", "last"):
                error.pop(name, None)
        return {
            "index": self.index,
            "uuid": self.uuid,
            "ok": self.ok,
            "detection": dict(self.detection.raw) if self.detection is not None else None,
            "error": error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        """Rebuild an outcome written by :meth:`to_dict` (e.g. to resume a JSONL run)."""
        raw = data.get("detection")
        detection = _converter.structure(raw, Detection) if raw is not None else None
        error = errors.ResembleError.from_dict(data["error"]) if data.get("error") else None
        # The detection an error carried is the outcome's detection: put it back.
        if isinstance(error, errors.DetectionFailedError):
            error.detection = detection  # type: ignore[assignment]
        elif isinstance(error, errors.WaitTimeoutError):
            error.last = detection
        return cls(
            index=int(data["index"]),
            uuid=str(data["uuid"]),
            detection=detection,
            error=error,
        )


def _error_dict(error: Exception) -> dict[str, Any]:
    """Any error as JSON; ours say everything through their own ``to_dict``."""
    if isinstance(error, errors.ResembleError):
        return error.to_dict()
    return {"type": type(error).__name__, "message": str(error), "text": str(error)}


@attrs.frozen(kw_only=True)
class Progress:
    """Counters for a progress bar. ``total`` is None until a streamed input is exhausted."""

    total: int | None
    succeeded: int
    failed: int

    @property
    def done(self) -> int:
        """Outcomes produced so far."""
        return self.succeeded + self.failed

    @property
    def pending(self) -> int | None:
        """Outcomes still to come, when the total is known."""
        return None if self.total is None else self.total - self.done


@attrs.frozen(kw_only=True)
class BatchResult:
    """A terminal batch and, when fetched, one outcome per child detection."""

    batch: Batch
    outcomes: tuple[Outcome, ...] = ()

    @property
    def detections(self) -> list[Detection]:
        """The child detections that could be fetched (completed and failed ones)."""
        return [o.detection for o in self.outcomes if o.detection is not None]

    @property
    def errors(self) -> list[Outcome]:
        """Children that could not be fetched."""
        return [o for o in self.outcomes if not o.ok]


@attrs.define
class _Job:
    key: Any
    uuid: Any
    indices: list[int]


_DONE = object()
_MAX_PENDING_REPORTS = 1_000
_current_run: contextvars.ContextVar[_Engine | None] = contextvars.ContextVar(
    "resemble_detect_async_run", default=None
)


def stop_if_run_stopped(request: Request) -> None:
    """Raise the run's fatal error if the bulk run this task works for was stopped.

    Checked right before a request leaves (after the wait for a slot and a rate permit),
    so workers queued behind the limiter when a 401 arrived send nothing more.
    """
    run = _current_run.get()
    if run is not None and run.fatal is not None:
        error = copy.copy(run.fatal)
        if isinstance(error, errors.ResembleError):
            error.uuid = request.subject
        raise error


def _cancelled_from_outside() -> bool:
    """Is the running task being cancelled (as opposed to user code raising CancelledError)?"""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _Engine:
    """The shared state of one run. Workers reference this, never the ResultStream, so
    dropping the stream lets it be collected (and cancel the workers)."""

    def __init__(
        self,
        uuids: Iterable[Any] | AsyncIterable[Any],
        job: Callable[[str], Awaitable[Detection]],
        *,
        workers: int,
        on_progress: Callable[[Progress], object] | None,
    ) -> None:
        self.job = job
        self.on_progress = on_progress
        self.out: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(16, workers * 2))
        self.total: int | None = None
        self.succeeded = 0
        self.failed = 0
        self.source_error: BaseException | None = None
        self.fatal: Exception | None = None
        self.max_workers = workers
        self.live_workers = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.reports: collections.deque[Awaitable[object]] = collections.deque()
        self.reporter: asyncio.Task[None] | None = None
        self.collected: list[Outcome] | None = None  # collect(): outcomes land here directly
        self._lock = asyncio.Lock()
        self._inflight: dict[Any, _Job] = {}
        self._next_index = 0
        self._source_done = False
        if isinstance(uuids, Sequence) and not isinstance(uuids, str | bytes):
            self.total = len(uuids)
            jobs = _group(uuids)
            # The pool is sized by the work: one uuid never needs a thousand workers.
            self.max_workers = max(1, min(workers, len(jobs)))
            self._jobs_iter: Iterator[_Job] | None = iter(jobs)
            self._source: AsyncIterator[Any] | None = None
        elif isinstance(uuids, AsyncIterable):
            self._jobs_iter = None
            self._source = aiter(uuids)
        elif isinstance(uuids, str | bytes):
            raise errors.InvalidRequestError(
                "uuids must be a list (or iterable) of uuids, not one string"
            )
        elif not isinstance(uuids, Iterable):
            raise errors.InvalidRequestError(
                f"uuids must be a list or (async) iterable of uuids, got {type(uuids).__name__}"
            )
        else:
            self._jobs_iter = None
            self._source = _as_async(uuids)

    def progress(self) -> Progress:
        return Progress(total=self.total, succeeded=self.succeeded, failed=self.failed)

    def spawn(self) -> None:
        """Start one more worker. A list starts its whole (work-sized) pool at once; a
        stream starts with one worker and grows by one each time a worker takes an item,
        so a short stream never starts the whole pool."""
        if self.live_workers >= self.max_workers:
            return
        self.live_workers += 1
        number = len(self.tasks)
        task = asyncio.create_task(self.run_worker(), name=f"resemble-detect-worker-{number}")
        self.tasks.append(task)

    async def next_job(self) -> _Job | None:
        """The next uuid to work on, or None when the input is exhausted."""
        if self._jobs_iter is not None:
            return next(self._jobs_iter, None)
        async with self._lock:  # one reader at a time: async generators forbid overlap
            while not self._source_done:
                assert self._source is not None
                try:
                    uuid = await anext(self._source)
                except StopAsyncIteration:
                    self._end_source(None)
                    break
                except asyncio.CancelledError as exc:
                    if _cancelled_from_outside():
                        raise
                    self._end_source(exc)  # the caller's iterator raised it, not us
                    break
                except Exception as exc:  # the caller's iterator broke: report it at the end
                    self._end_source(exc)
                    break
                index = self._next_index
                self._next_index += 1
                key = _key(uuid)
                pending = self._inflight.get(key)
                if pending is not None:
                    pending.indices.append(index)
                    continue
                job = _Job(key, uuid, [index])
                self._inflight[key] = job
                self.spawn()  # more input may follow: let one more worker pull it
                return job
            return None

    def _end_source(self, error: BaseException | None) -> None:
        self.source_error = error
        self._source_done = True
        self.total = self._next_index

    async def _run_job(self, uuid: Any) -> Detection:
        if self.fatal is not None:
            # E.g. the key was refused: every other uuid would get the same answer, so do
            # not send thousands of doomed requests. Each uuid still gets its own outcome.
            error = copy.copy(self.fatal)
            if isinstance(error, errors.ResembleError):
                error.uuid = str(uuid)
            raise error
        return await self.job(uuid)

    async def run_worker(self) -> None:
        _current_run.set(self)  # this task's requests check the run before they leave
        while (job := await self.next_job()) is not None:
            detection: Detection | None
            error: Exception | None
            try:
                detection, error = await self._run_job(job.uuid), None
            except asyncio.CancelledError as exc:
                if _cancelled_from_outside():
                    raise
                # Raised inside the job (e.g. by an awaited callback), not a cancellation of
                # this run: this uuid's outcome, like any other failure.
                error = errors.ResembleError(
                    f"the work on {job.uuid!r} was cancelled from inside ({exc!r})"
                )
                detection = None
            except Exception as exc:  # each uuid fails alone
                error = exc
                detection = getattr(exc, "detection", None) or getattr(exc, "last_detection", None)
                if stops_run(exc) and self.fatal is None:
                    self.fatal = exc
            self._inflight.pop(job.key, None)
            uuid = job.uuid if isinstance(job.uuid, str) else str(job.uuid)
            for index in job.indices:
                if error is None:
                    self.succeeded += 1
                else:
                    self.failed += 1
                outcome = Outcome(index=index, uuid=uuid, detection=detection, error=error)
                if self.collected is not None:
                    self.collected.append(outcome)
                else:
                    await self.out.put(outcome)
                self._report()
        # Only a worker that ran out of input gets here (cancelled ones do not).
        self.live_workers -= 1
        if self.live_workers == 0:
            await self._drain_reports()
            await self.out.put(_DONE)

    def _report(self) -> None:
        """Call on_progress; an awaitable it returns is awaited by the reporter task, in
        order, so a slow async progress bar never holds a worker."""
        if self.on_progress is None:
            return
        try:
            result = self.on_progress(self.progress())
        except asyncio.CancelledError:
            if _cancelled_from_outside():
                raise
            log.warning("on_progress callback raised CancelledError; continuing")
            return
        except Exception:  # a broken progress bar must not lose results
            log.exception("on_progress callback raised; continuing")
            return
        if not inspect.isawaitable(result):
            return
        if len(self.reports) >= _MAX_PENDING_REPORTS:  # far behind: skip the oldest
            stale = self.reports.popleft()
            if inspect.iscoroutine(stale):
                stale.close()
        self.reports.append(result)
        if self.reporter is None:
            self.reporter = asyncio.create_task(self._run_reporter(), name="resemble-progress")

    async def _run_reporter(self) -> None:
        """Await the reports in order; end when none is left (the next one starts anew)."""
        while self.reports:
            pending = self.reports.popleft()
            try:
                await pending
            except asyncio.CancelledError:
                if _cancelled_from_outside():
                    raise
                log.warning("on_progress callback was cancelled; continuing")
            except Exception:
                log.exception("on_progress callback raised; continuing")
        self.reporter = None

    async def _drain_reports(self) -> None:
        """Before the run ends, every progress report has been delivered."""
        if self.reporter is not None:
            await self.reporter


def _key(uuid: Any) -> Any:
    """Dedup key: a uuid.UUID and its string are the same detection."""
    if isinstance(uuid, UUID):
        return str(uuid)
    try:
        hash(uuid)
    except TypeError:
        return object()
    return uuid if isinstance(uuid, str) else (type(uuid), uuid)


def _group(uuids: Sequence[Any]) -> list[_Job]:
    """First-occurrence order, with every position of a repeated uuid."""
    jobs: dict[Any, _Job] = {}
    ordered: list[_Job] = []
    for index, uuid in enumerate(uuids):
        key = _key(uuid)
        job = jobs.get(key)
        if job is None:
            job = jobs[key] = _Job(key, uuid, [])
            ordered.append(job)
        job.indices.append(index)
    return ordered


async def _as_async(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


class ResultStream:
    """Outcomes as they finish; see :meth:`DetectClient.iter_results`.

    ``async for outcome in stream`` yields :class:`Outcome` objects in completion order;
    :attr:`progress` is live. ``await stream.collect()`` returns them in input order.
    """

    def __init__(
        self,
        uuids: Iterable[Any] | AsyncIterable[Any],
        job: Callable[[str], Awaitable[Detection]],
        *,
        workers: int,
        on_progress: Callable[[Progress], object] | None = None,
        cleanup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = _Engine(uuids, job, workers=workers, on_progress=on_progress)
        self._cleanup = cleanup
        self._started = False
        self._finished = False

    @property
    def progress(self) -> Progress:
        """Counts so far."""
        return self._engine.progress()

    def _start(self) -> None:
        if not self._started and not self._finished:
            self._started = True
            engine = self._engine
            for _ in range(engine.max_workers if engine.total is not None else 1):
                engine.spawn()

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> Outcome:
        if self._finished:
            raise StopAsyncIteration
        self._start()
        item = await self._engine.out.get()
        if item is _DONE:
            self._finished = True
            await self._join()
            if self._engine.source_error is not None:
                raise self._engine.source_error
            raise StopAsyncIteration
        assert isinstance(item, Outcome)
        return item

    async def collect(self) -> list[Outcome]:
        """Run to the end and return every outcome in input order.

        Outcomes go straight into the list (all of them are kept anyway), not through the
        queue that paces a consumer of the async iterator.
        """
        async with self:
            if not self._started:
                self._engine.collected = []
            outcomes = [outcome async for outcome in self]
            if self._engine.collected is not None:
                outcomes.extend(self._engine.collected)
        outcomes.sort(key=lambda outcome: outcome.index)
        return outcomes

    async def aclose(self) -> None:
        """Cancel every worker still running and wait for them to stop."""
        self._finished = True
        for task in self._all_tasks():
            task.cancel()
        await self._join()

    def _all_tasks(self) -> list[asyncio.Task[None]]:
        reporter = self._engine.reporter
        return [*self._engine.tasks, *([reporter] if reporter is not None else [])]

    async def _join(self) -> None:
        tasks = self._all_tasks()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._cleanup is not None:
            cleanup, self._cleanup = self._cleanup, None
            await cleanup()

    async def __aenter__(self) -> ResultStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped mid-iteration (break, exception, cancellation): stop the workers.
        engine = getattr(self, "_engine", None)
        for task in engine.tasks if engine is not None else ():
            if not task.done():
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    task.cancel()
