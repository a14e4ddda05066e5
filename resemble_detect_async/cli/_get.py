"""``resemble-detect get``: one detection's current state."""

from __future__ import annotations

import click

from ._exit import ExitCode
from ._options import json_option
from ._output import console, detail_table, emit_json, raw, show
from ._runtime import run, runtime

__all__ = ["command"]


async def _get(uuid: str, *, experts: bool, as_json: bool) -> ExitCode:
    async with runtime().make_client() as client:
        detection = await client.get_detection(uuid, experts=experts)
    if as_json:
        emit_json(raw(detection.raw))
    else:
        show(console(), detail_table(detection))
    return ExitCode.OK


@click.command("get", short_help="Show one detection as it is now.")
@click.argument("uuid")
@click.option("--experts", is_flag=True, help="List the intelligence results (?experts=true).")
@json_option("Print the detection as the API sent it (one JSON object).")
def command(uuid: str, experts: bool, as_json: bool) -> ExitCode:
    """Show one detection as it is now (no waiting): status, verdict, score, label.

    With --json, prints the detection exactly as the API sent it. A detection that is
    still processing is shown as such; use `resemble-detect wait UUID` to wait for it.
    Exits 4 if there is no such detection.
    """
    return run(_get(uuid, experts=experts, as_json=as_json))
