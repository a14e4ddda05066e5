"""``resemble-detect wait``: wait for detections already submitted, print the verdicts."""

from __future__ import annotations

import click

from resemble_detect_async import DEFAULT, Outcome

from ._exit import ExitCode, Failure, code_for_failures
from ._options import concurrency_option, json_option, timeout_option
from ._output import console, detection_table, emit_json, failure_summary, row_from_outcome, show
from ._progress import ProgressDisplay
from ._runtime import run, runtime

__all__ = ["command"]


async def _wait(
    uuids: tuple[str, ...],
    *,
    timeout: float | None,
    concurrency: int | None,
    wait_for_intelligence: bool,
    as_json: bool,
) -> ExitCode:
    settings = runtime()
    outcomes: list[Outcome] = []
    async with settings.make_client() as client:
        with ProgressDisplay(
            "waiting",
            len(uuids),
            console=console(stderr=True),
            monotonic=settings.monotonic,
            every=settings.progress_every,
        ) as display:
            stream = client.iter_results(
                list(uuids),
                wait=True,
                timeout=DEFAULT if timeout is None else timeout,
                concurrency=concurrency,
                wait_for_intelligence=wait_for_intelligence,
                on_progress=display,
            )
            async with stream:
                async for outcome in stream:
                    outcomes.append(outcome)
                    if as_json:  # as each result comes in: a pipeline need not wait for all
                        emit_json(outcome.to_dict())
    outcomes.sort(key=lambda outcome: outcome.index)
    if not as_json:
        show(console(), detection_table((row_from_outcome(o) for o in outcomes), show_name=False))
    failures = [outcome.error for outcome in outcomes if outcome.error is not None]
    code = code_for_failures(failures)
    if code is not ExitCode.OK:
        raise Failure(failure_summary(failures, len(outcomes)), code)
    return code


@click.command("wait", short_help="Wait for detections and print their verdicts.")
@click.argument("uuids", nargs=-1, required=True, metavar="UUID...")
@timeout_option
@concurrency_option
@click.option(
    "--wait-for-intelligence",
    is_flag=True,
    help="Also wait until intelligence results are ready.",
)
@json_option()
def command(
    uuids: tuple[str, ...],
    timeout: float | None,
    concurrency: int | None,
    wait_for_intelligence: bool,
    as_json: bool,
) -> ExitCode:
    """Wait for detections to finish and print their verdicts.

    Polls each UUID (from 2 s, growing to every 10 s) until it is completed or failed, or
    until --timeout; all of them at once, within the API's rate limit. With --json, prints
    each result as soon as it is in (each line has its "index" among the UUIDs).

    Exits 5 when any detection failed or timed out (the others are still printed).
    """
    return run(
        _wait(
            uuids,
            timeout=timeout,
            concurrency=concurrency,
            wait_for_intelligence=wait_for_intelligence,
            as_json=as_json,
        )
    )
