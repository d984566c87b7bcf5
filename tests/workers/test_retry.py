"""The retry policy with qdrant-client's and redis-py's real exception types."""

from __future__ import annotations

import grpc
import httpx
import pydantic
import pytest
import redis
from httpx import Headers
from qdrant_client import models
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from vecq.workers import retry


def grpc_error(code: grpc.StatusCode) -> grpc.RpcError:
    """A real gRPC error (the asyncio flavour can be built directly) with ``code``."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x")


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
        (ResponseHandlingException(httpx.ConnectError("refused")), True),
        (ResponseHandlingException(httpx.ReadTimeout("slow")), True),
        (ResponseHandlingException(httpx.RemoteProtocolError("closed")), True),
        (ResponseHandlingException(httpx.UnsupportedProtocol("ftp://")), False),
        (grpc_error(grpc.StatusCode.UNAVAILABLE), True),
        (grpc_error(grpc.StatusCode.DEADLINE_EXCEEDED), True),
        (grpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED), True),
        (grpc_error(grpc.StatusCode.INVALID_ARGUMENT), False),
        (grpc_error(grpc.StatusCode.PERMISSION_DENIED), False),
        (redis.BusyLoadingError("loading"), True),
        (redis.exceptions.OutOfMemoryError("OOM"), True),
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


def test_validation_error_wrapped_by_the_client_is_permanent() -> None:
    """A pydantic ValidationError inside ResponseHandlingException is not a transport error."""
    with pytest.raises(pydantic.ValidationError) as caught:
        models.Batch(ids=[["not", "an", "id"]], vectors=[[1.0]])  # type: ignore[list-item]
    assert not retry.is_transient(ResponseHandlingException(caught.value))


@pytest.mark.parametrize(
    ("exc", "split"),
    [
        (unexpected(400), True),
        (unexpected(422), True),
        (unexpected(403), False),
        (unexpected(404), False),
        (grpc_error(grpc.StatusCode.INVALID_ARGUMENT), True),
        (grpc_error(grpc.StatusCode.UNAUTHENTICATED), False),
        (ValueError("x"), False),
    ],
    ids=str,
)
def test_only_content_rejections_are_worth_splitting(exc: BaseException, split: bool) -> None:
    """400/422 and INVALID_ARGUMENT may be caused by some points; auth and 404 never are."""
    assert retry.is_point_specific(exc) is split


def test_celery_countdown_grows_and_is_capped() -> None:
    """Countdowns double per retry (with jitter in the upper half) and never pass the cap."""
    for n in range(12):
        ceiling = min(10 * 2**n, retry.MAX_CELERY_COUNTDOWN_SECONDS)
        assert ceiling / 2 <= retry.celery_countdown(n, 10) <= ceiling


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
