"""Progress of a run: done / failed / pending, rate and ETA.

On a terminal it is a rich progress bar redrawn in place. Anywhere else (a CI log, a file, a
pipe) redrawing makes a mess, so it prints a plain line at most every ``every`` seconds and
one last line at the end: a 100,000-uuid run in a log reads as a few hundred lines, not one
per result.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from resemble_detect_async import Batch, Progress

__all__ = ["ProgressDisplay", "batch_progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``4s``, ``2m05s``, ``1h02m``: short enough for a progress line."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def batch_progress(batch: Batch) -> Progress:
    """A batch's counters as :class:`~resemble_detect_async.Progress` (for ``batch --wait``)."""
    return Progress(
        total=batch.total_files,
        succeeded=batch.completed_count or 0,
        failed=batch.failed_count or 0,
    )


class _RateColumn(ProgressColumn):
    """Results per second, as rich estimates it over its recent samples."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-/s" if speed is None else f"{speed:.1f}/s", style="cyan")


class ProgressDisplay:
    """A progress display; call it with each :class:`~resemble_detect_async.Progress`.

    It is an ``on_progress`` callback for ``iter_results`` and friends. Use it as a context
    manager: entering starts the live bar (on a terminal), leaving stops it, or prints the
    final plain line.

    Args:
        label: what is being counted ("waiting", "fetching").
        total: the number of items, if known up front.
        console: where to draw (stderr for commands whose stdout carries results).
        monotonic: the clock for rates and the plain-line interval.
        every: seconds between plain lines.
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        console: Console,
        monotonic: Callable[[], float],
        every: float,
    ) -> None:
        self.label = label
        self.console = console
        self._monotonic = monotonic
        self._every = every
        self._latest = Progress(total=total, succeeded=0, failed=0)
        self._started = 0.0
        self._printed_at = 0.0
        self._printed: Progress | None = None
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    @property
    def live(self) -> bool:
        """True when drawing a live bar (the console is a terminal)."""
        return self.console.is_terminal

    def __enter__(self) -> ProgressDisplay:
        self._started = self._printed_at = self._monotonic()
        if self.live:
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[green]{task.fields[ok]} ok"),
                TextColumn("[red]{task.fields[failed]} failed"),
                TextColumn("{task.fields[pending]} pending"),
                _RateColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self._latest.total, **self._fields())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self._printed != self._latest:
            self._print(self._monotonic())

    def __call__(self, progress: Progress) -> None:
        self._latest = progress
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task, completed=progress.done, total=progress.total, **self._fields()
            )
        else:
            now = self._monotonic()
            if now - self._printed_at >= self._every:
                self._print(now)

    def _fields(self) -> dict[str, Any]:
        latest = self._latest
        pending = latest.pending
        return {
            "ok": latest.succeeded,
            "failed": latest.failed,
            "pending": "?" if pending is None else pending,
        }

    def line(self, now: float) -> str:
        """The plain progress line for the latest counts, at time ``now``."""
        latest = self._latest
        elapsed = now - self._started
        rate = latest.done / elapsed if elapsed > 0 else None
        done = f"{latest.done}/{latest.total}" if latest.total is not None else f"{latest.done}"
        parts = [
            f"{self.label}: {done} done",
            f"{latest.succeeded} ok",
            f"{latest.failed} failed",
            f"{'?' if latest.pending is None else latest.pending} pending",
            "-/s" if rate is None else f"{rate:.1f}/s",
        ]
        if latest.pending and rate:
            parts.append(f"ETA {format_duration(latest.pending / rate)}")
        return " · ".join(parts)

    def _print(self, now: float) -> None:
        self.console.print(self.line(now), soft_wrap=True)
        self._printed = self._latest
        self._printed_at = now
