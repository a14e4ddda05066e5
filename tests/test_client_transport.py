"""The client at the transport edge (aioresponses): headers, error mapping, retries, lifecycle."""

from __future__ import annotations

import gc
import logging
import pickle
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from resemble_detect_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    DetectClient,
    InvalidRequestError,
    NotFoundError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)

BASE = "https://api.test/api/v2"
KEY = "sk-test-SECRET-0123456789"
UUID = "550e8400-e29b-41d4-a716-446655440000"
ITEM = {"uuid": UUID, "status": "completed", "media_type": "audio", "metrics": {"label": "fake"}}


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[DetectClient]:
    async with DetectClient(KEY, base_url=BASE, retry=RetryPolicy.no_wait(), rate_limit=None) as c:
        yield c


def calls(m: aioresponses, method: str, url: str) -> list[Any]:
    return list(m.requests.get((method, URL(url)), []))


async def test_sends_bearer_auth_and_user_agent(mocked: aioresponses, client: DetectClient) -> None:
    """Every request carries `Authorization: Bearer <key>`, JSON Accept and our User-Agent."""
    mocked.get(f"{BASE}/detect/{UUID}", payload={"success": True, "item": ITEM})
    det = await client.get_detection(UUID)
    assert det.uuid == UUID and det.is_fake
    (call,) = calls(mocked, "GET", f"{BASE}/detect/{UUID}")
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("resemble-detect-async/")
    assert call.kwargs["allow_redirects"] is False


def test_missing_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key anywhere fails at construction with what to do, not with a 401 later."""
    monkeypatch.delenv("RESEMBLE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="RESEMBLE_API_KEY"):
        DetectClient()
    with pytest.raises(ConfigurationError):
        DetectClient("   ")


async def test_env_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """api_key and base_url fall back to RESEMBLE_API_KEY and RESEMBLE_BASE_URL."""
    monkeypatch.setenv("RESEMBLE_API_KEY", KEY)
    monkeypatch.setenv("RESEMBLE_BASE_URL", "http://127.0.0.1:9/api/v2/")
    c = DetectClient()
    assert c.base_url == "http://127.0.0.1:9/api/v2"
    monkeypatch.delenv("RESEMBLE_BASE_URL")
    assert DetectClient().base_url == "https://app.resemble.ai/api/v2"


def test_plain_http_to_remote_host_is_refused() -> None:
    """The key is never sent over plain http except to loopback, unless opted in."""
    with pytest.raises(ConfigurationError, match="plain http"):
        DetectClient(KEY, base_url="http://api.example.com/api/v2")
    DetectClient(KEY, base_url="http://api.example.com/api/v2", allow_insecure_http=True)


def test_key_with_newline_is_refused() -> None:
    """A key that would inject headers is refused."""
    with pytest.raises(ConfigurationError, match="control"):
        DetectClient("abc\r\nX-Evil: 1")


async def test_key_never_appears_in_repr_errors_or_logs(
    mocked: aioresponses, client: DetectClient, caplog: pytest.LogCaptureFixture
) -> None:
    """No repr, str, pickled error or log line contains the API key."""
    caplog.set_level(logging.DEBUG)
    mocked.get(f"{BASE}/detect/{UUID}", status=503, body="down", repeat=True)
    mocked.get(f"{BASE}/detect/x{UUID[1:]}", status=401, payload={"message": "bad key"})
    with pytest.raises(ServerError) as server_err:
        await client.get_detection(UUID)
    with pytest.raises(AuthenticationError) as auth_err:
        await client.get_detection("x" + UUID[1:])
    texts = [repr(client), str(client), repr(client._transport), repr(vars(client))]
    for err in (server_err.value, auth_err.value):
        texts += [str(err), repr(err), repr(vars(err)), pickle.dumps(err).decode("latin-1")]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records, "retries should have been logged"
    assert not [t for t in texts if KEY in t]


async def test_html_502_after_retries_is_server_error(
    mocked: aioresponses, client: DetectClient
) -> None:
    """An HTML error page still gives the typed error, after GET retries are used up."""
    html = "<html><title>502 Bad Gateway</title><body><center>nginx</center></body></html>"
    mocked.get(
        f"{BASE}/detect/{UUID}", status=502, body=html, content_type="text/html", repeat=True
    )
    with pytest.raises(ServerError) as info:
        await client.get_detection(UUID)
    assert info.value.status == 502 and "502 Bad Gateway" in info.value.message
    assert len(calls(mocked, "GET", f"{BASE}/detect/{UUID}")) == 5


async def test_404_is_not_found_at_once(mocked: aioresponses, client: DetectClient) -> None:
    """404 is final: raised once with the API message and request id."""
    mocked.get(
        f"{BASE}/detect/{UUID}",
        status=404,
        payload={"success": False, "message": "Detect not found"},
        headers={"X-Request-Id": "req-42"},
    )
    with pytest.raises(NotFoundError) as info:
        await client.get_detection(UUID)
    assert info.value.message == "Detect not found" and info.value.request_id == "req-42"
    assert len(calls(mocked, "GET", f"{BASE}/detect/{UUID}")) == 1


async def test_malformed_json_is_a_validation_error(
    mocked: aioresponses, client: DetectClient
) -> None:
    """A non-JSON 200 is retried on GET, then raises ResponseValidationError with the text."""
    mocked.get(
        f"{BASE}/detect/{UUID}", status=200, body='{"success": true, "item": {"uu', repeat=True
    )
    with pytest.raises(ResponseValidationError) as info:
        await client.get_detection(UUID)
    assert info.value.body == '{"success": true, "item": {"uu'
    assert info.value.truncated
    assert len(calls(mocked, "GET", f"{BASE}/detect/{UUID}")) == 5


async def test_success_false_in_a_200_is_an_error(
    mocked: aioresponses, client: DetectClient
) -> None:
    """`success: false` is a failure even with a 2xx status."""
    mocked.get(f"{BASE}/detect/{UUID}", payload={"success": False, "message": "weird"})
    with pytest.raises(APIStatusError, match="weird"):
        await client.get_detection(UUID)


async def test_get_timeout_retried_then_typed(mocked: aioresponses, client: DetectClient) -> None:
    """A timing-out GET is retried and ends as APITimeoutError, never an aiohttp error."""
    mocked.get(f"{BASE}/detect/{UUID}", exception=TimeoutError(), repeat=True)
    with pytest.raises(APITimeoutError):
        await client.get_detection(UUID)
    assert len(calls(mocked, "GET", f"{BASE}/detect/{UUID}")) == 5


async def test_server_disconnect_is_connection_error(
    mocked: aioresponses, client: DetectClient
) -> None:
    """A dropped connection maps to APIConnectionError."""
    mocked.get(f"{BASE}/detect/{UUID}", exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(APIConnectionError) as info:
        await client.get_detection(UUID)
    assert info.value.request_sent


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "payload": {"success": False, "message": "boom"}},
        {"status": 503, "body": "unavailable"},
        {"exception": TimeoutError()},
        {"exception": aiohttp.ServerDisconnectedError()},
    ],
)
async def test_create_detection_is_never_retried_after_sending(
    mocked: aioresponses, client: DetectClient, failure: dict[str, Any]
) -> None:
    """POST /detect that may have reached the server raises instead of billing twice."""
    mocked.post(f"{BASE}/detect", repeat=True, **failure)
    with pytest.raises((APIStatusError, APITimeoutError, APIConnectionError)):
        await client.create_detection(url="https://example.com/a.wav")
    assert len(calls(mocked, "POST", f"{BASE}/detect")) == 1


async def test_create_retried_when_connect_refused(
    mocked: aioresponses, client: DetectClient
) -> None:
    """A POST whose connection could not be opened is retried (it never arrived)."""
    refused = aiohttp.ClientConnectorError(
        connection_key=None,  # type: ignore[arg-type]
        os_error=ConnectionRefusedError(111, "Connection refused"),
    )
    mocked.post(f"{BASE}/detect", exception=refused)
    mocked.post(f"{BASE}/detect", payload={"success": True, "item": {"uuid": UUID}})
    det = await client.create_detection(url="https://example.com/a.wav")
    assert det.uuid == UUID and det.status is None
    assert len(calls(mocked, "POST", f"{BASE}/detect")) == 2


async def test_real_connection_refused_is_typed() -> None:
    """A real refused connection ends in APIConnectionError with request_sent False."""
    async with DetectClient(
        KEY, base_url="http://127.0.0.1:9/api/v2", retry=RetryPolicy.no_wait(attempts=2)
    ) as c:
        with pytest.raises(APIConnectionError) as info:
            await c.get_detection(UUID)
    assert info.value.request_sent is False


async def test_invalid_uuid_sends_nothing(mocked: aioresponses, client: DetectClient) -> None:
    """A traversal-looking uuid is refused before any request."""
    with pytest.raises(InvalidRequestError):
        await client.get_detection("../batch/x")
    with pytest.raises(InvalidRequestError):
        await client.delete_detection("a/b")
    assert not mocked.requests


async def test_unknown_option_has_a_hint(client: DetectClient) -> None:
    """A misspelt option is refused with a suggestion, before sending."""
    with pytest.raises(InvalidRequestError, match="did you mean 'intelligence'"):
        await client.create_detection(url="https://e.com/a.wav", inteligence=True)  # type: ignore[call-arg]
    with pytest.raises(InvalidRequestError, match="not supported for batches"):
        await client.create_batch([b"x"], detect_watermark=True)  # type: ignore[call-arg]


async def test_use_after_close_is_a_clear_error() -> None:
    """Calls after close() raise ClientClosedError; close() is idempotent."""
    c = DetectClient(KEY, base_url=BASE)
    await c.close()
    await c.close()
    with pytest.raises(ClientClosedError, match="closed"):
        await c.get_detection(UUID)
    assert c.closed


async def test_borrowed_session_is_never_closed(mocked: aioresponses) -> None:
    """A session passed in stays open after the client closes."""
    mocked.get(f"{BASE}/detect/{UUID}", payload={"success": True, "item": ITEM})
    async with aiohttp.ClientSession() as session:
        async with DetectClient(KEY, base_url=BASE, session=session) as c:
            await c.get_detection(UUID)
        assert not session.closed
    with pytest.raises(ClientClosedError, match="session given"):
        await DetectClient(KEY, base_url=BASE, session=session).get_detection(UUID)


async def test_forgotten_close_warns_with_the_fix(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """A client dropped without close() says so (ResourceWarning and a log line) with the fix."""
    mocked.get(f"{BASE}/detect/{UUID}", payload={"success": True, "item": ITEM})
    c = DetectClient(KEY, base_url=BASE)
    await c.get_detection(UUID)
    session = c._conn.session
    assert session is not None
    with pytest.warns(ResourceWarning, match="async with DetectClient"):
        del c
        gc.collect()
    await session.close()
    assert any("was not closed" in r.getMessage() for r in caplog.records)


async def test_delete_and_secure_upload(mocked: aioresponses, client: DetectClient) -> None:
    """DELETE is sent to the quoted path; secure upload returns the token string."""
    mocked.delete(f"{BASE}/detect/{UUID}", payload={"success": True, "message": "deleted"})
    await client.delete_detection(UUID)
    mocked.post(f"{BASE}/secure_uploads", payload={"success": True, "token": "jwt.abc"})
    assert await client.upload_media(b"RIFF", filename="a.wav") == "jwt.abc"
    mocked.post(f"{BASE}/secure_uploads", payload={"success": True})
    with pytest.raises(ResponseValidationError, match="token"):
        await client.upload_media(b"RIFF", filename="a.wav")


async def test_list_pager_walks_every_page(mocked: aioresponses, client: DetectClient) -> None:
    """`async for` over list_detections fetches pages 1..num_pages; await gets one page."""
    for page in (1, 2, 3):
        items = [
            {"uuid": f"d{page}-{i}", "status": "completed"} for i in range(10 if page < 3 else 4)
        ]
        mocked.get(
            re.compile(rf"^{re.escape(BASE)}/detect\?page={page}&page_size=10$"),
            payload={
                "success": True,
                "page": page,
                "num_pages": 3,
                "page_size": 10,
                "items": items,
            },
            repeat=True,
        )
    uuids = [d.uuid async for d in client.list_detections(page_size=10)]
    assert len(uuids) == 24 and uuids[0] == "d1-0" and uuids[-1] == "d3-3"
    page2 = await client.list_detections(page=2, page_size=10)
    assert page2.page == 2 and page2.num_pages == 3 and len(page2.items) == 10


async def test_list_pager_without_num_pages_stops_on_short_page(
    mocked: aioresponses, client: DetectClient
) -> None:
    """Without num_pages the pager stops at the first short page (no endless loop)."""
    mocked.get(
        re.compile(rf"^{re.escape(BASE)}/detect\?page=1&"),
        payload={"success": True, "items": [{"uuid": f"a{i}"} for i in range(10)]},
    )
    mocked.get(
        re.compile(rf"^{re.escape(BASE)}/detect\?page=2&"),
        payload={"success": True, "items": [{"uuid": "b0"}]},
    )
    assert len([d async for d in client.list_detections(page_size=10)]) == 11


async def test_list_page_size_checked_eagerly(client: DetectClient) -> None:
    """page_size outside 10..1000 fails at the call, before any await."""
    with pytest.raises(InvalidRequestError, match="page_size"):
        client.list_detections(page_size=5)


def test_transport_state_never_holds_the_key_as_text() -> None:
    """No attribute of the transport is a str holding the key (serializers print str subclasses)."""
    import json

    from resemble_detect_async._config import Timeouts
    from resemble_detect_async._transport import Secret, Transport

    transport = Transport(
        object(),  # type: ignore[arg-type]
        base_url=BASE,
        authorization=Secret(f"Bearer {KEY}"),
        timeouts=Timeouts(),
        user_agent="ua",
    )
    state = vars(transport)
    assert KEY not in repr(state) and KEY not in str(state) and KEY not in repr(transport)
    assert KEY not in json.dumps(state, default=str)
    assert all(KEY not in value for value in state.values() if isinstance(value, str))
