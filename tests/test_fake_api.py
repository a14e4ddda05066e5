"""Tests of the fake Detect API server on its own, driven by a plain aiohttp.ClientSession."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import zipfile
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from resemble_detect_async.testing import OMIT, FakeClock, FakeDetectAPI, Fault, outcome_for_name
from resemble_detect_async.testing.__main__ import build_parser, serve

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


# --------------------------------------------------------------------------------------------
# fixtures & helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeDetectAPI]:
    async with FakeDetectAPI() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json()


def form(files: Sequence[tuple[str, str, bytes]] = (), **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    for field, filename, content in files:
        data.add_field(field, content, filename=filename, content_type="application/octet-stream")
    for name, value in fields.items():
        data.add_field(name, value)
    return data


def make_zip(entries: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for d in dirs:
            zf.writestr(zipfile.ZipInfo(d), b"")
        for name, content in entries.items():
            zf.writestr(name, content)
    return buf.getvalue()


async def create_url(
    http: aiohttp.ClientSession, fake: FakeDetectAPI, url: str, **options: Any
) -> dict[str, Any]:
    status, body = await call(http, "POST", f"{fake.base_url}/detect", json={"url": url, **options})
    assert status == 200, body
    item: dict[str, Any] = body["item"]
    return item


async def get_item(
    http: aiohttp.ClientSession, fake: FakeDetectAPI, uuid: str, **params: str
) -> dict[str, Any]:
    status, body = await call(http, "GET", f"{fake.base_url}/detect/{uuid}", params=params)
    assert status == 200, body
    item: dict[str, Any] = body["item"]
    return item


async def secure_upload(
    http: aiohttp.ClientSession, fake: FakeDetectAPI, filename: str, content: bytes = b"x" * 10
) -> str:
    status, body = await call(
        http, "POST", f"{fake.base_url}/secure_uploads", data=form([("file", filename, content)])
    )
    assert status == 200, body
    token: str = body["token"]
    return token


async def wait_until_in_flight(fake: FakeDetectAPI, n: int) -> None:
    for _ in range(200):
        if fake.in_flight == n:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"in_flight stayed {fake.in_flight}, expected {n}")


# --------------------------------------------------------------------------------------------
# auth, envelope, routing
# --------------------------------------------------------------------------------------------


async def test_missing_api_key_is_401(fake: FakeDetectAPI) -> None:
    """A request without Authorization gets 401 with the JSON error envelope."""
    async with (
        aiohttp.ClientSession() as anon,
        anon.get(f"{fake.base_url}/detect", params={"page": "1"}) as resp,
    ):
        assert resp.status == 401
        assert await resp.json() == {"success": False, "message": "Invalid or missing API key"}


async def test_wrong_api_key_is_401(fake: FakeDetectAPI) -> None:
    """A Bearer token that is not the configured key gets 401."""
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer nope"}) as bad:
        status, body = await call(bad, "GET", f"{fake.base_url}/detect", params={"page": "1"})
    assert status == 401
    assert body["success"] is False


async def test_legacy_token_header_is_accepted(fake: FakeDetectAPI) -> None:
    """The legacy 'Token token=<key>' header (official Python SDK) is accepted."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Token token={KEY}"}) as legacy:
        status, body = await call(legacy, "GET", f"{fake.base_url}/detect", params={"page": "1"})
    assert status == 200
    assert body["success"] is True


async def test_every_response_has_a_request_id(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """Success, 404, 401 and fault responses all carry a distinct X-Request-Id matching the log."""
    fake.inject(Fault.error(500, path="/detect", method="POST"))
    ids = []
    async with aiohttp.ClientSession() as anon:
        for session, method, path in [
            (http, "GET", "/detect?page=1"),
            (http, "GET", "/detect/nope"),
            (anon, "GET", "/detect?page=1"),
            (http, "POST", "/detect"),
        ]:
            async with session.request(method, fake.base_url + path) as resp:
                ids.append(resp.headers["X-Request-Id"])
    assert len(set(ids)) == 4
    assert [r.request_id for r in fake.requests] == ids


async def test_unknown_route_and_method_are_json_errors(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """Unknown paths give a JSON 404 and wrong methods a JSON 405."""
    status, body = await call(http, "GET", f"{fake.base_url}/nothing-here")
    assert (status, body["success"]) == (404, False)
    status, body = await call(http, "PUT", f"{fake.base_url}/secure_uploads")
    assert (status, body["success"]) == (405, False)


async def test_base_url_requires_a_started_server() -> None:
    """base_url raises before start() and after close()."""
    fake = FakeDetectAPI()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    url = await fake.start()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v2", url)
    assert fake.base_url == url
    await fake.close()
    with pytest.raises(RuntimeError):
        _ = fake.base_url


async def test_restart_keeps_state(http: aiohttp.ClientSession) -> None:
    """A closed fake can be started again (new port or same) and keeps its detections."""
    fake = FakeDetectAPI()
    uuid = fake.add_detection(polls_to_complete=0)
    first_app = fake.app
    await fake.start()
    await fake.close()
    await fake.start()
    try:
        assert fake.app is not first_app
        assert (await get_item(http, fake, uuid))["status"] == "completed"
    finally:
        await fake.close()


# --------------------------------------------------------------------------------------------
# POST /detect
# --------------------------------------------------------------------------------------------


async def test_create_from_url_returns_async_item(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """JSON url intake returns 200 with the async item: no status, metrics {}, intelligence null."""
    item = await create_url(http, fake, "https://example.com/media/clip.mp4", intelligence=True)
    assert "status" not in item
    assert item["metrics"] == {}
    assert item["intelligence"] is None
    assert item["media_type"] == "video"
    assert item["filename"] == "clip.mp4"
    assert item["url"] == item["audio_url"] == "https://example.com/media/clip.mp4"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", item["created_at"])
    assert item["updated_at"].endswith("Z")
    det = fake.detections[item["uuid"]]
    assert (det.status, det.source, det.options) == ("processing", "url", {"intelligence": True})


async def test_create_response_status_knob(http: aiohttp.ClientSession) -> None:
    """create_response_status=True adds status 'processing' to the async create item."""
    async with FakeDetectAPI(create_response_status=True) as fake:
        item = await create_url(http, fake, "https://example.com/a.wav")
    assert item["status"] == "processing"


async def test_url_without_known_extension_is_audio(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """A URL whose path has no media extension is audio; URL-only .wmv is accepted as video."""
    item = await create_url(http, fake, "https://example.com/stream?id=3")
    assert item["media_type"] == "audio"
    assert (await create_url(http, fake, "https://e.com/old.WMV"))["media_type"] == "video"


async def test_create_from_issued_media_token(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """A media_token issued by /secure_uploads is accepted and names the detection's media."""
    token = await secure_upload(http, fake, "private.png")
    status, body = await call(http, "POST", f"{fake.base_url}/detect", json={"media_token": token})
    assert status == 200
    assert body["item"]["media_type"] == "image"
    assert body["item"]["filename"] == "private.png"
    assert fake.detections[body["item"]["uuid"]].source == "media_token"


async def test_bogus_media_token_is_400(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """A media_token the fake never issued is rejected with 400."""
    status, body = await call(
        http, "POST", f"{fake.base_url}/detect", json={"media_token": "eyJhbGciOi.bogus.sig"}
    )
    assert status == 400
    assert "media_token" in body["errors"]
    assert not fake.detections


async def test_expired_media_token_is_400(http: aiohttp.ClientSession) -> None:
    """A media_token older than one hour on the fake's clock is rejected with 400."""
    now = [1000.0]
    async with FakeDetectAPI(clock=lambda: now[0]) as fake:
        token = await secure_upload(http, fake, "a.wav")
        now[0] += 3599
        status, _ = await call(http, "POST", f"{fake.base_url}/detect", json={"media_token": token})
        assert status == 200
        now[0] += 1
        status, body = await call(
            http, "POST", f"{fake.base_url}/detect", json={"media_token": token}
        )
    assert status == 400
    assert "expired" in body["errors"]["media_token"][0]


async def test_create_from_multipart_file_with_string_options(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """A direct multipart upload is accepted and string options ("true", "2") are parsed."""
    data = form(
        [("file", "voice.flac", b"fLaC" + b"\0" * 100)],
        intelligence="true",
        frame_length="3",
        visualize="false",
        start_region="1.5",
    )
    status, body = await call(http, "POST", f"{fake.base_url}/detect", data=data)
    assert status == 200, body
    det = fake.detections[body["item"]["uuid"]]
    assert det.source == "file"
    assert det.media_type == "audio"
    assert det.filename == "voice.flac"
    assert det.options == {
        "intelligence": True,
        "frame_length": 3,
        "visualize": False,
        "start_region": 1.5,
    }


@pytest.mark.parametrize(
    "kind",
    ["nothing", "url_and_token", "file_and_url", "two_files", "empty_url"],
)
async def test_exactly_one_media_source_is_required(
    fake: FakeDetectAPI, http: aiohttp.ClientSession, kind: str
) -> None:
    """Zero or several of file/url/media_token (or two files) is a 400 (§3.1)."""
    token = await secure_upload(http, fake, "a.wav")
    requests: dict[str, dict[str, Any]] = {
        "nothing": {"json": {"intelligence": True}},
        "url_and_token": {"json": {"url": "https://e.com/a.wav", "media_token": token}},
        "file_and_url": {"data": form([("file", "a.wav", b"RIFF")], url="https://e.com/a.wav")},
        "two_files": {"data": form([("file", "a.wav", b"RIFF"), ("file", "b.wav", b"RIFF")])},
        "empty_url": {"json": {"url": ""}},
    }
    status, body = await call(http, "POST", f"{fake.base_url}/detect", **requests[kind])
    assert status == 400
    assert "Exactly one of file, url or media_token" in body["message"]
    assert not fake.detections


async def test_oversize_direct_upload_points_to_secure_uploads(
    http: aiohttp.ClientSession,
) -> None:
    """A direct upload over max_direct_upload_bytes is a 400 that points to Secure Uploads."""
    async with FakeDetectAPI(max_direct_upload_bytes=1024) as fake:
        ok, _ = await call(
            http, "POST", f"{fake.base_url}/detect", data=form([("file", "a.wav", b"x" * 1024)])
        )
        status, body = await call(
            http, "POST", f"{fake.base_url}/detect", data=form([("file", "a.wav", b"x" * 1025)])
        )
    assert ok == 200
    assert status == 400
    assert "/secure_uploads" in body["message"]
    assert "media_token" in body["message"]


@pytest.mark.parametrize("filename", ["notes.txt", "clip.wmv", "noextension", ""])
async def test_direct_upload_extension_must_be_on_allow_list(
    fake: FakeDetectAPI, http: aiohttp.ClientSession, filename: str
) -> None:
    """Direct uploads whose extension is not on the §14 allow-list are rejected with 400."""
    data = aiohttp.FormData()
    if filename:
        data.add_field("file", b"data", filename=filename)
    else:  # a file part whose name carries no extension
        data.add_field("file", io.BytesIO(b"data"))
    status, body = await call(http, "POST", f"{fake.base_url}/detect", data=data)
    assert status == 400
    assert "file" in body["errors"]


async def test_empty_direct_upload_is_400(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """A zero-byte direct upload is rejected with 400."""
    status, _ = await call(
        http, "POST", f"{fake.base_url}/detect", data=form([("file", "a.wav", b"")])
    )
    assert status == 400


@pytest.mark.parametrize("url", ["ftp://example.com/a.wav", "example.com/a.wav", 42])
async def test_url_must_be_http(fake: FakeDetectAPI, http: aiohttp.ClientSession, url: Any) -> None:
    """The url intake must be an absolute http(s) URL."""
    status, body = await call(http, "POST", f"{fake.base_url}/detect", json={"url": url})
    assert status == 400
    assert "url" in body["errors"]


async def test_create_rejects_other_content_types(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """POST /detect with a non-JSON, non-multipart body (or invalid JSON) is a 400."""
    status, _ = await call(http, "POST", f"{fake.base_url}/detect", data="url=https://e.com/a.wav")
    assert status == 400
    status, body = await call(
        http,
        "POST",
        f"{fake.base_url}/detect",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert "JSON" in body["message"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"frame_length": 0}, "frame_length"),
        ({"frame_length": 5}, "frame_length"),
        ({"frame_length": "two"}, "frame_length"),
        ({"frame_length": True}, "frame_length"),
        ({"modality": "both"}, "modality"),
        ({"model_types": "face"}, "model_types"),
        ({"intelligence": "yes"}, "intelligence"),
        ({"detect_watermark": 1}, "detect_watermark"),
        ({"start_region": "soon"}, "start_region"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"signal": True, "zero_retention_mode": True}, "signal"),
        ({"signal": "true", "privacy_mode": "true"}, "signal"),
        ({"max_video_fps": 0}, "max_video_fps"),
        ({"start_region": "nan"}, "start_region"),
        ({"end_region": "-1"}, "end_region"),
        ({"pipeline": 5}, "pipeline"),
        ({"callback_url": "https://exa mple.com/cb"}, "callback_url"),
        ({"privacy_mode": "yes"}, "privacy_mode"),
    ],
)
async def test_invalid_options_are_400(
    fake: FakeDetectAPI, http: aiohttp.ClientSession, options: dict[str, Any], field: str
) -> None:
    """Options are validated per §3.2 and reported under errors[field]."""
    status, body = await call(
        http, "POST", f"{fake.base_url}/detect", json={"url": "https://e.com/a.wav", **options}
    )
    assert status == 400
    assert body["success"] is False
    assert field in body["errors"]
    assert not fake.detections


async def test_valid_options_are_normalised(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """JSON bools, "true"/"false" strings, enums and unknown keys are accepted and recorded."""
    item = await create_url(
        http,
        fake,
        "https://e.com/a.mp4",
        visualize="TRUE",
        face_only=False,
        modality="video",
        model_types="talking_head",
        frame_length=4,
        max_video_fps=30,
        callback_url="https://hooks.example.com/x",
        future_flag={"x": 1},
        pipeline=None,
    )
    assert fake.detections[item["uuid"]].options == {
        "visualize": True,
        "face_only": False,
        "modality": "video",
        "model_types": "talking_head",
        "frame_length": 4,
        "max_video_fps": 30.0,
        "callback_url": "https://hooks.example.com/x",
        "future_flag": {"x": 1},
    }


async def test_rules_the_api_does_not_enforce_are_accepted(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """Rules that only guard the SDK against a no-op (infer_from_intelligence alone, end before
    start, wait_for_intelligence without a callback) are not 400s from the fake."""
    item = await create_url(
        http,
        fake,
        "https://e.com/a.wav",
        infer_from_intelligence=True,
        start_region=5,
        end_region=2,
        wait_for_intelligence=True,
    )
    assert fake.detections[item["uuid"]].options == {
        "infer_from_intelligence": True,
        "start_region": 5.0,
        "end_region": 2.0,
        "wait_for_intelligence": True,
    }


async def test_prefer_wait_returns_terminal_item(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """With 'Prefer: wait' the create response is the finished item, same shape as GET."""
    status, body = await call(
        http,
        "POST",
        f"{fake.base_url}/detect",
        json={"url": "https://e.com/a.wav"},
        headers={"Prefer": "wait"},
    )
    assert status == 200
    item = body["item"]
    assert item["status"] == "completed"
    assert item["metrics"]["label"] in ("fake", "real")
    assert all(isinstance(s, str) for s in item["metrics"]["score"])
    assert await get_item(http, fake, item["uuid"]) == item


async def test_zero_retention_redacts_media(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """Zero retention / privacy_mode: null URLs, redacted filename, file_deleted_at when done."""
    for flag in ("zero_retention_mode", "privacy_mode"):
        created = await create_url(http, fake, "https://e.com/secret.mp3", **{flag: True})
        assert created["url"] is None
        assert created["audio_url"] is None
        assert re.fullmatch(r"redacted_[0-9a-f]{24}\.mp3", created["filename"])
        assert created["zero_retention_mode"] is True
        processing = await get_item(http, fake, created["uuid"])
        assert processing["file_deleted_at"] is None
        done = await get_item(http, fake, created["uuid"])
        assert done["status"] == "completed"
        assert done["url"] is None
        assert done["filename"] == created["filename"]
        assert done["file_deleted_at"].endswith("Z")


# --------------------------------------------------------------------------------------------
# GET /detect/{uuid}: progression and shapes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("polls", [0, 1, 2])
async def test_poll_progression(http: aiohttp.ClientSession, polls: int) -> None:
    """A detection answers 'processing' to exactly polls_to_complete GETs, then is terminal."""
    async with FakeDetectAPI(polls_to_complete=polls) as fake:
        uuid = (await create_url(http, fake, "https://e.com/a.wav"))["uuid"]
        statuses = [(await get_item(http, fake, uuid))["status"] for _ in range(polls + 2)]
    assert statuses == ["processing"] * polls + ["completed", "completed"]
    assert fake.detections[uuid].polls == polls


async def test_processing_item_shape(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """A processing GET has status 'processing', metrics {} and no result blocks."""
    uuid = (await create_url(http, fake, "https://e.com/a.wav"))["uuid"]
    item = await get_item(http, fake, uuid)
    assert item["status"] == "processing"
    assert item["metrics"] == {}
    assert "image_metrics" not in item
    assert "video_metrics" not in item
    assert item["error_message"] is None


async def test_seconds_to_complete_uses_the_clock(http: aiohttp.ClientSession) -> None:
    """With seconds_to_complete, a detection turns terminal once that much clock time passed."""
    now = [0.0]
    async with FakeDetectAPI(seconds_to_complete=5.0, clock=lambda: now[0]) as fake:
        uuid = (await create_url(http, fake, "https://e.com/a.wav"))["uuid"]
        assert (await get_item(http, fake, uuid))["status"] == "processing"
        assert (await get_item(http, fake, uuid))["status"] == "processing"
        now[0] = 4.99
        assert (await get_item(http, fake, uuid))["status"] == "processing"
        now[0] = 5.0
        item = await get_item(http, fake, uuid)
    assert item["status"] == "completed"
    assert fake.detections[uuid].completed_at == 5.0


async def test_time_passes_for_list_without_polling(http: aiohttp.ClientSession) -> None:
    """A time-based detection shows as completed in the list once its time has passed."""
    now = [0.0]
    async with FakeDetectAPI(seconds_to_complete=2.0, clock=lambda: now[0]) as fake:
        await create_url(http, fake, "https://e.com/a.wav")
        now[0] = 2.5
        _, body = await call(http, "GET", f"{fake.base_url}/detect", params={"page": "1"})
    assert body["items"][0]["status"] == "completed"


async def test_per_detection_schedule_overrides(http: aiohttp.ClientSession) -> None:
    """add_detection's polls_to_complete / seconds_to_complete override the server defaults."""
    now = [0.0]
    async with FakeDetectAPI(polls_to_complete=5, clock=lambda: now[0]) as fake:
        quick = fake.add_detection(polls_to_complete=0)
        timed = fake.add_detection(seconds_to_complete=1.0)
        assert (await get_item(http, fake, quick))["status"] == "completed"
        assert (await get_item(http, fake, timed))["status"] == "processing"
        now[0] = 1.0
        assert (await get_item(http, fake, timed))["status"] == "completed"


async def test_failed_outcome_from_name(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """Media whose name contains 'fail' ends 'failed' with an error_message and no metrics."""
    uuid = (await create_url(http, fake, "https://e.com/will-FAIL.wav"))["uuid"]
    await get_item(http, fake, uuid)
    item = await get_item(http, fake, uuid)
    assert item["status"] == "failed"
    assert item["error_message"]
    assert "metrics" not in item
    assert item["duration"] is None


async def test_verdict_is_deterministic_from_the_name(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """The label/score come from a stable hash of the name: fake 0.6-0.99, real 0.01-0.4."""
    labels = set()
    for i in range(12):
        name = f"clip-{i}.wav"
        outcome, label, score = outcome_for_name(name)
        assert outcome == "completed"
        assert outcome_for_name(name) == (outcome, label, score)
        assert 0.6 <= score <= 0.99 if label == "fake" else 0.01 <= score <= 0.4
        labels.add(label)
        data = form([("file", name, b"RIFF")])
        _, body = await call(
            http, "POST", f"{fake.base_url}/detect", data=data, headers={"Prefer": "wait"}
        )
        metrics = body["item"]["metrics"]
        assert metrics["label"] == label
        assert float(metrics["aggregated_score"]) == score
    assert labels == {"fake", "real"}
    assert outcome_for_name("x/fail.wav")[0] == "failed"


async def test_audio_terminal_shape(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """Completed audio: metrics with numeric strings, duration, flags, timestamps (§4.2)."""
    uuid = fake.add_detection(polls_to_complete=0, label="fake", score=0.9)
    item = await get_item(http, fake, uuid)
    metrics = item["metrics"]
    assert metrics["label"] == "fake"
    assert metrics["aggregated_score"] == "0.90"
    assert isinstance(metrics["consistency"], str)
    assert metrics["score"]
    assert all(isinstance(s, str) and 0 < float(s) < 1 for s in metrics["score"])
    assert isinstance(item["duration"], float)
    for key in ("url", "audio_url", "filename", "zero_retention_mode", "file_deleted_at"):
        assert key in item
    for key in ("visualize", "audio_source_tracing_enabled", "use_ood_detector", "extra_params"):
        assert key in item
    assert "modality" not in item
    assert item["created_at"].endswith("Z")


async def test_audio_source_tracing_only_for_fake_audio(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """audio_source_tracing is reported (label resemble_ai) only for audio labelled fake."""
    fake_one = fake.add_detection(
        polls_to_complete=0, label="fake", options={"audio_source_tracing": True}
    )
    real_one = fake.add_detection(
        polls_to_complete=0, label="real", score=0.1, options={"audio_source_tracing": True}
    )
    assert (await get_item(http, fake, fake_one))["audio_source_tracing"] == {
        "label": "resemble_ai",
        "error_message": None,
    }
    assert (await get_item(http, fake, real_one))["audio_source_tracing"] is None


async def test_video_terminal_shape(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """Completed video: audio-track metrics plus a VideoResult→ImageResult→Segment tree."""
    uuid = fake.add_detection(media_type="video", polls_to_complete=0, options={"face_only": True})
    item = await get_item(http, fake, uuid)
    assert item["modality"] == "all"
    assert item["face_only"] is True
    assert item["metrics"]["label"] == "fake"
    vm = item["video_metrics"]
    assert vm["label"] == "Fake"
    assert isinstance(vm["score"], float)
    video = vm["children"][0]
    assert video["type"] == "VideoResult"
    frame = video["children"][0]
    assert frame["type"] == "ImageResult"
    assert isinstance(frame["timestamp"], float)
    segment = frame["children"][0]
    assert segment["type"] == "Segment"
    for node in (video, frame, segment):
        assert {"conclusion", "score", "certainty", "certainty (%)"} <= node.keys()
        assert isinstance(node["certainty (%)"], str)


@pytest.mark.parametrize(
    ("modality", "has_audio", "has_video"), [("audio", True, False), ("video", False, True)]
)
async def test_video_single_modality_omits_skipped_block(
    fake: FakeDetectAPI,
    http: aiohttp.ClientSession,
    modality: str,
    has_audio: bool,
    has_video: bool,
) -> None:
    """modality=audio drops video_metrics, modality=video drops metrics; face_only follows."""
    created = await create_url(http, fake, "https://e.com/v.mov", modality=modality, face_only=True)
    await get_item(http, fake, created["uuid"])
    item = await get_item(http, fake, created["uuid"])
    assert item["status"] == "completed"
    assert ("metrics" in item) is has_audio
    assert ("video_metrics" in item) is has_video
    assert item["modality"] == modality
    assert item["face_only"] is (modality != "audio")


async def test_image_terminal_shape(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """Completed image: image_metrics FinalResult with capitalised label, number score, ifl."""
    uuid = fake.add_detection(media_type="image", polls_to_complete=0, label="real", score=0.2)
    item = await get_item(http, fake, uuid)
    im = item["image_metrics"]
    assert im["type"] == "FinalResult"
    assert im["label"] == "Real"
    assert im["score"] == 0.2
    assert im["children"] == []
    assert set(im["ifl"]) == {"score", "heatmap"}
    assert "metrics" not in item


async def test_unknown_detection_is_404(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """GET of an unknown uuid is 404 {"success": false, "message": "Detect not found"}."""
    status, body = await call(http, "GET", f"{fake.base_url}/detect/does-not-exist")
    assert status == 404
    assert body == {"success": False, "message": "Detect not found"}


async def test_intelligence_can_lag_behind_the_detect(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """intelligence_polls keeps intelligence 'processing' for N GETs of a finished detect."""
    uuid = fake.add_detection(polls_to_complete=0, intelligence=True, intelligence_polls=2)
    first = await get_item(http, fake, uuid)
    second = await get_item(http, fake, uuid)
    third = await get_item(http, fake, uuid)
    assert [i["status"] for i in (first, second, third)] == ["completed"] * 3
    assert [i["intelligence"]["status"] for i in (first, second, third)] == [
        "processing",
        "processing",
        "completed",
    ]
    intel = third["intelligence"]
    assert isinstance(intel["description"], str)
    assert intel["detect_uuid"] == uuid
    assert {"uuid", "created_at", "error_message"} <= intel.keys()


async def test_experts_true_returns_an_array(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """experts=true renders intelligence as an array of completed results (possibly empty)."""
    uuid = fake.add_detection(polls_to_complete=1, intelligence=True)
    assert (await get_item(http, fake, uuid, experts="true"))["intelligence"] == []
    done = await get_item(http, fake, uuid, experts="true")
    assert isinstance(done["intelligence"], list)
    assert [r["status"] for r in done["intelligence"]] == ["completed"]
    plain = fake.add_detection(polls_to_complete=0)
    assert (await get_item(http, fake, plain, experts="true"))["intelligence"] == []
    assert (await get_item(http, fake, plain))["intelligence"] is None


async def test_watermark_object(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """detect_watermark=true adds a watermark object that completes with the detect."""
    created = await create_url(http, fake, "https://e.com/watermarked.wav", detect_watermark=True)
    assert created["watermark"] == {"status": "pending"}
    assert (await get_item(http, fake, created["uuid"]))["watermark"] == {"status": "processing"}
    wm = (await get_item(http, fake, created["uuid"]))["watermark"]
    assert wm["status"] == "completed"
    assert wm["error_message"] is None
    assert wm["metrics"]["overall_status"] == "present"
    assert wm["metrics"]["has_watermark"] == {"0": True}
    assert {"confidence", "synthid", "model_results"} <= wm["metrics"].keys()
    image = fake.add_detection(media_type="image", polls_to_complete=0, detect_watermark=True)
    vision = (await get_item(http, fake, image))["watermark"]["metrics"]
    assert vision["has_watermark"] is False
    assert vision["verdict"] == "not_watermarked"


async def test_item_overrides_apply_to_terminal_items(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """add_detection(item=...) merges keys into terminal renders; OMIT removes a key."""
    uuid = fake.add_detection(
        polls_to_complete=1,
        item={"status": OMIT, "c2pa_manifest": {"validation_state": "NotPresent"}},
    )
    processing = await get_item(http, fake, uuid)
    assert processing["status"] == "processing"
    done = await get_item(http, fake, uuid)
    assert "status" not in done
    assert done["c2pa_manifest"] == {"validation_state": "NotPresent"}


# --------------------------------------------------------------------------------------------
# GET /detect (list), DELETE
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "1", "page_size": "9"}, "page_size"),
        ({"page": "1", "page_size": "1001"}, "page_size"),
        ({"page": "1", "page_size": "ten"}, "page_size"),
    ],
)
async def test_list_validates_page_and_page_size(
    fake: FakeDetectAPI, http: aiohttp.ClientSession, params: dict[str, str], field: str
) -> None:
    """page is required and >= 1; page_size must be 10..1000 (§5)."""
    status, body = await call(http, "GET", f"{fake.base_url}/detect", params=params)
    assert status == 400
    assert field in body["errors"]


async def test_list_pagination_newest_first(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """The list is newest first with page/num_pages/page_size/total_count; past the end is empty."""
    uuids = [fake.add_detection() for _ in range(25)]
    pages = []
    for page in (1, 2, 3, 4):
        status, body = await call(
            http, "GET", f"{fake.base_url}/detect", params={"page": str(page)}
        )
        assert status == 200
        assert (body["page"], body["num_pages"], body["page_size"], body["total_count"]) == (
            page,
            3,
            10,
            25,
        )
        pages.append([item["uuid"] for item in body["items"]])
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert pages[0][0] == uuids[-1]
    assert [uuid for page in pages for uuid in page] == uuids[::-1]
    for size in ("10", "1000"):
        status, body = await call(
            http, "GET", f"{fake.base_url}/detect", params={"page": "1", "page_size": size}
        )
        assert status == 200
        assert body["page_size"] == int(size)


async def test_list_items_use_numbers_and_do_not_poll(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """List items carry JSON numbers and the list-only keys; listing is not a poll."""
    done = fake.add_detection(polls_to_complete=0)
    await get_item(http, fake, done)
    pending = fake.add_detection(polls_to_complete=1)
    _, body = await call(http, "GET", f"{fake.base_url}/detect", params={"page": "1"})
    first, second = body["items"]
    assert first["uuid"] == pending
    assert first["status"] == "processing"
    assert fake.detections[pending].polls == 0
    metrics = second["metrics"]
    assert all(isinstance(s, float) for s in metrics["score"])
    assert isinstance(metrics["aggregated_score"], float)
    assert "duration" in metrics
    for key in (
        "visualize",
        "audio_source_tracing_enabled",
        "use_ood_detector",
        "extra_params",
        "error_message",
        "video_metrics",
        "image_metrics",
    ):
        assert key in second


async def test_delete_detection(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """DELETE removes a detection from get and list; unknown uuids are 404."""
    keep = fake.add_detection()
    gone = fake.add_detection()
    status, body = await call(http, "DELETE", f"{fake.base_url}/detect/{gone}")
    assert (status, body) == (200, {"success": True, "message": "Detect deleted"})
    assert (await call(http, "GET", f"{fake.base_url}/detect/{gone}"))[0] == 404
    assert (await call(http, "DELETE", f"{fake.base_url}/detect/{gone}"))[0] == 404
    _, listing = await call(http, "GET", f"{fake.base_url}/detect", params={"page": "1"})
    assert [i["uuid"] for i in listing["items"]] == [keep]


# --------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------


async def test_batch_with_files(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """Repeated files[] parts create one child per file and a 202 DetectBatch."""
    data = form(
        [("files[]", "a.wav", b"1"), ("files[]", "b.mp4", b"22"), ("files[]", "c.png", b"333")],
        audio_source_tracing_enabled="true",
        frame_length="2",
    )
    status, body = await call(http, "POST", f"{fake.base_url}/detect/batch", data=data)
    assert status == 202, body
    item = body["item"]
    assert item["status"] == "processing"
    assert (item["total_files"], item["completed_count"], item["failed_count"]) == (3, 0, 0)
    assert item["created_at"].endswith("Z")
    children = [fake.detections[u] for u in item["detect_uuids"]]
    assert [c.media_type for c in children] == ["audio", "video", "image"]
    assert all(c.batch_uuid == item["uuid"] for c in children)
    assert children[0].options == {
        "audio_source_tracing_enabled": True,
        "frame_length": 2,
        "visualize": True,
    }
    batch = fake.batches[item["uuid"]]
    assert (batch.source, batch.files) == ("files", [("a.wav", 1), ("b.mp4", 2), ("c.png", 3)])


async def test_batch_with_zip(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """A zip in `file` is unzipped; non-media entries and folders skipped, names flattened."""
    archive = make_zip(
        {
            "a.wav": b"RIFF",
            "nested/deeper/b.mp4": b"mp4!",
            "readme.txt": b"hello",
            "__MACOSX/._a.wav": b"junk",
        },
        dirs=("nested/",),
    )
    status, body = await call(
        http, "POST", f"{fake.base_url}/detect/batch", data=form([("file", "media.zip", archive)])
    )
    assert status == 202, body
    names = [fake.detections[u].filename for u in body["item"]["detect_uuids"]]
    assert names == ["a.wav", "b.mp4"]
    assert fake.batches[body["item"]["uuid"]].source == "zip"


@pytest.mark.parametrize(
    ("parts", "fields", "headers", "needle"),
    [
        ([("files[]", "a.wav", b"1"), ("file", "m.zip", b"PK")], {}, {}, "not both"),
        ([], {"intelligence": "true"}, {}, "No files"),
        ([("files[]", "a.wav", b"1")], {}, {"Prefer": "wait"}, "Prefer: wait"),
        ([("files[]", "a.wav", b"1")], {"detect_watermark": "true"}, {}, "detect_watermark"),
        ([("files[]", "a.wav", b"1")], {"signal": "true"}, {}, "signal"),
        ([("files[]", "a.wav", b"1"), ("files[]", "b.exe", b"1")], {}, {}, "unsupported"),
        ([("file", "media.tar", b"x")], {}, {}, ".zip"),
        ([("file", "media.zip", b"not a zip")], {}, {}, "valid zip"),
        ([("file", "m.zip", make_zip({"readme.md": b"x"}))], {}, {}, "no supported media"),
        ([("files[]", "a.wav", b"1")], {"frame_length": "9"}, {}, "frame_length"),
    ],
)
async def test_batch_rule_violations_are_400(
    fake: FakeDetectAPI,
    http: aiohttp.ClientSession,
    parts: list[tuple[str, str, bytes]],
    fields: dict[str, str],
    headers: dict[str, str],
    needle: str,
) -> None:
    """Batch intake/option rules (§7) are enforced with a 400 before anything is created."""
    status, body = await call(
        http,
        "POST",
        f"{fake.base_url}/detect/batch",
        data=form(parts, **fields),
        headers=headers,
    )
    assert status == 400
    assert needle in body["message"]
    assert not fake.detections
    assert not fake.batches


async def test_batch_limits(http: aiohttp.ClientSession) -> None:
    """More than max_batch_files files or more than max_batch_bytes in total is a 400."""
    async with FakeDetectAPI(max_batch_files=2, max_batch_bytes=100) as fake:
        url = f"{fake.base_url}/detect/batch"
        three = [("files[]", f"{i}.wav", b"x") for i in range(3)]
        status, body = await call(http, "POST", url, data=form(three))
        assert (status, "at most 2 files" in body["message"]) == (400, True)
        big = [("files[]", "a.wav", b"x" * 60), ("files[]", "b.wav", b"x" * 41)]
        status, body = await call(http, "POST", url, data=form(big))
        assert (status, "at most 100 bytes" in body["message"]) == (400, True)
        archive = make_zip({f"{i}.wav": b"x" for i in range(3)})
        status, _ = await call(http, "POST", url, data=form([("file", "m.zip", archive)]))
        assert status == 400
        ok, _ = await call(http, "POST", url, data=form(three[:2]))
        assert ok == 202


async def test_batch_requires_multipart(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """POST /detect/batch with a JSON body is a 400."""
    status, _ = await call(
        http, "POST", f"{fake.base_url}/detect/batch", json={"url": "https://e.com/a.wav"}
    )
    assert status == 400


async def test_batch_status_aggregation(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """Batch status is processing / completed / failed / partially_failed from its children."""

    async def batch_item(batch_uuid: str) -> dict[str, Any]:
        status, body = await call(http, "GET", f"{fake.base_url}/detect/batch/{batch_uuid}")
        assert status == 200
        item: dict[str, Any] = body["item"]
        return item

    mixed = fake.add_batch(3, polls_to_complete=0)
    fake.detections[fake.batches[mixed].detect_uuids[1]].outcome = "failed"
    all_ok = fake.add_batch(2, polls_to_complete=0)
    all_bad = fake.add_batch(2, polls_to_complete=0, outcome="failed")
    item = await batch_item(mixed)
    assert (item["status"], item["completed_count"], item["failed_count"]) == (
        "partially_failed",
        2,
        1,
    )
    assert item["total_files"] == 3
    assert (await batch_item(all_ok))["status"] == "completed"
    assert (await batch_item(all_bad))["status"] == "failed"
    slow = fake.add_batch(2, polls_to_complete=3)
    assert (await batch_item(slow))["status"] == "processing"


async def test_batch_get_ticks_children(http: aiohttp.ClientSession) -> None:
    """Each batch GET counts as one poll for every running child, so batches finish on their own."""
    async with FakeDetectAPI(polls_to_complete=1) as fake:
        data = form([("files[]", "a.wav", b"1"), ("files[]", "fail.wav", b"2")])
        _, created = await call(http, "POST", f"{fake.base_url}/detect/batch", data=data)
        url = f"{fake.base_url}/detect/batch/{created['item']['uuid']}"
        first = (await call(http, "GET", url))[1]["item"]
        second = (await call(http, "GET", url))[1]["item"]
    assert first["status"] == "processing"
    assert (second["status"], second["completed_count"], second["failed_count"]) == (
        "partially_failed",
        1,
        1,
    )


async def test_unknown_batch_is_404(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """GET of an unknown batch uuid is a JSON 404."""
    status, body = await call(http, "GET", f"{fake.base_url}/detect/batch/nope")
    assert status == 404
    assert body["success"] is False


# --------------------------------------------------------------------------------------------
# secure uploads
# --------------------------------------------------------------------------------------------


async def test_secure_upload_issues_token(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """POST /secure_uploads returns a JWT-looking token and records size + first bytes only."""
    content = bytes(range(256)) * 100
    token = await secure_upload(http, fake, "big.mov", content)
    assert re.fullmatch(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", token)
    upload = fake.uploads[token]
    assert (upload.filename, upload.size) == ("big.mov", len(content))
    assert content.startswith(upload.head)
    assert len(upload.head) < len(content)
    assert upload.expires_at - upload.created_at == pytest.approx(3600)


async def test_secure_upload_requires_a_file(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """POST /secure_uploads without a file part (or not multipart) is a 400."""
    status, body = await call(http, "POST", f"{fake.base_url}/secure_uploads", data=form(note="hi"))
    assert status == 400
    assert "file" in body["errors"]
    status, _ = await call(http, "POST", f"{fake.base_url}/secure_uploads", json={})
    assert status == 400
    assert not fake.uploads


# --------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------


async def test_rate_limit_fault_with_retry_after(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """A status fault answers once with its status, JSON error body and verbatim Retry-After."""
    fake.inject(Fault.rate_limited(2))
    fake.inject(Fault.error(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT", message="down"))
    async with http.get(f"{fake.base_url}/detect", params={"page": "1"}) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "2"
        assert (await resp.json())["success"] is False
    async with http.get(f"{fake.base_url}/detect", params={"page": "1"}) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
        assert await resp.json() == {"success": False, "message": "down"}
    status, _ = await call(http, "GET", f"{fake.base_url}/detect", params={"page": "1"})
    assert status == 200
    assert fake.faults == ()


async def test_fault_matches_method_and_path(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """A fault applies only to requests whose method and full relative path match."""
    uuid = fake.add_detection()
    fake.inject(Fault.error(500, method="GET", path="/detect/[^/]+", times=None))
    assert (await call(http, "GET", f"{fake.base_url}/detect", params={"page": "1"}))[0] == 200
    assert (await call(http, "DELETE", f"{fake.base_url}/detect/{uuid}"))[0] == 200
    assert (await call(http, "GET", f"{fake.base_url}/detect/{uuid}"))[0] == 500
    assert (await call(http, "GET", f"{fake.base_url}/detect/{uuid}"))[0] == 500
    fake.clear_faults()
    assert (await call(http, "GET", f"{fake.base_url}/detect/{uuid}"))[0] == 404


async def test_faults_apply_in_order_and_count_down(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """The first matching fault with uses left applies; times counts matching requests."""
    fake.inject(Fault.error(500, times=2))
    fake.inject(Fault.error(502))
    url = f"{fake.base_url}/detect?page=1"
    statuses = [(await call(http, "GET", url))[0] for _ in range(4)]
    assert statuses == [500, 500, 502, 200]


def test_fault_rejects_bad_rules() -> None:
    """Fault validates its kind, times and path regex."""
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="times"):
        Fault.drop(times=0)
    with pytest.raises(re.error):
        Fault.hang(path="(")
    assert Fault.slow(0.5).kind == "delay"
    assert Fault.rate_limited(1.5).retry_after == "1.5"


async def test_html_fault(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """An html fault answers with an nginx-style text/html error page."""
    fake.inject(Fault.html(502))
    async with http.get(f"{fake.base_url}/detect", params={"page": "1"}) as resp:
        assert resp.status == 502
        assert resp.content_type == "text/html"
        text = await resp.text()
    assert "<title>502 Bad Gateway</title>" in text
    assert "nginx" in text


async def test_drop_fault_disconnects(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """A drop fault closes the connection unanswered (ServerDisconnectedError), nothing created."""
    fake.inject(Fault.drop(method="POST"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "POST", f"{fake.base_url}/detect", json={"url": "https://e.com/a.wav"})
    assert not fake.detections
    assert fake.requests[-1].status is None


async def test_drop_on_idempotent_request_is_retried_once_by_aiohttp(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """aiohttp silently retries a GET once after a disconnect, so only times>=2 surfaces it."""
    uuid = fake.add_detection()
    fake.inject(Fault.drop(times=1))
    assert (await call(http, "GET", f"{fake.base_url}/detect/{uuid}"))[0] == 200
    assert [r.status for r in fake.requests] == [None, 200]
    fake.inject(Fault.drop(times=2))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "GET", f"{fake.base_url}/detect/{uuid}")


async def test_drop_after_handler_keeps_the_side_effect(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """after_handler=True runs the handler (detection created) and then drops the response."""
    fake.inject(Fault.drop(method="POST", path="/detect", after_handler=True))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "POST", f"{fake.base_url}/detect", json={"url": "https://e.com/a.wav"})
    assert len(fake.detections) == 1
    assert fake.requests[-1].json == {"url": "https://e.com/a.wav"}


async def test_status_fault_after_handler(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """An after_handler status fault replaces a successful response but keeps the state change."""
    fake.inject(Fault.error(504, method="POST", after_handler=True))
    status, body = await call(
        http, "POST", f"{fake.base_url}/detect", json={"url": "https://e.com/a.wav"}
    )
    assert (status, body["success"]) == (504, False)
    assert len(fake.detections) == 1


async def test_delay_fault_then_normal_response(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """A delay fault holds the response (here 20 ms) and then answers normally."""
    fake.inject(Fault.slow(0.02))
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _ = await call(http, "GET", f"{fake.base_url}/detect", params={"page": "1"})
    assert status == 200
    assert loop.time() - started >= 0.015


async def test_hang_fault_hits_client_timeout(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """A hang fault never answers; a 20 ms client timeout fires and the handler is released."""
    fake.inject(Fault.hang())
    with pytest.raises(asyncio.TimeoutError):
        await call(
            http,
            "POST",
            f"{fake.base_url}/detect",
            json={"url": "https://e.com/a.wav"},
            timeout=aiohttp.ClientTimeout(total=0.02),
        )
    await wait_until_in_flight(fake, 0)
    assert fake.requests[-1].status is None


async def test_malformed_json_fault(fake: FakeDetectAPI, http: aiohttp.ClientSession) -> None:
    """A malformed fault answers 200 application/json with a truncated, unparsable body."""
    fake.inject(Fault.malformed_json())
    fake.inject(Fault.malformed_json(method="POST", after_handler=True))
    async with http.get(f"{fake.base_url}/detect", params={"page": "1"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        text = await resp.text()
    with pytest.raises(ValueError):
        json.loads(text)
    async with http.post(f"{fake.base_url}/detect", json={"url": "https://e.com/a.wav"}) as resp:
        truncated = await resp.text()
    (uuid,) = fake.detections
    assert truncated.startswith('{"success": true')
    with pytest.raises(ValueError):
        json.loads(truncated)
    assert fake.detections[uuid].status == "processing"


# --------------------------------------------------------------------------------------------
# the per-key rate limit (§15)
# --------------------------------------------------------------------------------------------


async def statuses_at(
    clock: FakeClock, fake: FakeDetectAPI, http: aiohttp.ClientSession, *times: float
) -> list[int]:
    """GET /detect?page=1 once at each virtual time in ``times``; the statuses."""
    statuses = []
    for at in times:
        clock.advance(at - clock.now)
        statuses.append((await call(http, "GET", f"{fake.base_url}/detect?page=1"))[0])
    return statuses


async def test_rate_limit_answers_429_in_the_error_envelope(http: aiohttp.ClientSession) -> None:
    """Above rate_limit per window the fake answers 429 with the error envelope, no Retry-After."""
    clock = FakeClock()
    async with FakeDetectAPI(rate_limit=3, clock=clock) as fake:
        assert await statuses_at(clock, fake, http, 0, 0, 0) == [200, 200, 200]
        async with http.get(f"{fake.base_url}/detect?page=1") as resp:
            assert resp.status == 429
            assert "Retry-After" not in resp.headers
            assert await resp.json() == {"success": False, "message": "Rate limit exceeded"}
        assert fake.rate_limited == 1
        assert [r.status for r in fake.requests] == [200, 200, 200, 429]
        assert await statuses_at(clock, fake, http, 1.0) == [200]


async def test_rate_limit_counts_a_sliding_window(http: aiohttp.ClientSession) -> None:
    """The window slides with each request: it is not reset on whole seconds."""
    clock = FakeClock()
    async with FakeDetectAPI(rate_limit=3, rate_window=1.0, clock=clock) as fake:
        statuses = await statuses_at(clock, fake, http, 0.0, 0.5, 0.9, 1.0, 1.2, 1.5)
        # At 1.0 the request of 0.0 has aged out; at 1.2 those of 0.5, 0.9 and 1.0 remain.
        assert statuses == [200, 200, 200, 200, 429, 200]


async def test_refused_and_unauthenticated_requests_use_no_budget(
    http: aiohttp.ClientSession,
) -> None:
    """Only accepted requests count: a 429 or a 401 does not push the window further."""
    clock = FakeClock()
    async with FakeDetectAPI(rate_limit=2, clock=clock) as fake:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer wrong"}) as stranger:
            for _ in range(5):
                assert (await call(stranger, "GET", f"{fake.base_url}/detect?page=1"))[0] == 401
        statuses = await statuses_at(clock, fake, http, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0)
        assert statuses == [200, 200, 429, 429, 200, 200]


async def test_rate_limit_is_per_api_key(http: aiohttp.ClientSession) -> None:
    """A new API key starts with an empty window."""
    clock = FakeClock()
    async with FakeDetectAPI(rate_limit=1, clock=clock) as fake:
        assert await statuses_at(clock, fake, http, 0, 0) == [200, 429]
        fake.api_key = "second-key"
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer second-key"}) as other:
            assert (await call(other, "GET", f"{fake.base_url}/detect?page=1"))[0] == 200


async def test_rate_limit_retry_after_header(http: aiohttp.ClientSession) -> None:
    """rate_retry_after sets the Retry-After of the limit's 429s (numbers as "2", "1.5")."""
    async with FakeDetectAPI(rate_limit=1, rate_retry_after=1.5, clock=FakeClock()) as fake:
        await call(http, "GET", f"{fake.base_url}/detect?page=1")
        async with http.get(f"{fake.base_url}/detect?page=1") as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "1.5"


async def test_rate_limit_runs_on_the_real_clock_by_default(http: aiohttp.ClientSession) -> None:
    """Without an injected clock, back-to-back requests over the limit are refused."""
    async with FakeDetectAPI(rate_limit=2) as fake:
        statuses = [
            (await call(http, "GET", f"{fake.base_url}/detect?page=1"))[0] for _ in range(3)
        ]
        assert statuses == [200, 200, 429]


def test_rate_limit_settings_are_validated() -> None:
    """A non-positive or non-finite rate_limit or rate_window is refused."""
    for bad in ({"rate_limit": 0}, {"rate_limit": float("nan")}, {"rate_window": 0.0}):
        with pytest.raises(ValueError, match="rate_"):
            FakeDetectAPI(**bad)


# --------------------------------------------------------------------------------------------
# request log, counters, lifecycle
# --------------------------------------------------------------------------------------------


async def test_request_log_redacts_the_key(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """The request log keeps headers but shows Authorization as 'Bearer ***'."""
    await call(http, "GET", f"{fake.base_url}/detect", params={"page": "2", "page_size": "10"})
    (record,) = fake.requests
    assert record.headers["authorization"] == "Bearer ***"
    assert KEY not in repr(fake.requests)
    assert (record.method, record.path, dict(record.query)) == (
        "GET",
        "/detect",
        {"page": "2", "page_size": "10"},
    )
    assert record.status == 200


async def test_request_log_records_bodies(http: aiohttp.ClientSession) -> None:
    """JSON bodies, multipart fields and file sizes are recorded with the clock time."""
    now = [42.0]
    async with FakeDetectAPI(clock=lambda: now[0]) as fake:
        await create_url(http, fake, "https://e.com/a.wav", visualize=True)
        data = form([("file", "a.wav", b"x" * 300)], intelligence="true")
        await call(http, "POST", f"{fake.base_url}/detect", data=data)
    json_req, multipart_req = fake.requests
    assert json_req.json == {"url": "https://e.com/a.wav", "visualize": True}
    assert multipart_req.json is None
    assert multipart_req.form == {"intelligence": "true"}
    assert multipart_req.files == (("file", "a.wav", 300),)
    assert multipart_req.at == 42.0


async def test_in_flight_counter_under_concurrency(
    fake: FakeDetectAPI, http: aiohttp.ClientSession
) -> None:
    """in_flight/max_in_flight count overlapping requests exactly; reset_counters clears them."""
    uuid = fake.add_detection()
    fake.inject(Fault.slow(0.03, times=None, path="/detect/.*"))
    results = await asyncio.gather(
        *(call(http, "GET", f"{fake.base_url}/detect/{uuid}") for _ in range(5))
    )
    assert [status for status, _ in results] == [200] * 5
    assert fake.max_in_flight == 5
    assert fake.in_flight == 0
    fake.clear_faults()
    await call(http, "GET", f"{fake.base_url}/detect/{uuid}")
    fake.reset_counters()
    assert fake.max_in_flight == 0
    assert fake.requests == []
    await call(http, "GET", f"{fake.base_url}/detect/{uuid}")
    assert fake.max_in_flight == 1
    assert len(fake.requests) == 1


async def test_close_releases_hanging_requests_and_port(http: aiohttp.ClientSession) -> None:
    """close() drops a hanging request (client sees a disconnect) and frees the port."""
    fake = FakeDetectAPI()
    await fake.start()
    port = int(fake.base_url.split(":")[2].split("/")[0])
    fake.inject(Fault.hang(method="POST"))
    pending = asyncio.ensure_future(
        call(http, "POST", f"{fake.base_url}/detect", json={"url": "https://e.com/a.wav"})
    )
    await wait_until_in_flight(fake, 1)
    await asyncio.wait_for(fake.close(), timeout=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pending
    assert fake.in_flight == 0
    await fake.close()  # idempotent
    again = FakeDetectAPI()
    assert await again.start(port=port) == f"http://127.0.0.1:{port}/api/v2"
    await again.close()
    with socket.create_server(("127.0.0.1", port)):
        pass


async def test_app_works_with_aiohttp_test_server(http: aiohttp.ClientSession) -> None:
    """fake.app can be served by aiohttp's TestServer, and its shutdown releases a hang."""
    fake = FakeDetectAPI()
    fake.add_detection(uuid="known")
    async with TestServer(fake.app) as server:
        base = str(server.make_url("/api/v2"))
        status, _ = await call(http, "GET", f"{base}/detect/known")
        assert status == 200
        fake.inject(Fault.hang(method="POST"))
        pending = asyncio.ensure_future(call(http, "POST", f"{base}/detect", json={}))
        await wait_until_in_flight(fake, 1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await pending


async def test_add_detection_rejects_duplicates_and_bad_values(fake: FakeDetectAPI) -> None:
    """add_detection refuses a duplicate uuid and unknown outcome/media_type; add_batch no uuid."""
    fake.add_detection(uuid="same")
    with pytest.raises(ValueError, match="already exists"):
        fake.add_detection(uuid="same")
    with pytest.raises(ValueError, match="outcome"):
        fake.add_detection(outcome="maybe")
    with pytest.raises(ValueError, match="media_type"):
        fake.add_detection(media_type="text")
    with pytest.raises(TypeError):
        fake.add_batch(2, uuid="x")


async def test_standalone_server_serves_until_stopped(http: aiohttp.ClientSession) -> None:
    """The __main__ entry point serves the fake on the given port until asked to stop."""
    args = build_parser().parse_args(["--port", "0", "--api-key", "k", "--polls-to-complete", "0"])
    assert (args.host, args.api_key, args.seconds_to_complete) == ("127.0.0.1", "k", None)
    fake = FakeDetectAPI(api_key=args.api_key, polls_to_complete=args.polls_to_complete)
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        serve(fake, args.host, args.port, stop=stop, on_ready=ready.set_result)
    )
    base = await asyncio.wait_for(ready, timeout=2)
    uuid = fake.add_detection()
    status, body = await call(
        http, "GET", f"{base}/detect/{uuid}", headers={"Authorization": "Bearer k"}
    )
    assert (status, body["item"]["status"]) == (200, "completed")
    stop.set()
    await asyncio.wait_for(task, timeout=2)
