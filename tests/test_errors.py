"""The error tree: one root, useful fields, pickling, and messages that say what to do."""

from __future__ import annotations

import pickle

import attrs
import pytest

from resemble_detect_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    ConfigurationError,
    Detection,
    DetectionFailedError,
    DetectionStatus,
    InvalidRequestError,
    ResembleError,
    ResponseValidationError,
    TransportError,
    WaitTimeoutError,
    errors,
)


def test_every_error_has_one_root() -> None:
    """Every public error class derives from ResembleError."""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, ResembleError), name


def test_builtin_bases_for_natural_catching() -> None:
    """Bad input is a ValueError, timeouts are TimeoutErrors, use-after-close a RuntimeError."""
    assert issubclass(InvalidRequestError, ValueError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(APITimeoutError, TimeoutError)
    assert issubclass(APITimeoutError, TransportError)
    assert issubclass(WaitTimeoutError, TimeoutError)
    assert issubclass(ClientClosedError, RuntimeError)
    assert not issubclass(APIStatusError, TransportError)


def failed_detection() -> Detection:
    return Detection(
        uuid="d1",
        status=DetectionStatus.FAILED,
        error_message="unsupported codec",
        raw={"uuid": "d1", "status": "failed"},
    )


@pytest.mark.parametrize(
    "err",
    [
        APIConnectionError("reset", method="GET", path="/detect/x", request_sent=False),
        APITimeoutError("slow", method="GET", path="/detect/x"),
        ResponseValidationError("bad", path="$.item.uuid", problems=["p"], body={"x": 1}),
        DetectionFailedError(failed_detection()),
        WaitTimeoutError(
            "d1",
            timeout=30,
            last=Detection(uuid="d1", status=DetectionStatus.PROCESSING),
            last_error=APITimeoutError("slow"),
        ),
        ClientClosedError("closed"),
    ],
)
def test_errors_pickle(err: ResembleError) -> None:
    """Errors survive pickling with their fields (bulk outcomes cross process boundaries)."""
    copy = pickle.loads(pickle.dumps(err))
    assert_same_error(copy, err)


def assert_same_error(copy: BaseException, err: BaseException) -> None:
    """``copy`` has ``err``'s type, message, args and the value of every attribute.

    Exceptions compare by identity, so an error held in an attribute (``last_error``) is
    compared the same way, and a model by all its fields: its ``==`` leaves ``raw`` out.
    """
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert copy.args == err.args
    assert vars(copy).keys() == vars(err).keys()
    for name, value in vars(err).items():
        if isinstance(value, BaseException):
            assert_same_error(getattr(copy, name), value)
        elif attrs.has(type(value)):
            assert attrs.asdict(getattr(copy, name)) == attrs.asdict(value), name
        else:
            assert getattr(copy, name) == value, name


def test_detection_failed_carries_the_detection() -> None:
    """DetectionFailedError names the uuid and the API's error_message."""
    err = DetectionFailedError(failed_detection())
    assert err.uuid == "d1" and err.error_message == "unsupported codec"
    assert "d1" in str(err) and "unsupported codec" in str(err)


def test_wait_timeout_says_what_it_saw() -> None:
    """WaitTimeoutError's message names the uuid, the timeout and the last status."""
    err = WaitTimeoutError(
        "d1", timeout=30, last=Detection(uuid="d1", status=DetectionStatus.PROCESSING)
    )
    assert "d1" in str(err) and "30" in str(err) and "processing" in str(err)
    assert err.last_detection is not None
    assert "no successful poll" in str(WaitTimeoutError("d2", timeout=5))
