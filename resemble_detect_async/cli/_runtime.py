"""What every command runs with: where its client comes from, its clock, how it runs async code.

The defaults are the real thing (a :class:`~resemble_detect_async.DetectClient` configured by
``RESEMBLE_API_KEY`` / ``RESEMBLE_BASE_URL``, the monotonic clock); a test passes its own
:class:`Runtime` as click's ``obj`` (``main(argv, runtime=...)``) to run the commands on a
fake API and virtual time without patching anything.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import attrs
import click

from resemble_detect_async import DetectClient

from ._exit import ExitCode, Failure

__all__ = ["NO_KEY_MESSAGE", "Runtime", "environment_client", "run", "runtime"]

NO_KEY_MESSAGE = (
    "no API key: set RESEMBLE_API_KEY (export RESEMBLE_API_KEY=<key>; keys are on "
    "https://app.resemble.ai/hub/api); to try without one run `resemble-detect demo`, or "
    "`resemble-detect serve-fake` and point RESEMBLE_BASE_URL at it"
)


def environment_client(**options: Any) -> DetectClient:
    """A client from ``RESEMBLE_API_KEY`` and ``RESEMBLE_BASE_URL`` (the SDK reads both).

    Raises:
        Failure: exit 2 with how to set the key, when there is none.
    """
    if not os.environ.get("RESEMBLE_API_KEY", "").strip():
        raise Failure(NO_KEY_MESSAGE, ExitCode.NO_KEY)
    return DetectClient(**options)


@attrs.frozen(kw_only=True)
class Runtime:
    """The outside world of one invocation.

    Attributes:
        make_client: builds the client for API commands; keyword arguments are
            ``DetectClient`` options a command needs (none today).
        monotonic: the clock of progress rates and ETAs.
        progress_every: seconds between plain progress lines when stderr is not a terminal.
    """

    make_client: Callable[..., DetectClient] = environment_client
    monotonic: Callable[[], float] = time.monotonic
    progress_every: float = 5.0


def runtime() -> Runtime:
    """The current invocation's runtime (the default one unless a caller passed ``obj=``)."""
    found = click.get_current_context().find_object(Runtime)
    return found if found is not None else Runtime()


def run(main: Coroutine[Any, Any, ExitCode]) -> ExitCode:
    """Run a command's coroutine to its exit code (errors are mapped by the app's ``main``)."""
    return asyncio.run(main)
