"""Optional OpenTelemetry spans: one per call when ``opentelemetry-api`` is installed.

``pip install 'resemble-detect-async[otel]'`` and configure an SDK as usual; without the
package this module does nothing, and costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from ._version import __version__

__all__ = ["call_span"]

_trace: Any
try:
    import opentelemetry.trace as _trace
except ImportError:  # pragma: no cover - depends on the environment
    _trace = None


def _tracer() -> Any:
    """The tracer, or None when there is nothing to record to (no package, or no SDK
    configured yet: the API's proxy provider would only make non-recording spans)."""
    if _trace is None:
        return None
    provider = _trace.get_tracer_provider()
    if isinstance(provider, _trace.ProxyTracerProvider | _trace.NoOpTracerProvider):
        return None
    return provider.get_tracer("resemble_detect_async", __version__)


def call_span(method: str, route: str, uuid: str | None) -> AbstractContextManager[Any]:
    """A CLIENT span around one call (its retries included), or nothing (and no cost)."""
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    return _span(tracer, method, route, uuid)


_NO_SPAN = contextlib.nullcontext()


@contextlib.contextmanager
def _span(tracer: Any, method: str, route: str, uuid: str | None) -> Iterator[Any]:
    attributes: dict[str, Any] = {"http.request.method": method, "url.path": route}
    if uuid is not None:
        attributes["resemble.uuid"] = uuid
    with tracer.start_as_current_span(
        f"{method} {route}", kind=_trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span
