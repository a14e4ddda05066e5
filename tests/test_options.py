"""The option table: names, value checks, rules and wire encoding, table-driven and without I/O."""

from __future__ import annotations

import enum
import math
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

from resemble_detect_async import DetectClient, _options, errors
from resemble_detect_async._options import (
    OPTIONS,
    RULES,
    BatchOptions,
    Choice,
    DetectionOptions,
    Flag,
    Kind,
    Number,
    Option,
    Scope,
    Text,
    Url,
    Whole,
)
from resemble_detect_async.testing import FakeDetectAPI

# --------------------------------------------------------------------------------------------
# the table against the public TypedDicts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "scope"), [(DetectionOptions, Scope.SINGLE), (BatchOptions, Scope.BATCH)]
)
def test_table_matches_the_typeddicts(typed: type, scope: Scope) -> None:
    """Each TypedDict key is a public row of its endpoint, with the kind its annotation says."""
    hints = get_type_hints(typed)
    rows = {
        option.name: option
        for option in OPTIONS
        if scope in option.scope and not option.parameter and option.alias_of is None
    }
    assert sorted(hints) == sorted(rows)
    for name, hint in hints.items():
        kind = rows[name].kind
        if isinstance(kind, Choice):
            assert get_origin(hint) is Literal, name
            assert get_args(hint) == kind.values, name
        else:
            assert hint is kind.python_type, name


def test_rows_outside_the_typeddicts_are_the_documented_ones() -> None:
    """Only wait_for_intelligence is a parameter, privacy_mode an alias; wire names are unique."""
    assert [o.name for o in OPTIONS if o.parameter] == ["wait_for_intelligence"]
    assert {o.name: o.alias_of for o in OPTIONS if o.alias_of} == {
        "privacy_mode": "zero_retention_mode"
    }
    assert {o.name: o.wire_name(Scope.BATCH) for o in OPTIONS if o.batch_name} == {
        "audio_source_tracing": "audio_source_tracing_enabled"
    }
    assert sorted(o.name for o in OPTIONS if o.refused_by_batch) == ["detect_watermark", "signal"]
    assert len({o.name for o in OPTIONS}) == len(OPTIONS)
    for scope in (Scope.SINGLE, Scope.BATCH):  # no two rows share a name on the wire
        rows = [
            o for o in OPTIONS if scope in o.scope or (scope is Scope.BATCH and o.refused_by_batch)
        ]
        assert len(_options.options_for(scope)) == len(rows)


def test_rules_name_known_options() -> None:
    """Every rule is reported under an option of the table, on an endpoint that takes it."""
    by_name = {o.name: o for o in OPTIONS}
    for rule in RULES:
        assert rule.field in by_name
        assert rule.scope & by_name[rule.field].scope


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "typed", "match"),
    [
        ("inteligence", DetectionOptions, "did you mean 'intelligence'"),
        ("framelength", BatchOptions, "did you mean 'frame_length'"),
        ("detect_watermark", BatchOptions, "detect_watermark is not supported for batches"),
        ("signal", BatchOptions, "signal is not supported for batches"),
        ("modality", BatchOptions, "modality is not supported for batches"),
        ("wait", BatchOptions, "wait is not supported for batches"),
        ("use_llm", DetectionOptions, "use_llm applies to batches only"),
        ("privacy_mode", DetectionOptions, "old name of 'zero_retention_mode'"),
        ("audio_source_tracing_enabled", BatchOptions, "did you mean 'audio_source_tracing'"),
        ("totally_unknown", DetectionOptions, r"unknown option 'totally_unknown'$"),
    ],
)
def test_unknown_names_are_refused_with_a_hint(name: str, typed: type, match: str) -> None:
    """A name that is not an option of the endpoint is refused, saying why or what was meant."""
    with pytest.raises(errors.InvalidRequestError, match=match):
        _options.check_option_names({name: True}, typed, where="somewhere")


def test_known_names_pass() -> None:
    """Every key of the TypedDicts passes the name check of its endpoint."""
    _options.check_option_names(
        dict.fromkeys(get_type_hints(DetectionOptions)), DetectionOptions, where="x"
    )
    _options.check_option_names(
        dict.fromkeys(get_type_hints(BatchOptions)), BatchOptions, where="x"
    )


def test_value_checks_refuse_unknown_names_too() -> None:
    """detection_options() refuses an unknown name itself, not only check_option_names()."""
    with pytest.raises(errors.InvalidRequestError, match=r"create_detection\(\) got an unknown"):
        _options.detection_options(future_flag=True)
    with pytest.raises(errors.InvalidRequestError, match=r"create_batch\(\) got an unknown"):
        _options.batch_options(detect_watermark=True)


# --------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------


class Mode(enum.IntEnum):
    TWO = 2


@pytest.mark.parametrize(
    ("scope", "given", "sent"),
    [
        (
            Scope.SINGLE,
            {"intelligence": True, "visualize": None, "frame_length": 2},
            {"intelligence": True, "frame_length": 2},
        ),
        (Scope.SINGLE, {"visualize": False}, {"visualize": False}),
        (
            Scope.SINGLE,
            {"start_region": 1, "end_region": 2.5},
            {"start_region": 1, "end_region": 2.5},
        ),
        (
            Scope.SINGLE,
            {"max_video_secs": 0, "max_video_fps": 0.5},
            {"max_video_secs": 0, "max_video_fps": 0.5},
        ),
        (Scope.SINGLE, {"frame_length": Mode.TWO}, {"frame_length": 2}),
        (
            Scope.SINGLE,
            {"modality": "video", "model_types": "talking_head", "pipeline": "general->facial"},
            {"modality": "video", "model_types": "talking_head", "pipeline": "general->facial"},
        ),
        (
            Scope.SINGLE,
            {
                "callback_url": "https://hooks.example.com/cb?x=1",
                "intelligence": True,
                "wait_for_intelligence": False,
            },
            {
                "callback_url": "https://hooks.example.com/cb?x=1",
                "intelligence": True,
                "wait_for_intelligence": False,
            },
        ),
        (
            Scope.SINGLE,
            {"signal": True, "zero_retention_mode": False},
            {"signal": True, "zero_retention_mode": False},
        ),
        (Scope.SINGLE, {"audio_source_tracing": True}, {"audio_source_tracing": True}),
        (
            Scope.BATCH,
            {"audio_source_tracing": True, "visualize": False},
            {"audio_source_tracing_enabled": True, "visualize": False},
        ),
        (Scope.BATCH, {"use_llm": True, "frame_length": 4}, {"use_llm": True, "frame_length": 4}),
        (
            Scope.BATCH,
            {"callback_url": "http://127.0.0.1:8080/hook"},
            {"callback_url": "http://127.0.0.1:8080/hook"},
        ),
    ],
)
def test_valid_options_are_sent_under_their_wire_names(
    scope: Scope, given: dict[str, Any], sent: dict[str, Any]
) -> None:
    """Set options come back as JSON values under the endpoint's names; unset ones are dropped."""
    check = _options.detection_options if scope is Scope.SINGLE else _options.batch_options
    result = check(**given)
    assert result == sent
    assert [type(v) for v in result.values()] == [type(v) for v in sent.values()]


_BAD_URLS = [
    "not a url",
    "/relative/hook",
    "hooks.example.com/cb",
    "ftp://hooks.example.com/cb",
    "https://",
    "https:///path",
    "http://exa mple.com/cb",
    "https://example.com/a\nb",
    "https://example.com:port/",
    "https://[::1/",
    b"https://example.com/cb",
    42,
]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        # the adversarial review's cases: each refused before sending, saying what is expected
        ({"pipeline": b"general"}, "pipeline must be a string, got b'general'"),
        ({"pipeline": object()}, "pipeline must be a string, got <object object at"),
        ({"pipeline": 5}, "pipeline must be a string, got 5"),
        ({"intelligence": math.nan}, "intelligence must be a boolean (true or false), got nan"),
        (
            {"zero_retention_mode": math.inf},
            "zero_retention_mode must be a boolean (true or false), got inf",
        ),
        ({"visualize": 2}, "visualize must be a boolean (true or false), got 2"),
        ({"face_only": -1}, "face_only must be a boolean (true or false), got -1"),
        ({"intelligence": "yes"}, "intelligence must be a boolean (true or false), got 'yes'"),
        ({"intelligence": "true"}, "intelligence must be a boolean (true or false), got 'true'"),
        ({"start_region": math.nan}, "start_region must be a finite number >= 0, got nan"),
        ({"end_region": math.inf}, "end_region must be a finite number >= 0, got inf"),
        ({"max_video_secs": -math.inf}, "max_video_secs must be a finite number >= 0, got -inf"),
        ({"start_region": 10**400}, "start_region must be a finite number >= 0, got 1000"),
        ({"start_region": "1.5"}, "start_region must be a finite number >= 0, got '1.5'"),
        ({"start_region": True}, "start_region must be a finite number >= 0, got True"),
        ({"start_region": -1}, "start_region must be a finite number >= 0, got -1"),
        ({"max_video_fps": 0}, "max_video_fps must be a finite number > 0, got 0"),
        ({"frame_length": 5}, "frame_length must be a whole number from 1 to 4, got 5"),
        ({"frame_length": 0}, "frame_length must be a whole number from 1 to 4, got 0"),
        ({"frame_length": 2.5}, "frame_length must be a whole number from 1 to 4, got 2.5"),
        ({"frame_length": 2.0}, "frame_length must be a whole number from 1 to 4, got 2.0"),
        ({"frame_length": True}, "frame_length must be a whole number from 1 to 4, got True"),
        ({"frame_length": "2"}, "frame_length must be a whole number from 1 to 4, got '2'"),
        ({"modality": "both"}, "modality must be one of 'audio', 'video', 'all', got 'both'"),
        ({"modality": b"audio"}, "modality must be one of 'audio', 'video', 'all', got b'audio'"),
        ({"model_types": "faces"}, "model_types must be one of 'image', 'talking_head', got"),
        # rules between options
        (
            {"signal": True, "zero_retention_mode": True},
            "signal cannot be combined with zero_retention_mode",
        ),
        ({"start_region": 5, "end_region": 2}, "end_region must be after start_region"),
        ({"start_region": 2, "end_region": 2}, "end_region must be after start_region"),
        (
            {"infer_from_intelligence": True},
            "infer_from_intelligence has no effect without intelligence",
        ),
        ({"wait_for_intelligence": True}, "wait_for_intelligence only applies with callback_url"),
        (
            {"wait_for_intelligence": False, "intelligence": True},
            "wait_for_intelligence only applies with callback_url",
        ),
        *[
            ({"callback_url": url}, f"callback_url must be an absolute http(s) URL, got {url!r}")
            for url in _BAD_URLS
        ],
    ],
)
def test_invalid_detection_options_are_refused(given: dict[str, Any], message: str) -> None:
    """A wrong type, a value out of range or a broken rule is an InvalidRequestError saying so."""
    with pytest.raises(errors.InvalidRequestError) as info:
        _options.detection_options(**given)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"visualize": 1}, "visualize must be a boolean"),
        ({"use_llm": "true"}, "use_llm must be a boolean"),
        ({"frame_length": 9}, "frame_length must be a whole number from 1 to 4"),
        ({"max_video_secs": math.nan}, "max_video_secs must be a finite number"),
        ({"callback_url": "/hook"}, "callback_url must be an absolute http(s) URL"),
        ({"infer_from_intelligence": True}, "infer_from_intelligence has no effect"),
        ({"start_region": 3, "end_region": 1}, "end_region must be after start_region"),
    ],
)
def test_invalid_batch_options_are_refused(given: dict[str, Any], message: str) -> None:
    """Batch options go through the same table: same checks, same rules."""
    with pytest.raises(errors.InvalidRequestError) as info:
        _options.batch_options(**given)
    assert str(info.value).startswith(message)


def test_huge_values_are_cut_in_messages() -> None:
    """A wrong value is quoted shortened, so a stray file's bytes do not flood the message."""
    with pytest.raises(errors.InvalidRequestError) as info:
        _options.detection_options(pipeline=b"x" * 100_000)
    assert len(str(info.value)) < 200


# --------------------------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "form"),
    [
        (Flag(), True, "true"),
        (Flag(), False, "false"),
        (Whole(1, 4), 2, "2"),
        (Number(), 0.5, "0.5"),
        (Number(), 1.25, "1.25"),
        (Number(), 2.0, "2"),
        (Number(), 10, "10"),
        (Number(), 0, "0"),
        (Choice(("audio", "video", "all")), "all", "all"),
        (Text(), "general->facial", "general->facial"),
        (Url(), "https://e.com/cb?a=1&b=2", "https://e.com/cb?a=1&b=2"),
    ],
)
def test_multipart_form_of_each_kind(kind: Kind, value: Any, form: str) -> None:
    """Multipart carries each checked value as the documented string (API notes §3.2)."""
    assert kind.to_form(kind.check(value)) == form


def test_form_fields_encode_by_wire_name() -> None:
    """form_fields() finds each option by its wire name, batch names included."""
    options = _options.batch_options(audio_source_tracing=True, start_region=1.0, visualize=False)
    assert _options.form_fields(options) == {
        "audio_source_tracing_enabled": "true",
        "start_region": "1",
        "visualize": "false",
    }
    with pytest.raises(errors.InvalidRequestError, match="unknown option 'nope'"):
        _options.form_fields({"nope": 1})


@pytest.mark.parametrize(
    ("kind", "raw", "parsed"),
    [
        (Flag(), True, True),
        (Flag(), "true", True),
        (Flag(), " FALSE ", False),
        (Flag(), "1", None),
        (Flag(), 1, None),
        (Flag(), "yes", None),
        (Whole(1, 4), 3, 3),
        (Whole(1, 4), " +2 ", 2),
        (Whole(1, 4), "5", None),
        (Whole(1, 4), "two", None),
        (Whole(1, 4), 2.0, None),
        (Whole(1, 4), True, None),
        (Number(), 1, 1.0),
        (Number(), "1.5", 1.5),
        (Number(), "-1", None),
        (Number(), "nan", None),
        (Number(), "inf", None),
        (Number(), True, None),
        (Number(), [1], None),
        (Number(0.0, exclusive=True), "0", None),
        (Number(0.0, exclusive=True), "0.1", 0.1),
        (Choice(("audio", "video", "all")), "audio", "audio"),
        (Choice(("audio", "video", "all")), "both", None),
        (Text(), "x", "x"),
        (Text(), 1, None),
        (Url(), "https://e.com/x", "https://e.com/x"),
        (Url(), "not a url", None),
    ],
)
def test_the_fake_parses_wire_values_leniently(kind: Kind, raw: object, parsed: object) -> None:
    """The fake reads JSON values and multipart strings like the API; None marks a 400."""
    assert kind.from_wire(raw) == parsed


def _sample(option: Option) -> Any:
    kind = option.kind
    if isinstance(kind, Choice):
        return kind.values[-1]
    return {
        Flag: True,
        Whole: 3,
        Number: 1.5,
        Text: "general->facial",
        Url: "https://hooks.example.com/cb",
    }[type(kind)]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_what_the_sdk_sends_the_fake_reads_back(option: Option) -> None:
    """For every row, a checked value survives both encodings as the fake parses them."""
    value = option.kind.check(_sample(option))
    assert value is not None
    assert option.kind.from_wire(value) == value  # JSON
    assert option.kind.from_wire(option.kind.to_form(value)) == value  # multipart


# --------------------------------------------------------------------------------------------
# through the client
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"pipeline": b"general"},
        {"pipeline": object()},
        {"intelligence": math.nan},
        {"zero_retention_mode": math.inf},
        {"visualize": 2},
        {"face_only": -1},
        {"start_region": math.nan},
        {"callback_url": "/hook"},
    ],
    ids=lambda bad: "-".join(f"{k}:{type(v).__name__}" for k, v in bad.items()),
)
async def test_the_client_sends_nothing_for_a_bad_value(
    fake_detect_api: FakeDetectAPI, fake_detect_client: DetectClient, bad: dict[str, Any]
) -> None:
    """create_detection and create_batch refuse a bad option value before any request."""
    (name,) = bad
    with pytest.raises(errors.InvalidRequestError, match=f"^{name} must be"):
        await fake_detect_client.create_detection(url="https://e.com/a.wav", **bad)
    if name in get_type_hints(BatchOptions):
        with pytest.raises(errors.InvalidRequestError, match=f"^{name} must be"):
            await fake_detect_client.create_batch([Path("a.wav")], **bad)
    assert fake_detect_api.requests == []
