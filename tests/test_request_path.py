"""The request path as pure tables: reading an answer, retry decisions, error round trips."""

from __future__ import annotations

import asyncio
import json
import pickle
from typing import Any

import pytest

from resemble_detect_async import errors
from resemble_detect_async._config import SystemClock, cut_off_at
from resemble_detect_async._converter import structure_detection
from resemble_detect_async._retry import (
    RETRY_RULES,
    ends_wait,
    is_retryable,
    pauses_client,
    retry_rule,
    stops_run,
)
from resemble_detect_async._sansio import Request, decipher_response, error_for_status
from resemble_detect_async.testing import FakeClock

GET = Request(method="GET", path="/detect/u1", subject="u1")
DELETE = Request(method="DELETE", path="/detect/u1", subject="u1")
POST = Request(method="POST", path="/detect", json={"url": "https://e.com/a.wav"})
OK = json.dumps({"success": True, "item": {"uuid": "u1"}}).encode()


# --- decipher_response: (request, status, headers, body, attempt) -> value or error -----------


@pytest.mark.parametrize(
    ("request_", "status", "raw", "attempt", "expected"),
    [
        (GET, 200, OK, 1, {"success": True, "item": {"uuid": "u1"}}),
        (POST, 200, OK, 1, {"success": True, "item": {"uuid": "u1"}}),
        (DELETE, 200, b"", 1, None),  # an empty DELETE answer is fine
        (DELETE, 200, b'{"success": true}', 1, {"success": True}),
        (
            DELETE,
            404,
            b'{"success": false, "message": "Detect not found"}',
            2,
            {"success": True, "message": "deleted (by an earlier attempt)"},
        ),
        (GET, 200, b'{"success": "true", "items": []}', 1, {"success": "true", "items": []}),
    ],
)
def test_decipher_returns_the_body(
    request_: Request, status: int, raw: bytes, attempt: int, expected: Any
) -> None:
    """Good answers give their JSON body; a DELETE's 404 on a retry means it is gone."""
    assert decipher_response(request_, status, {}, raw, attempt=attempt) == expected


@pytest.mark.parametrize(
    ("request_", "status", "raw", "attempt", "error", "truncated"),
    [
        (GET, 404, b'{"success": false, "message": "Detect not found"}', 1, "NotFoundError", None),
        (DELETE, 404, b'{"success": false}', 1, "NotFoundError", None),  # first try: real 404
        (GET, 200, b'{"success": false, "message": "nope"}', 1, "APIStatusError", None),
        (GET, 200, b'{"success": "false"}', 1, "APIStatusError", None),
        (GET, 200, b'{"success": true, "item": {"uu', 1, "ResponseValidationError", True),
        (GET, 200, b"", 1, "ResponseValidationError", True),
        (POST, 200, b"<html>proxy</html>", 1, "ResponseValidationError", True),
        (GET, 503, b"<html><title>503</title></html>", 1, "ServerError", None),
        (GET, 429, b"", 1, "RateLimitError", None),
        (POST, 401, b'{"success": false, "message": "bad key"}', 1, "AuthenticationError", None),
        (GET, 302, b"", 1, "APIStatusError", None),
    ],
)
def test_decipher_raises_the_typed_error(
    request_: Request,
    status: int,
    raw: bytes,
    attempt: int,
    error: str,
    truncated: bool | None,
) -> None:
    """Error statuses, false envelopes and cut-off bodies raise typed errors naming the uuid."""
    with pytest.raises(errors.ResembleError) as caught:
        decipher_response(request_, status, {"X-Request-Id": "r1"}, raw, attempt=attempt)
    assert type(caught.value).__name__ == error
    assert caught.value.uuid == request_.subject
    if truncated is not None:
        assert isinstance(caught.value, errors.ResponseValidationError)
        assert caught.value.truncated is truncated
    if isinstance(caught.value, errors.APIStatusError):
        assert caught.value.request_id == "r1" and caught.value.method == request_.method


def test_decipher_reads_retry_after_dates_against_now() -> None:
    """An HTTP-date Retry-After is measured from the wall clock it is given."""
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}
    with pytest.raises(errors.RateLimitError) as caught:
        decipher_response(GET, 429, headers, b"", now=1445412480.0)  # 07:28:00
    assert caught.value.retry_after == 10.0


# --- the retry table -------------------------------------------------------------------------


def status(code: int) -> errors.APIStatusError:
    return error_for_status(code, {}, None)


SENT = errors.APIConnectionError("reset", method="GET", path="/x")
NOT_SENT = errors.APIConnectionError("refused", method="GET", path="/x", request_sent=False)
TIMEOUT = errors.APITimeoutError("slow", method="GET", path="/x")
TRUNCATED = errors.ResponseValidationError("cut", path="$", truncated=True)
UNREADABLE = errors.ResponseValidationError("bad field", path="$.item.uuid")


@pytest.mark.parametrize(
    ("error", "idempotent", "creating", "ends_a_wait"),
    [
        (NOT_SENT, True, True, False),
        (SENT, True, False, False),
        (TIMEOUT, True, False, False),
        (status(408), True, False, False),
        (status(429), True, True, False),
        (status(500), True, False, False),
        (status(502), True, False, False),
        (status(503), True, False, False),
        (status(504), True, False, False),
        (status(501), False, False, True),
        (status(505), False, False, True),
        (TRUNCATED, True, False, False),
        (UNREADABLE, False, False, True),
        (status(400), False, False, True),
        (status(401), False, False, True),
        (status(404), False, False, True),
        (status(422), False, False, True),
        (errors.InvalidRequestError("bad"), False, False, True),
        (ValueError("not ours"), False, False, True),
    ],
)
def test_retry_table(
    error: BaseException, idempotent: bool, creating: bool, ends_a_wait: bool
) -> None:
    """Each failure's row: retried for GET/DELETE, for a billing POST, and whether a wait ends."""
    assert is_retryable(error, idempotent=True) is idempotent
    assert is_retryable(error, idempotent=False) is creating
    assert ends_wait(error) is ends_a_wait


def test_every_retry_rule_is_reachable() -> None:
    """No row of the retry table is shadowed by an earlier one."""
    examples = [NOT_SENT, SENT, status(408), status(429), status(501), status(500), TRUNCATED]
    assert [retry_rule(example) for example in examples] == list(RETRY_RULES)


def test_only_a_refused_key_stops_a_bulk_run_and_only_429_pauses() -> None:
    """A 401 stops the sending of a whole run; a 429 pauses the client; nothing else does."""
    assert stops_run(status(401))
    assert not any(stops_run(e) for e in (status(403), status(404), status(429), SENT))
    assert pauses_client(status(429))
    assert not any(pauses_client(e) for e in (status(503), SENT, TIMEOUT))


# --- errors own their serialisation ----------------------------------------------------------


def sample_errors() -> list[errors.ResembleError]:
    detection = structure_detection({"item": {"uuid": "d1", "status": "failed", "x": 1}})
    timeout = errors.WaitTimeoutError("d2", timeout=30.0, last=detection, last_error=status(503))
    api = error_for_status(
        429,
        {"Retry-After": "3", "X-Request-Id": "r"},
        {"message": "slow", "errors": {"url": ["bad"]}},
        method="GET",
        path="/detect/u",
        uuid="u",
    )
    return [
        api,
        errors.APIConnectionError("reset", method="GET", path="/x", request_sent=False, uuid="u"),
        errors.ResponseValidationError("bad", path="$.a", problems=["p"], body={"a": [1]}),
        errors.DetectionFailedError(detection),
        timeout,
        errors.InvalidRequestError("nope", uuid="u"),
    ]


def _state(error: BaseException) -> dict[str, Any]:
    state = dict(vars(error))
    for name in ("detection", "last"):  # models compare by their wire item
        if state.get(name) is not None:
            state[name] = state[name].raw
    if state.get("last_error") is not None:
        state["last_error"] = (type(state["last_error"]), str(state["last_error"]))
    return state


@pytest.mark.parametrize("error", sample_errors(), ids=lambda e: type(e).__name__)
def test_error_dict_round_trip_keeps_every_value(error: errors.ResembleError) -> None:
    """to_dict is JSON, and from_dict gives back the same type with every attribute's value."""
    data = json.loads(json.dumps(error.to_dict()))
    back = errors.ResembleError.from_dict(data)
    assert type(back) is type(error)
    assert str(back) == str(error) and back.uuid == error.uuid
    assert _state(back) == _state(error)


@pytest.mark.parametrize("error", sample_errors(), ids=lambda e: type(e).__name__)
def test_pickle_and_dict_share_one_state(error: errors.ResembleError) -> None:
    """Pickling and to_dict write the same attributes (a new one cannot be dropped by one)."""
    pickled = pickle.loads(pickle.dumps(error))
    assert _state(pickled) == _state(error)
    assert set(error.to_dict()) == {"type", "text", *error.__getstate__()}


def test_a_new_error_attribute_is_serialised_without_changes() -> None:
    """An attribute nobody listed anywhere still reaches the JSON form and back."""
    error = errors.NotFoundError("gone", status=404, uuid="u")
    error.shard = "eu-1"  # type: ignore[attr-defined]
    back = errors.ResembleError.from_dict(json.loads(json.dumps(error.to_dict())))
    assert back.shard == "eu-1"  # type: ignore[attr-defined]


def test_unknown_error_types_read_as_the_root() -> None:
    """A dict naming an error type this version does not know reads as ResembleError."""
    back = errors.ResembleError.from_dict({"type": "FutureError", "message": "m", "uuid": "u"})
    assert type(back) is errors.ResembleError and back.uuid == "u" and str(back) == "m"


# --- one deadline mechanism, any clock ---------------------------------------------------------


async def test_cut_off_fires_in_fake_time_without_moving_it() -> None:
    """A deadline on a FakeClock fires when sleeping moves time past it, not before."""
    clock = FakeClock()
    reached: list[float] = []

    async def body() -> None:
        async with cut_off_at(clock, 5.0):
            await clock.sleep(3)
            reached.append(clock.now)
            await clock.sleep(10)
            reached.append(clock.now)

    with pytest.raises(TimeoutError):
        await body()
    assert reached == [3.0]


async def test_cut_off_does_not_fire_when_done_in_time() -> None:
    """A body that finishes before its deadline is left alone, and its timer is cancelled."""
    clock = FakeClock()
    async with cut_off_at(clock, 5.0):
        await clock.sleep(1)
    await clock.sleep(10)  # moving past the old deadline later raises nothing
    assert clock.now == 11.0


async def test_cut_off_with_a_clock_without_timers() -> None:
    """A custom clock with only monotonic() and sleep() still gets its deadline enforced."""

    class Bare:
        def monotonic(self) -> float:
            return asyncio.get_running_loop().time()

        async def sleep(self, seconds: float) -> None:
            await asyncio.sleep(max(0.0, seconds))

    clock = Bare()
    never = asyncio.Event()
    with pytest.raises(TimeoutError):
        async with cut_off_at(clock, clock.monotonic() + 0.01):
            await never.wait()


async def test_cut_off_on_the_system_clock() -> None:
    """The system clock's timer is the loop's own."""
    clock = SystemClock()
    never = asyncio.Event()
    with pytest.raises(TimeoutError):
        async with cut_off_at(clock, clock.monotonic() + 0.01):
            await never.wait()


async def test_fake_clock_advance_fires_due_timers() -> None:
    """FakeClock.advance() fires the timers it passes, in order."""
    clock = FakeClock()
    fired: list[str] = []
    clock.call_at(2.0, lambda: fired.append("b"))
    clock.call_at(1.0, lambda: fired.append("a"))
    cancelled = clock.call_at(1.5, lambda: fired.append("x"))
    cancelled.cancel()
    clock.advance(3)
    assert fired == ["a", "b"]


@pytest.mark.parametrize(
    "raw",
    [OK, b'{"n": 12345678901234567890123}', b'{"x": [1.5, "\\u00e9", null, true]}', b"[]"],
)
def test_the_fast_and_the_standard_json_readers_agree(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With or without the optional orjson, a body reads the same (big integers included)."""
    from resemble_detect_async import _sansio

    fast = _sansio.parse_body(raw)
    monkeypatch.setattr(_sansio, "_loads", _sansio._stdlib_loads)
    assert _sansio.parse_body(raw) == fast == json.loads(raw)
