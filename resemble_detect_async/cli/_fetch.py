"""``resemble-detect fetch``: fetch (or wait for) many existing uuids into a JSONL file.

The output file is the run's journal: one line per uuid (``Outcome.to_dict()``), appended
and flushed as each result arrives, in completion order. Running the same command again
skips every uuid already in the file, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import attrs
import click

from resemble_detect_async import DEFAULT, AuthenticationError, RateLimiter

from ._exit import ExitCode, Failure, code_for_failures
from ._jsonl import JsonlWriter, repair_tail, saved, uuid_key
from ._options import concurrency_option, json_option, timeout_option
from ._output import console, emit_json, failure_summary, hint
from ._progress import ProgressDisplay
from ._runtime import run, runtime

__all__ = ["Plan", "command", "plan", "read_uuids"]


def read_uuids(source: IO[str]) -> list[str]:
    """One uuid per line; blank lines and ``#`` comments are skipped."""
    uuids: list[str] = []
    for line in source:
        text = line.strip()
        if text and not text.startswith("#"):
            uuids.append(text)
    return uuids


@attrs.frozen(kw_only=True)
class Plan:
    """What a run will do: the uuids to fetch (with their input positions) and what it skips."""

    todo: tuple[tuple[int, str], ...]
    done_before: int
    repeated: int


def plan(uuids: list[str], done: set[str]) -> Plan:
    """The uuids of ``uuids`` not in ``done`` (by :func:`uuid_key`), each once."""
    todo: list[tuple[int, str]] = []
    queued: set[str] = set()
    done_before = repeated = 0
    for position, uuid in enumerate(uuids):
        key = uuid_key(uuid)
        if key in done:
            done_before += 1
        elif key in queued:
            repeated += 1
        else:
            queued.add(key)
            todo.append((position, uuid))
    return Plan(todo=tuple(todo), done_before=done_before, repeated=repeated)


async def _fetch(
    source: IO[str],
    out: Path,
    *,
    wait: bool,
    timeout: float | None,
    concurrency: int | None,
    experts: bool,
    retry_failed: bool,
    as_json: bool,
    limiter: RateLimiter | None = None,
) -> ExitCode:
    settings = runtime()
    uuids = read_uuids(source)
    torn = repair_tail(out)
    if torn:
        hint(f"{out}: removed an incomplete last line ({torn} bytes) left by a stopped run")
    work = plan(uuids, saved(out, ok_only=retry_failed))
    failures: list[BaseException] = []
    refused: AuthenticationError | None = None
    with JsonlWriter(out) as writer:
        if work.todo:
            shared = {"rate_limiter": limiter} if limiter is not None else {}
            async with settings.make_client(**shared) as client:
                with ProgressDisplay(
                    "waiting" if wait else "fetching",
                    len(work.todo),
                    console=console(stderr=True),
                    monotonic=settings.monotonic,
                    every=settings.progress_every,
                ) as display:
                    stream = client.iter_results(
                        [uuid for _, uuid in work.todo],
                        wait=wait,
                        timeout=DEFAULT if timeout is None else timeout,
                        concurrency=concurrency,
                        experts=experts,
                        on_progress=display,
                    )
                    async with stream:
                        async for outcome in stream:
                            if isinstance(outcome.error, AuthenticationError):
                                # Every uuid would get the same 401: write none of them, so a
                                # rerun with the right key does them all.
                                refused = outcome.error
                                break
                            line = outcome.to_dict()
                            line["index"] = work.todo[outcome.index][0]
                            writer.write(line)
                            if outcome.error is not None:
                                failures.append(outcome.error)
    summary = {
        "out": str(out),
        "uuids": len(uuids),
        "written": writer.written,
        "failed": len(failures),
        "skipped_done": work.done_before,
        "skipped_repeated": work.repeated,
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"{out}: wrote {writer.written} of {len(uuids)} uuids ({len(failures)} failed); "
            f"skipped {work.done_before} already there, {work.repeated} repeated"
        )
    if refused is not None:
        raise Failure(
            f"{refused} (check RESEMBLE_API_KEY); nothing more was written: "
            "run the same command again to resume",
            ExitCode.UNAUTHORIZED,
        )
    code = code_for_failures(failures)
    if code is not ExitCode.OK:
        reason = failure_summary(failures, writer.written)
        raise Failure(f"{reason} (each has its line in {out}; --retry-failed redoes them)", code)
    return code


@click.command("fetch", short_help="Fetch many uuids into a JSONL file, resumably.")
@click.option(
    "--from",
    "source",
    type=click.File("r", encoding="utf-8"),
    required=True,
    metavar="FILE|-",
    help="The uuids, one per line ('-' reads stdin; blank lines and # comments are skipped).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    metavar="FILE",
    help="The JSONL file to append one result line per uuid to (created if missing).",
)
@click.option("--wait", is_flag=True, help="Wait for each detection to finish, not just fetch.")
@timeout_option
@concurrency_option
@click.option("--experts", is_flag=True, help="Fetch with ?experts=true (intelligence list).")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also redo uuids whose line in --out is a failure (the newer line is appended).",
)
@json_option("Print the summary as one JSON object (the results are in --out).")
@click.option(
    "--redis",
    "redis_url",
    metavar="URL",
    default=None,
    envvar="RESEMBLE_REDIS_URL",
    show_envvar=True,
    help="Share the key's 40/s with every process using this Redis (redis://, rediss:// "
    "for TLS, unix://; needs the redis extra). See docs/redis.md.",
)
@click.option(
    "--queue",
    metavar="NAME",
    default=None,
    help="With --redis: drain one shared queue of the --from uuids with the other workers "
    "given the same NAME; all of them append to the same --out.",
)
@click.option(
    "--claim-idle",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="With --queue: take over the uuids of a worker silent for S seconds (default 30).",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="With --redis: how many processes share the key; if Redis goes away each one "
    "takes 1/N of the budget (default 4).",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="R",
    help="With --redis: requests per second for the whole key (default 40; every process "
    "must use the same).",
)
def command(
    source: IO[str],
    out: Path,
    wait: bool,
    timeout: float | None,
    concurrency: int | None,
    experts: bool,
    retry_failed: bool,
    as_json: bool,
    redis_url: str | None,
    queue: str | None,
    claim_idle: float | None,
    processes: int | None,
    rate_limit: float | None,
) -> ExitCode:
    """Fetch many existing detections into a JSON Lines file, resumably.

    Reads uuids from --from and appends one line per uuid to --out as each result arrives
    ({"index", "uuid", "ok", "detection", "error"}: Outcome.to_dict(), with "index" the
    uuid's position in --from). Each line is flushed at once. Run the same command again
    after a stop: uuids already in --out are skipped. When a uuid has several lines, the
    last one is the newest.

    With --wait, waits for each detection to finish (a failed analysis is a failed line).
    Exits 5 if any uuid failed; 3 if the key is refused (nothing is written for the rest).

    With --redis, the key's budget is shared with every process using that Redis; with
    --queue too, several workers share the work: each uuid gets exactly one line in --out
    (the same file for all of them), and a worker that dies loses nothing.

    \b
    Example:
      resemble-detect list --all --json | jq -r .uuid > uuids.txt
      resemble-detect fetch --from uuids.txt --out results.jsonl --wait
    \b
    Four workers, one key:
      resemble-detect fetch --redis redis://localhost:6379/0 --queue q1 \\
        --from uuids.txt --out results.jsonl --wait &   # four times
    """
    if timeout is not None and not wait:
        raise click.UsageError("--timeout needs --wait")
    if any(v is not None for v in (redis_url, queue, claim_idle, processes, rate_limit)):
        from ._fetch_redis import with_redis

        return with_redis(
            source,
            out,
            fetch=_fetch,
            redis_url=redis_url,
            queue=queue,
            claim_idle=claim_idle,
            processes=processes,
            rate_limit=rate_limit,
            wait=wait,
            timeout=timeout,
            concurrency=concurrency,
            experts=experts,
            retry_failed=retry_failed,
            as_json=as_json,
        )
    return run(
        _fetch(
            source,
            out,
            wait=wait,
            timeout=timeout,
            concurrency=concurrency,
            experts=experts,
            retry_failed=retry_failed,
            as_json=as_json,
        )
    )
