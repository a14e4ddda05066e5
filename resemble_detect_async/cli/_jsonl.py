"""Resumable JSON Lines output: one outcome per line, appended and flushed as it arrives.

A run that is stopped (Ctrl-C, a crash, a lost machine) loses at most the line being written.
Run it again with the same output file and it skips the uuids already there:

* :func:`saved` reads the file's complete lines (the *last* line of a uuid wins, so a uuid
  redone with ``--retry-failed`` counts by its newest outcome);
* :func:`repair_tail` cuts off a torn last line (a write interrupted half-way), which would
  otherwise glue itself to the next line appended;
* :class:`JsonlWriter` appends and flushes every line.

The ``run`` command (bulk jobs) can use the same helpers for its own results file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["JsonlWriter", "repair_tail", "saved", "uuid_key"]


def uuid_key(uuid: str) -> str:
    """How uuids are compared: the API treats them case-insensitively."""
    return uuid.strip().lower()


def saved(path: Path, *, ok_only: bool = False) -> set[str]:
    """The uuids (as :func:`uuid_key`) with a complete line in ``path``.

    With ``ok_only``, a uuid whose newest line is a failure (``"ok": false``) does not count,
    so it is done again. Lines that are not JSON objects with a ``uuid`` are ignored.
    """
    done: dict[str, bool] = {}
    if not path.exists():
        return set()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.endswith("\n"):
                break  # a torn last line: not done
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("uuid"), str):
                done[uuid_key(record["uuid"])] = record.get("ok") is not False
    return {uuid for uuid, ok in done.items() if ok or not ok_only}


def repair_tail(path: Path) -> int:
    """Cut a last line that has no newline (an interrupted write); return the bytes cut."""
    if not path.exists():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the last newline, a block at a time (lines are a few KiB at most).
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            block = handle.read(end - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                handle.truncate(keep)
                return size - keep
            end = start
        handle.truncate(0)
        return size


class JsonlWriter:
    """Append JSON objects to a file, one per line, flushing each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._file: IO[str] | None = None

    def __enter__(self) -> JsonlWriter:
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, record: dict[str, Any]) -> None:
        """Write one line and flush it, so a stop loses nothing already written."""
        assert self._file is not None, "use JsonlWriter as a context manager"
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()
        self.written += 1
