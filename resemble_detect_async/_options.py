"""The documented options of POST /detect (SPEC §3.2) and POST /detect/batch (SPEC §7).

They are TypedDicts so that ``create_detection(**options)`` and ``create_and_wait(...)``
share one typed list; unknown keys are refused at run time with a suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from .errors import InvalidRequestError

__all__ = ["BatchOptions", "DetectionOptions", "check_option_names"]


class DetectionOptions(TypedDict, total=False):
    """Keyword options of ``create_detection`` and ``create_and_wait``; unset ones are not sent.

    (The callback-timing flag ``wait_for_intelligence`` is a named parameter of
    ``create_detection`` instead: in ``create_and_wait`` that name means "keep polling
    until intelligence is done".)
    """

    callback_url: str
    """URL that receives a POST with the result when processing ends (SPEC §12)."""
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
    """Redact URLs, tokenise the filename and delete the media after processing (SPEC §3.5)."""
    search_identity: bool
    """Identity search against saved identities."""


class BatchOptions(TypedDict, total=False):
    """Keyword options of ``create_batch``, applied to every file (SPEC §7)."""

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


def check_option_names(options: Mapping[str, Any], allowed: type, *, where: str) -> None:
    """Refuse unknown option names with a "did you mean" hint."""
    known = allowed.__annotations__.keys()
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if allowed is BatchOptions and name in ("detect_watermark", "wait", "signal"):
                hint = f"; {name} is not supported for batches (SPEC §7)"
            raise InvalidRequestError(f"{where}() got an unknown option {name!r}{hint}")
