"""detect_many: one outcome per input, a journal written before each POST, resume, no double bills.

A "crash" here is a stream stopped while a request hangs on the fake API: the journal is
left exactly as a ``kill -9`` at that instant would leave it (the row of the input being
sent says ``sending``). tests/test_jobs_soak.py does the real kills in a subprocess.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import pickle
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from resemble_detect_async import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ClientClosedError,
    DetectClient,
    DetectInput,
    DetectionFailedError,
    InDoubtError,
    InvalidRequestError,
    JobOutcome,
    JobStream,
    JournalError,
    JournalMismatchError,
    NotFoundError,
    PaymentRequiredError,
    Progress,
    RateLimitError,
    ReconcilePolicy,
    ResponseValidationError,
    ServerError,
    errors,
)
from resemble_detect_async._jobs import _may_have_created
from resemble_detect_async.testing import FakeDetectAPI, Fault, fake_client

NO_WAIT = ReconcilePolicy.no_wait()  # the fake creates synchronously: nothing to settle


def urls(count: int, name: str = "clip") -> list[str]:
    return [f"https://media.example/{name}-{i}.wav" for i in range(count)]


def posts(fake: FakeDetectAPI) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path == "/detect")


def created(fake: FakeDetectAPI) -> collections.Counter[str | None]:
    return collections.Counter(d.url for d in fake.detections.values())


def rows(journal: Path) -> dict[int, dict[str, Any]]:
    """The journal table as a user reads it, by index."""
    uri = f"file:{journal}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        db.row_factory = sqlite3.Row
        return {row["idx"]: dict(row) for row in db.execute("SELECT * FROM inputs")}


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run (no real sleep) until ``condition`` holds."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def crash(stream: JobStream, when: Callable[[], bool]) -> None:
    """Run ``stream`` until ``when`` holds, then stop it mid-flight, like a kill."""
    step = asyncio.ensure_future(anext(stream))
    await until(when)
    step.cancel()
    await asyncio.gather(step, return_exceptions=True)
    await stream.aclose()


def run(
    client: DetectClient, inputs: Sequence[Any], journal: Path | None, **kwargs: Any
) -> JobStream:
    return client.detect_many(inputs, journal=journal, reconcile=NO_WAIT, **kwargs)


# -- one run ------------------------------------------------------------------------------


async def test_one_outcome_per_input_and_a_jsonl_export(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Every input gets one outcome naming its index and input; the JSONL holds them all."""
    inputs: list[Any] = [*urls(3), "https://media.example/fail-3.wav", ("photo.png", b"\x89PNG")]
    outcomes = await run(client, inputs, tmp_path / "job.db").collect()
    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4]
    assert [o.ok for o in outcomes] == [True, True, True, False, True]
    assert isinstance(outcomes[3].error, DetectionFailedError)
    assert outcomes[0].input == DetectInput(url=urls(3)[0])
    assert all(o.origin == "submitted" and o.state == "finished" for o in outcomes)
    assert {o.uuid for o in outcomes} == set(fake.detections)
    lines = (tmp_path / "job.jsonl").read_text().splitlines()
    back = [JobOutcome.from_dict(json.loads(line)) for line in lines]
    assert [(o.index, o.uuid, o.ok, o.state) for o in back] == [
        (o.index, o.uuid, o.ok, o.state) for o in outcomes
    ]
    assert json.loads(lines[4])["input"] == {"file": None, "filename": "photo.png"}
    assert back[4].input == DetectInput(filename="photo.png")  # the bytes are not in JSON
    assert type(back[3].error) is DetectionFailedError


async def test_outcomes_stream_in_completion_order_with_progress(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """async for yields each outcome once; on_progress counts up to the total."""
    seen: list[Progress] = []
    stream = run(client, urls(4), None, on_progress=seen.append)
    async with stream:
        indices = sorted([outcome.index async for outcome in stream])
    assert indices == [0, 1, 2, 3]
    assert seen[-1] == Progress(total=4, succeeded=4, failed=0)
    assert stream.journal is None and stream.out is None


async def test_in_memory_journal_writes_no_file(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """journal=None keeps the journal in memory; out= still exports the outcomes."""
    monkeypatch.chdir(tmp_path)
    await run(client, urls(2), None).collect()
    assert os.listdir(tmp_path) == []
    await run(client, urls(2), None, out=tmp_path / "o.jsonl").collect()
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2


# -- the journal's states -----------------------------------------------------------------


async def test_each_input_is_journaled_as_sending_before_its_post(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """While the POST is at the server, the row already says sending, with its time."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="POST", path="/detect"))
    stream = run(client, urls(1), journal)
    await crash(stream, lambda: fake.in_flight == 1)
    row = rows(journal)[0]
    assert (row["state"], row["posts"], row["uuid"]) == ("sending", 1, None)
    assert row["sent_at"] is not None and row["answered_at"] is None
    assert row["url"] == urls(1)[0] and row["media_type"] == "audio"


async def test_the_uuid_is_journaled_as_soon_as_the_answer_arrives(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """While the first poll hangs, the row is created, with the uuid the POST answered."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="GET", path="/detect/.+"))
    await crash(run(client, urls(1), journal), lambda: fake.in_flight == 1)
    row = rows(journal)[0]
    assert (row["state"], row["origin"]) == ("created", "submitted")
    assert row["uuid"] in fake.detections
    assert row["answered_at"] >= row["sent_at"]


async def test_a_finished_row_holds_its_outcome(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """The finished state comes with the outcome as one JSON line."""
    journal = tmp_path / "job.db"
    [outcome] = await run(client, urls(1), journal).collect()
    row = rows(journal)[0]
    assert (row["state"], row["ok"], row["posts"]) == ("finished", 1, 1)
    assert json.loads(row["outcome"]) == outcome.to_dict()


# -- resume -------------------------------------------------------------------------------


async def test_a_rerun_replays_finished_inputs_without_a_request(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Finished inputs are not touched again: their outcome comes from the journal."""
    journal = tmp_path / "job.db"
    first = await run(client, urls(3), journal).collect()
    fake.reset_counters()
    again = await run(client, urls(3), journal).collect()
    assert fake.requests == []
    assert [(o.index, o.uuid, o.ok) for o in again] == [(o.index, o.uuid, o.ok) for o in first]
    assert all(o.replayed for o in again)
    assert len((tmp_path / "job.jsonl").read_text().splitlines()) == 3


async def test_a_rerun_waits_for_created_inputs_and_never_creates_them_again(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """An input with a uuid is waited for by the next run, never sent again."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="GET", path="/detect/.+"))
    await crash(run(client, urls(1), journal), lambda: fake.in_flight == 1)
    [outcome] = await run(client, urls(1), journal).collect()
    assert outcome.ok and outcome.origin == "submitted" and not outcome.replayed
    assert posts(fake) == 1 and len(fake.detections) == 1


async def test_a_crash_after_the_server_created_is_adopted(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Sent, created, answer never recorded: the rerun finds it in the listing and adopts it."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="POST", path="/detect", after_handler=True))
    await crash(run(client, urls(2), journal), lambda: fake.in_flight == 1)
    assert {row["state"] for row in rows(journal).values()} >= {"sending"}
    outcomes = await run(client, urls(2), journal).collect()
    assert all(o.ok for o in outcomes)
    assert sorted(o.origin or "" for o in outcomes) == ["adopted", "submitted"]
    assert created(fake) == collections.Counter(urls(2))
    assert sum(row["posts"] for row in rows(journal).values()) == 2


async def test_a_crash_before_the_post_arrived_is_proved_absent_and_sent(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Sent, never created: the whole window is in the listing and empty, so it goes again."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="POST", path="/detect"))
    await crash(run(client, urls(1), journal), lambda: fake.in_flight == 1)
    assert fake.detections == {}
    [outcome] = await run(client, urls(1), journal).collect()
    assert outcome.ok and outcome.origin == "submitted"
    row = rows(journal)[0]
    assert row["posts"] == 2 and row["note"].startswith("never created")
    assert created(fake) == collections.Counter(urls(1))


async def test_an_ambiguous_match_stays_in_doubt_until_the_caller_resubmits(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Two detections of the same URL in the window: in doubt, nothing sent, until asked."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="POST", path="/detect", after_handler=True))
    await crash(run(client, urls(1), journal), lambda: fake.in_flight == 1)
    other = fake.add_detection(polls_to_complete=0)
    fake.detections[other].url = urls(1)[0]  # someone submitted the same URL meanwhile
    [outcome] = await run(client, urls(1), journal).collect()
    assert isinstance(outcome.error, InDoubtError)
    assert outcome.uuid is None and outcome.state == "in_doubt"
    assert sorted(outcome.error.candidates) == sorted(fake.detections)
    assert outcome.error.index == 0 and "2 detections match" in outcome.error.reason
    assert posts(fake) == 1 and rows(journal)[0]["state"] == "in_doubt"
    [again] = await run(client, urls(1), journal, resubmit_in_doubt=True).collect()
    assert again.ok and again.uuid not in outcome.error.candidates
    assert posts(fake) == 2


async def test_a_listing_that_cannot_be_read_leaves_the_input_in_doubt(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """No listing, no proof: the input is reported in doubt, and the next run decides."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="POST", path="/detect"))
    await crash(run(client, urls(1), journal), lambda: fake.in_flight == 1)
    fake.inject(Fault.error(500, method="GET", path="/detect", times=None))
    [outcome] = await run(client, urls(1), journal).collect()
    assert isinstance(outcome.error, InDoubtError)
    assert "could not be read" in outcome.error.reason
    fake.clear_faults()
    [again] = await run(client, urls(1), journal).collect()
    assert again.ok and posts(fake) == 2 and len(fake.detections) == 1


async def test_identical_inputs_crashed_together_are_paired_with_their_detections(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """The same URL twice in the list, both created and unanswered: each adopts one."""
    journal = tmp_path / "job.db"
    same = urls(1) * 2
    fake.inject(Fault.hang(method="POST", path="/detect", after_handler=True, times=2))
    await crash(run(client, same, journal), lambda: fake.in_flight == 2)
    outcomes = await run(client, same, journal).collect()
    assert [o.origin for o in outcomes] == ["adopted", "adopted"]
    assert {o.uuid for o in outcomes} == set(fake.detections)
    assert posts(fake) == 2


async def test_an_input_in_doubt_can_be_settled_by_hand_in_the_journal(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """The documented fix: write the chosen candidate into the row; the next run waits for it."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="POST", path="/detect", after_handler=True))
    await crash(run(client, urls(1), journal), lambda: fake.in_flight == 1)
    other = fake.add_detection(polls_to_complete=0)
    fake.detections[other].url = urls(1)[0]
    [doubt] = await run(client, urls(1), journal).collect()
    assert isinstance(doubt.error, InDoubtError)
    chosen = doubt.error.candidates[0]
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        db.execute(
            "UPDATE inputs SET state = 'created', uuid = ?, origin = 'adopted' WHERE idx = 0",
            (chosen,),
        )
    [outcome] = await run(client, urls(1), journal).collect()
    assert outcome.ok and outcome.uuid == chosen and outcome.origin == "adopted"
    assert posts(fake) == 1


async def test_a_damaged_finished_row_is_waited_for_again_never_resent(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """An unreadable outcome with a uuid: the next run fetches that detection again."""
    journal = tmp_path / "job.db"
    [first] = await run(client, urls(1), journal).collect()
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        db.execute("UPDATE inputs SET outcome = '{not json' WHERE idx = 0")
    [again] = await run(client, urls(1), journal).collect()
    assert again.ok and again.uuid == first.uuid and not again.replayed
    assert posts(fake) == 1


# -- failures within a run ----------------------------------------------------------------


async def test_a_429_on_create_is_retried_and_creates_once(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """A 429 was refused before creating: the retry layer sends it again, one detection."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.rate_limited(method="POST", path="/detect", times=2))
    [outcome] = await run(client, urls(1), journal).collect()
    assert outcome.ok and posts(fake) == 3 and len(fake.detections) == 1
    assert rows(journal)[0]["posts"] == 1  # one create call, retried inside the retry layer


async def test_a_5xx_on_create_is_reconciled_then_sent_again(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """A 503 may have created: the listing proves it did not, and the input goes again."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.error(503, method="POST", path="/detect"))
    [outcome] = await run(client, urls(1), journal).collect()
    assert outcome.ok and posts(fake) == 2 and len(fake.detections) == 1
    assert rows(journal)[0]["note"].startswith("never created")


@pytest.mark.parametrize(
    "fault",
    [
        Fault.drop(method="POST", path="/detect", after_handler=True),
        Fault.error(500, method="POST", path="/detect", after_handler=True),
        Fault.malformed_json(method="POST", path="/detect", after_handler=True),
    ],
    ids=["dropped", "500", "unreadable"],
)
async def test_a_lost_answer_within_the_run_is_adopted(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path, fault: Fault
) -> None:
    """Created, but the answer was lost or spoiled: the run finds the uuid, sends nothing."""
    fake.inject(fault)
    [outcome] = await run(client, urls(1), tmp_path / "job.db").collect()
    assert outcome.ok and outcome.origin == "adopted"
    assert posts(fake) == 1 and len(fake.detections) == 1


async def test_a_server_that_keeps_failing_leaves_the_input_pending(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Three POSTs proved absent in one run, then the error is the outcome; the row is pending."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.error(503, method="POST", path="/detect", times=None))
    [outcome] = await run(client, urls(1), journal).collect()
    assert isinstance(outcome.error, ServerError) and outcome.state == "pending"
    assert posts(fake) == 3 and fake.detections == {}
    fake.clear_faults()
    [again] = await run(client, urls(1), journal).collect()
    assert again.ok and len(fake.detections) == 1


async def test_a_refused_input_is_left_pending_and_sent_by_the_next_run(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """A 402 created nothing: the outcome is the error, and a rerun sends it again."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.error(402, method="POST", path="/detect"))
    [outcome] = await run(client, urls(1), journal).collect()
    assert isinstance(outcome.error, PaymentRequiredError)
    assert (outcome.uuid, outcome.state) == (None, "pending")
    assert rows(journal)[0]["note"].startswith("refused: PaymentRequiredError")
    [again] = await run(client, urls(1), journal).collect()
    assert again.ok and not again.replayed and len(fake.detections) == 1


async def test_without_wait_the_outcome_is_the_submission_and_a_rerun_fetches_once(
    tmp_path: Path,
) -> None:
    """wait=False: the created detection is the outcome; the rerun fetches it, once."""
    journal = tmp_path / "job.db"
    async with FakeDetectAPI(polls_to_complete=0) as fake, fake_client(fake) as client:
        [outcome] = await run(client, urls(1), journal, wait=False).collect()
        assert outcome.ok and outcome.state == "created" and outcome.detection is not None
        assert not outcome.detection.is_terminal
        fake.reset_counters()
        [again] = await run(client, urls(1), journal, wait=False).collect()
        assert again.uuid == outcome.uuid and again.state == "finished"
        assert [r.method for r in fake.requests] == ["GET"]


async def test_a_detection_deleted_meanwhile_finishes_with_not_found(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """A created input whose detection is gone ends with NotFoundError, and is final."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="GET", path="/detect/.+"))
    await crash(run(client, urls(1), journal), lambda: fake.in_flight == 1)
    fake.detections.clear()
    [outcome] = await run(client, urls(1), journal).collect()
    assert isinstance(outcome.error, NotFoundError) and outcome.is_final
    assert posts(fake) == 1


# -- zero retention -----------------------------------------------------------------------


async def test_zero_retention_crash_after_create_is_in_doubt_not_adopted(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Zero retention hides the URL: a lone loose match is a candidate, never adopted."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="POST", path="/detect", after_handler=True))
    stream = run(client, urls(1), journal, zero_retention_mode=True)
    await crash(stream, lambda: fake.in_flight == 1)
    [outcome] = await run(client, urls(1), journal, zero_retention_mode=True).collect()
    assert isinstance(outcome.error, InDoubtError)
    assert outcome.error.candidates == list(fake.detections)
    assert "zero retention" in outcome.error.reason
    assert posts(fake) == 1


async def test_zero_retention_crash_before_create_is_proved_absent(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """No detection of that kind in the window proves absence even under zero retention."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.hang(method="POST", path="/detect"))
    stream = run(client, urls(1), journal, zero_retention_mode=True)
    await crash(stream, lambda: fake.in_flight == 1)
    [outcome] = await run(client, urls(1), journal, zero_retention_mode=True).collect()
    assert outcome.ok and posts(fake) == 2 and len(fake.detections) == 1
    assert outcome.detection is not None and outcome.detection.url is None


# -- the input list between runs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "options", "index"),
    [
        ([urls(2)[0], "https://media.example/other.wav"], {}, 1),
        (list(reversed(urls(2))), {}, 0),
        (urls(2), {"visualize": True}, 0),
    ],
    ids=["an-input-replaced", "reordered", "options-changed"],
)
async def test_an_edited_input_list_is_refused_before_anything_is_sent(
    fake: FakeDetectAPI,
    client: DetectClient,
    tmp_path: Path,
    second: list[str],
    options: dict[str, Any],
    index: int,
) -> None:
    """Changing a sent input (or its options) raises JournalMismatchError naming the index."""
    journal = tmp_path / "job.db"
    await run(client, urls(2), journal).collect()
    fake.reset_counters()
    with pytest.raises(JournalMismatchError) as caught:
        await run(client, second, journal, **options).collect()
    assert caught.value.index == index and caught.value.path == str(journal)
    assert f"input {index} differs" in str(caught.value)
    assert fake.requests == []


async def test_a_shorter_input_list_is_refused(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Dropping inputs from the end is an edit too: the journal would lose track of them."""
    journal = tmp_path / "job.db"
    await run(client, urls(3), journal).collect()
    with pytest.raises(JournalMismatchError) as caught:
        await run(client, urls(1), journal).collect()
    assert caught.value.indices == [1, 2]


async def test_appended_inputs_are_sent_and_earlier_ones_replayed(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Appending to the list is fine: new indices are new inputs."""
    journal = tmp_path / "job.db"
    await run(client, urls(2), journal).collect()
    outcomes = await run(client, urls(3), journal).collect()
    assert [o.replayed for o in outcomes] == [True, True, False]
    assert posts(fake) == 3


async def test_an_input_never_created_may_change_between_runs(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """A pending input (refused: nothing exists for it) can be fixed and rerun."""
    journal = tmp_path / "job.db"
    fake.inject(Fault.error(400, method="POST", path="/detect"))
    [refused] = await run(client, ["https://media.example/typo.wav"], journal).collect()
    assert isinstance(refused.error, BadRequestError)
    [fixed] = await run(client, ["https://media.example/fixed.wav"], journal).collect()
    assert fixed.ok and rows(journal)[0]["url"] == "https://media.example/fixed.wav"


async def test_a_file_changed_in_place_is_refused(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Same path, other size: the media is not the one that was sent."""
    media = tmp_path / "clip.wav"
    media.write_bytes(b"RIFF" + bytes(100))
    await run(client, [media], tmp_path / "job.db").collect()
    media.write_bytes(b"RIFF" + bytes(200))
    with pytest.raises(JournalMismatchError, match="input 0 differs"):
        await run(client, [media], tmp_path / "job.db").collect()


# -- inputs and arguments -----------------------------------------------------------------


async def test_files_bytes_and_per_input_options(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Paths and (filename, bytes) go as uploads; per-input options win over the job's."""
    media = tmp_path / "voice.wav"
    media.write_bytes(b"RIFF" + bytes(64))
    inputs: list[Any] = [
        str(media),
        ("photo.png", b"\x89PNG" + bytes(8)),
        DetectInput(url=urls(1)[0], options={"visualize": True}),
    ]
    outcomes = await run(client, inputs, tmp_path / "job.db", visualize=False).collect()
    assert all(o.ok for o in outcomes)
    sent = [r for r in fake.requests if r.method == "POST"]
    names = sorted(name for r in sent for _, name, _ in r.files)
    assert names == ["photo.png", "voice.wav"]
    [by_url] = [r for r in sent if r.json is not None]
    assert by_url.json == {"url": urls(1)[0], "visualize": True}
    assert all(r.form.get("visualize") == "false" for r in sent if r.files)
    row = rows(tmp_path / "job.db")[0]
    assert (row["kind"], row["path"], row["size"]) == ("file", str(media), 68)


async def test_an_invalid_input_is_its_own_outcome_and_is_never_sent(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """A plain-http URL, a missing file or no intake at all fail alone, before any POST."""
    inputs: list[Any] = [
        "http://media.example/insecure.wav",
        str(tmp_path / "missing.wav"),
        DetectInput(),
        DetectInput(url=urls(1)[0], options={"frame_length": 9}),
        urls(1)[0],
    ]
    outcomes = await run(client, inputs, tmp_path / "job.db").collect()
    assert [type(o.error) for o in outcomes[:4]] == [InvalidRequestError] * 4
    assert outcomes[4].ok and posts(fake) == 1
    assert {row["state"] for i, row in rows(tmp_path / "job.db").items() if i < 4} == {"pending"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frame_length": 9},
        {"not_an_option": True},
        {"wait": "yes"},
        {"concurrency": 0},
        {"reconcile": "fast"},
        {"on_progress": "print"},
        {"timeout": -1},
        {"resubmit_in_doubt": 1},
    ],
)
async def test_bad_arguments_fail_at_once(
    fake: FakeDetectAPI, client: DetectClient, kwargs: dict[str, Any]
) -> None:
    """A mistake in the call raises before anything is sent (not one error per input)."""
    with pytest.raises(InvalidRequestError):
        client.detect_many(urls(2), **kwargs)
    assert fake.requests == []


@pytest.mark.parametrize("inputs", ["https://media.example/a.wav", 42, [object()]])
async def test_inputs_that_are_not_a_list_of_inputs_are_refused(
    client: DetectClient, inputs: Any
) -> None:
    """One string is not a list of inputs, and nor is a number or an unknown object."""
    with pytest.raises(InvalidRequestError):
        client.detect_many(inputs)


def test_plain_values_become_inputs(tmp_path: Path) -> None:
    """Strings with :// are URLs, other strings and paths are files, mappings are read."""
    assert DetectInput.of("https://a.example/x.wav") == DetectInput(url="https://a.example/x.wav")
    assert DetectInput.of("clip.wav") == DetectInput(file="clip.wav")
    assert DetectInput.of(tmp_path) == DetectInput(file=tmp_path)
    assert DetectInput.of(("a.wav", b"x")).file == ("a.wav", b"x")
    assert DetectInput.of({"url": "https://a.example/y.wav", "options": {"visualize": True}}) == (
        DetectInput(url="https://a.example/y.wav", options={"visualize": True})
    )
    with pytest.raises(InvalidRequestError, match="unknown input keys"):
        DetectInput.of({"uri": "https://a.example/y.wav"})


def test_an_input_as_json_holds_no_media_and_no_token() -> None:
    """to_dict names the input; it never writes bytes or a media token."""
    token = DetectInput(media_token="eyJ.secret.token", filename="private.mp4")
    assert "secret" not in json.dumps(token.to_dict())
    assert token.to_dict()["media_token"].startswith("sha256:")
    data = DetectInput(file=("a.wav", b"RIFF" * 1000)).to_dict()
    assert data == {"file": None, "filename": "a.wav"}
    assert "4000 bytes" in repr(DetectInput(file=b"RIFF" * 1000, filename="a.wav"))


# -- the journal file ---------------------------------------------------------------------


async def test_a_second_run_on_a_journal_in_use_is_refused(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Two live runs on one journal would send everything twice: the second is refused."""
    journal = tmp_path / "job.db"
    first = run(client, urls(2), journal)
    async with first:
        await anext(first)
        with pytest.raises(JournalError, match="in use by a running job"):
            await run(client, urls(2), journal).collect()
    assert len(await run(client, urls(2), journal).collect()) == 2


@pytest.mark.parametrize("content", [b"not a database at all", None])
async def test_a_file_that_is_not_a_journal_is_refused(
    client: DetectClient, tmp_path: Path, content: bytes | None
) -> None:
    """Another file or another SQLite database is never written to."""
    path = tmp_path / "other.db"
    if content is None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
    else:
        path.write_bytes(content)
    with pytest.raises(JournalError):
        await run(client, urls(1), path).collect()


def test_out_must_not_be_the_journal(client: DetectClient, tmp_path: Path) -> None:
    """out= pointing at the journal would destroy it."""
    with pytest.raises(InvalidRequestError):
        client.detect_many(urls(1), journal=tmp_path / "j.db", out=tmp_path / "j.db")


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "may_have_created"),
    [
        (InvalidRequestError("bad"), False),
        (ClientClosedError("closed"), False),
        (APIConnectionError("refused", request_sent=False), False),
        (APIConnectionError("reset", request_sent=True), True),
        (APITimeoutError("slow", method="POST", path="/detect"), True),
        (RateLimitError("429", status=429), False),
        (BadRequestError("400", status=400), False),
        (PaymentRequiredError("402", status=402), False),
        (errors.APIStatusError("408", status=408), True),
        (ServerError("500", status=500), True),
        (ServerError("502", status=502, path="/secure_uploads"), False),
        (ResponseValidationError("cut", path="$", truncated=True), True),
        (RuntimeError("our own bug"), True),
    ],
)
def test_which_failed_creates_may_have_created(error: Exception, may_have_created: bool) -> None:
    """Only failures that prove nothing was created let an input be sent again unchecked."""
    assert _may_have_created(error) is may_have_created


@pytest.mark.parametrize(
    "error",
    [
        InDoubtError("m", index=3, reason="r", candidates=["u1", "u2"], sent_at=1.5),
        JournalMismatchError("m", path="job.db", indices=[4, 7]),
        JournalError("m", path="job.db"),
    ],
)
def test_job_errors_pickle_and_round_trip_as_json(error: errors.ResembleError) -> None:
    """The new errors carry their fields through pickle and to_dict/from_dict."""
    for copy in (
        pickle.loads(pickle.dumps(error)),
        errors.ResembleError.from_dict(json.loads(json.dumps(error.to_dict()))),
    ):
        assert type(copy) is type(error)
        assert copy.__dict__ == error.__dict__


def test_the_new_errors_sit_in_the_tree() -> None:
    """In-doubt and journal errors are ResembleErrors; a mismatch is also a ValueError."""
    assert issubclass(InDoubtError, errors.ResembleError)
    assert issubclass(JournalMismatchError, JournalError)
    assert issubclass(JournalMismatchError, ValueError)
    for name in ("InDoubtError", "JournalError", "JournalMismatchError"):
        assert name in (errors.__doc__ or "")
