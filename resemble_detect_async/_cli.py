"""The ``resemble-detect`` entry point; it works without the ``cli`` extra installed.

The command line itself is :mod:`resemble_detect_async.cli` (click and rich, from the
``cli`` extra). This module imports it only when called, so that without the extra the
command prints how to install it (exit 69) instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["MISSING_EXTRA", "main"]

MISSING_EXTRA = 69
"""Exit code when the ``cli`` extra is missing (``ExitCode.MISSING_EXTRA``)."""

_EXTRA_MODULES = frozenset({"click", "rich"})


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run ``resemble-detect`` (``argv`` defaults to ``sys.argv[1:]``) and return its exit code.

    ``out`` receives what the command prints on stdout (default: ``sys.stdout``).
    """
    try:
        cli = importlib.import_module(f"{__package__}.cli")
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in _EXTRA_MODULES:
            raise
        print(
            "resemble-detect needs the 'cli' extra (click, rich): "
            "pip install 'resemble-detect-async[cli]'",
            file=sys.stderr,
        )
        return MISSING_EXTRA
    code: int = cli.main(argv, out=out)
    return code
