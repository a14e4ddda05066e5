"""Every verb end to end against the fake Detect API."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from resemble_detect_async import (
    APIConnectionError,
    BadRequestError,
    DetectClient,
    DetectionStatus,
    InvalidRequestError,
    MediaType,
    NotFoundError,
    PaymentRequiredError,
    ResponseValidationError,
    ServerError,
)
from resemble_detect_async._files import MB
from resemble_detect_async.testing import FakeDetectAPI, Fault

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32)


def posts(fake: FakeDetectAPI, path: str = "/detect") -> int:
    return len([r for r in fake.requests if r.method == "POST" and r.path == path])


async def test_create_by_url_sends_json_and_omits_unset_options(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """URL intake is JSON; only the options given are sent, with their JSON types."""
    det = await client.create_detection(
        url="https://example.com/clip.mp4", intelligence=True, frame_length=3, modality="video"
    )
    assert det.uuid in fake.detections
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.json == {
        "url": "https://example.com/clip.mp4",
        "intelligence": True,
        "frame_length": 3,
        "modality": "video",
    }
    assert request.headers["Authorization"] == "Bearer ***"


async def test_async_create_has_no_status_yet(client: DetectClient) -> None:
    """The documented async create answer has no `status`: the model says None, not a guess."""
    det = await client.create_detection(url="https://example.com/a.wav")
    assert det.status is None and not det.is_terminal and det.media_type is MediaType.AUDIO


@pytest.mark.parametrize("kind", ["path", "fileobj", "bytes", "tuple"])
async def test_create_by_file_in_every_form(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path, kind: str
) -> None:
    """A path, an open binary file, bytes with filename, or (filename, bytes) all upload."""
    path = tmp_path / "voice.wav"
    path.write_bytes(WAV)
    if kind == "path":
        det = await client.create_detection(file=path, visualize=True)
    elif kind == "fileobj":
        with path.open("rb") as handle:
            det = await client.create_detection(file=handle, visualize=True)
    elif kind == "bytes":
        det = await client.create_detection(file=WAV, filename="voice.wav", visualize=True)
    else:
        det = await client.create_detection(file=("voice.wav", WAV), visualize=True)
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.files == (("file", "voice.wav", len(WAV)),)
    assert request.form == {"visualize": "true"}
    assert fake.detections[det.uuid].filename == "voice.wav"


async def test_create_with_media_token_from_secure_upload(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """upload_media returns a token that create_detection accepts as media_token."""
    token = await client.upload_media(WAV, filename="private.wav")
    det = await client.create_and_wait(media_token=token)
    assert det.is_completed
    assert posts(fake, "/secure_uploads") == 1


async def test_files_over_150_mb_go_through_secure_upload(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """A >150 MB file is uploaded to /secure_uploads and submitted by token, never as multipart."""
    big = tmp_path / "long.wav"
    with big.open("wb") as handle:  # sparse: no real disk use
        handle.truncate(151 * MB)
    det = await client.create_detection(file=big)
    assert det.uuid in fake.detections
    (upload,) = [r for r in fake.requests if r.path == "/secure_uploads"]
    assert upload.files == (("file", "long.wav", 151 * MB),)
    (create,) = [r for r in fake.requests if r.path == "/detect" and r.method == "POST"]
    assert create.json is not None and "media_token" in create.json and not create.files


async def test_wait_true_returns_the_finished_result(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """wait=True sends `Prefer: wait` and gets the terminal item in the same response."""
    det = await client.create_detection(url="https://example.com/a.wav", wait=True)
    assert det.status is DetectionStatus.COMPLETED and det.metrics is not None
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.headers.get("Prefer") == "wait"


async def test_get_with_experts_returns_a_list(fake: FakeDetectAPI, client: DetectClient) -> None:
    """experts=True turns intelligence into a tuple of results (API notes §4.1)."""
    uuid = fake.add_detection(polls_to_complete=0, intelligence=True)
    plain = await client.get_detection(uuid)
    experts = await client.get_detection(uuid, experts=True)
    assert plain.intelligence is not None and not isinstance(plain.intelligence, tuple)
    assert isinstance(experts.intelligence, tuple)
    assert len(experts.intelligence_results) == len(plain.intelligence_results) == 1


async def test_delete_then_not_found(fake: FakeDetectAPI, client: DetectClient) -> None:
    """A deleted detection is gone: the next GET raises NotFoundError."""
    uuid = fake.add_detection(polls_to_complete=0)
    await client.delete_detection(uuid)
    with pytest.raises(NotFoundError, match="Detect not found"):
        await client.get_detection(uuid)
    with pytest.raises(NotFoundError):
        await client.delete_detection(uuid)


async def test_list_every_detection_across_pages(fake: FakeDetectAPI, client: DetectClient) -> None:
    """The async pager walks all pages; awaiting gives one page with its counts."""
    uuids = {fake.add_detection(polls_to_complete=0) for _ in range(25)}
    listed = [d.uuid async for d in client.list_detections(page_size=10)]
    assert len(listed) == 25 and set(listed) == uuids
    page = await client.list_detections(page=3, page_size=10)
    assert (page.page, page.num_pages, page.total_count, len(page.items)) == (3, 3, 25, 5)
    pages = [p.page async for p in client.list_detections(page_size=10).pages()]
    assert pages == [1, 2, 3]


async def test_create_batch_files_and_zip(fake: FakeDetectAPI, client: DetectClient) -> None:
    """Batches go as repeated files[] parts, or as one zip; both give a Batch with children."""
    batch = await client.create_batch([("a.wav", WAV), ("b.wav", WAV)], visualize=False)
    assert batch.total_files == 2 and len(batch.detect_uuids) == 2
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x/one.wav", WAV)
        archive.writestr("two.mp3", WAV)
        archive.writestr("notes.txt", b"skip me")
    zipped = await client.create_batch(zip_file=("media.zip", buffer.getvalue()))
    assert zipped.total_files == 2
    as_list = await client.create_batch([("media.zip", buffer.getvalue())])
    assert as_list.total_files == 2
    parts = [r.files for r in fake.requests if r.path == "/detect/batch"]
    assert [name for name, _, _ in parts[0]] == ["files[]", "files[]"]
    assert [name for name, _, _ in parts[1]] == ["file"]


async def test_batch_rules_are_checked_before_sending(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Too many files, both intakes, or a batch-only rename mistake never reach the API."""
    with pytest.raises(InvalidRequestError, match="at most 50"):
        await client.create_batch([(f"{i}.wav", WAV) for i in range(51)])
    with pytest.raises(InvalidRequestError, match="both"):
        await client.create_batch([("a.wav", WAV)], zip_file=("b.zip", b"PK"))
    with pytest.raises(InvalidRequestError, match="audio_source_tracing"):
        await client.create_batch([("a.wav", WAV)], audio_source_tracing_enabled=True)  # type: ignore[call-arg]
    with pytest.raises(InvalidRequestError, match="list of files"):
        await client.create_batch("a.wav")
    assert posts(fake, "/detect/batch") == 0


async def test_batch_sends_the_batch_name_for_source_tracing(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """audio_source_tracing travels as audio_source_tracing_enabled on batches (API notes §7)."""
    await client.create_batch([("a.wav", WAV)], audio_source_tracing=True)
    (request,) = [r for r in fake.requests if r.path == "/detect/batch"]
    assert request.form == {"audio_source_tracing_enabled": "true"}


async def test_server_side_400_is_typed_with_field_errors(client: DetectClient) -> None:
    """A 400 from the API (bad extension here) is a BadRequestError with its message."""
    with pytest.raises(BadRequestError) as info:
        await client.create_detection(file=("notes.txt", b"hello"))
    assert info.value.status == 400 and info.value.message


async def test_create_500_after_processing_does_not_create_twice(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A 500 after the server created the detection is raised; no second detection appears."""
    fake.inject(Fault.error(500, method="POST", path="/detect", after_handler=True))
    with pytest.raises(ServerError):
        await client.create_detection(url="https://example.com/a.wav")
    assert len(fake.detections) == 1 and posts(fake) == 1


async def test_create_dropped_after_processing_is_not_retried(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A connection dropped after the server processed the POST raises, without a retry."""
    fake.inject(Fault.drop(method="POST", path="/detect", after_handler=True))
    with pytest.raises(APIConnectionError):
        await client.create_detection(url="https://example.com/a.wav")
    assert len(fake.detections) == 1 and posts(fake) == 1


async def test_create_429_is_retried_and_creates_once(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A 429 on POST /detect was refused before creating anything: it is sent again, once."""
    fake.inject(Fault.rate_limited(retry_after=3, method="POST", path="/detect"))
    created = await client.create_detection(url="https://example.com/a.wav")
    assert posts(fake) == 2 and len(fake.detections) == 1
    assert created.uuid in fake.detections


async def test_402_carries_cost_details(fake: FakeDetectAPI, client: DetectClient) -> None:
    """A 402 surfaces as PaymentRequiredError with the API's message."""
    fake.inject(Fault.error(402, message="Insufficient balance", method="POST"))
    with pytest.raises(PaymentRequiredError, match="Insufficient balance"):
        await client.create_detection(url="https://example.com/a.wav")


async def test_truncated_json_on_get_is_retried(fake: FakeDetectAPI, client: DetectClient) -> None:
    """A truncated JSON body on GET is retried; if it persists, ResponseValidationError."""
    uuid = fake.add_detection()
    fake.inject(Fault.malformed_json(times=1, path=f"/detect/{uuid}"))
    assert (await client.get_detection(uuid)).uuid == uuid
    fake.inject(Fault.malformed_json(times=None, path=f"/detect/{uuid}"))
    with pytest.raises(ResponseValidationError) as info:
        await client.get_detection(uuid)
    assert info.value.truncated and isinstance(info.value.body, str)


async def test_truncated_json_on_create_is_not_retried(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """A truncated answer to POST /detect is raised, never resubmitted (it may have billed)."""
    fake.inject(Fault.malformed_json(method="POST", path="/detect", after_handler=True))
    with pytest.raises(ResponseValidationError):
        await client.create_detection(url="https://example.com/a.wav")
    assert posts(fake) == 1


async def test_html_502_on_get_is_retried_then_succeeds(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """An nginx 502 page on GET is retried by the retry layer and the call succeeds."""
    uuid = fake.add_detection(polls_to_complete=0)
    fake.inject(Fault.html(502, times=2, path=f"/detect/{uuid}"))
    det = await client.get_detection(uuid)
    assert det.is_completed


async def test_timeout_on_a_hanging_server(fake: FakeDetectAPI) -> None:
    """A server that never answers gives APITimeoutError once the read timeout passes."""
    from resemble_detect_async import APITimeoutError, RetryPolicy, Timeouts
    from resemble_detect_async.testing import fake_client

    uuid = fake.add_detection()
    fake.inject(Fault.hang(times=None, path=f"/detect/{uuid}"))
    async with fake_client(
        fake, timeouts=Timeouts(read=0.02), retry=RetryPolicy.no_wait(attempts=2)
    ) as c:
        with pytest.raises(APITimeoutError):
            await c.get_detection(uuid)


async def test_intake_is_checked_before_a_large_upload(
    fake: FakeDetectAPI, client: DetectClient, tmp_path: Path
) -> None:
    """Two intakes with a >150 MB file fail before anything (even the secure upload) is sent."""
    big = tmp_path / "long.wav"
    with big.open("wb") as handle:
        handle.truncate(151 * MB)
    with pytest.raises(InvalidRequestError, match="got url, file"):
        await client.create_detection(url="https://example.com/a.wav", file=big)
    with pytest.raises(InvalidRequestError, match="200 MB"):
        with big.open("r+b") as handle:
            handle.truncate(201 * MB)
        await client.create_detection(file=big, detect_watermark=True)
    assert fake.requests == []


async def test_url_must_be_https(fake: FakeDetectAPI, client: DetectClient) -> None:
    """The API fetches `url` itself and documents it as public HTTPS (API notes §3.1)."""
    with pytest.raises(InvalidRequestError, match="https"):
        await client.create_detection(url="http://example.com/a.wav")
    assert fake.requests == []


async def test_experts_with_wait_for_intelligence(
    fake: FakeDetectAPI, client: DetectClient
) -> None:
    """Waiting for intelligence with experts=True still waits, then returns the experts list."""
    uuid = fake.add_detection(polls_to_complete=0, intelligence=True, intelligence_polls=2)
    (outcome,) = [
        o
        async for o in client.iter_results(
            [uuid], wait=True, experts=True, wait_for_intelligence=True
        )
    ]
    detection = outcome.result()
    assert isinstance(detection.intelligence, tuple) and len(detection.intelligence) == 1
    assert fake.detections[uuid].intelligence_status == "completed"
