"""Bulk jobs: submit many inputs, wait for each, resume after a crash, never bill twice.

``client.detect_many(inputs, journal="job.db")`` is :meth:`DetectClient.iter_results` for
media instead of uuids, with a journal (:mod:`._journal`) that makes it resumable:

* Every input is written down *before* its POST leaves and again as soon as the answer
  names its uuid, so a crash at any instant leaves it not sent, sent with a uuid, finished,
  or in doubt (sent, no answer).
* A rerun sends what was never sent, waits for what has a uuid, replays the outcome of
  what is finished, and *reconciles* what is in doubt: it reads the list of detections
  (GET /detect, API notes §5) around the time the POST was sent and looks for the input's
  URL or filename. One match is adopted; no match in a listing proved complete means the
  POST created nothing and it is sent again; anything else stays in doubt
  (:class:`InDoubtError`) until the caller says ``resubmit_in_doubt=True``.
* POSTs go through the client (its concurrency, rate limit and retry table: a 429 is
  retried, anything that may have created a detection is not), waits through
  :meth:`DetectClient.wait_for_result`, and the pool of workers is the bulk stream's
  (:class:`~resemble_detect_async.ResultStream`).

docs/bulk-jobs.md explains the states, the schema, and what the API makes impossible to know.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast
from urllib.parse import urlsplit

import attrs

from . import _sansio, errors
from ._bulk import Outcome, Progress, ResultStream
from ._config import check_flag
from ._files import FileInput, MediaFile, media_file
from ._journal import (
    CREATED,
    FINISHED,
    IN_DOUBT,
    PENDING,
    SENDING,
    Identity,
    Journal,
    Row,
    jsonl_path_for,
)
from ._options import DetectionOptions, check_option_names
from .models import Detection

if TYPE_CHECKING:
    from ._client import DetectClient
    from ._config import PollPolicy

__all__ = [
    "DetectInput",
    "InputLike",
    "JobOutcome",
    "JobStream",
    "Listing",
    "ReconcilePolicy",
    "detect_many",
    "reconcile",
    "scan_listing",
]

log = logging.getLogger("resemble_detect_async")

_MAX_SENDS_PER_RUN: Final = 3
"""POSTs one input may get in one run (each failure in doubt, then proved absent, allows
one more); a server that keeps failing leaves the input pending for the next run."""

# The extensions the API reads the media type from (API notes §14: upload and URL lists).
_MEDIA_TYPES: Final = {
    **dict.fromkeys(("wav", "mp3", "m4a", "ogg", "aac", "flac"), "audio"),
    **dict.fromkeys(("mp4", "mov", "avi", "mkv", "webm", "wmv"), "video"),
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "webp"), "image"),
}


def _extension(name: str | None) -> str | None:
    suffix = PurePosixPath(name).suffix.lower().lstrip(".") if name else ""
    return suffix or None


def _media_type(name: str | None) -> str | None:
    """audio, video or image, from a filename or URL path (None when the extension is unknown)."""
    ext = _extension(name)
    return _MEDIA_TYPES.get(ext) if ext is not None else None


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _canonical(value: Any) -> str:
    """One JSON spelling per value, for fingerprints."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


# -- inputs -------------------------------------------------------------------------------


def _file_repr(value: object) -> str:
    """A file input's repr without its bytes (a repr of 100 MB would be a bad log line)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, tuple) and len(value) == 2:
        return f"({value[0]!r}, {_file_repr(value[1])})"
    return repr(value)


def _options_copy(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise errors.InvalidRequestError(
            f"options must be a mapping of create options, got {type(value).__name__}"
        )
    return dict(value)


def _redacted_token(token: str) -> str:
    """A media token is a 1-hour credential for private media: outcomes name it by digest."""
    return "sha256:" + _sha256(token)[:16]


@attrs.frozen(kw_only=True)
class DetectInput:
    """One input of :meth:`DetectClient.detect_many`: a URL, a file or a media token.

    Exactly one of ``url``, ``file`` and ``media_token``. ``file`` takes what
    ``create_detection(file=...)`` takes (a path, bytes with ``filename``, a binary file
    object, or a ``(filename, bytes)`` pair). ``filename`` names bytes and nameless files;
    for a media token it is optional but lets reconciliation recognise the detection.
    ``options`` are create options for this input alone, over the job's ``**options``.

    Plain values in the input list become inputs too: a string with ``://`` is a URL, any
    other string or ``os.PathLike`` a path, a ``(filename, bytes)`` pair a file, and a
    mapping is read by :meth:`from_dict`.
    """

    url: str | None = None
    file: FileInput | None = attrs.field(default=None, repr=_file_repr, hash=False)
    media_token: str | None = attrs.field(default=None, repr=False)
    filename: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_options_copy, hash=False)

    @classmethod
    def of(cls, value: object) -> DetectInput:
        """The input a value of an input list stands for.

        Raises:
            InvalidRequestError: a value of no input kind (a number, None...).
        """
        if isinstance(value, DetectInput):
            return value
        if isinstance(value, str):
            if "://" in value:
                return cls(url=value.strip())
            return cls(file=value)
        if isinstance(value, os.PathLike | tuple | bytes | bytearray | memoryview):
            return cls(file=cast(FileInput, value))
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if hasattr(value, "read"):
            return cls(file=cast(FileInput, value))
        raise errors.InvalidRequestError(
            "an input must be a URL, a path, a (filename, bytes) pair, a DetectInput or a "
            f"mapping, got {type(value).__name__}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The input as JSON: what identifies it, never file contents or a media token."""
        out: dict[str, Any] = {}
        if self.url is not None:
            out["url"] = self.url
        if self.file is not None:
            source = self.file[1] if isinstance(self.file, tuple) else self.file
            if isinstance(source, str | os.PathLike):
                out["file"] = os.fspath(source)
            else:  # bytes or a file object: only its name can be written
                out["file"] = None
        if self.media_token is not None:
            out["media_token"] = _redacted_token(self.media_token)
        filename = self.filename
        if filename is None and isinstance(self.file, tuple) and isinstance(self.file[0], str):
            filename = self.file[0]
        if filename is not None:
            out["filename"] = filename
        if self.options:
            out["options"] = json.loads(_canonical(dict(self.options)))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectInput:
        """Read an input written by :meth:`to_dict`, or a line of a JSONL input list
        (``{"url": ...}``, ``{"file": "clip.wav", "options": {"visualize": true}}``).

        An input written from bytes comes back without them (``file=None``), and a media
        token as its digest.

        Raises:
            InvalidRequestError: an unknown key.
        """
        unknown = sorted(set(data) - {"url", "file", "media_token", "filename", "options"})
        if unknown:
            raise errors.InvalidRequestError(
                f"unknown input keys {unknown}; expected url, file, media_token, filename, options"
            )
        return cls(
            url=data.get("url"),
            file=data.get("file"),
            media_token=data.get("media_token"),
            filename=data.get("filename"),
            options=data.get("options") or {},
        )


InputLike: TypeAlias = DetectInput | str | os.PathLike[str] | tuple[str, Any] | Mapping[str, Any]
"""What an input list may hold (see :class:`DetectInput`)."""


@attrs.frozen(kw_only=True)
class _Item:
    """One input, ready: what identifies it, the options to send, or why it cannot be sent."""

    index: int
    input: DetectInput
    identity: Identity
    options: dict[str, Any]
    problem: errors.InvalidRequestError | None = None


def _prepare(index: int, given: DetectInput, job_options: Mapping[str, Any]) -> _Item:
    """Check one input as create_detection would (nothing is sent) and fingerprint it.

    The fingerprint covers what the input *is* (URL; absolute path or content digest; token
    digest; filename) and its options, so an edited input list is caught on resume. A
    path's size is stored beside it: a file edited in place is caught too.
    """
    where = f"inputs[{index}]"
    options = {**job_options, **given.options}
    options_sha = _sha256(_canonical(options))
    intakes = [
        name
        for name, value in (
            ("url", given.url),
            ("file", given.file),
            ("media_token", given.media_token),
        )
        if value is not None
    ]
    kind = intakes[0] if len(intakes) == 1 else "none"
    problem: errors.InvalidRequestError | None = None
    if len(intakes) != 1:
        problem = errors.InvalidRequestError(
            f"{where} needs exactly one of url, file or media_token "
            f"(got {', '.join(intakes) if intakes else 'none'})"
        )
    parts: dict[str, Any] = {"kind": kind, "options": options_sha}
    filename = given.filename
    size: int | None = None
    path: str | None = None
    url: str | None = None
    media: MediaFile | None = None
    try:
        check_option_names(options, DetectionOptions, where=where)
        checked = _sansio.detection_options(**options)
    except errors.InvalidRequestError as exc:
        problem = problem or exc
        checked = {}
    if kind == "url":
        url = given.url
        parts["url"] = url
    elif kind == "media_token":
        assert given.media_token is not None
        parts["token"] = _sha256(given.media_token)
    elif kind == "file":
        source = given.file
        inner = source[1] if isinstance(source, tuple) and len(source) == 2 else source
        if isinstance(inner, str | os.PathLike):
            path = os.path.abspath(os.fspath(inner))
            parts["path"] = path
            filename = filename or (
                source[0] if isinstance(source, tuple) else os.path.basename(path)
            )
        try:
            media = media_file(source, filename=given.filename, what=where)
        except errors.InvalidRequestError as exc:
            problem = problem or exc
        else:
            filename, size = media.filename, media.size
            if isinstance(inner, bytes | bytearray | memoryview):
                parts["content"] = _sha256(bytes(inner))
            elif path is None:  # a file object: its name and size are all that is known
                parts["size"] = size
    parts["filename"] = filename
    if problem is None:
        try:  # the same checks create_detection makes before sending (API notes §3.1)
            _sansio.create_detection(
                url=url,
                media=media,
                media_token=given.media_token if kind == "media_token" else None,
                options=checked,
                wait=False,
            )
        except errors.InvalidRequestError as exc:
            problem = exc
    identity = Identity(
        fingerprint=_sha256(_canonical(parts)),
        kind=kind,
        url=url,
        path=path,
        filename=filename,
        size=size,
        media_type=_media_type(filename or (urlsplit(url).path if url else None)),
        zero_retention=bool(options.get("zero_retention_mode")),
        options_sha=options_sha,
    )
    return _Item(index=index, input=given, identity=identity, options=options, problem=problem)


# -- outcomes -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class JobOutcome(Outcome):
    """The outcome of one input of :meth:`DetectClient.detect_many`.

    ``index`` is the input's position in the list (the same in every run), ``input`` the
    input, ``uuid`` its detection (None when none is known: refused, never sent, in doubt),
    and ``detection``/``error`` as in :class:`Outcome`. ``origin`` says where the uuid came
    from (``"submitted"``: the POST's answer; ``"adopted"``: found by reconciliation),
    ``replayed`` that the outcome was finished by an earlier run and read from the journal,
    and ``state`` the input's journal state after it (``"finished"`` once final; else
    ``"created"``, ``"pending"`` or ``"in_doubt"``, which the next run takes up).
    """

    # Widened from Outcome's str: an input that was never created has no uuid.
    uuid: str | None = None  # type: ignore[assignment]
    input: DetectInput = attrs.field(factory=DetectInput)
    origin: str | None = None
    replayed: bool = False
    state: str = PENDING

    @property
    def is_final(self) -> bool:
        """True when a rerun will replay this outcome instead of working on the input."""
        return self.state == FINISHED

    def to_dict(self) -> dict[str, Any]:
        """:meth:`Outcome.to_dict` plus ``input``, ``origin``, ``replayed`` and ``state``."""
        data = super().to_dict()
        data["input"] = self.input.to_dict()
        data["origin"] = self.origin
        data["replayed"] = self.replayed
        data["state"] = self.state
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobOutcome:
        """Rebuild an outcome written by :meth:`to_dict` (a line of the JSONL export)."""
        base = Outcome.from_dict({**data, "uuid": data.get("uuid") or ""})
        uuid = data.get("uuid")
        return cls(
            index=base.index,
            uuid=None if uuid is None else str(uuid),
            detection=base.detection,
            error=base.error,
            input=DetectInput.from_dict(data.get("input") or {}),
            origin=data.get("origin"),
            replayed=bool(data.get("replayed", False)),
            state=str(data.get("state", PENDING)),
        )


# -- reconciliation -----------------------------------------------------------------------


def _seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise errors.ConfigurationError(
            f"{attribute.name} must be a number of seconds >= 0, got {value!r}"
        )


def _whole(low: int, high: int | None) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_: object, attribute: attrs.Attribute[int], value: int) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            limits = f"{low}–{high}" if high is not None else f">= {low}"
            raise errors.ConfigurationError(
                f"{attribute.name} must be a whole number {limits}, got {value!r}"
            )

    return check


@attrs.frozen(kw_only=True)
class ReconcilePolicy:
    """How an input in doubt is looked up in the list of detections (GET /detect).

    Args:
        settle: seconds to wait after the last moment a POST in doubt can have been sent
            before the listing may prove it created nothing: a server may still be
            handling a request whose client is gone. 60 s covers a typical proxy timeout.
        clock_skew: seconds of tolerance between this machine's clock and the API's
            ``created_at``.
        max_request_seconds: the longest one create call can go on after its input was
            marked ``sending`` (its retries included); bounds the window of a crashed run.
            Keep it above your ``RetryPolicy.timeout`` plus a read timeout.
        scan_limit: the most list items read for one reconciliation. A window must be read
            whole: at 40 creations a second, (clock_skew + settle) s is ~3,600 items.
        page_size: list page size (10–1000, API notes §5).
    """

    settle: float = attrs.field(default=60.0, validator=_seconds)
    clock_skew: float = attrs.field(default=30.0, validator=_seconds)
    max_request_seconds: float = attrs.field(default=300.0, validator=_seconds)
    scan_limit: int = attrs.field(default=20_000, validator=_whole(1, None))
    page_size: int = attrs.field(default=500, validator=_whole(10, 1000))

    @classmethod
    def no_wait(cls) -> ReconcilePolicy:
        """No settling time: for tests against the fake API, which creates synchronously."""
        return cls(settle=0.0)


@attrs.frozen(kw_only=True)
class _Doubt:
    """An input whose POST may have created a detection, and when it was sent."""

    index: int
    fingerprint: str
    kind: str
    url: str | None
    filename: str | None
    media_type: str | None
    zero_retention: bool
    sent_at: float | None
    latest_send: float

    @property
    def key(self) -> str | None:
        """What the API shows of the input: its URL, or its filename."""
        if self.zero_retention:
            return None
        return self.url if self.kind == "url" else self.filename

    def window_start(self, skew: float) -> float | None:
        return None if self.sent_at is None else self.sent_at - skew


@attrs.frozen(kw_only=True)
class _Verdict:
    kind: str  # "adopt" | "absent" | "doubt"
    reason: str
    uuid: str | None = None
    candidates: tuple[str, ...] = ()


def _timestamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@attrs.frozen(kw_only=True)
class Listing:
    """What one read of the list of detections saw, and how far it can be trusted.

    The API documents no sort order (API notes §5), so the scan checks it as it goes:
    ``newest_first`` stays True while no ``created_at`` is later than the one before it.
    Only then does reaching an item older than a window prove that the window was read
    whole; otherwise only ``complete`` (the last page was read) does.
    """

    items: tuple[Detection, ...]
    complete: bool
    newest_first: bool
    oldest: float | None
    error: str | None = None

    def covers(self, since: float | None) -> bool:
        """Was every detection created at or after ``since`` (Unix time) seen?"""
        if self.complete:
            return True
        if since is None or not self.newest_first or self.oldest is None:
            return False
        return self.oldest < since

    def why_not(self, since: float | None) -> str:
        """Why :meth:`covers` is False, in words."""
        if self.error is not None:
            return f"the list of detections could not be read: {self.error}"
        if since is None:
            return "the time the POST was sent is unknown and the list was not read whole"
        if not self.newest_first:
            return (
                f"the list is not in newest-first order, and the {len(self.items)} items read "
                "(scan_limit) did not reach its end"
            )
        reached = "nothing" if self.oldest is None else _iso(self.oldest)
        return (
            f"the list was read back to {reached} only, not to {_iso(since)} "
            f"({len(self.items)} items, scan_limit)"
        )


async def scan_listing(
    client: DetectClient, *, since: float | None, policy: ReconcilePolicy
) -> Listing:
    """Read the list of detections from page 1 until it provably covers ``since``.

    Stops at the end of the list, at ``policy.scan_limit`` items, or, while the list is
    newest first, at the first item older than ``since``. Items seen twice (the list
    shifts while detections are created) are kept once. A listing that fails is returned
    with its ``error``: it proves nothing.
    """
    seen: dict[str, Detection] = {}
    newest_first = True
    previous: float | None = None
    oldest: float | None = None
    complete = False
    error: str | None = None
    number = 1
    try:
        while len(seen) < policy.scan_limit:
            page = await client.list_detections(page=number, page_size=policy.page_size)
            for detection in page.items:
                if detection.uuid in seen:
                    continue
                seen[detection.uuid] = detection
                moment = _timestamp(detection.created_at)
                if moment is None:
                    newest_first = False  # an item without a time: the order is unknowable
                    continue
                if previous is not None and moment > previous:
                    newest_first = False
                previous = moment
                oldest = moment if oldest is None else min(oldest, moment)
            if not page.items or not page.has_next_after(number, requested_size=policy.page_size):
                complete = True
                break
            if since is not None and newest_first and oldest is not None and oldest < since:
                break
            number += 1
    except errors.ResembleError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return Listing(
        items=tuple(seen.values()),
        complete=complete and error is None,
        newest_first=newest_first,
        oldest=oldest,
        error=error,
    )


def _zero_retention(item: Detection) -> bool:
    """Was the item created with zero retention? (Its URL is null and its filename
    tokenised, API notes §3.5.)"""
    if item.zero_retention_mode is not None:
        return item.zero_retention_mode
    return bool(item.filename and item.filename.startswith("redacted_"))


def _matches(doubt: _Doubt, item: Detection, *, skew: float, settle: float) -> bool:
    """Could ``item`` be the detection ``doubt``'s POST created?"""
    moment = _timestamp(item.created_at)
    if moment is not None:
        start = doubt.window_start(skew)
        if start is not None and moment < start:
            return False
        if moment > doubt.latest_send + settle + skew:
            return False
    media = item.media_type.value if item.media_type is not None else None
    if doubt.media_type and media in ("audio", "video", "image") and media != doubt.media_type:
        return False
    if _zero_retention(item) != doubt.zero_retention:
        return False
    if doubt.zero_retention:  # only the extension of the tokenised filename survives
        mine = _extension(doubt.filename or (urlsplit(doubt.url).path if doubt.url else None))
        theirs = _extension(item.filename)
        return mine is None or theirs is None or mine == theirs
    if doubt.key is None:  # a media token without filename: nothing to compare
        return True
    if doubt.kind == "url":
        return doubt.key in (item.url, item.audio_url)
    return item.filename == doubt.key


def reconcile(
    doubts: Sequence[_Doubt],
    listing: Listing,
    *,
    claimed: set[str],
    in_flight: set[str],
    policy: ReconcilePolicy,
) -> dict[int, _Verdict]:
    """Decide, for each input in doubt, from one listing (a pure function).

    * A candidate is an item not already claimed by an input of the journal, created in
      the POST's time window, of the input's media type, showing its URL (or filename).
    * Inputs with the same fingerprint are interchangeable (the same media with the same
      options), so n of them may adopt up to n candidates, oldest first.
    * No candidate: absent (send again) only if the listing covers the window.
    * Otherwise in doubt: more candidates than inputs, candidates shared with other
      inputs, an identical input being sent right now, or no identity to compare (zero
      retention, a media token without filename) — a unique loose match is never adopted,
      since a wrong adoption gives the input another media's verdict.
    """
    skew, settle = policy.clock_skew, policy.settle
    candidates = {
        doubt.index: [
            item
            for item in listing.items
            if item.uuid not in claimed and _matches(doubt, item, skew=skew, settle=settle)
        ]
        for doubt in doubts
    }
    owners: dict[str, set[str]] = defaultdict(set)
    for doubt in doubts:
        for item in candidates[doubt.index]:
            owners[item.uuid].add(doubt.fingerprint)
    groups: dict[str, list[_Doubt]] = defaultdict(list)
    for doubt in doubts:
        groups[doubt.fingerprint].append(doubt)

    verdicts: dict[int, _Verdict] = {}

    def absent_or_doubt(doubt: _Doubt) -> _Verdict:
        since = doubt.window_start(skew)
        if listing.covers(since):
            return _Verdict(
                kind="absent",
                reason="no detection of this input in the list around the time it was sent",
            )
        return _Verdict(kind="doubt", reason=listing.why_not(since))

    for group in groups.values():
        pool = sorted(
            {item.uuid: item for doubt in group for item in candidates[doubt.index]}.values(),
            key=lambda item: _timestamp(item.created_at) or 0.0,
        )
        uuids = tuple(item.uuid for item in pool)
        first = group[0]

        def doubt_all(
            reason: str, group: list[_Doubt] = group, uuids: tuple[str, ...] = uuids
        ) -> None:
            for doubt in group:
                verdicts[doubt.index] = _Verdict(kind="doubt", reason=reason, candidates=uuids)

        if not pool:
            for doubt in group:
                verdicts[doubt.index] = absent_or_doubt(doubt)
            continue
        if first.key is None:
            why = (
                "zero retention hides the URL and tokenises the filename (API notes §3.5)"
                if first.zero_retention
                else "a media token without filename gives nothing to compare"
            )
            doubt_all(f"{len(pool)} detection(s) of that media type and time may be it: {why}")
            continue
        if first.key in in_flight:
            doubt_all("an identical input is being sent right now; its detection looks the same")
            continue
        if any(len(owners[uuid]) > 1 for uuid in uuids):
            doubt_all("the matching detections also match other inputs of this job")
            continue
        if len(pool) > len(group):
            doubt_all(
                f"{len(pool)} detections match {len(group)} input(s): identical media was "
                "submitted more often in that window"
            )
            continue
        assigned: dict[int, Detection] = {}
        ordered = sorted(group, key=lambda doubt: doubt.sent_at or 0.0)
        for item in pool:
            taker = next(
                (d for d in ordered if d.index not in assigned and item in candidates[d.index]),
                None,
            )
            if taker is None:
                break
            assigned[taker.index] = item
        else:
            for doubt in group:
                item_or_none = assigned.get(doubt.index)
                if item_or_none is None:
                    verdicts[doubt.index] = absent_or_doubt(doubt)
                else:
                    verdicts[doubt.index] = _Verdict(
                        kind="adopt",
                        reason="the only detection of this input around the time it was sent",
                        uuid=item_or_none.uuid,
                        candidates=(item_or_none.uuid,),
                    )
            continue
        doubt_all("the matching detections cannot be paired with the inputs by time")
    return verdicts


class _Reconciler:
    """Looks inputs in doubt up in the listing; concurrent lookups share one scan."""

    def __init__(
        self,
        client: DetectClient,
        policy: ReconcilePolicy,
        *,
        claimed: set[str],
        in_flight: Callable[[], set[str]],
    ) -> None:
        self._client = client
        self._policy = policy
        self._claimed = claimed
        self._in_flight = in_flight
        self._queue: list[tuple[_Doubt, asyncio.Future[_Verdict]]] = []
        self._task: asyncio.Task[None] | None = None
        self.scans = 0

    async def settle(self, latest_send: float) -> None:
        """Wait until a POST sent at ``latest_send`` has surely been handled by the server."""
        delay = latest_send + self._policy.settle - time.time()
        if delay > 0:
            await self._client.clock.sleep(delay)

    async def decide(self, doubts: Sequence[_Doubt]) -> dict[int, _Verdict]:
        """One scan for ``doubts`` (which have settled) and the verdicts it allows."""
        starts = [doubt.window_start(self._policy.clock_skew) for doubt in doubts]
        since = None if None in starts else min(cast(list[float], starts))
        self.scans += 1
        listing = await scan_listing(self._client, since=since, policy=self._policy)
        verdicts = reconcile(
            doubts,
            listing,
            claimed=self._claimed,
            in_flight=self._in_flight(),
            policy=self._policy,
        )
        for verdict in verdicts.values():
            if verdict.uuid is not None:
                self._claimed.add(verdict.uuid)
        return verdicts

    async def resolve(self, doubt: _Doubt) -> _Verdict:
        """The verdict on one input in doubt during a run (coalesced with the others)."""
        await self.settle(doubt.latest_send)
        future: asyncio.Future[_Verdict] = asyncio.get_running_loop().create_future()
        self._queue.append((doubt, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="resemble-reconcile")
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    verdicts = await self.decide([doubt for doubt, _ in batch])
                except Exception as exc:  # never lose a waiter: it stays in doubt
                    log.exception("reconciliation failed")
                    verdicts = {
                        doubt.index: _Verdict(kind="doubt", reason=f"reconciliation failed: {exc}")
                        for doubt, _ in batch
                    }
                for doubt, future in batch:
                    if not future.done():
                        future.set_result(verdicts[doubt.index])
        finally:
            self._task = None

    async def aclose(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# -- a run --------------------------------------------------------------------------------


@attrs.define
class _Track:
    """Where one input stands in this run (a mirror of its journal row)."""

    state: str = PENDING
    uuid: str | None = None
    origin: str | None = None
    sent_at: float | None = None
    answered_at: float | None = None
    replay: JobOutcome | None = None
    created: Detection | None = None
    doubt: errors.InDoubtError | None = None
    last_error: Exception | None = None


def _may_have_created(error: BaseException) -> bool:
    """After a failed create: could a detection exist? (False only when it surely cannot.)

    Refused before anything was created: our own checks, a closed client, a connection
    that never opened, a secure upload that failed before the create was sent, and the
    API's 4xx answers but 408 (API notes §3.1, §13: invalid input is rejected before
    analysis or billing; a 429 is refused before creating, the retry layer already tried
    it again). Anything else — a 5xx, a timeout or dropped connection after sending, an
    unreadable 2xx — may have created one.
    """
    if isinstance(
        error,
        errors.InvalidRequestError | errors.ClientClosedError | errors.ConfigurationError,
    ):
        return False
    path = getattr(error, "path", None)
    if isinstance(path, str) and path.rstrip("/").endswith("/secure_uploads"):
        return False  # the POST /detect itself was never sent
    if isinstance(error, errors.TransportError):
        return error.request_sent
    if isinstance(error, errors.APIStatusError):
        return not (400 <= error.status < 500 and error.status != 408)
    return True


class _Run:
    """One run of a job: the journal, the inputs' tracks, and the work of each input."""

    def __init__(
        self,
        client: DetectClient,
        inputs: list[DetectInput],
        *,
        options: dict[str, Any],
        journal: Path | None,
        out: Path | None,
        wait: bool,
        timeout: Any,
        poll: PollPolicy | None,
        wait_for_intelligence: bool,
        concurrency: int | None,
        on_progress: Callable[[Progress], object] | None,
        resubmit_in_doubt: bool,
        reconcile: ReconcilePolicy,
    ) -> None:
        self.client = client
        self.inputs = inputs
        self.options = options
        self.journal = Journal(journal)
        self.out = out
        self.wait = wait
        self.timeout = timeout  # a Timeout: seconds, None or DEFAULT, as wait_for_result takes
        self.poll = poll
        self.wait_for_intelligence = wait_for_intelligence
        self.concurrency = concurrency
        self.on_progress = on_progress
        self.resubmit_in_doubt = resubmit_in_doubt
        self.policy = reconcile
        self.items: list[_Item] = []
        self.tracks: list[_Track] = []
        self.claimed: set[str] = set()
        self.in_flight: dict[int, str | None] = {}
        self.stash: dict[int, JobOutcome] = {}
        self.reconciler = _Reconciler(
            client, reconcile, claimed=self.claimed, in_flight=self._in_flight_keys
        )
        self.send_slots = asyncio.Semaphore(client.max_concurrency)
        self.exported: int | None = None
        self.closed = False

    def _in_flight_keys(self) -> set[str]:
        return {key for key in self.in_flight.values() if key is not None}

    # -- before anything is sent --------------------------------------------------------

    async def prepare(self) -> ResultStream:
        """Open the journal, check the inputs against it, reconcile what is in doubt, and
        return the stream that works on every input."""
        self.items = await asyncio.to_thread(
            lambda: [_prepare(i, given, self.options) for i, given in enumerate(self.inputs)]
        )
        rows = await self.journal.open()
        self._check(rows)
        await self.journal.register([item.identity for item in self.items], rows)
        self.tracks = [self._track(item, rows.get(item.index)) for item in self.items]
        self.claimed.update(row.uuid for row in rows.values() if row.uuid)
        doubtful = [i for i, t in enumerate(self.tracks) if t.state in (SENDING, IN_DOUBT)]
        if doubtful:
            await self._reconcile_at_start(doubtful)
        replays = [i for i, t in enumerate(self.tracks) if t.replay is not None]
        stuck = [i for i, t in enumerate(self.tracks) if t.replay is None and t.state == IN_DOUBT]
        waits = [i for i, t in enumerate(self.tracks) if t.state == CREATED]
        sends = [i for i, t in enumerate(self.tracks) if t.state == PENDING]
        order = [str(i) for i in (*replays, *stuck, *waits, *sends)]
        workers = self.concurrency or self.client.max_concurrency * (8 if self.wait else 1)
        log.info(
            "detect_many: %d inputs (%d finished before, %d in doubt, %d to wait for, %d to send)",
            len(order),
            len(replays),
            len(stuck),
            len(waits),
            len(sends),
        )
        return ResultStream(order, self.work, workers=workers, on_progress=self.on_progress)

    def _check(self, rows: dict[int, Row]) -> None:
        """Refuse a journal written for other inputs, before anything is sent."""
        where = str(self.journal.path) if self.journal.path is not None else None
        count = len(self.items)
        missing = sorted(index for index in rows if index >= count)
        if missing:
            raise errors.JournalMismatchError(
                f"the journal {where} has {len(rows)} inputs but this run {count}: inputs "
                f"from index {missing[0]} on are missing; nothing was sent. Pass the whole "
                "original list (appending new inputs is fine), or use a new journal",
                path=where,
                indices=missing[:10],
            )
        changed: list[int] = []
        for index, row in sorted(rows.items()):
            identity = self.items[index].identity
            if row.state == PENDING:  # nothing exists for it yet: it may change freely
                continue
            resized = (
                row.size is not None and identity.size is not None and row.size != identity.size
            )
            if row.fingerprint != identity.fingerprint or resized:
                changed.append(index)
        if changed:
            first = changed[0]
            row = rows[first]
            was = row.url or row.path or row.filename or row.kind
            raise errors.JournalMismatchError(
                f"input {first} differs from the one the journal {where} recorded "
                f"({was!r}, {row.state}) and {len(changed) - 1} more do; nothing was sent. "
                "Restore the original input list (same order, same options), or use a new "
                "journal",
                path=where,
                indices=changed[:10],
            )

    def _track(self, item: _Item, row: Row | None) -> _Track:
        if row is None:
            return _Track()
        track = _Track(
            state=row.state,
            uuid=row.uuid,
            origin=row.origin,
            sent_at=row.sent_at,
            answered_at=row.answered_at,
        )
        if row.state == FINISHED:
            try:
                earlier = JobOutcome.from_dict(json.loads(row.outcome or ""))
            except (ValueError, KeyError, TypeError, errors.ResembleError):
                log.warning("input %d: unreadable outcome in the journal", item.index)
                # Never send without proof: with a uuid wait again, without one reconcile.
                track.state = CREATED if row.uuid else IN_DOUBT
            else:
                track.replay = attrs.evolve(
                    earlier, index=item.index, input=item.input, replayed=True, state=FINISHED
                )
        return track

    def _doubt(self, index: int, latest_send: float) -> _Doubt:
        identity = self.items[index].identity
        return _Doubt(
            index=index,
            fingerprint=identity.fingerprint,
            kind=identity.kind,
            url=identity.url,
            filename=identity.filename,
            media_type=identity.media_type,
            zero_retention=identity.zero_retention,
            sent_at=self.tracks[index].sent_at,
            latest_send=latest_send,
        )

    async def _reconcile_at_start(self, indices: list[int]) -> None:
        """Settle the inputs a crashed or earlier run left in doubt, in one scan."""
        now = time.time()
        doubts = []
        for index in indices:
            track = self.tracks[index]
            if track.answered_at is not None:
                latest = track.answered_at
            elif track.sent_at is not None:  # the dead run may have retried until it died
                latest = min(now, track.sent_at + self.policy.max_request_seconds)
            else:
                latest = now
            doubts.append(self._doubt(index, latest))
        await self.reconciler.settle(max(doubt.latest_send for doubt in doubts))
        verdicts = await self.reconciler.decide(doubts)
        for doubt in doubts:
            await self._apply(doubt.index, verdicts[doubt.index])

    async def _apply(self, index: int, verdict: _Verdict) -> None:
        """Write a reconciliation's verdict down, then act on it."""
        track = self.tracks[index]
        track.doubt = None
        if verdict.kind == "adopt":
            assert verdict.uuid is not None
            await self.journal.created(
                index, verdict.uuid, origin="adopted", answered_at=None, note=verdict.reason
            )
            track.state, track.uuid, track.origin = CREATED, verdict.uuid, "adopted"
            self.claimed.add(verdict.uuid)
            log.info("input %d: adopted detection %s", index, verdict.uuid)
        elif verdict.kind == "absent":
            await self.journal.unsent(
                index, note=f"never created: {verdict.reason}", answered_at=None
            )
            track.state = PENDING
            log.info("input %d: proved never created; sending it", index)
        elif self.resubmit_in_doubt:
            await self.journal.unsent(
                index, note=f"sent again although in doubt: {verdict.reason}", answered_at=None
            )
            track.state = PENDING
            log.warning("input %d: in doubt (%s); sending it again as asked", index, verdict.reason)
        else:
            await self.journal.in_doubt(index, note=verdict.reason, answered_at=None)
            track.state = IN_DOUBT
            track.doubt = errors.InDoubtError(
                f"input {index} may or may not have been created: {verdict.reason}. Nothing was "
                "sent again; check the candidates, then rerun with resubmit_in_doubt=True to "
                "send it anyway",
                index=index,
                reason=verdict.reason,
                candidates=list(verdict.candidates),
                sent_at=track.sent_at,
            )
            log.warning("input %d: in doubt: %s", index, verdict.reason)

    # -- the work on one input ----------------------------------------------------------

    async def work(self, key: str) -> Detection:
        """Everything one input needs in this run; its outcome goes to the stash."""
        index = int(key)
        item, track = self.items[index], self.tracks[index]
        if track.replay is not None:
            self.stash[index] = track.replay
            if track.replay.error is not None:
                raise track.replay.error
            assert track.replay.detection is not None
            return track.replay.detection
        sends = 0
        while track.state != CREATED:
            if track.state == IN_DOUBT:
                assert track.doubt is not None
                return await self._settle(index, error=track.doubt)
            if item.problem is not None:
                return await self._settle(index, error=item.problem)
            if sends == _MAX_SENDS_PER_RUN:
                assert track.last_error is not None
                return await self._settle(index, error=track.last_error)
            sends += 1
            refused = await self._submit(item, track)
            if refused is not None:
                return await self._settle(index, error=refused)
        return await self._finish(index)

    async def _submit(self, item: _Item, track: _Track) -> Exception | None:
        """POST one input, journaled on both sides; a failure in doubt is reconciled.

        Returns the error of a refused POST (nothing was created), else None; the track
        is then ``created``, ``pending`` (proved never created) or ``in_doubt``.
        """
        index = item.index
        given = item.input
        async with self.send_slots:  # at most max_concurrency inputs are `sending` at once
            sent_at = time.time()
            await self.journal.sending(index, sent_at)  # on disk before the POST leaves
            track.state, track.sent_at, track.uuid, track.origin = SENDING, sent_at, None, None
            self.in_flight[index] = self._doubt(index, sent_at).key
            failure: Exception | None
            try:
                detection = await self.client.create_detection(
                    given.url,
                    file=given.file,
                    media_token=given.media_token,
                    filename=given.filename,
                    **cast(DetectionOptions, item.options),
                )
            except Exception as exc:
                answered_at = time.time()
                track.last_error = exc
                failure = exc
            else:
                answered_at = time.time()
                failure = None
            finally:
                self.in_flight.pop(index, None)
        track.answered_at = answered_at
        if failure is None:
            track.state, track.uuid, track.origin = CREATED, detection.uuid, "submitted"
            track.created = None if self.wait else detection  # wait=False: the outcome
            self.claimed.add(detection.uuid)
            await self.journal.created(
                index, detection.uuid, origin="submitted", answered_at=answered_at, note=None
            )
            return None
        reason = f"{type(failure).__name__}: {failure}"
        if not _may_have_created(failure):
            await self.journal.unsent(index, note=f"refused: {reason}", answered_at=answered_at)
            track.state = PENDING
            return failure
        log.warning(
            "input %d: the POST may have created a detection (%s); reconciling", index, reason
        )
        await self.journal.in_doubt(index, note=f"no answer: {reason}", answered_at=answered_at)
        track.state = IN_DOUBT
        verdict = await self.reconciler.resolve(self._doubt(index, answered_at))
        if verdict.kind == "doubt":
            verdict = attrs.evolve(verdict, reason=f"{verdict.reason} (the POST failed: {reason})")
        await self._apply(index, verdict)
        return None

    async def _finish(self, index: int) -> Detection:
        """Wait for (or, without ``wait``, fetch) an input's detection."""
        track = self.tracks[index]
        assert track.uuid is not None
        try:
            if self.wait:
                detection = await self.client.wait_for_result(
                    track.uuid,
                    timeout=self.timeout,
                    poll=self.poll,
                    wait_for_intelligence=self.wait_for_intelligence,
                )
            elif track.created is not None:
                detection = track.created
            else:
                detection = await self.client.get_detection(track.uuid)
        except errors.DetectionFailedError as exc:
            return await self._settle(index, detection=exc.detection, error=exc)
        except errors.WaitTimeoutError as exc:
            return await self._settle(index, detection=exc.last_detection, error=exc)
        except errors.ResembleError as exc:
            return await self._settle(index, error=exc)
        return await self._settle(index, detection=detection)

    async def _settle(
        self, index: int, *, detection: Detection | None = None, error: Exception | None = None
    ) -> Detection:
        """Record one outcome of this run (final ones finish the input); return or raise it."""
        track = self.tracks[index]
        final = track.uuid is not None and (
            (error is None and detection is not None and detection.is_terminal)
            or isinstance(error, errors.DetectionFailedError | errors.NotFoundError)
        )
        outcome = JobOutcome(
            index=index,
            uuid=track.uuid,
            detection=detection,
            error=error,
            input=self.items[index].input,
            origin=track.origin,
            state=FINISHED if final else track.state,
        )
        if final:
            track.state = FINISHED
        await self._record(outcome, final=final)
        self.stash[index] = outcome
        if error is not None:
            raise error
        assert detection is not None
        return detection

    async def _record(self, outcome: JobOutcome, *, final: bool) -> None:
        line = json.dumps(outcome.to_dict(), default=repr)
        try:
            await self.journal.outcome(outcome.index, line, ok=outcome.ok, final=final)
        except errors.JournalError:
            log.exception("input %d: could not record its outcome", outcome.index)

    async def outcome_of(self, inner: Outcome) -> JobOutcome:
        """The job outcome behind one outcome of the worker pool."""
        index = int(inner.uuid)
        outcome = self.stash.pop(index, None)
        if outcome is not None:
            return outcome
        # The pool stopped this input before its turn (a refused key stops a run) or our
        # own code failed: its journal state is unchanged, and the next run takes it up.
        track = self.tracks[index]
        error = inner.error
        if isinstance(error, errors.ResembleError):
            error.uuid = track.uuid
        outcome = JobOutcome(
            index=index,
            uuid=track.uuid,
            error=error,
            input=self.items[index].input,
            origin=track.origin,
            state=track.state,
        )
        await self._record(outcome, final=False)
        return outcome

    # -- the end ------------------------------------------------------------------------

    async def complete(self) -> None:
        """Every input has its outcome: export them, and close."""
        try:
            if self.out is not None:
                self.exported = await self.journal.export(self.out)
        finally:
            await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.reconciler.aclose()
        await self.journal.close()


class JobStream:
    """The outcomes of :meth:`DetectClient.detect_many`, one per input.

    ``async for outcome in stream`` yields :class:`JobOutcome` objects as inputs finish
    (completion order); ``await stream.collect()`` returns them all in input order. Use it
    inside ``async with`` (or call :meth:`aclose`) to stop the workers and release the
    journal when leaving early. Nothing is sent before the first outcome is asked for; a
    journal that does not match the inputs raises there (:class:`JournalMismatchError`).
    When the last outcome has been yielded, the JSONL export is written (``out``).
    """

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._inner: ResultStream | None = None
        self._finished = False

    @property
    def journal(self) -> Path | None:
        """The journal file (None: an in-memory journal, no resume)."""
        return self._run.journal.path

    @property
    def out(self) -> Path | None:
        """Where the outcomes are exported as JSON lines at the end of the run."""
        return self._run.out

    @property
    def progress(self) -> Progress:
        """Counts so far (replayed outcomes count as done)."""
        if self._inner is None:
            return Progress(total=len(self._run.inputs), succeeded=0, failed=0)
        return self._inner.progress

    def __aiter__(self) -> JobStream:
        return self

    async def __anext__(self) -> JobOutcome:
        if self._finished:
            raise StopAsyncIteration
        if self._inner is None:
            try:
                self._inner = await self._run.prepare()
            except BaseException:
                self._finished = True
                await self._run.close()
                raise
        try:
            inner = await self._inner.__anext__()
        except StopAsyncIteration:
            self._finished = True
            await self._run.complete()
            raise
        return await self._run.outcome_of(inner)

    async def collect(self) -> list[JobOutcome]:
        """Run to the end and return every outcome, in input order."""
        async with self:
            outcomes = [outcome async for outcome in self]
        outcomes.sort(key=lambda outcome: outcome.index)
        return outcomes

    async def aclose(self) -> None:
        """Stop every worker, and close the journal. Inputs being sent stay ``sending``
        (in doubt) and are reconciled by the next run."""
        self._finished = True
        try:
            if self._inner is not None:
                await self._inner.aclose()
        finally:
            await self._run.close()

    async def __aenter__(self) -> JobStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def detect_many(
    client: DetectClient,
    inputs: Iterable[InputLike],
    *,
    journal: str | os.PathLike[str] | None,
    out: str | os.PathLike[str] | None,
    wait: bool,
    timeout: Any,
    poll: PollPolicy | None,
    wait_for_intelligence: bool,
    concurrency: int | None,
    on_progress: Callable[[Progress], object] | None,
    resubmit_in_doubt: bool,
    reconcile: ReconcilePolicy | None,
    options: Mapping[str, Any],
) -> JobStream:
    """:meth:`DetectClient.detect_many` (which documents the arguments); checks them all
    before returning, so a mistake costs nothing."""
    for name, flag in (
        ("wait", wait),
        ("wait_for_intelligence", wait_for_intelligence),
        ("resubmit_in_doubt", resubmit_in_doubt),
    ):
        check_flag(name, flag)
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise errors.InvalidRequestError(
            f"concurrency must be a whole number >= 1, got {concurrency!r}"
        )
    if on_progress is not None and not callable(on_progress):
        raise errors.InvalidRequestError(
            f"on_progress must be a function (or None), got {type(on_progress).__name__}"
        )
    if reconcile is not None and not isinstance(reconcile, ReconcilePolicy):
        raise errors.InvalidRequestError(
            f"reconcile must be a ReconcilePolicy, got {type(reconcile).__name__}"
        )
    check_option_names(options, DetectionOptions, where="detect_many")
    _sansio.detection_options(**options)  # a bad job-wide option fails every input: raise
    if isinstance(inputs, str | bytes) or not isinstance(inputs, Iterable):
        raise errors.InvalidRequestError(
            "inputs must be a list (or iterable) of inputs, not "
            + ("one string" if isinstance(inputs, str | bytes) else type(inputs).__name__)
        )
    given: list[DetectInput] = []
    for index, value in enumerate(inputs):
        try:
            given.append(DetectInput.of(value))
        except errors.InvalidRequestError as exc:
            raise errors.InvalidRequestError(f"inputs[{index}]: {exc}") from None
    journal_path = Path(journal) if journal is not None else None
    out_path = Path(out) if out is not None else None
    if out_path is None and journal_path is not None:
        out_path = jsonl_path_for(journal_path)
    if out_path is not None and journal_path is not None and out_path == journal_path:
        raise errors.InvalidRequestError("out= must not be the journal file itself")
    run = _Run(
        client,
        given,
        options=dict(options),
        journal=journal_path,
        out=out_path,
        wait=wait,
        timeout=timeout,
        poll=poll,
        wait_for_intelligence=wait_for_intelligence,
        concurrency=concurrency,
        on_progress=on_progress,
        resubmit_in_doubt=resubmit_in_doubt,
        reconcile=reconcile or ReconcilePolicy(),
    )
    return JobStream(run)
