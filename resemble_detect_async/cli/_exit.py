"""Exit codes scripts can rely on, and how an error or a run's failures map to one.

Single-request commands (``get``, ``delete``, ``list``) exit with the code of their error.
Commands over several items (``detect``, ``wait``, ``fetch``, ``batch``) report every item,
then exit with :func:`code_for_failures`: a refused key wins (it is every item's problem), a
reason shared by *every* failure keeps its own code (all "not found" is 4, all bad uuids 64),
and anything else is 5, "some items failed".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from resemble_detect_async import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
)

__all__ = ["ExitCode", "Failure", "code_for_error", "code_for_failures"]


class ExitCode(enum.IntEnum):
    """The process exit status of ``resemble-detect`` (docs/cli.md has the table)."""

    OK = 0
    """Everything asked for was done."""
    ERROR = 1
    """An error without a code of its own (400, 402, 403, 5xx, network); the line says which."""
    NO_KEY = 2
    """No API key in ``RESEMBLE_API_KEY`` (or an unusable key or ``RESEMBLE_BASE_URL``)."""
    UNAUTHORIZED = 3
    """The API refused the key (401)."""
    NOT_FOUND = 4
    """No such detection (404)."""
    ITEMS_FAILED = 5
    """Some items of a run failed (failed analysis, wait timed out, ...); each is reported."""
    USAGE = 64
    """Bad usage: unknown option, missing file, invalid uuid (``EX_USAGE`` of sysexits.h).

    Not click's 2, which would be indistinguishable from :attr:`NO_KEY`."""
    MISSING_EXTRA = 69
    """The ``cli`` extra (click, rich) is not installed (``EX_UNAVAILABLE``)."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT, as shells report it)."""


class Failure(Exception):
    """Ends the command: ``message`` becomes the one-line reason on stderr, ``code`` the status."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def code_for_error(error: BaseException) -> ExitCode:
    """The exit code of a command that failed with ``error``."""
    if isinstance(error, Failure):
        return error.code
    if isinstance(error, ConfigurationError):
        return ExitCode.NO_KEY
    if isinstance(error, AuthenticationError):
        return ExitCode.UNAUTHORIZED
    if isinstance(error, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(error, InvalidRequestError):
        return ExitCode.USAGE
    return ExitCode.ERROR


def code_for_failures(failures: Iterable[BaseException]) -> ExitCode:
    """The exit code of a run over several items, from the errors of the items that failed.

    OK without failures; UNAUTHORIZED if any item met a 401 (the key is wrong for all of
    them); the shared code when every failure has the same specific one (404s, invalid
    uuids); ITEMS_FAILED otherwise, including failed analyses and timed-out waits.
    """
    codes = {code_for_error(error) for error in failures}
    if not codes:
        return ExitCode.OK
    if ExitCode.UNAUTHORIZED in codes:
        return ExitCode.UNAUTHORIZED
    if len(codes) == 1:
        (code,) = codes
        if code in (ExitCode.NOT_FOUND, ExitCode.USAGE):
            return code
    return ExitCode.ITEMS_FAILED
