"""``resemble-detect detect``: submit URLs or files, optionally wait, print the verdicts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import click

from resemble_detect_async import (
    DEFAULT,
    DetectClient,
    Detection,
    DetectionOptions,
    Outcome,
)

from ._exit import ExitCode, Failure, code_for_failures
from ._options import json_option, pick_options, request_options, timeout_option
from ._output import (
    Row,
    console,
    detection_table,
    emit_json,
    error_json,
    failure_summary,
    hint,
    outcome_json,
    row_from_outcome,
    show,
)
from ._progress import ProgressDisplay
from ._runtime import run, runtime

__all__ = ["command", "is_url"]


def is_url(value: str) -> bool:
    """An ``http(s)://`` URL with a host; anything else is taken as a file path."""
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _check_inputs(inputs: tuple[str, ...]) -> None:
    """Every input is a URL or an existing file, before anything is submitted (billed)."""
    missing = [item for item in inputs if not is_url(item) and not Path(item).is_file()]
    if missing:
        raise click.BadParameter(
            "not a URL (http:// or https://) nor an existing file: " + ", ".join(missing),
            param_hint="INPUT",
        )


async def _submit(client: DetectClient, item: str, options: DetectionOptions) -> Detection:
    if is_url(item):
        return await client.create_detection(url=item, **options)
    return await client.create_detection(file=Path(item), **options)


async def _detect(
    inputs: tuple[str, ...],
    *,
    wait: bool,
    timeout: float | None,
    wait_for_intelligence: bool,
    as_json: bool,
    options: DetectionOptions,
) -> ExitCode:
    settings = runtime()
    rows: dict[int, Row] = {}  # by position among the inputs
    failures: list[BaseException] = []
    async with settings.make_client() as client:
        created = await asyncio.gather(
            *(_submit(client, item, options) for item in inputs), return_exceptions=True
        )
        submitted: list[tuple[int, str]] = []  # (position, uuid)
        for index, (item, result) in enumerate(zip(inputs, created, strict=True)):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result  # KeyboardInterrupt, CancelledError: not an item's failure
                failures.append(result)
                rows[index] = Row(name=item, error=result)
                if as_json:
                    emit_json(_not_submitted(index, item, result))
                continue
            submitted.append((index, result.uuid))
            if not wait:
                rows[index] = Row(name=item, uuid=result.uuid, detection=result)
                if as_json:
                    outcome = Outcome(index=index, uuid=result.uuid, detection=result)
                    emit_json(outcome_json(outcome, input=item))
        if wait and submitted:
            with ProgressDisplay(
                "waiting",
                len(submitted),
                console=console(stderr=True),
                monotonic=settings.monotonic,
                every=settings.progress_every,
            ) as display:
                stream = client.iter_results(
                    [uuid for _, uuid in submitted],
                    wait=True,
                    timeout=DEFAULT if timeout is None else timeout,
                    wait_for_intelligence=wait_for_intelligence,
                    on_progress=display,
                )
                async with stream:
                    async for outcome in stream:
                        index = submitted[outcome.index][0]
                        rows[index] = row_from_outcome(outcome, inputs[index])
                        if outcome.error is not None:
                            failures.append(outcome.error)
                        if as_json:
                            emit_json(outcome_json(_reindexed(outcome, index), input=inputs[index]))
    if not as_json:
        show(console(), detection_table(rows[index] for index in sorted(rows)))
    if submitted and not wait:
        uuids = " ".join(uuid for _, uuid in submitted)
        hint(f"submitted {len(submitted)}; to wait for the verdicts: resemble-detect wait {uuids}")
    code = code_for_failures(failures)
    if code is not ExitCode.OK:
        raise Failure(failure_summary(failures, len(inputs)), code)
    return code


def _not_submitted(index: int, item: str, error: Exception) -> dict[str, Any]:
    """The JSON line of an input that could not be submitted (there is no uuid)."""
    return {
        "input": item,
        "index": index,
        "uuid": None,
        "ok": False,
        "detection": None,
        "error": error_json(error),
    }


def _reindexed(outcome: Outcome, index: int) -> Outcome:
    """The outcome numbered by its position among the command's inputs."""
    return Outcome(index=index, uuid=outcome.uuid, detection=outcome.detection, error=outcome.error)


@click.command("detect", short_help="Submit URLs or files; optionally wait for the verdicts.")
@click.argument("inputs", nargs=-1, required=True, metavar="URL|FILE...")
@click.option(
    "--wait", is_flag=True, help="Wait for the verdicts (polling) instead of returning the uuids."
)
@timeout_option
@click.option(
    "--wait-for-intelligence",
    is_flag=True,
    help="With --wait, also wait until intelligence results are ready.",
)
@json_option()
@request_options(DetectionOptions)
def command(
    inputs: tuple[str, ...],
    wait: bool,
    timeout: float | None,
    wait_for_intelligence: bool,
    as_json: bool,
    **values: Any,
) -> ExitCode:
    """Submit media for deepfake detection: public URLs or local files.

    Each URL|FILE becomes one detection (files over 150 MB go through a secure upload).
    Without --wait, prints the new uuids at once; wait for them later with `resemble-detect
    wait`. With --wait, polls until every verdict is in, with a progress display.

    Options not given are not sent, so the API's defaults apply.

    \b
    Examples:
      resemble-detect detect https://example.com/call.wav --wait
      resemble-detect detect clip.mp4 photo.png --intelligence --wait --json
    """
    _check_inputs(inputs)
    for given, name in ((wait_for_intelligence, "--wait-for-intelligence"), (timeout, "--timeout")):
        if given and not wait:
            raise click.UsageError(f"{name} needs --wait")
    options = cast(DetectionOptions, pick_options(values, DetectionOptions))
    return run(
        _detect(
            inputs,
            wait=wait,
            timeout=timeout,
            wait_for_intelligence=wait_for_intelligence,
            as_json=as_json,
            options=options,
        )
    )
