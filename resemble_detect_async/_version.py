"""The installed version, looked up once.

``resemble_detect_async.__version__`` and the client's User-Agent both read it from here, so
the two can never disagree, and the package namespace does not pick up the lookup's imports.
"""

import importlib.metadata

__all__ = ["__version__"]


def _installed_version() -> str:
    """The distribution's version from its metadata, or ``0+unknown`` from a bare source tree."""
    try:
        return importlib.metadata.version("resemble-detect-async")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "0+unknown"


__version__ = _installed_version()
