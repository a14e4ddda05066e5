"""Pure request building and response reading: table-driven, no I/O."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from resemble_detect_async import _sansio, errors
from resemble_detect_async._files import MB, MediaFile, media_file


def media(name: str = "clip.wav", size: int = 10) -> MediaFile:
    return MediaFile(name, size, data=b"x" * min(size, 16))


@pytest.mark.parametrize(
    "value",
    ["../batch/x", "a/b", "", " ", "..", ".hidden", "a?b=1", "a#b", "a%2Fb", "x" * 200, None, 12.5],
)
def test_invalid_uuids_are_refused(value: Any) -> None:
    """Anything that could reach another path (or is not a uuid at all) is refused."""
    with pytest.raises(errors.InvalidRequestError, match="not a valid Detect uuid"):
        _sansio.validate_uuid(value)


@pytest.mark.parametrize(
    "value",
    ["550e8400-e29b-41d4-a716-446655440000", "DETECTION_UUID", "a1b2c3d4e5f6...", "abc_1.2"],
)
def test_valid_uuids_pass(value: str) -> None:
    """Real uuids and the documented placeholders are accepted unchanged."""
    assert _sansio.validate_uuid(value) == value


def test_get_detection_path_is_quoted_and_experts_flag() -> None:
    """GET /detect/{uuid} with experts only when asked."""
    assert _sansio.get_detection("abc").path == "/detect/abc"
    assert _sansio.get_detection("abc").params == {}
    assert _sansio.get_detection("abc", experts=True).params == {"experts": "true"}


@pytest.mark.parametrize(
    ("url", "allow", "ok"),
    [
        ("https://app.resemble.ai/api/v2", False, True),
        ("http://127.0.0.1:8080/api/v2", False, True),
        ("http://localhost:1/api/v2", False, True),
        ("http://[::1]:1/api/v2", False, True),
        ("http://127.5.0.1/api/v2", False, True),
        ("http://example.com/api/v2", False, False),
        ("http://10.0.0.5/api/v2", False, False),
        ("http://example.com/api/v2", True, True),
        ("ftp://example.com", False, False),
        ("app.resemble.ai/api/v2", False, False),
        ("https://app.resemble.ai/api/v2?x=1", False, False),
    ],
)
def test_base_url_rules(url: str, allow: bool, ok: bool) -> None:
    """Plain http only to loopback unless opted in; only absolute http(s) URLs."""
    if ok:
        assert _sansio.check_base_url(url, allow_insecure_http=allow) == url.rstrip("/")
    else:
        with pytest.raises(errors.ConfigurationError):
            _sansio.check_base_url(url, allow_insecure_http=allow)


def test_create_needs_exactly_one_intake() -> None:
    """Zero or two of url/file/media_token is refused before sending (API notes §3.1)."""
    with pytest.raises(errors.InvalidRequestError, match="exactly one"):
        _sansio.create_detection(url=None, media=None, media_token=None, options={}, wait=False)
    with pytest.raises(errors.InvalidRequestError, match="url, file"):
        _sansio.create_detection(
            url="https://e.com/a.wav", media=media(), media_token=None, options={}, wait=False
        )


def test_create_by_url_is_json_with_only_set_options() -> None:
    """URL intake is a JSON body; unset options are not sent at all."""
    options = _sansio.detection_options(intelligence=True, visualize=None, frame_length=2)
    req = _sansio.create_detection(
        url="https://e.com/a.mp4", media=None, media_token=None, options=options, wait=False
    )
    assert req.method == "POST" and req.path == "/detect"
    assert req.json == {"url": "https://e.com/a.mp4", "intelligence": True, "frame_length": 2}
    assert req.form is None and not req.idempotent and "Prefer" not in req.headers


def test_create_with_wait_sends_prefer_wait() -> None:
    """wait=True sends exactly `Prefer: wait` and the long read timeout (API notes §3.3)."""
    req = _sansio.create_detection(url=None, media=None, media_token="tok", options={}, wait=True)
    assert req.headers == {"Prefer": "wait"} and req.long_read
    assert req.json == {"media_token": "tok"}


def test_create_by_file_is_multipart_with_string_options() -> None:
    """File intake is multipart; options travel as strings like "true" and "2" (API notes §3.2)."""
    options = _sansio.detection_options(intelligence=True, frame_length=2, start_region=1.5)
    req = _sansio.create_detection(
        url=None, media=media(), media_token=None, options=options, wait=False
    )
    assert req.form == {"intelligence": "true", "frame_length": "2", "start_region": "1.5"}
    assert [name for name, _ in req.files] == ["file"]


def test_watermark_source_limit() -> None:
    """detect_watermark refuses known sources over 200 MB (API notes §3.2)."""
    big = MediaFile("a.wav", 140 * MB, data=b"")
    req = _sansio.create_detection(
        url=None, media=big, media_token=None, options={"detect_watermark": True}, wait=False
    )
    assert req.form == {"detect_watermark": "true"}


def test_url_must_be_http() -> None:
    """The API fetches the URL itself, so it must be an absolute http(s) URL."""
    with pytest.raises(errors.InvalidRequestError, match="url"):
        _sansio.create_detection(
            url="file:///etc/passwd", media=None, media_token=None, options={}, wait=False
        )


def test_batch_renames_audio_source_tracing() -> None:
    """Batch sends audio_source_tracing under its batch name (API notes §7)."""
    options = _sansio.batch_options(audio_source_tracing=True, visualize=False)
    assert options == {"audio_source_tracing_enabled": True, "visualize": False}
    req = _sansio.create_batch(
        files=[media("a.wav"), media("b.mp4")], archive=None, options=options
    )
    assert req.path == "/detect/batch"
    assert [n for n, _ in req.files] == ["files[]", "files[]"]
    assert req.form == {"audio_source_tracing_enabled": "true", "visualize": "false"}
    assert "Prefer" not in req.headers


def test_batch_zip_goes_as_file_part() -> None:
    """One zip archive travels as the single `file` part (API notes §7)."""
    req = _sansio.create_batch(files=[], archive=media("all.zip"), options={})
    assert [n for n, _ in req.files] == ["file"]


@pytest.mark.parametrize(
    ("files", "archive", "match"),
    [
        ([], None, "neither"),
        ([media()], media("a.zip"), "both"),
        ([media(f"{i}.wav") for i in range(51)], None, "at most 50"),
        ([media("a.wav", 300 * MB), media("b.wav", 201 * MB)], None, "500 MB"),
        ([], media("a.tar"), "zip"),
        ([media("a.wav"), media("b.zip")], None, "zip archive"),
    ],
)
def test_batch_rules(files: list[MediaFile], archive: MediaFile | None, match: str) -> None:
    """Batch rules (count, size, intake) are enforced before sending (API notes §7)."""
    with pytest.raises(errors.InvalidRequestError, match=match):
        _sansio.create_batch(files=files, archive=archive, options={})


@pytest.mark.parametrize(("page", "size"), [(0, 10), (1, 9), (1, 1001), (-1, 100), (1, True)])
def test_list_bounds(page: int, size: int) -> None:
    """page >= 1 and page_size 10..1000 (API notes §5)."""
    with pytest.raises(errors.InvalidRequestError):
        _sansio.list_detections(page=page, page_size=size)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0.5", 0.5),
        (" 12 ", 12.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After as delta-seconds or HTTP date relative to now; junk is ignored."""
    now = 1445412470.0  # 2015-10-21 07:27:50 UTC
    assert _sansio.parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (402, errors.PaymentRequiredError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (422, errors.UnprocessableEntityError),
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (409, errors.APIStatusError),
    ],
)
def test_status_maps_to_typed_error(status: int, cls: type[errors.APIStatusError]) -> None:
    """Each documented status maps to its own error class."""
    body = {"success": False, "message": "nope", "errors": {"url": ["is invalid"]}}
    err = _sansio.error_for_status(status, {"X-Request-Id": "rid-1"}, body, method="GET", path="/p")
    assert type(err) is cls
    assert err.status == status and err.message == "nope" and err.request_id == "rid-1"
    assert err.errors == {"url": ["is invalid"]}
    assert "nope" in str(err) and "rid-1" in str(err) and "url: is invalid" in str(err)


def test_html_502_still_gives_server_error() -> None:
    """A non-JSON error page still maps by status, with readable text as the message."""
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    body = _sansio.parse_body(html, {})
    err = _sansio.error_for_status(502, {"Content-Type": "text/html"}, body)
    assert isinstance(err, errors.ServerError)
    assert "502 Bad Gateway" in err.message and err.body == html.decode()


def test_402_exposes_details() -> None:
    """402 carries the cost estimate and error_code (API notes §13)."""
    body = {
        "success": False,
        "error_code": "insufficient_balance",
        "message": "Insufficient balance",
        "details": {"estimated_cost_cents": 12, "detect_cost_cents": 10},
    }
    err = _sansio.error_for_status(402, {}, body)
    assert isinstance(err, errors.PaymentRequiredError)
    assert err.details == {"estimated_cost_cents": 12, "detect_cost_cents": 10}
    assert err.error_code == "insufficient_balance"


def test_429_carries_retry_after() -> None:
    """A 429's Retry-After is parsed onto the error."""
    err = _sansio.error_for_status(429, {"Retry-After": "7"}, None)
    assert isinstance(err, errors.RateLimitError) and err.retry_after == 7.0
    assert err.message == "rate limited"


def test_errors_pickle_with_their_fields() -> None:
    """API errors survive pickling with every field (bulk runs ship them around)."""
    err = _sansio.error_for_status(
        429, {"Retry-After": "3", "x-request-id": "r"}, {"message": "slow"}, method="GET", path="/x"
    )
    err.uuid = "u1"
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is errors.RateLimitError
    assert (copy.status, copy.retry_after, copy.request_id, copy.uuid) == (429, 3.0, "r", "u1")
    assert str(copy) == str(err)


def test_media_file_needs_a_name_for_bytes() -> None:
    """Bytes without filename= are refused: the API reads the type from the extension."""
    with pytest.raises(errors.InvalidRequestError, match="filename="):
        media_file(b"RIFF")
    assert media_file(b"RIFF", filename="a.wav").size == 4


def test_media_file_missing_path() -> None:
    """A path that does not exist is a clear error, not an OSError."""
    with pytest.raises(errors.InvalidRequestError, match="no such file"):
        media_file("/nonexistent/clip.wav")


def test_media_file_rejects_text_mode(tmp_path: Any) -> None:
    """A file opened in text mode is refused with the fix."""
    path = tmp_path / "a.wav"
    path.write_bytes(b"abc")
    with path.open() as handle, pytest.raises(errors.InvalidRequestError, match="binary"):
        media_file(handle)


def test_media_file_object_is_rewound_each_open(tmp_path: Any) -> None:
    """A file object reads from where it started each time (multipart is rebuilt per try)."""
    path = tmp_path / "a.wav"
    path.write_bytes(b"0123456789")
    with path.open("rb") as handle:
        handle.seek(2)
        mf = media_file(handle)
        assert mf.size == 8 and mf.filename == "a.wav"
        for _ in range(2):
            with mf.open() as stream:
                assert stream.read() == b"23456789"
        assert not handle.closed


def test_media_file_rejects_other_types() -> None:
    """Unsupported input types get a clear error."""
    with pytest.raises(errors.InvalidRequestError, match="path, bytes"):
        media_file(12)


def test_errors_as_a_list_still_reach_the_caller() -> None:
    """An `errors` list (not a mapping) becomes the message and the field errors under base."""
    err = _sansio.error_for_status(400, {}, {"success": False, "errors": ["url is invalid"]})
    assert err.message == "url is invalid"
    assert err.errors == {"base": ["url is invalid"]}
