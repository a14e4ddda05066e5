"""Options shared by several commands, and the detection options made from the SDK's own types.

The ``detect`` and ``batch`` options are generated from the public TypedDicts
:class:`~resemble_detect_async.DetectionOptions` and
:class:`~resemble_detect_async.BatchOptions`: each key becomes ``--key-name`` with the
click type of its annotation (a flag for ``bool``, a choice for a ``Literal``), so an option
added to the SDK shows up here by itself. Only the help text is written here (a test checks
that every option has one). Unset options are not sent, so the API's defaults apply.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import click

from resemble_detect_async import BatchOptions, DetectionOptions

__all__ = [
    "HELP",
    "concurrency_option",
    "json_option",
    "pick_options",
    "request_options",
    "timeout_option",
]

F = TypeVar("F", bound=Callable[..., Any])

HELP: Mapping[str, str] = {
    "intelligence": "Run multimodal intelligence (speaker, transcript, fraud, liveness).",
    "visualize": "Produce heatmap / treeview artifacts (batches default to on).",
    "zero_retention_mode": "Redact URLs and filenames, delete the media after analysis.",
    "audio_source_tracing": "Identify the generator of fake audio.",
    "detect_watermark": "Also run watermark and SynthID detection (extra charge).",
    "use_reverse_search": "Images: reverse image search.",
    "use_ood_detector": "Run the out-of-distribution detector.",
    "infer_from_intelligence": "Let intelligence raise the verdict (needs --intelligence).",
    "search_identity": "Search against your saved identities.",
    "signal": "Fraud/abuse signal classification (not with --zero-retention-mode).",
    "use_llm": "LLM-assisted video analysis (batches only).",
    "face_only": "Video: mask everything but faces.",
    "modality": "Video: which components run (API default: all).",
    "model_types": "Video model; talking_head suits face swaps.",
    "frame_length": "Analysis window in seconds, 1-4 (API default 2).",
    "start_region": "Analyse from this second on.",
    "end_region": "Analyse up to this second.",
    "max_video_secs": "Analyse at most this many seconds of a video.",
    "max_video_fps": "Down-sample video to at most this frame rate.",
    "callback_url": "URL the API POSTs the result to when the analysis ends.",
    "pipeline": "Deprecated; ignored by the API.",
}
"""Help per option, in the order ``--help`` lists them (most used first)."""

_ALIASES: Mapping[str, tuple[str, ...]] = {"zero_retention_mode": ("--zero-retention",)}
_NEGATABLE = frozenset({"visualize"})  # the batch endpoint's default is on
_HIDDEN = frozenset({"pipeline"})


def _click_type(hint: Any) -> Any:
    if typing.get_origin(hint) is Literal:
        return click.Choice([str(value) for value in typing.get_args(hint)])
    return {int: int, float: float, str: str}[hint]


def _option(name: str, hint: Any) -> Callable[[F], F]:
    flag = "--" + name.replace("_", "-")
    text = HELP.get(name, f"Sent as `{name}` (see docs/client.md).")
    hidden = name in _HIDDEN
    if hint is bool:
        if name in _NEGATABLE:
            return click.option(
                f"{flag}/--no-{flag[2:]}", name, default=None, help=text, hidden=hidden
            )
        return click.option(
            flag,
            *_ALIASES.get(name, ()),
            name,
            is_flag=True,
            default=None,
            help=text,
            hidden=hidden,
        )
    return click.option(
        flag,
        *_ALIASES.get(name, ()),
        name,
        type=_click_type(hint),
        default=None,
        help=text,
        hidden=hidden,
    )


def request_options(kind: type[DetectionOptions] | type[BatchOptions]) -> Callable[[F], F]:
    """Add one click option per key of ``kind`` to a command."""
    hints = typing.get_type_hints(kind)
    ordered = [name for name in HELP if name in hints] + sorted(set(hints) - set(HELP))

    def decorate(command: F) -> F:
        for name in reversed(ordered):  # click lists options in decorator order, top first
            command = _option(name, hints[name])(command)
        return command

    return decorate


def pick_options(
    values: Mapping[str, Any], kind: type[DetectionOptions] | type[BatchOptions]
) -> dict[str, Any]:
    """The options of ``kind`` that were given on the command line (unset ones are not sent)."""
    names = typing.get_type_hints(kind)
    return {name: value for name, value in values.items() if name in names and value is not None}


def json_option(
    text: str = "Print one JSON object per line instead of a table.",
) -> Callable[[F], F]:
    """``--json``: JSON on stdout (what it holds is the command's ``text``)."""
    return click.option("--json", "as_json", is_flag=True, help=text)


def timeout_option(command: F) -> F:
    """``--timeout S``: the deadline of each wait."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="S",
        help="Give up waiting for a result after S seconds (default 900). The analysis "
        "goes on; wait again later.",
    )(command)


def concurrency_option(command: F) -> F:
    """``--concurrency N``: uuids worked on at once."""
    return click.option(
        "--concurrency",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Uuids worked on at once (default: 32 fetching, 256 waiting). Requests stay "
        "within 32 in flight and 40/s.",
    )(command)
