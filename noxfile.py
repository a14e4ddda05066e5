"""Sessions: `nox` runs the test suite, the linters and the docs build; `nox -s demo` runs
the demo and `nox -s docs_serve` serves the documentation site locally."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "docs"]
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
    """Install the package with its command line and run the demo against the embedded fake API."""
    session.install(".[cli]")
    session.run("resemble-detect", "demo", *session.posargs)


# Material for MkDocs prints a banner about MkDocs 2.0 on every build; it is not a warning
# about these docs, so keep it out of CI logs.
_MKDOCS_ENV = {"NO_MKDOCS_2_WARNING": "1"}


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with --strict: any warning (a broken link or anchor, an
    unresolvable reference, a docstring griffe cannot read) fails the build."""
    session.install(".[docs]")
    site = Path(session.create_tmp()) / "site"  # not in the work tree
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env=_MKDOCS_ENV)


@nox.session(name="docs_serve")
def docs_serve(session: nox.Session) -> None:
    """Serve the documentation with live reload on http://127.0.0.1:8000 (Ctrl-C to stop)."""
    session.install(".[docs]")
    session.run("mkdocs", "serve", *session.posargs, env=_MKDOCS_ENV)
