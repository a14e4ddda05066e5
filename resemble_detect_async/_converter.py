"""The one cattrs converter that reads the Detect wire format into ``models``.

It owns every leniency the live service needs (API notes §4.2, §16): numbers sent as strings or
percentages, booleans sent as strings, ISO or epoch timestamps, empty objects standing for
"not yet", old field names, and unknown keys (kept in ``extra``). A body that still cannot
be read raises :class:`~resemble_detect_async.errors.ResponseValidationError` naming the
path of the bad field; a bare cattrs error never reaches the caller.
"""

from __future__ import annotations

import functools
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, override
from cattrs.v import format_exception

from . import models as m
from .errors import ResponseValidationError

__all__ = ["structure", "structure_batch", "structure_detection", "structure_page"]

T = TypeVar("T")

_SECONDS = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:s|sec|secs|seconds)", re.I)
_NULL_WORDS = frozenset({"", "null", "none", "nan", "n/a", "na", "-"})
_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "off"})


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
                raise ValueError(f"expected a finite number, got {value!r}")
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
        return float(value)
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
            raise ValueError(f"expected a number, got {value!r}") from None
        if math.isinf(number):
            raise ValueError(f"expected a finite number, got {value!r}")
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
    windows are reported with their index (``...score[1]``).
    """
    if value is None:
        return ()
    if isinstance(value, str):
        if value.strip().lower() in _NULL_WORDS:
            return ()
        if "," in value:
            value = [part for part in value.split(",") if part.strip()]
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
    raise ValueError(f"expected a boolean, got {value!r}")


def _int(value: Any, _: Any = None) -> int | None:
    """Counts: ints (exactly, however large), integral floats, and numeric strings."""
    if type(value) is int:
        return value
    number = _float(value)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


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
_ZERO = timedelta(0)


def _datetime(value: Any, _: Any = None) -> datetime | None:
    """ISO 8601 (``Z``, offsets, fractions) or epoch seconds/milliseconds; always aware (UTC)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("expected a date-time, got a boolean")
    if isinstance(value, int | float):
        seconds = value / 1000.0 if abs(value) > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, str):
        if "T" in value:  # the hot path: a plain ISO 8601 time
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=UTC)
                return parsed if parsed.utcoffset() == _ZERO else parsed.astimezone(UTC)
        text = value.strip()
        if text.lower() in _NULL_WORDS:
            return None
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return _datetime(float(text))
        text = _ISO_FIX.sub(r"\1", text.replace(" ", "T", 1) if "T" not in text else text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expected an ISO 8601 date-time, got {value!r}") from None
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    raise TypeError(f"expected a date-time, got {type(value).__name__}")


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
    """Lists of identifiers/strings; a lone string is a list of one."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list | tuple):
        return tuple(_id(item) if not isinstance(item, str) else item for item in value)
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
_BOOKKEEPING = frozenset({"extra", "raw"})


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
    field_names = [f.name for f in attrs.fields(cls) if f.name not in _BOOKKEEPING]
    overrides = _OVERRIDES.get(cls, {})
    wire_names = {
        name: (overrides[name].rename if name in overrides and overrides[name].rename else name)
        for name in field_names
    }
    old_names = _OLD_NAMES.get(cls, {})
    known = frozenset(wire_names.values()) | frozenset(old_names)
    has_raw = "raw" in attrs.fields_dict(cls)
    # Fields whose default is not None (lists, mappings): a null reads as that default.
    null_means_default = frozenset(
        wire_names[f.name]
        for f in attrs.fields(cls)
        if f.name in wire_names and f.default is not None and f.default is not attrs.NOTHING
    )
    renamed = [(old, wire_names[new]) for old, new in old_names.items()]
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
        for old, new in renamed:
            if old in data:
                old_value = data.pop(old)
                if data.get(new) is None:
                    data[new] = old_value
        data["extra"] = extra
        if has_raw:
            data["raw"] = value
        return base(data, cls)

    return hook


_fast = _build(detailed=False)
_converter = _build(detailed=True)


# --- public entry points -------------------------------------------------------------------


def _describe(exc: BaseException, type_: type | None) -> str:
    """cattrs' description of a failure, plus our reader's own reason when it gave one."""
    base = format_exception(exc, type_)
    if isinstance(exc, ValueError | TypeError) and str(exc) and str(exc) not in base:
        return f"{base} ({exc})"
    return base


@functools.cache
def _fast_hook(cls: Any) -> Callable[[Any, Any], Any]:
    return _fast.get_structure_hook(cls)


def _first_path(messages: list[str], default: str) -> str:
    for message in messages:
        if " @ " in message:
            return message.rsplit(" @ ", 1)[1]
    return default


def structure(value: Any, cls: type[T], *, path: str = "$", body: Any = None) -> T:
    """Read ``value`` as ``cls``, or raise ResponseValidationError naming the bad field."""
    try:
        return _fast_hook(cls)(value, cls)  # type: ignore[arg-type,no-any-return]
    except Exception:  # noqa: S110 - read again below, slowly, to say what is wrong
        pass
    try:
        return _converter.structure(value, cls)
    except Exception as exc:  # cattrs wraps every hook failure; none may escape raw
        problems = [
            problem.replace(".certainty_percent", "['certainty (%)']")
            for problem in cattrs.transform_error(exc, path=path, format_exception=_describe)
        ]
        where = _first_path(problems, path)
        uuid = value.get("uuid") if isinstance(value, Mapping) else None
        raise ResponseValidationError(
            f"could not read the response as {cls.__name__}: {'; '.join(problems)}",
            path=where,
            problems=problems,
            body=value if body is None else body,
            uuid=uuid if isinstance(uuid, str) else None,
        ) from exc


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
