"""The retry policy with qdrant-client's and redis-py's real exception types."""

from __future__ import annotations

import pytest
import redis
from httpx import Headers
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from workers import retry


def unexpected(status: int, headers: dict[str, str] | None = None) -> UnexpectedResponse:
    return UnexpectedResponse(status, "x", b"", Headers(headers or {}))


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (unexpected(429), True),
        (unexpected(502), True),
        (unexpected(503), True),
        (unexpected(504), True),
        (unexpected(400), False),
        (unexpected(403), False),
        (unexpected(404), False),
        (unexpected(500), False),
        (ResourceExhaustedResponse("slow down", 1), True),
        (ResponseHandlingException(ConnectionError("refused")), True),
        (ResponseHandlingException(TimeoutError("timed out")), True),
        (ResponseHandlingException(ValueError("bad json")), False),
        (redis.ConnectionError("down"), True),
        (redis.TimeoutError("slow"), True),
        (redis.ResponseError("WRONGTYPE"), False),
        (ValueError("Collection x not found"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classification(exc: BaseException, transient: bool) -> None:
    """Transient errors are retried, permanent ones never."""
    assert retry.is_transient(exc) is transient


def test_retry_after_is_honoured() -> None:
    """A 429's Retry-After and ResourceExhaustedResponse.retry_after_s set the sleep."""
    sleeps: list[float] = []
    errors = [unexpected(429, {"retry-after": "3"}), ResourceExhaustedResponse("x", 2)]

    def flaky() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    assert retry.call(flaky, sleep=sleeps.append) == "ok"
    assert sleeps == [3.0, 2.0]


def test_attempts_are_bounded_and_last_error_raised() -> None:
    """A persistent transient error stops after max_attempts and re-raises it."""
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise unexpected(503)

    with pytest.raises(UnexpectedResponse):
        retry.call(down, max_attempts=4, sleep=lambda _: None)
    assert len(calls) == 4


def test_backoff_is_bounded() -> None:
    """Jittered exponential sleeps never exceed the cap."""
    sleeps: list[float] = []

    def down() -> None:
        raise redis.ConnectionError("down")

    with pytest.raises(redis.ConnectionError):
        retry.call(down, max_attempts=12, sleep=sleeps.append)
    assert len(sleeps) == 11
    assert all(0 <= s <= retry.MAX_BACKOFF_SECONDS for s in sleeps)
