"""``resemble-detect run``: a resumable bulk job over a file of inputs (``detect_many``).

The journal (``--journal``) is the point: every input is written down before its POST leaves
and again as soon as its uuid is known, so the same command run again after a stop (Ctrl-C,
a crash, a lost machine) sends only what was never sent, waits for what was created, replays
what finished and reconciles what is in doubt. Nothing here knows how: it reads the input
list, calls :meth:`~resemble_detect_async.DetectClient.detect_many`, shows the progress and
turns the outcomes into a summary and an exit code. docs/bulk-jobs.md explains the job.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, cast

import attrs
import click

from resemble_detect_async import (
    DEFAULT,
    DetectInput,
    DetectionOptions,
    InDoubtError,
    InvalidRequestError,
    JobOutcome,
    JournalError,
    JournalMismatchError,
    ReconcilePolicy,
)

from ._exit import ExitCode, Failure, code_for_failures
from ._options import json_option, pick_options, request_options
from ._output import Row, console, detection_table, emit_json, failure_summary, hint, show
from ._progress import ProgressDisplay
from ._runtime import run, runtime

__all__ = ["Line", "Summary", "command", "read_inputs", "summarize"]

_SHOWN_PROBLEMS = 20
"""Inputs listed in the table of problems; the out file has every one."""


@attrs.frozen(kw_only=True)
class Line:
    """One input of the input list and the line it came from (for messages)."""

    number: int
    input: DetectInput


def _parse(text: str) -> DetectInput:
    if text.startswith("{"):
        return DetectInput.from_dict(json.loads(text))  # "{" starts a JSON object, or no JSON
    if "://" in text:
        return DetectInput(url=text)
    return DetectInput(file=Path(text))  # relative to the current directory


def read_inputs(source: IO[str], name: str) -> list[Line]:
    """One input per line: a JSON object (``DetectInput.from_dict``), a URL or a path.

    Blank lines and ``#`` comments are skipped; ``name`` names ``source`` in messages.

    Raises:
        click.UsageError: a line that cannot be read (nothing has been sent yet).
    """
    lines: list[Line] = []
    for number, raw in enumerate(source, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            lines.append(Line(number=number, input=_parse(text)))
        except (ValueError, InvalidRequestError) as exc:  # JSONDecodeError is a ValueError
            raise click.UsageError(f"{name} line {number}: {exc}") from None
    return lines


@attrs.frozen(kw_only=True)
class Summary:
    """What came of a run, by kind of outcome.

    ``failed``: the input's detection exists but did not give a verdict (analysis failed,
    wait timed out, gone). ``in_doubt``: sent, and nobody can tell whether it was created.
    ``not_created``: refused by the API or never sent (a bad input, a failing server).
    ``replayed``: finished by an earlier run (also counted in ``ok`` or ``failed``).
    ``unfinished``: inputs the next run takes up again.
    """

    total: int
    ok: int
    failed: int
    in_doubt: int
    not_created: int
    replayed: int
    unfinished: int

    def line(self, out: Path | None) -> str:
        text = (
            f"{self.total} inputs: {self.ok} ok, {self.failed} failed, {self.in_doubt} in doubt, "
            f"{self.not_created} not created ({self.replayed} replayed from the journal)"
        )
        return f"{text}; outcomes in {out}" if out is not None else text


def summarize(outcomes: Sequence[JobOutcome]) -> Summary:
    """Count the outcomes of a run."""
    in_doubt = sum(isinstance(o.error, InDoubtError) for o in outcomes)
    not_created = sum(
        o.uuid is None and not o.ok and not isinstance(o.error, InDoubtError) for o in outcomes
    )
    ok = sum(o.ok for o in outcomes)
    return Summary(
        total=len(outcomes),
        ok=ok,
        failed=len(outcomes) - ok - in_doubt - not_created,
        in_doubt=in_doubt,
        not_created=not_created,
        replayed=sum(o.replayed for o in outcomes),
        unfinished=sum(not o.is_final for o in outcomes),
    )


def _input_name(given: DetectInput) -> str:
    data = given.to_dict()
    return str(data.get("url") or data.get("file") or data.get("filename") or "-")


def _mismatch(exc: JournalMismatchError, lines: Sequence[Line], source: str) -> Failure:
    index = exc.index
    where = ""
    if index is not None and index < len(lines):
        where = f" (input {index} is line {lines[index].number} of {source})"
    return Failure(f"{exc}{where}", ExitCode.USAGE)


async def _run(
    lines: Sequence[Line],
    source: str,
    *,
    journal: Path,
    out: Path | None,
    wait: bool,
    timeout: float | None,
    concurrency: int | None,
    resubmit_in_doubt: bool,
    settle: float | None,
    as_json: bool,
    options: DetectionOptions,
) -> ExitCode:
    settings = runtime()
    outcomes: list[JobOutcome] = []
    async with settings.make_client() as client:
        with ProgressDisplay(
            "running",
            len(lines),
            console=console(stderr=True),
            monotonic=settings.monotonic,
            every=settings.progress_every,
        ) as display:
            stream = client.detect_many(
                [line.input for line in lines],
                journal=journal,
                out=out,
                wait=wait,
                timeout=DEFAULT if timeout is None else timeout,
                concurrency=concurrency,
                on_progress=display,
                resubmit_in_doubt=resubmit_in_doubt,
                reconcile=ReconcilePolicy(settle=settle) if settle is not None else None,
                **options,
            )
            try:
                async with stream:  # leaving early (Ctrl-C) stops the workers, frees the journal
                    async for outcome in stream:
                        outcomes.append(outcome)
                        if as_json:
                            emit_json(outcome.to_dict())
            except JournalMismatchError as exc:
                raise _mismatch(exc, lines, source) from None
            except JournalError as exc:  # another run holds it, or it is no journal
                raise Failure(str(exc), ExitCode.ERROR) from None
    return _report(
        sorted(outcomes, key=lambda o: o.index), journal=journal, out=stream.out, as_json=as_json
    )


def _report(
    outcomes: Sequence[JobOutcome], *, journal: Path, out: Path | None, as_json: bool
) -> ExitCode:
    summary = summarize(outcomes)
    problems = [o for o in outcomes if not o.ok]
    if as_json:
        hint(summary.line(out))
    else:
        if problems:
            rows = (
                Row(name=_input_name(o.input), uuid=o.uuid, detection=o.detection, error=o.error)
                for o in problems[:_SHOWN_PROBLEMS]
            )
            show(console(), detection_table(rows))
            if len(problems) > _SHOWN_PROBLEMS:
                click.echo(f"... and {len(problems) - _SHOWN_PROBLEMS} more (see {out})")
        click.echo(summary.line(out))
    if summary.in_doubt:
        query = "select idx,url,note from inputs where state='in_doubt'"
        hint(
            f"{summary.in_doubt} input(s) in doubt: sent, but whether the API created them "
            "could not be settled, so nothing was sent again. See them with\n"
            f'  sqlite3 {shlex.quote(str(journal))} "{query}"\n'
            "then run the same command again (it looks for them again), or add "
            "--resubmit-in-doubt to send them anyway (may bill twice)."
        )
    if summary.unfinished > summary.in_doubt:
        hint(
            f"{summary.unfinished - summary.in_doubt} input(s) not finished (refused, timed "
            "out, failing): run the same command again to take them up."
        )
    failures = [o.error for o in problems if o.error is not None]
    code = code_for_failures(failures)
    if code is ExitCode.OK:
        return code
    others = [error for error in failures if not isinstance(error, InDoubtError)]
    reasons = [failure_summary(others, summary.total, what="inputs")] if others else []
    if summary.in_doubt:  # the hint above says what to do; the SDK's text names Python
        reasons.insert(0, f"{summary.in_doubt} of {summary.total} inputs in doubt")
    raise Failure("; ".join(reasons), code)


@click.command("run", short_help="Submit a file of inputs and wait for each; resumable.")
@click.argument(
    "inputs",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    required=False,
    metavar="[INPUTS]",
)
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    default=None,
    metavar="FILE|-",
    help="Read the inputs from FILE instead of INPUTS ('-' reads stdin).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    metavar="JOB",
    help="The job's journal (SQLite, created if missing). The same JOB again resumes.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Where every input's outcome is written as JSON lines at the end (default: JOB "
    "with the suffix .jsonl).",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Only submit: each outcome holds the created detection (a rerun fetches it once).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="S",
    help="Give up waiting for an input's result after S seconds (default 900). The "
    "analysis goes on; the same command run again waits for it again.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Inputs worked on at once (default 256; 32 with --no-wait). Requests stay within "
    "32 in flight and 40/s.",
)
@click.option(
    "--resubmit-in-doubt",
    is_flag=True,
    help="Send inputs in doubt again although they may have been created (may bill twice).",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Before proving that an input in doubt was never created, wait until SECONDS have "
    "passed since it was sent (default 60).",
)
@json_option("Print each input's outcome as one JSON line as it finishes; summary on stderr.")
@request_options(DetectionOptions)
def command(
    inputs: str | None,
    source: str | None,
    journal: Path,
    out: Path | None,
    no_wait: bool,
    timeout: float | None,
    concurrency: int | None,
    resubmit_in_doubt: bool,
    settle: float | None,
    as_json: bool,
    **values: Any,
) -> ExitCode:
    """Submit every input of a file and wait for each verdict, resumably.

    One input per line: a URL (anything with ://), a path (relative to the current
    directory), or a JSON object read by DetectInput.from_dict, e.g.
    {"url": "https://...", "options": {"intelligence": true}}. Blank lines and # comments
    are skipped. The options below apply to every input.

    Every input is recorded in the journal before it is sent. If the run stops (Ctrl-C, a
    crash), run the same command again: it sends only what was never sent, waits for what
    was created, replays what finished, and looks up what is in doubt in the list of
    detections instead of sending it twice. At the end every outcome is in --out.

    Exits 5 if any input failed, was refused or is in doubt (each is in the summary); 64 if
    the inputs differ from the ones the journal recorded; 130 on Ctrl-C.

    \b
    Examples:
      resemble-detect run urls.txt --journal job.db
      ls clips/*.wav | resemble-detect run --from - --journal clips.db --json
    """
    if inputs is not None and source is not None:
        raise click.UsageError("give the inputs as INPUTS or with --from, not both")
    if inputs is None and source is None:
        raise click.UsageError("no inputs: give a file of inputs (INPUTS) or --from FILE|-")
    if timeout is not None and no_wait:
        raise click.UsageError("--timeout cannot be used with --no-wait")
    if out is not None and out.resolve() == journal.resolve():
        raise click.UsageError("--out must not be the journal itself")
    path = cast(str, inputs if inputs is not None else source)
    name = "stdin" if path == "-" else path
    with click.open_file(path, encoding="utf-8") as handle:
        lines = read_inputs(handle, name)
    if not lines:
        raise click.UsageError(f"no inputs in {name} (blank lines and # comments are skipped)")
    options = cast(DetectionOptions, pick_options(values, DetectionOptions))
    try:
        return run(
            _run(
                lines,
                name,
                journal=journal,
                out=out,
                wait=not no_wait,
                timeout=timeout,
                concurrency=concurrency,
                resubmit_in_doubt=resubmit_in_doubt,
                settle=settle,
                as_json=as_json,
                options=options,
            )
        )
    except KeyboardInterrupt:  # the stream was closed on the way out: the journal is intact
        hint("stopped; run the same command again to resume")
        return ExitCode.INTERRUPTED
