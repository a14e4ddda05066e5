"""``resemble-detect serve-fake``: the fake Detect API as a standalone server.

The same server as ``python -m resemble_detect_async.testing`` (this command reuses its
``serve``), with a hint on how to point the other commands at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex

import click

from resemble_detect_async.testing import FakeDetectAPI
from resemble_detect_async.testing.__main__ import serve

from ._exit import ExitCode

__all__ = ["command"]


@click.command("serve-fake", short_help="Serve the fake Detect API locally.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port; 0 picks a free one.",
)
@click.option("--api-key", default="test-key", show_default=True, help="The key it accepts.")
@click.option(
    "--polls-to-complete",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="GETs answered 'processing' before a detection is done.",
)
@click.option(
    "--seconds-to-complete",
    type=click.FloatRange(min=0),
    default=None,
    help="Finish detections after this many seconds instead (real time).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def command(
    host: str,
    port: int,
    api_key: str,
    polls_to_complete: int,
    seconds_to_complete: float | None,
    verbose: bool,
) -> ExitCode:
    """Serve the fake Detect API locally, for trying the commands and testing your code.

    Prints the base URL as the first line of stdout, then serves until Ctrl-C. Verdicts
    depend on the media's name only ("fail" in it makes the analysis fail). Point the
    other commands at it with RESEMBLE_BASE_URL and RESEMBLE_API_KEY (printed on stderr).
    """
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    fake = FakeDetectAPI(
        api_key=api_key,
        polls_to_complete=polls_to_complete,
        seconds_to_complete=seconds_to_complete,
    )

    def ready(base_url: str) -> None:
        click.echo(base_url)
        exports = (
            f"export RESEMBLE_BASE_URL={shlex.quote(base_url)} "
            f"RESEMBLE_API_KEY={shlex.quote(api_key)}"
        )
        click.echo(f"Fake Detect API listening; to use it: {exports}; Ctrl-C to stop.", err=True)

    with contextlib.suppress(KeyboardInterrupt):  # where the loop cannot take SIGINT itself
        asyncio.run(serve(fake, host, port, on_ready=ready, access_log=verbose))
    return ExitCode.OK
