"""The one retry policy: which errors are transient, and how long to keep trying.

Transient means the same request may succeed later unchanged: connection failures,
timeouts, 429 (honouring Retry-After), 502/503/504 and gRPC UNAVAILABLE/DEADLINE_EXCEEDED.
Everything else (400, 403, 404, validation, any error of Qdrant Edge) is permanent and is
never retried.

Three layers, each bounded: tenacity inside the task (``retrying``, up to
``Settings.retry_seconds``), then a Celery retry with a fresh delivery after a growing
countdown (``celery_countdown``, up to ``Settings.task_retries`` times), then the
dead-letter queue. Of the permanent errors, only a rejected request (400/422) may be
caused by some of the points in it, so only those batches are split to find them.
"""

from __future__ import annotations

import functools
import logging
import random
import sys
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import redis.exceptions
from celery.exceptions import SoftTimeLimitExceeded
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from vecq.shared.state.redis_memory import out_of_memory
from vecq.workers import metrics

log = logging.getLogger(__name__)

# First backoff: long enough for a Qdrant node restart to begin, short enough for a blip.
MIN_BACKOFF_SECONDS = 0.2
# Longest single sleep: beyond this a Celery-level retry (a fresh delivery) is the better tool.
MAX_BACKOFF_SECONDS = 10.0
# Attempts in one task: six attempts cover ~20 s of outage with the backoff above.
MAX_ATTEMPTS = 6
# Total budget in one task, far below task_time_limit (300 s) and the visibility timeout.
MAX_TOTAL_SECONDS = 60.0
# A server's Retry-After is honoured up to this; a larger value is capped, not trusted blindly.
MAX_RETRY_AFTER_SECONDS = 30.0

# Celery-level retries: the first countdown is Settings.task_retry_backoff, doubling up to
# this cap, so five retries span roughly ten minutes of outage by default.
MAX_CELERY_COUNTDOWN_SECONDS = 300.0
# Deliveries of one batch beyond its planned retries before it is dead-lettered. A batch that
# kills its worker (out of memory, a crash in a native library) is redelivered forever
# otherwise; three extra chances cover ordinary worker restarts and deploys.
EXTRA_DELIVERIES = 3

TRANSIENT_HTTP_STATUS = frozenset({429, 502, 503, 504})
# How Qdrant Edge begins the message of an error that rejects a request's content (Edge, in
# this process, has no transient errors: nothing of it is retried).
EDGE_REJECTIONS = ("Wrong input", "Vector dimension error", "Bad request", "Bad input")
# Statuses for which some points of a batch may be at fault: worth splitting the batch.
POINT_SPECIFIC_HTTP_STATUS = frozenset({400, 422})
_TRANSIENT_GRPC_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})
_TRANSIENT_REDIS = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError (a restarting Redis)
    redis.exceptions.TimeoutError,
    redis.exceptions.TryAgainError,
    redis.exceptions.OutOfMemoryError,  # memory frees as other batches settle
)

T = TypeVar("T")


class _Never(Exception):
    """A class no error is an instance of: what a client library's errors are while that
    library is not loaded."""


class _ClientErrors(NamedTuple):
    resource_exhausted: type[BaseException]
    unexpected: type[BaseException]
    handling: type[BaseException]
    rpc: type[BaseException]
    transport: tuple[type[BaseException], ...]


@functools.cache
def _loaded_client_errors() -> _ClientErrors:
    from grpc import RpcError
    from httpx import NetworkError, RemoteProtocolError, TimeoutException
    from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    transport = (TimeoutException, NetworkError, RemoteProtocolError)
    return _ClientErrors(
        ResourceExhaustedResponse,
        UnexpectedResponse,
        ResponseHandlingException,
        RpcError,
        transport,
    )


_NONE_LOADED = _ClientErrors(_Never, _Never, _Never, _Never, ())


def _client_errors() -> _ClientErrors:
    """qdrant-client's (and its transports') error classes, once it is loaded. An error of
    theirs cannot exist before, and a worker writing to Edge (the embedded service) never
    loads it: importing it took 0.8 s of every service start."""
    if "qdrant_client" not in sys.modules and "grpc" not in sys.modules:
        return _NONE_LOADED
    return _loaded_client_errors()


def _grpc_code(exc: BaseException) -> str | None:
    method = getattr(exc, "code", None)
    code = method() if callable(method) else None
    return getattr(code, "name", None)


def is_transient(exc: BaseException) -> bool:
    """True if retrying the same request unchanged may succeed."""
    client = _client_errors()
    if isinstance(exc, client.resource_exhausted):
        return True
    if isinstance(exc, client.unexpected):
        return getattr(exc, "status_code", None) in TRANSIENT_HTTP_STATUS
    if isinstance(exc, client.handling):
        # The client wraps both transport failures and response-parsing (validation)
        # failures in this one type; only the former are worth retrying.
        source = getattr(exc, "source", None)
        return isinstance(source, (*client.transport, ConnectionError, TimeoutError))
    if isinstance(exc, _TRANSIENT_REDIS) or out_of_memory(exc):
        return True
    if isinstance(exc, client.rpc):
        return _grpc_code(exc) in _TRANSIENT_GRPC_CODES
    return isinstance(exc, (ConnectionError, TimeoutError))


def is_throttle(exc: BaseException) -> bool:
    """True if Qdrant refused the request for load (429, RESOURCE_EXHAUSTED): slow down."""
    client = _client_errors()
    if isinstance(exc, client.resource_exhausted):
        return True
    if isinstance(exc, client.unexpected):
        return getattr(exc, "status_code", None) == 429
    if isinstance(exc, client.rpc):
        return _grpc_code(exc) == "RESOURCE_EXHAUSTED"
    return False


def is_interruption(exc: BaseException) -> bool:
    """True for the task's soft time limit: not Qdrant's verdict, so never a dead letter.

    The batch goes back to the queue instead (the delivery counter bounds how often).
    """
    return isinstance(exc, SoftTimeLimitExceeded)


def is_point_specific(exc: BaseException) -> bool:
    """True if the request was rejected for its content, so some points may be at fault."""
    client = _client_errors()
    if isinstance(exc, client.unexpected):
        return getattr(exc, "status_code", None) in POINT_SPECIFIC_HTTP_STATUS
    if isinstance(exc, client.rpc):
        return _grpc_code(exc) == "INVALID_ARGUMENT"
    # Qdrant Edge raises plain Exceptions; its input rejections say so in their first words.
    return type(exc) is Exception and str(exc).startswith(EDGE_REJECTIONS)


def celery_countdown(retries: int, base: float) -> float:
    """Seconds before Celery retry number ``retries + 1``: exponential, capped, full jitter."""
    ceiling = min(base * 2**retries, MAX_CELERY_COUNTDOWN_SECONDS)
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    client = _client_errors()
    if isinstance(exc, client.resource_exhausted):
        return min(float(getattr(exc, "retry_after_s", 0)), MAX_RETRY_AFTER_SECONDS)
    if isinstance(exc, client.unexpected) and getattr(exc, "status_code", None) == 429:
        headers = getattr(exc, "headers", None)
        after = headers.get("retry-after") if headers else None
        if after is not None and after.isdigit():
            return min(float(after), MAX_RETRY_AFTER_SECONDS)
    return float(jitter(state))


jitter = wait_random_exponential(multiplier=MIN_BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS)


def retrying(
    *,
    max_attempts: int = MAX_ATTEMPTS,
    max_seconds: float = MAX_TOTAL_SECONDS,
    sleep: Callable[[float], None] | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` for transient errors only; re-raises the last error."""
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return Retrying(
        retry=retry_if_exception(is_transient),
        wait=_wait,
        stop=stop_after_attempt(max_attempts) | stop_after_delay(max_seconds),
        before_sleep=_before_sleep,
        reraise=True,
        **extra,
    )


def _before_sleep(state: RetryCallState) -> None:
    """Count and log each in-task retry."""
    exc = state.outcome.exception() if state.outcome else None
    metrics.RETRIES.labels("in_task").inc()
    sleep = state.next_action.sleep if state.next_action else 0.0
    log.info("transient error, attempt %d, retrying in %.2fs: %r", state.attempt_number, sleep, exc)


def call(fn: Callable[[], T], **kwargs: Any) -> T:
    """Run ``fn`` under :func:`retrying`."""
    result: T = retrying(**kwargs)(fn)
    return result
