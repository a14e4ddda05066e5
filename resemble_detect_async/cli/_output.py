"""What the commands print: rich tables for people, one JSON object per line for machines.

Results go to stdout; progress, hints and the one-line reason of a failure go to stderr, so
``resemble-detect wait ... --json | jq`` sees only JSON. Every value that came from the API
or the user is rendered as plain :class:`~rich.text.Text`, never as markup, so a filename
like ``[red]x.wav`` prints as itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from resemble_detect_async import (
    APIStatusError,
    Detection,
    DetectionFailedError,
    Outcome,
    ResembleError,
    Verdict,
    WaitTimeoutError,
)

__all__ = [
    "Row",
    "console",
    "describe",
    "detail_table",
    "detection_name",
    "detection_table",
    "emit_json",
    "error_json",
    "failure_summary",
    "hint",
    "outcome_json",
    "raw",
    "row_from_outcome",
    "show",
]

_PIPE_WIDTH = 200  # a log or a pipe has no width: do not wrap uuids at 80 columns


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr), created per command so that redirection
    (``main(out=...)``, click's test runner) is honoured."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal or "COLUMNS" in os.environ else _PIPE_WIDTH
    return Console(stderr=stderr, width=width, markup=False, emoji=False, highlight=False)


def emit_json(value: Any) -> None:
    """One JSON document on one line of stdout, flushed (a consumer may be reading live)."""
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


def hint(message: str) -> None:
    """A note for the person at the terminal, on stderr (never mixed into results)."""
    click.echo(message, err=True)


def describe(error: BaseException) -> str:
    """A short reason for one failed item: what a person needs to decide what to do."""
    if isinstance(error, DetectionFailedError):
        return f"analysis failed: {error.error_message or 'no error_message given'}"
    if isinstance(error, WaitTimeoutError):
        return str(error)
    if isinstance(error, APIStatusError):
        return f"{type(error).__name__} {error.status}: {error.message}"
    return f"{type(error).__name__}: {error}"


def failure_summary(failures: Sequence[BaseException], total: int, *, what: str = "") -> str:
    """``2 of 10 failed``, with the reason when every failure has the same one."""
    text = f"{len(failures)} of {total}{' ' + what if what else ''} failed"
    reasons = {describe(error) for error in failures}
    if len(reasons) == 1:
        text += f": {reasons.pop()}"
    return text


@attrs.frozen(kw_only=True)
class Row:
    """One line of a results table: what was asked for, and what came of it."""

    name: str
    uuid: str | None = None
    detection: Detection | None = None
    error: BaseException | None = None


def row_from_outcome(outcome: Outcome, name: str | None = None) -> Row:
    """A table row for a bulk outcome (named by its uuid unless told otherwise)."""
    return Row(
        name=name or outcome.uuid,
        uuid=outcome.uuid,
        detection=outcome.detection,
        error=outcome.error,
    )


_VERDICT_STYLE = {Verdict.FAKE: "bold red", Verdict.REAL: "green", Verdict.UNKNOWN: "yellow"}


def _status(detection: Detection | None) -> Text:
    if detection is None:
        return Text("-")
    if detection.status is None:
        return Text("submitted")  # an async create may not say (API notes §3.4)
    style = {"completed": "green", "failed": "red"}.get(detection.status.value, "")
    return Text(detection.status.value, style=style)


def _verdict(detection: Detection | None) -> Text:
    if detection is None or not detection.is_completed:
        return Text("-")
    verdict = detection.verdict
    return Text(verdict.value.upper(), style=_VERDICT_STYLE[verdict])


def _score(detection: Detection | None) -> Text:
    score = detection.score if detection is not None and detection.is_completed else None
    return Text("-" if score is None else f"{score:.2f}", justify="right")


def _media(detection: Detection | None) -> str:
    media = detection.media_type if detection is not None else None
    return media.value if media is not None else "-"


def _note(row: Row) -> Text:
    if row.error is not None:
        return Text(describe(row.error), style="red")
    if row.detection is not None and row.detection.is_failed:
        return Text(row.detection.error_message or "failed", style="red")
    return Text("")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def detection_name(detection: Detection) -> str:
    """What a person recognises a detection by: its filename, else its URL's last part."""
    if detection.filename:
        return detection.filename
    if detection.url:
        return detection.url.rstrip("/").rsplit("/", 1)[-1] or detection.url
    return "-"


def detection_table(
    rows: Iterable[Row],
    *,
    name_header: str = "INPUT",
    show_name: bool = True,
    show_created: bool = False,
    show_header: bool = True,
) -> Table:
    """The results table: name, uuid, status, verdict, score, label, media type, note.

    Column widths are fixed where values are, so the tables of several pages line up; the
    NOTE column (errors) is left out when no row has one.
    """
    rows = list(rows)
    notes = [_note(row) for row in rows]
    table = Table(
        box=None, show_header=show_header, header_style="bold", pad_edge=False, expand=False
    )
    if show_name:
        table.add_column(name_header, overflow="fold", max_width=48)
    table.add_column("UUID", no_wrap=True, min_width=36)
    if show_created:
        table.add_column("CREATED", no_wrap=True, min_width=16)
    table.add_column("STATUS", no_wrap=True, min_width=10)
    table.add_column("VERDICT", no_wrap=True, min_width=7)
    table.add_column("SCORE", no_wrap=True, justify="right", min_width=5)
    table.add_column("LABEL", overflow="fold", min_width=5, max_width=16)
    table.add_column("MEDIA", no_wrap=True, min_width=5)
    with_notes = any(note.plain for note in notes)
    if with_notes:
        table.add_column("NOTE", overflow="fold", max_width=72)
    for row, note in zip(rows, notes, strict=True):
        detection = row.detection
        cells: list[Text | str] = []
        if show_name:
            cells.append(Text(row.name))
        cells.append(Text(row.uuid or "-"))
        if show_created:
            cells.append(_when(detection.created_at if detection is not None else None))
        label = detection.label if detection is not None and detection.is_completed else None
        cells += [
            _status(detection),
            _verdict(detection),
            _score(detection),
            Text(label or "-"),
            _media(detection),
        ]
        if with_notes:
            cells.append(note)
        table.add_row(*cells)
    return table


def show(out: Console, renderable: Table) -> None:
    """Print a table; off a terminal without the padding spaces at the ends of lines."""
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    out.file.write(text + "\n")
    out.file.flush()


def detail_table(detection: Detection) -> Table:
    """Every headline field of one detection, one per line (``get``)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    intelligence = ", ".join(
        (result.status.value if result.status is not None else "?")
        for result in detection.intelligence_results
    )
    fields: Sequence[tuple[str, Text | str | None]] = [
        ("uuid", Text(detection.uuid)),
        ("status", _status(detection)),
        ("verdict", _verdict(detection)),
        ("score", f"{detection.score:.2f}" if detection.score is not None else None),
        ("label", Text(detection.label) if detection.label else None),
        ("media", _media(detection)),
        ("name", Text(detection_name(detection))),
        ("url", Text(detection.url) if detection.url else None),
        ("duration", f"{detection.duration:g} s" if detection.duration is not None else None),
        ("created", _when(detection.created_at)),
        ("updated", _when(detection.updated_at)),
        ("error", Text(detection.error_message) if detection.error_message else None),
        ("intelligence", intelligence or None),
        ("zero retention", "yes" if detection.zero_retention_mode else None),
    ]
    for key, value in fields:
        if value is not None:
            table.add_row(key, value)
    return table


def outcome_json(outcome: Outcome, **extra: Any) -> dict[str, Any]:
    """``Outcome.to_dict()`` with extra keys (``input``, ...) in front."""
    return {**extra, **outcome.to_dict()}


def error_json(error: BaseException) -> dict[str, Any]:
    """An error as JSON, in the shape ``Outcome.to_dict()`` uses for ``error``."""
    if isinstance(error, ResembleError):
        return error.to_dict()
    return {"type": type(error).__name__, "message": str(error), "text": str(error)}


def raw(value: Mapping[str, Any]) -> dict[str, Any]:
    """A model's wire item as a plain dict (what ``--json`` prints for a detection)."""
    return dict(value)
