"""Fault injection for the fake Detect API: the public :class:`Fault` rules and their bookkeeping.

A rule says *which* requests it affects (method, path pattern, how many times) and *what* goes
wrong (an error status, an HTML proxy page, a dropped or hanging connection, a delay, a truncated
JSON body). The server asks :class:`FaultRules` for the rule of each request and applies it.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypedDict, Unpack

import attrs

__all__ = ["FAULT_KINDS", "Fault", "FaultRules", "FaultTarget"]

FAULT_KINDS: Final = frozenset({"status", "html", "drop", "delay", "hang", "malformed"})


def _validate_kind(_inst: object, _attr: attrs.Attribute[Any], value: str) -> None:
    if value not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {value!r}; expected one of {sorted(FAULT_KINDS)}")


def _validate_path(_inst: object, _attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        re.compile(value)


def _validate_times(_inst: object, _attr: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError("times must be >= 1 (or None for 'forever')")


def retry_after_text(value: float | str | None) -> str | None:
    """A ``Retry-After`` header value: a number is sent as ``"2"`` or ``"1.5"``, text verbatim."""
    if value is None or isinstance(value, str):
        return value
    return f"{value:g}"


class FaultTarget(TypedDict, total=False):
    """Which requests a rule affects: the keyword arguments every :class:`Fault` factory takes."""

    times: int | None
    """How many matching requests the rule affects (default 1; ``None``: every one)."""
    method: str | None
    """Only requests with this HTTP method (any when ``None``)."""
    path: str | None
    """A regular expression full-matched against the path relative to ``/api/v2``."""
    after_handler: bool
    """Run the real handler first, then replace, delay or drop its response."""


@attrs.frozen
class Fault:
    """One fault-injection rule, matched against the request method and path.

    ``path`` is a regular expression matched with :func:`re.fullmatch` against the path relative to
    ``/api/v2`` (for example ``"/detect/[^/]+"``). ``times`` is how many matching requests the rule
    affects (``None``: every one). Rules are tried in injection order; the first matching rule with
    uses left applies.

    Kinds:

    * ``"status"`` – respond with ``status``, a JSON error body (``message``) and, when
      ``retry_after`` is set, a verbatim ``Retry-After`` header.
    * ``"html"`` – respond with ``status`` and an nginx-style ``text/html`` error page.
    * ``"drop"`` – close the TCP connection without sending any response.
    * ``"delay"`` – wait ``delay`` seconds, then proceed normally.
    * ``"hang"`` – never respond; the connection is dropped when the server closes.
    * ``"malformed"`` – respond 200 with ``Content-Type: application/json`` and a truncated body.

    With ``after_handler=True`` the real handler runs first (so e.g. the detection is created) and
    the fault then replaces, delays or drops its response: "the request reached the server, the
    response was lost".

    The factories (:meth:`error`, :meth:`drop`...) all take the :class:`FaultTarget` keywords
    ``times=1``, ``method=None``, ``path=None`` and ``after_handler=False``.
    """

    kind: str = attrs.field(validator=_validate_kind)
    status: int = 500
    retry_after: str | None = None
    message: str | None = None
    delay: float = 0.0
    times: int | None = attrs.field(default=1, validator=_validate_times)
    method: str | None = None
    path: str | None = attrs.field(default=None, validator=_validate_path)
    after_handler: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request (*path* relative to ``/api/v2``)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.fullmatch(self.path, path) is not None

    @classmethod
    def error(
        cls,
        status: int,
        *,
        message: str | None = None,
        retry_after: float | str | None = None,
        **target: Unpack[FaultTarget],
    ) -> Fault:
        """Respond with *status* and a JSON error body."""
        return cls(
            "status",
            status=status,
            message=message,
            retry_after=retry_after_text(retry_after),
            **target,
        )

    @classmethod
    def rate_limited(
        cls,
        retry_after: float | str | None = None,
        *,
        message: str | None = None,
        **target: Unpack[FaultTarget],
    ) -> Fault:
        """Respond 429, optionally with ``Retry-After`` (a number is sent as ``"2"``, ``"1.5"``)."""
        return cls.error(
            429, message=message or "Rate limit exceeded", retry_after=retry_after, **target
        )

    @classmethod
    def html(cls, status: int = 502, **target: Unpack[FaultTarget]) -> Fault:
        """Respond with an nginx-style HTML error page (a proxy in front of the API failing)."""
        return cls("html", status=status, **target)

    @classmethod
    def drop(cls, **target: Unpack[FaultTarget]) -> Fault:
        """Close the connection without a response."""
        return cls("drop", **target)

    @classmethod
    def slow(cls, seconds: float, **target: Unpack[FaultTarget]) -> Fault:
        """Delay the response by *seconds* (real time), then respond normally."""
        return cls("delay", delay=seconds, **target)

    @classmethod
    def hang(cls, **target: Unpack[FaultTarget]) -> Fault:
        """Never respond (until the server is closed, which drops the connection)."""
        return cls("hang", **target)

    @classmethod
    def malformed_json(cls, **target: Unpack[FaultTarget]) -> Fault:
        """Respond 200 ``application/json`` with a truncated, unparsable body."""
        return cls("malformed", status=200, **target)


@attrs.define
class _ActiveFault:
    fault: Fault
    remaining: int | None

    @property
    def used_up(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


@attrs.define
class FaultRules:
    """The injected rules in order, each with its remaining uses."""

    _active: list[_ActiveFault] = attrs.field(factory=list)

    def add(self, fault: Fault) -> None:
        """Add a rule, tried after the rules added before it."""
        self._active.append(_ActiveFault(fault, fault.times))

    def clear(self) -> None:
        """Remove every rule."""
        self._active.clear()

    @property
    def pending(self) -> tuple[Fault, ...]:
        """The rules that still have uses left."""
        return tuple(a.fault for a in self._active if not a.used_up)

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule with uses left that matches the request, spending one use of it."""
        for active in self._active:
            if active.used_up or not active.fault.matches(method, path):
                continue
            if active.remaining is not None:
                active.remaining -= 1
            return active.fault
        return None
