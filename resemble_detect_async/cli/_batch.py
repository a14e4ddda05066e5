"""``resemble-detect batch``: submit up to 50 files (or one zip) as one batch job."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click

from resemble_detect_async import DEFAULT, Batch, BatchOptions, BatchStatus, DetectClient

from ._exit import ExitCode, Failure
from ._options import json_option, pick_options, request_options, timeout_option
from ._output import (
    Row,
    console,
    detection_name,
    detection_table,
    emit_json,
    hint,
    raw,
    row_from_outcome,
    show,
)
from ._progress import ProgressDisplay, batch_progress
from ._runtime import run, runtime

__all__ = ["command"]


async def _submit(client: DetectClient, files: tuple[Path, ...], options: BatchOptions) -> Batch:
    if len(files) == 1 and files[0].suffix.lower() == ".zip":
        return await client.create_batch(zip_file=files[0], **options)
    return await client.create_batch(list(files), **options)


async def _batch(
    files: tuple[Path, ...],
    *,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    options: BatchOptions,
) -> ExitCode:
    settings = runtime()
    async with settings.make_client() as client:
        batch = await _submit(client, files, options)
        if not wait:
            _show_submitted(batch, as_json=as_json)
            return ExitCode.OK
        with ProgressDisplay(
            "batch",
            batch.total_files,
            console=console(stderr=True),
            monotonic=settings.monotonic,
            every=settings.progress_every,
        ) as display:
            result = await client.wait_for_batch(
                batch.uuid,
                timeout=DEFAULT if timeout is None else timeout,
                on_update=lambda state: display(batch_progress(state)),
            )
    final = result.batch
    if as_json:
        emit_json(
            {
                "batch": raw(final.raw),
                "outcomes": [outcome.to_dict() for outcome in result.outcomes],
            }
        )
    else:
        rows = []
        for outcome in result.outcomes:
            name = detection_name(outcome.detection) if outcome.detection else outcome.uuid
            rows.append(row_from_outcome(outcome, name))
        show(console(), detection_table(rows, name_header="FILE"))
        status = final.status.value if final.status is not None else "unknown"
        hint(f"batch {final.uuid}: {status}")
    failed = [
        outcome
        for outcome in result.outcomes
        if not outcome.ok or (outcome.detection is not None and outcome.detection.is_failed)
    ]
    if failed or final.status is not BatchStatus.COMPLETED:
        status = final.status.value if final.status is not None else "unknown"
        count = final.failed_count if final.failed_count is not None else len(failed)
        raise Failure(
            f"batch {final.uuid} is {status}: {count} of {final.total_files} files failed",
            ExitCode.ITEMS_FAILED,
        )
    return ExitCode.OK


def _show_submitted(batch: Batch, *, as_json: bool) -> None:
    if as_json:
        emit_json(raw(batch.raw))
        return
    rows = [Row(name=f"file {i + 1}", uuid=uuid) for i, uuid in enumerate(batch.detect_uuids)]
    if rows:
        show(console(), detection_table(rows, name_header="FILE"))
    status = batch.status.value if batch.status is not None else "submitted"
    hint(f"batch {batch.uuid}: {status}, {batch.total_files} files")
    if batch.detect_uuids:
        hint("to wait for the verdicts: resemble-detect wait " + " ".join(batch.detect_uuids))


@click.command("batch", short_help="Submit up to 50 files, or a zip, as one batch.")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    metavar="FILES...|ZIP",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--wait", is_flag=True, help="Wait for the whole batch, then print every verdict.")
@timeout_option
@json_option("Print the batch (and with --wait its outcomes) as one JSON object.")
@request_options(BatchOptions)
def command(
    files: tuple[Path, ...], wait: bool, timeout: float | None, as_json: bool, **values: Any
) -> ExitCode:
    """Submit 1-50 local files, or one .zip of them, as one batch job.

    The options apply to every file. Without --wait, prints the batch and its detection
    uuids. With --wait, follows the batch to the end and prints every file's verdict; exits
    5 unless every file completed.
    """
    options = cast(BatchOptions, pick_options(values, BatchOptions))
    return run(_batch(files, wait=wait, timeout=timeout, as_json=as_json, options=options))
