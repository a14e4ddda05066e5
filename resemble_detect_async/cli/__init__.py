"""``resemble-detect``: the Detect API from the command line, over the public SDK only.

Needs the ``cli`` extra (``pip install 'resemble-detect-async[cli]'``: click and rich);
``resemble_detect_async._cli:main`` is the entry point and says so when they are missing.

Layout: this module builds the click group (:data:`app`) and registers the subcommands; each
subcommand lives in its own module, ``cli/_<name>.py``, which defines ``command`` (a
:class:`click.Command`). Shared parts: :mod:`._exit` (exit codes), :mod:`._runtime` (the
client factory and clock, replaceable in tests), :mod:`._output` (tables and JSON),
:mod:`._progress` (the progress display), :mod:`._options` (shared options),
:mod:`._jsonl` (resumable JSON Lines output).

**Adding a subcommand** (e.g. the bulk job's ``run``): write ``cli/_run.py`` with a
``command``, and add ``"_run"`` to :data:`SUBCOMMANDS` where ``--help`` should list it.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import click

from resemble_detect_async import ResembleError, __version__

from ._exit import ExitCode, Failure, code_for_error
from ._runtime import Runtime, environment_client

__all__ = ["SUBCOMMANDS", "ExitCode", "Runtime", "app", "environment_client", "main"]

SUBCOMMANDS: tuple[str, ...] = (
    "_detect",
    "_wait",
    "_get",
    "_list",
    "_delete",
    "_fetch",
    "_run",
    "_batch",
    "_demo",
    "_serve_fake",
)
"""The modules of the subcommands, in the order ``--help`` lists them."""


class App(click.Group):
    """A click group whose exit codes are ours (:class:`ExitCode`), however it is invoked.

    Click exits 2 on bad usage, which would read as "no API key" here; this group maps every
    way a command can end to its documented code and a one-line reason on stderr, both from
    the console script and from click's test runner.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Registration order (most used first), not alphabetical."""
        return list(self.commands)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit (or, with ``standalone_mode=False``, return) its code."""
        code = self._exit_code(args, prog_name, complete_var, windows_expand_args, extra)
        if standalone_mode:
            sys.exit(int(code))
        return code

    def _exit_code(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        windows_expand_args: bool,
        extra: dict[str, Any],
    ) -> int:
        try:
            result = super().main(
                args,
                prog_name or "resemble-detect",
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except click.UsageError as exc:  # includes a bare `resemble-detect` (help, then 64)
            exc.show()
            return ExitCode.USAGE
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except (click.Abort, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            return ExitCode.INTERRUPTED
        except (Failure, ResembleError) as exc:
            click.echo(f"error: {_one_line(exc)}", err=True)
            return code_for_error(exc)
        return int(result) if isinstance(result, int) else ExitCode.OK


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, ResembleError) and code_for_error(error) == ExitCode.UNAUTHORIZED:
        text += " (check RESEMBLE_API_KEY)"
    return text


def _build() -> App:
    @click.group(
        "resemble-detect",
        cls=App,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    @click.version_option(__version__, "-V", "--version", prog_name="resemble-detect")
    def group() -> None:
        """Resemble AI's Detect API (deepfake detection) from the command line.

        Reads RESEMBLE_API_KEY (and RESEMBLE_BASE_URL, default the real API). Try it
        without a key: `resemble-detect demo`. Results go to stdout (tables, or one JSON
        object per line with --json); progress and errors go to stderr.

        Exit codes: 0 ok, 1 other error, 2 no API key, 3 key refused (401), 4 not found,
        5 some items failed, 64 bad usage, 130 interrupted.
        """

    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        group.add_command(module.command)
    assert isinstance(group, App)
    return group


app: App = _build()
"""The ``resemble-detect`` click group."""


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    runtime: Runtime | None = None,
) -> int:
    """Run ``resemble-detect`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Args:
        out: where stdout goes (default: ``sys.stdout``).
        runtime: the client factory and clock (default: the environment's, real time).
    """
    redirect = contextlib.redirect_stdout(out) if out is not None else contextlib.nullcontext()
    with redirect:
        code = app.main(argv, standalone_mode=False, obj=runtime)
    return int(code)
