"""Sessions: `nox` runs the test suite and the linters; `nox -s demo` runs the demo."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, scale runs included, with branch coverage (fails under 90 %)."""
    session.install(".[test]")
    # pyproject's addopts deselect the slow `scale` tests for a plain `pytest`; this -m selects
    # every test again in the same run (one coverage file, and no run that can collect nothing).
    # A -m given after `--` comes later on the command line, so it wins.
    session.run("coverage", "run", "-m", "pytest", "-m", "scale or not scale", *session.posargs)
    session.run("coverage", "report", "--fail-under=90")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy --strict over the package, tests and this file."""
    session.install(".[test,lint]", "nox")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """Install the package and run the demo against the embedded fake API."""
    session.install(".")
    session.run("resemble-detect", "demo", *session.posargs)
