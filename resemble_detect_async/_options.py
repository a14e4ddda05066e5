"""The options of POST /detect (API notes §3.2) and POST /detect/batch (API notes §7), as one table.

Each option is one :class:`Option` row in :data:`OPTIONS`: its name, its kind of value (a
boolean, a whole number in a range, a number with a minimum, one of a few strings, a string, a
URL), which endpoints take it and its name on the wire where that differs. The rules that tie
options together are the :class:`Rule` rows of :data:`RULES`. Everything else is derived from
the two tables, so an option is added by adding a row:

* the public TypedDicts below (``create_detection(**options)`` and ``create_batch``; a test
  keeps them equal to the table);
* :func:`check_option_names`, which refuses unknown names with a "did you mean" hint;
* :func:`detection_options` / :func:`batch_options`, which check every value strictly before
  anything is sent and return the options under their wire names, as JSON values;
* :func:`form_fields`, the multipart string form (``"true"``, ``"2"``, ``"0.5"``);
* the fake API (``resemble_detect_async.testing``), which parses the options it receives with
  :meth:`Kind.from_wire` and enforces the rules the API itself enforces.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Literal, Protocol, TypedDict
from urllib.parse import urlsplit

import attrs

from .errors import InvalidRequestError

__all__ = [
    "OPTIONS",
    "RULES",
    "BatchOptions",
    "Choice",
    "DetectionOptions",
    "Flag",
    "Kind",
    "Number",
    "Option",
    "Rule",
    "Scope",
    "Text",
    "Url",
    "Whole",
    "batch_options",
    "check_option_names",
    "detection_options",
    "form_fields",
    "options_for",
]


class DetectionOptions(TypedDict, total=False):
    """Keyword options of ``create_detection`` and ``create_and_wait``; unset ones are not sent.

    (The callback-timing flag ``wait_for_intelligence`` is a named parameter of
    ``create_detection`` instead: in ``create_and_wait`` that name means "keep polling
    until intelligence is done".)
    """

    callback_url: str
    """URL that receives a POST with the result when processing ends (API notes §12)."""
    visualize: bool
    """Produce heatmap / treeview artifacts."""
    frame_length: int
    """Analysis window in seconds, 1–4 (API default 2). Audio and video."""
    start_region: float
    """Analyse from this second on. Audio and video."""
    end_region: float
    """Analyse up to this second. Audio and video."""
    max_video_secs: float
    """Cap on the processed duration of a video."""
    max_video_fps: float
    """Down-sample high-fps video (older option, still documented)."""
    model_types: Literal["image", "talking_head"]
    """Video model; ``talking_head`` is recommended for face swaps."""
    pipeline: str
    """Deprecated: ignored by the API for new detects."""
    modality: Literal["audio", "video", "all"]
    """Video only: which components run (API default ``all``)."""
    face_only: bool
    """Video: mask non-face regions."""
    intelligence: bool
    """Run multimodal intelligence (speaker, transcript, fraud, liveness...)."""
    infer_from_intelligence: bool
    """Let a strong intelligence finding raise a verdict to "Likely Fake"; needs intelligence."""
    detect_watermark: bool
    """Also run watermark + SynthID detection (extra charge, 200 MB source limit)."""
    audio_source_tracing: bool
    """Identify the generator of fake audio."""
    signal: bool
    """Signal fraud/abuse classification; cannot be combined with zero_retention_mode."""
    use_reverse_search: bool
    """Images: reverse image search."""
    use_ood_detector: bool
    """Out-of-distribution detector."""
    zero_retention_mode: bool
    """Redact URLs, tokenise the filename and delete the media after processing (API notes §3.5)."""
    search_identity: bool
    """Identity search against saved identities."""


class BatchOptions(TypedDict, total=False):
    """Keyword options of ``create_batch``, applied to every file (API notes §7)."""

    callback_url: str
    """URL POSTed once the whole batch reaches a terminal state."""
    intelligence: bool
    infer_from_intelligence: bool
    search_identity: bool
    visualize: bool
    """API default for batches: true."""
    audio_source_tracing: bool
    """Sent as ``audio_source_tracing_enabled``, the batch endpoint's name for it."""
    frame_length: int
    start_region: float
    end_region: float
    max_video_secs: float
    use_llm: bool
    """LLM-assisted video analysis (batch only)."""
    face_only: bool
    zero_retention_mode: bool


# --- kinds of values -------------------------------------------------------------------------


class Kind(Protocol):
    """What values an option takes, and how they travel.

    :meth:`check` is the SDK's side: strict, a Python value as the caller passed it. Its
    result is the JSON value sent. :meth:`from_wire` is the fake API's side: lenient like the
    API, a JSON value or a multipart string. Both return ``None`` for a value they refuse
    (``None`` itself means "unset" and never reaches them).
    """

    python_type: ClassVar[type]
    """The annotation in the TypedDicts (``Literal[...]`` for :class:`Choice`)."""

    @property
    def expected(self) -> str:
        """What a valid value is, for error messages: ``"a whole number from 1 to 4"``."""
        ...

    def check(self, value: object) -> Any | None:
        """The value to send, or ``None`` when the caller's value is not valid."""
        ...

    def from_wire(self, raw: object) -> Any | None:
        """The value received as JSON or as a multipart string, or ``None`` if invalid."""
        ...

    def to_form(self, value: Any) -> str:
        """The multipart form of a checked value (API notes §3.2: ``"true"``, ``"2"``)."""
        ...


_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")


@attrs.frozen
class Flag:
    """A boolean. Only a real ``bool`` is sent: ``1`` or ``"yes"`` would be guesses."""

    python_type: ClassVar[type] = bool
    expected: ClassVar[str] = "a boolean (true or false)"

    def check(self, value: object) -> bool | None:
        """``value`` when it is a ``bool``."""
        return value if isinstance(value, bool) else None

    def from_wire(self, raw: object) -> bool | None:
        """A JSON boolean, or ``"true"`` / ``"false"`` in any case (multipart)."""
        if isinstance(raw, bool):
            return raw
        text = raw.strip().lower() if isinstance(raw, str) else None
        return text == "true" if text in ("true", "false") else None

    def to_form(self, value: Any) -> str:
        """``"true"`` or ``"false"``."""
        return "true" if value else "false"


@attrs.frozen
class Whole:
    """A whole number from ``low`` to ``high``; a ``bool`` is not a number here."""

    low: int
    high: int
    python_type: ClassVar[type] = int

    @property
    def expected(self) -> str:
        """``"a whole number from 1 to 4"``."""
        return f"a whole number from {self.low} to {self.high}"

    def _in_range(self, number: int | None) -> int | None:
        return number if number is not None and self.low <= number <= self.high else None

    def check(self, value: object) -> int | None:
        """``value`` as a plain ``int`` when it is an ``int`` in range."""
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return self._in_range(int(value))

    def from_wire(self, raw: object) -> int | None:
        """A JSON integer or a decimal string, in range."""
        if isinstance(raw, int) and not isinstance(raw, bool):
            return self._in_range(raw)
        if isinstance(raw, str) and _INTEGER_TEXT.fullmatch(raw):
            return self._in_range(int(raw))
        return None

    def to_form(self, value: Any) -> str:
        """Decimal digits: ``"2"``."""
        return str(int(value))


@attrs.frozen
class Number:
    """A finite number of at least ``minimum`` (more than it, when ``exclusive``)."""

    minimum: float = 0.0
    exclusive: bool = False
    python_type: ClassVar[type] = float

    @property
    def expected(self) -> str:
        """``"a finite number >= 0"``."""
        return f"a finite number {'>' if self.exclusive else '>='} {self.minimum:g}"

    def _allowed(self, number: float) -> bool:
        if not math.isfinite(number):
            return False
        return number > self.minimum if self.exclusive else number >= self.minimum

    def check(self, value: object) -> int | float | None:
        """An ``int`` or ``float`` (not a ``bool``) that is finite and in range, as sent."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float: not a JSON number anyone reads
            return None
        if not self._allowed(number):
            return None
        return int(value) if isinstance(value, int) else number

    def from_wire(self, raw: object) -> float | None:
        """A JSON number or a numeric string, as a float."""
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            return None
        try:
            number = float(raw)
        except (ValueError, OverflowError):
            return None
        return number if self._allowed(number) else None

    def to_form(self, value: Any) -> str:
        """``"2"`` for a whole value (``2.0`` too), else the shortest exact form: ``"0.5"``."""
        if isinstance(value, int):
            return str(value)
        return str(int(value)) if float(value).is_integer() else repr(float(value))


@attrs.frozen
class Choice:
    """One of a few documented strings (an unknown one is a 400, API notes §3.2)."""

    values: tuple[str, ...]
    python_type: ClassVar[type] = str

    @property
    def expected(self) -> str:
        """``"one of 'audio', 'video', 'all'"``."""
        return "one of " + ", ".join(repr(v) for v in self.values)

    def check(self, value: object) -> str | None:
        """``value`` when it is one of the documented strings."""
        return str(value) if isinstance(value, str) and value in self.values else None

    def from_wire(self, raw: object) -> str | None:
        """The same as :meth:`check`: the wire carries the string itself."""
        return self.check(raw)

    def to_form(self, value: Any) -> str:
        """The string itself."""
        return str(value)


@attrs.frozen
class Text:
    """Any string (not ``bytes``: their ``str()`` would be sent as ``"b'...'"``)."""

    python_type: ClassVar[type] = str
    expected: ClassVar[str] = "a string"

    def check(self, value: object) -> str | None:
        """``value`` when it is a ``str``."""
        return str(value) if isinstance(value, str) else None

    def from_wire(self, raw: object) -> str | None:
        """The same as :meth:`check`."""
        return self.check(raw)

    def to_form(self, value: Any) -> str:
        """The string itself."""
        return str(value)


@attrs.frozen
class Url:
    """An absolute http(s) URL: the API calls it itself, so a relative one cannot work."""

    python_type: ClassVar[type] = str
    expected: ClassVar[str] = "an absolute http(s) URL"

    def check(self, value: object) -> str | None:
        """``value`` when it is an http(s) URL with a host and no white space."""
        if not isinstance(value, str) or any(c.isspace() or not c.isprintable() for c in value):
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError:
            return None
        return value if parts.scheme in ("http", "https") and parts.hostname else None

    def from_wire(self, raw: object) -> str | None:
        """The same as :meth:`check`."""
        return self.check(raw)

    def to_form(self, value: Any) -> str:
        """The URL itself."""
        return str(value)


# --- the table -------------------------------------------------------------------------------


class Scope(enum.Flag):
    """Which endpoints take an option."""

    SINGLE = enum.auto()
    """POST /detect (API notes §3.2)."""
    BATCH = enum.auto()
    """POST /detect/batch (API notes §7)."""
    BOTH = SINGLE | BATCH


@attrs.frozen
class Option:
    """One documented option."""

    name: str
    """The SDK's name, and the wire name unless ``batch_name`` says otherwise."""
    kind: Kind
    scope: Scope
    batch_name: str | None = None
    """The name POST /detect/batch uses for it, where that differs (API notes §7)."""
    refused_by_batch: bool = False
    """Single-only, and the batch endpoint answers 400 when it is set (API notes §3.2, §7)."""
    parameter: bool = False
    """Passed as its own parameter of ``create_detection``, not in ``**options``."""
    alias_of: str | None = None
    """An older name of another option that the API still accepts (API notes §16); the SDK
    never sends it, the fake maps it."""

    def wire_name(self, scope: Scope) -> str:
        """The field name on the endpoint *scope*."""
        return self.batch_name if scope is Scope.BATCH and self.batch_name else self.name


_FLAG: Final = Flag()
_SECONDS: Final = Number()

OPTIONS: Final[tuple[Option, ...]] = (
    Option("callback_url", Url(), Scope.BOTH),  # §3.2, §12
    Option("wait_for_intelligence", _FLAG, Scope.SINGLE, parameter=True),
    Option("visualize", _FLAG, Scope.BOTH),
    Option("frame_length", Whole(1, 4), Scope.BOTH),
    Option("start_region", _SECONDS, Scope.BOTH),
    Option("end_region", _SECONDS, Scope.BOTH),
    Option("max_video_secs", _SECONDS, Scope.BOTH),
    Option("max_video_fps", Number(0.0, exclusive=True), Scope.SINGLE),
    Option("model_types", Choice(("image", "talking_head")), Scope.SINGLE),
    Option("pipeline", Text(), Scope.SINGLE),  # deprecated, ignored for new detects
    Option("modality", Choice(("audio", "video", "all")), Scope.SINGLE),
    Option("face_only", _FLAG, Scope.BOTH),
    Option("intelligence", _FLAG, Scope.BOTH),
    Option("infer_from_intelligence", _FLAG, Scope.BOTH),
    Option("detect_watermark", _FLAG, Scope.SINGLE, refused_by_batch=True),
    Option("audio_source_tracing", _FLAG, Scope.BOTH, batch_name="audio_source_tracing_enabled"),
    Option("signal", _FLAG, Scope.SINGLE, refused_by_batch=True),
    Option("use_reverse_search", _FLAG, Scope.SINGLE),
    Option("use_ood_detector", _FLAG, Scope.SINGLE),
    Option("zero_retention_mode", _FLAG, Scope.BOTH),
    Option("search_identity", _FLAG, Scope.BOTH),
    Option("use_llm", _FLAG, Scope.BATCH),
    Option("privacy_mode", _FLAG, Scope.BOTH, alias_of="zero_retention_mode"),
)
"""Every documented option (API notes §3.2, §7, §16)."""


@attrs.frozen
class Rule:
    """A rule between options, reported under ``field``."""

    field: str
    problem: str
    """What is wrong, after the option's name: ``"cannot be combined with ..."``."""
    broken: Callable[[Mapping[str, Any]], bool]
    """Whether the set options (by option name, unset ones absent) break the rule."""
    scope: Scope
    by_api: bool
    """The API itself refuses it with a 400 (so the fake does too). Otherwise the API would
    silently ignore the option, and only the SDK refuses, so that nobody pays for nothing."""
    source: str
    advice: str = ""

    def message(self) -> str:
        """The SDK's message: the option, the problem, where it is documented, what to do."""
        advice = f": {self.advice}" if self.advice else ""
        return f"{self.field} {self.problem} ({self.source}){advice}"


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "signal",
        "cannot be combined with zero_retention_mode",
        lambda o: bool(o.get("signal")) and bool(o.get("zero_retention_mode")),
        Scope.BOTH,
        by_api=True,
        source="API notes §3.2",
        advice="drop one of them",
    ),
    Rule(
        "infer_from_intelligence",
        "has no effect without intelligence=True",
        lambda o: bool(o.get("infer_from_intelligence")) and not o.get("intelligence"),
        Scope.BOTH,
        by_api=False,
        source="API notes §3.2",
    ),
    Rule(
        "wait_for_intelligence",
        "only applies with callback_url and intelligence=True",
        lambda o: (
            "wait_for_intelligence" in o and not (o.get("callback_url") and o.get("intelligence"))
        ),
        Scope.SINGLE,
        by_api=False,
        source="API notes §3.2",
        advice="to wait for intelligence while polling, use "
        "wait_for_result(wait_for_intelligence=True)",
    ),
    Rule(
        "end_region",
        "must be after start_region",
        lambda o: (
            "start_region" in o and "end_region" in o and o["end_region"] <= o["start_region"]
        ),
        Scope.BOTH,
        by_api=False,
        source="API notes §3.2",
    ),
)
"""The rules between options, each stated once for the SDK and the fake."""

_BY_NAME: Final = {option.name: option for option in OPTIONS}
_BY_TYPEDDICT: Final[Mapping[type, Scope]] = {
    DetectionOptions: Scope.SINGLE,
    BatchOptions: Scope.BATCH,
}
_ENDPOINTS: Final = {Scope.SINGLE: "create_detection", Scope.BATCH: "create_batch"}
# Not options, but parameters of create_detection that a batch cannot have (API notes §7).
_NOT_FOR_BATCHES: Final = frozenset({"wait"})


def options_for(scope: Scope) -> dict[str, Option]:
    """The options an endpoint knows, by wire name: its own, aliases and those it refuses."""
    return {
        option.wire_name(scope): option
        for option in OPTIONS
        if scope in option.scope or (scope is Scope.BATCH and option.refused_by_batch)
    }


# --- names -----------------------------------------------------------------------------------


def _public_names(scope: Scope, *, parameters: bool) -> list[str]:
    return [
        option.name
        for option in OPTIONS
        if scope in option.scope
        and option.alias_of is None
        and (parameters or not option.parameter)
    ]


def _hint(name: str, scope: Scope, known: list[str]) -> str:
    option = _BY_NAME.get(name)
    if option is not None and option.alias_of is not None:
        return f"; it is the old name of {option.alias_of!r} (API notes §16)"
    elsewhere = option is not None and scope not in option.scope
    if scope is Scope.BATCH and (elsewhere or name in _NOT_FOR_BATCHES):
        return f"; {name} is not supported for batches (API notes §7)"
    if elsewhere:
        return f"; {name} applies to batches only (API notes §7)"
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_names(options: Mapping[str, Any], scope: Scope, *, where: str, parameters: bool) -> None:
    known = _public_names(scope, parameters=parameters)
    for name in options:
        if name not in known:
            hint = _hint(name, scope, known)
            raise InvalidRequestError(f"{where}() got an unknown option {name!r}{hint}")


def check_option_names(options: Mapping[str, Any], allowed: type, *, where: str) -> None:
    """Refuse names that are not keys of *allowed* (one of the TypedDicts above), with a hint.

    The hint is "did you mean ...?" for a misspelling, and says so when an option exists
    but not for this endpoint (``detect_watermark`` on a batch) or under an older name.
    """
    _check_names(options, _BY_TYPEDDICT[allowed], where=where, parameters=False)


# --- values ----------------------------------------------------------------------------------

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80


def _echo(value: object) -> str:
    """The caller's value in a message, cut short: it may be a whole file's bytes."""
    return _REPR.repr(value)


def _checked(options: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
    """Check names, values and rules; return the set options under their wire names."""
    _check_names(options, scope, where=_ENDPOINTS[scope], parameters=True)
    values: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:  # unset: not sent, so the API's default applies
            continue
        kind = _BY_NAME[name].kind
        checked = kind.check(value)
        if checked is None:
            raise InvalidRequestError(f"{name} must be {kind.expected}, got {_echo(value)}")
        values[name] = checked
    for rule in RULES:
        if scope in rule.scope and rule.broken(values):
            raise InvalidRequestError(rule.message())
    return {_BY_NAME[name].wire_name(scope): value for name, value in values.items()}


def detection_options(**options: Any) -> dict[str, Any]:
    """Check POST /detect options (API notes §3.2); return the set ones as JSON values.

    Unset (``None``) options are not sent at all: the API's defaults then apply, and
    Resemble's own clients avoid sending false flags.

    Raises:
        InvalidRequestError: an unknown name, a value of the wrong type or out of range, or
            a broken rule between options; the message says what is expected.
    """
    return _checked(options, Scope.SINGLE)


def batch_options(**options: Any) -> dict[str, Any]:
    """Check POST /detect/batch options (API notes §7); return them under the batch wire names.

    Raises:
        InvalidRequestError: as :func:`detection_options`.
    """
    return _checked(options, Scope.BATCH)


_BY_WIRE_NAME: Final = {**options_for(Scope.SINGLE), **options_for(Scope.BATCH)}


def form_fields(options: Mapping[str, Any]) -> dict[str, str]:
    """Checked options (by wire name) as multipart fields: ``"true"``, ``"2"``, ``"0.5"``.

    Multipart carries every option as a string (API notes §3.2).
    """
    fields: dict[str, str] = {}
    for name, value in options.items():
        option = _BY_WIRE_NAME.get(name)
        if option is None:
            raise InvalidRequestError(f"unknown option {name!r}")
        fields[name] = option.kind.to_form(value)
    return fields
