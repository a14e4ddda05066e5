"""Reconciliation: deciding from the list of detections whether a POST in doubt created one.

`reconcile` is a pure function of the inputs in doubt and one listing, so most cases are
table-like tests over hand-made detections; `scan_listing` is tested against the fake.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from resemble_detect_async import DetectClient, Detection, MediaType, ReconcilePolicy
from resemble_detect_async._jobs import Listing, _Doubt, reconcile, scan_listing
from resemble_detect_async.testing import FakeDetectAPI, Fault

POLICY = ReconcilePolicy(settle=10.0, clock_skew=5.0)
SENT = 1_800_000_000.0  # when the POST in doubt was sent (Unix time)
URL = "https://media.example/clip.wav"


def doubt(index: int = 0, **changes: Any) -> _Doubt:
    fields: dict[str, Any] = {
        "index": index,
        "fingerprint": "fp-clip",
        "kind": "url",
        "url": URL,
        "filename": "clip.wav",
        "media_type": "audio",
        "zero_retention": False,
        "sent_at": SENT,
        "latest_send": SENT + 1,
    }
    fields.update(changes)
    return _Doubt(**fields)


def item(uuid: str, at: float = SENT + 0.5, **changes: Any) -> Detection:
    fields: dict[str, Any] = {
        "uuid": uuid,
        "url": URL,
        "filename": "clip.wav",
        "media_type": MediaType.AUDIO,
        "created_at": datetime.fromtimestamp(at, UTC),
        "zero_retention_mode": False,
    }
    fields.update(changes)
    return Detection(**fields)


def listing(*items: Detection, complete: bool = True, **changes: Any) -> Listing:
    fields: dict[str, Any] = {
        "items": items,
        "complete": complete,
        "newest_first": True,
        "oldest": min((i.created_at.timestamp() for i in items if i.created_at), default=None),
    }
    fields.update(changes)
    return Listing(**fields)


def decide(
    doubts: list[_Doubt],
    seen: Listing,
    claimed: set[str] | None = None,
    in_flight: set[str] | None = None,
) -> dict[int, tuple[str, str | None, tuple[str, ...]]]:
    verdicts = reconcile(
        doubts, seen, claimed=claimed or set(), in_flight=in_flight or set(), policy=POLICY
    )
    return {i: (v.kind, v.uuid, v.candidates) for i, v in verdicts.items()}


def test_the_only_match_is_adopted() -> None:
    """One detection with the input's URL in the window: it is the input's."""
    seen = listing(item("a"), item("other", url="https://media.example/else.wav"))
    assert decide([doubt()], seen) == {0: ("adopt", "a", ("a",))}


def test_no_match_in_a_whole_listing_proves_absence() -> None:
    """The whole list read and nothing of the input's: it was never created."""
    assert decide([doubt()], listing(item("x", url="https://media.example/else.wav"))) == {
        0: ("absent", None, ())
    }


def test_a_newest_first_listing_read_past_the_window_proves_absence() -> None:
    """Sorted newest first and read back beyond the window: that is enough."""
    seen = listing(item("old", at=SENT - 100), complete=False)
    assert decide([doubt()], seen)[0][0] == "absent"


@pytest.mark.parametrize(
    ("seen", "why"),
    [
        (listing(item("o", at=SENT - 100), complete=False, newest_first=False), "not in newest"),
        (listing(item("n", at=SENT + 0.5, url="u"), complete=False), "read back to"),
        (listing(complete=False, error="ServerError: 500"), "could not be read"),
    ],
    ids=["unsorted", "not-far-enough", "failed"],
)
def test_a_listing_that_does_not_cover_the_window_proves_nothing(seen: Listing, why: str) -> None:
    """Unsorted and unfinished, not read far enough, or failed: in doubt, with the reason."""
    verdicts = reconcile([doubt()], seen, claimed=set(), in_flight=set(), policy=POLICY)
    assert verdicts[0].kind == "doubt" and why in verdicts[0].reason


def test_a_listing_whose_end_was_read_covers_even_unsorted() -> None:
    """The last page read: whatever the order, every detection was seen."""
    assert listing(complete=True, newest_first=False).covers(SENT)
    assert not listing(complete=False, newest_first=False, oldest=SENT - 100).covers(SENT)
    assert not listing(complete=False).covers(None)


@pytest.mark.parametrize(
    "other",
    [
        item("early", at=SENT - 6),  # before the window (clock skew 5 s)
        item("late", at=SENT + 1 + 10 + 6),  # after the last send + settle + skew
        item("video", media_type=MediaType.VIDEO),
        item("zrm", zero_retention_mode=True, url=None, filename="redacted_ab.wav"),
        item("claimed"),
    ],
    ids=["too-early", "too-late", "other-media-type", "zero-retention", "claimed"],
)
def test_what_cannot_be_the_input_is_no_candidate(other: Detection) -> None:
    """Out of the window, another media type, another retention mode, or already claimed."""
    assert decide([doubt()], listing(other), claimed={"claimed"}) == {0: ("absent", None, ())}


def test_two_matches_for_one_input_are_in_doubt() -> None:
    """Two detections of the same URL in the window cannot be told apart."""
    result = decide([doubt()], listing(item("a"), item("b", at=SENT + 0.7)))
    assert result == {0: ("doubt", None, ("a", "b"))}


def test_identical_inputs_are_paired_with_as_many_detections_in_time_order() -> None:
    """Interchangeable inputs (same fingerprint) adopt one detection each, oldest first."""
    doubts = [doubt(0, sent_at=SENT + 0.2), doubt(1, sent_at=SENT)]
    seen = listing(item("second", at=SENT + 0.6), item("first", at=SENT + 0.3))
    assert decide(doubts, seen) == {
        0: ("adopt", "second", ("second",)),
        1: ("adopt", "first", ("first",)),
    }


def test_identical_inputs_with_fewer_detections_adopt_those_and_send_the_rest() -> None:
    """Two identical inputs, one detection, a covering listing: one adopts, one was never made."""
    result = decide([doubt(0), doubt(1)], listing(item("only")))
    assert sorted(kind for kind, _, _ in result.values()) == ["absent", "adopt"]


def test_a_detection_matching_inputs_with_other_options_is_in_doubt() -> None:
    """The same URL with other options: the listing cannot say which request made it."""
    result = decide([doubt(0), doubt(1, fingerprint="fp-visualize")], listing(item("a")))
    assert {kind for kind, _, _ in result.values()} == {"doubt"}


def test_an_identical_input_being_sent_makes_a_match_ambiguous() -> None:
    """A twin still in flight may be the one that made the detection seen."""
    assert decide([doubt()], listing(item("a")), in_flight={URL})[0][0] == "doubt"


def test_files_are_matched_by_filename() -> None:
    """A file input has no URL on the API side: its filename identifies it."""
    file_doubt = doubt(kind="file", url=None, filename="voice.wav")
    seen = listing(item("f", url="https://cdn.example/x/voice.wav", filename="voice.wav"))
    assert decide([file_doubt], seen) == {0: ("adopt", "f", ("f",))}


def test_zero_retention_is_never_adopted_but_can_be_proved_absent() -> None:
    """A redacted detection might be anyone's: a candidate, never adopted; none proves absence."""
    zrm = doubt(zero_retention=True)
    redacted = item("z", url=None, filename="redacted_0123.wav", zero_retention_mode=None)
    result = reconcile([zrm], listing(redacted), claimed=set(), in_flight=set(), policy=POLICY)
    assert (result[0].kind, result[0].candidates) == ("doubt", ("z",))
    assert "zero retention" in result[0].reason
    other_ext = item("z", url=None, filename="redacted_0123.mp4", media_type=None)
    assert decide([zrm], listing(other_ext))[0][0] == "absent"


def test_a_media_token_without_filename_is_only_ever_proved_absent() -> None:
    """Nothing identifies such an input: any detection in the window is a candidate."""
    token = doubt(kind="media_token", url=None, filename=None, media_type=None)
    assert decide([token], listing(item("t")))[0][:2] == ("doubt", None)
    assert decide([token], listing())[0][0] == "absent"


# -- reading the listing ------------------------------------------------------------------


async def test_a_scan_stops_once_a_newest_first_listing_passes_the_window(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """With 30 detections and pages of 10, a recent window needs the first page only."""
    for _ in range(30):
        fake.add_detection(polls_to_complete=0)
    since = datetime.now(UTC).timestamp() - 3600
    for uuid in list(fake.detections)[:20]:  # the 20 oldest: an hour older than the window
        fake.detections[uuid].created_at -= 7200
    policy = ReconcilePolicy(page_size=10)
    seen = await scan_listing(client, since=since, policy=policy)
    assert seen.newest_first and not seen.complete and seen.covers(since)
    assert len(seen.items) == 20  # page 2 shows the first older item
    assert sum(1 for r in fake.requests if r.path == "/detect") == 2


async def test_a_scan_reads_to_the_end_when_the_window_is_unknown(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Without a start time only the last page proves anything; scan_limit bounds it."""
    for _ in range(25):
        fake.add_detection(polls_to_complete=0)
    whole = await scan_listing(client, since=None, policy=ReconcilePolicy(page_size=10))
    assert whole.complete and len(whole.items) == 25
    capped = ReconcilePolicy(page_size=10, scan_limit=10)
    part = await scan_listing(client, since=None, policy=capped)
    assert not part.complete and len(part.items) == 10


async def test_a_scan_that_fails_says_so(fake: FakeDetectAPI, client: DetectClient) -> None:
    """A listing error (after the retry layer gave up) is kept, and covers nothing."""
    fake.inject(Fault.error(401, method="GET", path="/detect"))
    seen = await scan_listing(client, since=0.0, policy=ReconcilePolicy())
    assert seen.error is not None and "AuthenticationError" in seen.error
    assert not seen.covers(0.0)
