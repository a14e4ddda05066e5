"""The one cattrs converter that reads the Detect wire format into ``models``.

It owns every leniency the live service needs (API notes §4.2, §16): numbers sent as strings or
percentages, booleans sent as strings, ISO or epoch timestamps, empty objects standing for
"not yet", old field names, and unknown keys (kept in ``extra``).

Two converters are built from the same rules. The fast one (plain generated code) reads every
good body and pays for nothing else. Only when it fails does the detailed one run, and its
error paths drive the "odd values never lose a detection" rule: each unreadable leaf is
blanked in a copy of the data (the caller's dict and ``raw`` stay as sent), listed as a
:class:`~resemble_detect_async.models.Problem` and logged once, and the copy is read again.
Only what identifies a detection or its state (``uuid``, ``status``; a page's ``items``) is
fatal: then, or when a bounded number of rounds did not help, the read raises
:class:`~resemble_detect_async.errors.ResponseValidationError` naming the path of the bad
field. A bare cattrs error never reaches the caller.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
import math
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override
from cattrs.v import format_exception

from . import models as m
from .errors import ResponseValidationError

__all__ = ["structure", "structure_batch", "structure_detection", "structure_page"]

T = TypeVar("T")
log = logging.getLogger("resemble_detect_async")

_SECONDS = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:s|sec|secs|seconds)", re.I)
_NULL_WORDS = frozenset({"", "null", "none", "nan", "n/a", "na", "-"})
_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "off"})
_show = m._short_repr  # values in messages are cut to a line: never a whole heatmap in a log


# --- scalar readers ------------------------------------------------------------------------


def _number(value: Any, *, percent_scale: float) -> float | None:
    """Read a JSON number or numeric string; ``"90%"`` is divided by ``percent_scale``."""
    kind = type(value)
    if kind is float or kind is str:  # the hot path: a plain number, or one as a string
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if number != number:  # NaN, or "nan": no value
                return None
            if number in (math.inf, -math.inf):
                raise ValueError(f"expected a finite number, got {_show(value)}")
            return number
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got the boolean {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, float) and math.isinf(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        try:
            return float(value)
        except OverflowError:  # an int beyond 1.8e308: no float can hold it
            raise ValueError(f"expected a finite number, got {_show(value)}") from None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _NULL_WORDS:
            return None
        scale = 1.0
        if text.endswith("%"):
            text, scale = text[:-1].strip(), percent_scale
        elif seconds := _SECONDS.fullmatch(text):  # "5.2s", "5.2 sec": durations, timestamps
            text = seconds.group(1)
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {_show(value)}") from None
        if math.isinf(number):
            raise ValueError(f"expected a finite number, got {_show(value)}")
        return number / scale
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _float(value: Any, _: Any = None) -> float | None:
    """A number in its own units; ``"90%"`` means 0.9 (scores are 0-1)."""
    return _number(value, percent_scale=100.0)


def _percent(value: Any, _: Any = None) -> float | None:
    """A number already in percent units (``"certainty (%)"``): ``"90%"`` and ``"90.0"`` → 90."""
    return _number(value, percent_scale=1.0)


def _float_tuple(value: Any, _: Any = None) -> tuple[float, ...]:
    """Per-window scores: a list of numbers/strings, one number, or ``"0.9, 0.8"``.

    A null window keeps its place as NaN, so window ``i`` is still the i-th frame. Bad
    windows are reported with their index (``...score[1]``); a lenient read then blanks just
    that window, which so reads as NaN too.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        if value.strip().lower() in _NULL_WORDS:
            return ()
        if "," in value:
            value = _split_windows(value)
    if not isinstance(value, list | tuple):
        value = [value]
    out: list[float] = []
    failures: list[Exception] = []
    for index, item in enumerate(value):
        try:
            number = _float(item)
        except (TypeError, ValueError) as exc:
            exc.__notes__ = [
                *getattr(exc, "__notes__", []),
                IterableValidationNote(f"Structuring score @ index {index}", index, float),
            ]
            failures.append(exc)
            continue
        out.append(math.nan if number is None else number)
    if failures:
        raise IterableValidationError("unreadable window scores", failures, tuple[float, ...])
    return tuple(out)


def _split_windows(text: str) -> list[str]:
    """``"0.9, 0.8"`` → ``["0.9", " 0.8"]``: the windows of a score list sent as one string."""
    return [part for part in text.split(",") if part.strip()]


def _bool(value: Any, _: Any = None) -> bool | None:
    """JSON booleans, ``"true"``/``"false"`` strings (multipart echoes) and 0/1."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        if word in _NULL_WORDS:
            return None
    raise ValueError(f"expected a boolean, got {_show(value)}")


def _int(value: Any, _: Any = None) -> int | None:
    """Counts: ints and numeric strings (both exactly, however large), and integral floats.

    A page number or count above 2**53 would lose its last digits on the way through a
    float, so whole numbers sent as text are read as integers directly.
    """
    if type(value) is int:
        return value
    if type(value) is str:
        whole = _whole_number(value)
        if whole is not None:
            return whole
    number = _float(value)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {_show(value)}")
    return int(number)


_MAX_DIGITS = 4000  # below Python's int/str limit (4300): "1e999999" is not expanded


def _whole_number(text: str) -> int | None:
    """``"9007199254740993"``, ``"12.0"``, ``"1e3"`` read exactly; None if not a whole number."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text.strip())
    except ArithmeticError:  # decimal.InvalidOperation: not decimal notation at all
        return None
    if not number.is_finite() or number.adjusted() > _MAX_DIGITS:
        return None
    return int(number) if number == number.to_integral_value() else None


def _text(value: Any, _: Any = None) -> str | None:
    """Free text. Scalars become their string; lists/objects keep their JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _required_id(value: Any, _: Any = None) -> str:
    """A uuid that must be there: a non-empty string (or a number)."""
    text = _id(value)
    if not text.strip():
        raise ValueError("expected a non-empty uuid")
    return text


def _id(value: Any, _: Any = None) -> str:
    """Identifiers: strings, or numbers turned into strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected an identifier string, got {type(value).__name__}")


_ISO_FIX = re.compile(r"(\.\d{6})\d+")
# RFC 3339 §5.7: a leap second is written 23:59:60 (15:59:60-08:00 in local time).
_LEAP_SECOND = re.compile(r"(T\d\d:59:)60(?=$|[.,Z+-])")
_ONE_SECOND = timedelta(seconds=1)
_ZERO = timedelta(0)


def _datetime(value: Any, _: Any = None) -> datetime | None:
    """ISO 8601 / RFC 3339 (``Z``, offsets, fractions) or epoch seconds/milliseconds, in UTC.

    RFC 3339 allows a lower-case ``t``/``z`` and a leap second (``23:59:60``); a leap second
    reads as the next second, as POSIX time counts it (``23:59:60Z`` → ``00:00:00Z`` of the
    next day). A time that lies outside the years 1-9999 once moved to UTC cannot be held by
    a ``datetime`` and is refused with that reason.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("expected a date-time, got a boolean")
    if isinstance(value, int | float):
        try:
            seconds = value / 1000.0 if abs(value) > 1e11 else float(value)
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return _epoch(value)  # NaN, or outside what a datetime can hold
    if isinstance(value, str):
        if "T" in value:  # the hot path: a plain ISO 8601 time
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=UTC)
                return parsed if parsed.utcoffset() == _ZERO else _at_utc(parsed, value)
        return _datetime_text(value)
    raise TypeError(f"expected a date-time, got {type(value).__name__}")


def _datetime_text(value: str) -> datetime | None:
    """The rarer spellings of a time: epoch text, lower case, a space, long fractions, :60."""
    text = value.strip()
    if text.lower() in _NULL_WORDS:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _epoch(float(text), value)
    text = text.upper()  # RFC 3339 §5.6: "t" and "z" may be lower case
    if "T" not in text:
        text = text.replace(" ", "T", 1)
    text, leap = _LEAP_SECOND.subn(r"\g<1>59", _ISO_FIX.sub(r"\1", text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 date-time, got {_show(value)}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return _at_utc(parsed + _ONE_SECOND if leap else parsed, value)
    except OverflowError:  # 9999-12-31T23:59:60Z
        raise ValueError(f"date-time {_show(value)} is after the year 9999") from None


def _at_utc(parsed: datetime, value: object) -> datetime:
    """``parsed`` moved to UTC; an offset that pushes it past year 1 or 9999 is a ValueError."""
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"date-time {_show(value)} lies outside the years 1-9999 once moved to UTC"
        ) from None


def _epoch(number: float, value: object = None) -> datetime | None:
    """Epoch seconds, or milliseconds above 10**11 (NaN is no value, like other numbers)."""
    if number != number:
        return None
    try:
        seconds = number / 1000.0 if abs(number) > 1e11 else float(number)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        shown = _show(number if value is None else value)
        raise ValueError(f"epoch time {shown} lies outside the years 1-9999") from None


def _mapping(value: Any, _: Any = None) -> Mapping[str, Any]:
    """Free-form objects; null reads as empty."""
    if value is None:
        return {}
    if type(value) is dict or isinstance(value, Mapping):
        return dict(value)
    if value == [] or value == "":
        return {}
    raise TypeError(f"expected an object, got {type(value).__name__}")


def _json_tuple(value: Any, _: Any = None) -> tuple[Any, ...]:
    """Free-form lists; null reads as empty."""
    if _is_empty(value):
        return ()
    if isinstance(value, list | tuple):
        return tuple(value)
    raise TypeError(f"expected a list, got {type(value).__name__}")


def _str_tuple(value: Any, _: Any = None) -> tuple[str, ...]:
    """Lists of identifiers/strings; a lone string is a list of one.

    A bad entry is reported with its index (``detect_uuids[2]``), so a lenient read leaves
    out just that entry and keeps the other uuids of a batch.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list | tuple):
        try:
            return tuple(_id(item) if not isinstance(item, str) else item for item in value)
        except TypeError:
            pass
        failures: list[Exception] = []
        for index, item in enumerate(value):
            try:
                _id(item)
            except TypeError as exc:
                note = IterableValidationNote(f"Structuring identifier @ index {index}", index, str)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                failures.append(exc)
        raise IterableValidationError("unreadable identifiers", failures, tuple[str, ...])
    raise TypeError(f"expected a list of strings, got {type(value).__name__}")


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    kind = type(value)
    if kind is dict or kind is list or kind is str or isinstance(value, Mapping):
        return len(value) == 0
    return False


# --- the converters -------------------------------------------------------------------------


def _optional_of(type_: Any) -> Any:
    """``X`` when ``type_`` is ``X | None`` (one non-None member), else None."""
    if typing.get_origin(type_) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(type_)
    others = [arg for arg in args if arg is not type(None)]
    return others[0] if len(args) == 2 and len(others) == 1 else None


def _optional_enum_hook(type_: Any) -> Callable[[Any, Any], Any]:
    """Statuses and kinds: null or ``""`` is None; anything else goes through the enum."""
    cls = _optional_of(type_)

    def hook(value: Any, _: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return cls(value) if isinstance(value, str) else cls("unknown")

    return hook


# Wire names that differ from attribute names: {class: {attribute: override}}.
_OVERRIDES: dict[type, dict[str, Any]] = {
    m.VideoNode: {"certainty_percent": override(rename="certainty (%)", struct_hook=_percent)},
    m.Detection: {"uuid": override(struct_hook=_required_id)},
    # Intelligence confidences are 0-100 (API notes §4.2): "90%" means 90 here.
    m.Fraud: {"confidence": override(struct_hook=_percent)},
    m.Liveness: {"confidence": override(struct_hook=_percent)},
    m.DigitallyAltered: {"confidence": override(struct_hook=_percent)},
    m.Batch: {"uuid": override(struct_hook=_required_id)},
}
# Older names read when the current name is absent (§16): {class: {old: attribute}}.
_OLD_NAMES: dict[type, dict[str, str]] = {
    m.Detection: {"privacy_mode": "zero_retention_mode", "detect_uuid": "uuid", "id": "uuid"},
    m.Batch: {"batch_uuid": "uuid", "id": "uuid", "detects": "detect_uuids"},
}
# Ours, not the wire's: a key "problems" in a body is an unknown key like any other (extra).
_BOOKKEEPING = frozenset({"extra", "raw", "problems"})


@functools.cache
def _wire_names(cls: Any) -> Mapping[str, str]:
    """{attribute: key on the wire} for the fields of ``cls`` that the wire carries."""
    overrides = _OVERRIDES.get(cls, {})
    return {
        f.name: (overrides[f.name].rename if f.name in overrides else None) or f.name
        for f in attrs.fields(cls)
        if f.name not in _BOOKKEEPING
    }


class _NameConflict(ValueError):
    """An old field name says something else than the current one beside it (§16).

    Raised by the model hook of both converters, so such a body leaves the fast path; the
    lenient read then keeps the current name's value and records the old one as a Problem.
    Only raised when both are present and read to different values, so ``"privacy_mode":
    "true"`` beside ``"zero_retention_mode": true`` costs nothing.
    """

    def __init__(self, old: str, new: str, old_value: Any, kept: Any) -> None:
        super().__init__(
            f"{old} (the older name of {new}) says {_show(old_value)} but {new} says "
            f"{_show(kept)}; {new} is kept"
        )
        self.old = old


def _same_reading(read: Callable[[Any, Any], Any], first: Any, second: Any) -> bool:
    """Whether two wire values read to the same thing (an unreadable one never does)."""
    try:
        return bool(read(first, None) == read(second, None))
    except Exception:  # unreadable: they disagree, and the lenient read will say why
        return False


def _build(*, detailed: bool) -> cattrs.Converter:
    """One converter with every hook of the wire format.

    Two are built from the same rules: a fast one (plain generated code) that reads every
    good body, and a detailed one that only runs when the fast one failed, to name the
    path of every bad field in the error.
    """
    conv = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)

    def exact(type_: Any, hook: Callable[[Any, Any], Any]) -> None:
        """Register ``hook`` for exactly ``type_`` (classes, unions and generic aliases)."""
        conv.register_structure_hook_func(lambda candidate: candidate == type_, hook)

    for cls, cls_hook in ((float, _float), (int, _int), (bool, _bool), (datetime, _datetime)):
        conv.register_structure_hook(cls, cls_hook)
    for type_, hook in (
        (tuple[float, ...], _float_tuple),
        (tuple[str, ...], _str_tuple),
        (tuple[Any, ...], _json_tuple),
        (Mapping[str, Any], _mapping),
        # Optional scalars: the readers already map null (and "null"-ish strings) to None.
        (float | None, _float),
        (int | None, _int),
        (bool | None, _bool),
        (str | None, _text),
        (datetime | None, _datetime),
    ):
        exact(type_, hook)
    exact(typing.Any, lambda value, _: value)

    def optional_model_hook(type_: Any) -> Callable[[Any, Any], Any]:
        """``Model | None``: null, ``{}``, ``[]`` and ``""`` all mean "not there yet"."""
        cls = _optional_of(type_)
        inner = conv.get_structure_hook(cls)

        def hook(value: Any, _: Any) -> Any:
            if _is_empty(value):
                return None
            return inner(value, cls)

        return hook

    conv.register_structure_hook_factory(lambda t: attrs.has(_optional_of(t)), optional_model_hook)
    conv.register_structure_hook_factory(
        lambda t: isinstance(enum := _optional_of(t), type) and issubclass(enum, m._LenientEnum),
        _optional_enum_hook,
    )

    def intelligence(value: Any, _: Any) -> m.Intelligence | tuple[m.Intelligence, ...] | None:
        """An object (experts=false) or a list (experts=true) of results (§4.1)."""
        if value is None or value == "" or value == {}:
            return None
        if isinstance(value, list):
            return conv.structure(value, tuple[m.Intelligence, ...])
        return conv.structure(value, m.Intelligence)

    def description(value: Any, _: Any) -> str | m.IntelligenceDescription | None:
        """Plain text, or the structured description (§4.2)."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, Mapping):
            if not value:
                return None
            return conv.structure(value, m.IntelligenceDescription)
        return _text(value)

    exact(m.Intelligence | tuple[m.Intelligence, ...] | None, intelligence)
    exact(str | m.IntelligenceDescription | None, description)
    conv.register_structure_hook_factory(attrs.has, lambda cls: _model_hook(conv, cls))
    return conv


def _model_hook(conv: cattrs.Converter, cls: Any) -> Callable[[Any, Any], Any]:
    """Structure an attrs model, moving unknown keys into ``extra`` and the item into ``raw``."""
    wire_names = _wire_names(cls)
    overrides = dict(_OVERRIDES.get(cls, {}))
    # ``problems`` is filled by the lenient read only; generated code never looks for it.
    overrides.update({name: override(omit=True) for name in ("problems",) if hasattr(cls, name)})
    old_names = _OLD_NAMES.get(cls, {})
    known = frozenset(wire_names.values()) | frozenset(old_names)
    has_raw = "raw" in attrs.fields_dict(cls)
    # Fields whose default is not None (lists, mappings): a null reads as that default.
    null_means_default = frozenset(
        wire_names[f.name]
        for f in attrs.fields(cls)
        if f.name in wire_names and f.default is not None and f.default is not attrs.NOTHING
    )
    hints = typing.get_type_hints(cls) if old_names else {}
    renamed = [
        (
            old,
            wire_names[new],
            getattr(overrides.get(new), "struct_hook", None) or conv.get_structure_hook(hints[new]),
        )
        for old, new in old_names.items()
    ]
    base = make_dict_structure_fn(cls, conv, **overrides)
    label = cls.__name__

    def hook(value: Any, _: Any) -> Any:
        if type(value) is not dict and not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {label}, got {type(value).__name__}")
        data: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, item in value.items():
            if key not in known:
                extra[key] = item
            elif item is not None or key not in null_means_default:
                data[key] = item
        for old, new, read in renamed:
            if old in data:
                old_value = data.pop(old)
                current = data.get(new)
                if current is None:
                    data[new] = old_value
                elif (
                    old_value is not None
                    and old_value != current
                    and not _same_reading(read, old_value, current)
                ):
                    raise _NameConflict(old, new, old_value, current)
        data["extra"] = extra
        if has_raw:
            data["raw"] = value
        return base(data, cls)

    return hook


_fast = _build(detailed=False)
_converter = _build(detailed=True)


# --- reading around odd values ---------------------------------------------------------------

# What identifies a model or its state: unreadable, the whole read fails (issue 8).
_IDENTITY: dict[type, frozenset[str]] = {
    m.Detection: frozenset({"uuid", "status"}),
    m.Batch: frozenset({"uuid", "status"}),
    m.Page: frozenset({"items"}),
}
_LENIENT = frozenset(_IDENTITY)  # the models that carry ``problems``
_MAX_ROUNDS = 4  # a conflict hides its model's other fields for one round; 4 is plenty
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"\[\d+\]")
_LOGGED: set[str] = set()


class _Step(NamedTuple):
    """One step of a cattrs error path: an attribute of ``owner``, or (owner None) an index."""

    owner: Any
    key: str | int
    type: Any  # what the value there should have been


class _Leaf(NamedTuple):
    """One failure at the end of a cattrs error tree."""

    steps: tuple[_Step, ...]
    error: BaseException
    type: Any
    placed: bool  # False when cattrs could not say which field failed


def _leaves(exc: BaseException, cls: Any, steps: tuple[_Step, ...] = ()) -> Iterator[_Leaf]:
    """Every failure in a detailed converter's error, with the steps that lead to it."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        noted, unplaced = exc.group_exceptions()
        for sub, note in noted:
            if isinstance(note, IterableValidationNote):
                step = _Step(None, note.index, note.type)
            else:
                step = _Step(exc.cl, note.name, note.type)
            yield from _leaves(sub, cls, (*steps, step))
        for sub in unplaced:
            yield _Leaf(steps, sub, None, placed=False)
    else:
        yield _Leaf(steps, exc, steps[-1].type if steps else cls, placed=True)


def _is_fatal(leaf: _Leaf) -> bool:
    """Whether ``leaf`` is something no detection can be read without.

    That is its uuid or status, a page's items list, or a non-object where a detection,
    batch or page must be; and any failure cattrs could not place.
    """
    if isinstance(leaf.error, _NameConflict):
        return False
    if not leaf.steps or not leaf.placed or leaf.type in _IDENTITY:
        return True
    last = leaf.steps[-1]
    return last.owner is not None and last.key in _IDENTITY.get(last.owner, ())


def _source_key(owner: Any, node: Mapping[str, Any], attribute: str) -> str:
    """The key of ``node`` that the model hook read ``attribute`` from (current or old name)."""
    wire = _wire_names(owner)[attribute]
    for key in (wire, *(old for old, new in _OLD_NAMES.get(owner, {}).items() if new == attribute)):
        if node.get(key) is not None:
            return key
    return wire


class _Unplaceable(Exception):
    """A cattrs error path that does not lead anywhere in the data."""


@attrs.define
class _Spot:
    """Where a leaf is: ``container[key]`` in the draft, and its path as the API sent it."""

    path: tuple[str | int, ...]
    container: Any
    key: str | int
    owner: Any  # the model class for an attribute, None for a list entry
    attribute: str | None = None
    type: Any = None  # for a list entry: what the entry should have been


class _Draft:
    """A copy of the caller's data, copied only along the paths that get blanked.

    The caller's dict (and so every ``raw``) is never touched. Entries left out of lists
    are remembered, so a path found in a later round still names the position as sent.
    """

    def __init__(self, value: Any) -> None:
        self.root = self._copy(value)
        self._owned = {id(self.root)}
        self._keep = [self.root]  # holds every copy, so no id() is ever reused
        self._removed: dict[int, list[int]] = {}

    @staticmethod
    def _copy(value: Any) -> Any:
        if isinstance(value, Mapping):
            return dict(value)
        if isinstance(value, list | tuple):
            return list(value)
        return value

    def _own(self, container: Any, key: str | int) -> Any:
        """``container[key]``, copied first if it is a container the draft does not own yet."""
        child = container[key]
        if isinstance(child, Mapping | list | tuple) and id(child) not in self._owned:
            child = self._copy(child)
            container[key] = child
            self._owned.add(id(child))
            self._keep.append(child)
        return child

    def locate(self, steps: tuple[_Step, ...]) -> _Spot:
        """The spot a cattrs path names; raises _Unplaceable when the data has no such place.

        A window list sent as one string (``"0.9, oops"``) is split in place, so its bad
        window can be blanked alone. An index into something that is not a list names the
        whole field that holds it.
        """
        node, spot = self.root, None
        for step in steps:
            if spot is not None:
                node = self._own(spot.container, spot.key)
            if step.owner is not None:
                if not isinstance(node, dict):
                    raise _Unplaceable
                key = _source_key(step.owner, node, str(step.key))
                path = (*spot.path, key) if spot else (key,)
                spot = _Spot(path, node, key, step.owner, str(step.key))
                continue
            if spot is None:
                raise _Unplaceable
            if isinstance(node, str) and step.type is float and "," in node:
                node = spot.container[spot.key] = _split_windows(node)
                self._owned.add(id(node))
                self._keep.append(node)
            if not isinstance(node, list) or not isinstance(step.key, int):
                return spot
            if not 0 <= step.key < len(node):
                raise _Unplaceable
            sent = step.key
            for gone in self._removed.get(id(node), ()):
                if gone <= sent:
                    sent += 1
            spot = _Spot((*spot.path, sent), node, step.key, None, type=step.type)
        if spot is None:
            raise _Unplaceable
        return spot

    def node(self, steps: tuple[_Step, ...]) -> tuple[tuple[str | int, ...], dict[str, Any]]:
        """The path and the (owned) object that ``steps`` lead to."""
        path: tuple[str | int, ...] = ()
        if not steps:
            node = self.root
        else:
            spot = self.locate(steps)
            node, path = self._own(spot.container, spot.key), spot.path
        if not isinstance(node, dict):
            raise _Unplaceable
        return path, node

    def leave_out(self, spots: list[_Spot]) -> None:
        """Remove list entries, last first so earlier positions still hold."""
        for spot in sorted(spots, key=lambda spot: -int(spot.key)):
            del spot.container[spot.key]
            bisect.insort(self._removed.setdefault(id(spot.container), []), int(spot.path[-1]))


def _path(prefix: str, path: tuple[str | int, ...]) -> str:
    """``$.item`` + ``("video_metrics", "children", 0, "certainty (%)")`` as a JSON path."""
    parts = [prefix]
    for key in path:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif _KEY.fullmatch(key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)


def _default_of(owner: Any, attribute: str | None) -> str:
    """How the default of ``owner.attribute`` reads, for a problem's reason."""
    field = attrs.fields_dict(owner).get(attribute or "") if owner is not None else None
    if field is None:
        return "None"
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()  # type: ignore[union-attr]
    return repr(default)


def _describe(exc: BaseException, type_: type | None) -> str:
    """cattrs' description of a failure, plus our reader's own reason when it gave one."""
    base = format_exception(exc, type_)
    if isinstance(exc, ValueError | TypeError) and str(exc) and str(exc) not in base:
        return f"{base} ({exc})"
    return base


class _Read:
    """One lenient (or, for other classes, strict) read of ``value`` as ``cls``."""

    def __init__(self, value: Any, cls: Any, prefix: str, *, body: Any) -> None:
        self.value, self.cls, self.prefix, self.body = value, cls, prefix, body
        self.draft: _Draft | None = None
        self.found: list[tuple[tuple[str | int, ...], m.Problem]] = []

    def run(self) -> Any:
        """Read, blanking what is odd, until the read succeeds or must fail."""
        for attempt in range(1, _MAX_ROUNDS + 1):
            data = self.value if self.draft is None else self.draft.root
            try:
                return _converter.structure(data, self.cls)
            except Exception as exc:  # cattrs wraps every hook failure; none may escape raw
                error, leaves = exc, list(_leaves(exc, self.cls))
            lenient = self.cls in _LENIENT and not any(_is_fatal(leaf) for leaf in leaves)
            if not lenient or attempt == _MAX_ROUNDS:
                raise self._unreadable(leaves) from error
            self.draft = self.draft or _Draft(self.value)
            try:
                self._blank(leaves, self.draft)
            except _Unplaceable:
                raise self._unreadable(leaves) from error
        raise AssertionError("unreachable: the last round returns or raises")  # pragma: no cover

    def _blank(self, leaves: list[_Leaf], draft: _Draft) -> None:
        """Record and blank every leaf: None for a field or a window, out for a list entry."""
        nulls: dict[tuple[int, str | int], _Spot] = {}
        drops: dict[tuple[int, str | int], _Spot] = {}
        for leaf in leaves:
            if isinstance(leaf.error, _NameConflict):
                where, node = draft.node(leaf.steps)
                old = leaf.error.old
                if old not in node:
                    raise _Unplaceable
                self._note((*where, old), node[old], str(leaf.error))
                del node[old]
                continue
            spot = draft.locate(leaf.steps)
            reason = _describe(leaf.error, leaf.type)
            if spot.owner is not None:  # a field, or the field that holds a non-list
                todo, action = nulls, f"read as {_default_of(spot.owner, spot.attribute)}"
            elif spot.type is float:  # one window of a score list keeps its place
                todo, action = nulls, "the window reads as NaN"
            else:  # an entry of a list of objects or uuids
                todo, action = drops, "the entry is left out"
            ident = (id(spot.container), spot.key)
            if ident not in nulls and ident not in drops:
                todo[ident] = spot
                self._note(spot.path, spot.container[spot.key], f"{reason}; {action}")
        for spot in nulls.values():
            spot.container[spot.key] = None
        draft.leave_out(list(drops.values()))

    def _path_of(self, leaf: _Leaf, draft: _Draft) -> str:
        """The JSON path of ``leaf`` as sent (an old name's own key for a conflict)."""
        try:
            if isinstance(leaf.error, _NameConflict):
                where = (*draft.node(leaf.steps)[0], leaf.error.old)
            else:
                where = draft.locate(leaf.steps).path
        except _Unplaceable:  # the body itself, or a path cattrs could not place
            return self.prefix
        return _path(self.prefix, where)

    def _note(self, where: tuple[str | int, ...], value: Any, reason: str) -> None:
        self.found.append((where, m.Problem(_path(self.prefix, where), value, reason)))

    def _unreadable(self, leaves: list[_Leaf]) -> ResponseValidationError:
        """The error for a read that must fail, naming the first fatal path."""
        draft = self.draft or _Draft(self.value)
        messages = [f"{problem.reason} @ {problem.path}" for _, problem in self.found]
        paths: list[tuple[bool, str]] = []
        for leaf in leaves:
            path = self._path_of(leaf, draft)
            messages.append(f"{_describe(leaf.error, leaf.type)} @ {path}")
            paths.append((_is_fatal(leaf), path))
        # The path to name: the first thing that made the read fail, else the first problem.
        where = next((path for fatal, path in paths if fatal), paths[0][1] if paths else None)
        value = self.value
        uuid = value.get("uuid") if isinstance(value, Mapping) else None
        return ResponseValidationError(
            f"could not read the response as {self.cls.__name__}: {'; '.join(messages)}",
            path=where or self.prefix,
            problems=messages,
            body=self.body,
            uuid=uuid if isinstance(uuid, str) else None,
        )


# --- public entry points -------------------------------------------------------------------


@functools.cache
def _fast_hook(cls: Any) -> Callable[[Any, Any], Any]:
    return _fast.get_structure_hook(cls)


def structure(value: Any, cls: type[T], *, path: str = "$", body: Any = None) -> T:
    """Read ``value`` as ``cls``: fast when it is good, leniently when something is odd.

    For a Detection, Batch or Page, a value that cannot be read becomes None (or the field's
    default; NaN for one window score; an entry left out of a list of objects or uuids), is
    listed on the model's ``problems`` and logged once per field; ``raw`` stays as sent.

    Args:
        value: the parsed JSON (never modified).
        cls: the model to read.
        path: the JSON path of ``value`` in the body, which prefixes every reported path.
        body: the whole body, kept on the error (default: ``value``).

    Raises:
        ResponseValidationError: what identifies the model or its state (``uuid``,
            ``status``, a page's ``items``) is unreadable, or ``cls`` is another model
            and anything in it is.
    """
    try:
        return _fast_hook(cls)(value, cls)  # type: ignore[arg-type,no-any-return]
    except Exception:  # noqa: S110 - read again below, slowly, to say what is wrong
        pass
    read = _Read(value, cls, path, body=value if body is None else body)
    result = read.run()
    if read.draft is None:  # the detailed converter read it as sent: nothing to report
        return result  # type: ignore[no-any-return]
    return _finish(result, read)  # type: ignore[no-any-return]


def _finish(result: Any, read: _Read) -> Any:
    """Put ``raw`` back to the caller's objects and attach (and log) the problems found."""
    problems = tuple(problem for _, problem in read.found)
    if not isinstance(result, m.Page):
        for problem in problems:
            _log_once(problem, result.uuid)
        return attrs.evolve(result, raw=read.value, problems=problems)
    sent = read.value["items"]
    items = list(result.items)
    for index, item in enumerate(items):
        own = tuple(problem for where, problem in read.found if where[:2] == ("items", index))
        if own or item.raw is not sent[index]:
            items[index] = attrs.evolve(item, raw=sent[index], problems=own)
    for where, problem in read.found:
        at = where[1] if where[:1] == ("items",) and len(where) > 1 else None
        _log_once(problem, items[at].uuid if isinstance(at, int) else None)
    return attrs.evolve(result, items=tuple(items), problems=problems)


def _log_once(problem: m.Problem, uuid: str | None) -> None:
    """One WARNING per field path (positions folded) per process; never the body."""
    key = _INDEX.sub("[*]", problem.path)
    if key in _LOGGED:
        return
    _LOGGED.add(key)
    log.warning(
        "Read around an odd value at %s%s: %s (logged once per field; see .problems)",
        problem.path,
        f" of {_show(uuid)}" if uuid else "",
        problem.reason,
    )


def _item(body: Any, key: str = "item") -> Any:
    """The ``item`` of an envelope; tolerate a bare object without the envelope."""
    if isinstance(body, Mapping) and key in body:
        return body[key]
    if isinstance(body, Mapping) and "uuid" in body:
        return body
    raise ResponseValidationError(
        f"expected a JSON object with {key!r}, got {type(body).__name__}",
        path=f"$.{key}",
        body=body,
    )


def structure_detection(body: Any) -> m.Detection:
    """``{"success": true, "item": {...}}`` → Detection."""
    return structure(_item(body), m.Detection, path="$.item", body=body)


def structure_batch(body: Any) -> m.Batch:
    """``{"success": true, "item": {...}}`` → Batch."""
    return structure(_item(body), m.Batch, path="$.item", body=body)


def structure_page(body: Any) -> m.Page:
    """A list envelope (``page``, ``num_pages``, ``items``...) → Page."""
    if not isinstance(body, Mapping):
        raise ResponseValidationError(
            f"expected a JSON object, got {type(body).__name__}", path="$", body=body
        )
    data = {key: val for key, val in body.items() if key != "success"}
    return structure(data, m.Page, path="$", body=body)
