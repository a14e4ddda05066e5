"""resemble-detect-async: an asyncio client for Resemble AI's Detect API.

Start with :class:`DetectClient`; everything it returns is in :mod:`.models`, everything it
raises in :mod:`.errors`, and :mod:`.testing` has a fake Detect API for your tests.
"""

from ._bulk import BatchResult, Outcome, Progress, ResultStream
from ._client import DEFAULT, DetectClient
from ._config import Clock, PollPolicy, RetryPolicy, SystemClock, Timeouts
from ._limits import RateLimiter, TokenBucket
from ._options import BatchOptions, DetectionOptions
from ._pagination import DetectionPager
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    DetectionFailedError,
    InvalidRequestError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ResembleError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    TransportError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from .models import (
    AudioMetrics,
    Batch,
    BatchStatus,
    Detection,
    DetectionStatus,
    ImageMetrics,
    Intelligence,
    MediaType,
    Page,
    Verdict,
    VideoMetrics,
    VideoNode,
    normalize_label,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AudioMetrics",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchOptions",
    "BatchResult",
    "BatchStatus",
    "ClientClosedError",
    "Clock",
    "ConfigurationError",
    "DEFAULT",
    "DetectClient",
    "Detection",
    "DetectionFailedError",
    "DetectionOptions",
    "DetectionPager",
    "DetectionStatus",
    "ImageMetrics",
    "Intelligence",
    "InvalidRequestError",
    "MediaType",
    "NotFoundError",
    "Outcome",
    "Page",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PollPolicy",
    "Progress",
    "RateLimitError",
    "RateLimiter",
    "ResembleError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ResultStream",
    "RetryPolicy",
    "ServerError",
    "SystemClock",
    "Timeouts",
    "TokenBucket",
    "TransportError",
    "UnprocessableEntityError",
    "Verdict",
    "VideoMetrics",
    "VideoNode",
    "WaitTimeoutError",
    "__version__",
    "normalize_label",
]
