"""``resemble-detect delete``: delete one detection."""

from __future__ import annotations

import click

from ._exit import ExitCode
from ._options import json_option
from ._output import emit_json
from ._runtime import run, runtime

__all__ = ["command"]


async def _delete(uuid: str, *, as_json: bool) -> ExitCode:
    async with runtime().make_client() as client:
        await client.delete_detection(uuid)
    if as_json:
        emit_json({"uuid": uuid, "deleted": True})
    else:
        click.echo(f"deleted {uuid}")
    return ExitCode.OK


@click.command("delete", short_help="Delete a detection.")
@click.argument("uuid")
@json_option("Print the result as one JSON object.")
def command(uuid: str, as_json: bool) -> ExitCode:
    """Delete a detection and its results (DELETE /detect/UUID).

    Exits 4 if there is no such detection (or it was already deleted).
    """
    return run(_delete(uuid, as_json=as_json))
